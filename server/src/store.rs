//! Store adapters behind `app::store::SubscriberStore`, and the one place that picks one from
//! the settings. A new store is a module here, a `StoreKind` variant and one arm below.

pub mod dynamodb;
pub mod sqlite;

#[cfg(test)]
pub mod contract;

pub use dynamodb::DynamoDbStore;
pub use sqlite::SqliteStore;

use crate::{
    cli::{BackendArgs, StoreKind},
    resources::Resources,
};
use app::store::SharedStore;
use std::sync::Arc;

/// The subscriber store the settings ask for, connected and checked.
pub async fn from_settings(
    settings: &BackendArgs,
    resources: &Resources,
) -> anyhow::Result<SharedStore> {
    Ok(match settings.store {
        StoreKind::Embedded => {
            let db = resources.embedded_db().await?;
            tracing::info!(database = %db.path().display(), "embedded store ready");
            Arc::new(SqliteStore::new(db.clone()))
        }
        StoreKind::Dynamodb => {
            let client = aws_sdk_dynamodb::Client::new(resources.aws_config().await?);
            let store = if resources.checks_at_start() {
                DynamoDbStore::connect(client, &settings.table).await?
            } else {
                DynamoDbStore::unchecked(client, &settings.table)
            };
            tracing::info!(table = %store.table(), "DynamoDB store ready");
            Arc::new(store)
        }
    })
}
