//! Lambda mode: the same router, served through `lambda_http` when the process runs inside AWS
//! Lambda (the runtime sets `AWS_LAMBDA_RUNTIME_API`), behind an API Gateway HTTP API, a REST
//! API or a function URL.

use crate::cli::{BackendArgs, IdentityKind, ServeArgs, StoreKind};
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
pub fn check_settings(backends: &BackendArgs, serve: &ServeArgs) -> anyhow::Result<()> {
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
    if serve.credential_key.is_none() && serve.credential_key_secret.is_none() {
        anyhow::bail!(
            "in Lambda, every instance must derive credentials from the same key: set \
             STORIES_SIGNING_KEY_SECRET to a Secrets Manager secret holding 64 hex characters \
             (or STORIES_SIGNING_KEY to the key itself)"
        );
    }
    Ok(())
}

/// Serves `router` to the Lambda runtime until it stops.
pub async fn serve(router: Router) -> anyhow::Result<()> {
    let router = router.layer(axum::middleware::from_fn(client_from_request_context));
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

fn source_ip(extensions: &http::Extensions) -> Option<IpAddr> {
    let ip = match extensions.get::<RequestContext>()? {
        RequestContext::ApiGatewayV1(context) => context.identity.source_ip.as_deref(),
        RequestContext::ApiGatewayV2(context) => context.http.source_ip.as_deref(),
        _ => None,
    }?;
    ip.parse().ok()
}
