//! Resolving the runbook's references (an AWS ID or a Name) against the live
//! VPC. A name that matches nothing, or more than one resource, is an error
//! that lists the candidates and points at the reference in the runbook.

use crate::aws::{label, Instance, Listener, LoadBalancer, Network, NetworkAcl, RouteTable, SecurityGroup, Subnet, TargetGroup};
use crate::runbook::Ref;

use super::StepError;

/// Find the one item whose ID equals the reference, or else whose names do.
fn resolve<'n, T>(
    items: &'n [T],
    r: &Ref,
    what: &str,
    vpc: &str,
    id: impl Fn(&T) -> &str,
    names: impl Fn(&T) -> Vec<&str>,
    show: impl Fn(&T) -> String,
) -> Result<&'n T, StepError> {
    if let Some(item) = items.iter().find(|i| id(i) == r.text) {
        return Ok(item);
    }
    let matches: Vec<&T> = items.iter().filter(|i| names(i).contains(&r.text.as_str())).collect();
    match matches.as_slice() {
        [one] => Ok(one),
        [] => {
            let mut listed: Vec<String> = items.iter().map(&show).collect();
            let more = listed.len().saturating_sub(20);
            listed.truncate(20);
            let mut help = if listed.is_empty() {
                format!("{vpc} has no {what}s")
            } else {
                format!("{what}s in {vpc}: {}", listed.join(", "))
            };
            if more > 0 {
                help.push_str(&format!(" and {more} more"));
            }
            Err(StepError::precondition(r.at, format!("no {what} `{}` in {vpc}", r.text)).with_help(help))
        }
        many => Err(StepError::precondition(
            r.at,
            format!("`{}` matches {} {what}s: {}", r.text, many.len(), many.iter().map(|i| show(i)).collect::<Vec<_>>().join(", ")),
        )
        .with_help("use the ID instead")),
    }
}

pub fn subnet<'n>(net: &'n Network, r: &Ref) -> Result<&'n Subnet, StepError> {
    resolve(
        &net.subnets,
        r,
        "subnet",
        &net.vpc.id,
        |s| &s.id,
        |s| s.name.as_deref().into_iter().collect(),
        |s| label(&s.id, s.name.as_deref()),
    )
}

pub fn route_table<'n>(net: &'n Network, r: &Ref) -> Result<&'n RouteTable, StepError> {
    resolve(
        &net.route_tables,
        r,
        "route table",
        &net.vpc.id,
        |t| &t.id,
        |t| t.name.as_deref().into_iter().collect(),
        |t| label(&t.id, t.name.as_deref()),
    )
}

/// Security groups are found by ID, group name or Name tag.
pub fn security_group<'n>(net: &'n Network, r: &Ref) -> Result<&'n SecurityGroup, StepError> {
    resolve(
        &net.security_groups,
        r,
        "security group",
        &net.vpc.id,
        |g| &g.id,
        |g| {
            let mut n = vec![g.group_name.as_str()];
            n.extend(g.name.as_deref().filter(|t| *t != g.group_name));
            n
        },
        |g| label(&g.id, Some(g.name.as_deref().unwrap_or(&g.group_name))),
    )
}

/// Load balancers are found by ARN or name.
pub fn load_balancer<'n>(net: &'n Network, r: &Ref) -> Result<&'n LoadBalancer, StepError> {
    resolve(&net.load_balancers, r, "load balancer", &net.vpc.id, |l| &l.arn, |l| vec![l.name.as_str()], |l| l.name.clone())
}

/// Target groups are found by ARN or name.
pub fn target_group<'n>(net: &'n Network, r: &Ref) -> Result<&'n TargetGroup, StepError> {
    resolve(&net.target_groups, r, "target group", &net.vpc.id, |t| &t.arn, |t| vec![t.name.as_str()], |t| t.name.clone())
}

/// A target group, or the IPv6 group that replaced it after a
/// `target_group_ipv6` step deleted it (`retire: delete`), so that a rerun of
/// the runbook still finds what its references meant.
pub fn target_group_or_replacement<'n>(net: &'n Network, r: &Ref) -> Result<&'n TargetGroup, StepError> {
    target_group(net, r).or_else(|e| {
        net.target_groups
            .iter()
            .find(|t| t.tag(crate::aws::RUN_TAG).is_some() && t.tag("dualstack:replaces") == Some(r.text.as_str()))
            .ok_or(e)
    })
}

/// Instances are found by ID or Name tag.
pub fn instance<'n>(net: &'n Network, r: &Ref) -> Result<&'n Instance, StepError> {
    resolve(&net.instances, r, "instance", &net.vpc.id, |i| &i.id, |i| i.name.as_deref().into_iter().collect(), |i| label(&i.id, i.name.as_deref()))
}

/// A listener: `<load balancer name>:<port>` or a listener ARN.
pub fn listener<'n>(net: &'n Network, r: &Ref) -> Result<(&'n LoadBalancer, &'n Listener), StepError> {
    if r.text.starts_with("arn:") {
        for lb in &net.load_balancers {
            if let Some(l) = lb.listeners.iter().find(|l| l.arn == r.text) {
                return Ok((lb, l));
            }
        }
        return Err(StepError::precondition(r.at, format!("no listener `{}` in {}", r.text, net.vpc.id)));
    }
    let Some((name, port)) = r.text.rsplit_once(':') else {
        return Err(StepError::precondition(r.at, format!("`{}` is not `<load balancer>:<port>` or a listener ARN", r.text)));
    };
    let lb = load_balancer(net, &Ref { text: name.to_string(), at: r.at })?;
    let port: i32 = port.parse().map_err(|_| StepError::precondition(r.at, format!("`{port}` is not a port")))?;
    match lb.listeners.iter().find(|l| l.port == port) {
        Some(l) => Ok((lb, l)),
        None => Err(StepError::precondition(r.at, format!("{} has no listener on port {port}", lb.name)).with_help(format!(
            "its listeners: {}",
            lb.listeners.iter().map(|l| format!("{}:{}", l.protocol, l.port)).collect::<Vec<_>>().join(", ")
        ))),
    }
}

pub fn network_acl<'n>(net: &'n Network, r: &Ref) -> Result<&'n NetworkAcl, StepError> {
    resolve(
        &net.network_acls,
        r,
        "network ACL",
        &net.vpc.id,
        |a| &a.id,
        |a| a.name.as_deref().into_iter().collect(),
        |a| label(&a.id, a.name.as_deref()),
    )
}
