//! The newsletter: starting an issue of a story (once), test copies, what every story's issue
//! stands at, and the worker that delivers started issues. The admin API and the `issue`
//! commands both go through this.

use crate::{
    delivery::{
        sender::{Pace, Sender},
        IssueRecord, Progress, SharedLedger, Started,
    },
    mail::{Delivered, MailError, Mailer},
    newsletter_issue::{Issue, Site},
};
use app::{
    error::describe,
    mail_links::{link_url, UNSUBSCRIBE_PATH},
    store::{SharedStore, StoreError},
    stories::catalog::SharedCatalog,
    subscriber_email::SubscriberEmail,
};
use std::{sync::Arc, time::Duration};
use time::OffsetDateTime;

/// The link a preview sent to someone not on the list carries: it opens the unsubscribe page,
/// which says the link does not work (there is nothing to unsubscribe).
const PREVIEW_TOKEN: &str = "preview-for-someone-not-on-the-list";
/// How often the worker looks for due deliveries (retries, lapsed leases of other instances)
/// when nothing woke it.
const WORKER_POLL: Duration = Duration::from_secs(15);

#[derive(Debug, thiserror::Error)]
pub enum NewsletterError {
    #[error("there is no story {slug:?}: the stories are {known}")]
    UnknownStory { slug: String, known: String },
    #[error(
        "issues link to the site: set STORIES_PUBLIC_URL (e.g. https://stories.example.com) to \
         send them"
    )]
    NoPublicUrl,
    #[error("{0:?} has not been sent")]
    NotStarted(String),
    #[error("the store did not answer")]
    Store(#[from] StoreError),
    #[error("the mail was not sent")]
    Mail(#[from] MailError),
}

/// A story and where its issue stands.
#[derive(Debug, Clone)]
pub struct StoryIssue {
    pub slug: String,
    pub title: String,
    pub published: String,
    pub issue: Option<(IssueRecord, Progress)>,
}

/// How fast issues go out (the settings of the same names).
#[derive(Debug, Clone, Copy)]
pub struct SendTiming {
    /// Mails per second, if limited.
    pub rate: Option<f64>,
    pub retry_after_secs: u32,
    pub lease_secs: u32,
}

impl From<&crate::cli::ListArgs> for SendTiming {
    fn from(list: &crate::cli::ListArgs) -> Self {
        Self {
            rate: list.send_rate,
            retry_after_secs: list.send_retry_after,
            lease_secs: list.delivery_lease,
        }
    }
}

pub struct Newsletter {
    ledger: SharedLedger,
    store: SharedStore,
    mailer: Arc<Mailer>,
    catalog: SharedCatalog,
    /// Required to make issues (their links are absolute).
    public_url: Option<String>,
    pace: Pace,
    retry_after: time::Duration,
    lease: time::Duration,
    /// Wakes the worker when an issue starts.
    wake: tokio::sync::Notify,
}

impl Newsletter {
    pub fn new(
        ledger: SharedLedger,
        store: SharedStore,
        mailer: Arc<Mailer>,
        catalog: SharedCatalog,
        public_url: Option<String>,
        timing: SendTiming,
    ) -> Self {
        Self {
            ledger,
            store,
            mailer,
            catalog,
            public_url: public_url.map(|url| url.trim_end_matches('/').to_owned()),
            pace: Pace::new(timing.rate),
            retry_after: time::Duration::seconds(i64::from(timing.retry_after_secs)),
            lease: Self::lease(&timing),
            wake: tokio::sync::Notify::new(),
        }
    }

    /// The lease asked for, but never shorter than a batch takes at the send rate (twice over):
    /// a lease that lapses mid-batch would let another worker send the rest again.
    fn lease(timing: &SendTiming) -> time::Duration {
        let asked = time::Duration::seconds(i64::from(timing.lease_secs));
        let batch = timing.rate.map_or(0.0, |rate| {
            2.0 * f64::from(crate::delivery::sender::BATCH) / rate
        });
        asked.max(time::Duration::seconds_f64(batch.min(86_400.0)))
    }

    /// Whether issues can be made; the reason why not otherwise.
    pub fn can_send(&self) -> Result<(), NewsletterError> {
        self.public_url().map(|_| ())
    }

    fn public_url(&self) -> Result<&str, NewsletterError> {
        self.public_url
            .as_deref()
            .ok_or(NewsletterError::NoPublicUrl)
    }

    /// The issue made from the story `slug`.
    pub fn issue(&self, slug: &str) -> Result<Issue, NewsletterError> {
        let public_url = self.public_url()?;
        match (self.catalog.get(slug), self.catalog.newsletter_source(slug)) {
            (Some(story), Some(source)) => {
                let site = Site {
                    public_url,
                    name: app::SITE_NAME,
                };
                Ok(Issue::from_story(story, source, &site))
            }
            _ => Err(NewsletterError::UnknownStory {
                slug: slug.to_owned(),
                known: self
                    .catalog
                    .summaries()
                    .into_iter()
                    .map(|s| s.slug)
                    .collect::<Vec<_>>()
                    .join(", "),
            }),
        }
    }

    /// Starts the issue of `slug` (once: asked again, says when it was started) and wakes the
    /// worker.
    pub async fn start(&self, slug: &str, by: &str) -> Result<Started, NewsletterError> {
        let issue = self.issue(slug)?;
        let record = IssueRecord {
            slug: issue.slug,
            subject: issue.subject,
            started_at: OffsetDateTime::now_utc(),
            started_by: by.to_owned(),
        };
        let started = self.ledger.start(&record).await?;
        self.wake.notify_one();
        Ok(started)
    }

    /// Queues the failed deliveries of a started issue again; how many.
    pub async fn resend_failed(&self, slug: &str) -> Result<u64, NewsletterError> {
        if self.ledger.progress(slug).await?.is_none() {
            return Err(NewsletterError::NotStarted(slug.to_owned()));
        }
        let again = self.ledger.requeue_failed(slug).await?;
        self.wake.notify_one();
        Ok(again)
    }

    /// Up to `limit` failed deliveries of the issue: the address and the relay's answer.
    pub async fn failures(
        &self,
        slug: &str,
        limit: usize,
    ) -> Result<Vec<(String, String)>, NewsletterError> {
        Ok(self.ledger.failures(slug, limit).await?)
    }

    pub async fn progress(&self, slug: &str) -> Result<Option<Progress>, NewsletterError> {
        Ok(self.ledger.progress(slug).await?)
    }

    /// A copy of the issue of `slug` to `to` (a test before sending), marked as a preview, outside
    /// the ledger. A subscriber gets their own unsubscribe link; anyone else one that leads
    /// nowhere.
    pub async fn send_preview(
        &self,
        slug: &str,
        to: &SubscriberEmail,
    ) -> Result<Delivered, NewsletterError> {
        let issue = self.issue(slug)?;
        let token = self
            .store
            .record(to)
            .await?
            .and_then(|record| record.unsubscribe_token)
            .unwrap_or_else(|| PREVIEW_TOKEN.to_owned());
        let unsubscribe = link_url(self.public_url()?, UNSUBSCRIBE_PATH, &token);
        let mut copy = issue.mail_to(to.as_str(), &unsubscribe);
        copy.subject = format!("[Preview] {}", copy.subject);
        Ok(self.mailer.send(&copy).await?)
    }

    /// Every issue started, newest first, with where its deliveries stand.
    pub async fn issues(&self) -> Result<Vec<(IssueRecord, Progress)>, NewsletterError> {
        Ok(self.ledger.issues().await?)
    }

    /// Every story, newest first, with its issue if it was started.
    pub async fn stories(&self) -> Result<Vec<StoryIssue>, NewsletterError> {
        let mut issues = self.ledger.issues().await?;
        Ok(self
            .catalog
            .summaries()
            .into_iter()
            .map(|story| {
                let issue = issues
                    .iter()
                    .position(|(record, _)| record.slug == story.slug)
                    .map(|i| issues.swap_remove(i));
                StoryIssue {
                    slug: story.slug,
                    title: story.title,
                    published: story.published,
                    issue,
                }
            })
            .collect())
    }

    /// Sends the issue of `slug` until it is done (retries waited for), reporting progress.
    pub async fn send_to_the_end(
        &self,
        slug: &str,
        report: impl FnMut(&Progress),
    ) -> Result<Progress, NewsletterError> {
        let issue = self.issue(slug)?;
        Ok(self.sender(&issue)?.run(report).await?)
    }

    fn sender<'a>(&'a self, issue: &'a Issue) -> Result<Sender<'a>, NewsletterError> {
        Ok(Sender {
            ledger: &*self.ledger,
            store: &self.store,
            mailer: &self.mailer,
            issue,
            public_url: self.public_url()?,
            pace: &self.pace,
            retry_after: self.retry_after,
            lease: self.lease,
        })
    }

    /// Sends what is due of every unfinished issue, once each, stopping between batches at
    /// `deadline` if there is one: where each of those issues stands then.
    pub async fn deliver_due(
        &self,
        deadline: Option<std::time::Instant>,
    ) -> Result<Vec<(String, Progress)>, NewsletterError> {
        let mut delivered = Vec::new();
        for (record, progress) in self.ledger.issues().await? {
            if progress.done() {
                continue;
            }
            if deadline.is_some_and(|deadline| std::time::Instant::now() >= deadline) {
                break;
            }
            // A story removed from the site after its issue started: nothing left to send it with.
            let issue = match self.issue(&record.slug) {
                Ok(issue) => issue,
                Err(err) => {
                    tracing::warn!(slug = %record.slug, error = %describe(&err),
                        "an unfinished issue cannot be made");
                    continue;
                }
            };
            let progress = self.sender(&issue)?.drain(deadline, &mut |_| {}).await?;
            tracing::info!(slug = %record.slug, sent = progress.sent, failed = progress.failed,
                skipped = progress.skipped, left = progress.queued + progress.sending,
                "delivered an issue's due mails");
            delivered.push((record.slug, progress));
        }
        Ok(delivered)
    }

    /// The server's delivery worker: delivers started issues, woken when one starts and every
    /// little while for retries and for work other instances left behind.
    pub async fn deliver_forever(self: Arc<Self>) {
        if self.can_send().is_err() {
            return;
        }
        loop {
            if let Err(err) = self.deliver_due(None).await {
                tracing::error!(error = %describe(&err), "delivering issues failed; trying again");
            }
            let _ = tokio::time::timeout(WORKER_POLL, self.wake.notified()).await;
        }
    }
}
