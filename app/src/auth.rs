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

/// The region requests are signed for (service `execute-api`), set by the server.
#[cfg(feature = "ssr")]
#[derive(Debug, Clone)]
pub struct SigningRegion(pub String);

#[server(name = Login, prefix = "/api", endpoint = "login")]
pub async fn login(username: String, password: String) -> Result<LoginStep, ApiError> {
    server::login(&username, &password).await
}

/// Answers `NEW_PASSWORD_REQUIRED` with the password the user chose (typed twice).
#[server(name = SetNewPassword, prefix = "/api", endpoint = "new-password")]
pub async fn set_new_password(
    username: String,
    session: String,
    new_password: String,
    confirm_password: String,
) -> Result<LoginStep, ApiError> {
    server::set_new_password(&username, &session, &new_password, &confirm_password).await
}

#[server(name = GetCredentials, prefix = "/api", endpoint = "credentials")]
pub async fn credentials(token: String) -> Result<CredentialsForIdentity, ApiError> {
    server::credentials(&token).await
}

/// The browser's calls of these server functions, in their wire format (form-encoded arguments,
/// JSON back), through [`crate::api_client`].
pub mod client {
    use super::*;
    use crate::api_client::post_form;
    use leptos::server_fn::ServerFn;

    pub fn login_path() -> &'static str {
        Login::PATH
    }

    pub fn new_password_path() -> &'static str {
        SetNewPassword::PATH
    }

    pub async fn login(username: &str, password: &str) -> Result<LoginStep, ApiError> {
        let fields = [("username", username), ("password", password)];
        post_form(Login::PATH, &fields).await
    }

    pub async fn set_new_password(
        username: &str,
        session: &str,
        new_password: &str,
        confirm_password: &str,
    ) -> Result<LoginStep, ApiError> {
        let fields = [
            ("username", username),
            ("session", session),
            ("new_password", new_password),
            ("confirm_password", confirm_password),
        ];
        post_form(SetNewPassword::PATH, &fields).await
    }

    pub async fn credentials(token: &str) -> Result<CredentialsForIdentity, ApiError> {
        post_form(GetCredentials::PATH, &[("token", token)]).await
    }
}

#[cfg(feature = "ssr")]
mod server {
    use super::*;
    use crate::{
        credentials::CredentialMinter,
        error::{server_context, ApiErrorKind},
        identity::{SharedIdentity, SignInError, SignInStep, TokenError},
        login_throttle::LoginThrottle,
    };
    use std::{net::SocketAddr, sync::Arc, time::Instant};

    async fn client_ip() -> Option<std::net::IpAddr> {
        leptos_axum::extract::<axum::extract::ConnectInfo<SocketAddr>>()
            .await
            .ok()
            .map(|info| info.0.ip())
    }

    pub async fn login(username: &str, password: &str) -> Result<LoginStep, ApiError> {
        if username.trim().is_empty() || password.is_empty() {
            return Err(ApiError::bad_request(
                "Please enter your username and password.",
            ));
        }
        let identity: SharedIdentity = server_context("identity provider")?;
        let throttle: Arc<LoginThrottle> = server_context("login throttle")?;
        let client = client_ip().await;
        if let Err(throttled) = throttle.check(client, username, Instant::now()) {
            let minutes = throttled.retry_after.as_secs().div_ceil(60).max(1);
            return Err(ApiError::new(
                ApiErrorKind::TooManyRequests,
                format!(
                    "Too many failed sign-in attempts. Please try again in {minutes} minute{}.",
                    if minutes == 1 { "" } else { "s" }
                ),
            ));
        }
        let step = identity.sign_in(username, password).await;
        if matches!(step, Err(SignInError::IncorrectCredentials)) {
            throttle.record_failure(client, username, Instant::now());
        } else if step.is_ok() {
            throttle.record_success(username);
        }
        answer(username, step)
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
        let identity: SharedIdentity = server_context("identity provider")?;
        let step = identity
            .set_new_password(username, session, new_password)
            .await;
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
            }) => {
                tracing::info!(username, "signed in");
                Ok(LoginStep::SignedIn(SignedIn {
                    id_token,
                    expires_in,
                }))
            }
            Ok(SignInStep::NewPasswordRequired { username, session }) => {
                tracing::info!(%username, "signed in with a temporary password");
                Ok(LoginStep::NewPasswordRequired(NewPasswordRequired {
                    challenge_name: NEW_PASSWORD_REQUIRED.into(),
                    session,
                    username,
                }))
            }
            Err(SignInError::IncorrectCredentials) => {
                tracing::warn!("failed sign-in");
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
            Err(SignInError::UnsupportedChallenge(step)) => {
                tracing::warn!(%step, username, "sign-in needs a step this app does not support");
                refused(
                    ApiErrorKind::Forbidden,
                    "This account needs a sign-in step this site does not support \
                     (such as multi-factor authentication). Ask an administrator.",
                )
            }
            Err(SignInError::Unavailable(cause)) => {
                tracing::error!(%cause, "sign-in failed");
                Err(ApiError::unavailable())
            }
        }
    }

    pub async fn credentials(token: &str) -> Result<CredentialsForIdentity, ApiError> {
        let identity: SharedIdentity = server_context("identity provider")?;
        let minter: Arc<CredentialMinter> = server_context("credential minter")?;
        let region: SigningRegion = server_context("signing region")?;
        let verified = match identity.verify_id_token(token.trim()).await {
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
            Err(TokenError::Unavailable(cause)) => {
                tracing::error!(%cause, "cannot verify ID tokens");
                return Err(ApiError::unavailable());
            }
        };
        let now = time::OffsetDateTime::now_utc();
        let identity_id = format!("{}:{}", region.0, verified.caller.sub);
        let credentials = minter
            .mint(verified.caller, now, verified.expires_at)
            .map_err(|e| {
                tracing::error!(error = %e, "cannot mint credentials");
                ApiError::internal()
            })?;
        Ok(CredentialsForIdentity {
            identity_id,
            credentials,
            region: region.0,
        })
    }
}
