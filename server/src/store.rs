//! Store adapters behind `app::store::SubscriberStore`.

pub mod dynamodb;
pub mod sqlite;

#[cfg(test)]
pub mod contract;

pub use dynamodb::DynamoDbStore;
pub use sqlite::SqliteStore;
