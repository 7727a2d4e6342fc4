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
//! Registering a new kind: its module (a `Raw` runbook struct, a `Spec` that
//! implements [`Step`] with `Spec::validate`, a `Change` that implements
//! [`ChangeKind`]) and one line in the [`kinds!`] list below, which makes
//! the runbook field, [`KINDS`], the [`StepSpec`] and [`Change`] variants and
//! their dispatch. (`src/runbook/schema.json` documents the field for
//! editors; a test keeps it in step.)

pub mod health_gate;
pub mod resolve;

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
    pub ecs: &'a dyn crate::aws::ecs::Ecs,
    pub dns: &'a dyn crate::aws::route53::Route53,
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
    /// Preflight findings of this step on the VPC as the earlier steps
    /// leave it (AWS traps its `check` cannot refuse on its own).
    fn findings(&self, _net: &Network) -> Vec<crate::preflight::Finding> {
        Vec::new()
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

/// When a rollback undoes a change: the whole undo order of a run, which
/// must hold by construction. IPv6 clients are sent away first (their DNS
/// records), then new tasks stop getting IPv6 (the subnet flags), then the
/// tasks are replaced by IPv4-only ones (redeploys), then the rest of the
/// run, newest first, and the blocks last: AWS refuses to take a block back
/// while an interface holds an address from it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum UndoPhase {
    Withdraw,
    Flags,
    Redeploy,
    /// What was deleted is recreated before the rest of the run is undone:
    /// a restored listener may point at it.
    Recreate,
    Rest,
    Blocks,
}

/// What one kind's change does: the engine's side of the contract above.
/// Every kind's `Change` (an enum of the calls it makes) implements it.
#[async_trait::async_trait]
pub trait ChangeKind: Send + Sync {
    fn describe(&self) -> Description;
    /// What this change can modify: what must be read to reconcile or undo
    /// it, and what must be read again after it.
    fn scope(&self) -> Scope;
    /// The state after this change, as far as it can be known beforehand.
    fn project(&self, net: &mut Network);
    /// Make the one mutating call.
    async fn apply(&self, cx: &StepCx<'_>) -> Result<Outcome, StepError>;
    /// Wait until AWS has finished what the call started.
    async fn settle(&self, _cx: &StepCx<'_>, _outcome: &Outcome) -> Result<(), StepError> {
        Ok(())
    }
    /// After a crash or a lost answer: did the call happen? Reads `net`
    /// (fresh live state), never calls a mutating API.
    fn reconcile(&self, net: &Network) -> Option<Outcome>;
    /// Restore what was there before. Idempotent: reads `net` and does
    /// nothing when the prior state already holds.
    async fn undo(&self, cx: &StepCx<'_>, outcome: &Outcome, net: &Network) -> Result<(), StepError>;
    /// The state after this change was applied and AWS answered `outcome`:
    /// a create's real ID instead of the plan's placeholder, and what AWS
    /// gave the new resource that no projection can know (read).
    async fn project_applied(&self, _cx: &StepCx<'_>, _outcome: &Outcome, net: &mut Network) -> Result<(), StepError> {
        self.project(net);
        Ok(())
    }
    /// The resource this change modifies, when it can be applied together
    /// with the step's other changes on other resources: one call on one
    /// resource that no other change of the step depends on and that needs
    /// no waiting after it. `None`: applied on its own, in order (a create
    /// that later changes refer to, a traffic change, the VPC's block, which
    /// must settle before anything else). Changes with the same key keep
    /// their order.
    fn concurrency_key(&self) -> Option<String> {
        None
    }
    /// Whether later changes of the same step refer to what this one creates
    /// (so the engine re-checks the step once it is applied).
    fn creates_dependency(&self) -> bool {
        false
    }
    /// Whether this change ends a traffic stage after which the step's gate
    /// must pass before anything else happens.
    fn gate_after(&self) -> bool {
        false
    }
    /// Whether undoing this change creates a resource (a deleted group
    /// recreated): later undos must read state afresh to see it.
    fn undo_creates(&self) -> bool {
        false
    }
    /// Changes that set the same thing share a key; a rollback undoes the
    /// group once, with the oldest's prior value, at the newest's turn.
    fn undo_key(&self) -> Option<String> {
        None
    }
    /// Where in a rollback this change is undone (see [`UndoPhase`]).
    fn undo_phase(&self) -> UndoPhase {
        if self.undo_creates() { UndoPhase::Recreate } else { UndoPhase::Rest }
    }
    /// Whether undoing this change alone (rolling back one step) must also
    /// undo `other`, a change of another step of the run, for the undo to
    /// mean anything.
    fn undo_needs(&self, _other: &Change) -> bool {
        false
    }
    /// How long after this change's undo resolvers may still answer what it
    /// published (a DNS record's TTL).
    fn resolvers_keep(&self) -> Option<std::time::Duration> {
        None
    }
    /// Whether this change's undo must wait until resolvers forgot what the
    /// run's withdrawn records published (the load balancer back to ipv4).
    fn after_resolvers(&self) -> bool {
        false
    }
    /// Whether this change's undo waits long on its own resource (a
    /// deployment): adjacent ones in a rollback are undone together.
    fn undo_together(&self) -> bool {
        false
    }
    /// Whether an interrupted run, resumed, waits for this change again
    /// before its step goes on (a deployment journaled but not yet seen
    /// complete is waited for, never issued twice).
    fn settle_on_resume(&self) -> bool {
        false
    }
    /// Whether this change needs the step's earlier changes settled first.
    /// The engine then waits once for the whole step to settle, instead of
    /// after each change.
    fn needs_settled(&self) -> bool {
        false
    }
}

/// The step kinds, each `module => Variant`: the one place a kind is
/// registered. Makes the modules, [`RawStep`] (one optional field per
/// kind, named after its module), [`KINDS`], [`StepSpec`], [`Change`] (one
/// mutating call, with the prior values needed to undo it: what the journal
/// records before the call, tagged with the kind's module name) and the
/// dispatch to each kind's [`Step`] and [`ChangeKind`].
macro_rules! kinds {
    ($($module:ident => $Variant:ident),* $(,)?) => {
        $(pub mod $module;)*

        /// A step as written in the runbook (strict: unknown fields are errors).
        #[derive(Debug, Deserialize)]
        #[serde(deny_unknown_fields)]
        pub struct RawStep {
            pub id: String,
            /// Always stop and ask before this step (interactive mode).
            #[serde(default)]
            pub confirm: bool,
            $(pub $module: Option<$module::Raw>,)*
            /// A step that only runs its gate (its settings are the gate's).
            pub health_gate: Option<crate::health::gate::RawGate>,
            /// Health gate after the step's changes (and between traffic stages).
            pub gate: Option<crate::health::gate::RawGate>,
            pub on_health_failure: Option<crate::runbook::HealthPolicy>,
        }

        pub const KINDS: &[&str] = &[$(stringify!($module),)* "health_gate"];

        /// A validated step configuration.
        #[derive(Debug)]
        pub enum StepSpec {
            $($Variant($module::Spec),)*
            HealthGate(health_gate::Spec),
        }

        impl StepSpec {
            /// Validate the one kind `raw` names; `path` is the step's path in the file.
            pub fn from_raw(raw: RawStep, path: &str, cx: &mut ValidateCx) -> Option<StepSpec> {
                let mut specs = Vec::new();
                $(if let Some(r) = raw.$module {
                    specs.push($module::Spec::validate(r, &format!("{path}.{}", stringify!($module)), cx).map(StepSpec::$Variant));
                })*
                if raw.health_gate.is_some() {
                    specs.push(Some(StepSpec::HealthGate(health_gate::Spec)));
                }
                one_kind(specs, &raw.id, path, cx)
            }

            pub fn step(&self) -> &dyn Step {
                match self {
                    $(StepSpec::$Variant(s) => s,)*
                    StepSpec::HealthGate(s) => s,
                }
            }
        }

        #[derive(Clone, Debug, Serialize, Deserialize)]
        #[serde(tag = "kind", content = "change", rename_all = "snake_case")]
        pub enum Change {
            $($Variant($module::Change),)*
        }

        impl Change {
            /// The kind's own change, for the dispatch below.
            fn kind(&self) -> &dyn ChangeKind {
                match self {
                    $(Change::$Variant(c) => c,)*
                }
            }
        }
    };
}

kinds! {
    vpc_ipv6_cidr => VpcIpv6Cidr,
    subnet_ipv6 => SubnetIpv6,
    ipv6_default_route => Ipv6DefaultRoute,
    security_group_ipv6 => SecurityGroupIpv6,
    network_acl_ipv6 => NetworkAclIpv6,
    assign_ipv6_addresses => AssignIpv6Addresses,
    load_balancer_ip_type => LoadBalancerIpType,
    target_group_ipv6 => TargetGroupIpv6,
    ecs_redeploy => EcsRedeploy,
    dns_aaaa => DnsAaaa,
}

/// The one spec of a step that names exactly one kind.
fn one_kind(mut specs: Vec<Option<StepSpec>>, id: &str, path: &str, cx: &mut ValidateCx) -> Option<StepSpec> {
    match specs.len() {
        1 => specs.pop().flatten(),
        0 => {
            cx.error(path, format!("step `{id}` has no kind")).set_help(format!("give it exactly one of: {}", KINDS.join(", ")));
            None
        }
        _ => {
            cx.error(path, format!("step `{id}` has more than one kind; a step does one thing")).set_help("split it into one step per kind");
            None
        }
    }
}

/// The engine calls these; each goes to the kind's [`ChangeKind`].
impl Change {
    pub fn describe(&self) -> Description {
        self.kind().describe()
    }

    /// See [`ChangeKind::concurrency_key`].
    pub fn concurrency_key(&self) -> Option<String> {
        self.kind().concurrency_key()
    }

    /// See [`ChangeKind::creates_dependency`].
    pub fn creates_dependency(&self) -> bool {
        self.kind().creates_dependency()
    }

    /// See [`ChangeKind::project_applied`].
    pub async fn project_applied(&self, cx: &StepCx<'_>, outcome: &Outcome, net: &mut Network) -> Result<(), StepError> {
        self.kind().project_applied(cx, outcome, net).await
    }

    /// See [`ChangeKind::gate_after`].
    pub fn gate_after(&self) -> bool {
        self.kind().gate_after()
    }

    /// See [`ChangeKind::undo_creates`].
    pub fn undo_creates(&self) -> bool {
        self.kind().undo_creates()
    }

    /// See [`ChangeKind::undo_key`].
    pub fn undo_key(&self) -> Option<String> {
        self.kind().undo_key()
    }

    /// See [`ChangeKind::undo_phase`].
    pub fn undo_phase(&self) -> UndoPhase {
        self.kind().undo_phase()
    }

    /// See [`ChangeKind::undo_needs`].
    pub fn undo_needs(&self, other: &Change) -> bool {
        self.kind().undo_needs(other)
    }

    /// See [`ChangeKind::resolvers_keep`].
    pub fn resolvers_keep(&self) -> Option<std::time::Duration> {
        self.kind().resolvers_keep()
    }

    /// See [`ChangeKind::after_resolvers`].
    pub fn after_resolvers(&self) -> bool {
        self.kind().after_resolvers()
    }

    /// See [`ChangeKind::undo_together`].
    pub fn undo_together(&self) -> bool {
        self.kind().undo_together()
    }

    /// See [`ChangeKind::settle_on_resume`].
    pub fn settle_on_resume(&self) -> bool {
        self.kind().settle_on_resume()
    }

    /// See [`ChangeKind::needs_settled`].
    pub fn needs_settled(&self) -> bool {
        self.kind().needs_settled()
    }

    /// See [`ChangeKind::scope`].
    pub fn scope(&self) -> Scope {
        self.kind().scope()
    }

    /// See [`ChangeKind::project`].
    pub fn project(&self, net: &mut Network) {
        self.kind().project(net)
    }

    /// See [`ChangeKind::apply`].
    pub async fn apply(&self, cx: &StepCx<'_>) -> Result<Outcome, StepError> {
        self.kind().apply(cx).await
    }

    /// See [`ChangeKind::settle`].
    pub async fn settle(&self, cx: &StepCx<'_>, outcome: &Outcome) -> Result<(), StepError> {
        self.kind().settle(cx, outcome).await
    }

    /// See [`ChangeKind::reconcile`].
    pub fn reconcile(&self, net: &Network) -> Option<Outcome> {
        self.kind().reconcile(net)
    }

    /// See [`ChangeKind::undo`].
    pub async fn undo(&self, cx: &StepCx<'_>, outcome: &Outcome, net: &Network) -> Result<(), StepError> {
        self.kind().undo(cx, outcome, net).await
    }
}
