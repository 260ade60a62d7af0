//! Black-box, `--identity oidc`: the real binary signing admins in at a (fake) OpenID Connect
//! provider on loopback, without a browser: the redirect to the provider, the callback, the
//! handoff, the credentials and the signed list; and every way a sign-in or a token must be
//! refused, each with a clear answer (never a 500).

mod common;

use common::{
    data_dir,
    oidc_provider::{FakeProvider, Signer, TokenShape, CLIENT_ID},
    sigv4_client::signed_get,
    spawn_app_with, TestApp,
};
use reqwest::header::{LOCATION, SET_COOKIE};
use serde_json::Value;

struct Setup {
    provider: FakeProvider,
    app: TestApp,
    _dir: tempfile::TempDir,
}

async fn setup() -> Setup {
    let provider = FakeProvider::start().await;
    let dir = data_dir();
    let app = spawn_app_with(dir.path(), &provider.settings()).await;
    Setup {
        provider,
        app,
        _dir: dir,
    }
}

/// The `name=value` parts of the answer's cookies.
fn cookies(response: &reqwest::Response) -> Vec<(String, String)> {
    response
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .map(|cookie| {
            let pair = cookie.split(';').next().unwrap_or("");
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            (name.to_owned(), value.to_owned())
        })
        .collect()
}

fn location(response: &reqwest::Response) -> String {
    response
        .headers()
        .get(LOCATION)
        .expect("a Location")
        .to_str()
        .unwrap()
        .to_owned()
}

/// A browser's way through the sign-in up to the callback: the callback URL the provider sent
/// it to, and the attempt cookie our server set (`name=value`).
struct AtCallback {
    url: String,
    attempt_cookie: String,
}

/// What a page's `data-token` holds.
fn data_token(html: &str) -> Option<String> {
    let start = html.find("data-token=\"")? + "data-token=\"".len();
    Some(html[start..].split('"').next()?.to_owned())
}

async fn go_to_provider(setup: &Setup) -> AtCallback {
    let start = setup.app.get("/login/oidc").await;
    assert_eq!(start.status(), 303);
    let authorize = location(&start);
    assert!(
        authorize.starts_with(&format!("{}/authorize?", setup.provider.issuer)),
        "{authorize}"
    );
    for part in [
        "response_type=code",
        &format!("client_id={CLIENT_ID}"),
        "code_challenge_method=S256",
        "code_challenge=",
        "state=",
        "nonce=",
        "scope=openid+email+profile",
    ] {
        assert!(authorize.contains(part), "{part} in {authorize}");
    }
    let (name, value) = cookies(&start)
        .into_iter()
        .find(|(name, _)| name.starts_with("stories_oidc_"))
        .expect("the attempt cookie");
    let state = authorize
        .split("state=")
        .nth(1)
        .unwrap()
        .split('&')
        .next()
        .unwrap();
    assert_eq!(
        name,
        format!("stories_oidc_{}", &state[..8]),
        "named after its state"
    );
    let set = start.headers().get(SET_COOKIE).unwrap().to_str().unwrap();
    assert!(
        set.contains("HttpOnly") && set.contains("Path=/login/callback"),
        "{set}"
    );
    let attempt_cookie = format!("{name}={value}");
    let at_provider = setup.app.client.get(&authorize).send().await.unwrap();
    assert_eq!(at_provider.status(), 303);
    AtCallback {
        url: location(&at_provider),
        attempt_cookie,
    }
}

async fn call_back(setup: &Setup, url: &str, attempt_cookie: Option<&str>) -> reqwest::Response {
    let mut request = setup.app.client.get(url);
    if let Some(cookie) = attempt_cookie {
        request = request.header("cookie", cookie);
    }
    request.send().await.unwrap()
}

/// Follows a refusal to the login page and returns what it says.
async fn refused_with(setup: &Setup, response: reqwest::Response, code: &str) -> String {
    assert_eq!(response.status(), 303);
    let to = location(&response);
    assert_eq!(to, format!("/login?failed={code}"));
    // The attempt is used up whatever happened (when the answer names one of ours).
    for (name, value) in cookies(&response) {
        assert!(
            name.starts_with("stories_oidc_") && value.is_empty(),
            "{name}={value}"
        );
    }
    let page = setup.app.get(&to).await;
    assert_eq!(page.status(), 200);
    page.text().await.unwrap()
}

/// Finishes a sign-in at the callback; the ID token the landing page hands to the browser.
async fn land(setup: &Setup, at: &AtCallback) -> String {
    let landed = call_back(setup, &at.url, Some(&at.attempt_cookie)).await;
    assert_eq!(landed.status(), 200);
    assert_eq!(landed.headers()["cache-control"], "no-store");
    assert_eq!(landed.headers()["referrer-policy"], "no-referrer");
    // Its one inline script is allowed by its hash.
    let policy = landed.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(policy.contains("'sha256-"), "{policy}");
    // The attempt is used up, and the token is in no cookie.
    let set = cookies(&landed);
    assert_eq!(set.len(), 1, "{set:?}");
    assert!(set[0].0.starts_with("stories_oidc_") && set[0].1.is_empty());
    let page = landed.text().await.unwrap();
    assert!(
        page.contains(r#"<a href="/admin">Continue to the admin page</a>"#),
        "{page}"
    );
    data_token(&page).expect("the token in the page")
}

/// Signs in through the provider; the ID token the server handed to the page.
async fn sign_in(setup: &Setup) -> String {
    let at = go_to_provider(setup).await;
    land(setup, &at).await
}

#[tokio::test]
async fn an_admin_signs_in_at_the_provider_gets_credentials_and_lists_subscribers() {
    let setup = setup().await;
    let app = &setup.app;
    assert_eq!(app.subscribe("reader@example.com").await.status(), 200);

    let login = app.get("/login").await.text().await.unwrap();
    assert!(login.contains("Log in with Example ID"), "{login}");
    assert!(login.contains(r#"href="/login/oidc""#), "{login}");

    let token = sign_in(&setup).await;
    let credentials = app.credentials(&token).await;
    assert_eq!(credentials.status(), 200);
    let creds: Value = credentials.json().await.unwrap();
    let list = signed_get(app, &creds, "/api/subscribers").await;
    assert_eq!(list.status(), 200);
    let page: Value = list.json().await.unwrap();
    assert_eq!(page["subscribers"][0]["email"], "reader@example.com");

    // Logging out offers the provider's own log-out, which leads back to our login page.
    let signed_out = app.post_form("/api/logout", &[("token", &token)]).await;
    assert_eq!(signed_out.status(), 200);
    assert_eq!(
        signed_out.json::<Value>().await.unwrap(),
        "provider_session_stands"
    );
    let offered = app
        .get("/login?signed_out=provider")
        .await
        .text()
        .await
        .unwrap();
    assert!(offered.contains("Log out of Example ID too"), "{offered}");
    let end = app.get("/logout/provider").await;
    assert_eq!(end.status(), 303);
    let end = location(&end);
    assert!(
        end.starts_with(&format!("{}/logout?", setup.provider.issuer)),
        "{end}"
    );
    assert!(end.contains(&format!("client_id={CLIENT_ID}")), "{end}");
    assert!(
        end.contains("post_logout_redirect_uri=http%3A%2F%2F127.0.0.1"),
        "{end}"
    );
}

#[tokio::test]
async fn es256_tokens_are_accepted_too() {
    let setup = setup().await;
    setup.provider.shape(TokenShape {
        signer: Signer::Ec,
        ..TokenShape::admin()
    });
    let token = sign_in(&setup).await;
    assert_eq!(setup.app.credentials(&token).await.status(), 200);
}

#[tokio::test]
async fn a_user_who_is_not_an_admin_by_the_claim_is_told_so() {
    let setup = setup().await;
    setup.provider.shape(TokenShape::reader());
    let token = sign_in(&setup).await;
    let credentials = setup.app.credentials(&token).await;
    assert_eq!(credentials.status(), 200);
    let creds: Value = credentials.json().await.unwrap();
    let list = signed_get(&setup.app, &creds, "/api/subscribers").await;
    assert_eq!(list.status(), 403);
    let answer: Value = list.json().await.unwrap();
    assert_eq!(
        answer["message"],
        "Your account is not an admin of this site."
    );
}

#[tokio::test]
async fn a_callback_whose_state_is_not_the_browsers_attempt_is_refused() {
    let setup = setup().await;
    let at = go_to_provider(&setup).await;
    let forged = at
        .url
        .split("&state=")
        .next()
        .map(|start| format!("{start}&state=someone-elses"))
        .unwrap();
    let page = refused_with(
        &setup,
        call_back(&setup, &forged, Some(&at.attempt_cookie)).await,
        "attempt",
    )
    .await;
    assert!(
        page.contains("This sign-in expired or was already used"),
        "{page}"
    );
    // Without the attempt cookie (another browser), or with a forged one: the same.
    refused_with(&setup, call_back(&setup, &at.url, None).await, "attempt").await;
    refused_with(
        &setup,
        call_back(
            &setup,
            &at.url,
            Some(&format!(
                "{}=e30.AAAA",
                at.attempt_cookie.split('=').next().unwrap()
            )),
        )
        .await,
        "attempt",
    )
    .await;
}

#[tokio::test]
async fn a_replayed_code_is_refused() {
    let setup = setup().await;
    let at = go_to_provider(&setup).await;
    land(&setup, &at).await;
    // The same answer again, even with the attempt cookie kept: the provider refuses the code.
    let page = refused_with(
        &setup,
        call_back(&setup, &at.url, Some(&at.attempt_cookie)).await,
        "code",
    )
    .await;
    assert!(page.contains("already used or expired"), "{page}");
    // As a browser would replay it (its attempt cookie was cleared): no attempt.
    refused_with(&setup, call_back(&setup, &at.url, None).await, "attempt").await;
}

#[tokio::test]
async fn the_providers_error_answer_is_shown_as_declined() {
    let setup = setup().await;
    let at = go_to_provider(&setup).await;
    let state = at.url.split("state=").nth(1).unwrap();
    let declined = format!(
        "{}/login/callback?error=access_denied&error_description=no&state={state}",
        setup.app.address
    );
    let page = refused_with(
        &setup,
        call_back(&setup, &declined, Some(&at.attempt_cookie)).await,
        "declined",
    )
    .await;
    assert!(
        page.contains("cancelled or refused at the provider"),
        "{page}"
    );
}

/// Each broken token is refused both at the callback (the sign-in ends on the login page with
/// a message) and by `/api/credentials` (401 with a message).
async fn refused_everywhere(shape: TokenShape, credentials_message: &str) {
    let setup = setup().await;
    setup.provider.shape(shape);
    let at = go_to_provider(&setup).await;
    let page = refused_with(
        &setup,
        call_back(&setup, &at.url, Some(&at.attempt_cookie)).await,
        "token",
    )
    .await;
    assert!(page.contains("failed this site's checks"), "{page}");
    let token = setup.provider.id_token(Some("a-nonce"));
    let answer = setup.app.credentials(&token).await;
    assert_eq!(answer.status(), 401, "{token}");
    let answer: Value = answer.json().await.unwrap();
    assert_eq!(answer["message"], credentials_message);
}

#[tokio::test]
async fn a_token_for_another_audience_is_refused() {
    refused_everywhere(
        TokenShape {
            audience: Some("another-client".into()),
            ..TokenShape::admin()
        },
        "Invalid login token.",
    )
    .await;
}

#[tokio::test]
async fn an_expired_token_is_refused() {
    refused_everywhere(
        TokenShape {
            expires_in: -3600,
            ..TokenShape::admin()
        },
        "Invalid login token. Token expired.",
    )
    .await;
}

#[tokio::test]
async fn a_token_from_another_issuer_is_refused() {
    refused_everywhere(
        TokenShape {
            issuer: Some("https://evil.example.com".into()),
            ..TokenShape::admin()
        },
        "Invalid login token.",
    )
    .await;
}

#[tokio::test]
async fn a_token_signed_with_an_unknown_key_is_refused_after_one_refetch_of_the_keys() {
    let setup = setup().await;
    setup.provider.shape(TokenShape {
        signer: Signer::Unpublished,
        ..TokenShape::admin()
    });
    let token = setup.provider.id_token(Some("a-nonce"));
    let fetches = || setup.provider.control.lock().unwrap().jwks_fetches;
    for _ in 0..3 {
        let answer = setup.app.credentials(&token).await;
        assert_eq!(answer.status(), 401);
        assert_eq!(
            answer.json::<Value>().await.unwrap()["message"],
            "Invalid login token."
        );
    }
    // Discovery fetched the keys, the first unknown key once more; then no more for a while.
    assert_eq!(fetches(), 2);
}

#[tokio::test]
async fn a_rotated_key_is_fetched_when_a_token_first_names_it() {
    let setup = setup().await;
    // Discovery, with the keys of before the rotation.
    assert_eq!(
        setup
            .app
            .credentials(&setup.provider.id_token(Some("a-nonce")))
            .await
            .status(),
        200
    );
    setup.provider.control.lock().unwrap().rotated = true;
    setup.provider.shape(TokenShape {
        signer: Signer::Unpublished,
        ..TokenShape::admin()
    });
    let token = setup.provider.id_token(Some("a-nonce"));
    assert_eq!(setup.app.credentials(&token).await.status(), 200);
    assert_eq!(setup.provider.control.lock().unwrap().jwks_fetches, 2);
}

#[tokio::test]
async fn an_unsigned_alg_none_token_is_refused() {
    refused_everywhere(
        TokenShape {
            signer: Signer::None,
            ..TokenShape::admin()
        },
        "Invalid login token.",
    )
    .await;
}

#[tokio::test]
async fn a_token_whose_nonce_is_not_the_attempts_is_refused_at_the_callback() {
    let setup = setup().await;
    setup.provider.shape(TokenShape {
        nonce: Some("another-nonce".into()),
        ..TokenShape::admin()
    });
    let at = go_to_provider(&setup).await;
    refused_with(
        &setup,
        call_back(&setup, &at.url, Some(&at.attempt_cookie)).await,
        "token",
    )
    .await;
}

#[tokio::test]
async fn password_sign_in_is_refused_with_a_pointer_to_the_provider() {
    let setup = setup().await;
    let answer = setup
        .app
        .post_form("/api/login", &[("username", "ada"), ("password", "pw")])
        .await;
    assert_eq!(answer.status(), 400);
    let answer: Value = answer.json().await.unwrap();
    assert_eq!(
        answer["message"],
        "This site does not check passwords: log in with Example ID instead."
    );
}

#[tokio::test]
async fn a_plain_http_issuer_off_loopback_is_refused_at_start() {
    let dir = data_dir();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_serverless-stories"))
        .env("LEPTOS_SITE_ADDR", "127.0.0.1:0")
        .env("STORIES_DATA_DIR", dir.path())
        .env("STORIES_IDENTITY", "oidc")
        .env("STORIES_OIDC_ISSUER", "http://login.example.com")
        .env("STORIES_OIDC_CLIENT_ID", CLIENT_ID)
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("must be an https:// URL (plain http:// only on this machine"),
        "{stderr}"
    );
}

#[tokio::test]
async fn provider_urls_over_plain_http_off_loopback_are_never_fetched() {
    let setup = setup().await;
    // The discovery document sends the code somewhere it could be read on the way.
    setup.provider.control.lock().unwrap().token_endpoint =
        Some("http://10.255.255.1/token".into());
    let at = go_to_provider(&setup).await;
    let page = refused_with(
        &setup,
        call_back(&setup, &at.url, Some(&at.attempt_cookie)).await,
        "unavailable",
    )
    .await;
    assert!(page.contains("cannot be reached right now"), "{page}");
    assert!(
        setup
            .app
            .logs()
            .iter()
            .any(|line| line.contains("refused to fetch http://10.255.255.1/token")),
        "{:?}",
        setup.app.logs()
    );
}

#[tokio::test]
async fn a_token_issued_to_another_client_is_refused() {
    refused_everywhere(
        TokenShape {
            authorized_party: Some("another-client".into()),
            ..TokenShape::admin()
        },
        "Invalid login token.",
    )
    .await;
}

#[tokio::test]
async fn a_token_without_a_nonce_is_not_a_sign_in_and_gets_no_credentials() {
    let setup = setup().await;
    let without = setup.provider.id_token(None);
    assert_eq!(setup.app.credentials(&without).await.status(), 401);
    let with = setup.provider.id_token(Some("n"));
    assert_eq!(setup.app.credentials(&with).await.status(), 200);
}

#[tokio::test]
async fn two_sign_ins_at_once_in_one_browser_both_finish() {
    let setup = setup().await;
    let first = go_to_provider(&setup).await;
    let second = go_to_provider(&setup).await;
    assert_ne!(first.attempt_cookie, second.attempt_cookie);
    // The browser sends both attempts' cookies with each callback.
    let both = format!("{}; {}", first.attempt_cookie, second.attempt_cookie);
    for at in [&second, &first] {
        let landed = call_back(&setup, &at.url, Some(&both)).await;
        assert_eq!(landed.status(), 200);
    }
}

#[tokio::test]
async fn logging_out_with_an_expired_token_still_offers_the_providers_log_out() {
    let setup = setup().await;
    setup.provider.shape(TokenShape {
        expires_in: -60,
        ..TokenShape::admin()
    });
    let expired = setup.provider.id_token(Some("n"));
    let answer = setup
        .app
        .post_form("/api/logout", &[("token", &expired)])
        .await;
    assert_eq!(answer.status(), 200);
    assert_eq!(
        answer.json::<Value>().await.unwrap(),
        "provider_session_stands"
    );
}

#[tokio::test]
async fn an_id_token_too_long_to_hand_over_is_refused_with_a_message() {
    let setup = setup().await;
    setup.provider.shape(TokenShape {
        groups: (0..600)
            .map(|i| format!("a1b2c3d4-0000-4000-8000-{i:012}"))
            .collect(),
        ..TokenShape::admin()
    });
    let at = go_to_provider(&setup).await;
    refused_with(
        &setup,
        call_back(&setup, &at.url, Some(&at.attempt_cookie)).await,
        "token",
    )
    .await;
}
