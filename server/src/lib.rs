//! The Serverless Stories server: configuration, adapters (stores), HTTP stack and CLI.

// The page's full static view type (router, islands, forms) nests deeper than the default limit.
#![recursion_limit = "256"]

pub mod admin_cli;
pub mod api_errors;
pub mod aws;
pub mod cli;
pub mod client_address;
pub mod content;
pub mod cors;
pub mod credential_key;
pub mod csp;
pub mod dashboard_api;
pub mod delivery;
pub mod embedded_db;
pub mod http_server;
pub mod http_stack;
pub mod identity;
pub mod issue_api;
pub mod issue_cli;
pub mod lambda;
pub mod mail;
pub mod mail_cli;
pub mod mail_links_api;
pub mod metrics;
pub mod newsletter;
pub mod newsletter_issue;
pub mod page_cache;
pub mod provider_sign_in;
pub mod resources;
pub mod secret_file;
pub mod seed_cli;
pub mod signed_api;
pub mod sigv4_bench;
pub mod sigv4_verifier;
pub mod startup;
pub mod state;
pub mod store;
pub mod subscribe_api;
pub mod subscribe_limit;
pub mod subscriber_csv;
pub mod subscriber_export;
pub mod subscribers_cli;
pub mod subscriptions;
pub mod table_cli;
