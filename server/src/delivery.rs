//! The delivery ledger of newsletter issues: one entry per (issue, subscriber), so a send can be
//! shared by several workers (each claims a batch with a lease), resumed after a crash (a lapsed
//! lease is claimed again) and asked again without sending twice (an issue starts once).
//!
//! States: `queued` (waiting; `not_before` holds a retry's time) → `sending` (claimed, leased
//! until `not_before`) → `sent`, `failed` (permanently, with the reason) or `skipped` (no longer
//! confirmed when its turn came: unsubscribes during a send are honoured).
//!
//! The embedded store's ledger is `sqlite::SqliteLedger`; DynamoDB's is still to come (see the
//! issue's notes), and with it the trait both will implement.

pub mod sender;
pub mod sqlite;

use time::OffsetDateTime;

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
