//! Builds the application (stores, routes, layers) and binds its listener.

use crate::{
    api_errors,
    cli::ServeArgs,
    content, http_stack,
    identity::{
        embedded::EmbeddedIdentity,
        id_token::{IdTokenSigner, Jwks, TokenRules},
        users::UserDirectory,
    },
    signed_api::{self, SignedApi},
    signing_key,
    sigv4::Verifier,
    store::SqliteStore,
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
}

impl Settings {
    /// Leptos settings from the standard `LEPTOS_*` variables (cargo-leptos sets them).
    pub fn from_env(data_dir: PathBuf, serve: ServeArgs) -> anyhow::Result<Self> {
        let leptos = get_configuration(None)
            .context("reading the LEPTOS_* settings")?
            .leptos_options;
        Ok(Self {
            data_dir,
            leptos,
            serve,
        })
    }
}

/// What every request handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub leptos: LeptosOptions,
    pub store: SharedStore,
    pub catalog: SharedCatalog,
    pub identity: SharedIdentity,
    pub minter: Arc<CredentialMinter>,
    pub throttle: Arc<LoginThrottle>,
    pub region: SigningRegion,
    pub jwks: Arc<Jwks>,
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
        let store = SqliteStore::open(data_dir)?;
        tracing::info!(database = %store.path().display(), "embedded store ready");
        let catalog = content::embedded_catalog().context("loading the stories")?;
        let key = signing_key::load_or_create(settings.serve.signing_key.as_deref(), data_dir)?;
        let signer = IdTokenSigner::load_or_create(data_dir)?;
        let rules = TokenRules {
            issuer: EMBEDDED_ISSUER.into(),
            audience: EMBEDDED_CLIENT_ID.into(),
        };
        let identity = EmbeddedIdentity::new(UserDirectory::new(store.clone()), signer, rules)
            .map_err(|e| anyhow::anyhow!("starting the identity provider: {e}"))?;
        let state = AppState {
            leptos: settings.leptos.clone(),
            store: Arc::new(store),
            catalog: Arc::new(catalog),
            jwks: Arc::new(identity.jwks().clone()),
            identity: Arc::new(identity),
            minter: Arc::new(CredentialMinter::new(key)),
            throttle: Arc::new(LoginThrottle::new(Limits::default())),
            region: SigningRegion(settings.serve.region.clone()),
        };
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
        axum::serve(self.listener, service)
            .with_graceful_shutdown(shutdown)
            .await
            .context("serving HTTP")
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
    let app = Router::new()
        .route("/healthz", get(healthz))
        .route("/.well-known/jwks.json", get(jwks))
        .route("/post/{slug}", get(add_trailing_slash))
        .leptos_routes_with_context(&state, routes, context.clone(), shell)
        .fallback(leptos_axum::file_and_error_handler_with_context::<
            AppState,
            _,
        >(context, app::shell))
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

/// The public keys ID tokens are signed with (what Cognito serves per user pool).
async fn jwks(State(state): State<AppState>) -> axum::Json<Jwks> {
    axum::Json((*state.jwks).clone())
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
