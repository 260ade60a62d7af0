//! CORS for `/api/*` (`--cors-origins`): when the pages that call the API are served from
//! another origin, as in the original sample (a static site on S3, the API on API Gateway).
//! Only the listed origins get CORS headers, only on `/api/*`, never with credentials (the API
//! uses none: the admin call carries its SigV4 signature in headers).

use axum::Router;
use http::{header, HeaderName, HeaderValue, Method};
use std::time::Duration;
use tower_http::cors::{AllowOrigin, CorsLayer};

/// The headers a SigV4 client sends besides the simple ones.
const SIGV4_HEADERS: [HeaderName; 4] = [
    header::AUTHORIZATION,
    header::CONTENT_TYPE,
    HeaderName::from_static("x-amz-date"),
    HeaderName::from_static("x-amz-security-token"),
];

/// Browsers may reuse a preflight's answer this long.
const PREFLIGHT_MAX_AGE: Duration = Duration::from_secs(600);

/// `router` with CORS for `origins` on `/api/*`; unchanged when there are none.
pub fn layer<S: Clone + Send + Sync + 'static>(
    router: Router<S>,
    origins: &[HeaderValue],
) -> Router<S> {
    if origins.is_empty() {
        return router;
    }
    let origins = origins.to_vec();
    let allowed = AllowOrigin::predicate(move |origin, request| {
        request.uri.path().starts_with("/api/") && origins.contains(origin)
    });
    router.layer(
        CorsLayer::new()
            .allow_origin(allowed)
            .allow_methods([Method::GET, Method::POST])
            .allow_headers(SIGV4_HEADERS)
            .max_age(PREFLIGHT_MAX_AGE),
    )
}
