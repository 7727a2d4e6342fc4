//! Load balancer traps, checked on the VPC as it will be when the
//! `load_balancer_ip_type` step runs.

use super::{Finding, Severity};
use crate::aws::{Direction, LoadBalancer, Network, SecurityGroup};
use crate::steps::load_balancer_ip_type::Spec;
use crate::steps::resolve;

pub const SUBNET_NO_IPV6: &str = "lb-subnet-without-ipv6";
pub const SG_NO_IPV6_TWIN: &str = "lb-security-group-ipv4-only";
pub const WITHOUT_PUBLIC_IPV4_INTERNAL: &str = "without-public-ipv4-not-internet-facing";
pub const WITHOUT_PUBLIC_IPV4_AUTH: &str = "without-public-ipv4-with-authentication";
pub const NLB_UDP: &str = "nlb-udp-listener";

fn finding(id: &'static str, lb: &LoadBalancer, message: String, fix: impl Into<String>) -> Finding {
    Finding { id, severity: Severity::Error, step: None, resource: format!("load balancer {}", lb.name), message, fix: fix.into() }
}

pub fn before_step(spec: &Spec, net: &Network) -> Vec<Finding> {
    let Ok(lb) = resolve::load_balancer(net, &spec.load_balancer) else { return Vec::new() };
    let want = spec.ip_address_type.as_str();
    if want == "ipv4" || lb.ip_address_type == want {
        return Vec::new();
    }
    let mut out = Vec::new();
    let lacking = crate::steps::load_balancer_ip_type::subnets_without_block(lb, net);
    if !lacking.is_empty() {
        out.push(finding(
            SUBNET_NO_IPV6,
            lb,
            format!("subnet(s) {} will have no associated IPv6 block when it becomes {want}; AWS rejects SetIpAddressType (ValidationError)", lacking.join(", ")),
            "give every subnet of the load balancer a block in a `subnet_ipv6` step before this one",
        ));
    }
    let groups: Vec<&SecurityGroup> = lb.security_groups.iter().filter_map(|id| net.security_group(id)).collect();
    let covers = |from: Option<i32>, to: Option<i32>, protocol: &str, port: i32| {
        protocol == "-1" || (protocol == "tcp" && from.unwrap_or(0) <= port && port <= to.unwrap_or(65535))
    };
    let ipv4_only: Vec<i32> = lb
        .listeners
        .iter()
        .map(|l| l.port)
        .filter(|&port| {
            let rules = || groups.iter().flat_map(|g| &g.rules).filter(|r| r.rule.direction == Direction::Ingress);
            let open_v4 = rules().any(|r| r.cidr_v4.as_deref() == Some("0.0.0.0/0") && covers(r.rule.from_port, r.rule.to_port, &r.rule.protocol, port));
            let open_v6 = rules().any(|r| r.cidr_v6.is_some_and(|c| c.prefix() == 0) && covers(r.rule.from_port, r.rule.to_port, &r.rule.protocol, port));
            open_v4 && !open_v6
        })
        .collect();
    if !ipv4_only.is_empty() && lb.kind == "application" {
        let ports: Vec<String> = ipv4_only.iter().map(i32::to_string).collect();
        out.push(finding(
            SG_NO_IPV6_TWIN,
            lb,
            format!(
                "its security groups ({}) open listener port(s) {} to 0.0.0.0/0 but not to ::/0: clients over IPv6 get the AAAA record and time out",
                lb.security_groups.join(", "),
                ports.join(", ")
            ),
            "add a `security_group_ipv6` step for these groups (mirror_open_ipv4: true) before this one",
        ));
    }
    if want == "dualstack-without-public-ipv4" {
        if lb.kind != "application" || lb.scheme != "internet-facing" {
            out.push(finding(
                WITHOUT_PUBLIC_IPV4_INTERNAL,
                lb,
                format!("it is an {} {} load balancer; dualstack-without-public-ipv4 exists only for internet-facing application load balancers (ValidationError)", lb.scheme, lb.kind),
                "use `ip_address_type: dualstack`",
            ));
        }
        let auth: Vec<String> = lb
            .listeners
            .iter()
            .flat_map(|l| std::iter::once(&l.default_actions).chain(l.rules.iter().map(|r| &r.actions)).map(move |a| (l.port, a)))
            .filter(|(_, a)| a.kinds.iter().any(|k| k.starts_with("authenticate")))
            .map(|(port, _)| port.to_string())
            .collect();
        if !auth.is_empty() {
            let mut ports = auth;
            ports.dedup();
            out.push(finding(
                WITHOUT_PUBLIC_IPV4_AUTH,
                lb,
                format!(
                    "listener(s) on port {} authenticate through an identity provider or Cognito, which does not work without public IPv4 addresses: sign-in breaks",
                    ports.join(", ")
                ),
                "use `ip_address_type: dualstack` (keeps the public IPv4 addresses), or move authentication into the application",
            ));
        }
    }
    let udp: Vec<String> = lb.listeners.iter().filter(|l| l.protocol.contains("UDP")).map(|l| format!("{}:{}", l.protocol, l.port)).collect();
    if lb.kind == "network" && !udp.is_empty() {
        out.push(finding(
            NLB_UDP,
            lb,
            format!("listener(s) {} are UDP; a network load balancer with UDP or TCP_UDP listeners cannot be dual-stack", udp.join(", ")),
            "leave this load balancer IPv4, or move the UDP listeners to another load balancer",
        ));
    }
    out
}
