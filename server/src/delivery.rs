//! The delivery ledger of newsletter issues: one entry per (issue, subscriber), so a send can be
//! shared by several workers (each claims a batch with a lease), resumed after a crash (a lapsed
//! lease is claimed again) and asked again without sending twice (an issue starts once).
//!
//! States: `queued` (waiting; `not_before` holds a retry's time) → `sending` (claimed, leased
//! until `not_before`) → `sent`, `failed` (permanently, with the reason) or `skipped` (no longer
//! confirmed when its turn came: unsubscribes during a send are honoured).
//!
//! The embedded store's ledger is `sqlite::SqliteLedger`; DynamoDB's is `dynamodb::DynamoDbLedger`.
//! Both keep each issue's counts per state as deliveries change, so progress is one read however
//! long the list.

#[cfg(test)]
pub mod contract;
pub mod dynamodb;
pub mod sender;
pub mod sqlite;

use app::store::StoreError;
use std::sync::Arc;
use time::OffsetDateTime;

/// The delivery ledger of the store the settings name.
#[async_trait::async_trait]
pub trait DeliveryLedger: Send + Sync + 'static {
    /// Starts the issue unless it was started before: records it and queues one delivery per
    /// subscriber confirmed now.
    async fn start(&self, issue: &IssueRecord) -> Result<Started, StoreError>;

    /// Claims up to `limit` deliveries that are due (queued and past their retry time, or
    /// sending with a lapsed lease) for a worker, leased until `lease_until`. Deliveries to
    /// subscribers no longer confirmed are marked skipped instead.
    async fn claim(
        &self,
        slug: &str,
        limit: u32,
        now: OffsetDateTime,
        lease_until: OffsetDateTime,
    ) -> Result<Vec<Claimed>, StoreError>;

    /// Records how a claimed delivery ended.
    async fn record(
        &self,
        slug: &str,
        email_key: &str,
        outcome: &Outcome,
    ) -> Result<(), StoreError>;

    /// Queues the issue's failed deliveries again (a fresh count of tries); how many. Those
    /// that were sent stay sent.
    async fn requeue_failed(&self, slug: &str) -> Result<u64, StoreError>;

    /// Where the issue's deliveries stand; `None` if it was never started.
    async fn progress(&self, slug: &str) -> Result<Option<Progress>, StoreError>;

    /// Every issue started, newest first, with where its deliveries stand.
    async fn issues(&self) -> Result<Vec<(IssueRecord, Progress)>, StoreError>;

    /// Up to `limit` of the issue's failed deliveries: the subscriber's key and why.
    async fn failures(&self, slug: &str, limit: usize)
        -> Result<Vec<(String, String)>, StoreError>;
}

pub type SharedLedger = Arc<dyn DeliveryLedger>;

/// The ledger of the store the settings name (it queues deliveries from that store's list).
pub async fn from_settings(
    backends: &crate::cli::BackendArgs,
    resources: &crate::resources::Resources,
) -> anyhow::Result<SharedLedger> {
    Ok(match backends.store {
        crate::cli::StoreKind::Embedded => Arc::new(sqlite::SqliteLedger::new(
            resources.embedded_db().await?.clone(),
        )),
        crate::cli::StoreKind::Dynamodb => {
            let client = aws_sdk_dynamodb::Client::new(resources.aws_config().await?);
            let table = crate::store::DynamoDbStore::unchecked(client, &backends.table);
            Arc::new(dynamodb::DynamoDbLedger::new(table)?)
        }
    })
}

/// An issue as started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssueRecord {
    pub slug: String,
    pub subject: String,
    pub started_at: OffsetDateTime,
    pub started_by: String,
}

/// What starting an issue did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Started {
    /// Started now, with this many deliveries queued (every confirmed subscriber).
    New { queued: u64 },
    /// It was started before (an issue is sent once).
    Already(IssueRecord),
}

/// A delivery claimed by a worker: its lease runs until the time given to `claim`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claimed {
    pub email_key: String,
    /// The address as the subscriber typed it (the mail goes there).
    pub email: String,
    /// Including this one.
    pub attempts: u32,
    /// The subscriber's unsubscribe secret, if the ledger made or read it with the claim (the
    /// sender otherwise asks the store).
    pub unsubscribe_token: Option<String>,
}

/// How a claimed delivery ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Sent,
    /// Will not work however often it is tried (the relay refused the address).
    Failed(String),
    /// Try again from `after` (the relay or SES was busy or down).
    Retry {
        after: OffsetDateTime,
        reason: String,
    },
}

/// Where an issue's deliveries stand.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Progress {
    pub queued: u64,
    pub sending: u64,
    pub sent: u64,
    pub failed: u64,
    pub skipped: u64,
}

impl Progress {
    pub fn total(&self) -> u64 {
        self.queued + self.sending + self.sent + self.failed + self.skipped
    }

    /// Nothing left to send or being sent.
    pub fn done(&self) -> bool {
        self.queued == 0 && self.sending == 0
    }
}
