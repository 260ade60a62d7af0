//! A fake OpenID Connect provider on a loopback port, for black-box tests of `--identity oidc`:
//! discovery, JWKS, an authorization endpoint that approves at once (as the configured user),
//! and a token endpoint that checks what a real one checks (the code is ours, unused, for this
//! client and redirect URI; the PKCE verifier matches its S256 challenge). The tokens it issues
//! can be made wrong on purpose (another audience, expired, an unpublished key, `alg: none`).
//! The browser journeys use a real provider (`end2end/oidc-provider`).

use axum::{
    extract::{Form, Query, State},
    http::StatusCode,
    response::{IntoResponse, Redirect, Response},
    routing::{get, post},
    Json, Router,
};
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::Deserialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::{
    collections::HashMap,
    path::PathBuf,
    sync::{Arc, Mutex},
};

pub const CLIENT_ID: &str = "stories";

/// Which key signs the ID tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signer {
    Rsa,
    Ec,
    /// A key the JWKS never lists.
    Unpublished,
    /// `alg: none`, no signature.
    None,
}

/// What the next ID tokens look like.
#[derive(Debug, Clone)]
pub struct TokenShape {
    pub subject: String,
    pub email: String,
    pub email_verified: bool,
    pub groups: Vec<String>,
    /// `None`: the client id.
    pub audience: Option<String>,
    /// Seconds from now (negative: already expired).
    pub expires_in: i64,
    pub signer: Signer,
    /// `None`: the nonce of the authorization request.
    pub nonce: Option<String>,
    /// `None`: this provider's issuer.
    pub issuer: Option<String>,
    /// The `azp` claim (the client the token was issued to), if any.
    pub authorized_party: Option<String>,
}

impl TokenShape {
    pub fn admin() -> Self {
        Self {
            subject: "admin-1".into(),
            email: "ada@example.test".into(),
            email_verified: true,
            groups: vec!["admin".into(), "staff".into()],
            audience: None,
            expires_in: 3600,
            signer: Signer::Rsa,
            nonce: None,
            issuer: None,
            authorized_party: None,
        }
    }

    pub fn reader() -> Self {
        Self {
            subject: "reader-1".into(),
            email: "bob@example.test".into(),
            groups: vec!["readers".into()],
            ..Self::admin()
        }
    }
}

struct Grant {
    client_id: String,
    redirect_uri: String,
    challenge: String,
    nonce: Option<String>,
    used: bool,
}

pub struct Control {
    pub shape: TokenShape,
    /// Publish an `end_session_endpoint`.
    pub end_session: bool,
    /// Point the discovery document's token endpoint here instead of at this provider.
    pub token_endpoint: Option<String>,
    pub jwks_fetches: usize,
    /// The provider rotated its keys: the JWKS lists the once-unpublished key too.
    pub rotated: bool,
    grants: HashMap<String, Grant>,
    next_code: u64,
}

#[derive(Clone)]
struct Provider {
    issuer: String,
    control: Arc<Mutex<Control>>,
}

pub struct FakeProvider {
    pub issuer: String,
    pub control: Arc<Mutex<Control>>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for FakeProvider {
    fn drop(&mut self) {
        self.server.abort();
    }
}

fn key_file(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("tests/data/oidc/{name}"))
}

impl FakeProvider {
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let issuer = format!("http://{}", listener.local_addr().unwrap());
        let control = Arc::new(Mutex::new(Control {
            shape: TokenShape::admin(),
            end_session: true,
            token_endpoint: None,
            jwks_fetches: 0,
            rotated: false,
            grants: HashMap::new(),
            next_code: 1,
        }));
        let provider = Provider {
            issuer: issuer.clone(),
            control: control.clone(),
        };
        let app = Router::new()
            .route("/.well-known/openid-configuration", get(discovery))
            .route("/jwks", get(jwks))
            .route("/authorize", get(authorize))
            .route("/token", post(token))
            .with_state(provider);
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Self {
            issuer,
            control,
            server,
        }
    }

    /// The server settings that sign admins in here.
    pub fn settings(&self) -> Vec<(String, String)> {
        [
            ("STORIES_IDENTITY", "oidc"),
            ("STORIES_OIDC_ISSUER", self.issuer.as_str()),
            ("STORIES_OIDC_CLIENT_ID", CLIENT_ID),
            ("STORIES_OIDC_PROVIDER_NAME", "Example ID"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
    }

    pub fn shape(&self, shape: TokenShape) {
        self.control.lock().unwrap().shape = shape;
    }

    /// An ID token as the token endpoint would issue it now (with `nonce`).
    pub fn id_token(&self, nonce: Option<&str>) -> String {
        let shape = self.control.lock().unwrap().shape.clone();
        id_token(&self.issuer, &shape, nonce)
    }
}

pub fn id_token(issuer: &str, shape: &TokenShape, nonce: Option<&str>) -> String {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let mut claims = json!({
        "iss": shape.issuer.as_deref().unwrap_or(issuer),
        "sub": shape.subject,
        "aud": shape.audience.as_deref().unwrap_or(CLIENT_ID),
        "iat": now - 10,
        "auth_time": now - 10,
        "exp": now + shape.expires_in,
        "email": shape.email,
        "email_verified": shape.email_verified,
        "preferred_username": shape.email,
        "groups": shape.groups,
    });
    if let Some(nonce) = shape.nonce.as_deref().or(nonce) {
        claims["nonce"] = json!(nonce);
    }
    if let Some(party) = &shape.authorized_party {
        claims["azp"] = json!(party);
    }
    if let Some(party) = &shape.authorized_party {
        claims["azp"] = json!(party);
    }
    let sign = |alg, kid: &str, key: EncodingKey| {
        let mut header = Header::new(alg);
        header.kid = Some(kid.to_owned());
        jsonwebtoken::encode(&header, &claims, &key).unwrap()
    };
    let pem = |name| std::fs::read(key_file(name)).unwrap();
    match shape.signer {
        Signer::Rsa => sign(
            Algorithm::RS256,
            "rsa-published",
            EncodingKey::from_rsa_pem(&pem("rsa-published.pem")).unwrap(),
        ),
        Signer::Unpublished => sign(
            Algorithm::RS256,
            "rsa-unpublished",
            EncodingKey::from_rsa_pem(&pem("rsa-unpublished.pem")).unwrap(),
        ),
        Signer::Ec => sign(
            Algorithm::ES256,
            "ec-published",
            EncodingKey::from_ec_pem(&pem("ec-published.pem")).unwrap(),
        ),
        Signer::None => {
            let part = |value: &Value| URL_SAFE_NO_PAD.encode(value.to_string());
            format!(
                "{}.{}.",
                part(&json!({"alg": "none", "typ": "JWT", "kid": "rsa-published"})),
                part(&claims)
            )
        }
    }
}

async fn discovery(State(provider): State<Provider>) -> Json<Value> {
    let control = provider.control.lock().unwrap();
    let issuer = &provider.issuer;
    let mut document = json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/authorize"),
        "token_endpoint": control.token_endpoint.clone().unwrap_or_else(|| format!("{issuer}/token")),
        "jwks_uri": format!("{issuer}/jwks"),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256", "ES256"],
        "code_challenge_methods_supported": ["S256"],
        "scopes_supported": ["openid", "email", "profile"],
        "token_endpoint_auth_methods_supported": ["none", "client_secret_basic"],
    });
    if control.end_session {
        document["end_session_endpoint"] = json!(format!("{issuer}/logout"));
    }
    Json(document)
}

async fn jwks(State(provider): State<Provider>) -> Json<Value> {
    let mut control = provider.control.lock().unwrap();
    control.jwks_fetches += 1;
    let read = |name| -> Value {
        serde_json::from_str(&std::fs::read_to_string(key_file(name)).unwrap()).unwrap()
    };
    let mut jwks = read("jwks.json");
    if control.rotated {
        let new = read("rsa-unpublished.jwks.json")["keys"][0].clone();
        jwks["keys"].as_array_mut().unwrap().push(new);
    }
    Json(jwks)
}

#[derive(Deserialize)]
struct AuthorizeQuery {
    response_type: String,
    client_id: String,
    redirect_uri: String,
    scope: String,
    state: String,
    nonce: Option<String>,
    code_challenge: Option<String>,
    code_challenge_method: Option<String>,
}

async fn authorize(State(provider): State<Provider>, Query(q): Query<AuthorizeQuery>) -> Response {
    let refuse = |error: &str| {
        Redirect::to(&format!(
            "{}?error={error}&state={}",
            q.redirect_uri, q.state
        ))
        .into_response()
    };
    if q.response_type != "code" || !q.scope.split(' ').any(|s| s == "openid") {
        return refuse("invalid_request");
    }
    let challenge = match (
        q.code_challenge.as_deref(),
        q.code_challenge_method.as_deref(),
    ) {
        (Some(challenge), Some("S256")) => challenge.to_owned(),
        _ => return refuse("invalid_request"),
    };
    let mut control = provider.control.lock().unwrap();
    let code = format!("code-{}", control.next_code);
    control.next_code += 1;
    control.grants.insert(
        code.clone(),
        Grant {
            client_id: q.client_id.clone(),
            redirect_uri: q.redirect_uri.clone(),
            challenge,
            nonce: q.nonce.clone(),
            used: false,
        },
    );
    let state: String = form_urlencoded::byte_serialize(q.state.as_bytes()).collect();
    Redirect::to(&format!("{}?code={code}&state={state}", q.redirect_uri)).into_response()
}

#[derive(Deserialize)]
struct TokenForm {
    grant_type: String,
    code: String,
    redirect_uri: String,
    client_id: Option<String>,
    code_verifier: Option<String>,
}

async fn token(State(provider): State<Provider>, Form(form): Form<TokenForm>) -> Response {
    let refuse =
        |error: &str| (StatusCode::BAD_REQUEST, Json(json!({ "error": error }))).into_response();
    let mut control = provider.control.lock().unwrap();
    let shape = control.shape.clone();
    let Some(grant) = control.grants.get_mut(&form.code) else {
        return refuse("invalid_grant");
    };
    let verifier_matches = form.code_verifier.as_deref().is_some_and(|verifier| {
        URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes())) == grant.challenge
    });
    if form.grant_type != "authorization_code"
        || grant.used
        || form.client_id.as_deref() != Some(grant.client_id.as_str())
        || form.redirect_uri != grant.redirect_uri
        || !verifier_matches
    {
        return refuse("invalid_grant");
    }
    grant.used = true;
    let nonce = grant.nonce.clone();
    let id_token = id_token(&provider.issuer, &shape, nonce.as_deref());
    Json(json!({
        "access_token": "opaque-access-token",
        "token_type": "Bearer",
        "expires_in": 3600,
        "id_token": id_token,
    }))
    .into_response()
}
