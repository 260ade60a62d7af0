//! Signs admin API calls in the browser with AWS Signature Version 4 (service `execute-api`),
//! using the temporary credentials the admin page obtained: the `Authorization`, `X-Amz-Date`
//! and `X-Amz-Security-Token` headers, computed by the `aws-sigv4` crate.

use crate::credentials::TemporaryCredentials;

/// What requests are signed with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigningIdentity {
    pub credentials: TemporaryCredentials,
    pub region: String,
}

#[cfg(feature = "hydrate")]
pub use browser::signature_headers;

#[cfg(feature = "hydrate")]
mod browser {
    use super::SigningIdentity;
    use crate::error::ApiError;
    use aws_credential_types::Credentials;
    use aws_sigv4::{
        http_request::{sign, SignableBody, SignableRequest, SigningSettings},
        sign::v4,
    };
    use std::time::{Duration, UNIX_EPOCH};

    /// The headers that sign a body-less request (the admin API is GET-only) to this page's
    /// host, now.
    pub fn signature_headers(
        identity: &SigningIdentity,
        method: &str,
        path_and_query: &str,
    ) -> Result<Vec<(String, String)>, ApiError> {
        // None of these fail for the values this app signs; if one did, the page says
        // "Something went wrong" rather than sending an unsigned request.
        let host = web_sys::window()
            .and_then(|window| window.location().host().ok())
            .ok_or_else(ApiError::internal)?;
        let credentials = &identity.credentials;
        let signer_identity = Credentials::new(
            &credentials.access_key_id,
            &credentials.secret_key,
            Some(credentials.session_token.clone()),
            None,
            "browser",
        )
        .into();
        // `SystemTime::now()` panics on wasm32: take the time from the JS clock.
        let now = UNIX_EPOCH + Duration::from_millis(js_sys::Date::now() as u64);
        let params = v4::SigningParams::builder()
            .identity(&signer_identity)
            .region(&identity.region)
            .name(crate::admin::SIGNING_SERVICE)
            .time(now)
            .settings(SigningSettings::default())
            .build()
            .map_err(|_| ApiError::internal())?;
        let signable = SignableRequest::new(
            method,
            path_and_query,
            [("host", host.as_str())].into_iter(),
            SignableBody::Bytes(&[]),
        )
        .map_err(|_| ApiError::internal())?;
        let (instructions, _signature) = sign(signable, &params.into())
            .map_err(|_| ApiError::internal())?
            .into_parts();
        Ok(instructions
            .headers()
            .map(|(name, value)| (name.to_owned(), value.to_owned()))
            .collect())
    }
}
