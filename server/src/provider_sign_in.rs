//! Signing admins in at an OpenID Connect provider, without JavaScript: `/login/oidc` sends the
//! browser to the provider (authorization code flow with PKCE S256, `state` and `nonce`);
//! `/login/callback` checks the answer, trades the code for tokens, verifies the ID token, and
//! answers a tiny page that puts it where the other sign-ins keep it (local storage, see
//! `app::session`) and goes on to `/admin`. The token travels in that page's body only: never in
//! a URL, and never in a cookie (which anyone able to plant cookies could use to sign a victim
//! into their account, and which API Gateway's 10 KB header limit would cut short).
//!
//! The attempt (state, nonce, PKCE verifier) lives in an HttpOnly cookie MACed with a key derived
//! from the credential key, not on the server: any instance (or Lambda invocation) can finish a
//! sign-in another one started. Its name carries the start of its state, so two sign-ins at once
//! (two tabs) don't cancel each other; over HTTPS it is a `__Host-` cookie, which no other host
//! can plant. It is consumed by the callback whatever the outcome, so a callback can't be
//! replayed.

use crate::identity::oidc::{Attempt, FinishError, OidcIdentity};
use app::{
    page_location::PathPrefix,
    provider_sign_in::{self as provider_paths, ProviderSignInFailure},
};
use axum::{
    extract::{Query, State},
    response::{IntoResponse, Response},
    routing::get,
    Router,
};
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use hmac::{Hmac, KeyInit, Mac};
use http::{header, HeaderMap, HeaderValue, StatusCode};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use std::sync::Arc;

/// How long a sign-in at the provider may take.
const ATTEMPT_LIFETIME_SECS: i64 = 10 * 60;
/// How much of the state names the attempt's cookie.
const ATTEMPT_KEY_CHARS: usize = 8;

pub struct ProviderSignIn {
    provider: Arc<OidcIdentity>,
    cookie_key: [u8; 32],
    /// `Secure` cookies when the site is served over HTTPS.
    secure: bool,
}

impl ProviderSignIn {
    pub fn new(provider: Arc<OidcIdentity>, cookie_key: [u8; 32], public_url: &str) -> Self {
        Self {
            provider,
            cookie_key,
            secure: public_url.starts_with("https://"),
        }
    }

    pub fn routes<S: Clone + Send + Sync + 'static>(self: Arc<Self>) -> Router<S> {
        Router::new()
            .route(provider_paths::SIGN_IN, get(start))
            .route(provider_paths::CALLBACK, get(callback))
            .route(provider_paths::SIGN_OUT, get(sign_out))
            .with_state(self)
    }

    /// The `Set-Cookie` of the attempt whose state is `state` (`None` if the state can't name
    /// a cookie: not ours), for the site under `prefix` (a REST API's stage, or nothing).
    fn attempt_cookie(
        &self,
        state: &str,
        value: &str,
        max_age: i64,
        prefix: Option<&PathPrefix>,
    ) -> Option<String> {
        let name = self.attempt_cookie_name(state)?;
        // `__Host-` cookies must be Secure, with Path=/ and no Domain.
        let path = if self.secure {
            "/".to_owned()
        } else {
            format!(
                "{}{}",
                prefix.map(PathPrefix::as_str).unwrap_or_default(),
                provider_paths::CALLBACK
            )
        };
        Some(format!(
            "{name}={value}; Path={path}; Max-Age={max_age}; SameSite=Lax; HttpOnly{}",
            if self.secure { "; Secure" } else { "" }
        ))
    }

    fn attempt_cookie_name(&self, state: &str) -> Option<String> {
        let key = state.get(..ATTEMPT_KEY_CHARS)?;
        if !key.bytes().all(is_base64url) {
            return None;
        }
        let prefix = if self.secure { "__Host-" } else { "" };
        Some(format!("{prefix}stories_oidc_{key}"))
    }

    fn seal(&self, attempt: &SealedAttempt) -> String {
        let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(attempt).unwrap_or_default());
        let tag = URL_SAFE_NO_PAD.encode(self.mac(&payload).finalize().into_bytes());
        format!("{payload}.{tag}")
    }

    /// The attempt in the cookie, if our MAC is on it and it has not expired.
    fn open(&self, sealed: &str, now: i64) -> Option<Attempt> {
        let (payload, tag) = sealed.split_once('.')?;
        let tag = URL_SAFE_NO_PAD.decode(tag).ok()?;
        self.mac(payload).verify_slice(&tag).ok()?;
        let attempt: SealedAttempt =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()?;
        (now < attempt.expires).then_some(attempt.attempt)
    }

    fn mac(&self, payload: &str) -> Hmac<Sha256> {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&self.cookie_key).expect("HMAC takes any key length");
        mac.update(payload.as_bytes());
        mac
    }
}

#[derive(Serialize, Deserialize)]
struct SealedAttempt {
    #[serde(flatten)]
    attempt: Attempt,
    expires: i64,
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// `response`, never kept by a cache, setting `cookies`.
fn uncached_with_cookies(mut response: Response, cookies: &[String]) -> Response {
    let headers = response.headers_mut();
    for cookie in cookies {
        if let Ok(value) = HeaderValue::from_str(cookie) {
            headers.append(header::SET_COOKIE, value);
        }
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn see_other(location: &str, cookies: &[String]) -> Response {
    let response = (StatusCode::SEE_OTHER, [(header::LOCATION, location)]).into_response();
    uncached_with_cookies(response, cookies)
}

fn back_to_login(failure: ProviderSignInFailure, cookies: &[String]) -> Response {
    see_other(&format!("/login?failed={}", failure.code()), cookies)
}

async fn start(
    State(flow): State<Arc<ProviderSignIn>>,
    prefix: Option<axum::Extension<PathPrefix>>,
) -> Response {
    let prefix = prefix.map(|prefix| prefix.0);
    let begun = flow.provider.begin().await.and_then(|(url, attempt)| {
        let sealed = flow.seal(&SealedAttempt {
            expires: now() + ATTEMPT_LIFETIME_SECS,
            attempt: attempt.clone(),
        });
        flow.attempt_cookie(
            &attempt.state,
            &sealed,
            ATTEMPT_LIFETIME_SECS,
            prefix.as_ref(),
        )
        .map(|cookie| (url, cookie))
        .ok_or_else(|| "the state can't name a cookie".to_owned())
    });
    match begun {
        Ok((url, cookie)) => see_other(&url, &[cookie]),
        Err(err) => {
            tracing::error!(error = %err, "cannot start a sign-in at the OpenID Connect provider");
            back_to_login(ProviderSignInFailure::Unavailable, &[])
        }
    }
}

/// The provider's answer: a code and our state, or an error (RFC 6749 section 4.1.2).
#[derive(Deserialize)]
struct ProviderAnswer {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

async fn callback(
    State(flow): State<Arc<ProviderSignIn>>,
    client: Option<axum::Extension<app::client_address::ClientAddress>>,
    prefix: Option<axum::Extension<PathPrefix>>,
    headers: HeaderMap,
    answer: Result<Query<ProviderAnswer>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let Ok(Query(answer)) = answer else {
        return back_to_login(ProviderSignInFailure::UnknownAttempt, &[]);
    };
    let state = answer.state.as_deref().unwrap_or_default();
    let Some(name) = flow.attempt_cookie_name(state) else {
        tracing::warn!("a sign-in callback without a state of ours");
        return back_to_login(ProviderSignInFailure::UnknownAttempt, &[]);
    };
    // Consumed whatever happens next: a second callback with the same cookie finds nothing.
    let prefix = prefix.map(|prefix| prefix.0);
    let consumed = flow
        .attempt_cookie(state, "", 0, prefix.as_ref())
        .unwrap_or_default();
    let refuse = |failure| back_to_login(failure, std::slice::from_ref(&consumed));
    let attempt = cookie_value(&headers, &name).and_then(|sealed| flow.open(sealed, now()));
    let Some(attempt) = attempt else {
        tracing::warn!("a sign-in callback without a (valid) attempt of this browser");
        return refuse(ProviderSignInFailure::UnknownAttempt);
    };
    if !bool::from(subtle::ConstantTimeEq::ct_eq(
        state.as_bytes(),
        attempt.state.as_bytes(),
    )) {
        tracing::warn!("a sign-in callback whose state is not this browser's attempt");
        return refuse(ProviderSignInFailure::UnknownAttempt);
    }
    if let Some(error) = answer.error {
        tracing::warn!(%error, description = answer.error_description.as_deref().unwrap_or(""),
            "the provider answered the sign-in with an error");
        return refuse(ProviderSignInFailure::Declined);
    }
    let Some(code) = answer.code.filter(|code| !code.is_empty()) else {
        return refuse(ProviderSignInFailure::UnknownAttempt);
    };
    let client = client.map(|client| client.0 .0);
    match flow.provider.finish(&code, &attempt).await {
        Ok(signed_in) => {
            let token = &signed_in.id_token;
            if token.len() > provider_paths::MAX_ID_TOKEN_BYTES || !is_jwt_text(token) {
                tracing::error!(
                    bytes = token.len(),
                    max = provider_paths::MAX_ID_TOKEN_BYTES,
                    "the provider's ID token is too long (or not a JWT) to hand to the page"
                );
                return refuse(ProviderSignInFailure::TokenRefused);
            }
            app::audit::signed_in(&signed_in.username, client);
            let landing = match &prefix {
                Some(prefix) => format!("{}{}", prefix.as_str(), provider_paths::LANDING),
                None => provider_paths::LANDING.to_owned(),
            };
            let page = landing_page(token, &landing);
            uncached_with_cookies(page, std::slice::from_ref(&consumed))
        }
        Err(FinishError::CodeRefused(reason)) => {
            tracing::warn!(%reason, "the provider refused the sign-in code");
            app::audit::sign_in_failed("(provider sign-in)", client);
            refuse(ProviderSignInFailure::CodeRefused)
        }
        Err(FinishError::TokenRefused(reason)) => {
            tracing::warn!(%reason, "refused the provider's ID token");
            app::audit::sign_in_failed("(provider sign-in)", client);
            refuse(ProviderSignInFailure::TokenRefused)
        }
        Err(FinishError::Unavailable(reason)) => {
            tracing::error!(%reason, "cannot finish a sign-in at the provider");
            refuse(ProviderSignInFailure::Unavailable)
        }
    }
}

fn is_base64url(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_'
}

/// A JWT's characters (base64url and dots): nothing to escape in an HTML attribute.
fn is_jwt_text(token: &str) -> bool {
    !token.is_empty() && token.bytes().all(|b| is_base64url(b) || b == b'.')
}

/// The callback's answer to a finished sign-in: the token in the page's body, taken over by its
/// one script, which keeps the session as the login form does (`app::session`: the token, no
/// credentials yet) and goes on. The script's text is the same on every sign-in, so the page's
/// Content Security Policy allows it by its hash (`csp`). Without JavaScript the page says what
/// the admin page needs.
fn landing_page(token: &str, landing: &str) -> Response {
    use app::session::{CREDENTIALS_KEY, TOKEN_KEY};
    let take_over_session = format!(
        "(()=>{{const e=document.getElementById(\"session\");\
         try{{localStorage.setItem(\"{TOKEN_KEY}\",e.dataset.token);\
         localStorage.removeItem(\"{CREDENTIALS_KEY}\");}}catch(_){{}}\
         e.removeAttribute(\"data-token\");location.replace(\"{landing}\");}})();",
    );
    let html = format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>Signed in · {site}</title></head><body><main>\
         <h1>Signed in</h1><p id=\"session\" data-token=\"{token}\">You are signed in. \
         The admin page needs JavaScript: it keeps your session and signs its requests. \
         <a href=\"{landing}\">Continue to the admin page</a>.</p></main>\
         <script>{take_over_session}</script></body></html>",
        site = app::SITE_NAME,
    );
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::REFERRER_POLICY, "no-referrer"),
        ],
        html,
    )
        .into_response()
}

/// To the provider's end-session page (offered after logging out here), or back to the login
/// page if it has none.
async fn sign_out(State(flow): State<Arc<ProviderSignIn>>) -> Response {
    match flow.provider.end_session_url().await {
        Some(url) => see_other(&url, &[]),
        None => see_other("/login", &[]),
    }
}

/// The value of cookie `name` in the request's `Cookie` headers.
fn cookie_value<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flow() -> ProviderSignIn {
        ProviderSignIn {
            provider: Arc::new(OidcIdentity::for_tests()),
            cookie_key: [7; 32],
            secure: true,
        }
    }

    fn attempt() -> Attempt {
        Attempt {
            state: "state".into(),
            nonce: "nonce".into(),
            verifier: "verifier".into(),
        }
    }

    #[test]
    fn a_sealed_attempt_opens_until_it_expires_and_never_when_changed() {
        let flow = flow();
        let sealed = flow.seal(&SealedAttempt {
            attempt: attempt(),
            expires: 1_000,
        });
        assert_eq!(flow.open(&sealed, 999), Some(attempt()));
        assert_eq!(flow.open(&sealed, 1_000), None);
        let (payload, tag) = sealed.split_once('.').unwrap();
        let forged = SealedAttempt {
            attempt: attempt(),
            expires: 9_999,
        };
        let forged_payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&forged).unwrap());
        assert_eq!(flow.open(&format!("{forged_payload}.{tag}"), 999), None);
        assert_eq!(flow.open(payload, 999), None);
        let other_key = ProviderSignIn {
            cookie_key: [8; 32],
            ..flow
        };
        assert_eq!(other_key.open(&sealed, 999), None);
    }

    #[test]
    fn attempt_cookies_are_host_only_over_https_and_named_after_their_state() {
        let flow = flow();
        assert_eq!(
            flow.attempt_cookie("AbCd-_12rest", "v", 600, None).unwrap(),
            "__Host-stories_oidc_AbCd-_12=v; Path=/; Max-Age=600; SameSite=Lax; HttpOnly; Secure"
        );
        let plain = ProviderSignIn {
            secure: false,
            ..flow
        };
        assert_eq!(
            plain.attempt_cookie("AbCd-_12rest", "", 0, None).unwrap(),
            "stories_oidc_AbCd-_12=; Path=/login/callback; Max-Age=0; SameSite=Lax; HttpOnly"
        );
        // Under a stage, where the callback is.
        let stage = PathPrefix::new("/prod");
        assert_eq!(
            plain
                .attempt_cookie("AbCd-_12rest", "v", 1, stage.as_ref())
                .unwrap(),
            "stories_oidc_AbCd-_12=v; Path=/prod/login/callback; Max-Age=1; SameSite=Lax; HttpOnly"
        );
        assert_eq!(
            self::flow()
                .attempt_cookie("AbCd-_12rest", "v", 1, stage.as_ref())
                .unwrap(),
            "__Host-stories_oidc_AbCd-_12=v; Path=/; Max-Age=1; SameSite=Lax; HttpOnly; Secure"
        );
        assert_eq!(plain.attempt_cookie("short", "v", 1, None), None);
        assert_eq!(plain.attempt_cookie("a;b=c d=ef", "v", 1, None), None);
        assert_eq!(plain.attempt_cookie("ééééé", "v", 1, None), None);
    }

    #[tokio::test]
    async fn the_landing_page_carries_the_token_in_its_body_only() {
        let response = uncached_with_cookies(
            landing_page("eyJh.eyJz.c2ln", "/admin"),
            &["x=; Max-Age=0".to_owned()],
        );
        assert_eq!(response.headers()[header::CACHE_CONTROL], "no-store");
        assert_eq!(response.headers()[header::SET_COOKIE], "x=; Max-Age=0");
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        let page = String::from_utf8(body.to_vec()).unwrap();
        assert!(page.contains(r#"data-token="eyJh.eyJz.c2ln""#), "{page}");
        // Where `app::session` reads the token, and on to the admin page.
        assert!(
            page.contains(r#"<script>(()=>{const e=document.getElementById("session");try{localStorage.setItem("token",e.dataset.token);localStorage.removeItem("credentials");}catch(_){}e.removeAttribute("data-token");location.replace("/admin");})();</script>"#),
            "{page}"
        );
        // Under a REST API stage, the admin page is under it.
        let staged = landing_page("eyJh.eyJz.c2ln", "/prod/admin").into_body();
        let staged = axum::body::to_bytes(staged, usize::MAX).await.unwrap();
        let staged = String::from_utf8(staged.to_vec()).unwrap();
        assert!(
            staged.contains(r#"location.replace("/prod/admin")"#),
            "{staged}"
        );
        assert!(staged.contains(r#"href="/prod/admin""#), "{staged}");
        assert!(is_jwt_text("eyJh.eyJz.c2ln"));
        assert!(!is_jwt_text("\"><script>"));
        assert!(!is_jwt_text(""));
    }

    #[test]
    fn the_cookie_is_read_from_any_cookie_header() {
        let mut headers = HeaderMap::new();
        headers.append(header::COOKIE, HeaderValue::from_static("x=1; y=2"));
        headers.append(
            header::COOKIE,
            HeaderValue::from_static("stories_oidc_abc=abc"),
        );
        assert_eq!(cookie_value(&headers, "stories_oidc_abc"), Some("abc"));
        assert_eq!(cookie_value(&headers, "z"), None);
    }
}
