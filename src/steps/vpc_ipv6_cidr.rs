//! `vpc_ipv6_cidr`: give the VPC an IPv6 block (AWS's first step; everything
//! else depends on it).
//!
//! ```yaml
//! - id: vpc-ipv6
//!   vpc_ipv6_cidr: {}            # Amazon-provided /56
//!   # or: { ipv6_pool: ipv6pool-ec2-..., ipv6_cidr_block: "2001:db8:1200::/56" }   (BYOIP)
//!   # or: { ipam_pool: ipam-pool-..., netmask_length: 56 }
//! ```
//! Apply: AssociateVpcCidrBlock, then wait until `associated`. Rollback:
//! DisassociateVpcCidrBlock, only for the block this run associated.

use serde::{Deserialize, Serialize};

use super::{Description, Outcome, Step, StepCx, StepError};
use crate::aws::wait::Probe;
use crate::aws::{association_probe, disassociation_probe, label, AssocState, Ipv6Block, Network, Scope, VpcIpv6Source};
use crate::ipv6::Ipv6Net;
use crate::runbook::{Pos, ValidateCx};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Raw {
    pub ipv6_pool: Option<String>,
    pub ipv6_cidr_block: Option<String>,
    pub ipam_pool: Option<String>,
    pub netmask_length: Option<u8>,
}

#[derive(Debug)]
pub struct Spec {
    pub source: VpcIpv6Source,
    pub at: Pos,
}

impl Spec {
    pub fn validate(raw: Raw, path: &str, cx: &mut ValidateCx) -> Option<Spec> {
        let at = cx.at(path);
        let cidr = match &raw.ipv6_cidr_block {
            None => None,
            Some(text) => match text.parse::<Ipv6Net>() {
                Ok(c) => Some(c),
                Err(e) => {
                    cx.error(&format!("{path}.ipv6_cidr_block"), e.to_string());
                    return None;
                }
            },
        };
        let source = match (raw.ipv6_pool, raw.ipam_pool) {
            (Some(_), Some(_)) => {
                cx.error(&format!("{path}.ipam_pool"), "`ipv6_pool` and `ipam_pool` are alternatives")
                    .set_help("use ipv6_pool for BYOIP, ipam_pool for an IPAM pool, neither for an Amazon-provided /56");
                return None;
            }
            (Some(pool), None) => VpcIpv6Source::Pool { pool, cidr },
            (None, Some(pool)) => VpcIpv6Source::Ipam { pool, netmask_length: raw.netmask_length },
            (None, None) => {
                if cidr.is_some() || raw.netmask_length.is_some() {
                    cx.error(path, "`ipv6_cidr_block` and `netmask_length` need a pool")
                        .set_help("add ipv6_pool (BYOIP) or ipam_pool; an Amazon-provided block is always a /56");
                    return None;
                }
                VpcIpv6Source::Amazon
            }
        };
        Some(Spec { source, at })
    }

    /// The prefix length the new block will have, when it is known offline.
    pub fn planned_prefix(&self) -> Option<u8> {
        match &self.source {
            VpcIpv6Source::Amazon => Some(56),
            VpcIpv6Source::Pool { cidr, .. } => cidr.map(|c| c.prefix()),
            VpcIpv6Source::Ipam { netmask_length, .. } => *netmask_length,
        }
    }
}

impl Step for Spec {
    fn iam_actions(&self) -> Vec<&'static str> {
        vec!["ec2:AssociateVpcCidrBlock", "ec2:DisassociateVpcCidrBlock"]
    }

    fn kind(&self) -> &'static str {
        "vpc_ipv6_cidr"
    }

    fn check(&self, net: &Network) -> Result<Vec<super::Change>, StepError> {
        if let Some(existing) = net.vpc.ipv6_block() {
            if let (VpcIpv6Source::Pool { cidr: Some(want), .. }, Some(have)) = (&self.source, existing.cidr)
                && *want != have
            {
                return Err(StepError::precondition(
                    self.at,
                    format!("{} already has IPv6 block {have}; the runbook asks for {want}", net.vpc.id),
                )
                .with_help("a VPC takes one IPv6 block here; change the runbook to the existing block"));
            }
            return Ok(vec![]);
        }
        Ok(vec![super::Change::VpcIpv6Cidr(Change::Associate {
            vpc_id: net.vpc.id.clone(),
            vpc: label(&net.vpc.id, net.vpc.name.as_deref()),
            source: self.source.clone(),
            prior: net.vpc.ipv6_blocks.iter().map(|b| b.association_id.clone()).collect(),
        })])
    }

    fn settled(&self, net: &Network) -> Probe {
        match net.vpc.ipv6_block() {
            Some(b) if b.state == AssocState::Associated => Probe::Ready,
            Some(b) => Probe::Pending(format!("VPC IPv6 block is {:?}", b.state)),
            None => Probe::Pending("VPC has no IPv6 block".into()),
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Change {
    Associate {
        vpc_id: String,
        vpc: String,
        source: VpcIpv6Source,
        /// Associations that existed before (all states), so that the one
        /// this run made can be told apart after a crash.
        prior: Vec<String>,
    },
}

#[async_trait::async_trait]
impl super::ChangeKind for Change {
    fn undo_phase(&self) -> super::UndoPhase {
        super::UndoPhase::Blocks
    }

    fn scope(&self) -> Scope {
        Scope::VPC
    }

    fn describe(&self) -> Description {
        let Change::Associate { vpc_id, vpc, source, .. } = self;
        let (args, desired) = match source {
            VpcIpv6Source::Amazon => ("AmazonProvidedIpv6CidrBlock=true".to_string(), "Amazon-provided /56".to_string()),
            VpcIpv6Source::Pool { pool, cidr } => (
                format!("Ipv6Pool={pool}{}", cidr.map(|c| format!(" Ipv6CidrBlock={c}")).unwrap_or_default()),
                cidr.map_or_else(|| format!("a block from {pool}"), |c| c.to_string()),
            ),
            VpcIpv6Source::Ipam { pool, netmask_length } => (
                format!("Ipv6IpamPoolId={pool}{}", netmask_length.map(|n| format!(" Ipv6NetmaskLength={n}")).unwrap_or_default()),
                format!("a /{} from IPAM pool {pool}", netmask_length.map_or("?".into(), |n| n.to_string())),
            ),
        };
        Description {
            call: "ec2:AssociateVpcCidrBlock",
            args: format!("VpcId={vpc_id} {args}"),
            resource: vpc.clone(),
            attribute: "IPv6 block".into(),
            current: "none".into(),
            desired,
        }
    }

    fn project(&self, net: &mut Network) {
        let Change::Associate { source, .. } = self;
        let cidr = match source {
            VpcIpv6Source::Pool { cidr, .. } => *cidr,
            _ => None,
        };
        net.vpc.ipv6_blocks.push(Ipv6Block { association_id: "(planned)".into(), cidr, state: AssocState::Planned });
        for acl in &mut net.network_acls {
            acl.add_aws_ipv6_defaults();
        }
    }

    async fn apply(&self, cx: &StepCx<'_>) -> Result<Outcome, StepError> {
        let Change::Associate { vpc_id, source, .. } = self;
        let b = cx.ec2.associate_vpc_ipv6(vpc_id, source).await?;
        Ok(Outcome { association_id: Some(b.association_id), cidr: b.cidr, ..Outcome::default() })
    }

    async fn settle(&self, cx: &StepCx<'_>, outcome: &Outcome) -> Result<(), StepError> {
        let Change::Associate { vpc_id, .. } = self;
        let id = outcome.association_id.clone().unwrap_or_default();
        cx.events.emit(crate::engine::events::Event::Waiting {
            step: cx.step.to_string(),
            what: format!("{vpc_id} IPv6 block {id} to be associated"),
            deadline_secs: Some(cx.waiter.deadline.as_secs()),
        });
        cx.waiter
            .until(&format!("{vpc_id} IPv6 block {id} to be associated"), || async {
                let vpc = cx.ec2.vpc(vpc_id).await?;
                Ok(association_probe(vpc.ipv6_blocks.iter().find(|b| b.association_id == id)))
            })
            .await?;
        Ok(())
    }

    fn reconcile(&self, net: &Network) -> Option<Outcome> {
        let Change::Associate { prior, .. } = self;
        net.vpc
            .ipv6_blocks
            .iter()
            .find(|b| b.state.is_live() && !prior.contains(&b.association_id))
            .map(|b| Outcome { association_id: Some(b.association_id.clone()), cidr: b.cidr, ..Outcome::default() })
    }

    async fn undo(&self, cx: &StepCx<'_>, outcome: &Outcome, net: &Network) -> Result<(), StepError> {
        let Change::Associate { vpc_id, .. } = self;
        let Some(id) = &outcome.association_id else { return Ok(()) };
        let present = net.vpc.ipv6_blocks.iter().any(|b| &b.association_id == id && b.state.is_live());
        if present {
            cx.ec2.disassociate_vpc_ipv6(id).await?;
        }
        cx.waiter
            .until(&format!("{vpc_id} IPv6 block {id} to be disassociated"), || async {
                let vpc = cx.ec2.vpc(vpc_id).await?;
                Ok(disassociation_probe(vpc.ipv6_blocks.iter().find(|b| &b.association_id == id)))
            })
            .await?;
        Ok(())
    }
}
