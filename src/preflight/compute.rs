//! Compute traps: instance types without IPv6, targets that have no IPv6
//! address for a replacement group, and running instances that keep IPv4
//! only because AWS gives IPv6 only to interfaces created after the change.

use super::{Finding, Severity};
use crate::aws::{label, Instance, Network};
use crate::steps::resolve;
use crate::steps::target_group_ipv6::Spec;

pub const INSTANCE_TYPE_NO_IPV6: &str = "instance-type-without-ipv6";
pub const TARGET_NO_IPV6: &str = "target-without-ipv6";
pub const KEEPS_IPV4: &str = "running-instance-keeps-ipv4";
pub const ECS_SETTING_OFF: &str = "ecs-dualstack-setting-off";
pub const ECS_TASK_KEEPS_IPV4: &str = "running-task-keeps-ipv4";
pub const ECS_NOT_READ: &str = "ecs-not-read";
pub const ECS_NOT_REDEPLOYED: &str = "ecs-service-not-redeployed";
pub const ECS_BREAKER_OFF: &str = "ecs-circuit-breaker-off";

/// Services an `ecs_redeploy` step redeploys without a deployment circuit
/// breaker: ECS then replaces failing tasks forever instead of failing the
/// deployment (the step still fails it at the threshold or its timeout).
pub fn before_ecs_redeploy(spec: &crate::steps::ecs_redeploy::Spec, net: &Network) -> Vec<Finding> {
    spec.services
        .iter()
        .filter_map(|r| net.ecs_service(&spec.cluster.text, &r.text))
        .filter(|s| s.circuit_breaker.is_none())
        .map(|s| Finding {
            id: ECS_BREAKER_OFF,
            severity: Severity::Warning,
            step: None,
            resource: format!("ECS service {}", s.name),
            message: format!(
                "the deployment circuit breaker is off: ECS would replace failing tasks forever; the step fails the deployment itself once {} tasks failed or at its timeout",
                s.failure_threshold()
            ),
            fix: format!("aws ecs update-service --cluster {} --service {} --deployment-configuration 'deploymentCircuitBreaker={{enable=true,rollback=true}}'", crate::aws::ecs::cluster_name(&s.cluster_arn), s.name),
        })
        .collect()
}

fn running(i: &Instance) -> bool {
    matches!(i.state.as_str(), "running" | "pending")
}

/// Targets of the groups a `target_group_ipv6` step recreates that will have
/// no IPv6 address when it runs: the new group would have no target.
pub fn before_target_groups(spec: &Spec, net: &Network) -> Vec<Finding> {
    let mut out = Vec::new();
    for r in &spec.groups {
        let Ok(old) = resolve::target_group(net, r) else { continue };
        if old.ip_address_type == "ipv6" {
            continue;
        }
        let lacking: Vec<String> = old
            .targets
            .iter()
            .filter(|t| t.state != "draining")
            .filter(|t| {
                let eni = match old.target_type.as_str() {
                    "instance" => net.primary_interface(&t.id),
                    "ip" => net.interface_with_ip(&t.id),
                    _ => return false,
                };
                eni.is_none_or(|e| e.ipv6_addresses.is_empty())
            })
            .map(|t| t.id.clone())
            .collect();
        if lacking.is_empty() {
            continue;
        }
        out.push(Finding {
            id: TARGET_NO_IPV6,
            severity: Severity::Error,
            step: None,
            resource: format!("target group {}", old.name),
            message: format!(
                "{} target(s) ({}) have no IPv6 address and get none from an earlier step: the IPv6 group cannot register them",
                lacking.len(),
                lacking.join(", ")
            ),
            fix: format!("add an `assign_ipv6_addresses` step with `targets_of: [{}]` before this one, or replace the targets (new ones get IPv6 in an assign-on-creation subnet)", old.name),
        });
    }
    out
}

/// Instances in subnets that get (or have) IPv6: types without IPv6
/// support, and running instances that will still have no IPv6 address.
pub fn at_end(live: &Network, end: &Network) -> Vec<Finding> {
    let mut out = Vec::new();
    let v6_subnet = |id: &str| end.subnet(id).is_some_and(|s| s.ipv6_block().is_some());
    let changed_subnet = |id: &str| {
        let before = live.subnet(id).map(|s| (s.ipv6_block().is_some(), s.assign_ipv6_address_on_creation));
        let after = end.subnet(id).map(|s| (s.ipv6_block().is_some(), s.assign_ipv6_address_on_creation));
        before != after
    };
    let unsupported: Vec<&Instance> = end.instances.iter().filter(|i| running(i) && i.ipv6_supported == Some(false) && v6_subnet(&i.subnet_id)).collect();
    for i in &unsupported {
        out.push(Finding {
            id: INSTANCE_TYPE_NO_IPV6,
            severity: Severity::Warning,
            step: None,
            resource: label(&i.id, i.name.as_deref()),
            message: format!("its instance type {} does not support IPv6 (DescribeInstanceTypes): it stays IPv4-only in a dual-stack subnet", i.instance_type),
            fix: "move it to a current-generation type (for example m3 -> m7i) before relying on IPv6 for it".into(),
        });
    }
    let keeps: Vec<String> = end
        .instances
        .iter()
        .filter(|i| running(i) && i.ipv6_supported != Some(false) && changed_subnet(&i.subnet_id) && v6_subnet(&i.subnet_id))
        .filter(|i| end.primary_interface(&i.id).is_none_or(|e| e.ipv6_addresses.is_empty()))
        .map(|i| label(&i.id, i.name.as_deref()))
        .collect();
    if !keeps.is_empty() {
        out.push(Finding {
            id: KEEPS_IPV4,
            severity: Severity::Info,
            step: None,
            resource: format!("{} running instance(s)", keeps.len()),
            message: format!(
                "{} keep IPv4 only: AWS gives IPv6 addresses to interfaces created after the subnet change, not to running ones",
                keeps.join(", ")
            ),
            fix: "redeploy or replace them after the migration (new tasks and instances get IPv6), or add an `assign_ipv6_addresses` step".into(),
        });
    }
    out.extend(ecs(end, &v6_subnet));
    out
}

/// ECS tasks in subnets that get IPv6: they get an IPv6 address only with
/// the account setting `dualStackIPv6` on, and only when they start.
fn ecs(end: &Network, v6_subnet: &dyn Fn(&str) -> bool) -> Vec<Finding> {
    let state = match &end.ecs {
        None => return Vec::new(),
        Some(Err(why)) => {
            return vec![Finding {
                id: ECS_NOT_READ,
                severity: Severity::Warning,
                step: None,
                resource: "ECS".into(),
                message: format!("could not read ECS ({why}): the tasks in these subnets and the dualStackIPv6 account setting were not checked"),
                fix: "allow ecs:ListAccountSettings, ecs:ListClusters, ecs:ListTasks and ecs:DescribeTasks (see `plan --iam-policy`), or check them by hand".into(),
            }];
        }
        Some(Ok(state)) => state,
    };
    let tasks: Vec<_> = state.tasks.iter().filter(|t| v6_subnet(&t.subnet_id)).collect();
    if tasks.is_empty() {
        return Vec::new();
    }
    let mut out = Vec::new();
    // Services whose tasks still lack IPv6 where a new task would get it:
    // no `ecs_redeploy` covers them, so they keep IPv4 until some later
    // deploy, which is the incident's moment.
    let assigns = |id: &str| crate::steps::ecs_redeploy::subnet_assigns_ipv6(end, id);
    let stale: Vec<String> = end
        .ecs_services
        .iter()
        .filter(|s| s.tasks.iter().any(|t| t.ipv6.is_none() && t.subnet_id.as_deref().is_some_and(assigns)))
        .map(|s| s.name.clone())
        .collect();
    if !stale.is_empty() && end.dual_stack_ipv6 != Some(false) {
        out.push(Finding {
            id: ECS_NOT_REDEPLOYED,
            severity: Severity::Warning,
            step: None,
            resource: format!("ECS service(s) {}", stale.join(", ")),
            message: "running tasks are in subnets that will assign IPv6 and no `ecs_redeploy` step covers their service: they keep IPv4 until some later deploy gives them IPv6, unwatched (the incident's moment)".into(),
            fix: "add an `ecs_redeploy` step for them after the network steps, gated on their health over IPv6".into(),
        });
    }
    let in_service = |arn: &str| end.ecs_services.iter().any(|s| s.tasks.iter().any(|t| t.arn == arn));
    let mut clusters: Vec<&str> = tasks.iter().map(|t| crate::aws::ecs::cluster_name(&t.cluster)).collect();
    clusters.sort();
    clusters.dedup();
    // Effective at the end of the runbook: `enable_dual_stack_setting` turns it on.
    if !end.dual_stack_ipv6.unwrap_or(state.dual_stack_ipv6) {
        out.push(Finding {
            id: ECS_SETTING_OFF,
            severity: Severity::Warning,
            step: None,
            resource: format!("ECS cluster(s) {}", clusters.join(", ")),
            message: format!(
                "{} running task(s) are in subnets that get IPv6, but the account setting dualStackIPv6 is off (as effective for this caller; the role that deploys may differ): tasks started after the migration still get no IPv6 address",
                tasks.len()
            ),
            fix: "`enable_dual_stack_setting: true` in the `ecs_redeploy` step, or `aws ecs put-account-setting-default --name dualStackIPv6 --value enabled` (or per role with put-account-setting), then redeploy the services".into(),
        });
        return out;
    }
    // Tasks of no service (RunTask): nothing redeploys them.
    let keeps: Vec<_> = tasks
        .iter()
        .filter(|t| !in_service(&t.arn))
        .filter(|t| t.interface_id.as_deref().and_then(|i| end.interface(i)).is_none_or(|e| e.ipv6_addresses.is_empty()))
        .collect();
    if keeps.is_empty() {
        return out;
    }
    out.push(Finding {
        id: ECS_TASK_KEEPS_IPV4,
        severity: Severity::Info,
        step: None,
        resource: format!("ECS cluster(s) {}", clusters.join(", ")),
        message: format!("{} running task(s) of no service keep IPv4 only: a task gets IPv6 when it starts in a dual-stack subnet", keeps.len()),
        fix: "start them again after the migration: a task gets IPv6 only when it starts".into(),
    });
    out
}
