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

/// The site's scripts, styles and wasm are named after their content (cargo-leptos
/// `hash-files`): a name never gets other bytes, so browsers and CDNs may keep them for good.
const HASHED_FILE: &str = "public, max-age=31536000, immutable";
/// Images and the icon keep their names across releases: a day, then revalidated.
const STATIC_FILE: &str = "public, max-age=86400";

/// How long an answer may be kept: API answers carry ID tokens, credential secrets and
/// addresses, so no cache may keep them; site files as above (under Lambda every request is an
/// invocation: what browsers keep costs nothing).
async fn cache_control(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let path = request.uri().path();
    let api = path.starts_with("/api/");
    let policy = if api {
        Some("no-store")
    } else if path.starts_with("/pkg/") {
        Some(HASHED_FILE)
    } else if [".svg", ".png", ".jpg", ".webp", ".ico"]
        .iter()
        .any(|extension| path.ends_with(extension))
    {
        Some(STATIC_FILE)
    } else {
        None
    };
    let mut response = next.run(request).await;
    // API answers are never kept, errors included; files only when they were found.
    if let Some(policy) = policy.filter(|_| api || response.status() == http::StatusCode::OK) {
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static(policy));
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
        .layer(axum::middleware::from_fn(cache_control))
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
