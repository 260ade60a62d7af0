//! Cross-cutting HTTP behaviour: request logs, compression, body limits, security headers.

use axum::Router;
use http::{header, HeaderName, HeaderValue, Request};
use tower_http::{
    compression::CompressionLayer,
    limit::RequestBodyLimitLayer,
    set_header::SetResponseHeaderLayer,
    timeout::TimeoutLayer,
    trace::{DefaultOnResponse, TraceLayer},
};
use tracing::Level;

/// Forms and API calls are small; anything bigger is refused with 413 before it is read.
pub const MAX_REQUEST_BODY: usize = 16 * 1024;

/// Scripts: our own bundle plus Leptos's inline hydration bootstrap; wasm needs
/// 'wasm-unsafe-eval'. `ws:` is only used by `cargo leptos watch`'s live reload.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self' 'unsafe-inline' \
    'wasm-unsafe-eval'; style-src 'self'; img-src 'self' data:; connect-src 'self' ws://127.0.0.1:* \
    ws://localhost:*; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'";

/// API answers carry ID tokens, credential secrets and addresses: no cache may keep them.
async fn no_store_on_api(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let api = request.uri().path().starts_with("/api/");
    let mut response = next.run(request).await;
    if api {
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

/// `request_timeout` bounds a whole request, body and handler included (408 past it).
pub fn layer<S: Clone + Send + Sync + 'static>(
    router: Router<S>,
    request_timeout: std::time::Duration,
) -> Router<S> {
    let security_headers = [
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "strict-origin-when-cross-origin"),
        (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
        (
            HeaderName::from_static("permissions-policy"),
            "camera=(), microphone=(), geolocation=()",
        ),
        (
            HeaderName::from_static("cross-origin-opener-policy"),
            "same-origin",
        ),
    ];
    let mut router = router
        .layer(axum::middleware::from_fn(no_store_on_api))
        .layer(RequestBodyLimitLayer::new(MAX_REQUEST_BODY))
        .layer(TimeoutLayer::with_status_code(
            http::StatusCode::REQUEST_TIMEOUT,
            request_timeout,
        ))
        .layer(CompressionLayer::new());
    for (name, value) in security_headers {
        router = router.layer(SetResponseHeaderLayer::if_not_present(
            name,
            HeaderValue::from_static(value),
        ));
    }
    // Log method and path only: query strings can carry the address a visitor typed.
    router.layer(
        TraceLayer::new_for_http()
            .make_span_with(|request: &Request<_>| {
                tracing::info_span!("request", method = %request.method(), path = %request.uri().path())
            })
            .on_response(DefaultOnResponse::new().level(Level::INFO)),
    )
}
