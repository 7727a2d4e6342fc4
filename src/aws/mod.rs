//! AWS behind narrow traits in domain words. Steps depend on [`Ec2`],
//! [`Elbv2`] and [`ecs::Ecs`]; each has one real implementation over the
//! official SDK (`ec2::SdkEc2`, ...), exercised against the emulator by the
//! integration tests.

pub mod ec2;
pub mod ecs;
pub mod elbv2;
pub mod error;
mod memo;
pub use memo::CURRENT_FOR;
pub mod model;
pub mod reach;
pub mod retry;
pub mod route53;
pub mod wait;

use async_trait::async_trait;
use aws_config::BehaviorVersion;

pub use error::{AwsError, FailureKind};
pub use model::*;

use crate::ipv6::Ipv6Net;

/// Where a VPC's IPv6 block comes from.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case", tag = "source")]
pub enum VpcIpv6Source {
    /// An Amazon-provided /56.
    Amazon,
    /// A block from a BYOIP pool.
    Pool { pool: String, cidr: Option<Ipv6Net> },
    /// A block from an IPAM pool.
    Ipam { pool: String, netmask_length: Option<u8> },
}

/// A VPC's routing: tables and the gateways they can point at.
#[derive(Clone, Debug, Default)]
pub struct Routes {
    pub route_tables: Vec<RouteTable>,
    pub internet_gateways: Vec<String>,
    pub egress_only_gateways: Vec<String>,
}

/// A tag every resource created by a run carries, so that an orphan can be
/// traced back to the run that made it.
pub const RUN_TAG: &str = "dualstack:run";

/// The EC2 operations a network migration needs, and nothing else.
#[async_trait]
pub trait Ec2: Send + Sync {
    /// VPCs whose ID or Name tag is `reference`.
    async fn find_vpcs(&self, reference: &str) -> Result<Vec<FoundVpc>, AwsError>;
    /// The VPC's tags whose keys are `keys` (DescribeTags): a run's markers.
    async fn vpc_tags(&self, vpc_id: &str, keys: &[&str]) -> Result<Vec<(String, String)>, AwsError>;
    /// Set tags on the VPC (CreateTags: last writer wins).
    async fn tag_vpc(&self, vpc_id: &str, tags: &[(String, String)]) -> Result<(), AwsError>;
    /// Remove tags from the VPC where they still have these values
    /// (DeleteTags with values: another run's value is left alone).
    async fn untag_vpc(&self, vpc_id: &str, tags: &[(String, String)]) -> Result<(), AwsError>;
    /// The route tables and the internet and egress-only gateways.
    async fn routes(&self, vpc_id: &str) -> Result<Routes, AwsError>;
    /// The security groups with their rules.
    async fn security_groups(&self, vpc_id: &str) -> Result<Vec<SecurityGroup>, AwsError>;
    /// The network ACLs with their entries and subnets.
    async fn network_acls(&self, vpc_id: &str) -> Result<Vec<NetworkAcl>, AwsError>;
    /// CreateNetworkAclEntry.
    async fn create_acl_entry(&self, acl_id: &str, entry: &AclEntry) -> Result<(), AwsError>;
    /// DeleteNetworkAclEntry by number and direction.
    async fn delete_acl_entry(&self, acl_id: &str, rule_number: i32, egress: bool) -> Result<(), AwsError>;
    /// Just the VPC (for waiting on its IPv6 block).
    async fn vpc(&self, vpc_id: &str) -> Result<Vpc, AwsError>;
    /// Just the subnets of the VPC (for waiting on their IPv6 blocks).
    async fn subnets(&self, vpc_id: &str) -> Result<Vec<Subnet>, AwsError>;
    /// Instances (with whether their type supports IPv6) and interfaces.
    async fn compute(&self, vpc_id: &str) -> Result<(Vec<Instance>, Vec<Interface>), AwsError>;
    /// AssignIpv6Addresses with a count of one; returns the address.
    async fn assign_ipv6_address(&self, interface_id: &str) -> Result<String, AwsError>;
    async fn unassign_ipv6_address(&self, interface_id: &str, address: &str) -> Result<(), AwsError>;

    async fn associate_vpc_ipv6(&self, vpc_id: &str, source: &VpcIpv6Source) -> Result<Ipv6Block, AwsError>;
    async fn disassociate_vpc_ipv6(&self, association_id: &str) -> Result<(), AwsError>;
    async fn associate_subnet_ipv6(&self, subnet_id: &str, cidr: Ipv6Net) -> Result<Ipv6Block, AwsError>;
    async fn disassociate_subnet_ipv6(&self, association_id: &str) -> Result<(), AwsError>;
    /// One ModifySubnetAttribute call: AWS takes one attribute per call.
    async fn set_subnet_flag(&self, subnet_id: &str, flag: SubnetFlag, value: bool) -> Result<(), AwsError>;

    async fn create_route_v6(&self, route_table_id: &str, dest: Ipv6Net, target: &RouteTarget) -> Result<(), AwsError>;
    async fn replace_route_v6(&self, route_table_id: &str, dest: Ipv6Net, target: &RouteTarget) -> Result<(), AwsError>;
    async fn delete_route_v6(&self, route_table_id: &str, dest: Ipv6Net) -> Result<(), AwsError>;

    /// CreateEgressOnlyInternetGateway with an idempotency token and tags.
    async fn create_egress_only_gateway(
        &self,
        vpc_id: &str,
        client_token: &str,
        tags: &[(String, String)],
    ) -> Result<String, AwsError>;
    async fn delete_egress_only_gateway(&self, id: &str) -> Result<(), AwsError>;

    /// Authorize one IPv6 rule; returns the rule ID AWS assigned.
    async fn authorize_rule(
        &self,
        group_id: &str,
        rule: &RuleMatch,
        cidr: Ipv6Net,
        description: Option<&str>,
    ) -> Result<String, AwsError>;
    async fn revoke_rule(&self, group_id: &str, direction: Direction, rule_id: &str) -> Result<(), AwsError>;
}

/// A target group to create: a copy of an existing one with another name
/// and IP address type.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct NewTargetGroup {
    pub name: String,
    pub protocol: Option<String>,
    pub protocol_version: Option<String>,
    pub port: Option<i32>,
    pub vpc_id: String,
    pub target_type: String,
    pub ip_address_type: String,
    pub health_check: HealthCheck,
    pub attributes: Vec<(String, String)>,
    pub tags: Vec<(String, String)>,
}

/// The Elastic Load Balancing (v2) operations a cutover needs.
#[async_trait]
pub trait Elbv2: Send + Sync {
    /// The VPC's load balancers, with their listeners and rules.
    async fn load_balancers(&self, vpc_id: &str) -> Result<Vec<LoadBalancer>, AwsError>;
    /// The VPC's target groups, with their targets and health, attributes
    /// and tags.
    async fn target_groups(&self, vpc_id: &str) -> Result<Vec<TargetGroup>, AwsError>;
    async fn target_health(&self, target_group_arn: &str) -> Result<Vec<Target>, AwsError>;
    /// A target group's attributes.
    async fn target_group_attributes(&self, target_group_arn: &str) -> Result<Vec<(String, String)>, AwsError>;
    /// A target group's ARN by name (an ARN is returned as is when it exists).
    async fn target_group_arn(&self, name: &str) -> Result<Option<String>, AwsError>;
    async fn set_ip_address_type(&self, load_balancer_arn: &str, ip_address_type: &str) -> Result<(), AwsError>;
    /// Create the group (and set its attributes, if any); returns its ARN.
    async fn create_target_group(&self, group: &NewTargetGroup) -> Result<String, AwsError>;
    async fn delete_target_group(&self, arn: &str) -> Result<(), AwsError>;
    async fn set_target_group_attributes(&self, arn: &str, attributes: &[(String, String)]) -> Result<(), AwsError>;
    async fn register_targets(&self, arn: &str, targets: &[Target]) -> Result<(), AwsError>;
    async fn deregister_targets(&self, arn: &str, targets: &[Target]) -> Result<(), AwsError>;
    /// Replace a listener's default action (no rule) or a rule's actions
    /// with one weighted forward action.
    async fn set_forward(&self, listener_arn: &str, rule_arn: Option<&str>, forward: &Forward) -> Result<(), AwsError>;
}

/// The services, and the one way steps read state: a snapshot of what
/// `scope` asks for, read concurrently.
#[derive(Clone, Copy)]
pub struct Aws<'a> {
    pub ec2: &'a dyn Ec2,
    pub elb: &'a dyn Elbv2,
    pub ecs: &'a dyn ecs::Ecs,
    pub dns: &'a dyn route53::Route53,
}

impl Aws<'_> {
    /// What `scope` covers, read concurrently (a part not asked for is
    /// left empty; the VPC is then known by its ID alone).
    pub async fn snapshot(&self, vpc_id: &str, scope: Scope) -> Result<Network, AwsError> {
        let mut net = Network { vpc: Vpc { id: vpc_id.to_string(), ..Vpc::default() }, ..Network::default() };
        self.read_into(vpc_id, scope, &mut net).await?;
        Ok(net)
    }

    /// `prev` with what `scope` covers read again: after a batch of changes
    /// that can only have changed that part (a weight stage touches the load
    /// balancers, not the subnets), the rest is not read twice.
    pub async fn refresh(&self, vpc_id: &str, prev: &Network, scope: Scope) -> Result<Network, AwsError> {
        let mut net = prev.clone();
        self.read_into(vpc_id, scope, &mut net).await?;
        Ok(net)
    }

    /// Read the parts `scope` covers, concurrently, into `net` (the others
    /// are left as they are).
    async fn read_into(&self, vpc_id: &str, scope: Scope, net: &mut Network) -> Result<(), AwsError> {
        let vpc = async { if scope.vpc { self.ec2.vpc(vpc_id).await.map(Some) } else { Ok(None) } };
        let subnets = async { if scope.subnets { self.ec2.subnets(vpc_id).await.map(Some) } else { Ok(None) } };
        let routes = async { if scope.routes { self.ec2.routes(vpc_id).await.map(Some) } else { Ok(None) } };
        let groups = async { if scope.security_groups { self.ec2.security_groups(vpc_id).await.map(Some) } else { Ok(None) } };
        let acls = async { if scope.network_acls { self.ec2.network_acls(vpc_id).await.map(Some) } else { Ok(None) } };
        let lbs = async { if scope.load_balancers { self.elb.load_balancers(vpc_id).await.map(Some) } else { Ok(None) } };
        let tgs = async { if scope.target_groups { self.elb.target_groups(vpc_id).await.map(Some) } else { Ok(None) } };
        let compute = async { if scope.compute { self.ec2.compute(vpc_id).await.map(Some) } else { Ok(None) } };
        let dns = async { if scope.dns { self.dns.zones().await.map(Some) } else { Ok(None) } };
        let (vpc, subnets, routes, groups, acls, lbs, tgs, compute, dns) = tokio::try_join!(vpc, subnets, routes, groups, acls, lbs, tgs, compute, dns)?;
        if let Some(vpc) = vpc {
            net.vpc = vpc;
        }
        if let Some(subnets) = subnets {
            net.subnets = subnets;
        }
        if let Some(r) = routes {
            net.route_tables = r.route_tables;
            net.internet_gateways = r.internet_gateways;
            net.egress_only_gateways = r.egress_only_gateways;
        }
        if let Some(g) = groups {
            net.security_groups = g;
        }
        if let Some(a) = acls {
            net.network_acls = a;
        }
        if let Some(z) = dns {
            net.dns_zones = z;
        }
        if let Some(lbs) = lbs {
            net.load_balancers = lbs;
        }
        if let Some(tgs) = tgs {
            net.target_groups = tgs;
        }
        if let Some((instances, interfaces)) = compute {
            net.instances = instances;
            net.interfaces = interfaces;
        }
        if scope.ecs {
            // ECS is read by the VPC's subnets, so after them.
            if net.subnets.is_empty() {
                net.subnets = self.ec2.subnets(vpc_id).await?;
            }
            self.read_ecs(net).await?;
        }
        Ok(())
    }

    /// The ECS services in `net`'s subnets and the caller's `dualStackIPv6`
    /// into `net`; returns every running task in those subnets (of a service
    /// or not). The setting matters only to tasks: without any service or
    /// task, it is not read (`None`).
    pub async fn read_ecs(&self, net: &mut Network) -> Result<Vec<ecs::EcsTask>, AwsError> {
        let ids: Vec<String> = net.subnets.iter().map(|s| s.id.clone()).collect();
        let read = self.ecs.services_in(&ids).await?;
        net.dual_stack_ipv6 = if read.tasks.is_empty() && read.services.is_empty() { None } else { Some(self.ecs.dual_stack_ipv6().await?) };
        net.ecs_services = read.services;
        Ok(read.tasks)
    }
}

/// Reads in flight at once when one read per resource is unavoidable (the
/// listeners of each load balancer, the health of each target group).
const FAN_OUT: usize = 8;

/// Await `reads`, at most [`FAN_OUT`] at a time, results in order; the
/// first error wins. (The futures are built by the caller and do nothing
/// until polled here.)
pub(crate) async fn fan_out<R, Fut>(reads: Vec<Fut>) -> Result<Vec<R>, AwsError>
where
    Fut: std::future::Future<Output = Result<R, AwsError>>,
{
    use futures_util::{StreamExt, TryStreamExt};
    futures_util::stream::iter(reads).buffered(FAN_OUT).try_collect().await
}

/// How to reach AWS: the usual chain (env, profile, SSO, IMDS) with the
/// command line's overrides on top.
#[derive(Clone, Debug, Default)]
pub struct ConnectOptions {
    pub region: Option<String>,
    pub profile: Option<String>,
    pub endpoint_url: Option<String>,
}

/// Load the SDK configuration. `AWS_ENDPOINT_URL` and the per-service
/// endpoint variables are honoured by `aws-config` itself.
pub async fn load_config(opts: &ConnectOptions) -> aws_config::SdkConfig {
    // Retries are set per client (reads and writes differ): see `retry`.
    let mut loader = aws_config::defaults(BehaviorVersion::latest());
    if let Some(region) = &opts.region {
        loader = loader.region(aws_config::Region::new(region.clone()));
    }
    if let Some(profile) = &opts.profile {
        loader = loader.profile_name(profile);
    }
    if let Some(url) = &opts.endpoint_url {
        loader = loader.endpoint_url(url);
    }
    loader.load().await
}
