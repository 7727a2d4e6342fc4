//! [`Elbv2`] over the official `aws-sdk-elasticloadbalancingv2` client.
//!
//! As for EC2, reads use the SDK's standard retries and writes are retried
//! only on throttling (`Throttling`), so that a lost answer is reconciled by
//! reading state rather than by repeating the call.

use async_trait::async_trait;
use aws_sdk_elasticloadbalancingv2::types::{
    Action, ActionTypeEnum, ForwardActionConfig, IpAddressType, Matcher, ProtocolEnum, Tag, TargetDescription,
    TargetGroupAttribute, TargetGroupIpAddressTypeEnum, TargetGroupStickinessConfig, TargetGroupTuple, TargetTypeEnum,
};
use aws_sdk_elasticloadbalancingv2::Client;

use super::ec2::err;
use super::retry::{eventually, RetryPolicy};
use super::fan_out;
use super::memo::Memo;
use super::*;

pub struct SdkElbv2 {
    read: Client,
    write: Client,
    retry: RetryPolicy,
    /// Target group attributes by ARN, read once per run: only a group's
    /// creation needs them (to copy them), and the tool itself changes them
    /// only on groups it creates (such an entry is dropped before the write).
    attributes: Memo<Vec<(String, String)>>,
    /// Target group ARNs by name, once found: a gate's `target_health`
    /// check looks its group up every round, and a name keeps its ARN until
    /// the group is deleted (the entry is dropped before the delete).
    arns: Memo<String>,
    /// Target group tags by ARN, read once per run: the tool never changes
    /// a group's tags, and those of a group it creates are the ones it sent.
    tags: Memo<Vec<(String, String)>>,
    /// Each load balancer's listeners and rules: forgotten before the tool
    /// changes a forward, and read again once no longer current (a listener
    /// may be edited by hand during a run).
    listeners: Memo<Vec<Listener>>,
}

impl SdkElbv2 {
    pub fn new(config: &aws_config::SdkConfig, retry: RetryPolicy) -> SdkElbv2 {
        let (read, write) = retry.read_and_write_clients(|rc| {
            Client::from_conf(aws_sdk_elasticloadbalancingv2::config::Builder::from(config).retry_config(rc).retry_partition(RetryPolicy::partition()).build())
        });
        SdkElbv2 {
            read,
            write,
            retry,
            attributes: Default::default(),
            arns: Default::default(),
            tags: Default::default(),
            listeners: Memo::current(),
        }
    }

    async fn actions(&self, actions: &[Action]) -> Actions {
        let forward = actions.iter().find(|a| a.r#type() == Some(&ActionTypeEnum::Forward)).map(|a| {
            let groups = match a.forward_config() {
                Some(fc) if !fc.target_groups().is_empty() => fc
                    .target_groups()
                    .iter()
                    .map(|t| WeightedGroup { arn: t.target_group_arn().unwrap_or_default().to_string(), weight: t.weight().unwrap_or(1) })
                    .collect(),
                _ => a
                    .target_group_arn()
                    .map(|arn| vec![WeightedGroup { arn: arn.to_string(), weight: 1 }])
                    .unwrap_or_default(),
            };
            let stickiness = a
                .forward_config()
                .and_then(|fc| fc.target_group_stickiness_config())
                .map(|s| (s.enabled().unwrap_or(false), s.duration_seconds().unwrap_or(0)));
            Forward { groups, stickiness }
        });
        Actions {
            forward,
            count: actions.len(),
            kinds: actions.iter().filter_map(|a| a.r#type()).map(|t| t.as_str().to_string()).collect(),
        }
    }

    async fn read_listeners(&self, lb_arn: &str) -> Result<Vec<Listener>, AwsError> {
        let out = self
            .read
            .describe_listeners()
            .load_balancer_arn(lb_arn)
            .send()
            .await
            .map_err(|e| err("elasticloadbalancing:DescribeListeners", e))?;
        let reads = out.listeners().iter().map(|l| async move {
            let arn = l.listener_arn().unwrap_or_default().to_string();
            let rules = self
                .read
                .describe_rules()
                .listener_arn(&arn)
                .send()
                .await
                .map_err(|e| err("elasticloadbalancing:DescribeRules", e))?;
            let mut rs = Vec::new();
            for r in rules.rules().iter().filter(|r| !r.is_default().unwrap_or(false)) {
                rs.push(ListenerRule {
                    arn: r.rule_arn().unwrap_or_default().to_string(),
                    priority: r.priority().unwrap_or_default().to_string(),
                    actions: self.actions(r.actions()).await,
                });
            }
            Ok(Listener {
                arn,
                port: l.port().unwrap_or(0),
                protocol: l.protocol().map(|p| p.as_str().to_string()).unwrap_or_default(),
                default_actions: self.actions(l.default_actions()).await,
                rules: rs,
            })
        });
        let mut listeners = fan_out(reads.collect()).await?;
        listeners.sort_by_key(|l| l.port);
        Ok(listeners)
    }

    /// A group's targets with their health, and its attributes.
    async fn target_group_details(&self, arn: &str) -> Result<(Vec<Target>, Vec<(String, String)>), AwsError> {
        tokio::try_join!(self.target_health(arn), self.target_group_attributes(arn))
    }
}

fn action_for(forward: &Forward) -> Action {
    let mut fc = ForwardActionConfig::builder().set_target_groups(Some(
        forward
            .groups
            .iter()
            .map(|g| TargetGroupTuple::builder().target_group_arn(&g.arn).weight(g.weight).build())
            .collect(),
    ));
    if let Some((enabled, secs)) = forward.stickiness {
        fc = fc.target_group_stickiness_config(
            TargetGroupStickinessConfig::builder().enabled(enabled).set_duration_seconds((secs > 0).then_some(secs)).build(),
        );
    }
    Action::builder().r#type(ActionTypeEnum::Forward).forward_config(fc.build()).build()
}

fn target_description(t: &Target) -> TargetDescription {
    TargetDescription::builder()
        .id(&t.id)
        .set_port(t.port)
        .set_availability_zone(t.availability_zone.clone())
        .build()
}

#[async_trait]
impl Elbv2 for SdkElbv2 {
    async fn load_balancers(&self, vpc_id: &str) -> Result<Vec<LoadBalancer>, AwsError> {
        let lbs: Vec<_> = self
            .read
            .describe_load_balancers()
            .into_paginator()
            .items()
            .send()
            .collect::<Result<_, _>>()
            .await
            .map_err(|e| err("elasticloadbalancing:DescribeLoadBalancers", e))?;
        let reads = lbs.iter().filter(|l| l.vpc_id() == Some(vpc_id)).map(|lb| async move {
            let arn = lb.load_balancer_arn().unwrap_or_default().to_string();
            Ok(LoadBalancer {
                listeners: self.listeners.get_or_read(&arn, self.read_listeners(&arn)).await?,
                arn,
                name: lb.load_balancer_name().unwrap_or_default().to_string(),
                kind: lb.r#type().map(|t| t.as_str().to_string()).unwrap_or_default(),
                scheme: lb.scheme().map(|s| s.as_str().to_string()).unwrap_or_default(),
                ip_address_type: lb.ip_address_type().map(|t| t.as_str().to_string()).unwrap_or_default(),
                subnet_ids: lb.availability_zones().iter().filter_map(|z| z.subnet_id()).map(str::to_string).collect(),
                security_groups: lb.security_groups().to_vec(),
                dns_name: lb.dns_name().unwrap_or_default().to_string(),
                canonical_zone_id: lb.canonical_hosted_zone_id().unwrap_or_default().to_string(),
            })
        });
        let mut out = fan_out(reads.collect()).await?;
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    async fn target_groups(&self, vpc_id: &str) -> Result<Vec<TargetGroup>, AwsError> {
        let tgs: Vec<_> = self
            .read
            .describe_target_groups()
            .into_paginator()
            .items()
            .send()
            .collect::<Result<_, _>>()
            .await
            .map_err(|e| err("elasticloadbalancing:DescribeTargetGroups", e))?;
        let mut groups: Vec<TargetGroup> = tgs
            .iter()
            .filter(|t| t.vpc_id() == Some(vpc_id))
            .map(|t| TargetGroup {
                arn: t.target_group_arn().unwrap_or_default().to_string(),
                name: t.target_group_name().unwrap_or_default().to_string(),
                protocol: t.protocol().map(|p| p.as_str().to_string()),
                protocol_version: t.protocol_version().map(str::to_string),
                port: t.port(),
                vpc_id: vpc_id.to_string(),
                target_type: t.target_type().map(|p| p.as_str().to_string()).unwrap_or_else(|| "instance".into()),
                ip_address_type: t.ip_address_type().map(|p| p.as_str().to_string()).unwrap_or_else(|| "ipv4".into()),
                health_check: HealthCheck {
                    enabled: t.health_check_enabled(),
                    protocol: t.health_check_protocol().map(|p| p.as_str().to_string()),
                    port: t.health_check_port().map(str::to_string),
                    path: t.health_check_path().map(str::to_string),
                    interval_seconds: t.health_check_interval_seconds(),
                    timeout_seconds: t.health_check_timeout_seconds(),
                    healthy_threshold: t.healthy_threshold_count(),
                    unhealthy_threshold: t.unhealthy_threshold_count(),
                    matcher_http: t.matcher().and_then(|m| m.http_code()).map(str::to_string),
                    matcher_grpc: t.matcher().and_then(|m| m.grpc_code()).map(str::to_string),
                },
                ..TargetGroup::default()
            })
            .collect();
        groups.sort_by(|a, b| a.name.cmp(&b.name));
        let details = fan_out(groups.iter().map(|tg| self.target_group_details(&tg.arn)).collect()).await?;
        for (tg, (targets, attributes)) in groups.iter_mut().zip(details) {
            tg.targets = targets;
            tg.attributes = attributes;
        }
        // Tags: up to 20 resources per call, for groups not seen before.
        let arns: Vec<String> = groups.iter().map(|g| g.arn.clone()).filter(|a| !self.tags.contains(a)).collect();
        for chunk in arns.chunks(20) {
            const OP: &str = "elasticloadbalancing:DescribeTags";
            let out = eventually(OP, || async {
                self.read.describe_tags().set_resource_arns(Some(chunk.to_vec())).send().await.map_err(|e| err(OP, e))
            })
            .await?;
            for d in out.tag_descriptions() {
                let tags = d.tags().iter().filter_map(|t| Some((t.key()?.to_string(), t.value().unwrap_or("").to_string()))).collect();
                self.tags.put(d.resource_arn().unwrap_or_default(), tags);
            }
        }
        for g in &mut groups {
            g.tags = self.tags.get(&g.arn).unwrap_or_default();
        }
        Ok(groups)
    }

    async fn target_health(&self, tg_arn: &str) -> Result<Vec<Target>, AwsError> {
        const OP: &str = "elasticloadbalancing:DescribeTargetHealth";
        let out = eventually(OP, || async {
            self.read.describe_target_health().target_group_arn(tg_arn).send().await.map_err(|e| err(OP, e))
        })
        .await?;
        let mut targets: Vec<Target> = out
            .target_health_descriptions()
            .iter()
            .filter_map(|d| {
                let t = d.target()?;
                let h = d.target_health();
                Some(Target {
                    id: t.id().unwrap_or_default().to_string(),
                    port: t.port(),
                    availability_zone: t.availability_zone().map(str::to_string),
                    state: h.and_then(|h| h.state()).map(|s| s.as_str().to_string()).unwrap_or_default(),
                    reason: h.and_then(|h| h.reason()).map(|r| r.as_str().to_string()),
                    description: h.and_then(|h| h.description()).map(str::to_string),
                })
            })
            .collect();
        targets.sort_by(|a, b| (&a.id, a.port).cmp(&(&b.id, b.port)));
        Ok(targets)
    }

    async fn target_group_attributes(&self, arn: &str) -> Result<Vec<(String, String)>, AwsError> {
        const OP: &str = "elasticloadbalancing:DescribeTargetGroupAttributes";
        self.attributes
            .get_or_read(arn, async {
                let out = eventually(OP, || async {
                    self.read.describe_target_group_attributes().target_group_arn(arn).send().await.map_err(|e| err(OP, e))
                })
                .await?;
                Ok(out.attributes().iter().filter_map(|a| Some((a.key()?.to_string(), a.value()?.to_string()))).collect())
            })
            .await
    }

    async fn target_group_arn(&self, name: &str) -> Result<Option<String>, AwsError> {
        const OP: &str = "elasticloadbalancing:DescribeTargetGroups";
        if let Some(arn) = self.arns.get(name) {
            return Ok(Some(arn));
        }
        let req = self.read.describe_target_groups();
        let req = if name.starts_with("arn:") { req.target_group_arns(name) } else { req.names(name) };
        match req.send().await {
            Ok(out) => {
                let arn = out.target_groups().first().and_then(|t| t.target_group_arn()).map(str::to_string);
                if let Some(a) = &arn {
                    self.arns.put(name, a.clone());
                }
                Ok(arn)
            }
            Err(e) => {
                let e = err(OP, e);
                if e.code() == "TargetGroupNotFound" { Ok(None) } else { Err(e) }
            }
        }
    }

    async fn set_ip_address_type(&self, lb_arn: &str, ip_type: &str) -> Result<(), AwsError> {
        const OP: &str = "elasticloadbalancing:SetIpAddressType";
        self.retry.write(OP, || async {
            self.write
                .set_ip_address_type()
                .load_balancer_arn(lb_arn)
                .ip_address_type(IpAddressType::from(ip_type))
                .send()
                .await
                .map_err(|e| err(OP, e))
        })
        .await
        .map(|_| ())
    }

    async fn create_target_group(&self, g: &NewTargetGroup) -> Result<String, AwsError> {
        const OP: &str = "elasticloadbalancing:CreateTargetGroup";
        let hc = &g.health_check;
        let out = self.retry.write(OP, || async {
            let matcher = (hc.matcher_http.is_some() || hc.matcher_grpc.is_some())
                .then(|| Matcher::builder().set_http_code(hc.matcher_http.clone()).set_grpc_code(hc.matcher_grpc.clone()).build());
            self.write
                .create_target_group()
                .name(&g.name)
                .set_protocol(g.protocol.as_deref().map(ProtocolEnum::from))
                .set_protocol_version(g.protocol_version.clone())
                .set_port(g.port)
                .vpc_id(&g.vpc_id)
                .target_type(TargetTypeEnum::from(g.target_type.as_str()))
                .ip_address_type(TargetGroupIpAddressTypeEnum::from(g.ip_address_type.as_str()))
                .set_health_check_enabled(hc.enabled)
                .set_health_check_protocol(hc.protocol.as_deref().map(ProtocolEnum::from))
                .set_health_check_port(hc.port.clone())
                .set_health_check_path(hc.path.clone())
                .set_health_check_interval_seconds(hc.interval_seconds)
                .set_health_check_timeout_seconds(hc.timeout_seconds)
                .set_healthy_threshold_count(hc.healthy_threshold)
                .set_unhealthy_threshold_count(hc.unhealthy_threshold)
                .set_matcher(matcher)
                .set_tags(Some(g.tags.iter().map(|(k, v)| Tag::builder().key(k).value(v).build()).collect()))
                .send()
                .await
                .map_err(|e| err(OP, e))
        })
        .await?;
        let arn = out
            .target_groups()
            .first()
            .and_then(|t| t.target_group_arn())
            .map(str::to_string)
            .ok_or_else(|| AwsError::local(OP, "AWS returned no target group"))?;
        self.arns.put(g.name.clone(), arn.clone());
        self.tags.put(arn.clone(), g.tags.clone());
        if !g.attributes.is_empty() {
            self.set_target_group_attributes(&arn, &g.attributes).await?;
        }
        Ok(arn)
    }

    async fn set_target_group_attributes(&self, arn: &str, attributes: &[(String, String)]) -> Result<(), AwsError> {
        const OP: &str = "elasticloadbalancing:ModifyTargetGroupAttributes";
        self.attributes.forget(arn);
        self.retry.write(OP, || async {
            self.write
                .modify_target_group_attributes()
                .target_group_arn(arn)
                .set_attributes(Some(attributes.iter().map(|(k, v)| TargetGroupAttribute::builder().key(k).value(v).build()).collect()))
                .send()
                .await
                .map_err(|e| err(OP, e))
        })
        .await
        .map(|_| ())
    }

    async fn delete_target_group(&self, arn: &str) -> Result<(), AwsError> {
        const OP: &str = "elasticloadbalancing:DeleteTargetGroup";
        self.attributes.forget(arn);
        self.arns.retain(|name, a| a != arn && name != arn);
        self.tags.forget(arn);
        self.retry.write(OP, || async { self.write.delete_target_group().target_group_arn(arn).send().await.map_err(|e| err(OP, e)) })
            .await
            .map(|_| ())
    }

    async fn register_targets(&self, arn: &str, targets: &[Target]) -> Result<(), AwsError> {
        const OP: &str = "elasticloadbalancing:RegisterTargets";
        self.retry.write(OP, || async {
            self.write
                .register_targets()
                .target_group_arn(arn)
                .set_targets(Some(targets.iter().map(target_description).collect()))
                .send()
                .await
                .map_err(|e| err(OP, e))
        })
        .await
        .map(|_| ())
    }

    async fn deregister_targets(&self, arn: &str, targets: &[Target]) -> Result<(), AwsError> {
        const OP: &str = "elasticloadbalancing:DeregisterTargets";
        self.retry.write(OP, || async {
            self.write
                .deregister_targets()
                .target_group_arn(arn)
                .set_targets(Some(targets.iter().map(target_description).collect()))
                .send()
                .await
                .map_err(|e| err(OP, e))
        })
        .await
        .map(|_| ())
    }

    async fn set_forward(&self, listener_arn: &str, rule_arn: Option<&str>, forward: &Forward) -> Result<(), AwsError> {
        self.listeners.retain(|_, listeners| listeners.iter().all(|l| l.arn != listener_arn));
        match rule_arn {
            None => {
                const OP: &str = "elasticloadbalancing:ModifyListener";
                self.retry.write(OP, || async {
                    self.write
                        .modify_listener()
                        .listener_arn(listener_arn)
                        .default_actions(action_for(forward))
                        .send()
                        .await
                        .map_err(|e| err(OP, e))
                })
                .await
                .map(|_| ())
            }
            Some(rule) => {
                const OP: &str = "elasticloadbalancing:ModifyRule";
                self.retry.write(OP, || async {
                    self.write.modify_rule().rule_arn(rule).actions(action_for(forward)).send().await.map_err(|e| err(OP, e))
                })
                .await
                .map(|_| ())
            }
        }
    }
}
