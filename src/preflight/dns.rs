//! DNS on the users' path: the service's own name, a Route 53 alias to the
//! load balancer. Without an AAAA alias beside the A alias, IPv6 clients
//! never learn an IPv6 address; with `dualstack-without-public-ipv4`, the A
//! alias leads IPv4-only clients nowhere.

use super::{Finding, Severity};
use crate::aws::Network;

pub const A_WITHOUT_AAAA: &str = "a-alias-without-aaaa";
pub const IPV4_CLIENTS: &str = "without-public-ipv4-ipv4-clients";

/// Findings on the state the runbook leaves.
pub fn at_end(end: &Network) -> Vec<Finding> {
    let mut out = Vec::new();
    for lb in end.load_balancers.iter().filter(|lb| lb.ip_address_type != "ipv4") {
        let aliases: Vec<_> = end.aliases_of(lb).collect();
        let a_names: Vec<&str> = aliases.iter().filter(|(_, r)| r.kind == "A").map(|(_, r)| r.name.as_str()).collect();
        let lacking: Vec<&str> = a_names.iter().copied().filter(|n| !aliases.iter().any(|(_, r)| r.kind == "AAAA" && r.name == *n)).collect();
        if !lacking.is_empty() {
            out.push(Finding {
                id: A_WITHOUT_AAAA,
                severity: Severity::Warning,
                step: None,
                resource: lb.name.clone(),
                message: format!(
                    "{} alias(es) it with an A record and no AAAA: IPv6 clients of those names never learn its IPv6 address, and gates on its own DNS name prove nothing about their path",
                    lacking.join(", ")
                ),
                fix: "add a `dns_aaaa` step after it is dual-stack and proven over IPv6".into(),
            });
        }
        if lb.ip_address_type == "dualstack-without-public-ipv4" && !a_names.is_empty() {
            out.push(Finding {
                id: IPV4_CLIENTS,
                severity: Severity::Error,
                step: None,
                resource: lb.name.clone(),
                message: format!("it will have no public IPv4 address while {} still alias it with A records: IPv4-only clients lose the service", a_names.join(", ")),
                fix: "keep `dualstack` until the names need no IPv4 clients, or point their A records elsewhere".into(),
            });
        }
    }
    out
}
