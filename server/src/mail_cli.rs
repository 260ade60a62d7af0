//! `serverless-stories mail …`: check the mail settings.

use crate::{
    cli::{MailArgs, MailCommand},
    mail::{Delivered, Mail, Mailer},
};
use std::path::Path;

pub async fn run(command: MailCommand, settings: &MailArgs, data_dir: &Path) -> anyhow::Result<()> {
    match command {
        MailCommand::Test { address } => {
            let resources = crate::resources::Resources::new(data_dir);
            let mailer = Mailer::from_settings(settings, &resources).await?;
            let mail = Mail {
                to: address.clone(),
                subject: "Test message from Serverless Stories".into(),
                text: format!(
                    "This is a test of the mail settings of Serverless Stories.\n\n\
                     It was sent from {} to {address}. If it arrived, the site's other mail will \
                     reach people the same way.\n",
                    mailer.from_address()
                ),
                html: None,
                headers: Vec::new(),
            };
            match mailer
                .send(&mail)
                .await
                .map_err(|err| anyhow::anyhow!(app::error::describe(&err)))?
            {
                Delivered::Written(path) => {
                    println!("wrote the test message to {}", path.display())
                }
                Delivered::Relayed(relay) => {
                    println!("sent the test message to {address} through {relay}")
                }
            }
            Ok(())
        }
    }
}
