//! Black-box: CORS for `/api/*` with `--cors-origins` (the site and its API on different hosts).

mod common;

use common::{data_dir, spawn_app_with};

const ADMIN_ORIGIN: &str = "https://admin.example.com";

async fn preflight(app: &common::TestApp, path: &str, origin: &str) -> reqwest::Response {
    app.client
        .request(reqwest::Method::OPTIONS, app.url(path))
        .header("origin", origin)
        .header("access-control-request-method", "GET")
        .header(
            "access-control-request-headers",
            "authorization,x-amz-date,x-amz-security-token",
        )
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn listed_origins_may_call_the_api_and_no_one_else() {
    let dir = data_dir();
    let env = [("STORIES_CORS_ORIGINS".to_owned(), ADMIN_ORIGIN.to_owned())];
    let app = spawn_app_with(dir.path(), &env).await;

    // The signed admin call's preflight: the origin, the methods and SigV4's headers.
    let allowed = preflight(&app, "/api/subscribers", ADMIN_ORIGIN).await;
    assert!(allowed.status().is_success(), "{}", allowed.status());
    let headers = allowed.headers();
    assert_eq!(headers["access-control-allow-origin"], ADMIN_ORIGIN);
    let methods = headers["access-control-allow-methods"].to_str().unwrap();
    assert!(
        methods.contains("GET") && methods.contains("POST"),
        "{methods}"
    );
    let allowed_headers = headers["access-control-allow-headers"].to_str().unwrap();
    for name in ["authorization", "x-amz-date", "x-amz-security-token"] {
        assert!(allowed_headers.contains(name), "{allowed_headers}");
    }
    assert!(headers.get("access-control-allow-credentials").is_none());
    // A simple call from that origin carries the header too.
    let subscribe = app
        .client
        .post(app.url("/api/subscribe"))
        .header("origin", ADMIN_ORIGIN)
        .header("accept", "application/json")
        .form(&[("email", "cors@example.com")])
        .send()
        .await
        .unwrap();
    assert_eq!(subscribe.status(), 200);
    assert_eq!(
        subscribe.headers()["access-control-allow-origin"],
        ADMIN_ORIGIN
    );

    // Another origin, or a page rather than the API: no CORS headers at all.
    let other = preflight(&app, "/api/subscribers", "https://evil.example").await;
    assert!(other.headers().get("access-control-allow-origin").is_none());
    let page = preflight(&app, "/", ADMIN_ORIGIN).await;
    assert!(page.headers().get("access-control-allow-origin").is_none());
}

#[tokio::test]
async fn without_the_setting_there_are_no_cors_headers() {
    let dir = data_dir();
    let app = spawn_app_with(dir.path(), &[]).await;
    let answer = preflight(&app, "/api/subscribers", ADMIN_ORIGIN).await;
    assert!(answer
        .headers()
        .get("access-control-allow-origin")
        .is_none());
}

#[test]
fn a_wildcard_or_a_url_is_refused_with_a_clear_message() {
    let env = [("STORIES_CORS_ORIGINS".to_owned(), "*".to_owned())];
    let output = common::run_cli(&[], &env);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("is not an origin"));
}
