//! Black-box: the visitor pages, static assets, 404s, health and HTTP hygiene.

mod common;

use common::{add_admin, data_dir, spawn_app};

const STORIES: [(&str, &str); 3] = [
    (
        "Serverless Computing Takes Over the World!",
        "/post/serverless-computing-takes-over-the-world/",
    ),
    (
        "Function as a Service: The Next Big Thing",
        "/post/function-as-a-service/",
    ),
    (
        "Welcome to Serverless Stories",
        "/post/welcome-to-serverless-stories/",
    ),
];

#[tokio::test]
async fn home_page_lists_the_three_stories_and_the_newsletter_form() {
    let dir = data_dir();
    let app = spawn_app(dir.path()).await;
    let response = app.get("/").await;
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    let html = response.text().await.unwrap();
    assert!(html.contains("Serverless Stories"));
    assert!(html.contains("Top Stories"));
    let mut last = 0;
    for (title, href) in STORIES {
        let at = html
            .find(title)
            .unwrap_or_else(|| panic!("{title} missing"));
        assert!(at > last, "stories are in the original's order");
        last = at;
        assert!(html.contains(&format!("href=\"{href}\"")), "{href} missing");
    }
    assert_eq!(html.matches(">Read Story<").count(), 3);
    assert!(html.contains(r#"aria-label="Read Story: Welcome to Serverless Stories""#));
    assert!(html.contains(r#"action="/api/subscribe""#));
    assert!(html.contains(r#"name="email""#));
    assert!(html.contains(">Submit<"));
}

#[tokio::test]
async fn every_story_has_its_own_page_and_the_slashless_url_redirects_there() {
    let dir = data_dir();
    let app = spawn_app(dir.path()).await;
    for (title, href) in STORIES {
        let response = app.get(href).await;
        assert_eq!(response.status(), 200, "{href}");
        let html = response.text().await.unwrap();
        assert!(html.contains(&format!("<h1>{title}</h1>")), "{href}");
        assert!(html.contains("class=\"story-body\""), "{href}");
        assert!(
            html.contains(&format!("<title>{title} · Serverless Stories</title>")),
            "{href}"
        );

        let response = app.get(href.trim_end_matches('/')).await;
        assert_eq!(response.status(), 308, "{href} without the slash");
        assert_eq!(response.headers()["location"], href);
    }
}

#[tokio::test]
async fn images_and_favicon_are_served_locally() {
    let dir = data_dir();
    let app = spawn_app(dir.path()).await;
    let html = app.get("/").await.text().await.unwrap();
    for image in [
        "/images/serverless-computing.svg",
        "/images/function-as-a-service.svg",
        "/images/welcome.svg",
    ] {
        assert!(
            html.contains(&format!("src=\"{image}\"")),
            "{image} not on the home page"
        );
        let response = app.get(image).await;
        assert_eq!(response.status(), 200, "{image}");
        assert_eq!(response.headers()["content-type"], "image/svg+xml");
    }
    assert_eq!(app.get("/favicon.svg").await.status(), 200);
    assert!(!html.contains("src=\"https://"), "nothing hotlinked");
    assert!(!html.contains("href=\"https://"), "nothing hotlinked");
}

#[tokio::test]
async fn unknown_paths_and_stories_get_a_404_page() {
    let dir = data_dir();
    let app = spawn_app(dir.path()).await;
    for path in [
        "/no/such/page",
        "/post/no-such-story/",
        "/post/%3Cscript%3E/",
        "/images/missing.svg",
    ] {
        let response = app.get(path).await;
        assert_eq!(response.status(), 404, "{path}");
        let html = response.text().await.unwrap();
        assert!(html.contains("Page not found"), "{path}");
        assert!(!html.contains("<script>"), "{path}");
    }
}

#[tokio::test]
async fn health_security_headers_and_compression() {
    let dir = data_dir();
    let app = spawn_app(dir.path()).await;
    let health = app.get("/healthz").await;
    assert_eq!(health.status(), 200);
    assert_eq!(health.text().await.unwrap(), "ok");

    let response = app
        .client
        .get(app.url("/"))
        .header("accept-encoding", "br")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let headers = response.headers();
    assert_eq!(headers["content-encoding"], "br");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(headers["x-frame-options"], "DENY");
    assert!(headers["content-security-policy"]
        .to_str()
        .unwrap()
        .contains("default-src 'self'"));
    assert!(headers.contains_key("referrer-policy"));
    assert!(!headers.contains_key("strict-transport-security"));
}

/// No `'unsafe-inline'` scripts: each page's inline scripts are allowed by their hashes, the same
/// on a rendered page and on the kept copy served after it; other answers allow none.
#[tokio::test]
async fn the_policy_allows_exactly_the_pages_own_inline_scripts() {
    let dir = data_dir();
    let app = spawn_app(dir.path()).await;
    for path in [
        "/",
        "/",
        "/login",
        "/post/function-as-a-service/",
        "/no-such-page",
    ] {
        let response = app.get(path).await;
        let policy = response.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .to_owned();
        let html = response.text().await.unwrap();
        assert!(!policy.contains("unsafe-inline"), "{path}: {policy}");
        assert!(!policy.contains("ws:"), "{path}: {policy}");
        let hashes = server::csp::inline_script_hashes(&html);
        assert!(!hashes.is_empty(), "{path} has inline scripts");
        for hash in hashes {
            assert!(
                policy.contains(&format!("'{hash}'")),
                "{path}: {hash} not in {policy}"
            );
        }
    }
    let api = app.get("/api/stories").await;
    let policy = api.headers()["content-security-policy"].to_str().unwrap();
    assert!(
        policy.contains("script-src 'self' 'wasm-unsafe-eval';"),
        "{policy}"
    );
}

#[tokio::test]
async fn hsts_only_when_asked_for() {
    let dir = data_dir();
    let env = [("STORIES_HSTS".to_owned(), "true".to_owned())];
    let app = common::spawn_app_with(dir.path(), &env).await;
    for path in ["/", "/api/stories", "/healthz"] {
        let response = app.get(path).await;
        assert_eq!(
            response.headers()["strict-transport-security"],
            "max-age=63072000",
            "{path}"
        );
    }
}

#[tokio::test]
async fn readiness_reports_the_store_and_the_identity_provider() {
    let dir = data_dir();
    let app = spawn_app(dir.path()).await;
    let ready = app.get("/readyz").await;
    assert_eq!(ready.status(), 200);
    assert_eq!(ready.text().await.unwrap(), "ready");
}

#[tokio::test]
async fn kept_pages_are_served_in_the_coding_asked_for() {
    use std::io::Read;
    let dir = data_dir();
    let app = spawn_app(dir.path()).await;
    // (content-encoding, content-length, body). A kept page has a length; one compressed on
    // the fly by the compression layer is streamed without one.
    let get = |path: &'static str, accept_encoding: &'static str| {
        let request = app.client.get(app.url(path));
        async move {
            let response = request
                .header("accept-encoding", accept_encoding)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 200);
            assert_eq!(response.headers()["vary"], "accept-encoding");
            let header = |name| {
                response
                    .headers()
                    .get(name)
                    .map(|v: &reqwest::header::HeaderValue| v.to_str().unwrap().to_owned())
            };
            let (coding, length) = (header("content-encoding"), header("content-length"));
            (coding, length, response.bytes().await.unwrap().to_vec())
        }
    };
    for path in ["/", "/post/function-as-a-service/"] {
        // The first request renders the page; it is compressed and kept in the background.
        let (coding, _, plain) = get(path, "identity").await;
        assert_eq!(coding, None);
        let plain = String::from_utf8(plain).unwrap();
        assert!(plain.contains("Serverless Stories"), "{path}");
        let mut kept = None;
        for _ in 0..100 {
            let (coding, length, brotli) = get(path, "gzip, deflate, br").await;
            assert_eq!(coding.as_deref(), Some("br"), "{path}");
            if length.is_some() {
                kept = Some(brotli);
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        let brotli = kept.unwrap_or_else(|| panic!("{path} was not kept"));
        let mut unbrotli = Vec::new();
        brotli::BrotliDecompress(&mut &brotli[..], &mut unbrotli).unwrap();
        assert_eq!(String::from_utf8(unbrotli).unwrap(), plain, "{path}");

        let (coding, length, gzip) = get(path, "br;q=0, gzip").await;
        assert_eq!(coding.as_deref(), Some("gzip"), "{path}");
        assert!(length.is_some(), "{path}: served from memory");
        let mut ungzip = String::new();
        flate2::read::GzDecoder::new(&gzip[..])
            .read_to_string(&mut ungzip)
            .unwrap();
        assert_eq!(ungzip, plain, "{path}");
    }
}

#[tokio::test]
async fn sigterm_stops_the_server_cleanly() {
    let dir = data_dir();
    let app = spawn_app(dir.path()).await;
    assert_eq!(app.get("/healthz").await.status(), 200);
    assert!(app.terminate().await, "exit status 0 after SIGTERM");
}

#[tokio::test]
async fn help_describes_the_configuration() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_serverless-stories"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(output.status.success());
    let help = String::from_utf8(output.stdout).unwrap();
    for needle in [
        "--data-dir",
        "STORIES_DATA_DIR",
        "LEPTOS_SITE_ADDR",
        "LEPTOS_SITE_ROOT",
    ] {
        assert!(help.contains(needle), "--help mentions {needle}");
    }
}

#[tokio::test]
async fn shared_pages_are_the_same_for_everyone_and_query_answers_are_not_cached() {
    let dir = data_dir();
    let app = spawn_app(dir.path()).await;
    let first = app.get("/").await;
    assert_eq!(first.status(), 200);
    let first = first.text().await.unwrap();
    let second = app.get("/").await.text().await.unwrap();
    assert_eq!(first, second);
    // The no-JavaScript subscribe answer is rendered for its request only.
    let answered = app
        .get("/?subscribe=subscribed")
        .await
        .text()
        .await
        .unwrap();
    assert!(answered.contains("You have successfully subscribed to the newsletter!"));
    let after = app.get("/").await.text().await.unwrap();
    assert!(!after.contains("You have successfully subscribed to the newsletter!"));
    assert_eq!(after, first);
    // An unknown story stays a 404, however often it is asked for.
    for _ in 0..2 {
        assert_eq!(app.get("/post/no-such-story/").await.status(), 404);
    }
}

/// API answers carry ID tokens, credential secrets and addresses: never cacheable. Pages are.
#[tokio::test]
async fn api_answers_are_never_stored_by_caches() {
    let dir = data_dir();
    add_admin(dir.path(), "ada", "correct horse battery");
    let app = spawn_app(dir.path()).await;
    let login = app.login("ada", "correct horse battery").await;
    assert_eq!(login.status(), 200);
    assert_eq!(login.headers()["cache-control"], "no-store");
    let token = login.json::<serde_json::Value>().await.unwrap()["IdToken"]
        .as_str()
        .unwrap()
        .to_owned();
    let answers = [
        app.credentials(&token).await,
        app.credentials("not-a-token").await,
        app.login("ada", "wrong password").await,
        app.subscribe("cache@example.com").await,
        app.subscribe("not an address").await,
        app.get("/api/subscribers").await,
        app.get("/api/stories").await,
    ];
    for answer in answers {
        assert_eq!(
            answer
                .headers()
                .get("cache-control")
                .map(|v| v.to_str().unwrap()),
            Some("no-store"),
            "{} {}",
            answer.url(),
            answer.status()
        );
    }
    let home = app.get("/").await;
    assert_ne!(
        home.headers()
            .get("cache-control")
            .map(|v| v.to_str().unwrap()),
        Some("no-store")
    );
}

/// The data directory holds password hashes and every address: owner-only when the server
/// creates it.
#[cfg(unix)]
#[tokio::test]
async fn a_new_data_directory_and_its_database_are_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let dir = data_dir();
    let fresh = dir.path().join("fresh");
    let app = spawn_app(&fresh).await;
    assert_eq!(app.subscribe("private@example.com").await.status(), 200);
    let mode =
        |path: &std::path::Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&fresh), 0o700);
    for entry in std::fs::read_dir(&fresh).unwrap() {
        let path = entry.unwrap().path();
        assert_eq!(mode(&path), 0o600, "{}", path.display());
    }
}

/// Every request has an id: the client's if it is usable, else a new one. It comes back in the
/// answer and is in every log line written while serving the request (JSON logs here).
#[tokio::test]
async fn json_log_lines_carry_the_request_id() {
    let dir = data_dir();
    let env = [
        ("STORIES_LOG_FORMAT".to_owned(), "json".to_owned()),
        ("RUST_LOG".to_owned(), "info".to_owned()),
    ];
    let app = common::spawn_app_with(dir.path(), &env).await;
    let response = app
        .client
        .post(app.url("/api/subscribe"))
        .header("x-request-id", "test-run-42")
        .header("accept", "application/json")
        .form(&[("email", "logged@example.com")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-request-id"], "test-run-42");
    let generated = app
        .client
        .get(app.url("/healthz"))
        .header("x-request-id", "<script>alert(1)</script>")
        .send()
        .await
        .unwrap();
    let generated = generated.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(generated.len(), 36, "a UUID: {generated}");
    assert!(app
        .get("/healthz")
        .await
        .headers()
        .contains_key("x-request-id"));
    // The lines are written as the requests end: wait for them (bounded).
    let mut lines = Vec::new();
    for _ in 0..50 {
        lines = app.logs();
        if lines.iter().any(|l| l.contains(&generated)) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let of_subscribe: Vec<serde_json::Value> = lines
        .iter()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|line| line["span"]["request_id"] == "test-run-42")
        .collect();
    // The subscribe's own event ("new subscriber") and the response line.
    assert!(
        of_subscribe
            .iter()
            .any(|l| l["fields"]["message"] == "new subscriber"),
        "{lines:#?}"
    );
    assert!(lines.iter().any(|l| l.contains(&generated)), "{lines:#?}");
    assert!(!lines.iter().any(|l| l.contains("<script>")), "{lines:#?}");
}

/// Metrics are served only on their own listener, and count what happened.
#[tokio::test]
async fn metrics_on_their_own_port_count_a_subscribe() {
    let dir = data_dir();
    let env = [("STORIES_METRICS_ADDR".to_owned(), "127.0.0.1:0".to_owned())];
    let app = common::spawn_app_with(dir.path(), &env).await;
    let metrics_url = app.metrics_address.clone().expect("a metrics listener");
    assert_eq!(app.subscribe("counted@example.com").await.status(), 200);
    assert_eq!(app.subscribe("not an address").await.status(), 400);
    assert_eq!(app.login("nobody", "wrong password").await.status(), 401);
    let metrics = reqwest::get(&metrics_url)
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for expected in [
        r#"subscribe_outcomes_total{outcome="subscribed"} 1"#,
        r#"subscribe_outcomes_total{outcome="invalid"} 1"#,
        r#"http_requests_total{route="/api/subscribe",method="POST",status="200"} 1"#,
        r#"security_events_total{event="sign_in_failed"} 1"#,
        r#"store_operation_seconds_count{operation="subscribe"} 1"#,
        r#"serverless_stories_build_info{version=""#,
        "http_request_duration_seconds_bucket{",
    ] {
        assert!(
            metrics.contains(expected),
            "{expected} missing from:\n{metrics}"
        );
    }
    // Not on the site's own port.
    assert_eq!(app.get("/metrics").await.status(), 404);
}
