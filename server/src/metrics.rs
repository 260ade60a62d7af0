//! Prometheus metrics, served on a listener of their own (`--metrics-addr`, off by default), so
//! they are never public by accident: requests by route, method and status with latency
//! histograms, subscribe outcomes, store operations (latency and errors), security events (failed
//! and throttled sign-ins, SigV4 refusals, …), newsletter mails by outcome
//! (`newsletter_mails_total{outcome="sent|failed|retry"}`) and build info. The counters themselves are the
//! `metrics` crate's macros, which cost nothing while no recorder is installed.

use axum::{
    extract::{MatchedPath, Request},
    middleware::Next,
    response::Response,
    routing::get,
    Router,
};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use std::{future::Future, net::SocketAddr, time::Instant};
use tokio::net::TcpListener;

#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    #[error("cannot install the metrics recorder")]
    Recorder(#[source] metrics::SetRecorderError<metrics_exporter_prometheus::PrometheusRecorder>),
    #[error("cannot listen for metrics on {addr}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// Installs the recorder and binds the metrics listener; the future serves it until `shutdown`.
pub async fn start(
    addr: SocketAddr,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(SocketAddr, impl Future<Output = ()>), MetricsError> {
    let recorder = PrometheusBuilder::new()
        .set_buckets(&[
            0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
        ])
        .unwrap_or_else(|_| PrometheusBuilder::new())
        .build_recorder();
    let handle = recorder.handle();
    metrics::set_global_recorder(recorder).map_err(MetricsError::Recorder)?;
    metrics::gauge!("serverless_stories_build_info", "version" => env!("CARGO_PKG_VERSION"))
        .set(1.0);
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| MetricsError::Listen { addr, source })?;
    let bound = listener
        .local_addr()
        .map_err(|source| MetricsError::Listen { addr, source })?;
    let app = Router::new().route("/metrics", get(move || render(handle.clone())));
    let serve = async move {
        if let Err(err) = axum::serve(listener, app)
            .with_graceful_shutdown(shutdown)
            .await
        {
            tracing::error!(error = %err, "the metrics listener stopped");
        }
    };
    Ok((bound, serve))
}

async fn render(handle: PrometheusHandle) -> String {
    handle.render()
}

/// Counts every request by route pattern (never the raw path: bounded labels), method and
/// status, and times it.
pub async fn record_request(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|path| path.as_str().to_owned())
        .unwrap_or_else(|| "other".to_owned());
    let method = request.method().to_string();
    let started = Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    metrics::counter!("http_requests_total", "route" => route.clone(), "method" => method, "status" => status)
        .increment(1);
    metrics::histogram!("http_request_duration_seconds", "route" => route)
        .record(started.elapsed().as_secs_f64());
    response
}
