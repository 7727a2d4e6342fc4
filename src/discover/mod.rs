//! `dualstack init`: a live VPC in, a complete, commented runbook out.
//!
//! Pure: it reads a [`Network`] snapshot (network, load balancers, compute)
//! and writes YAML text, with a comment on every choice it made, so that a
//! person reviewing the first runbook sees why each step is there. The
//! command validates the text with the same parser as `validate` before
//! writing it.
//!
//! Choices, in AWS's order of operations:
//! - the VPC gets an Amazon-provided /56 (unless it has a block);
//! - every subnet gets the lowest free /64 index (one that already has a
//!   block keeps it), AssignIpv6AddressOnCreation and AAAA records on; DNS64
//!   stays off unless every subnet's route table already has NAT64;
//! - route tables with `0.0.0.0/0` to an internet gateway get `::/0` to it;
//!   those with `0.0.0.0/0` to a NAT gateway get `::/0` to an egress-only
//!   gateway (a NAT gateway carries no IPv6);
//! - security groups with rules open to `0.0.0.0/0` get their `::/0` twins;
//! - running targets of the load balancers get IPv6 addresses;
//! - each load balancer goes `dualstack`, gated on its DNS name over IPv6;
//! - each listener's target groups are recreated as IPv6, the idle side of a
//!   blue/green pair (weight 0) first, gated on the new groups' target health.

use std::collections::{BTreeMap, HashSet};
use std::fmt::Write;

use crate::aws::{Network, RouteTarget, TargetGroup};
use crate::ipv6::Ipv6Net;
use crate::steps::ipv6_default_route::Via;
use crate::steps::target_group_ipv6::replacement_name;

/// A YAML scalar: bare when plain and unambiguous, else double-quoted
/// (JSON string syntax is valid YAML).
fn scalar(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'))
        && s.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && !matches!(s.to_ascii_lowercase().as_str(), "true" | "false" | "yes" | "no" | "on" | "off" | "null" | "y" | "n");
    if plain { s.to_string() } else { serde_json::to_string(s).expect("a string serializes") }
}

/// A step id or check name from a resource name.
fn slug(s: &str) -> String {
    let mut out: String = s.to_ascii_lowercase().chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '-' }).collect();
    while out.starts_with(['-', '_']) {
        out.remove(0);
    }
    out.truncate(40);
    if out.is_empty() { "x".into() } else { out }
}

/// How the runbook refers to a resource: its Name when that is unique among
/// its kind (readable), else its ID (unambiguous).
fn reference(id: &str, name: Option<&str>, all_names: &[Option<&str>]) -> String {
    match name {
        Some(n) if !n.is_empty() && all_names.iter().filter(|m| **m == Some(n)).count() == 1 => scalar(n),
        _ => scalar(id),
    }
}

/// Unique ids: a second `alb` becomes `alb-2`.
#[derive(Default)]
struct Ids(HashSet<String>);

impl Ids {
    fn take(&mut self, want: String) -> String {
        let mut id = want.clone();
        let mut n = 2;
        while !self.0.insert(id.clone()) {
            id = format!("{want}-{n}");
            n += 1;
        }
        id
    }
}

/// Options of the generated runbook.
pub struct Options<'a> {
    /// The runbook's `name` (journal file name).
    pub name: &'a str,
    pub region: Option<&'a str>,
    /// How the VPC was named on the command line.
    pub vpc: &'a str,
    /// The site checks' URL (`--health-url`).
    pub health_url: Option<&'a str>,
}

/// The runbook text for `net`.
pub fn runbook(net: &Network, opts: &Options<'_>) -> String {
    let mut y = String::new();
    let mut ids = Ids::default();
    let vpc_label = crate::aws::label(&net.vpc.id, net.vpc.name.as_deref());
    let _ = writeln!(y, "# Runbook written by `dualstack init` from the live state of {vpc_label}.");
    let _ = writeln!(y, "# Review every step: run `dualstack check` and `dualstack plan` before `apply`.");
    let _ = writeln!(y, "version: 1");
    let _ = writeln!(y, "name: {}", scalar(opts.name));
    if let Some(r) = opts.region {
        let _ = writeln!(y, "region: {}", scalar(r));
    }
    let _ = writeln!(y, "vpc: {}", scalar(opts.vpc));

    let subnet_names: Vec<Option<&str>> = net.subnets.iter().map(|s| s.name.as_deref()).collect();
    let table_names: Vec<Option<&str>> = net.route_tables.iter().map(|t| t.name.as_deref()).collect();
    // A group is found by its group name or its Name tag: a reference must be
    // unique among both.
    let sg_names: Vec<Option<&str>> =
        net.security_groups.iter().flat_map(|g| [Some(g.group_name.as_str()), g.name.as_deref().filter(|n| *n != g.group_name)]).collect();

    // Things left out, said as comments at the end of the steps.
    let mut notes: Vec<String> = Vec::new();
    // The load-balancer half first, because its checks go at the top.
    let udp = |lb: &crate::aws::LoadBalancer| lb.kind == "network" && lb.listeners.iter().any(|l| l.protocol.contains("UDP"));
    let lbs: Vec<_> = net.load_balancers.iter().filter(|lb| lb.kind != "gateway").collect();
    // Each listener's IPv4 target groups, in replacement order. A group
    // behind two listeners is in both steps: the second reuses the
    // replacement the first created.
    let mut cutovers: Vec<(String, String, Vec<&TargetGroup>, String)> = Vec::new();
    for lb in lbs.iter().filter(|lb| !udp(lb)) {
        for l in &lb.listeners {
            let actions = || std::iter::once(&l.default_actions).chain(l.rules.iter().map(|r| &r.actions));
            if actions().any(|a| a.forward.is_some() && a.count > 1) {
                // The step rewrites forward actions only; an authenticate
                // action before the forward would be lost.
                notes.push(format!("{}:{} forwards after another action (authentication): its target groups are left to a hand-written step", lb.name, l.port));
                continue;
            }
            let mut weights: BTreeMap<&str, i32> = BTreeMap::new();
            for f in actions().filter_map(|a| a.forward.as_ref()) {
                for g in &f.groups {
                    *weights.entry(g.arn.as_str()).or_default() += g.weight;
                }
            }
            let mut groups: Vec<(&TargetGroup, i32)> = weights
                .iter()
                .filter_map(|(arn, w)| net.target_group(arn).map(|g| (g, *w)))
                .filter(|(g, _)| g.ip_address_type != "ipv6" && matches!(g.target_type.as_str(), "instance" | "ip"))
                .collect();
            // ECS registers a service's tasks in its own groups by their IPv4
            // address: those groups stay, and the service is redeployed.
            groups.retain(|(g, _)| {
                let services: Vec<&str> = net.ecs_services_behind(&g.arn).map(|s| s.name.as_str()).collect();
                if !services.is_empty() && !notes.iter().any(|n| n.starts_with(&format!("{} stays IPv4", g.name))) {
                    notes.push(format!(
                        "{} stays IPv4: ECS service(s) {} register their tasks in it by IPv4 address (AWS: a service's group is IPv4 unless its tasks are IPv6-only); the dual-stack load balancer serves IPv6 clients and talks IPv4 to the tasks",
                        g.name,
                        services.join(", ")
                    ));
                }
                services.is_empty()
            });
            if groups.is_empty() {
                continue;
            }
            // The idle side first: it carries no traffic while it is replaced.
            groups.sort_by_key(|(g, w)| (*w, g.name.clone()));
            let why = if groups.len() == 2 && groups[0].1 == 0 {
                format!("Blue/green pair (weighted forward): {} has weight 0 (idle) and goes first, then {}", groups[0].0.name, groups[1].0.name)
            } else if groups.len() > 1 {
                "Weighted groups: the one with the least traffic goes first".to_string()
            } else {
                "One group: its replacement takes the traffic behind a weighted forward".to_string()
            };
            cutovers.push((lb.name.clone(), l.port.to_string(), groups.into_iter().map(|(g, _)| g).collect(), why));
        }
    }
    // A gate check runs after every stage of the step, so it can only name
    // the group replaced first (the later ones do not exist yet); the step
    // itself waits for each new group's targets to be healthy before it
    // moves traffic to them.
    let mut check_names = Ids::default();
    let mut tg_checks: Vec<(String, String, String)> = Vec::new();
    for (_, _, gs, _) in &cutovers {
        let g = gs[0];
        if !tg_checks.iter().any(|(arn, ..)| arn == &g.arn) {
            tg_checks.push((g.arn.clone(), check_names.take(format!("{}-v6-healthy", slug(&g.name))), replacement_name(&g.name, "-v6")));
        }
    }
    let tg_check = |arn: &str| tg_checks.iter().find(|(a, ..)| a == arn).map(|(_, name, _)| name.clone()).unwrap_or_default();
    // The site over IPv6: `--health-url`; else the service's own name (a
    // Route 53 A alias of the load balancer), reached through the load
    // balancer until its AAAA exists (`connect_to`); else the load
    // balancer's own name over HTTP, because no certificate names
    // `*.elb.amazonaws.com`. (load balancer, check, url, https, connect_to)
    let site_checks: Vec<(String, String, String, bool, Option<String>)> = lbs
        .iter()
        .filter(|lb| lb.kind == "application" && lb.scheme == "internet-facing")
        .filter_map(|lb| {
            let name = check_names.take(format!("{}-v6", slug(&lb.name)));
            let alias = net.aliases_of(lb).find(|(_, r)| r.kind == "A").map(|(_, r)| r.name.clone());
            if let Some(url) = opts.health_url {
                // Through the load balancer when the URL's host is one of its names.
                let host = url::Url::parse(url).ok().and_then(|u| u.host_str().map(crate::aws::route53::normalize));
                let aliased = host.is_some_and(|h| net.aliases_of(lb).any(|(_, r)| r.kind == "A" && r.name == h));
                return Some((lb.name.clone(), name, url.to_string(), url.starts_with("https:"), aliased.then(|| "load_balancer".to_string())));
            }
            let https_l = lb.listeners.iter().find(|l| l.protocol == "HTTPS");
            let http_l = lb.listeners.iter().find(|l| l.protocol == "HTTP");
            if let Some(host) = alias {
                let l = https_l.or(http_l)?;
                let https = l.protocol == "HTTPS";
                let (scheme, default_port) = if https { ("https", 443) } else { ("http", 80) };
                let port = if l.port == default_port { String::new() } else { format!(":{}", l.port) };
                return Some((lb.name.clone(), name, format!("{scheme}://{host}{port}/"), https, Some("load_balancer".into())));
            }
            let l = http_l.or(https_l)?;
            let https = l.protocol == "HTTPS";
            let (scheme, default_port) = if https { ("https", 443) } else { ("http", 80) };
            let port = if l.port == default_port { String::new() } else { format!(":{}", l.port) };
            Some((lb.name.clone(), name, format!("{scheme}://{}{port}/", lb.dns_name), https, None))
        })
        .collect();
    // One check per ECS service behind a load balancer: its deployment done
    // and its tasks healthy in its groups.
    let mut ecs_services: Vec<&crate::aws::ecs::EcsService> = net.ecs_services.iter().filter(|s| s.controller == "ECS").collect();
    ecs_services.sort_by(|a, b| (&a.cluster_arn, !a.target_groups.is_empty(), &a.name).cmp(&(&b.cluster_arn, !b.target_groups.is_empty(), &b.name)));
    let ecs_checks: Vec<(String, String, String)> = ecs_services
        .iter()
        .filter(|s| !s.target_groups.is_empty())
        .map(|s| (s.arn.clone(), check_names.take(format!("{}-healthy", slug(&s.name))), format!("{{ ecs_service: {{ cluster: {}, service: {} }} }}", scalar(crate::aws::ecs::cluster_name(&s.cluster_arn)), scalar(&s.name))))
        .collect();
    if !tg_checks.is_empty() || !site_checks.is_empty() || !ecs_checks.is_empty() {
        let _ = writeln!(y, "\n# Health measured over IPv6 gates every traffic change. Point the URLs at a");
        let _ = writeln!(y, "# path that exercises the application (and its database), not just a static page.");
        let _ = writeln!(y, "checks:");
        for (lb, name, url, https, connect) in &site_checks {
            if opts.health_url.is_some() {
                let _ = writeln!(y, "  # The health URL you gave, over IPv6.");
            } else if connect.is_some() {
                let _ = writeln!(y, "  # {lb} is what the name below aliases: the check connects to {lb} (its dualstack.");
                let _ = writeln!(y, "  # name over IPv6) and asks for the name, so it tests the users' path before the");
                let _ = writeln!(y, "  # name has its AAAA. Point it at a path that needs the application, not a redirect.");
            } else if *https {
                let _ = writeln!(y, "  # {lb} listens on HTTPS only: its certificate will not name the load balancer's");
                let _ = writeln!(y, "  # DNS name, so replace the host with one it names (your site's), or this gate fails.");
            } else {
                let _ = writeln!(y, "  # {lb}'s DNS name gets AAAA records once it is dual-stack.");
            }
            let pin = connect.as_deref().map(|c| format!(", connect_to: {c}")).unwrap_or_default();
            let _ = writeln!(y, "  {name}: {{ http: {{ url: {}, family: ipv6, expect_status: 200, timeout: 5s{pin} }} }}", scalar(url));
        }
        for (_, name, group) in &tg_checks {
            let _ = writeln!(y, "  {name}: {{ target_health: {{ target_group: {} }} }}", scalar(group));
        }
        for (_, name, check) in &ecs_checks {
            let _ = writeln!(y, "  {name}: {check}");
        }
        let _ = writeln!(y, "gate_defaults: {{ interval: 5s, healthy_threshold: 3, unhealthy_threshold: 2, timeout: 5m }}");
        let _ = writeln!(y, "on_health_failure: rollback_all   # a failed gate returns everything to IPv4");
    }

    let _ = writeln!(y, "\nsteps:");
    // 1. The VPC block.
    let _ = writeln!(y, "  - id: {}", ids.take("vpc-ipv6".into()));
    match net.vpc.ipv6_block().and_then(|b| b.cidr) {
        Some(c) => {
            let _ = writeln!(y, "    # The VPC already has {c}: this step changes nothing and keeps it.");
        }
        None => {
            let _ = writeln!(y, "    # An Amazon-provided /56 (for BYOIP or IPAM, see the README).");
        }
    }
    let _ = writeln!(y, "    vpc_ipv6_cidr: {{}}");

    // 2. Subnets.
    if !net.subnets.is_empty() {
        let vpc_block = net.vpc.ipv6_block().and_then(|b| b.cidr);
        let mut used: HashSet<u128> = net
            .subnets
            .iter()
            .filter_map(|s| s.ipv6_block().and_then(|b| b.cidr))
            .filter_map(|c| vpc_block.and_then(|v| v.index_of(&c)))
            .collect();
        let mut subnets = net.subnets.clone();
        subnets.sort_by(|a, b| (a.name.as_deref().unwrap_or(&a.id), &a.id).cmp(&(b.name.as_deref().unwrap_or(&b.id), &b.id)));
        let nat64 = net.subnets.iter().all(|s| crate::preflight::dns64::has_nat64(net, &s.id));
        let _ = writeln!(y, "\n  - id: {}", ids.take("subnets".into()));
        let _ = writeln!(y, "    # A /64 per subnet: the lowest index not in use (0 is left free); a subnet");
        let _ = writeln!(y, "    # that already has a block keeps it.");
        let _ = writeln!(y, "    subnet_ipv6:");
        let _ = writeln!(y, "      subnets:");
        let mut next = 1u128;
        for s in &subnets {
            let r = reference(&s.id, s.name.as_deref(), &subnet_names);
            let az = &s.availability_zone;
            if s.ipv6_block().is_some() {
                let _ = writeln!(y, "        - {{ subnet: {r} }}   # {az}; has {}", s.ipv6_block().and_then(|b| b.cidr).map_or("a block".into(), |c| c.to_string()));
                continue;
            }
            while used.contains(&next) {
                next += 1;
            }
            used.insert(next);
            let _ = writeln!(y, "        - {{ subnet: {r}, index: {next} }}   # {az}");
        }
        let _ = writeln!(y, "      assign_ipv6_on_creation: true   # new interfaces get an IPv6 address; running ones do not");
        if nat64 {
            let _ = writeln!(y, "      dns64: true                     # every subnet's route table has 64:ff9b::/96 to a NAT gateway");
        } else {
            let _ = writeln!(y, "      dns64: false                    # no 64:ff9b::/96 route to a NAT gateway: DNS64 would be the incident's trap");
        }
        let _ = writeln!(y, "      aaaa_records_on_launch: true");
    }

    // 3. Routes.
    let default_v4 = |t: &crate::aws::RouteTable| t.routes.iter().find(|r| r.destination_v4.as_deref() == Some("0.0.0.0/0")).map(|r| r.target.clone());
    let mut tables_to = |via: Via| -> Vec<String> {
        let mut out = Vec::new();
        for t in &net.route_tables {
            let wanted = match default_v4(t) {
                Some(RouteTarget::InternetGateway(_)) => via == Via::InternetGateway,
                Some(RouteTarget::NatGateway(_)) => via == Via::EgressOnlyInternetGateway,
                _ => false,
            };
            if !wanted {
                continue;
            }
            match t.route_v6(&Ipv6Net::ANY) {
                Some(r) if !via.routes_to(&r.target) => {
                    notes.push(format!("{} already routes ::/0 to {}: left as it is", crate::aws::label(&t.id, t.name.as_deref()), r.target.id()))
                }
                _ => out.push(reference(&t.id, t.name.as_deref(), &table_names)),
            }
        }
        out
    };
    let (public, private) = (tables_to(Via::InternetGateway), tables_to(Via::EgressOnlyInternetGateway));
    if !public.is_empty() {
        let _ = writeln!(y, "\n  - id: {}", ids.take("public-routes".into()));
        let _ = writeln!(y, "    # These tables send 0.0.0.0/0 to the internet gateway: ::/0 goes there too.");
        let _ = writeln!(y, "    ipv6_default_route:");
        let _ = writeln!(y, "      route_tables: [{}]", public.join(", "));
        let _ = writeln!(y, "      via: internet_gateway");
    }
    if !private.is_empty() {
        let _ = writeln!(y, "\n  - id: {}", ids.take("private-routes".into()));
        let _ = writeln!(y, "    # These tables send 0.0.0.0/0 to a NAT gateway, which carries no IPv6: ::/0 goes");
        let _ = writeln!(y, "    # to an egress-only gateway (outbound only, like NAT; created if the VPC has none).");
        let _ = writeln!(y, "    ipv6_default_route:");
        let _ = writeln!(y, "      route_tables: [{}]", private.join(", "));
        let _ = writeln!(y, "      via: egress_only_internet_gateway");
    }
    let unrouted = net.route_tables.iter().filter(|t| !matches!(default_v4(t), Some(RouteTarget::InternetGateway(_) | RouteTarget::NatGateway(_)))).count();
    if unrouted > 0 {
        let _ = writeln!(y, "  # {unrouted} route table(s) send 0.0.0.0/0 to no internet or NAT gateway: they get no ::/0 either.");
    }

    // 4. Security groups.
    let mut groups: Vec<_> = net.security_groups.iter().filter(|g| g.rules.iter().any(|r| r.cidr_v4.as_deref() == Some("0.0.0.0/0"))).collect();
    groups.sort_by(|a, b| (&a.group_name, &a.id).cmp(&(&b.group_name, &b.id)));
    let open: Vec<String> = groups.iter().map(|g| reference(&g.id, Some(&g.group_name), &sg_names)).collect();
    if !open.is_empty() {
        let _ = writeln!(y, "\n  - id: {}", ids.take("security-groups".into()));
        let _ = writeln!(y, "    # These groups have rules open to 0.0.0.0/0; each gets its ::/0 twin, so that");
        let _ = writeln!(y, "    # the same traffic is allowed over IPv6 (and nothing more). Egress open to");
        let _ = writeln!(y, "    # 0.0.0.0/0 counts: AWS adds ::/0 egress only to groups created dual-stack.");
        let _ = writeln!(y, "    security_group_ipv6:");
        let _ = writeln!(y, "      groups: [{}]", open.join(", "));
        let _ = writeln!(y, "      mirror_open_ipv4: true");
    }

    // 4b. Network ACLs of the subnets, which evaluate IPv6 on its own.
    let mut acls: Vec<String> = Vec::new();
    for acl in &net.network_acls {
        if !net.subnets.iter().any(|s| net.network_acl_of(&s.id).is_some_and(|a| a.id == acl.id)) {
            continue;
        }
        // With what AWS adds by itself when the VPC gets its block.
        let mut after = acl.clone();
        if net.vpc.ipv6_block().is_none() {
            after.add_aws_ipv6_defaults();
        }
        if !crate::steps::network_acl_ipv6::missing_twins(&after).is_empty() {
            let names: Vec<Option<&str>> = net.network_acls.iter().map(|a| a.name.as_deref()).collect();
            acls.push(reference(&acl.id, acl.name.as_deref(), &names));
        }
    }
    if !acls.is_empty() {
        let _ = writeln!(y, "\n  - id: {}", ids.take("network-acls".into()));
        let _ = writeln!(y, "    # Network ACLs are stateless and evaluate IPv6 on its own: these allow traffic");
        let _ = writeln!(y, "    # from 0.0.0.0/0 that has no ::/0 twin, so IPv6 clients would time out. AWS adds");
        let _ = writeln!(y, "    # IPv6 allows only to a default ACL whose rules were never modified.");
        let _ = writeln!(y, "    network_acl_ipv6:");
        let _ = writeln!(y, "      network_acls: [{}]", acls.join(", "));
    }

    // 5. Backends: running targets need an IPv6 address for the new groups.
    // Interfaces ECS manages (awsvpc tasks) are not ours to change: those
    // tasks get IPv6 when they are redeployed.
    let mut need_addresses: Vec<&TargetGroup> = Vec::new();
    for g in cutovers.iter().flat_map(|(_, _, gs, _)| gs.iter().copied()) {
        if need_addresses.iter().any(|n| n.arn == g.arn) {
            continue;
        }
        let lacking: Vec<_> = g
            .targets
            .iter()
            .filter_map(|t| if g.target_type == "instance" { net.primary_interface(&t.id) } else { net.interface_with_ip(&t.id) })
            .filter(|e| e.ipv6_addresses.is_empty())
            .collect();
        if lacking.iter().any(|e| e.description.as_deref().is_some_and(|d| d.starts_with("arn:aws:ecs:"))) {
            notes.push(format!(
                "the targets of {} are ECS tasks: enable the account setting dualStackIPv6 and redeploy the service after the subnet step, before its target-group step",
                g.name
            ));
        } else if !lacking.is_empty() {
            need_addresses.push(g);
        }
    }
    if !need_addresses.is_empty() {
        let _ = writeln!(y, "\n  - id: {}", ids.take("backend-addresses".into()));
        let _ = writeln!(y, "    # Running targets keep IPv4 only (AWS gives IPv6 to new interfaces): the IPv6");
        let _ = writeln!(y, "    # target groups need an address on each.");
        let _ = writeln!(y, "    assign_ipv6_addresses:");
        let _ = writeln!(y, "      targets_of: [{}]", need_addresses.iter().map(|g| scalar(&g.name)).collect::<Vec<_>>().join(", "));
    }

    // 6. Load balancers.
    for lb in &lbs {
        if lb.ip_address_type != "ipv4" {
            let _ = writeln!(y, "  # {} is already {}.", lb.name, lb.ip_address_type);
            continue;
        }
        let id = ids.take(slug(&lb.name));
        if lb.kind == "network" && lb.listeners.iter().any(|l| l.protocol.contains("UDP")) {
            let _ = writeln!(y, "  # {} has UDP listeners: a network load balancer with UDP cannot be dual-stack; left IPv4.", lb.name);
            continue;
        }
        let _ = writeln!(y, "\n  - id: {id}");
        let _ = writeln!(y, "    # `dualstack` keeps the public IPv4 addresses (one per zone, USD 3.65 a month each).");
        if lb.kind == "application" && lb.scheme == "internet-facing" {
            let _ = writeln!(y, "    # Once IPv6 clients are fine, `dualstack-without-public-ipv4` removes them.");
        }
        let _ = writeln!(y, "    load_balancer_ip_type:");
        let _ = writeln!(y, "      load_balancer: {}", scalar(&lb.name));
        let _ = writeln!(y, "      ip_address_type: dualstack");
        if let Some((_, check, ..)) = site_checks.iter().find(|(name, ..)| name == &lb.name) {
            let _ = writeln!(y, "    gate: {{ checks: [{check}], bake: 30s }}");
        }
    }
    // The DNS steps go last (below): collected here while the load
    // balancers are at hand.
    let dns_steps: Vec<(String, Vec<(String, String)>)> = lbs
        .iter()
        .filter(|lb| !udp(lb))
        .map(|lb| {
            let mut records: Vec<(String, String)> =
                net.aliases_of(lb).filter(|(_, r)| r.kind == "A").map(|(z, r)| (z.name.clone(), r.name.clone())).collect();
            records.sort();
            records.dedup();
            (lb.name.clone(), records)
        })
        .filter(|(_, r)| !r.is_empty())
        .collect();

    // 7. ECS services: one redeploy step per cluster, after the network and
    // the load balancers (tasks get IPv6 only when they start).
    let mut clusters: Vec<&str> = ecs_services.iter().map(|s| s.cluster_arn.as_str()).collect();
    clusters.dedup();
    for cluster in clusters {
        let services: Vec<&&crate::aws::ecs::EcsService> = ecs_services.iter().filter(|s| s.cluster_arn == cluster).collect();
        let name = crate::aws::ecs::cluster_name(cluster);
        let _ = writeln!(y, "\n  - id: {}", ids.take(format!("{}-redeploy", slug(name))));
        let _ = writeln!(y, "    # Running tasks keep IPv4 until replaced: a new deployment puts them on the");
        let _ = writeln!(y, "    # dual-stack subnets, one service after the other, each waited for. Services");
        let _ = writeln!(y, "    # without a load balancer first (nothing depends on their health check), then");
        let _ = writeln!(y, "    # the ones behind it; by name within each. A failed deployment rolls back to IPv4.");
        let _ = writeln!(y, "    ecs_redeploy:");
        let _ = writeln!(y, "      cluster: {}", scalar(name));
        let _ = writeln!(y, "      services: [{}]", services.iter().map(|s| scalar(&s.name)).collect::<Vec<_>>().join(", "));
        if net.dual_stack_ipv6 == Some(false) {
            let _ = writeln!(y, "      # dualStackIPv6 is off: this sets the account default, for every principal");
            let _ = writeln!(y, "      # of the account in this region without a setting of its own.");
            let _ = writeln!(y, "      enable_dual_stack_setting: true");
        }
        let _ = writeln!(y, "      timeout: 15m");
        let checks: Vec<&str> = services.iter().filter_map(|s| ecs_checks.iter().find(|(arn, ..)| arn == &s.arn)).map(|(_, n, _)| n.as_str()).collect();
        if !checks.is_empty() {
            let _ = writeln!(y, "    gate: {{ checks: [{}] }}", checks.join(", "));
        }
    }
    for s in net.ecs_services.iter().filter(|s| s.controller != "ECS") {
        notes.push(format!("ECS service {} deploys through {}: redeploy it there once the subnets are dual-stack", s.name, s.controller));
    }

    // 8. Target groups, one listener at a time.
    for (lb, port, groups, why) in &cutovers {
        let _ = writeln!(y, "\n  - id: {}", ids.take(format!("{}-{port}-target-groups", slug(lb))));
        let _ = writeln!(y, "    # A target group's IP address type is fixed: each is recreated as IPv6 and");
        let _ = writeln!(y, "    # traffic moves to it stage by stage.");
        let _ = writeln!(y, "    # {why}.");
        let _ = writeln!(y, "    target_group_ipv6:");
        let _ = writeln!(y, "      listener: {}", scalar(&format!("{lb}:{port}")));
        let _ = writeln!(y, "      target_groups: [{}]", groups.iter().map(|g| scalar(&g.name)).collect::<Vec<_>>().join(", "));
        let _ = writeln!(y, "      name_suffix: \"-v6\"");
        let _ = writeln!(y, "      shift: [10, 50, 100]");
        let _ = writeln!(y, "      bake: 60s");
        let _ = writeln!(y, "      retire: keep                  # the old groups stay, for a quick way back");
        let mut checks: Vec<String> = Vec::new();
        if let Some((_, check, ..)) = site_checks.iter().find(|(name, ..)| name == lb) {
            checks.push(check.clone());
        }
        checks.push(tg_check(&groups[0].arn));
        let _ = writeln!(y, "    gate: {{ checks: [{}] }}", checks.join(", "));
    }
    // 9. DNS, last: IPv6 clients come only once the names have their AAAA.
    for (lb, records) in &dns_steps {
        let _ = writeln!(y, "\n  - id: {}", ids.take(format!("{}-dns", slug(lb))));
        let _ = writeln!(y, "    # IPv6 clients learn an IPv6 address for these names only from an AAAA alias beside");
        let _ = writeln!(y, "    # the A alias: published last, once the path is proven over IPv6; withdrawn first");
        let _ = writeln!(y, "    # on rollback (resolvers keep it 60 s, so {lb} goes back to ipv4 after that).");
        let _ = writeln!(y, "    dns_aaaa:");
        let _ = writeln!(y, "      load_balancer: {}", scalar(lb));
        let _ = writeln!(y, "      records:");
        for (zone, name) in records {
            let _ = writeln!(y, "        - {{ zone: {}, name: {} }}", scalar(zone), scalar(name));
        }
        if let Some((_, check, ..)) = site_checks.iter().find(|(name, ..)| name == lb) {
            let _ = writeln!(y, "    gate: {{ checks: [{check}], bake: 60s }}");
        }
    }
    for n in &notes {
        let _ = writeln!(y, "  # Left out: {n}.");
    }
    y
}
