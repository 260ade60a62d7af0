//! DKIM signing (RFC 6376) for the outbox and SMTP transports (SES signs itself): each message
//! gets a `DKIM-Signature` the receiver checks against the public key published at
//! `<selector>._domainkey.<domain>`. It covers From, To, Subject, Date, Message-ID and, when the
//! message has them, `List-Unsubscribe` and `List-Unsubscribe-Post` (RFC 8058 requires them
//! signed for one-click unsubscribe to be offered).

use lettre::message::{
    dkim::{
        DkimCanonicalization, DkimCanonicalizationType, DkimConfig, DkimSigningAlgorithm,
        DkimSigningKey,
    },
    header::HeaderName,
};
use lettre::Message;
use std::path::Path;

const SIGNED: [&str; 5] = ["From", "To", "Subject", "Date", "Message-ID"];
const LIST_HEADERS: [&str; 2] = ["List-Unsubscribe", "List-Unsubscribe-Post"];

/// The two configurations in use: for messages without and with the list headers (a header
/// named in the signature must be there).
pub struct Dkim {
    plain: DkimConfig,
    listed: DkimConfig,
}

impl std::fmt::Debug for Dkim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Dkim { .. }")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DkimError {
    #[error("cannot read the DKIM key {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error(
        "the DKIM key {path} is PKCS#8 (\"BEGIN PRIVATE KEY\"); convert it to PKCS#1 with \
         `openssl rsa -in {path} -traditional -out dkim.pem`"
    )]
    Pkcs8 { path: String },
    #[error(
        "the DKIM key {path} is neither an RSA key (PEM, \"BEGIN RSA PRIVATE KEY\") nor an \
         Ed25519 key (its 32 bytes in base64)"
    )]
    Unreadable { path: String },
}

fn algorithm_of(text: &str) -> Option<DkimSigningAlgorithm> {
    if text.contains("-----BEGIN RSA PRIVATE KEY-----") {
        Some(DkimSigningAlgorithm::Rsa)
    } else if !text.contains("-----") {
        Some(DkimSigningAlgorithm::Ed25519)
    } else {
        None
    }
}

impl Dkim {
    /// Reads the private key (RSA PEM, PKCS#1, or an Ed25519 key in base64) from `key_file`.
    pub fn load(key_file: &Path, selector: &str, domain: &str) -> Result<Self, DkimError> {
        let path = key_file.display().to_string();
        let text = std::fs::read_to_string(key_file).map_err(|source| DkimError::Read {
            path: path.clone(),
            source,
        })?;
        let text = text.trim();
        if text.contains("-----BEGIN PRIVATE KEY-----") {
            return Err(DkimError::Pkcs8 { path });
        }
        let algorithm = algorithm_of(text).ok_or(DkimError::Unreadable { path: path.clone() })?;
        let key = || {
            DkimSigningKey::new(text, algorithm)
                .map_err(|_| DkimError::Unreadable { path: path.clone() })
        };
        let config = |headers: Vec<&'static str>, key| {
            DkimConfig::new(
                selector.to_owned(),
                domain.to_owned(),
                key,
                headers
                    .into_iter()
                    .map(HeaderName::new_from_ascii_str)
                    .collect(),
                // Relaxed: survives relays that rewrap headers or trailing whitespace.
                DkimCanonicalization {
                    header: DkimCanonicalizationType::Relaxed,
                    body: DkimCanonicalizationType::Relaxed,
                },
            )
        };
        Ok(Self {
            plain: config(SIGNED.to_vec(), key()?),
            listed: config([&SIGNED[..], &LIST_HEADERS[..]].concat(), key()?),
        })
    }

    pub fn sign(&self, message: &mut Message) {
        let listed = LIST_HEADERS
            .iter()
            .all(|name| message.headers().get_raw(name).is_some());
        message.sign(if listed { &self.listed } else { &self.plain });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_recognized_or_refused_with_the_fix() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, text: &str| {
            let path = dir.path().join(name);
            std::fs::write(&path, text).unwrap();
            path
        };
        let pkcs8 = write(
            "pkcs8.pem",
            "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n",
        );
        let err = Dkim::load(&pkcs8, "s", "example.com").unwrap_err();
        assert!(err.to_string().contains("-traditional"), "{err}");
        let junk = write("junk", "-----BEGIN CERTIFICATE-----\n");
        assert!(matches!(
            Dkim::load(&junk, "s", "example.com"),
            Err(DkimError::Unreadable { .. })
        ));
        let short = write("short", "c2hvcnQ=");
        assert!(matches!(
            Dkim::load(&short, "s", "example.com"),
            Err(DkimError::Unreadable { .. })
        ));
        let ed25519 = write("ed25519", &base64_of(&[7u8; 32]));
        assert!(Dkim::load(&ed25519, "s", "example.com").is_ok());
        let missing = dir.path().join("missing");
        assert!(matches!(
            Dkim::load(&missing, "s", "example.com"),
            Err(DkimError::Read { .. })
        ));
    }

    fn base64_of(bytes: &[u8]) -> String {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(bytes)
    }
}
