//! Builds the application (stores, routes, layers) and binds its listener.

use crate::{
    api_errors, aws,
    cli::{BackendArgs, IdentityKind, ServeArgs, StoreKind},
    content, http_stack,
    identity::{
        cognito::{CognitoIdentity, CognitoSettings},
        embedded::EmbeddedIdentity,
        id_token::{IdTokenSigner, Jwks, TokenRules},
        users::UserDirectory,
    },
    page_cache::{self, PageCache},
    signed_api::{self, SignedApi},
    signing_key,
    sigv4::Verifier,
    store::{DynamoDbStore, SqliteStore},
    subscribe_api,
};
use anyhow::Context;
use app::{
    admin::SIGNING_SERVICE,
    auth::SigningRegion,
    credentials::CredentialMinter,
    identity::SharedIdentity,
    login_throttle::{Limits, LoginThrottle},
    store::SharedStore,
    stories::catalog::SharedCatalog,
    App,
};
use axum::{
    extract::State,
    middleware,
    response::{IntoResponse, Redirect},
    routing::get,
    serve::ListenerExt,
    Router,
};
use http::StatusCode;
use leptos::prelude::*;
use leptos_axum::{generate_route_list, LeptosRoutes};
use std::{future::Future, net::SocketAddr, path::PathBuf, sync::Arc};
use tokio::net::TcpListener;

/// The embedded identity provider's token issuer and client id (audience).
pub const EMBEDDED_ISSUER: &str = "serverless-stories";
pub const EMBEDDED_CLIENT_ID: &str = "serverless-stories-web";

pub struct Settings {
    pub data_dir: PathBuf,
    pub leptos: LeptosOptions,
    pub serve: ServeArgs,
    pub backends: BackendArgs,
}

impl Settings {
    /// Leptos settings from the standard `LEPTOS_*` variables (cargo-leptos sets them).
    pub fn from_env(
        data_dir: PathBuf,
        serve: ServeArgs,
        backends: BackendArgs,
    ) -> anyhow::Result<Self> {
        let leptos = get_configuration(None)
            .context("reading the LEPTOS_* settings")?
            .leptos_options;
        Ok(Self {
            data_dir,
            leptos,
            serve,
            backends,
        })
    }
}

/// What every request handler can reach. Cloned for every server-function call (leptos_axum
/// provides it as context), so it is one `Arc`.
#[derive(Clone)]
pub struct AppState(Arc<Services>);

impl std::ops::Deref for AppState {
    type Target = Services;
    fn deref(&self) -> &Services {
        &self.0
    }
}

pub struct Services {
    pub leptos: LeptosOptions,
    pub store: SharedStore,
    pub catalog: SharedCatalog,
    pub identity: SharedIdentity,
    pub minter: Arc<CredentialMinter>,
    pub throttle: Arc<LoginThrottle>,
    pub region: SigningRegion,
    /// The embedded provider's public keys; `None` when Cognito issues the tokens.
    pub jwks: Option<Arc<Jwks>>,
    /// Serve `POST /bench/noop` for `scripts/bench`.
    pub bench_baselines: bool,
}

impl axum::extract::FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos.clone()
    }
}

pub struct Application {
    listener: TcpListener,
    router: Router,
}

impl Application {
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let data_dir = &settings.data_dir;
        let backends = &settings.backends;
        // Each is set up once, and only if a backend needs it.
        let sdk = tokio::sync::OnceCell::new();
        let aws_config = || sdk.get_or_try_init(aws::load);
        let db = tokio::sync::OnceCell::new();
        let embedded_db = || db.get_or_try_init(|| async { SqliteStore::open(data_dir) });
        let store: SharedStore = match backends.store {
            StoreKind::Dynamodb => {
                let client = aws_sdk_dynamodb::Client::new(aws_config().await?);
                let store = DynamoDbStore::connect(client, &backends.table).await?;
                tracing::info!(table = %store.table(), "DynamoDB store ready");
                Arc::new(store)
            }
            StoreKind::Embedded => {
                let db = embedded_db().await?;
                tracing::info!(database = %db.path().display(), "embedded store ready");
                Arc::new(db.clone())
            }
        };
        let catalog = content::embedded_catalog().context("loading the stories")?;
        warn_if_site_not_split(&settings.leptos);
        if backends.store == StoreKind::Dynamodb && settings.serve.signing_key.is_none() {
            tracing::warn!(
                "STORIES_SIGNING_KEY is not set: credentials from this instance are accepted \
                 only by instances sharing its data directory"
            );
        }
        let key = signing_key::load_or_create(settings.serve.signing_key.as_deref(), data_dir)?;
        let (identity, jwks): (SharedIdentity, Option<Arc<Jwks>>) = match backends.identity {
            IdentityKind::Cognito => {
                let cognito = CognitoSettings::new(
                    backends.cognito_user_pool_id.clone(),
                    backends.cognito_client_id.clone(),
                    backends.cognito_issuer.clone(),
                    CognitoSettings::endpoint_from_env(),
                )?;
                tracing::info!(pool = %cognito.user_pool_id, issuer = %cognito.issuer,
                        "Cognito user pool sign-in");
                let client = aws_sdk_cognitoidentityprovider::Client::new(aws_config().await?);
                let identity = CognitoIdentity::new(client, cognito)?;
                // Not fatal: visitors need no keys, and admins' sign-ins fetch them again.
                if let Err(err) = identity.load_keys().await {
                    tracing::warn!(error = %err, "the user pool's keys are not reachable yet");
                }
                (Arc::new(identity), None)
            }
            IdentityKind::Embedded => {
                let db = embedded_db().await?;
                let signer = IdTokenSigner::load_or_create(data_dir)?;
                let rules = TokenRules {
                    issuer: EMBEDDED_ISSUER.into(),
                    audience: EMBEDDED_CLIENT_ID.into(),
                };
                let identity = EmbeddedIdentity::new(UserDirectory::new(db.clone()), signer, rules);
                let jwks = Arc::new(identity.jwks().clone());
                (Arc::new(identity), Some(jwks))
            }
        };
        let state = AppState(Arc::new(Services {
            leptos: settings.leptos.clone(),
            store,
            catalog: Arc::new(catalog),
            jwks,
            identity,
            minter: Arc::new(CredentialMinter::new(key)),
            throttle: Arc::new(LoginThrottle::new(Limits::default())),
            region: SigningRegion(settings.serve.region.clone()),
            bench_baselines: settings.serve.bench_baselines,
        }));
        let listener = TcpListener::bind(settings.leptos.site_addr)
            .await
            .with_context(|| format!("cannot listen on {}", settings.leptos.site_addr))?;
        Ok(Self {
            listener,
            router: router(state),
        })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let service = self
            .router
            .into_make_service_with_connect_info::<SocketAddr>();
        // Without TCP_NODELAY a response written in two parts (headers, then a streamed file
        // body) waits for the client's delayed ACK: 40 ms per static file on Linux.
        let listener = self.listener.tap_io(|stream| {
            if let Err(err) = stream.set_nodelay(true) {
                tracing::debug!(error = %err, "cannot set TCP_NODELAY");
            }
        });
        axum::serve(listener, service)
            .with_graceful_shutdown(shutdown)
            .await
            .context("serving HTTP")
    }
}

/// The login and admin islands are lazy: their wasm is split off by `cargo leptos build --split`.
/// A site built without `--split` serves pages whose scripts cannot load, which is easy to miss
/// because every page still renders.
fn warn_if_site_not_split(options: &LeptosOptions) {
    let pkg = std::path::Path::new(&*options.site_root).join(&*options.site_pkg_dir);
    if pkg.is_dir() && !pkg.join("__wasm_split_manifest.json").exists() {
        tracing::warn!(
            site = %pkg.display(),
            "the site was built without `--split`: scripts will fail to load in the browser; \
             build it with `cargo leptos build --split`"
        );
    }
}

pub fn router(state: AppState) -> Router {
    let routes = generate_route_list(App);
    let context = {
        let state = state.clone();
        move || {
            provide_context(state.store.clone());
            provide_context(state.catalog.clone());
            provide_context(state.identity.clone());
            provide_context(state.minter.clone());
            provide_context(state.throttle.clone());
            provide_context(state.region.clone());
        }
    };
    let shell = {
        let options = state.leptos.clone();
        move || app::shell(options.clone())
    };
    let signed_api = Arc::new(SignedApi {
        verifier: Verifier::new(state.region.0.clone(), SIGNING_SERVICE),
        minter: state.minter.clone(),
    });
    let mut app = Router::new();
    if state.bench_baselines {
        // The cheapest POST through the same stack: what a subscribe's cost is compared with.
        app = app.route("/bench/noop", axum::routing::post(|| async { "ok" }));
    }
    let app = app
        .route("/healthz", get(healthz))
        .route(
            app::subscribe::PATH,
            axum::routing::post(subscribe_api::subscribe),
        )
        .route("/.well-known/jwks.json", get(jwks))
        .route("/post/{slug}", get(add_trailing_slash))
        .leptos_routes_with_context(&state, routes, context.clone(), shell)
        .fallback(leptos_axum::file_and_error_handler_with_context::<
            AppState,
            _,
        >(context, app::shell))
        .layer(middleware::from_fn_with_state(
            Arc::new(PageCache::default()),
            page_cache::serve,
        ))
        .layer(middleware::from_fn(api_errors::apply_api_error_status))
        .layer(middleware::from_fn_with_state(
            signed_api,
            signed_api::require_signature,
        ))
        .with_state(state);
    http_stack::layer(app)
}

async fn healthz(State(state): State<AppState>) -> impl IntoResponse {
    match state.store.check().await {
        Ok(()) => (StatusCode::OK, "ok"),
        Err(err) => {
            tracing::error!(error = %err, "health check: store failing");
            (StatusCode::SERVICE_UNAVAILABLE, "store unavailable")
        }
    }
}

/// The public keys ID tokens are signed with (what Cognito serves per user pool). With Cognito,
/// the pool publishes its own.
async fn jwks(State(state): State<AppState>) -> axum::response::Response {
    match &state.jwks {
        Some(jwks) => axum::Json((**jwks).clone()).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// Story URLs end in a slash (as in the original site); send the slash-less form there.
async fn add_trailing_slash(uri: http::Uri) -> Redirect {
    // The path arrives percent-encoded already: append to it as is.
    let query = uri.query().map(|q| format!("?{q}")).unwrap_or_default();
    Redirect::permanent(&format!("{}/{query}", uri.path()))
}

/// Resolves on Ctrl-C or SIGTERM, so in-flight requests finish before the process exits.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(err) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %err, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(err) => {
                tracing::error!(error = %err, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down");
}
