//! [`Ecs`] over the official `aws-sdk-ecs` client: read-only, for the
//! preflight. ECS tasks in `awsvpc` mode get an IPv6 address only when the
//! account setting `dualStackIPv6` is enabled, and running tasks keep what
//! they had until they are replaced.

use async_trait::async_trait;
use aws_sdk_ecs::types::{DesiredStatus, SettingName};
use aws_sdk_ecs::Client;

use super::ec2::err;
use super::retry::RetryPolicy;
use super::AwsError;

/// A running `awsvpc` task and the subnet of its interface.
#[derive(Clone, Debug, serde::Serialize)]
pub struct EcsTask {
    pub arn: String,
    pub cluster: String,
    pub subnet_id: String,
    pub interface_id: Option<String>,
}

/// What the preflight reads from ECS.
#[async_trait]
pub trait Ecs: Send + Sync {
    /// The effective value of the account setting `dualStackIPv6`.
    async fn dual_stack_ipv6(&self) -> Result<bool, AwsError>;
    /// Running tasks with an interface in one of `subnet_ids`.
    async fn tasks_in(&self, subnet_ids: &[String]) -> Result<Vec<EcsTask>, AwsError>;
}

pub struct SdkEcs {
    client: Client,
}

impl SdkEcs {
    pub fn new(config: &aws_config::SdkConfig, retry: RetryPolicy) -> SdkEcs {
        let conf = aws_sdk_ecs::config::Builder::from(config).retry_config(retry.sdk_config()).retry_partition(RetryPolicy::partition()).build();
        SdkEcs { client: Client::from_conf(conf) }
    }
}

#[async_trait]
impl Ecs for SdkEcs {
    async fn dual_stack_ipv6(&self) -> Result<bool, AwsError> {
        let out = self
            .client
            .list_account_settings()
            // Documented for PutAccountSetting, absent from the SDK's enum.
            .name(SettingName::from("dualStackIPv6"))
            .effective_settings(true)
            .send()
            .await
            .map_err(|e| err("ecs:ListAccountSettings", e))?;
        // Not set anywhere: AWS's default, disabled.
        Ok(out.settings().iter().any(|s| s.value() == Some("enabled")))
    }

    async fn tasks_in(&self, subnet_ids: &[String]) -> Result<Vec<EcsTask>, AwsError> {
        let clusters: Vec<String> = self
            .client
            .list_clusters()
            .into_paginator()
            .items()
            .send()
            .collect::<Result<_, _>>()
            .await
            .map_err(|e| err("ecs:ListClusters", e))?;
        let mut out = Vec::new();
        for cluster in clusters {
            let arns: Vec<String> = self
                .client
                .list_tasks()
                .cluster(&cluster)
                .desired_status(DesiredStatus::Running)
                .into_paginator()
                .items()
                .send()
                .collect::<Result<_, _>>()
                .await
                .map_err(|e| err("ecs:ListTasks", e))?;
            // DescribeTasks takes at most 100 tasks per call.
            for chunk in arns.chunks(100) {
                let described = self
                    .client
                    .describe_tasks()
                    .cluster(&cluster)
                    .set_tasks(Some(chunk.to_vec()))
                    .send()
                    .await
                    .map_err(|e| err("ecs:DescribeTasks", e))?;
                for t in described.tasks() {
                    for a in t.attachments().iter().filter(|a| a.r#type() == Some("ElasticNetworkInterface")) {
                        let detail = |name: &str| a.details().iter().find(|d| d.name() == Some(name)).and_then(|d| d.value()).map(str::to_string);
                        if let Some(subnet) = detail("subnetId").filter(|s| subnet_ids.contains(s)) {
                            out.push(EcsTask {
                                arn: t.task_arn().unwrap_or_default().to_string(),
                                cluster: cluster.clone(),
                                subnet_id: subnet,
                                interface_id: detail("networkInterfaceId"),
                            });
                        }
                    }
                }
            }
        }
        Ok(out)
    }
}
