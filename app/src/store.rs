//! The subscriber store port. Two implementations live in the server crate: the embedded SQLite
//! store (the zero-config default) and DynamoDB. Both run the same contract test suite.

use crate::subscriber_email::SubscriberEmail;
use time::{Date, OffsetDateTime};

pub use crate::subscriber_status::{Status, StatusCounts};

/// One stored address and where it stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscriber {
    /// The address as the visitor typed it.
    pub email: String,
    pub status: Status,
    /// When the current subscription was asked for (a re-subscribe after leaving starts anew).
    pub subscribed_at: OffsetDateTime,
    pub confirmed_at: Option<OffsetDateTime>,
    pub unsubscribed_at: Option<OffsetDateTime>,
}

/// What happened to a subscription, when, and through what: the consent record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsentEvent {
    pub at: OffsetDateTime,
    pub kind: ConsentEventKind,
    /// Where: e.g. "form on /", "confirmation link", "one-click unsubscribe", "admin ada", "cli".
    pub source: String,
    /// The client's address, kept only with `--record-consent-ip`.
    pub client_ip: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsentEventKind {
    Subscribed,
    Confirmed,
    Unsubscribed,
}

impl ConsentEventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Subscribed => "subscribed",
            Self::Confirmed => "confirmed",
            Self::Unsubscribed => "unsubscribed",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [Self::Subscribed, Self::Confirmed, Self::Unsubscribed]
            .into_iter()
            .find(|kind| kind.as_str() == text)
    }
}

/// Everything stored about one address (what an access request gets).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriberRecord {
    pub subscriber: Subscriber,
    /// Oldest first.
    pub history: Vec<ConsentEvent>,
    /// While pending: when the last confirmation mail was sent and when its link stops working.
    pub confirmation_sent_at: Option<OffsetDateTime>,
    pub expires_at: Option<OffsetDateTime>,
    /// The secret in this address's unsubscribe links (no expiry).
    pub unsubscribe_token: Option<String>,
}

/// Who asked to subscribe, and how (the consent record's first entry).
#[derive(Debug, Clone)]
pub struct NewSubscription<'a> {
    pub email: &'a SubscriberEmail,
    pub at: OffsetDateTime,
    pub source: &'a str,
    pub client_ip: Option<&'a str>,
    /// `Some`: stored pending until this confirmation arrives; `None`: confirmed at once.
    pub confirmation: Option<Confirmation>,
}

/// A pending subscription's proof of consent to come: the hash of the mailed token (the token
/// itself is never stored) and when it stops working.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Confirmation {
    pub token_hash: String,
    /// On a whole hour (UTC): stores may count pending subscriptions per expiry hour.
    pub expires_at: OffsetDateTime,
}

/// What a subscribe did. A duplicate is a normal answer, not an error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subscribed {
    /// A new subscription (also after an unsubscribe, or after an unconfirmed one expired), now
    /// pending or confirmed as asked; or a pending one confirmed by a subscribe without double
    /// opt-in. (The unsubscribe secret is made when the first mail needs it:
    /// `unsubscribe_token`.)
    New,
    /// Already on the list: nothing changed.
    AlreadyConfirmed,
    /// Waiting for confirmation since before: nothing changed (see `renew_confirmation`).
    AwaitingConfirmation { last_sent_at: OffsetDateTime },
}

/// What following a confirmation link did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Confirmed {
    /// Now on the list (this address, as typed).
    Confirmed(String),
    AlreadyConfirmed(String),
    /// No pending subscription has this token: forged, expired, replaced by a newer mail, or the
    /// address left or was erased.
    Unknown,
}

/// What an unsubscribe did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unsubscribed {
    /// Off the list now (this address, as typed).
    Unsubscribed(String),
    AlreadyUnsubscribed(String),
    /// No such secret or address.
    Unknown,
}

/// Whose subscription to end: the secret from a link, or (admins, the CLI) the address.
#[derive(Debug, Clone, Copy)]
pub enum Unsubscriber<'a> {
    Token(&'a str),
    Address(&'a SubscriberEmail),
}

/// Which subscribers a listing shows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListFilter {
    pub status: Option<Status>,
    /// Addresses containing this text, compared in lower case (addresses are stored with their
    /// lower-case form as the key).
    pub search: Option<String>,
}

impl ListFilter {
    /// The search as stores compare it.
    pub fn search_key(&self) -> Option<String> {
        self.search
            .as_deref()
            .map(str::trim)
            .filter(|search| !search.is_empty())
            .map(str::to_lowercase)
    }
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

/// One day's changes to the list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DayCounts {
    /// UTC.
    pub day: Date,
    /// Subscriptions confirmed that day (at once without double opt-in).
    pub confirmed: u64,
    pub unsubscribed: u64,
}

impl DayCounts {
    /// A day as stores keep it, `YYYY-MM-DD` (what `Date` displays as).
    pub fn parse_day(text: &str) -> Result<Date, StoreError> {
        let corrupt = || StoreError::Corrupt(format!("day {text:?}").into());
        let mut parts = text.splitn(3, '-');
        let mut next = || parts.next().ok_or_else(corrupt);
        let (year, month, day) = (next()?, next()?, next()?);
        let month = month
            .parse::<u8>()
            .ok()
            .and_then(|m| time::Month::try_from(m).ok())
            .ok_or_else(corrupt)?;
        Date::from_calendar_date(
            year.parse().map_err(|_| corrupt())?,
            month,
            day.parse().map_err(|_| corrupt())?,
        )
        .map_err(|_| corrupt())
    }
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
    /// Adds the subscription unless the address (by its normalized form) is on the list or
    /// waiting for confirmation. Atomic, and durable when it returns.
    async fn subscribe(&self, request: &NewSubscription<'_>) -> Result<Subscribed, StoreError>;

    /// Replaces a pending subscription's confirmation (a new mail with a new link) if the last
    /// one was sent no later than `sent_before`. Atomic: of many racing calls one wins. Returns
    /// whether it did (the caller then sends the mail).
    async fn renew_confirmation(
        &self,
        email: &SubscriberEmail,
        confirmation: &Confirmation,
        at: OffsetDateTime,
        sent_before: OffsetDateTime,
    ) -> Result<bool, StoreError>;

    /// Confirms the pending subscription whose token hashes to `token_hash`, unless it expired.
    /// Atomic: of racing confirms one confirms, and a confirm racing an unsubscribe leaves one
    /// of the two states.
    async fn confirm(
        &self,
        token_hash: &str,
        at: OffsetDateTime,
        client_ip: Option<&str>,
    ) -> Result<Confirmed, StoreError>;

    /// Ends a subscription (pending or confirmed), keeping the record.
    async fn unsubscribe(
        &self,
        who: Unsubscriber<'_>,
        at: OffsetDateTime,
        source: &str,
        client_ip: Option<&str>,
    ) -> Result<Unsubscribed, StoreError>;

    /// Erases every record of the address. Returns whether there was one.
    async fn erase(&self, email: &SubscriberEmail) -> Result<bool, StoreError>;

    /// Everything stored about an address, found by its normalized form.
    async fn record(&self, email: &SubscriberEmail)
        -> Result<Option<SubscriberRecord>, StoreError>;

    /// The address's unsubscribe secret, `new_token` stored now if it has none yet (it is made
    /// when the first mail to the address needs it, not at every subscribe). `None` if the
    /// address is not stored.
    async fn unsubscribe_token(
        &self,
        email: &SubscriberEmail,
        new_token: &str,
    ) -> Result<Option<String>, StoreError>;

    /// Up to `limit` subscribers matching `filter` after `cursor` (from the previous page), in a
    /// stable order. Pending subscriptions that expired before `now` are not listed.
    async fn page(
        &self,
        filter: &ListFilter,
        cursor: Option<&str>,
        limit: u32,
        now: OffsetDateTime,
    ) -> Result<Page, StoreError>;

    /// How many subscribers there are in each status, kept as they change (never a scan).
    async fn counts(&self, now: OffsetDateTime) -> Result<StatusCounts, StoreError>;

    /// New confirmed subscribers and unsubscribes per day (UTC) from `first` to `last`, kept as
    /// they happen (never a scan): the days with any, in order.
    async fn daily_counts(&self, first: Date, last: Date) -> Result<Vec<DayCounts>, StoreError>;

    /// Removes pending subscriptions that expired before `now`; returns how many. (A store whose
    /// backend expires them itself, DynamoDB with its TTL, removes none.)
    async fn remove_expired(&self, now: OffsetDateTime) -> Result<u64, StoreError>;

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
