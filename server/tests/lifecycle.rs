//! Black-box: the subscriber lifecycle through the real server and real mail. Double opt-in
//! (the mail, its link, the page's button), the one-click unsubscribe of RFC 8058 (as Gmail
//! sends it, multipart, and urlencoded), and every bad link answered with a page, never a 500.

mod common;

use common::{data_dir, spawn_app_with, unique_name, TestApp};
use std::path::Path;

fn settings(extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut env = vec![("STORIES_DOUBLE_OPT_IN".to_owned(), "true".to_owned())];
    env.extend(
        extra
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    );
    env
}

/// Every message in the outbox addressed to `to`, oldest first.
fn outbox_mails(data_dir: &Path, to: &str) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(data_dir.join("outbox")) else {
        return Vec::new();
    };
    let mut files: Vec<_> = entries
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "eml"))
        .collect();
    files.sort();
    files
        .into_iter()
        .filter_map(|path| std::fs::read_to_string(path).ok())
        .filter(|text| text.contains(&format!("To: {to}\r\n")))
        .collect()
}

/// The header's value (unfolded).
fn header(message: &str, name: &str) -> Option<String> {
    let head = message.split("\r\n\r\n").next()?;
    let unfolded = head.replace("\r\n ", " ").replace("\r\n\t", " ");
    unfolded.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        key.eq_ignore_ascii_case(name)
            .then(|| value.trim().to_owned())
    })
}

/// The text body, decoded as a mail program does (quoted-printable: soft line breaks, `=XX`).
fn body(message: &str) -> String {
    let body = message.split_once("\r\n\r\n").map_or("", |(_, body)| body);
    let quoted = header(message, "Content-Transfer-Encoding")
        .is_some_and(|coding| coding.eq_ignore_ascii_case("quoted-printable"));
    if !quoted {
        return body.to_owned();
    }
    let joined = body.replace("=\r\n", "");
    let bytes = joined.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|hex| u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok());
        match (bytes[i], hex) {
            (b'=', Some(byte)) => {
                decoded.push(byte);
                i += 3;
            }
            (byte, _) => {
                decoded.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8(decoded).expect("UTF-8 body")
}

/// The first `http://…` link in the body containing `path`.
fn link(message: &str, path: &str) -> String {
    body(message)
        .split_whitespace()
        .find(|word| word.starts_with("http") && word.contains(path))
        .unwrap_or_else(|| panic!("no {path} link in:\n{message}"))
        .to_owned()
}

/// The path and query of an absolute link (the test talks to the server directly).
fn path_of(link: &str) -> String {
    let without_scheme = link.split_once("://").map_or(link, |(_, rest)| rest);
    format!("/{}", without_scheme.split_once('/').map_or("", |(_, p)| p))
}

async fn post_empty(app: &TestApp, path: &str) -> reqwest::Response {
    app.client
        .post(app.url(path))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("")
        .send()
        .await
        .expect("POST")
}

fn location(response: &reqwest::Response) -> String {
    response
        .headers()
        .get("location")
        .and_then(|l| l.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn double_opt_in_through_the_mailed_link_and_the_pages_button() {
    let dir = data_dir();
    let app = spawn_app_with(dir.path(), &settings(&[])).await;
    let to = format!("{}@example.com", unique_name("ada"));

    let answer = app.subscribe(&to).await;
    assert_eq!(answer.status(), 200);
    assert_eq!(answer.text().await.unwrap(), "\"confirmation_sent\"");
    let mails = outbox_mails(dir.path(), &to);
    assert_eq!(mails.len(), 1, "one confirmation mail");
    let mail = &mails[0];
    assert!(header(mail, "Subject")
        .unwrap()
        .starts_with("Confirm your subscription"));
    let list_unsubscribe = header(mail, "List-Unsubscribe").expect("List-Unsubscribe");
    assert!(list_unsubscribe.starts_with(&format!("<{}/unsubscribe?token=", app.address)));
    assert_eq!(
        header(mail, "List-Unsubscribe-Post").as_deref(),
        Some("List-Unsubscribe=One-Click")
    );

    // The link opens a page with a button; opening it (what mail scanners do) confirms nothing.
    let confirm = path_of(&link(mail, "/confirm?token="));
    let page = app.get(&confirm).await;
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains(">Confirm subscription</button>"), "{html}");
    assert!(
        html.contains(r#"<form method="post" action="/confirm?token="#),
        "{html}"
    );
    assert!(html.contains(r#"content="noindex""#));
    // Subscribing again while pending: the same answer, and no second mail (10-minute rule).
    assert_eq!(
        app.subscribe(&to).await.text().await.unwrap(),
        "\"confirmation_sent\""
    );
    assert_eq!(
        outbox_mails(dir.path(), &to).len(),
        1,
        "mail-bombing refused"
    );

    // The button's post confirms, then sends the browser to the outcome (no JavaScript needed).
    let pressed = post_empty(&app, &confirm).await;
    assert_eq!(pressed.status(), 303);
    assert_eq!(location(&pressed), "/confirm?result=confirmed");
    let outcome = app
        .get("/confirm?result=confirmed")
        .await
        .text()
        .await
        .unwrap();
    assert!(outcome.contains("Subscription confirmed"), "{outcome}");
    let again = post_empty(&app, &confirm).await;
    assert_eq!(location(&again), "/confirm?result=already-confirmed");
    assert_eq!(
        app.subscribe(&to).await.text().await.unwrap(),
        "\"already_subscribed\""
    );
}

#[tokio::test]
async fn the_no_js_form_says_check_your_inbox() {
    let dir = data_dir();
    let app = spawn_app_with(dir.path(), &settings(&[])).await;
    let to = format!("{}@example.com", unique_name("nojs"));
    let answer = app.subscribe_without_js(&to).await;
    assert_eq!(answer.status(), 302);
    assert_eq!(location(&answer), "/?subscribe=check-inbox#newsletter");
    let page = app
        .get("/?subscribe=check-inbox")
        .await
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("Almost done: check your inbox to confirm your subscription."),
        "{page}"
    );
    assert_eq!(outbox_mails(dir.path(), &to).len(), 1);
}

#[tokio::test]
async fn without_double_opt_in_a_subscriber_is_confirmed_at_once_and_gets_no_mail() {
    let dir = data_dir();
    let app = common::spawn_app(dir.path()).await;
    let to = format!("{}@example.com", unique_name("plain"));
    assert_eq!(
        app.subscribe(&to).await.text().await.unwrap(),
        "\"subscribed\""
    );
    assert!(outbox_mails(dir.path(), &to).is_empty());
}

/// What mail clients send for "Unsubscribe" (RFC 8058): a POST with
/// `List-Unsubscribe=One-Click`, multipart (Gmail) or urlencoded, no cookies; answered in place,
/// never with a redirect.
#[tokio::test]
async fn one_click_unsubscribe_as_mail_clients_send_it() {
    let dir = data_dir();
    let app = spawn_app_with(dir.path(), &settings(&[])).await;
    for (name, multipart) in [("gmail", true), ("other", false)] {
        let to = format!("{}@example.com", unique_name(name));
        app.subscribe(&to).await;
        let mail = outbox_mails(dir.path(), &to).remove(0);
        let url = header(&mail, "List-Unsubscribe").unwrap();
        let target = path_of(url.trim_start_matches('<').trim_end_matches('>'));
        let request = app.client.post(app.url(&target));
        let request = if multipart {
            request.multipart(reqwest::multipart::Form::new().text("List-Unsubscribe", "One-Click"))
        } else {
            request.form(&[("List-Unsubscribe", "One-Click")])
        };
        let answer = request.send().await.unwrap();
        assert_eq!(answer.status(), 200, "{name}");
        assert!(answer.headers().get("location").is_none());
        assert!(answer
            .text()
            .await
            .unwrap()
            .contains("You are unsubscribed"));
        // Again: still fine, still no redirect.
        let again = app
            .client
            .post(app.url(&target))
            .form(&[("List-Unsubscribe", "One-Click")])
            .send()
            .await
            .unwrap();
        assert_eq!(again.status(), 200);
        assert!(again.text().await.unwrap().contains("Already unsubscribed"));
        // The confirmation link of a subscription that was ended no longer confirms.
        let confirm = path_of(&link(&mail, "/confirm?token="));
        assert_eq!(
            location(&post_empty(&app, &confirm).await),
            "/confirm?result=unknown"
        );
        // And they can come back: a new confirmation mail.
        assert_eq!(
            app.subscribe(&to).await.text().await.unwrap(),
            "\"confirmation_sent\""
        );
        assert_eq!(outbox_mails(dir.path(), &to).len(), 2);
    }
}

#[tokio::test]
async fn the_unsubscribe_page_works_without_javascript() {
    let dir = data_dir();
    let app = spawn_app_with(dir.path(), &settings(&[])).await;
    let to = format!("{}@example.com", unique_name("page"));
    app.subscribe(&to).await;
    let mail = outbox_mails(dir.path(), &to).remove(0);
    let unsubscribe = path_of(&link(&mail, "/unsubscribe?token="));
    let html = app.get(&unsubscribe).await.text().await.unwrap();
    assert!(html.contains(">Unsubscribe</button>"), "{html}");
    assert!(html.contains(r#"name="from" value="page""#), "{html}");
    let pressed = app
        .client
        .post(app.url(&unsubscribe))
        .form(&[("from", "page")])
        .send()
        .await
        .unwrap();
    assert_eq!(pressed.status(), 303);
    assert_eq!(location(&pressed), "/unsubscribe?result=unsubscribed");
    let outcome = app.get(&location(&pressed)).await.text().await.unwrap();
    assert!(outcome.contains("You are unsubscribed"), "{outcome}");
}

/// Forged, cut, garbage or missing tokens: a page that says what happened, never a 500.
#[tokio::test]
async fn bad_links_get_a_clear_page_never_a_500() {
    let dir = data_dir();
    let app = spawn_app_with(dir.path(), &settings(&[])).await;
    let forged = "A".repeat(43);
    for token in [
        forged.as_str(),
        "short",
        "%00%ff",
        "<script>alert(1)</script>",
        &"x".repeat(5000),
        "",
    ] {
        let query = format!("?token={}", urlencode(token));
        for page in ["/confirm", "/unsubscribe"] {
            let opened = app.get(&format!("{page}{query}")).await;
            assert_eq!(opened.status(), 200, "{page} {token:?}");
            let posted = app
                .client
                .post(app.url(&format!("{page}{query}")))
                .form(&[("from", "page")])
                .send()
                .await
                .unwrap();
            assert_eq!(posted.status(), 303, "{page} {token:?}");
            assert_eq!(location(&posted), format!("{page}?result=unknown"));
            let one_click = app
                .client
                .post(app.url(&format!("/unsubscribe{query}")))
                .form(&[("List-Unsubscribe", "One-Click")])
                .send()
                .await
                .unwrap();
            assert_eq!(one_click.status(), 404, "{token:?}");
        }
    }
    // No token at all, and a result code we never send.
    for path in ["/confirm", "/unsubscribe", "/confirm?result=%3Cb%3E"] {
        let html = app.get(path).await.text().await.unwrap();
        assert!(html.contains("This link does not work"), "{path}: {html}");
    }
    let html = app
        .get("/confirm?token=%3Cb%3Ex")
        .await
        .text()
        .await
        .unwrap();
    assert!(!html.contains("<b>x"), "the token is escaped");
}

/// Fifty presses of one link at once: one confirms, the rest are told it is already done.
#[tokio::test]
async fn concurrent_confirms_of_one_link_confirm_once() {
    let dir = data_dir();
    let app = std::sync::Arc::new(spawn_app_with(dir.path(), &settings(&[])).await);
    let to = format!("{}@example.com", unique_name("race"));
    app.subscribe(&to).await;
    let confirm = path_of(&link(&outbox_mails(dir.path(), &to)[0], "/confirm?token="));
    let presses: Vec<_> = (0..50)
        .map(|_| {
            let app = app.clone();
            let confirm = confirm.clone();
            tokio::spawn(async move { location(&post_empty(&app, &confirm).await) })
        })
        .collect();
    let mut outcomes = Vec::new();
    for press in presses {
        outcomes.push(press.await.unwrap());
    }
    let confirmed = outcomes
        .iter()
        .filter(|l| *l == "/confirm?result=confirmed")
        .count();
    let already = outcomes
        .iter()
        .filter(|l| *l == "/confirm?result=already-confirmed")
        .count();
    assert_eq!((confirmed, already), (1, 49), "{outcomes:?}");
}

/// The real transport: the sink receives the confirmation mail, and its link works.
#[tokio::test]
async fn the_confirmation_mail_goes_through_smtp() {
    let (url, maildir) = common::smtp_sink();
    let dir = data_dir();
    let app = spawn_app_with(
        dir.path(),
        &settings(&[
            ("STORIES_SMTP_URL", &url),
            ("STORIES_PUBLIC_URL", "https://stories.example"),
        ]),
    )
    .await;
    let to = format!("{}@example.com", unique_name("smtp"));
    assert_eq!(
        app.subscribe(&to).await.text().await.unwrap(),
        "\"confirmation_sent\""
    );
    let received = common::received_by_sink(Path::new(&maildir), &to)
        .expect("the sink received the confirmation mail");
    // The sink stores lines with LF; put CRLF back for the helpers.
    let received = received.replace("\r\n", "\n").replace('\n', "\r\n");
    let confirm = link(&received, "/confirm?token=");
    assert!(confirm.starts_with("https://stories.example/confirm?token="));
    assert!(header(&received, "List-Unsubscribe")
        .unwrap()
        .starts_with("<https://stories.example/unsubscribe?token="));
    let pressed = post_empty(&app, &path_of(&confirm)).await;
    assert_eq!(location(&pressed), "/confirm?result=confirmed");
}

/// A mail that can't be sent: the visitor is told to try again, and trying again sends it (the
/// 10-minute rule does not count a mail that never went out).
#[tokio::test]
async fn a_failed_confirmation_mail_can_be_asked_for_again_at_once() {
    let dir = data_dir();
    let to = format!("{}@example.com", unique_name("retry"));
    {
        // Nothing listens on port 9.
        let app = spawn_app_with(
            dir.path(),
            &settings(&[("STORIES_SMTP_URL", "smtp://127.0.0.1:9")]),
        )
        .await;
        let answer = app.subscribe(&to).await;
        assert_eq!(answer.status(), 503);
        app.kill().await;
    }
    let app = spawn_app_with(dir.path(), &settings(&[])).await;
    assert_eq!(
        app.subscribe(&to).await.text().await.unwrap(),
        "\"confirmation_sent\""
    );
    assert_eq!(outbox_mails(dir.path(), &to).len(), 1, "sent on the retry");
}

fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// `serverless-stories subscribers …` on the same data: export, show, unsubscribe, erase.
#[tokio::test]
async fn the_list_from_the_command_line() {
    let dir = data_dir();
    let app = spawn_app_with(
        dir.path(),
        &settings(&[("STORIES_RECORD_CONSENT_IP", "true")]),
    )
    .await;
    let confirmed = format!("{}@example.com", unique_name("cli-yes"));
    let pending = format!("=cmd-{}@example.com", unique_name("cli"));
    for to in [&confirmed, &pending] {
        app.subscribe(to).await;
    }
    let confirm = path_of(&link(
        &outbox_mails(dir.path(), &confirmed)[0],
        "/confirm?token=",
    ));
    post_empty(&app, &confirm).await;
    let env = vec![(
        "STORIES_DATA_DIR".to_owned(),
        dir.path().display().to_string(),
    )];
    let run = |args: &[&str]| {
        let output = common::run_cli(args, &env);
        (
            output.status.success(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };

    let (ok, csv, err) = run(&["subscribers", "export"]);
    assert!(ok, "{err}");
    let lines: Vec<&str> = csv.split("\r\n").filter(|l| !l.is_empty()).collect();
    assert_eq!(
        lines[0],
        "email,status,subscribed_at,confirmed_at,unsubscribed_at"
    );
    assert_eq!(lines.len(), 3, "{csv}");
    assert!(lines
        .iter()
        .any(|l| l.starts_with(&format!("{confirmed},confirmed,"))));
    // A formula-looking address is defused for spreadsheets.
    assert!(lines
        .iter()
        .any(|l| l.starts_with(&format!("'{pending},pending,"))));
    let (_, only_pending, _) = run(&["subscribers", "export", "--status", "pending"]);
    assert_eq!(only_pending.lines().count(), 2, "{only_pending}");
    let (ok, _, err) = run(&["subscribers", "export", "--status", "gone"]);
    assert!(!ok && err.contains("not a status"), "{err}");

    let (ok, shown, err) = run(&["subscribers", "show", &confirmed.to_uppercase()]);
    assert!(ok, "{err}");
    assert!(shown.contains("status:           confirmed"), "{shown}");
    assert!(
        shown.contains("subscribed    form on / (from 127.0.0.1)"),
        "{shown}"
    );
    assert!(
        shown.contains("confirmed     confirmation link (from 127.0.0.1)"),
        "{shown}"
    );

    let (ok, said, _) = run(&["subscribers", "unsubscribe", &confirmed]);
    assert!(ok && said.starts_with("unsubscribed "), "{said}");
    let (ok, said, _) = run(&["subscribers", "unsubscribe", &confirmed]);
    assert!(ok && said.contains("already unsubscribed"), "{said}");
    let (_, shown, _) = run(&["subscribers", "show", &confirmed]);
    assert!(shown.contains("unsubscribed  command line"), "{shown}");

    let (ok, said, _) = run(&["subscribers", "erase", &confirmed]);
    assert!(ok && said.starts_with("erased every record"), "{said}");
    for args in [
        ["subscribers", "show", confirmed.as_str()],
        ["subscribers", "erase", confirmed.as_str()],
        ["subscribers", "unsubscribe", confirmed.as_str()],
    ] {
        let (ok, _, err) = run(&args);
        assert!(!ok && err.contains("is not stored"), "{args:?}: {err}");
    }
    let (ok, _, err) = run(&["subscribers", "show", "not an address"]);
    assert!(!ok && err.contains("not an address"), "{err}");
}

/// DKIM: the confirmation mail is signed, with the list headers covered (RFC 8058 needs them
/// signed), and dkimpy, an independent implementation, verifies the signature with the public
/// key a DNS record would publish.
#[tokio::test]
async fn mail_is_dkim_signed_and_an_independent_verifier_accepts_it() {
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/dkim");
    let dir = data_dir();
    let key = data.join("test-key.pem").display().to_string();
    let app = spawn_app_with(
        dir.path(),
        &settings(&[
            ("STORIES_MAIL_FROM", "Stories <news@stories.example>"),
            ("STORIES_DKIM_KEY_FILE", &key),
            ("STORIES_DKIM_SELECTOR", "test2026"),
        ]),
    )
    .await;
    let to = format!("{}@example.com", unique_name("dkim"));
    app.subscribe(&to).await;
    let mail = outbox_mails(dir.path(), &to).remove(0);
    let signature = header(&mail, "DKIM-Signature").expect("signed");
    assert!(signature.contains("d=stories.example"), "{signature}");
    assert!(signature.contains("s=test2026"), "{signature}");
    let file = dir.path().join("signed.eml");
    std::fs::write(&file, &mail).unwrap();
    let verify = |message: &Path| {
        std::process::Command::new("python3")
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/dkim_verify.py"))
            .arg(message)
            .arg(data.join("test-key.pub.b64"))
            .output()
            .expect("python3 with dkimpy (scripts/setup installs it)")
    };
    let verified = verify(&file);
    assert!(
        verified.status.success(),
        "{}{}",
        String::from_utf8_lossy(&verified.stdout),
        String::from_utf8_lossy(&verified.stderr)
    );
    let signed = String::from_utf8_lossy(&verified.stdout).to_lowercase();
    for name in [
        "from",
        "to",
        "subject",
        "date",
        "message-id",
        "list-unsubscribe",
        "list-unsubscribe-post",
    ] {
        assert!(
            signed.split(':').any(|h| h.trim() == name),
            "{name} not signed: {signed}"
        );
    }
    // A changed unsubscribe link breaks the signature.
    let forged = mail.replacen("/unsubscribe?token=", "/unsubscribe?token=x", 1);
    std::fs::write(&file, forged).unwrap();
    assert!(
        !verify(&file).status.success(),
        "a forged header still verified"
    );
}

/// A bot filling the honeypot gets what a person gets with double opt-in on, and nothing is
/// stored or mailed.
#[tokio::test]
async fn a_filled_honeypot_gets_the_double_opt_in_answer_and_no_mail() {
    let dir = data_dir();
    let app = spawn_app_with(dir.path(), &settings(&[])).await;
    let to = format!("{}@example.com", unique_name("bot"));
    let answer = app
        .post_form(
            "/api/subscribe",
            &[("email", &to), ("website", "https://spam.example")],
        )
        .await;
    assert_eq!(answer.text().await.unwrap(), "\"confirmation_sent\"");
    assert!(outbox_mails(dir.path(), &to).is_empty());
    // Not stored: a person subscribing with it now gets a mail.
    app.subscribe(&to).await;
    assert_eq!(outbox_mails(dir.path(), &to).len(), 1);
}
