//! The embedded database: one SQLite file (WAL mode) in the data directory, shared by every
//! embedded adapter — the subscriber store, the user directory, and whatever comes next. It owns
//! the connection, the schema (migrations) and the single writer that group-commits writes.
//!
//! `synchronous=FULL` makes every acknowledged commit durable, even across power loss: a write
//! is answered only once its transaction is on disk, and an acknowledged subscribe survives
//! `kill -9`. The file can be inspected with the `sqlite3` CLI.

use rusqlite::Connection;
use std::{
    path::{Path, PathBuf},
    sync::{mpsc, Arc, Mutex, Weak},
};

pub const DATABASE_FILE: &str = "serverless-stories.sqlite3";

/// Schema migrations, applied in order; `PRAGMA user_version` records how many ran. Append only:
/// a released migration never changes.
pub(crate) const MIGRATIONS: &[&str] = &[
    // The subscriber store's subscribers.
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
    // Sessions (ID tokens, and credentials minted from them) of a user that signed in before
    // this time (Unix seconds) are revoked: a password change moves it to now.
    "ALTER TABLE users ADD COLUMN valid_after INTEGER NOT NULL DEFAULT 0;",
    // The subscriber lifecycle: a status per address (everyone stored so far was told they were
    // subscribed: confirmed), the pending confirmation (its token's hash, when it was mailed,
    // when it expires), the unsubscribe secret, the consent record, and counts per status.
    "ALTER TABLE subscribers ADD COLUMN status TEXT NOT NULL DEFAULT 'confirmed'
        CHECK (status IN ('pending', 'confirmed', 'unsubscribed'));
    ALTER TABLE subscribers ADD COLUMN confirmed_at TEXT;
    ALTER TABLE subscribers ADD COLUMN unsubscribed_at TEXT;
    ALTER TABLE subscribers ADD COLUMN confirm_hash TEXT;          -- SHA-256 of the mailed token
    ALTER TABLE subscribers ADD COLUMN confirmation_sent_at TEXT;
    ALTER TABLE subscribers ADD COLUMN expires_at INTEGER;         -- Unix seconds, pending only
    ALTER TABLE subscribers ADD COLUMN unsubscribe_token TEXT;     -- made for the first mail
    -- The current subscription's consent (the record's first entry; the rest, and those of
    -- subscriptions that ended, in consent_events): kept in the row, so a subscribe writes one row.
    ALTER TABLE subscribers ADD COLUMN consent_source TEXT NOT NULL
        DEFAULT 'form on / (before consent records)';
    ALTER TABLE subscribers ADD COLUMN consent_ip TEXT;
    UPDATE subscribers SET confirmed_at = subscribed_at;
    CREATE UNIQUE INDEX subscribers_by_confirm_hash ON subscribers (confirm_hash)
        WHERE confirm_hash IS NOT NULL;
    CREATE UNIQUE INDEX subscribers_by_unsubscribe_token ON subscribers (unsubscribe_token)
        WHERE unsubscribe_token IS NOT NULL;
    -- Listing one status walks its own index; confirmed subscribers (most of them) are in none,
    -- so a subscribe without double opt-in writes no status index.
    CREATE INDEX pending_by_address ON subscribers (email_key) WHERE status = 'pending';
    CREATE INDEX unsubscribed_by_address ON subscribers (email_key)
        WHERE status = 'unsubscribed';
    CREATE INDEX pending_by_expiry ON subscribers (expires_at) WHERE status = 'pending';
    CREATE TABLE consent_events (
        email_key TEXT NOT NULL,
        at        INTEGER NOT NULL, -- Unix nanoseconds
        event     TEXT NOT NULL,    -- subscribed | confirmed | unsubscribed
        source    TEXT NOT NULL,
        client_ip TEXT,             -- only with --record-consent-ip
        PRIMARY KEY (email_key, at, event)
    ) STRICT, WITHOUT ROWID;
    DROP TRIGGER subscriber_added;
    DROP TRIGGER subscriber_removed;
    DROP TABLE subscriber_count;
    CREATE TABLE subscriber_counts (
        status TEXT PRIMARY KEY NOT NULL,
        n      INTEGER NOT NULL
    ) STRICT, WITHOUT ROWID;
    INSERT INTO subscriber_counts (status, n)
        SELECT s.status, (SELECT count(*) FROM subscribers WHERE status = s.status)
        FROM (SELECT 'pending' AS status UNION ALL SELECT 'confirmed' UNION ALL
              SELECT 'unsubscribed') AS s;
    CREATE TRIGGER subscriber_added AFTER INSERT ON subscribers
        BEGIN UPDATE subscriber_counts SET n = n + 1 WHERE status = NEW.status; END;
    CREATE TRIGGER subscriber_removed AFTER DELETE ON subscribers
        BEGIN UPDATE subscriber_counts SET n = n - 1 WHERE status = OLD.status; END;
    CREATE TRIGGER subscriber_moved AFTER UPDATE OF status ON subscribers
        WHEN OLD.status <> NEW.status
        BEGIN
            UPDATE subscriber_counts SET n = n - 1 WHERE status = OLD.status;
            UPDATE subscriber_counts SET n = n + 1 WHERE status = NEW.status;
        END;",
    // Newsletter issues and their delivery ledger: one row per (issue, subscriber), from queued
    // through sending (leased until `not_before`) to sent, failed or skipped (no longer confirmed
    // when its turn came). A queued row waits until `not_before` (a retry's time).
    "CREATE TABLE issues (
        slug       TEXT PRIMARY KEY NOT NULL,
        subject    TEXT NOT NULL,
        started_at TEXT NOT NULL,   -- RFC 3339, UTC
        started_by TEXT NOT NULL
    ) STRICT;
    CREATE TABLE deliveries (
        slug       TEXT NOT NULL,
        email_key  TEXT NOT NULL,
        state      TEXT NOT NULL DEFAULT 'queued'
            CHECK (state IN ('queued', 'sending', 'sent', 'failed', 'skipped')),
        not_before INTEGER NOT NULL DEFAULT 0,   -- Unix seconds
        attempts   INTEGER NOT NULL DEFAULT 0,
        error      TEXT,
        PRIMARY KEY (slug, email_key)
    ) STRICT, WITHOUT ROWID;
    CREATE INDEX deliveries_due ON deliveries (slug, state, not_before);",
    // Each issue's deliveries counted per state as they change, so its progress is one row
    // however long the list (starting an issue sets `queued` itself: one write, not a trigger
    // per row). Erasing a subscriber deletes their deliveries.
    "ALTER TABLE issues ADD COLUMN queued  INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE issues ADD COLUMN sending INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE issues ADD COLUMN sent    INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE issues ADD COLUMN failed  INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE issues ADD COLUMN skipped INTEGER NOT NULL DEFAULT 0;
    UPDATE issues SET
        queued  = (SELECT count(*) FROM deliveries d WHERE d.slug = issues.slug AND d.state = 'queued'),
        sending = (SELECT count(*) FROM deliveries d WHERE d.slug = issues.slug AND d.state = 'sending'),
        sent    = (SELECT count(*) FROM deliveries d WHERE d.slug = issues.slug AND d.state = 'sent'),
        failed  = (SELECT count(*) FROM deliveries d WHERE d.slug = issues.slug AND d.state = 'failed'),
        skipped = (SELECT count(*) FROM deliveries d WHERE d.slug = issues.slug AND d.state = 'skipped');
    CREATE TRIGGER deliveries_count_change AFTER UPDATE OF state ON deliveries
        WHEN OLD.state <> NEW.state
        BEGIN
            UPDATE issues SET
                queued  = queued  + (NEW.state = 'queued')  - (OLD.state = 'queued'),
                sending = sending + (NEW.state = 'sending') - (OLD.state = 'sending'),
                sent    = sent    + (NEW.state = 'sent')    - (OLD.state = 'sent'),
                failed  = failed  + (NEW.state = 'failed')  - (OLD.state = 'failed'),
                skipped = skipped + (NEW.state = 'skipped') - (OLD.state = 'skipped')
            WHERE slug = NEW.slug;
        END;
    CREATE TRIGGER deliveries_count_delete AFTER DELETE ON deliveries
        BEGIN
            UPDATE issues SET
                queued  = queued  - (OLD.state = 'queued'),
                sending = sending - (OLD.state = 'sending'),
                sent    = sent    - (OLD.state = 'sent'),
                failed  = failed  - (OLD.state = 'failed'),
                skipped = skipped - (OLD.state = 'skipped')
            WHERE slug = OLD.slug;
        END;
    CREATE INDEX deliveries_of_subscriber ON deliveries (email_key);",
    // The admin dashboard's subscribers per day (UTC): new confirmations and unsubscribes,
    // counted by triggers as they happen (never a scan); counts of earlier days from the rows'
    // times. Erasing an address leaves the day's count: it holds no one's data.
    "CREATE TABLE daily_counts (
        day          TEXT PRIMARY KEY NOT NULL, -- YYYY-MM-DD, UTC
        confirmed    INTEGER NOT NULL DEFAULT 0,
        unsubscribed INTEGER NOT NULL DEFAULT 0
    ) STRICT, WITHOUT ROWID;
    INSERT INTO daily_counts (day, confirmed)
        SELECT substr(confirmed_at, 1, 10), count(*) FROM subscribers
        WHERE confirmed_at IS NOT NULL GROUP BY 1;
    INSERT INTO daily_counts (day, unsubscribed)
        SELECT substr(unsubscribed_at, 1, 10), count(*) FROM subscribers
        WHERE status = 'unsubscribed' AND unsubscribed_at IS NOT NULL GROUP BY 1
        ON CONFLICT (day) DO UPDATE SET unsubscribed = excluded.unsubscribed;
    CREATE TRIGGER daily_confirmed_at_once AFTER INSERT ON subscribers
        WHEN NEW.status = 'confirmed'
        BEGIN
            INSERT INTO daily_counts (day, confirmed)
                VALUES (substr(coalesce(NEW.confirmed_at, NEW.subscribed_at), 1, 10), 1)
                ON CONFLICT (day) DO UPDATE SET confirmed = confirmed + 1;
        END;
    CREATE TRIGGER daily_status_change AFTER UPDATE OF status ON subscribers
        WHEN OLD.status <> NEW.status AND NEW.status IN ('confirmed', 'unsubscribed')
        BEGIN
            INSERT INTO daily_counts (day, confirmed, unsubscribed)
                VALUES (
                    substr(CASE NEW.status
                        WHEN 'confirmed' THEN coalesce(NEW.confirmed_at, NEW.subscribed_at)
                        ELSE coalesce(NEW.unsubscribed_at, NEW.subscribed_at) END, 1, 10),
                    NEW.status = 'confirmed',
                    NEW.status = 'unsubscribed')
                ON CONFLICT (day) DO UPDATE SET
                    confirmed = confirmed + excluded.confirmed,
                    unsubscribed = unsubscribed + excluded.unsubscribed;
        END;",
];

#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("cannot create the data directory {path}")]
    DataDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot open the database {path}")]
    Database {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error("cannot start the database writer thread")]
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

/// Why a read or write did not happen. Adapters map it to their port's error, keeping it as the
/// cause.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("the database failed")]
    Sqlite(#[from] rusqlite::Error),
    /// The transaction this write was batched into could not be made durable: nothing of it was
    /// kept. Shared by every write of the batch.
    #[error("the database could not commit")]
    Commit(#[source] Arc<rusqlite::Error>),
    #[error("the database task stopped")]
    Task(#[source] tokio::task::JoinError),
    #[error("the write was abandoned before it was committed (the database was closed)")]
    Abandoned,
}

#[derive(Clone)]
pub struct EmbeddedDb {
    // One connection: SQLite has a single writer anyway, and a mutex keeps the order of
    // conditional inserts obvious.
    conn: Arc<Mutex<Connection>>,
    path: PathBuf,
    /// Writes go to the writer thread (see `run_writer`).
    writer: mpsc::Sender<Box<dyn WriteJob>>,
}

/// More than this many writes wait for the next transaction instead of growing this one.
const MAX_BATCH: usize = 1024;

/// One write waiting for the writer thread.
trait WriteJob: Send {
    /// Runs inside the batch's transaction, in a savepoint of its own: a write that fails is
    /// undone alone, and the rest of the batch still commits.
    fn run(&mut self, conn: &Connection);
    /// Hands the outcome to the caller once the batch's commit has succeeded (or failed).
    fn finish(self: Box<Self>, committed: Result<(), &Arc<rusqlite::Error>>);
    /// Whether the commit must reach the disk before the caller hears of it (see `write`).
    fn synced(&self) -> bool;
}

struct Job<T, F> {
    work: Option<F>,
    outcome: Option<rusqlite::Result<T>>,
    done: tokio::sync::oneshot::Sender<Result<T, DbError>>,
    synced: bool,
}

impl<T, F> WriteJob for Job<T, F>
where
    T: Send,
    F: FnOnce(&Connection) -> rusqlite::Result<T> + Send,
{
    fn run(&mut self, conn: &Connection) {
        let Some(work) = self.work.take() else { return };
        let savepoint = |sql: &str| conn.prepare_cached(sql).and_then(|mut s| s.execute([]));
        let outcome = savepoint("SAVEPOINT write").and_then(|_| match work(conn) {
            Ok(value) => savepoint("RELEASE write").map(|_| value),
            Err(err) => {
                savepoint("ROLLBACK TO write").and_then(|_| savepoint("RELEASE write"))?;
                Err(err)
            }
        });
        self.outcome = Some(outcome);
    }

    fn finish(self: Box<Self>, committed: Result<(), &Arc<rusqlite::Error>>) {
        let answer = match (committed, self.outcome) {
            (Ok(()), Some(outcome)) => outcome.map_err(DbError::Sqlite),
            (Err(err), _) => Err(DbError::Commit(Arc::clone(err))),
            // Never run: the transaction could not begin.
            (Ok(()), None) => Err(DbError::Abandoned),
        };
        // A caller that went away no longer needs its answer.
        let _ = self.done.send(answer);
    }

    fn synced(&self) -> bool {
        self.synced
    }
}

/// Group commit through a single writer: every write that arrived while the previous
/// transaction was being made durable goes into the next one, so one fsync serves them all.
/// (Handing each write to a blocking task that competed for the connection made batches of one
/// or two under load: whoever got the lock next found only what had just arrived.)
///
/// The database's handles own the connection; the writer only borrows it for each batch and lets
/// go before answering. So whoever drops the last handle closes the database there and then
/// (checkpoint, WAL removed), not this thread, which a process may exit without waiting for: a
/// WAL left behind is read back in full at the next start. Ends when the last handle is dropped.
///
/// A batch of writes that all said they need no sync (`write_unsynced`) commits with
/// `synchronous=NORMAL`: in the WAL, so a killed process loses nothing, but not flushed to the
/// disk. The next synced commit flushes the WAL, theirs included.
fn run_writer(conn: Weak<Mutex<Connection>>, queue: mpsc::Receiver<Box<dyn WriteJob>>) {
    let mut syncing = true;
    while let Ok(first) = queue.recv() {
        let mut batch = vec![first];
        batch.extend(queue.try_iter().take(MAX_BATCH - 1));
        let sync = batch.iter().any(|job| job.synced());
        let committed = match conn.upgrade() {
            Some(conn) => {
                // A panic while holding the lock leaves SQLite itself consistent: keep going.
                let mut conn = conn.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
                let mode = if sync { "FULL" } else { "NORMAL" };
                let switched = if sync == syncing {
                    Ok(())
                } else {
                    conn.pragma_update(None, "synchronous", mode)
                };
                match switched {
                    Ok(()) => {
                        syncing = sync;
                        write_batch(&mut conn, &mut batch).map_err(Arc::new)
                    }
                    Err(err) => Err(Arc::new(err)),
                }
            }
            None => Err(Arc::new(rusqlite::Error::InvalidQuery)),
        };
        for job in batch {
            job.finish(committed.as_ref().map(|_| ()));
        }
    }
}

/// Runs one batch in one transaction. If the transaction fails, nothing of it is kept.
fn write_batch(conn: &mut Connection, batch: &mut [Box<dyn WriteJob>]) -> rusqlite::Result<()> {
    // IMMEDIATE: the write lock is taken (waiting up to the busy timeout) before the first read.
    // A deferred transaction that read first and then wrote would fail at once with "database
    // is locked" if another process (a CLI beside the server) had written in between.
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    for job in batch.iter_mut() {
        job.run(&tx);
    }
    tx.commit()
}

impl EmbeddedDb {
    /// Opens (creating if needed) the database in `data_dir`, and brings its schema up to date.
    /// The directory and the database are made owner-only when they are created (they hold
    /// password hashes and every address); wider ones made earlier are kept, with a warning.
    pub fn open(data_dir: &Path) -> Result<Self, OpenError> {
        create_private_dir(data_dir).map_err(|source| OpenError::DataDir {
            path: data_dir.to_owned(),
            source,
        })?;
        let path = data_dir.join(DATABASE_FILE);
        create_private_file(&path).map_err(|source| OpenError::DataDir {
            path: path.clone(),
            source,
        })?;
        for checked in [data_dir, path.as_path()] {
            if let Some(mode) = readable_by_others(checked) {
                tracing::warn!(path = %checked.display(), mode = format!("{mode:o}"),
                    "readable by other users: it holds password hashes and every subscriber's \
                     address; `chmod go-rwx` it");
            }
        }
        let db_error = |source| OpenError::Database {
            path: path.clone(),
            source,
        };
        // SQLite gives its -wal and -shm files the database file's permissions.
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

    /// A durable write: `work` runs in the writer's next transaction (with whatever other writes
    /// arrive meanwhile), and this returns only after that transaction is committed. If `work`
    /// fails, only its own changes are undone.
    pub async fn write<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T, DbError> {
        self.queue_write(work, true).await
    }

    /// A write that survives the process being killed (it is in the WAL when this returns) but
    /// not necessarily the machine losing power, without waiting for the disk: for records
    /// whose loss only makes work be done again (a newsletter delivery's outcome).
    pub async fn write_unsynced<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T, DbError> {
        self.queue_write(work, false).await
    }

    async fn queue_write<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
        synced: bool,
    ) -> Result<T, DbError> {
        let (done, answer) = tokio::sync::oneshot::channel();
        let job = Job {
            work: Some(work),
            outcome: None,
            done,
            synced,
        };
        self.writer
            .send(Box::new(job))
            .map_err(|_| DbError::Abandoned)?;
        answer.await.map_err(|_| DbError::Abandoned)?
    }

    /// Runs `work` on the connection, off the async runtime: reads, and writes that must be one
    /// large transaction of their own (e.g. seeding a million rows).
    pub async fn with_conn<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T, DbError> {
        let conn = Arc::clone(&self.conn);
        tokio::task::spawn_blocking(move || {
            // A panic while holding the lock leaves SQLite itself consistent: keep going.
            let mut conn = conn.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            work(&mut conn)
        })
        .await
        .map_err(DbError::Task)?
        .map_err(DbError::Sqlite)
    }
}

/// Creates the directory (and missing parents) with mode 0700; an existing one is left as it is.
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// Creates an empty database file with mode 0600 unless it exists (SQLite would use 0644).
fn create_private_file(path: &Path) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(err) => Err(err),
    }
}

/// The permission bits, if group or others may read, write or enter `path`.
fn readable_by_others(path: &Path) -> Option<u32> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path).ok()?.permissions().mode() & 0o777;
        (mode & 0o077 != 0).then_some(mode)
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        None
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

#[cfg(test)]
mod tests {
    use super::*;
    use rusqlite::params;

    fn open_temp() -> (tempfile::TempDir, EmbeddedDb) {
        let dir = tempfile::tempdir().unwrap();
        let db = EmbeddedDb::open(&dir.path().join("nested/data")).unwrap();
        (dir, db)
    }

    /// Inserts each key in turn: one write of several statements.
    fn insert_all(
        db: &EmbeddedDb,
        keys: &[&str],
    ) -> impl std::future::Future<Output = Result<usize, DbError>> {
        let db = db.clone();
        let keys: Vec<String> = keys.iter().map(|k| (*k).to_owned()).collect();
        async move {
            db.write(move |conn| {
                let mut added = 0;
                for key in keys {
                    added += conn.execute(
                        "INSERT INTO subscribers (email_key, email, subscribed_at)
                         VALUES (?1, ?1, '2026-01-01T00:00:00Z')",
                        params![key],
                    )?;
                }
                Ok(added)
            })
            .await
        }
    }

    fn insert(
        db: &EmbeddedDb,
        key: &str,
    ) -> impl std::future::Future<Output = Result<usize, DbError>> {
        insert_all(db, &[key])
    }

    async fn rows(db: &EmbeddedDb, pattern: &'static str) -> i64 {
        db.with_conn(move |conn| {
            conn.query_row(
                "SELECT count(*) FROM subscribers WHERE email_key LIKE ?1",
                params![pattern],
                |r| r.get(0),
            )
        })
        .await
        .unwrap()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn a_failing_write_is_undone_alone_and_the_rest_of_its_batch_commits() {
        let (_dir, db) = open_temp();
        insert(&db, "taken").await.unwrap();
        // Concurrent writes share batches. Every third one adds a row, then breaks the primary
        // key: its first row must go too, and nothing else.
        let tasks: Vec<_> = (0..90)
            .map(|i| {
                let ok = format!("k{i}");
                let partial = format!("partial{i}");
                if i % 3 == 0 {
                    tokio::spawn(insert_all(&db, &[&partial, "taken"]))
                } else {
                    tokio::spawn(insert(&db, &ok))
                }
            })
            .collect();
        let mut failed = 0;
        for task in tasks {
            match task.await.unwrap() {
                Ok(1) => {}
                Err(DbError::Sqlite(_)) => failed += 1,
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(failed, 30);
        assert_eq!(rows(&db, "k%").await, 60);
        assert_eq!(
            rows(&db, "partial%").await,
            0,
            "a failed write left rows behind"
        );
    }

    #[tokio::test]
    async fn a_failed_commit_fails_every_write_of_the_batch() {
        let (_dir, db) = open_temp();
        // A deferred foreign key is checked at commit: the batch's commit fails.
        db.with_conn(|conn| {
            conn.execute_batch(
                "PRAGMA foreign_keys = ON;
                 CREATE TABLE parent (id INTEGER PRIMARY KEY);
                 CREATE TABLE child (id INTEGER REFERENCES parent (id) DEFERRABLE INITIALLY DEFERRED);",
            )
        })
        .await
        .unwrap();
        let err = db
            .write(|conn| conn.execute("INSERT INTO child VALUES (7)", []))
            .await
            .unwrap_err();
        assert!(matches!(err, DbError::Commit(_)), "{err:?}");
        assert!(std::error::Error::source(&err).is_some(), "keeps its cause");
    }

    #[tokio::test]
    async fn data_survives_reopening() {
        let dir = tempfile::tempdir().unwrap();
        {
            let db = EmbeddedDb::open(dir.path()).unwrap();
            insert(&db, "kept").await.unwrap();
        }
        let db = EmbeddedDb::open(dir.path()).unwrap();
        assert_eq!(rows(&db, "kept").await, 1);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn dropping_the_last_handle_closes_the_database() {
        let dir = tempfile::tempdir().unwrap();
        let db = EmbeddedDb::open(dir.path()).unwrap();
        let clone = db.clone();
        for n in 0..50 {
            insert(&clone, &format!("closing-{n}")).await.unwrap();
        }
        let wal = dir.path().join(format!("{DATABASE_FILE}-wal"));
        assert!(wal.exists(), "a WAL while open");
        drop(clone);
        drop(db);
        // Closed by this drop, not later by the writer thread: the WAL was checkpointed and
        // removed, so the next start has nothing to read back.
        assert!(!wal.exists(), "the WAL outlived the database handles");
    }

    #[tokio::test]
    async fn the_count_migrations_count_what_was_there_and_follow_changes() {
        let dir = tempfile::tempdir().unwrap();
        // Schema 2 with rows in it, as an older version left it.
        {
            let conn = Connection::open(dir.path().join(DATABASE_FILE)).unwrap();
            for migration in &MIGRATIONS[..2] {
                conn.execute_batch(migration).unwrap();
            }
            conn.execute_batch(
                "PRAGMA user_version = 2;
                 INSERT INTO subscribers VALUES ('a@x.org', 'a@x.org', '2026-01-01T00:00:00Z');
                 INSERT INTO subscribers VALUES ('b@x.org', 'b@x.org', '2026-01-01T00:00:00Z');",
            )
            .unwrap();
        }
        let db = EmbeddedDb::open(dir.path()).unwrap();
        let count = |db: EmbeddedDb, status: &'static str| async move {
            db.with_conn(move |conn| {
                conn.query_row(
                    "SELECT n FROM subscriber_counts WHERE status = ?1",
                    params![status],
                    |r| r.get::<_, i64>(0),
                )
            })
            .await
            .unwrap()
        };
        assert_eq!(count(db.clone(), "confirmed").await, 2);
        db.write(|conn| {
            conn.execute(
                "UPDATE subscribers SET status = 'unsubscribed' WHERE email_key = 'b@x.org'",
                [],
            )
        })
        .await
        .unwrap();
        db.write(|conn| conn.execute("DELETE FROM subscribers WHERE email_key = 'a@x.org'", []))
            .await
            .unwrap();
        assert_eq!(count(db.clone(), "confirmed").await, 0);
        assert_eq!(count(db.clone(), "unsubscribed").await, 1);
        // The days: both confirmed on the day they subscribed (backfilled), one left since.
        let day = db
            .with_conn(|conn| {
                conn.query_row(
                    "SELECT day, confirmed, unsubscribed FROM daily_counts",
                    [],
                    |r| {
                        Ok((
                            r.get::<_, String>(0)?,
                            r.get::<_, i64>(1)?,
                            r.get::<_, i64>(2)?,
                        ))
                    },
                )
            })
            .await
            .unwrap();
        assert_eq!(day, ("2026-01-01".to_owned(), 2, 1));
    }

    #[test]
    fn a_database_from_a_newer_version_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        drop(EmbeddedDb::open(dir.path()).unwrap());
        let conn = Connection::open(dir.path().join(DATABASE_FILE)).unwrap();
        conn.pragma_update(None, "user_version", 99).unwrap();
        drop(conn);
        let err = EmbeddedDb::open(dir.path()).err().expect("refused");
        assert!(matches!(err, OpenError::TooNew { found: 99, .. }), "{err}");
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn a_new_data_dir_and_database_are_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let (dir, db) = open_temp();
        insert(&db, "private").await.unwrap();
        let mode = |path: &Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
        let data_dir = dir.path().join("nested/data");
        assert_eq!(mode(&data_dir), 0o700);
        assert_eq!(mode(&dir.path().join("nested")), 0o700);
        for file in [DATABASE_FILE.to_owned(), format!("{DATABASE_FILE}-wal")] {
            assert_eq!(mode(&data_dir.join(&file)), 0o600, "{file}");
        }
        assert_eq!(readable_by_others(&data_dir), None);
        std::fs::set_permissions(&data_dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(readable_by_others(&data_dir), Some(0o755));
    }

    #[test]
    fn an_unusable_data_dir_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("not-a-dir");
        std::fs::write(&file, b"x").unwrap();
        let err = EmbeddedDb::open(&file).err().expect("refused");
        assert!(
            err.to_string().contains("cannot create the data directory"),
            "{err}"
        );
    }
}
