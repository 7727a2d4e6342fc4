//! `tcp`: open a connection to `host:port` over one address family.
//!
//! ```yaml
//! redis-v6: { tcp: { host: redis.internal, port: 6379, family: ipv6, timeout: 2s } }
//! ```

use std::time::Duration;

use serde::Deserialize;

use super::http::{connect, resolve};
use super::{duration, Family};
use crate::runbook::ValidateCx;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Raw {
    pub host: String,
    pub port: u16,
    #[serde(default = "ipv6")]
    pub family: Family,
    pub timeout: Option<String>,
}

fn ipv6() -> Family {
    Family::Ipv6
}

#[derive(Clone, Debug)]
pub struct Tcp {
    pub host: String,
    pub port: u16,
    pub family: Family,
    pub timeout: Duration,
}

impl Raw {
    pub fn validate(self, path: &str, cx: &mut ValidateCx) -> Option<Tcp> {
        if url::Host::parse(self.host.trim_matches(['[', ']'])).is_err() && self.host.parse::<std::net::IpAddr>().is_err() {
            cx.error(&format!("{path}.host"), format!("`{}` is not a host name or address", self.host));
            return None;
        }
        let timeout = duration(cx, &format!("{path}.timeout"), self.timeout.as_deref(), Duration::from_secs(5))?;
        Some(Tcp { host: self.host, port: self.port, family: self.family, timeout })
    }
}

impl Tcp {
    pub async fn run(&self) -> (bool, String) {
        let host = match self.host.trim_matches(['[', ']']).parse::<std::net::IpAddr>() {
            Ok(std::net::IpAddr::V4(a)) => url::Host::Ipv4(a),
            Ok(std::net::IpAddr::V6(a)) => url::Host::Ipv6(a),
            Err(_) => url::Host::Domain(self.host.as_str()),
        };
        let addrs = match resolve(&host, self.port, self.family).await {
            Ok(a) => a,
            Err(e) => return (false, e),
        };
        match connect(&addrs, self.timeout).await {
            Ok((_, addr)) => (true, format!("connected to {addr}")),
            Err(e) => (false, e),
        }
    }
}
