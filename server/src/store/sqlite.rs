//! The embedded subscriber store: the `subscribers` and `consent_events` tables of the embedded
//! database (see [`crate::embedded_db`], which owns the connection, the schema and the
//! group-commit writer). Every change runs inside the single writer, so a read and the write
//! that depends on it are one atomic step.

use crate::embedded_db::{DbError, EmbeddedDb};
use app::{
    store::{
        Confirmation, Confirmed, ConsentEvent, ConsentEventKind, DayCounts, ListFilter,
        NewSubscription, Page, Status, StatusCounts, StoreError, Subscribed, Subscriber,
        SubscriberRecord, SubscriberStore, Unsubscribed, Unsubscriber,
    },
    subscriber_email::SubscriberEmail,
};
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use rusqlite::{params, Connection, OptionalExtension, Row};
use std::path::Path;
use time::{format_description::well_known::Rfc3339, Date, OffsetDateTime};

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

/// A failure inside a write closure that is not SQLite's: a row the store can't read.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct CorruptRow(String);

fn corrupt(message: String) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(
        0,
        rusqlite::types::Type::Text,
        Box::new(CorruptRow(message)),
    )
}

fn store_error(err: DbError) -> StoreError {
    // A row we could not read is corrupt data, not an outage.
    if let DbError::Sqlite(rusqlite::Error::FromSqlConversionFailure(_, _, cause)) = &err {
        if let Some(row) = cause.downcast_ref::<CorruptRow>() {
            return StoreError::Corrupt(row.0.clone().into());
        }
    }
    StoreError::Unavailable(err.into())
}

fn format_time(at: OffsetDateTime) -> String {
    // RFC 3339 formatting of a UTC time fails only for years outside 0..=9999.
    at.to_offset(time::UtcOffset::UTC)
        .format(&Rfc3339)
        .unwrap_or_else(|_| "0000-01-01T00:00:00Z".into())
}

/// Consent events keep their time as Unix nanoseconds: their key orders them.
fn unix_nanos(at: OffsetDateTime) -> i64 {
    i64::try_from(at.unix_timestamp_nanos()).unwrap_or(i64::MAX)
}

fn from_unix_nanos(nanos: i64) -> rusqlite::Result<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(nanos))
        .map_err(|e| corrupt(format!("event time {nanos}: {e}")))
}

fn parse_time(column: &str, text: &str) -> rusqlite::Result<OffsetDateTime> {
    OffsetDateTime::parse(text, &Rfc3339).map_err(|e| corrupt(format!("{column} {text:?}: {e}")))
}

fn parse_optional_time(
    column: &str,
    text: Option<String>,
) -> rusqlite::Result<Option<OffsetDateTime>> {
    text.map(|text| parse_time(column, &text)).transpose()
}

/// The columns `Stored::from_row` reads, in order.
const COLUMNS: &str = "email_key, email, status, subscribed_at, confirmed_at, unsubscribed_at,
    confirmation_sent_at, expires_at, unsubscribe_token, consent_source, consent_ip";

/// One row of `subscribers`, as read.
struct Stored {
    key: String,
    subscriber: Subscriber,
    confirmation_sent_at: Option<OffsetDateTime>,
    expires_at: Option<i64>,
    unsubscribe_token: Option<String>,
    /// How the current subscription was asked for (its consent record's first entry; earlier
    /// and later entries are in `consent_events`).
    consent_source: String,
    consent_ip: Option<String>,
}

impl Stored {
    fn from_row(row: &Row<'_>) -> rusqlite::Result<Self> {
        let status: String = row.get(2)?;
        let status = Status::parse(&status).ok_or_else(|| corrupt(format!("status {status:?}")))?;
        Ok(Self {
            key: row.get(0)?,
            subscriber: Subscriber {
                email: row.get(1)?,
                status,
                subscribed_at: parse_time("subscribed_at", &row.get::<_, String>(3)?)?,
                confirmed_at: parse_optional_time("confirmed_at", row.get(4)?)?,
                unsubscribed_at: parse_optional_time("unsubscribed_at", row.get(5)?)?,
            },
            confirmation_sent_at: parse_optional_time("confirmation_sent_at", row.get(6)?)?,
            expires_at: row.get(7)?,
            unsubscribe_token: row.get(8)?,
            consent_source: row.get(9)?,
            consent_ip: row.get(10)?,
        })
    }

    /// The current subscription's "subscribed" entry of the consent record.
    fn consent(&self) -> ConsentEvent {
        ConsentEvent {
            at: self.subscriber.subscribed_at,
            kind: ConsentEventKind::Subscribed,
            source: self.consent_source.clone(),
            client_ip: self.consent_ip.clone(),
        }
    }

    /// Pending, and its confirmation no longer works at `now`.
    fn expired(&self, now: OffsetDateTime) -> bool {
        self.subscriber.status == Status::Pending
            && self
                .expires_at
                .is_none_or(|expires| expires <= now.unix_timestamp())
    }
}

fn select_by(conn: &Connection, column: &str, value: &str) -> rusqlite::Result<Option<Stored>> {
    conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM subscribers WHERE {column} = ?1"
    ))?
    .query_row(params![value], Stored::from_row)
    .optional()
}

fn add_event(
    conn: &Connection,
    key: &str,
    at: OffsetDateTime,
    kind: ConsentEventKind,
    source: &str,
    client_ip: Option<&str>,
) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO consent_events (email_key, at, event, source, client_ip)
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![
        key,
        unix_nanos(at),
        kind.as_str(),
        source,
        client_ip
    ])?;
    Ok(())
}

fn subscribe_in(conn: &Connection, request: &Owned) -> rusqlite::Result<Subscribed> {
    let at = format_time(request.at);
    // The common case first, in one statement (its consent record in the row itself): an
    // address not stored yet.
    if insert_new(conn, request, &at)? {
        return Ok(Subscribed::New);
    }
    // Inserted unless it was there, and nothing erased it within this write.
    let stored =
        select_by(conn, "email_key", &request.key)?.ok_or(rusqlite::Error::QueryReturnedNoRows)?;
    let ip = request.client_ip.as_deref();
    match stored.subscriber.status {
        Status::Confirmed => return Ok(Subscribed::AlreadyConfirmed),
        Status::Pending if !stored.expired(request.at) => {
            if request.confirmation.is_some() {
                return Ok(Subscribed::AwaitingConfirmation {
                    last_sent_at: stored
                        .confirmation_sent_at
                        .unwrap_or(stored.subscriber.subscribed_at),
                });
            }
            // Double opt-in was turned off since: confirmed like any new subscriber now.
            conn.prepare_cached(
                "UPDATE subscribers SET status = 'confirmed', confirmed_at = ?2,
                    confirm_hash = NULL, confirmation_sent_at = NULL, expires_at = NULL
                 WHERE email_key = ?1",
            )?
            .execute(params![request.key, at])?;
            let confirmed = ConsentEventKind::Confirmed;
            add_event(
                conn,
                &request.key,
                request.at,
                confirmed,
                &request.source,
                ip,
            )?;
            return Ok(Subscribed::New);
        }
        // An unconfirmed subscription that expired leaves nothing behind.
        Status::Pending => {
            conn.prepare_cached("DELETE FROM consent_events WHERE email_key = ?1")?
                .execute(params![request.key])?;
        }
        // Unsubscribed: the subscription that ended keeps its entry in the record.
        Status::Unsubscribed => {
            let old = stored.consent();
            let source = &old.source;
            add_event(
                conn,
                &stored.key,
                old.at,
                old.kind,
                source,
                old.client_ip.as_deref(),
            )?;
        }
    }
    let confirmation = request.confirmation.as_ref();
    let status = match confirmation {
        Some(_) => Status::Pending,
        None => Status::Confirmed,
    };
    conn.prepare_cached(
        "UPDATE subscribers SET email = ?2, status = ?3, subscribed_at = ?4, confirmed_at = ?5,
            unsubscribed_at = NULL, confirm_hash = ?6, confirmation_sent_at = ?7, expires_at = ?8,
            consent_source = ?9, consent_ip = ?10
         WHERE email_key = ?1",
    )?
    .execute(params![
        request.key,
        request.email,
        status.as_str(),
        at,
        confirmation.is_none().then_some(&at),
        confirmation.map(|c| c.token_hash.as_str()),
        confirmation.map(|_| &at),
        confirmation.map(|c| c.expires_at.unix_timestamp()),
        request.source,
        ip,
    ])?;
    Ok(Subscribed::New)
}

/// Inserts the subscription unless the address is stored; whether it did.
fn insert_new(conn: &Connection, request: &Owned, at: &str) -> rusqlite::Result<bool> {
    let confirmation = request.confirmation.as_ref();
    let status = match confirmation {
        Some(_) => Status::Pending,
        None => Status::Confirmed,
    };
    let changed = conn
        .prepare_cached(
            "INSERT INTO subscribers (email_key, email, status, subscribed_at, confirmed_at,
                confirm_hash, confirmation_sent_at, expires_at, consent_source, consent_ip)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
             ON CONFLICT (email_key) DO NOTHING",
        )?
        .execute(params![
            request.key,
            request.email,
            status.as_str(),
            at,
            confirmation.is_none().then_some(at),
            confirmation.map(|c| c.token_hash.as_str()),
            confirmation.map(|_| at),
            confirmation.map(|c| c.expires_at.unix_timestamp()),
            request.source,
            request.client_ip,
        ])?;
    Ok(changed == 1)
}

/// A `NewSubscription`, owned, to move into the writer.
struct Owned {
    key: String,
    email: String,
    at: OffsetDateTime,
    source: String,
    client_ip: Option<String>,
    confirmation: Option<Confirmation>,
}

fn decode_cursor(cursor: &str) -> Result<String, StoreError> {
    URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .filter(|key| !key.is_empty())
        .ok_or(StoreError::BadCursor)
}

#[async_trait::async_trait]
impl SubscriberStore for SqliteStore {
    async fn subscribe(&self, request: &NewSubscription<'_>) -> Result<Subscribed, StoreError> {
        let owned = Owned {
            key: request.email.normalized(),
            email: request.email.as_str().to_owned(),
            at: request.at,
            source: request.source.to_owned(),
            client_ip: request.client_ip.map(str::to_owned),
            confirmation: request.confirmation.clone(),
        };
        self.db
            .write(move |conn| subscribe_in(conn, &owned))
            .await
            .map_err(store_error)
    }

    async fn renew_confirmation(
        &self,
        email: &SubscriberEmail,
        confirmation: &Confirmation,
        at: OffsetDateTime,
        sent_before: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let key = email.normalized();
        let hash = confirmation.token_hash.clone();
        let expires = confirmation.expires_at.unix_timestamp();
        self.db
            .write(move |conn| {
                let Some(stored) = select_by(conn, "email_key", &key)? else {
                    return Ok(false);
                };
                let due = stored
                    .confirmation_sent_at
                    .is_none_or(|sent| sent <= sent_before);
                if stored.subscriber.status != Status::Pending || stored.expired(at) || !due {
                    return Ok(false);
                }
                conn.prepare_cached(
                    "UPDATE subscribers SET confirm_hash = ?2, confirmation_sent_at = ?3,
                        expires_at = ?4
                     WHERE email_key = ?1",
                )?
                .execute(params![key, hash, format_time(at), expires])?;
                Ok(true)
            })
            .await
            .map_err(store_error)
    }

    async fn confirm(
        &self,
        token_hash: &str,
        at: OffsetDateTime,
        client_ip: Option<&str>,
    ) -> Result<Confirmed, StoreError> {
        let hash = token_hash.to_owned();
        let client_ip = client_ip.map(str::to_owned);
        self.db
            .write(move |conn| {
                let Some(stored) = select_by(conn, "confirm_hash", &hash)? else {
                    return Ok(Confirmed::Unknown);
                };
                match stored.subscriber.status {
                    Status::Confirmed => Ok(Confirmed::AlreadyConfirmed(stored.subscriber.email)),
                    Status::Unsubscribed => Ok(Confirmed::Unknown),
                    Status::Pending if stored.expired(at) => Ok(Confirmed::Unknown),
                    Status::Pending => {
                        // The hash stays, so following the link again says "already confirmed".
                        conn.prepare_cached(
                            "UPDATE subscribers SET status = 'confirmed', confirmed_at = ?2,
                                confirmation_sent_at = NULL, expires_at = NULL
                             WHERE email_key = ?1",
                        )?
                        .execute(params![stored.key, format_time(at)])?;
                        add_event(
                            conn,
                            &stored.key,
                            at,
                            ConsentEventKind::Confirmed,
                            "confirmation link",
                            client_ip.as_deref(),
                        )?;
                        Ok(Confirmed::Confirmed(stored.subscriber.email))
                    }
                }
            })
            .await
            .map_err(store_error)
    }

    async fn unsubscribe(
        &self,
        who: Unsubscriber<'_>,
        at: OffsetDateTime,
        source: &str,
        client_ip: Option<&str>,
    ) -> Result<Unsubscribed, StoreError> {
        let (column, value) = match who {
            Unsubscriber::Token(token) => ("unsubscribe_token", token.to_owned()),
            Unsubscriber::Address(email) => ("email_key", email.normalized()),
        };
        let source = source.to_owned();
        let client_ip = client_ip.map(str::to_owned);
        self.db
            .write(move |conn| {
                let Some(stored) = select_by(conn, column, &value)? else {
                    return Ok(Unsubscribed::Unknown);
                };
                if stored.subscriber.status == Status::Unsubscribed {
                    return Ok(Unsubscribed::AlreadyUnsubscribed(stored.subscriber.email));
                }
                conn.prepare_cached(
                    "UPDATE subscribers SET status = 'unsubscribed', unsubscribed_at = ?2,
                        confirm_hash = NULL, confirmation_sent_at = NULL, expires_at = NULL
                     WHERE email_key = ?1",
                )?
                .execute(params![stored.key, format_time(at)])?;
                add_event(
                    conn,
                    &stored.key,
                    at,
                    ConsentEventKind::Unsubscribed,
                    &source,
                    client_ip.as_deref(),
                )?;
                Ok(Unsubscribed::Unsubscribed(stored.subscriber.email))
            })
            .await
            .map_err(store_error)
    }

    async fn erase(&self, email: &SubscriberEmail) -> Result<bool, StoreError> {
        let key = email.normalized();
        self.db
            .write(move |conn| {
                conn.prepare_cached("DELETE FROM consent_events WHERE email_key = ?1")?
                    .execute(params![key])?;
                // Which issues they were sent goes too.
                conn.prepare_cached("DELETE FROM deliveries WHERE email_key = ?1")?
                    .execute(params![key])?;
                let erased = conn
                    .prepare_cached("DELETE FROM subscribers WHERE email_key = ?1")?
                    .execute(params![key])?;
                Ok(erased > 0)
            })
            .await
            .map_err(store_error)
    }

    async fn record(
        &self,
        email: &SubscriberEmail,
    ) -> Result<Option<SubscriberRecord>, StoreError> {
        let key = email.normalized();
        self.db
            .with_conn(move |conn| {
                let Some(stored) = select_by(conn, "email_key", &key)? else {
                    return Ok(None);
                };
                let mut statement = conn.prepare_cached(
                    "SELECT at, event, source, client_ip FROM consent_events
                     WHERE email_key = ?1 ORDER BY at",
                )?;
                // The current subscription's entry first: on a tie in time it came first.
                let mut history = vec![stored.consent()];
                let earlier_and_later = statement
                    .query_map(params![key], |row| {
                        let event: String = row.get(1)?;
                        Ok(ConsentEvent {
                            at: from_unix_nanos(row.get(0)?)?,
                            kind: ConsentEventKind::parse(&event)
                                .ok_or_else(|| corrupt(format!("event {event:?}")))?,
                            source: row.get(2)?,
                            client_ip: row.get(3)?,
                        })
                    })?
                    .collect::<rusqlite::Result<Vec<_>>>()?;
                history.extend(earlier_and_later);
                history.sort_by_key(|event| event.at);
                Ok(Some(SubscriberRecord {
                    expires_at: stored
                        .expires_at
                        .filter(|_| stored.subscriber.status == Status::Pending)
                        .and_then(|at| OffsetDateTime::from_unix_timestamp(at).ok()),
                    confirmation_sent_at: stored.confirmation_sent_at,
                    unsubscribe_token: stored.unsubscribe_token,
                    subscriber: stored.subscriber,
                    history,
                }))
            })
            .await
            .map_err(store_error)
    }

    async fn unsubscribe_token(
        &self,
        email: &SubscriberEmail,
        new_token: &str,
    ) -> Result<Option<String>, StoreError> {
        let key = email.normalized();
        let new_token = new_token.to_owned();
        self.db
            .write(move |conn| {
                conn.prepare_cached(
                    "UPDATE subscribers SET unsubscribe_token = coalesce(unsubscribe_token, ?2)
                     WHERE email_key = ?1 RETURNING unsubscribe_token",
                )?
                .query_row(params![key, new_token], |row| row.get(0))
                .optional()
            })
            .await
            .map_err(store_error)
    }

    async fn page(
        &self,
        filter: &ListFilter,
        cursor: Option<&str>,
        limit: u32,
        now: OffsetDateTime,
    ) -> Result<Page, StoreError> {
        // The cursor is the last key of the previous page (keyset pagination: every page is one
        // index range scan, however deep). A status is written into the statement, not bound:
        // only then can SQLite walk that status's partial index (pending, unsubscribed).
        let after = cursor.map(decode_cursor).transpose()?.unwrap_or_default();
        let limit = limit.max(1);
        let status = match filter.status {
            None => String::new(),
            Some(status) => format!("AND status = '{}'", status.as_str()),
        };
        let search = filter.search_key();
        let now = now.unix_timestamp();
        let rows = self
            .db
            .with_conn(move |conn| {
                let mut statement = conn.prepare_cached(&format!(
                    "SELECT {COLUMNS} FROM subscribers
                     WHERE email_key > ?1 {status}
                       AND (?2 IS NULL OR instr(email_key, ?2) > 0)
                       AND NOT (status = 'pending' AND coalesce(expires_at, 0) <= ?3)
                     ORDER BY email_key LIMIT ?4"
                ))?;
                let rows = statement.query_map(
                    params![after, search, now, i64::from(limit) + 1],
                    Stored::from_row,
                )?;
                rows.collect::<rusqlite::Result<Vec<_>>>()
            })
            .await
            .map_err(store_error)?;
        let more = rows.len() > limit as usize;
        let mut subscribers = Vec::with_capacity(rows.len().min(limit as usize));
        let mut last_key = None;
        for stored in rows.into_iter().take(limit as usize) {
            subscribers.push(stored.subscriber);
            last_key = Some(stored.key);
        }
        Ok(Page {
            subscribers,
            next_cursor: last_key
                .filter(|_| more)
                .map(|key| URL_SAFE_NO_PAD.encode(key)),
        })
    }

    async fn daily_counts(&self, first: Date, last: Date) -> Result<Vec<DayCounts>, StoreError> {
        let (first, last) = (first.to_string(), last.to_string());
        let rows = self
            .db
            .with_conn(move |conn| {
                conn.prepare_cached(
                    "SELECT day, confirmed, unsubscribed FROM daily_counts
                     WHERE day BETWEEN ?1 AND ?2 ORDER BY day",
                )?
                .query_map(params![first, last], |row| {
                    Ok((
                        row.get::<_, String>(0)?,
                        row.get::<_, i64>(1)?,
                        row.get::<_, i64>(2)?,
                    ))
                })?
                .collect::<rusqlite::Result<Vec<_>>>()
            })
            .await
            .map_err(store_error)?;
        rows.into_iter()
            .map(|(day, confirmed, unsubscribed)| {
                Ok(DayCounts {
                    day: DayCounts::parse_day(&day)?,
                    confirmed: u64::try_from(confirmed).unwrap_or(0),
                    unsubscribed: u64::try_from(unsubscribed).unwrap_or(0),
                })
            })
            .collect()
    }

    async fn counts(&self, now: OffsetDateTime) -> Result<StatusCounts, StoreError> {
        let now = now.unix_timestamp();
        let (kept, pending) = self
            .db
            .with_conn(move |conn| {
                let mut statement =
                    conn.prepare_cached("SELECT status, n FROM subscriber_counts")?;
                let kept = statement
                    .query_map([], |row| {
                        Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?))
                    })?
                    .collect::<rusqlite::Result<Vec<_>>>()?;
                // Pending ones until they expire: a range of a small partial index.
                let pending: i64 = conn
                    .prepare_cached(
                        "SELECT count(*) FROM subscribers
                         WHERE status = 'pending' AND expires_at > ?1",
                    )?
                    .query_row(params![now], |row| row.get(0))?;
                Ok((kept, pending))
            })
            .await
            .map_err(store_error)?;
        let mut counts = StatusCounts {
            pending: u64::try_from(pending).unwrap_or(0),
            ..StatusCounts::default()
        };
        for (status, n) in kept {
            let n = u64::try_from(n).unwrap_or(0);
            match Status::parse(&status) {
                Some(Status::Confirmed) => counts.confirmed = n,
                Some(Status::Unsubscribed) => counts.unsubscribed = n,
                _ => {}
            }
        }
        Ok(counts)
    }

    async fn remove_expired(&self, now: OffsetDateTime) -> Result<u64, StoreError> {
        let now = now.unix_timestamp();
        self.db
            .write(move |conn| {
                // Never confirmed: nothing of it is kept.
                conn.prepare_cached(
                    "DELETE FROM consent_events WHERE email_key IN (SELECT email_key FROM
                     subscribers WHERE status = 'pending' AND coalesce(expires_at, 0) <= ?1)",
                )?
                .execute(params![now])?;
                let removed = conn
                    .prepare_cached(
                        "DELETE FROM subscribers
                         WHERE status = 'pending' AND coalesce(expires_at, 0) <= ?1",
                    )?
                    .execute(params![now])?;
                Ok(removed as u64)
            })
            .await
            .map_err(store_error)
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
            .map_err(store_error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::contract::{confirmed_at_once, email};

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
                    conn.execute_batch(
                        "DROP TABLE subscribers; DROP TABLE subscriber_counts;
                         DROP TABLE consent_events",
                    )
                })
                .await
                .unwrap();
            vec![(dir, store)]
        },
    }

    #[tokio::test]
    async fn data_survives_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let kept = email("kept@example.com");
        let now = OffsetDateTime::now_utc();
        {
            let store = SqliteStore::new(EmbeddedDb::open(dir.path()).unwrap());
            let added = store
                .subscribe(&confirmed_at_once(&kept, now))
                .await
                .unwrap();
            assert!(matches!(added, Subscribed::New));
        }
        let store = SqliteStore::new(EmbeddedDb::open(dir.path()).unwrap());
        assert!(store.record(&kept).await.unwrap().is_some());
        assert_eq!(store.counts(now).await.unwrap().confirmed, 1);
        assert_eq!(
            store
                .subscribe(&confirmed_at_once(&kept, now))
                .await
                .unwrap(),
            Subscribed::AlreadyConfirmed
        );
    }

    #[tokio::test]
    async fn a_corrupt_row_is_reported_not_panicked_on() {
        let (_dir, store) = open_temp();
        store
            .db
            .write(|conn| {
                conn.execute(
                    "INSERT INTO subscribers (email_key, email, subscribed_at)
                     VALUES ('odd@example.com', 'odd@example.com', 'yesterday')",
                    [],
                )
            })
            .await
            .unwrap();
        assert!(matches!(
            store.record(&email("odd@example.com")).await,
            Err(StoreError::Corrupt(_))
        ));
    }

    /// The periodic sweep removes expired unconfirmed subscriptions and their consent records,
    /// and nothing else.
    #[tokio::test]
    async fn the_sweep_removes_expired_unconfirmed_subscriptions_only() {
        use app::store::{Confirmation, NewSubscription};
        let (_dir, store) = open_temp();
        let now = OffsetDateTime::now_utc();
        let hour = |n: i64| {
            let t = now.unix_timestamp();
            OffsetDateTime::from_unix_timestamp(t - t.rem_euclid(3600) + n * 3600).unwrap()
        };
        let pending = |email, hash: &str, expires_at| NewSubscription {
            confirmation: Some(Confirmation {
                token_hash: hash.to_owned(),
                expires_at,
            }),
            ..confirmed_at_once(email, hour(-48))
        };
        let (late, live, kept) = (
            email("late@example.com"),
            email("live@example.com"),
            email("kept@example.com"),
        );
        store
            .subscribe(&pending(&late, "a", hour(0)))
            .await
            .unwrap();
        store
            .subscribe(&pending(&live, "b", hour(2)))
            .await
            .unwrap();
        store
            .subscribe(&confirmed_at_once(&kept, now))
            .await
            .unwrap();
        assert_eq!(store.remove_expired(now).await.unwrap(), 1);
        assert_eq!(store.record(&late).await.unwrap(), None);
        let leftover: i64 = store
            .db
            .with_conn(|conn| {
                conn.query_row(
                    "SELECT count(*) FROM consent_events WHERE email_key = 'late@example.com'",
                    [],
                    |row| row.get(0),
                )
            })
            .await
            .unwrap();
        assert_eq!(leftover, 0);
        assert!(store.record(&live).await.unwrap().is_some());
        assert!(store.record(&kept).await.unwrap().is_some());
        assert_eq!(store.remove_expired(now).await.unwrap(), 0);
    }

    /// A database written before the lifecycle existed: its subscribers were told they were
    /// subscribed, so they are confirmed, counted, with a consent record and an unsubscribe
    /// secret each.
    #[tokio::test]
    async fn subscribers_stored_by_earlier_versions_are_confirmed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(crate::embedded_db::DATABASE_FILE);
        {
            let conn = Connection::open(&path).unwrap();
            for migration in &crate::embedded_db::MIGRATIONS[..4] {
                conn.execute_batch(migration).unwrap();
            }
            conn.pragma_update(None, "user_version", 4).unwrap();
            conn.execute(
                "INSERT INTO subscribers VALUES ('old@example.com', 'Old@Example.com',
                 '2026-01-02T03:04:05Z')",
                [],
            )
            .unwrap();
        }
        let store = SqliteStore::new(EmbeddedDb::open(dir.path()).unwrap());
        let record = store
            .record(&email("old@example.com"))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(record.subscriber.status, Status::Confirmed);
        assert_eq!(record.subscriber.email, "Old@Example.com");
        assert_eq!(
            record.subscriber.confirmed_at,
            Some(record.subscriber.subscribed_at)
        );
        assert_eq!(record.history.len(), 1);
        assert_eq!(
            record.unsubscribe_token, None,
            "made when the first mail needs it"
        );
        let counts = store.counts(OffsetDateTime::now_utc()).await.unwrap();
        assert_eq!(
            (counts.pending, counts.confirmed, counts.unsubscribed),
            (0, 1, 0)
        );
    }
}
