//! Temporary credentials, minted the way an identity pool (or MinIO's STS
//! AssumeRoleWithWebIdentity) does, but stateless: nothing per session is stored, so every
//! instance that shares the server's signing key can verify them.
//!
//! - access key id: `ASIA` + 16 random base32 characters;
//! - secret access key: HMAC(signing key, "secret-access-key" | access key id), re-derivable;
//! - session token: base64url(JSON claims: key id, subject, username, groups, expiry) "." base64url
//!   (HMAC(signing key, "session-token" | claims)): the identity travels with the request under a MAC.
//!
//! The types are shared with the browser, which signs requests with these credentials.

use serde::{Deserialize, Serialize};

/// Who the credentials were minted for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Caller {
    pub sub: String,
    pub username: String,
    pub groups: Vec<String>,
}

impl Caller {
    pub fn is_admin(&self) -> bool {
        self.groups.iter().any(|g| g == ADMIN_GROUP)
    }
}

/// The group whose members may list subscribers.
pub const ADMIN_GROUP: &str = "admin";

/// Temporary credentials, as Cognito's GetCredentialsForIdentity answers them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TemporaryCredentials {
    pub access_key_id: String,
    pub secret_key: String,
    pub session_token: String,
    /// Unix seconds, as in Cognito's answer.
    pub expiration: i64,
}

#[cfg(feature = "ssr")]
pub use minting::*;

#[cfg(feature = "ssr")]
mod minting {
    use super::{Caller, TemporaryCredentials};
    use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
    use hmac::{Hmac, KeyInit, Mac};
    use serde::{Deserialize, Serialize};
    use sha2::Sha256;
    use time::OffsetDateTime;

    type HmacSha256 = Hmac<Sha256>;

    /// Credentials last at most this long (an identity pool's default is one hour).
    pub const MAX_LIFETIME: time::Duration = time::Duration::hours(1);
    const KEY_LEN: usize = 32;

    /// The server's secret for deriving credential secrets and MACing session tokens.
    #[derive(Clone)]
    pub struct CredentialKey([u8; KEY_LEN]);

    impl std::fmt::Debug for CredentialKey {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("CredentialKey(..)")
        }
    }

    #[derive(Debug, thiserror::Error)]
    pub enum CredentialKeyError {
        #[error("STORIES_SIGNING_KEY must be {KEY_LEN} bytes as 64 hex characters (e.g. `openssl rand -hex 32`)")]
        BadFormat,
        #[error("cannot read or create the credential key {path}")]
        Io {
            path: String,
            source: std::io::Error,
        },
        #[error("cannot get random bytes from the operating system")]
        Random(#[source] getrandom::Error),
    }

    pub fn random_bytes<const N: usize>() -> Result<[u8; N], CredentialKeyError> {
        let mut bytes = [0u8; N];
        getrandom::fill(&mut bytes).map_err(CredentialKeyError::Random)?;
        Ok(bytes)
    }

    impl CredentialKey {
        pub fn from_hex(hex_key: &str) -> Result<Self, CredentialKeyError> {
            let bytes = hex::decode(hex_key.trim()).map_err(|_| CredentialKeyError::BadFormat)?;
            Ok(Self(
                bytes
                    .try_into()
                    .map_err(|_| CredentialKeyError::BadFormat)?,
            ))
        }

        /// A fresh random key.
        pub fn generate() -> Result<Self, CredentialKeyError> {
            Ok(Self(random_bytes()?))
        }

        pub fn to_hex(&self) -> String {
            hex::encode(self.0)
        }

        /// A key for another purpose, derived from this one: instances that share this key
        /// share it too, and neither reveals the other.
        pub fn derive(&self, purpose: &str) -> [u8; 32] {
            self.mac(b"derived-key", purpose.as_bytes())
                .finalize()
                .into_bytes()
                .into()
        }

        fn mac(&self, purpose: &[u8], data: &[u8]) -> HmacSha256 {
            let mut mac = HmacSha256::new_from_slice(&self.0).expect("HMAC takes any key length");
            mac.update(purpose);
            mac.update(b"\0");
            mac.update(data);
            mac
        }

        fn secret_for(&self, access_key_id: &str) -> String {
            let digest = self
                .mac(b"secret-access-key", access_key_id.as_bytes())
                .finalize()
                .into_bytes();
            base64::engine::general_purpose::STANDARD.encode(&digest[..30])
        }
    }

    #[derive(Serialize, Deserialize)]
    struct SessionClaims {
        /// Format version, so the token can evolve.
        v: u8,
        akid: String,
        #[serde(flatten)]
        caller: Caller,
        /// Expiry, Unix seconds.
        exp: i64,
        /// When the caller signed in (the ID token's `auth_time`), Unix seconds: credentials from
        /// a session revoked since are refused. (0 in credentials minted before it existed.)
        #[serde(default)]
        auth: i64,
    }

    /// What a valid session token says: the secret to check the signature with, who, and when
    /// they signed in.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct ResolvedCredentials {
        pub secret: String,
        pub caller: Caller,
        pub authenticated_at: OffsetDateTime,
    }

    /// Why claimed credentials were refused.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
    pub enum CredentialError {
        #[error("the security token is invalid")]
        Invalid,
        #[error("the security token is expired")]
        Expired,
    }

    pub struct CredentialMinter {
        key: CredentialKey,
    }

    impl CredentialMinter {
        pub fn new(key: CredentialKey) -> Self {
            Self { key }
        }

        /// Mints credentials for `caller`, expiring after at most `MAX_LIFETIME` and never after
        /// `not_after` (the ID token's expiry).
        pub fn mint(
            &self,
            caller: Caller,
            authenticated_at: OffsetDateTime,
            now: OffsetDateTime,
            not_after: OffsetDateTime,
        ) -> Result<TemporaryCredentials, CredentialKeyError> {
            let expiration = (now + MAX_LIFETIME).min(not_after).unix_timestamp();
            let access_key_id = format!("ASIA{}", base32(&random_bytes::<10>()?));
            let claims = SessionClaims {
                v: 1,
                akid: access_key_id.clone(),
                caller,
                exp: expiration,
                auth: authenticated_at.unix_timestamp(),
            };
            let claims = serde_json::to_vec(&claims).expect("claims serialize");
            let mac = self
                .key
                .mac(b"session-token", &claims)
                .finalize()
                .into_bytes();
            let session_token = format!(
                "{}.{}",
                URL_SAFE_NO_PAD.encode(&claims),
                URL_SAFE_NO_PAD.encode(mac)
            );
            Ok(TemporaryCredentials {
                secret_key: self.key.secret_for(&access_key_id),
                access_key_id,
                session_token,
                expiration,
            })
        }

        /// Checks claimed credentials: the session token's MAC, that it belongs to the access key,
        /// and its expiry. Returns the secret to verify the signature with, and the caller.
        pub fn resolve(
            &self,
            access_key_id: &str,
            session_token: Option<&str>,
            now: OffsetDateTime,
        ) -> Result<ResolvedCredentials, CredentialError> {
            let token = session_token.ok_or(CredentialError::Invalid)?;
            let (claims_b64, mac_b64) = token.split_once('.').ok_or(CredentialError::Invalid)?;
            let claims = URL_SAFE_NO_PAD
                .decode(claims_b64)
                .map_err(|_| CredentialError::Invalid)?;
            let mac = URL_SAFE_NO_PAD
                .decode(mac_b64)
                .map_err(|_| CredentialError::Invalid)?;
            self.key
                .mac(b"session-token", &claims)
                .verify_slice(&mac)
                .map_err(|_| CredentialError::Invalid)?;
            let claims: SessionClaims =
                serde_json::from_slice(&claims).map_err(|_| CredentialError::Invalid)?;
            if claims.v != 1 || claims.akid != access_key_id {
                return Err(CredentialError::Invalid);
            }
            if claims.exp <= now.unix_timestamp() {
                return Err(CredentialError::Expired);
            }
            Ok(ResolvedCredentials {
                secret: self.key.secret_for(&claims.akid),
                caller: claims.caller,
                authenticated_at: OffsetDateTime::from_unix_timestamp(claims.auth)
                    .unwrap_or(OffsetDateTime::UNIX_EPOCH),
            })
        }
    }

    /// RFC 4648 base32 without padding (access key ids are upper-case alphanumerics).
    fn base32(bytes: &[u8]) -> String {
        const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
        let mut out = String::with_capacity(bytes.len() * 8 / 5 + 1);
        let (mut buffer, mut bits) = (0u32, 0u32);
        for &byte in bytes {
            buffer = (buffer << 8) | u32::from(byte);
            bits += 8;
            while bits >= 5 {
                bits -= 5;
                out.push(ALPHABET[((buffer >> bits) & 31) as usize] as char);
            }
        }
        if bits > 0 {
            out.push(ALPHABET[((buffer << (5 - bits)) & 31) as usize] as char);
        }
        out
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        fn minter(byte: u8) -> CredentialMinter {
            CredentialMinter::new(CredentialKey([byte; KEY_LEN]))
        }

        fn admin() -> Caller {
            Caller {
                sub: "sub-1".into(),
                username: "ada".into(),
                groups: vec!["admin".into()],
            }
        }

        fn resolve(
            minter: &CredentialMinter,
            creds: &TemporaryCredentials,
            now: OffsetDateTime,
        ) -> Result<ResolvedCredentials, CredentialError> {
            minter.resolve(&creds.access_key_id, Some(&creds.session_token), now)
        }

        #[test]
        fn minted_credentials_resolve_to_their_secret_and_caller() {
            let now = OffsetDateTime::now_utc();
            let signed_in = now - time::Duration::minutes(20);
            let creds = minter(1)
                .mint(admin(), signed_in, now, now + time::Duration::hours(5))
                .unwrap();
            assert!(creds.access_key_id.starts_with("ASIA"));
            assert_eq!(creds.access_key_id.len(), 20);
            assert_eq!(creds.expiration, (now + MAX_LIFETIME).unix_timestamp());
            let resolved = resolve(&minter(1), &creds, now).unwrap();
            assert_eq!(resolved.secret, creds.secret_key);
            assert_eq!(resolved.caller, admin());
            assert!(resolved.caller.is_admin());
            assert_eq!(
                resolved.authenticated_at.unix_timestamp(),
                signed_in.unix_timestamp()
            );
        }

        #[test]
        fn credentials_never_outlive_the_token() {
            let now = OffsetDateTime::now_utc();
            let token_exp = now + time::Duration::minutes(10);
            let creds = minter(1).mint(admin(), now, now, token_exp).unwrap();
            assert_eq!(creds.expiration, token_exp.unix_timestamp());
        }

        #[test]
        fn expired_credentials_are_reported_as_expired() {
            let now = OffsetDateTime::now_utc();
            let creds = minter(1)
                .mint(admin(), now, now, now + MAX_LIFETIME)
                .unwrap();
            let later = now + MAX_LIFETIME + time::Duration::seconds(1);
            assert_eq!(
                resolve(&minter(1), &creds, later),
                Err(CredentialError::Expired)
            );
        }

        #[test]
        fn tampered_foreign_or_mismatched_tokens_are_invalid() {
            let now = OffsetDateTime::now_utc();
            let creds = minter(1)
                .mint(admin(), now, now, now + MAX_LIFETIME)
                .unwrap();
            // Another server key.
            assert_eq!(
                resolve(&minter(2), &creds, now),
                Err(CredentialError::Invalid)
            );
            // Groups edited in the claims.
            let (claims, mac) = creds.session_token.split_once('.').unwrap();
            let edited = String::from_utf8(URL_SAFE_NO_PAD.decode(claims).unwrap())
                .unwrap()
                .replace("\"admin\"", "\"root\"");
            let forged = format!("{}.{mac}", URL_SAFE_NO_PAD.encode(edited));
            assert_eq!(
                minter(1).resolve(&creds.access_key_id, Some(&forged), now),
                Err(CredentialError::Invalid)
            );
            // A valid token paired with another access key id.
            let other = minter(1)
                .mint(admin(), now, now, now + MAX_LIFETIME)
                .unwrap();
            assert_eq!(
                minter(1).resolve(&other.access_key_id, Some(&creds.session_token), now),
                Err(CredentialError::Invalid)
            );
            // No token, or garbage.
            for token in [
                None,
                Some(""),
                Some("."),
                Some("abc.def"),
                Some("not base64!.x"),
            ] {
                assert_eq!(
                    minter(1).resolve(&creds.access_key_id, token, now),
                    Err(CredentialError::Invalid),
                    "{token:?}"
                );
            }
        }

        #[test]
        fn signing_keys_parse_from_hex() {
            assert!(CredentialKey::from_hex(&"ab".repeat(32)).is_ok());
            assert!(matches!(
                CredentialKey::from_hex("abcd"),
                Err(CredentialKeyError::BadFormat)
            ));
            assert!(matches!(
                CredentialKey::from_hex(&"zz".repeat(32)),
                Err(CredentialKeyError::BadFormat)
            ));
            let key = CredentialKey::generate().unwrap();
            assert_eq!(CredentialKey::from_hex(&key.to_hex()).unwrap().0, key.0);
        }

        #[test]
        fn base32_matches_rfc_4648() {
            assert_eq!(base32(b""), "");
            assert_eq!(base32(b"f"), "MY");
            assert_eq!(base32(b"foobar"), "MZXW6YTBOI");
        }
    }
}
