//! The subscriber lifecycle: subscribe (with double opt-in, a pending subscription and a
//! confirmation mail), confirm, unsubscribe. The store keeps the states and makes every change
//! atomic; this decides which change to ask for, makes the links' secrets, and sends the mail.

use crate::mail::{Mail, Mailer};
use app::{
    error::{describe, ApiError},
    mail_links::{CONFIRM_PATH, UNSUBSCRIBE_PATH},
    store::{
        observed, Confirmation, Confirmed, NewSubscription, SharedStore, StoreError, Subscribed,
        Unsubscribed, Unsubscriber,
    },
    subscribe::{SubscribeOutcome, SubscribeResult},
    subscriber_email::SubscriberEmail,
};
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use sha2::{Digest, Sha256};
use std::{net::IpAddr, sync::Arc};
use time::{Duration, OffsetDateTime};

/// How long a confirmation link works (then rounded up to the hour).
pub const CONFIRMATION_VALID: Duration = Duration::hours(48);
/// A pending address gets another confirmation mail at most this often, however often the form
/// is sent with it (nobody can mail-bomb a third party through our form).
pub const RESEND_AFTER: Duration = Duration::minutes(10);
/// Where a subscription through the newsletter form comes from (the consent record's source).
pub const FORM_SOURCE: &str = "form on /";

/// How the list behaves (see the README's settings table).
#[derive(Debug, Clone)]
pub struct ListSettings {
    /// New subscribers are pending until they confirm through a mailed link.
    pub double_opt_in: bool,
    /// Keep the client's address in the consent record.
    pub record_consent_ip: bool,
    /// The site's address as readers reach it (links in mails), without a trailing slash.
    pub public_url: String,
    /// The list's name in mails.
    pub list_name: String,
}

pub struct Subscriptions {
    store: SharedStore,
    mailer: Arc<Mailer>,
    settings: ListSettings,
}

/// A link's secret: what goes in the mail, and the hash that is stored (confirmations).
struct LinkSecret {
    token: String,
    hash: String,
}

fn new_secret() -> Result<LinkSecret, ApiError> {
    let bytes = app::credentials::random_bytes::<32>().map_err(|err| {
        tracing::error!(error = %describe(&err), "no randomness for a link");
        ApiError::internal()
    })?;
    let token = URL_SAFE_NO_PAD.encode(bytes);
    Ok(LinkSecret {
        hash: token_hash(&token),
        token,
    })
}

/// A confirmation mailed at `now`: its secret (for the link) and what is stored of it.
fn new_confirmation(now: OffsetDateTime) -> Result<(LinkSecret, Confirmation), ApiError> {
    let secret = new_secret()?;
    let confirmation = Confirmation {
        token_hash: secret.hash.clone(),
        expires_at: confirmation_expiry(now),
    };
    Ok((secret, confirmation))
}

/// The stored form of a confirmation token: its SHA-256, hex (the token itself has 256 random
/// bits, so a plain hash is enough: nothing to guess).
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A new unsubscribe secret: 128 random bits, hex (stored by `unsubscribe_token` if the address
/// has none yet).
pub fn new_unsubscribe_token() -> Result<String, app::credentials::CredentialKeyError> {
    app::credentials::random_bytes::<16>().map(hex::encode)
}

/// Whether `token` could be one of ours: links are copied by hand and cut by mail clients, and
/// a token that can't be ours needs no store round trip.
pub fn plausible_token(token: &str) -> bool {
    (16..=128).contains(&token.len())
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// When a confirmation mailed at `at` stops working: 48 hours later, rounded up to the hour
/// (stores count pending subscriptions per expiry hour).
pub fn confirmation_expiry(at: OffsetDateTime) -> OffsetDateTime {
    let end = (at + CONFIRMATION_VALID).unix_timestamp();
    let hour = end.div_euclid(3600) + i64::from(end.rem_euclid(3600) != 0);
    OffsetDateTime::from_unix_timestamp(hour * 3600).unwrap_or(at + CONFIRMATION_VALID)
}

impl Subscriptions {
    pub fn new(store: SharedStore, mailer: Arc<Mailer>, settings: ListSettings) -> Self {
        Self {
            store,
            mailer,
            settings,
        }
    }

    pub fn settings(&self) -> &ListSettings {
        &self.settings
    }

    fn link(&self, path: &str, token: &str) -> String {
        app::mail_links::link_url(&self.settings.public_url, path, token)
    }

    fn unsubscribe_url(&self, token: &str) -> String {
        self.link(UNSUBSCRIBE_PATH, token)
    }

    fn client_ip(&self, client: Option<IpAddr>) -> Option<String> {
        client
            .filter(|_| self.settings.record_consent_ip)
            .map(|ip| ip.to_string())
    }

    /// A subscribe from the newsletter form: validated, stored, and with double opt-in the
    /// confirmation mailed. Failures are logged here and answered with the generic message.
    pub async fn subscribe(&self, input: &str, client: Option<IpAddr>) -> SubscribeResult {
        let outcome = |label: &'static str| {
            metrics::counter!("subscribe_outcomes_total", "outcome" => label).increment(1);
        };
        let email = SubscriberEmail::parse(input).map_err(|e| {
            outcome("invalid");
            ApiError::bad_request(e.to_string())
        })?;
        let result = self.subscribe_valid(&email, client).await;
        outcome(match &result {
            Ok(SubscribeOutcome::Subscribed) => "subscribed",
            Ok(SubscribeOutcome::AlreadySubscribed) => "already_subscribed",
            Ok(SubscribeOutcome::ConfirmationSent) => "confirmation_sent",
            Err(_) => "error",
        });
        result
    }

    async fn subscribe_valid(
        &self,
        email: &SubscriberEmail,
        client: Option<IpAddr>,
    ) -> SubscribeResult {
        let now = OffsetDateTime::now_utc();
        // With double opt-in: the mailed secret and the confirmation stored for it.
        let pending = self
            .settings
            .double_opt_in
            .then(|| new_confirmation(now))
            .transpose()?;
        let client_ip = self.client_ip(client);
        let request = NewSubscription {
            email,
            at: now,
            source: FORM_SOURCE,
            client_ip: client_ip.as_deref(),
            confirmation: pending
                .as_ref()
                .map(|(_, confirmation)| confirmation.clone()),
        };
        let stored = observed("subscribe", self.store.subscribe(&request))
            .await
            .map_err(|err| failed("subscribe", err))?;
        match (stored, pending) {
            (Subscribed::AlreadyConfirmed, _) => Ok(SubscribeOutcome::AlreadySubscribed),
            (Subscribed::New, None) => {
                tracing::info!("new subscriber");
                Ok(SubscribeOutcome::Subscribed)
            }
            (Subscribed::New, Some((secret, confirmation))) => {
                tracing::info!("new subscriber, pending confirmation");
                self.mail_confirmation(email, &secret, &confirmation, now)
                    .await?;
                Ok(SubscribeOutcome::ConfirmationSent)
            }
            (Subscribed::AwaitingConfirmation { last_sent_at }, _) => {
                // Asked again while pending: a new mail if the last one is old enough; the same
                // answer either way (it says nothing about whether a mail went out).
                if last_sent_at <= now - RESEND_AFTER {
                    self.resend_confirmation(email, now).await?;
                }
                Ok(SubscribeOutcome::ConfirmationSent)
            }
        }
    }

    async fn resend_confirmation(
        &self,
        email: &SubscriberEmail,
        now: OffsetDateTime,
    ) -> Result<(), ApiError> {
        let (secret, confirmation) = new_confirmation(now)?;
        let renewed = self
            .store
            .renew_confirmation(email, &confirmation, now, now - RESEND_AFTER)
            .await
            .map_err(|err| failed("renewing a confirmation", err))?;
        // Not renewed: another request renewed it a moment ago (its mail is on the way), or it
        // was confirmed or expired meanwhile.
        if renewed {
            self.mail_confirmation(email, &secret, &confirmation, now)
                .await?;
        }
        Ok(())
    }

    /// Sends the confirmation mail. If it can't be sent, the pending subscription is marked as
    /// never mailed, so the visitor's next try sends one at once instead of waiting out
    /// [`RESEND_AFTER`] for a mail that never came.
    async fn mail_confirmation(
        &self,
        email: &SubscriberEmail,
        secret: &LinkSecret,
        confirmation: &Confirmation,
        now: OffsetDateTime,
    ) -> Result<(), ApiError> {
        let unsubscribe_token = self.unsubscribe_token(email).await?;
        let mail = self.confirmation_mail(email.as_str(), &secret.token, &unsubscribe_token);
        let Err(err) = self.mailer.send(&mail).await else {
            return Ok(());
        };
        tracing::error!(error = %describe(&err), "confirmation mail not sent");
        let never_sent = OffsetDateTime::UNIX_EPOCH;
        if let Err(err) = self
            .store
            .renew_confirmation(email, confirmation, never_sent, now)
            .await
        {
            tracing::error!(error = %describe(&err), "could not mark the confirmation as unsent");
        }
        Err(ApiError::unavailable())
    }

    /// The address's unsubscribe secret, made now if this is its first mail.
    pub async fn unsubscribe_token(&self, email: &SubscriberEmail) -> Result<String, ApiError> {
        let fresh = new_unsubscribe_token().map_err(|err| {
            tracing::error!(error = %describe(&err), "no randomness for a link");
            ApiError::internal()
        })?;
        self.store
            .unsubscribe_token(email, &fresh)
            .await
            .map_err(|err| failed("making an unsubscribe link", err))?
            // Just stored by this request; erased in between by an admin: nothing to mail.
            .ok_or_else(ApiError::unavailable)
    }

    fn confirmation_mail(&self, to: &str, token: &str, unsubscribe_token: &str) -> Mail {
        let name = &self.settings.list_name;
        let confirm = self.link(CONFIRM_PATH, token);
        let unsubscribe = self.unsubscribe_url(unsubscribe_token);
        let text = format!(
            "Hello,\r\n\r\n\
             someone, hopefully you, asked for an email from {name} whenever a new story is \
             published, at this address.\r\n\r\n\
             To confirm, open this link and press \"Confirm subscription\" within 48 hours:\r\n\
             {confirm}\r\n\r\n\
             If it wasn't you, ignore this mail: without a confirmation nothing will be sent to \
             you, and the address is forgotten in two days.\r\n\r\n\
             Never want mail from {name}? {unsubscribe}\r\n"
        );
        Mail {
            to: to.to_owned(),
            subject: format!("Confirm your subscription to {name}"),
            text,
            html: None,
            headers: crate::mail::unsubscribe_headers(&unsubscribe).to_vec(),
        }
    }

    /// Confirms the pending subscription a mailed link belongs to.
    pub async fn confirm(
        &self,
        token: &str,
        client: Option<IpAddr>,
    ) -> Result<Confirmed, StoreError> {
        if !plausible_token(token) {
            return Ok(Confirmed::Unknown);
        }
        let client_ip = self.client_ip(client);
        let confirmed = observed(
            "confirm",
            self.store.confirm(
                &token_hash(token),
                OffsetDateTime::now_utc(),
                client_ip.as_deref(),
            ),
        )
        .await?;
        if let Confirmed::Confirmed(_) = confirmed {
            metrics::counter!("subscriptions_confirmed_total").increment(1);
            tracing::info!("subscription confirmed");
        }
        Ok(confirmed)
    }

    /// Ends the subscription an unsubscribe link belongs to.
    pub async fn unsubscribe(
        &self,
        token: &str,
        source: &str,
        client: Option<IpAddr>,
    ) -> Result<Unsubscribed, StoreError> {
        if !plausible_token(token) {
            return Ok(Unsubscribed::Unknown);
        }
        let client_ip = self.client_ip(client);
        let unsubscribed = observed(
            "unsubscribe",
            self.store.unsubscribe(
                Unsubscriber::Token(token),
                OffsetDateTime::now_utc(),
                source,
                client_ip.as_deref(),
            ),
        )
        .await?;
        if let Unsubscribed::Unsubscribed(_) = unsubscribed {
            metrics::counter!("unsubscribes_total").increment(1);
            tracing::info!(source, "unsubscribed");
        }
        Ok(unsubscribed)
    }

    /// Removes expired unconfirmed subscriptions every few minutes, for as long as the server
    /// runs (stores that expire them themselves remove none).
    pub async fn remove_expired_periodically(self: Arc<Self>) {
        let mut every = tokio::time::interval(std::time::Duration::from_secs(600));
        loop {
            every.tick().await;
            match self.store.remove_expired(OffsetDateTime::now_utc()).await {
                Ok(0) => {}
                Ok(removed) => tracing::info!(removed, "expired unconfirmed subscriptions removed"),
                Err(err) => {
                    tracing::warn!(error = %describe(&err), "removing expired subscriptions failed")
                }
            }
        }
    }
}

fn failed(operation: &'static str, err: StoreError) -> ApiError {
    tracing::error!(error = %describe(&err), operation, "store failed");
    ApiError::unavailable()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn confirmations_expire_on_the_hour_after_48_hours() {
        let at = OffsetDateTime::from_unix_timestamp(1_790_000_000).unwrap();
        let expiry = confirmation_expiry(at);
        assert_eq!(expiry.unix_timestamp() % 3600, 0);
        assert!(expiry >= at + CONFIRMATION_VALID);
        assert!(expiry < at + CONFIRMATION_VALID + Duration::hours(1));
        let on_the_hour = OffsetDateTime::from_unix_timestamp(1_789_999_200).unwrap();
        assert_eq!(
            confirmation_expiry(on_the_hour),
            on_the_hour + CONFIRMATION_VALID
        );
    }

    #[test]
    fn secrets_are_random_url_safe_and_stored_hashed() {
        let one = new_secret().unwrap();
        let two = new_secret().unwrap();
        assert_ne!(one.token, two.token);
        assert_eq!(one.token.len(), 43);
        assert!(plausible_token(&one.token));
        assert_eq!(one.hash, token_hash(&one.token));
        assert_ne!(one.hash, one.token);
        assert!(plausible_token(&new_unsubscribe_token().unwrap()));
    }

    #[test]
    fn tokens_that_cannot_be_ours_are_refused_before_the_store() {
        for odd in [
            "",
            "short",
            "a b c d e f g h i j",
            "<script>alert(1)</script>xx",
            &"a".repeat(129),
        ] {
            assert!(!plausible_token(odd), "{odd:?}");
        }
    }
}
