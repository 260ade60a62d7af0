//! What server functions reach on the server: one value the server provides once as Leptos
//! context. Every service is a field, so leaving one out is a compile error in the server, not a
//! 500 at the first request that needs it.

use crate::{
    auth::ApiRegion, credentials::CredentialMinter, error::ApiError, identity::SharedIdentity,
    login_throttle::LoginThrottle, store::SharedStore, stories::catalog::SharedCatalog,
};
use std::sync::Arc;

pub struct Services {
    pub store: SharedStore,
    pub catalog: SharedCatalog,
    pub identity: SharedIdentity,
    pub minter: Arc<CredentialMinter>,
    pub throttle: Arc<LoginThrottle>,
    pub region: ApiRegion,
}

impl Services {
    /// The services, inside a server function. Missing only if the server did not provide them
    /// at all (a wiring bug): logged, and answered as an internal error.
    pub fn from_context() -> Result<Arc<Self>, ApiError> {
        leptos::prelude::use_context::<Arc<Self>>().ok_or_else(|| {
            tracing::error!("no services in the server function's context");
            ApiError::internal()
        })
    }
}
