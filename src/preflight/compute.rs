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
    let mut clusters: Vec<&str> = tasks.iter().map(|t| t.cluster.rsplit('/').next().unwrap_or(&t.cluster)).collect();
    clusters.sort();
    clusters.dedup();
    if !state.dual_stack_ipv6 {
        return vec![Finding {
            id: ECS_SETTING_OFF,
            severity: Severity::Warning,
            step: None,
            resource: format!("ECS cluster(s) {}", clusters.join(", ")),
            message: format!(
                "{} running task(s) are in subnets that get IPv6, but the account setting dualStackIPv6 is off (as effective for this caller; the role that deploys may differ): tasks started after the migration still get no IPv6 address",
                tasks.len()
            ),
            fix: "`aws ecs put-account-setting-default --name dualStackIPv6 --value enabled` (or per role with put-account-setting), then redeploy the services".into(),
        }];
    }
    let keeps: Vec<_> = tasks.iter().filter(|t| t.interface_id.as_deref().and_then(|i| end.interface(i)).is_none_or(|e| e.ipv6_addresses.is_empty())).collect();
    if keeps.is_empty() {
        return Vec::new();
    }
    vec![Finding {
        id: ECS_TASK_KEEPS_IPV4,
        severity: Severity::Info,
        step: None,
        resource: format!("ECS cluster(s) {}", clusters.join(", ")),
        message: format!("{} running task(s) keep IPv4 only: a task gets IPv6 when it starts in a dual-stack subnet", keeps.len()),
        fix: "redeploy the services after the migration (aws ecs update-service --force-new-deployment), one at a time, watching their health".into(),
    }]
}
