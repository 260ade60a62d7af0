//! The subscriber store port. Two implementations live in the server crate: the embedded SQLite
//! store (the zero-config default) and DynamoDB. Both run the same contract test suite.

use crate::subscriber_email::SubscriberEmail;
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

/// A failure of the store itself (never a duplicate). The cause (`source()`) is logged, the
/// visitor gets the generic message.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the store is unavailable")]
    Unavailable(#[source] crate::error::Cause),
    #[error("the store returned data it could not read")]
    Corrupt(#[source] crate::error::Cause),
    /// A page cursor that this store did not hand out.
    #[error("invalid page cursor")]
    BadCursor,
}

/// One page of subscribers in key order, and where the next one starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    pub subscribers: Vec<Subscriber>,
    /// Opaque; `None` on the last page.
    pub next_cursor: Option<String>,
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

    /// Up to `limit` subscribers after `cursor` (from the previous page), in a stable order.
    async fn page(&self, cursor: Option<&str>, limit: u32) -> Result<Page, StoreError>;

    /// How many subscribers there are.
    async fn count(&self) -> Result<u64, StoreError>;

    /// Cheap round trip proving the store answers (for `/healthz`).
    async fn check(&self) -> Result<(), StoreError>;
}

/// How server functions reach the store: provided as Leptos context by the server.
pub type SharedStore = std::sync::Arc<dyn SubscriberStore>;

/// Runs a store operation, recording its latency and, if it failed, the error (Prometheus metrics
/// when the server serves them; nothing otherwise).
pub async fn observed<T>(
    operation: &'static str,
    work: impl std::future::Future<Output = Result<T, StoreError>>,
) -> Result<T, StoreError> {
    let started = std::time::Instant::now();
    let result = work.await;
    metrics::histogram!("store_operation_seconds", "operation" => operation)
        .record(started.elapsed().as_secs_f64());
    if result.is_err() {
        metrics::counter!("store_errors_total", "operation" => operation).increment(1);
    }
    result
}
