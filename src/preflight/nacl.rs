//! Network ACLs on the IPv6 path: stateless, evaluated per family, so a
//! subnet that gets IPv6 behind an ACL whose IPv4 allows have no IPv6
//! counterpart drops IPv6 traffic the IPv4 side lets through.

use super::{Finding, Severity};
use crate::aws::{label, Network};
use crate::steps::network_acl_ipv6::{missing_twins, without_counterpart, Spec};
use crate::steps::resolve;

pub const BLOCKS_IPV6: &str = "nacl-blocks-ipv6";
pub const ICMP_NO_COUNTERPART: &str = "nacl-icmp-without-counterpart";
pub const ENTRY_LIMIT: &str = "nacl-entry-limit";

/// ICMP entries a `network_acl_ipv6` step cannot twin.
pub fn before_step(spec: &Spec, net: &Network) -> Vec<Finding> {
    let mut out = Vec::new();
    for r in &spec.acls {
        let Ok(acl) = resolve::network_acl(net, r) else { continue };
        for (egress, n) in crate::steps::network_acl_ipv6::over_quota(acl, &missing_twins(acl)) {
            out.push(Finding {
                id: ENTRY_LIMIT,
                severity: Severity::Error,
                step: None,
                resource: label(&acl.id, acl.name.as_deref()),
                message: format!(
                    "with the twins it would hold {n} IPv6 {} entries, above AWS's default quota of {} per direction (assumed: Service Quotas is not read)",
                    if egress { "egress" } else { "ingress" },
                    crate::steps::network_acl_ipv6::DEFAULT_ENTRY_QUOTA
                ),
                fix: "merge IPv4 entries into port ranges, or raise \"Rules per network ACL\" in Service Quotas (up to 40)".into(),
            });
        }
        let lone: Vec<String> = without_counterpart(acl).iter().map(|e| e.render()).collect();
        if !lone.is_empty() {
            out.push(Finding {
                id: ICMP_NO_COUNTERPART,
                severity: Severity::Warning,
                step: None,
                resource: label(&acl.id, acl.name.as_deref()),
                message: format!("ICMP entries with no ICMPv6 counterpart get no twin: {}", lone.join(", ")),
                fix: "add the ICMPv6 entries you want by hand (allow type 2, packet too big, for path MTU)".into(),
            });
        }
    }
    out
}

/// Subnets that have (or will have) IPv6 behind an ACL whose IPv4 allows
/// for `0.0.0.0/0` lack their IPv6 twins at the end of the runbook.
pub fn at_end(end: &Network) -> Vec<Finding> {
    let mut out = Vec::new();
    for acl in &end.network_acls {
        let subnets: Vec<String> = end
            .subnets
            .iter()
            .filter(|s| s.ipv6_block().is_some() && end.network_acl_of(&s.id).is_some_and(|a| a.id == acl.id))
            .map(|s| label(&s.id, s.name.as_deref()))
            .collect();
        if subnets.is_empty() {
            continue;
        }
        let missing: Vec<String> = missing_twins(acl).iter().filter(|t| t.action == "allow").map(|t| t.render()).collect();
        if missing.is_empty() {
            continue;
        }
        out.push(Finding {
            id: BLOCKS_IPV6,
            severity: Severity::Error,
            step: None,
            resource: label(&acl.id, acl.name.as_deref()),
            message: format!(
                "subnet(s) {} get IPv6 behind this ACL, whose IPv4 allows have no IPv6 counterpart ({} missing, for example {}): network ACLs are stateless and per family, so IPv6 clients time out",
                subnets.join(", "),
                missing.len(),
                missing[0]
            ),
            fix: format!("add a `network_acl_ipv6` step with `network_acls: [{}]` after the subnet step", acl.name.as_deref().unwrap_or(&acl.id)),
        });
    }
    out
}
