//! The counts per status: counter items spread over shards (no hot item), pending ones per hour
//! of expiry; moved after each change, read in one round of BatchGetItem, rebuilt by `recount`.

use super::{
    row::{n, optional_number, s, string_attribute, unavailable, Row},
    DynamoDbStore, Item, COUNTER_KEY, COUNT_ATTRIBUTE, KEY_ATTRIBUTE, LEGACY_COUNTER_ATTRIBUTE,
    MAX_ATTEMPTS, PENDING_SHARDS, STATUS_SHARDS,
};
use app::store::{DayCounts, Status, StatusCounts, StoreError};
use aws_sdk_dynamodb::types::KeysAndAttributes;
use std::{collections::HashMap, time::Duration};
use time::{Date, OffsetDateTime};

/// Day counters are spread over this many items: a burst of subscribes on one day has no hot
/// item.
const DAY_SHARDS: u8 = 8;

fn day_key(day: Date, shard: u8) -> String {
    format!("#day:{day}:{shard}")
}

/// The day and the count a change adds to: a confirmation on its day, an unsubscribe on its.
fn day_counted(before: Option<&Row>, after: &Row) -> Option<(Date, &'static str)> {
    let was = before.map(|row| row.subscriber.status);
    let subscriber = &after.subscriber;
    if was == Some(subscriber.status) {
        return None;
    }
    match subscriber.status {
        Status::Confirmed => Some((
            subscriber
                .confirmed_at
                .unwrap_or(subscriber.subscribed_at)
                .date(),
            "confirmed",
        )),
        Status::Unsubscribed => Some((
            subscriber
                .unsubscribed_at
                .unwrap_or(subscriber.subscribed_at)
                .date(),
            "unsubscribed",
        )),
        Status::Pending => None,
    }
}

fn shard(shards: u8) -> u8 {
    app::credentials::random_bytes::<1>().map_or(0, |[b]| b % shards)
}

impl DynamoDbStore {
    /// Moves one count from the row's old status to its new one.
    pub(super) async fn move_count(&self, before: Option<&Row>, after: Option<&Row>) {
        let from = before.map(Row::counter);
        let to = after.map(Row::counter);
        if from == to {
            return;
        }
        let day = after.and_then(|row| day_counted(before, row));
        let add = |counter: String, delta: i64| async move {
            let shards = if counter.starts_with("#count:pending") {
                PENDING_SHARDS
            } else {
                STATUS_SHARDS
            };
            let key = format!("{counter}:{}", shard(shards));
            self.client
                .update_item()
                .table_name(&self.table)
                .key(KEY_ATTRIBUTE, s(&key))
                .update_expression("ADD #n :delta")
                .expression_attribute_names("#n", COUNT_ATTRIBUTE)
                .expression_attribute_values(":delta", n(delta))
                .send()
                .await
        };
        let counted_day = async {
            let Some((day, attribute)) = day else {
                return Ok(());
            };
            self.client
                .update_item()
                .table_name(&self.table)
                .key(KEY_ATTRIBUTE, s(&day_key(day, shard(DAY_SHARDS))))
                .update_expression("ADD #n :one")
                .expression_attribute_names("#n", attribute)
                .expression_attribute_values(":one", n(1))
                .send()
                .await
                .map(|_| ())
        };
        let (removed, added, counted_day) = tokio::join!(
            async {
                match from {
                    Some(counter) => add(counter, -1).await.map(|_| ()),
                    None => Ok(()),
                }
            },
            async {
                match to {
                    Some(counter) => add(counter, 1).await.map(|_| ()),
                    None => Ok(()),
                }
            },
            counted_day
        );
        if let Err(err) = counted_day {
            tracing::error!(error = %app::error::describe(&err), table = %self.table,
                "the day's count not updated (the dashboard's chart is off by one)");
        }
        for result in [removed, added] {
            if let Err(err) = result {
                // The change itself is stored: report success, and say how to fix the counts.
                tracing::error!(error = %app::error::describe(&err), table = %self.table,
                    "subscriber counts not updated; `serverless-stories recount` repairs them");
            }
        }
    }

    /// The day counters from `first` to `last`: one round of BatchGetItem calls.
    pub(super) async fn read_days(
        &self,
        first: Date,
        last: Date,
    ) -> Result<Vec<DayCounts>, StoreError> {
        let mut keys = Vec::new();
        let mut day = first;
        while day <= last {
            keys.extend((0..DAY_SHARDS).map(|shard| day_key(day, shard)));
            match day.next_day() {
                Some(next) => day = next,
                None => break,
            }
        }
        let mut days: std::collections::BTreeMap<Date, DayCounts> = Default::default();
        for item in self.batch_get(&keys, None).await? {
            let key = string_attribute(&item, KEY_ATTRIBUTE)?;
            let text = key
                .strip_prefix("#day:")
                .and_then(|rest| rest.split(':').next())
                .unwrap_or_default();
            let day = DayCounts::parse_day(text)?;
            let counts = days.entry(day).or_insert(DayCounts {
                day,
                confirmed: 0,
                unsubscribed: 0,
            });
            counts.confirmed += optional_number(&item, "confirmed")?.unwrap_or(0).max(0) as u64;
            counts.unsubscribed +=
                optional_number(&item, "unsubscribed")?.unwrap_or(0).max(0) as u64;
        }
        Ok(days.into_values().collect())
    }

    /// Reads every counter the counts need in one round of BatchGetItem calls (100 keys each).
    pub(super) async fn read_counters(
        &self,
        keys: Vec<String>,
    ) -> Result<HashMap<String, i64>, StoreError> {
        let mut values = HashMap::new();
        for item in self.batch_get(&keys, None).await? {
            let key = string_attribute(&item, KEY_ATTRIBUTE)?.to_owned();
            let attribute = if key == COUNTER_KEY {
                LEGACY_COUNTER_ATTRIBUTE
            } else {
                COUNT_ATTRIBUTE
            };
            values.insert(key, optional_number(&item, attribute)?.unwrap_or(0));
        }
        Ok(values)
    }

    /// The items with these keys that exist (strongly consistent), in one round of
    /// BatchGetItem calls (100 keys each), in no particular order. `projection` is a projection
    /// expression and the attribute names it uses.
    pub(crate) async fn batch_get(
        &self,
        keys: &[String],
        projection: Option<(&str, &[(&str, &str)])>,
    ) -> Result<Vec<Item>, StoreError> {
        let batches = keys.chunks(100).map(|chunk| {
            let mut request = KeysAndAttributes::builder()
                .set_keys(Some(
                    chunk
                        .iter()
                        .map(|key| HashMap::from([(KEY_ATTRIBUTE.to_owned(), s(key))]))
                        .collect(),
                ))
                .consistent_read(true);
            if let Some((expression, names)) = projection {
                request = request.projection_expression(expression);
                for (name, attribute) in names {
                    request = request.expression_attribute_names(*name, *attribute);
                }
            }
            let mut wanted = Some(
                request
                    .build()
                    .map_err(|e| StoreError::Unavailable(e.into())),
            );
            async move {
                let mut found = Vec::new();
                let mut attempts = 0;
                while let Some(request) = wanted.take() {
                    let request = request?;
                    attempts += 1;
                    let out = self
                        .client
                        .batch_get_item()
                        .request_items(&self.table, request)
                        .send()
                        .await
                        .map_err(unavailable)?;
                    if let Some(items) = out.responses.and_then(|mut r| r.remove(&self.table)) {
                        found.extend(items);
                    }
                    // Keys DynamoDB did not get to (throttling): ask again, a few times.
                    if let Some(rest) = out.unprocessed_keys.and_then(|mut r| r.remove(&self.table))
                    {
                        if attempts >= MAX_ATTEMPTS {
                            return Err(StoreError::Unavailable(
                                "DynamoDB kept items unread".into(),
                            ));
                        }
                        tokio::time::sleep(Duration::from_millis(20 << attempts.min(5))).await;
                        wanted = Some(Ok(rest));
                    }
                }
                Ok::<_, StoreError>(found)
            }
        });
        Ok(futures::future::try_join_all(batches)
            .await?
            .into_iter()
            .flatten()
            .collect())
    }

    /// Counts the subscribers per status with a full scan and rewrites every counter to match.
    /// The counters are kept by every change; this repairs them if an instance died between a
    /// change and its count. Writes made during the scan may be counted or not: run it when
    /// the site is quiet. Returns the counts.
    pub async fn recount(&self) -> Result<StatusCounts, StoreError> {
        let now = OffsetDateTime::now_utc();
        let mut totals: HashMap<String, i64> = HashMap::new();
        let mut counters = Vec::new();
        let mut counts = StatusCounts::default();
        let mut start: Option<Item> = None;
        loop {
            let out = self
                .client
                .scan()
                .table_name(&self.table)
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(unavailable)?;
            for item in out.items() {
                let key = string_attribute(item, KEY_ATTRIBUTE)?;
                if !super::is_subscriber_key(key)
                    && (key.starts_with("#count:") || key == COUNTER_KEY)
                {
                    counters.push(key.to_owned());
                } else if super::is_subscriber_key(key) {
                    let row = Row::from_item(item)?;
                    if row.expired(now) {
                        continue;
                    }
                    *totals.entry(row.counter()).or_default() += 1;
                    match row.subscriber.status {
                        Status::Pending => counts.pending += 1,
                        Status::Confirmed => counts.confirmed += 1,
                        Status::Unsubscribed => counts.unsubscribed += 1,
                    }
                }
            }
            match out.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => break,
            }
        }
        for key in counters {
            self.client
                .delete_item()
                .table_name(&self.table)
                .key(KEY_ATTRIBUTE, s(&key))
                .send()
                .await
                .map_err(unavailable)?;
        }
        for (counter, total) in totals {
            self.client
                .put_item()
                .table_name(&self.table)
                .item(KEY_ATTRIBUTE, s(&format!("{counter}:0")))
                .item(COUNT_ATTRIBUTE, n(total))
                .send()
                .await
                .map_err(unavailable)?;
        }
        Ok(counts)
    }
}
