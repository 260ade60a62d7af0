//! Resolves each request's client address once (`app::client_address::ClientAddress`): the TCP
//! peer, unless the peer is one of the `--trusted-proxies`; then the right-most address in
//! `X-Forwarded-For` that is not a trusted proxy (what a client can't forge: every proxy appends
//! the address it got the request from, and entries left of an untrusted one are the client's
//! own words).

use app::client_address::ClientAddress;
use axum::{
    extract::{ConnectInfo, Request, State},
    middleware::Next,
    response::Response,
};
use http::HeaderMap;
use ipnet::IpNet;
use std::{net::IpAddr, net::SocketAddr, sync::Arc};

#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(pub Vec<IpNet>);

impl TrustedProxies {
    fn contains(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|net| net.contains(&ip))
    }

    /// The client of a request that came from `peer` with `headers`.
    pub fn client(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        if !self.contains(peer) {
            return peer;
        }
        let hops: Vec<IpAddr> = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .map(|hop| hop.trim().parse::<IpAddr>())
            .collect::<Result<_, _>>()
            // An unreadable list says nothing reliable: the proxy itself is the client.
            .unwrap_or_default();
        hops.iter()
            .rev()
            .copied()
            .find(|hop| !self.contains(*hop))
            .or_else(|| hops.first().copied())
            .unwrap_or(peer)
    }
}

pub async fn resolve(
    State(trusted): State<Arc<TrustedProxies>>,
    mut request: Request,
    next: Next,
) -> Response {
    if let Some(ConnectInfo(peer)) = request.extensions().get::<ConnectInfo<SocketAddr>>() {
        let client = trusted.client(peer.ip(), request.headers());
        request.extensions_mut().insert(ClientAddress(client));
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(forwarded: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in forwarded {
            headers.append("x-forwarded-for", value.parse().unwrap());
        }
        headers
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn the_right_most_untrusted_hop_is_the_client() {
        let trusted = TrustedProxies(vec!["10.0.0.0/8".parse().unwrap()]);
        // Not from a proxy: the header is ignored.
        assert_eq!(
            trusted.client(ip("203.0.113.9"), &headers(&["1.2.3.4"])),
            ip("203.0.113.9")
        );
        // From a proxy: the forged left part is ignored.
        assert_eq!(
            trusted.client(
                ip("10.0.0.2"),
                &headers(&["6.6.6.6, 198.51.100.7", "10.0.0.5"])
            ),
            ip("198.51.100.7")
        );
        // All hops trusted: the first one.
        assert_eq!(
            trusted.client(ip("10.0.0.2"), &headers(&["10.1.1.1, 10.0.0.5"])),
            ip("10.1.1.1")
        );
        // No header, or garbage: the proxy.
        assert_eq!(
            trusted.client(ip("10.0.0.2"), &headers(&[])),
            ip("10.0.0.2")
        );
        assert_eq!(
            trusted.client(ip("10.0.0.2"), &headers(&["<script>"])),
            ip("10.0.0.2")
        );
        // Nothing trusted (the default): always the peer.
        assert_eq!(
            TrustedProxies::default().client(ip("10.0.0.2"), &headers(&["1.2.3.4"])),
            ip("10.0.0.2")
        );
    }
}
