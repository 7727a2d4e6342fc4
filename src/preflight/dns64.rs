//! The incident's trap: DNS64 without NAT64.
//!
//! With DNS64 on, the VPC resolver answers names that have only A records
//! with synthesized `64:ff9b::/96` addresses, which a host with an IPv6
//! address prefers. Without a `64:ff9b::/96` route to a NAT gateway those
//! packets go nowhere: each connect hangs for the kernel's retry time, and a
//! server with a watchdog (gunicorn's worker timeout) never comes up.

use super::{Finding, Severity};
use crate::aws::{label, Network, RouteTable, RouteTarget};
use crate::ipv6::Ipv6Net;

pub const ID: &str = "dns64-without-nat64";

/// The route table a subnet uses: its explicit association, else the main one.
pub fn route_table_of<'n>(net: &'n Network, subnet_id: &str) -> Option<&'n RouteTable> {
    net.route_tables.iter().find(|t| t.subnet_ids.iter().any(|s| s == subnet_id)).or_else(|| net.route_tables.iter().find(|t| t.main))
}

fn nat64_prefix() -> Ipv6Net {
    "64:ff9b::/96".parse().expect("well-known NAT64 prefix")
}

/// Whether the subnet's route table sends `64:ff9b::/96` to a NAT gateway.
pub fn has_nat64(net: &Network, subnet_id: &str) -> bool {
    route_table_of(net, subnet_id).and_then(|t| t.route_v6(&nat64_prefix())).is_some_and(|r| matches!(r.target, RouteTarget::NatGateway(_)))
}

/// Every subnet that has (or will have) DNS64 on and no NAT64 route.
pub fn check(end: &Network) -> Vec<Finding> {
    end.subnets
        .iter()
        .filter(|s| s.enable_dns64 && !has_nat64(end, &s.id))
        .map(|s| {
            let table = route_table_of(end, &s.id);
            let table_name = table.map_or_else(|| "no route table".to_string(), |t| label(&t.id, t.name.as_deref()));
            // The services whose next tasks land in the trap.
            let services: Vec<&str> = end.ecs_services.iter().filter(|e| e.subnets.contains(&s.id)).map(|e| e.name.as_str()).collect();
            let services = if services.is_empty() { String::new() } else { format!(" ECS services whose next tasks start here: {}.", services.join(", ")) };
            Finding {
                id: ID,
                severity: Severity::Error,
                step: None,
                resource: label(&s.id, s.name.as_deref()),
                message: format!(
                    "DNS64 is or will be on, but its route table {table_name} has no 64:ff9b::/96 route to a NAT gateway: names with only A records \
                     resolve to addresses that lead nowhere, connections hang for minutes, and servers with a watchdog never start (the incident).{services}"
                ),
                fix: "set `dns64: false` in the subnet_ipv6 step (and turn it off where it is on), or add a NAT gateway and a 64:ff9b::/96 route to it in this subnet's route table".into(),
            }
        })
        .collect()
}
