//! The embedded store: one SQLite database file (WAL mode) in the data directory.
//!
//! `synchronous=FULL` makes every acknowledged commit durable, even across power loss; an
//! acknowledged subscribe survives `kill -9`. The database can be inspected with the `sqlite3` CLI.

use app::{
    email::SubscriberEmail,
    store::{Insert, Page, StoreError, Subscriber, SubscriberStore},
};
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use rusqlite::{params, Connection, OptionalExtension};
use std::{
    path::{Path, PathBuf},
    sync::{mpsc, Arc, Mutex, Weak},
};
use time::{format_description::well_known::Rfc3339, OffsetDateTime};

pub const DATABASE_FILE: &str = "serverless-stories.sqlite3";

/// Schema migrations, applied in order; `PRAGMA user_version` records how many ran.
const MIGRATIONS: &[&str] = &[
    "CREATE TABLE subscribers (
        email_key     TEXT PRIMARY KEY NOT NULL, -- normalized (lower-case) address
        email         TEXT NOT NULL,             -- as the visitor typed it
        subscribed_at TEXT NOT NULL              -- RFC 3339, UTC
    ) STRICT, WITHOUT ROWID;",
    // The embedded identity provider's users.
    "CREATE TABLE users (
        username      TEXT PRIMARY KEY NOT NULL COLLATE NOCASE,
        sub           TEXT NOT NULL UNIQUE,       -- stable subject id (UUID-like)
        password_hash TEXT NOT NULL,              -- argon2id, PHC string
        groups        TEXT NOT NULL,              -- comma-separated
        created_at    TEXT NOT NULL               -- RFC 3339, UTC
    ) STRICT;",
    // The subscriber count, kept by triggers in the same transaction as each insert or delete:
    // the admin page reads one row instead of counting a large table on every page view.
    "CREATE TABLE subscriber_count (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        n  INTEGER NOT NULL
    ) STRICT;
    INSERT INTO subscriber_count (id, n) SELECT 1, count(*) FROM subscribers;
    CREATE TRIGGER subscriber_added AFTER INSERT ON subscribers
        BEGIN UPDATE subscriber_count SET n = n + 1 WHERE id = 1; END;
    CREATE TRIGGER subscriber_removed AFTER DELETE ON subscribers
        BEGIN UPDATE subscriber_count SET n = n - 1 WHERE id = 1; END;",
];

#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("cannot create the data directory {path}: {source}")]
    DataDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot open the database {path}: {source}")]
    Database {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error("cannot start the database writer thread: {source}")]
    Writer { source: std::io::Error },
    #[error(
        "the database {path} was written by a newer version of serverless-stories \
         (schema {found}; this version knows up to {known})"
    )]
    TooNew {
        path: PathBuf,
        found: usize,
        known: usize,
    },
}

#[derive(Clone)]
pub struct SqliteStore {
    // One connection: SQLite has a single writer anyway, and a mutex keeps the order of
    // conditional inserts obvious.
    conn: Arc<Mutex<Connection>>,
    path: PathBuf,
    /// Subscribes go to the writer thread (see `run_writer`).
    writer: mpsc::Sender<PendingInsert>,
}

/// More than this many subscribes wait for the next transaction instead of growing this one.
const MAX_BATCH: usize = 1024;

/// One subscribe waiting to be written, and where its outcome goes once committed.
struct PendingInsert {
    key: String,
    email: String,
    subscribed_at: String,
    done: tokio::sync::oneshot::Sender<Result<Insert, StoreError>>,
}

/// Group commit through a single writer: every subscribe that arrived while the previous
/// transaction was being made durable goes into the next one, so one fsync serves them all.
/// (Handing each subscribe to a blocking task that competed for the connection made batches
/// of one or two under load: whoever got the lock next found only what had just arrived.)
///
/// The store's handles own the connection; the writer only borrows it for each batch and lets
/// go before answering. So whoever drops the last handle closes the database there and then
/// (checkpoint, WAL removed), not this thread, which a process may exit without waiting for: a
/// WAL left behind is read back in full at the next start. Ends when the last handle is dropped.
fn run_writer(conn: Weak<Mutex<Connection>>, queue: mpsc::Receiver<PendingInsert>) {
    while let Ok(first) = queue.recv() {
        let mut batch = vec![first];
        batch.extend(queue.try_iter().take(MAX_BATCH - 1));
        let written = match conn.upgrade() {
            Some(conn) => {
                // A panic while holding the lock leaves SQLite itself consistent: keep going.
                let mut conn = conn.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
                insert_batch(&mut conn, &batch).map_err(|e| e.to_string())
            }
            None => Err("the store was closed".to_owned()),
        };
        answer(batch, written);
    }
}

/// Writes one batch in one transaction; whether each row was new. If the transaction fails,
/// nothing of it is kept.
fn insert_batch(conn: &mut Connection, batch: &[PendingInsert]) -> rusqlite::Result<Vec<bool>> {
    let tx = conn.transaction()?;
    let mut added = Vec::with_capacity(batch.len());
    {
        let mut insert = tx.prepare_cached(
            "INSERT INTO subscribers (email_key, email, subscribed_at) VALUES (?1, ?2, ?3)
             ON CONFLICT (email_key) DO NOTHING",
        )?;
        for pending in batch {
            // The primary key decides, atomically, who was first.
            let changed =
                insert.execute(params![pending.key, pending.email, pending.subscribed_at])?;
            added.push(changed == 1);
        }
    }
    tx.commit()?;
    Ok(added)
}

/// Each subscribe gets its answer only after the commit; if it failed (`Err` has why), none is
/// acknowledged.
fn answer(batch: Vec<PendingInsert>, written: Result<Vec<bool>, String>) {
    match written {
        Ok(added) => {
            for (pending, added) in batch.into_iter().zip(added) {
                let outcome = if added {
                    Insert::Added
                } else {
                    Insert::AlreadyPresent
                };
                // A caller that went away no longer needs its answer.
                let _ = pending.done.send(Ok(outcome));
            }
        }
        Err(err) => {
            for pending in batch {
                let _ = pending.done.send(Err(StoreError::Unavailable(err.clone())));
            }
        }
    }
}

impl SqliteStore {
    /// Opens (creating if needed) the database in `data_dir`.
    pub fn open(data_dir: &Path) -> Result<Self, OpenError> {
        std::fs::create_dir_all(data_dir).map_err(|source| OpenError::DataDir {
            path: data_dir.to_owned(),
            source,
        })?;
        let path = data_dir.join(DATABASE_FILE);
        let db_error = |source| OpenError::Database {
            path: path.clone(),
            source,
        };
        let mut conn = Connection::open(&path).map_err(db_error)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(db_error)?;
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(db_error)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(db_error)?;
        migrate(&mut conn, &path)?;
        let conn = Arc::new(Mutex::new(conn));
        let (writer, queue) = mpsc::channel();
        let writer_conn = Arc::downgrade(&conn);
        std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || run_writer(writer_conn, queue))
            .map_err(|source| OpenError::Writer { source })?;
        Ok(Self { conn, path, writer })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `work` on the database connection, off the async runtime.
    pub(crate) async fn with_conn<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T, StoreError> {
        self.with_conn_mut(move |conn| work(conn)).await
    }

    /// As `with_conn`, with the connection mutable (for transactions).
    async fn with_conn_mut<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T, StoreError> {
        let conn = Arc::clone(&self.conn);
        tokio::task::spawn_blocking(move || {
            // A panic while holding the lock leaves SQLite itself consistent: keep going.
            let mut conn = conn.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            work(&mut conn)
        })
        .await
        .map_err(|e| StoreError::Unavailable(format!("database task failed: {e}")))?
        .map_err(|e| StoreError::Unavailable(e.to_string()))
    }
}

impl SqliteStore {
    /// Adds `count` synthetic subscribers (`bench-<n>@example.test`, numbered after those
    /// already there) in one transaction; returns how many were added.
    pub async fn seed(&self, count: u64) -> Result<u64, StoreError> {
        let at = OffsetDateTime::now_utc()
            .format(&Rfc3339)
            .map_err(|e| StoreError::Unavailable(format!("cannot format time: {e}")))?;
        self.with_conn_mut(move |conn| {
            let tx = conn.transaction()?;
            let start: i64 = tx.query_row(
                "SELECT count(*) FROM subscribers WHERE email_key LIKE 'bench-%@example.test'",
                [],
                |row| row.get(0),
            )?;
            let mut added = 0;
            {
                let mut insert = tx.prepare(
                    "INSERT INTO subscribers (email_key, email, subscribed_at) VALUES (?1, ?1, ?2)
                     ON CONFLICT (email_key) DO NOTHING",
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
    }
}

fn migrate(conn: &mut Connection, path: &Path) -> Result<(), OpenError> {
    let db_error = |source| OpenError::Database {
        path: path.to_owned(),
        source,
    };
    let version: i64 = conn
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .map_err(db_error)?;
    let version = usize::try_from(version).unwrap_or(usize::MAX);
    if version > MIGRATIONS.len() {
        return Err(OpenError::TooNew {
            path: path.to_owned(),
            found: version,
            known: MIGRATIONS.len(),
        });
    }
    for (index, migration) in MIGRATIONS.iter().enumerate().skip(version) {
        let tx = conn.transaction().map_err(db_error)?;
        tx.execute_batch(migration).map_err(db_error)?;
        tx.pragma_update(None, "user_version", (index + 1) as i64)
            .map_err(db_error)?;
        tx.commit().map_err(db_error)?;
    }
    Ok(())
}

fn parse_row(email: String, subscribed_at: String) -> Result<Subscriber, StoreError> {
    let subscribed_at = OffsetDateTime::parse(&subscribed_at, &Rfc3339)
        .map_err(|e| StoreError::Corrupt(format!("subscribed_at {subscribed_at:?}: {e}")))?;
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
        let at = at
            .to_offset(time::UtcOffset::UTC)
            .format(&Rfc3339)
            .map_err(|e| StoreError::Unavailable(format!("cannot format time: {e}")))?;
        let (done, answer) = tokio::sync::oneshot::channel();
        let abandoned =
            || StoreError::Unavailable("the write was abandoned before it was committed".into());
        self.writer
            .send(PendingInsert {
                key,
                email,
                subscribed_at: at,
                done,
            })
            .map_err(|_| abandoned())?;
        answer.await.map_err(|_| abandoned())?
    }

    async fn find(&self, email: &SubscriberEmail) -> Result<Option<Subscriber>, StoreError> {
        let key = email.normalized();
        let row = self
            .with_conn(move |conn| {
                conn.query_row(
                    "SELECT email, subscribed_at FROM subscribers WHERE email_key = ?1",
                    params![key],
                    |row| Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?)),
                )
                .optional()
            })
            .await?;
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
            .await?;
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
            .with_conn(|conn| {
                conn.query_row("SELECT n FROM subscriber_count WHERE id = 1", [], |row| {
                    row.get(0)
                })
            })
            .await?;
        Ok(u64::try_from(count).unwrap_or(0))
    }

    async fn check(&self) -> Result<(), StoreError> {
        // Touches the table, not just the connection: a damaged schema fails the check.
        self.with_conn(|conn| {
            conn.query_row("SELECT 1 FROM subscribers LIMIT 1", [], |_| Ok(()))
                .optional()
                .map(|_| ())
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::contract;

    fn open_temp() -> (tempfile::TempDir, SqliteStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("nested/data")).unwrap();
        (dir, store)
    }

    #[tokio::test]
    async fn contract_new_and_duplicate() {
        let (_dir, store) = open_temp();
        contract::new_then_duplicate(&store).await;
    }

    #[tokio::test]
    async fn contract_case_variants_are_one_subscriber() {
        let (_dir, store) = open_temp();
        contract::case_variants_are_one_subscriber(&store).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn contract_concurrent_subscribes_have_one_winner() {
        let (_dir, store) = open_temp();
        contract::concurrent_subscribes_have_one_winner(Arc::new(store)).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn contract_concurrent_distinct_subscribes_are_all_added() {
        let (_dir, store) = open_temp();
        contract::concurrent_distinct_subscribes_are_all_added(Arc::new(store)).await;
    }

    #[tokio::test]
    async fn contract_pagination_and_count() {
        let (_dir, store) = open_temp();
        contract::pages_cover_everything_once_and_count_matches(&store).await;
    }

    #[tokio::test]
    async fn contract_foreign_cursors_are_refused() {
        let (_dir, store) = open_temp();
        contract::foreign_cursors_are_refused(&store).await;
    }

    #[tokio::test]
    async fn contract_health_check() {
        let (_dir, store) = open_temp();
        contract::health_check_passes(&store).await;
    }

    #[tokio::test]
    async fn contract_outage_is_an_error_never_a_duplicate() {
        let (_dir, store) = open_temp();
        // A broken database: the tables the store needs are gone.
        store
            .with_conn(|conn| {
                conn.execute_batch("DROP TABLE subscribers; DROP TABLE subscriber_count")
            })
            .await
            .unwrap();
        contract::outage_is_an_error_never_a_duplicate(&store).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn dropping_the_last_handle_closes_the_database() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path()).unwrap();
        let clone = store.clone();
        for n in 0..50 {
            let email = SubscriberEmail::parse(&format!("closing-{n}@example.com")).unwrap();
            clone
                .subscribe(&email, OffsetDateTime::now_utc())
                .await
                .unwrap();
        }
        let wal = dir.path().join(format!("{DATABASE_FILE}-wal"));
        assert!(wal.exists(), "a WAL while open");
        drop(clone);
        drop(store);
        // Closed by this drop, not later by the writer thread: the WAL was checkpointed and
        // removed, so the next start has nothing to read back.
        assert!(!wal.exists(), "the WAL outlived the store");
        let reopened = SqliteStore::open(dir.path()).unwrap();
        assert_eq!(reopened.count().await.unwrap(), 50);
    }

    #[tokio::test]
    async fn data_survives_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let email = SubscriberEmail::parse("kept@example.com").unwrap();
        {
            let store = SqliteStore::open(dir.path()).unwrap();
            assert_eq!(
                store
                    .subscribe(&email, OffsetDateTime::now_utc())
                    .await
                    .unwrap(),
                Insert::Added
            );
        }
        let store = SqliteStore::open(dir.path()).unwrap();
        assert!(store.find(&email).await.unwrap().is_some());
        assert_eq!(
            store
                .subscribe(&email, OffsetDateTime::now_utc())
                .await
                .unwrap(),
            Insert::AlreadyPresent
        );
    }

    #[tokio::test]
    async fn seeding_adds_numbered_subscribers_after_existing_ones() {
        let (_dir, store) = open_temp();
        assert_eq!(store.seed(25).await.unwrap(), 25);
        assert_eq!(store.seed(5).await.unwrap(), 5);
        assert_eq!(store.count().await.unwrap(), 30);
        let last = SubscriberEmail::parse("bench-000000029@example.test").unwrap();
        assert!(store.find(&last).await.unwrap().is_some());
    }

    #[tokio::test]
    async fn the_count_migration_counts_what_was_there_and_follows_deletes() {
        let dir = tempfile::tempdir().unwrap();
        drop(SqliteStore::open(dir.path()).unwrap());
        // Back to schema 2 with rows in it, as an older version left it.
        let conn = Connection::open(dir.path().join(DATABASE_FILE)).unwrap();
        conn.execute_batch(
            "DROP TRIGGER subscriber_added; DROP TRIGGER subscriber_removed;
             DROP TABLE subscriber_count; PRAGMA user_version = 2;
             INSERT INTO subscribers VALUES ('a@x.org', 'a@x.org', '2026-01-01T00:00:00Z');
             INSERT INTO subscribers VALUES ('b@x.org', 'b@x.org', '2026-01-01T00:00:00Z');",
        )
        .unwrap();
        drop(conn);
        let store = SqliteStore::open(dir.path()).unwrap();
        assert_eq!(store.count().await.unwrap(), 2);
        store
            .with_conn(|conn| {
                conn.execute("DELETE FROM subscribers WHERE email_key = 'a@x.org'", [])
            })
            .await
            .unwrap();
        assert_eq!(store.count().await.unwrap(), 1);
    }

    #[test]
    fn a_database_from_a_newer_version_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        drop(SqliteStore::open(dir.path()).unwrap());
        let conn = Connection::open(dir.path().join(DATABASE_FILE)).unwrap();
        conn.pragma_update(None, "user_version", 99).unwrap();
        drop(conn);
        let err = SqliteStore::open(dir.path()).err().expect("refused");
        assert!(matches!(err, OpenError::TooNew { found: 99, .. }), "{err}");
    }

    #[test]
    fn an_unusable_data_dir_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("not-a-dir");
        std::fs::write(&file, b"x").unwrap();
        let err = SqliteStore::open(&file).err().expect("refused");
        assert!(
            err.to_string().contains("cannot create the data directory"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn a_corrupt_timestamp_is_reported_not_panicked_on() {
        let (_dir, store) = open_temp();
        let email = SubscriberEmail::parse("odd@example.com").unwrap();
        store
            .with_conn(|conn| {
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
