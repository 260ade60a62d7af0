//! The identity provider port: signs users in (username + password -> ID token) and verifies ID
//! tokens. Two implementations live in the server crate: the embedded provider (users in the
//! data directory, tokens signed by our own RSA key) and a Cognito user pool.

use crate::credentials::Caller;
use std::sync::Arc;
use time::OffsetDateTime;

/// A verified ID token: who it names, and when it stops being valid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedIdentity {
    pub caller: Caller,
    pub expires_at: OffsetDateTime,
}

#[derive(Debug, thiserror::Error)]
pub enum SignInError {
    /// Unknown user and wrong password are deliberately the same answer.
    #[error("incorrect username or password")]
    IncorrectCredentials,
    #[error("the identity provider is unavailable: {0}")]
    Unavailable(String),
}

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("invalid ID token: {0}")]
    Invalid(String),
    #[error("the ID token has expired")]
    Expired,
    #[error("the identity provider is unavailable: {0}")]
    Unavailable(String),
}

#[async_trait::async_trait]
pub trait IdentityProvider: Send + Sync + 'static {
    /// Returns an ID token (a JWT in Cognito's shape) for correct credentials.
    async fn sign_in(&self, username: &str, password: &str) -> Result<String, SignInError>;

    /// Checks an ID token's signature, algorithm, issuer, audience, use and expiry.
    async fn verify_id_token(&self, token: &str) -> Result<VerifiedIdentity, TokenError>;
}

pub type SharedIdentity = Arc<dyn IdentityProvider>;
