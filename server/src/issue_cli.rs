//! `serverless-stories issue …`: newsletter issues made from stories.

use crate::{
    cli::{BackendArgs, IssueCommand, ListArgs, MailArgs, StoreKind},
    delivery::{sender::Sender, sqlite::SqliteLedger, IssueRecord, Progress, Started},
    mail::{Delivered, Mailer},
    newsletter_issue::{Issue, Site},
    resources::Resources,
};
use app::stories::{
    catalog::{NewsletterSource, StoryCatalog},
    Story,
};
use app::{
    error::describe,
    mail_links::{link_url, UNSUBSCRIBE_PATH},
    subscriber_email::SubscriberEmail,
};
use std::path::Path;

/// The link a preview sent to someone not on the list carries: it opens the unsubscribe page,
/// which says the link does not work (there is nothing to unsubscribe).
const PREVIEW_TOKEN: &str = "preview-for-someone-not-on-the-list";

pub async fn run(
    command: IssueCommand,
    backends: &BackendArgs,
    mail: &MailArgs,
    list: &ListArgs,
    data_dir: &Path,
) -> anyhow::Result<()> {
    let public_url = list.public_url.as_deref().ok_or_else(|| {
        anyhow::anyhow!(
            "issues link to the site: set STORIES_PUBLIC_URL (e.g. https://stories.example.com)"
        )
    })?;
    let site = Site {
        public_url,
        name: app::SITE_NAME,
    };
    let catalog = crate::content::embedded_catalog()?;
    match command {
        IssueCommand::Send { slug, by, resend } => {
            let (story, source) = story(&catalog, &slug)?;
            let issue = Issue::from_story(story, source, &site);
            let resources = Resources::new(data_dir);
            let (store, ledger) = embedded_ledger(backends, &resources).await?;
            let mailer = Mailer::from_settings(mail, &resources).await?;
            let record = IssueRecord {
                slug: slug.clone(),
                subject: issue.subject.clone(),
                started_at: time::OffsetDateTime::now_utc(),
                started_by: by,
            };
            match ledger.start(&record).await.map_err(failed)? {
                Started::New { queued } => {
                    println!("sending {slug} to {queued} confirmed subscribers")
                }
                Started::Already(before) => println!(
                    "{slug} was sent on {} by {}: finishing what is left of that send",
                    before.started_at.date(),
                    before.started_by
                ),
            }
            if resend {
                let again = ledger.requeue_failed(&slug).await.map_err(failed)?;
                println!("trying the {again} failed deliveries again");
            }
            let sender = Sender {
                ledger: &ledger,
                store: &store,
                mailer: &mailer,
                issue: &issue,
                public_url,
            };
            let progress = sender
                .run(|progress| {
                    eprintln!(
                        "{}/{} sent, {} failed, {} skipped, {} to go",
                        progress.sent,
                        progress.total(),
                        progress.failed,
                        progress.skipped,
                        progress.queued + progress.sending
                    )
                })
                .await
                .map_err(failed)?;
            println!("{}", summary(&slug, &progress));
        }
        IssueCommand::Status { slug } => {
            let resources = Resources::new(data_dir);
            let (_, ledger) = embedded_ledger(backends, &resources).await?;
            match ledger.progress(&slug).await.map_err(failed)? {
                Some(progress) => println!("{}", summary(&slug, &progress)),
                None => anyhow::bail!("{slug} has not been sent"),
            }
        }
        IssueCommand::Preview { slug, to } => {
            let (story, source) = story(&catalog, &slug)?;
            let address =
                SubscriberEmail::parse(&to).map_err(|err| anyhow::anyhow!("{to:?}: {err}"))?;
            let resources = Resources::new(data_dir);
            let store = crate::store::from_settings(backends, &resources).await?;
            let token = store
                .record(&address)
                .await
                .map_err(|err| anyhow::anyhow!(describe(&err)))?
                .and_then(|record| record.unsubscribe_token)
                .unwrap_or_else(|| PREVIEW_TOKEN.to_owned());
            let unsubscribe = link_url(public_url, UNSUBSCRIBE_PATH, &token);
            let issue = Issue::from_story(story, source, &site);
            let mut copy = issue.mail_to(&to, &unsubscribe);
            copy.subject = format!("[Preview] {}", copy.subject);
            let mailer = Mailer::from_settings(mail, &resources).await?;
            match mailer
                .send(&copy)
                .await
                .map_err(|err| anyhow::anyhow!(describe(&err)))?
            {
                Delivered::Written(path) => {
                    println!("wrote the preview of {slug} to {}", path.display())
                }
                Delivered::Relayed(relay) => {
                    println!("sent the preview of {slug} to {to} through {relay}")
                }
            }
        }
    }
    Ok(())
}

fn story<'a>(
    catalog: &'a StoryCatalog,
    slug: &str,
) -> anyhow::Result<(&'a Story, &'a NewsletterSource)> {
    match (catalog.get(slug), catalog.newsletter_source(slug)) {
        (Some(story), Some(source)) => Ok((story, source)),
        _ => {
            let slugs: Vec<String> = catalog.summaries().into_iter().map(|s| s.slug).collect();
            anyhow::bail!(
                "there is no story {slug:?}: the stories are {}",
                slugs.join(", ")
            )
        }
    }
}

fn failed(err: app::store::StoreError) -> anyhow::Error {
    anyhow::anyhow!(describe(&err))
}

/// The store and the ledger of the embedded database (DynamoDB's ledger is not built yet).
async fn embedded_ledger(
    backends: &BackendArgs,
    resources: &Resources,
) -> anyhow::Result<(app::store::SharedStore, SqliteLedger)> {
    if backends.store != StoreKind::Embedded {
        anyhow::bail!(
            "sending issues works on the embedded store for now: DynamoDB's delivery ledger is \
             not built yet"
        );
    }
    let store = crate::store::from_settings(backends, resources).await?;
    let db = resources.embedded_db().await?.clone();
    Ok((store, SqliteLedger::new(db)))
}

fn summary(slug: &str, progress: &Progress) -> String {
    let state = if progress.done() {
        "done"
    } else {
        "in progress"
    };
    format!(
        "{slug}: {state}: {} sent, {} failed, {} skipped (left the list), {} queued, {} sending",
        progress.sent, progress.failed, progress.skipped, progress.queued, progress.sending
    )
}
