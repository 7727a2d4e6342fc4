//! [`Ec2`] over the official `aws-sdk-ec2` client.
//!
//! Reads use the SDK's standard retry (throttling and transient faults are
//! retried with backoff). Writes do not: none of the calls a migration makes
//! takes a `ClientToken` except CreateEgressOnlyInternetGateway, so a blind
//! retry after a lost response could apply a change twice. Writes retry only
//! on throttling (which AWS guarantees was not applied); anything ambiguous is
//! returned as [`FailureKind::Unknown`] for the executor to reconcile by
//! reading state.

use async_trait::async_trait;
use aws_sdk_ec2::Client;
use aws_sdk_ec2::types::{
    AttributeBooleanValue, Filter, IcmpTypeCode, IpPermission, Ipv6Range, PortRange, ResourceType, RuleAction, Tag, TagSpecification,
};
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use super::memo::Memo;
use super::retry::RetryPolicy;
use super::*;
use crate::ipv6::Ipv6Net;


pub struct SdkEc2 {
    read: Client,
    write: Client,
    retry: RetryPolicy,
    /// Every mutating call is sent with `DryRun`: AWS checks the caller's
    /// permission and applies nothing (`plan --check-permissions`).
    dry_run: bool,
    /// A VPC's instances (the tool changes their interfaces, never the
    /// instances; others start and stop them, so read again once no longer
    /// current), internet gateways, egress-only gateways (forgotten before
    /// the tool creates or deletes one) and security groups without their
    /// rules (the tool changes rules, never groups), by VPC ID.
    instances: Memo<Vec<Instance>>,
    internet_gateways: Memo<Vec<String>>,
    egress_only_gateways: Memo<Vec<String>>,
    security_groups: Memo<Vec<SecurityGroup>>,
}

impl SdkEc2 {
    pub fn new(config: &aws_config::SdkConfig, retry: RetryPolicy) -> SdkEc2 {
        let (read, write) = retry
            .read_and_write_clients(|rc| Client::from_conf(aws_sdk_ec2::config::Builder::from(config).retry_config(rc).retry_partition(RetryPolicy::partition()).build()));
        SdkEc2 {
            read,
            write,
            retry,
            dry_run: false,
            instances: Memo::current(),
            internet_gateways: Default::default(),
            egress_only_gateways: Default::default(),
            security_groups: Default::default(),
        }
    }

    /// The same client, sending its mutating calls with `DryRun`.
    pub fn dry_run(config: &aws_config::SdkConfig, retry: RetryPolicy) -> SdkEc2 {
        SdkEc2 { dry_run: true, ..SdkEc2::new(config, retry) }
    }
}

/// Convert an SDK error; a 5xx answer (other than throttling) is treated as
/// "may have been applied".
pub(crate) fn err<E, R>(op: &'static str, e: SdkError<E, R>) -> AwsError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug + HttpStatus,
{
    let server_fault = matches!(&e, SdkError::ServiceError(se) if se.raw().status_code() >= 500);
    let mut out = AwsError::from_sdk(op, e);
    // EC2 throttles with a 503, but a throttled call is never applied.
    if server_fault && !super::retry::is_throttling_code(out.code()) {
        out.kind = FailureKind::Unknown;
    }
    out
}

/// The HTTP status of a raw response, to tell server faults apart.
pub trait HttpStatus {
    fn status_code(&self) -> u16;
}

impl HttpStatus for aws_smithy_runtime_api::http::Response {
    fn status_code(&self) -> u16 {
        self.status().as_u16()
    }
}

fn filter(name: &str, values: impl IntoIterator<Item = impl Into<String>>) -> Filter {
    Filter::builder().name(name).set_values(Some(values.into_iter().map(Into::into).collect())).build()
}

fn name_tag(tags: &[Tag]) -> Option<String> {
    tag(tags, "Name")
}

fn tag(tags: &[Tag], key: &str) -> Option<String> {
    tags.iter().find(|t| t.key() == Some(key)).and_then(|t| t.value()).map(str::to_string)
}

fn block(assoc: Option<&str>, cidr: Option<&str>, state: Option<&str>) -> Ipv6Block {
    Ipv6Block {
        association_id: assoc.unwrap_or_default().to_string(),
        cidr: cidr.filter(|c| !c.is_empty()).and_then(|c| c.parse().ok()),
        state: AssocState::parse(state.unwrap_or("associating")),
    }
}

fn flag_value(v: bool) -> AttributeBooleanValue {
    AttributeBooleanValue::builder().value(v).build()
}

fn route_target(r: &aws_sdk_ec2::types::Route) -> RouteTarget {
    if let Some(id) = r.egress_only_internet_gateway_id() {
        RouteTarget::EgressOnlyInternetGateway(id.to_string())
    } else if let Some(id) = r.nat_gateway_id() {
        RouteTarget::NatGateway(id.to_string())
    } else if let Some(id) = r.gateway_id().filter(|g| g.starts_with("igw-")) {
        RouteTarget::InternetGateway(id.to_string())
    } else {
        let id = r
            .gateway_id()
            .or(r.transit_gateway_id())
            .or(r.network_interface_id())
            .or(r.vpc_peering_connection_id())
            .or(r.instance_id())
            .unwrap_or("unknown");
        RouteTarget::Other(id.to_string())
    }
}

impl SdkEc2 {
    /// The VPC's instances (not terminated), each with whether its type
    /// supports IPv6.
    async fn read_instances(&self, vpc_id: &str) -> Result<Vec<Instance>, AwsError> {
        let reservations: Vec<_> = self
            .read
            .describe_instances()
            .filters(filter("vpc-id", [vpc_id]))
            .into_paginator()
            .items()
            .send()
            .collect::<Result<_, _>>()
            .await
            .map_err(|e| err("ec2:DescribeInstances", e))?;
        let mut instances: Vec<Instance> = reservations
            .iter()
            .flat_map(|r| r.instances())
            .filter(|i| i.state().and_then(|s| s.name()).is_none_or(|n| n.as_str() != "terminated"))
            .map(|i| Instance {
                id: i.instance_id().unwrap_or_default().to_string(),
                name: name_tag(i.tags()),
                instance_type: i.instance_type().map(|t| t.as_str().to_string()).unwrap_or_default(),
                subnet_id: i.subnet_id().unwrap_or_default().to_string(),
                state: i.state().and_then(|s| s.name()).map(|n| n.as_str().to_string()).unwrap_or_default(),
                ipv6_supported: None,
            })
            .collect();
        instances.sort_by(|a, b| a.id.cmp(&b.id));
        let mut types: Vec<String> = instances.iter().map(|i| i.instance_type.clone()).filter(|t| !t.is_empty()).collect();
        types.sort();
        types.dedup();
        for chunk in types.chunks(100) {
            let out = self
                .read
                .describe_instance_types()
                .set_instance_types(Some(chunk.iter().map(|t| aws_sdk_ec2::types::InstanceType::from(t.as_str())).collect()))
                .send()
                .await
                .map_err(|e| err("ec2:DescribeInstanceTypes", e))?;
            for t in out.instance_types() {
                let name = t.instance_type().map(|x| x.as_str()).unwrap_or_default();
                let v6 = t.network_info().and_then(|n| n.ipv6_supported());
                for i in instances.iter_mut().filter(|i| i.instance_type == name) {
                    i.ipv6_supported = v6;
                }
            }
        }
        Ok(instances)
    }

    async fn read_vpc(&self, vpc_id: &str) -> Result<Vpc, AwsError> {
        const OP: &str = "ec2:DescribeVpcs";
        let out = self.read.describe_vpcs().vpc_ids(vpc_id).send().await.map_err(|e| err(OP, e))?;
        let v = out
            .vpcs()
            .first()
            .ok_or_else(|| AwsError::local(OP, format!("VPC {vpc_id} not found")))?;
        Ok(Vpc {
            id: v.vpc_id().unwrap_or_default().to_string(),
            name: name_tag(v.tags()),
            cidr_v4: v.cidr_block().unwrap_or_default().to_string(),
            ipv6_blocks: v
                .ipv6_cidr_block_association_set()
                .iter()
                .map(|a| {
                    block(
                        a.association_id(),
                        a.ipv6_cidr_block(),
                        a.ipv6_cidr_block_state().and_then(|s| s.state()).map(|s| s.as_str()),
                    )
                })
                .collect(),
            marker: tag(v.tags(), crate::engine::marker::RUN_TAG).map(|run| (run, tag(v.tags(), crate::engine::marker::STATE_TAG).unwrap_or_default())),
        })
    }

    async fn read_subnets(&self, vpc_id: &str) -> Result<Vec<Subnet>, AwsError> {
        const OP: &str = "ec2:DescribeSubnets";
        let pages: Vec<_> = self
            .read
            .describe_subnets()
            .filters(filter("vpc-id", [vpc_id]))
            .into_paginator()
            .items()
            .send()
            .collect::<Result<_, _>>()
            .await
            .map_err(|e| err(OP, e))?;
        let mut subnets: Vec<Subnet> = pages
            .iter()
            .map(|s| Subnet {
                id: s.subnet_id().unwrap_or_default().to_string(),
                name: name_tag(s.tags()),
                availability_zone: s.availability_zone().unwrap_or_default().to_string(),
                cidr_v4: s.cidr_block().map(str::to_string),
                ipv6_blocks: s
                    .ipv6_cidr_block_association_set()
                    .iter()
                    .map(|a| {
                        block(
                            a.association_id(),
                            a.ipv6_cidr_block(),
                            a.ipv6_cidr_block_state().and_then(|s| s.state()).map(|s| s.as_str()),
                        )
                    })
                    .collect(),
                assign_ipv6_address_on_creation: s.assign_ipv6_address_on_creation().unwrap_or(false),
                enable_dns64: s.enable_dns64().unwrap_or(false),
                enable_aaaa_record_on_launch: s
                    .private_dns_name_options_on_launch()
                    .and_then(|o| o.enable_resource_name_dns_aaaa_record())
                    .unwrap_or(false),
            })
            .collect();
        subnets.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(subnets)
    }

    async fn read_route_tables(&self, vpc_id: &str) -> Result<Vec<RouteTable>, AwsError> {
        const OP: &str = "ec2:DescribeRouteTables";
        let items: Vec<_> = self
            .read
            .describe_route_tables()
            .filters(filter("vpc-id", [vpc_id]))
            .into_paginator()
            .items()
            .send()
            .collect::<Result<_, _>>()
            .await
            .map_err(|e| err(OP, e))?;
        let mut tables: Vec<RouteTable> = items
            .iter()
            .map(|t| RouteTable {
                id: t.route_table_id().unwrap_or_default().to_string(),
                name: name_tag(t.tags()),
                main: t.associations().iter().any(|a| a.main().unwrap_or(false)),
                subnet_ids: t.associations().iter().filter_map(|a| a.subnet_id()).map(str::to_string).collect(),
                routes: t
                    .routes()
                    .iter()
                    .map(|r| Route {
                        destination_v4: r.destination_cidr_block().map(str::to_string),
                        destination_v6: r.destination_ipv6_cidr_block().and_then(|c| c.parse().ok()),
                        target: route_target(r),
                    })
                    .collect(),
            })
            .collect();
        tables.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(tables)
    }

    async fn read_internet_gateways(&self, vpc_id: &str) -> Result<Vec<String>, AwsError> {
        const OP: &str = "ec2:DescribeInternetGateways";
        let out = self
            .read
            .describe_internet_gateways()
            .filters(filter("attachment.vpc-id", [vpc_id]))
            .send()
            .await
            .map_err(|e| err(OP, e))?;
        Ok(out.internet_gateways().iter().filter_map(|g| g.internet_gateway_id()).map(str::to_string).collect())
    }

    async fn read_egress_only_gateways(&self, vpc_id: &str) -> Result<Vec<String>, AwsError> {
        const OP: &str = "ec2:DescribeEgressOnlyInternetGateways";
        // This call has no VPC filter: list them and keep the ones attached here.
        let items: Vec<_> = self
            .read
            .describe_egress_only_internet_gateways()
            .into_paginator()
            .items()
            .send()
            .collect::<Result<_, _>>()
            .await
            .map_err(|e| err(OP, e))?;
        Ok(items
            .iter()
            .filter(|g| {
                g.attachments().iter().any(|a| {
                    a.vpc_id() == Some(vpc_id)
                        && a.state().is_none_or(|s| matches!(s.as_str(), "attached" | "attaching"))
                })
            })
            .filter_map(|g| g.egress_only_internet_gateway_id())
            .map(str::to_string)
            .collect())
    }

    /// The VPC's security groups, without their rules.
    async fn read_security_groups(&self, vpc_id: &str) -> Result<Vec<SecurityGroup>, AwsError> {
        const OP: &str = "ec2:DescribeSecurityGroups";
        let items: Vec<_> = self
            .read
            .describe_security_groups()
            .filters(filter("vpc-id", [vpc_id]))
            .into_paginator()
            .items()
            .send()
            .collect::<Result<_, _>>()
            .await
            .map_err(|e| err(OP, e))?;
        let mut groups: Vec<SecurityGroup> = items
            .iter()
            .map(|g| SecurityGroup {
                id: g.group_id().unwrap_or_default().to_string(),
                group_name: g.group_name().unwrap_or_default().to_string(),
                name: name_tag(g.tags()),
                rules: Vec::new(),
            })
            .collect();
        groups.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(groups)
    }

    /// `groups` with their rules, read with their IDs, batched: a filter
    /// takes up to 200 values.
    async fn read_rules(&self, mut groups: Vec<SecurityGroup>) -> Result<Vec<SecurityGroup>, AwsError> {
        let ids: Vec<String> = groups.iter().map(|g| g.id.clone()).collect();
        for chunk in ids.chunks(200) {
            const ROP: &str = "ec2:DescribeSecurityGroupRules";
            let rules: Vec<_> = self
                .read
                .describe_security_group_rules()
                .filters(filter("group-id", chunk.iter().cloned()))
                .into_paginator()
                .items()
                .send()
                .collect::<Result<_, _>>()
                .await
                .map_err(|e| err(ROP, e))?;
            for r in rules {
                let Some(g) = groups.iter_mut().find(|g| Some(g.id.as_str()) == r.group_id()) else {
                    continue;
                };
                g.rules.push(SgRule {
                    id: r.security_group_rule_id().unwrap_or_default().to_string(),
                    rule: RuleMatch {
                        direction: if r.is_egress().unwrap_or(false) { Direction::Egress } else { Direction::Ingress },
                        protocol: r.ip_protocol().unwrap_or("-1").to_string(),
                        from_port: r.from_port().filter(|_| r.ip_protocol() != Some("-1")),
                        to_port: r.to_port().filter(|_| r.ip_protocol() != Some("-1")),
                    },
                    cidr_v4: r.cidr_ipv4().map(str::to_string),
                    cidr_v6: r.cidr_ipv6().and_then(|c| c.parse().ok()),
                    description: r.description().map(str::to_string),
                });
            }
        }
        Ok(groups)
    }
}

#[async_trait]
impl Ec2 for SdkEc2 {
    async fn find_vpcs(&self, reference: &str) -> Result<Vec<FoundVpc>, AwsError> {
        const OP: &str = "ec2:DescribeVpcs";
        let req = self.read.describe_vpcs();
        let req = if reference.starts_with("vpc-") {
            req.filters(filter("vpc-id", [reference]))
        } else {
            req.filters(filter("tag:Name", [reference]))
        };
        let out = req.send().await.map_err(|e| err(OP, e))?;
        Ok(out
            .vpcs()
            .iter()
            .map(|v| FoundVpc { id: v.vpc_id().unwrap_or_default().to_string(), name: name_tag(v.tags()), owner: v.owner_id().unwrap_or_default().to_string() })
            .collect())
    }

    async fn routes(&self, vpc_id: &str) -> Result<Routes, AwsError> {
        let (route_tables, internet_gateways, egress_only_gateways) = tokio::try_join!(
            self.read_route_tables(vpc_id),
            self.internet_gateways.get_or_read(vpc_id, self.read_internet_gateways(vpc_id)),
            self.egress_only_gateways.get_or_read(vpc_id, self.read_egress_only_gateways(vpc_id))
        )?;
        Ok(Routes { route_tables, internet_gateways, egress_only_gateways })
    }

    async fn security_groups(&self, vpc_id: &str) -> Result<Vec<SecurityGroup>, AwsError> {
        let groups = self.security_groups.get_or_read(vpc_id, self.read_security_groups(vpc_id)).await?;
        self.read_rules(groups).await
    }

    async fn vpc(&self, vpc_id: &str) -> Result<Vpc, AwsError> {
        self.read_vpc(vpc_id).await
    }

    async fn subnets(&self, vpc_id: &str) -> Result<Vec<Subnet>, AwsError> {
        self.read_subnets(vpc_id).await
    }

    async fn compute(&self, vpc_id: &str) -> Result<(Vec<Instance>, Vec<Interface>), AwsError> {
        let (instances, enis) = tokio::try_join!(self.instances.get_or_read(vpc_id, self.read_instances(vpc_id)), async {
            self.read
                .describe_network_interfaces()
                .filters(filter("vpc-id", [vpc_id]))
                .into_paginator()
                .items()
                .send()
                .collect::<Result<Vec<_>, _>>()
                .await
                .map_err(|e| err("ec2:DescribeNetworkInterfaces", e))
        })?;
        let mut interfaces: Vec<Interface> = enis
            .iter()
            .map(|n| Interface {
                id: n.network_interface_id().unwrap_or_default().to_string(),
                subnet_id: n.subnet_id().unwrap_or_default().to_string(),
                private_ips: n.private_ip_addresses().iter().filter_map(|p| p.private_ip_address()).map(str::to_string).collect(),
                ipv6_addresses: n.ipv6_addresses().iter().filter_map(|a| a.ipv6_address()).map(str::to_string).collect(),
                instance_id: n.attachment().and_then(|a| a.instance_id()).map(str::to_string),
                device_index: n.attachment().and_then(|a| a.device_index()),
                public_ip: n.association().and_then(|a| a.public_ip()).map(str::to_string),
                description: n.description().filter(|d| !d.is_empty()).map(str::to_string),
            })
            .collect();
        interfaces.sort_by(|a, b| a.id.cmp(&b.id));
        Ok((instances, interfaces))
    }

    async fn assign_ipv6_address(&self, interface_id: &str) -> Result<String, AwsError> {
        const OP: &str = "ec2:AssignIpv6Addresses";
        if self.dry_run {
            // This action has no DryRun parameter: never send it in a rehearsal.
            return Err(AwsError::no_dry_run(OP));
        }
        let out = self.retry.write(OP, || async {
            self.write
                .assign_ipv6_addresses()
                .network_interface_id(interface_id)
                .ipv6_address_count(1)
                .send()
                .await
                .map_err(|e| err(OP, e))
        })
        .await?;
        out.assigned_ipv6_addresses().first().cloned().ok_or_else(|| AwsError::local(OP, "AWS assigned no address"))
    }

    async fn unassign_ipv6_address(&self, interface_id: &str, address: &str) -> Result<(), AwsError> {
        const OP: &str = "ec2:UnassignIpv6Addresses";
        if self.dry_run {
            // This action has no DryRun parameter: never send it in a rehearsal.
            return Err(AwsError::no_dry_run(OP));
        }
        self.retry.write(OP, || async {
            self.write
                .unassign_ipv6_addresses()
                .network_interface_id(interface_id)
                .ipv6_addresses(address)
                .send()
                .await
                .map_err(|e| err(OP, e))
        })
        .await
        .map(|_| ())
    }

    async fn associate_vpc_ipv6(&self, vpc_id: &str, source: &VpcIpv6Source) -> Result<Ipv6Block, AwsError> {
        const OP: &str = "ec2:AssociateVpcCidrBlock";
        if self.dry_run {
            // This action has no DryRun parameter: never send it in a rehearsal.
            return Err(AwsError::no_dry_run(OP));
        }
        let out = self.retry.write(OP, || async {
            let mut req = self.write.associate_vpc_cidr_block().vpc_id(vpc_id);
            req = match source {
                VpcIpv6Source::Amazon => req.amazon_provided_ipv6_cidr_block(true),
                VpcIpv6Source::Pool { pool, cidr } => {
                    req.ipv6_pool(pool).set_ipv6_cidr_block(cidr.map(|c| c.to_string()))
                }
                VpcIpv6Source::Ipam { pool, netmask_length } => req
                    .ipv6_ipam_pool_id(pool)
                    .set_ipv6_netmask_length(netmask_length.map(i32::from)),
            };
            req.send().await.map_err(|e| err(OP, e))
        })
        .await?;
        let a = out
            .ipv6_cidr_block_association()
            .ok_or_else(|| AwsError::local(OP, "AWS returned no IPv6 association"))?;
        Ok(block(
            a.association_id(),
            a.ipv6_cidr_block(),
            a.ipv6_cidr_block_state().and_then(|s| s.state()).map(|s| s.as_str()),
        ))
    }

    async fn disassociate_vpc_ipv6(&self, association_id: &str) -> Result<(), AwsError> {
        const OP: &str = "ec2:DisassociateVpcCidrBlock";
        if self.dry_run {
            // This action has no DryRun parameter: never send it in a rehearsal.
            return Err(AwsError::no_dry_run(OP));
        }
        self.retry.write(OP, || async {
            self.write.disassociate_vpc_cidr_block().association_id(association_id).send().await.map_err(|e| err(OP, e))
        })
        .await
        .map(|_| ())
    }

    async fn associate_subnet_ipv6(&self, subnet_id: &str, cidr: Ipv6Net) -> Result<Ipv6Block, AwsError> {
        const OP: &str = "ec2:AssociateSubnetCidrBlock";
        if self.dry_run {
            // This action has no DryRun parameter: never send it in a rehearsal.
            return Err(AwsError::no_dry_run(OP));
        }
        let out = self.retry.write(OP, || async {
            self.write
                .associate_subnet_cidr_block()
                .subnet_id(subnet_id)
                .ipv6_cidr_block(cidr.to_string())
                .send()
                .await
                .map_err(|e| err(OP, e))
        })
        .await?;
        let a = out
            .ipv6_cidr_block_association()
            .ok_or_else(|| AwsError::local(OP, "AWS returned no IPv6 association"))?;
        Ok(block(
            a.association_id(),
            a.ipv6_cidr_block(),
            a.ipv6_cidr_block_state().and_then(|s| s.state()).map(|s| s.as_str()),
        ))
    }

    async fn disassociate_subnet_ipv6(&self, association_id: &str) -> Result<(), AwsError> {
        const OP: &str = "ec2:DisassociateSubnetCidrBlock";
        if self.dry_run {
            // This action has no DryRun parameter: never send it in a rehearsal.
            return Err(AwsError::no_dry_run(OP));
        }
        self.retry.write(OP, || async {
            self.write
                .disassociate_subnet_cidr_block()
                .association_id(association_id)
                .send()
                .await
                .map_err(|e| err(OP, e))
        })
        .await
        .map(|_| ())
    }

    async fn set_subnet_flag(&self, subnet_id: &str, flag: SubnetFlag, value: bool) -> Result<(), AwsError> {
        const OP: &str = "ec2:ModifySubnetAttribute";
        if self.dry_run {
            // This action has no DryRun parameter: never send it in a rehearsal.
            return Err(AwsError::no_dry_run(OP));
        }
        self.retry.write(OP, || async {
            let req = self.write.modify_subnet_attribute().subnet_id(subnet_id);
            let req = match flag {
                SubnetFlag::AssignIpv6AddressOnCreation => req.assign_ipv6_address_on_creation(flag_value(value)),
                SubnetFlag::EnableDns64 => req.enable_dns64(flag_value(value)),
                SubnetFlag::EnableResourceNameDnsAaaaRecordOnLaunch => {
                    req.enable_resource_name_dns_aaaa_record_on_launch(flag_value(value))
                }
            };
            req.send().await.map_err(|e| err(OP, e))
        })
        .await
        .map(|_| ())
    }

    async fn create_route_v6(&self, rtb: &str, dest: Ipv6Net, target: &RouteTarget) -> Result<(), AwsError> {
        const OP: &str = "ec2:CreateRoute";
        self.retry.write(OP, || async {
            let req = self.write.create_route().dry_run(self.dry_run).route_table_id(rtb).destination_ipv6_cidr_block(dest.to_string());
            let req = match target {
                RouteTarget::EgressOnlyInternetGateway(id) => req.egress_only_internet_gateway_id(id),
                RouteTarget::NatGateway(id) => req.nat_gateway_id(id),
                RouteTarget::InternetGateway(id) | RouteTarget::Other(id) => req.gateway_id(id),
            };
            req.send().await.map_err(|e| err(OP, e))
        })
        .await
        .map(|_| ())
    }

    async fn replace_route_v6(&self, rtb: &str, dest: Ipv6Net, target: &RouteTarget) -> Result<(), AwsError> {
        const OP: &str = "ec2:ReplaceRoute";
        self.retry.write(OP, || async {
            let req = self.write.replace_route().dry_run(self.dry_run).route_table_id(rtb).destination_ipv6_cidr_block(dest.to_string());
            let req = match target {
                RouteTarget::EgressOnlyInternetGateway(id) => req.egress_only_internet_gateway_id(id),
                RouteTarget::NatGateway(id) => req.nat_gateway_id(id),
                RouteTarget::InternetGateway(id) | RouteTarget::Other(id) => req.gateway_id(id),
            };
            req.send().await.map_err(|e| err(OP, e))
        })
        .await
        .map(|_| ())
    }

    async fn delete_route_v6(&self, rtb: &str, dest: Ipv6Net) -> Result<(), AwsError> {
        const OP: &str = "ec2:DeleteRoute";
        self.retry.write(OP, || async {
            self.write
                .delete_route().dry_run(self.dry_run)
                .route_table_id(rtb)
                .destination_ipv6_cidr_block(dest.to_string())
                .send()
                .await
                .map_err(|e| err(OP, e))
        })
        .await
        .map(|_| ())
    }

    async fn create_egress_only_gateway(
        &self,
        vpc_id: &str,
        client_token: &str,
        tags: &[(String, String)],
    ) -> Result<String, AwsError> {
        const OP: &str = "ec2:CreateEgressOnlyInternetGateway";
        let spec = TagSpecification::builder()
            .resource_type(ResourceType::EgressOnlyInternetGateway)
            .set_tags(Some(tags.iter().map(|(k, v)| Tag::builder().key(k).value(v).build()).collect()))
            .build();
        self.egress_only_gateways.forget(vpc_id);
        let out = self.retry.write(OP, || async {
            self.write
                .create_egress_only_internet_gateway().dry_run(self.dry_run)
                .vpc_id(vpc_id)
                .client_token(client_token)
                .tag_specifications(spec.clone())
                .send()
                .await
                .map_err(|e| err(OP, e))
        })
        .await?;
        out.egress_only_internet_gateway()
            .and_then(|g| g.egress_only_internet_gateway_id())
            .map(str::to_string)
            .ok_or_else(|| AwsError::local(OP, "AWS returned no gateway ID"))
    }

    async fn delete_egress_only_gateway(&self, id: &str) -> Result<(), AwsError> {
        const OP: &str = "ec2:DeleteEgressOnlyInternetGateway";
        self.egress_only_gateways.retain(|_, ids| !ids.iter().any(|g| g == id));
        self.retry.write(OP, || async {
            self.write
                .delete_egress_only_internet_gateway().dry_run(self.dry_run)
                .egress_only_internet_gateway_id(id)
                .send()
                .await
                .map_err(|e| err(OP, e))
        })
        .await
        .map(|_| ())
    }

    async fn authorize_rule(
        &self,
        group_id: &str,
        rule: &RuleMatch,
        cidr: Ipv6Net,
        description: Option<&str>,
    ) -> Result<String, AwsError> {
        let perm = IpPermission::builder()
            .ip_protocol(&rule.protocol)
            .set_from_port(rule.from_port)
            .set_to_port(rule.to_port)
            .ipv6_ranges(Ipv6Range::builder().cidr_ipv6(cidr.to_string()).set_description(description.map(str::to_string)).build())
            .build();
        let rules = match rule.direction {
            Direction::Ingress => {
                const OP: &str = "ec2:AuthorizeSecurityGroupIngress";
                let out = self.retry.write(OP, || async {
                    self.write
                        .authorize_security_group_ingress().dry_run(self.dry_run)
                        .group_id(group_id)
                        .ip_permissions(perm.clone())
                        .send()
                        .await
                        .map_err(|e| err(OP, e))
                })
                .await?;
                out.security_group_rules().to_vec()
            }
            Direction::Egress => {
                const OP: &str = "ec2:AuthorizeSecurityGroupEgress";
                let out = self.retry.write(OP, || async {
                    self.write
                        .authorize_security_group_egress().dry_run(self.dry_run)
                        .group_id(group_id)
                        .ip_permissions(perm.clone())
                        .send()
                        .await
                        .map_err(|e| err(OP, e))
                })
                .await?;
                out.security_group_rules().to_vec()
            }
        };
        rules
            .iter()
            .find_map(|r| r.security_group_rule_id())
            .map(str::to_string)
            .ok_or_else(|| AwsError::local("ec2:AuthorizeSecurityGroupIngress", "AWS returned no rule ID"))
    }

    async fn revoke_rule(&self, group_id: &str, direction: Direction, rule_id: &str) -> Result<(), AwsError> {
        match direction {
            Direction::Ingress => {
                const OP: &str = "ec2:RevokeSecurityGroupIngress";
                self.retry.write(OP, || async {
                    self.write
                        .revoke_security_group_ingress().dry_run(self.dry_run)
                        .group_id(group_id)
                        .security_group_rule_ids(rule_id)
                        .send()
                        .await
                        .map_err(|e| err(OP, e))
                })
                .await
                .map(|_| ())
            }
            Direction::Egress => {
                const OP: &str = "ec2:RevokeSecurityGroupEgress";
                self.retry.write(OP, || async {
                    self.write
                        .revoke_security_group_egress().dry_run(self.dry_run)
                        .group_id(group_id)
                        .security_group_rule_ids(rule_id)
                        .send()
                        .await
                        .map_err(|e| err(OP, e))
                })
                .await
                .map(|_| ())
            }
        }
    }

    async fn network_acls(&self, vpc_id: &str) -> Result<Vec<NetworkAcl>, AwsError> {
        let acls = self
            .read
            .describe_network_acls()
            .filters(filter("vpc-id", [vpc_id]))
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .map_err(|e| err("ec2:DescribeNetworkAcls", e))?;
        let mut out: Vec<NetworkAcl> = acls
            .iter()
            .map(|a| NetworkAcl {
                id: a.network_acl_id().unwrap_or_default().to_string(),
                name: name_tag(a.tags()),
                is_default: a.is_default().unwrap_or(false),
                subnet_ids: a.associations().iter().filter_map(|s| s.subnet_id()).map(str::to_string).collect(),
                entries: a
                    .entries()
                    .iter()
                    .map(|e| AclEntry {
                        rule_number: e.rule_number().unwrap_or_default(),
                        egress: e.egress().unwrap_or(false),
                        protocol: e.protocol().unwrap_or("-1").to_string(),
                        action: e.rule_action().map_or("deny", |r| r.as_str()).to_string(),
                        cidr_v4: e.cidr_block().map(str::to_string),
                        cidr_v6: e.ipv6_cidr_block().map(str::to_string),
                        ports: e.port_range().and_then(|p| Some((p.from()?, p.to()?))),
                        icmp: e.icmp_type_code().and_then(|i| Some((i.r#type()?, i.code()?))),
                    })
                    .collect(),
            })
            .collect();
        out.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(out)
    }

    async fn create_acl_entry(&self, acl_id: &str, entry: &AclEntry) -> Result<(), AwsError> {
        const OP: &str = "ec2:CreateNetworkAclEntry";
        self.retry
            .write(OP, || async {
                self.write
                    .create_network_acl_entry()
                    .dry_run(self.dry_run)
                    .network_acl_id(acl_id)
                    .rule_number(entry.rule_number)
                    .egress(entry.egress)
                    .protocol(&entry.protocol)
                    .rule_action(RuleAction::from(entry.action.as_str()))
                    .set_cidr_block(entry.cidr_v4.clone())
                    .set_ipv6_cidr_block(entry.cidr_v6.clone())
                    .set_port_range(entry.ports.map(|(from, to)| PortRange::builder().from(from).to(to).build()))
                    .set_icmp_type_code(entry.icmp.map(|(t, c)| IcmpTypeCode::builder().r#type(t).code(c).build()))
                    .send()
                    .await
                    .map_err(|e| err(OP, e))
            })
            .await
            .map(|_| ())
    }

    async fn vpc_tags(&self, vpc_id: &str, keys: &[&str]) -> Result<Vec<(String, String)>, AwsError> {
        const OP: &str = "ec2:DescribeTags";
        let out = self
            .read
            .describe_tags()
            .filters(filter("resource-id", [vpc_id]))
            .filters(filter("key", keys.iter().copied()))
            .send()
            .await
            .map_err(|e| err(OP, e))?;
        Ok(out.tags().iter().filter_map(|t| Some((t.key()?.to_string(), t.value().unwrap_or_default().to_string()))).collect())
    }

    async fn tag_vpc(&self, vpc_id: &str, tags: &[(String, String)]) -> Result<(), AwsError> {
        const OP: &str = "ec2:CreateTags";
        let tags: Vec<Tag> = tags.iter().map(|(k, v)| Tag::builder().key(k).value(v).build()).collect();
        self.retry
            .write(OP, || async {
                self.write.create_tags().dry_run(self.dry_run).resources(vpc_id).set_tags(Some(tags.clone())).send().await.map_err(|e| err(OP, e))
            })
            .await
            .map(|_| ())
    }

    async fn untag_vpc(&self, vpc_id: &str, tags: &[(String, String)]) -> Result<(), AwsError> {
        const OP: &str = "ec2:DeleteTags";
        let tags: Vec<Tag> = tags.iter().map(|(k, v)| Tag::builder().key(k).value(v).build()).collect();
        self.retry
            .write(OP, || async {
                self.write.delete_tags().dry_run(self.dry_run).resources(vpc_id).set_tags(Some(tags.clone())).send().await.map_err(|e| err(OP, e))
            })
            .await
            .map(|_| ())
    }

    async fn delete_acl_entry(&self, acl_id: &str, rule_number: i32, egress: bool) -> Result<(), AwsError> {
        const OP: &str = "ec2:DeleteNetworkAclEntry";
        self.retry
            .write(OP, || async {
                self.write
                    .delete_network_acl_entry()
                    .dry_run(self.dry_run)
                    .network_acl_id(acl_id)
                    .rule_number(rule_number)
                    .egress(egress)
                    .send()
                    .await
                    .map_err(|e| err(OP, e))
            })
            .await
            .map(|_| ())
    }
}
