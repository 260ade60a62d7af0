//! Builds the application from its settings (adapters, routes, layers) and binds its listener.

use crate::{
    api_errors,
    cli::{BackendArgs, ListArgs, MailArgs, ServeArgs, StoreKind},
    client_address::{self, TrustedProxies},
    content, cors, credential_key, csp,
    http_server::{self, ConnectionLimits},
    http_stack, identity, issue_api,
    mail::Mailer,
    mail_links_api,
    newsletter::Newsletter,
    page_cache::{self, PageCache},
    provider_sign_in::ProviderSignIn,
    resources::Resources,
    signed_api::{self, SignedApi},
    sigv4_verifier::Verifier,
    state::{AppState, ServerState},
    store, subscribe_api,
    subscribe_limit::SubscribeLimit,
    subscriptions::{ListSettings, Subscriptions},
};
use anyhow::Context;
use app::{
    admin::SIGV4_SERVICE,
    auth::ApiRegion,
    credentials::CredentialMinter,
    login_throttle::{Limits, LoginThrottle},
    services::Services,
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
use std::{future::Future, net::SocketAddr, path::PathBuf, sync::Arc, time::Duration};
use tokio::net::TcpListener;

pub struct Settings {
    pub data_dir: PathBuf,
    pub leptos: LeptosOptions,
    pub serve: ServeArgs,
    pub backends: BackendArgs,
    pub mail: MailArgs,
    pub list: ListArgs,
}

impl Settings {
    /// Leptos settings from the standard `LEPTOS_*` variables (cargo-leptos sets them).
    pub fn from_env(
        data_dir: PathBuf,
        serve: ServeArgs,
        backends: BackendArgs,
        mail: MailArgs,
        list: ListArgs,
    ) -> anyhow::Result<Self> {
        let mut leptos = get_configuration(None)
            .context("reading the LEPTOS_* settings")?
            .leptos_options;
        // cargo-leptos names the site's files after their content and lists the names in
        // `hash.txt` next to the binary (where Leptos reads it): pages link those names when it
        // is there, unless LEPTOS_HASH_FILES says otherwise.
        if std::env::var_os("LEPTOS_HASH_FILES").is_none() {
            leptos.hash_files = std::env::current_exe()
                .ok()
                .and_then(|exe| Some(exe.parent()?.join(&*leptos.hash_file)))
                .is_some_and(|hashes| hashes.is_file());
        }
        Ok(Self {
            data_dir,
            leptos,
            serve,
            backends,
            mail,
            list,
        })
    }
}

pub struct Application {
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
}

impl Application {
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(settings.leptos.site_addr)
            .await
            .with_context(|| format!("cannot listen on {}", settings.leptos.site_addr))?;
        let bound = listener.local_addr().context("reading the bound address")?;
        let resources = Resources::new(&settings.data_dir);
        let (router, _) = build_router(&settings, resources, Some(bound)).await?;
        Ok(Self {
            listener,
            router,
            limits: ConnectionLimits {
                header_read_timeout: Duration::from_secs(settings.serve.header_timeout),
                max_connections: usize::try_from(settings.serve.max_connections)
                    .unwrap_or(usize::MAX),
            },
        })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        http_server::serve(self.listener, self.router, self.limits, shutdown).await;
        Ok(())
    }
}

/// Lambda mode (see `lambda`): the same router, for the Lambda runtime's events. Checks nothing
/// it can leave to first use, so a cold start is short.
pub async fn serve_lambda(settings: Settings) -> anyhow::Result<()> {
    crate::lambda::check_settings(
        &settings.backends,
        &settings.serve,
        &settings.mail,
        &settings.list,
    )?;
    let started = std::time::Instant::now();
    let resources = Resources::new(&settings.data_dir).deferring_checks();
    let (router, newsletter) = build_router(&settings, resources, None).await?;
    tracing::info!(
        init_ms = started.elapsed().as_secs_f64() * 1000.0,
        "ready for Lambda events"
    );
    crate::lambda::serve(router, newsletter).await
}

/// The adapters the settings name, and the routes and layers around them (and the newsletter,
/// which Lambda mode drives from its schedule). `bound` is the address the server listens on
/// (none in Lambda).
async fn build_router(
    settings: &Settings,
    resources: Resources,
    bound: Option<SocketAddr>,
) -> anyhow::Result<(Router, Arc<Newsletter>)> {
    let backends = &settings.backends;
    let store = store::from_settings(backends, &resources).await?;
    let list = list_settings(settings, bound);
    let identity = identity::from_settings(backends, &resources, &list.public_url).await?;
    let catalog = content::embedded_catalog().context("loading the stories")?;
    warn_if_site_not_split(&settings.leptos);
    if backends.store == StoreKind::Dynamodb && !settings.serve.shares_credential_key() {
        tracing::warn!(
            "STORIES_SIGNING_KEY is not set: credentials from this instance are accepted \
             only by instances sharing its data directory"
        );
    }
    let key = credential_key::from_settings(&settings.serve, &resources).await?;
    let provider_sign_in = identity.oidc.map(|oidc| {
        let cookie_key = key.derive("provider-sign-in-attempts");
        Arc::new(ProviderSignIn::new(oidc, cookie_key, &list.public_url))
    });
    let mailer = Arc::new(Mailer::from_settings(&settings.mail, &resources).await?);
    let subscriptions = Arc::new(Subscriptions::new(
        Arc::clone(&store),
        Arc::clone(&mailer),
        list,
    ));
    tokio::spawn(Arc::clone(&subscriptions).remove_expired_periodically());
    let catalog = Arc::new(catalog);
    let ledger = crate::delivery::from_settings(backends, &resources).await?;
    let newsletter = Arc::new(Newsletter::new(
        ledger,
        Arc::clone(&store),
        mailer,
        Arc::clone(&catalog),
        settings.list.public_url.clone(),
        (&settings.list).into(),
    ));
    if bound.is_some() {
        // A long-running server delivers issues itself (Lambda has no background).
        tokio::spawn(Arc::clone(&newsletter).deliver_forever());
    }
    let services = Services {
        store,
        catalog,
        identity: identity.provider,
        minter: Arc::new(CredentialMinter::new(key)),
        throttle: Arc::new(LoginThrottle::new(Limits::default())),
        region: ApiRegion(settings.serve.region.clone()),
    };
    let state = AppState::new(ServerState {
        leptos: settings.leptos.clone(),
        services: Arc::new(services),
        jwks: identity.jwks,
        bench_baselines: settings.serve.bench_baselines,
        subscribe_limit: SubscribeLimit::new(settings.serve.subscribe_limit),
        trusted_proxies: Arc::new(TrustedProxies(settings.serve.trusted_proxies.clone())),
        subscriptions,
        newsletter: Arc::clone(&newsletter),
        provider_sign_in,
    });
    let router = router(
        state,
        Duration::from_secs(settings.serve.request_timeout),
        settings.serve.hsts,
        settings.serve.metrics_addr.is_some(),
    );
    Ok((
        cors::layer(router, &settings.serve.cors_origins),
        newsletter,
    ))
}

/// The list's settings; links in mails start with the public URL, by default the listening
/// address.
fn list_settings(settings: &Settings, bound: Option<SocketAddr>) -> ListSettings {
    let public_url = settings
        .list
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{}", bound.unwrap_or(settings.leptos.site_addr)));
    if settings.list.double_opt_in && settings.list.public_url.is_none() {
        tracing::warn!(%public_url, "STORIES_PUBLIC_URL is not set: links in mails point to the \
            listening address, which works only on this machine");
    }
    ListSettings {
        double_opt_in: settings.list.double_opt_in,
        record_consent_ip: settings.list.record_consent_ip,
        public_url,
        list_name: app::SITE_NAME.to_owned(),
    }
}

/// The login and admin islands are lazy: their wasm is split off by `cargo leptos build --split`.
/// A site built without `--split` serves pages whose scripts cannot load, which is easy to miss
/// because every page still renders.
fn warn_if_site_not_split(options: &LeptosOptions) {
    let pkg = std::path::Path::new(&*options.site_root).join(&*options.site_pkg_dir);
    let has_manifest = |dir: std::fs::ReadDir| {
        dir.flatten().any(|entry| {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            name.starts_with("__wasm_split_manifest") && name.ends_with(".json")
        })
    };
    if pkg.is_dir() && !std::fs::read_dir(&pkg).is_ok_and(has_manifest) {
        tracing::warn!(
            site = %pkg.display(),
            "the site was built without `--split`: scripts will fail to load in the browser; \
             build it with `cargo leptos build --split`"
        );
    }
}

pub fn router(state: AppState, request_timeout: Duration, hsts: bool, metrics: bool) -> Router {
    let routes = generate_route_list(App);
    let context = {
        let services = Arc::clone(&state.services);
        move || provide_context(Arc::clone(&services))
    };
    let shell = {
        let options = state.leptos.clone();
        move || app::shell(options.clone())
    };
    let signed_api = Arc::new(SignedApi {
        verifier: Verifier::new(state.services.region.0.clone(), SIGV4_SERVICE),
        minter: state.services.minter.clone(),
        identity: state.services.identity.clone(),
        sessions: Default::default(),
    });
    let mut app = Router::new();
    if state.bench_baselines {
        // The cheapest POST through the same stack: what a subscribe's cost is compared with.
        app = app.route("/bench/noop", axum::routing::post(|| async { "ok" }));
    }
    let app = app
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route(
            app::subscribe::PATH,
            axum::routing::post(subscribe_api::subscribe),
        )
        .route(
            app::mail_links::CONFIRM_PATH,
            axum::routing::post(mail_links_api::confirm),
        )
        .route(
            app::mail_links::UNSUBSCRIBE_PATH,
            axum::routing::post(mail_links_api::unsubscribe),
        )
        .route(
            app::admin::EXPORT_PATH,
            get(crate::subscriber_export::export),
        )
        .route(app::issue_desk::ISSUES_PATH, get(issue_api::desk))
        .route(
            app::dashboard::DASHBOARD_PATH,
            get(crate::dashboard_api::dashboard),
        )
        .route(
            app::issue_desk::SEND_PATH,
            axum::routing::post(issue_api::send),
        )
        .route(
            app::issue_desk::PREVIEW_PATH,
            axum::routing::post(issue_api::preview),
        )
        .route("/.well-known/jwks.json", get(jwks))
        .merge(
            state
                .provider_sign_in
                .clone()
                .map(ProviderSignIn::routes)
                .unwrap_or_default(),
        )
        .route("/post/{slug}", get(add_trailing_slash))
        .leptos_routes_with_context(&state, routes, context.clone(), shell)
        .fallback(leptos_axum::file_and_error_handler_with_context::<
            AppState,
            _,
        >(context, app::shell))
        // Inside the page cache: a kept page keeps the policy made for its scripts.
        .layer(middleware::from_fn(csp::hash_inline_scripts))
        .layer(middleware::from_fn_with_state(
            Arc::new(PageCache::default()),
            page_cache::serve,
        ))
        .layer(middleware::from_fn(api_errors::apply_api_error_status))
        .layer(middleware::from_fn_with_state(
            signed_api,
            signed_api::require_signature,
        ))
        // Outermost of these: every handler and limit sees the resolved client.
        .layer(middleware::from_fn_with_state(
            state.trusted_proxies.clone(),
            client_address::resolve,
        ))
        .with_state(state);
    // Per-request metrics only when they are served: the layer costs a little on every request.
    let app = if metrics {
        app.layer(middleware::from_fn(crate::metrics::record_request))
    } else {
        app
    };
    http_stack::layer(app, request_timeout, hsts)
}

async fn healthz(State(state): State<AppState>) -> impl IntoResponse {
    match store_answers(&state).await {
        Ok(()) => (StatusCode::OK, "ok"),
        Err(refusal) => refusal,
    }
}

/// Ready to serve everything: the store answers (as `/healthz`) and the identity provider can
/// verify ID tokens (Cognito's keys are loaded).
async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    if let Err(refusal) = store_answers(&state).await {
        return refusal;
    }
    if let Err(err) = state.services.identity.check_ready().await {
        tracing::error!(error = %app::error::describe(&err), "readiness: identity provider not ready");
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "identity provider not ready",
        );
    }
    (StatusCode::OK, "ready")
}

/// The store's cheap round trip, or the 503 both probes answer when it fails.
async fn store_answers(state: &AppState) -> Result<(), (StatusCode, &'static str)> {
    state.services.store.check().await.map_err(|err| {
        tracing::error!(error = %app::error::describe(&err), "store check failing");
        (StatusCode::SERVICE_UNAVAILABLE, "store unavailable")
    })
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
