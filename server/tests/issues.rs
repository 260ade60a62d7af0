//! Black-box: newsletter issues made from stories, through the CLI.

mod common;

use common::{cli_env as env, data_dir, run_cli};
use std::path::Path;

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
