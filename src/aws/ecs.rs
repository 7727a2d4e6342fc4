//! [`Ecs`] over the official `aws-sdk-ecs` client: the services and tasks
//! of a VPC, the account setting `dualStackIPv6`, and the one mutating call
//! a redeploy makes (UpdateService with `forceNewDeployment`).
//!
//! ECS tasks in `awsvpc` mode get an IPv6 address only when the account
//! setting `dualStackIPv6` is enabled, and running tasks keep what they had
//! until a new deployment replaces them. A task names the deployment that
//! launched it in `startedBy`, which is how a deployment's own tasks are
//! told from the ones it replaces, without comparing clocks.
//!
//! Retries are split as in [`super::ec2`]: reads use the SDK's standard
//! retry; the two writes go through a client with the SDK's retries off and
//! [`RetryPolicy::write`], which retries only throttling and asks the lock's
//! lease before each attempt after the first. An UpdateService whose answer
//! was lost (a 5xx, a dropped connection) is never sent again blindly: it
//! comes back as [`super::FailureKind::Unknown`] and the step settles it
//! from the service's deployments, since a second one would start a second
//! deployment.

use async_trait::async_trait;
use aws_sdk_ecs::types::{DesiredStatus, SettingName};
use aws_sdk_ecs::Client;
use serde::{Deserialize, Serialize};

use super::ec2::err;
use super::retry::RetryPolicy;
use super::AwsError;

/// The account setting that gives `awsvpc` tasks an IPv6 address. The SDK's
/// enum lacks it; AWS documents it for PutAccountSetting(Default).
pub const DUAL_STACK_SETTING: &str = "dualStackIPv6";

/// A cluster's name from its ARN (`arn:aws:ecs:...:cluster/redash` -> `redash`).
pub fn cluster_name(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or(arn)
}

/// Whether a cluster ARN is the cluster a runbook names by name or ARN.
pub fn cluster_matches(arn: &str, cluster: &str) -> bool {
    arn == cluster || cluster_name(arn) == cluster
}

/// A running `awsvpc` task and the subnet of its interface.
#[derive(Clone, Debug, serde::Serialize)]
pub struct EcsTask {
    pub arn: String,
    pub cluster: String,
    pub subnet_id: String,
    pub interface_id: Option<String>,
}

/// One deployment of a service, as DescribeServices returns it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deployment {
    /// `ecs-svc/1234567890123456789`; the tasks it launched carry it in `startedBy`.
    pub id: String,
    /// PRIMARY (the newest), ACTIVE (being replaced) or INACTIVE.
    pub status: String,
    /// IN_PROGRESS, COMPLETED or FAILED.
    pub rollout_state: Option<String>,
    pub rollout_state_reason: Option<String>,
    pub task_definition: Option<String>,
    pub desired: i32,
    pub running: i32,
    pub failed_tasks: i32,
}

/// A task of a service, as DescribeTasks returns it.
#[derive(Clone, Debug, Serialize)]
pub struct ServiceTask {
    pub arn: String,
    pub last_status: String,
    pub desired_status: String,
    /// The deployment that launched it.
    pub started_by: Option<String>,
    pub subnet_id: Option<String>,
    pub interface_id: Option<String>,
    pub ipv4: Option<String>,
    /// From the interface attachment's `ipv6Address`, else the containers'
    /// `networkInterfaces[].ipv6Address`: AWS reports it in both places.
    pub ipv6: Option<String>,
    pub platform_version: Option<String>,
    pub stop_code: Option<String>,
    pub stopped_reason: Option<String>,
    /// Each container's name, exit code and reason.
    pub containers: Vec<(String, Option<i32>, Option<String>)>,
}

impl ServiceTask {
    /// Short task id (the last part of its ARN).
    pub fn short_id(&self) -> &str {
        self.arn.rsplit('/').next().unwrap_or(&self.arn)
    }

    /// Whether the task stopped because it failed, as opposed to a stop the
    /// scheduler made when it replaced a healthy task. Both carry stopCode
    /// `ServiceSchedulerInitiated`: only the reason tells them apart.
    pub fn failed(&self) -> bool {
        let reason = self.stopped_reason.as_deref().unwrap_or_default();
        let code = self.stop_code.as_deref().unwrap_or_default();
        let failing_reason = ["failed ELB health checks", "failed container health checks", "CannotPull", "ResourceInitializationError", "CannotStart", "Essential container in task exited", "OutOfMemory"]
            .iter()
            .any(|r| reason.contains(r));
        let exited_non_zero = self.containers.iter().any(|(_, code, _)| code.is_some_and(|c| c != 0));
        failing_reason || matches!(code, "TaskFailedToStart" | "EssentialContainerExited") || (exited_non_zero && !reason.starts_with("Scaling activity"))
    }

    /// `task/abc 192.168.1.10 2406:da14::5`, for observations.
    pub fn label(&self) -> String {
        let mut out = self.short_id().to_string();
        for a in [&self.ipv4, &self.ipv6].into_iter().flatten() {
            out.push(' ');
            out.push_str(a);
        }
        out
    }
}

/// A service's deployment circuit breaker.
#[derive(Clone, Debug, Serialize)]
pub struct CircuitBreaker {
    pub rollback: bool,
    /// `thresholdConfiguration` (type, value) where the service sets one.
    pub threshold: Option<(String, i32)>,
}

/// An ECS service with `awsvpc` networking, and its running tasks.
#[derive(Clone, Debug, Serialize)]
pub struct EcsService {
    pub arn: String,
    pub name: String,
    pub cluster_arn: String,
    pub desired: i32,
    pub running: i32,
    pub task_definition: Option<String>,
    pub launch_type: Option<String>,
    pub platform_version: Option<String>,
    pub subnets: Vec<String>,
    /// Every target group the service registers its tasks in
    /// (`targetGroupArn` and `advancedConfiguration.alternateTargetGroupArn`).
    pub target_groups: Vec<String>,
    /// ECS, CODE_DEPLOY or EXTERNAL.
    pub controller: String,
    /// ROLLING, BLUE_GREEN, LINEAR or CANARY, where the service says.
    pub strategy: Option<String>,
    pub circuit_breaker: Option<CircuitBreaker>,
    /// The role ECS uses for the service's load balancers, if it names one.
    pub role_arn: Option<String>,
    pub deployments: Vec<Deployment>,
    /// Tasks whose desired status is RUNNING.
    pub tasks: Vec<ServiceTask>,
}

impl EcsService {
    pub fn primary(&self) -> Option<&Deployment> {
        self.deployments.iter().find(|d| d.status == "PRIMARY")
    }

    /// The number of failed tasks at which the circuit breaker fails a
    /// deployment: the service's `thresholdConfiguration` where set, else
    /// AWS's default, half the desired count, between 3 and 200.
    pub fn failure_threshold(&self) -> i32 {
        let desired = self.desired.max(1);
        match self.circuit_breaker.as_ref().and_then(|c| c.threshold.as_ref()) {
            Some((kind, value)) if kind == "COUNT" => (*value).max(1),
            Some((kind, value)) if kind == "UNBOUNDED_PERCENT" => ((desired * value + 99) / 100).max(1),
            Some((_, value)) => ((desired * value + 99) / 100).clamp(3, 200),
            None => ((desired + 1) / 2).clamp(3, 200),
        }
    }

    /// Platform version of the service's tasks as a number triple; LATEST
    /// (and no version) is 1.4.0 or later on Fargate.
    pub fn platform_at_least_1_4(&self) -> bool {
        match self.platform_version.as_deref() {
            None | Some("LATEST") => true,
            Some(v) => {
                let parts: Vec<u32> = v.split('.').filter_map(|p| p.parse().ok()).collect();
                parts.as_slice() >= [1, 4, 0].as_slice()
            }
        }
    }
}

/// The effective `dualStackIPv6` setting for one principal.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DualStackSetting {
    pub enabled: bool,
    /// The principal that setting belongs to (the account's root for the
    /// default), when AWS names it.
    pub principal: Option<String>,
}

/// What ECS holds in a VPC's subnets.
#[derive(Clone, Debug, Default)]
pub struct EcsRead {
    pub services: Vec<EcsService>,
    pub tasks: Vec<EcsTask>,
}

/// What a migration reads from ECS, and its one redeploy call.
#[async_trait]
pub trait Ecs: Send + Sync {
    /// The effective value of the account setting `dualStackIPv6` for the caller.
    async fn dual_stack_ipv6(&self) -> Result<bool, AwsError> {
        Ok(self.dual_stack_setting(None).await?.enabled)
    }
    /// The effective `dualStackIPv6` for `principal` (the caller when none).
    async fn dual_stack_setting(&self, principal: Option<&str>) -> Result<DualStackSetting, AwsError>;
    /// PutAccountSettingDefault `dualStackIPv6`: the default of every
    /// principal of the account in this region that has no setting of its own.
    async fn set_dual_stack_default(&self, enabled: bool) -> Result<(), AwsError>;
    /// Every `awsvpc` service of every cluster with a subnet among
    /// `subnet_ids`, with its running tasks, and every running task (of a
    /// service or not) with an interface in one of them.
    async fn services_in(&self, subnet_ids: &[String]) -> Result<EcsRead, AwsError>;
    /// One service (name or ARN) of `cluster`, with its running tasks.
    async fn service(&self, cluster: &str, service: &str) -> Result<Option<EcsService>, AwsError>;
    /// The service's stopped tasks that AWS still lists.
    async fn stopped_tasks(&self, cluster: &str, service_name: &str) -> Result<Vec<ServiceTask>, AwsError>;
    /// UpdateService with `forceNewDeployment`; returns the service's
    /// deployments as the answer lists them.
    async fn force_new_deployment(&self, cluster: &str, service: &str) -> Result<Vec<Deployment>, AwsError>;
}

pub struct SdkEcs {
    client: Client,
    write: Client,
    retry: RetryPolicy,
}

impl SdkEcs {
    pub fn new(config: &aws_config::SdkConfig, retry: RetryPolicy) -> SdkEcs {
        let (client, write) = retry
            .read_and_write_clients(|rc| Client::from_conf(aws_sdk_ecs::config::Builder::from(config).retry_config(rc).retry_partition(RetryPolicy::partition()).build()));
        SdkEcs { client, write, retry }
    }

    async fn clusters(&self) -> Result<Vec<String>, AwsError> {
        self.client.list_clusters().into_paginator().items().send().collect::<Result<_, _>>().await.map_err(|e| err("ecs:ListClusters", e))
    }

    /// The tasks of `cluster` (of one service when `service` is given) in
    /// `status`, with the group (`service:NAME`) each belongs to.
    async fn tasks(&self, cluster: &str, service: Option<&str>, status: DesiredStatus) -> Result<Vec<(String, ServiceTask)>, AwsError> {
        let arns: Vec<String> = self
            .client
            .list_tasks()
            .cluster(cluster)
            .set_service_name(service.map(str::to_string))
            .desired_status(status)
            .into_paginator()
            .items()
            .send()
            .collect::<Result<_, _>>()
            .await
            .map_err(|e| err("ecs:ListTasks", e))?;
        let mut out = Vec::new();
        for chunk in arns.chunks(100) {
            let described =
                self.client.describe_tasks().cluster(cluster).set_tasks(Some(chunk.to_vec())).send().await.map_err(|e| err("ecs:DescribeTasks", e))?;
            out.extend(described.tasks().iter().map(|t| (t.group().unwrap_or_default().to_string(), task(t))));
        }
        Ok(out)
    }

    /// DescribeServices of `names` in `cluster` (at most 10 per call).
    async fn describe_services(&self, cluster: &str, names: &[String]) -> Result<Vec<EcsService>, AwsError> {
        let mut out = Vec::new();
        for chunk in names.chunks(10) {
            let described = self
                .client
                .describe_services()
                .cluster(cluster)
                .set_services(Some(chunk.to_vec()))
                .send()
                .await
                .map_err(|e| err("ecs:DescribeServices", e))?;
            out.extend(described.services().iter().filter(|s| s.status() != Some("INACTIVE")).map(service));
        }
        Ok(out)
    }
}

fn service(s: &aws_sdk_ecs::types::Service) -> EcsService {
    let awsvpc = s.network_configuration().and_then(|n| n.awsvpc_configuration());
    let config = s.deployment_configuration();
    let mut target_groups = Vec::new();
    for lb in s.load_balancers() {
        target_groups.extend(lb.target_group_arn().map(str::to_string));
        if let Some(alt) = lb.advanced_configuration().and_then(|a| a.alternate_target_group_arn()) {
            target_groups.push(alt.to_string());
        }
    }
    target_groups.dedup();
    EcsService {
        arn: s.service_arn().unwrap_or_default().to_string(),
        name: s.service_name().unwrap_or_default().to_string(),
        cluster_arn: s.cluster_arn().unwrap_or_default().to_string(),
        desired: s.desired_count(),
        running: s.running_count(),
        task_definition: s.task_definition().map(str::to_string),
        launch_type: s.launch_type().map(|l| l.as_str().to_string()),
        platform_version: s.platform_version().map(str::to_string),
        subnets: awsvpc.map(|a| a.subnets().to_vec()).unwrap_or_default(),
        target_groups,
        controller: s.deployment_controller().map_or("ECS", |c| c.r#type().as_str()).to_string(),
        strategy: config.and_then(|c| c.strategy()).map(|s| s.as_str().to_string()),
        circuit_breaker: config.and_then(|c| c.deployment_circuit_breaker()).filter(|b| b.enable()).map(|b| CircuitBreaker {
            rollback: b.rollback(),
            threshold: b.threshold_configuration().map(|t| (t.r#type().as_str().to_string(), t.value())),
        }),
        role_arn: s.role_arn().map(str::to_string),
        deployments: s
            .deployments()
            .iter()
            .map(|d| Deployment {
                id: d.id().unwrap_or_default().to_string(),
                status: d.status().unwrap_or_default().to_string(),
                rollout_state: d.rollout_state().map(|r| r.as_str().to_string()),
                rollout_state_reason: d.rollout_state_reason().map(str::to_string),
                task_definition: d.task_definition().map(str::to_string),
                desired: d.desired_count(),
                running: d.running_count(),
                failed_tasks: d.failed_tasks(),
            })
            .collect(),
        tasks: Vec::new(),
    }
}

fn task(t: &aws_sdk_ecs::types::Task) -> ServiceTask {
    let eni = t.attachments().iter().find(|a| a.r#type() == Some("ElasticNetworkInterface"));
    let detail = |name: &str| eni.and_then(|a| a.details().iter().find(|d| d.name() == Some(name)).and_then(|d| d.value()).map(str::to_string));
    let container_v6 = t.containers().iter().flat_map(|c| c.network_interfaces()).find_map(|n| n.ipv6_address().map(str::to_string));
    let container_v4 = t.containers().iter().flat_map(|c| c.network_interfaces()).find_map(|n| n.private_ipv4_address().map(str::to_string));
    ServiceTask {
        arn: t.task_arn().unwrap_or_default().to_string(),
        last_status: t.last_status().unwrap_or_default().to_string(),
        desired_status: t.desired_status().unwrap_or_default().to_string(),
        started_by: t.started_by().map(str::to_string),
        subnet_id: detail("subnetId"),
        interface_id: detail("networkInterfaceId"),
        ipv4: detail("privateIPv4Address").or(container_v4),
        ipv6: detail("ipv6Address").or(container_v6),
        platform_version: t.platform_version().map(str::to_string),
        stop_code: t.stop_code().map(|c| c.as_str().to_string()),
        stopped_reason: t.stopped_reason().map(str::to_string),
        containers: t.containers().iter().map(|c| (c.name().unwrap_or_default().to_string(), c.exit_code(), c.reason().map(str::to_string))).collect(),
    }
}

#[async_trait]
impl Ecs for SdkEcs {
    async fn dual_stack_setting(&self, principal: Option<&str>) -> Result<DualStackSetting, AwsError> {
        let out = self
            .client
            .list_account_settings()
            .name(SettingName::from(DUAL_STACK_SETTING))
            .set_principal_arn(principal.map(str::to_string))
            .effective_settings(true)
            .send()
            .await
            .map_err(|e| err("ecs:ListAccountSettings", e))?;
        // Not set anywhere: AWS's default, disabled.
        let setting = out.settings().iter().find(|s| s.name().is_none_or(|n| n.as_str() == DUAL_STACK_SETTING));
        Ok(DualStackSetting {
            enabled: setting.is_some_and(|s| s.value() == Some("enabled")),
            principal: setting.and_then(|s| s.principal_arn()).map(str::to_string),
        })
    }

    async fn set_dual_stack_default(&self, enabled: bool) -> Result<(), AwsError> {
        const OP: &str = "ecs:PutAccountSettingDefault";
        self.retry
            .write(OP, || async {
                self.write
                    .put_account_setting_default()
                    .name(SettingName::from(DUAL_STACK_SETTING))
                    .value(if enabled { "enabled" } else { "disabled" })
                    .send()
                    .await
                    .map_err(|e| err(OP, e))
            })
            .await?;
        Ok(())
    }

    async fn services_in(&self, subnet_ids: &[String]) -> Result<EcsRead, AwsError> {
        let mut out = EcsRead::default();
        for cluster in self.clusters().await? {
            let names: Vec<String> = self
                .client
                .list_services()
                .cluster(&cluster)
                .into_paginator()
                .items()
                .send()
                .collect::<Result<_, _>>()
                .await
                .map_err(|e| err("ecs:ListServices", e))?;
            let mut services: Vec<EcsService> =
                self.describe_services(&cluster, &names).await?.into_iter().filter(|s| s.subnets.iter().any(|id| subnet_ids.contains(id))).collect();
            // One listing of the cluster's running tasks, spread over its
            // services by their group (`service:NAME`).
            for (group, t) in self.tasks(&cluster, None, DesiredStatus::Running).await? {
                let Some(subnet) = t.subnet_id.clone().filter(|s| subnet_ids.contains(s)) else { continue };
                out.tasks.push(EcsTask { arn: t.arn.clone(), cluster: cluster.clone(), subnet_id: subnet, interface_id: t.interface_id.clone() });
                if let Some(s) = services.iter_mut().find(|s| group == format!("service:{}", s.name)) {
                    s.tasks.push(t);
                }
            }
            out.services.extend(services);
        }
        Ok(out)
    }

    async fn service(&self, cluster: &str, name: &str) -> Result<Option<EcsService>, AwsError> {
        let Some(mut s) = self.describe_services(cluster, &[name.to_string()]).await?.pop() else { return Ok(None) };
        s.tasks = self.tasks(cluster, Some(&s.name), DesiredStatus::Running).await?.into_iter().map(|(_, t)| t).collect();
        Ok(Some(s))
    }

    async fn stopped_tasks(&self, cluster: &str, service_name: &str) -> Result<Vec<ServiceTask>, AwsError> {
        Ok(self.tasks(cluster, Some(service_name), DesiredStatus::Stopped).await?.into_iter().map(|(_, t)| t).collect())
    }

    async fn force_new_deployment(&self, cluster: &str, name: &str) -> Result<Vec<Deployment>, AwsError> {
        const OP: &str = "ecs:UpdateService";
        let out = self
            .retry
            .write(OP, || async { self.write.update_service().cluster(cluster).service(name).force_new_deployment(true).send().await.map_err(|e| err(OP, e)) })
            .await?;
        Ok(out.service().map(|s| service(s).deployments).unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stopped(reason: &str, code: &str, exit: Option<i32>) -> ServiceTask {
        ServiceTask {
            arn: "arn:aws:ecs:r:1:task/c/abc".into(),
            last_status: "STOPPED".into(),
            desired_status: "STOPPED".into(),
            started_by: None,
            subnet_id: None,
            interface_id: None,
            ipv4: None,
            ipv6: None,
            platform_version: None,
            stop_code: Some(code.into()),
            stopped_reason: Some(reason.into()),
            containers: vec![("app".into(), exit, None)],
        }
    }

    #[test]
    fn a_replaced_task_is_not_a_failure_but_one_failing_its_health_checks_is() {
        // Both carry ServiceSchedulerInitiated: only the reason differs.
        assert!(!stopped("Scaling activity initiated by (deployment ecs-svc/123)", "ServiceSchedulerInitiated", Some(0)).failed());
        assert!(!stopped("Scaling activity initiated by (deployment ecs-svc/123)", "ServiceSchedulerInitiated", Some(137)).failed());
        assert!(stopped("Task failed ELB health checks in (target-group arn:aws:...)", "ServiceSchedulerInitiated", None).failed());
        assert!(stopped("Task failed container health checks", "ServiceSchedulerInitiated", None).failed());
        assert!(stopped("Essential container in task exited", "EssentialContainerExited", Some(1)).failed());
        assert!(stopped("CannotPullContainerError: pull image manifest has been retried", "TaskFailedToStart", None).failed());
        assert!(stopped("ResourceInitializationError: unable to pull secrets", "TaskFailedToStart", None).failed());
    }

    #[test]
    fn the_failure_threshold_is_the_services_or_half_the_desired_count_between_3_and_200() {
        let mut s = EcsService {
            arn: String::new(),
            name: "s".into(),
            cluster_arn: String::new(),
            desired: 2,
            running: 2,
            task_definition: None,
            launch_type: None,
            platform_version: Some("1.3.0".into()),
            subnets: vec![],
            target_groups: vec![],
            controller: "ECS".into(),
            strategy: None,
            circuit_breaker: None,
            role_arn: None,
            deployments: vec![],
            tasks: vec![],
        };
        assert_eq!(s.failure_threshold(), 3);
        s.desired = 100;
        assert_eq!(s.failure_threshold(), 50);
        s.desired = 1000;
        assert_eq!(s.failure_threshold(), 200);
        s.circuit_breaker = Some(CircuitBreaker { rollback: true, threshold: Some(("COUNT".into(), 7)) });
        assert_eq!(s.failure_threshold(), 7);
        assert!(!s.platform_at_least_1_4());
        s.platform_version = Some("1.4.0".into());
        assert!(s.platform_at_least_1_4());
    }
}
