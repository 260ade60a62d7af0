//! The subscriber store port. Two implementations live in the server crate: the embedded SQLite
//! store (the zero-config default) and DynamoDB. Both run the same contract test suite.

use crate::email::SubscriberEmail;
use time::OffsetDateTime;

/// What a subscribe did. A duplicate is a normal answer, not an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Insert {
    Added,
    AlreadyPresent,
}

/// One stored subscription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscriber {
    /// The address as the visitor typed it.
    pub email: String,
    pub subscribed_at: OffsetDateTime,
}

/// A failure of the store itself (never a duplicate). The cause is logged, the visitor gets the
/// generic message.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the store is unavailable: {0}")]
    Unavailable(String),
    #[error("the store returned data it could not read: {0}")]
    Corrupt(String),
}

#[async_trait::async_trait]
pub trait SubscriberStore: Send + Sync + 'static {
    /// Adds the address unless an address with the same normalized form is already stored.
    /// Returns only after the write is durable.
    async fn subscribe(
        &self,
        email: &SubscriberEmail,
        at: OffsetDateTime,
    ) -> Result<Insert, StoreError>;

    /// Looks an address up by its normalized form.
    async fn find(&self, email: &SubscriberEmail) -> Result<Option<Subscriber>, StoreError>;

    /// Cheap round trip proving the store answers (for `/healthz`).
    async fn check(&self) -> Result<(), StoreError>;
}

/// How server functions reach the store: provided as Leptos context by the server.
pub type SharedStore = std::sync::Arc<dyn SubscriberStore>;
