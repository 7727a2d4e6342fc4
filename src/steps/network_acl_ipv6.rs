//! `network_acl_ipv6`: the `::/0` twins of a network ACL's entries for
//! `0.0.0.0/0`, so that the traffic the ACL lets in and out over IPv4 gets
//! through over IPv6 too.
//!
//! ```yaml
//! - id: nacls
//!   network_acl_ipv6:
//!     network_acls: [public-acl]     # IDs or Name tags
//!     mirror_open_ipv4: true         # every entry for 0.0.0.0/0 (allow and deny, both directions) gets its ::/0 twin
//! ```
//! Network ACLs are stateless and evaluate IPv4 and IPv6 entries separately:
//! a custom ACL that allows 80, 443 and the ephemeral ports from `0.0.0.0/0`
//! drops the same traffic over IPv6. AWS adds IPv6 allows (rule 101, `::/0`)
//! to a *default* ACL only where a direction's rules were never modified,
//! and never to custom ones.
//!
//! A twin has the entry's direction, protocol, ports and action, and a free
//! rule number (IPv4 and IPv6 share one number space per direction) that
//! keeps the twins in their originals' evaluation order: the lowest free
//! number above both the original and the previous twin. ICMP (1) becomes
//! ICMPv6 (58): all types stay all; echo request 8 -> 128, echo reply 0 ->
//! 129, destination unreachable 3 -> 1, time exceeded 11 -> 3; any other
//! ICMPv4 type has no counterpart and gets no twin (a preflight finding, not
//! a guess). Rollback deletes exactly the entries this run created.

use serde::{Deserialize, Serialize};

use super::{resolve, Description, Outcome, Step, StepCx, StepError};
use crate::aws::{label, AclEntry, Network, NetworkAcl, Scope};
use crate::runbook::{Pos, Ref, ValidateCx};

/// Entries per direction and IP family that AWS allows by default, its own
/// catch-all deny included (Service Quotas "Rules per network ACL",
/// raisable to 40). The tool does not read Service Quotas: above this, it
/// refuses.
pub const DEFAULT_ENTRY_QUOTA: usize = 20;

/// The highest rule number a call can set.
const MAX_RULE: i32 = 32766;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Raw {
    pub network_acls: Vec<String>,
    #[serde(default = "yes")]
    pub mirror_open_ipv4: bool,
}

fn yes() -> bool {
    true
}

#[derive(Debug)]
pub struct Spec {
    pub acls: Vec<Ref>,
    pub mirror_open_ipv4: bool,
    pub at: Pos,
}

impl Spec {
    pub fn validate(raw: Raw, path: &str, cx: &mut ValidateCx) -> Option<Spec> {
        if raw.network_acls.is_empty() {
            cx.error(&format!("{path}.network_acls"), "no network ACLs").set_help("list the ACLs by ID or Name tag");
            return None;
        }
        if !raw.mirror_open_ipv4 {
            cx.error(&format!("{path}.mirror_open_ipv4"), "the step has nothing to do without `mirror_open_ipv4: true`")
                .set_help("leave it out (it defaults to true) or drop the step");
            return None;
        }
        Some(Spec {
            acls: raw.network_acls.iter().enumerate().map(|(i, a)| cx.reference(&format!("{path}.network_acls[{i}]"), a)).collect(),
            mirror_open_ipv4: raw.mirror_open_ipv4,
            at: cx.at(path),
        })
    }
}

/// The ICMPv6 type of an ICMPv4 type, where one means the same.
pub fn icmpv6_type(v4: i32) -> Option<i32> {
    match v4 {
        -1 => Some(-1),
        8 => Some(128),
        0 => Some(129),
        3 => Some(1),
        11 => Some(3),
        _ => None,
    }
}

/// An entry's `::/0` counterpart, without its number; `None` for an ICMP
/// type IPv6 has no counterpart for.
pub fn twin_of(e: &AclEntry) -> Option<AclEntry> {
    let (protocol, icmp) = match e.protocol.as_str() {
        "1" => {
            let (t, c) = e.icmp.unwrap_or((-1, -1));
            let t6 = icmpv6_type(t)?;
            // Codes differ between the families but for "all" and echo's 0.
            let c6 = match (t, c) {
                (_, -1) => -1,
                (8 | 0, 0) => 0,
                _ => return None,
            };
            ("58".to_string(), Some((t6, c6)))
        }
        p => (p.to_string(), e.icmp),
    };
    Some(AclEntry { rule_number: 0, egress: e.egress, protocol, action: e.action.clone(), cidr_v4: None, cidr_v6: Some("::/0".into()), ports: e.ports, icmp })
}

/// Whether `have` already does what `want` (a twin without its number) does.
fn same_effect(have: &AclEntry, want: &AclEntry) -> bool {
    have.egress == want.egress
        && have.cidr_v6.as_deref() == Some("::/0")
        && have.protocol == want.protocol
        && have.action == want.action
        && have.ports == want.ports
        && (have.icmp == want.icmp || !matches!(want.protocol.as_str(), "1" | "58"))
}

/// The user entries of `acl` open to `0.0.0.0/0`, by direction and number.
fn open_ipv4(acl: &NetworkAcl) -> Vec<&AclEntry> {
    let mut v: Vec<&AclEntry> = acl.entries.iter().filter(|e| !e.is_catch_all() && e.cidr_v4.as_deref() == Some("0.0.0.0/0")).collect();
    v.sort_by_key(|e| (e.egress, e.rule_number));
    v
}

/// ICMP entries of `acl` open to `0.0.0.0/0` whose type has no ICMPv6
/// counterpart (for the preflight).
pub fn without_counterpart(acl: &NetworkAcl) -> Vec<&AclEntry> {
    open_ipv4(acl).into_iter().filter(|e| twin_of(e).is_none()).collect()
}

/// The twins `acl` lacks, numbered, in evaluation order per direction.
pub fn missing_twins(acl: &NetworkAcl) -> Vec<AclEntry> {
    let mut out = Vec::new();
    for egress in [false, true] {
        let mut taken: std::collections::BTreeSet<i32> = acl.entries.iter().filter(|e| e.egress == egress).map(|e| e.rule_number).collect();
        let mut floor = 0;
        for e in open_ipv4(acl).into_iter().filter(|e| e.egress == egress) {
            let Some(mut twin) = twin_of(e) else { continue };
            if let Some(have) = acl.entries.iter().find(|h| same_effect(h, &twin)) {
                floor = floor.max(have.rule_number);
                continue;
            }
            let Some(n) = (floor.max(e.rule_number) + 1..=MAX_RULE).find(|n| !taken.contains(n)) else { continue };
            taken.insert(n);
            floor = n;
            twin.rule_number = n;
            out.push(twin);
        }
    }
    out
}

/// IPv6 entries per direction `acl` would hold with `adding`, counted as
/// the quota counts them: with the IPv6 catch-all deny, which every ACL has
/// once its VPC has an IPv6 block.
fn ipv6_entries_after(acl: &NetworkAcl, adding: &[AclEntry], egress: bool) -> usize {
    1 + acl.entries.iter().chain(adding).filter(|e| e.egress == egress && e.cidr_v6.is_some() && !e.is_catch_all()).count()
}

/// The directions (`egress`, IPv6 entries) in which `acl` with `adding`
/// would pass [`DEFAULT_ENTRY_QUOTA`].
pub fn over_quota(acl: &NetworkAcl, adding: &[AclEntry]) -> Vec<(bool, usize)> {
    [false, true].into_iter().map(|egress| (egress, ipv6_entries_after(acl, adding, egress))).filter(|(_, n)| *n > DEFAULT_ENTRY_QUOTA).collect()
}

impl Step for Spec {
    fn kind(&self) -> &'static str {
        "network_acl_ipv6"
    }

    fn scope(&self) -> Scope {
        Scope::NETWORK_ACLS
    }

    fn iam_actions(&self) -> Vec<&'static str> {
        vec!["ec2:CreateNetworkAclEntry", "ec2:DeleteNetworkAclEntry"]
    }

    fn findings(&self, net: &Network) -> Vec<crate::preflight::Finding> {
        crate::preflight::nacl::before_step(self, net)
    }

    fn check(&self, net: &Network) -> Result<Vec<super::Change>, StepError> {
        let mut changes = Vec::new();
        for r in &self.acls {
            let acl = resolve::network_acl(net, r)?;
            let twins = missing_twins(acl);
            if let Some((egress, n)) = over_quota(acl, &twins).first().copied() {
                return Err(StepError::precondition(
                    r.at,
                    format!(
                        "{}: {n} IPv6 {} entries with the twins, above AWS's default quota of {DEFAULT_ENTRY_QUOTA} per direction (NetworkAclEntryLimitExceeded)",
                        label(&acl.id, acl.name.as_deref()),
                        if egress { "egress" } else { "ingress" }
                    ),
                )
                .with_help("merge IPv4 entries (port ranges), or raise the quota \"Rules per network ACL\" in Service Quotas (up to 40) and split the ACL's twins over steps"));
            }
            changes.extend(twins.into_iter().map(|entry| {
                super::Change::NetworkAclIpv6(Change::CreateEntry { acl_id: acl.id.clone(), acl: label(&acl.id, acl.name.as_deref()), entry })
            }));
        }
        Ok(changes)
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Change {
    /// CreateNetworkAclEntry of a `::/0` twin.
    CreateEntry { acl_id: String, acl: String, entry: AclEntry },
}

#[async_trait::async_trait]
impl super::ChangeKind for Change {
    fn scope(&self) -> Scope {
        Scope::NETWORK_ACLS
    }

    /// Entries of one ACL are distinct resources by number and direction.
    fn concurrency_key(&self) -> Option<String> {
        let Change::CreateEntry { acl_id, entry, .. } = self;
        Some(format!("{acl_id} {} {}", entry.rule_number, entry.egress))
    }

    fn describe(&self) -> Description {
        let Change::CreateEntry { acl_id, acl, entry } = self;
        let mut args = format!(
            "NetworkAclId={acl_id} RuleNumber={} Egress={} Protocol={} RuleAction={} Ipv6CidrBlock=::/0",
            entry.rule_number, entry.egress, entry.protocol, entry.action
        );
        if let Some((from, to)) = entry.ports {
            args.push_str(&format!(" PortRange.From={from} PortRange.To={to}"));
        }
        if let Some((t, c)) = entry.icmp {
            args.push_str(&format!(" Icmp.Type={t} Icmp.Code={c}"));
        }
        Description {
            call: "ec2:CreateNetworkAclEntry",
            args,
            resource: acl.clone(),
            attribute: format!("{} entry", if entry.egress { "egress" } else { "ingress" }),
            current: "none".into(),
            desired: entry.render(),
        }
    }

    fn project(&self, net: &mut Network) {
        let Change::CreateEntry { acl_id, entry, .. } = self;
        if let Some(acl) = net.network_acl_mut(acl_id) {
            acl.entries.push(entry.clone());
        }
    }

    async fn apply(&self, cx: &StepCx<'_>) -> Result<Outcome, StepError> {
        let Change::CreateEntry { acl_id, entry, .. } = self;
        cx.ec2.create_acl_entry(acl_id, entry).await?;
        Ok(Outcome::default())
    }

    fn reconcile(&self, net: &Network) -> Option<Outcome> {
        let Change::CreateEntry { acl_id, entry, .. } = self;
        net.network_acl(acl_id)?.entries.contains(entry).then(Outcome::default)
    }

    /// Deletes the entry only if it is still the one this run created.
    async fn undo(&self, cx: &StepCx<'_>, _outcome: &Outcome, net: &Network) -> Result<(), StepError> {
        let Change::CreateEntry { acl_id, entry, .. } = self;
        if net.network_acl(acl_id).is_some_and(|a| a.entries.contains(entry)) {
            cx.ec2.delete_acl_entry(acl_id, entry.rule_number, entry.egress).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(n: i32, egress: bool, protocol: &str, action: &str, ports: Option<(i32, i32)>, icmp: Option<(i32, i32)>) -> AclEntry {
        AclEntry { rule_number: n, egress, protocol: protocol.into(), action: action.into(), cidr_v4: Some("0.0.0.0/0".into()), cidr_v6: None, ports, icmp }
    }

    fn acl(entries: Vec<AclEntry>) -> NetworkAcl {
        NetworkAcl { id: "acl-1".into(), name: None, is_default: false, subnet_ids: vec![], entries }
    }

    #[test]
    fn twins_keep_their_originals_order_in_free_numbers() {
        let a = acl(vec![
            entry(100, false, "6", "allow", Some((80, 80)), None),
            // 101 is taken by an IPv4 entry: the twin of 100 moves up.
            AclEntry { cidr_v4: Some("10.0.0.0/8".into()), ..entry(101, false, "6", "deny", Some((22, 22)), None) },
            entry(102, false, "6", "allow", Some((443, 443)), None),
            entry(110, false, "1", "allow", None, Some((8, -1))),
            entry(100, true, "-1", "allow", None, None),
            entry(32767, false, "-1", "deny", None, None),
        ]);
        let twins: Vec<(i32, bool, String)> = missing_twins(&a).iter().map(|t| (t.rule_number, t.egress, t.render())).collect();
        assert_eq!(
            twins,
            [
                (103, false, "103 allow tcp 80 from ::/0".to_string()),
                (104, false, "104 allow tcp 443 from ::/0".to_string()),
                (111, false, "111 allow icmpv6 type 128 code -1 from ::/0".to_string()),
                (101, true, "101 allow all to ::/0".to_string()),
            ]
        );
        // Applied, nothing is missing.
        let mut done = a.clone();
        done.entries.extend(missing_twins(&a));
        assert!(missing_twins(&done).is_empty());
    }

    #[test]
    fn the_quota_counts_the_ipv6_catch_all() {
        let open = |n: i32| acl((0..n).map(|i| entry(100 + 10 * i, false, "6", "allow", Some((1000 + i, 1000 + i)), None)).collect());
        // 19 twins and the catch-all deny fill AWS's default 20.
        let a = open(19);
        assert!(over_quota(&a, &missing_twins(&a)).is_empty());
        let a = open(20);
        assert_eq!(over_quota(&a, &missing_twins(&a)), [(false, 21)]);
    }

    #[test]
    fn icmp_types_without_a_counterpart_get_no_twin() {
        let a = acl(vec![entry(100, false, "1", "allow", None, Some((5, 0))), entry(110, false, "1", "allow", None, Some((3, -1)))]);
        assert_eq!(without_counterpart(&a).len(), 1, "redirect (5) has no ICMPv6 counterpart here");
        assert_eq!(missing_twins(&a).iter().map(|t| t.icmp).collect::<Vec<_>>(), [Some((1, -1))]);
    }
}
