//! `serverless-stories issue …`: newsletter issues made from stories.

use crate::{
    cli::{BackendArgs, IssueCommand, ListArgs, MailArgs},
    delivery::{Progress, Started},
    mail::{Delivered, Mailer},
    newsletter::Newsletter,
    resources::Resources,
};
use app::{error::describe, subscriber_email::SubscriberEmail};
use std::{io::IsTerminal, path::Path, sync::Arc};

/// Failed deliveries `issue status` lists.
const FAILURES_SHOWN: usize = 50;

pub async fn run(
    command: IssueCommand,
    backends: &BackendArgs,
    mail: &MailArgs,
    list: &ListArgs,
    data_dir: &Path,
) -> anyhow::Result<()> {
    let resources = Resources::new(data_dir);
    let store = crate::store::from_settings(backends, &resources).await?;
    let ledger = crate::delivery::from_settings(backends, &resources).await?;
    let mailer = Arc::new(Mailer::from_settings(mail, &resources).await?);
    let catalog = Arc::new(crate::content::embedded_catalog()?);
    let newsletter = Newsletter::new(
        ledger,
        store,
        mailer,
        catalog,
        list.public_url.clone(),
        list.into(),
    );
    let failed = |err: crate::newsletter::NewsletterError| anyhow::anyhow!(describe(&err));
    match command {
        IssueCommand::Send { slug, by, resend } => {
            match newsletter.start(&slug, &by).await.map_err(failed)? {
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
                let again = newsletter.resend_failed(&slug).await.map_err(failed)?;
                println!("trying the {again} failed deliveries again");
            }
            let mut bar = ProgressLine::new(std::io::stderr().is_terminal());
            let progress = newsletter
                .send_to_the_end(&slug, |progress| bar.show(progress))
                .await
                .map_err(failed)?;
            bar.finish();
            println!("{}", summary(&slug, &progress));
        }
        IssueCommand::Start { slug, by } => {
            match newsletter.start(&slug, &by).await.map_err(failed)? {
                Started::New { queued } => println!(
                    "started {slug} for {queued} confirmed subscribers: the running servers (on \
                     AWS, the function's schedule) send it"
                ),
                Started::Already(before) => println!(
                    "{slug} was started on {} by {}",
                    before.started_at.date(),
                    before.started_by
                ),
            }
        }
        IssueCommand::Status { slug } => match newsletter.progress(&slug).await.map_err(failed)? {
            Some(progress) => {
                println!("{}", summary(&slug, &progress));
                if progress.failed > 0 {
                    let shown = newsletter
                        .failures(&slug, FAILURES_SHOWN)
                        .await
                        .map_err(failed)?;
                    for (address, why) in &shown {
                        println!("failed: {address}: {why}");
                    }
                    if progress.failed > shown.len() as u64 {
                        println!("… and {} more", progress.failed - shown.len() as u64);
                    }
                }
            }
            None => anyhow::bail!("{slug} has not been sent"),
        },
        IssueCommand::Preview { slug, to } => {
            let address =
                SubscriberEmail::parse(&to).map_err(|err| anyhow::anyhow!("{to:?}: {err}"))?;
            match newsletter
                .send_preview(&slug, &address)
                .await
                .map_err(failed)?
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

/// Progress on standard error: a bar redrawn in place on a terminal, else a line now and then
/// (a log stays readable).
struct ProgressLine {
    terminal: bool,
    last_line: Option<std::time::Instant>,
}

impl ProgressLine {
    const WIDTH: u64 = 30;
    const LOG_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

    fn new(terminal: bool) -> Self {
        Self {
            terminal,
            last_line: None,
        }
    }

    fn show(&mut self, progress: &Progress) {
        let finished = progress.sent + progress.failed + progress.skipped;
        let counts = format!(
            "{finished}/{} done: {} sent, {} failed, {} skipped",
            progress.total(),
            progress.sent,
            progress.failed,
            progress.skipped
        );
        if self.terminal {
            let filled = (finished * Self::WIDTH)
                .checked_div(progress.total())
                .unwrap_or(Self::WIDTH) as usize;
            eprint!(
                "\r[{}{}] {counts}\x1b[K",
                "#".repeat(filled),
                "-".repeat(Self::WIDTH as usize - filled)
            );
        } else if self
            .last_line
            .is_none_or(|at| at.elapsed() >= Self::LOG_EVERY || progress.done())
        {
            self.last_line = Some(std::time::Instant::now());
            eprintln!("{counts}");
        }
    }

    fn finish(&self) {
        if self.terminal {
            eprintln!();
        }
    }
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
