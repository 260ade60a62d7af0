//! Command line: `serverless-stories [OPTIONS] [COMMAND]`.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "serverless-stories",
    version,
    about = "Serverless Stories: a publication with a newsletter, as one Rust web server.",
    long_about = "Serverless Stories: a publication with a newsletter, as one Rust web server.\n\n\
        With no command it serves the site. The listening address and the site files come from the \
        standard Leptos settings: LEPTOS_SITE_ADDR (default 127.0.0.1:3000) and LEPTOS_SITE_ROOT \
        (default target/site, written by `cargo leptos build`). Logging follows RUST_LOG \
        (default: info)."
)]
pub struct Cli {
    /// Where the embedded database and keys live (created on first start).
    #[arg(
        long,
        env = "STORIES_DATA_DIR",
        default_value = "./data",
        global = true
    )]
    pub data_dir: PathBuf,

    #[command(flatten)]
    pub serve: ServeArgs,

    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the site (the default when no command is given).
    Serve,
    /// Manage the admin users of the embedded identity provider.
    #[command(subcommand)]
    Admin(AdminCommand),
}

#[derive(Debug, Args, Default)]
pub struct ServeArgs {
    /// The region admin requests are signed for (service `execute-api`).
    #[arg(
        long,
        env = "STORIES_REGION",
        default_value = "us-east-1",
        global = true
    )]
    pub region: String,

    /// The key (64 hex characters) that temporary credentials are derived from. Instances that
    /// share it accept each other's credentials. Default: generated into the data directory.
    #[arg(
        long,
        env = "STORIES_SIGNING_KEY",
        hide_env_values = true,
        global = true
    )]
    pub signing_key: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Add a user, in the `admin` group unless `--group` says otherwise. The password is read
    /// from standard input.
    Add {
        username: String,
        /// Groups to put the user in (repeatable). Only `admin` may list subscribers.
        #[arg(long = "group", value_name = "GROUP", default_value = "admin")]
        groups: Vec<String>,
        /// Read the password from standard input (first line). Required: passwords never go
        /// in arguments, where other users and shell history can see them.
        #[arg(long, required = true)]
        password_stdin: bool,
    },
    /// List the users.
    List,
    /// Remove a user.
    Remove { username: String },
    /// Change a user's password, read from standard input.
    Passwd {
        username: String,
        #[arg(long, required = true)]
        password_stdin: bool,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn no_command_means_serve_with_the_default_data_dir() {
        let cli = Cli::try_parse_from(["serverless-stories"]).unwrap();
        assert!(cli.command.is_none());
        assert_eq!(cli.data_dir, PathBuf::from("./data"));
    }

    #[test]
    fn admin_add_refuses_a_password_argument() {
        assert!(Cli::try_parse_from(["serverless-stories", "admin", "add", "ada"]).is_err());
        assert!(
            Cli::try_parse_from(["serverless-stories", "admin", "add", "ada", "hunter22"]).is_err()
        );
        assert!(Cli::try_parse_from([
            "serverless-stories",
            "admin",
            "add",
            "ada",
            "--password-stdin"
        ])
        .is_ok());
    }
}
