//! The embedded identity provider (the zero-config default): users from the data directory,
//! ID tokens signed with our own RSA key, verified like Cognito's.

use super::{
    id_token::{IdTokenIssuer, IdTokenVerifier, Jwks, TokenRules, ID_TOKEN_LIFETIME},
    password_worker::{PasswordWorkError, PasswordWorker, DEFAULT_QUEUE, DUMMY_HASH},
    users::UserDirectory,
};
use app::{
    credentials::Caller,
    identity::{IdentityProvider, SignInError, SignInStep, TokenError, VerifiedIdentity},
};
use std::sync::Arc;
use time::OffsetDateTime;

/// The embedded provider's token issuer and client id (audience).
pub const EMBEDDED_ISSUER: &str = "serverless-stories";
pub const EMBEDDED_CLIENT_ID: &str = "serverless-stories-web";

pub struct EmbeddedIdentity {
    users: UserDirectory,
    issuer: IdTokenIssuer,
    verifier: IdTokenVerifier,
    rules: TokenRules,
    passwords: PasswordWorker,
}

impl EmbeddedIdentity {
    pub fn new(
        users: UserDirectory,
        issuer: IdTokenIssuer,
        rules: TokenRules,
        passwords: PasswordWorker,
    ) -> Self {
        let verifier = IdTokenVerifier::new(issuer.jwks(), rules.clone());
        Self {
            users,
            issuer,
            verifier,
            rules,
            passwords,
        }
    }

    /// The provider of the data directory: its users (in the embedded database) and its token
    /// key (generated there on first start).
    pub async fn open(resources: &crate::resources::Resources) -> anyhow::Result<Self> {
        let users = UserDirectory::new(resources.embedded_db().await?.clone());
        let issuer = IdTokenIssuer::load_or_create(resources.data_dir())?;
        let rules = TokenRules {
            issuer: EMBEDDED_ISSUER.into(),
            audience: EMBEDDED_CLIENT_ID.into(),
        };
        let passwords = PasswordWorker::start(DEFAULT_QUEUE)?;
        Ok(Self::new(users, issuer, rules, passwords))
    }

    pub fn jwks(&self) -> &Jwks {
        self.issuer.jwks()
    }
}

#[async_trait::async_trait]
impl IdentityProvider for EmbeddedIdentity {
    async fn sign_in(&self, username: &str, password: &str) -> Result<SignInStep, SignInError> {
        let user = self
            .users
            .find(username)
            .await
            .map_err(|e| SignInError::Unavailable(e.into()))?;
        let hash: Arc<str> = match &user {
            Some(user) => Arc::from(user.password_hash.as_str()),
            None => Arc::from(DUMMY_HASH),
        };
        let matches = match self.passwords.verify(password, hash).await {
            Ok(matches) => matches,
            Err(PasswordWorkError::Busy) => return Err(SignInError::Busy),
            Err(err @ PasswordWorkError::Stopped) => {
                return Err(SignInError::Unavailable(err.into()))
            }
        };
        let user = match (user, matches) {
            (Some(user), true) => user,
            _ => return Err(SignInError::IncorrectCredentials),
        };
        let caller = Caller {
            sub: user.sub,
            username: user.username,
            groups: user.groups,
        };
        let id_token = self
            .issuer
            .issue(&caller, &self.rules, OffsetDateTime::now_utc())
            .map_err(|e| SignInError::Unavailable(e.into()))?;
        Ok(SignInStep::SignedIn {
            id_token,
            expires_in: ID_TOKEN_LIFETIME.whole_seconds(),
        })
    }

    /// Embedded users never get a temporary password (the CLI sets real ones), so there is no
    /// session to answer.
    async fn set_new_password(
        &self,
        _username: &str,
        _session: &str,
        _new_password: &str,
    ) -> Result<SignInStep, SignInError> {
        Err(SignInError::SessionExpired)
    }

    /// A removed user's sessions, and those from before their password changed, are over.
    async fn session_stands(
        &self,
        caller: &Caller,
        authenticated_at: OffsetDateTime,
    ) -> Result<bool, TokenError> {
        let user = self
            .users
            .find_by_sub(&caller.sub)
            .await
            .map_err(|e| TokenError::Unavailable(e.into()))?;
        Ok(user.is_some_and(|user| authenticated_at.unix_timestamp() >= user.valid_after))
    }

    async fn end_sessions(
        &self,
        caller: &Caller,
        authenticated_at: OffsetDateTime,
    ) -> Result<bool, TokenError> {
        // `auth_time` has whole seconds: sessions from the next second on stand (a sign-in right
        // after logging out).
        let valid_after = authenticated_at.unix_timestamp() + 1;
        self.users
            .end_sessions_before(&caller.sub, valid_after)
            .await
            .map_err(|e| TokenError::Unavailable(e.into()))?;
        Ok(true)
    }

    async fn verify_id_token(&self, token: &str) -> Result<VerifiedIdentity, TokenError> {
        self.verifier.verify(token)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        embedded_db::EmbeddedDb,
        identity::users::{Password, Username},
    };

    async fn provider() -> (tempfile::TempDir, EmbeddedIdentity) {
        let dir = tempfile::tempdir().unwrap();
        let users = UserDirectory::new(EmbeddedDb::open(dir.path()).unwrap());
        users
            .add(
                &Username::parse("ada").unwrap(),
                Password::parse("correct horse".into()).unwrap(),
                &["admin"],
            )
            .await
            .unwrap();
        let signer = IdTokenIssuer::load_or_create(dir.path()).unwrap();
        let rules = TokenRules {
            issuer: "iss".into(),
            audience: "aud".into(),
        };
        (
            dir,
            EmbeddedIdentity::new(
                users,
                signer,
                rules,
                PasswordWorker::start(DEFAULT_QUEUE).unwrap(),
            ),
        )
    }

    #[tokio::test]
    async fn signs_in_and_verifies_its_own_tokens() {
        let (_dir, idp) = provider().await;
        let SignInStep::SignedIn {
            id_token: token,
            expires_in,
        } = idp.sign_in("ada", "correct horse").await.unwrap()
        else {
            panic!("embedded users have no challenges");
        };
        assert_eq!(expires_in, 3600);
        let who = idp.verify_id_token(&token).await.unwrap();
        assert_eq!(who.caller.username, "ada");
        assert!(who.caller.is_admin());
        assert!(who.expires_at > OffsetDateTime::now_utc());
    }

    #[tokio::test]
    async fn wrong_password_and_unknown_user_are_the_same_error() {
        let (_dir, idp) = provider().await;
        for (user, password) in [("ada", "wrong horse"), ("nobody", "correct horse")] {
            assert!(matches!(
                idp.sign_in(user, password).await,
                Err(SignInError::IncorrectCredentials)
            ));
        }
    }
}
