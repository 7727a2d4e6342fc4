//! `load_balancer_ip_type`: a load balancer to `dualstack` (or
//! `dualstack-without-public-ipv4`, which is what removes the public IPv4
//! addresses and their cost).
//!
//! ```yaml
//! - id: alb
//!   load_balancer_ip_type:
//!     load_balancer: redash                  # name or ARN
//!     ip_address_type: dualstack             # or dualstack-without-public-ipv4
//!   gate: { checks: [site-v6], bake: 30s }
//! ```
//! Checked before the call, as AWS would reject it: every subnet of the load
//! balancer has an *associated* IPv6 block; `dualstack-without-public-ipv4`
//! only on an internet-facing application load balancer; no UDP listener on
//! a dual-stack network load balancer. A warning names listener ports that
//! the load balancer's security groups do not open to IPv6. Rollback restores
//! the recorded type.

use serde::{Deserialize, Serialize};

use super::{resolve, Description, Outcome, Step, StepCx, StepError};
use crate::aws::{label, AssocState, LoadBalancer, Network, Scope};
use crate::runbook::{Pos, Ref, ValidateCx};

pub const TYPES: &[&str] = &["ipv4", "dualstack", "dualstack-without-public-ipv4"];

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Raw {
    pub load_balancer: String,
    pub ip_address_type: String,
}

#[derive(Debug)]
pub struct Spec {
    pub load_balancer: Ref,
    pub ip_address_type: String,
    pub at: Pos,
}

impl Spec {
    pub fn validate(raw: Raw, path: &str, cx: &mut ValidateCx) -> Option<Spec> {
        if !TYPES.contains(&raw.ip_address_type.as_str()) {
            cx.error(&format!("{path}.ip_address_type"), format!("unknown IP address type `{}`", raw.ip_address_type))
                .set_help(format!("one of {}", TYPES.join(", ")));
            return None;
        }
        Some(Spec {
            load_balancer: cx.reference(&format!("{path}.load_balancer"), &raw.load_balancer),
            ip_address_type: raw.ip_address_type,
            at: cx.at(path),
        })
    }
}

/// The load balancer's subnets that have (or, in a plan, will have) no
/// *associated* IPv6 block: AWS rejects dual-stack while any is left.
pub fn subnets_without_block(lb: &LoadBalancer, net: &Network) -> Vec<String> {
    lb.subnet_ids
        .iter()
        .filter(|id| !net.subnet(id).and_then(|s| s.ipv6_block()).is_some_and(|b| matches!(b.state, AssocState::Associated | AssocState::Planned)))
        .map(|id| net.subnet(id).map_or_else(|| id.clone(), |s| label(&s.id, s.name.as_deref())))
        .collect()
}

impl Step for Spec {
    fn iam_actions(&self) -> Vec<&'static str> {
        vec!["elasticloadbalancing:SetIpAddressType"]
    }

    fn findings(&self, net: &Network) -> Vec<crate::preflight::Finding> {
        crate::preflight::load_balancer::before_step(self, net)
    }

    fn kind(&self) -> &'static str {
        "load_balancer_ip_type"
    }

    fn scope(&self) -> Scope {
        Scope::NETWORK.union(Scope::LOAD_BALANCING)
    }

    fn check(&self, net: &Network) -> Result<Vec<super::Change>, StepError> {
        let lb = resolve::load_balancer(net, &self.load_balancer)?;
        if lb.ip_address_type == self.ip_address_type {
            return Ok(vec![]);
        }
        let at = self.load_balancer.at;
        if self.ip_address_type != "ipv4" {
            let lacking = subnets_without_block(lb, net);
            if !lacking.is_empty() {
                return Err(StepError::precondition(
                    at,
                    format!("{} cannot be {}: subnet(s) {} have no associated IPv6 block", lb.name, self.ip_address_type, lacking.join(", ")),
                )
                .with_help("AWS rejects this (ValidationError); give them a block in a `subnet_ipv6` step before this one"));
            }
            if lb.kind == "network" && lb.listeners.iter().any(|l| l.protocol.contains("UDP")) {
                return Err(StepError::precondition(at, format!("{} has UDP listeners: a network load balancer with UDP cannot be dual-stack", lb.name)));
            }
        }
        if self.ip_address_type == "dualstack-without-public-ipv4" && (lb.kind != "application" || lb.scheme != "internet-facing") {
            return Err(StepError::precondition(
                at,
                format!("{} is an {} {} load balancer; dualstack-without-public-ipv4 is only for internet-facing application load balancers", lb.name, lb.scheme, lb.kind),
            ));
        }
        Ok(vec![super::Change::LoadBalancerIpType(Change::SetIpAddressType {
            load_balancer_arn: lb.arn.clone(),
            load_balancer: lb.name.clone(),
            ip_address_type: self.ip_address_type.clone(),
            prior: lb.ip_address_type.clone(),
        })])
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Change {
    SetIpAddressType { load_balancer_arn: String, load_balancer: String, ip_address_type: String, prior: String },
}

#[async_trait::async_trait]
impl super::ChangeKind for Change {
    fn scope(&self) -> Scope {
        Scope::LOAD_BALANCERS
    }

    fn concurrency_key(&self) -> Option<String> {
        let Change::SetIpAddressType { load_balancer_arn, .. } = self;
        Some(load_balancer_arn.clone())
    }

    /// Back to ipv4 only once resolvers forgot the AAAA records the run
    /// withdrew: until then IPv6 clients still come.
    fn after_resolvers(&self) -> bool {
        true
    }

    fn undo_key(&self) -> Option<String> {
        let Change::SetIpAddressType { load_balancer_arn, .. } = self;
        Some(format!("ip-type {load_balancer_arn}"))
    }

    fn describe(&self) -> Description {
        let Change::SetIpAddressType { load_balancer_arn, load_balancer, ip_address_type, prior } = self;
        Description {
            call: "elasticloadbalancing:SetIpAddressType",
            args: format!("LoadBalancerArn={load_balancer_arn} IpAddressType={ip_address_type}"),
            resource: load_balancer.clone(),
            attribute: "IP address type".into(),
            current: prior.clone(),
            desired: ip_address_type.clone(),
        }
    }

    fn project(&self, net: &mut Network) {
        let Change::SetIpAddressType { load_balancer_arn, ip_address_type, .. } = self;
        if let Some(lb) = net.load_balancer_mut(load_balancer_arn) {
            lb.ip_address_type = ip_address_type.clone();
        }
    }

    async fn apply(&self, cx: &StepCx<'_>) -> Result<Outcome, StepError> {
        let Change::SetIpAddressType { load_balancer_arn, ip_address_type, .. } = self;
        cx.elb.set_ip_address_type(load_balancer_arn, ip_address_type).await?;
        Ok(Outcome::default())
    }

    fn reconcile(&self, net: &Network) -> Option<Outcome> {
        let Change::SetIpAddressType { load_balancer_arn, ip_address_type, .. } = self;
        (net.load_balancer(load_balancer_arn)?.ip_address_type == *ip_address_type).then(Outcome::default)
    }

    async fn undo(&self, cx: &StepCx<'_>, _outcome: &Outcome, net: &Network) -> Result<(), StepError> {
        let Change::SetIpAddressType { load_balancer_arn, prior, .. } = self;
        if net.load_balancer(load_balancer_arn).is_some_and(|lb| lb.ip_address_type != *prior) {
            cx.elb.set_ip_address_type(load_balancer_arn, prior).await?;
        }
        Ok(())
    }
}
