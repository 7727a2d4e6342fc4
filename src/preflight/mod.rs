//! Preflight findings: the known IPv6 traps a runbook is about to walk into,
//! found before anything changes (`dualstack check`, and the start of `plan`
//! and `apply`).
//!
//! A finding has a stable id (scripts and `--allow` use it), a severity, what
//! was found and the fix. Findings are computed on the plan's projection:
//! each step's findings see the VPC as the earlier steps will have left it,
//! and the end-state findings see it as the whole runbook leaves it. So a
//! trap that the runbook itself fixes in an earlier step is not reported,
//! and one it creates is.
//!
//! Where AWS itself would reject the call (a load balancer's subnet without
//! an associated block), the step's own check refuses it too: `--allow` only
//! overrides what AWS would accept and the workload would suffer from.
//!
//! One file per area: [`dns64`], [`load_balancer`], [`compute`], [`routes`];
//! [`cost`] is the public IPv4 bill before and after; [`permissions`] the IAM
//! policy a runbook needs and its EC2 calls rehearsed with `DryRun`.

pub mod compute;
pub mod cost;
pub mod dns;
pub mod dns64;
pub mod load_balancer;
pub mod nacl;
pub mod permissions;
pub mod routes;

use serde::Serialize;

use crate::aws::Network;
use crate::runbook::RunbookStep;

/// How much a finding matters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Blocks `apply` unless allowed with `--allow ID`.
    Error,
    /// Worth reading; does not block.
    Warning,
    /// Context for the person running the migration.
    Info,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Info => "info",
        }
    }
}

/// One trap, on one resource.
#[derive(Clone, Debug, Serialize)]
pub struct Finding {
    /// Stable: never renamed (scripts and `--allow` depend on it).
    pub id: &'static str,
    pub severity: Severity,
    /// The step it concerns, if one.
    pub step: Option<String>,
    /// The resource, with its Name where it has one.
    pub resource: String,
    /// What was found and why it matters.
    pub message: String,
    /// What to do about it.
    pub fix: String,
}

/// Every finding id, its severity and a one-line summary (for `--help`,
/// the README and `--allow` validation).
pub const CATALOGUE: &[(&str, Severity, &str)] = &[
    (dns64::ID, Severity::Error, "DNS64 on a subnet whose route table has no 64:ff9b::/96 route to a NAT gateway"),
    (load_balancer::SUBNET_NO_IPV6, Severity::Error, "a load balancer's subnets do not all have an associated IPv6 block before its step"),
    (load_balancer::SG_NO_IPV6_TWIN, Severity::Error, "a dual-stack load balancer's security groups open a listener port to IPv4 only"),
    (load_balancer::WITHOUT_PUBLIC_IPV4_INTERNAL, Severity::Error, "dualstack-without-public-ipv4 on an internal or non-application load balancer"),
    (load_balancer::WITHOUT_PUBLIC_IPV4_AUTH, Severity::Error, "dualstack-without-public-ipv4 on a load balancer with authenticate actions"),
    (load_balancer::NLB_UDP, Severity::Error, "a network load balancer with UDP listeners made dual-stack"),
    (compute::INSTANCE_TYPE_NO_IPV6, Severity::Warning, "instances whose type does not support IPv6 in subnets that get IPv6"),
    (compute::TARGET_NO_IPV6, Severity::Error, "targets of a group to recreate as IPv6 that have or will get no IPv6 address"),
    (compute::KEEPS_IPV4, Severity::Info, "running instances that keep IPv4 only until replaced"),
    (compute::ECS_SETTING_OFF, Severity::Warning, "ECS tasks in the subnets while the account setting dualStackIPv6 is off"),
    (compute::ECS_TASK_KEEPS_IPV4, Severity::Info, "running ECS tasks of no service that keep IPv4 only until started again"),
    (compute::ECS_NOT_READ, Severity::Warning, "ECS could not be read, so its traps were not checked"),
    (compute::ECS_NOT_REDEPLOYED, Severity::Warning, "ECS services with tasks in subnets that get IPv6 and no ecs_redeploy step"),
    (compute::ECS_BREAKER_OFF, Severity::Warning, "an ECS service redeployed without a deployment circuit breaker"),
    (routes::DEFAULT_ROUTE_ELSEWHERE, Severity::Error, "a ::/0 route that already points elsewhere"),
    (dns::IPV4_CLIENTS, Severity::Error, "dualstack-without-public-ipv4 on a load balancer that A records still point at"),
    (dns::A_WITHOUT_AAAA, Severity::Warning, "a dual-stack load balancer aliased by A records and no AAAA"),
    (nacl::BLOCKS_IPV6, Severity::Error, "a subnet that gets IPv6 behind a network ACL whose IPv4 allows have no IPv6 twin"),
    (nacl::ENTRY_LIMIT, Severity::Error, "network ACL twins that would pass the entries quota per direction"),
    (nacl::ICMP_NO_COUNTERPART, Severity::Warning, "ICMP network ACL entries with no ICMPv6 counterpart"),
    (routes::BLOCK_ASSOCIATING, Severity::Warning, "an IPv6 block that is still associating"),
];

/// Whether `id` names a finding.
pub fn is_known(id: &str) -> bool {
    CATALOGUE.iter().any(|(known, ..)| *known == id)
}

/// Findings of one step, on the VPC as the earlier steps leave it.
pub fn before_step(step: &RunbookStep, net: &Network) -> Vec<Finding> {
    let mut out = step.spec.step().findings(net);
    for f in &mut out {
        f.step = Some(step.id.to_string());
    }
    out
}

/// Findings on the live VPC alone, whatever the runbook does.
pub fn on_live(live: &Network) -> Vec<Finding> {
    routes::associating(live)
}

/// Findings on the state the whole runbook leaves.
pub fn at_end(live: &Network, end: &Network) -> Vec<Finding> {
    let mut out = Vec::new();
    out.extend(dns64::check(end));
    out.extend(nacl::at_end(end));
    out.extend(dns::at_end(end));
    out.extend(compute::at_end(live, end));
    out
}

/// The error findings not allowed by `allow`: what blocks `apply`.
pub fn blocking<'a>(findings: &'a [Finding], allow: &[String]) -> Vec<&'a Finding> {
    findings.iter().filter(|f| f.severity == Severity::Error && !allow.iter().any(|a| a == f.id)).collect()
}

/// The findings as a person reads them, most severe first.
pub fn render_text(findings: &[Finding]) -> String {
    let mut sorted: Vec<&Finding> = findings.iter().collect();
    sorted.sort_by_key(|f| f.severity);
    let mut out = String::new();
    for f in sorted {
        let step = f.step.as_deref().map(|s| format!(" (step {s})")).unwrap_or_default();
        out.push_str(&format!("{} [{}] {}{step}: {}\n", f.severity.as_str(), f.id, f.resource, f.message));
        out.push_str(&format!("    fix: {}\n", f.fix));
    }
    out
}

/// `N errors, M warnings` and so on, for a closing line.
pub fn summary(findings: &[Finding]) -> String {
    let count = |s: Severity| findings.iter().filter(|f| f.severity == s).count();
    let part = |n: usize, what: &str| format!("{n} {what}{}", if n == 1 { "" } else { "s" });
    format!("{}, {}, {}", part(count(Severity::Error), "error"), part(count(Severity::Warning), "warning"), part(count(Severity::Info), "note"))
}
