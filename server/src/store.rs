//! Store adapters behind `app::store::SubscriberStore`.

pub mod sqlite;

#[cfg(test)]
pub mod contract;

pub use sqlite::SqliteStore;
