//! The embedded store's delivery ledger: the `issues` and `deliveries` tables of the embedded
//! database. Every change runs in the single writer, so a claim and the writes it races with are
//! one after the other.

use super::{Claimed, DeliveryLedger, IssueRecord, Outcome, Progress, Started};
use crate::embedded_db::{DbError, EmbeddedDb};
use app::store::StoreError;
use rusqlite::{params, OptionalExtension};
use time::{format_description::well_known::Rfc3339, OffsetDateTime};

#[derive(Clone)]
pub struct SqliteLedger {
    db: EmbeddedDb,
}

fn unavailable(err: DbError) -> StoreError {
    StoreError::Unavailable(err.into())
}

fn format_time(at: OffsetDateTime) -> String {
    at.to_offset(time::UtcOffset::UTC)
        .format(&Rfc3339)
        .unwrap_or_else(|_| "0000-01-01T00:00:00Z".into())
}

impl SqliteLedger {
    pub fn new(db: EmbeddedDb) -> Self {
        Self { db }
    }
}

/// An issue's row: its record and counts.
const ISSUE_COLUMNS: &str =
    "slug, subject, started_at, started_by, queued, sending, sent, failed, skipped";

fn issue_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<(IssueRecord, Progress)> {
    let count = |i: usize| -> rusqlite::Result<u64> {
        Ok(u64::try_from(row.get::<_, i64>(i)?).unwrap_or(0))
    };
    let started_at: String = row.get(2)?;
    Ok((
        IssueRecord {
            slug: row.get(0)?,
            subject: row.get(1)?,
            started_at: OffsetDateTime::parse(&started_at, &Rfc3339)
                .unwrap_or(OffsetDateTime::UNIX_EPOCH),
            started_by: row.get(3)?,
        },
        Progress {
            queued: count(4)?,
            sending: count(5)?,
            sent: count(6)?,
            failed: count(7)?,
            skipped: count(8)?,
        },
    ))
}

#[async_trait::async_trait]
impl DeliveryLedger for SqliteLedger {
    /// One transaction: the issue is recorded and its deliveries queued, or neither.
    async fn start(&self, issue: &IssueRecord) -> Result<Started, StoreError> {
        let issue = issue.clone();
        self.db
            .write(move |conn| {
                let started = conn
                    .prepare_cached(
                        "INSERT INTO issues (slug, subject, started_at, started_by)
                         VALUES (?1, ?2, ?3, ?4) ON CONFLICT (slug) DO NOTHING",
                    )?
                    .execute(params![
                        issue.slug,
                        issue.subject,
                        format_time(issue.started_at),
                        issue.started_by
                    ])?;
                if started == 0 {
                    let (before, _) = conn
                        .prepare_cached(&format!(
                            "SELECT {ISSUE_COLUMNS} FROM issues WHERE slug = ?1"
                        ))?
                        .query_row(params![issue.slug], issue_row)?;
                    return Ok(Started::Already(before));
                }
                let queued = conn
                    .prepare_cached(
                        "INSERT INTO deliveries (slug, email_key)
                         SELECT ?1, email_key FROM subscribers WHERE status = 'confirmed'",
                    )?
                    .execute(params![issue.slug])?;
                conn.prepare_cached("UPDATE issues SET queued = ?2 WHERE slug = ?1")?
                    .execute(params![issue.slug, queued as i64])?;
                Ok(Started::New {
                    queued: queued as u64,
                })
            })
            .await
            .map_err(unavailable)
    }

    async fn claim(
        &self,
        slug: &str,
        limit: u32,
        now: OffsetDateTime,
        lease_until: OffsetDateTime,
    ) -> Result<Vec<Claimed>, StoreError> {
        let slug = slug.to_owned();
        let (now, lease_until) = (now.unix_timestamp(), lease_until.unix_timestamp());
        self.db
            .write(move |conn| {
                // Due deliveries, a batch at a time from the index; those whose subscriber is no
                // longer confirmed are skipped (and the next ones looked at): only the rows
                // looked at, so a claim costs the same however long the issue's list is.
                let mut due = conn.prepare_cached(
                    "SELECT d.email_key, s.status = 'confirmed', s.email, s.unsubscribe_token
                     FROM deliveries d LEFT JOIN subscribers s ON s.email_key = d.email_key
                     WHERE d.slug = ?1 AND d.state IN ('queued', 'sending') AND d.not_before <= ?2
                     LIMIT ?3",
                )?;
                let mut skip = conn.prepare_cached(
                    "UPDATE deliveries SET state = 'skipped', error = 'no longer subscribed'
                     WHERE slug = ?1 AND email_key = ?2",
                )?;
                let mut lease = conn.prepare_cached(
                    "UPDATE deliveries SET state = 'sending', not_before = ?3,
                        attempts = attempts + 1
                     WHERE slug = ?1 AND email_key = ?2
                     RETURNING attempts",
                )?;
                // Unsubscribe secrets for those mailed for the first time, made here for the
                // whole batch in this (synced) transaction: one disk flush for 50 mails, and
                // every secret is stored before its mail goes out.
                let mut keep = conn.prepare_cached(
                    "UPDATE subscribers SET unsubscribe_token = ?2
                     WHERE email_key = ?1 AND unsubscribe_token IS NULL",
                )?;
                let mut claimed = Vec::new();
                loop {
                    let rows = due
                        .query_map(params![slug, now, i64::from(limit)], |row| {
                            Ok((
                                row.get::<_, String>(0)?,
                                row.get::<_, Option<bool>>(1)?.unwrap_or(false),
                                row.get::<_, Option<String>>(2)?,
                                row.get::<_, Option<String>>(3)?,
                            ))
                        })?
                        .collect::<rusqlite::Result<Vec<_>>>()?;
                    if rows.is_empty() {
                        return Ok(claimed);
                    }
                    for (email_key, confirmed, email, token) in rows {
                        let (true, Some(email)) = (confirmed, email) else {
                            skip.execute(params![slug, email_key])?;
                            continue;
                        };
                        let attempts: u32 = lease
                            .query_row(params![slug, email_key, lease_until], |row| row.get(0))?;
                        let token = match token {
                            Some(token) => Some(token),
                            None => match crate::subscriptions::new_unsubscribe_token() {
                                Ok(fresh) => {
                                    keep.execute(params![email_key, fresh])?;
                                    Some(fresh)
                                }
                                // The sender asks the store for it.
                                Err(_) => None,
                            },
                        };
                        claimed.push(Claimed {
                            email_key,
                            email,
                            attempts,
                            unsubscribe_token: token,
                        });
                    }
                    if !claimed.is_empty() {
                        return Ok(claimed);
                    }
                }
            })
            .await
            .map_err(unavailable)
    }

    async fn record(
        &self,
        slug: &str,
        email_key: &str,
        outcome: &Outcome,
    ) -> Result<(), StoreError> {
        let (slug, key) = (slug.to_owned(), email_key.to_owned());
        let (state, not_before, error) = match outcome {
            Outcome::Sent => ("sent", 0, None),
            Outcome::Failed(reason) => ("failed", 0, Some(reason.clone())),
            Outcome::Retry { after, reason } => {
                ("queued", after.unix_timestamp(), Some(reason.clone()))
            }
        };
        // Unsynced: after a power loss this outcome may be forgotten and the mail sent again;
        // a killed process loses nothing (see the sender's one window for a duplicate).
        self.db
            .write_unsynced(move |conn| {
                conn.prepare_cached(
                    "UPDATE deliveries SET state = ?3, not_before = ?4, error = ?5
                     WHERE slug = ?1 AND email_key = ?2",
                )?
                .execute(params![slug, key, state, not_before, error])
            })
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn requeue_failed(&self, slug: &str) -> Result<u64, StoreError> {
        let slug = slug.to_owned();
        self.db
            .write(move |conn| {
                conn.prepare_cached(
                    "UPDATE deliveries SET state = 'queued', not_before = 0, attempts = 0
                     WHERE slug = ?1 AND state = 'failed'",
                )?
                .execute(params![slug])
            })
            .await
            .map(|n| n as u64)
            .map_err(unavailable)
    }

    async fn progress(&self, slug: &str) -> Result<Option<Progress>, StoreError> {
        let slug = slug.to_owned();
        self.db
            .with_conn(move |conn| {
                conn.prepare_cached(&format!(
                    "SELECT {ISSUE_COLUMNS} FROM issues WHERE slug = ?1"
                ))?
                .query_row(params![slug], issue_row)
                .optional()
                .map(|found| found.map(|(_, progress)| progress))
            })
            .await
            .map_err(unavailable)
    }

    async fn failures(
        &self,
        slug: &str,
        limit: usize,
    ) -> Result<Vec<(String, String)>, StoreError> {
        let (slug, limit) = (slug.to_owned(), i64::try_from(limit).unwrap_or(i64::MAX));
        self.db
            .with_conn(move |conn| {
                conn.prepare_cached(
                    "SELECT email_key, coalesce(error, '') FROM deliveries
                     WHERE slug = ?1 AND state = 'failed' ORDER BY email_key LIMIT ?2",
                )?
                .query_map(params![slug, limit], |row| Ok((row.get(0)?, row.get(1)?)))?
                .collect::<rusqlite::Result<Vec<_>>>()
            })
            .await
            .map_err(unavailable)
    }

    async fn issues(&self) -> Result<Vec<(IssueRecord, Progress)>, StoreError> {
        self.db
            .with_conn(move |conn| {
                conn.prepare_cached(&format!(
                    "SELECT {ISSUE_COLUMNS} FROM issues ORDER BY started_at DESC, slug"
                ))?
                .query_map([], issue_row)?
                .collect::<rusqlite::Result<Vec<_>>>()
            })
            .await
            .map_err(unavailable)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{contract::email, SqliteStore};
    use time::Duration;

    crate::delivery::contract::ledger_contract! {
        fresh: async {
            let dir = tempfile::tempdir().unwrap();
            let db = EmbeddedDb::open(dir.path()).unwrap();
            let store: app::store::SharedStore = std::sync::Arc::new(SqliteStore::new(db.clone()));
            let ledger: crate::delivery::SharedLedger =
                std::sync::Arc::new(SqliteLedger::new(db.clone()));
            let other: crate::delivery::SharedLedger = std::sync::Arc::new(SqliteLedger::new(db));
            (dir, store, ledger, other)
        },
    }

    async fn ledger_with(
        confirmed: &[&str],
    ) -> (tempfile::TempDir, app::store::SharedStore, SqliteLedger) {
        let dir = tempfile::tempdir().unwrap();
        let db = EmbeddedDb::open(dir.path()).unwrap();
        let store: app::store::SharedStore = std::sync::Arc::new(SqliteStore::new(db.clone()));
        crate::delivery::contract::subscribe(&store, confirmed.iter().map(|a| a.to_string())).await;
        (dir, store, SqliteLedger::new(db))
    }

    fn issue(slug: &str) -> IssueRecord {
        IssueRecord {
            slug: slug.into(),
            subject: "Cold starts".into(),
            started_at: OffsetDateTime::from_unix_timestamp(1_790_000_000).unwrap(),
            started_by: "ada".into(),
        }
    }

    #[tokio::test]
    async fn counts_follow_every_change_and_an_erased_subscriber_leaves_the_ledger() {
        let (_dir, store, ledger) = ledger_with(&["a@x.org", "b@x.org", "c@x.org"]).await;
        ledger.start(&issue("cold")).await.unwrap();
        ledger.start(&issue("warm")).await.unwrap();
        let now = OffsetDateTime::now_utc();
        let claimed = ledger
            .claim("cold", 2, now, now + Duration::minutes(5))
            .await
            .unwrap();
        ledger
            .record("cold", &claimed[0].email_key, &Outcome::Sent)
            .await
            .unwrap();
        let progress = ledger.progress("cold").await.unwrap().unwrap();
        assert_eq!(
            (progress.queued, progress.sending, progress.sent),
            (1, 1, 1)
        );
        store.erase(&email(&claimed[0].email_key)).await.unwrap();
        let issues = ledger.issues().await.unwrap();
        let slugs: Vec<_> = issues.iter().map(|(r, _)| r.slug.as_str()).collect();
        assert_eq!(slugs, ["cold", "warm"], "same start time: by slug");
        assert_eq!(issues[0].1.total(), 2, "the erased address is gone");
        assert_eq!(issues[0].1.sent, 0);
        assert_eq!(issues[1].1.queued, 2);
    }
}
