//! `serverless-stories admin …`: manage the embedded identity provider's users.

use crate::{
    cli::AdminCommand,
    embedded_db::EmbeddedDb,
    identity::users::{Password, UserDirectory, Username},
};
use anyhow::Context;
use std::{io::BufRead, path::Path};
use time::format_description::well_known::Rfc3339;

fn read_password() -> anyhow::Result<Password> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("reading the password from standard input")?;
    let password = line.trim_end_matches(['\r', '\n']).to_owned();
    Ok(Password::parse(password)?)
}

pub async fn run(command: AdminCommand, data_dir: &Path) -> anyhow::Result<()> {
    let users = UserDirectory::new(EmbeddedDb::open(data_dir)?);
    match command {
        AdminCommand::Add {
            username, groups, ..
        } => {
            let username = Username::parse(&username)?;
            let groups = checked_groups(&groups)?;
            let password = read_password()?;
            let user = users.add(&username, password, &groups).await?;
            println!(
                "added {} (groups: {})",
                user.username,
                user.groups.join(",")
            );
        }
        AdminCommand::List => {
            for user in users.list().await? {
                let created = user.created_at.format(&Rfc3339).unwrap_or_default();
                println!("{}\t{}\t{}", user.username, user.groups.join(","), created);
            }
        }
        AdminCommand::Remove { username } => {
            users.remove(&username).await?;
            println!("removed {username}");
        }
        AdminCommand::Passwd { username, .. } => {
            let password = read_password()?;
            users.set_password(&username, password).await?;
            println!("changed the password of {username}");
        }
        AdminCommand::Groups { username, groups } => {
            let groups = checked_groups(&groups)?;
            users.set_groups(&username, &groups).await?;
            println!(
                "{username} is now in: {}; their sessions ended",
                groups.join(",")
            );
        }
    }
    Ok(())
}

/// Groups are stored comma-separated and travel in tokens: the same plain characters as
/// usernames.
fn checked_groups(groups: &[String]) -> anyhow::Result<Vec<&str>> {
    groups
        .iter()
        .map(|group| {
            Username::parse(group)
                .map(|_| group.as_str())
                .map_err(|_| anyhow::anyhow!("invalid group name {group:?}"))
        })
        .collect()
}
