//! Signing in (username + password -> ID token) and trading the ID token for temporary
//! credentials, as a Cognito user pool and identity pool would.

use crate::{credentials::TemporaryCredentials, error::ApiError};
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

pub const INCORRECT_CREDENTIALS: &str = "Incorrect username or password.";

/// What a successful sign-in returns (the shape of Cognito's `AuthenticationResult`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SignedIn {
    pub id_token: String,
    /// Seconds until the ID token expires.
    pub expires_in: i64,
}

/// The password was temporary: choose a new one, answering with `session` (the shape of
/// Cognito's `InitiateAuth` challenge answer).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct NewPasswordRequired {
    /// Always `NEW_PASSWORD_REQUIRED`.
    pub challenge_name: String,
    pub session: String,
    pub username: String,
}

pub const NEW_PASSWORD_REQUIRED: &str = "NEW_PASSWORD_REQUIRED";

/// What `/api/login` and `/api/new-password` answer: signed in, or one more step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum LoginStep {
    SignedIn(SignedIn),
    NewPasswordRequired(NewPasswordRequired),
}

/// Cognito GetCredentialsForIdentity's answer, plus the region to sign requests for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CredentialsForIdentity {
    pub identity_id: String,
    pub credentials: TemporaryCredentials,
    pub region: String,
}

/// The region the admin API's requests are signed for (SigV4, service `execute-api`, as with API
/// Gateway), set by the server.
#[cfg(feature = "ssr")]
#[derive(Debug, Clone)]
pub struct ApiRegion(pub String);

#[server(name = Login, prefix = "/api", endpoint = "login")]
pub async fn login(username: String, password: String) -> Result<LoginStep, ApiError> {
    server_side::login(&username, &password).await
}

/// Answers `NEW_PASSWORD_REQUIRED` with the password the user chose (typed twice).
#[server(name = SetNewPassword, prefix = "/api", endpoint = "new-password")]
pub async fn set_new_password(
    username: String,
    session: String,
    new_password: String,
    confirm_password: String,
) -> Result<LoginStep, ApiError> {
    server_side::set_new_password(&username, &session, &new_password, &confirm_password).await
}

#[server(name = GetCredentials, prefix = "/api", endpoint = "credentials")]
pub async fn credentials(token: String) -> Result<CredentialsForIdentity, ApiError> {
    server_side::credentials(&token).await
}

/// What `/api/logout` answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SignedOut {
    /// The session's ID token and credentials are refused from now on (within seconds).
    Revoked,
    /// The provider can't end sessions (a Cognito pool): they stand until they expire.
    NotRevocable,
    /// Ended here; the admin is still signed in at the OpenID Connect provider, whose
    /// end-session page the login page offers.
    ProviderSessionStands,
}

/// Logging out: ends the session of `token` (and older ones of the same user) on the server.
#[server(name = SignOut, prefix = "/api", endpoint = "logout")]
pub async fn sign_out(token: String) -> Result<SignedOut, ApiError> {
    server_side::sign_out(&token).await
}

/// The form field names of these server functions' arguments: what the browser sends and the
/// login forms' inputs are named (a test checks each server function reads them).
pub mod fields {
    pub const USERNAME: &str = "username";
    pub const PASSWORD: &str = "password";
    pub const SESSION: &str = "session";
    pub const NEW_PASSWORD: &str = "new_password";
    pub const CONFIRM_PASSWORD: &str = "confirm_password";
    pub const TOKEN: &str = "token";
}

/// The browser's calls of these server functions, in their wire format (form-encoded arguments,
/// JSON back), through [`crate::api_client`].
pub mod client {
    use super::{fields::*, *};
    use crate::api_client::post_form;
    use leptos::server_fn::ServerFn;

    pub fn login_path() -> &'static str {
        Login::PATH
    }

    pub fn new_password_path() -> &'static str {
        SetNewPassword::PATH
    }

    pub(crate) fn login_fields<'a>(
        username: &'a str,
        password: &'a str,
    ) -> [(&'static str, &'a str); 2] {
        [(USERNAME, username), (PASSWORD, password)]
    }

    pub(crate) fn new_password_fields<'a>(
        username: &'a str,
        session: &'a str,
        new_password: &'a str,
        confirm_password: &'a str,
    ) -> [(&'static str, &'a str); 4] {
        [
            (USERNAME, username),
            (SESSION, session),
            (NEW_PASSWORD, new_password),
            (CONFIRM_PASSWORD, confirm_password),
        ]
    }

    pub(crate) fn credentials_fields(token: &str) -> [(&'static str, &str); 1] {
        [(TOKEN, token)]
    }

    pub async fn login(username: &str, password: &str) -> Result<LoginStep, ApiError> {
        post_form(Login::PATH, &login_fields(username, password)).await
    }

    pub async fn set_new_password(
        username: &str,
        session: &str,
        new_password: &str,
        confirm_password: &str,
    ) -> Result<LoginStep, ApiError> {
        let fields = new_password_fields(username, session, new_password, confirm_password);
        post_form(SetNewPassword::PATH, &fields).await
    }

    pub async fn credentials(token: &str) -> Result<CredentialsForIdentity, ApiError> {
        post_form(GetCredentials::PATH, &credentials_fields(token)).await
    }

    /// Tells the server the admin logged out. Every page's navbar calls this: the answer is read
    /// without serde_json (see `post_form_for_variant`).
    pub async fn sign_out(token: &str) -> Result<SignedOut, ApiError> {
        crate::api_client::post_form_for_variant(SignOut::PATH, &credentials_fields(token)).await
    }
}

#[cfg(feature = "ssr")]
mod server_side {
    use super::*;
    use crate::{
        audit,
        client_address::ClientAddress,
        error::{describe, ApiErrorKind},
        identity::{SignInError, SignInStep, TokenError},
        services::Services,
    };
    use std::time::Instant;

    /// The client as the server resolved it (the TCP peer, or behind trusted proxies the address
    /// they name), for every request that came through a connection.
    async fn client_ip() -> Option<std::net::IpAddr> {
        leptos_axum::extract::<axum::Extension<ClientAddress>>()
            .await
            .ok()
            .map(|client| client.0 .0)
    }

    /// Usernames are at most this long (Cognito's limit too): longer ones are refused before any
    /// work, and never become throttle keys.
    const MAX_USERNAME_CHARS: usize = 128;

    pub const BUSY: &str = "Too many sign-in attempts. Please wait a minute and try again.";

    pub async fn login(username: &str, password: &str) -> Result<LoginStep, ApiError> {
        if username.trim().is_empty() || password.is_empty() {
            return Err(ApiError::bad_request(
                "Please enter your username and password.",
            ));
        }
        checked_username(username)?;
        let services = Services::from_context()?;
        throttled(&services, username, |identity| {
            identity.sign_in(username, password)
        })
        .await
    }

    pub async fn set_new_password(
        username: &str,
        session: &str,
        new_password: &str,
        confirm_password: &str,
    ) -> Result<LoginStep, ApiError> {
        if username.trim().is_empty() || session.is_empty() {
            return Err(ApiError::new(ApiErrorKind::Unauthorized, SESSION_EXPIRED));
        }
        if new_password.is_empty() {
            return Err(ApiError::bad_request("Please choose a new password."));
        }
        if new_password != confirm_password {
            return Err(ApiError::bad_request("The passwords do not match."));
        }
        checked_username(username)?;
        let services = Services::from_context()?;
        throttled(&services, username, |identity| {
            identity.set_new_password(username, session, new_password)
        })
        .await
    }

    fn checked_username(username: &str) -> Result<(), ApiError> {
        if username.chars().count() > MAX_USERNAME_CHARS {
            return Err(ApiError::bad_request(format!(
                "Usernames are at most {MAX_USERNAME_CHARS} characters."
            )));
        }
        Ok(())
    }

    /// Runs a sign-in step for `username` under the login throttle: the attempt is counted before
    /// the identity provider checks anything, kept if the password was wrong, and given back
    /// otherwise.
    async fn throttled<'a, F>(
        services: &'a Services,
        username: &'a str,
        step: impl FnOnce(&'a crate::identity::SharedIdentity) -> F,
    ) -> Result<LoginStep, ApiError>
    where
        F: std::future::Future<Output = Result<SignInStep, SignInError>>,
    {
        let client = client_ip().await;
        let reservation = match services.throttle.reserve(client, username, Instant::now()) {
            Ok(reservation) => reservation,
            Err(throttled) => {
                audit::sign_in_throttled(username, client, throttled.retry_after.as_secs());
                let minutes = throttled.retry_after.as_secs().div_ceil(60).max(1);
                return Err(ApiError::new(
                    ApiErrorKind::TooManyRequests,
                    format!(
                        "Too many failed sign-in attempts. Please try again in {minutes} minute{}.",
                        if minutes == 1 { "" } else { "s" }
                    ),
                ));
            }
        };
        let step = step(&services.identity).await;
        match &step {
            Err(SignInError::IncorrectCredentials) => {
                reservation.failed();
                audit::sign_in_failed(username, client);
            }
            Ok(step) => {
                reservation.succeeded();
                if matches!(step, SignInStep::SignedIn { .. }) {
                    audit::signed_in(username, client);
                }
            }
            Err(_) => reservation.refund(),
        }
        answer(username, step)
    }

    const SESSION_EXPIRED: &str = "Your sign-in session expired. Please log in again.";

    /// One mapping from the identity provider's answers to what the browser sees.
    fn answer(
        username: &str,
        step: Result<SignInStep, SignInError>,
    ) -> Result<LoginStep, ApiError> {
        let refused = |kind, message: &str| Err(ApiError::new(kind, message));
        match step {
            Ok(SignInStep::SignedIn {
                id_token,
                expires_in,
            }) => Ok(LoginStep::SignedIn(SignedIn {
                id_token,
                expires_in,
            })),
            Ok(SignInStep::NewPasswordRequired { username, session }) => {
                tracing::info!(%username, "signed in with a temporary password");
                Ok(LoginStep::NewPasswordRequired(NewPasswordRequired {
                    challenge_name: NEW_PASSWORD_REQUIRED.into(),
                    session,
                    username,
                }))
            }
            Err(SignInError::IncorrectCredentials) => {
                refused(ApiErrorKind::Unauthorized, INCORRECT_CREDENTIALS)
            }
            Err(SignInError::PasswordRefused(reason)) => Err(ApiError::bad_request(reason)),
            Err(SignInError::SessionExpired) => {
                refused(ApiErrorKind::Unauthorized, SESSION_EXPIRED)
            }
            Err(SignInError::NotConfirmed) => refused(
                ApiErrorKind::Forbidden,
                "This account is not confirmed yet. Ask an administrator to confirm it.",
            ),
            Err(SignInError::PasswordResetRequired) => refused(
                ApiErrorKind::Forbidden,
                "This account's password must be reset. Ask an administrator to reset it.",
            ),
            Err(SignInError::Busy) => refused(ApiErrorKind::TooManyRequests, BUSY),
            Err(SignInError::UnsupportedChallenge(step)) => {
                tracing::warn!(%step, username, "sign-in needs a step this app does not support");
                refused(
                    ApiErrorKind::Forbidden,
                    "This account needs a sign-in step this site does not support \
                     (such as multi-factor authentication). Ask an administrator.",
                )
            }
            Err(err @ SignInError::Unavailable(_)) => {
                tracing::error!(error = %describe(&err), "sign-in failed");
                Err(ApiError::unavailable())
            }
            Err(SignInError::SignsInElsewhere(provider)) => Err(ApiError::bad_request(format!(
                "This site does not check passwords: log in with {provider} instead."
            ))),
        }
    }

    pub async fn credentials(token: &str) -> Result<CredentialsForIdentity, ApiError> {
        let services = Services::from_context()?;
        let (minter, region) = (&services.minter, &services.region);
        let verified = standing_session(&services, token).await?;
        let now = time::OffsetDateTime::now_utc();
        let identity_id = format!("{}:{}", region.0, verified.caller.sub);
        let (username, sub) = (
            verified.caller.username.clone(),
            verified.caller.sub.clone(),
        );
        let credentials = minter
            .mint(
                verified.caller,
                verified.authenticated_at,
                now,
                verified.expires_at,
            )
            .map_err(|e| {
                tracing::error!(error = %describe(&e), "cannot mint credentials");
                ApiError::internal()
            })?;
        audit::credentials_minted(
            &username,
            &sub,
            &credentials.access_key_id,
            credentials.expiration,
        );
        Ok(CredentialsForIdentity {
            identity_id,
            credentials,
            region: region.0.clone(),
        })
    }

    /// Ends the token's session (see `IdentityProvider::end_sessions`).
    pub async fn sign_out(token: &str) -> Result<SignedOut, ApiError> {
        let services = Services::from_context()?;
        let verified = match standing_session(&services, token).await {
            Ok(verified) => verified,
            // Nothing to end here (the token expired, say), but the provider's session may
            // well stand: still offer its log-out.
            Err(err)
                if err.error == ApiErrorKind::Unauthorized
                    && services.identity.offers_provider_sign_out().await =>
            {
                return Ok(SignedOut::ProviderSessionStands)
            }
            Err(err) => return Err(err),
        };
        let revoked = services
            .identity
            .end_sessions(&verified.caller, verified.authenticated_at)
            .await
            .map_err(|err| {
                tracing::error!(error = %describe(&err), "cannot end a session");
                ApiError::unavailable()
            })?;
        audit::signed_out(&verified.caller.username, &verified.caller.sub, revoked);
        Ok(if revoked {
            SignedOut::Revoked
        } else if services.identity.offers_provider_sign_out().await {
            SignedOut::ProviderSessionStands
        } else {
            SignedOut::NotRevocable
        })
    }

    /// The ID token's verified identity, if its session still stands (no password change,
    /// removal or log-out since); otherwise the answer that says why not.
    async fn standing_session(
        services: &Services,
        token: &str,
    ) -> Result<crate::identity::VerifiedIdentity, ApiError> {
        let verified = match services.identity.verify_id_token(token.trim()).await {
            Ok(verified) => verified,
            Err(TokenError::Expired) => {
                return Err(ApiError::new(
                    ApiErrorKind::Unauthorized,
                    "Invalid login token. Token expired.",
                ))
            }
            Err(TokenError::Invalid(reason)) => {
                tracing::warn!(%reason, "refused an ID token");
                return Err(ApiError::new(
                    ApiErrorKind::Unauthorized,
                    "Invalid login token.",
                ));
            }
            Err(err @ TokenError::Unavailable(_)) => {
                tracing::error!(error = %describe(&err), "cannot verify ID tokens");
                return Err(ApiError::unavailable());
            }
        };
        match services
            .identity
            .session_stands(&verified.caller, verified.authenticated_at)
            .await
        {
            Ok(true) => Ok(verified),
            Ok(false) => {
                tracing::warn!(sub = %verified.caller.sub, "refused an ID token of a revoked session");
                Err(ApiError::new(
                    ApiErrorKind::Unauthorized,
                    "Invalid login token.",
                ))
            }
            Err(err) => {
                tracing::error!(error = %describe(&err), "cannot check a session");
                Err(ApiError::unavailable())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api_client::form_encode;

    /// The server decodes each call into its server function's argument struct: the names the
    /// browser sends must be that function's parameter names.
    #[test]
    fn the_browser_sends_the_server_functions_own_argument_names() {
        let read = |fields: &[(&str, &str)]| form_encode(fields);
        let login: Login = serde_urlencoded::from_str(&read(&client::login_fields("ada", "pw")))
            .expect("Login reads the login form");
        assert_eq!(
            (login.username.as_str(), login.password.as_str()),
            ("ada", "pw")
        );
        let set: SetNewPassword =
            serde_urlencoded::from_str(&read(&client::new_password_fields("ada", "s", "n", "c")))
                .expect("SetNewPassword reads the new-password form");
        assert_eq!(
            [
                set.username,
                set.session,
                set.new_password,
                set.confirm_password
            ],
            ["ada", "s", "n", "c"]
        );
        let credentials: GetCredentials =
            serde_urlencoded::from_str(&read(&client::credentials_fields("t")))
                .expect("GetCredentials reads its form");
        assert_eq!(credentials.token, "t");
    }
}
