//! Command line: `serverless-stories [OPTIONS] [COMMAND]`.

use clap::{Args, Parser, Subcommand, ValueEnum};
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

    /// How log lines are written: `text` for people, `json` (one object per line, with the
    /// request id of the request being served) for log collectors.
    #[arg(
        long,
        env = "STORIES_LOG_FORMAT",
        value_enum,
        default_value_t,
        global = true
    )]
    pub log_format: LogFormat,

    #[command(flatten)]
    pub serve: ServeArgs,

    #[command(flatten)]
    pub backends: BackendArgs,

    #[command(flatten)]
    pub mail: MailArgs,

    #[command(flatten)]
    pub list: ListArgs,

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
    /// Create the DynamoDB table (on-demand billing) unless it exists, and wait until it is
    /// active. Uses --table/STORIES_TABLE and the standard AWS settings.
    InitTable,
    /// Add COUNT synthetic subscribers (bench-<n>@example.test) to the embedded store, for
    /// benchmarks on large tables. Existing addresses are kept.
    Seed {
        #[arg(long)]
        count: u64,
    },
    /// Recount the DynamoDB table's subscribers and store the total the admin page shows
    /// (repairs the counter if an instance died between a subscribe and its increment).
    Recount,
    /// Time SigV4 verification against aws-sigv4 signing (for scripts/bench; prints JSON).
    #[command(hide = true)]
    BenchSigv4,
    /// Check the mail settings.
    #[command(subcommand)]
    Mail(MailCommand),
    /// The newsletter's list, on the configured store.
    #[command(subcommand)]
    Subscribers(SubscribersCommand),
    /// Newsletter issues made from stories.
    #[command(subcommand)]
    Issue(IssueCommand),
}

#[derive(Debug, Subcommand)]
pub enum IssueCommand {
    /// Send one copy of the issue made from story SLUG to ADDRESS, marked as a preview (the
    /// address's own unsubscribe link if it is on the list). Needs STORIES_PUBLIC_URL.
    Preview {
        slug: String,
        #[arg(long)]
        to: String,
    },
    /// Send the issue made from story SLUG to every confirmed subscriber, once: asked again, it
    /// says when it was sent and carries on with what is left (a send that was interrupted).
    Send {
        slug: String,
        /// Who is sending (the ledger records it).
        #[arg(long, default_value = "command line")]
        by: String,
        /// Also try again the deliveries that failed (never those that were sent).
        #[arg(long)]
        resend: bool,
    },
    /// Start the issue made from story SLUG (every confirmed subscriber queued, once) and leave
    /// the sending to the running servers, or on AWS to the function's schedule.
    Start {
        slug: String,
        /// Who is sending (the ledger records it).
        #[arg(long, default_value = "command line")]
        by: String,
    },
    /// Where an issue's deliveries stand.
    Status { slug: String },
}

#[derive(Debug, Subcommand)]
pub enum SubscribersCommand {
    /// Write the list as CSV to standard output (email, status, subscribed_at, confirmed_at,
    /// unsubscribed_at; times in RFC 3339 UTC), every subscriber or those with one status.
    Export {
        #[arg(long, value_parser = parse_status)]
        status: Option<app::store::Status>,
    },
    /// Show everything stored about an address: status, times, consent record (for access
    /// requests).
    Show { address: String },
    /// Take an address off the list (the consent record is kept).
    Unsubscribe { address: String },
    /// Erase every record of an address (for erasure requests). It can subscribe again later.
    Erase { address: String },
}

fn parse_status(text: &str) -> Result<app::store::Status, String> {
    app::store::Status::parse(text)
        .ok_or_else(|| format!("{text:?} is not a status: pending, confirmed or unsubscribed"))
}

#[derive(Debug, Subcommand)]
pub enum MailCommand {
    /// Send a test message to ADDRESS through the configured transport (the outbox by default),
    /// and say where it went.
    Test { address: String },
}

/// How the product's mail leaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum MailTransportKind {
    /// Each message as an `.eml` file in `<data dir>/outbox/` (nothing is sent).
    Outbox,
    /// An SMTP relay (`STORIES_SMTP_URL`).
    Smtp,
    /// Amazon SES (v2 API), through the standard AWS settings; the sender must be verified.
    Ses,
}

#[derive(Debug, Args, Clone)]
pub struct MailArgs {
    /// How mail leaves. Default: `smtp` when STORIES_SMTP_URL is set, else `outbox`.
    #[arg(long, env = "STORIES_MAIL_TRANSPORT", value_enum, global = true)]
    pub mail_transport: Option<MailTransportKind>,

    /// The sender of every message, e.g. `Serverless Stories <news@example.com>`.
    #[arg(
        long,
        env = "STORIES_MAIL_FROM",
        default_value = "Serverless Stories <newsletter@localhost>",
        global = true
    )]
    pub mail_from: String,

    /// The SMTP relay: `smtps://USER:PASSWORD@HOST[:PORT]` (TLS), `smtp://HOST:PORT?tls=required`
    /// (STARTTLS), or `smtp://127.0.0.1:PORT` (plain, loopback only). Selects the smtp transport.
    #[arg(long, env = "STORIES_SMTP_URL", hide_env_values = true, global = true)]
    pub smtp_url: Option<String>,

    /// A file holding the SMTP password (instead of putting it in the URL).
    #[arg(long, env = "STORIES_SMTP_PASSWORD_FILE", global = true)]
    pub smtp_password_file: Option<PathBuf>,

    /// DKIM-sign every message with this private key: RSA in PEM (PKCS#1, "BEGIN RSA PRIVATE
    /// KEY") or Ed25519 (its 32 bytes in base64). With --dkim-selector. (SES signs itself.)
    #[arg(long, env = "STORIES_DKIM_KEY_FILE", global = true)]
    pub dkim_key_file: Option<PathBuf>,

    /// The DKIM selector: the public key is published at `<selector>._domainkey.<domain>`.
    #[arg(long, env = "STORIES_DKIM_SELECTOR", global = true)]
    pub dkim_selector: Option<String>,

    /// The signing domain (`d=`). Default: the domain of STORIES_MAIL_FROM.
    #[arg(long, env = "STORIES_DKIM_DOMAIN", global = true)]
    pub dkim_domain: Option<String>,
}

/// How the newsletter's list behaves.
#[derive(Debug, Args, Clone, Default)]
pub struct ListArgs {
    /// Double opt-in: a new subscriber is pending until they press "Confirm subscription" on
    /// the page a mailed link opens (valid 48 hours). Recommended once mail is configured.
    #[arg(long, env = "STORIES_DOUBLE_OPT_IN", global = true)]
    pub double_opt_in: bool,

    /// The site's address as readers reach it, e.g. `https://stories.example.com`: the links in
    /// mails start with it. Default: `http://` and the listening address (fine on one machine).
    #[arg(long, env = "STORIES_PUBLIC_URL", value_parser = parse_public_url, global = true)]
    pub public_url: Option<String>,

    /// Keep the client's IP address in each subscriber's consent record (when they subscribed,
    /// confirmed, unsubscribed). Off by default: only times and sources are kept.
    #[arg(long, env = "STORIES_RECORD_CONSENT_IP", global = true)]
    pub record_consent_ip: bool,

    /// Send newsletter issues at most this many mails per second (per running instance), e.g.
    /// an SES account's sending rate. Default: as fast as the mail transport takes them.
    #[arg(long, env = "STORIES_SEND_RATE", value_parser = parse_send_rate, global = true)]
    pub send_rate: Option<f64>,

    /// Seconds before a newsletter mail the relay turned away for now (4xx, throttling) is
    /// tried again; each further try waits twice as long (up to 8 times this), 5 tries in all.
    #[arg(
        long,
        env = "STORIES_SEND_RETRY_AFTER",
        default_value_t = 60,
        value_parser = clap::value_parser!(u32).range(1..=3600),
        global = true
    )]
    pub send_retry_after: u32,

    /// Seconds a sender holds the batch of newsletter deliveries it claimed: if it dies (a crash,
    /// a deploy), another instance sends what it had not sent after this long. At least the
    /// time a batch of 50 takes at the send rate.
    #[arg(
        long,
        env = "STORIES_DELIVERY_LEASE",
        default_value_t = 300,
        value_parser = clap::value_parser!(u32).range(1..=86_400),
        global = true
    )]
    pub delivery_lease: u32,
}

/// A positive number of mails per second.
fn parse_send_rate(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(rate) if rate.is_finite() && rate > 0.0 => Ok(rate),
        _ => Err(format!(
            "{text:?} is not a send rate: give mails per second, a positive number such as 14 \
             or 0.5"
        )),
    }
}

/// An absolute http(s) URL with no query or fragment; kept without a trailing slash.
fn parse_public_url(text: &str) -> Result<String, String> {
    let text = text.trim();
    let uri: http::Uri = text
        .parse()
        .map_err(|_| format!("{text:?} is not a URL such as https://stories.example.com"))?;
    let scheme_ok = matches!(uri.scheme_str(), Some("http" | "https"));
    if !scheme_ok || uri.host().is_none() || uri.query().is_some() || text.contains('#') {
        return Err(format!(
            "{text:?} is not a site address such as https://stories.example.com (http or \
             https, a host, no query)"
        ));
    }
    Ok(text.trim_end_matches('/').to_owned())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// Where subscribers are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum StoreKind {
    /// SQLite in the data directory (zero configuration).
    #[default]
    Embedded,
    /// A DynamoDB table, configured through the standard AWS settings.
    Dynamodb,
}

/// Who signs admins in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum IdentityKind {
    /// Users in the data directory (`serverless-stories admin …`).
    #[default]
    Embedded,
    /// A Cognito user pool.
    Cognito,
    /// Any OpenID Connect provider (Auth0, Okta, Keycloak, Entra ID, Cognito's hosted UI…):
    /// admins sign in on its pages.
    Oidc,
}

/// The store and identity provider, and their AWS settings. The AWS SDK itself is configured
/// through its standard variables (AWS_REGION, AWS_PROFILE, credentials, AWS_ENDPOINT_URL_*).
#[derive(Debug, Args, Clone, Default)]
pub struct BackendArgs {
    /// Where subscribers are stored.
    #[arg(
        long,
        env = "STORIES_STORE",
        value_enum,
        default_value_t,
        global = true
    )]
    pub store: StoreKind,

    /// The DynamoDB table (partition key `email`, a string).
    #[arg(long, env = "STORIES_TABLE", default_value = "Emails", global = true)]
    pub table: String,

    /// Who signs admins in.
    #[arg(
        long,
        env = "STORIES_IDENTITY",
        value_enum,
        default_value_t,
        global = true
    )]
    pub identity: IdentityKind,

    /// The Cognito user pool id (e.g. us-east-1_AbCdEfGhI), for `--identity cognito`.
    #[arg(long, env = "STORIES_COGNITO_USER_POOL_ID", global = true)]
    pub cognito_user_pool_id: Option<String>,

    /// The user pool's app client id (a client without a secret, with USER_PASSWORD_AUTH
    /// enabled), for `--identity cognito`.
    #[arg(long, env = "STORIES_COGNITO_CLIENT_ID", global = true)]
    pub cognito_client_id: Option<String>,

    /// The ID tokens' issuer. Default: https://cognito-idp.<region>.amazonaws.com/<pool id>.
    #[arg(long, env = "STORIES_COGNITO_ISSUER", global = true)]
    pub cognito_issuer: Option<String>,

    #[command(flatten)]
    pub oidc: OidcArgs,
}

/// The OpenID Connect provider, for `--identity oidc` (see docs/oidc.md).
#[derive(Debug, Args, Clone, Default)]
pub struct OidcArgs {
    /// The provider's issuer URL: its discovery document is
    /// `<issuer>/.well-known/openid-configuration`. HTTPS (plain HTTP only on loopback).
    #[arg(long, env = "STORIES_OIDC_ISSUER", global = true)]
    pub oidc_issuer: Option<String>,

    /// The client id this site has at the provider (a public client: PKCE, no secret).
    #[arg(long, env = "STORIES_OIDC_CLIENT_ID", global = true)]
    pub oidc_client_id: Option<String>,

    /// The client secret, only for providers that insist on one.
    #[arg(
        long,
        env = "STORIES_OIDC_CLIENT_SECRET",
        global = true,
        hide_env_values = true
    )]
    pub oidc_client_secret: Option<String>,

    /// The scopes asked for (space-separated; `openid` is always asked for).
    #[arg(
        long,
        env = "STORIES_OIDC_SCOPES",
        default_value = "openid email profile",
        global = true
    )]
    pub oidc_scopes: String,

    /// The ID token claim that makes an admin (a string or a list of strings), e.g. `groups`.
    #[arg(
        long,
        env = "STORIES_OIDC_ADMIN_CLAIM",
        default_value = "groups",
        global = true
    )]
    pub oidc_admin_claim: String,

    /// The values of that claim that make an admin (comma-separated), e.g. `admin`, or a list
    /// of email addresses with `--oidc-admin-claim email`.
    #[arg(
        long,
        env = "STORIES_OIDC_ADMIN_VALUE",
        default_value = "admin",
        global = true
    )]
    pub oidc_admin_value: String,

    /// The provider's name on the login page ("Log in with <name>").
    #[arg(
        long,
        env = "STORIES_OIDC_PROVIDER_NAME",
        default_value = "your organization's account",
        global = true
    )]
    pub oidc_provider_name: String,
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
        long = "signing-key",
        env = "STORIES_SIGNING_KEY",
        hide_env_values = true,
        global = true
    )]
    pub credential_key: Option<String>,

    /// A Secrets Manager secret (name or ARN) whose value is the credential key (64 hex
    /// characters), read once at start: how instances in Lambda share it without putting it in
    /// their configuration. Instead of --signing-key.
    #[arg(
        long = "signing-key-secret",
        env = "STORIES_SIGNING_KEY_SECRET",
        conflicts_with = "credential_key",
        global = true
    )]
    pub credential_key_secret: Option<String>,

    /// Origins (e.g. `https://admin.example.com`, comma-separated) whose pages may call `/api/*`
    /// from the browser (CORS), as when the site and its API live on different hosts. Default:
    /// none (same origin only).
    #[arg(
        long,
        env = "STORIES_CORS_ORIGINS",
        value_delimiter = ',',
        value_parser = parse_origin,
        global = true
    )]
    pub cors_origins: Vec<http::HeaderValue>,

    /// Seconds a client has to send a request's headers; idle keep-alive connections are closed
    /// after as long.
    #[arg(long, env = "STORIES_HEADER_TIMEOUT", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=3600), global = true)]
    pub header_timeout: u64,

    /// Seconds a request may take, body included, before it is answered 408.
    #[arg(long, env = "STORIES_REQUEST_TIMEOUT", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=3600), global = true)]
    pub request_timeout: u64,

    /// Connections served at once; more wait to be accepted.
    #[arg(long, env = "STORIES_MAX_CONNECTIONS", default_value_t = 1024, value_parser = clap::value_parser!(u64).range(1..=1_000_000), global = true)]
    pub max_connections: u64,

    /// Serve Prometheus metrics at `http://ADDR/metrics` (e.g. 127.0.0.1:9100), on a listener of
    /// their own. Off by default.
    #[arg(long, env = "STORIES_METRICS_ADDR", global = true)]
    pub metrics_addr: Option<std::net::SocketAddr>,

    /// Subscribes one client may make a minute (bursts up to as many); 0 turns the limit off.
    #[arg(
        long,
        env = "STORIES_SUBSCRIBE_LIMIT",
        default_value_t = 10,
        global = true
    )]
    pub subscribe_limit: u32,

    /// Networks of the proxies in front of the server (comma-separated CIDRs, e.g.
    /// `10.0.0.0/8,127.0.0.1/32`): for requests from them, the client is the right-most address
    /// in `X-Forwarded-For` that is not one of them. Default: none (the TCP peer is the client).
    #[arg(
        long,
        env = "STORIES_TRUSTED_PROXIES",
        value_delimiter = ',',
        global = true
    )]
    pub trusted_proxies: Vec<ipnet::IpNet>,

    /// Send `Strict-Transport-Security` (browsers then use only HTTPS for this host for two
    /// years). Only for deployments served over TLS (behind a proxy that terminates it).
    #[arg(long, env = "STORIES_HSTS", global = true)]
    pub hsts: bool,

    /// Also serve `POST /bench/noop` (an empty answer through the same stack), the baseline
    /// `scripts/bench` measures subscribes against. Off unless asked for.
    #[arg(long, env = "STORIES_BENCH_BASELINES", global = true)]
    pub bench_baselines: bool,
}

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Add a user, in the `admin` group unless `--group` says otherwise. The password is read
    /// from standard input.
    Add {
        username: String,
        /// Groups to put the user in (repeatable). Only `admin` may list subscribers.
        #[arg(long = "group", value_name = "GROUP", default_value = app::credentials::ADMIN_GROUP)]
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
    /// Set a user's groups (replacing them). Their sessions end: tokens and credentials carry
    /// the groups, so they sign in again.
    Groups {
        username: String,
        /// The groups, e.g. `admin` (only `admin` may list subscribers).
        #[arg(required = true, value_name = "GROUP")]
        groups: Vec<String>,
    },
}

impl ServeArgs {
    /// Whether the credential key comes from the settings (the key, or its secret) rather than
    /// from this instance's data directory: only then do other instances accept its credentials.
    pub fn shares_credential_key(&self) -> bool {
        self.credential_key.is_some() || self.credential_key_secret.is_some()
    }
}

/// An origin as browsers send it: `scheme://host[:port]`, no path, no trailing slash.
fn parse_origin(text: &str) -> Result<http::HeaderValue, String> {
    let text = text.trim();
    let uri: http::Uri = text
        .parse()
        .map_err(|_| format!("{text:?} is not an origin such as https://admin.example.com"))?;
    let plain = matches!(uri.scheme_str(), Some("https" | "http"))
        && uri.authority().is_some()
        && uri
            .path_and_query()
            .is_none_or(|p| p.as_str().is_empty() || p.as_str() == "/")
        && !text.ends_with('/');
    if !plain || text.contains('*') {
        return Err(format!(
            "{text:?} is not an origin such as https://admin.example.com (scheme and host,              no path, no wildcard)"
        ));
    }
    http::HeaderValue::from_str(text).map_err(|_| format!("{text:?} is not a valid origin"))
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
    fn cors_origins_are_exact_origins() {
        let cli = Cli::try_parse_from([
            "serverless-stories",
            "--cors-origins",
            "https://admin.example.com,http://127.0.0.1:8080",
        ])
        .unwrap();
        assert_eq!(
            cli.serve.cors_origins,
            ["https://admin.example.com", "http://127.0.0.1:8080"]
        );
        for bad in [
            "admin.example.com",
            "https://admin.example.com/",
            "https://admin.example.com/path",
            "*",
            "https://*.example.com",
            "ftp://example.com",
        ] {
            let err = Cli::try_parse_from(["serverless-stories", "--cors-origins", bad])
                .err()
                .unwrap_or_else(|| panic!("{bad} was accepted"));
            assert!(err.to_string().contains("is not an origin"), "{bad}: {err}");
        }
    }

    #[test]
    fn no_command_means_serve_with_the_default_data_dir() {
        let cli = Cli::try_parse_from(["serverless-stories"]).unwrap();
        assert!(cli.command.is_none());
        assert_eq!(cli.data_dir, PathBuf::from("./data"));
    }

    #[test]
    fn backends_are_chosen_by_name() {
        let cli = Cli::try_parse_from([
            "serverless-stories",
            "--store",
            "dynamodb",
            "--identity",
            "cognito",
            "--table",
            "News",
        ])
        .unwrap();
        assert_eq!(cli.backends.store, StoreKind::Dynamodb);
        assert_eq!(cli.backends.identity, IdentityKind::Cognito);
        assert_eq!(cli.backends.table, "News");
        assert!(Cli::try_parse_from(["serverless-stories", "--store", "postgres"]).is_err());
        let cli =
            Cli::try_parse_from(["serverless-stories", "init-table", "--table", "X"]).unwrap();
        assert!(matches!(cli.command, Some(Command::InitTable)));
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
