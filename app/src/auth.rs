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
pub async fn login(username: String, password: String) -> Result<SignedIn, ApiError> {
    server::login(&username, &password).await
}

#[server(name = GetCredentials, prefix = "/api", endpoint = "credentials")]
pub async fn credentials(token: String) -> Result<CredentialsForIdentity, ApiError> {
    server::credentials(&token).await
}

#[cfg(feature = "ssr")]
mod server {
    use super::*;
    use crate::{
        credentials::CredentialMinter,
        error::{server_context, ApiErrorKind},
        identity::{SharedIdentity, SignInError, TokenError},
        login_throttle::LoginThrottle,
    };
    use std::{net::SocketAddr, sync::Arc, time::Instant};

    async fn client_ip() -> Option<std::net::IpAddr> {
        leptos_axum::extract::<axum::extract::ConnectInfo<SocketAddr>>()
            .await
            .ok()
            .map(|info| info.0.ip())
    }

    pub async fn login(username: &str, password: &str) -> Result<SignedIn, ApiError> {
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
        match identity.sign_in(username, password).await {
            Ok(id_token) => {
                throttle.record_success(username);
                tracing::info!(username, "signed in");
                Ok(SignedIn {
                    id_token,
                    expires_in: 3600,
                })
            }
            Err(SignInError::IncorrectCredentials) => {
                throttle.record_failure(client, username, Instant::now());
                tracing::warn!("failed sign-in");
                Err(ApiError::new(
                    ApiErrorKind::Unauthorized,
                    INCORRECT_CREDENTIALS,
                ))
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
