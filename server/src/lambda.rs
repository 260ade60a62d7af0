//! Lambda mode: the same router, served through `lambda_http` when the process runs inside AWS
//! Lambda (the runtime sets `AWS_LAMBDA_RUNTIME_API`), behind an API Gateway HTTP API, a REST
//! API or a function URL.

use crate::cli::{
    BackendArgs, IdentityKind, ListArgs, MailArgs, MailTransportKind, ServeArgs, StoreKind,
};
use axum::{
    extract::{ConnectInfo, Request},
    middleware::Next,
    response::Response,
    Router,
};
use lambda_http::request::RequestContext;
use std::net::{IpAddr, SocketAddr};

/// Set by the Lambda runtime in every function's environment.
pub const RUNTIME_API_VARIABLE: &str = "AWS_LAMBDA_RUNTIME_API";

/// Whether the Lambda runtime started this process.
pub fn detected() -> bool {
    std::env::var_os(RUNTIME_API_VARIABLE).is_some()
}

/// Each instance of a function has its own short-lived disk and memory: what must be shared
/// (subscribers, admins, the credential key) has to live outside it. Says what to set otherwise.
pub fn check_settings(
    backends: &BackendArgs,
    serve: &ServeArgs,
    mail: &MailArgs,
    list: &ListArgs,
) -> anyhow::Result<()> {
    if backends.store != StoreKind::Dynamodb {
        anyhow::bail!(
            "in Lambda, subscribers must be stored in DynamoDB (the embedded store would keep them \
             on one instance's temporary disk): set STORIES_STORE=dynamodb and STORIES_TABLE"
        );
    }
    if backends.identity != IdentityKind::Cognito {
        anyhow::bail!(
            "in Lambda, admins must sign in with a Cognito user pool (embedded users live on one \
             instance's disk): set STORIES_IDENTITY=cognito, STORIES_COGNITO_USER_POOL_ID and \
             STORIES_COGNITO_CLIENT_ID"
        );
    }
    if !serve.shares_credential_key() {
        anyhow::bail!(
            "in Lambda, every instance must derive credentials from the same key: set \
             STORIES_SIGNING_KEY_SECRET to a Secrets Manager secret holding 64 hex characters \
             (or STORIES_SIGNING_KEY to the key itself)"
        );
    }
    if list.double_opt_in {
        if list.public_url.is_none() {
            anyhow::bail!(
                "with double opt-in, the links in mails need the site's address: set \
                 STORIES_PUBLIC_URL (e.g. the HttpApi's URL, or your domain)"
            );
        }
        let outbox = mail.mail_transport == Some(MailTransportKind::Outbox)
            || (mail.mail_transport.is_none() && mail.smtp_url.is_none());
        if outbox {
            anyhow::bail!(
                "with double opt-in, mail must leave the function (the outbox would keep it on \
                 one instance's temporary disk): set STORIES_MAIL_TRANSPORT=ses, or \
                 STORIES_SMTP_URL"
            );
        }
    }
    Ok(())
}

/// What a REST API's event path lacks of the path the client called: the stage (`/prod`) on the
/// execute-api host. Routes see the path without it; the SigV4 check and redirects put it back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathPrefix(pub String);

/// Serves `router` to the Lambda runtime until it stops.
pub async fn serve(router: Router) -> anyhow::Result<()> {
    let router = router
        .layer(axum::middleware::from_fn(path_as_called))
        .layer(axum::middleware::from_fn(client_from_request_context));
    lambda_http::run(router)
        .await
        .map_err(|err| anyhow::anyhow!("the Lambda runtime stopped: {err}"))
}

/// There is no socket: the client is the address API Gateway or the function URL saw, given to
/// the rest of the stack as if it were the TCP peer (so `--trusted-proxies` still applies, e.g.
/// behind CloudFront).
async fn client_from_request_context(mut request: Request, next: Next) -> Response {
    if let Some(ip) = source_ip(request.extensions()) {
        request
            .extensions_mut()
            .insert(ConnectInfo(SocketAddr::new(ip, 0)));
    }
    next.run(request).await
}

/// REST API events carry the path as called (`requestContext.path`, stage included) next to the
/// path routes see; when they differ, the difference is kept for the signature check, and
/// redirects to our own paths get it back.
async fn path_as_called(mut request: Request, next: Next) -> Response {
    let prefix = match request.extensions().get::<RequestContext>() {
        Some(RequestContext::ApiGatewayV1(context)) => context
            .path
            .as_deref()
            .and_then(|called| prefix_of(called, request.uri().path())),
        _ => None,
    };
    let Some(prefix) = prefix else {
        return next.run(request).await;
    };
    request.extensions_mut().insert(PathPrefix(prefix.clone()));
    let mut response = next.run(request).await;
    let location = response
        .headers()
        .get(http::header::LOCATION)
        .and_then(|location| location.to_str().ok())
        .filter(|location| location.starts_with('/') && !location.starts_with("//"))
        .and_then(|location| http::HeaderValue::from_str(&format!("{prefix}{location}")).ok());
    if let Some(location) = location {
        response
            .headers_mut()
            .insert(http::header::LOCATION, location);
    }
    response
}

/// `/prod` for `/prod/api/x` called and `/api/x` routed; nothing when they are the same.
fn prefix_of(called: &str, routed: &str) -> Option<String> {
    let prefix = called.strip_suffix(routed)?;
    (prefix.starts_with('/') && !prefix.ends_with('/')).then(|| prefix.to_owned())
}

fn source_ip(extensions: &http::Extensions) -> Option<IpAddr> {
    let ip = match extensions.get::<RequestContext>()? {
        RequestContext::ApiGatewayV1(context) => context.identity.source_ip.as_deref(),
        RequestContext::ApiGatewayV2(context) => context.http.source_ip.as_deref(),
        _ => None,
    }?;
    ip.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::prefix_of;

    #[test]
    fn the_prefix_is_what_the_called_path_has_in_front_of_the_routed_one() {
        assert_eq!(
            prefix_of("/prod/api/subscribe", "/api/subscribe"),
            Some("/prod".into())
        );
        assert_eq!(prefix_of("/prod/", "/"), Some("/prod".into()));
        assert_eq!(prefix_of("/api/subscribe", "/api/subscribe"), None);
        assert_eq!(prefix_of("/other", "/api/subscribe"), None);
        assert_eq!(prefix_of("prod/x", "/x"), None);
    }
}
