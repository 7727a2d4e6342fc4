//! Health checks and the gate loop that decides whether a change stays.
//!
//! A runbook names its checks once (`checks:`) and any step's `gate` lists
//! the ones to run. One module per check kind: [`http`], [`tcp`],
//! [`target_health`], [`ecs_service`], [`command`]. `http` and `tcp` resolve the host and
//! connect only over the family asked for, so a server that listens on IPv4
//! only fails an `ipv6` check at once (connection refused) instead of being
//! reached over IPv4 behind the user's back.

pub mod command;
pub mod ecs_service;
pub mod gate;
pub mod http;
pub mod target_health;
pub mod tcp;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::aws::Elbv2;
use crate::runbook::ValidateCx;

pub use gate::{Gate, GateFailure};

/// Which address family a check may use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Family {
    Ipv6,
    Ipv4,
    Any,
}

impl std::fmt::Display for Family {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Family::Ipv6 => "IPv6",
            Family::Ipv4 => "IPv4",
            Family::Any => "IP",
        })
    }
}

impl Family {
    pub fn admits(self, addr: &SocketAddr) -> bool {
        match self {
            Family::Ipv6 => addr.is_ipv6(),
            Family::Ipv4 => addr.is_ipv4(),
            Family::Any => true,
        }
    }
}

/// A validated check.
#[derive(Clone, Debug)]
pub enum Check {
    Http(http::Http),
    Tcp(tcp::Tcp),
    TargetHealth(target_health::TargetHealth),
    EcsService(ecs_service::EcsServiceCheck),
    Command(command::Command),
}

/// What one run of one check saw.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Observation {
    pub check: String,
    pub ok: bool,
    /// Status code, connect error, target states, command output...
    pub detail: String,
    pub at: String,
    pub millis: u64,
}

/// What checks need from the outside world.
pub struct HealthCx<'a> {
    pub elb: &'a dyn Elbv2,
    pub ecs: &'a dyn crate::aws::ecs::Ecs,
    pub dns: &'a dyn crate::aws::route53::Route53,
    /// Commands run here (the runbook's directory).
    pub workdir: PathBuf,
}

impl Check {
    pub async fn run(&self, name: &str, cx: &HealthCx<'_>) -> Observation {
        let start = std::time::Instant::now();
        let (ok, detail) = match self {
            Check::Http(c) => c.run(cx.dns).await,
            Check::Tcp(c) => c.run().await,
            Check::TargetHealth(c) => c.run(cx.elb).await,
            Check::EcsService(c) => c.run(cx.ecs, cx.elb).await,
            Check::Command(c) => c.run(&cx.workdir).await,
        };
        Observation {
            check: name.to_string(),
            ok,
            detail,
            at: crate::engine::journal::now(),
            millis: start.elapsed().as_millis() as u64,
        }
    }
}

/// `checks:` entries as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCheck {
    pub http: Option<http::Raw>,
    pub tcp: Option<tcp::Raw>,
    pub target_health: Option<target_health::Raw>,
    pub ecs_service: Option<ecs_service::Raw>,
    /// A shell command; exit status 0 is healthy.
    pub command: Option<String>,
    /// For `command`: how long it may run.
    pub timeout: Option<String>,
}

impl RawCheck {
    pub fn validate(self, path: &str, cx: &mut ValidateCx) -> Option<Check> {
        let kinds = [self.http.is_some(), self.tcp.is_some(), self.target_health.is_some(), self.ecs_service.is_some(), self.command.is_some()];
        if kinds.iter().filter(|k| **k).count() != 1 {
            cx.error(path, "a check has exactly one kind").set_help("http, tcp, target_health, ecs_service or command");
            return None;
        }
        if self.timeout.is_some() && self.command.is_none() {
            cx.error(&format!("{path}.timeout"), "`timeout` here is for `command` checks").set_help("http and tcp take `timeout` inside their own settings");
            return None;
        }
        if let Some(r) = self.http {
            return r.validate(&format!("{path}.http"), cx).map(Check::Http);
        }
        if let Some(r) = self.tcp {
            return r.validate(&format!("{path}.tcp"), cx).map(Check::Tcp);
        }
        if let Some(r) = self.target_health {
            return Some(Check::TargetHealth(target_health::TargetHealth { target_group: r.target_group }));
        }
        if let Some(r) = self.ecs_service {
            return Some(Check::EcsService(ecs_service::EcsServiceCheck { cluster: r.cluster, service: r.service }));
        }
        let timeout = duration(cx, &format!("{path}.timeout"), self.timeout.as_deref(), Duration::from_secs(60))?;
        Some(Check::Command(command::Command { run: self.command.unwrap_or_default(), timeout }))
    }
}

/// Parse a duration such as `30s`, `5m`, `1m30s`, `500ms`.
pub fn duration(cx: &mut ValidateCx, path: &str, text: Option<&str>, default: Duration) -> Option<Duration> {
    match text {
        None => Some(default),
        Some(t) => match humantime::parse_duration(t.trim()) {
            Ok(d) => Some(d),
            Err(e) => {
                cx.error(path, format!("invalid duration `{t}`: {e}")).set_help("for example 500ms, 30s, 5m, 1m30s");
                None
            }
        },
    }
}
