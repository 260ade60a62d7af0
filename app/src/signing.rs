//! Signs admin API calls in the browser with AWS Signature Version 4 (service `execute-api`),
//! using the temporary credentials the admin page obtained. A custom server-function client:
//! the admin server functions' requests get their `Authorization`, `X-Amz-Date` and
//! `X-Amz-Security-Token` headers here, just before they are sent.

use crate::credentials::TemporaryCredentials;
use futures::{Sink, Stream};
use leptos::server_fn::{
    client::{browser::BrowserClient, Client},
    error::FromServerFnError,
    request::browser::BrowserRequest,
    response::browser::BrowserResponse,
    Bytes,
};
use std::future::Future;

/// What requests are signed with: set by the admin page after it gets credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigningIdentity {
    pub credentials: TemporaryCredentials,
    pub region: String,
}

#[cfg(feature = "hydrate")]
thread_local! {
    static CURRENT: std::cell::RefCell<Option<SigningIdentity>> = const { std::cell::RefCell::new(None) };
}

/// Sets (or clears) the identity later requests are signed with.
pub fn set_signing_identity(identity: Option<SigningIdentity>) {
    #[cfg(feature = "hydrate")]
    CURRENT.with(|current| *current.borrow_mut() = identity);
    #[cfg(not(feature = "hydrate"))]
    let _ = identity;
}

pub struct SigV4Client;

impl<E, IS, OS> Client<E, IS, OS> for SigV4Client
where
    E: FromServerFnError,
    IS: FromServerFnError,
    OS: FromServerFnError,
{
    type Request = BrowserRequest;
    type Response = BrowserResponse;

    fn send(req: Self::Request) -> impl Future<Output = Result<Self::Response, E>> + Send {
        #[cfg(feature = "hydrate")]
        browser::sign(&req);
        <BrowserClient as Client<E, IS, OS>>::send(req)
    }

    fn open_websocket(
        path: &str,
    ) -> impl Future<
        Output = Result<
            (
                impl Stream<Item = Result<Bytes, Bytes>> + Send + 'static,
                impl Sink<Bytes> + Send + 'static,
            ),
            E,
        >,
    > + Send {
        <BrowserClient as Client<E, IS, OS>>::open_websocket(path)
    }

    fn spawn(future: impl Future<Output = ()> + Send + 'static) {
        <BrowserClient as Client<E, IS, OS>>::spawn(future)
    }
}

#[cfg(feature = "hydrate")]
mod browser {
    use super::CURRENT;
    use aws_credential_types::Credentials;
    use aws_sigv4::{
        http_request::{sign as sigv4_sign, SignableBody, SignableRequest, SigningSettings},
        sign::v4,
    };
    use leptos::server_fn::request::browser::BrowserRequest;
    use std::time::{Duration, UNIX_EPOCH};

    /// Signs a body-less request (the admin API is GET-only). Without an identity the request
    /// goes unsigned and the server answers "Missing Authentication Token".
    pub fn sign(req: &BrowserRequest) {
        let Some(identity) = CURRENT.with(|c| c.borrow().clone()) else {
            return;
        };
        let url = match web_sys::Url::new(&req.url()) {
            Ok(url) => url,
            Err(_) => return,
        };
        let host = url.host();
        let path_and_query = format!("{}{}", url.pathname(), url.search());
        let method = req.method().to_string();
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
        let Ok(params) = v4::SigningParams::builder()
            .identity(&signer_identity)
            .region(&identity.region)
            .name(crate::admin::SIGNING_SERVICE)
            .time(now)
            .settings(SigningSettings::default())
            .build()
        else {
            return;
        };
        let headers = [("host", host.as_str())];
        let Ok(signable) = SignableRequest::new(
            &method,
            path_and_query.as_str(),
            headers.into_iter(),
            SignableBody::Bytes(&[]),
        ) else {
            return;
        };
        let Ok(output) = sigv4_sign(signable, &params.into()) else {
            return;
        };
        let (instructions, _signature) = output.into_parts();
        let request_headers = req.headers();
        for (name, value) in instructions.headers() {
            request_headers.set(name, value);
        }
    }
}
