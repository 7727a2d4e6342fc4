//! Step kinds: one module each, holding the runbook syntax of the step, its
//! validation, and its check / apply / verify / rollback.
//!
//! The contract every step follows:
//! - **check** is pure: given a snapshot of the VPC it returns the [`Change`]s
//!   still missing, in the order they must happen, or an error for anything
//!   AWS would reject. Running it on the state it produced returns nothing,
//!   which is what makes `apply` idempotent and `resume` safe.
//! - each [`Change`] is journaled before its call. It knows how to **apply**
//!   itself (one mutating call), **settle** (wait for AWS to finish),
//!   **reconcile** (read state to learn whether a call whose answer was lost
//!   happened) and **undo** itself from what was recorded, touching nothing that
//!   was already there before the run.
//! - **verify** is the engine re-reading state until check finds nothing
//!   missing and the step says its resources have [`Step::settled`].
//!
//! Registering a new kind: a module here, a field on [`RawStep`], a variant of
//! [`StepSpec`] and of [`Change`].

pub mod assign_ipv6_addresses;
pub mod health_gate;
pub mod ipv6_default_route;
pub mod load_balancer_ip_type;
pub mod resolve;
pub mod security_group_ipv6;
pub mod target_group_ipv6;
pub mod subnet_ipv6;
pub mod vpc_ipv6_cidr;

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::aws::wait::{Probe, WaitError, Waiter};
use crate::aws::{AwsError, Ec2, Elbv2, Network, Scope};
use crate::engine::events::EventSink;
use crate::runbook::{Pos, StepId, ValidateCx};

/// What a step needs while it talks to AWS.
pub struct StepCx<'a> {
    pub ec2: &'a dyn Ec2,
    pub elb: &'a dyn Elbv2,
    pub events: &'a dyn EventSink,
    pub step: &'a StepId,
    pub vpc_id: &'a str,
    pub run_id: &'a str,
    /// For association and disassociation waits.
    pub waiter: &'a Waiter,
}

/// Why a step could not do its work.
#[derive(Debug, thiserror::Error)]
pub enum StepError {
    /// Something AWS would reject, found before any call was made.
    #[error("{message}")]
    Precondition { at: Option<Pos>, message: String, help: Option<String> },
    #[error(transparent)]
    Aws(#[from] AwsError),
    #[error(transparent)]
    Wait(#[from] WaitError),
    #[error("verification failed: {0}")]
    Verify(String),
    /// A health gate failed: the change did not hold up.
    #[error("{0}")]
    Gate(crate::health::GateFailure),
}

impl StepError {
    pub fn precondition(at: Pos, message: impl Into<String>) -> StepError {
        StepError::Precondition { at: Some(at), message: message.into(), help: None }
    }

    pub fn with_help(self, text: impl Into<String>) -> StepError {
        match self {
            StepError::Precondition { at, message, .. } => {
                StepError::Precondition { at, message, help: Some(text.into()) }
            }
            other => other,
        }
    }

    /// The call may have been applied even though it failed.
    pub fn is_ambiguous(&self) -> bool {
        matches!(self, StepError::Aws(e) if e.kind == crate::aws::FailureKind::Unknown)
    }
}

/// A configured step of a runbook.
pub trait Step: Send + Sync {
    fn kind(&self) -> &'static str;
    /// What of the VPC the step reads.
    fn scope(&self) -> Scope {
        Scope::NETWORK
    }
    /// Whether the step works in batches: the engine re-checks after each
    /// batch until nothing is left (each of the step's calls is idempotent).
    /// The next batch is decided on [`Change::project_applied`], so a
    /// converging step's changes must project exactly what AWS does; the
    /// engine reads what the step changed once, when the projection says it
    /// is done, and applies whatever that read still finds missing.
    fn converges(&self) -> bool {
        false
    }
    /// The mutating IAM actions the step's changes and their undo can call
    /// (for `plan --iam-policy`); reads are common to all steps.
    fn iam_actions(&self) -> Vec<&'static str> {
        Vec::new()
    }
    /// What is missing in `net`, in the order it must be applied.
    fn check(&self, net: &Network) -> Result<Vec<Change>, StepError>;
    /// Whether the step's resources have finished changing (for example an
    /// IPv6 block `associated` rather than `associating`). Called during verify.
    fn settled(&self, _net: &Network) -> Probe {
        Probe::Ready
    }
    /// What `settled` looks at (read again while waiting for it).
    fn settle_scope(&self) -> Scope {
        self.scope()
    }
}

/// What a change does, for plans, prompts and events.
#[derive(Clone, Debug, Serialize)]
pub struct Description {
    /// `ec2:AssociateSubnetCidrBlock`
    pub call: &'static str,
    /// The call's arguments, `SubnetId=subnet-1 Ipv6CidrBlock=2406:...::/64`.
    pub args: String,
    /// The resource changed, with its Name where it has one.
    pub resource: String,
    pub attribute: String,
    pub current: String,
    pub desired: String,
}

impl fmt::Display for Description {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}: {} -> {}", self.resource, self.attribute, self.current, self.desired)
    }
}

/// What AWS returned for an applied change: what undoing it needs.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Outcome {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub association_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cidr: Option<crate::ipv6::Ipv6Net>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_id: Option<String>,
}

/// One mutating call a step makes, with the prior values needed to undo it.
/// This is what the journal records before the call.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "kind", content = "change", rename_all = "snake_case")]
pub enum Change {
    VpcIpv6Cidr(vpc_ipv6_cidr::Change),
    SubnetIpv6(subnet_ipv6::Change),
    Ipv6DefaultRoute(ipv6_default_route::Change),
    SecurityGroupIpv6(security_group_ipv6::Change),
    AssignIpv6Addresses(assign_ipv6_addresses::Change),
    LoadBalancerIpType(load_balancer_ip_type::Change),
    TargetGroupIpv6(target_group_ipv6::Change),
}

impl Change {
    pub fn describe(&self) -> Description {
        match self {
            Change::VpcIpv6Cidr(c) => c.describe(),
            Change::SubnetIpv6(c) => c.describe(),
            Change::Ipv6DefaultRoute(c) => c.describe(),
            Change::SecurityGroupIpv6(c) => c.describe(),
            Change::AssignIpv6Addresses(c) => c.describe(),
            Change::LoadBalancerIpType(c) => c.describe(),
            Change::TargetGroupIpv6(c) => c.describe(),
        }
    }

    /// The resource this change modifies, when it can be applied together
    /// with the step's other changes on other resources: one call on one
    /// resource that no other change of the step depends on and that needs
    /// no waiting after it. `None`: applied on its own, in order (a create
    /// that later changes refer to, a traffic change, the VPC's block, which
    /// must settle before anything else). Changes with the same key keep
    /// their order.
    pub fn concurrency_key(&self) -> Option<String> {
        match self {
            Change::SubnetIpv6(subnet_ipv6::Change::AssociateBlock { subnet_id, .. } | subnet_ipv6::Change::SetFlag { subnet_id, .. }) => {
                Some(subnet_id.clone())
            }
            Change::Ipv6DefaultRoute(
                ipv6_default_route::Change::CreateRoute { route_table_id, .. } | ipv6_default_route::Change::ReplaceRoute { route_table_id, .. },
            ) => Some(route_table_id.clone()),
            Change::SecurityGroupIpv6(security_group_ipv6::Change::Authorize { group_id, .. }) => Some(group_id.clone()),
            Change::AssignIpv6Addresses(assign_ipv6_addresses::Change::AssignAddress { interface_id, .. }) => Some(interface_id.clone()),
            Change::LoadBalancerIpType(load_balancer_ip_type::Change::SetIpAddressType { load_balancer_arn, .. }) => {
                Some(load_balancer_arn.clone())
            }
            Change::VpcIpv6Cidr(_) | Change::Ipv6DefaultRoute(ipv6_default_route::Change::CreateEgressOnlyGateway { .. }) | Change::TargetGroupIpv6(_) => None,
        }
    }

    /// Whether later changes of the same step refer to what this one creates
    /// (so the engine re-checks the step once it is applied).
    pub fn creates_dependency(&self) -> bool {
        matches!(self, Change::Ipv6DefaultRoute(c) if c.creates_dependency())
    }

    /// The state after this change was applied and AWS answered `outcome`:
    /// a create's real ID instead of the plan's placeholder, and what AWS
    /// gave the new resource that no projection can know (a target group's
    /// default attributes, read).
    pub async fn project_applied(&self, cx: &StepCx<'_>, outcome: &Outcome, net: &mut Network) -> Result<(), StepError> {
        match self {
            Change::TargetGroupIpv6(c) => c.project_applied(cx, outcome, net).await,
            _ => {
                self.project(net);
                Ok(())
            }
        }
    }

    /// Whether this change ends a traffic stage after which the step's gate
    /// must pass before anything else happens.
    pub fn gate_after(&self) -> bool {
        matches!(self, Change::TargetGroupIpv6(c) if c.gate_after())
    }

    /// Whether undoing this change creates a resource (a deleted group
    /// recreated): later undos must read state afresh to see it.
    pub fn undo_creates(&self) -> bool {
        matches!(self, Change::TargetGroupIpv6(target_group_ipv6::Change::DeleteOldGroup { .. }))
    }

    /// Changes that set the same thing share a key; a rollback undoes the
    /// group once, with the oldest's prior value, at the newest's turn.
    pub fn undo_key(&self) -> Option<String> {
        match self {
            Change::TargetGroupIpv6(c) => c.undo_key(),
            Change::SubnetIpv6(subnet_ipv6::Change::SetFlag { subnet_id, flag, .. }) => Some(format!("flag {subnet_id} {flag:?}")),
            Change::LoadBalancerIpType(load_balancer_ip_type::Change::SetIpAddressType { load_balancer_arn, .. }) => {
                Some(format!("ip-type {load_balancer_arn}"))
            }
            _ => None,
        }
    }

    /// Whether this change needs the step's earlier changes settled first
    /// (an IPv6 flag needs the subnet's block `associated`, not `associating`).
    /// The engine then waits once for the whole step to settle, instead of
    /// after each association.
    pub fn needs_settled(&self) -> bool {
        matches!(self, Change::SubnetIpv6(subnet_ipv6::Change::SetFlag { .. }))
    }

    /// What this change can modify: what must be read to reconcile or undo
    /// it, and what must be read again after it.
    pub fn scope(&self) -> Scope {
        match self {
            Change::VpcIpv6Cidr(_) => Scope::VPC,
            Change::SubnetIpv6(_) => Scope::SUBNETS,
            Change::Ipv6DefaultRoute(_) => Scope::ROUTES,
            Change::SecurityGroupIpv6(_) => Scope::SECURITY_GROUPS,
            Change::AssignIpv6Addresses(_) => Scope::COMPUTE,
            Change::LoadBalancerIpType(_) => Scope::LOAD_BALANCERS,
            // Undoing a weight change may need a group recreated meanwhile.
            Change::TargetGroupIpv6(target_group_ipv6::Change::SetForward { .. }) => Scope::LOAD_BALANCING,
            Change::TargetGroupIpv6(_) => Scope::TARGET_GROUPS,
        }
    }

    /// The state after this change, as far as it can be known beforehand.
    pub fn project(&self, net: &mut Network) {
        match self {
            Change::VpcIpv6Cidr(c) => c.project(net),
            Change::SubnetIpv6(c) => c.project(net),
            Change::Ipv6DefaultRoute(c) => c.project(net),
            Change::SecurityGroupIpv6(c) => c.project(net),
            Change::AssignIpv6Addresses(c) => c.project(net),
            Change::LoadBalancerIpType(c) => c.project(net),
            Change::TargetGroupIpv6(c) => c.project(net),
        }
    }

    /// Make the one mutating call.
    pub async fn apply(&self, cx: &StepCx<'_>) -> Result<Outcome, StepError> {
        match self {
            Change::VpcIpv6Cidr(c) => c.apply(cx).await,
            Change::SubnetIpv6(c) => c.apply(cx).await,
            Change::Ipv6DefaultRoute(c) => c.apply(cx).await,
            Change::SecurityGroupIpv6(c) => c.apply(cx).await,
            Change::AssignIpv6Addresses(c) => c.apply(cx).await,
            Change::LoadBalancerIpType(c) => c.apply(cx).await,
            Change::TargetGroupIpv6(c) => c.apply(cx).await,
        }
    }

    /// Wait until AWS has finished what the call started.
    pub async fn settle(&self, cx: &StepCx<'_>, outcome: &Outcome) -> Result<(), StepError> {
        match self {
            Change::VpcIpv6Cidr(c) => c.settle(cx, outcome).await,
            // A subnet's block is waited for by the engine, once for the
            // whole step, before the first change that needs it.
            Change::SubnetIpv6(_)
            | Change::Ipv6DefaultRoute(_)
            | Change::SecurityGroupIpv6(_)
            | Change::AssignIpv6Addresses(_)
            | Change::LoadBalancerIpType(_) => Ok(()),
            Change::TargetGroupIpv6(c) => c.settle(cx, outcome).await,
        }
    }

    /// After a crash or a lost answer: did the call happen? Reads `net`
    /// (fresh live state), never calls a mutating API.
    pub fn reconcile(&self, net: &Network) -> Option<Outcome> {
        match self {
            Change::VpcIpv6Cidr(c) => c.reconcile(net),
            Change::SubnetIpv6(c) => c.reconcile(net),
            Change::Ipv6DefaultRoute(c) => c.reconcile(net),
            Change::SecurityGroupIpv6(c) => c.reconcile(net),
            Change::AssignIpv6Addresses(c) => c.reconcile(net),
            Change::LoadBalancerIpType(c) => c.reconcile(net),
            Change::TargetGroupIpv6(c) => c.reconcile(net),
        }
    }

    /// Restore what was there before. Idempotent: reads `net` and does
    /// nothing when the prior state already holds.
    pub async fn undo(&self, cx: &StepCx<'_>, outcome: &Outcome, net: &Network) -> Result<(), StepError> {
        match self {
            Change::VpcIpv6Cidr(c) => c.undo(cx, outcome, net).await,
            Change::SubnetIpv6(c) => c.undo(cx, outcome, net).await,
            Change::Ipv6DefaultRoute(c) => c.undo(cx, outcome, net).await,
            Change::SecurityGroupIpv6(c) => c.undo(cx, outcome, net).await,
            Change::AssignIpv6Addresses(c) => c.undo(cx, outcome, net).await,
            Change::LoadBalancerIpType(c) => c.undo(cx, outcome, net).await,
            Change::TargetGroupIpv6(c) => c.undo(cx, outcome, net).await,
        }
    }
}

/// A step as written in the runbook (strict: unknown fields are errors).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStep {
    pub id: String,
    /// Always stop and ask before this step (interactive mode).
    #[serde(default)]
    pub confirm: bool,
    pub vpc_ipv6_cidr: Option<vpc_ipv6_cidr::Raw>,
    pub subnet_ipv6: Option<subnet_ipv6::Raw>,
    pub ipv6_default_route: Option<ipv6_default_route::Raw>,
    pub security_group_ipv6: Option<security_group_ipv6::Raw>,
    pub assign_ipv6_addresses: Option<assign_ipv6_addresses::Raw>,
    pub load_balancer_ip_type: Option<load_balancer_ip_type::Raw>,
    pub target_group_ipv6: Option<target_group_ipv6::Raw>,
    /// A step that only runs its gate (its settings are the gate's).
    pub health_gate: Option<crate::health::gate::RawGate>,
    /// Health gate after the step's changes (and between traffic stages).
    pub gate: Option<crate::health::gate::RawGate>,
    pub on_health_failure: Option<crate::runbook::HealthPolicy>,
}

pub const KINDS: &[&str] = &[
    "vpc_ipv6_cidr",
    "subnet_ipv6",
    "ipv6_default_route",
    "security_group_ipv6",
    "assign_ipv6_addresses",
    "load_balancer_ip_type",
    "target_group_ipv6",
    "health_gate",
];

/// A validated step configuration.
#[derive(Debug)]
pub enum StepSpec {
    VpcIpv6Cidr(vpc_ipv6_cidr::Spec),
    SubnetIpv6(subnet_ipv6::Spec),
    Ipv6DefaultRoute(ipv6_default_route::Spec),
    SecurityGroupIpv6(security_group_ipv6::Spec),
    AssignIpv6Addresses(assign_ipv6_addresses::Spec),
    LoadBalancerIpType(load_balancer_ip_type::Spec),
    TargetGroupIpv6(target_group_ipv6::Spec),
    HealthGate(health_gate::Spec),
}

impl StepSpec {
    /// Validate the one kind `raw` names; `path` is the step's path in the file.
    pub fn from_raw(raw: RawStep, path: &str, cx: &mut ValidateCx) -> Option<StepSpec> {
        let mut specs = Vec::new();
        if let Some(r) = raw.vpc_ipv6_cidr {
            specs.push(vpc_ipv6_cidr::Spec::validate(r, &format!("{path}.vpc_ipv6_cidr"), cx).map(StepSpec::VpcIpv6Cidr));
        }
        if let Some(r) = raw.subnet_ipv6 {
            specs.push(subnet_ipv6::Spec::validate(r, &format!("{path}.subnet_ipv6"), cx).map(StepSpec::SubnetIpv6));
        }
        if let Some(r) = raw.ipv6_default_route {
            specs.push(
                ipv6_default_route::Spec::validate(r, &format!("{path}.ipv6_default_route"), cx)
                    .map(StepSpec::Ipv6DefaultRoute),
            );
        }
        if let Some(r) = raw.security_group_ipv6 {
            specs.push(
                security_group_ipv6::Spec::validate(r, &format!("{path}.security_group_ipv6"), cx)
                    .map(StepSpec::SecurityGroupIpv6),
            );
        }
        if let Some(r) = raw.assign_ipv6_addresses {
            specs.push(
                assign_ipv6_addresses::Spec::validate(r, &format!("{path}.assign_ipv6_addresses"), cx)
                    .map(StepSpec::AssignIpv6Addresses),
            );
        }
        if let Some(r) = raw.load_balancer_ip_type {
            specs.push(
                load_balancer_ip_type::Spec::validate(r, &format!("{path}.load_balancer_ip_type"), cx)
                    .map(StepSpec::LoadBalancerIpType),
            );
        }
        if let Some(r) = raw.target_group_ipv6 {
            specs.push(target_group_ipv6::Spec::validate(r, &format!("{path}.target_group_ipv6"), cx).map(StepSpec::TargetGroupIpv6));
        }
        if raw.health_gate.is_some() {
            specs.push(Some(StepSpec::HealthGate(health_gate::Spec)));
        }
        match specs.len() {
            1 => specs.pop().flatten(),
            0 => {
                cx.error(path, format!("step `{}` has no kind", raw.id))
                    .set_help(format!("give it exactly one of: {}", KINDS.join(", ")));
                None
            }
            _ => {
                cx.error(path, format!("step `{}` has more than one kind; a step does one thing", raw.id))
                    .set_help("split it into one step per kind");
                None
            }
        }
    }

    pub fn step(&self) -> &dyn Step {
        match self {
            StepSpec::VpcIpv6Cidr(s) => s,
            StepSpec::SubnetIpv6(s) => s,
            StepSpec::Ipv6DefaultRoute(s) => s,
            StepSpec::SecurityGroupIpv6(s) => s,
            StepSpec::AssignIpv6Addresses(s) => s,
            StepSpec::LoadBalancerIpType(s) => s,
            StepSpec::TargetGroupIpv6(s) => s,
            StepSpec::HealthGate(s) => s,
        }
    }
}

