//! Signing admins in at an OpenID Connect provider, without JavaScript: `/login/oidc` sends the
//! browser to the provider (authorization code flow with PKCE S256, `state` and `nonce`);
//! `/login/callback` checks the answer, trades the code for tokens, verifies the ID token, and
//! hands it to the page (`app::session`), landing on `/admin`.
//!
//! The attempt (state, nonce, PKCE verifier) lives in an HttpOnly cookie MACed with a key derived
//! from the credential key, not on the server: any instance (or Lambda invocation) can finish a
//! sign-in another one started. It is consumed by the callback whatever the outcome, so a
//! callback can't be replayed.

use crate::identity::oidc::{Attempt, FinishError, OidcIdentity};
use app::provider_sign_in::{self as provider_paths, ProviderSignInFailure};
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

const ATTEMPT_COOKIE: &str = "stories_oidc_attempt";
/// How long a sign-in at the provider may take.
const ATTEMPT_LIFETIME_SECS: i64 = 10 * 60;
/// How long the page has to take the handoff.
const HANDOFF_LIFETIME_SECS: i64 = 2 * 60;

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

    fn cookie(&self, name: &str, value: &str, path: &str, max_age: i64, http_only: bool) -> String {
        format!(
            "{name}={value}; Path={path}; Max-Age={max_age}; SameSite=Lax{}{}",
            if http_only { "; HttpOnly" } else { "" },
            if self.secure { "; Secure" } else { "" }
        )
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

fn see_other(location: &str, cookies: &[String]) -> Response {
    let mut response = (StatusCode::SEE_OTHER, [(header::LOCATION, location)]).into_response();
    for cookie in cookies {
        if let Ok(value) = HeaderValue::from_str(cookie) {
            response.headers_mut().append(header::SET_COOKIE, value);
        }
    }
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn back_to_login(failure: ProviderSignInFailure, cookies: &[String]) -> Response {
    see_other(&format!("/login?failed={}", failure.code()), cookies)
}

async fn start(State(flow): State<Arc<ProviderSignIn>>) -> Response {
    match flow.provider.begin().await {
        Ok((url, attempt)) => {
            let sealed = flow.seal(&SealedAttempt {
                attempt,
                expires: now() + ATTEMPT_LIFETIME_SECS,
            });
            let cookie = flow.cookie(
                ATTEMPT_COOKIE,
                &sealed,
                provider_paths::CALLBACK,
                ATTEMPT_LIFETIME_SECS,
                true,
            );
            see_other(&url, &[cookie])
        }
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
    headers: HeaderMap,
    answer: Result<Query<ProviderAnswer>, axum::extract::rejection::QueryRejection>,
) -> Response {
    // Consumed whatever happens next: a second callback with the same cookie finds nothing.
    let consumed = flow.cookie(ATTEMPT_COOKIE, "", provider_paths::CALLBACK, 0, true);
    let refuse = |failure| back_to_login(failure, std::slice::from_ref(&consumed));
    let Ok(Query(answer)) = answer else {
        return refuse(ProviderSignInFailure::UnknownAttempt);
    };
    let attempt =
        cookie_value(&headers, ATTEMPT_COOKIE).and_then(|sealed| flow.open(sealed, now()));
    let Some(attempt) = attempt else {
        tracing::warn!("a sign-in callback without a (valid) attempt of this browser");
        return refuse(ProviderSignInFailure::UnknownAttempt);
    };
    let state_matches = answer.state.as_deref().is_some_and(|state| {
        subtle::ConstantTimeEq::ct_eq(state.as_bytes(), attempt.state.as_bytes()).into()
    });
    if !state_matches {
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
            let Some(chunks) = provider_paths::handoff_chunks(&signed_in.id_token) else {
                tracing::error!(
                    bytes = signed_in.id_token.len(),
                    "the provider's ID token is too long to hand to the page"
                );
                return refuse(ProviderSignInFailure::TokenRefused);
            };
            app::audit::signed_in(&signed_in.username, client);
            let mut cookies = vec![consumed.clone()];
            cookies.extend(chunks.iter().enumerate().map(|(index, chunk)| {
                flow.cookie(
                    &provider_paths::handoff_cookie_name(index),
                    chunk,
                    provider_paths::LANDING,
                    HANDOFF_LIFETIME_SECS,
                    false,
                )
            }));
            see_other(provider_paths::LANDING, &cookies)
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
    fn cookies_are_lax_and_secure_on_https() {
        let flow = flow();
        assert_eq!(
            flow.cookie("a", "b", "/login/callback", 600, true),
            "a=b; Path=/login/callback; Max-Age=600; SameSite=Lax; HttpOnly; Secure"
        );
        let plain = ProviderSignIn {
            secure: false,
            ..flow
        };
        assert_eq!(
            plain.cookie("a", "b", "/admin", 120, false),
            "a=b; Path=/admin; Max-Age=120; SameSite=Lax"
        );
    }

    #[test]
    fn the_cookie_is_read_from_any_cookie_header() {
        let mut headers = HeaderMap::new();
        headers.append(header::COOKIE, HeaderValue::from_static("x=1; y=2"));
        headers.append(
            header::COOKIE,
            HeaderValue::from_static("stories_oidc_attempt=abc"),
        );
        assert_eq!(cookie_value(&headers, ATTEMPT_COOKIE), Some("abc"));
        assert_eq!(cookie_value(&headers, "z"), None);
    }
}
