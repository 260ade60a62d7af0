//! Mail the product sends, and the transports that carry it (chosen like the stores):
//! `outbox`, the embedded default, writes each message as an `.eml` file (exactly the bytes that
//! would go on the wire) into `<data dir>/outbox/`; `smtp` sends it to the relay
//! `STORIES_SMTP_URL` names; `ses` hands it to Amazon SES. Messages are composed once (`compose`), so every transport carries
//! the same bytes.

pub mod compose;
pub mod dkim;
pub mod outbox;
pub mod ses;
pub mod smtp;

use crate::cli::{MailArgs, MailTransportKind};
use app::error::Cause;
use lettre::{address::Envelope, message::Mailbox};
use std::path::PathBuf;

/// A message to one recipient: what the product has to say, without the wire format.
#[derive(Debug, Clone)]
pub struct Mail {
    pub to: String,
    pub subject: String,
    pub text: String,
    /// An HTML alternative of `text`, if any.
    pub html: Option<String>,
    /// Further headers (e.g. `List-Unsubscribe`), ASCII values.
    pub headers: Vec<(&'static str, String)>,
}

/// The headers that let mail programs offer "Unsubscribe" themselves, in one click (RFC 2369's
/// `List-Unsubscribe`, and RFC 8058's `List-Unsubscribe-Post`: a POST to the URL with
/// `List-Unsubscribe=One-Click`).
pub fn unsubscribe_headers(unsubscribe_url: &str) -> [(&'static str, String); 2] {
    [
        ("List-Unsubscribe", format!("<{unsubscribe_url}>")),
        ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click".into()),
    ]
}

#[derive(Debug, thiserror::Error)]
pub enum MailError {
    /// This message can't be sent as it is (an address the relay refuses, a malformed one):
    /// sending it again won't help.
    #[error("the message was refused")]
    Refused(#[source] Cause),
    /// The transport is unreachable, busy or failing: sending again later may work.
    #[error("the mail transport is unavailable")]
    Unavailable(#[source] Cause),
}

/// Where a message went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivered {
    /// Written to the outbox, as this file.
    Written(PathBuf),
    /// Accepted by this relay (shown without credentials).
    Relayed(String),
}

/// Carries composed messages: the outbox, SMTP, SES.
#[async_trait::async_trait]
pub trait Transport: Send + Sync {
    async fn deliver(&self, envelope: &Envelope, message: &[u8]) -> Result<Delivered, MailError>;
}

/// Composes and sends the product's mail through the configured transport.
pub struct Mailer {
    from: Mailbox,
    transport: Box<dyn Transport>,
    dkim: Option<dkim::Dkim>,
}

impl Mailer {
    /// The transport the settings name: SMTP when `STORIES_SMTP_URL` is set (or asked for), SES
    /// when asked for, the outbox in the data directory otherwise.
    pub async fn from_settings(
        settings: &MailArgs,
        resources: &crate::resources::Resources,
    ) -> anyhow::Result<Self> {
        let from: Mailbox = settings.mail_from.parse().map_err(|err| {
            anyhow::anyhow!(
                "STORIES_MAIL_FROM {:?} is not a sender such as \
                 \"Serverless Stories <news@example.com>\": {err}",
                settings.mail_from
            )
        })?;
        let kind = settings
            .mail_transport
            .unwrap_or(if settings.smtp_url.is_some() {
                MailTransportKind::Smtp
            } else {
                MailTransportKind::Outbox
            });
        let transport: Box<dyn Transport> = match kind {
            MailTransportKind::Outbox => {
                Box::new(outbox::Outbox::new(resources.data_dir().join("outbox")))
            }
            MailTransportKind::Ses => Box::new(ses::Ses::new(resources.aws_config().await?)),
            MailTransportKind::Smtp => {
                let url = settings.smtp_url.as_deref().ok_or_else(|| {
                    anyhow::anyhow!("the smtp mail transport needs STORIES_SMTP_URL")
                })?;
                Box::new(smtp::Smtp::new(
                    url,
                    settings.smtp_password_file.as_deref(),
                )?)
            }
        };
        let dkim = match (&settings.dkim_key_file, &settings.dkim_selector) {
            (None, None) => None,
            (Some(key_file), Some(selector)) => {
                let domain = settings
                    .dkim_domain
                    .clone()
                    .unwrap_or_else(|| from.email.domain().to_owned());
                Some(dkim::Dkim::load(key_file, selector, &domain)?)
            }
            _ => anyhow::bail!(
                "DKIM signing needs both STORIES_DKIM_KEY_FILE and STORIES_DKIM_SELECTOR"
            ),
        };
        Ok(Self {
            from,
            transport,
            dkim,
        })
    }

    pub fn from_address(&self) -> &Mailbox {
        &self.from
    }

    pub async fn send(&self, mail: &Mail) -> Result<Delivered, MailError> {
        let (envelope, message) = compose::compose(&self.from, mail, self.dkim.as_ref())?;
        let delivered = self.transport.deliver(&envelope, &message).await?;
        tracing::info!(to = %app::audit::untrusted(&mail.to), subject = %mail.subject,
            delivered = ?delivered, "mail sent");
        Ok(delivered)
    }
}
