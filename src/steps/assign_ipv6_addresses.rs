//! `assign_ipv6_addresses`: give running backends an IPv6 address.
//!
//! Only new network interfaces get IPv6 from an assign-on-creation subnet;
//! instances already running keep IPv4 only, and an IPv6 target group cannot
//! reach them.
//!
//! ```yaml
//! - id: backend-addresses
//!   assign_ipv6_addresses:
//!     targets_of: [redash-blue, redash-green]    # instances / ENIs registered in these groups
//!     instances: [i-0abc]                        # and/or instance IDs or Name tags
//! ```
//! For each selected primary interface without an IPv6 address:
//! AssignIpv6Addresses (one address from its subnet's block), recording the
//! address; rollback unassigns exactly the addresses this run assigned. An
//! interface in a subnet with no IPv6 block, or an instance type without IPv6
//! support, is an error before anything changes.

use serde::{Deserialize, Serialize};

use super::{resolve, Description, Outcome, Step, StepCx, StepError};
use crate::aws::{AssocState, Interface, Network, Scope};
use crate::runbook::{Pos, Ref, ValidateCx};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Raw {
    #[serde(default)]
    pub targets_of: Vec<String>,
    #[serde(default)]
    pub instances: Vec<String>,
}

#[derive(Debug)]
pub struct Spec {
    pub targets_of: Vec<Ref>,
    pub instances: Vec<Ref>,
    pub at: Pos,
}

impl Spec {
    pub fn validate(raw: Raw, path: &str, cx: &mut ValidateCx) -> Option<Spec> {
        if raw.targets_of.is_empty() && raw.instances.is_empty() {
            cx.error(path, "this step selects nothing").set_help("list target groups under `targets_of` or instances under `instances`");
            return None;
        }
        Some(Spec {
            targets_of: raw.targets_of.iter().enumerate().map(|(i, t)| cx.reference(&format!("{path}.targets_of[{i}]"), t)).collect(),
            instances: raw.instances.iter().enumerate().map(|(i, t)| cx.reference(&format!("{path}.instances[{i}]"), t)).collect(),
            at: cx.at(path),
        })
    }

    /// The selected interfaces, each with what selected it (for messages).
    fn interfaces<'n>(&self, net: &'n Network) -> Result<Vec<(&'n Interface, String, Pos)>, StepError> {
        let mut out: Vec<(&Interface, String, Pos)> = Vec::new();
        let mut push = |i: &'n Interface, why: String, at: Pos| {
            if !out.iter().any(|(o, _, _)| o.id == i.id) {
                out.push((i, why, at));
            }
        };
        for r in &self.targets_of {
            let tg = resolve::target_group_or_replacement(net, r)?;
            for t in &tg.targets {
                let eni = match tg.target_type.as_str() {
                    "instance" => net.primary_interface(&t.id),
                    "ip" => net.interface_with_ip(&t.id),
                    other => {
                        return Err(StepError::precondition(r.at, format!("{} has {other} targets, which have no interface to give an address", tg.name)));
                    }
                };
                match eni {
                    Some(i) => push(i, format!("target {} of {}", t.id, tg.name), r.at),
                    None => return Err(StepError::precondition(r.at, format!("target {} of {} has no network interface in {}", t.id, tg.name, net.vpc.id))),
                }
            }
        }
        for r in &self.instances {
            let inst = resolve::instance(net, r)?;
            match net.primary_interface(&inst.id) {
                Some(i) => push(i, format!("instance {}", inst.id), r.at),
                None => return Err(StepError::precondition(r.at, format!("instance {} has no network interface", inst.id))),
            }
        }
        Ok(out)
    }
}

impl Step for Spec {
    fn iam_actions(&self) -> Vec<&'static str> {
        vec!["ec2:AssignIpv6Addresses", "ec2:UnassignIpv6Addresses"]
    }

    fn kind(&self) -> &'static str {
        "assign_ipv6_addresses"
    }

    fn scope(&self) -> Scope {
        Scope::ALL
    }

    fn check(&self, net: &Network) -> Result<Vec<super::Change>, StepError> {
        let mut changes = Vec::new();
        for (eni, why, at) in self.interfaces(net)? {
            if !eni.ipv6_addresses.is_empty() {
                continue;
            }
            let block = net.subnet(&eni.subnet_id).and_then(|s| s.ipv6_block());
            if !block.is_some_and(|b| matches!(b.state, AssocState::Associated | AssocState::Planned)) {
                return Err(StepError::precondition(at, format!("{why} ({}) is in {}, which has no IPv6 block", eni.id, eni.subnet_id))
                    .with_help("give the subnet a block in a `subnet_ipv6` step before this one"));
            }
            if let Some(inst) = eni.instance_id.as_deref().and_then(|id| net.instance(id))
                && inst.ipv6_supported == Some(false)
            {
                return Err(StepError::precondition(at, format!("{why}: instance type {} of {} does not support IPv6", inst.instance_type, inst.id))
                    .with_help("move the instance to a current generation type first"));
            }
            changes.push(super::Change::AssignIpv6Addresses(Change::AssignAddress {
                interface_id: eni.id.clone(),
                selected_as: why,
                prior: eni.ipv6_addresses.clone(),
            }));
        }
        Ok(changes)
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Change {
    AssignAddress { interface_id: String, selected_as: String, prior: Vec<String> },
}

/// Placeholder for an address a plan would assign.
pub fn planned_address(interface_id: &str) -> String {
    format!("(new IPv6 of {interface_id})")
}

#[async_trait::async_trait]
impl super::ChangeKind for Change {
    fn scope(&self) -> Scope {
        Scope::COMPUTE
    }

    fn concurrency_key(&self) -> Option<String> {
        let Change::AssignAddress { interface_id, .. } = self;
        Some(interface_id.clone())
    }

    fn describe(&self) -> Description {
        let Change::AssignAddress { interface_id, selected_as, .. } = self;
        Description {
            call: "ec2:AssignIpv6Addresses",
            args: format!("NetworkInterfaceId={interface_id} Ipv6AddressCount=1"),
            resource: format!("{interface_id} ({selected_as})"),
            attribute: "IPv6 address".into(),
            current: "none".into(),
            desired: "one from the subnet's block".into(),
        }
    }

    fn project(&self, net: &mut Network) {
        let Change::AssignAddress { interface_id, .. } = self;
        if let Some(i) = net.interfaces.iter_mut().find(|i| &i.id == interface_id) {
            i.ipv6_addresses.push(planned_address(interface_id));
        }
    }

    async fn apply(&self, cx: &StepCx<'_>) -> Result<Outcome, StepError> {
        let Change::AssignAddress { interface_id, .. } = self;
        let address = cx.ec2.assign_ipv6_address(interface_id).await?;
        Ok(Outcome { resource_id: Some(address), ..Outcome::default() })
    }

    fn reconcile(&self, net: &Network) -> Option<Outcome> {
        let Change::AssignAddress { interface_id, prior, .. } = self;
        let new = net.interface(interface_id)?.ipv6_addresses.iter().find(|a| !prior.contains(a))?;
        Some(Outcome { resource_id: Some(new.clone()), ..Outcome::default() })
    }

    async fn undo(&self, cx: &StepCx<'_>, outcome: &Outcome, net: &Network) -> Result<(), StepError> {
        let Change::AssignAddress { interface_id, .. } = self;
        let Some(address) = &outcome.resource_id else { return Ok(()) };
        if net.interface(interface_id).is_some_and(|i| i.ipv6_addresses.contains(address)) {
            cx.ec2.unassign_ipv6_address(interface_id, address).await?;
        }
        Ok(())
    }
}
