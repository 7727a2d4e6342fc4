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

/// Everything a network step can read about one VPC.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Network {
    pub vpc: Vpc,
    pub subnets: Vec<Subnet>,
    pub route_tables: Vec<RouteTable>,
    pub internet_gateways: Vec<String>,
    pub egress_only_gateways: Vec<String>,
    pub security_groups: Vec<SecurityGroup>,
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
}

/// Human label for a resource: `subnet-0abc (app-1a)`.
pub fn label(id: &str, name: Option<&str>) -> String {
    match name {
        Some(n) if n != id => format!("{id} ({n})"),
        _ => id.to_string(),
    }
}
