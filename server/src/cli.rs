//! Command line: `serverless-stories [OPTIONS] [COMMAND]`.

use clap::{Parser, Subcommand};
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
    /// Where the embedded database lives (created on first start).
    #[arg(
        long,
        env = "STORIES_DATA_DIR",
        default_value = "./data",
        global = true
    )]
    pub data_dir: PathBuf,

    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the site (the default when no command is given).
    Serve,
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
}
