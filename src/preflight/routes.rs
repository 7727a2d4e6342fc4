//! Routes and blocks: a `::/0` that already points somewhere else, and an
//! IPv6 block that AWS is still associating.

use super::{Finding, Severity};
use crate::aws::{label, AssocState, Network};
use crate::ipv6::Ipv6Net;
use crate::steps::ipv6_default_route::Spec;
use crate::steps::resolve;

pub const DEFAULT_ROUTE_ELSEWHERE: &str = "ipv6-default-route-elsewhere";
pub const BLOCK_ASSOCIATING: &str = "ipv6-block-associating";

/// A `::/0` in a table the step routes, to another kind of target. With
/// `replace: true` the step replaces it (and restores it on rollback): worth
/// a warning, not an error.
pub fn before_default_route(spec: &Spec, net: &Network) -> Vec<Finding> {
    spec.tables
        .iter()
        .filter_map(|r| resolve::route_table(net, r).ok())
        .filter_map(|t| {
            let route = t.route_v6(&Ipv6Net::ANY)?;
            if spec.via.routes_to(&route.target) {
                return None;
            }
            let (severity, fix) = if spec.replace {
                (Severity::Warning, "the step replaces it as asked (`replace: true`) and restores it on rollback; check that nothing depends on it".to_string())
            } else {
                (Severity::Error, "remove that route, route this table elsewhere, or set `replace: true` to replace it (restored on rollback)".to_string())
            };
            Some(Finding {
                id: DEFAULT_ROUTE_ELSEWHERE,
                severity,
                step: None,
                resource: label(&t.id, t.name.as_deref()),
                message: format!("::/0 already points to {}; AWS rejects a second ::/0 (RouteAlreadyExists)", route.target.id()),
                fix,
            })
        })
        .collect()
}

/// Blocks AWS has not finished associating: the run waits for them.
pub fn associating(live: &Network) -> Vec<Finding> {
    let vpc = live.vpc.ipv6_blocks.iter().filter(|b| b.state == AssocState::Associating).map(|b| (label(&live.vpc.id, live.vpc.name.as_deref()), b));
    let subnets = live.subnets.iter().flat_map(|s| s.ipv6_blocks.iter().filter(|b| b.state == AssocState::Associating).map(move |b| (label(&s.id, s.name.as_deref()), b)));
    vpc.chain(subnets)
        .map(|(resource, b)| Finding {
            id: BLOCK_ASSOCIATING,
            severity: Severity::Warning,
            step: None,
            resource,
            message: format!(
                "IPv6 block {} is still associating: flags, routes to it and a dual-stack load balancer are rejected until it is associated",
                b.cidr.map_or_else(|| "(not allocated yet)".to_string(), |c| c.to_string())
            ),
            fix: "nothing to do if it settles: the run waits for `associated` before the calls that need it; if it stays associating, look at the block in the console".into(),
        })
        .collect()
}
