//! Cross-cutting HTTP behaviour: request logs, compression, body limits, security headers.

use axum::Router;
use http::{header, HeaderName, HeaderValue, Request};
use tower_http::{
    compression::CompressionLayer,
    limit::RequestBodyLimitLayer,
    request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer},
    set_header::SetResponseHeaderLayer,
    timeout::TimeoutLayer,
    trace::{DefaultOnResponse, TraceLayer},
};
use tracing::Level;

/// Forms and API calls are small; anything bigger is refused with 413 before it is read.
pub const MAX_REQUEST_BODY: usize = 16 * 1024;

/// Browsers use only HTTPS for this host for two years (with `--hsts`).
const STRICT_TRANSPORT_SECURITY: &str = "max-age=63072000";

/// Whether an answer is an HTML page.
pub fn is_html(headers: &http::HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"))
}

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

/// `request_timeout` bounds a whole request, body and handler included (408 past it); `hsts`
/// adds `Strict-Transport-Security`.
pub fn layer<S: Clone + Send + Sync + 'static>(
    router: Router<S>,
    request_timeout: std::time::Duration,
    hsts: bool,
) -> Router<S> {
    let security_headers = [
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "strict-origin-when-cross-origin"),
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
    // HTML pages get a policy naming their inline scripts (`csp`); everything else this one.
    match HeaderValue::from_str(&crate::csp::policy(&[])) {
        Ok(policy) => {
            router = router.layer(SetResponseHeaderLayer::if_not_present(
                header::CONTENT_SECURITY_POLICY,
                policy,
            ));
        }
        Err(err) => tracing::error!(error = %err, "cannot build the default policy"),
    }
    if hsts {
        router = router.layer(SetResponseHeaderLayer::overriding(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static(STRICT_TRANSPORT_SECURITY),
        ));
    }
    // Log method and path only: query strings can carry the address a visitor typed. Every line
    // logged while serving a request carries its id (set by the layers below, which run first).
    router
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|request: &Request<_>| {
                    let id = request
                        .headers()
                        .get(X_REQUEST_ID)
                        .and_then(|id| id.to_str().ok())
                        .unwrap_or("");
                    tracing::info_span!("request", method = %request.method(),
                        path = %request.uri().path(), request_id = %id)
                })
                .on_response(DefaultOnResponse::new().level(Level::INFO)),
        )
        .layer(PropagateRequestIdLayer::new(X_REQUEST_ID))
        .layer(SetRequestIdLayer::new(X_REQUEST_ID, MakeRequestUuid))
        .layer(axum::middleware::from_fn(drop_unusable_request_id))
}

const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// A request id sent by the client (or a proxy in front) is kept if it is short and plain, so
/// that it can go into logs and answers as it is; any other is replaced by a new one.
fn is_usable_request_id(id: &HeaderValue) -> bool {
    let id = id.as_bytes();
    (1..=64).contains(&id.len())
        && id
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(b))
}

async fn drop_unusable_request_id(
    mut request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let headers = request.headers();
    let usable = headers.get_all(X_REQUEST_ID).iter().count() <= 1
        && headers.get(X_REQUEST_ID).is_none_or(is_usable_request_id);
    if !usable {
        request.headers_mut().remove(X_REQUEST_ID);
    }
    next.run(request).await
}
