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
