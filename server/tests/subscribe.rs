//! Black-box: subscribing, with JavaScript (JSON answers) and without (form post + redirect).

mod common;

use common::{data_dir, spawn_app};
use serde_json::Value;

const SUCCESS: &str = "You have successfully subscribed to the newsletter!";
const ALREADY: &str = "You are already subscribed.";
const WENT_WRONG: &str = "Something went wrong. Please try again.";

async fn json(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    let value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"));
    (status, value)
}

#[tokio::test]
async fn a_new_address_subscribes_and_a_repeat_is_already_subscribed() {
    let dir = data_dir();
    let app = spawn_app(dir.path()).await;
    assert_eq!(
        json(app.subscribe("ada@example.com").await).await,
        (200, "subscribed".into())
    );
    assert_eq!(
        json(app.subscribe("ada@example.com").await).await,
        (200, "already_subscribed".into())
    );
    // Duplicates are found whatever the letter case, and surrounding blanks are ignored.
    assert_eq!(
        json(app.subscribe("  ADA@Example.com ").await).await,
        (200, "already_subscribed".into())
    );
}

/// Addresses that look like another one (invisible characters, bidi overrides) or that no mail
/// server takes are refused; one mailbox in two Unicode forms, or with its domain in Unicode and
/// in ASCII, is one subscriber.
#[tokio::test]
async fn lookalike_addresses_are_refused_and_unicode_forms_are_one_subscriber() {
    let dir = data_dir();
    let app = spawn_app(dir.path()).await;
    for lookalike in [
        "ada\u{200B}@example.com",
        "a\u{0085}b@example.com",
        "\u{202E}moc.live@example.com",
        "x@a{b}c.com",
    ] {
        let (status, body) = json(app.subscribe(lookalike).await).await;
        assert_eq!(status, 400, "{lookalike:?}");
        assert_eq!(
            body["message"],
            "Please enter a valid email address, like name@example.com."
        );
    }
    assert_eq!(
        json(app.subscribe("caf\u{E9}@example.com").await).await,
        (200, "subscribed".into())
    );
    assert_eq!(
        json(app.subscribe("cafe\u{301}@example.com").await).await,
        (200, "already_subscribed".into())
    );
    assert_eq!(
        json(app.subscribe("ada@b\u{FC}cher.example").await).await,
        (200, "subscribed".into())
    );
    assert_eq!(
        json(app.subscribe("ADA@xn--bcher-kva.example").await).await,
        (200, "already_subscribed".into())
    );
    // Fewer than 254 characters, more than 254 octets.
    let (status, _) = json(
        app.subscribe(&format!("{}@example.com", "\u{E9}".repeat(130)))
            .await,
    )
    .await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn invalid_input_is_a_400_with_a_specific_message() {
    let dir = data_dir();
    let app = spawn_app(dir.path()).await;
    let cases = [
        ("", "Please enter your email address."),
        ("   ", "Please enter your email address."),
        ("not-an-email", "Please enter a valid email address"),
        ("name@localhost", "Please enter a valid email address"),
        (
            "<script>alert(1)</script>@example.com",
            "Please enter a valid email address",
        ),
    ];
    for (input, expected) in cases {
        let (status, body) = json(app.subscribe(input).await).await;
        assert_eq!(status, 400, "{input:?}");
        assert_eq!(body["error"], "bad_request", "{input:?}");
        assert!(
            body["message"].as_str().unwrap().starts_with(expected),
            "{input:?}: {body}"
        );
    }
    let too_long = format!("{}@{}.com", "a".repeat(64), "b".repeat(200));
    let (status, body) = json(app.subscribe(&too_long).await).await;
    assert_eq!(status, 400);
    assert!(
        body["message"].as_str().unwrap().contains("too long"),
        "{body}"
    );
}

#[tokio::test]
async fn malformed_requests_are_4xx_with_a_clear_message_never_5xx() {
    let dir = data_dir();
    let app = spawn_app(dir.path()).await;

    // Missing field.
    let (status, body) = json(app.post_subscribe("name=ada").await).await;
    assert_eq!(status, 400);
    assert!(
        body["message"].as_str().unwrap().contains("email"),
        "{body}"
    );

    // Garbage bytes, and an empty body.
    for garbage in [
        vec![0xff, 0x00, 0xfe, b'%', b'&', b'='],
        Vec::new(),
        b"%%%%".to_vec(),
    ] {
        let status = app.post_subscribe(garbage.clone()).await.status();
        assert!(status.is_client_error(), "{garbage:?}: {status}");
    }

    // A JSON body where a form is expected.
    let response = app
        .client
        .post(app.url("/api/subscribe"))
        .header("content-type", "application/json")
        .body(r#"{"email": "ada@example.com"}"#)
        .send()
        .await
        .unwrap();
    assert!(response.status().is_client_error(), "{}", response.status());

    // Huge input is refused before it is read. (Its own connection: the server closes it after
    // refusing the unread body, and a pooled connection would then fail the next request.)
    let huge = format!("email={}", "a".repeat(2 * 1024 * 1024));
    let one_shot = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let response = one_shot
        .post(app.url("/api/subscribe"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(huge)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);

    // Wrong method.
    let response = app.get("/api/subscribe").await;
    assert_eq!(response.status(), 405);

    // After all that, the server still works.
    assert_eq!(
        json(app.subscribe("still-ok@example.com").await).await,
        (200, "subscribed".into())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_subscribes_of_one_address_give_exactly_one_success() {
    let dir = data_dir();
    let app = std::sync::Arc::new(spawn_app(dir.path()).await);
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let app = app.clone();
            tokio::spawn(async move { json(app.subscribe("race@example.com").await).await })
        })
        .collect();
    let mut outcomes = Vec::new();
    for task in tasks {
        outcomes.push(task.await.unwrap());
    }
    let subscribed = outcomes
        .iter()
        .filter(|o| **o == (200, "subscribed".into()))
        .count();
    let already = outcomes
        .iter()
        .filter(|o| **o == (200, "already_subscribed".into()))
        .count();
    assert_eq!((subscribed, already), (1, 49), "{outcomes:?}");
}

#[tokio::test]
async fn an_acknowledged_subscribe_survives_kill_9_and_restart() {
    let dir = data_dir();
    let app = spawn_app(dir.path()).await;
    assert_eq!(
        json(app.subscribe("durable@example.com").await).await,
        (200, "subscribed".into())
    );
    app.kill().await;

    let app = spawn_app(dir.path()).await;
    assert_eq!(
        json(app.subscribe("durable@example.com").await).await,
        (200, "already_subscribed".into())
    );
    assert!(
        dir.path().join("serverless-stories.sqlite3").exists(),
        "the data dir holds the database"
    );
}

#[tokio::test]
async fn an_unavailable_store_is_a_503_with_the_generic_message_not_a_duplicate() {
    let dir = data_dir();
    let app = spawn_app(dir.path()).await;
    assert_eq!(app.get("/healthz").await.status(), 200);
    // Another process holds the database's write lock for longer than the server waits.
    let conn = rusqlite::Connection::open(dir.path().join("serverless-stories.sqlite3")).unwrap();
    conn.execute_batch("BEGIN EXCLUSIVE;").unwrap();
    let (status, body) = json(app.subscribe("blocked@example.com").await).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["message"], WENT_WRONG);
    conn.execute_batch("ROLLBACK;").unwrap();
    // Once the lock is gone the same address subscribes normally: nothing was half-written.
    assert_eq!(
        json(app.subscribe("blocked@example.com").await).await,
        (200, "subscribed".into())
    );
}

fn location(response: &reqwest::Response) -> String {
    response.headers()["location"].to_str().unwrap().to_owned()
}

#[tokio::test]
async fn without_javascript_the_form_post_redirects_to_a_page_showing_the_outcome() {
    let dir = data_dir();
    let app = spawn_app(dir.path()).await;

    let response = app.subscribe_without_js("nojs@example.com").await;
    assert_eq!(response.status(), 302);
    let to = location(&response);
    assert_eq!(to, "/?subscribe=subscribed#newsletter");
    let html = app.get(&to).await.text().await.unwrap();
    assert!(html.contains(SUCCESS));
    assert!(
        !html.contains(r#"name="email""#),
        "the form is replaced by the success alert"
    );

    let response = app.subscribe_without_js("NoJS@example.com").await;
    assert_eq!(response.status(), 302);
    let to = location(&response);
    assert!(to.starts_with("/?subscribe=already-subscribed"), "{to}");
    let html = app.get(&to).await.text().await.unwrap();
    assert!(html.contains(ALREADY));
    assert!(html.contains(r#"name="email""#));

    let typed = "\"<b>bold</b>\" not an address";
    let response = app.subscribe_without_js(typed).await;
    assert_eq!(response.status(), 302);
    let to = location(&response);
    assert!(to.starts_with("/?subscribe=invalid&email="), "{to}");
    let html = app.get(&to).await.text().await.unwrap();
    assert!(html.contains("Please enter a valid email address"));
    // What they typed is back in the field, escaped, so nothing is lost and nothing is injected.
    assert!(
        html.contains("value=\"&quot;&lt;b&gt;bold&lt;/b&gt;&quot; not an address\""),
        "{html}"
    );
    assert!(!html.contains("<b>bold</b>"));
}

/// A subscribe from `source` (a loopback address), optionally through a proxy's header.
async fn subscribe_from(
    app: &common::TestApp,
    source: [u8; 4],
    forwarded_for: Option<&str>,
    email: &str,
) -> reqwest::Response {
    let client = reqwest::Client::builder()
        .local_address(std::net::IpAddr::from(source))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let mut request = client
        .post(app.url("/api/subscribe"))
        .header("accept", "application/json")
        .form(&[("email", email)]);
    if let Some(forwarded) = forwarded_for {
        request = request.header("x-forwarded-for", forwarded);
    }
    request.send().await.unwrap()
}

/// One client posting address after address is refused after its limit, with and without
/// JavaScript, while another client still subscribes.
#[tokio::test]
async fn a_client_over_its_subscribe_limit_gets_429_and_others_do_not() {
    let dir = data_dir();
    let env = [("STORIES_SUBSCRIBE_LIMIT".to_owned(), "5".to_owned())];
    let app = common::spawn_app_with(dir.path(), &env).await;
    let mut statuses = Vec::new();
    for n in 0..20 {
        let email = format!("flood{n}@example.com");
        statuses.push(
            subscribe_from(&app, [127, 0, 0, 7], None, &email)
                .await
                .status()
                .as_u16(),
        );
    }
    assert_eq!(statuses[..5], [200; 5], "{statuses:?}");
    assert!(statuses[5..].iter().all(|s| *s == 429), "{statuses:?}");
    let refused = subscribe_from(&app, [127, 0, 0, 7], None, "one-more@example.com").await;
    let (_, body) = json(refused).await;
    assert_eq!(
        body["message"],
        "Too many attempts. Please wait a minute and try again."
    );
    // Without JavaScript: back to the form, with the message and what was typed.
    let client = reqwest::Client::builder()
        .local_address(std::net::IpAddr::from([127, 0, 0, 7]))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let page = client
        .post(app.url("/api/subscribe"))
        .header("accept", "text/html")
        .form(&[("email", "no-js@example.com")])
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 302);
    let location = page.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        location.starts_with("/?subscribe=too-many&email=no%2Djs"),
        "{location}"
    );
    let shown = app.get(&location).await.text().await.unwrap();
    assert!(shown.contains("Too many attempts. Please wait a minute and try again."));
    // Nothing of the refused ones was stored; another client is unaffected.
    assert_eq!(
        json(subscribe_from(&app, [127, 0, 0, 8], None, "flood19@example.com").await).await,
        (200, "subscribed".into())
    );
}

/// Behind a trusted proxy each client is the address the proxy saw, not the proxy.
#[tokio::test]
async fn behind_trusted_proxies_clients_are_told_apart_by_x_forwarded_for() {
    let dir = data_dir();
    let env = [
        ("STORIES_SUBSCRIBE_LIMIT".to_owned(), "2".to_owned()),
        (
            "STORIES_TRUSTED_PROXIES".to_owned(),
            "127.0.0.9/32".to_owned(),
        ),
    ];
    let app = common::spawn_app_with(dir.path(), &env).await;
    let proxy = [127, 0, 0, 9];
    for n in 0..2 {
        let email = format!("a{n}@example.com");
        let response = subscribe_from(&app, proxy, Some("198.51.100.1"), &email).await;
        assert_eq!(response.status(), 200);
    }
    let third = subscribe_from(&app, proxy, Some("198.51.100.1"), "a2@example.com").await;
    assert_eq!(third.status(), 429);
    // Another client through the same proxy; a forged left-most hop changes nothing.
    let other = subscribe_from(&app, proxy, Some("198.51.100.2"), "b@example.com").await;
    assert_eq!(other.status(), 200);
    let forged = subscribe_from(
        &app,
        proxy,
        Some("203.0.113.5, 198.51.100.1"),
        "c@example.com",
    )
    .await;
    assert_eq!(forged.status(), 429);
    // An untrusted peer's header is ignored: it is its own client.
    let direct = subscribe_from(&app, [127, 0, 0, 10], Some("198.51.100.2"), "d@example.com").await;
    assert_eq!(direct.status(), 200);
}

/// A filled honeypot (a bot filling every field) gets the normal answer and nothing is stored.
#[tokio::test]
async fn a_filled_honeypot_is_answered_as_usual_and_stores_nothing() {
    let dir = data_dir();
    let app = spawn_app(dir.path()).await;
    let bot = app
        .post_form(
            "/api/subscribe",
            &[
                ("email", "bot-target@example.com"),
                ("website", "https://spam.example"),
            ],
        )
        .await;
    assert_eq!(json(bot).await, (200, "subscribed".into()));
    assert_eq!(
        json(app.subscribe("bot-target@example.com").await).await,
        (200, "subscribed".into()),
        "the bot's address was stored"
    );
    // An empty honeypot (what the no-JavaScript form sends) is a person.
    let person = app
        .post_form(
            "/api/subscribe",
            &[("email", "person@example.com"), ("website", "")],
        )
        .await;
    assert_eq!(json(person).await, (200, "subscribed".into()));
}
