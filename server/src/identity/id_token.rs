//! ID tokens in Cognito's shape: RS256 JWTs with a `kid`, verified against a JWKS.
//!
//! The embedded provider signs them with an RSA key generated on first start and kept in the
//! data directory (owner-only permissions); its public half is served at `/.well-known/jwks.json`.

use app::{
    credentials::Caller,
    identity::{TokenError, VerifiedIdentity},
};
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rsa::{
    pkcs8::{DecodePrivateKey, EncodePrivateKey, LineEnding},
    traits::PublicKeyParts,
    RsaPrivateKey,
};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::{collections::HashMap, path::Path};
use time::OffsetDateTime;

/// A token's header, read without verifying anything: it only says which key to check with.
pub fn read_header(token: &str) -> Result<Header, TokenError> {
    jsonwebtoken::decode_header(token).map_err(|e| TokenError::Invalid(e.to_string()))
}

pub const ID_TOKEN_KEY_FILE: &str = "id-token-key.pem";
pub const ID_TOKEN_LIFETIME: time::Duration = time::Duration::hours(1);

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdTokenClaims {
    pub iss: String,
    pub aud: String,
    pub sub: String,
    pub token_use: String,
    #[serde(rename = "cognito:username")]
    pub username: String,
    #[serde(rename = "cognito:groups", default)]
    pub groups: Vec<String>,
    pub iat: i64,
    pub auth_time: i64,
    pub exp: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("cannot read or create the ID token key {path}: {reason}")]
    File { path: String, reason: String },
}

/// Who may issue tokens and for whom: checked on every token.
#[derive(Debug, Clone)]
pub struct TokenRules {
    pub issuer: String,
    pub audience: String,
}

/// Verifies RS256 ID tokens against a set of public keys by `kid`.
pub struct IdTokenVerifier {
    keys: HashMap<String, DecodingKey>,
    rules: TokenRules,
}

/// One RSA public key as a JWK (RFC 7517), the form Cognito publishes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Jwk {
    pub kty: String,
    pub alg: String,
    #[serde(rename = "use")]
    pub use_: String,
    pub kid: String,
    pub n: String,
    pub e: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Jwks {
    pub keys: Vec<Jwk>,
}

impl IdTokenVerifier {
    pub fn new(jwks: &Jwks, rules: TokenRules) -> Self {
        let keys = jwks
            .keys
            .iter()
            .filter(|k| k.kty == "RSA")
            .filter_map(|k| {
                Some((
                    k.kid.clone(),
                    DecodingKey::from_rsa_components(&k.n, &k.e).ok()?,
                ))
            })
            .collect();
        Self { keys, rules }
    }

    pub fn knows(&self, kid: &str) -> bool {
        self.keys.contains_key(kid)
    }

    /// Checks the signature (RS256 only, key chosen by `kid`), issuer, audience, `token_use` and
    /// expiry; returns who the token names.
    pub fn verify(&self, token: &str) -> Result<VerifiedIdentity, TokenError> {
        self.verify_with_header(token, read_header(token)?)
    }

    /// As `verify`, with the token's header already read (by a caller that needed its `kid`).
    pub fn verify_with_header(
        &self,
        token: &str,
        header: Header,
    ) -> Result<VerifiedIdentity, TokenError> {
        if header.alg != Algorithm::RS256 {
            return Err(TokenError::Invalid(format!(
                "algorithm {:?} is not accepted",
                header.alg
            )));
        }
        let kid = header
            .kid
            .ok_or_else(|| TokenError::Invalid("no kid".into()))?;
        let key = self
            .keys
            .get(&kid)
            .ok_or_else(|| TokenError::Invalid(format!("unknown kid {kid:?}")))?;
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_issuer(&[&self.rules.issuer]);
        validation.set_audience(&[&self.rules.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = super::TOKEN_LEEWAY_SECS;
        let data =
            jsonwebtoken::decode::<IdTokenClaims>(token, key, &validation).map_err(|e| match e
                .kind()
            {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => TokenError::Expired,
                _ => TokenError::Invalid(e.to_string()),
            })?;
        let claims = data.claims;
        if claims.token_use != "id" {
            return Err(TokenError::Invalid(format!(
                "token_use is {:?}, not \"id\"",
                claims.token_use
            )));
        }
        let time = |seconds| {
            OffsetDateTime::from_unix_timestamp(seconds)
                .map_err(|e| TokenError::Invalid(e.to_string()))
        };
        Ok(VerifiedIdentity {
            caller: Caller {
                sub: claims.sub,
                username: claims.username,
                groups: claims.groups,
            },
            authenticated_at: time(claims.auth_time)?,
            expires_at: time(claims.exp)?,
        })
    }
}

/// Issues the embedded provider's ID tokens: its RSA key pair (the private key in the data
/// directory) and the public half as a JWKS.
pub struct IdTokenIssuer {
    encoding: EncodingKey,
    kid: String,
    jwks: Jwks,
}

impl IdTokenIssuer {
    /// Loads the key from the data directory, generating a 2048-bit RSA key on first start.
    pub fn load_or_create(data_dir: &Path) -> Result<Self, KeyError> {
        let path = data_dir.join(ID_TOKEN_KEY_FILE);
        let error = |reason: String| KeyError::File {
            path: path.display().to_string(),
            reason,
        };
        let key = match std::fs::read_to_string(&path) {
            Ok(pem) => RsaPrivateKey::from_pkcs8_pem(&pem).map_err(|e| error(e.to_string()))?,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                let key = RsaPrivateKey::new(&mut rand_core::OsRng, 2048)
                    .map_err(|e| error(e.to_string()))?;
                let pem = key
                    .to_pkcs8_pem(LineEnding::LF)
                    .map_err(|e| error(e.to_string()))?;
                crate::secret_file::write_new(&path, pem.as_bytes())
                    .map_err(|e| error(e.to_string()))?;
                key
            }
            Err(err) => return Err(error(err.to_string())),
        };
        Self::from_key(&key).map_err(error)
    }

    fn from_key(key: &RsaPrivateKey) -> Result<Self, String> {
        let pem = key
            .to_pkcs8_pem(LineEnding::LF)
            .map_err(|e| e.to_string())?;
        let encoding = EncodingKey::from_rsa_pem(pem.as_bytes()).map_err(|e| e.to_string())?;
        let n = key.n().to_bytes_be();
        let e = key.e().to_bytes_be();
        // A key thumbprint as the kid: stable for the key, different for any other.
        let kid =
            URL_SAFE_NO_PAD.encode(&Sha256::digest([n.as_slice(), e.as_slice()].concat())[..12]);
        let jwks = Jwks {
            keys: vec![Jwk {
                kty: "RSA".into(),
                alg: "RS256".into(),
                use_: "sig".into(),
                kid: kid.clone(),
                n: URL_SAFE_NO_PAD.encode(&n),
                e: URL_SAFE_NO_PAD.encode(&e),
            }],
        };
        Ok(Self {
            encoding,
            kid,
            jwks,
        })
    }

    pub fn jwks(&self) -> &Jwks {
        &self.jwks
    }

    pub fn issue(
        &self,
        caller: &Caller,
        rules: &TokenRules,
        now: OffsetDateTime,
    ) -> Result<String, String> {
        let claims = IdTokenClaims {
            iss: rules.issuer.clone(),
            aud: rules.audience.clone(),
            sub: caller.sub.clone(),
            token_use: "id".into(),
            username: caller.username.clone(),
            groups: caller.groups.clone(),
            iat: now.unix_timestamp(),
            auth_time: now.unix_timestamp(),
            exp: (now + ID_TOKEN_LIFETIME).unix_timestamp(),
        };
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, &claims, &self.encoding).map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> TokenRules {
        TokenRules {
            issuer: "https://stories.example".into(),
            audience: "client-1".into(),
        }
    }

    fn caller() -> Caller {
        Caller {
            sub: "s-1".into(),
            username: "ada".into(),
            groups: vec!["admin".into()],
        }
    }

    #[test]
    fn key_is_created_once_with_owner_only_permissions_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let first = IdTokenIssuer::load_or_create(dir.path()).unwrap();
        let again = IdTokenIssuer::load_or_create(dir.path()).unwrap();
        assert_eq!(first.jwks(), again.jwks());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(ID_TOKEN_KEY_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let token = first
            .issue(&caller(), &rules(), OffsetDateTime::now_utc())
            .unwrap();
        let verified = IdTokenVerifier::new(again.jwks(), rules())
            .verify(&token)
            .unwrap();
        assert_eq!(verified.caller, caller());
    }
}
