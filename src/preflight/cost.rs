//! The public IPv4 bill: since 2024-02-01 AWS charges USD 0.005 an hour for
//! every public IPv4 address, in use or idle, including the one per zone of
//! an internet-facing load balancer. The plan shows what the VPC pays today
//! and after the runbook.
//!
//! Counted: the public address of every interface in the VPC (auto-assigned
//! or an Elastic IP, NAT gateways included) except load balancer nodes, plus
//! one address per subnet of each internet-facing load balancer that is not
//! `dualstack-without-public-ipv4`. Elastic IPs associated with nothing are
//! not in any VPC and not counted.

use serde::Serialize;

use crate::aws::{LoadBalancer, Network};

/// USD per public IPv4 address and hour.
pub const PER_ADDRESS_HOUR: f64 = 0.005;
/// Hours in an average month (365 × 24 / 12).
pub const HOURS_PER_MONTH: f64 = 730.0;

#[derive(Clone, Debug, Serialize)]
pub struct Addresses {
    /// Interfaces' public addresses (instances, NAT gateways, Elastic IPs).
    pub interfaces: usize,
    /// Load balancer nodes with a public IPv4 address.
    pub load_balancer_nodes: usize,
    pub total: usize,
    pub usd_per_month: f64,
}

#[derive(Clone, Debug, Serialize)]
pub struct Cost {
    pub before: Addresses,
    pub after: Addresses,
    pub usd_saved_per_month: f64,
    pub caveats: Vec<String>,
}

fn lb_nodes(lb: &LoadBalancer) -> usize {
    if lb.scheme == "internet-facing" && lb.ip_address_type != "dualstack-without-public-ipv4" && lb.kind != "gateway" {
        lb.subnet_ids.len()
    } else {
        0
    }
}

fn addresses(net: &Network) -> Addresses {
    let interfaces = net.interfaces.iter().filter(|i| i.public_ip.is_some() && !i.description.as_deref().is_some_and(|d| d.starts_with("ELB "))).count();
    let load_balancer_nodes = net.load_balancers.iter().map(lb_nodes).sum();
    let total = interfaces + load_balancer_nodes;
    Addresses { interfaces, load_balancer_nodes, total, usd_per_month: monthly(total) }
}

fn monthly(addresses: usize) -> f64 {
    (addresses as f64 * PER_ADDRESS_HOUR * HOURS_PER_MONTH * 100.0).round() / 100.0
}

/// The bill before (`live`) and after (`end`, the plan's projection).
pub fn estimate(live: &Network, end: &Network, needs_nat: bool) -> Cost {
    let before = addresses(live);
    let after = addresses(end);
    let mut caveats = Vec::new();
    if after.load_balancer_nodes > 0 {
        caveats.push(
            "a plain `dualstack` internet-facing load balancer keeps one public IPv4 address per zone; only `dualstack-without-public-ipv4` removes them".to_string(),
        );
    }
    if after.interfaces > 0 {
        caveats.push("interfaces keep their public IPv4 addresses until they are released or replaced; the runbook does not remove them".to_string());
    }
    if needs_nat {
        caveats.push(
            "NAT64 for DNS64 needs a NAT gateway: about USD 0.045 an hour plus a per-GB fee and its own public IPv4 address, which can cancel the savings".to_string(),
        );
    }
    Cost { usd_saved_per_month: ((before.usd_per_month - after.usd_per_month) * 100.0).round() / 100.0, before, after, caveats }
}

pub fn render_text(c: &Cost) -> String {
    let line = |what: &str, a: &Addresses| {
        format!(
            "  {what:<7} {:>3} public IPv4 address{} ({} on interfaces, {} load balancer node{}): USD {:.2}/month\n",
            a.total,
            if a.total == 1 { "" } else { "es" },
            a.interfaces,
            a.load_balancer_nodes,
            if a.load_balancer_nodes == 1 { "" } else { "s" },
            a.usd_per_month
        )
    };
    let mut out = format!("\nPublic IPv4 cost (USD {PER_ADDRESS_HOUR} per address-hour, {HOURS_PER_MONTH} hours a month)\n");
    out.push_str(&line("today", &c.before));
    out.push_str(&line("after", &c.after));
    out.push_str(&format!("  saves USD {:.2}/month\n", c.usd_saved_per_month));
    for cv in &c.caveats {
        out.push_str(&format!("  note: {cv}\n"));
    }
    out
}
