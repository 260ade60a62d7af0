//! Amazon SES (v2 API), for AWS mode: each message sent as raw MIME, so the headers we compose
//! (List-Unsubscribe and the like) reach the recipient as they are. SES signs with DKIM itself
//! (Easy DKIM on the sending domain). Configured through the standard AWS settings; the sender's
//! address or domain must be a verified SES identity.

use super::{Delivered, MailError, Transport};
use aws_sdk_sesv2::{
    error::SdkError,
    operation::send_email::SendEmailError,
    primitives::Blob,
    types::{Destination, EmailContent, RawMessage},
    Client,
};
use lettre::address::Envelope;

pub struct Ses {
    client: Client,
}

impl Ses {
    pub fn new(config: &aws_config::SdkConfig) -> Self {
        Self {
            client: Client::new(config),
        }
    }
}

#[async_trait::async_trait]
impl Transport for Ses {
    async fn deliver(&self, envelope: &Envelope, message: &[u8]) -> Result<Delivered, MailError> {
        let raw = RawMessage::builder()
            .data(Blob::new(message))
            .build()
            .map_err(|err| MailError::Refused(err.into()))?;
        let to = envelope.to().iter().map(ToString::to_string).collect();
        let sent = self
            .client
            .send_email()
            .set_from_email_address(envelope.from().map(ToString::to_string))
            .destination(Destination::builder().set_to_addresses(Some(to)).build())
            .content(EmailContent::builder().raw(raw).build())
            .send()
            .await;
        match sent {
            Ok(_) => Ok(Delivered::Relayed("Amazon SES".into())),
            Err(err) if refused(&err) => Err(MailError::Refused(err.into())),
            Err(err) => Err(MailError::Unavailable(err.into())),
        }
    }
}

/// What sending again won't fix: a rejected message, an unverified sender, a suspended account,
/// a malformed request. Throttling (retried by the SDK first), outages and paused sending may
/// pass later.
fn refused(err: &SdkError<SendEmailError>) -> bool {
    matches!(
        err.as_service_error(),
        Some(
            SendEmailError::MessageRejected(_)
                | SendEmailError::MailFromDomainNotVerifiedException(_)
                | SendEmailError::AccountSuspendedException(_)
                | SendEmailError::BadRequestException(_)
                | SendEmailError::NotFoundException(_)
        )
    )
}
