//! `subnet_ipv6`: a /64 for each subnet, then the subnet's IPv6 flags.
//!
//! ```yaml
//! - id: subnets
//!   subnet_ipv6:
//!     subnets:
//!       - { subnet: subnet-1a, index: 1 }                  # cidrsubnet(vpc_block, 8, 1)
//!       - { subnet: app-1c, cidr: "2406:da14:abc:de02::/64" }
//!       - { subnet: app-1d }                               # keeps the block it already has
//!     assign_ipv6_on_creation: true
//!     dns64: false
//!     aaaa_records_on_launch: true
//! ```
//! AWS rejects an IPv6 flag on a subnet whose block is not yet associated, so
//! [`Spec::check`] always orders every association before any flag, and the
//! association's `settle` waits for `associated` before the next change runs:
//! the ordering bug of older Terraform providers cannot happen. Each flag is
//! its own ModifySubnetAttribute call (AWS takes one attribute per call).
//! Rollback runs in reverse: flags back to their recorded values (so
//! AssignIpv6AddressOnCreation is off) before the blocks are disassociated.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use super::{resolve, Description, Outcome, Step, StepCx, StepError};
use crate::aws::wait::Probe;
use crate::aws::{association_probe, disassociation_probe, label, AssocState, Ipv6Block, Network, Scope, SubnetFlag};
use crate::ipv6::Ipv6Net;
use crate::runbook::{Pos, Ref, ValidateCx};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Raw {
    pub subnets: Vec<RawEntry>,
    pub assign_ipv6_on_creation: Option<bool>,
    pub dns64: Option<bool>,
    pub aaaa_records_on_launch: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawEntry {
    pub subnet: String,
    pub index: Option<u32>,
    pub cidr: Option<String>,
}

/// Which /64 a subnet gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Block {
    /// The n-th /64 of the VPC's block.
    Index(u32, Pos),
    Cidr(Ipv6Net, Pos),
    /// None requested: the subnet keeps the block it has (or has none).
    Existing,
}

#[derive(Debug)]
pub struct Entry {
    pub subnet: Ref,
    pub block: Block,
}

#[derive(Debug)]
pub struct Spec {
    pub entries: Vec<Entry>,
    pub flags: Vec<(SubnetFlag, bool, Pos)>,
    pub at: Pos,
}

impl Spec {
    pub fn validate(raw: Raw, path: &str, cx: &mut ValidateCx) -> Option<Spec> {
        let errors_before = cx.error_count();
        let mut entries = Vec::new();
        let mut seen_subnets = HashSet::new();
        let mut seen_blocks = HashSet::new();
        if raw.subnets.is_empty() {
            cx.error(&format!("{path}.subnets"), "`subnets` is empty");
        }
        for (i, e) in raw.subnets.into_iter().enumerate() {
            let p = format!("{path}.subnets[{i}]");
            if !seen_subnets.insert(e.subnet.clone()) {
                cx.error(&format!("{p}.subnet"), format!("subnet `{}` is listed twice", e.subnet));
            }
            let block = match (e.index, e.cidr) {
                (Some(_), Some(_)) => {
                    cx.error(&format!("{p}.cidr"), "`index` and `cidr` are alternatives")
                        .set_help("give the /64's number inside the VPC block, or the /64 itself");
                    continue;
                }
                (Some(n), None) => Block::Index(n, cx.at(&format!("{p}.index"))),
                (None, Some(text)) => match text.parse::<Ipv6Net>() {
                    Ok(c) if c.prefix() == 64 => Block::Cidr(c, cx.at(&format!("{p}.cidr"))),
                    Ok(c) => {
                        cx.error(&format!("{p}.cidr"), format!("{c} is a /{}; a subnet's IPv6 block is a /64", c.prefix()));
                        continue;
                    }
                    Err(err) => {
                        cx.error(&format!("{p}.cidr"), err.to_string());
                        continue;
                    }
                },
                (None, None) => Block::Existing,
            };
            let key = match block {
                Block::Index(n, _) => Some(format!("index {n}")),
                Block::Cidr(c, _) => Some(c.to_string()),
                Block::Existing => None,
            };
            if let Some(k) = key
                && !seen_blocks.insert(k.clone())
            {
                cx.error(&p, format!("{k} is given to two subnets"));
            }
            entries.push(Entry { subnet: cx.reference(&format!("{p}.subnet"), &e.subnet), block });
        }
        let mut flags = Vec::new();
        for (flag, value, key) in [
            (SubnetFlag::AssignIpv6AddressOnCreation, raw.assign_ipv6_on_creation, "assign_ipv6_on_creation"),
            (SubnetFlag::EnableDns64, raw.dns64, "dns64"),
            (SubnetFlag::EnableResourceNameDnsAaaaRecordOnLaunch, raw.aaaa_records_on_launch, "aaaa_records_on_launch"),
        ] {
            if let Some(v) = value {
                flags.push((flag, v, cx.at(&format!("{path}.{key}"))));
            }
        }
        if flags.is_empty() && entries.iter().all(|e| e.block == Block::Existing) {
            cx.error(path, "this step changes nothing").set_help("give subnets an `index` or `cidr`, or set a flag");
        }
        (cx.error_count() == errors_before).then_some(Spec { entries, flags, at: cx.at(path) })
    }

    /// The `index` entries and where they are written.
    pub fn indexes(&self) -> impl Iterator<Item = (u32, Pos)> + '_ {
        self.entries.iter().filter_map(|e| match e.block {
            Block::Index(n, at) => Some((n, at)),
            _ => None,
        })
    }

    /// Whether the step carves blocks out of the VPC's block.
    pub fn needs_vpc_block(&self) -> bool {
        self.entries.iter().any(|e| matches!(e.block, Block::Index(..)))
    }
}

impl Step for Spec {
    fn iam_actions(&self) -> Vec<&'static str> {
        vec!["ec2:AssociateSubnetCidrBlock", "ec2:DisassociateSubnetCidrBlock", "ec2:ModifySubnetAttribute"]
    }

    fn kind(&self) -> &'static str {
        "subnet_ipv6"
    }

    fn check(&self, net: &Network) -> Result<Vec<super::Change>, StepError> {
        let vpc_block = net.vpc.ipv6_block();
        let mut associations = Vec::new();
        let mut flags = Vec::new();
        for entry in &self.entries {
            let s = resolve::subnet(net, &entry.subnet)?;
            let subnet = label(&s.id, s.name.as_deref());
            // The /64 the runbook asks for: known, or (in a plan, before the
            // VPC block exists) only its index.
            let (want, index) = match entry.block {
                Block::Existing => (None, None),
                Block::Index(n, at) => {
                    let Some(vb) = vpc_block else {
                        return Err(StepError::precondition(at, format!("{} has no IPv6 block to carve /64 number {n} from", net.vpc.id))
                            .with_help("add a `vpc_ipv6_cidr` step before this one"));
                    };
                    match vb.cidr {
                        Some(vc) => match vc.subnet(64, u128::from(n)) {
                            Some(c) => (Some(c), Some(n)),
                            None => {
                                let max = vc.subnet_count(64).map_or(0, |c| c - 1);
                                return Err(StepError::precondition(at, format!("index {n} does not fit {vc}: it holds /64s number 0 to {max}")));
                            }
                        },
                        None => {
                            if n > 255 {
                                return Err(StepError::precondition(at, format!("index {n} does not fit a /56: it holds /64s number 0 to 255")));
                            }
                            (None, Some(n))
                        }
                    }
                }
                Block::Cidr(c, at) => {
                    match vpc_block {
                        None => {
                            return Err(StepError::precondition(at, format!("{} has no IPv6 block to hold {c}", net.vpc.id))
                                .with_help("add a `vpc_ipv6_cidr` step before this one"));
                        }
                        Some(Ipv6Block { cidr: Some(vc), .. }) if !vc.contains_net(&c) => {
                            return Err(StepError::precondition(at, format!("{c} is not inside the VPC's IPv6 block {vc}")));
                        }
                        _ => {}
                    }
                    (Some(c), None)
                }
            };
            let has_block = match (s.ipv6_block(), entry.block) {
                (Some(b), Block::Index(_, at) | Block::Cidr(_, at)) => {
                    if let (Some(have), Some(w)) = (b.cidr, want)
                        && have != w
                    {
                        return Err(StepError::precondition(at, format!("{subnet} already has IPv6 block {have}; the runbook asks for {w}"))
                            .with_help(format!("a subnet holds one IPv6 block; use `cidr: \"{have}\"` or leave `index`/`cidr` out")));
                    }
                    true
                }
                (Some(_), Block::Existing) => true,
                (None, Block::Existing) => false,
                (None, _) => {
                    if let Some(w) = want
                        && let Some(other) = net.subnets.iter().find(|o| o.ipv6_blocks.iter().any(|b| b.state.is_live() && b.cidr == Some(w)))
                    {
                        return Err(StepError::precondition(
                            entry_pos(entry),
                            format!("{w} is already the block of {}", label(&other.id, other.name.as_deref())),
                        ));
                    }
                    associations.push(super::Change::SubnetIpv6(Change::AssociateBlock {
                        subnet_id: s.id.clone(),
                        subnet: subnet.clone(),
                        cidr: want,
                        index,
                    }));
                    true
                }
            };
            for &(flag, value, at) in &self.flags {
                let current = s.flag(flag);
                if current == value {
                    continue;
                }
                if value && !has_block {
                    return Err(StepError::precondition(
                        at,
                        format!("cannot turn on {} for {subnet}: it has no IPv6 block and this step gives it none", flag.api_name()),
                    )
                    .with_help("AWS rejects IPv6 flags on a subnet without an associated block (InvalidParameterValue); give the subnet an `index` or `cidr`"));
                }
                flags.push(super::Change::SubnetIpv6(Change::SetFlag {
                    subnet_id: s.id.clone(),
                    subnet: subnet.clone(),
                    flag,
                    value,
                    prior: current,
                }));
            }
        }
        // Every association strictly before any flag.
        associations.extend(flags);
        Ok(associations)
    }

    fn settle_scope(&self) -> Scope {
        Scope::SUBNETS
    }

    fn settled(&self, net: &Network) -> Probe {
        for entry in &self.entries {
            let Ok(s) = resolve::subnet(net, &entry.subnet) else { continue };
            let block = s.ipv6_block();
            if block.is_none() && matches!(entry.block, Block::Existing) {
                continue;
            }
            match association_probe(block) {
                Probe::Ready => {}
                Probe::Pending(why) => return Probe::Pending(format!("{} IPv6 block: {why}", label(&s.id, s.name.as_deref()))),
                Probe::Terminal(why) => return Probe::Terminal(format!("{} IPv6 block: {why}", label(&s.id, s.name.as_deref()))),
            }
        }
        Probe::Ready
    }
}

fn entry_pos(e: &Entry) -> Pos {
    match e.block {
        Block::Index(_, at) | Block::Cidr(_, at) => at,
        Block::Existing => e.subnet.at,
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Change {
    AssociateBlock {
        subnet_id: String,
        subnet: String,
        /// `None` only in a plan made before the VPC's block exists.
        cidr: Option<Ipv6Net>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        index: Option<u32>,
    },
    SetFlag {
        subnet_id: String,
        subnet: String,
        flag: SubnetFlag,
        value: bool,
        prior: bool,
    },
}

#[async_trait::async_trait]
impl super::ChangeKind for Change {
    fn scope(&self) -> Scope {
        Scope::SUBNETS
    }

    fn concurrency_key(&self) -> Option<String> {
        let (Change::AssociateBlock { subnet_id, .. } | Change::SetFlag { subnet_id, .. }) = self;
        Some(subnet_id.clone())
    }

    fn undo_key(&self) -> Option<String> {
        match self {
            Change::SetFlag { subnet_id, flag, .. } => Some(format!("flag {subnet_id} {flag:?}")),
            Change::AssociateBlock { .. } => None,
        }
    }

    /// Flags go back first, so that no new interface gets IPv6; blocks last.
    fn undo_phase(&self) -> super::UndoPhase {
        match self {
            Change::SetFlag { .. } => super::UndoPhase::Flags,
            Change::AssociateBlock { .. } => super::UndoPhase::Blocks,
        }
    }

    /// An IPv6 flag needs the subnet's block `associated`, not `associating`.
    fn needs_settled(&self) -> bool {
        matches!(self, Change::SetFlag { .. })
    }

    fn describe(&self) -> Description {
        match self {
            Change::AssociateBlock { subnet_id, subnet, cidr, index } => {
                let block = match (cidr, index) {
                    (Some(c), _) => c.to_string(),
                    (None, Some(n)) => format!("(/64 number {n} of the VPC's new block)"),
                    (None, None) => "?".into(),
                };
                Description {
                    call: "ec2:AssociateSubnetCidrBlock",
                    args: format!("SubnetId={subnet_id} Ipv6CidrBlock={block}"),
                    resource: subnet.clone(),
                    attribute: "IPv6 block".into(),
                    current: "none".into(),
                    desired: block,
                }
            }
            Change::SetFlag { subnet_id, subnet, flag, value, prior } => Description {
                call: "ec2:ModifySubnetAttribute",
                args: format!("SubnetId={subnet_id} {}.Value={value}", flag.api_name()),
                resource: subnet.clone(),
                attribute: flag.api_name().into(),
                current: prior.to_string(),
                desired: value.to_string(),
            },
        }
    }

    fn project(&self, net: &mut Network) {
        match self {
            Change::AssociateBlock { subnet_id, cidr, .. } => {
                if let Some(s) = net.subnet_mut(subnet_id) {
                    s.ipv6_blocks.push(Ipv6Block { association_id: "(planned)".into(), cidr: *cidr, state: AssocState::Planned });
                }
            }
            Change::SetFlag { subnet_id, flag, value, .. } => {
                if let Some(s) = net.subnet_mut(subnet_id) {
                    s.set_flag(*flag, *value);
                }
            }
        }
    }

    async fn apply(&self, cx: &StepCx<'_>) -> Result<Outcome, StepError> {
        match self {
            Change::AssociateBlock { subnet_id, cidr, .. } => {
                let cidr = cidr.ok_or_else(|| StepError::Verify(format!("no /64 known for {subnet_id}: the VPC block is not associated")))?;
                let b = cx.ec2.associate_subnet_ipv6(subnet_id, cidr).await?;
                Ok(Outcome { association_id: Some(b.association_id), cidr: Some(cidr), ..Outcome::default() })
            }
            Change::SetFlag { subnet_id, flag, value, .. } => {
                cx.ec2.set_subnet_flag(subnet_id, *flag, *value).await?;
                Ok(Outcome::default())
            }
        }
    }

    /// An association is `associating` first; no flag may be set until it
    /// is `associated`.
    fn reconcile(&self, net: &Network) -> Option<Outcome> {
        match self {
            Change::AssociateBlock { subnet_id, cidr, .. } => {
                let b = net.subnet(subnet_id)?.ipv6_block()?;
                (cidr.is_none() || b.cidr == *cidr).then(|| Outcome {
                    association_id: Some(b.association_id.clone()),
                    cidr: b.cidr,
                    ..Outcome::default()
                })
            }
            Change::SetFlag { subnet_id, flag, value, .. } => {
                (net.subnet(subnet_id)?.flag(*flag) == *value).then(Outcome::default)
            }
        }
    }

    async fn undo(&self, cx: &StepCx<'_>, outcome: &Outcome, net: &Network) -> Result<(), StepError> {
        match self {
            Change::SetFlag { subnet_id, flag, prior, .. } => {
                if net.subnet(subnet_id).is_some_and(|s| s.flag(*flag) != *prior) {
                    cx.ec2.set_subnet_flag(subnet_id, *flag, *prior).await?;
                }
                Ok(())
            }
            Change::AssociateBlock { subnet_id, .. } => {
                let Some(id) = &outcome.association_id else { return Ok(()) };
                let present = net
                    .subnet(subnet_id)
                    .is_some_and(|s| s.ipv6_blocks.iter().any(|b| &b.association_id == id && b.state.is_live()));
                // A subnet that still assigns IPv6 on creation keeps its block in
                // use for good: that is AWS's refusal to report, not to wait out.
                let assigns = net.subnet(subnet_id).is_some_and(|s| s.flag(SubnetFlag::AssignIpv6AddressOnCreation));
                if present && assigns {
                    cx.ec2.disassociate_subnet_ipv6(id).await?;
                } else if present {
                    disassociate_when_free(cx, subnet_id, id, outcome.cidr).await?;
                }
                cx.waiter
                    .until(&format!("{subnet_id} IPv6 block {id} to be disassociated"), || async {
                        let subnets = cx.ec2.subnets(cx.vpc_id).await?;
                        let block = subnets
                            .iter()
                            .find(|s| &s.id == subnet_id)
                            .and_then(|s| s.ipv6_blocks.iter().find(|b| &b.association_id == id));
                        Ok(disassociation_probe(block))
                    })
                    .await?;
                Ok(())
            }
        }
    }
}

/// DisassociateSubnetCidrBlock once no interface holds an address of the
/// block: AWS refuses it before (`InvalidCidrBlock.InUse`), and a stopped
/// Fargate task's interface lingers for a while after the task is gone. The
/// wait reads which interfaces still hold addresses and names them; it is
/// bounded by the waiter's deadline, and an `InUse` answer (an interface
/// this read did not see yet) is waited out the same way.
async fn disassociate_when_free(cx: &StepCx<'_>, subnet_id: &str, id: &str, cidr: Option<Ipv6Net>) -> Result<(), StepError> {
    let what = format!("{subnet_id} IPv6 block {id} to be free of interfaces");
    let start = std::time::Instant::now();
    let mut interval = std::time::Duration::from_millis(500);
    let mut announced = false;
    loop {
        let (_, interfaces) = cx.ec2.compute(cx.vpc_id).await?;
        let holding: Vec<String> = interfaces
            .iter()
            .filter(|i| i.subnet_id == subnet_id)
            .filter(|i| i.ipv6_addresses.iter().any(|a| a.parse::<std::net::Ipv6Addr>().is_ok_and(|a| cidr.is_none_or(|c| c.contains_addr(a)))))
            .map(|i| format!("{} ({})", i.id, i.description.as_deref().unwrap_or("no description")))
            .collect();
        let out_of_time = start.elapsed() >= cx.waiter.deadline;
        if holding.is_empty() || out_of_time {
            match cx.ec2.disassociate_subnet_ipv6(id).await {
                Ok(()) => return Ok(()),
                Err(e) if e.code() == "InvalidCidrBlock.InUse" && !out_of_time => {}
                Err(e) => return Err(e.into()),
            }
        }
        if !announced {
            let holders = if holding.is_empty() { "an interface AWS still counts".to_string() } else { holding.join(", ") };
            cx.events.emit(crate::engine::events::Event::Waiting {
                step: cx.step.to_string(),
                what: format!("{what}: {holders}"),
                deadline_secs: Some(cx.waiter.deadline.as_secs()),
            });
            announced = true;
        }
        tokio::time::sleep(interval).await;
        interval = (interval * 2).min(cx.waiter.max_interval);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::{Subnet, Vpc};
    use crate::runbook::parse;
    use crate::steps::StepSpec;

    fn spec(yaml_steps: &str) -> Spec {
        let text = format!("version: 1\nname: t\nvpc: v\nsteps:\n{yaml_steps}");
        let rb = parse(std::path::Path::new("t.yaml"), text, String::new()).unwrap();
        match rb.steps.into_iter().next().unwrap().spec {
            StepSpec::SubnetIpv6(s) => s,
            other => panic!("{other:?}"),
        }
    }

    fn net(vpc_block: Option<&str>) -> Network {
        let block = |c: &str| Ipv6Block { association_id: "a".into(), cidr: Some(c.parse().unwrap()), state: AssocState::Associated };
        Network {
            vpc: Vpc { id: "vpc-1".into(), ipv6_blocks: vpc_block.map(block).into_iter().collect(), ..Vpc::default() },
            subnets: ["subnet-a", "subnet-b"]
                .iter()
                .map(|id| Subnet { id: id.to_string(), name: Some(id.replace("subnet-", "app-")), ..Subnet::default() })
                .collect(),
            ..Network::default()
        }
    }

    #[test]
    fn every_association_comes_before_any_flag() {
        let s = spec("  - id: s\n    subnet_ipv6:\n      subnets: [{subnet: app-a, index: 1}, {subnet: subnet-b, index: 2}]\n      assign_ipv6_on_creation: true\n      dns64: true\n");
        let changes = s.check(&net(Some("2406:da14:abc:de00::/56"))).unwrap();
        let kinds: Vec<&str> = changes.iter().map(|c| c.describe().call).collect();
        assert_eq!(kinds[..2], ["ec2:AssociateSubnetCidrBlock"; 2]);
        assert!(kinds[2..].iter().all(|k| *k == "ec2:ModifySubnetAttribute"), "{kinds:?}");
        assert_eq!(changes[0].describe().desired, "2406:da14:abc:de01::/64");
        // Projected, the same check finds nothing left to do.
        let mut n = net(Some("2406:da14:abc:de00::/56"));
        for c in &changes {
            c.project(&mut n);
        }
        assert!(s.check(&n).unwrap().is_empty());
    }

    #[test]
    fn a_flag_on_a_subnet_without_a_block_is_refused_at_its_line() {
        let s = spec("  - id: s\n    subnet_ipv6:\n      subnets: [{subnet: app-a}]\n      assign_ipv6_on_creation: true\n");
        match s.check(&net(Some("2406:da14:abc:de00::/56"))) {
            Err(StepError::Precondition { at: Some(at), message, .. }) => {
                assert_eq!(at.line, 8);
                assert!(message.contains("no IPv6 block"), "{message}");
            }
            other => panic!("{other:?}"),
        }
    }
}
