//! Where the credential key (the secret temporary credentials are derived from and their session
//! tokens are MACed with) comes from: `STORIES_SIGNING_KEY` when set (so several instances share
//! it), else a key generated into the data directory on first start.

use app::credentials::CredentialKey;
use std::path::Path;

/// The file keeps its first name, so existing data directories keep their key.
pub const CREDENTIAL_KEY_FILE: &str = "signing-key";

/// The key from the settings: `--signing-key`, else the Secrets Manager secret
/// `--signing-key-secret`, else the data directory's (generated on first start).
pub async fn from_settings(
    serve: &crate::cli::ServeArgs,
    resources: &crate::resources::Resources,
) -> anyhow::Result<CredentialKey> {
    match (&serve.credential_key, &serve.credential_key_secret) {
        (None, Some(secret)) => from_secret(resources, secret).await,
        (configured, _) => load_or_create(configured.as_deref(), resources.data_dir()),
    }
}

/// Reads the secret's value (a string: the key's 64 hex characters, surrounding whitespace
/// ignored).
async fn from_secret(
    resources: &crate::resources::Resources,
    secret: &str,
) -> anyhow::Result<CredentialKey> {
    use anyhow::Context;
    let client = aws_sdk_secretsmanager::Client::new(resources.aws_config().await?);
    let value = client
        .get_secret_value()
        .secret_id(secret)
        .send()
        .await
        .map_err(|err| anyhow::anyhow!("{}", app::error::describe(&err)))
        .with_context(|| format!("reading the credential key from the secret {secret:?}"))?;
    let text = value.secret_string().with_context(|| {
        format!("the secret {secret:?} has no string value: store the key as 64 hex characters")
    })?;
    CredentialKey::from_hex(text.trim())
        .map_err(|err| anyhow::anyhow!("the secret {secret:?}: {err}"))
}

pub fn load_or_create(configured: Option<&str>, data_dir: &Path) -> anyhow::Result<CredentialKey> {
    if let Some(hex_key) = configured {
        return Ok(CredentialKey::from_hex(hex_key)?);
    }
    let path = data_dir.join(CREDENTIAL_KEY_FILE);
    let text = crate::secret_file::read_or_create(&path, || {
        CredentialKey::generate()
            .map(|key| key.to_hex())
            .map_err(|e| e.to_string())
    })
    .map_err(anyhow::Error::msg)?;
    CredentialKey::from_hex(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_once_with_owner_only_permissions_then_reused() {
        let dir = tempfile::tempdir().unwrap();
        let first = load_or_create(None, dir.path()).unwrap();
        let again = load_or_create(None, dir.path()).unwrap();
        assert_eq!(first.to_hex(), again.to_hex());
        crate::secret_file::assert_owner_only(&dir.path().join(CREDENTIAL_KEY_FILE));
    }

    #[test]
    fn a_configured_key_wins_and_a_bad_one_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let hex_key = "ab".repeat(32);
        assert_eq!(
            load_or_create(Some(&hex_key), dir.path()).unwrap().to_hex(),
            hex_key
        );
        let err = load_or_create(Some("nope"), dir.path()).err().unwrap();
        assert!(err.to_string().contains("STORIES_SIGNING_KEY"), "{err}");
    }
}
