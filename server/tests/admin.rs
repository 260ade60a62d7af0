//! Black-box: admin login, temporary credentials, and the SigV4-signed subscriber list.

mod common;

use aws_sigv4::http_request::SigningSettings;
use common::{
    add_admin, data_dir,
    sigv4_client::{identity, sign_get, signed_get, signed_headers},
    spawn_app, TestApp,
};
use serde_json::Value;
use std::time::{Duration, SystemTime};

const PASSWORD: &str = "correct horse battery";

/// A server with one subscriber, and an admin's credentials for it (for the external clients).
async fn admin_with_one_subscriber(email: &str) -> (tempfile::TempDir, TestApp, Value) {
    let dir = data_dir();
    add_admin(dir.path(), "ada", PASSWORD);
    let app = spawn_app(dir.path()).await;
    assert_eq!(app.subscribe(email).await.status(), 200);
    let (_token, creds) = app.admin_credentials("ada", PASSWORD).await;
    (dir, app, creds)
}

#[tokio::test]
async fn an_admin_logs_in_gets_credentials_and_pages_through_every_subscriber() {
    let dir = data_dir();
    add_admin(dir.path(), "ada", PASSWORD);
    let app = spawn_app(dir.path()).await;
    let addresses: Vec<String> = (0..7).map(|i| format!("reader{i}@example.com")).collect();
    for address in &addresses {
        assert_eq!(app.subscribe(address).await.status(), 200);
    }
    let hostile = r#""<img src=x onerror=alert(1)>"@example.com"#;
    assert_eq!(app.subscribe(hostile).await.status(), 200);

    let (_token, creds) = app.admin_credentials("ada", PASSWORD).await;
    let c = &creds["Credentials"];
    assert!(c["AccessKeyId"].as_str().unwrap().starts_with("ASIA"));
    let expiration = c["Expiration"].as_i64().unwrap();
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert!(
        expiration > now && expiration <= now + 3600,
        "expires within the hour"
    );
    assert_eq!(creds["Region"], "us-east-1");

    let mut seen = Vec::new();
    let mut path = "/api/subscribers?limit=3".to_owned();
    loop {
        let response = signed_get(&app, &creds, &path).await;
        assert_eq!(response.status(), 200, "{path}");
        let page: Value = response.json().await.unwrap();
        assert_eq!(page["total"], 8);
        let rows = page["subscribers"].as_array().unwrap();
        assert!(rows.len() <= 3);
        for row in rows {
            assert!(row["subscribed_at"].as_str().unwrap().ends_with('Z'));
            seen.push(row["email"].as_str().unwrap().to_owned());
        }
        match page["next_cursor"].as_str() {
            Some(cursor) => path = format!("/api/subscribers?limit=3&cursor={cursor}"),
            None => break,
        }
    }
    let mut expected = addresses.clone();
    expected.push(hostile.to_owned());
    expected.sort();
    seen.sort();
    assert_eq!(seen, expected);
}

#[tokio::test]
async fn unsigned_tampered_stale_or_forged_requests_get_403() {
    let dir = data_dir();
    add_admin(dir.path(), "ada", PASSWORD);
    let app = spawn_app(dir.path()).await;
    let (_token, creds) = app.admin_credentials("ada", PASSWORD).await;

    let check = |response: reqwest::Response, expected: &'static str| async move {
        assert_eq!(response.status(), 403);
        let body: Value = response.json().await.unwrap();
        assert!(
            body["message"].as_str().unwrap().starts_with(expected),
            "{body}"
        );
    };

    // No signature at all.
    check(
        app.get("/api/subscribers").await,
        "Missing Authentication Token",
    )
    .await;

    // Signed for one query, sent with another.
    let mut request = app.client.get(app.url("/api/subscribers?limit=2"));
    for (name, value) in signed_headers(&app, &creds, "/api/subscribers?limit=1", SystemTime::now())
    {
        request = request.header(name, value);
    }
    check(
        request.send().await.unwrap(),
        "The request signature we calculated does not match",
    )
    .await;

    // Signed 10 minutes ago.
    let mut request = app.client.get(app.url("/api/subscribers"));
    let stale = SystemTime::now() - Duration::from_secs(600);
    for (name, value) in signed_headers(&app, &creds, "/api/subscribers", stale) {
        request = request.header(name, value);
    }
    check(request.send().await.unwrap(), "Signature expired:").await;

    // Credentials edited to claim another session token.
    let mut forged = creds.clone();
    let token = forged["Credentials"]["SessionToken"]
        .as_str()
        .unwrap()
        .to_owned();
    let (claims, _mac) = token.split_once('.').unwrap();
    forged["Credentials"]["SessionToken"] = Value::String(format!("{claims}.AAAA"));
    check(
        signed_get(&app, &forged, "/api/subscribers").await,
        "The security token included in the request is invalid",
    )
    .await;

    // A wrong secret key.
    let mut wrong = creds.clone();
    wrong["Credentials"]["SecretKey"] = Value::String("not-the-secret".into());
    check(
        signed_get(&app, &wrong, "/api/subscribers").await,
        "The request signature we calculated does not match",
    )
    .await;

    // The right signature still works after all of that.
    assert_eq!(
        signed_get(&app, &creds, "/api/subscribers").await.status(),
        200
    );
}

#[tokio::test]
async fn wrong_password_and_unknown_user_get_the_same_answer_then_429() {
    let dir = data_dir();
    add_admin(dir.path(), "ada", PASSWORD);
    let app = spawn_app(dir.path()).await;
    for (user, password) in [("ada", "wrong password"), ("nobody", PASSWORD)] {
        let response = app.login(user, password).await;
        assert_eq!(response.status(), 401);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["message"], "Incorrect username or password.", "{user}");
    }
    // Five failures for one username lock it for a while, even with the right password.
    for _ in 0..4 {
        assert_eq!(app.login("ada", "wrong password").await.status(), 401);
    }
    let response = app.login("ada", PASSWORD).await;
    assert_eq!(response.status(), 429);
    let body: Value = response.json().await.unwrap();
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .starts_with("Too many failed sign-in attempts"),
        "{body}"
    );
    // Missing fields are a 400, not a crash.
    let response = app.post_form("/api/login", &[("username", "ada")]).await;
    assert_eq!(response.status(), 400);
}

/// Concurrent guesses for one username are counted before they are checked: at most five wrong
/// answers however many arrive at once (each from its own address, so only the username limit
/// applies).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_wrong_passwords_get_at_most_five_401s() {
    let dir = data_dir();
    add_admin(dir.path(), "ada", PASSWORD);
    let app = spawn_app(dir.path()).await;
    let answers = concurrent_logins(&app, 50, |_| "ada".to_owned()).await;
    let statuses: Vec<u16> = answers.iter().map(|(status, _)| *status).collect();
    let wrong = statuses.iter().filter(|s| **s == 401).count();
    let refused = statuses.iter().filter(|s| **s == 429).count();
    assert!(wrong <= 5, "{wrong} wrong-password answers: {statuses:?}");
    assert_eq!(wrong + refused, 50, "{statuses:?}");
}

/// Each sign-in checks an argon2id hash (19 MiB): a burst from many addresses for many usernames
/// (no throttle applies) is checked one at a time with a short queue, and the rest are refused at
/// once, so memory stays within the budget.
#[cfg(target_os = "linux")]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_burst_of_sign_ins_is_refused_beyond_a_short_queue_and_memory_stays_bounded() {
    let dir = data_dir();
    add_admin(dir.path(), "ada", PASSWORD);
    let app = spawn_app(dir.path()).await;
    // Warm: the first wrong answer makes the dummy hash and runs a check.
    assert_eq!(app.login("nobody", PASSWORD).await.status(), 401);
    let before = app.peak_rss_kib();
    let answers = concurrent_logins(&app, 200, |n| format!("user-{n}")).await;
    let statuses: Vec<u16> = answers.iter().map(|(status, _)| *status).collect();
    let grown_mib = (app.peak_rss_kib() - before) / 1024;
    let busy = statuses.iter().filter(|s| **s == 429).count();
    let wrong = statuses.iter().filter(|s| **s == 401).count();
    assert_eq!(busy + wrong, 200, "{statuses:?}");
    assert!(
        busy >= 150,
        "only {busy} of 200 refused at once: {statuses:?}"
    );
    assert!(grown_mib <= 30, "peak RSS grew by {grown_mib} MiB");
    // The refusal says what to do, and once the burst is over sign-ins are checked again.
    let refusal = answers.iter().find(|(status, _)| *status == 429).unwrap();
    assert_eq!(
        refusal.1,
        "Too many sign-in attempts. Please wait a minute and try again."
    );
    assert_eq!(app.login("ada", PASSWORD).await.status(), 200);
}

#[tokio::test]
async fn an_overlong_username_is_refused_before_any_work() {
    let dir = data_dir();
    let app = spawn_app(dir.path()).await;
    let response = app.login(&"a".repeat(129), PASSWORD).await;
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["message"], "Usernames are at most 128 characters.");
}

/// `count` sign-ins with a wrong password at once, each from its own loopback address
/// (127.0.0.2, 127.0.0.3, …); their statuses and messages.
async fn concurrent_logins(
    app: &TestApp,
    count: u8,
    username: impl Fn(u8) -> String,
) -> Vec<(u16, String)> {
    let url = app.url("/api/login");
    let tasks: Vec<_> = (0..count)
        .map(|n| {
            let client = reqwest::Client::builder()
                .local_address(std::net::IpAddr::from([127, 0, 0, n.wrapping_add(2)]))
                .build()
                .unwrap();
            let (url, username) = (url.clone(), username(n));
            tokio::spawn(async move {
                let response = client
                    .post(url)
                    .header("accept", "application/json")
                    .form(&[
                        ("username", username.as_str()),
                        ("password", "wrong password"),
                    ])
                    .send()
                    .await
                    .unwrap();
                let status = response.status().as_u16();
                let body: Value = response.json().await.unwrap();
                let message = body["message"].as_str().unwrap_or_default().to_owned();
                (status, message)
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for task in tasks {
        statuses.push(task.await.unwrap());
    }
    statuses
}

/// Security events are one structured line each under the `audit` target, with the client's
/// text escaped.
#[tokio::test]
async fn sign_ins_credentials_and_refusals_are_audit_events() {
    let dir = data_dir();
    add_admin(dir.path(), "ada", PASSWORD);
    let env = [
        ("STORIES_LOG_FORMAT".to_owned(), "json".to_owned()),
        ("RUST_LOG".to_owned(), "warn,audit=info".to_owned()),
    ];
    let app = common::spawn_app_with(dir.path(), &env).await;
    assert_eq!(app.login("ada\nINFO forged line", "x").await.status(), 401);
    let (_, credentials) = app.admin_credentials("ada", PASSWORD).await;
    let key_id = credentials["Credentials"]["AccessKeyId"]
        .as_str()
        .unwrap()
        .to_owned();
    let forged = app
        .client
        .get(app.url("/api/subscribers"))
        .header(
            "authorization",
            format!("AWS4-HMAC-SHA256 Credential={key_id}/20260101/us-east-1/execute-api/aws4_request, SignedHeaders=host, Signature=00"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403);
    let mut events = Vec::new();
    for _ in 0..50 {
        events = app
            .logs()
            .iter()
            .filter_map(|line| serde_json::from_str::<Value>(line).ok())
            .filter(|line| line["target"] == "audit")
            .collect();
        if events.len() >= 4 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let event = |name: &str| {
        events
            .iter()
            .find(|e| e["fields"]["event"] == name)
            .unwrap_or_else(|| panic!("no {name} event in {events:#?}"))
            .clone()
    };
    let failed = event("sign_in_failed");
    assert_eq!(failed["fields"]["username"], "ada\\nINFO forged line");
    assert_eq!(failed["fields"]["client"], "Some(127.0.0.1)");
    assert_eq!(event("signed_in")["fields"]["username"], "ada");
    assert_eq!(
        event("credentials_minted")["fields"]["access_key_id"],
        key_id.as_str()
    );
    assert_eq!(
        event("signature_refused")["fields"]["access_key_id"],
        key_id.as_str()
    );
}

/// `serverless-stories admin …` against `dir`, with the password (if any) on standard input.
fn admin_cli(dir: &std::path::Path, args: &[&str], password: Option<&str>) {
    use std::io::Write;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_serverless-stories"))
        .arg("admin")
        .args(args)
        .env("STORIES_DATA_DIR", dir)
        .env("RUST_LOG", "warn")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    if let Some(password) = password {
        writeln!(child.stdin.take().unwrap(), "{password}").unwrap();
    }
    drop(child.stdin.take());
    assert!(child.wait().unwrap().success(), "admin {args:?}");
}

/// Polls a signed listing until it is refused (bounded: 10 s); whether it was.
async fn refused_soon(app: &TestApp, creds: &Value) -> bool {
    for _ in 0..50 {
        if signed_get(app, creds, "/api/subscribers").await.status() == 403 {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    false
}

/// A server with the admin `ada` signed in: her data dir, the server, her ID token and the
/// credentials minted with it (which list subscribers).
async fn ada_signed_in() -> (tempfile::TempDir, TestApp, String, Value) {
    let dir = data_dir();
    add_admin(dir.path(), "ada", PASSWORD);
    let app = spawn_app(dir.path()).await;
    let (token, creds) = app.admin_credentials("ada", PASSWORD).await;
    assert_eq!(
        signed_get(&app, &creds, "/api/subscribers").await.status(),
        200
    );
    (dir, app, token, creds)
}

#[tokio::test]
async fn a_removed_admin_loses_the_token_at_once_and_the_credentials_within_seconds() {
    let (dir, app, token, creds) = ada_signed_in().await;
    admin_cli(dir.path(), &["remove", "ada"], None);
    let response = app.credentials(&token).await;
    assert_eq!(response.status(), 401);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["message"], "Invalid login token.");
    assert!(
        refused_soon(&app, &creds).await,
        "still listing after removal"
    );
}

#[tokio::test]
async fn a_password_change_ends_the_sessions_of_the_old_one() {
    let (dir, app, token, creds) = ada_signed_in().await;
    // At once: the session that signed in this very second ends too.
    admin_cli(
        dir.path(),
        &["passwd", "ada", "--password-stdin"],
        Some("a brand new password"),
    );
    assert_eq!(app.credentials(&token).await.status(), 401);
    assert!(
        refused_soon(&app, &creds).await,
        "old credentials still list"
    );
    // Sessions are compared in whole seconds (`auth_time`): sign in from the next one on.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (_, fresh) = app.admin_credentials("ada", "a brand new password").await;
    assert_eq!(
        signed_get(&app, &fresh, "/api/subscribers").await.status(),
        200
    );
}

#[tokio::test]
async fn a_group_change_ends_the_sessions_that_carry_the_old_groups() {
    let (dir, app, token, creds) = ada_signed_in().await;
    // Bad input: a clear error, nothing changed.
    let unknown = admin_cli_output(dir.path(), &["groups", "nobody", "admin"]);
    assert!(!unknown.status.success());
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("there is no user named \"nobody\""));
    let bad = admin_cli_output(dir.path(), &["groups", "ada", "ad,min"]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("invalid group name"));
    assert!(!admin_cli_output(dir.path(), &["groups", "ada"])
        .status
        .success());
    assert_eq!(app.credentials(&token).await.status(), 200);

    admin_cli(dir.path(), &["groups", "ada", "readers"], None);
    assert_eq!(app.credentials(&token).await.status(), 401);
    assert!(
        refused_soon(&app, &creds).await,
        "credentials from the admin session still list"
    );
    // Signed in again (a second later: sessions are compared in whole seconds), ada is a reader.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (_, reader) = app.admin_credentials("ada", PASSWORD).await;
    assert_eq!(
        signed_get(&app, &reader, "/api/subscribers").await.status(),
        403
    );
    tokio::time::sleep(Duration::from_millis(1100)).await;
    admin_cli(dir.path(), &["groups", "ada", "admin", "readers"], None);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (_, admin) = app.admin_credentials("ada", PASSWORD).await;
    assert_eq!(
        signed_get(&app, &admin, "/api/subscribers").await.status(),
        200
    );
}

/// `serverless-stories admin …` against `dir` with nothing on standard input: its exit status
/// and output.
fn admin_cli_output(dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_serverless-stories"))
        .arg("admin")
        .args(args)
        .env("STORIES_DATA_DIR", dir)
        .env("RUST_LOG", "warn")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap()
}

#[tokio::test]
async fn logging_out_ends_that_session_and_older_ones_on_the_server_not_later_ones() {
    let (_dir, app, token, creds) = ada_signed_in().await;
    // Bad input is refused, says why, and ends nothing.
    let missing = app.post_form("/api/logout", &[]).await;
    assert_eq!(missing.status(), 400);
    let garbage = app
        .post_form("/api/logout", &[("token", "not a token")])
        .await;
    assert_eq!(garbage.status(), 401);
    let body: Value = garbage.json().await.unwrap();
    assert_eq!(body["message"], "Invalid login token.");
    assert_eq!(
        signed_get(&app, &creds, "/api/subscribers").await.status(),
        200
    );
    // Another sign-in, a second later (sessions are compared in whole seconds), elsewhere.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (later_token, later_creds) = app.admin_credentials("ada", PASSWORD).await;

    let out = app.post_form("/api/logout", &[("token", &token)]).await;
    assert_eq!(out.status(), 200);
    assert_eq!(out.headers()["cache-control"], "no-store");
    assert_eq!(out.json::<Value>().await.unwrap(), "revoked");
    assert_eq!(app.credentials(&token).await.status(), 401);
    assert!(
        refused_soon(&app, &creds).await,
        "the logged-out session's credentials still list"
    );
    assert_eq!(
        app.post_form("/api/logout", &[("token", &token)])
            .await
            .status(),
        401,
        "a second log-out with the same token"
    );
    // The later session stands.
    assert_eq!(app.credentials(&later_token).await.status(), 200);
    assert_eq!(
        signed_get(&app, &later_creds, "/api/subscribers")
            .await
            .status(),
        200
    );
}

mod tokens {
    use super::*;
    use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
    use jsonwebtoken::{Algorithm, EncodingKey, Header};

    fn claims(overrides: &[(&str, Value)]) -> Value {
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        let mut claims = serde_json::json!({
            "iss": "serverless-stories",
            "aud": "serverless-stories-web",
            "sub": "00000000-0000-4000-8000-000000000000",
            "token_use": "id",
            "cognito:username": "mallory",
            "cognito:groups": ["admin"],
            "iat": now,
            "auth_time": now,
            "exp": now + 3600,
        });
        for (key, value) in overrides {
            claims[*key] = value.clone();
        }
        claims
    }

    #[tokio::test]
    async fn none_hs256_tampered_expired_foreign_tokens_are_refused() {
        let dir = data_dir();
        add_admin(dir.path(), "ada", PASSWORD);
        let app = spawn_app(dir.path()).await;
        let (good, _) = app.admin_credentials("ada", PASSWORD).await;

        // Sign with the server's own key (read from its data dir) to vary only the claims.
        let pem = std::fs::read(dir.path().join("id-token-key.pem")).unwrap();
        let key = EncodingKey::from_rsa_pem(&pem).unwrap();
        let jwks: Value = app
            .get("/.well-known/jwks.json")
            .await
            .json()
            .await
            .unwrap();
        let kid = jwks["keys"][0]["kid"].as_str().unwrap().to_owned();
        // The claims name ada (a user that exists: a token for nobody gets no credentials).
        let ada: Value = serde_json::from_slice(
            &URL_SAFE_NO_PAD
                .decode(good.split('.').nth(1).unwrap())
                .unwrap(),
        )
        .unwrap();
        let rs256 = |claims: &Value| {
            let mut claims = claims.clone();
            claims["sub"] = ada["sub"].clone();
            claims["cognito:username"] = ada["cognito:username"].clone();
            let mut header = Header::new(Algorithm::RS256);
            header.kid = Some(kid.clone());
            jsonwebtoken::encode(&header, &claims, &key).unwrap()
        };
        // Sanity: a well-formed token of ours is accepted; the same for a user that doesn't exist
        // (or was removed) is not.
        assert_eq!(app.credentials(&rs256(&claims(&[]))).await.status(), 200);
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(kid.clone());
        let nobody = jsonwebtoken::encode(&header, &claims(&[]), &key).unwrap();
        assert_eq!(app.credentials(&nobody).await.status(), 401);

        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        let (header, payload) = {
            let mut parts = good.split('.');
            (
                parts.next().unwrap().to_owned(),
                parts.next().unwrap().to_owned(),
            )
        };
        let none_header = URL_SAFE_NO_PAD.encode(format!(r#"{{"alg":"none","kid":"{kid}"}}"#));
        let mut hs256_header = Header::new(Algorithm::HS256);
        hs256_header.kid = Some(kid.clone());
        let tampered_payload = URL_SAFE_NO_PAD.encode(
            String::from_utf8(URL_SAFE_NO_PAD.decode(&payload).unwrap())
                .unwrap()
                .replace("\"ada\"", "\"eve\""),
        );
        let signature = good.rsplit('.').next().unwrap();
        let mut no_kid = Header::new(Algorithm::RS256);
        no_kid.kid = None;

        let refused = [
            ("alg none", format!("{none_header}.{payload}.")),
            (
                "HS256 keyed with the public key",
                jsonwebtoken::encode(
                    &hs256_header,
                    &claims(&[]),
                    &EncodingKey::from_secret(jwks.to_string().as_bytes()),
                )
                .unwrap(),
            ),
            (
                "tampered payload",
                format!("{header}.{tampered_payload}.{signature}"),
            ),
            (
                "expired",
                rs256(&claims(&[
                    ("exp", Value::from(now - 60)),
                    ("iat", Value::from(now - 3700)),
                ])),
            ),
            (
                "wrong issuer",
                rs256(&claims(&[("iss", Value::from("https://evil.example"))])),
            ),
            (
                "wrong audience",
                rs256(&claims(&[("aud", Value::from("someone-else"))])),
            ),
            (
                "access token",
                rs256(&claims(&[("token_use", Value::from("access"))])),
            ),
            (
                "no kid",
                jsonwebtoken::encode(&no_kid, &claims(&[]), &key).unwrap(),
            ),
            ("garbage", "not.a.jwt".to_owned()),
            ("empty", String::new()),
        ];
        for (what, token) in refused {
            let response = app.credentials(&token).await;
            assert_eq!(response.status(), 401, "{what}");
            let body: Value = response.json().await.unwrap();
            assert!(
                body["message"]
                    .as_str()
                    .unwrap()
                    .starts_with("Invalid login token."),
                "{what}: {body}"
            );
        }
    }
}

#[tokio::test]
async fn botocore_sigv4auth_signs_a_request_the_server_accepts() {
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
    let (_dir, app, creds) = admin_with_one_subscriber("boto@example.com").await;
    let c = &creds["Credentials"];
    let script = r#"
import json, os, sys, urllib.request
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
creds = Credentials(os.environ["AK"], os.environ["SK"], os.environ["ST"])
url = os.environ["URL"]
request = AWSRequest(method="GET", url=url, headers={"accept": "application/json"})
SigV4Auth(creds, "execute-api", os.environ["REGION"]).add_auth(request)
prepared = request.prepare()
response = urllib.request.urlopen(urllib.request.Request(url, headers=dict(prepared.headers)))
print(response.read().decode())
"#;
    let output = tokio::process::Command::new(&python)
        .args(["-c", script])
        .env("AK", c["AccessKeyId"].as_str().unwrap())
        .env("SK", c["SecretKey"].as_str().unwrap())
        .env("ST", c["SessionToken"].as_str().unwrap())
        .env("REGION", creds["Region"].as_str().unwrap())
        .env("URL", app.url("/api/subscribers?limit=10"))
        .output()
        .await
        .expect("python3 with botocore (scripts/setup installs it)");
    assert!(
        output.status.success(),
        "botocore request failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let page: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(page["total"], 1);
    assert_eq!(page["subscribers"][0]["email"], "boto@example.com");
}

#[tokio::test]
async fn awscurl_gets_the_list_with_the_credentials() {
    let (_dir, app, creds) = admin_with_one_subscriber("curl@example.com").await;
    let c = &creds["Credentials"];
    let output = tokio::process::Command::new("awscurl")
        .args([
            "--service",
            "execute-api",
            "--region",
            creds["Region"].as_str().unwrap(),
        ])
        .args(["--access_key", c["AccessKeyId"].as_str().unwrap()])
        .args(["--secret_key", c["SecretKey"].as_str().unwrap()])
        .args(["--session_token", c["SessionToken"].as_str().unwrap()])
        .arg(app.url("/api/subscribers?limit=5&cursor="))
        .env_remove("AWS_PROFILE")
        .output()
        .await
        .expect("awscurl (scripts/setup installs it)");
    assert!(
        output.status.success(),
        "awscurl failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let page: Value = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&output.stdout)));
    assert_eq!(page["subscribers"][0]["email"], "curl@example.com");
}

/// API Gateway's browser SDK signs `host` without the port and sends `X-Amz-Security-Token`
/// without signing it; a verifier that wants real clients must accept both.
#[tokio::test]
async fn host_signed_without_port_and_an_unsigned_token_are_accepted() {
    use aws_sigv4::http_request::SessionTokenMode;
    let dir = data_dir();
    add_admin(dir.path(), "ada", PASSWORD);
    let app = spawn_app(dir.path()).await;
    let (_token, creds) = app.admin_credentials("ada", PASSWORD).await;
    let mut settings = SigningSettings::default();
    settings.session_token_mode = SessionTokenMode::Exclude;
    let headers = sign_get(
        &identity(&creds),
        "us-east-1",
        settings,
        SystemTime::now(),
        "/api/subscribers",
        &[("host", "127.0.0.1")],
    );
    let mut request = app.client.get(app.url("/api/subscribers"));
    let mut signed = Vec::new();
    for (name, value) in &headers {
        signed.push(name.clone());
        request = request.header(name, value);
    }
    let authorization = &headers
        .iter()
        .find(|(n, _)| n == "authorization")
        .unwrap()
        .1;
    assert!(
        !authorization.contains("x-amz-security-token"),
        "the token is not signed"
    );
    assert!(
        signed.iter().any(|n| n == "x-amz-security-token"),
        "but it is sent"
    );
    assert!(app.address.contains(':'), "the request's Host has a port");
    assert_eq!(request.send().await.unwrap().status(), 200);
}

#[tokio::test]
async fn a_correctly_signed_caller_outside_the_admin_group_gets_403() {
    let dir = data_dir();
    common::add_user(dir.path(), "reader", PASSWORD, &["--group", "readers"]);
    let app = spawn_app(dir.path()).await;
    let (_token, creds) = app.admin_credentials("reader", PASSWORD).await;
    let response = signed_get(&app, &creds, "/api/subscribers").await;
    assert_eq!(response.status(), 403);
    let response_type = response.headers()["x-amzn-errortype"]
        .to_str()
        .unwrap()
        .to_owned();
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body["message"],
        "Your account is not an admin of this site."
    );
    assert_eq!(response_type, "AccessDeniedException");
}

/// The admin page's management calls: counts per status, filter, search, unsubscribe, erase
/// (POSTs signed with their body's hash) and the CSV export (every page, streamed).
#[tokio::test]
async fn admins_filter_search_unsubscribe_erase_and_export() {
    use common::sigv4_client::signed_post_form;
    let dir = data_dir();
    add_admin(dir.path(), "ada", PASSWORD);
    let app = spawn_app(dir.path()).await;
    for i in 0..5 {
        app.subscribe(&format!("reader{i}@one.example")).await;
    }
    app.subscribe("grace@two.example").await;
    let (_token, creds) = app.admin_credentials("ada", PASSWORD).await;

    let gone = signed_post_form(
        &app,
        &creds,
        "/api/subscribers/unsubscribe",
        "email=READER1%40one.example",
        None,
    )
    .await;
    assert_eq!(gone.status(), 200);
    assert_eq!(
        gone.json::<Value>().await.unwrap(),
        "reader1@one.example is unsubscribed."
    );
    let page: Value = signed_get(&app, &creds, "/api/subscribers?status=unsubscribed")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page["subscribers"][0]["email"], "reader1@one.example");
    assert_eq!(page["subscribers"][0]["status"], "unsubscribed");
    assert_eq!(page["counts"]["unsubscribed"], 1);
    assert_eq!(page["counts"]["confirmed"], 5);
    assert_eq!(page["total"], 6);
    let found: Value = signed_get(&app, &creds, "/api/subscribers?search=TWO.ex")
        .await
        .json()
        .await
        .unwrap();
    let found = found["subscribers"].as_array().unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0]["email"], "grace@two.example");

    // A body changed after signing is refused, and changes nothing.
    let tampered = signed_post_form(
        &app,
        &creds,
        "/api/subscribers/erase",
        "email=reader2%40one.example",
        Some("email=grace%40two.example"),
    )
    .await;
    assert_eq!(tampered.status(), 403);
    let erased = signed_post_form(
        &app,
        &creds,
        "/api/subscribers/erase",
        "email=reader2%40one.example",
        None,
    )
    .await;
    assert_eq!(erased.status(), 200);
    let again = signed_post_form(
        &app,
        &creds,
        "/api/subscribers/erase",
        "email=reader2%40one.example",
        None,
    )
    .await;
    assert_eq!(again.status(), 400);
    assert!(again.text().await.unwrap().contains("is not on the list"));
    let bad = signed_post_form(&app, &creds, "/api/subscribers/erase", "email=nope", None).await;
    assert_eq!(bad.status(), 400);
    // Unsigned: refused before anything runs.
    let unsigned = app
        .client
        .post(app.url("/api/subscribers/erase"))
        .form(&[("email", "grace@two.example")])
        .send()
        .await
        .unwrap();
    assert_eq!(unsigned.status(), 403);

    let export = signed_get(&app, &creds, "/api/subscribers/export").await;
    assert_eq!(export.status(), 200);
    assert_eq!(export.headers()["content-type"], "text/csv; charset=utf-8");
    assert!(export.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .starts_with("attachment; filename=\"subscribers-"));
    let csv = export.text().await.unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(
        lines[0],
        "email,status,subscribed_at,confirmed_at,unsubscribed_at"
    );
    assert_eq!(lines.len(), 1 + 5, "{csv}");
    assert!(!csv.contains("reader2@"), "erased");
    let only: Value = signed_get(&app, &creds, "/api/subscribers/export?status=bogus")
        .await
        .json()
        .await
        .unwrap();
    assert!(only["message"].as_str().unwrap().contains("status must be"));
    let unsigned = app.get("/api/subscribers/export").await;
    assert_eq!(unsigned.status(), 403);
}
