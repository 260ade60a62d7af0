//! The embedded subscriber store: the `subscribers` table of the embedded database (see
//! [`crate::embedded_db`], which owns the connection, the schema and the group-commit writer).

use crate::embedded_db::{DbError, EmbeddedDb};
use app::{
    store::{Insert, Page, StoreError, Subscriber, SubscriberStore},
    subscriber_email::SubscriberEmail,
};
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use rusqlite::{params, OptionalExtension};
use std::path::Path;
use time::{format_description::well_known::Rfc3339, OffsetDateTime};

#[derive(Clone)]
pub struct SqliteStore {
    db: EmbeddedDb,
}

impl SqliteStore {
    pub fn new(db: EmbeddedDb) -> Self {
        Self { db }
    }

    pub fn path(&self) -> &Path {
        self.db.path()
    }
}

fn unavailable(err: DbError) -> StoreError {
    StoreError::Unavailable(err.into())
}

fn format_time(at: OffsetDateTime) -> Result<String, StoreError> {
    at.to_offset(time::UtcOffset::UTC)
        .format(&Rfc3339)
        .map_err(|e| StoreError::Unavailable(e.into()))
}

fn parse_row(email: String, subscribed_at: String) -> Result<Subscriber, StoreError> {
    let subscribed_at = OffsetDateTime::parse(&subscribed_at, &Rfc3339)
        .map_err(|e| StoreError::Corrupt(format!("subscribed_at {subscribed_at:?}: {e}").into()))?;
    Ok(Subscriber {
        email,
        subscribed_at,
    })
}

#[async_trait::async_trait]
impl SubscriberStore for SqliteStore {
    async fn subscribe(
        &self,
        email: &SubscriberEmail,
        at: OffsetDateTime,
    ) -> Result<Insert, StoreError> {
        let key = email.normalized();
        let email = email.as_str().to_owned();
        let at = format_time(at)?;
        let changed = self
            .db
            .write(move |conn| {
                // The primary key decides, atomically, who was first.
                conn.prepare_cached(
                    "INSERT INTO subscribers (email_key, email, subscribed_at) VALUES (?1, ?2, ?3)
                     ON CONFLICT (email_key) DO NOTHING",
                )?
                .execute(params![key, email, at])
            })
            .await
            .map_err(unavailable)?;
        Ok(if changed == 1 {
            Insert::Added
        } else {
            Insert::AlreadyPresent
        })
    }

    async fn find(&self, email: &SubscriberEmail) -> Result<Option<Subscriber>, StoreError> {
        let key = email.normalized();
        let row = self
            .db
            .with_conn(move |conn| {
                conn.query_row(
                    "SELECT email, subscribed_at FROM subscribers WHERE email_key = ?1",
                    params![key],
                    |row| Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?)),
                )
                .optional()
            })
            .await
            .map_err(unavailable)?;
        row.map(|(email, at)| parse_row(email, at)).transpose()
    }

    async fn page(&self, cursor: Option<&str>, limit: u32) -> Result<Page, StoreError> {
        // The cursor is the last key of the previous page (keyset pagination: every page is one
        // index range scan, however deep).
        let after = match cursor {
            None => String::new(),
            Some(cursor) => URL_SAFE_NO_PAD
                .decode(cursor)
                .ok()
                .and_then(|bytes| String::from_utf8(bytes).ok())
                .filter(|key| !key.is_empty())
                .ok_or(StoreError::BadCursor)?,
        };
        let limit = limit.max(1);
        let rows = self
            .db
            .with_conn(move |conn| {
                let mut statement = conn.prepare_cached(
                    "SELECT email_key, email, subscribed_at FROM subscribers
                     WHERE email_key > ?1 ORDER BY email_key LIMIT ?2",
                )?;
                let rows = statement.query_map(params![after, i64::from(limit) + 1], |row| {
                    Ok((
                        row.get::<_, String>(0)?,
                        row.get::<_, String>(1)?,
                        row.get::<_, String>(2)?,
                    ))
                })?;
                rows.collect::<rusqlite::Result<Vec<_>>>()
            })
            .await
            .map_err(unavailable)?;
        let more = rows.len() > limit as usize;
        let mut subscribers = Vec::with_capacity(rows.len().min(limit as usize));
        let mut last_key = None;
        for (key, email, at) in rows.into_iter().take(limit as usize) {
            subscribers.push(parse_row(email, at)?);
            last_key = Some(key);
        }
        Ok(Page {
            subscribers,
            next_cursor: last_key
                .filter(|_| more)
                .map(|key| URL_SAFE_NO_PAD.encode(key)),
        })
    }

    async fn count(&self) -> Result<u64, StoreError> {
        let count: i64 = self
            .db
            .with_conn(|conn| {
                conn.query_row("SELECT n FROM subscriber_count WHERE id = 1", [], |row| {
                    row.get(0)
                })
            })
            .await
            .map_err(unavailable)?;
        Ok(u64::try_from(count).unwrap_or(0))
    }

    async fn check(&self) -> Result<(), StoreError> {
        // Touches the table, not just the connection: a damaged schema fails the check.
        self.db
            .with_conn(|conn| {
                conn.query_row("SELECT 1 FROM subscribers LIMIT 1", [], |_| Ok(()))
                    .optional()
                    .map(|_| ())
            })
            .await
            .map_err(unavailable)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open_temp() -> (tempfile::TempDir, SqliteStore) {
        let dir = tempfile::tempdir().unwrap();
        let db = EmbeddedDb::open(&dir.path().join("nested/data")).unwrap();
        (dir, SqliteStore::new(db))
    }

    crate::store::contract::store_contract! {
        fresh: async { open_temp() },
        broken: async {
            let (dir, store) = open_temp();
            // A broken database: the tables the store needs are gone.
            store
                .db
                .with_conn(|conn| {
                    conn.execute_batch("DROP TABLE subscribers; DROP TABLE subscriber_count")
                })
                .await
                .unwrap();
            vec![(dir, store)]
        },
    }

    #[tokio::test]
    async fn data_survives_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let email = SubscriberEmail::parse("kept@example.com").unwrap();
        {
            let store = SqliteStore::new(EmbeddedDb::open(dir.path()).unwrap());
            assert_eq!(
                store
                    .subscribe(&email, OffsetDateTime::now_utc())
                    .await
                    .unwrap(),
                Insert::Added
            );
        }
        let store = SqliteStore::new(EmbeddedDb::open(dir.path()).unwrap());
        assert!(store.find(&email).await.unwrap().is_some());
        assert_eq!(store.count().await.unwrap(), 1);
        assert_eq!(
            store
                .subscribe(&email, OffsetDateTime::now_utc())
                .await
                .unwrap(),
            Insert::AlreadyPresent
        );
    }

    #[tokio::test]
    async fn a_corrupt_timestamp_is_reported_not_panicked_on() {
        let (_dir, store) = open_temp();
        let email = SubscriberEmail::parse("odd@example.com").unwrap();
        store
            .db
            .write(|conn| {
                conn.execute(
                    "INSERT INTO subscribers VALUES ('odd@example.com', 'odd@example.com', 'yesterday')",
                    [],
                )
            })
            .await
            .unwrap();
        assert!(matches!(
            store.find(&email).await,
            Err(StoreError::Corrupt(_))
        ));
    }
}
