//! Any OpenID Connect provider as the identity provider (`--identity oidc`): admins sign in on
//! its pages (the authorization code flow with PKCE, run by `provider_sign_in`), and its ID
//! tokens are what `/api/credentials` trades for temporary credentials, as with Cognito.
//!
//! The protocol is the `openidconnect` crate's; what is ours: the HTTP client it uses (bounded,
//! no redirects, HTTPS only off loopback: the discovery document names every other URL), lazy
//! discovery (a cold start fetches nothing), refetching the keys when a token names an unknown
//! one, and which claim makes an admin.

use super::{https, JWKS_REFETCH_INTERVAL};
use app::provider_sign_in::SignInMethod;
use app::{
    credentials::{Caller, ADMIN_GROUP},
    identity::{IdentityProvider, SignInError, SignInStep, TokenError, VerifiedIdentity},
};
use openidconnect::{
    core::{
        CoreAuthDisplay, CoreAuthPrompt, CoreAuthenticationFlow, CoreClaimName, CoreClaimType,
        CoreClientAuthMethod, CoreErrorResponseType, CoreGenderClaim, CoreGrantType,
        CoreIdTokenVerifier, CoreJsonWebKey, CoreJsonWebKeySet, CoreJweContentEncryptionAlgorithm,
        CoreJweKeyManagementAlgorithm, CoreJwsSigningAlgorithm, CoreResponseMode, CoreResponseType,
        CoreRevocableToken, CoreRevocationErrorResponse, CoreSubjectIdentifierType,
        CoreTokenIntrospectionResponse, CoreTokenType,
    },
    AdditionalClaims, AdditionalProviderMetadata, AsyncHttpClient, AuthorizationCode,
    ClaimsVerificationError, Client, ClientId, ClientSecret, CsrfToken, EmptyExtraTokenFields,
    EndSessionUrl, EndpointMaybeSet, EndpointNotSet, EndpointSet, HttpRequest, HttpResponse,
    IdToken, IdTokenClaims, IdTokenFields, IssuerUrl, JsonWebKeySet, JsonWebKeySetUrl,
    LogoutRequest, Nonce, PkceCodeChallenge, PkceCodeVerifier, PostLogoutRedirectUrl,
    ProviderMetadata, RedirectUrl, RequestTokenError, Scope, SignatureVerificationError,
    StandardErrorResponse, StandardTokenResponse, TokenResponse,
};
use serde::{Deserialize, Serialize};
use std::{
    collections::HashMap,
    future::Future,
    pin::Pin,
    sync::{Arc, RwLock},
    time::{Duration, Instant},
};
use time::OffsetDateTime;

/// Clock skew tolerated on `exp` (and `iat`), as for the other providers' tokens.
const LEEWAY: chrono::Duration = chrono::Duration::seconds(super::TOKEN_LEEWAY_SECS as i64);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum OidcConfigError {
    #[error("--identity oidc needs STORIES_OIDC_ISSUER (the provider's issuer URL, e.g. https://login.example.com/)")]
    NoIssuer,
    #[error(
        "--identity oidc needs STORIES_OIDC_CLIENT_ID (this site's client id at the provider)"
    )]
    NoClient,
    #[error("STORIES_OIDC_ISSUER {0:?} must be an https:// URL (plain http:// only on this machine: 127.0.0.1, ::1 or localhost)")]
    InsecureIssuer(String),
    #[error("STORIES_OIDC_ADMIN_VALUE is empty: name the value(s) of STORIES_OIDC_ADMIN_CLAIM that make an admin")]
    NoAdminValue,
    #[error("{0}")]
    Url(String),
    #[error("cannot build the HTTP client for the provider: {0}")]
    Http(String),
}

/// Who the provider is, who we are to it, and who counts as an admin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OidcSettings {
    pub issuer: String,
    pub client_id: String,
    pub client_secret: Option<String>,
    /// Beyond `openid`, which is always asked for.
    pub scopes: Vec<String>,
    pub admin_claim: String,
    pub admin_values: Vec<String>,
    pub provider_name: String,
    /// `<site>/login/callback`.
    pub redirect_url: String,
    /// Where the provider's log-out sends the browser back to (`<site>/login`).
    pub post_logout_url: String,
}

impl OidcSettings {
    pub fn new(args: &crate::cli::OidcArgs, public_url: &str) -> Result<Self, OidcConfigError> {
        let set = |value: &Option<String>| {
            value
                .as_deref()
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
        };
        let issuer = set(&args.oidc_issuer).ok_or(OidcConfigError::NoIssuer)?;
        if !https::is_safe_provider_url(&issuer, true) {
            return Err(OidcConfigError::InsecureIssuer(issuer));
        }
        let client_id = set(&args.oidc_client_id).ok_or(OidcConfigError::NoClient)?;
        let admin_values: Vec<String> = args
            .oidc_admin_value
            .split(',')
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
            .collect();
        if admin_values.is_empty() {
            return Err(OidcConfigError::NoAdminValue);
        }
        let site = public_url.trim_end_matches('/');
        Ok(Self {
            issuer,
            client_id,
            client_secret: set(&args.oidc_client_secret),
            scopes: args
                .oidc_scopes
                .split_whitespace()
                .filter(|scope| *scope != "openid")
                .map(str::to_owned)
                .collect(),
            admin_claim: args.oidc_admin_claim.trim().to_owned(),
            admin_values,
            provider_name: args.oidc_provider_name.trim().to_owned(),
            redirect_url: format!("{site}{}", app::provider_sign_in::CALLBACK),
            post_logout_url: format!("{site}/login"),
        })
    }
}

/// Every claim of the ID token that `openidconnect` does not model itself (e.g. `groups`).
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct OtherClaims {
    #[serde(flatten)]
    rest: HashMap<String, serde_json::Value>,
}
impl AdditionalClaims for OtherClaims {}

/// The discovery document's `end_session_endpoint` (RP-initiated logout).
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct EndSession {
    /// Read leniently: a malformed one means no provider log-out, not a failed discovery.
    #[serde(default)]
    end_session_endpoint: Option<serde_json::Value>,
}
impl AdditionalProviderMetadata for EndSession {}

type Metadata = ProviderMetadata<
    EndSession,
    CoreAuthDisplay,
    CoreClientAuthMethod,
    CoreClaimName,
    CoreClaimType,
    CoreGrantType,
    CoreJweContentEncryptionAlgorithm,
    CoreJweKeyManagementAlgorithm,
    CoreJsonWebKey,
    CoreResponseMode,
    CoreResponseType,
    CoreSubjectIdentifierType,
>;
type ProviderIdToken = IdToken<
    OtherClaims,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJwsSigningAlgorithm,
>;
type ProviderClaims = IdTokenClaims<OtherClaims, CoreGenderClaim>;
type ProviderTokenResponse = StandardTokenResponse<
    IdTokenFields<
        OtherClaims,
        EmptyExtraTokenFields,
        CoreGenderClaim,
        CoreJweContentEncryptionAlgorithm,
        CoreJwsSigningAlgorithm,
    >,
    CoreTokenType,
>;
type ProviderClient = Client<
    OtherClaims,
    CoreAuthDisplay,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJsonWebKey,
    CoreAuthPrompt,
    StandardErrorResponse<CoreErrorResponseType>,
    ProviderTokenResponse,
    CoreTokenIntrospectionResponse,
    CoreRevocableToken,
    CoreRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// What a sign-in at the provider must come back with: kept by the browser (sealed) meanwhile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attempt {
    pub state: String,
    pub nonce: String,
    /// The PKCE code verifier.
    pub verifier: String,
}

/// A finished sign-in: the verified ID token, for the browser's session.
#[derive(Debug)]
pub struct ProviderSignedIn {
    pub id_token: String,
    pub username: String,
}

#[derive(Debug, thiserror::Error)]
pub enum FinishError {
    #[error("the provider refused the code: {0}")]
    CodeRefused(String),
    #[error("the ID token was refused: {0}")]
    TokenRefused(String),
    #[error("the provider is unavailable: {0}")]
    Unavailable(String),
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct HttpError(String);

/// The client `openidconnect` fetches with.
struct ProviderHttp {
    client: https::Client,
    /// Plain HTTP to this machine too: only for an issuer that is itself there (a test's, a
    /// tunnel's). An HTTPS provider's document can't send the code or the client secret to a
    /// port on this machine.
    plain_loopback: bool,
}

impl ProviderHttp {
    fn allows(&self, url: &str) -> bool {
        https::is_safe_provider_url(url, self.plain_loopback)
    }
}

impl<'c> AsyncHttpClient<'c> for ProviderHttp {
    type Error = HttpError;
    type Future = Pin<Box<dyn Future<Output = Result<HttpResponse, HttpError>> + Send + 'c>>;

    fn call(&'c self, request: HttpRequest) -> Self::Future {
        Box::pin(async move {
            let url = request.uri().to_string();
            if !self.allows(&url) {
                return Err(HttpError(refused_url(&url)));
            }
            https::send(&self.client, request).await.map_err(HttpError)
        })
    }
}

fn refused_url(url: &str) -> String {
    format!(
        "refused to fetch {url}: the provider's URLs must be https:// (plain http:// only on \
         this machine, and only for an issuer there)"
    )
}

/// What discovery found: the client, the keys' verifier, and the log-out page.
struct Discovered {
    client: ProviderClient,
    jwks_url: JsonWebKeySetUrl,
    verifier: CoreIdTokenVerifier<'static>,
    end_session: Option<EndSessionUrl>,
    /// The key id that made the last refetch of the keys, if the keys fetched then lacked it
    /// too: asking again for that one within the interval is a refusal, not an outage.
    unknown_after_refetch: Option<String>,
}

/// How long a failed discovery is the answer before it is tried again: a provider that is down
/// must not hold every sign-in behind a 5 s attempt of its own.
const DISCOVERY_RETRY_AFTER: Duration = Duration::from_secs(15);

pub struct OidcIdentity {
    settings: OidcSettings,
    /// The settings' URLs and client id in the protocol's types, checked once at start.
    issuer: IssuerUrl,
    client_id: ClientId,
    redirect: RedirectUrl,
    post_logout: PostLogoutRedirectUrl,
    http: ProviderHttp,
    discovered: RwLock<Option<Arc<Discovered>>>,
    /// When the keys were last fetched again for an unknown key; held while discovering or
    /// fetching, so concurrent callers do it once.
    last_refetch: tokio::sync::Mutex<Option<Instant>>,
    /// The last failed discovery: when, and why.
    failed_discovery: RwLock<Option<(Instant, String)>>,
}

/// Why a token failed.
enum Refusal {
    /// Signed with a key the provider does not publish (looked up again, or just now).
    UnknownKey,
    Expired,
    Invalid(String),
}

impl OidcIdentity {
    pub fn new(settings: OidcSettings) -> Result<Self, OidcConfigError> {
        let issuer = IssuerUrl::new(settings.issuer.clone())
            .map_err(|e| OidcConfigError::Url(format!("STORIES_OIDC_ISSUER: {e}")))?;
        let public_url = |e| OidcConfigError::Url(format!("STORIES_PUBLIC_URL: {e}"));
        let redirect = RedirectUrl::new(settings.redirect_url.clone()).map_err(public_url)?;
        let post_logout =
            PostLogoutRedirectUrl::new(settings.post_logout_url.clone()).map_err(public_url)?;
        let plain_loopback = settings.issuer.starts_with("http://");
        Ok(Self {
            issuer,
            client_id: ClientId::new(settings.client_id.clone()),
            redirect,
            post_logout,
            settings,
            http: ProviderHttp {
                client: https::client().map_err(OidcConfigError::Http)?,
                plain_loopback,
            },
            discovered: RwLock::new(None),
            last_refetch: tokio::sync::Mutex::new(None),
            failed_discovery: RwLock::new(None),
        })
    }

    pub async fn from_settings(
        args: &crate::cli::OidcArgs,
        public_url: &str,
    ) -> anyhow::Result<Self> {
        let settings = OidcSettings::new(args, public_url)?;
        tracing::info!(issuer = %settings.issuer, redirect = %settings.redirect_url,
            "OpenID Connect sign-in");
        Ok(Self::new(settings)?)
    }

    /// Checks ID tokens against `jwks`: asymmetric signatures only (never an HMAC keyed with a
    /// shared client secret), `exp` with the leeway, `iat` not in the future.
    fn verifier_for(&self, jwks: CoreJsonWebKeySet) -> CoreIdTokenVerifier<'static> {
        CoreIdTokenVerifier::new_public_client(self.client_id.clone(), self.issuer.clone(), jwks)
            .set_allowed_algs([
                CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
                CoreJwsSigningAlgorithm::EcdsaP256Sha256,
            ])
            .set_time_fn(|| chrono::Utc::now() - LEEWAY)
            .set_issue_time_verifier_fn(|issued| {
                if issued > chrono::Utc::now() + LEEWAY {
                    Err(format!("issued in the future ({issued})"))
                } else {
                    Ok(())
                }
            })
    }

    fn current(&self) -> Option<Arc<Discovered>> {
        self.discovered
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    fn keep(&self, discovered: Discovered) -> Arc<Discovered> {
        let discovered = Arc::new(discovered);
        *self
            .discovered
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(Arc::clone(&discovered));
        discovered
    }

    /// The provider's configuration: discovered on first use, then kept. A failure is the
    /// answer for a while (`DISCOVERY_RETRY_AFTER`), then discovery is tried again.
    async fn discovered(&self) -> Result<Arc<Discovered>, String> {
        if let Some(discovered) = self.current() {
            return Ok(discovered);
        }
        let recent_failure = || {
            self.failed_discovery
                .read()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .as_ref()
                .filter(|(at, _)| at.elapsed() < DISCOVERY_RETRY_AFTER)
                .map(|(_, why)| why.clone())
        };
        if let Some(why) = recent_failure() {
            return Err(why);
        }
        let _discovering = self.last_refetch.lock().await;
        if let Some(discovered) = self.current() {
            return Ok(discovered);
        }
        if let Some(why) = recent_failure() {
            return Err(why);
        }
        let discovered = self.discover().await;
        if let Err(why) = &discovered {
            *self
                .failed_discovery
                .write()
                .unwrap_or_else(|poisoned| poisoned.into_inner()) =
                Some((Instant::now(), why.clone()));
        }
        discovered
    }

    async fn discover(&self) -> Result<Arc<Discovered>, String> {
        let metadata = Metadata::discover_async(self.issuer.clone(), &self.http)
            .await
            .map_err(|e| {
                format!(
                    "discovery at {}: {}",
                    self.settings.issuer,
                    app::error::describe(&e)
                )
            })?;
        let jwks_url = metadata.jwks_uri().clone();
        // Browsers are sent to these; the others are only ever fetched through `ProviderHttp`.
        let authorization = metadata.authorization_endpoint().url().as_str();
        if !self.http.allows(authorization) {
            return Err(refused_url(authorization));
        }
        let end_session = metadata
            .additional_metadata()
            .end_session_endpoint
            .as_ref()
            .and_then(serde_json::Value::as_str)
            .filter(|url| self.http.allows(url))
            .and_then(|url| EndSessionUrl::new(url.to_owned()).ok());
        let verifier = self.verifier_for(metadata.jwks().clone());
        let client = Client::from_provider_metadata(
            metadata,
            self.client_id.clone(),
            self.settings.client_secret.clone().map(ClientSecret::new),
        )
        .set_redirect_uri(self.redirect.clone());
        Ok(self.keep(Discovered {
            client,
            jwks_url,
            verifier,
            end_session,
            unknown_after_refetch: None,
        }))
    }

    /// Fetches the keys again for a token naming `kid`, unless that happened within the
    /// interval: the verifier to retry with; `Ok(None)` if `kid` was looked up then and missing;
    /// `Err` if the keys can't be fetched now (the token may well be good: an outage, not a
    /// refusal, so nobody is signed out for it).
    async fn refetch_keys(
        &self,
        stale: &Arc<Discovered>,
        kid: Option<&str>,
    ) -> Result<Option<Arc<Discovered>>, String> {
        let mut last_refetch = self.last_refetch.lock().await;
        if let Some(current) = self.current() {
            if !Arc::ptr_eq(&current, stale) {
                // Someone else fetched meanwhile.
                return Ok(Some(current));
            }
        }
        if last_refetch.is_some_and(|at| at.elapsed() < JWKS_REFETCH_INTERVAL) {
            return match (kid, stale.unknown_after_refetch.as_deref()) {
                (Some(kid), Some(missing)) if kid == missing => Ok(None),
                _ => Err("the provider's keys were fetched a moment ago: try again shortly".into()),
            };
        }
        *last_refetch = Some(Instant::now());
        let jwks = JsonWebKeySet::fetch_async(&stale.jwks_url, &self.http)
            .await
            .map_err(|err| {
                format!(
                    "fetching the provider's keys at {}: {}",
                    stale.jwks_url.url(),
                    app::error::describe(&err)
                )
            })?;
        let verifier = self.verifier_for(jwks);
        Ok(Some(self.keep(Discovered {
            client: stale.client.clone(),
            jwks_url: stale.jwks_url.clone(),
            verifier,
            end_session: stale.end_session.clone(),
            unknown_after_refetch: kid.map(str::to_owned),
        })))
    }

    /// Verifies `token` (with the nonce of the sign-in, when it comes from one), fetching the
    /// keys once more if it names a key we don't know.
    async fn verify(
        &self,
        token: &ProviderIdToken,
        nonce: Option<&Nonce>,
    ) -> Result<ProviderClaims, Result<Refusal, String>> {
        let discovered = self.discovered().await.map_err(Err)?;
        let check = |discovered: &Discovered| {
            let claims = match nonce {
                Some(nonce) => token.claims(&discovered.verifier, nonce),
                None => token.claims(&discovered.verifier, |_: Option<&Nonce>| Ok(())),
            };
            claims.cloned().map_err(|err| match err {
                ClaimsVerificationError::SignatureVerification(
                    SignatureVerificationError::NoMatchingKey,
                ) => Refusal::UnknownKey,
                ClaimsVerificationError::Expired(_) => Refusal::Expired,
                other => Refusal::Invalid(other.to_string()),
            })
        };
        let claims = match check(&discovered) {
            Err(Refusal::UnknownKey) => {
                let kid = super::id_token::read_header(&token.to_string())
                    .ok()
                    .and_then(|header| header.kid);
                match self.refetch_keys(&discovered, kid.as_deref()).await {
                    Ok(Some(refreshed)) => check(&refreshed),
                    Ok(None) => Err(Refusal::UnknownKey),
                    Err(outage) => return Err(Err(outage)),
                }
            }
            answer => answer,
        }
        .map_err(Ok)?;
        // The library leaves `azp` alone: a token that names another client as the one it was
        // issued to (an access token for this API, say) is not this site's sign-in.
        if let Some(party) = claims.authorized_party() {
            if party.as_str() != self.client_id.as_str() {
                return Err(Ok(Refusal::Invalid(format!(
                    "issued to another client ({})",
                    party.as_str()
                ))));
            }
        }
        Ok(claims)
    }

    /// Who the verified claims name, and whether they are an admin by the configured claim.
    fn caller(&self, claims: &ProviderClaims) -> Caller {
        let sub = claims.subject().as_str().to_owned();
        let username = username(claims);
        let admin = is_admin(
            &serde_json::to_value(claims).unwrap_or_default(),
            &self.settings.admin_claim,
            &self.settings.admin_values,
        );
        Caller {
            sub,
            username,
            groups: if admin {
                vec![ADMIN_GROUP.to_owned()]
            } else {
                Vec::new()
            },
        }
    }

    /// Where to send the browser to sign in, and what it must come back with.
    pub async fn begin(&self) -> Result<(String, Attempt), String> {
        let discovered = self.discovered().await?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let (url, state, nonce) = discovered
            .client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .add_scopes(self.settings.scopes.iter().cloned().map(Scope::new))
            .set_pkce_challenge(challenge)
            .url();
        Ok((
            url.to_string(),
            Attempt {
                state: state.secret().clone(),
                nonce: nonce.secret().clone(),
                verifier: verifier.secret().clone(),
            },
        ))
    }

    /// Trades the code for tokens and verifies the ID token (nonce included).
    pub async fn finish(
        &self,
        code: &str,
        attempt: &Attempt,
    ) -> Result<ProviderSignedIn, FinishError> {
        let discovered = self.discovered().await.map_err(FinishError::Unavailable)?;
        let request = discovered
            .client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .map_err(|e| {
                FinishError::Unavailable(format!("the provider has no token endpoint: {e}"))
            })?
            .set_pkce_verifier(PkceCodeVerifier::new(attempt.verifier.clone()));
        let tokens = request
            .request_async(&self.http)
            .await
            .map_err(|err| match err {
                RequestTokenError::ServerResponse(answer) => {
                    FinishError::CodeRefused(match answer.error_description() {
                        Some(description) => format!("{}: {description}", answer.error()),
                        None => answer.error().to_string(),
                    })
                }
                RequestTokenError::Request(err) => FinishError::Unavailable(err.to_string()),
                RequestTokenError::Parse(err, _) => {
                    FinishError::TokenRefused(format!("unreadable token answer: {err}"))
                }
                RequestTokenError::Other(reason) => FinishError::Unavailable(reason),
            })?;
        let id_token = tokens
            .id_token()
            .ok_or_else(|| FinishError::TokenRefused("the answer has no ID token".into()))?;
        let nonce = Nonce::new(attempt.nonce.clone());
        let claims = self
            .verify(id_token, Some(&nonce))
            .await
            .map_err(|err| match err {
                Ok(refusal) => FinishError::TokenRefused(refusal_reason(refusal)),
                Err(unavailable) => FinishError::Unavailable(unavailable),
            })?;
        Ok(ProviderSignedIn {
            id_token: id_token.to_string(),
            username: username(&claims),
        })
    }

    /// The provider's end-session page, with this client and the way back to our login page.
    pub async fn end_session_url(&self) -> Option<String> {
        let discovered = self.discovered().await.ok()?;
        let endpoint = discovered.end_session.clone()?;
        Some(
            LogoutRequest::from(endpoint)
                .set_client_id(self.client_id.clone())
                .set_post_logout_redirect_uri(self.post_logout.clone())
                .http_get_url()
                .to_string(),
        )
    }
}

/// The name a user goes by: `preferred_username`, else `email`, else the subject.
fn username(claims: &ProviderClaims) -> String {
    claims
        .preferred_username()
        .map(|name| name.as_str().to_owned())
        .or_else(|| claims.email().map(|email| email.as_str().to_owned()))
        .unwrap_or_else(|| claims.subject().as_str().to_owned())
}

fn refusal_reason(refusal: Refusal) -> String {
    match refusal {
        Refusal::UnknownKey => "signed with a key the provider does not publish".into(),
        Refusal::Expired => "expired".into(),
        Refusal::Invalid(reason) => reason,
    }
}

/// Whether `claims[claim]` (a string, or a list of strings) is one of `values`. An email address
/// counts only once the provider has verified it: otherwise anyone could claim an admin's.
fn is_admin(claims: &serde_json::Value, claim: &str, values: &[String]) -> bool {
    if claim == "email" && claims.get("email_verified") != Some(&serde_json::Value::Bool(true)) {
        return false;
    }
    let matches = |value: &serde_json::Value| {
        value
            .as_str()
            .is_some_and(|value| values.iter().any(|wanted| wanted == value))
    };
    match claims.get(claim) {
        Some(serde_json::Value::Array(items)) => items.iter().any(matches),
        Some(value) => matches(value),
        None => false,
    }
}

#[async_trait::async_trait]
impl IdentityProvider for OidcIdentity {
    async fn sign_in(&self, _username: &str, _password: &str) -> Result<SignInStep, SignInError> {
        Err(SignInError::SignsInElsewhere(
            self.settings.provider_name.clone(),
        ))
    }

    async fn set_new_password(
        &self,
        _username: &str,
        _session: &str,
        _new_password: &str,
    ) -> Result<SignInStep, SignInError> {
        Err(SignInError::SignsInElsewhere(
            self.settings.provider_name.clone(),
        ))
    }

    async fn verify_id_token(&self, token: &str) -> Result<VerifiedIdentity, TokenError> {
        let parsed: ProviderIdToken = token
            .parse()
            .map_err(|e| TokenError::Invalid(format!("not an ID token: {e}")))?;
        let claims = match self.verify(&parsed, None).await {
            // Every sign-in of this site asks for a nonce; access tokens have none.
            Ok(claims) if claims.nonce().is_none() => {
                return Err(TokenError::Invalid(
                    "no nonce: not the ID token of a sign-in".into(),
                ))
            }
            // The leeway is for the sign-in; credentials minted now must not be expired already.
            Ok(claims) if claims.expiration() <= chrono::Utc::now() => {
                return Err(TokenError::Expired)
            }
            Ok(claims) => claims,
            Err(Ok(Refusal::Expired)) => return Err(TokenError::Expired),
            Err(Ok(refusal)) => return Err(TokenError::Invalid(refusal_reason(refusal))),
            Err(Err(unavailable)) => return Err(TokenError::Unavailable(unavailable.into())),
        };
        let time = |at: chrono::DateTime<chrono::Utc>| {
            OffsetDateTime::from_unix_timestamp(at.timestamp())
                .map_err(|e| TokenError::Invalid(e.to_string()))
        };
        Ok(VerifiedIdentity {
            caller: self.caller(&claims),
            authenticated_at: time(claims.auth_time().unwrap_or_else(|| claims.issue_time()))?,
            expires_at: time(claims.expiration())?,
        })
    }

    /// Ready once the provider's configuration and keys are at hand.
    async fn check_ready(&self) -> Result<(), TokenError> {
        self.discovered()
            .await
            .map(|_| ())
            .map_err(|e| TokenError::Unavailable(e.into()))
    }

    fn sign_in_method(&self) -> SignInMethod {
        SignInMethod::Provider {
            name: self.settings.provider_name.clone(),
        }
    }

    async fn offers_provider_sign_out(&self) -> bool {
        self.end_session_url().await.is_some()
    }
}

#[cfg(test)]
impl OidcIdentity {
    pub fn for_tests() -> Self {
        let args = crate::cli::OidcArgs {
            oidc_issuer: Some("https://login.example.com".into()),
            oidc_client_id: Some("stories".into()),
            oidc_scopes: "openid email profile".into(),
            oidc_admin_claim: "groups".into(),
            oidc_admin_value: "admin".into(),
            oidc_provider_name: "Example".into(),
            ..Default::default()
        };
        Self::new(OidcSettings::new(&args, "https://stories.example.com").unwrap()).unwrap()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn args(issuer: &str) -> crate::cli::OidcArgs {
        crate::cli::OidcArgs {
            oidc_issuer: Some(issuer.into()),
            oidc_client_id: Some(" stories ".into()),
            oidc_scopes: "openid email profile".into(),
            oidc_admin_claim: "groups".into(),
            oidc_admin_value: "admin, editors".into(),
            oidc_provider_name: "Example".into(),
            ..Default::default()
        }
    }

    #[test]
    fn settings_derive_the_redirect_from_the_public_url() {
        let settings = OidcSettings::new(
            &args("https://login.example.com/"),
            "https://news.example.com/",
        )
        .unwrap();
        assert_eq!(
            settings.redirect_url,
            "https://news.example.com/login/callback"
        );
        assert_eq!(settings.post_logout_url, "https://news.example.com/login");
        assert_eq!(settings.client_id, "stories");
        assert_eq!(settings.scopes, ["email", "profile"]);
        assert_eq!(settings.admin_values, ["admin", "editors"]);
        assert_eq!(settings.client_secret, None);
    }

    #[test]
    fn plain_http_issuers_are_refused_off_loopback() {
        assert_eq!(
            OidcSettings::new(&args("http://login.example.com"), "https://x.example").unwrap_err(),
            OidcConfigError::InsecureIssuer("http://login.example.com".into())
        );
        assert!(OidcSettings::new(&args("http://127.0.0.1:9000"), "http://127.0.0.1:3000").is_ok());
        let mut missing = args("https://login.example.com");
        missing.oidc_client_id = None;
        assert_eq!(
            OidcSettings::new(&missing, "https://x.example").unwrap_err(),
            OidcConfigError::NoClient
        );
        missing.oidc_issuer = None;
        assert_eq!(
            OidcSettings::new(&missing, "https://x.example").unwrap_err(),
            OidcConfigError::NoIssuer
        );
    }

    #[test]
    fn the_admin_claim_may_be_a_string_or_a_list_and_emails_must_be_verified() {
        let admins = ["admin".to_owned(), "ada@example.com".to_owned()];
        assert!(is_admin(
            &json!({"groups": ["staff", "admin"]}),
            "groups",
            &admins
        ));
        assert!(is_admin(&json!({"role": "admin"}), "role", &admins));
        assert!(!is_admin(
            &json!({"groups": ["administrators"]}),
            "groups",
            &admins
        ));
        assert!(!is_admin(&json!({"groups": "admins"}), "groups", &admins));
        assert!(!is_admin(&json!({"groups": [1, true]}), "groups", &admins));
        assert!(!is_admin(&json!({}), "groups", &admins));
        assert!(is_admin(
            &json!({"email": "ada@example.com", "email_verified": true}),
            "email",
            &admins
        ));
        assert!(!is_admin(
            &json!({"email": "ada@example.com"}),
            "email",
            &admins
        ));
        assert!(!is_admin(
            &json!({"email": "ada@example.com", "email_verified": false}),
            "email",
            &admins
        ));
    }

    #[tokio::test]
    async fn a_provider_url_over_plain_http_off_loopback_is_never_fetched() {
        let http = ProviderHttp {
            client: https::client().unwrap(),
            plain_loopback: true,
        };
        let request = http::Request::get("http://169.254.169.254/latest/meta-data")
            .body(Vec::new())
            .unwrap();
        let err = http.call(request).await.unwrap_err();
        assert!(err.to_string().contains("must be https://"), "{err}");
    }
}
