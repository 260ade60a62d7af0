//! Black-box: newsletter issues made from stories, through the CLI.

mod common;

use common::{
    add_admin, add_user, cli_env as env, data_dir, run_cli,
    sigv4_client::{signed_get, signed_post_form},
};
use serde_json::Value;
use std::{
    collections::HashMap,
    path::Path,
    sync::{Arc, Mutex},
};
use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader},
    net::TcpListener,
};

#[test]
fn a_preview_of_an_issue_is_a_multipart_mail_with_the_list_headers() {
    let dir = data_dir();
    let key = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/dkim/test-key.pem");
    let settings = env(
        dir.path(),
        &[
            ("STORIES_PUBLIC_URL", "https://stories.example"),
            ("STORIES_MAIL_FROM", "Stories <news@stories.example>"),
            ("STORIES_DKIM_KEY_FILE", &key.display().to_string()),
            ("STORIES_DKIM_SELECTOR", "test2026"),
        ],
    );
    let output = run_cli(
        &[
            "issue",
            "preview",
            "function-as-a-service",
            "--to",
            "ada@example.com",
        ],
        &settings,
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let path = stdout
        .trim()
        .strip_prefix("wrote the preview of function-as-a-service to ")
        .unwrap_or_else(|| panic!("{stdout}"));
    let mail = std::fs::read_to_string(path).unwrap();
    for expected in [
        "Subject: [Preview] Function as a Service: The Next Big Thing\r\n",
        "List-Id: Serverless Stories <newsletter.stories.example>\r\n",
        "List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n",
        "Content-Type: multipart/alternative;",
        "Content-Type: text/html; charset=utf-8",
        "Content-Type: text/plain; charset=utf-8",
    ] {
        assert!(mail.contains(expected), "{expected:?} missing:\n{mail}");
    }
    // Not on the list: the unsubscribe link is the preview placeholder.
    assert!(mail.contains("List-Unsubscribe: <https://stories.example/unsubscribe?token=preview-"));
    // Signed, and the signature holds (dkimpy).
    let verified = std::process::Command::new("python3")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/dkim_verify.py"))
        .arg(path)
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/dkim/test-key.pub.b64"))
        .output()
        .unwrap();
    assert!(
        verified.status.success(),
        "{}",
        String::from_utf8_lossy(&verified.stderr)
    );
}

#[test]
fn issue_commands_say_what_is_missing() {
    let dir = data_dir();
    let fails = |args: &[&str], extra: &[(&str, &str)]| {
        let output = run_cli(args, &env(dir.path(), extra));
        assert!(!output.status.success(), "{args:?} succeeded");
        String::from_utf8_lossy(&output.stderr).into_owned()
    };
    let preview = [
        "issue",
        "preview",
        "function-as-a-service",
        "--to",
        "ada@example.com",
    ];
    assert!(fails(&preview, &[]).contains("STORIES_PUBLIC_URL"));
    let url = [("STORIES_PUBLIC_URL", "https://stories.example")];
    let unknown = fails(
        &["issue", "preview", "nope", "--to", "ada@example.com"],
        &url,
    );
    assert!(unknown.contains("there is no story \"nope\""), "{unknown}");
    assert!(unknown.contains("function-as-a-service"), "{unknown}");
    let bad = fails(
        &[
            "issue",
            "preview",
            "function-as-a-service",
            "--to",
            "nobody",
        ],
        &url,
    );
    assert!(bad.contains("\"nobody\""), "{bad}");
}

/// `issue send`: every confirmed subscriber gets their own copy once (their own unsubscribe link,
/// which works), pending and unsubscribed ones none; asked again it sends nothing more.
#[tokio::test]
async fn an_issue_is_sent_once_to_every_confirmed_subscriber() {
    let dir = data_dir();
    let app = common::spawn_app(dir.path()).await;
    let readers = [
        "ada@example.com",
        "grace@example.com",
        "leaving@example.com",
    ];
    for reader in readers {
        assert_eq!(app.subscribe(reader).await.status(), 200);
    }
    let settings = env(dir.path(), &[("STORIES_PUBLIC_URL", app.address.as_str())]);
    let run = |args: &[&str]| {
        let output = run_cli(args, &settings);
        assert!(
            output.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    assert!(run(&["subscribers", "unsubscribe", "leaving@example.com"]).starts_with("unsubscribed"));
    let slug = "function-as-a-service";
    let sent = run(&["issue", "send", slug, "--by", "ada"]);
    assert!(
        sent.contains("sending function-as-a-service to 2 confirmed subscribers"),
        "{sent}"
    );
    assert!(sent.contains("done: 2 sent, 0 failed"), "{sent}");
    let mails: Vec<String> = std::fs::read_dir(dir.path().join("outbox"))
        .unwrap()
        .map(|entry| std::fs::read_to_string(entry.unwrap().path()).unwrap())
        .collect();
    assert_eq!(mails.len(), 2);
    let to = |address: &str| {
        mails
            .iter()
            .find(|mail| mail.contains(&format!("To: {address}\r\n")))
            .unwrap_or_else(|| panic!("no mail to {address}"))
            .clone()
    };
    let ada = to("ada@example.com");
    let grace = to("grace@example.com");
    let link = |mail: &str| {
        let start = mail.find("List-Unsubscribe: <").unwrap() + "List-Unsubscribe: <".len();
        mail[start..].split('>').next().unwrap().to_owned()
    };
    assert_ne!(
        link(&ada),
        link(&grace),
        "each subscriber has their own link"
    );
    assert!(ada.contains("Subject: Function as a Service: The Next Big Thing\r\n"));

    // Again: already sent, nothing more goes out.
    let again = run(&["issue", "send", slug]);
    assert!(
        again.contains("was sent on") && again.contains("by ada"),
        "{again}"
    );
    assert_eq!(
        std::fs::read_dir(dir.path().join("outbox"))
            .unwrap()
            .count(),
        2
    );
    // --resend retries failed deliveries only: none failed, none sent again.
    let resent = run(&["issue", "send", slug, "--resend"]);
    assert!(
        resent.contains("trying the 0 failed deliveries again"),
        "{resent}"
    );
    assert_eq!(
        std::fs::read_dir(dir.path().join("outbox"))
            .unwrap()
            .count(),
        2
    );
    let status = run(&["issue", "status", slug]);
    assert!(
        status.contains("done: 2 sent, 0 failed, 0 skipped"),
        "{status}"
    );

    // The issue's unsubscribe link works (one click, as a mail program sends it).
    let answer = app
        .client
        .post(link(&ada))
        .form(&[("List-Unsubscribe", "One-Click")])
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    let shown = run(&["subscribers", "show", "ada@example.com"]);
    assert!(shown.contains("status:           unsubscribed"), "{shown}");

    let unknown = run_cli(
        &["issue", "status", "welcome-to-serverless-stories"],
        &settings,
    );
    assert!(!unknown.status.success());
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("has not been sent"));
}

const PASSWORD: &str = "correct horse battery staple";

fn outbox_count(dir: &Path) -> usize {
    std::fs::read_dir(dir.join("outbox")).map_or(0, |files| files.count())
}

/// The admin API: every story with its issue, a preview, a send that starts once and is
/// delivered by the server's worker (progress read until done), and clear refusals.
#[tokio::test]
async fn the_admin_api_sends_an_issue_once_and_shows_its_progress() {
    let dir = data_dir();
    add_admin(dir.path(), "ada", PASSWORD);
    add_user(dir.path(), "eve", PASSWORD, &["--group", "readers"]);
    let app = common::spawn_app_with(
        dir.path(),
        &[(
            "STORIES_PUBLIC_URL".into(),
            "https://stories.example".into(),
        )],
    )
    .await;
    for reader in ["a@example.com", "b@example.com", "c@example.com"] {
        assert_eq!(app.subscribe(reader).await.status(), 200);
    }
    let (_token, creds) = app.admin_credentials("ada", PASSWORD).await;
    let desk = |answer: Value| answer;
    let read = || async {
        let answer = signed_get(&app, &creds, "/api/issues").await;
        assert_eq!(answer.status(), 200);
        desk(answer.json::<Value>().await.unwrap())
    };
    let first = read().await;
    assert_eq!(first["confirmed"], 3);
    assert_eq!(first["cannot_send"], Value::Null);
    let stories = first["stories"].as_array().unwrap();
    assert_eq!(stories.len(), 3);
    assert!(stories.iter().all(|story| story["issue"].is_null()));

    let post = |path: &'static str, body: String| {
        let creds = creds.clone();
        let app = &app;
        async move { signed_post_form(app, &creds, path, &body, None).await }
    };
    // A preview to one address, outside the list.
    let preview = post(
        "/api/issues/preview",
        "slug=function-as-a-service&to=me%40example.com".into(),
    )
    .await;
    assert_eq!(preview.status(), 200);
    assert_eq!(
        preview.json::<String>().await.unwrap(),
        "A preview is on its way to me@example.com."
    );
    assert_eq!(outbox_count(dir.path()), 1);
    // Refusals say what is wrong, never 500.
    for (path, body, expected) in [
        (
            "/api/issues/preview",
            "slug=function-as-a-service&to=nobody",
            "valid email address",
        ),
        (
            "/api/issues/preview",
            "slug=nope&to=me%40example.com",
            "there is no story \"nope\"",
        ),
        ("/api/issues/send", "slug=nope", "there is no story"),
        (
            "/api/issues/send",
            "nothing=here",
            "The form could not be read",
        ),
        (
            "/api/issues/send",
            "slug=welcome-to-serverless-stories&failed=retry",
            "has not been sent",
        ),
    ] {
        let refused = post(path, body.into()).await;
        assert_eq!(refused.status(), 400, "{path} {body}");
        let message = refused.json::<Value>().await.unwrap()["message"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(message.contains(expected), "{body}: {message}");
    }

    let sent = post("/api/issues/send", "slug=function-as-a-service".into()).await;
    assert_eq!(sent.status(), 200);
    assert_eq!(
        sent.json::<String>().await.unwrap(),
        "Sending to 3 confirmed subscribers."
    );
    // The server's worker delivers it; the desk shows the progress.
    let mut issue = Value::Null;
    for _ in 0..100 {
        let desk = read().await;
        issue = desk["stories"]
            .as_array()
            .unwrap()
            .iter()
            .find(|story| story["slug"] == "function-as-a-service")
            .unwrap()["issue"]
            .clone();
        if issue["sent"] == 3 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(
        (
            &issue["sent"],
            &issue["queued"],
            &issue["failed"],
            &issue["started_by"]
        ),
        (
            &Value::from(3),
            &Value::from(0),
            &Value::from(0),
            &Value::from("ada")
        ),
        "{issue}"
    );
    assert_eq!(outbox_count(dir.path()), 4);
    let again = post("/api/issues/send", "slug=function-as-a-service".into()).await;
    assert_eq!(again.status(), 400);
    let message = again.json::<Value>().await.unwrap()["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        message.contains("an issue is sent once") && message.contains("by ada"),
        "{message}"
    );
    let retry = post(
        "/api/issues/send",
        "slug=function-as-a-service&failed=retry".into(),
    )
    .await;
    assert_eq!(
        retry.json::<String>().await.unwrap(),
        "No deliveries of this issue failed."
    );
    assert_eq!(outbox_count(dir.path()), 4, "nothing is sent twice");

    // The dashboard: today's new subscribers, the totals, the issue's counts.
    let board = signed_get(&app, &creds, "/api/dashboard").await;
    assert_eq!(board.status(), 200);
    let board = board.json::<Value>().await.unwrap();
    let days = board["days"].as_array().unwrap();
    assert_eq!(days.len(), 90);
    let today = days.last().unwrap();
    assert_eq!(
        (&today["confirmed"], &today["unsubscribed"]),
        (&Value::from(3), &Value::from(0))
    );
    assert_eq!(board["counts"]["confirmed"], 3);
    assert_eq!(
        board["issues"][0]["subject"],
        "Function as a Service: The Next Big Thing"
    );
    assert_eq!(
        (&board["issues"][0]["sent"], &board["issues"][0]["failed"]),
        (&Value::from(3), &Value::from(0))
    );

    // Not signed, or signed by someone who is not an admin: refused before anything runs.
    assert_eq!(app.get("/api/issues").await.status(), 403);
    assert_eq!(app.get("/api/dashboard").await.status(), 403);
    let (_token, eve) = app.admin_credentials("eve", PASSWORD).await;
    assert_eq!(signed_get(&app, &eve, "/api/issues").await.status(), 403);
    assert_eq!(signed_get(&app, &eve, "/api/dashboard").await.status(), 403);
    let eve_send = signed_post_form(
        &app,
        &eve,
        "/api/issues/send",
        "slug=welcome-to-serverless-stories",
        None,
    )
    .await;
    assert_eq!(eve_send.status(), 403);
}

/// What the fake relay saw: messages accepted per recipient.
type Accepted = Arc<Mutex<HashMap<String, u32>>>;

/// A minimal SMTP relay on loopback: `busy…` recipients get a 451 the first time, `nobody…`
/// ones a 550; every other message is accepted and counted.
async fn fake_relay() -> (String, Accepted) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("smtp://{}", listener.local_addr().unwrap());
    let accepted: Accepted = Arc::default();
    let turned_away = Arc::new(Mutex::new(std::collections::HashSet::<String>::new()));
    let counts = Arc::clone(&accepted);
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let (counts, turned_away) = (Arc::clone(&counts), Arc::clone(&turned_away));
            tokio::spawn(async move {
                let (read, mut write) = stream.into_split();
                let mut lines = BufReader::new(read).lines();
                let mut to = Vec::new();
                write.write_all(b"220 fake ESMTP\r\n").await.ok();
                while let Ok(Some(line)) = lines.next_line().await {
                    let upper = line.to_ascii_uppercase();
                    let reply: String = if upper.starts_with("EHLO") || upper.starts_with("HELO") {
                        "250-fake\r\n250 8BITMIME\r\n".into()
                    } else if upper.starts_with("RCPT TO:") {
                        let address = line[8..].trim().trim_matches(['<', '>']).to_owned();
                        if address.starts_with("nobody") {
                            "550 5.1.1 no such user\r\n".into()
                        } else if address.starts_with("busy")
                            && turned_away.lock().unwrap().insert(address.clone())
                        {
                            "451 4.3.0 try again later\r\n".into()
                        } else {
                            to.push(address);
                            "250 OK\r\n".into()
                        }
                    } else if upper == "DATA" {
                        write.write_all(b"354 go ahead\r\n").await.ok();
                        while let Ok(Some(line)) = lines.next_line().await {
                            if line == "." {
                                break;
                            }
                        }
                        let mut counts = counts.lock().unwrap();
                        for address in to.drain(..) {
                            *counts.entry(address).or_default() += 1;
                        }
                        "250 queued\r\n".into()
                    } else if upper == "QUIT" {
                        write.write_all(b"221 bye\r\n").await.ok();
                        return;
                    } else {
                        if upper == "RSET" {
                            to.clear();
                        }
                        "250 OK\r\n".into()
                    };
                    if write.write_all(reply.as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (url, accepted)
}

/// Through a relay: a 451 is tried again (after STORIES_SEND_RETRY_AFTER) and delivered, a 550
/// is recorded as failed and shown; nothing is delivered twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_relay_is_tried_again_and_a_refusal_is_recorded() {
    let dir = data_dir();
    let app = common::spawn_app(dir.path()).await;
    for reader in ["ada@example.com", "busy@example.com", "nobody@example.com"] {
        assert_eq!(app.subscribe(reader).await.status(), 200);
    }
    let (relay, accepted) = fake_relay().await;
    let settings = env(
        dir.path(),
        &[
            ("STORIES_PUBLIC_URL", "https://stories.example"),
            ("STORIES_MAIL_TRANSPORT", "smtp"),
            ("STORIES_SMTP_URL", &relay),
            ("STORIES_SEND_RETRY_AFTER", "1"),
        ],
    );
    let status_env = settings.clone();
    let output = tokio::task::spawn_blocking(move || {
        run_cli(&["issue", "send", "function-as-a-service"], &settings)
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("done: 2 sent, 1 failed"), "{stdout}");
    let accepted = accepted.lock().unwrap().clone();
    assert_eq!(
        accepted,
        HashMap::from([
            ("ada@example.com".into(), 1),
            ("busy@example.com".into(), 1)
        ])
    );
    // The refusal is shown with the relay's answer.
    let status = run_cli(&["issue", "status", "function-as-a-service"], &status_env);
    let status = String::from_utf8_lossy(&status.stdout);
    assert!(
        status.contains("failed: nobody@example.com: ") && status.contains("550"),
        "{status}"
    );
}

/// Two instances sending one issue at once (the embedded database shared): each subscriber gets
/// one copy.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_sending_one_issue_deliver_each_mail_once() {
    let dir = data_dir();
    let app = common::spawn_app(dir.path()).await;
    let readers: Vec<String> = (0..150).map(|i| format!("reader{i}@example.com")).collect();
    for reader in &readers {
        assert_eq!(app.subscribe(reader).await.status(), 200);
    }
    let (relay, accepted) = fake_relay().await;
    let settings = env(
        dir.path(),
        &[
            ("STORIES_PUBLIC_URL", "https://stories.example"),
            ("STORIES_MAIL_TRANSPORT", "smtp"),
            ("STORIES_SMTP_URL", &relay),
        ],
    );
    let send = |settings: Vec<(String, String)>| {
        tokio::task::spawn_blocking(move || {
            run_cli(&["issue", "send", "function-as-a-service"], &settings)
        })
    };
    let (a, b) = tokio::join!(send(settings.clone()), send(settings));
    for output in [a.unwrap(), b.unwrap()] {
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let accepted = accepted.lock().unwrap().clone();
    assert_eq!(accepted.len(), 150);
    assert!(accepted.values().all(|n| *n == 1), "{accepted:?}");
}
