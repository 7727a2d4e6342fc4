//! `security_group_ipv6`: the IPv6 twins of a group's rules.
//!
//! ```yaml
//! - id: security-groups
//!   security_group_ipv6:
//!     groups: [alb, app]               # IDs, group names or Name tags
//!     mirror_open_ipv4: true           # (default) every rule open to 0.0.0.0/0 gets its ::/0 twin
//!     rules:                           # extra IPv6 rules
//!       - { direction: ingress, protocol: tcp, ports: 443, cidr: "::/0" }
//!       - { direction: ingress, protocol: tcp, ports: "8000-8100", cidr: "2406:da14::/32" }
//! ```
//! Apply authorizes only the rules that are missing and keeps the rule IDs
//! AWS returns; rollback revokes exactly those IDs, so rules that were already
//! there (or added by someone else meanwhile) are never touched.
//!
//! Mirroring ICMP: an ICMPv4 rule becomes an ICMPv6 rule for all types when
//! it allowed all types, and for the matching type for echo request/reply,
//! destination unreachable and time exceeded; other ICMPv4 types have no
//! IPv6 counterpart and are not mirrored. Note that IPv6 path-MTU discovery
//! needs ICMPv6 "packet too big" (type 2) inbound: add it under `rules` when a
//! group does not allow all ICMPv6.

use serde::{Deserialize, Serialize};

use super::{resolve, Description, Outcome, Step, StepCx, StepError};
use crate::aws::{label, Direction, Network, RuleMatch, Scope};
use crate::ipv6::Ipv6Net;
use crate::runbook::{Ref, ValidateCx};

fn yes() -> bool {
    true
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Raw {
    pub groups: Vec<String>,
    #[serde(default = "yes")]
    pub mirror_open_ipv4: bool,
    #[serde(default)]
    pub rules: Vec<RawRule>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRule {
    pub direction: Direction,
    pub protocol: serde_yaml::Value,
    #[serde(default)]
    pub ports: Option<serde_yaml::Value>,
    pub cidr: String,
    #[serde(default)]
    pub description: Option<String>,
}

#[derive(Clone, Debug)]
pub struct Rule {
    pub rule: RuleMatch,
    pub cidr: Ipv6Net,
    pub description: Option<String>,
}

#[derive(Debug)]
pub struct Spec {
    pub groups: Vec<Ref>,
    pub mirror_open_ipv4: bool,
    pub rules: Vec<Rule>,
}

/// AWS's canonical IpProtocol for what a user (or AWS itself) wrote.
pub fn normalize_protocol(p: &str) -> Option<String> {
    let p = p.trim().to_ascii_lowercase();
    Some(
        match p.as_str() {
            "tcp" | "6" => "tcp",
            "udp" | "17" => "udp",
            "icmp" | "1" => "icmp",
            "icmpv6" | "58" => "icmpv6",
            "all" | "-1" => "-1",
            other => {
                let n: u8 = other.parse().ok()?;
                return Some(n.to_string());
            }
        }
        .to_string(),
    )
}

fn scalar(v: &serde_yaml::Value) -> Option<String> {
    match v {
        serde_yaml::Value::String(s) => Some(s.clone()),
        serde_yaml::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn parse_ports(v: &serde_yaml::Value) -> Option<(i32, i32)> {
    let s = scalar(v)?;
    let (a, b) = s.split_once('-').unwrap_or((&s, &s));
    let (a, b): (i32, i32) = (a.trim().parse().ok()?, b.trim().parse().ok()?);
    ((0..=65535).contains(&a) && (0..=65535).contains(&b) && a <= b).then_some((a, b))
}

impl Spec {
    pub fn validate(raw: Raw, path: &str, cx: &mut ValidateCx) -> Option<Spec> {
        let before = cx.error_count();
        if raw.groups.is_empty() {
            cx.error(&format!("{path}.groups"), "`groups` is empty");
        }
        let mut groups = Vec::new();
        for (i, g) in raw.groups.iter().enumerate() {
            let p = format!("{path}.groups[{i}]");
            if raw.groups[..i].contains(g) {
                cx.error(&p, format!("security group `{g}` is listed twice"));
            }
            groups.push(cx.reference(&p, g));
        }
        let mut rules = Vec::new();
        for (i, r) in raw.rules.into_iter().enumerate() {
            let p = format!("{path}.rules[{i}]");
            let protocol = match scalar(&r.protocol).as_deref().and_then(normalize_protocol) {
                Some(proto) if proto == "icmp" => {
                    cx.error(&format!("{p}.protocol"), "ICMPv4 does not apply to IPv6 addresses").set_help("use `icmpv6`");
                    continue;
                }
                Some(proto) => proto,
                None => {
                    cx.error(&format!("{p}.protocol"), "unknown protocol")
                        .set_help("use tcp, udp, icmpv6, all, or an IP protocol number");
                    continue;
                }
            };
            let ports = match (&r.ports, protocol.as_str()) {
                (None, "tcp" | "udp") => {
                    cx.error(&p, format!("a {protocol} rule needs `ports`")).set_help("for example `ports: 443` or `ports: \"8000-8100\"`");
                    continue;
                }
                (Some(_), "-1") => {
                    cx.error(&format!("{p}.ports"), "a rule for all protocols has no ports");
                    continue;
                }
                (None, _) => None,
                (Some(v), _) => match parse_ports(v) {
                    Some(range) => Some(range),
                    None => {
                        cx.error(&format!("{p}.ports"), "invalid port range")
                            .set_help("a port (443) or a range (\"8000-8100\") between 0 and 65535");
                        continue;
                    }
                },
            };
            let cidr = match r.cidr.parse::<Ipv6Net>() {
                Ok(c) => c,
                Err(e) => {
                    let msg = if r.cidr.contains('.') {
                        format!("`{}` is IPv4; this step adds IPv6 rules", r.cidr)
                    } else {
                        e.to_string()
                    };
                    cx.error(&format!("{p}.cidr"), msg);
                    continue;
                }
            };
            let (from_port, to_port) = match (protocol.as_str(), ports) {
                ("-1", _) => (None, None),
                ("icmpv6", None) => (Some(-1), Some(-1)),
                (_, Some((a, b))) => (Some(a), Some(b)),
                (_, None) => (None, None),
            };
            rules.push(Rule {
                rule: RuleMatch { direction: r.direction, protocol, from_port, to_port },
                cidr,
                description: r.description,
            });
        }
        if !raw.mirror_open_ipv4 && rules.is_empty() {
            cx.error(path, "this step changes nothing").set_help("set `mirror_open_ipv4: true` or add `rules`");
        }
        (cx.error_count() == before).then_some(Spec { groups, mirror_open_ipv4: raw.mirror_open_ipv4, rules })
    }
}

/// The IPv6 twin of an IPv4 rule's match, if IPv6 has one.
fn twin(rule: &RuleMatch) -> Option<RuleMatch> {
    let proto = normalize_protocol(&rule.protocol)?;
    if proto != "icmp" {
        return Some(RuleMatch { protocol: proto, ..rule.clone() });
    }
    // ICMP type numbers differ between v4 and v6.
    let v6_type = match rule.from_port.unwrap_or(-1) {
        -1 => -1,
        8 => 128, // echo request
        0 => 129, // echo reply
        3 => 1,   // destination unreachable
        11 => 3,  // time exceeded
        _ => return None,
    };
    let code = if v6_type == -1 { -1 } else { rule.to_port.unwrap_or(-1) };
    Some(RuleMatch { direction: rule.direction, protocol: "icmpv6".into(), from_port: Some(v6_type), to_port: Some(code) })
}

fn same(a: &RuleMatch, b: &RuleMatch) -> bool {
    a.direction == b.direction
        && normalize_protocol(&a.protocol) == normalize_protocol(&b.protocol)
        && a.from_port == b.from_port
        && a.to_port == b.to_port
}

impl Step for Spec {
    fn iam_actions(&self) -> Vec<&'static str> {
        vec!["ec2:AuthorizeSecurityGroupIngress", "ec2:AuthorizeSecurityGroupEgress", "ec2:RevokeSecurityGroupIngress", "ec2:RevokeSecurityGroupEgress"]
    }

    fn kind(&self) -> &'static str {
        "security_group_ipv6"
    }

    fn check(&self, net: &Network) -> Result<Vec<super::Change>, StepError> {
        let mut changes = Vec::new();
        for r in &self.groups {
            let g = resolve::security_group(net, r)?;
            let group = label(&g.id, Some(g.name.as_deref().unwrap_or(&g.group_name)));
            let mut wanted: Vec<Rule> = Vec::new();
            if self.mirror_open_ipv4 {
                for v4 in g.rules.iter().filter(|x| x.cidr_v4.as_deref() == Some("0.0.0.0/0")) {
                    if let Some(m) = twin(&v4.rule) {
                        wanted.push(Rule { rule: m, cidr: Ipv6Net::ANY, description: v4.description.clone() });
                    }
                }
            }
            wanted.extend(self.rules.iter().cloned());
            for w in wanted {
                let exists = g.rules.iter().any(|x| x.cidr_v6 == Some(w.cidr) && same(&x.rule, &w.rule));
                let planned = changes.iter().any(|c| {
                    matches!(c, super::Change::SecurityGroupIpv6(Change::Authorize { group_id, rule, cidr, .. })
                        if group_id == &g.id && *cidr == w.cidr && same(rule, &w.rule))
                });
                if !exists && !planned {
                    changes.push(super::Change::SecurityGroupIpv6(Change::Authorize {
                        group_id: g.id.clone(),
                        group: group.clone(),
                        rule: w.rule,
                        cidr: w.cidr,
                        description: w.description,
                    }));
                }
            }
        }
        Ok(changes)
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Change {
    Authorize {
        group_id: String,
        group: String,
        rule: RuleMatch,
        cidr: Ipv6Net,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        description: Option<String>,
    },
}

fn show_rule(rule: &RuleMatch, cidr: &Ipv6Net) -> String {
    let proto = if rule.protocol == "-1" { "all" } else { rule.protocol.as_str() };
    let ports = match (rule.from_port, rule.to_port) {
        (Some(a), Some(b)) if a == b => format!(" {a}"),
        (Some(a), Some(b)) => format!(" {a}-{b}"),
        _ => String::new(),
    };
    let dir = match rule.direction {
        Direction::Ingress => "from",
        Direction::Egress => "to",
    };
    format!("{proto}{ports} {dir} {cidr}")
}

#[async_trait::async_trait]
impl super::ChangeKind for Change {
    fn scope(&self) -> Scope {
        Scope::SECURITY_GROUPS
    }

    fn concurrency_key(&self) -> Option<String> {
        let Change::Authorize { group_id, .. } = self;
        Some(group_id.clone())
    }

    fn describe(&self) -> Description {
        let Change::Authorize { group_id, group, rule, cidr, .. } = self;
        let (call, attr) = match rule.direction {
            Direction::Ingress => ("ec2:AuthorizeSecurityGroupIngress", "ingress rule"),
            Direction::Egress => ("ec2:AuthorizeSecurityGroupEgress", "egress rule"),
        };
        let ports = match (rule.from_port, rule.to_port) {
            (Some(a), Some(b)) => format!(" FromPort={a} ToPort={b}"),
            _ => String::new(),
        };
        Description {
            call,
            args: format!("GroupId={group_id} IpProtocol={}{ports} CidrIpv6={cidr}", rule.protocol),
            resource: group.clone(),
            attribute: attr.into(),
            current: "none".into(),
            desired: show_rule(rule, cidr),
        }
    }

    fn project(&self, net: &mut Network) {
        let Change::Authorize { group_id, rule, cidr, description, .. } = self;
        if let Some(g) = net.security_group_mut(group_id) {
            g.rules.push(crate::aws::SgRule {
                id: "(planned)".into(),
                rule: rule.clone(),
                cidr_v4: None,
                cidr_v6: Some(*cidr),
                description: description.clone(),
            });
        }
    }

    async fn apply(&self, cx: &StepCx<'_>) -> Result<Outcome, StepError> {
        let Change::Authorize { group_id, rule, cidr, description, .. } = self;
        let id = cx.ec2.authorize_rule(group_id, rule, *cidr, description.as_deref()).await?;
        Ok(Outcome { rule_id: Some(id), ..Outcome::default() })
    }

    fn reconcile(&self, net: &Network) -> Option<Outcome> {
        let Change::Authorize { group_id, rule, cidr, .. } = self;
        net.security_group(group_id)?
            .rules
            .iter()
            .find(|x| x.cidr_v6 == Some(*cidr) && same(&x.rule, rule))
            .map(|x| Outcome { rule_id: Some(x.id.clone()), ..Outcome::default() })
    }

    async fn undo(&self, cx: &StepCx<'_>, outcome: &Outcome, net: &Network) -> Result<(), StepError> {
        let Change::Authorize { group_id, rule, .. } = self;
        let Some(id) = &outcome.rule_id else { return Ok(()) };
        let present = net.security_group(group_id).is_some_and(|g| g.rules.iter().any(|x| &x.id == id));
        if present {
            cx.ec2.revoke_rule(group_id, rule.direction, id).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn icmp_twins_use_icmpv6_type_numbers() {
        let echo = RuleMatch { direction: Direction::Ingress, protocol: "icmp".into(), from_port: Some(8), to_port: Some(-1) };
        assert_eq!(twin(&echo).unwrap().from_port, Some(128));
        let redirect = RuleMatch { from_port: Some(5), ..echo.clone() };
        assert!(twin(&redirect).is_none());
        let tcp = RuleMatch { protocol: "6".into(), from_port: Some(443), to_port: Some(443), ..echo };
        assert_eq!(twin(&tcp).unwrap().protocol, "tcp");
    }
}
