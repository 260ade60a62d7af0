//! A `Mail` as RFC 5322 bytes: the headers every message carries (From, To, Subject, Date,
//! Message-ID, MIME) and the body, plain text or plain text with an HTML alternative.

use super::{Mail, MailError};
use lettre::{
    address::Envelope,
    message::{
        header::{ContentType, HeaderName, HeaderValue},
        Mailbox, MultiPart,
    },
    Message,
};

/// The envelope (for the relay) and the message's bytes (CRLF line ends), DKIM-signed when a
/// key is configured.
pub fn compose(
    from: &Mailbox,
    mail: &Mail,
    dkim: Option<&super::dkim::Dkim>,
) -> Result<(Envelope, Vec<u8>), MailError> {
    let refused = |err: String| MailError::Refused(err.into());
    let to: Mailbox = mail
        .to
        .parse()
        .map_err(|err| refused(format!("the address {:?}: {err}", mail.to)))?;
    let mut builder = Message::builder()
        .from(from.clone())
        .to(to)
        .subject(mail.subject.as_str())
        .message_id(Some(message_id(from)?))
        .date_now();
    for (name, value) in &mail.headers {
        builder = builder.raw_header(HeaderValue::new(
            HeaderName::new_from_ascii_str(name),
            value.clone(),
        ));
    }
    let message = match &mail.html {
        Some(html) => builder.multipart(MultiPart::alternative_plain_html(
            mail.text.clone(),
            html.clone(),
        )),
        None => builder
            .header(ContentType::TEXT_PLAIN)
            .body(mail.text.clone()),
    }
    .map_err(|err| refused(err.to_string()))?;
    let mut message = message;
    if let Some(dkim) = dkim {
        dkim.sign(&mut message);
    }
    Ok((message.envelope().clone(), message.formatted()))
}

/// `<random@sender's domain>`: unique, and it says who made it.
fn message_id(from: &Mailbox) -> Result<String, MailError> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|err| MailError::Unavailable(err.to_string().into()))?;
    Ok(format!("<{}@{}>", hex::encode(bytes), from.email.domain()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mail(html: Option<&str>) -> Mail {
        Mail {
            to: "ada@example.com".into(),
            subject: "Confirm your subscription".into(),
            text: "Hello\nworld".into(),
            html: html.map(str::to_owned),
            headers: vec![("List-Id", "Serverless Stories <news.example.com>".into())],
        }
    }

    fn from() -> Mailbox {
        "Serverless Stories <news@example.com>".parse().unwrap()
    }

    #[test]
    fn every_message_says_who_when_what_and_is_unique() {
        let (envelope, bytes) = compose(&from(), &mail(None), None).unwrap();
        let text = String::from_utf8(bytes).unwrap();
        assert_eq!(envelope.to()[0].to_string(), "ada@example.com");
        assert_eq!(envelope.from().unwrap().to_string(), "news@example.com");
        for header in [
            "From: \"Serverless Stories\" <news@example.com>\r\n",
            "To: ada@example.com\r\n",
            "Subject: Confirm your subscription\r\n",
            "List-Id: Serverless Stories <news.example.com>\r\n",
            "Content-Type: text/plain; charset=utf-8\r\n",
        ] {
            assert!(text.contains(header), "{header:?} missing from:\n{text}");
        }
        assert!(text.contains("\r\nDate: "), "{text}");
        let id = |text: &str| {
            let start = text.find("Message-ID: <").unwrap();
            text[start..].lines().next().unwrap().to_owned()
        };
        assert!(id(&text).ends_with("@example.com>"), "{text}");
        let (_, again) = compose(&from(), &mail(None), None).unwrap();
        assert_ne!(id(&text), id(&String::from_utf8(again).unwrap()));
    }

    #[test]
    fn an_html_alternative_makes_a_multipart_message() {
        let (_, bytes) = compose(&from(), &mail(Some("<p>Hello</p>")), None).unwrap();
        let text = String::from_utf8(bytes).unwrap();
        assert!(
            text.contains("Content-Type: multipart/alternative"),
            "{text}"
        );
        assert!(text.contains("<p>Hello</p>"), "{text}");
    }

    #[test]
    fn a_malformed_recipient_is_refused_not_sent() {
        let mut bad = mail(None);
        bad.to = "not an address".into();
        assert!(matches!(
            compose(&from(), &bad, None),
            Err(MailError::Refused(_))
        ));
        // Header injection through the subject is encoded, never a new header.
        let mut injected = mail(None);
        injected.subject = "Hi\r\nBcc: victim@example.com".into();
        let (envelope, bytes) = compose(&from(), &injected, None).unwrap();
        assert_eq!(envelope.to().len(), 1);
        assert!(!String::from_utf8(bytes).unwrap().contains("\r\nBcc:"));
    }
}
