//! Sends an issue to its ledger's deliveries: claims a batch, mails each subscriber their copy
//! (with their own unsubscribe link, made on their first mail), records each outcome before the
//! next send (so a crash repeats at most the one message in flight), until nothing is left.
//! The one window for a duplicate: the transport accepted a mail and the process died before
//! its outcome was written; after the lease lapses that one mail is sent again.

use super::{Claimed, DeliveryLedger, Outcome, Progress};
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
use std::time::Instant;
use time::{Duration, OffsetDateTime};

/// Deliveries claimed at a time.
pub const BATCH: u32 = 50;
/// A delivery the transport keeps refusing for now is given up after this many tries.
const MAX_ATTEMPTS: u32 = 5;

/// Waiting between tries: 1, 2, 4, 8 times the first wait (by default a minute).
fn backoff(attempts: u32, first: Duration) -> Duration {
    first * (1 << attempts.saturating_sub(1).min(3))
}

/// The send rate limit (`STORIES_SEND_RATE`, mails per second; SES accounts have one): every
/// mail this process sends waits for its slot. Shared by every issue the process sends.
pub struct Pace {
    interval: Option<std::time::Duration>,
    next: tokio::sync::Mutex<tokio::time::Instant>,
}

impl Pace {
    /// `per_second` of `None` (or not a positive number) sends as fast as the transport takes.
    pub fn new(per_second: Option<f64>) -> Self {
        let interval = per_second
            .filter(|rate| rate.is_finite() && *rate > 0.0)
            .map(|rate| std::time::Duration::from_secs_f64(1.0 / rate));
        Self {
            interval,
            next: tokio::sync::Mutex::new(tokio::time::Instant::now()),
        }
    }

    async fn wait(&self) {
        let Some(interval) = self.interval else {
            return;
        };
        let slot = {
            let mut next = self.next.lock().await;
            let slot = (*next).max(tokio::time::Instant::now());
            *next = slot + interval;
            slot
        };
        tokio::time::sleep_until(slot).await;
    }
}

pub struct Sender<'a> {
    pub ledger: &'a dyn DeliveryLedger,
    pub store: &'a SharedStore,
    pub mailer: &'a Mailer,
    pub issue: &'a Issue,
    pub public_url: &'a str,
    pub pace: &'a Pace,
    /// The wait before the first retry.
    pub retry_after: Duration,
    /// How long a claimed batch is ours: a worker that dies mid-batch hands it on after this.
    /// Longer than a batch takes to send (with the send rate).
    pub lease: Duration,
}

impl Sender<'_> {
    /// Sends until every delivery is done, calling `report` after each batch. Deliveries waiting
    /// for a retry are waited for.
    pub async fn run(&self, mut report: impl FnMut(&Progress)) -> Result<Progress, StoreError> {
        loop {
            let progress = self.drain(None, &mut report).await?;
            if progress.done() {
                return Ok(progress);
            }
            // Retries (or another worker's leases) are not due yet.
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        }
    }

    /// Sends what is due now (stopping at `deadline`, if any, between batches), calling `report`
    /// after each batch: where the issue stands then.
    pub async fn drain(
        &self,
        deadline: Option<Instant>,
        report: &mut impl FnMut(&Progress),
    ) -> Result<Progress, StoreError> {
        let slug = &self.issue.slug;
        loop {
            let now = OffsetDateTime::now_utc();
            let claimed = self
                .ledger
                .claim(slug, BATCH, now, now + self.lease)
                .await?;
            let nothing_due = claimed.is_empty();
            for delivery in claimed {
                self.pace.wait().await;
                let outcome = self.send_one(&delivery).await;
                let counted = match outcome {
                    Outcome::Sent => "sent",
                    Outcome::Failed(_) => "failed",
                    Outcome::Retry { .. } => "retry",
                };
                metrics::counter!("newsletter_mails_total", "outcome" => counted).increment(1);
                self.ledger
                    .record(slug, &delivery.email_key, &outcome)
                    .await?;
            }
            let progress = self.ledger.progress(slug).await?.unwrap_or_default();
            report(&progress);
            if nothing_due || deadline.is_some_and(|deadline| Instant::now() >= deadline) {
                return Ok(progress);
            }
        }
    }

    async fn send_one(&self, delivery: &Claimed) -> Outcome {
        let (to, attempts) = (delivery.email.as_str(), delivery.attempts);
        let retry = |reason: String| {
            if attempts >= MAX_ATTEMPTS {
                Outcome::Failed(reason)
            } else {
                Outcome::Retry {
                    after: OffsetDateTime::now_utc() + backoff(attempts, self.retry_after),
                    reason,
                }
            }
        };
        let token = match &delivery.unsubscribe_token {
            Some(token) => token.clone(),
            None => {
                let Ok(address) = SubscriberEmail::parse(to) else {
                    return Outcome::Failed("the stored address is not a valid address".into());
                };
                let fresh = match crate::subscriptions::new_unsubscribe_token() {
                    Ok(fresh) => fresh,
                    Err(err) => return retry(describe(&err)),
                };
                match self.store.unsubscribe_token(&address, &fresh).await {
                    Ok(Some(token)) => token,
                    Ok(None) => return Outcome::Failed("no longer stored".into()),
                    Err(err) => return retry(describe(&err)),
                }
            }
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
        let minutes: Vec<i64> = (1..=6)
            .map(|a| backoff(a, Duration::minutes(1)).whole_minutes())
            .collect();
        assert_eq!(minutes, [1, 2, 4, 8, 8, 8]);
    }

    #[tokio::test]
    async fn a_send_rate_spaces_the_mails() {
        let pace = Pace::new(Some(100.0));
        let started = std::time::Instant::now();
        for _ in 0..5 {
            pace.wait().await;
        }
        // The first goes at once, each of the other four 10 ms after the one before.
        assert!(started.elapsed() >= std::time::Duration::from_millis(40));
        let unlimited = Pace::new(None);
        for rate in [Some(0.0), Some(f64::NAN), Some(-1.0)] {
            assert!(Pace::new(rate).interval.is_none());
        }
        unlimited.wait().await;
    }
}
