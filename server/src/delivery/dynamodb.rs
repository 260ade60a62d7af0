//! DynamoDB's delivery ledger, in the subscribers' table (every key starts with `#` and has no
//! `@`, so none is taken for a subscriber):
//! - `#issue:<slug>`: `subject`, `started_at`, `started_by`, `total` (deliveries queued),
//!   `buckets` (how many), `next_bucket` (the first never claimed), `marks_failures` (its
//!   buckets are marked when a delivery in them fails; issues started before the marks existed
//!   lack it), and while the deliveries are being queued `queuing` and `cursor` (where the
//!   list's reading stopped).
//! - `#issues`: `slugs`, the set of every issue started (listed without a scan).
//! - `#issue-count:<slug>:<0..8>`: `sent`, `failed`, `skipped`, spread over shards. Each is
//!   written in one transaction with the delivery it counts, so the counts are exact and an
//!   issue is done exactly when they add up to its total.
//! - `#deliveries:<slug>:<n>`: a bucket of up to 50 subscribers (`keys`, their normalized
//!   addresses), the unit workers lease: `lease_until` (Unix seconds), `owner`, `open` (1
//!   while something in it is left to send), and `failed` (1 once a delivery in it failed, set
//!   with the failure: a requeue or the list of failures reads only those buckets' deliveries,
//!   not every delivery of the issue).
//! - `#delivery:<slug>:<n>:<i>`: the state of the bucket's i-th delivery once it has one:
//!   `state` (`queued` for a retry, `sent`, `failed`, `skipped`), `attempts`, `not_before`,
//!   `error`. No item: queued, never tried.
//!
//! A worker leases a bucket with a conditional write (free, or its lease lapsed), reads its
//! deliveries and subscribers, and sends what is due; when the last of them is recorded it
//! hands the bucket back (closed, or leased to the earliest retry). Buckets never claimed are
//! handed out by a counter on the issue; after that, workers look for open buckets whose lease
//! lapsed (a crashed worker's, or retries that came due).
//!
//! Bucket and delivery items name subscribers, so they expire (the table's TTL) 60 days after
//! the issue started; the issue and its counts stay.

use super::{Claimed, DeliveryLedger, IssueRecord, Outcome, Progress, Started};
use crate::store::dynamodb::{
    row::{format_time, n, optional_number, optional_string, s, string_attribute, unavailable},
    DynamoDbStore, Item, KEY_ATTRIBUTE, TTL_ATTRIBUTE,
};
use app::{
    store::{ListFilter, Status, StoreError, SubscriberStore},
    subscriber_email::SubscriberEmail,
};
use aws_sdk_dynamodb::{
    operation::update_item::UpdateItemError,
    types::{AttributeValue, Put, ReturnValue, TransactWriteItem, Update},
};
use std::{
    collections::{HashMap, HashSet},
    sync::Mutex,
};
use time::{format_description::well_known::Rfc3339, Duration, OffsetDateTime};

/// Deliveries per bucket (and so per claim).
const BUCKET_SIZE: usize = 50;
const COUNT_SHARDS: u8 = 8;
/// Subscribers read from the list per page while queuing.
const QUEUE_PAGE: u32 = 1000;
/// How long bucket and delivery items are kept after the issue started.
const KEEP_DELIVERIES: Duration = Duration::days(60);
const ISSUES_KEY: &str = "#issues";

fn issue_key(slug: &str) -> String {
    format!("#issue:{slug}")
}

fn bucket_key(slug: &str, bucket: i64) -> String {
    format!("#deliveries:{slug}:{bucket}")
}

fn delivery_key(slug: &str, bucket: i64, index: usize) -> String {
    format!("#delivery:{slug}:{bucket}:{index}")
}

/// The `n` of a bucket item's key (`#deliveries:<slug>:<n>`).
fn bucket_number(item: &Item) -> Result<Option<i64>, StoreError> {
    let key = string_attribute(item, KEY_ATTRIBUTE)?;
    Ok(key.rsplit(':').next().and_then(|n| n.parse().ok()))
}

fn count_key(slug: &str, shard: u8) -> String {
    format!("#issue-count:{slug}:{shard}")
}

fn random_shard() -> u8 {
    app::credentials::random_bytes::<1>().map_or(0, |[b]| b % COUNT_SHARDS)
}

/// A delivery this instance claimed: where it is, and how its bucket's lease is handed back.
struct Held {
    bucket: i64,
    index: usize,
    attempts: u32,
    /// The bucket's expiry, which its delivery items share.
    expires_at: i64,
}

/// A bucket this instance leased: how many of its claimed deliveries are still unrecorded, and
/// the earliest retry among them and those waiting.
struct LeasedBucket {
    outstanding: usize,
    retry_at: Option<i64>,
}

#[derive(Default)]
struct Leases {
    held: HashMap<(String, String), Held>,
    buckets: HashMap<(String, i64), LeasedBucket>,
}

pub struct DynamoDbLedger {
    /// The subscribers' table: the list deliveries are queued from, and where the ledger's
    /// items live.
    table: DynamoDbStore,
    /// Who holds a lease: this instance (random, per process).
    owner: String,
    leases: Mutex<Leases>,
}

/// A delivery's state as stored.
enum Stored {
    Queued { attempts: u32, not_before: i64 },
    Finished,
}

fn stored_state(item: Option<&Item>) -> Result<Stored, StoreError> {
    let Some(item) = item else {
        return Ok(Stored::Queued {
            attempts: 0,
            not_before: 0,
        });
    };
    Ok(match optional_string(item, "state")? {
        Some("queued") | None => Stored::Queued {
            attempts: optional_number(item, "attempts")?
                .unwrap_or(0)
                .clamp(0, i64::from(u32::MAX)) as u32,
            not_before: optional_number(item, "not_before")?.unwrap_or(0),
        },
        Some(_) => Stored::Finished,
    })
}

/// Items by their key (items without one are not ours to read).
fn by_key(items: Vec<Item>) -> HashMap<String, Item> {
    items
        .into_iter()
        .filter_map(|item| {
            Some((
                optional_string(&item, KEY_ATTRIBUTE).ok()??.to_owned(),
                item,
            ))
        })
        .collect()
}

fn condition_failed(err: &UpdateItemError) -> bool {
    matches!(err, UpdateItemError::ConditionalCheckFailedException(_))
}

impl DynamoDbLedger {
    pub fn new(table: DynamoDbStore) -> Result<Self, StoreError> {
        let owner = hex::encode(
            app::credentials::random_bytes::<12>()
                .map_err(|err| StoreError::Unavailable(err.into()))?,
        );
        Ok(Self {
            table,
            owner,
            leases: Mutex::new(Leases::default()),
        })
    }

    fn client(&self) -> &aws_sdk_dynamodb::Client {
        self.table.client()
    }

    fn name(&self) -> &str {
        self.table.table()
    }

    fn leases(&self) -> std::sync::MutexGuard<'_, Leases> {
        self.leases.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues the issue's deliveries from where the reading of the list stopped (`cursor` on
    /// the issue item) to the end, a page of the list at a time: its buckets, then the issue's
    /// bucket count and cursor. Resumed after a crash, the page is read again and only the
    /// subscribers not already in that page's buckets are added.
    async fn queue(&self, slug: &str, expires_at: i64) -> Result<(), StoreError> {
        let filter = ListFilter {
            status: Some(Status::Confirmed),
            search: None,
        };
        loop {
            let Some(issue) = self.table.get(&issue_key(slug)).await? else {
                return Err(StoreError::Corrupt(
                    format!("issue {slug:?} vanished").into(),
                ));
            };
            if !issue.contains_key("queuing") {
                return Ok(());
            }
            let cursor = optional_string(&issue, "cursor")?.map(str::to_owned);
            let first_bucket = optional_number(&issue, "buckets")?.unwrap_or(0);
            let total = optional_number(&issue, "total")?.unwrap_or(0);
            let page = self
                .table
                .page(
                    &filter,
                    cursor.as_deref(),
                    QUEUE_PAGE,
                    OffsetDateTime::now_utc(),
                )
                .await?;
            // Buckets of this page that a crashed queuing wrote already.
            let written = self
                .table
                .batch_get(
                    &(first_bucket
                        ..first_bucket + (QUEUE_PAGE as usize).div_ceil(BUCKET_SIZE) as i64)
                        .map(|b| bucket_key(slug, b))
                        .collect::<Vec<_>>(),
                    None,
                )
                .await?;
            let mut covered = HashSet::new();
            for item in &written {
                if let Some(AttributeValue::L(keys)) = item.get("keys") {
                    covered.extend(keys.iter().filter_map(|k| k.as_s().ok().cloned()));
                }
            }
            let next_bucket = first_bucket + written.len() as i64;
            let fresh: Vec<String> = page
                .subscribers
                .iter()
                .filter_map(
                    |subscriber| match SubscriberEmail::key_of(&subscriber.email) {
                        Ok(key) => Some(key),
                        Err(_) => {
                            tracing::warn!(
                                issue = slug,
                                "a stored address is not valid: not queued"
                            );
                            None
                        }
                    },
                )
                .filter(|key| !covered.contains(key))
                .collect();
            let puts = fresh.chunks(BUCKET_SIZE).enumerate().map(|(i, keys)| {
                let bucket = next_bucket + i as i64;
                self.client()
                    .put_item()
                    .table_name(self.name())
                    .item(KEY_ATTRIBUTE, s(&bucket_key(slug, bucket)))
                    .item(
                        "keys",
                        AttributeValue::L(keys.iter().map(|k| s(k)).collect()),
                    )
                    .item("lease_until", n(0))
                    .item("open", n(1))
                    .item(TTL_ATTRIBUTE, n(expires_at))
                    .condition_expression("attribute_not_exists(#k)")
                    .expression_attribute_names("#k", KEY_ATTRIBUTE)
                    .send()
            });
            for put in futures::future::join_all(puts).await {
                if let Err(err) = put {
                    let lost = err
                        .as_service_error()
                        .is_some_and(|e| e.is_conditional_check_failed_exception());
                    if !lost {
                        return Err(unavailable(err));
                    }
                    // Another instance is queuing the same page: it carries on.
                    return Ok(());
                }
            }
            let buckets = next_bucket + fresh.len().div_ceil(BUCKET_SIZE) as i64;
            let total = total + (covered.len() + fresh.len()) as i64;
            let mut update = self
                .client()
                .update_item()
                .table_name(self.name())
                .key(KEY_ATTRIBUTE, s(&issue_key(slug)))
                .condition_expression("#b = :before")
                .expression_attribute_names("#b", "buckets")
                .expression_attribute_values(":before", n(first_bucket))
                .expression_attribute_values(":b", n(buckets))
                .expression_attribute_values(":t", n(total));
            update = match &page.next_cursor {
                Some(next) => update
                    .update_expression("SET #b = :b, #t = :t, #c = :c")
                    .expression_attribute_names("#t", "total")
                    .expression_attribute_names("#c", "cursor")
                    .expression_attribute_values(":c", s(next)),
                None => update
                    .update_expression("SET #b = :b, #t = :t REMOVE #c, #q")
                    .expression_attribute_names("#t", "total")
                    .expression_attribute_names("#c", "cursor")
                    .expression_attribute_names("#q", "queuing"),
            };
            if let Err(err) = update.send().await {
                if err.as_service_error().is_some_and(condition_failed) {
                    return Ok(()); // another instance moved on
                }
                return Err(unavailable(err));
            }
            if page.next_cursor.is_none() {
                return Ok(());
            }
        }
    }

    /// Leases a bucket of the issue with something due: one never claimed, else an open one
    /// whose lease lapsed. Its item (with the keys), or `None` when there is none.
    async fn lease_a_bucket(
        &self,
        slug: &str,
        now: i64,
        lease_until: i64,
    ) -> Result<Option<(i64, Item)>, StoreError> {
        let fresh = self
            .client()
            .update_item()
            .table_name(self.name())
            .key(KEY_ATTRIBUTE, s(&issue_key(slug)))
            .update_expression("SET #nb = #nb + :one")
            .condition_expression("#nb < #b")
            .expression_attribute_names("#nb", "next_bucket")
            .expression_attribute_names("#b", "buckets")
            .expression_attribute_values(":one", n(1))
            .return_values(ReturnValue::UpdatedOld)
            .send()
            .await;
        let mut candidates = match fresh {
            Ok(out) => {
                let bucket = out
                    .attributes
                    .as_ref()
                    .map(|item| optional_number(item, "next_bucket"))
                    .transpose()?
                    .flatten()
                    .unwrap_or(0);
                vec![bucket]
            }
            Err(err) if err.as_service_error().is_some_and(condition_failed) => {
                self.lapsed_buckets(slug, now).await?
            }
            Err(err) => return Err(unavailable(err)),
        };
        // Workers sweeping at once start at different places.
        if candidates.len() > 1 {
            let offset = app::credentials::random_bytes::<4>()
                .map_or(0, |b| u32::from_le_bytes(b) as usize % candidates.len());
            candidates.rotate_left(offset);
        }
        for bucket in candidates {
            let leased = self
                .client()
                .update_item()
                .table_name(self.name())
                .key(KEY_ATTRIBUTE, s(&bucket_key(slug, bucket)))
                .update_expression("SET #l = :until, #o = :me")
                .condition_expression("#open = :one AND #l <= :now")
                .expression_attribute_names("#l", "lease_until")
                .expression_attribute_names("#o", "owner")
                .expression_attribute_names("#open", "open")
                .expression_attribute_values(":until", n(lease_until))
                .expression_attribute_values(":me", s(&self.owner))
                .expression_attribute_values(":one", n(1))
                .expression_attribute_values(":now", n(now))
                .return_values(ReturnValue::AllNew)
                .send()
                .await;
            match leased {
                Ok(out) => return Ok(out.attributes.map(|item| (bucket, item))),
                Err(err) if err.as_service_error().is_some_and(condition_failed) => continue,
                Err(err) => return Err(unavailable(err)),
            }
        }
        Ok(None)
    }

    /// Open buckets whose lease lapsed (a crashed worker's, or retries that came due).
    async fn lapsed_buckets(&self, slug: &str, now: i64) -> Result<Vec<i64>, StoreError> {
        let Some(issue) = self.table.get(&issue_key(slug)).await? else {
            return Ok(Vec::new());
        };
        let buckets = optional_number(&issue, "buckets")?.unwrap_or(0);
        let projection = (
            "#k, #l, #open",
            &[
                ("#k", KEY_ATTRIBUTE),
                ("#l", "lease_until"),
                ("#open", "open"),
            ][..],
        );
        self.buckets_where(slug, buckets, projection, |item| {
            let open = optional_number(item, "open")? == Some(1);
            Ok(open && optional_number(item, "lease_until")?.unwrap_or(0) <= now)
        })
        .await
    }

    /// The numbers of the issue's `buckets` whose items (read with `projection`) pass `keep`,
    /// in order.
    async fn buckets_where(
        &self,
        slug: &str,
        buckets: i64,
        projection: (&str, &[(&str, &str)]),
        keep: impl Fn(&Item) -> Result<bool, StoreError>,
    ) -> Result<Vec<i64>, StoreError> {
        let keys: Vec<String> = (0..buckets).map(|b| bucket_key(slug, b)).collect();
        let mut kept = Vec::new();
        for item in self.table.batch_get(&keys, Some(projection)).await? {
            if keep(&item)? {
                kept.extend(bucket_number(&item)?);
            }
        }
        kept.sort_unstable();
        Ok(kept)
    }

    /// The due deliveries of a bucket just leased. Those to subscribers no longer confirmed
    /// are recorded as skipped; with nothing due, the bucket is handed back at once.
    async fn open_bucket(
        &self,
        slug: &str,
        bucket: i64,
        item: &Item,
        now: i64,
    ) -> Result<Vec<Claimed>, StoreError> {
        let keys: Vec<String> = match item.get("keys") {
            Some(AttributeValue::L(keys)) => {
                keys.iter().filter_map(|k| k.as_s().ok().cloned()).collect()
            }
            _ => Vec::new(),
        };
        let expires_at = optional_number(item, TTL_ATTRIBUTE)?.unwrap_or(0);
        let delivery_keys: Vec<String> = (0..keys.len())
            .map(|i| delivery_key(slug, bucket, i))
            .collect();
        let (states, subscribers) = tokio::try_join!(
            self.table.batch_get(&delivery_keys, None),
            self.table.batch_get(
                &keys,
                Some((
                    "#k, address, #st",
                    &[("#k", KEY_ATTRIBUTE), ("#st", "status")]
                ))
            ),
        )?;
        let states = by_key(states);
        let subscribers = by_key(subscribers);
        let mut claimed = Vec::new();
        let mut retry_at: Option<i64> = None;
        for (index, key) in keys.iter().enumerate() {
            let (attempts, not_before) = match stored_state(states.get(&delivery_keys[index]))? {
                Stored::Finished => continue,
                Stored::Queued {
                    attempts,
                    not_before,
                } => (attempts, not_before),
            };
            if not_before > now {
                retry_at = Some(retry_at.map_or(not_before, |at| at.min(not_before)));
                continue;
            }
            let subscriber = subscribers.get(key);
            let confirmed = subscriber.is_some_and(|item| {
                matches!(
                    optional_string(item, "status"),
                    Ok(None | Some("confirmed"))
                )
            });
            let address = subscriber
                .and_then(|item| optional_string(item, "address").ok().flatten())
                .unwrap_or(key);
            if !confirmed {
                self.write_outcome(
                    slug,
                    bucket,
                    index,
                    attempts,
                    "skipped",
                    None,
                    Some("no longer subscribed"),
                    expires_at,
                )
                .await?;
                continue;
            }
            claimed.push((
                index,
                Claimed {
                    email_key: key.clone(),
                    email: address.to_owned(),
                    attempts: attempts + 1,
                    unsubscribe_token: None,
                },
            ));
        }
        if claimed.is_empty() {
            self.hand_back(slug, bucket, retry_at).await?;
            return Ok(Vec::new());
        }
        let mut leases = self.leases();
        leases.buckets.insert(
            (slug.to_owned(), bucket),
            LeasedBucket {
                outstanding: claimed.len(),
                retry_at,
            },
        );
        for (index, delivery) in &claimed {
            leases.held.insert(
                (slug.to_owned(), delivery.email_key.clone()),
                Held {
                    bucket,
                    index: *index,
                    attempts: delivery.attempts,
                    expires_at,
                },
            );
        }
        Ok(claimed.into_iter().map(|(_, delivery)| delivery).collect())
    }

    /// Writes a delivery's state; a final one together with its count, in one transaction.
    #[allow(clippy::too_many_arguments)]
    async fn write_outcome(
        &self,
        slug: &str,
        bucket: i64,
        index: usize,
        attempts: u32,
        state: &str,
        not_before: Option<i64>,
        error: Option<&str>,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        let mut put = Put::builder()
            .table_name(self.name())
            .item(KEY_ATTRIBUTE, s(&delivery_key(slug, bucket, index)))
            .item("state", s(state))
            .item("attempts", n(i64::from(attempts)))
            .item("not_before", n(not_before.unwrap_or(0)))
            .item(TTL_ATTRIBUTE, n(expires_at));
        if let Some(error) = error {
            put = put.item("error", s(error));
        }
        let put = put.build().map_err(unavailable)?;
        if state == "queued" {
            self.client()
                .put_item()
                .table_name(self.name())
                .set_item(Some(put.item))
                .send()
                .await
                .map_err(unavailable)?;
            return Ok(());
        }
        let count = Update::builder()
            .table_name(self.name())
            .key(KEY_ATTRIBUTE, s(&count_key(slug, random_shard())))
            .update_expression("ADD #state :one")
            .expression_attribute_names("#state", state)
            .expression_attribute_values(":one", n(1))
            .build()
            .map_err(unavailable)?;
        let mut transaction = self
            .client()
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().put(put).build())
            .transact_items(TransactWriteItem::builder().update(count).build());
        if state == "failed" {
            // The bucket is leased by this worker: only a requeue writes it too, rarely.
            let mark = Update::builder()
                .table_name(self.name())
                .key(KEY_ATTRIBUTE, s(&bucket_key(slug, bucket)))
                .update_expression("SET #failed = :one")
                .expression_attribute_names("#failed", "failed")
                .expression_attribute_values(":one", n(1))
                .build()
                .map_err(unavailable)?;
            transaction =
                transaction.transact_items(TransactWriteItem::builder().update(mark).build());
        }
        transaction.send().await.map_err(unavailable)?;
        Ok(())
    }

    /// The failed deliveries of a bucket: their index in it, and their items.
    async fn failed_in(&self, slug: &str, bucket: i64) -> Result<Vec<(usize, Item)>, StoreError> {
        let keys: Vec<String> = (0..BUCKET_SIZE)
            .map(|i| delivery_key(slug, bucket, i))
            .collect();
        let mut states = by_key(self.table.batch_get(&keys, None).await?);
        Ok(keys
            .iter()
            .enumerate()
            .filter_map(|(index, key)| {
                let item = states.remove(key)?;
                matches!(optional_string(&item, "state"), Ok(Some("failed")))
                    .then_some((index, item))
            })
            .collect())
    }

    /// The buckets that may hold a failed delivery: those marked when one failed (one read of
    /// the bucket items, a fiftieth of the deliveries), or for an issue started before the marks
    /// existed, all of them. A mark stays after a requeue: a later requeue reads that bucket's
    /// deliveries again and finds what is failed in it then.
    async fn buckets_with_failures(
        &self,
        slug: &str,
        issue: &Item,
    ) -> Result<Vec<i64>, StoreError> {
        let buckets = optional_number(issue, "buckets")?.unwrap_or(0);
        if optional_number(issue, "marks_failures")? != Some(1) {
            return Ok((0..buckets).collect());
        }
        let projection = (
            "#k, #failed",
            &[("#k", KEY_ATTRIBUTE), ("#failed", "failed")][..],
        );
        self.buckets_where(slug, buckets, projection, |item| {
            Ok(optional_number(item, "failed")? == Some(1))
        })
        .await
    }

    /// Hands a leased bucket back: leased to the earliest retry if one is waiting, else closed.
    /// If the lease lapsed and another worker holds it now, that worker hands it back.
    async fn hand_back(
        &self,
        slug: &str,
        bucket: i64,
        retry_at: Option<i64>,
    ) -> Result<(), StoreError> {
        let update = self
            .client()
            .update_item()
            .table_name(self.name())
            .key(KEY_ATTRIBUTE, s(&bucket_key(slug, bucket)))
            .condition_expression("#o = :me")
            .expression_attribute_names("#o", "owner")
            .expression_attribute_values(":me", s(&self.owner));
        let update = match retry_at {
            Some(at) => update
                .update_expression("SET #l = :at")
                .expression_attribute_names("#l", "lease_until")
                .expression_attribute_values(":at", n(at)),
            None => update
                .update_expression("SET #open = :zero")
                .expression_attribute_names("#open", "open")
                .expression_attribute_values(":zero", n(0)),
        };
        match update.send().await {
            Ok(_) => Ok(()),
            Err(err) if err.as_service_error().is_some_and(condition_failed) => Ok(()),
            Err(err) => Err(unavailable(err)),
        }
    }

    /// The issue item and counts of these issues, in one round of reads.
    async fn read_issues(
        &self,
        slugs: &[String],
    ) -> Result<Vec<(IssueRecord, Progress)>, StoreError> {
        let mut keys = Vec::new();
        for slug in slugs {
            keys.push(issue_key(slug));
            keys.extend((0..COUNT_SHARDS).map(|shard| count_key(slug, shard)));
        }
        let items = by_key(self.table.batch_get(&keys, None).await?);
        let mut issues = Vec::new();
        for slug in slugs {
            let Some(issue) = items.get(&issue_key(slug)) else {
                continue;
            };
            // Summed before clamping: a shard may hold a requeue's negative count.
            let mut counts = [0i64; 3];
            for shard in 0..COUNT_SHARDS {
                if let Some(count) = items.get(&count_key(slug, shard)) {
                    for (total, name) in counts.iter_mut().zip(["sent", "failed", "skipped"]) {
                        *total += optional_number(count, name)?.unwrap_or(0);
                    }
                }
            }
            let [sent, failed, skipped] = counts.map(|count| count.max(0) as u64);
            let total = optional_number(issue, "total")?.unwrap_or(0).max(0) as u64;
            let progress = Progress {
                queued: total.saturating_sub(sent + failed + skipped),
                sending: 0,
                sent,
                failed,
                skipped,
            };
            issues.push((record(slug, issue)?, progress));
        }
        Ok(issues)
    }
}

fn record(slug: &str, item: &Item) -> Result<IssueRecord, StoreError> {
    let started_at = string_attribute(item, "started_at")?;
    Ok(IssueRecord {
        slug: slug.to_owned(),
        subject: string_attribute(item, "subject")?.to_owned(),
        started_at: OffsetDateTime::parse(started_at, &Rfc3339)
            .map_err(|e| StoreError::Corrupt(format!("started_at {started_at:?}: {e}").into()))?,
        started_by: string_attribute(item, "started_by")?.to_owned(),
    })
}

#[async_trait::async_trait]
impl DeliveryLedger for DynamoDbLedger {
    /// The issue item is put on the condition that there is none (an issue starts once); its
    /// deliveries are then queued page by page. Asked again while a crashed start left queuing
    /// unfinished, the queuing is finished.
    async fn start(&self, issue: &IssueRecord) -> Result<Started, StoreError> {
        let expires_at = (issue.started_at + KEEP_DELIVERIES).unix_timestamp();
        let created = self
            .client()
            .put_item()
            .table_name(self.name())
            .item(KEY_ATTRIBUTE, s(&issue_key(&issue.slug)))
            .item("subject", s(&issue.subject))
            .item("started_at", s(&format_time(issue.started_at)))
            .item("started_by", s(&issue.started_by))
            .item("total", n(0))
            .item("buckets", n(0))
            .item("next_bucket", n(0))
            .item("marks_failures", n(1))
            .item("queuing", n(1))
            .condition_expression("attribute_not_exists(#k)")
            .expression_attribute_names("#k", KEY_ATTRIBUTE)
            .send()
            .await;
        match created {
            Ok(_) => {
                self.client()
                    .update_item()
                    .table_name(self.name())
                    .key(KEY_ATTRIBUTE, s(ISSUES_KEY))
                    .update_expression("ADD slugs :slug")
                    .expression_attribute_values(
                        ":slug",
                        AttributeValue::Ss(vec![issue.slug.clone()]),
                    )
                    .send()
                    .await
                    .map_err(unavailable)?;
                self.queue(&issue.slug, expires_at).await?;
                let total = match self.table.get(&issue_key(&issue.slug)).await? {
                    Some(item) => optional_number(&item, "total")?.unwrap_or(0),
                    None => 0,
                };
                Ok(Started::New {
                    queued: total.max(0) as u64,
                })
            }
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                let before = self
                    .table
                    .get(&issue_key(&issue.slug))
                    .await?
                    .ok_or_else(|| {
                        StoreError::Corrupt(format!("issue {:?} vanished", issue.slug).into())
                    })?;
                let before = record(&issue.slug, &before)?;
                let expires_at = (before.started_at + KEEP_DELIVERIES).unix_timestamp();
                self.queue(&issue.slug, expires_at).await?;
                Ok(Started::Already(before))
            }
            Err(err) => Err(unavailable(err)),
        }
    }

    /// A bucket at a time (up to 50 deliveries, whatever `limit` says).
    async fn claim(
        &self,
        slug: &str,
        _limit: u32,
        now: OffsetDateTime,
        lease_until: OffsetDateTime,
    ) -> Result<Vec<Claimed>, StoreError> {
        let (now, lease_until) = (now.unix_timestamp(), lease_until.unix_timestamp());
        // Each bucket leased is returned or handed back (closed, or to a later retry), so this
        // ends.
        while let Some((bucket, item)) = self.lease_a_bucket(slug, now, lease_until).await? {
            let claimed = self.open_bucket(slug, bucket, &item, now).await?;
            if !claimed.is_empty() {
                return Ok(claimed);
            }
        }
        Ok(Vec::new())
    }

    async fn record(
        &self,
        slug: &str,
        email_key: &str,
        outcome: &Outcome,
    ) -> Result<(), StoreError> {
        let Some(held) = self
            .leases()
            .held
            .remove(&(slug.to_owned(), email_key.to_owned()))
        else {
            return Err(StoreError::Corrupt(
                "an outcome for a delivery this worker did not claim".into(),
            ));
        };
        let (state, not_before, error) = match outcome {
            Outcome::Sent => ("sent", None, None),
            Outcome::Failed(reason) => ("failed", None, Some(reason.as_str())),
            Outcome::Retry { after, reason } => (
                "queued",
                Some(after.unix_timestamp()),
                Some(reason.as_str()),
            ),
        };
        self.write_outcome(
            slug,
            held.bucket,
            held.index,
            held.attempts,
            state,
            not_before,
            error,
            held.expires_at,
        )
        .await?;
        let finished_bucket = {
            let mut leases = self.leases();
            let bucket_id = (slug.to_owned(), held.bucket);
            match leases.buckets.get_mut(&bucket_id) {
                Some(bucket) => {
                    bucket.outstanding = bucket.outstanding.saturating_sub(1);
                    if let Some(at) = not_before {
                        bucket.retry_at = Some(bucket.retry_at.map_or(at, |t| t.min(at)));
                    }
                    if bucket.outstanding == 0 {
                        leases.buckets.remove(&bucket_id).map(|b| b.retry_at)
                    } else {
                        None
                    }
                }
                None => None,
            }
        };
        if let Some(retry_at) = finished_bucket {
            self.hand_back(slug, held.bucket, retry_at).await?;
        }
        Ok(())
    }

    /// Reads every delivery of the issue (a rare, deliberate act) and queues the failed ones
    /// again, reopening their buckets.
    async fn requeue_failed(&self, slug: &str) -> Result<u64, StoreError> {
        let Some(issue) = self.table.get(&issue_key(slug)).await? else {
            return Ok(0);
        };
        let mut again = 0;
        for bucket in self.buckets_with_failures(slug, &issue).await? {
            let failed = self.failed_in(slug, bucket).await?;
            if failed.is_empty() {
                continue;
            }
            for (_, item) in &failed {
                let key = string_attribute(item, KEY_ATTRIBUTE)?;
                let mut put = Put::builder().table_name(self.name());
                for (name, value) in item {
                    if name != "state" && name != "attempts" && name != "error" {
                        put = put.item(name, value.clone());
                    }
                }
                let put = put
                    .item("state", s("queued"))
                    .item("attempts", n(0))
                    .item("not_before", n(0))
                    .condition_expression("#state = :failed")
                    .expression_attribute_names("#state", "state")
                    .expression_attribute_values(":failed", s("failed"))
                    .build()
                    .map_err(unavailable)?;
                let count = Update::builder()
                    .table_name(self.name())
                    .key(KEY_ATTRIBUTE, s(&count_key(slug, random_shard())))
                    .update_expression("ADD #failed :minus")
                    .expression_attribute_names("#failed", "failed")
                    .expression_attribute_values(":minus", n(-1))
                    .build()
                    .map_err(unavailable)?;
                let requeued = self
                    .client()
                    .transact_write_items()
                    .transact_items(TransactWriteItem::builder().put(put).build())
                    .transact_items(TransactWriteItem::builder().update(count).build())
                    .send()
                    .await;
                match requeued {
                    Ok(_) => again += 1,
                    // Requeued by someone else meanwhile.
                    Err(err)
                        if err
                            .as_service_error()
                            .is_some_and(|e| e.is_transaction_canceled_exception()) =>
                    {
                        tracing::debug!(delivery = key, "already requeued");
                    }
                    Err(err) => return Err(unavailable(err)),
                }
            }
            self.client()
                .update_item()
                .table_name(self.name())
                .key(KEY_ATTRIBUTE, s(&bucket_key(slug, bucket)))
                .update_expression("SET #open = :one, #l = :zero")
                .expression_attribute_names("#open", "open")
                .expression_attribute_names("#l", "lease_until")
                .expression_attribute_values(":one", n(1))
                .expression_attribute_values(":zero", n(0))
                .send()
                .await
                .map_err(unavailable)?;
        }
        Ok(again)
    }

    async fn progress(&self, slug: &str) -> Result<Option<Progress>, StoreError> {
        Ok(self
            .read_issues(&[slug.to_owned()])
            .await?
            .pop()
            .map(|(_, progress)| progress))
    }

    /// Reads the deliveries of the buckets with failures until it has found `limit` (a rare,
    /// deliberate act, like the requeue).
    async fn failures(
        &self,
        slug: &str,
        limit: usize,
    ) -> Result<Vec<(String, String)>, StoreError> {
        let Some(issue) = self.table.get(&issue_key(slug)).await? else {
            return Ok(Vec::new());
        };
        let mut failed = Vec::new();
        for bucket in self.buckets_with_failures(slug, &issue).await? {
            if failed.len() >= limit {
                break;
            }
            let mut found: Vec<(usize, String)> = self
                .failed_in(slug, bucket)
                .await?
                .into_iter()
                .map(|(index, item)| {
                    let why = optional_string(&item, "error").ok().flatten().unwrap_or("");
                    (index, why.to_owned())
                })
                .collect();
            if found.is_empty() {
                continue;
            }
            let Some(bucket_item) = self.table.get(&bucket_key(slug, bucket)).await? else {
                continue;
            };
            let Some(AttributeValue::L(subscribers)) = bucket_item.get("keys") else {
                continue;
            };
            for (index, why) in found.drain(..) {
                if let Some(Ok(key)) = subscribers.get(index).map(|k| k.as_s()) {
                    failed.push((key.clone(), why));
                }
            }
        }
        failed.truncate(limit);
        Ok(failed)
    }

    async fn issues(&self) -> Result<Vec<(IssueRecord, Progress)>, StoreError> {
        let slugs = match self.table.get(ISSUES_KEY).await? {
            Some(item) => match item.get("slugs") {
                Some(AttributeValue::Ss(slugs)) => slugs.clone(),
                _ => Vec::new(),
            },
            None => Vec::new(),
        };
        let mut issues = self.read_issues(&slugs).await?;
        issues.sort_by(|(a, _), (b, _)| {
            b.started_at
                .cmp(&a.started_at)
                .then_with(|| a.slug.cmp(&b.slug))
        });
        Ok(issues)
    }
}

/// The contract suite against DynamoDB as moto emulates it (`STORIES_TEST_MOTO_ENDPOINT`); each
/// test makes its own table.
#[cfg(test)]
mod tests {
    use super::*;
    use crate::delivery::SharedLedger;
    use app::store::SharedStore;
    use std::sync::Arc;

    crate::delivery::contract::ledger_contract! {
        fresh: async {
            let table = crate::store::dynamodb::contract_tests::fresh_store().await;
            let store: SharedStore = Arc::new(table.clone());
            let ledger: SharedLedger = Arc::new(DynamoDbLedger::new(table.clone()).unwrap());
            let other: SharedLedger = Arc::new(DynamoDbLedger::new(table).unwrap());
            ((), store, ledger, other)
        },
    }

    /// A failure marks its bucket; the requeue and the list of failures read only marked
    /// buckets' deliveries. An issue started before the marks (no `marks_failures`) has all
    /// its buckets read.
    #[tokio::test]
    async fn only_buckets_with_a_failure_are_read_back_but_every_one_of_an_older_issue() {
        use crate::delivery::contract::{addresses, claim_everything, issue, subscribe};
        let table = crate::store::dynamodb::contract_tests::fresh_store().await;
        let store: SharedStore = Arc::new(table.clone());
        let ledger = Arc::new(DynamoDbLedger::new(table.clone()).unwrap());
        let shared: SharedLedger = ledger.clone();
        subscribe(&store, addresses(2 * BUCKET_SIZE + 3)).await;
        shared.start(&issue("cold", "ada")).await.unwrap();
        let claimed = claim_everything(&shared, OffsetDateTime::now_utc()).await;
        assert_eq!(claimed.len(), 2 * BUCKET_SIZE + 3);
        let bucket_of =
            |key: &str| ledger.leases().held[&("cold".to_owned(), key.to_owned())].bucket;
        let failing = claimed
            .iter()
            .find(|delivery| bucket_of(&delivery.email_key) == 1)
            .unwrap()
            .email_key
            .clone();
        for delivery in &claimed {
            let outcome = if delivery.email_key == failing {
                Outcome::Failed("550".into())
            } else {
                Outcome::Sent
            };
            shared
                .record("cold", &delivery.email_key, &outcome)
                .await
                .unwrap();
        }
        let item = table.get(&issue_key("cold")).await.unwrap().unwrap();
        assert_eq!(
            ledger.buckets_with_failures("cold", &item).await.unwrap(),
            vec![1]
        );
        let failures = shared.failures("cold", 10).await.unwrap();
        assert_eq!(failures, vec![(failing.clone(), "550".to_owned())]);

        let mut older = item.clone();
        older.remove("marks_failures");
        assert_eq!(
            ledger.buckets_with_failures("cold", &older).await.unwrap(),
            vec![0, 1, 2]
        );

        assert_eq!(shared.requeue_failed("cold").await.unwrap(), 1);
        let again = claim_everything(&shared, OffsetDateTime::now_utc()).await;
        assert_eq!(again.len(), 1);
        assert_eq!(again[0].email_key, failing);
        // Failing again after the requeue: found again through the mark that stayed.
        shared
            .record("cold", &failing, &Outcome::Failed("451".into()))
            .await
            .unwrap();
        assert_eq!(
            shared.failures("cold", 10).await.unwrap(),
            vec![(failing, "451".to_owned())]
        );
    }
}
