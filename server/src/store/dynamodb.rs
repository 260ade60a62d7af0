//! The DynamoDB store: the original sample's `Emails` table (partition key `email`, a string),
//! shared by any number of server instances.
//!
//! Items: `email` = the normalized (lower-case) address, so case variants are one subscriber;
//! `address` = the address as typed; `subscribed_at` = RFC 3339 UTC. One more item, keyed
//! [`COUNTER_KEY`] (never a valid address: it has no `@`), holds the subscriber count, so the
//! admin page shows a total without reading the table.

use app::{
    store::{Insert, Page, StoreError, Subscriber, SubscriberStore},
    subscriber_email::SubscriberEmail,
};
use aws_sdk_dynamodb::{
    error::SdkError,
    operation::{describe_table::DescribeTableError, put_item::PutItemError},
    types::{
        AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType,
        ScalarAttributeType, Select, TableStatus,
    },
    Client,
};
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use std::{collections::HashMap, time::Duration};
use time::{format_description::well_known::Rfc3339, OffsetDateTime};

pub const DEFAULT_TABLE: &str = "Emails";
pub const KEY_ATTRIBUTE: &str = "email";
const ADDRESS_ATTRIBUTE: &str = "address";
const SUBSCRIBED_AT_ATTRIBUTE: &str = "subscribed_at";
pub const COUNTER_KEY: &str = "#subscriber-count";
const COUNTER_ATTRIBUTE: &str = "subscribers";
/// Cursors carry a version so a future format can tell old ones apart.
const CURSOR_PREFIX: &str = "d1:";

type Item = HashMap<String, AttributeValue>;

#[derive(Debug, thiserror::Error)]
pub enum TableError {
    #[error(
        "the DynamoDB table {table:?} does not exist: create it with \
         `serverless-stories init-table` (with the same --table/STORIES_TABLE and AWS settings)"
    )]
    Missing { table: String },
    #[error(
        "the DynamoDB table {table:?} has the key schema {found}; Serverless Stories needs a \
         table whose only key is the partition key `email` (a string)"
    )]
    WrongKeySchema { table: String, found: String },
    #[error(
        "the DynamoDB table {table:?} did not become active within {waited:?} (status {status})"
    )]
    NotActive {
        table: String,
        status: String,
        waited: Duration,
    },
    #[error("cannot reach DynamoDB")]
    Unavailable(#[source] app::error::Cause),
}

/// What `init-table` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TableCreation {
    Created,
    AlreadyExisted,
}

#[derive(Clone)]
pub struct DynamoDbStore {
    client: Client,
    table: String,
}

impl DynamoDbStore {
    /// Connects to an existing, active table with the right key schema.
    pub async fn connect(client: Client, table: &str) -> Result<Self, TableError> {
        let status = table_status(&client, table).await?;
        if status != TableStatus::Active {
            return Err(TableError::NotActive {
                table: table.to_owned(),
                status: status.as_str().to_owned(),
                waited: Duration::ZERO,
            });
        }
        Ok(Self::unchecked(client, table))
    }

    /// The table, unchecked: a missing one shows in the first request's error and in `/readyz`.
    pub fn unchecked(client: Client, table: &str) -> Self {
        Self {
            client,
            table: table.to_owned(),
        }
    }

    /// Creates the table (on-demand billing) unless it exists, then waits until it is active.
    pub async fn create_table(
        client: &Client,
        table: &str,
        wait_at_most: Duration,
    ) -> Result<TableCreation, TableError> {
        let created = client
            .create_table()
            .table_name(table)
            .billing_mode(BillingMode::PayPerRequest)
            .attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name(KEY_ATTRIBUTE)
                    .attribute_type(ScalarAttributeType::S)
                    .build()
                    .map_err(|e| TableError::Unavailable(e.into()))?,
            )
            .key_schema(
                KeySchemaElement::builder()
                    .attribute_name(KEY_ATTRIBUTE)
                    .key_type(KeyType::Hash)
                    .build()
                    .map_err(|e| TableError::Unavailable(e.into()))?,
            )
            .send()
            .await;
        let creation = match created {
            Ok(_) => TableCreation::Created,
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_resource_in_use_exception()) =>
            {
                TableCreation::AlreadyExisted
            }
            Err(err) => return Err(TableError::Unavailable(err.into())),
        };
        let started = tokio::time::Instant::now();
        loop {
            let status = table_status(client, table).await?;
            if status == TableStatus::Active {
                return Ok(creation);
            }
            if started.elapsed() >= wait_at_most {
                return Err(TableError::NotActive {
                    table: table.to_owned(),
                    status: status.as_str().to_owned(),
                    waited: wait_at_most,
                });
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }

    /// Counts the subscribers with a full scan and stores the result in the counter item.
    /// The counter is kept by every subscribe; this repairs it if an instance died between a
    /// subscribe and its increment. Returns the count.
    pub async fn recount(&self) -> Result<u64, StoreError> {
        let mut total: u64 = 0;
        let mut start: Option<Item> = None;
        loop {
            let out = self
                .client
                .scan()
                .table_name(&self.table)
                .select(Select::Count)
                .filter_expression("#k <> :counter")
                .expression_attribute_names("#k", KEY_ATTRIBUTE)
                .expression_attribute_values(":counter", s(COUNTER_KEY))
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(unavailable)?;
            total += u64::try_from(out.count()).unwrap_or(0);
            match out.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => break,
            }
        }
        self.client
            .put_item()
            .table_name(&self.table)
            .item(KEY_ATTRIBUTE, s(COUNTER_KEY))
            .item(COUNTER_ATTRIBUTE, AttributeValue::N(total.to_string()))
            .send()
            .await
            .map_err(unavailable)?;
        Ok(total)
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    async fn increment_count(&self) -> Result<(), StoreError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .key(KEY_ATTRIBUTE, s(COUNTER_KEY))
            .update_expression("ADD #n :one")
            .expression_attribute_names("#n", COUNTER_ATTRIBUTE)
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn get(&self, key: &str) -> Result<Option<Item>, StoreError> {
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
}

async fn table_status(client: &Client, table: &str) -> Result<TableStatus, TableError> {
    let described = client.describe_table().table_name(table).send().await;
    let description = match described {
        Ok(out) => match out.table {
            Some(description) => description,
            None => {
                return Err(TableError::Unavailable(
                    "DescribeTable returned no table description".into(),
                ))
            }
        },
        Err(SdkError::ServiceError(err))
            if matches!(err.err(), DescribeTableError::ResourceNotFoundException(_)) =>
        {
            return Err(TableError::Missing {
                table: table.to_owned(),
            })
        }
        Err(err) => return Err(TableError::Unavailable(err.into())),
    };
    let keys: Vec<String> = description
        .key_schema()
        .iter()
        .map(|k| format!("{} ({})", k.attribute_name(), k.key_type().as_str()))
        .collect();
    let key_is_string = description.attribute_definitions().iter().any(|a| {
        a.attribute_name() == KEY_ATTRIBUTE && a.attribute_type() == &ScalarAttributeType::S
    });
    let schema_fits = description.key_schema().len() == 1
        && description.key_schema()[0].attribute_name() == KEY_ATTRIBUTE
        && description.key_schema()[0].key_type() == &KeyType::Hash
        && key_is_string;
    if !schema_fits {
        return Err(TableError::WrongKeySchema {
            table: table.to_owned(),
            found: if keys.is_empty() {
                "(none)".into()
            } else {
                keys.join(", ")
            },
        });
    }
    Ok(description.table_status.unwrap_or(TableStatus::Active))
}

fn s(value: &str) -> AttributeValue {
    AttributeValue::S(value.to_owned())
}

fn unavailable<E: std::error::Error + Send + Sync + 'static>(err: E) -> StoreError {
    StoreError::Unavailable(Box::new(err))
}

fn string_attribute<'a>(item: &'a Item, name: &str) -> Result<&'a str, StoreError> {
    match item.get(name) {
        Some(AttributeValue::S(value)) => Ok(value),
        other => Err(StoreError::Corrupt(
            format!("attribute {name:?} is {other:?}, not a string").into(),
        )),
    }
}

fn parse_item(item: &Item) -> Result<Subscriber, StoreError> {
    // Items written by the original sample have only `email`: show that address, time unknown
    // (the Unix epoch) rather than refusing to list the table.
    let email = match item.get(ADDRESS_ATTRIBUTE) {
        Some(_) => string_attribute(item, ADDRESS_ATTRIBUTE)?,
        None => string_attribute(item, KEY_ATTRIBUTE)?,
    };
    let subscribed_at = match item.get(SUBSCRIBED_AT_ATTRIBUTE) {
        None => OffsetDateTime::UNIX_EPOCH,
        Some(_) => {
            let text = string_attribute(item, SUBSCRIBED_AT_ATTRIBUTE)?;
            OffsetDateTime::parse(text, &Rfc3339)
                .map_err(|e| StoreError::Corrupt(format!("subscribed_at {text:?}: {e}").into()))?
        }
    };
    Ok(Subscriber {
        email: email.to_owned(),
        subscribed_at,
    })
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

#[async_trait::async_trait]
impl SubscriberStore for DynamoDbStore {
    async fn subscribe(
        &self,
        email: &SubscriberEmail,
        at: OffsetDateTime,
    ) -> Result<Insert, StoreError> {
        let at = at
            .to_offset(time::UtcOffset::UTC)
            .format(&Rfc3339)
            .map_err(|e| StoreError::Unavailable(e.into()))?;
        // The condition makes DynamoDB decide, atomically, who was first; a PutItem that DynamoDB
        // acknowledged is durable.
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .item(KEY_ATTRIBUTE, s(&email.normalized()))
            .item(ADDRESS_ATTRIBUTE, s(email.as_str()))
            .item(SUBSCRIBED_AT_ATTRIBUTE, s(&at))
            .condition_expression("attribute_not_exists(#k)")
            .expression_attribute_names("#k", KEY_ATTRIBUTE)
            .send()
            .await;
        match put {
            Ok(_) => {}
            Err(SdkError::ServiceError(err))
                if matches!(err.err(), PutItemError::ConditionalCheckFailedException(_)) =>
            {
                return Ok(Insert::AlreadyPresent)
            }
            // Throttling and outages arrive here after the SDK's retries.
            Err(err) => return Err(unavailable(err)),
        }
        if let Err(err) = self.increment_count().await {
            // The subscription itself is stored: report success, and say how to fix the total.
            tracing::error!(error = %app::error::describe(&err), table = %self.table,
                "subscriber count not updated; `serverless-stories recount` repairs it");
        }
        Ok(Insert::Added)
    }

    async fn find(&self, email: &SubscriberEmail) -> Result<Option<Subscriber>, StoreError> {
        self.get(&email.normalized())
            .await?
            .map(|item| parse_item(&item))
            .transpose()
    }

    async fn page(&self, cursor: Option<&str>, limit: u32) -> Result<Page, StoreError> {
        let mut start = cursor
            .map(decode_cursor)
            .transpose()?
            .map(|key| HashMap::from([(KEY_ATTRIBUTE.to_owned(), s(&key))]));
        let limit = limit.clamp(1, 1000) as usize;
        // One item more than asked for says whether there is a next page; the counter item is
        // skipped, so scan until enough subscribers arrived or the table ends.
        let mut rows: Vec<(String, Subscriber)> = Vec::with_capacity(limit + 1);
        loop {
            let want = (limit + 1 - rows.len()) as i32;
            let out = self
                .client
                .scan()
                .table_name(&self.table)
                .limit(want)
                .consistent_read(true)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(unavailable)?;
            for item in out.items() {
                let key = string_attribute(item, KEY_ATTRIBUTE)?;
                if key != COUNTER_KEY {
                    rows.push((key.to_owned(), parse_item(item)?));
                }
            }
            match out.last_evaluated_key {
                Some(key) if !key.is_empty() && rows.len() <= limit => start = Some(key),
                _ => break,
            }
        }
        let next_cursor = if rows.len() > limit {
            rows.truncate(limit);
            rows.last().map(|(key, _)| encode_cursor(key))
        } else {
            None
        };
        Ok(Page {
            subscribers: rows.into_iter().map(|(_, subscriber)| subscriber).collect(),
            next_cursor,
        })
    }

    async fn count(&self) -> Result<u64, StoreError> {
        let Some(item) = self.get(COUNTER_KEY).await? else {
            return Ok(0);
        };
        match item.get(COUNTER_ATTRIBUTE) {
            None => Ok(0),
            Some(AttributeValue::N(n)) => n
                .parse::<i64>()
                .map(|n| u64::try_from(n).unwrap_or(0))
                .map_err(|e| StoreError::Corrupt(format!("subscriber count {n:?}: {e}").into())),
            Some(other) => Err(StoreError::Corrupt(
                format!("subscriber count is {other:?}, not a number").into(),
            )),
        }
    }

    async fn check(&self) -> Result<(), StoreError> {
        self.get(COUNTER_KEY).await.map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn items_from_the_original_sample_are_listed() {
        let item = HashMap::from([("email".to_owned(), s("old@example.com"))]);
        let subscriber = parse_item(&item).unwrap();
        assert_eq!(subscriber.email, "old@example.com");
        assert_eq!(subscriber.subscribed_at, OffsetDateTime::UNIX_EPOCH);
    }

    #[test]
    fn malformed_items_are_corrupt_not_panics() {
        let item = HashMap::from([
            ("email".to_owned(), s("x@example.com")),
            ("address".to_owned(), AttributeValue::N("1".into())),
        ]);
        assert!(matches!(parse_item(&item), Err(StoreError::Corrupt(_))));
        let item = HashMap::from([
            ("email".to_owned(), s("x@example.com")),
            ("subscribed_at".to_owned(), s("yesterday")),
        ]);
        assert!(matches!(parse_item(&item), Err(StoreError::Corrupt(_))));
    }
}

/// The contract suite against DynamoDB as moto emulates it. `scripts/test` starts moto_server
/// and sets `STORIES_TEST_MOTO_ENDPOINT`; each test makes its own table.
#[cfg(test)]
mod contract_tests {
    use super::*;
    use aws_sdk_dynamodb::config::{retry::RetryConfig, Credentials, Region};

    fn client(endpoint: &str) -> Client {
        let config = aws_sdk_dynamodb::Config::builder()
            .behavior_version_latest()
            .endpoint_url(endpoint)
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::for_tests())
            .retry_config(RetryConfig::standard().with_max_attempts(2))
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

    async fn fresh_store() -> DynamoDbStore {
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
                client: client("http://127.0.0.1:9"),
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
        for address in ["a@example.com", "b@example.com", "c@example.com"] {
            let email = SubscriberEmail::parse(address).unwrap();
            store
                .subscribe(&email, OffsetDateTime::now_utc())
                .await
                .unwrap();
        }
        // An instance that died between a put and its increment leaves the total low.
        store
            .client
            .put_item()
            .table_name(store.table())
            .item(KEY_ATTRIBUTE, s(COUNTER_KEY))
            .item(COUNTER_ATTRIBUTE, AttributeValue::N("1".into()))
            .send()
            .await
            .unwrap();
        assert_eq!(store.count().await.unwrap(), 1);
        assert_eq!(store.recount().await.unwrap(), 3);
        assert_eq!(store.count().await.unwrap(), 3);
    }
}
