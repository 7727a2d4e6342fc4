//! `target_group_ipv6`: recreate target groups as IPv6, one side at a time.
//!
//! ```yaml
//! - id: target-groups
//!   target_group_ipv6:
//!     listener: redash:443                       # "<load balancer>:<port>" or a listener ARN
//!     target_groups: [redash-green, redash-blue] # replaced strictly one after the other
//!     name_suffix: "-v6"
//!     targets: same                              # instance: same IDs; ip: the IPv6 of each target's interface
//!     shift: [10, 50, 100]                       # percent of the old group's weight moved per stage
//!     bake: 60s                                  # after each stage, before its gate
//!     retire: keep                               # keep | delete the old group once replaced
//!   gate: { checks: [tg-v6-healthy, site-v6] }
//! ```
//! A target group's IP address type cannot be modified, so for each listed
//! group X, in order: create X' (a copy of X with IpAddressType ipv6 and the
//! run's tag), copy X's attributes, register the targets, wait until they are healthy, put X' at
//! weight 0 on the listener's forward action and on every rule of the
//! listener that forwards to X, then move X's weight to X' stage by stage,
//! the gate after each stage. The next group starts only when X' carries all
//! of X's traffic and passed its gate, so the side carrying production
//! traffic is touched only after the other side is healthy on IPv6.
//!
//! Check is a pure function of live state and returns only the next batch
//! (create, register, attach, or one stage): the engine re-checks after each
//! batch, so an interrupted run continues at the right stage. Every call is
//! idempotent at AWS (same-name create, registering a registered target,
//! setting the same weights), which makes the re-check safe under eventual
//! consistency. Rollback restores the listener and rules first (their
//! original forward actions, in one call each), then deregisters, then
//! deletes X'.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{resolve, Description, Outcome, Step, StepCx, StepError};
use crate::aws::wait::Probe;
use crate::aws::{Forward, Network, NewTargetGroup, Scope, Target, TargetGroup, WeightedGroup, RUN_TAG};
use crate::health::duration;
use crate::runbook::{Pos, Ref, ValidateCx};

/// AWS's limit on target group names.
const NAME_MAX: usize = 32;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Retire {
    Keep,
    Delete,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Raw {
    pub listener: String,
    pub target_groups: Vec<String>,
    #[serde(default = "suffix")]
    pub name_suffix: String,
    #[serde(default = "same")]
    pub targets: String,
    #[serde(default = "stages")]
    pub shift: Vec<u32>,
    pub bake: Option<String>,
    #[serde(default = "keep")]
    pub retire: Retire,
}

fn suffix() -> String {
    "-v6".into()
}
fn same() -> String {
    "same".into()
}
fn stages() -> Vec<u32> {
    vec![10, 50, 100]
}
fn keep() -> Retire {
    Retire::Keep
}

/// The attributes AWS gives a new target group (ELBv2 documentation,
/// "Target group attributes"), for the plan's projection of a create.
fn new_group_defaults(protocol: Option<&str>, target_type: &str) -> Vec<(String, String)> {
    let http = matches!(protocol, Some("HTTP" | "HTTPS") | None);
    // Client IP preservation: on for instance targets and for UDP; off for
    // ip targets over TCP or TLS.
    let preserve = if target_type == "ip" && !matches!(protocol, Some("UDP" | "TCP_UDP")) { "false" } else { "true" };
    let common: &[(&str, &str)] = &[("deregistration_delay.timeout_seconds", "300"), ("stickiness.enabled", "false")];
    let alb: &[(&str, &str)] = &[
        ("stickiness.type", "lb_cookie"),
        ("stickiness.lb_cookie.duration_seconds", "86400"),
        ("stickiness.app_cookie.duration_seconds", "86400"),
        ("load_balancing.algorithm.type", "round_robin"),
        ("load_balancing.algorithm.anomaly_mitigation", "off"),
        ("load_balancing.cross_zone.enabled", "use_load_balancer_configuration"),
        ("slow_start.duration_seconds", "0"),
        ("waf.fail_open.enabled", "false"),
    ];
    let nlb: &[(&str, &str)] = &[
        ("stickiness.type", "source_ip"),
        ("deregistration_delay.connection_termination.enabled", "false"),
        ("preserve_client_ip.enabled", preserve),
        ("proxy_protocol_v2.enabled", "false"),
        ("load_balancing.cross_zone.enabled", "use_load_balancer_configuration"),
    ];
    common.iter().chain(if http { alb } else { nlb }).map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

/// The name of X's replacement: X's name cut so that `suffix` fits in
/// AWS's 32 characters (no trailing `-` before the suffix).
pub fn replacement_name(old: &str, suffix: &str) -> String {
    let keep = NAME_MAX - suffix.len();
    let mut base: String = old.chars().take(keep).collect();
    while base.ends_with('-') {
        base.pop();
    }
    format!("{base}{suffix}")
}

#[derive(Debug)]
pub struct Spec {
    pub listener: Ref,
    pub groups: Vec<Ref>,
    pub suffix: String,
    pub shift: Vec<u32>,
    pub bake: Duration,
    pub retire: Retire,
    pub at: Pos,
}

impl Spec {
    pub fn validate(raw: Raw, path: &str, cx: &mut ValidateCx) -> Option<Spec> {
        let before = cx.error_count();
        if raw.target_groups.is_empty() {
            cx.error(&format!("{path}.target_groups"), "`target_groups` is empty");
        }
        for (i, g) in raw.target_groups.iter().enumerate() {
            if raw.target_groups[..i].contains(g) {
                cx.error(&format!("{path}.target_groups[{i}]"), format!("target group `{g}` is listed twice"));
            }
        }
        if raw.targets != "same" {
            cx.error(&format!("{path}.targets"), format!("unknown targets mode `{}`", raw.targets)).set_help("`same`: the same instances, or the IPv6 address of each ip target's interface");
        }
        let valid_suffix = !raw.name_suffix.is_empty()
            && raw.name_suffix.len() < NAME_MAX
            && raw.name_suffix.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            && !raw.name_suffix.ends_with('-');
        if !valid_suffix {
            cx.error(&format!("{path}.name_suffix"), format!("invalid name suffix `{}`", raw.name_suffix))
                .set_help("letters, digits and `-`, not ending in `-` (target group names allow no more)");
        }
        let ok_stages = !raw.shift.is_empty()
            && raw.shift.windows(2).all(|w| w[0] < w[1])
            && raw.shift.iter().all(|p| (1..=100).contains(p))
            && raw.shift.last() == Some(&100);
        if !ok_stages {
            cx.error(&format!("{path}.shift"), "`shift` must rise from 1 to 100 and end at 100").set_help("for example [10, 50, 100]");
        }
        let bake = duration(cx, &format!("{path}.bake"), raw.bake.as_deref(), Duration::ZERO);
        if cx.error_count() != before {
            return None;
        }
        Some(Spec {
            listener: cx.reference(&format!("{path}.listener"), &raw.listener),
            groups: raw.target_groups.iter().enumerate().map(|(i, g)| cx.reference(&format!("{path}.target_groups[{i}]"), g)).collect(),
            suffix: raw.name_suffix,
            shift: raw.shift,
            bake: bake?,
            retire: raw.retire,
            at: cx.at(path),
        })
    }

    /// X' 's name: X's, cut so that the suffix fits in 32 characters.
    pub fn new_name(&self, old: &str) -> String {
        replacement_name(old, &self.suffix)
    }

    /// The targets X' must have, from X's.
    fn desired_targets(&self, net: &Network, old: &TargetGroup, at: Pos) -> Result<Vec<Target>, StepError> {
        let mut out = Vec::new();
        for t in &old.targets {
            if matches!(t.state.as_str(), "draining") {
                continue;
            }
            let id = match old.target_type.as_str() {
                "instance" => {
                    let eni = net.primary_interface(&t.id);
                    if eni.is_none_or(|e| e.ipv6_addresses.is_empty()) {
                        return Err(StepError::precondition(at, format!("instance {} (a target of {}) has no IPv6 address", t.id, old.name))
                            .with_help("add an `assign_ipv6_addresses` step before this one"));
                    }
                    t.id.clone()
                }
                "ip" => match net.interface_with_ip(&t.id) {
                    Some(eni) => match eni.ipv6_addresses.first() {
                        Some(a) => a.clone(),
                        None => {
                            return Err(StepError::precondition(
                                at,
                                format!("ip target {} of {} has no IPv6 address (interface {} in {})", t.id, old.name, eni.id, eni.subnet_id),
                            )
                            .with_help("add an `assign_ipv6_addresses` step before this one"));
                        }
                    },
                    None => {
                        return Err(StepError::precondition(at, format!("ip target {} of {} is not an address of any interface in {}", t.id, old.name, net.vpc.id)));
                    }
                },
                other => return Err(StepError::precondition(at, format!("{} has {other} targets, which cannot be IPv6", old.name))),
            };
            out.push(Target { id, port: t.port, availability_zone: None, state: String::new(), reason: None, description: None });
        }
        Ok(out)
    }
}

impl Step for Spec {
    fn iam_actions(&self) -> Vec<&'static str> {
        vec![
            "elasticloadbalancing:CreateTargetGroup",
            "elasticloadbalancing:AddTags",
            "elasticloadbalancing:ModifyTargetGroupAttributes",
            "elasticloadbalancing:RegisterTargets",
            "elasticloadbalancing:DeregisterTargets",
            "elasticloadbalancing:ModifyListener",
            "elasticloadbalancing:ModifyRule",
            "elasticloadbalancing:DeleteTargetGroup",
        ]
    }

    fn findings(&self, net: &Network) -> Vec<crate::preflight::Finding> {
        crate::preflight::compute::before_target_groups(self, net)
    }

    fn kind(&self) -> &'static str {
        "target_group_ipv6"
    }

    fn scope(&self) -> Scope {
        Scope::ALL
    }

    fn converges(&self) -> bool {
        true
    }

    fn check(&self, net: &Network) -> Result<Vec<super::Change>, StepError> {
        let (lb, listener) = resolve::listener(net, &self.listener)?;
        for r in &self.groups {
            // A retired (deleted) group whose replacement carries its traffic is done.
            let old = match resolve::target_group(net, r) {
                Ok(g) => g,
                Err(e) => match net.target_group_named(&self.new_name(&r.text)) {
                    Some(new) if new.tag(RUN_TAG).is_some() => continue,
                    _ => return Err(e),
                },
            };
            // ECS registers a service's tasks in its own groups, by IPv4
            // address (AWS: a service's group is IPv4 unless its tasks are
            // IPv6-only): a group created beside it never gets a deploy's tasks.
            let services: Vec<&str> = net.ecs_services_behind(&old.arn).map(|s| s.name.as_str()).collect();
            if !services.is_empty() {
                return Err(StepError::precondition(
                    r.at,
                    format!("{} is managed by ECS service(s) {}: an IPv6 group created beside it would never receive their tasks", old.name, services.join(", ")),
                )
                .with_help("keep the group (ECS registers dual-stack tasks by their IPv4 address), make the load balancer dual-stack, and redeploy the service(s) with an `ecs_redeploy` step"));
            }
            let new_name = self.new_name(&old.name);
            let Some(new) = net.target_group_named(&new_name) else {
                if lb.ip_address_type == "ipv4" {
                    return Err(StepError::precondition(self.listener.at, format!("{} is ipv4: an IPv6 target group needs a dual-stack load balancer", lb.name))
                        .with_help("add a `load_balancer_ip_type` step before this one"));
                }
                // Fail before creating anything when a target cannot be IPv6.
                self.desired_targets(net, old, r.at)?;
                let mut group = old.copy_as(&new_name, "ipv6");
                group.tags.retain(|(k, _)| k != RUN_TAG);
                group.tags.push((RUN_TAG.to_string(), String::new()));
                group.tags.push(("dualstack:replaces".to_string(), old.name.clone()));
                // Attributes are their own change (below), so that a crash
                // between the two calls cannot lose them.
                group.attributes.clear();
                return Ok(vec![super::Change::TargetGroupIpv6(Change::CreateGroup { source: old.name.clone(), group })]);
            };
            if new.ip_address_type != "ipv6" {
                return Err(StepError::precondition(r.at, format!("a target group named {new_name} already exists and is {}", new.ip_address_type))
                    .with_help("choose another `name_suffix`"));
            }
            let differing: Vec<(String, String)> = old
                .attributes
                .iter()
                .filter(|(k, v)| new.attributes.iter().find(|(nk, _)| nk == k).is_none_or(|(_, nv)| nv != v))
                .cloned()
                .collect();
            if !differing.is_empty() {
                return Ok(vec![super::Change::TargetGroupIpv6(Change::CopyAttributes {
                    group_arn: new.arn.clone(),
                    group: new.name.clone(),
                    attributes: differing,
                })]);
            }
            let missing: Vec<Target> = self
                .desired_targets(net, old, r.at)?
                .into_iter()
                .filter(|d| !new.targets.iter().any(|t| t.id == d.id && t.port == d.port && t.state != "draining"))
                .collect();
            if !missing.is_empty() {
                return Ok(vec![super::Change::TargetGroupIpv6(Change::RegisterTargets {
                    group_arn: new.arn.clone(),
                    group: new.name.clone(),
                    targets: missing,
                })]);
            }
            // Forward actions of this listener that involve X or X'.
            let forwards: Vec<(Option<&crate::aws::ListenerRule>, &Forward)> = std::iter::once((None, listener.default_actions.forward.as_ref()))
                .chain(listener.rules.iter().map(|r| (Some(r), r.actions.forward.as_ref())))
                .filter_map(|(rule, f)| f.map(|f| (rule, f)))
                .filter(|(_, f)| f.weight_of(&old.arn).is_some() || f.weight_of(&new.arn).is_some())
                .collect();
            for (rule, _) in &forwards {
                let actions = rule.map_or(&listener.default_actions, |r| &r.actions);
                if actions.count != 1 {
                    return Err(StepError::precondition(
                        self.listener.at,
                        format!(
                            "{} of {}:{} has actions {}; dualstack rewrites only a single forward action",
                            rule.map_or("the default action".to_string(), |r| format!("rule {}", r.priority)),
                            lb.name,
                            listener.port,
                            actions.kinds.join(", ")
                        ),
                    ));
                }
            }
            if forwards.is_empty() {
                return Err(StepError::precondition(r.at, format!("listener {}:{} does not forward to {}", lb.name, listener.port, old.name)));
            }
            // 1. X' on every forward at weight 0.
            let attach: Vec<super::Change> = forwards
                .iter()
                .filter(|(_, f)| f.weight_of(&new.arn).is_none())
                .enumerate()
                .map(|(i, (rule, f))| {
                    // X' right after X, so that it takes X's place in the end.
                    let mut next = (*f).clone();
                    let at = next.groups.iter().position(|g| g.arn == old.arn).map_or(next.groups.len(), |i| i + 1);
                    next.groups.insert(at, WeightedGroup { arn: new.arn.clone(), weight: 0 });
                    let mut change = self.set_forward(lb, listener, *rule, f, next, new, net, 0, false);
                    if let super::Change::TargetGroupIpv6(Change::SetForward { wait_healthy, .. }) = &mut change {
                        // X' is attached to its first forward only once every
                        // target is healthy; the rest follow in the same batch.
                        *wait_healthy = i == 0;
                    }
                    change
                })
                .collect();
            if !attach.is_empty() {
                return Ok(attach);
            }
            // 2. Done with this group when X is on none of them.
            if forwards.iter().all(|(_, f)| f.weight_of(&old.arn).is_none()) {
                if self.retire == Retire::Delete && net.forwards_to(&old.arn).next().is_none() {
                    return Ok(vec![super::Change::TargetGroupIpv6(Change::DeleteOldGroup {
                        group_arn: old.arn.clone(),
                        copy: old.copy_as(&old.name, &old.ip_address_type),
                        targets: old.targets.iter().map(|t| Target { state: String::new(), reason: None, description: None, ..t.clone() }).collect(),
                    })]);
                }
                continue;
            }
            // 3. The next stage: the one after the least advanced forward, so
            // that a stage interrupted half way (the listener moved, its rule
            // not yet) is finished before the next begins. A forward where X
            // and X' both weigh 0 (the idle side) moves straight to the end.
            let done_pct = forwards
                .iter()
                .filter_map(|(_, f)| {
                    let (a, b) = (f.weight_of(&old.arn)?, f.weight_of(&new.arn).unwrap_or(0));
                    (a + b > 0).then(|| (b as i64 * 100 / (a + b) as i64) as u32)
                })
                .min();
            let first = done_pct.map_or(100, |d| self.shift.iter().copied().find(|p| *p > d).unwrap_or(100));
            // A stage too small to move a whole unit of weight is skipped
            // (stage 100 always moves: it takes X off).
            let later = self.shift.iter().copied().filter(|p| *p > first).chain([100]);
            let moves_at = |stage: u32| -> Vec<_> {
                forwards
                    .iter()
                    .filter_map(|(rule, f)| {
                        let (a, b) = (f.weight_of(&old.arn).unwrap_or(0), f.weight_of(&new.arn).unwrap_or(0));
                        let t = a + b;
                        let mut next = (*f).clone();
                        if stage == 100 {
                            next.groups.retain(|g| g.arn != old.arn);
                            if let Some(g) = next.groups.iter_mut().find(|g| g.arn == new.arn) {
                                g.weight = t;
                            }
                        } else {
                            let moved = ((t as i64 * stage as i64 + 50) / 100) as i32;
                            for g in &mut next.groups {
                                if g.arn == old.arn {
                                    g.weight = t - moved;
                                } else if g.arn == new.arn {
                                    g.weight = moved;
                                }
                            }
                        }
                        // Already at this stage: no call.
                        (next != **f).then_some((*rule, *f, next))
                    })
                    .collect()
            };
            let (stage, moves) = std::iter::once(first)
                .chain(later)
                .map(|stage| (stage, moves_at(stage)))
                .find(|(_, m)| !m.is_empty())
                .expect("stage 100 takes X off a forward that still has it");
            let n = moves.len();
            return Ok(moves
                .into_iter()
                .enumerate()
                .map(|(i, (rule, f, next))| self.set_forward(lb, listener, rule, f, next, new, net, stage, i + 1 == n))
                .collect());
        }
        Ok(vec![])
    }

    /// The new groups' targets, whose health `settled` looks at.
    fn settle_scope(&self) -> Scope {
        Scope::TARGET_GROUPS
    }

    fn settled(&self, net: &Network) -> Probe {
        for r in &self.groups {
            if let Some(new) = net.target_group_named(&self.new_name(&r.text))
                && let Some(t) = new.targets.iter().find(|t| t.state != "healthy")
            {
                return Probe::Pending(format!("{} target {} is {}", new.name, t.id, t.state));
            }
        }
        Probe::Ready
    }
}

impl Spec {
    #[allow(clippy::too_many_arguments)]
    fn set_forward(
        &self,
        lb: &crate::aws::LoadBalancer,
        listener: &crate::aws::Listener,
        rule: Option<&crate::aws::ListenerRule>,
        prior: &Forward,
        next: Forward,
        new: &TargetGroup,
        net: &Network,
        stage: u32,
        last_of_stage: bool,
    ) -> super::Change {
        let names = |f: &Forward| f.groups.iter().map(|g| net.target_group(&g.arn).map_or_else(|| g.arn.clone(), |t| t.name.clone())).collect();
        super::Change::TargetGroupIpv6(Change::SetForward {
            listener_arn: listener.arn.clone(),
            rule_arn: rule.map(|r| r.arn.clone()),
            place: match rule {
                None => format!("{}:{} default action", lb.name, listener.port),
                Some(r) => format!("{}:{} rule {}", lb.name, listener.port, r.priority),
            },
            prior_names: names(prior),
            prior: prior.clone(),
            names: names(&next),
            forward: next,
            new_group_arn: new.arn.clone(),
            stage,
            gate_after: last_of_stage,
            bake_ms: if last_of_stage { self.bake.as_millis() as u64 } else { 0 },
            wait_healthy: false,
        })
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Change {
    CreateGroup {
        source: String,
        group: NewTargetGroup,
    },
    /// X's attributes onto X' (X' is new: nothing to restore on rollback,
    /// it is deleted).
    CopyAttributes {
        group_arn: String,
        group: String,
        attributes: Vec<(String, String)>,
    },
    RegisterTargets {
        group_arn: String,
        group: String,
        targets: Vec<Target>,
    },
    SetForward {
        listener_arn: String,
        rule_arn: Option<String>,
        /// `redash:443 default action` or `redash:443 rule 10`.
        place: String,
        prior: Forward,
        prior_names: Vec<String>,
        forward: Forward,
        names: Vec<String>,
        new_group_arn: String,
        /// Percent of the old group's weight moved (0: attached at weight 0).
        stage: u32,
        gate_after: bool,
        bake_ms: u64,
        /// Wait until every target of the new group is healthy first.
        #[serde(default)]
        wait_healthy: bool,
    },
    DeleteOldGroup {
        group_arn: String,
        /// Everything needed to recreate it on rollback.
        copy: NewTargetGroup,
        targets: Vec<Target>,
    },
}

fn weights(f: &Forward, names: &[String]) -> String {
    f.groups.iter().zip(names).map(|(g, n)| format!("{n}={}", g.weight)).collect::<Vec<_>>().join(" ")
}

/// Placeholder ARN for a group a plan would create.
fn planned_arn(name: &str) -> String {
    format!("(new {name})")
}

#[async_trait::async_trait]
impl super::ChangeKind for Change {
    fn scope(&self) -> Scope {
        match self {
            // Undoing a weight change may need a group recreated meanwhile.
            Change::SetForward { .. } => Scope::LOAD_BALANCING,
            _ => Scope::TARGET_GROUPS,
        }
    }

    /// Recreating a deleted group: later undos must read state afresh.
    fn undo_creates(&self) -> bool {
        matches!(self, Change::DeleteOldGroup { .. })
    }

    fn gate_after(&self) -> bool {
        matches!(self, Change::SetForward { gate_after: true, .. })
    }

    /// Changes with the same key set the same thing: undoing the oldest
    /// restores the original, so the newer ones need no call of their own.
    fn undo_key(&self) -> Option<String> {
        match self {
            Change::SetForward { listener_arn, rule_arn, .. } => Some(format!("forward {listener_arn} {}", rule_arn.as_deref().unwrap_or("default"))),
            _ => None,
        }
    }

    fn describe(&self) -> Description {
        match self {
            Change::CreateGroup { source, group } => Description {
                call: "elasticloadbalancing:CreateTargetGroup",
                args: format!(
                    "Name={} Protocol={} Port={} TargetType={} IpAddressType=ipv6 (health check and attributes copied from {source})",
                    group.name,
                    group.protocol.as_deref().unwrap_or("-"),
                    group.port.map_or("-".into(), |p| p.to_string()),
                    group.target_type
                ),
                resource: group.name.clone(),
                attribute: "target group".into(),
                current: "none".into(),
                desired: format!("IPv6 copy of {source}"),
            },
            Change::CopyAttributes { group_arn, group, attributes } => Description {
                call: "elasticloadbalancing:ModifyTargetGroupAttributes",
                args: format!("TargetGroupArn={group_arn} {}", attributes.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(" ")),
                resource: group.clone(),
                attribute: "attributes".into(),
                current: "defaults".into(),
                desired: format!("{} copied", attributes.len()),
            },
            Change::RegisterTargets { group_arn, group, targets } => Description {
                call: "elasticloadbalancing:RegisterTargets",
                args: format!("TargetGroupArn={group_arn} Targets={}", targets.iter().map(show_target).collect::<Vec<_>>().join(",")),
                resource: group.clone(),
                attribute: "targets".into(),
                current: "none".into(),
                desired: targets.iter().map(show_target).collect::<Vec<_>>().join(", "),
            },
            Change::SetForward { listener_arn, rule_arn, place, prior, prior_names, forward, names, stage, .. } => Description {
                call: if rule_arn.is_some() { "elasticloadbalancing:ModifyRule" } else { "elasticloadbalancing:ModifyListener" },
                args: format!("{} forward {}", rule_arn.as_ref().map_or_else(|| format!("ListenerArn={listener_arn}"), |r| format!("RuleArn={r}")), weights(forward, names)),
                resource: place.clone(),
                attribute: if *stage == 0 { "weights (attach at 0)".into() } else { format!("weights (stage {stage}%)") },
                current: weights(prior, prior_names),
                desired: weights(forward, names),
            },
            Change::DeleteOldGroup { group_arn, copy, .. } => Description {
                call: "elasticloadbalancing:DeleteTargetGroup",
                args: format!("TargetGroupArn={group_arn}"),
                resource: copy.name.clone(),
                attribute: "target group".into(),
                current: "present (no traffic)".into(),
                desired: "deleted (retire: delete)".into(),
            },
        }
    }

    /// [`Change::project`] with the ARN AWS gave a new group and the
    /// attributes it gave it (read: AWS's defaults vary with the protocol and
    /// target type and change over time, and a difference from the old group
    /// must be copied before the group takes any traffic).
    async fn project_applied(&self, cx: &StepCx<'_>, outcome: &Outcome, net: &mut Network) -> Result<(), StepError> {
        self.project(net);
        if let (Change::CreateGroup { group, .. }, Some(arn)) = (self, &outcome.resource_id) {
            let attributes = cx.elb.target_group_attributes(arn).await?;
            if let Some(g) = net.target_groups.iter_mut().find(|g| g.arn == planned_arn(&group.name)) {
                g.arn = arn.clone();
                g.attributes = attributes;
            }
        }
        Ok(())
    }

    fn project(&self, net: &mut Network) {
        match self {
            Change::CreateGroup { group, .. } => net.target_groups.push(TargetGroup {
                arn: planned_arn(&group.name),
                name: group.name.clone(),
                protocol: group.protocol.clone(),
                port: group.port,
                vpc_id: group.vpc_id.clone(),
                target_type: group.target_type.clone(),
                ip_address_type: group.ip_address_type.clone(),
                health_check: group.health_check.clone(),
                // A new group starts with AWS's defaults: the plan then shows
                // a CopyAttributes only for what the old group changed, as
                // apply (which reads the new group) will do.
                attributes: new_group_defaults(group.protocol.as_deref(), &group.target_type),
                tags: group.tags.clone(),
                ..TargetGroup::default()
            }),
            Change::CopyAttributes { group_arn, attributes, .. } => {
                if let Some(g) = net.target_group_mut(group_arn) {
                    for (k, v) in attributes {
                        g.attributes.retain(|(gk, _)| gk != k);
                        g.attributes.push((k.clone(), v.clone()));
                    }
                }
            }
            Change::RegisterTargets { group_arn, targets, .. } => {
                if let Some(g) = net.target_group_mut(group_arn) {
                    g.targets.extend(targets.iter().map(|t| Target { state: "healthy".into(), ..t.clone() }));
                }
            }
            Change::SetForward { listener_arn, rule_arn, forward, .. } => {
                for lb in &mut net.load_balancers {
                    for l in lb.listeners.iter_mut().filter(|l| &l.arn == listener_arn) {
                        match rule_arn {
                            None => l.default_actions.forward = Some(forward.clone()),
                            Some(r) => {
                                for rule in l.rules.iter_mut().filter(|x| &x.arn == r) {
                                    rule.actions.forward = Some(forward.clone());
                                }
                            }
                        }
                    }
                }
            }
            Change::DeleteOldGroup { group_arn, .. } => net.target_groups.retain(|g| &g.arn != group_arn),
        }
    }

    async fn apply(&self, cx: &StepCx<'_>) -> Result<Outcome, StepError> {
        match self {
            Change::CreateGroup { group, .. } => {
                let mut group = group.clone();
                for (k, v) in &mut group.tags {
                    if k == RUN_TAG {
                        *v = cx.run_id.to_string();
                    }
                }
                let arn = cx.elb.create_target_group(&group).await?;
                Ok(Outcome { resource_id: Some(arn), ..Outcome::default() })
            }
            Change::CopyAttributes { group_arn, attributes, .. } => {
                cx.elb.set_target_group_attributes(group_arn, attributes).await?;
                Ok(Outcome::default())
            }
            Change::RegisterTargets { group_arn, targets, .. } => {
                cx.elb.register_targets(group_arn, targets).await?;
                Ok(Outcome::default())
            }
            Change::SetForward { listener_arn, rule_arn, forward, new_group_arn, wait_healthy: wait, .. } => {
                if *wait {
                    // No traffic before every new target is healthy. A group
                    // with no targets (a side scaled to zero) has none to wait
                    // for; its registration, if any, waited for them already.
                    wait_healthy(cx, new_group_arn, Empty::Done).await?;
                }
                cx.elb.set_forward(listener_arn, rule_arn.as_deref(), forward).await?;
                Ok(Outcome::default())
            }
            Change::DeleteOldGroup { group_arn, .. } => {
                cx.elb.delete_target_group(group_arn).await?;
                Ok(Outcome::default())
            }
        }
    }

    async fn settle(&self, cx: &StepCx<'_>, _outcome: &Outcome) -> Result<(), StepError> {
        match self {
            Change::RegisterTargets { group_arn, .. } => wait_healthy(cx, group_arn, Empty::NotYetVisible).await,
            Change::SetForward { bake_ms, .. } if *bake_ms > 0 => {
                cx.events.emit(crate::engine::events::Event::Waiting {
                    step: cx.step.to_string(),
                    what: format!("bake {}s", bake_ms / 1000),
                    deadline_secs: Some(bake_ms.div_ceil(1000)),
                });
                tokio::time::sleep(Duration::from_millis(*bake_ms)).await;
                Ok(())
            }
            _ => Ok(()),
        }
    }

    fn reconcile(&self, net: &Network) -> Option<Outcome> {
        match self {
            Change::CreateGroup { group, .. } => net
                .target_group_named(&group.name)
                .map(|g| Outcome { resource_id: Some(g.arn.clone()), ..Outcome::default() }),
            Change::CopyAttributes { group_arn, attributes, .. } => {
                let g = net.target_group(group_arn)?;
                attributes.iter().all(|a| g.attributes.contains(a)).then(Outcome::default)
            }
            Change::RegisterTargets { group_arn, targets, .. } => {
                let g = net.target_group(group_arn)?;
                targets.iter().all(|t| g.targets.iter().any(|x| x.id == t.id && x.port == t.port)).then(Outcome::default)
            }
            Change::SetForward { listener_arn, rule_arn, forward, .. } => {
                (current_forward(net, listener_arn, rule_arn.as_deref())? == forward).then(Outcome::default)
            }
            Change::DeleteOldGroup { group_arn, .. } => net.target_group(group_arn).is_none().then(Outcome::default),
        }
    }

    async fn undo(&self, cx: &StepCx<'_>, outcome: &Outcome, net: &Network) -> Result<(), StepError> {
        match self {
            Change::SetForward { listener_arn, rule_arn, prior, prior_names, .. } => {
                // A group in the prior action may have been recreated (retire:
                // delete) under a new ARN: find it by name.
                let mut restore = prior.clone();
                for (g, name) in restore.groups.iter_mut().zip(prior_names) {
                    if net.target_group(&g.arn).is_none()
                        && let Some(t) = net.target_group_named(name)
                    {
                        g.arn = t.arn.clone();
                    }
                }
                if current_forward(net, listener_arn, rule_arn.as_deref()) != Some(&restore) {
                    cx.elb.set_forward(listener_arn, rule_arn.as_deref(), &restore).await?;
                }
                Ok(())
            }
            Change::CopyAttributes { .. } => Ok(()),
            Change::RegisterTargets { group_arn, targets, .. } => {
                let present: Vec<Target> = net
                    .target_group(group_arn)
                    .map(|g| targets.iter().filter(|t| g.targets.iter().any(|x| x.id == t.id && x.port == t.port && x.state != "draining")).cloned().collect())
                    .unwrap_or_default();
                if !present.is_empty() {
                    cx.elb.deregister_targets(group_arn, &present).await?;
                }
                Ok(())
            }
            Change::CreateGroup { group, .. } => {
                let arn = outcome.resource_id.clone().or_else(|| net.target_group_named(&group.name).map(|g| g.arn.clone()));
                if let Some(arn) = arn
                    && net.target_group(&arn).is_some()
                {
                    cx.elb.delete_target_group(&arn).await?;
                }
                Ok(())
            }
            Change::DeleteOldGroup { copy, targets, .. } => {
                if net.target_group_named(&copy.name).is_none() {
                    let arn = cx.elb.create_target_group(copy).await?;
                    if !targets.is_empty() {
                        cx.elb.register_targets(&arn, targets).await?;
                    }
                }
                Ok(())
            }
        }
    }
}

fn show_target(t: &Target) -> String {
    match t.port {
        Some(p) if t.id.contains(':') => format!("[{}]:{p}", t.id),
        Some(p) => format!("{}:{p}", t.id),
        None => t.id.clone(),
    }
}

fn current_forward<'n>(net: &'n Network, listener_arn: &str, rule_arn: Option<&str>) -> Option<&'n Forward> {
    let l = net.load_balancers.iter().flat_map(|lb| &lb.listeners).find(|l| l.arn == listener_arn)?;
    match rule_arn {
        None => l.default_actions.forward.as_ref(),
        Some(r) => l.rules.iter().find(|x| x.arn == r)?.actions.forward.as_ref(),
    }
}

/// What a group without targets means to [`wait_healthy`].
#[derive(Clone, Copy, PartialEq, Eq)]
enum Empty {
    /// Targets were just registered: not visible yet, keep waiting.
    NotYetVisible,
    /// The group has no targets: nothing to wait for.
    Done,
}

/// Wait until every target of the group reports healthy.
async fn wait_healthy(cx: &StepCx<'_>, group_arn: &str, empty: Empty) -> Result<(), StepError> {
    let what = format!("the targets of {} to be healthy", group_arn.rsplit('/').nth(1).unwrap_or(group_arn));
    let targets = cx.elb.target_health(group_arn).await?;
    if targets.is_empty() && empty == Empty::Done {
        return Ok(());
    }
    if !targets.is_empty() && targets.iter().all(|t| t.state == "healthy") {
        return Ok(());
    }
    cx.events.emit(crate::engine::events::Event::Waiting { step: cx.step.to_string(), what: what.clone(), deadline_secs: Some(cx.waiter.deadline.as_secs()) });
    cx.waiter
        .until(&what, || async {
            let targets = cx.elb.target_health(group_arn).await?;
            Ok(match targets.iter().find(|t| t.state != "healthy") {
                None if !targets.is_empty() => Probe::Ready,
                None => Probe::Pending("no targets registered yet".into()),
                Some(t) if t.state == "unhealthy" && t.reason.as_deref() == Some("Target.FailedHealthChecks") => {
                    Probe::Pending(format!("{} unhealthy: {}", t.id, t.description.as_deref().unwrap_or("failed health checks")))
                }
                Some(t) => Probe::Pending(format!("{} {}", t.id, t.state)),
            })
        })
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(suffix: &str) -> Spec {
        let at = Pos::default();
        Spec {
            listener: Ref { text: "lb:80".into(), at },
            groups: vec![],
            suffix: suffix.into(),
            shift: vec![10, 50, 100],
            bake: Duration::ZERO,
            retire: Retire::Keep,
            at,
        }
    }

    #[test]
    fn new_names_respect_the_32_character_limit() {
        assert_eq!(spec("-v6").new_name("redash-green"), "redash-green-v6");
        let long = "a-very-long-target-group-name-x1";
        assert_eq!(long.len(), 32);
        let n = spec("-v6").new_name(long);
        assert_eq!(n.len(), 32);
        assert_eq!(n, "a-very-long-target-group-name-v6");
        // No double dash where the cut lands on one.
        assert_eq!(spec("-ipv6").new_name("abcdefghijklmnopqrstuvwxyz-abcdef"), "abcdefghijklmnopqrstuvwxyz-ipv6");
    }
}
