//! `serverless-stories init-table` and `recount`: the DynamoDB table's upkeep.

use crate::{
    aws,
    store::dynamodb::{DynamoDbStore, TableCreation},
};
use std::time::Duration;

/// How long `init-table` waits for a new table to become active.
const WAIT_FOR_ACTIVE: Duration = Duration::from_secs(300);

pub async fn init_table(table: &str) -> anyhow::Result<()> {
    let client = aws_sdk_dynamodb::Client::new(&aws::load().await?);
    match DynamoDbStore::create_table(&client, table, WAIT_FOR_ACTIVE).await? {
        TableCreation::Created => {
            println!("created the DynamoDB table {table} (on-demand billing); it is active")
        }
        TableCreation::AlreadyExisted => {
            println!("the DynamoDB table {table} already exists and is active")
        }
    }
    Ok(())
}

pub async fn recount(table: &str) -> anyhow::Result<()> {
    let client = aws_sdk_dynamodb::Client::new(&aws::load().await?);
    let store = DynamoDbStore::connect(client, table).await?;
    let counts = store.recount().await?;
    println!(
        "{table}: {} confirmed, {} pending, {} unsubscribed; the counters are updated",
        counts.confirmed, counts.pending, counts.unsubscribed
    );
    Ok(())
}
