//! `serverless-stories subscribers …`: the list from the command line, on either store: export
//! it as CSV, show everything stored about an address (for access requests), unsubscribe one,
//! erase one (for erasure requests).

use crate::{
    cli::{BackendArgs, SubscribersCommand},
    resources::Resources,
    subscriber_csv,
};
use anyhow::Context;
use app::{
    error::describe,
    store::{ListFilter, SubscriberRecord, Unsubscribed, Unsubscriber},
    subscriber_email::SubscriberEmail,
};
use futures::TryStreamExt;
use std::{io::Write, path::Path};
use time::{format_description::well_known::Rfc3339, OffsetDateTime};

pub async fn run(
    command: SubscribersCommand,
    backends: &BackendArgs,
    data_dir: &Path,
) -> anyhow::Result<()> {
    let resources = Resources::new(data_dir);
    let store = crate::store::from_settings(backends, &resources).await?;
    let address =
        |text: &str| SubscriberEmail::parse(text).map_err(|err| anyhow::anyhow!("{text:?}: {err}"));
    let failed = |err: app::store::StoreError| anyhow::anyhow!(describe(&err));
    match command {
        SubscribersCommand::Export { status } => {
            let filter = ListFilter {
                status,
                search: None,
            };
            let mut out = std::io::stdout().lock();
            let mut lines = std::pin::pin!(subscriber_csv::stream(store, filter));
            while let Some(chunk) = lines.try_next().await.map_err(failed)? {
                out.write_all(chunk.as_bytes())
                    .context("writing to standard output")?;
            }
            out.flush().context("writing to standard output")?;
        }
        SubscribersCommand::Show { address: text } => {
            let email = address(&text)?;
            match store.record(&email).await.map_err(failed)? {
                Some(record) => print!("{}", describe_record(&record)),
                None => anyhow::bail!("{text} is not stored"),
            }
        }
        SubscribersCommand::Unsubscribe { address: text } => {
            let email = address(&text)?;
            let at = OffsetDateTime::now_utc();
            match store
                .unsubscribe(Unsubscriber::Address(&email), at, "command line", None)
                .await
                .map_err(failed)?
            {
                Unsubscribed::Unsubscribed(email) => println!("unsubscribed {email}"),
                Unsubscribed::AlreadyUnsubscribed(email) => {
                    println!("{email} was already unsubscribed")
                }
                Unsubscribed::Unknown => anyhow::bail!("{text} is not stored"),
            }
        }
        SubscribersCommand::Erase { address: text } => {
            let email = address(&text)?;
            if store.erase(&email).await.map_err(failed)? {
                println!("erased every record of {text}");
            } else {
                anyhow::bail!("{text} is not stored")
            }
        }
    }
    Ok(())
}

fn when(at: Option<OffsetDateTime>) -> String {
    at.and_then(|at| at.format(&Rfc3339).ok())
        .unwrap_or_else(|| "-".into())
}

/// Everything stored about one address, for people.
pub fn describe_record(record: &SubscriberRecord) -> String {
    let subscriber = &record.subscriber;
    let mut text = format!(
        "address:          {}\n\
         status:           {}\n\
         subscribed at:    {}\n\
         confirmed at:     {}\n\
         unsubscribed at:  {}\n",
        subscriber.email,
        subscriber.status,
        when(Some(subscriber.subscribed_at)),
        when(subscriber.confirmed_at),
        when(subscriber.unsubscribed_at),
    );
    if record.confirmation_sent_at.is_some() || record.expires_at.is_some() {
        text.push_str(&format!(
            "confirmation:     mailed {}, link valid until {}\n",
            when(record.confirmation_sent_at),
            when(record.expires_at)
        ));
    }
    text.push_str(&format!(
        "unsubscribe link secret: {}\n",
        record.unsubscribe_token.as_deref().unwrap_or("-")
    ));
    text.push_str("consent record:\n");
    for event in &record.history {
        text.push_str(&format!(
            "  {}  {:<12}  {}{}\n",
            when(Some(event.at)),
            event.kind.as_str(),
            event.source,
            event
                .client_ip
                .as_deref()
                .map(|ip| format!(" (from {ip})"))
                .unwrap_or_default()
        ));
    }
    text
}
