//! The DynamoDB store: the original sample's `Emails` table (partition key `email`, a string),
//! shared by any number of server instances.
//!
//! Items (all in the one table; the keys of the items that are not subscribers start with `#`
//! and have no `@`, so no address is one of them, `#tag@example.com` included):
//! - a subscriber, keyed by the normalized (lower-case) address, so case variants are one:
//!   `address` (as typed), `status` (`pending` | `confirmed` | `unsubscribed`; absent on items
//!   written before statuses existed: confirmed), `subscribed_at`, `confirmed_at`,
//!   `unsubscribed_at` (RFC 3339 UTC), while pending `confirm_hash`, `confirmation_sent_at` and
//!   `expires_at` (Unix seconds: the table's TTL attribute, so DynamoDB removes unconfirmed
//!   subscriptions itself), `unsubscribe_token`, `history` (the consent record: a list of maps
//!   `at`, `kind`, `source`, `client_ip`), and `version` (a number every change increments:
//!   each change is read, decided, then written on the condition that nobody wrote in between).
//! - `#confirm:<token hash>` and `#unsubscribe:<token>`: which subscriber a link's token belongs
//!   to (`target`), checked against the subscriber item on use; the first expires with its
//!   confirmation (`expires_at`).
//! - counters per status, spread over shards so that no single item takes every write of a
//!   burst (one item takes about 1,000 writes a second): `#count:confirmed:<0..16>`,
//!   `#count:unsubscribed:<0..16>`, and for pending subscriptions, per hour of expiry,
//!   `#count:pending:<Unix hour>:<0..4>`, so those that expired simply stop being read. Reading
//!   the counts is one round of BatchGetItem. [`COUNTER_KEY`], the total kept before statuses
//!   existed, is read as confirmed subscribers.
//!
//! A counter is updated after the change it counts: an instance that dies in between leaves it
//! off by one, and `serverless-stories recount` (a scan) repairs every counter.

use app::{
    store::{
        Confirmation, Confirmed, ConsentEventKind, DayCounts, ListFilter, NewSubscription, Page,
        Status, StatusCounts, StoreError, Subscribed, Subscriber, SubscriberRecord,
        SubscriberStore, Unsubscribed, Unsubscriber,
    },
    subscriber_email::SubscriberEmail,
};
use aws_sdk_dynamodb::operation::{delete_item::DeleteItemError, put_item::PutItemError};
use aws_sdk_dynamodb::{types::AttributeValue, Client};
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use std::collections::HashMap;
use time::{Date, OffsetDateTime};

pub const DEFAULT_TABLE: &str = "Emails";
pub const KEY_ATTRIBUTE: &str = "email";
/// The table's TTL attribute (Unix seconds).
pub const TTL_ATTRIBUTE: &str = "expires_at";
pub const COUNTER_KEY: &str = "#subscriber-count";
const LEGACY_COUNTER_ATTRIBUTE: &str = "subscribers";
const COUNT_ATTRIBUTE: &str = "n";
const STATUS_SHARDS: u8 = 16;
const PENDING_SHARDS: u8 = 4;
/// Pending counters are read for this many hours ahead: a confirmation expires at most 49 hours
/// (48, rounded up to the hour) after it was sent.
const PENDING_HOURS: i64 = 50;
/// A listing reads at most this many items per page before answering with what it found (and a
/// cursor), so a rare search can't hold a request for a whole-table scan.
const MAX_SCANNED_PER_PAGE: usize = 10_000;
/// How often a change is re-read and retried when another writer changed the item in between.
const MAX_ATTEMPTS: usize = 8;
/// Cursors carry a version so a future format can tell old ones apart.
const CURSOR_PREFIX: &str = "d1:";

pub(crate) type Item = HashMap<String, AttributeValue>;

/// A conditional write that failed: `Ok(false)` when only its condition did (another writer got
/// there first), else the failure.
fn written<E, R>(
    err: aws_sdk_dynamodb::error::SdkError<E, R>,
    condition_failed: fn(&E) -> bool,
) -> Result<bool, StoreError>
where
    E: std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    if err.as_service_error().is_some_and(condition_failed) {
        Ok(false)
    } else {
        Err(unavailable(err))
    }
}

/// Whether an item's key is a subscriber's (an address) rather than a counter's or a link's.
fn is_subscriber_key(key: &str) -> bool {
    !key.starts_with('#') || key.contains('@')
}

mod counters;
pub(crate) mod row;
mod table;

use row::{n, optional_string, s, unavailable, Row};
pub use table::{TableCreation, TableError};

#[derive(Clone)]
pub struct DynamoDbStore {
    client: Client,
    table: String,
}

impl DynamoDbStore {
    /// The table, unchecked: a missing one shows in the first request's error and in `/readyz`.
    pub fn unchecked(client: Client, table: &str) -> Self {
        Self {
            client,
            table: table.to_owned(),
        }
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    /// For the other adapters that keep their items in this table (the delivery ledger).
    pub(crate) fn client(&self) -> &Client {
        &self.client
    }
}

/// What a change decided, having read the subscriber's item.
enum Step<T> {
    /// Nothing to write.
    Answer(T),
    /// Write the item (or delete it: `None`), then answer.
    Write {
        row: Option<Box<Row>>,
        /// Link items to put before the subscriber item (harmless if the write loses: a link
        /// is checked against the subscriber item on use).
        links: Vec<Item>,
        answer: T,
    },
}

fn confirm_link(hash: &str, target: &str, expires_at: i64) -> Item {
    HashMap::from([
        (KEY_ATTRIBUTE.to_owned(), s(&format!("#confirm:{hash}"))),
        ("target".to_owned(), s(target)),
        (TTL_ATTRIBUTE.to_owned(), n(expires_at)),
    ])
}

fn unsubscribe_link(token: &str, target: &str) -> Item {
    HashMap::from([
        (
            KEY_ATTRIBUTE.to_owned(),
            s(&format!("#unsubscribe:{token}")),
        ),
        ("target".to_owned(), s(target)),
    ])
}

impl DynamoDbStore {
    pub(crate) async fn get(&self, key: &str) -> Result<Option<Item>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(KEY_ATTRIBUTE, s(key))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable)?;
        Ok(out.item)
    }

    async fn row(&self, key: &str) -> Result<Option<Row>, StoreError> {
        self.get(key)
            .await?
            .map(|item| Row::from_item(&item))
            .transpose()
    }

    /// The subscriber a link item points to.
    async fn link_target(&self, link_key: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .get(link_key)
            .await?
            .and_then(|item| match item.get("target") {
                Some(AttributeValue::S(target)) => Some(target.clone()),
                _ => None,
            }))
    }

    /// Reads the subscriber `key`, lets `decide` choose, and writes what it chose on the
    /// condition that the item is as it was read; if another writer got there first, reads
    /// again and decides again. Then moves the counts.
    async fn change<T>(
        &self,
        key: &str,
        mut decide: impl FnMut(Option<Row>) -> Step<T>,
    ) -> Result<T, StoreError> {
        for _ in 0..MAX_ATTEMPTS {
            let before = self.row(key).await?;
            let (after, links, answer) = match decide(before.clone()) {
                Step::Answer(answer) => return Ok(answer),
                Step::Write { row, links, answer } => (row.map(|row| *row), links, answer),
            };
            for link in links {
                self.client
                    .put_item()
                    .table_name(&self.table)
                    .set_item(Some(link))
                    .send()
                    .await
                    .map_err(unavailable)?;
            }
            let (condition, version) = match before.as_ref().map(|row| row.version) {
                // (Every condition names both attributes: DynamoDB refuses unused names.)
                None => (
                    "attribute_not_exists(#k) AND attribute_not_exists(#v)",
                    None,
                ),
                Some(None) => ("attribute_exists(#k) AND attribute_not_exists(#v)", None),
                Some(Some(version)) => {
                    ("attribute_exists(#k) AND #v = :v", Some(n(version as i64)))
                }
            };
            let written = match &after {
                Some(row) => self
                    .client
                    .put_item()
                    .table_name(&self.table)
                    .set_item(Some(row.to_item()))
                    .condition_expression(condition)
                    .expression_attribute_names("#k", KEY_ATTRIBUTE)
                    .expression_attribute_names("#v", "version")
                    .set_expression_attribute_values(
                        version.map(|v| HashMap::from([(":v".to_owned(), v)])),
                    )
                    .send()
                    .await
                    .map_or_else(
                        |err| written(err, PutItemError::is_conditional_check_failed_exception),
                        |_| Ok(true),
                    ),
                None => self
                    .client
                    .delete_item()
                    .table_name(&self.table)
                    .key(KEY_ATTRIBUTE, s(key))
                    .condition_expression(condition)
                    .expression_attribute_names("#k", KEY_ATTRIBUTE)
                    .expression_attribute_names("#v", "version")
                    .set_expression_attribute_values(
                        version.map(|v| HashMap::from([(":v".to_owned(), v)])),
                    )
                    .send()
                    .await
                    .map_or_else(
                        |err| written(err, DeleteItemError::is_conditional_check_failed_exception),
                        |_| Ok(true),
                    ),
            };
            if !written? {
                // Someone else changed it in between: read again.
                continue;
            }
            self.move_count(before.as_ref(), after.as_ref()).await;
            if let (Some(before), None) = (&before, &after) {
                self.remove_links(before).await;
            }
            return Ok(answer);
        }
        Err(StoreError::Unavailable(
            format!("the subscriber changed {MAX_ATTEMPTS} times while being updated").into(),
        ))
    }

    /// Deletes an erased subscriber's link items (best effort: an orphan link finds nobody).
    async fn remove_links(&self, row: &Row) {
        let mut keys = Vec::new();
        if let Some(hash) = &row.confirm_hash {
            keys.push(format!("#confirm:{hash}"));
        }
        if let Some(token) = &row.unsubscribe_token {
            keys.push(format!("#unsubscribe:{token}"));
        }
        for key in keys {
            if let Err(err) = self
                .client
                .delete_item()
                .table_name(&self.table)
                .key(KEY_ATTRIBUTE, s(&key))
                .send()
                .await
            {
                tracing::warn!(error = %app::error::describe(&err), "a link item was not deleted");
            }
        }
    }
}

fn encode_cursor(key: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("{CURSOR_PREFIX}{key}"))
}

fn decode_cursor(cursor: &str) -> Result<String, StoreError> {
    URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .and_then(|text| text.strip_prefix(CURSOR_PREFIX).map(str::to_owned))
        .filter(|key| !key.is_empty() && key.len() <= 1024)
        .ok_or(StoreError::BadCursor)
}

/// The listing's scan filter: subscribers only (not the `#` items), pending ones until they
/// expire, and the asked-for status and search.
fn scan_filter(filter: &ListFilter, now: OffsetDateTime) -> (String, Item) {
    let mut expression = String::from(
        "(NOT begins_with(#k, :hash) OR contains(#k, :at)) \
             AND NOT (#st = :pending AND #exp <= :now)",
    );
    let mut values = HashMap::from([
        (":hash".to_owned(), s("#")),
        (":at".to_owned(), s("@")),
        (":pending".to_owned(), s(Status::Pending.as_str())),
        (":now".to_owned(), n(now.unix_timestamp())),
    ]);
    match filter.status {
        None => {}
        // Items written before statuses existed are confirmed.
        Some(Status::Confirmed) => {
            expression.push_str(" AND (attribute_not_exists(#st) OR #st = :status)")
        }
        Some(_) => expression.push_str(" AND #st = :status"),
    }
    if let Some(status) = filter.status {
        values.insert(":status".to_owned(), s(status.as_str()));
    }
    if let Some(search) = filter.search_key() {
        expression.push_str(" AND contains(#k, :search)");
        values.insert(":search".to_owned(), s(&search));
    }
    (expression, values)
}

#[async_trait::async_trait]
impl SubscriberStore for DynamoDbStore {
    async fn subscribe(&self, request: &NewSubscription<'_>) -> Result<Subscribed, StoreError> {
        let key = request.email.normalized();
        self.change(&key, |existing| {
            let at = request.at;
            let mut row = match existing {
                Some(row) if row.subscriber.status == Status::Confirmed => {
                    return Step::Answer(Subscribed::AlreadyConfirmed)
                }
                Some(mut row) if row.subscriber.status == Status::Pending && !row.expired(at) => {
                    if request.confirmation.is_some() {
                        return Step::Answer(Subscribed::AwaitingConfirmation {
                            last_sent_at: row
                                .confirmation_sent_at
                                .unwrap_or(row.subscriber.subscribed_at),
                        });
                    }
                    // Double opt-in was turned off since: confirmed like any new subscriber.
                    row.subscriber.status = Status::Confirmed;
                    row.subscriber.confirmed_at = Some(at);
                    row.confirmation_sent_at = None;
                    row.expires_at = None;
                    row.record(
                        at,
                        ConsentEventKind::Confirmed,
                        request.source,
                        request.client_ip,
                    );
                    let answer = Subscribed::New;
                    return Step::Write {
                        row: Some(Box::new(row)),
                        links: Vec::new(),
                        answer,
                    };
                }
                Some(mut row) => {
                    // Unsubscribed, or an unconfirmed subscription that expired: a new one.
                    if row.expired(at) {
                        row.history.clear();
                    }
                    row.subscriber.email = request.email.as_str().to_owned();
                    row
                }
                None => Row::fresh(
                    key.clone(),
                    Subscriber {
                        email: request.email.as_str().to_owned(),
                        status: Status::Pending,
                        subscribed_at: at,
                        confirmed_at: None,
                        unsubscribed_at: None,
                    },
                ),
            };
            let mut links = Vec::new();
            row.subscriber.subscribed_at = at;
            row.subscriber.unsubscribed_at = None;
            match &request.confirmation {
                Some(confirmation) => {
                    row.subscriber.status = Status::Pending;
                    row.subscriber.confirmed_at = None;
                    row.confirm_hash = Some(confirmation.token_hash.clone());
                    row.confirmation_sent_at = Some(at);
                    row.expires_at = Some(confirmation.expires_at.unix_timestamp());
                    links.push(confirm_link(
                        &confirmation.token_hash,
                        &key,
                        confirmation.expires_at.unix_timestamp(),
                    ));
                }
                None => {
                    row.subscriber.status = Status::Confirmed;
                    row.subscriber.confirmed_at = Some(at);
                    row.confirm_hash = None;
                    row.confirmation_sent_at = None;
                    row.expires_at = None;
                }
            }
            row.record(
                at,
                ConsentEventKind::Subscribed,
                request.source,
                request.client_ip,
            );
            Step::Write {
                row: Some(Box::new(row)),
                links,
                answer: Subscribed::New,
            }
        })
        .await
    }

    async fn renew_confirmation(
        &self,
        email: &SubscriberEmail,
        confirmation: &Confirmation,
        at: OffsetDateTime,
        sent_before: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let key = email.normalized();
        self.change(&key, |existing| {
            let Some(mut row) = existing else {
                return Step::Answer(false);
            };
            let due = row
                .confirmation_sent_at
                .is_none_or(|sent| sent <= sent_before);
            if row.subscriber.status != Status::Pending || row.expired(at) || !due {
                return Step::Answer(false);
            }
            let expires = confirmation.expires_at.unix_timestamp();
            row.confirm_hash = Some(confirmation.token_hash.clone());
            row.confirmation_sent_at = Some(at);
            row.expires_at = Some(expires);
            Step::Write {
                row: Some(Box::new(row)),
                links: vec![confirm_link(&confirmation.token_hash, &key, expires)],
                answer: true,
            }
        })
        .await
    }

    async fn confirm(
        &self,
        token_hash: &str,
        at: OffsetDateTime,
        client_ip: Option<&str>,
    ) -> Result<Confirmed, StoreError> {
        let Some(key) = self.link_target(&format!("#confirm:{token_hash}")).await? else {
            return Ok(Confirmed::Unknown);
        };
        self.change(&key, |existing| {
            let Some(mut row) =
                existing.filter(|row| row.confirm_hash.as_deref() == Some(token_hash))
            else {
                return Step::Answer(Confirmed::Unknown);
            };
            match row.subscriber.status {
                Status::Confirmed => {
                    Step::Answer(Confirmed::AlreadyConfirmed(row.subscriber.email))
                }
                Status::Unsubscribed => Step::Answer(Confirmed::Unknown),
                Status::Pending if row.expired(at) => Step::Answer(Confirmed::Unknown),
                Status::Pending => {
                    // The hash stays, so following the link again says "already confirmed".
                    row.subscriber.status = Status::Confirmed;
                    row.subscriber.confirmed_at = Some(at);
                    row.confirmation_sent_at = None;
                    row.expires_at = None;
                    row.record(
                        at,
                        ConsentEventKind::Confirmed,
                        "confirmation link",
                        client_ip,
                    );
                    let answer = Confirmed::Confirmed(row.subscriber.email.clone());
                    Step::Write {
                        row: Some(Box::new(row)),
                        links: Vec::new(),
                        answer,
                    }
                }
            }
        })
        .await
    }

    async fn unsubscribe(
        &self,
        who: Unsubscriber<'_>,
        at: OffsetDateTime,
        source: &str,
        client_ip: Option<&str>,
    ) -> Result<Unsubscribed, StoreError> {
        let (key, token) = match who {
            Unsubscriber::Address(email) => (email.normalized(), None),
            Unsubscriber::Token(token) => {
                match self.link_target(&format!("#unsubscribe:{token}")).await? {
                    Some(key) => (key, Some(token)),
                    None => return Ok(Unsubscribed::Unknown),
                }
            }
        };
        self.change(&key, |existing| {
            let Some(mut row) = existing.filter(|row| {
                token.is_none_or(|token| row.unsubscribe_token.as_deref() == Some(token))
            }) else {
                return Step::Answer(Unsubscribed::Unknown);
            };
            if row.subscriber.status == Status::Unsubscribed {
                return Step::Answer(Unsubscribed::AlreadyUnsubscribed(row.subscriber.email));
            }
            row.subscriber.status = Status::Unsubscribed;
            row.subscriber.unsubscribed_at = Some(at);
            row.confirm_hash = None;
            row.confirmation_sent_at = None;
            row.expires_at = None;
            row.record(at, ConsentEventKind::Unsubscribed, source, client_ip);
            let answer = Unsubscribed::Unsubscribed(row.subscriber.email.clone());
            Step::Write {
                row: Some(Box::new(row)),
                links: Vec::new(),
                answer,
            }
        })
        .await
    }

    async fn erase(&self, email: &SubscriberEmail) -> Result<bool, StoreError> {
        self.change(&email.normalized(), |existing| match existing {
            None => Step::Answer(false),
            Some(_) => Step::Write {
                row: None,
                links: Vec::new(),
                answer: true,
            },
        })
        .await
    }

    async fn record(
        &self,
        email: &SubscriberEmail,
    ) -> Result<Option<SubscriberRecord>, StoreError> {
        Ok(self
            .row(&email.normalized())
            .await?
            .map(|row| SubscriberRecord {
                expires_at: row
                    .expires_at
                    .filter(|_| row.subscriber.status == Status::Pending)
                    .and_then(|at| OffsetDateTime::from_unix_timestamp(at).ok()),
                confirmation_sent_at: row.confirmation_sent_at,
                unsubscribe_token: row.unsubscribe_token,
                subscriber: row.subscriber,
                history: row.history,
            }))
    }

    async fn unsubscribe_token(
        &self,
        email: &SubscriberEmail,
        new_token: &str,
    ) -> Result<Option<String>, StoreError> {
        let key = email.normalized();
        self.change(&key, |existing| match existing {
            None => Step::Answer(None),
            Some(Row {
                unsubscribe_token: Some(token),
                ..
            }) => Step::Answer(Some(token)),
            Some(mut row) => {
                row.unsubscribe_token = Some(new_token.to_owned());
                Step::Write {
                    row: Some(Box::new(row)),
                    links: vec![unsubscribe_link(new_token, &key)],
                    answer: Some(new_token.to_owned()),
                }
            }
        })
        .await
    }

    async fn page(
        &self,
        filter: &ListFilter,
        cursor: Option<&str>,
        limit: u32,
        now: OffsetDateTime,
    ) -> Result<Page, StoreError> {
        let mut start = cursor
            .map(decode_cursor)
            .transpose()?
            .map(|key| HashMap::from([(KEY_ATTRIBUTE.to_owned(), s(&key))]));
        let limit = limit.clamp(1, 1000) as usize;
        let (expression, values) = scan_filter(filter, now);
        let filtered = filter.status.is_some() || filter.search_key().is_some();
        // One row more than asked for says whether there is a next page. Scan until enough
        // rows arrived, the table ends, or the page's read budget is spent (then the cursor
        // says where to go on).
        let mut rows: Vec<(String, Subscriber)> = Vec::with_capacity(limit + 1);
        let mut scanned = 0;
        let mut resume_at = None;
        loop {
            let want = (limit + 1 - rows.len()) as i32;
            let out = self
                .client
                .scan()
                .table_name(&self.table)
                // A DynamoDB limit counts items read, before the filter.
                .limit(if filtered { 1000 } else { want + 1 })
                .filter_expression(&expression)
                .expression_attribute_names("#k", KEY_ATTRIBUTE)
                .expression_attribute_names("#st", "status")
                .expression_attribute_names("#exp", TTL_ATTRIBUTE)
                .set_expression_attribute_values(Some(values.clone()))
                .consistent_read(true)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(unavailable)?;
            scanned += out.scanned_count().max(0) as usize;
            for item in out.items() {
                let row = Row::from_item(item)?;
                rows.push((row.key, row.subscriber));
            }
            match out.last_evaluated_key {
                Some(key) if !key.is_empty() && rows.len() <= limit => {
                    if scanned >= MAX_SCANNED_PER_PAGE {
                        resume_at = optional_string(&key, KEY_ATTRIBUTE)?.map(str::to_owned);
                        break;
                    }
                    start = Some(key)
                }
                _ => break,
            }
        }
        let next_cursor = if rows.len() > limit {
            rows.truncate(limit);
            rows.last().map(|(key, _)| encode_cursor(key))
        } else {
            resume_at.map(|key| encode_cursor(&key))
        };
        Ok(Page {
            subscribers: rows.into_iter().map(|(_, subscriber)| subscriber).collect(),
            next_cursor,
        })
    }

    async fn counts(&self, now: OffsetDateTime) -> Result<StatusCounts, StoreError> {
        let mut keys = vec![COUNTER_KEY.to_owned()];
        for status in ["confirmed", "unsubscribed"] {
            keys.extend((0..STATUS_SHARDS).map(|shard| format!("#count:{status}:{shard}")));
        }
        // Pending subscriptions still counted are those expiring after this hour started... and
        // after now: expiries are on whole hours, so the next hour's bucket is the first.
        let this_hour = now.unix_timestamp().div_euclid(3600);
        for hour in this_hour + 1..=this_hour + PENDING_HOURS {
            keys.extend((0..PENDING_SHARDS).map(|shard| format!("#count:pending:{hour}:{shard}")));
        }
        let values = self.read_counters(keys).await?;
        let mut totals = [0i64; 3];
        for (key, value) in values {
            let slot = if key == COUNTER_KEY || key.starts_with("#count:confirmed:") {
                1
            } else if key.starts_with("#count:unsubscribed:") {
                2
            } else {
                0
            };
            totals[slot] += value;
        }
        let count = |total: i64| u64::try_from(total).unwrap_or(0);
        Ok(StatusCounts {
            pending: count(totals[0]),
            confirmed: count(totals[1]),
            unsubscribed: count(totals[2]),
        })
    }

    async fn daily_counts(&self, first: Date, last: Date) -> Result<Vec<DayCounts>, StoreError> {
        self.read_days(first, last).await
    }

    async fn remove_expired(&self, _now: OffsetDateTime) -> Result<u64, StoreError> {
        // The table's TTL removes them (and they are neither listed nor counted meanwhile).
        Ok(0)
    }

    async fn check(&self) -> Result<(), StoreError> {
        self.get(COUNTER_KEY).await.map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use app::store::ConsentEventKind;

    #[test]
    fn cursors_round_trip_and_foreign_ones_are_refused() {
        let cursor = encode_cursor("ada@example.com");
        assert_eq!(decode_cursor(&cursor).unwrap(), "ada@example.com");
        for foreign in [
            "",
            "%%%",
            "!!not-base64!!",
            &URL_SAFE_NO_PAD.encode("ada@example.com"),
            &URL_SAFE_NO_PAD.encode(CURSOR_PREFIX),
        ] {
            assert!(
                matches!(decode_cursor(foreign), Err(StoreError::BadCursor)),
                "{foreign:?}"
            );
        }
    }

    #[test]
    fn items_from_the_original_sample_are_confirmed_subscribers() {
        let item = HashMap::from([("email".to_owned(), s("old@example.com"))]);
        let row = Row::from_item(&item).unwrap();
        assert_eq!(row.subscriber.email, "old@example.com");
        assert_eq!(row.subscriber.status, Status::Confirmed);
        assert_eq!(row.subscriber.subscribed_at, OffsetDateTime::UNIX_EPOCH);
        assert_eq!(row.version, None);
        assert_eq!(row.counter(), "#count:confirmed");
    }

    #[test]
    fn rows_round_trip_and_only_pending_ones_carry_the_ttl() {
        let at = OffsetDateTime::from_unix_timestamp(1_790_000_000).unwrap();
        let mut row = Row::fresh(
            "ada@example.com".into(),
            Subscriber {
                email: "Ada@example.com".into(),
                status: Status::Pending,
                subscribed_at: at,
                confirmed_at: None,
                unsubscribed_at: None,
            },
        );
        row.expires_at = Some(1_790_003_600);
        row.confirm_hash = Some("hash".into());
        row.record(
            at,
            ConsentEventKind::Subscribed,
            "form on /",
            Some("192.0.2.1"),
        );
        let item = row.to_item();
        assert!(item.contains_key(TTL_ATTRIBUTE));
        let read = Row::from_item(&item).unwrap();
        assert_eq!(read.subscriber, row.subscriber);
        assert_eq!(read.history, row.history);
        assert_eq!(read.version, Some(1));
        assert_eq!(
            read.counter(),
            format!("#count:pending:{}", 1_790_003_600 / 3600)
        );
        row.subscriber.status = Status::Confirmed;
        assert!(
            !row.to_item().contains_key(TTL_ATTRIBUTE),
            "a confirmed row never expires"
        );
    }

    #[test]
    fn malformed_items_are_corrupt_not_panics() {
        let item = HashMap::from([
            ("email".to_owned(), s("x@example.com")),
            ("address".to_owned(), AttributeValue::N("1".into())),
        ]);
        assert!(matches!(Row::from_item(&item), Err(StoreError::Corrupt(_))));
        let item = HashMap::from([
            ("email".to_owned(), s("x@example.com")),
            ("subscribed_at".to_owned(), s("yesterday")),
        ]);
        assert!(matches!(Row::from_item(&item), Err(StoreError::Corrupt(_))));
    }
}

/// The contract suite against DynamoDB as moto emulates it. `scripts/test` starts moto_server
/// and sets `STORIES_TEST_MOTO_ENDPOINT`; each test makes its own table.
#[cfg(test)]
pub(crate) mod contract_tests {
    use super::*;
    use crate::store::contract::{confirmed_at_once, email};
    use aws_sdk_dynamodb::{
        config::{retry::RetryConfig, Credentials, Region},
        types::{AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType},
    };
    use std::time::Duration;

    fn client(endpoint: &str) -> Client {
        // moto answers 500 when a transaction copies a table another thread writes to.
        client_trying(endpoint, 6)
    }

    fn client_trying(endpoint: &str, attempts: u32) -> Client {
        let config = aws_sdk_dynamodb::Config::builder()
            .behavior_version_latest()
            .endpoint_url(endpoint)
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::for_tests())
            .retry_config(RetryConfig::standard().with_max_attempts(attempts))
            .build();
        Client::from_conf(config)
    }

    fn moto_endpoint() -> String {
        std::env::var("STORIES_TEST_MOTO_ENDPOINT").unwrap_or_else(|_| {
            panic!(
                "the DynamoDB tests need moto: run scripts/test, or start `moto_server -p 5000` \
                 and set STORIES_TEST_MOTO_ENDPOINT=http://127.0.0.1:5000"
            )
        })
    }

    pub(crate) async fn fresh_store() -> DynamoDbStore {
        let client = client(&moto_endpoint());
        let table = format!("Emails-{}", uuid_like());
        let creation = DynamoDbStore::create_table(&client, &table, Duration::from_secs(30))
            .await
            .unwrap();
        assert_eq!(creation, TableCreation::Created);
        DynamoDbStore::connect(client, &table).await.unwrap()
    }

    fn uuid_like() -> String {
        hex::encode(app::credentials::random_bytes::<8>().unwrap())
    }

    crate::store::contract::store_contract! {
        fresh: async { ((), fresh_store().await) },
        // A table that was there at start and is gone now, and an endpoint nobody listens on.
        broken: async {
            let deleted = fresh_store().await;
            deleted
                .client
                .delete_table()
                .table_name(deleted.table())
                .send()
                .await
                .unwrap();
            let unreachable = DynamoDbStore {
                client: client_trying("http://127.0.0.1:9", 2),
                table: "Emails".into(),
            };
            vec![((), deleted), ((), unreachable)]
        },
    }

    #[tokio::test]
    async fn a_missing_table_names_the_command_that_creates_it() {
        let err = DynamoDbStore::connect(client(&moto_endpoint()), "NoSuchTable")
            .await
            .err()
            .expect("refused");
        assert!(matches!(err, TableError::Missing { .. }));
        assert!(
            err.to_string().contains("serverless-stories init-table"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn a_table_with_another_key_is_refused() {
        let client = client(&moto_endpoint());
        let table = format!("Other-{}", uuid_like());
        client
            .create_table()
            .table_name(&table)
            .billing_mode(BillingMode::PayPerRequest)
            .attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name("id")
                    .attribute_type(ScalarAttributeType::S)
                    .build()
                    .unwrap(),
            )
            .key_schema(
                KeySchemaElement::builder()
                    .attribute_name("id")
                    .key_type(KeyType::Hash)
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .unwrap();
        let err = DynamoDbStore::connect(client, &table).await.err().unwrap();
        assert!(matches!(err, TableError::WrongKeySchema { .. }), "{err}");
    }

    #[tokio::test]
    async fn init_table_is_idempotent_and_recount_repairs_the_total() {
        let store = fresh_store().await;
        let again =
            DynamoDbStore::create_table(&store.client, store.table(), Duration::from_secs(30))
                .await
                .unwrap();
        assert_eq!(again, TableCreation::AlreadyExisted);
        let now = OffsetDateTime::now_utc();
        for address in ["a@example.com", "b@example.com", "c@example.com"] {
            let email = email(address);
            store
                .subscribe(&confirmed_at_once(&email, now))
                .await
                .unwrap();
        }
        store
            .unsubscribe(
                Unsubscriber::Address(&email("c@example.com")),
                now,
                "cli",
                None,
            )
            .await
            .unwrap();
        // An item from the original sample (no counter moved for it), and an instance that died
        // between a change and its count: the counts are off.
        store
            .client
            .put_item()
            .table_name(store.table())
            .item(KEY_ATTRIBUTE, s("old@example.com"))
            .send()
            .await
            .unwrap();
        store
            .client
            .put_item()
            .table_name(store.table())
            .item(KEY_ATTRIBUTE, s("#count:confirmed:3"))
            .item(COUNT_ATTRIBUTE, n(40))
            .send()
            .await
            .unwrap();
        assert_ne!(store.counts(now).await.unwrap().confirmed, 3);
        let exact = StatusCounts {
            pending: 0,
            confirmed: 3,
            unsubscribed: 1,
        };
        assert_eq!(store.recount().await.unwrap(), exact);
        assert_eq!(store.counts(now).await.unwrap(), exact);
    }
}
