//! `ecs_redeploy`: ECS services redeployed onto the dual-stack subnets, one
//! after the other, each deployment waited for and judged; back to IPv4 by
//! themselves when the new tasks fail.
//!
//! ```yaml
//! - id: redeploy
//!   ecs_redeploy:
//!     cluster: redash                      # name or ARN
//!     services: [redash-worker, redash-scheduler, redash-server]   # in this order
//!     enable_dual_stack_setting: true      # account default dualStackIPv6 -> enabled
//!     timeout: 15m                         # per service
//!   gate: { checks: [server-healthy, site-v6] }
//! ```
//! Running tasks keep the addresses they were launched with: only a new
//! deployment gives a service IPv6, and that deployment is the moment of the
//! incident this project exists for. So each service gets one
//! `UpdateService --force-new-deployment`, journaled with the ids of the
//! service's deployments before the call (a lost answer is settled by
//! looking for an id outside that set, never by comparing clocks), then the
//! deployment is waited for: PRIMARY, COMPLETED, the only one, every task
//! running. A deployment that goes FAILED, stops being PRIMARY (ECS's
//! circuit breaker rolled it back) or reaches the service's failed-task
//! threshold, or that does not complete within `timeout`, fails the step as a
//! failed health gate (exit 3, rollback), with the stopped tasks and their
//! reasons as the observations. ECS's breaker alone cannot fix a network
//! failure: it rolls back the task definition onto the same subnets.
//!
//! Rollback puts the tasks back on IPv4, in an order that holds by
//! construction (see the engine's undo phases): the subnet flags go back
//! first, then each service this run redeployed is deployed once more and
//! waited for until every running task is IPv4-only and the deployment
//! completed; the rest of the run after that, blocks last. A deployment
//! already in progress whose tasks are all IPv4-only (the undo's own, its
//! answer lost; ECS's circuit breaker rolling back) is waited for instead
//! of being doubled.
//!
//! Refused before any change: services whose deployment controller is
//! CODE_DEPLOY or EXTERNAL, or whose strategy is BLUE_GREEN, LINEAR or
//! CANARY (ECS's own traffic shifting); Fargate platform versions before
//! 1.4.0 (no IPv6); `dualStackIPv6` off without `enable_dual_stack_setting`.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{Description, Outcome, Step, StepCx, StepError};
use crate::aws::ecs::{cluster_matches, cluster_name, Deployment, EcsService, ServiceTask};
use crate::aws::wait::{Probe, WaitError, Waiter};
use crate::aws::{AssocState, Network, Scope, SubnetFlag};
use crate::engine::events::Event;
use crate::health::{GateFailure, Observation};
use crate::runbook::{Pos, Ref, ValidateCx};

/// How long a service's deployment may take unless the runbook says.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(15 * 60);

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Raw {
    pub cluster: String,
    pub services: Vec<String>,
    #[serde(default)]
    pub enable_dual_stack_setting: bool,
    pub timeout: Option<String>,
}

#[derive(Debug)]
pub struct Spec {
    pub cluster: Ref,
    pub services: Vec<Ref>,
    pub enable_dual_stack_setting: bool,
    pub timeout: Duration,
    pub at: Pos,
}

impl Spec {
    pub fn validate(raw: Raw, path: &str, cx: &mut ValidateCx) -> Option<Spec> {
        if raw.services.is_empty() {
            cx.error(&format!("{path}.services"), "no services to redeploy").set_help("list the services, in the order they must be redeployed");
            return None;
        }
        let mut services = Vec::new();
        for (i, s) in raw.services.iter().enumerate() {
            let p = format!("{path}.services[{i}]");
            if raw.services[..i].contains(s) {
                cx.error(&p, format!("service `{s}` is listed twice")).set_help("each service is redeployed once");
                return None;
            }
            services.push(cx.reference(&p, s));
        }
        let timeout = crate::health::duration(cx, &format!("{path}.timeout"), raw.timeout.as_deref(), DEFAULT_TIMEOUT)?;
        if timeout < Duration::from_secs(1) {
            cx.error(&format!("{path}.timeout"), "a deployment cannot complete in under a second").set_help("ECS deployments take minutes; 15m is the default");
            return None;
        }
        Some(Spec {
            cluster: cx.reference(&format!("{path}.cluster"), &raw.cluster),
            services,
            enable_dual_stack_setting: raw.enable_dual_stack_setting,
            timeout,
            at: cx.at(path),
        })
    }

    /// The service a reference names, checked for what this step needs.
    fn service<'n>(&self, net: &'n Network, r: &Ref) -> Result<&'n EcsService, StepError> {
        let Some(s) = net.ecs_service(&self.cluster.text, &r.text) else {
            let known: Vec<&str> =
                net.ecs_services.iter().filter(|s| cluster_matches(&s.cluster_arn, &self.cluster.text)).map(|s| s.name.as_str()).collect();
            let help = if known.is_empty() {
                format!("cluster `{}` has no awsvpc service with a subnet in {}", self.cluster.text, net.vpc.id)
            } else {
                format!("services of `{}` in {}: {}", self.cluster.text, net.vpc.id, known.join(", "))
            };
            return Err(StepError::precondition(r.at, format!("no ECS service `{}` in cluster `{}` with a subnet in {}", r.text, self.cluster.text, net.vpc.id)).with_help(help));
        };
        if s.controller != "ECS" {
            return Err(StepError::precondition(r.at, format!("{} uses the {} deployment controller: its deployments are not ECS's to force", s.name, s.controller))
                .with_help("redeploy it through its controller (CodeDeploy, or the external one) once the subnets are dual-stack; leave it out of this step"));
        }
        if let Some(strategy) = s.strategy.as_deref().filter(|st| matches!(*st, "BLUE_GREEN" | "LINEAR" | "CANARY")) {
            return Err(StepError::precondition(r.at, format!("{} deploys with ECS's {strategy} strategy, which shifts traffic itself", s.name))
                .with_help("switch the service to ROLLING for the migration, or redeploy it yourself and gate on an `ecs_service` check"));
        }
        if !s.platform_at_least_1_4() {
            return Err(StepError::precondition(r.at, format!("{} runs on Fargate platform {}: IPv6 needs 1.4.0 or later", s.name, s.platform_version.as_deref().unwrap_or("?")))
                .with_help("update the service to platform version LATEST (or 1.4.0) first"));
        }
        Ok(s)
    }
}

/// Whether a task launched now in `subnet_id` gets an IPv6 address (the
/// account setting aside): the subnet assigns one on creation from an
/// associated (or, in a plan, planned) block.
pub fn subnet_assigns_ipv6(net: &Network, subnet_id: &str) -> bool {
    net.subnet(subnet_id).is_some_and(|s| {
        s.flag(SubnetFlag::AssignIpv6AddressOnCreation) && s.ipv6_block().is_some_and(|b| matches!(b.state, AssocState::Associated | AssocState::Planned))
    })
}

/// Running tasks of `s` that have no IPv6 address although a task launched
/// now in their subnet would.
fn tasks_without_ipv6<'s>(s: &'s EcsService, net: &Network) -> Vec<&'s ServiceTask> {
    s.tasks.iter().filter(|t| t.ipv6.is_none() && t.subnet_id.as_deref().is_some_and(|id| subnet_assigns_ipv6(net, id))).collect()
}

impl Step for Spec {
    fn kind(&self) -> &'static str {
        "ecs_redeploy"
    }

    fn scope(&self) -> Scope {
        Scope::SUBNETS.union(Scope::ECS)
    }

    fn iam_actions(&self) -> Vec<&'static str> {
        let mut out = vec!["ecs:UpdateService"];
        if self.enable_dual_stack_setting {
            out.push("ecs:PutAccountSettingDefault");
        }
        out
    }

    fn findings(&self, net: &Network) -> Vec<crate::preflight::Finding> {
        crate::preflight::compute::before_ecs_redeploy(self, net)
    }

    fn check(&self, net: &Network) -> Result<Vec<super::Change>, StepError> {
        let services = self.services.iter().map(|r| self.service(net, r)).collect::<Result<Vec<_>, _>>()?;
        let mut changes = Vec::new();
        if net.dual_stack_ipv6 == Some(false) {
            if !self.enable_dual_stack_setting {
                return Err(StepError::precondition(self.at, "the account setting dualStackIPv6 is off: redeployed tasks would get no IPv6 address")
                    .with_help("add `enable_dual_stack_setting: true` to the step (it sets the account default, for every principal of the account in this region without its own setting), or enable it yourself"));
            }
            changes.push(super::Change::EcsRedeploy(Change::SetDualStackDefault { prior: false }));
        }
        for s in services {
            if tasks_without_ipv6(s, net).is_empty() {
                continue;
            }
            changes.push(super::Change::EcsRedeploy(Change::Redeploy {
                cluster: s.cluster_arn.clone(),
                service_arn: s.arn.clone(),
                service: s.name.clone(),
                prior_deployments: s.deployments.iter().map(|d| d.id.clone()).collect(),
                prior_task_definition: s.task_definition.clone(),
                target_groups: s.target_groups.clone(),
                subnets: s.subnets.clone(),
                timeout_secs: self.timeout.as_secs(),
            }));
        }
        Ok(changes)
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Change {
    /// PutAccountSettingDefault dualStackIPv6 enabled.
    SetDualStackDefault { prior: bool },
    /// UpdateService with forceNewDeployment, and the wait for it.
    Redeploy {
        cluster: String,
        service_arn: String,
        service: String,
        /// The service's deployments before the call: a deployment outside
        /// this set is the one the call created.
        prior_deployments: Vec<String>,
        prior_task_definition: Option<String>,
        target_groups: Vec<String>,
        subnets: Vec<String>,
        timeout_secs: u64,
    },
}

/// What a deployment must reach, and when it has failed.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// Forward: the new tasks up (they get IPv6 where their subnet assigns it).
    Forward,
    /// Rollback: the new tasks up and IPv4-only where their subnet no longer
    /// assigns IPv6.
    Ipv4Only,
}

/// Judge one read of the service against deployment `id`.
fn judge(s: &EcsService, id: &str, net: Option<&Network>, expect: Expect) -> Probe {
    let Some(d) = s.deployments.iter().find(|d| d.id == id) else {
        return Probe::Terminal(format!("deployment {id} is gone: ECS rolled it back or replaced it"));
    };
    if d.rollout_state.as_deref() == Some("FAILED") {
        return Probe::Terminal(format!("deployment {id} FAILED: {}", d.rollout_state_reason.as_deref().unwrap_or("no reason given")));
    }
    if d.status != "PRIMARY" {
        return Probe::Terminal(format!("deployment {id} is no longer PRIMARY ({}): the circuit breaker rolled it back", d.status));
    }
    let threshold = s.failure_threshold();
    if d.failed_tasks >= threshold {
        return Probe::Terminal(format!("deployment {id}: {} tasks failed, the service's threshold is {threshold}", d.failed_tasks));
    }
    let progress = progress(s, d);
    if d.rollout_state.as_deref() != Some("COMPLETED") || s.deployments.len() != 1 || d.running != d.desired || s.running != s.desired {
        return Probe::Pending(progress);
    }
    if expect == Expect::Ipv4Only {
        let still: Vec<String> = s
            .tasks
            .iter()
            .filter(|t| net.is_some_and(|n| ipv6_not_assigned(t, n)))
            .map(ServiceTask::label)
            .collect();
        if !still.is_empty() {
            return Probe::Pending(format!("{progress}; still with IPv6: {}", still.join(", ")));
        }
    }
    Probe::Ready
}

/// Whether `t` has an IPv6 address its subnet no longer assigns: a task
/// launched before the flags went back.
fn ipv6_not_assigned(t: &ServiceTask, net: &Network) -> bool {
    t.ipv6.is_some() && t.subnet_id.as_deref().is_some_and(|sub| !subnet_assigns_ipv6(net, sub))
}

/// Whether no task deployment `id` has launched so far is on IPv6 its
/// subnet no longer assigns (none launched counts).
fn launched_ipv4_only(s: &EcsService, id: &str, net: &Network) -> bool {
    !s.tasks.iter().any(|t| t.started_by.as_deref() == Some(id) && ipv6_not_assigned(t, net))
}

fn progress(s: &EcsService, d: &Deployment) -> String {
    format!(
        "{}: deployment {} {} {}, {}/{} running, {} failed{}",
        s.name,
        d.id,
        d.status,
        d.rollout_state.as_deref().unwrap_or("?"),
        d.running,
        d.desired,
        d.failed_tasks,
        if s.deployments.len() > 1 { format!(", {} deployments", s.deployments.len()) } else { String::new() }
    )
}

/// Wait for deployment `id` of the service; a deployment that will not
/// complete is a failed health gate whose observations are its stopped
/// tasks and their reasons.
async fn wait_deployment(cx: &StepCx<'_>, cluster: &str, service: &str, id: &str, timeout: Duration, net: Option<&Network>, expect: Expect) -> Result<EcsService, StepError> {
    let what = format!("{service} deployment {id} to complete");
    cx.events.emit(Event::Waiting { step: cx.step.to_string(), what: what.clone(), deadline_secs: Some(timeout.as_secs()) });
    let waiter = Waiter { deadline: timeout, first_interval: Duration::from_millis(500), max_interval: Duration::from_secs(5), consecutive: 1 };
    let ecs = cx.ecs;
    let result = waiter
        .until_read(&what, || async move {
            match ecs.service(cluster, service).await? {
                Some(s) => Ok((judge(&s, id, net, expect), Some(s))),
                None => Ok((Probe::Terminal(format!("service {service} no longer exists")), None)),
            }
        })
        .await;
    match result {
        Ok(Some(s)) => Ok(s),
        Ok(None) => Err(StepError::Verify(format!("service {service} no longer exists"))),
        Err(WaitError::Aws(e)) => Err(e.into()),
        Err(e) => {
            let last = failed_tasks(cx, cluster, service, id).await;
            Err(StepError::Gate(GateFailure { reason: e.to_string(), last }))
        }
    }
}

/// The stopped tasks of deployment `id` that failed, as observations.
async fn failed_tasks(cx: &StepCx<'_>, cluster: &str, service: &str, id: &str) -> Vec<Observation> {
    let check = format!("deployment of {service}");
    let at = crate::engine::journal::now();
    match cx.ecs.stopped_tasks(cluster, service).await {
        Ok(tasks) => tasks
            .iter()
            .filter(|t| t.started_by.as_deref() == Some(id) && t.failed())
            .map(|t| Observation {
                check: check.clone(),
                ok: false,
                detail: format!(
                    "{} stopped: {} ({})",
                    t.label(),
                    t.stopped_reason.as_deref().unwrap_or("no reason given"),
                    t.stop_code.as_deref().unwrap_or("no stop code")
                ),
                at: at.clone(),
                millis: 0,
            })
            .collect(),
        Err(e) => vec![Observation { check, ok: false, detail: format!("stopped tasks not read: {e}"), at, millis: 0 }],
    }
}

#[async_trait::async_trait]
impl super::ChangeKind for Change {
    fn scope(&self) -> Scope {
        Scope::SUBNETS.union(Scope::ECS)
    }

    /// A redeploy is undone once per service, after the subnet flags.
    fn undo_phase(&self) -> super::UndoPhase {
        match self {
            Change::Redeploy { .. } => super::UndoPhase::Redeploy,
            Change::SetDualStackDefault { .. } => super::UndoPhase::Rest,
        }
    }

    /// The services go back to IPv4 together: the way back takes the
    /// longest deployment, not their sum.
    fn undo_together(&self) -> bool {
        matches!(self, Change::Redeploy { .. })
    }

    fn settle_on_resume(&self) -> bool {
        matches!(self, Change::Redeploy { .. })
    }

    fn undo_key(&self) -> Option<String> {
        match self {
            Change::Redeploy { service_arn, .. } => Some(format!("redeploy {service_arn}")),
            Change::SetDualStackDefault { .. } => Some("dualStackIPv6 default".into()),
        }
    }

    /// Undoing a redeploy alone would put the tasks back on subnets that
    /// still assign IPv6: the flags of the service's subnets go back with it.
    fn undo_needs(&self, other: &super::Change) -> bool {
        let Change::Redeploy { subnets, .. } = self else { return false };
        matches!(other, super::Change::SubnetIpv6(super::subnet_ipv6::Change::SetFlag { subnet_id, flag, .. })
            if subnets.contains(subnet_id) && matches!(flag, SubnetFlag::AssignIpv6AddressOnCreation | SubnetFlag::EnableDns64))
    }

    fn describe(&self) -> Description {
        match self {
            Change::SetDualStackDefault { prior } => Description {
                call: "ecs:PutAccountSettingDefault",
                args: "name=dualStackIPv6 value=enabled".into(),
                resource: "account default (this region: every principal without a setting of its own)".into(),
                attribute: "dualStackIPv6".into(),
                current: if *prior { "enabled" } else { "disabled" }.into(),
                desired: "enabled".into(),
            },
            Change::Redeploy { cluster, service, prior_deployments, timeout_secs, .. } => Description {
                call: "ecs:UpdateService",
                args: format!("cluster={} service={service} forceNewDeployment=true", cluster_name(cluster)),
                resource: format!("ECS service {service}"),
                attribute: "tasks".into(),
                current: format!("deployment {}", prior_deployments.join(", ")),
                desired: format!("a new deployment, dual-stack tasks (within {})", humantime::format_duration(Duration::from_secs(*timeout_secs))),
            },
        }
    }

    fn project(&self, net: &mut Network) {
        match self {
            Change::SetDualStackDefault { .. } => net.dual_stack_ipv6 = Some(true),
            Change::Redeploy { service_arn, .. } => {
                let assigns: Vec<(String, bool)> = net.subnets.iter().map(|s| (s.id.clone(), subnet_assigns_ipv6(net, &s.id))).collect();
                if let Some(s) = net.ecs_service_mut(service_arn) {
                    for t in &mut s.tasks {
                        let gets = t.subnet_id.as_ref().is_some_and(|id| assigns.iter().any(|(s, a)| s == id && *a));
                        t.ipv6 = gets.then(|| "(assigned at launch)".to_string());
                        t.started_by = Some("(new deployment)".into());
                    }
                    s.deployments = vec![Deployment {
                        id: "(new deployment)".into(),
                        status: "PRIMARY".into(),
                        rollout_state: Some("COMPLETED".into()),
                        rollout_state_reason: None,
                        task_definition: s.task_definition.clone(),
                        desired: s.desired,
                        running: s.desired,
                        failed_tasks: 0,
                    }];
                }
            }
        }
    }

    async fn apply(&self, cx: &StepCx<'_>) -> Result<Outcome, StepError> {
        match self {
            Change::SetDualStackDefault { .. } => {
                cx.ecs.set_dual_stack_default(true).await?;
                Ok(Outcome::default())
            }
            Change::Redeploy { cluster, service, prior_deployments, .. } => {
                let deployments = cx.ecs.force_new_deployment(cluster, service).await?;
                let new = deployments.iter().filter(|d| !prior_deployments.contains(&d.id)).max_by_key(|d| d.status == "PRIMARY");
                Ok(Outcome { resource_id: new.map(|d| d.id.clone()), ..Outcome::default() })
            }
        }
    }

    async fn settle(&self, cx: &StepCx<'_>, outcome: &Outcome) -> Result<(), StepError> {
        let Change::Redeploy { cluster, service, prior_deployments, timeout_secs, .. } = self else { return Ok(()) };
        let id = match &outcome.resource_id {
            Some(id) => id.clone(),
            // The answer named no new deployment: read which it is.
            None => match cx.ecs.service(cluster, service).await? {
                Some(s) => match s.deployments.iter().find(|d| !prior_deployments.contains(&d.id)) {
                    Some(d) => d.id.clone(),
                    None => return Err(StepError::Verify(format!("UpdateService of {service} created no deployment"))),
                },
                None => return Err(StepError::Verify(format!("service {service} no longer exists"))),
            },
        };
        wait_deployment(cx, cluster, service, &id, Duration::from_secs(*timeout_secs), None, Expect::Forward).await.map(|_| ())
    }

    fn reconcile(&self, net: &Network) -> Option<Outcome> {
        match self {
            Change::SetDualStackDefault { .. } => (net.dual_stack_ipv6 == Some(true)).then(Outcome::default),
            Change::Redeploy { service_arn, prior_deployments, .. } => {
                let s = net.ecs_services.iter().find(|s| &s.arn == service_arn)?;
                let new = s.deployments.iter().find(|d| !prior_deployments.contains(&d.id))?;
                Some(Outcome { resource_id: Some(new.id.clone()), ..Outcome::default() })
            }
        }
    }

    async fn undo(&self, cx: &StepCx<'_>, _outcome: &Outcome, net: &Network) -> Result<(), StepError> {
        match self {
            Change::SetDualStackDefault { prior } => {
                if net.dual_stack_ipv6 != Some(*prior) {
                    cx.ecs.set_dual_stack_default(*prior).await?;
                }
                Ok(())
            }
            Change::Redeploy { cluster, service, service_arn, timeout_secs, .. } => {
                let Some(s) = net.ecs_services.iter().find(|s| &s.arn == service_arn) else {
                    cx.events.emit(Event::Warning { message: format!("ECS service {service} is gone: nothing to redeploy") });
                    return Ok(());
                };
                // Already back: one deployment, complete, every task IPv4-only
                // where its subnet no longer assigns IPv6.
                if let Some(d) = s.primary()
                    && matches!(judge(s, &d.id, Some(net), Expect::Ipv4Only), Probe::Ready)
                {
                    return Ok(());
                }
                // A deployment in progress whose tasks so far are all
                // IPv4-only was started once the flags were back, so the
                // rest of its tasks will be IPv4-only too: whoever sent it
                // (this undo, in an attempt whose answer was lost; ECS's
                // circuit breaker), wait for it rather than start another
                // (a second UpdateService is a second deployment). One with
                // a task on IPv6 was launched before: a deployment of our
                // own replaces it, as does one that ends still on IPv6.
                if let Some(d) = s.primary().filter(|d| d.rollout_state.as_deref() == Some("IN_PROGRESS") && launched_ipv4_only(s, &d.id, net)) {
                    match wait_deployment(cx, cluster, service, &d.id, Duration::from_secs(*timeout_secs), Some(net), Expect::Forward).await {
                        Ok(done) if matches!(judge(&done, &d.id, Some(net), Expect::Ipv4Only), Probe::Ready) => return Ok(()),
                        Ok(_) => cx.events.emit(Event::Warning {
                            message: format!("{service}: deployment {} completed with tasks on IPv6; redeploying onto IPv4", d.id),
                        }),
                        Err(StepError::Gate(g)) => cx.events.emit(Event::Warning { message: format!("{service}: {g}; redeploying onto IPv4") }),
                        // A read that failed: the engine reads again and
                        // runs this undo again, which finds it again.
                        Err(e) => return Err(e),
                    }
                }
                let deployments = cx.ecs.force_new_deployment(cluster, service).await?;
                let prior: Vec<&str> = s.deployments.iter().map(|d| d.id.as_str()).collect();
                let id = match deployments.iter().find(|d| !prior.contains(&d.id.as_str()) && d.status == "PRIMARY") {
                    Some(d) => d.id.clone(),
                    None => deployments.iter().find(|d| d.status == "PRIMARY").map(|d| d.id.clone()).unwrap_or_default(),
                };
                match wait_deployment(cx, cluster, service, &id, Duration::from_secs(*timeout_secs), Some(net), Expect::Ipv4Only).await {
                    Ok(done) => {
                        let v6: Vec<String> = done.tasks.iter().filter(|t| t.ipv6.is_some()).map(ServiceTask::label).collect();
                        if !v6.is_empty() {
                            cx.events.emit(Event::Warning {
                                message: format!("{service}: tasks still have IPv6 (their subnets still assign it): {}", v6.join(", ")),
                            });
                        }
                        Ok(())
                    }
                    Err(StepError::Gate(g)) => Err(StepError::Verify(format!("redeploying {service} onto IPv4: {g}"))),
                    Err(e) => Err(e),
                }
            }
        }
    }
}
