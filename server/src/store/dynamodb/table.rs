//! The table itself: creating it (with its TTL), checking it at start, and what goes wrong.

use super::{DynamoDbStore, KEY_ATTRIBUTE, TTL_ATTRIBUTE};
use aws_sdk_dynamodb::{
    error::SdkError,
    operation::describe_table::DescribeTableError,
    types::{
        AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
        TableStatus, TimeToLiveSpecification,
    },
    Client,
};
use std::time::Duration;

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

    /// Creates the table (on-demand billing) unless it exists, waits until it is active, and
    /// turns on its TTL on [`TTL_ATTRIBUTE`] (unconfirmed subscriptions expire).
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
                enable_expiry(client, table).await?;
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
}

/// Turns the table's TTL on (unless it is on already): DynamoDB then removes unconfirmed
/// subscriptions and their confirmation links once they expire.
async fn enable_expiry(client: &Client, table: &str) -> Result<(), TableError> {
    let described = client
        .describe_time_to_live()
        .table_name(table)
        .send()
        .await
        .map_err(|e| TableError::Unavailable(e.into()))?;
    let on = described
        .time_to_live_description()
        .and_then(|d| d.attribute_name())
        .is_some_and(|name| name == TTL_ATTRIBUTE);
    if on {
        return Ok(());
    }
    let specification = TimeToLiveSpecification::builder()
        .attribute_name(TTL_ATTRIBUTE)
        .enabled(true)
        .build()
        .map_err(|e| TableError::Unavailable(e.into()))?;
    client
        .update_time_to_live()
        .table_name(table)
        .time_to_live_specification(specification)
        .send()
        .await
        .map_err(|e| TableError::Unavailable(e.into()))?;
    Ok(())
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
