//! Lambda mode: the same router, served through `lambda_http` when the process runs inside AWS
//! Lambda (the runtime sets `AWS_LAMBDA_RUNTIME_API`), behind an API Gateway HTTP API, a REST
//! API or a function URL; other events (the schedule in `deploy/template.yaml`) deliver
//! newsletter issues.

use crate::{
    cli::{BackendArgs, IdentityKind, ListArgs, MailArgs, MailTransportKind, ServeArgs, StoreKind},
    newsletter::Newsletter,
};
use app::page_location::{self, PathPrefix};
use axum::{
    extract::{ConnectInfo, Request, State},
    middleware::Next,
    response::{IntoResponse, Response},
    Router,
};
use lambda_http::{request::RequestContext, RequestExt};
use std::{
    net::{IpAddr, SocketAddr},
    sync::Arc,
    time::Duration,
};

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
    if backends.identity == IdentityKind::Embedded {
        anyhow::bail!(
            "in Lambda, admins must sign in with a Cognito user pool or an OpenID Connect \
             provider (embedded users live on one instance's disk): set STORIES_IDENTITY=cognito, \
             STORIES_COGNITO_USER_POOL_ID and STORIES_COGNITO_CLIENT_ID, or STORIES_IDENTITY=oidc, \
             STORIES_OIDC_ISSUER and STORIES_OIDC_CLIENT_ID"
        );
    }
    if backends.identity == IdentityKind::Oidc && list.public_url.is_none() {
        anyhow::bail!(
            "with an OpenID Connect provider, the provider sends admins back to \
             <site>/login/callback: set STORIES_PUBLIC_URL (e.g. the HttpApi's URL, or your domain)"
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

/// Serves `router` to the Lambda runtime until it stops; events that are not HTTP requests (the
/// schedule) deliver newsletter issues.
pub async fn serve(router: Router, newsletter: Arc<Newsletter>) -> anyhow::Result<()> {
    let router = router
        .layer(axum::middleware::from_fn(client_from_request_context))
        .layer(axum::middleware::from_fn_with_state(
            newsletter,
            deliver_on_schedule,
        ));
    // Around the router, not in it: it may change the path the router routes.
    let function = tower::ServiceBuilder::new()
        .map_request(|request: lambda_http::Request| request.map(axum::body::Body::new))
        .layer(axum::middleware::from_fn(path_as_called))
        .service(router);
    lambda_http::run(function)
        .await
        .map_err(|err| anyhow::anyhow!("the Lambda runtime stopped: {err}"))
}

/// Time kept back from the invocation's deadline: the batch under way finishes and the answer
/// goes out before Lambda stops the function.
const DELIVERY_MARGIN: Duration = Duration::from_secs(5);

/// An event that is not an HTTP request (lambda_http passes it through as a POST of its JSON to
/// `/events`, with a `PassThrough` request context no HTTP request can carry): the template's
/// schedule. It sends what is due of every unfinished issue until shortly before the
/// invocation's deadline, and answers where they stand. HTTP requests go on to the router.
async fn deliver_on_schedule(
    State(newsletter): State<Arc<Newsletter>>,
    request: Request,
    next: Next,
) -> Response {
    if !matches!(
        request.request_context_ref(),
        Some(RequestContext::PassThrough)
    ) {
        return next.run(request).await;
    }
    let deadline = request.lambda_context_ref().and_then(|context| {
        let deadline = std::time::UNIX_EPOCH + Duration::from_millis(context.deadline);
        let left = deadline.duration_since(std::time::SystemTime::now()).ok()?;
        Some(std::time::Instant::now() + left.saturating_sub(DELIVERY_MARGIN))
    });
    match newsletter.deliver_due(deadline).await {
        Ok(issues) => {
            let issues: Vec<serde_json::Value> = issues
                .into_iter()
                .map(|(slug, progress)| {
                    serde_json::json!({
                        "slug": slug, "sent": progress.sent, "failed": progress.failed,
                        "skipped": progress.skipped, "left": progress.queued + progress.sending,
                    })
                })
                .collect();
            axum::Json(serde_json::json!({ "issues": issues })).into_response()
        }
        Err(err) => {
            tracing::error!(error = %app::error::describe(&err), "delivering issues failed");
            let body = serde_json::json!({ "error": app::error::describe(&err) });
            (http::StatusCode::SERVICE_UNAVAILABLE, axum::Json(body)).into_response()
        }
    }
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

/// The stage (or a custom domain's base path) in front of the site's paths, kept apart
/// ([`PathPrefix`]): pages are rendered under it, the signature check puts it back, and so do
/// redirects to our own paths.
async fn path_as_called(mut request: Request, next: Next) -> Response {
    let prefix = match request.extensions().get::<RequestContext>().cloned() {
        Some(RequestContext::ApiGatewayV1(context)) => rest_api_prefix(
            &mut request,
            context.path.as_deref(),
            context.resource_path.as_deref(),
        ),
        Some(RequestContext::ApiGatewayV2(context)) => http_api_prefix(
            &mut request,
            context.stage.as_deref(),
            context.domain_prefix.as_deref() == context.apiid.as_deref(),
        ),
        _ => None,
    };
    let Some(prefix) = prefix else {
        return next.run(request).await;
    };
    request.extensions_mut().insert(prefix.clone());
    let mut response = next.run(request).await;
    let location = response
        .headers()
        .get(http::header::LOCATION)
        .and_then(|location| location.to_str().ok())
        .filter(|location| location.starts_with('/') && !location.starts_with("//"))
        .and_then(|location| {
            http::HeaderValue::from_str(&format!("{}{location}", prefix.as_str())).ok()
        });
    if let Some(location) = location {
        response
            .headers_mut()
            .insert(http::header::LOCATION, location);
    }
    response
}

/// A REST API event carries the path as called (`requestContext.path`: the stage on the
/// execute-api host, the base path on a custom domain) and the path of the proxy resource
/// (`/{proxy+}`'s parameter, or `/`); the difference is the prefix. On the execute-api host the
/// event's own path is already without the stage; on a custom domain it still has the base path,
/// which comes off here before routing.
fn rest_api_prefix(
    request: &mut Request,
    called: Option<&str>,
    resource: Option<&str>,
) -> Option<PathPrefix> {
    let called = called?;
    let proxied = match resource {
        Some("/") => Some("/".to_owned()),
        Some("/{proxy+}") => request
            .path_parameters_ref()
            .and_then(|parameters| parameters.first("proxy"))
            .map(|proxy| format!("/{proxy}")),
        _ => None,
    };
    // Otherwise the event's own path, as API Gateway sent it (as `called` is).
    let routed = proxied.unwrap_or_else(|| request.raw_http_path().to_owned());
    let prefix = prefix_of(called, &routed)?;
    let to_route = match page_location::under(prefix.as_str(), request.uri().path()) {
        Some(rest) if rest == routed => with_path(request.uri(), &routed),
        _ => None,
    };
    if let Some(uri) = to_route {
        *request.uri_mut() = uri;
    }
    Some(prefix)
}

/// An HTTP API's named stage (not `$default`) is in its one path on the execute-api host, and
/// comes off it here. (On a custom domain the path has no stage.)
fn http_api_prefix(
    request: &mut Request,
    stage: Option<&str>,
    on_execute_api_host: bool,
) -> Option<PathPrefix> {
    let stage = format!("/{}", stage.filter(|stage| *stage != "$default")?);
    if !on_execute_api_host {
        return None;
    }
    let uri = page_location::under(&stage, request.uri().path())
        .and_then(|routed| with_path(request.uri(), routed))?;
    let prefix = PathPrefix::new(&stage)?;
    *request.uri_mut() = uri;
    Some(prefix)
}

/// `uri` with `path` instead of its own, its query kept.
fn with_path(uri: &http::Uri, path: &str) -> Option<http::Uri> {
    let path_and_query = match uri.query() {
        Some(query) => format!("{path}?{query}"),
        None => path.to_owned(),
    };
    let mut parts = uri.clone().into_parts();
    parts.path_and_query = Some(path_and_query.parse().ok()?);
    http::Uri::from_parts(parts).ok()
}

/// `/prod` for `/prod/api/x` called and `/api/x` routed; nothing when they are the same (or the
/// difference is not a prefix of URL-safe segments, which a stage or base path is).
fn prefix_of(called: &str, routed: &str) -> Option<PathPrefix> {
    // The stage's root may be called without its slash (`/prod` for `/`).
    let prefix = called
        .strip_suffix(routed)
        .or_else(|| (routed == "/").then_some(called))?;
    if prefix.is_empty() {
        return None;
    }
    let valid = PathPrefix::new(prefix);
    if valid.is_none() {
        tracing::warn!(%called, %routed, "the called path's prefix is not a stage or base path");
    }
    valid
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
    use super::{prefix_of, with_path};
    use app::page_location::under;

    #[test]
    fn an_http_apis_stage_is_taken_off_the_path_to_route() {
        assert_eq!(under("/prod", "/prod/api/x"), Some("/api/x"));
        assert_eq!(under("/prod", "/prod/"), Some("/"));
        assert_eq!(under("/prod", "/prod"), Some("/"));
        assert_eq!(under("/prod", "/production/x"), None);
        assert_eq!(under("/prod", "/api/x"), None);
        let uri: http::Uri = "https://h.example/prod/api/s?limit=5&cursor=a%20b"
            .parse()
            .unwrap();
        assert_eq!(
            with_path(&uri, "/api/s").unwrap().to_string(),
            "https://h.example/api/s?limit=5&cursor=a%20b"
        );
    }

    #[test]
    fn the_prefix_is_what_the_called_path_has_in_front_of_the_routed_one() {
        let prefix = |called, routed| prefix_of(called, routed).map(|p| p.as_str().to_owned());
        assert_eq!(
            prefix("/prod/api/subscribe", "/api/subscribe"),
            Some("/prod".into())
        );
        assert_eq!(prefix("/prod/", "/"), Some("/prod".into()));
        assert_eq!(prefix("/prod", "/"), Some("/prod".into()));
        assert_eq!(prefix("/base/v1/x", "/x"), Some("/base/v1".into()));
        assert_eq!(prefix("/pr\"od/x", "/x"), None);
        assert_eq!(prefix("/api/subscribe", "/api/subscribe"), None);
        assert_eq!(prefix("/other", "/api/subscribe"), None);
        assert_eq!(prefix("prod/x", "/x"), None);
    }
}
