//! A Cognito user pool as the identity provider: `InitiateAuth` with `USER_PASSWORD_AUTH`, the
//! `NEW_PASSWORD_REQUIRED` challenge, and ID tokens verified against the pool's JWKS (fetched,
//! cached, and fetched again when a token names a key we have not seen).

use super::{
    id_token::{read_header, IdTokenVerifier, Jwks, TokenRules},
    JWKS_REFETCH_INTERVAL,
};
use app::error::describe;
use app::identity::{IdentityProvider, SignInError, SignInStep, TokenError, VerifiedIdentity};
use aws_sdk_cognitoidentityprovider::{
    error::ProvideErrorMetadata,
    operation::{
        initiate_auth::InitiateAuthOutput, respond_to_auth_challenge::RespondToAuthChallengeOutput,
    },
    types::{AuthFlowType, AuthenticationResultType, ChallengeNameType},
    Client,
};
use std::{
    sync::{Arc, RwLock},
    time::{Duration, Instant},
};

#[derive(Debug, thiserror::Error)]
pub enum CognitoConfigError {
    #[error("--identity cognito needs STORIES_COGNITO_USER_POOL_ID (the user pool id, e.g. us-east-1_AbCdEfGhI)")]
    NoUserPool,
    #[error("--identity cognito needs STORIES_COGNITO_CLIENT_ID (the user pool's app client id)")]
    NoClient,
    #[error("{0:?} is not a user pool id: it looks like <region>_<id>, e.g. us-east-1_AbCdEfGhI")]
    BadUserPool(String),
    #[error("cannot build the HTTP client for the JWKS: {0}")]
    Http(String),
}

/// Where the pool's tokens come from and how to check them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CognitoSettings {
    pub user_pool_id: String,
    pub client_id: String,
    pub issuer: String,
    pub jwks_url: String,
}

impl CognitoSettings {
    /// `endpoint` is an endpoint override (`AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER` or
    /// `AWS_ENDPOINT_URL`, e.g. moto): the JWKS is then served there, under the pool id.
    pub fn new(
        user_pool_id: Option<String>,
        client_id: Option<String>,
        issuer: Option<String>,
        endpoint: Option<String>,
    ) -> Result<Self, CognitoConfigError> {
        let user_pool_id = user_pool_id
            .map(|id| id.trim().to_owned())
            .filter(|id| !id.is_empty())
            .ok_or(CognitoConfigError::NoUserPool)?;
        let client_id = client_id
            .map(|id| id.trim().to_owned())
            .filter(|id| !id.is_empty())
            .ok_or(CognitoConfigError::NoClient)?;
        // The pool id starts with its region, so the issuer needs no other setting.
        let region = match user_pool_id.split_once('_') {
            Some((region, id))
                if !region.is_empty()
                    && !id.is_empty()
                    && region
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                    && id.chars().all(|c| c.is_ascii_alphanumeric()) =>
            {
                region.to_owned()
            }
            _ => return Err(CognitoConfigError::BadUserPool(user_pool_id)),
        };
        let issuer = issuer
            .map(|i| i.trim().trim_end_matches('/').to_owned())
            .filter(|i| !i.is_empty())
            .unwrap_or_else(|| {
                format!("https://cognito-idp.{region}.amazonaws.com/{user_pool_id}")
            });
        let jwks_url = match endpoint.filter(|e| !e.trim().is_empty()) {
            Some(endpoint) => format!(
                "{}/{user_pool_id}/.well-known/jwks.json",
                endpoint.trim().trim_end_matches('/')
            ),
            None => format!("{issuer}/.well-known/jwks.json"),
        };
        Ok(Self {
            user_pool_id,
            client_id,
            issuer,
            jwks_url,
        })
    }

    /// The endpoint override the AWS SDK itself would use for Cognito user pools.
    pub fn endpoint_from_env() -> Option<String> {
        [
            "AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER",
            "AWS_ENDPOINT_URL",
        ]
        .into_iter()
        .find_map(|name| std::env::var(name).ok().filter(|v| !v.trim().is_empty()))
    }
}

pub struct CognitoIdentity {
    client: Client,
    client_id: String,
    keys: JwksCache,
}

impl CognitoIdentity {
    pub fn new(client: Client, settings: CognitoSettings) -> Result<Self, CognitoConfigError> {
        let rules = TokenRules {
            issuer: settings.issuer,
            audience: settings.client_id.clone(),
        };
        Ok(Self {
            client,
            client_id: settings.client_id,
            keys: JwksCache::new(settings.jwks_url, rules, JWKS_REFETCH_INTERVAL)?,
        })
    }

    /// The user pool the settings name (`--identity cognito`), with its keys fetched if they are
    /// reachable (not fatal: visitors need no keys, and admins' sign-ins fetch them again).
    pub async fn from_settings(
        settings: &crate::cli::BackendArgs,
        resources: &crate::resources::Resources,
    ) -> anyhow::Result<Self> {
        let cognito = CognitoSettings::new(
            settings.cognito_user_pool_id.clone(),
            settings.cognito_client_id.clone(),
            settings.cognito_issuer.clone(),
            CognitoSettings::endpoint_from_env(),
        )?;
        tracing::info!(pool = %cognito.user_pool_id, issuer = %cognito.issuer,
                "Cognito user pool sign-in");
        let client = Client::new(resources.aws_config().await?);
        let identity = Self::new(client, cognito)?;
        if !resources.checks_at_start() {
            return Ok(identity);
        }
        if let Err(err) = identity.load_keys().await {
            tracing::warn!(error = %describe(&err), "the user pool's keys are not reachable yet");
        }
        Ok(identity)
    }

    /// Fetches the pool's keys now, so a wrong pool or endpoint shows at start.
    pub async fn load_keys(&self) -> Result<(), TokenError> {
        self.keys.refresh(None).await.map(|_| ())
    }
}

fn step_from(
    username: &str,
    result: Option<&AuthenticationResultType>,
    challenge: Option<&ChallengeNameType>,
    session: Option<&str>,
) -> Result<SignInStep, SignInError> {
    if let Some(result) = result {
        let id_token = result
            .id_token()
            .ok_or_else(|| SignInError::Unavailable("no IdToken in the answer".into()))?;
        return Ok(SignInStep::SignedIn {
            id_token: id_token.to_owned(),
            expires_in: i64::from(result.expires_in()),
        });
    }
    match (challenge, session) {
        (Some(ChallengeNameType::NewPasswordRequired), Some(session)) => {
            Ok(SignInStep::NewPasswordRequired {
                username: username.to_owned(),
                session: session.to_owned(),
            })
        }
        (Some(other), _) => Err(SignInError::UnsupportedChallenge(other.as_str().to_owned())),
        (None, _) => Err(SignInError::Unavailable(
            "neither tokens nor a challenge in the answer".into(),
        )),
    }
}

#[async_trait::async_trait]
impl IdentityProvider for CognitoIdentity {
    async fn sign_in(&self, username: &str, password: &str) -> Result<SignInStep, SignInError> {
        let answer = self
            .client
            .initiate_auth()
            .client_id(&self.client_id)
            .auth_flow(AuthFlowType::UserPasswordAuth)
            .auth_parameters("USERNAME", username)
            .auth_parameters("PASSWORD", password)
            .send()
            .await;
        let out: InitiateAuthOutput = match answer {
            Ok(out) => out,
            Err(err) => {
                let Some(service) = err.as_service_error() else {
                    return Err(SignInError::Unavailable(err.into()));
                };
                // Unknown user and wrong password are one answer, as in the embedded provider.
                return Err(
                    if service.is_not_authorized_exception()
                        || service.is_user_not_found_exception()
                    {
                        SignInError::IncorrectCredentials
                    } else if service.is_user_not_confirmed_exception() {
                        SignInError::NotConfirmed
                    } else if service.is_password_reset_required_exception() {
                        SignInError::PasswordResetRequired
                    } else {
                        SignInError::Unavailable(err.into())
                    },
                );
            }
        };
        step_from(
            username,
            out.authentication_result(),
            out.challenge_name(),
            out.session(),
        )
    }

    async fn set_new_password(
        &self,
        username: &str,
        session: &str,
        new_password: &str,
    ) -> Result<SignInStep, SignInError> {
        let answer = self
            .client
            .respond_to_auth_challenge()
            .client_id(&self.client_id)
            .challenge_name(ChallengeNameType::NewPasswordRequired)
            .session(session)
            .challenge_responses("USERNAME", username)
            .challenge_responses("NEW_PASSWORD", new_password)
            .send()
            .await;
        let out: RespondToAuthChallengeOutput = match answer {
            Ok(out) => out,
            Err(err) => {
                let Some(service) = err.as_service_error() else {
                    return Err(SignInError::Unavailable(err.into()));
                };
                return Err(if service.is_invalid_password_exception() {
                    SignInError::PasswordRefused(
                        service
                            .message()
                            .unwrap_or("The password does not meet the requirements.")
                            .to_owned(),
                    )
                } else if service.is_not_authorized_exception()
                    || service.is_expired_code_exception()
                    || service.is_code_mismatch_exception()
                    // moto's answer to an unknown session; a wrong client id would have failed
                    // the InitiateAuth before.
                    || service.is_resource_not_found_exception()
                {
                    SignInError::SessionExpired
                } else if service.is_invalid_parameter_exception() {
                    // e.g. the pool requires attributes this form does not ask for.
                    SignInError::UnsupportedChallenge(describe(&err))
                } else {
                    SignInError::Unavailable(err.into())
                });
            }
        };
        step_from(
            username,
            out.authentication_result(),
            out.challenge_name(),
            out.session(),
        )
    }

    /// Ready once the pool's keys are loaded (fetched now if they are not).
    async fn check_ready(&self) -> Result<(), TokenError> {
        match self.keys.current() {
            Some(_) => Ok(()),
            None => self.load_keys().await,
        }
    }

    async fn verify_id_token(&self, token: &str) -> Result<VerifiedIdentity, TokenError> {
        self.keys.verify(token).await
    }
}

/// The pool's public keys, fetched on first use and again (at most once per interval) when a
/// token names a key we do not have: that is how a key rotation arrives. Within the interval, a
/// token naming the very key that was missing at the last fetch is refused; any other unknown
/// key is "try again" (unavailable), so a rotation that lands just after a fetch signs nobody
/// out (as with an OpenID Connect provider, `oidc.rs`).
pub struct JwksCache {
    url: String,
    http: super::https::Client,
    rules: TokenRules,
    refetch_interval: Duration,
    current: RwLock<Option<Arc<IdTokenVerifier>>>,
    /// When we last asked the pool, and the key a token named then that the answer lacked;
    /// held while fetching, so concurrent misses fetch once.
    last_fetch: tokio::sync::Mutex<Option<LastFetch>>,
}

struct LastFetch {
    at: Instant,
    missing: Option<String>,
}

impl JwksCache {
    pub fn new(
        url: String,
        rules: TokenRules,
        refetch_interval: Duration,
    ) -> Result<Self, CognitoConfigError> {
        let http = super::https::client().map_err(CognitoConfigError::Http)?;
        Ok(Self {
            url,
            http,
            rules,
            refetch_interval,
            current: RwLock::new(None),
            last_fetch: tokio::sync::Mutex::new(None),
        })
    }

    fn current(&self) -> Option<Arc<IdTokenVerifier>> {
        self.current
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    pub async fn verify(&self, token: &str) -> Result<VerifiedIdentity, TokenError> {
        let header = read_header(token)?;
        let kid = header
            .kid
            .as_deref()
            .ok_or_else(|| TokenError::Invalid("no kid".into()))?;
        let verifier = match self.current() {
            Some(verifier) if verifier.knows(kid) => verifier,
            _ => self.refresh(Some(kid)).await?,
        };
        verifier.verify_with_header(token, header)
    }

    /// Fetches the keys (for a token naming `kid`, if any) unless that happened within the
    /// interval: then the keys we have are the answer if they know `kid` (someone else fetched)
    /// or `kid` was the key missing at that fetch, and otherwise it is "try again". Without any
    /// keys, a failed fetch is `Unavailable`, not a refusal.
    pub async fn refresh(&self, kid: Option<&str>) -> Result<Arc<IdTokenVerifier>, TokenError> {
        let mut last_fetch = self.last_fetch.lock().await;
        if let (Some(last), Some(verifier)) = (&*last_fetch, self.current()) {
            if last.at.elapsed() < self.refetch_interval {
                let known = kid.is_none_or(|kid| verifier.knows(kid));
                if known || kid == last.missing.as_deref() {
                    return Ok(verifier);
                }
                return Err(TokenError::Unavailable(
                    "the user pool's keys were fetched a moment ago: try again shortly".into(),
                ));
            }
        }
        let fetched = self.fetch().await;
        let at = Instant::now();
        match fetched {
            Ok(jwks) => {
                let verifier = Arc::new(IdTokenVerifier::new(&jwks, self.rules.clone()));
                let missing = kid.filter(|kid| !verifier.knows(kid)).map(str::to_owned);
                *last_fetch = Some(LastFetch { at, missing });
                *self
                    .current
                    .write()
                    .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(verifier.clone());
                Ok(verifier)
            }
            Err(err) => {
                tracing::error!(url = %self.url, error = %err, "cannot fetch the user pool's JWKS");
                *last_fetch = Some(LastFetch { at, missing: None });
                match self.current() {
                    // The keys we have still verify tokens that name one of them.
                    Some(verifier) if kid.is_none_or(|kid| verifier.knows(kid)) => Ok(verifier),
                    current => {
                        if current.is_none() {
                            // Nothing to verify with: let the next request try again.
                            *last_fetch = None;
                        }
                        Err(TokenError::Unavailable(err.into()))
                    }
                }
            }
        }
    }

    async fn fetch(&self) -> Result<Jwks, String> {
        let url = &self.url;
        let request = http::Request::get(url)
            .header(http::header::ACCEPT, "application/json")
            .body(Vec::new())
            .map_err(|e| format!("GET {url}: {e}"))?;
        let response = super::https::send(&self.http, request).await?;
        let status = response.status();
        if !status.is_success() {
            return Err(format!("GET {url}: HTTP {status}"));
        }
        serde_json::from_slice::<Jwks>(response.body())
            .map_err(|e| format!("GET {url}: not a JWKS: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_derive_the_issuer_and_jwks_from_the_pool_id() {
        let settings = CognitoSettings::new(
            Some("eu-west-1_AbC123".into()),
            Some("client".into()),
            None,
            None,
        )
        .unwrap();
        assert_eq!(
            settings.issuer,
            "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbC123"
        );
        assert_eq!(
            settings.jwks_url,
            "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbC123/.well-known/jwks.json"
        );
        let moto = CognitoSettings::new(
            Some("us-east-1_x1".into()),
            Some("client".into()),
            Some("https://issuer.example/".into()),
            Some("http://127.0.0.1:5000/".into()),
        )
        .unwrap();
        assert_eq!(moto.issuer, "https://issuer.example");
        assert_eq!(
            moto.jwks_url,
            "http://127.0.0.1:5000/us-east-1_x1/.well-known/jwks.json"
        );
    }

    #[test]
    fn settings_say_what_is_missing_or_malformed() {
        let missing_pool = CognitoSettings::new(None, Some("c".into()), None, None);
        assert!(matches!(missing_pool, Err(CognitoConfigError::NoUserPool)));
        let missing_client = CognitoSettings::new(Some("us-east-1_a".into()), None, None, None);
        assert!(matches!(missing_client, Err(CognitoConfigError::NoClient)));
        for bad in ["pool", "_abc", "us-east-1_", "us-east-1_a/../b", "US_abc"] {
            assert!(
                matches!(
                    CognitoSettings::new(Some(bad.into()), Some("c".into()), None, None),
                    Err(CognitoConfigError::BadUserPool(_))
                ),
                "{bad}"
            );
        }
    }

    mod jwks_cache {
        use super::super::*;
        use crate::identity::id_token::IdTokenIssuer;
        use app::credentials::Caller;
        use std::sync::{
            atomic::{AtomicUsize, Ordering},
            Mutex,
        };

        /// A JWKS endpoint on loopback whose keys the test can change, counting fetches.
        struct KeyServer {
            url: String,
            served: Arc<Mutex<Jwks>>,
            fetches: Arc<AtomicUsize>,
        }

        async fn key_server(initial: &Jwks) -> KeyServer {
            let served = Arc::new(Mutex::new(initial.clone()));
            let fetches = Arc::new(AtomicUsize::new(0));
            let app = axum::Router::new().route(
                "/pool/.well-known/jwks.json",
                axum::routing::get({
                    let served = served.clone();
                    let fetches = fetches.clone();
                    move || async move {
                        fetches.fetch_add(1, Ordering::SeqCst);
                        axum::Json(served.lock().unwrap().clone())
                    }
                }),
            );
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            tokio::spawn(async move { axum::serve(listener, app).await });
            KeyServer {
                url: format!("http://{addr}/pool/.well-known/jwks.json"),
                served,
                fetches,
            }
        }

        fn rules() -> TokenRules {
            TokenRules {
                issuer: "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_test".into(),
                audience: "client".into(),
            }
        }

        fn signer() -> (tempfile::TempDir, IdTokenIssuer) {
            let dir = tempfile::tempdir().unwrap();
            let signer = IdTokenIssuer::load_or_create(dir.path()).unwrap();
            (dir, signer)
        }

        fn token(signer: &IdTokenIssuer) -> String {
            let caller = Caller {
                sub: "sub-1".into(),
                username: "ada".into(),
                groups: vec!["admin".into()],
            };
            signer
                .issue(&caller, &rules(), time::OffsetDateTime::now_utc())
                .unwrap()
        }

        #[tokio::test]
        async fn keys_are_cached_then_fetched_again_when_a_new_kid_appears() {
            let (_a, old_key) = signer();
            let (_b, new_key) = signer();
            let server = key_server(old_key.jwks()).await;
            let cache = JwksCache::new(server.url.clone(), rules(), Duration::ZERO).unwrap();

            let caller = cache.verify(&token(&old_key)).await.unwrap().caller;
            assert_eq!(caller.username, "ada");
            cache.verify(&token(&old_key)).await.unwrap();
            assert_eq!(server.fetches.load(Ordering::SeqCst), 1, "cached");

            // The pool rotates its key: the first token with the new kid fetches again.
            *server.served.lock().unwrap() = new_key.jwks().clone();
            cache.verify(&token(&new_key)).await.unwrap();
            assert_eq!(server.fetches.load(Ordering::SeqCst), 2);
            // The retired key is gone after the refetch.
            assert!(matches!(
                cache.verify(&token(&old_key)).await,
                Err(TokenError::Invalid(_))
            ));
        }

        /// At most one fetch per interval. Within it, the key that was missing at the last
        /// fetch is refused; another unknown one is "try again" (it may be a rotation that
        /// landed just after the fetch), and is fetched for once the interval is over.
        #[tokio::test]
        async fn unknown_kids_refetch_at_most_once_per_interval_and_a_rotation_signs_nobody_out() {
            const INTERVAL: Duration = Duration::from_secs(2);
            let (_a, pool_key) = signer();
            let (_b, forger) = signer();
            let (_c, rotated) = signer();
            let server = key_server(pool_key.jwks()).await;
            let cache = JwksCache::new(server.url.clone(), rules(), INTERVAL).unwrap();
            cache.verify(&token(&pool_key)).await.unwrap();
            let fetches = || server.fetches.load(Ordering::SeqCst);
            assert!(matches!(
                cache.verify(&token(&forger)).await,
                Err(TokenError::Unavailable(_))
            ));
            assert_eq!(fetches(), 1);

            tokio::time::sleep(INTERVAL + Duration::from_millis(100)).await;
            // The forger's key is looked for once, then refused for the interval.
            for _ in 0..5 {
                assert!(matches!(
                    cache.verify(&token(&forger)).await,
                    Err(TokenError::Invalid(_))
                ));
            }
            assert_eq!(fetches(), 2);
            // The pool rotates right after that fetch: its first tokens are "try again"…
            *server.served.lock().unwrap() = rotated.jwks().clone();
            assert!(matches!(
                cache.verify(&token(&rotated)).await,
                Err(TokenError::Unavailable(_))
            ));
            assert_eq!(fetches(), 2);
            // …and verified once the interval is over.
            tokio::time::sleep(INTERVAL + Duration::from_millis(100)).await;
            assert_eq!(
                cache
                    .verify(&token(&rotated))
                    .await
                    .unwrap()
                    .caller
                    .username,
                "ada"
            );
            assert_eq!(fetches(), 3);
        }

        #[tokio::test]
        async fn an_unreachable_key_endpoint_is_unavailable_not_a_refusal() {
            let (_a, pool_key) = signer();
            let cache = JwksCache::new(
                "http://127.0.0.1:9/pool/.well-known/jwks.json".into(),
                rules(),
                JWKS_REFETCH_INTERVAL,
            )
            .unwrap();
            assert!(matches!(
                cache.verify(&token(&pool_key)).await,
                Err(TokenError::Unavailable(_))
            ));
            // Garbage is refused before any fetch.
            assert!(matches!(
                cache.verify("not a jwt").await,
                Err(TokenError::Invalid(_))
            ));
        }
    }
}
