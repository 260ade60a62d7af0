//! Sends an issue to its ledger's deliveries: claims a batch, mails each subscriber their copy
//! (with their own unsubscribe link, made on their first mail), records each outcome before the
//! next send (so a crash repeats at most the one message in flight), until nothing is left.

use super::{sqlite::SqliteLedger, Outcome, Progress};
use crate::{
    mail::{MailError, Mailer},
    newsletter_issue::Issue,
};
use app::{
    error::describe,
    mail_links::{link_url, UNSUBSCRIBE_PATH},
    store::{SharedStore, StoreError},
    subscriber_email::SubscriberEmail,
};
use time::{Duration, OffsetDateTime};

/// Deliveries claimed at a time.
const BATCH: u32 = 50;
/// How long a claimed batch is ours: a worker that dies mid-batch hands it on after this.
const LEASE: Duration = Duration::minutes(5);
/// A delivery the transport keeps refusing for now is given up after this many tries.
const MAX_ATTEMPTS: u32 = 5;

pub struct Sender<'a> {
    pub ledger: &'a SqliteLedger,
    pub store: &'a SharedStore,
    pub mailer: &'a Mailer,
    pub issue: &'a Issue,
    pub public_url: &'a str,
}

/// Waiting between tries: 1, 2, 4, 8 minutes.
fn backoff(attempts: u32) -> Duration {
    Duration::minutes(1 << attempts.saturating_sub(1).min(3))
}

impl Sender<'_> {
    /// Sends until every delivery is done, calling `report` after each batch. Deliveries waiting
    /// for a retry are waited for.
    pub async fn run(&self, mut report: impl FnMut(&Progress)) -> Result<Progress, StoreError> {
        let slug = &self.issue.slug;
        loop {
            let now = OffsetDateTime::now_utc();
            let claimed = self.ledger.claim(slug, BATCH, now, now + LEASE).await?;
            if claimed.is_empty() {
                let progress = self.ledger.progress(slug).await?.unwrap_or_default();
                report(&progress);
                if progress.done() {
                    return Ok(progress);
                }
                // Retries (or another worker's leases) are not due yet.
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                continue;
            }
            for delivery in claimed {
                let outcome = self.send_one(&delivery.email, delivery.attempts).await;
                self.ledger
                    .record(slug, &delivery.email_key, &outcome)
                    .await?;
            }
            if let Some(progress) = self.ledger.progress(slug).await? {
                report(&progress);
            }
        }
    }

    async fn send_one(&self, to: &str, attempts: u32) -> Outcome {
        let retry = |reason: String| {
            if attempts >= MAX_ATTEMPTS {
                Outcome::Failed(reason)
            } else {
                Outcome::Retry {
                    after: OffsetDateTime::now_utc() + backoff(attempts),
                    reason,
                }
            }
        };
        let Ok(address) = SubscriberEmail::parse(to) else {
            return Outcome::Failed("the stored address is not a valid address".into());
        };
        let fresh = match crate::subscriptions::new_unsubscribe_token() {
            Ok(fresh) => fresh,
            Err(err) => return retry(describe(&err)),
        };
        let token = match self.store.unsubscribe_token(&address, &fresh).await {
            Ok(Some(token)) => token,
            Ok(None) => return Outcome::Failed("no longer stored".into()),
            Err(err) => return retry(describe(&err)),
        };
        let unsubscribe = link_url(self.public_url, UNSUBSCRIBE_PATH, &token);
        match self
            .mailer
            .send(&self.issue.mail_to(to, &unsubscribe))
            .await
        {
            Ok(_) => Outcome::Sent,
            Err(err @ MailError::Refused(_)) => Outcome::Failed(describe(&err)),
            Err(err @ MailError::Unavailable(_)) => retry(describe(&err)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_and_stop_growing() {
        let minutes: Vec<i64> = (1..=6).map(|a| backoff(a).whole_minutes()).collect();
        assert_eq!(minutes, [1, 2, 4, 8, 8, 8]);
    }
}
