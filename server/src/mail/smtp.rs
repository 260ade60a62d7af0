//! SMTP (`STORIES_SMTP_URL`, lettre's URL form): `smtps://host` (TLS from the start),
//! `smtp://host?tls=required` (STARTTLS), `smtp://host` (plain: loopback only, unless
//! `?tls=opportunistic` asks for it). The user name and password in the URL, or the password in
//! a file (`STORIES_SMTP_PASSWORD_FILE`). Connections are pooled; each exchange times out.

use super::{Delivered, MailError, Transport};
use lettre::{
    address::Envelope, transport::smtp::PoolConfig, AsyncSmtpTransport, AsyncTransport,
    Tokio1Executor,
};
use std::{path::Path, time::Duration};

/// One SMTP command and its answer, at most.
const TIMEOUT: Duration = Duration::from_secs(30);

pub struct Smtp {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    /// The relay, without credentials (for logs).
    relay: String,
}

#[derive(Debug, thiserror::Error)]
pub enum SmtpConfigError {
    #[error("STORIES_SMTP_URL is not an SMTP URL such as smtps://user@mail.example.com: {0}")]
    Url(String),
    #[error(
        "STORIES_SMTP_URL sends to {0} without TLS (passwords and addresses in the clear): use \
         smtps://, or ?tls=required for STARTTLS (?tls=opportunistic allows plain SMTP knowingly)"
    )]
    PlainOffLoopback(String),
    #[error("STORIES_SMTP_PASSWORD_FILE {0}: {1}")]
    PasswordFile(String, String),
    #[error(
        "STORIES_SMTP_PASSWORD_FILE needs the user name in STORIES_SMTP_URL (smtps://USER@host)"
    )]
    PasswordWithoutUser,
}

impl Smtp {
    /// Must be called inside the tokio runtime (the pool starts its cleanup task).
    pub fn new(url: &str, password_file: Option<&Path>) -> Result<Self, SmtpConfigError> {
        let uri: http::Uri = url
            .parse()
            .map_err(|err: http::uri::InvalidUri| SmtpConfigError::Url(err.to_string()))?;
        let scheme = uri.scheme_str().unwrap_or_default();
        let authority = uri
            .authority()
            .ok_or_else(|| SmtpConfigError::Url("no host".into()))?;
        if !matches!(scheme, "smtp" | "smtps") {
            return Err(SmtpConfigError::Url(format!("the scheme {scheme:?}")));
        }
        let host = authority.host();
        let tls_asked = uri
            .query()
            .is_some_and(|query| query.split('&').any(|pair| pair.starts_with("tls=")));
        if scheme == "smtp" && !tls_asked && !is_loopback(host) {
            return Err(SmtpConfigError::PlainOffLoopback(host.to_owned()));
        }
        let relay = match authority.port_u16() {
            Some(port) => format!("{scheme}://{host}:{port}"),
            None => format!("{scheme}://{host}"),
        };
        let url = match password_file {
            Some(path) => with_password(url, authority.as_str(), path)?,
            None => url.to_owned(),
        };
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(&url)
            .map_err(|err| SmtpConfigError::Url(err.to_string()))?
            .timeout(Some(TIMEOUT))
            .pool_config(PoolConfig::new().max_size(4))
            .build();
        Ok(Self { transport, relay })
    }
}

fn is_loopback(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// The URL with the password from `path` (percent-encoded) after the user name in it.
fn with_password(url: &str, authority: &str, path: &Path) -> Result<String, SmtpConfigError> {
    let (user, host) = authority
        .split_once('@')
        .ok_or(SmtpConfigError::PasswordWithoutUser)?;
    let user = user.split(':').next().unwrap_or_default();
    let password = std::fs::read_to_string(path).map_err(|err| {
        SmtpConfigError::PasswordFile(path.display().to_string(), err.to_string())
    })?;
    let password = password.trim_end_matches(['\r', '\n']);
    let encoded =
        percent_encoding::utf8_percent_encode(password, percent_encoding::NON_ALPHANUMERIC);
    Ok(url.replacen(authority, &format!("{user}:{encoded}@{host}"), 1))
}

#[async_trait::async_trait]
impl Transport for Smtp {
    async fn deliver(&self, envelope: &Envelope, message: &[u8]) -> Result<Delivered, MailError> {
        match self.transport.send_raw(envelope, message).await {
            Ok(_) => Ok(Delivered::Relayed(self.relay.clone())),
            // 5xx: this message (its recipient) is refused; anything else may pass later.
            Err(err) if err.is_permanent() => {
                Err(MailError::Refused(format!("{}: {err}", self.relay).into()))
            }
            Err(err) => Err(MailError::Unavailable(
                format!("{}: {err}", self.relay).into(),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(url: &str) -> String {
        match Smtp::new(url, None) {
            Err(err) => err.to_string(),
            Ok(_) => panic!("{url} was accepted"),
        }
    }

    #[tokio::test]
    async fn plain_smtp_only_on_loopback_unless_asked_for() {
        assert!(Smtp::new("smtp://127.0.0.1:2525", None).is_ok());
        assert!(Smtp::new("smtp://localhost:2525", None).is_ok());
        assert!(Smtp::new("smtps://user:pw@mail.example.com", None).is_ok());
        assert!(Smtp::new("smtp://mail.example.com:587?tls=required", None).is_ok());
        assert!(refused("smtp://mail.example.com:25").contains("without TLS"));
        assert!(refused("http://mail.example.com").contains("not an SMTP URL"));
        assert!(refused("smtp://mail.example.com?tls=sometimes").contains("not an SMTP URL"));
    }

    #[tokio::test]
    async fn the_password_file_goes_into_the_url_encoded() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("password");
        std::fs::write(&path, "p@ss:w/rd\n").unwrap();
        let url = with_password(
            "smtps://ada@mail.example.com:465",
            "ada@mail.example.com:465",
            &path,
        )
        .unwrap();
        assert_eq!(url, "smtps://ada:p%40ss%3Aw%2Frd@mail.example.com:465");
        assert!(Smtp::new("smtps://ada@mail.example.com", Some(&path)).is_ok());
        let no_user = Smtp::new("smtps://mail.example.com", Some(&path))
            .err()
            .unwrap();
        assert!(no_user.to_string().contains("needs the user name"));
        let missing = Smtp::new(
            "smtps://ada@mail.example.com",
            Some(&dir.path().join("nope")),
        );
        assert!(missing
            .err()
            .unwrap()
            .to_string()
            .contains("STORIES_SMTP_PASSWORD_FILE"));
    }
}
