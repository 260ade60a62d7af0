//! The identity provider port: signs users in (username + password -> ID token) and verifies ID
//! tokens. Three implementations live in the server crate: the embedded provider (users in the
//! data directory, tokens signed by our own RSA key), a Cognito user pool, and any OpenID Connect
//! provider (admins sign in on its pages; the server runs the authorization code flow).

use crate::{credentials::Caller, provider_sign_in::SignInMethod};
use std::sync::Arc;
use time::OffsetDateTime;

/// A verified ID token: who it names, when they signed in, and when it stops being valid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedIdentity {
    pub caller: Caller,
    /// The sign-in the token comes from (`auth_time`): sessions from before a revocation are
    /// refused.
    pub authenticated_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
}

/// Where a sign-in attempt got to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignInStep {
    /// Signed in: an ID token (a JWT in Cognito's shape) and its lifetime in seconds.
    SignedIn { id_token: String, expires_in: i64 },
    /// The password was right but is temporary (Cognito's `NEW_PASSWORD_REQUIRED`): the user
    /// must choose a new one, answering with this session.
    NewPasswordRequired { username: String, session: String },
}

#[derive(Debug, thiserror::Error)]
pub enum SignInError {
    /// Unknown user and wrong password are deliberately the same answer.
    #[error("incorrect username or password")]
    IncorrectCredentials,
    /// The new password breaks the pool's policy; the message says how.
    #[error("the new password was refused: {0}")]
    PasswordRefused(String),
    /// The sign-in session of a challenge expired or was already used.
    #[error("the sign-in session expired")]
    SessionExpired,
    #[error("the user is not confirmed")]
    NotConfirmed,
    #[error("the user must reset their password")]
    PasswordResetRequired,
    /// Too many sign-ins are being checked already: nothing was checked, try again shortly.
    #[error("too many sign-ins are being checked")]
    Busy,
    /// A step this app does not implement (e.g. an MFA challenge).
    #[error("the identity provider asked for an unsupported step: {0}")]
    UnsupportedChallenge(String),
    #[error("the identity provider is unavailable")]
    Unavailable(#[source] crate::error::Cause),
    /// Admins sign in on the provider's pages, not with a password here.
    #[error("passwords are not checked here: admins sign in with {0}")]
    SignsInElsewhere(String),
}

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("invalid ID token: {0}")]
    Invalid(String),
    #[error("the ID token has expired")]
    Expired,
    #[error("the identity provider is unavailable")]
    Unavailable(#[source] crate::error::Cause),
}

#[async_trait::async_trait]
pub trait IdentityProvider: Send + Sync + 'static {
    /// Checks a username and password.
    async fn sign_in(&self, username: &str, password: &str) -> Result<SignInStep, SignInError>;

    /// Answers a `NewPasswordRequired` step with the password the user chose.
    async fn set_new_password(
        &self,
        username: &str,
        session: &str,
        new_password: &str,
    ) -> Result<SignInStep, SignInError>;

    /// Checks an ID token's signature, algorithm, issuer, audience, use and expiry.
    async fn verify_id_token(&self, token: &str) -> Result<VerifiedIdentity, TokenError>;

    /// Whether a session of `caller` that signed in at `authenticated_at` still stands: the user
    /// still exists and nothing revoked their sessions since (a password change, removal).
    /// Providers that can't tell (a Cognito pool: its ID tokens stand until they expire) say yes.
    async fn session_stands(
        &self,
        caller: &Caller,
        authenticated_at: OffsetDateTime,
    ) -> Result<bool, TokenError> {
        let _ = (caller, authenticated_at);
        Ok(true)
    }

    /// Ends `caller`'s session that signed in at `authenticated_at`, and any older one: their ID
    /// tokens and the credentials minted from them are refused from now on (sessions that signed
    /// in later stand). `false` from providers that can't (a Cognito pool: its ID tokens stand
    /// until they expire).
    async fn end_sessions(
        &self,
        caller: &Caller,
        authenticated_at: OffsetDateTime,
    ) -> Result<bool, TokenError> {
        let _ = (caller, authenticated_at);
        Ok(false)
    }

    /// Whether ID tokens can be verified now (the keys are at hand), for `/readyz`.
    async fn check_ready(&self) -> Result<(), TokenError> {
        Ok(())
    }

    /// How the login page signs admins in.
    fn sign_in_method(&self) -> SignInMethod {
        SignInMethod::Password
    }

    /// Whether the provider has a page that ends the admin's session there too (an OpenID
    /// Connect provider's `end_session_endpoint`), offered after logging out here.
    async fn offers_provider_sign_out(&self) -> bool {
        false
    }
}

pub type SharedIdentity = Arc<dyn IdentityProvider>;
