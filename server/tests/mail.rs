//! Black-box: `serverless-stories mail test` through each transport: the outbox (the default)
//! and an SMTP relay (the aiosmtpd sink `scripts/test` starts on loopback, saving what it gets
//! into a Maildir).

mod common;

use common::{cli_env as env, data_dir, received_by_sink, run_cli, smtp_sink, unique_name};

#[test]
fn the_test_message_goes_to_the_outbox_by_default() {
    let dir = data_dir();
    let output = run_cli(&["mail", "test", "ada@example.com"], &env(dir.path(), &[]));
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    let path = stdout
        .trim()
        .strip_prefix("wrote the test message to ")
        .unwrap_or_else(|| panic!("{stdout}"));
    assert!(path.starts_with(&dir.path().join("outbox").display().to_string()));
    let message = std::fs::read_to_string(path).unwrap();
    for header in [
        "From: \"Serverless Stories\" <newsletter@localhost>\r\n",
        "To: ada@example.com\r\n",
        "Subject: Test message from Serverless Stories\r\n",
    ] {
        assert!(message.contains(header), "{header:?} missing:\n{message}");
    }
}

#[test]
fn the_test_message_goes_through_an_smtp_relay() {
    let (url, maildir) = smtp_sink();
    let dir = data_dir();
    let to = format!("{}@example.com", unique_name("smtp"));
    let settings = [
        ("STORIES_SMTP_URL", url.as_str()),
        ("STORIES_MAIL_FROM", "Stories <news@stories.example>"),
    ];
    let output = run_cli(&["mail", "test", &to], &env(dir.path(), &settings));
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains(&format!("to {to} through smtp://")));
    // The sink saved it (at once, but poll briefly: it writes after answering).
    let received = received_by_sink(&maildir, &to).expect("the sink received the message");
    assert!(
        received.contains("From: Stories <news@stories.example>"),
        "{received}"
    );
    assert!(received.contains("Subject: Test message from Serverless Stories"));
    assert!(
        !dir.path().join("outbox").exists(),
        "also written to the outbox"
    );
}

#[test]
fn bad_mail_settings_and_addresses_get_a_clear_error() {
    let dir = data_dir();
    let fails = |args: &[&str], extra: &[(&str, &str)]| {
        let output = run_cli(args, &env(dir.path(), extra));
        assert!(!output.status.success(), "{args:?} {extra:?} succeeded");
        String::from_utf8_lossy(&output.stderr).into_owned()
    };
    let test = ["mail", "test", "ada@example.com"];
    assert!(fails(&test, &[("STORIES_MAIL_FROM", "nobody")]).contains("STORIES_MAIL_FROM"));
    assert!(
        fails(&test, &[("STORIES_SMTP_URL", "smtp://mail.example.com")]).contains("without TLS")
    );
    assert!(fails(&test, &[("STORIES_SMTP_URL", "ftp://x")]).contains("not an SMTP URL"));
    assert!(fails(&test, &[("STORIES_MAIL_TRANSPORT", "smtp")]).contains("STORIES_SMTP_URL"));
    // Nothing listens on port 9: unavailable, said plainly.
    let down = fails(&test, &[("STORIES_SMTP_URL", "smtp://127.0.0.1:9")]);
    assert!(down.contains("the mail transport is unavailable"), "{down}");
    let bad_address = fails(&["mail", "test", "not an address"], &[]);
    assert!(
        bad_address.contains("the message was refused"),
        "{bad_address}"
    );
}

/// SES (on moto): the raw message arrives as composed; an unverified sender is refused, clearly.
#[tokio::test]
async fn the_test_message_goes_through_ses_from_a_verified_sender() {
    use aws_sdk_sesv2::config::{Credentials, Region};
    let endpoint = common::moto_endpoint();
    let config = aws_sdk_sesv2::Config::builder()
        .behavior_version_latest()
        .endpoint_url(&endpoint)
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::for_tests())
        .build();
    let domain = format!("{}.example", unique_name("ses"));
    aws_sdk_sesv2::Client::from_conf(config)
        .create_email_identity()
        .email_identity(&domain)
        .send()
        .await
        .expect("verify the sending domain");
    let dir = data_dir();
    let to = format!("{}@example.com", unique_name("ses-to"));
    let from = format!("Stories <news@{domain}>");
    let aws = [
        ("AWS_ENDPOINT_URL", endpoint.as_str()),
        ("AWS_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_EC2_METADATA_DISABLED", "true"),
        ("STORIES_MAIL_TRANSPORT", "ses"),
    ];
    let mut settings = aws.to_vec();
    settings.push(("STORIES_MAIL_FROM", from.as_str()));
    let output = run_cli(&["mail", "test", &to], &env(dir.path(), &settings));
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains("through Amazon SES"));
    let data: serde_json::Value = reqwest::get(format!("{endpoint}/moto-api/data.json"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let raw = data["ses"]["RawMessage"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|message| message["raw_data"].as_str())
        .find(|raw| raw.contains(&format!("To: {to}")))
        .expect("SES got the raw message");
    assert!(
        raw.contains("Subject: Test message from Serverless Stories"),
        "{raw}"
    );

    let mut unverified = aws.to_vec();
    unverified.push(("STORIES_MAIL_FROM", "news@unverified.example"));
    let refused = run_cli(&["mail", "test", &to], &env(dir.path(), &unverified));
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("the message was refused"), "{stderr}");
}
