//! `serverless-stories seed --count N`: synthetic subscribers in the embedded database, for
//! benchmarks on large tables.

use crate::embedded_db::{DbError, EmbeddedDb};
use rusqlite::params;
use time::{format_description::well_known::Rfc3339, OffsetDateTime};

/// Adds `count` synthetic subscribers (`bench-<n>@example.test`, numbered after those already
/// there) in one transaction of its own (not through the group-commit writer: a million rows are
/// one commit); returns how many were added.
pub async fn seed(db: &EmbeddedDb, count: u64) -> anyhow::Result<u64> {
    let at = OffsetDateTime::now_utc().format(&Rfc3339)?;
    let added = db
        .with_conn(move |conn| {
            let tx = conn.transaction()?;
            let start: i64 = tx.query_row(
                "SELECT count(*) FROM subscribers WHERE email_key LIKE 'bench-%@example.test'",
                [],
                |row| row.get(0),
            )?;
            let mut added = 0;
            {
                let mut insert = tx.prepare(
                    "INSERT INTO subscribers (email_key, email, subscribed_at, confirmed_at)
                     VALUES (?1, ?1, ?2, ?2) ON CONFLICT (email_key) DO NOTHING",
                )?;
                for n in 0..count {
                    let email = format!("bench-{:09}@example.test", start as u64 + n);
                    added += insert.execute(params![email, at])? as u64;
                }
            }
            tx.commit()?;
            Ok(added)
        })
        .await
        .map_err(|err: DbError| anyhow::Error::new(err).context("seeding the embedded store"))?;
    Ok(added)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::SqliteStore;
    use app::{store::SubscriberStore, subscriber_email::SubscriberEmail};

    #[tokio::test]
    async fn seeding_adds_numbered_subscribers_after_existing_ones() {
        let dir = tempfile::tempdir().unwrap();
        let db = EmbeddedDb::open(dir.path()).unwrap();
        assert_eq!(seed(&db, 25).await.unwrap(), 25);
        assert_eq!(seed(&db, 5).await.unwrap(), 5);
        let store = SqliteStore::new(db);
        let counts = store.counts(time::OffsetDateTime::now_utc()).await.unwrap();
        assert_eq!(counts.confirmed, 30);
        let last = SubscriberEmail::parse("bench-000000029@example.test").unwrap();
        let record = store.record(&last).await.unwrap().unwrap();
        assert_eq!(record.subscriber.status, app::store::Status::Confirmed);
    }
}
