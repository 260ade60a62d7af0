//! What the HTTP handlers share: the app's services (also given to server functions as one
//! Leptos context value) and the server's own pieces.

use app::services::Services;
use leptos::prelude::LeptosOptions;
use std::sync::Arc;

use crate::identity::id_token::Jwks;

/// Cloned for every request, so it is one `Arc`.
#[derive(Clone)]
pub struct AppState(Arc<ServerState>);

pub struct ServerState {
    pub leptos: LeptosOptions,
    pub services: Arc<Services>,
    /// The embedded provider's public keys; `None` when Cognito issues the tokens.
    pub jwks: Option<Arc<Jwks>>,
    /// Serve `POST /bench/noop` for `scripts/bench`.
    pub bench_baselines: bool,
    pub subscribe_limit: crate::subscribe_limit::SubscribeLimit,
    pub trusted_proxies: Arc<crate::client_address::TrustedProxies>,
    /// Subscribe, confirm, unsubscribe (the store's transitions and the mail they send).
    pub subscriptions: Arc<crate::subscriptions::Subscriptions>,
    /// Newsletter issues: starting them, previews, progress (its worker delivers them).
    pub newsletter: Arc<crate::newsletter::Newsletter>,
    /// Signing admins in at an OpenID Connect provider (`--identity oidc`).
    pub provider_sign_in: Option<Arc<crate::provider_sign_in::ProviderSignIn>>,
}

impl AppState {
    pub fn new(state: ServerState) -> Self {
        Self(Arc::new(state))
    }
}

impl std::ops::Deref for AppState {
    type Target = ServerState;
    fn deref(&self) -> &ServerState {
        &self.0
    }
}

impl axum::extract::FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos.clone()
    }
}
