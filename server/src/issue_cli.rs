//! `serverless-stories issue …`: newsletter issues made from stories.

use crate::{
    cli::{BackendArgs, IssueCommand, ListArgs, MailArgs},
    mail::{Delivered, Mailer},
    newsletter_issue::{Issue, Site},
    resources::Resources,
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
        IssueCommand::Preview { slug, to } => {
            let (Some(story), Some(source)) =
                (catalog.get(&slug), catalog.newsletter_source(&slug))
            else {
                anyhow::bail!("there is no story {slug:?}: {}", known_slugs(&catalog));
            };
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

fn known_slugs(catalog: &app::stories::catalog::StoryCatalog) -> String {
    let slugs: Vec<String> = catalog.summaries().into_iter().map(|s| s.slug).collect();
    format!("the stories are {}", slugs.join(", "))
}
