//! Identity provider adapters behind `app::identity::IdentityProvider`, and the one place that
//! picks one from the settings. A new provider is a module here, an `IdentityKind` variant and
//! one arm below.

pub mod cognito;
pub mod embedded;
pub mod https;
pub mod id_token;
pub mod oidc;
pub mod password_worker;
pub mod users;

use crate::{
    cli::{BackendArgs, IdentityKind},
    resources::Resources,
};
use app::identity::SharedIdentity;
use id_token::Jwks;
use std::{sync::Arc, time::Duration};

/// How often at most a provider's keys are fetched again for a token naming an unknown key
/// (made-up key ids must not turn into a request flood against the provider).
pub const JWKS_REFETCH_INTERVAL: Duration = Duration::from_secs(60);

/// Clock skew tolerated on ID tokens' times, whoever issued them.
pub const TOKEN_LEEWAY_SECS: u64 = 5;

/// The identity provider, and the public keys this server publishes at
/// `/.well-known/jwks.json` (only when it issues the tokens itself).
pub struct Identity {
    pub provider: SharedIdentity,
    pub jwks: Option<Arc<Jwks>>,
    /// The OpenID Connect provider, whose sign-in routes the server adds.
    pub oidc: Option<Arc<oidc::OidcIdentity>>,
}

/// The identity provider the settings ask for. `public_url` is where the site is reached (an
/// OpenID Connect provider sends admins back there).
pub async fn from_settings(
    settings: &BackendArgs,
    resources: &Resources,
    public_url: &str,
) -> anyhow::Result<Identity> {
    Ok(match settings.identity {
        IdentityKind::Embedded => {
            let identity = embedded::EmbeddedIdentity::open(resources).await?;
            let jwks = Arc::new(identity.jwks().clone());
            Identity {
                provider: Arc::new(identity),
                jwks: Some(jwks),
                oidc: None,
            }
        }
        IdentityKind::Cognito => Identity {
            provider: Arc::new(cognito::CognitoIdentity::from_settings(settings, resources).await?),
            jwks: None,
            oidc: None,
        },
        IdentityKind::Oidc => {
            let oidc =
                Arc::new(oidc::OidcIdentity::from_settings(&settings.oidc, public_url).await?);
            Identity {
                provider: oidc.clone(),
                jwks: None,
                oidc: Some(oidc),
            }
        }
    })
}
