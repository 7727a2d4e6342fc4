//! `http`: GET a URL over one address family and compare the status code.
//!
//! ```yaml
//! site-v6: { http: { url: "https://redash.example.com/ping", family: ipv6, expect_status: 200, timeout: 3s } }
//! ```
//! The host is resolved here and only addresses of the family are tried, so
//! the check proves the path over that family (DNS AAAA, routing, security
//! groups, the server's listening socket). HTTPS uses the system's roots;
//! the request itself is hyper's HTTP/1.1 client over that connection.
//!
//! `connect_to` pins where the check connects while the URL's host stays the
//! Host header and the TLS name: `"[2001:db8::1]:443"` (or any `host:port`,
//! resolved over the check's family), or `load_balancer`: the load balancer
//! the URL's host is a Route 53 alias of, by its `dualstack.` name for IPv6
//! (an ALB's plain DNS name has no AAAA). So a gate can test
//! `https://redash.example.com/ping` through the ALB before the name's AAAA
//! record exists.
//!
//! ```yaml
//! site-v6: { http: { url: "https://redash.example.com/ping", family: ipv6, connect_to: load_balancer } }
//! ```

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use tokio::net::TcpStream;
use url::Url;

use super::{duration, Family};
use crate::runbook::ValidateCx;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Raw {
    pub url: String,
    #[serde(default = "ipv6")]
    pub family: Family,
    #[serde(default)]
    pub expect_status: Option<u16>,
    pub timeout: Option<String>,
    /// `host:port`, `[v6]:port` or `load_balancer`.
    pub connect_to: Option<String>,
}

fn ipv6() -> Family {
    Family::Ipv6
}

#[derive(Clone, Debug)]
pub struct Http {
    pub url: Url,
    pub family: Family,
    pub expect_status: u16,
    pub timeout: Duration,
    pub connect_to: Option<ConnectTo>,
}

/// Where a check connects instead of the URL's host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConnectTo {
    /// A host (name or address) and port.
    Address(String, u16),
    /// The load balancer the URL's host aliases in Route 53.
    LoadBalancer,
}

/// Parse `host:port`, `[v6]:port` or `load_balancer`.
fn connect_to(text: &str) -> Result<ConnectTo, String> {
    if text == "load_balancer" {
        return Ok(ConnectTo::LoadBalancer);
    }
    let (host, port) = text.rsplit_once(':').ok_or("expected host:port, [IPv6]:port or load_balancer")?;
    let port: u16 = port.parse().map_err(|_| format!("invalid port `{port}`"))?;
    let bracketed = host.strip_prefix('[').and_then(|h| h.strip_suffix(']'));
    let ok = match bracketed {
        Some(h) => h.parse::<std::net::Ipv6Addr>().is_ok(),
        None => !host.is_empty() && !host.contains([':', '[', ']', '/']),
    };
    if !ok {
        return Err(format!("invalid host `{host}` (an IPv6 address goes in brackets: [2001:db8::1]:443)"));
    }
    let host = bracketed.unwrap_or(host);
    Ok(ConnectTo::Address(host.to_string(), port))
}

impl Raw {
    pub fn validate(self, path: &str, cx: &mut ValidateCx) -> Option<Http> {
        let url = match Url::parse(&self.url) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => u,
            Ok(_) => {
                cx.error(&format!("{path}.url"), "only http:// and https:// URLs with a host can be checked");
                return None;
            }
            Err(e) => {
                cx.error(&format!("{path}.url"), format!("invalid URL: {e}"));
                return None;
            }
        };
        let timeout = duration(cx, &format!("{path}.timeout"), self.timeout.as_deref(), Duration::from_secs(5))?;
        let connect_to = match self.connect_to.as_deref().map(connect_to) {
            None => None,
            Some(Ok(c)) => Some(c),
            Some(Err(e)) => {
                cx.error(&format!("{path}.connect_to"), e).set_help("for example \"[2001:db8::1]:443\" or load_balancer");
                return None;
            }
        };
        Some(Http { url, family: self.family, expect_status: self.expect_status.unwrap_or(200), timeout, connect_to })
    }
}

/// Resolve `host:port` to the addresses of `family`, or say why there are none.
pub async fn resolve(host: &url::Host<&str>, port: u16, family: Family) -> Result<Vec<SocketAddr>, String> {
    let all: Vec<SocketAddr> = match host {
        url::Host::Ipv4(a) => vec![SocketAddr::new((*a).into(), port)],
        url::Host::Ipv6(a) => vec![SocketAddr::new((*a).into(), port)],
        url::Host::Domain(d) => tokio::net::lookup_host((*d, port)).await.map_err(|e| format!("resolve {d}: {e}"))?.collect(),
    };
    let picked: Vec<SocketAddr> = all.iter().copied().filter(|a| family.admits(a)).collect();
    if picked.is_empty() {
        let found: Vec<String> = all.iter().map(|a| a.ip().to_string()).collect();
        return Err(format!("{host} has no {family} address (found: {})", found.join(", ")));
    }
    Ok(picked)
}

/// Connect to the first address that accepts, within `timeout` in all.
pub async fn connect(addrs: &[SocketAddr], timeout: Duration) -> Result<(TcpStream, SocketAddr), String> {
    let mut errors = Vec::new();
    let deadline = tokio::time::Instant::now() + timeout;
    for addr in addrs {
        match tokio::time::timeout_at(deadline, TcpStream::connect(addr)).await {
            Ok(Ok(s)) => return Ok((s, *addr)),
            Ok(Err(e)) => errors.push(format!("connect {addr}: {e}")),
            Err(_) => {
                errors.push(format!("connect {addr}: timed out after {}ms", timeout.as_millis()));
                break;
            }
        }
    }
    Err(errors.join("; "))
}

impl Http {
    pub async fn run(&self, dns: &dyn crate::aws::route53::Route53) -> (bool, String) {
        match tokio::time::timeout(self.timeout, self.get(dns)).await {
            Ok(Ok((status, addr))) => {
                let ok = status == self.expect_status;
                (ok, format!("GET {} via {addr}: HTTP {status}{}", self.url, if ok { "" } else { " (expected a different status)" }))
            }
            Ok(Err(e)) => (false, format!("GET {}: {e}", self.url)),
            Err(_) => (false, format!("GET {}: timed out after {}ms", self.url, self.timeout.as_millis())),
        }
    }

    /// The addresses to try: the URL's host, or what `connect_to` names.
    async fn targets(&self, dns: &dyn crate::aws::route53::Route53) -> Result<Vec<SocketAddr>, String> {
        let host = self.url.host().ok_or("no host")?;
        let port = self.url.port_or_known_default().ok_or("no port")?;
        match &self.connect_to {
            None => resolve(&host, port, self.family).await,
            Some(ConnectTo::Address(h, p)) => {
                let host = match h.parse::<std::net::IpAddr>() {
                    Ok(std::net::IpAddr::V4(a)) => url::Host::Ipv4(a),
                    Ok(std::net::IpAddr::V6(a)) => url::Host::Ipv6(a),
                    Err(_) => url::Host::Domain(h.as_str()),
                };
                resolve(&host, *p, self.family).await
            }
            Some(ConnectTo::LoadBalancer) => {
                let name = crate::aws::route53::normalize(self.url.host_str().unwrap_or_default());
                let zones = dns.zones().await.map_err(|e| e.to_string())?;
                let alias = zones
                    .iter()
                    .flat_map(|z| &z.records)
                    .find(|r| r.name == name && r.kind == "A" && r.alias.is_some())
                    .and_then(|r| r.alias.as_ref())
                    .ok_or_else(|| format!("{name} has no A alias in Route 53: no load balancer to connect to"))?;
                let base = alias.dns_name.strip_prefix("dualstack.").unwrap_or(&alias.dns_name);
                // An ALB's plain name has A records only; `dualstack.` has both.
                let target = if self.family == Family::Ipv4 { base.to_string() } else { format!("dualstack.{base}") };
                resolve(&url::Host::Domain(target.as_str()), port, self.family).await
            }
        }
    }

    async fn get(&self, dns: &dyn crate::aws::route53::Route53) -> Result<(u16, SocketAddr), String> {
        let addrs = self.targets(dns).await?;
        let (stream, addr) = connect(&addrs, self.timeout).await?;
        let host_header = match self.url.port() {
            Some(p) => format!("{}:{p}", self.url.host_str().unwrap_or_default()),
            None => self.url.host_str().unwrap_or_default().to_string(),
        };
        let path = &self.url[url::Position::BeforePath..url::Position::AfterQuery];
        let request = http::Request::get(if path.is_empty() { "/" } else { path })
            .header(http::header::HOST, host_header)
            .header(http::header::USER_AGENT, "dualstack-health")
            .header(http::header::ACCEPT, "*/*")
            .body(http_body_util::Empty::<bytes::Bytes>::new())
            .map_err(|e| format!("request: {e}"))?;
        let status = if self.url.scheme() == "https" {
            let tls = tls_connector()?;
            let name = rustls::pki_types::ServerName::try_from(self.url.host_str().unwrap_or_default().trim_matches(['[', ']']).to_string())
                .map_err(|e| format!("TLS server name: {e}"))?;
            let stream = tls.connect(name, stream).await.map_err(|e| format!("TLS with {addr}: {e}"))?;
            exchange(stream, request).await?
        } else {
            exchange(stream, request).await?
        };
        Ok((status, addr))
    }
}

/// One HTTP/1.1 request over an open connection, with hyper's client: the
/// status code is all a check needs.
async fn exchange<S>(stream: S, request: http::Request<http_body_util::Empty<bytes::Bytes>>) -> Result<u16, String>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await.map_err(|e| format!("HTTP: {e}"))?;
    // The connection is driven beside the request; it ends with it.
    let driver = tokio::spawn(conn);
    let result = sender.send_request(request).await;
    driver.abort();
    match result {
        Ok(response) => Ok(response.status().as_u16()),
        Err(e) if e.is_incomplete_message() => Err("connection closed without an answer".into()),
        Err(e) => Err(format!("HTTP: {e}")),
    }
}

fn tls_connector() -> Result<tokio_rustls::TlsConnector, String> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_native_certs::load_native_certs().certs {
        let _ = roots.add(cert);
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS set-up: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(tokio_rustls::TlsConnector::from(Arc::new(config)))
}
