//! The live state of one VPC's network, in domain words: what the steps read
//! to decide what is missing, and what `plan` projects forward step by step.
//!
//! One snapshot is read with a handful of batched describe calls per step
//! (see [`crate::aws::Ec2::snapshot`]) instead of one call per resource.

use serde::{Deserialize, Serialize};

use crate::ipv6::Ipv6Net;

/// State of an IPv6 CIDR association, as AWS reports it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AssocState {
    Associating,
    Associated,
    Disassociating,
    Disassociated,
    Failing,
    Failed,
    /// Not yet applied: only in a plan's projected state.
    Planned,
    Other(String),
}

impl AssocState {
    pub fn parse(s: &str) -> AssocState {
        match s {
            "associating" => AssocState::Associating,
            "associated" => AssocState::Associated,
            "disassociating" => AssocState::Disassociating,
            "disassociated" => AssocState::Disassociated,
            "failing" => AssocState::Failing,
            "failed" => AssocState::Failed,
            other => AssocState::Other(other.to_string()),
        }
    }

    /// Whether the block holds (or will hold) addresses: anything short of
    /// being removed or having failed.
    pub fn is_live(&self) -> bool {
        matches!(self, AssocState::Associating | AssocState::Associated | AssocState::Planned)
    }
}

/// Waiting on an association: `associated` is ready, `associating` (or
/// not visible yet: reads are eventually consistent) is pending, anything
/// else will never become `associated`.
pub fn association_probe(block: Option<&Ipv6Block>) -> super::wait::Probe {
    use super::wait::Probe;
    match block.map(|b| &b.state) {
        Some(AssocState::Associated) => Probe::Ready,
        Some(AssocState::Associating) => Probe::Pending("associating".into()),
        Some(other) => Probe::Terminal(format!("{other:?}")),
        None => Probe::Pending("not visible yet".into()),
    }
}

/// Waiting on a disassociation: ready once the block is gone (or
/// `disassociated`, `failed`), pending while it is live or `disassociating`.
pub fn disassociation_probe(block: Option<&Ipv6Block>) -> super::wait::Probe {
    use super::wait::Probe;
    match block {
        Some(b) if b.state.is_live() || b.state == AssocState::Disassociating => Probe::Pending(format!("{:?}", b.state)),
        _ => Probe::Ready,
    }
}

/// An IPv6 block associated with a VPC or subnet.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ipv6Block {
    pub association_id: String,
    /// `None` only in a plan, for a block AWS has not allocated yet.
    pub cidr: Option<Ipv6Net>,
    pub state: AssocState,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct Vpc {
    pub id: String,
    pub name: Option<String>,
    pub cidr_v4: String,
    pub ipv6_blocks: Vec<Ipv6Block>,
    /// A run's marker tags (`dualstack:run`, `dualstack:state`), if any.
    pub marker: Option<(String, String)>,
}

/// A VPC as `find_vpcs` found it: enough to name it and to key the
/// machine-wide lock ([`crate::state::machine`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FoundVpc {
    pub id: String,
    pub name: Option<String>,
    /// The account that owns it (`OwnerId`).
    pub owner: String,
}

impl Vpc {
    /// The VPC's live IPv6 block, if any (a VPC has at most one in practice).
    pub fn ipv6_block(&self) -> Option<&Ipv6Block> {
        self.ipv6_blocks.iter().find(|b| b.state.is_live())
    }
}

/// The three IPv6 attributes of a subnet, each set by its own
/// ModifySubnetAttribute call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SubnetFlag {
    AssignIpv6AddressOnCreation,
    EnableDns64,
    EnableResourceNameDnsAaaaRecordOnLaunch,
}

impl SubnetFlag {
    pub const ALL: [SubnetFlag; 3] = [
        SubnetFlag::AssignIpv6AddressOnCreation,
        SubnetFlag::EnableDns64,
        SubnetFlag::EnableResourceNameDnsAaaaRecordOnLaunch,
    ];

    /// The attribute's name in the EC2 API.
    pub fn api_name(self) -> &'static str {
        match self {
            SubnetFlag::AssignIpv6AddressOnCreation => "AssignIpv6AddressOnCreation",
            SubnetFlag::EnableDns64 => "EnableDns64",
            SubnetFlag::EnableResourceNameDnsAaaaRecordOnLaunch => {
                "EnableResourceNameDnsAAAARecordOnLaunch"
            }
        }
    }
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct Subnet {
    pub id: String,
    pub name: Option<String>,
    pub availability_zone: String,
    pub cidr_v4: Option<String>,
    pub ipv6_blocks: Vec<Ipv6Block>,
    pub assign_ipv6_address_on_creation: bool,
    pub enable_dns64: bool,
    pub enable_aaaa_record_on_launch: bool,
}

impl Subnet {
    pub fn ipv6_block(&self) -> Option<&Ipv6Block> {
        self.ipv6_blocks.iter().find(|b| b.state.is_live())
    }

    pub fn flag(&self, flag: SubnetFlag) -> bool {
        match flag {
            SubnetFlag::AssignIpv6AddressOnCreation => self.assign_ipv6_address_on_creation,
            SubnetFlag::EnableDns64 => self.enable_dns64,
            SubnetFlag::EnableResourceNameDnsAaaaRecordOnLaunch => self.enable_aaaa_record_on_launch,
        }
    }

    pub fn set_flag(&mut self, flag: SubnetFlag, value: bool) {
        match flag {
            SubnetFlag::AssignIpv6AddressOnCreation => self.assign_ipv6_address_on_creation = value,
            SubnetFlag::EnableDns64 => self.enable_dns64 = value,
            SubnetFlag::EnableResourceNameDnsAaaaRecordOnLaunch => self.enable_aaaa_record_on_launch = value,
        }
    }
}

/// Where a route sends traffic. Only the targets a migration creates or must
/// recognise are named; anything else is kept as AWS's ID.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type", content = "id")]
pub enum RouteTarget {
    InternetGateway(String),
    EgressOnlyInternetGateway(String),
    NatGateway(String),
    Other(String),
}

impl RouteTarget {
    pub fn id(&self) -> &str {
        match self {
            RouteTarget::InternetGateway(id)
            | RouteTarget::EgressOnlyInternetGateway(id)
            | RouteTarget::NatGateway(id)
            | RouteTarget::Other(id) => id,
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct Route {
    pub destination_v4: Option<String>,
    pub destination_v6: Option<Ipv6Net>,
    pub target: RouteTarget,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct RouteTable {
    pub id: String,
    pub name: Option<String>,
    pub main: bool,
    pub subnet_ids: Vec<String>,
    pub routes: Vec<Route>,
}

impl RouteTable {
    pub fn route_v6(&self, dest: &Ipv6Net) -> Option<&Route> {
        self.routes.iter().find(|r| r.destination_v6.as_ref() == Some(dest))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    Ingress,
    Egress,
}

/// A security group rule's match: protocol (AWS's IpProtocol string: `tcp`,
/// `udp`, `icmpv6`, `-1` or a number) and port range (ICMP type/code for ICMP).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RuleMatch {
    pub direction: Direction,
    pub protocol: String,
    pub from_port: Option<i32>,
    pub to_port: Option<i32>,
}

/// One security group rule with one CIDR, as DescribeSecurityGroupRules lists it.
#[derive(Clone, Debug, Serialize)]
pub struct SgRule {
    pub id: String,
    pub rule: RuleMatch,
    pub cidr_v4: Option<String>,
    pub cidr_v6: Option<Ipv6Net>,
    pub description: Option<String>,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct SecurityGroup {
    pub id: String,
    pub group_name: String,
    pub name: Option<String>,
    pub rules: Vec<SgRule>,
}

/// One entry of a network ACL. IPv4 and IPv6 entries share one number
/// space per direction and are evaluated separately, lowest number first.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AclEntry {
    pub rule_number: i32,
    pub egress: bool,
    /// As AWS gives it: `-1` (all), `6`, `17`, `1` (ICMP), `58` (ICMPv6).
    pub protocol: String,
    /// `allow` or `deny`.
    pub action: String,
    pub cidr_v4: Option<String>,
    pub cidr_v6: Option<String>,
    pub ports: Option<(i32, i32)>,
    /// ICMP type and code (-1: all).
    pub icmp: Option<(i32, i32)>,
}

impl AclEntry {
    /// AWS's own catch-all deny, which no call can change (32767 for IPv4,
    /// reported as 32768 for IPv6).
    pub fn is_catch_all(&self) -> bool {
        self.rule_number >= 32767
    }

    /// `100 allow tcp 80 from 0.0.0.0/0`, for messages.
    pub fn render(&self) -> String {
        let proto = match self.protocol.as_str() {
            "-1" => "all".to_string(),
            "6" => "tcp".to_string(),
            "17" => "udp".to_string(),
            "1" => "icmp".to_string(),
            "58" => "icmpv6".to_string(),
            other => format!("protocol {other}"),
        };
        let ports = match self.ports {
            Some((a, b)) if a == b => format!(" {a}"),
            Some((a, b)) => format!(" {a}-{b}"),
            None => String::new(),
        };
        let icmp = self.icmp.map(|(t, c)| format!(" type {t} code {c}")).unwrap_or_default();
        let cidr = self.cidr_v6.as_deref().or(self.cidr_v4.as_deref()).unwrap_or("?");
        let dir = if self.egress { "to" } else { "from" };
        format!("{} {} {proto}{ports}{icmp} {dir} {cidr}", self.rule_number, self.action)
    }
}

/// Whether a direction of a (default) ACL holds only what AWS put there:
/// rule 100 allowing all from `0.0.0.0/0` and the catch-all deny. AWS adds
/// the IPv6 allows to such a direction when the VPC gets an IPv6 block.
fn acl_direction_untouched(acl: &NetworkAcl, egress: bool) -> bool {
    let mut entries: Vec<&AclEntry> = acl.entries.iter().filter(|e| e.egress == egress).collect();
    entries.sort_by_key(|e| e.rule_number);
    matches!(entries.as_slice(), [allow, deny]
        if allow.rule_number == 100 && allow.action == "allow" && allow.protocol == "-1" && allow.cidr_v4.as_deref() == Some("0.0.0.0/0")
        && deny.is_catch_all() && deny.cidr_v4.is_some())
}

/// The IPv6 entries AWS adds to a default ACL's direction: `101 allow ::/0`
/// and the IPv6 catch-all deny, which it reports as rule 32768.
fn default_ipv6_acl_entries(egress: bool) -> [AclEntry; 2] {
    let entry = |rule_number, action: &str| AclEntry {
        rule_number,
        egress,
        protocol: "-1".into(),
        action: action.into(),
        cidr_v4: None,
        cidr_v6: Some("::/0".into()),
        ports: None,
        icmp: None,
    };
    [entry(101, "allow"), entry(32768, "deny")]
}

/// A network ACL of the VPC and the subnets it covers.
#[derive(Clone, Debug, Serialize)]
pub struct NetworkAcl {
    pub id: String,
    pub name: Option<String>,
    pub is_default: bool,
    pub subnet_ids: Vec<String>,
    pub entries: Vec<AclEntry>,
}

impl NetworkAcl {
    /// What AWS does by itself when the VPC gets an IPv6 block: a default
    /// ACL gets IPv6 allows where a direction still holds only its own
    /// defaults; a custom ACL gets nothing.
    pub fn add_aws_ipv6_defaults(&mut self) {
        if !self.is_default {
            return;
        }
        for egress in [false, true] {
            if acl_direction_untouched(self, egress) {
                self.entries.extend(default_ipv6_acl_entries(egress));
            }
        }
    }
}

/// Everything a step can read about one VPC. The load-balancing and compute
/// parts are filled only when the snapshot's [`Scope`] asks for them.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Network {
    pub vpc: Vpc,
    pub subnets: Vec<Subnet>,
    pub route_tables: Vec<RouteTable>,
    pub internet_gateways: Vec<String>,
    pub egress_only_gateways: Vec<String>,
    pub security_groups: Vec<SecurityGroup>,
    pub network_acls: Vec<NetworkAcl>,
    pub load_balancers: Vec<LoadBalancer>,
    pub target_groups: Vec<TargetGroup>,
    pub instances: Vec<Instance>,
    pub interfaces: Vec<Interface>,
    /// ECS, read by the preflight only: the account's `dualStackIPv6`
    /// setting and the running tasks in the VPC's subnets, or why they could
    /// not be read.
    pub ecs: Option<Result<EcsState, String>>,
    /// The ECS services with a subnet in the VPC, with their running tasks
    /// ([`Scope::ecs`]).
    pub ecs_services: Vec<super::ecs::EcsService>,
    /// The caller's effective `dualStackIPv6` ([`Scope::ecs`]).
    pub dual_stack_ipv6: Option<bool>,
    /// The account's hosted zones with their A and AAAA records ([`Scope::dns`]).
    pub dns_zones: Vec<super::route53::Zone>,
}

/// What the preflight knows of ECS.
#[derive(Clone, Debug, Serialize)]
pub struct EcsState {
    pub dual_stack_ipv6: bool,
    pub tasks: Vec<super::ecs::EcsTask>,
}

impl Network {
    pub fn subnet(&self, id: &str) -> Option<&Subnet> {
        self.subnets.iter().find(|s| s.id == id)
    }
    pub fn subnet_mut(&mut self, id: &str) -> Option<&mut Subnet> {
        self.subnets.iter_mut().find(|s| s.id == id)
    }
    pub fn route_table(&self, id: &str) -> Option<&RouteTable> {
        self.route_tables.iter().find(|r| r.id == id)
    }
    pub fn route_table_mut(&mut self, id: &str) -> Option<&mut RouteTable> {
        self.route_tables.iter_mut().find(|r| r.id == id)
    }
    pub fn security_group(&self, id: &str) -> Option<&SecurityGroup> {
        self.security_groups.iter().find(|g| g.id == id)
    }
    pub fn security_group_mut(&mut self, id: &str) -> Option<&mut SecurityGroup> {
        self.security_groups.iter_mut().find(|g| g.id == id)
    }
    pub fn network_acl(&self, id: &str) -> Option<&NetworkAcl> {
        self.network_acls.iter().find(|a| a.id == id)
    }
    pub fn network_acl_mut(&mut self, id: &str) -> Option<&mut NetworkAcl> {
        self.network_acls.iter_mut().find(|a| a.id == id)
    }
    /// The network ACL a subnet is associated with (every subnet has one).
    pub fn network_acl_of(&self, subnet_id: &str) -> Option<&NetworkAcl> {
        self.network_acls.iter().find(|a| a.subnet_ids.iter().any(|s| s == subnet_id)).or_else(|| self.network_acls.iter().find(|a| a.is_default))
    }
    pub fn load_balancer(&self, arn: &str) -> Option<&LoadBalancer> {
        self.load_balancers.iter().find(|l| l.arn == arn)
    }
    pub fn load_balancer_mut(&mut self, arn: &str) -> Option<&mut LoadBalancer> {
        self.load_balancers.iter_mut().find(|l| l.arn == arn)
    }
    pub fn target_group(&self, arn: &str) -> Option<&TargetGroup> {
        self.target_groups.iter().find(|t| t.arn == arn)
    }
    pub fn target_group_named(&self, name: &str) -> Option<&TargetGroup> {
        self.target_groups.iter().find(|t| t.name == name)
    }
    pub fn target_group_mut(&mut self, arn: &str) -> Option<&mut TargetGroup> {
        self.target_groups.iter_mut().find(|t| t.arn == arn)
    }
    pub fn instance(&self, id: &str) -> Option<&Instance> {
        self.instances.iter().find(|i| i.id == id)
    }
    pub fn interface(&self, id: &str) -> Option<&Interface> {
        self.interfaces.iter().find(|i| i.id == id)
    }
    /// The interface holding an address (an ip target, IPv4 or IPv6).
    pub fn interface_with_ip(&self, ip: &str) -> Option<&Interface> {
        let same = |a: &String| a == ip || a.parse::<std::net::IpAddr>().ok().zip(ip.parse::<std::net::IpAddr>().ok()).is_some_and(|(x, y)| x == y);
        self.interfaces.iter().find(|i| i.private_ips.iter().any(same) || i.ipv6_addresses.iter().any(same))
    }
    /// An instance's primary interface (device index 0).
    pub fn primary_interface(&self, instance_id: &str) -> Option<&Interface> {
        self.interfaces
            .iter()
            .filter(|i| i.instance_id.as_deref() == Some(instance_id))
            .min_by_key(|i| i.device_index.unwrap_or(i32::MAX))
    }
    /// An ECS service by name or ARN, in a cluster named by name or ARN.
    pub fn ecs_service(&self, cluster: &str, service: &str) -> Option<&super::ecs::EcsService> {
        self.ecs_services.iter().find(|s| super::ecs::cluster_matches(&s.cluster_arn, cluster) && (s.name == service || s.arn == service))
    }
    pub fn ecs_service_mut(&mut self, arn: &str) -> Option<&mut super::ecs::EcsService> {
        self.ecs_services.iter_mut().find(|s| s.arn == arn)
    }
    /// A hosted zone by name or ID.
    pub fn dns_zone(&self, zone: &str) -> Option<&super::route53::Zone> {
        let id = super::route53::zone_id(zone);
        let name = super::route53::normalize(zone);
        self.dns_zones.iter().find(|z| z.id == id).or_else(|| self.dns_zones.iter().find(|z| z.name == name))
    }
    pub fn dns_zone_mut(&mut self, id: &str) -> Option<&mut super::route53::Zone> {
        self.dns_zones.iter_mut().find(|z| z.id == id)
    }
    /// Every record aliasing the load balancer, in any zone: `(zone, record)`.
    pub fn aliases_of<'a>(&'a self, lb: &'a LoadBalancer) -> impl Iterator<Item = (&'a super::route53::Zone, &'a super::route53::Record)> + 'a {
        self.dns_zones.iter().flat_map(move |z| z.records.iter().filter(move |r| r.aliases(&lb.canonical_zone_id, &lb.dns_name)).map(move |r| (z, r)))
    }
    /// The ECS services that register their tasks in `tg_arn`.
    pub fn ecs_services_behind(&self, tg_arn: &str) -> impl Iterator<Item = &super::ecs::EcsService> + '_ {
        let tg = tg_arn.to_string();
        self.ecs_services.iter().filter(move |s| s.target_groups.contains(&tg))
    }
    /// Listener and rule forward actions that send traffic to `tg_arn`.
    pub fn forwards_to<'a>(&'a self, tg_arn: &'a str) -> impl Iterator<Item = (&'a LoadBalancer, &'a Listener, Option<&'a ListenerRule>, &'a Forward)> + 'a {
        self.load_balancers.iter().flat_map(move |lb| {
            lb.listeners.iter().flat_map(move |l| {
                let default = l.default_actions.forward.as_ref().filter(|f| f.weight_of(tg_arn).is_some()).map(|f| (lb, l, None, f));
                let rules = l.rules.iter().filter_map(move |r| {
                    r.actions.forward.as_ref().filter(|f| f.weight_of(tg_arn).is_some()).map(|f| (lb, l, Some(r), f))
                });
                default.into_iter().chain(rules)
            })
        })
    }
}

/// Human label for a resource: `subnet-0abc (app-1a)`.
pub fn label(id: &str, name: Option<&str>) -> String {
    match name {
        Some(n) if n != id => format!("{id} ({n})"),
        _ => id.to_string(),
    }
}

/// One target group and weight in a forward action.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WeightedGroup {
    pub arn: String,
    pub weight: i32,
}

/// A forward action: the only kind of listener action dualstack rewrites.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Forward {
    pub groups: Vec<WeightedGroup>,
    /// Target-group stickiness across the weighted groups: (enabled, seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stickiness: Option<(bool, i32)>,
}

impl Forward {
    pub fn weight_of(&self, arn: &str) -> Option<i32> {
        self.groups.iter().find(|g| g.arn == arn).map(|g| g.weight)
    }
}

/// A listener's default action or a rule's action list, reduced to what a
/// migration needs: the forward action, and how many actions there are (an
/// authenticate action before the forward, for example).
#[derive(Clone, Debug, Default, Serialize)]
pub struct Actions {
    pub forward: Option<Forward>,
    pub count: usize,
    /// Action types, for messages (`authenticate-oidc`, `forward`, ...).
    pub kinds: Vec<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct ListenerRule {
    pub arn: String,
    pub priority: String,
    pub actions: Actions,
}

#[derive(Clone, Debug, Serialize)]
pub struct Listener {
    pub arn: String,
    pub port: i32,
    pub protocol: String,
    pub default_actions: Actions,
    /// Non-default rules.
    pub rules: Vec<ListenerRule>,
}

#[derive(Clone, Debug, Serialize)]
pub struct LoadBalancer {
    pub arn: String,
    pub name: String,
    /// `application`, `network` or `gateway`.
    pub kind: String,
    pub scheme: String,
    /// `ipv4`, `dualstack` or `dualstack-without-public-ipv4`.
    pub ip_address_type: String,
    pub subnet_ids: Vec<String>,
    pub security_groups: Vec<String>,
    pub dns_name: String,
    /// The Route 53 zone of its DNS name: what an alias to it names.
    pub canonical_zone_id: String,
    pub listeners: Vec<Listener>,
}

/// Health-check settings copied verbatim onto a replacement group.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthCheck {
    pub enabled: Option<bool>,
    pub protocol: Option<String>,
    pub port: Option<String>,
    pub path: Option<String>,
    pub interval_seconds: Option<i32>,
    pub timeout_seconds: Option<i32>,
    pub healthy_threshold: Option<i32>,
    pub unhealthy_threshold: Option<i32>,
    pub matcher_http: Option<String>,
    pub matcher_grpc: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Target {
    /// Instance ID or IP address.
    pub id: String,
    pub port: Option<i32>,
    #[serde(default)]
    pub availability_zone: Option<String>,
    /// `initial`, `healthy`, `unhealthy`, `unused`, `draining`, `unavailable`.
    #[serde(default)]
    pub state: String,
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct TargetGroup {
    pub arn: String,
    pub name: String,
    pub protocol: Option<String>,
    pub protocol_version: Option<String>,
    pub port: Option<i32>,
    pub vpc_id: String,
    /// `instance`, `ip`, `lambda` or `alb`.
    pub target_type: String,
    /// `ipv4` or `ipv6`.
    pub ip_address_type: String,
    pub health_check: HealthCheck,
    pub attributes: Vec<(String, String)>,
    pub tags: Vec<(String, String)>,
    pub targets: Vec<Target>,
}

impl TargetGroup {
    pub fn tag(&self, key: &str) -> Option<&str> {
        self.tags.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    /// The settings to create this group again, under `name`, as
    /// `ip_address_type`.
    pub fn copy_as(&self, name: &str, ip_address_type: &str) -> super::NewTargetGroup {
        super::NewTargetGroup {
            name: name.to_string(),
            protocol: self.protocol.clone(),
            protocol_version: self.protocol_version.clone(),
            port: self.port,
            vpc_id: self.vpc_id.clone(),
            target_type: self.target_type.clone(),
            ip_address_type: ip_address_type.to_string(),
            health_check: self.health_check.clone(),
            attributes: self.attributes.clone(),
            tags: self.tags.clone(),
        }
    }
}

/// A network interface, for the IPv6 addresses of targets.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Interface {
    pub id: String,
    pub subnet_id: String,
    pub private_ips: Vec<String>,
    pub ipv6_addresses: Vec<String>,
    pub instance_id: Option<String>,
    pub device_index: Option<i32>,
    /// The public IPv4 address (auto-assigned or an Elastic IP), which AWS
    /// bills by the hour.
    pub public_ip: Option<String>,
    /// AWS's description: `ELB app/...` marks a load balancer's own node.
    pub description: Option<String>,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct Instance {
    pub id: String,
    pub name: Option<String>,
    pub instance_type: String,
    pub subnet_id: String,
    pub state: String,
    /// Whether the instance type supports IPv6 (DescribeInstanceTypes).
    pub ipv6_supported: Option<bool>,
}

/// What of a VPC is read: the VPC, its subnets, the route tables and
/// gateways, the security groups (EC2), the load balancers with their
/// listeners, the target groups with their targets (ELBv2), the compute
/// (instances and interfaces), the ECS services. Steps read only what they need, and
/// after a change only the part it can have modified is read again.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Scope {
    /// The VPC (its IPv6 blocks).
    pub vpc: bool,
    /// The subnets (their blocks and flags).
    pub subnets: bool,
    /// Route tables, internet and egress-only gateways.
    pub routes: bool,
    pub security_groups: bool,
    /// Network ACLs with their entries and subnets.
    pub network_acls: bool,
    /// Load balancers, listeners and rules.
    pub load_balancers: bool,
    /// Target groups, their targets and health, attributes and tags.
    pub target_groups: bool,
    pub compute: bool,
    /// ECS: the services with a subnet in the VPC, their deployments and
    /// running tasks, and the account setting `dualStackIPv6`.
    pub ecs: bool,
    /// Route 53: the hosted zones and their A and AAAA records.
    pub dns: bool,
}

impl Scope {
    pub const NONE: Scope = Scope {
        vpc: false,
        subnets: false,
        routes: false,
        security_groups: false,
        network_acls: false,
        load_balancers: false,
        target_groups: false,
        compute: false,
        ecs: false,
        dns: false,
    };
    pub const VPC: Scope = Scope { vpc: true, ..Scope::NONE };
    pub const SUBNETS: Scope = Scope { subnets: true, ..Scope::NONE };
    pub const ROUTES: Scope = Scope { routes: true, ..Scope::NONE };
    pub const SECURITY_GROUPS: Scope = Scope { security_groups: true, ..Scope::NONE };
    pub const NETWORK_ACLS: Scope = Scope { network_acls: true, ..Scope::NONE };
    /// Everything EC2 holds of the network.
    pub const NETWORK: Scope = Scope { vpc: true, subnets: true, routes: true, security_groups: true, ..Scope::NONE };
    pub const LOAD_BALANCERS: Scope = Scope { load_balancers: true, ..Scope::NONE };
    pub const TARGET_GROUPS: Scope = Scope { target_groups: true, ..Scope::NONE };
    /// Everything ELBv2 holds of the VPC.
    pub const LOAD_BALANCING: Scope = Scope { load_balancers: true, target_groups: true, ..Scope::NONE };
    pub const COMPUTE: Scope = Scope { compute: true, ..Scope::NONE };
    pub const ECS: Scope = Scope { ecs: true, ..Scope::NONE };
    pub const DNS: Scope = Scope { dns: true, ..Scope::NONE };
    pub const ALL: Scope = Scope {
        vpc: true,
        subnets: true,
        routes: true,
        security_groups: true,
        network_acls: true,
        load_balancers: true,
        target_groups: true,
        compute: true,
        ecs: true,
        dns: true,
    };

    fn zip(self, other: Scope, f: impl Fn(bool, bool) -> bool) -> Scope {
        Scope {
            vpc: f(self.vpc, other.vpc),
            subnets: f(self.subnets, other.subnets),
            routes: f(self.routes, other.routes),
            security_groups: f(self.security_groups, other.security_groups),
            network_acls: f(self.network_acls, other.network_acls),
            load_balancers: f(self.load_balancers, other.load_balancers),
            target_groups: f(self.target_groups, other.target_groups),
            compute: f(self.compute, other.compute),
            ecs: f(self.ecs, other.ecs),
            dns: f(self.dns, other.dns),
        }
    }

    pub fn intersect(self, other: Scope) -> Scope {
        self.zip(other, |a, b| a && b)
    }

    /// What `self` covers and `other` does not.
    pub fn minus(self, other: Scope) -> Scope {
        self.zip(other, |a, b| a && !b)
    }

    pub fn union(self, other: Scope) -> Scope {
        self.zip(other, |a, b| a || b)
    }
}
