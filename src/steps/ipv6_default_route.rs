//! `ipv6_default_route`: `::/0` in the given route tables, to the VPC's
//! internet gateway (public subnets) or to an egress-only internet gateway
//! (private subnets: a NAT gateway does not carry native IPv6).
//!
//! ```yaml
//! - id: public-route
//!   ipv6_default_route:
//!     route_tables: [rtb-0123, public]     # IDs or Name tags
//!     via: internet_gateway                # or egress_only_internet_gateway
//!     replace: false                       # true: replace a ::/0 that points elsewhere
//! ```
//! An egress-only gateway is created (with an idempotency token and the run's
//! tag) when the VPC has none. An existing `::/0` to another target is an
//! error naming it unless `replace: true`, which records the old target so
//! rollback can put it back.

use serde::{Deserialize, Serialize};

use super::{resolve, Description, Outcome, Step, StepCx, StepError};
use crate::aws::{label, Network, RouteTarget, Scope, RUN_TAG};
use crate::ipv6::Ipv6Net;
use crate::runbook::{Pos, Ref, ValidateCx};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Via {
    InternetGateway,
    EgressOnlyInternetGateway,
}

impl Via {
    /// Whether an existing route goes where this step would send `::/0`.
    pub fn routes_to(self, target: &RouteTarget) -> bool {
        match self {
            Via::InternetGateway => matches!(target, RouteTarget::InternetGateway(_)),
            Via::EgressOnlyInternetGateway => matches!(target, RouteTarget::EgressOnlyInternetGateway(_)),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Raw {
    pub route_tables: Vec<String>,
    pub via: Via,
    #[serde(default)]
    pub replace: bool,
}

#[derive(Debug)]
pub struct Spec {
    pub tables: Vec<Ref>,
    pub via: Via,
    pub replace: bool,
    pub at: Pos,
}

/// Placeholder for a gateway a plan would create.
const NEW_EIGW: &str = "(new egress-only internet gateway)";

impl Spec {
    pub fn validate(raw: Raw, path: &str, cx: &mut ValidateCx) -> Option<Spec> {
        let before = cx.error_count();
        if raw.route_tables.is_empty() {
            cx.error(&format!("{path}.route_tables"), "`route_tables` is empty");
        }
        let mut tables = Vec::new();
        for (i, t) in raw.route_tables.iter().enumerate() {
            let p = format!("{path}.route_tables[{i}]");
            if raw.route_tables[..i].contains(t) {
                cx.error(&p, format!("route table `{t}` is listed twice"));
            }
            tables.push(cx.reference(&p, t));
        }
        (cx.error_count() == before).then(|| Spec { tables, via: raw.via, replace: raw.replace, at: cx.at(path) })
    }
}

impl Step for Spec {
    fn iam_actions(&self) -> Vec<&'static str> {
        let mut a = vec!["ec2:CreateRoute", "ec2:DeleteRoute"];
        if self.replace {
            a.push("ec2:ReplaceRoute");
        }
        if self.via == Via::EgressOnlyInternetGateway {
            // Created with its tags (tag-on-create needs CreateTags).
            a.extend(["ec2:CreateEgressOnlyInternetGateway", "ec2:DeleteEgressOnlyInternetGateway", "ec2:CreateTags"]);
        }
        a
    }

    fn findings(&self, net: &Network) -> Vec<crate::preflight::Finding> {
        crate::preflight::routes::before_default_route(self, net)
    }

    fn kind(&self) -> &'static str {
        "ipv6_default_route"
    }

    fn check(&self, net: &Network) -> Result<Vec<super::Change>, StepError> {
        let mut changes = Vec::new();
        let target = match self.via {
            Via::InternetGateway => match net.internet_gateways.first() {
                Some(igw) => RouteTarget::InternetGateway(igw.clone()),
                None => {
                    return Err(StepError::precondition(self.at, format!("{} has no internet gateway attached", net.vpc.id))
                        .with_help("private route tables take `via: egress_only_internet_gateway`"));
                }
            },
            Via::EgressOnlyInternetGateway => match net.egress_only_gateways.first() {
                Some(id) => RouteTarget::EgressOnlyInternetGateway(id.clone()),
                None => {
                    changes.push(super::Change::Ipv6DefaultRoute(Change::CreateEgressOnlyGateway {
                        vpc_id: net.vpc.id.clone(),
                        prior: net.egress_only_gateways.clone(),
                    }));
                    RouteTarget::EgressOnlyInternetGateway(NEW_EIGW.into())
                }
            },
        };
        for r in &self.tables {
            let t = resolve::route_table(net, r)?;
            let table = label(&t.id, t.name.as_deref());
            match t.route_v6(&Ipv6Net::ANY) {
                None => changes.push(super::Change::Ipv6DefaultRoute(Change::CreateRoute {
                    route_table_id: t.id.clone(),
                    route_table: table,
                    target: target.clone(),
                })),
                Some(existing) if existing.target == target => {}
                Some(existing) if self.replace => changes.push(super::Change::Ipv6DefaultRoute(Change::ReplaceRoute {
                    route_table_id: t.id.clone(),
                    route_table: table,
                    target: target.clone(),
                    prior: existing.target.clone(),
                })),
                Some(existing) => {
                    return Err(StepError::precondition(
                        r.at,
                        format!("{table} already routes ::/0 to {}", existing.target.id()),
                    )
                    .with_help("set `replace: true` to replace it (the old target is recorded and restored on rollback)"));
                }
            }
        }
        Ok(changes)
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Change {
    CreateEgressOnlyGateway {
        vpc_id: String,
        /// Gateways that existed before, to recognise ours after a crash.
        prior: Vec<String>,
    },
    CreateRoute {
        route_table_id: String,
        route_table: String,
        target: RouteTarget,
    },
    ReplaceRoute {
        route_table_id: String,
        route_table: String,
        target: RouteTarget,
        prior: RouteTarget,
    },
}

fn target_arg(t: &RouteTarget) -> String {
    match t {
        RouteTarget::EgressOnlyInternetGateway(id) => format!("EgressOnlyInternetGatewayId={id}"),
        RouteTarget::NatGateway(id) => format!("NatGatewayId={id}"),
        RouteTarget::InternetGateway(id) | RouteTarget::Other(id) => format!("GatewayId={id}"),
    }
}

#[async_trait::async_trait]
impl super::ChangeKind for Change {
    fn scope(&self) -> Scope {
        Scope::ROUTES
    }

    fn concurrency_key(&self) -> Option<String> {
        match self {
            Change::CreateRoute { route_table_id, .. } | Change::ReplaceRoute { route_table_id, .. } => Some(route_table_id.clone()),
            Change::CreateEgressOnlyGateway { .. } => None,
        }
    }

    /// Later changes of the step refer to what this one creates, so the
    /// engine re-checks the step after it.
    fn creates_dependency(&self) -> bool {
        matches!(self, Change::CreateEgressOnlyGateway { .. })
    }

    fn describe(&self) -> Description {
        match self {
            Change::CreateEgressOnlyGateway { vpc_id, .. } => Description {
                call: "ec2:CreateEgressOnlyInternetGateway",
                args: format!("VpcId={vpc_id}"),
                resource: vpc_id.clone(),
                attribute: "egress-only internet gateway".into(),
                current: "none".into(),
                desired: "new".into(),
            },
            Change::CreateRoute { route_table_id, route_table, target } => Description {
                call: "ec2:CreateRoute",
                args: format!("RouteTableId={route_table_id} DestinationIpv6CidrBlock=::/0 {}", target_arg(target)),
                resource: route_table.clone(),
                attribute: "route ::/0".into(),
                current: "none".into(),
                desired: target.id().to_string(),
            },
            Change::ReplaceRoute { route_table_id, route_table, target, prior } => Description {
                call: "ec2:ReplaceRoute",
                args: format!("RouteTableId={route_table_id} DestinationIpv6CidrBlock=::/0 {}", target_arg(target)),
                resource: route_table.clone(),
                attribute: "route ::/0".into(),
                current: prior.id().to_string(),
                desired: target.id().to_string(),
            },
        }
    }

    fn project(&self, net: &mut Network) {
        match self {
            Change::CreateEgressOnlyGateway { .. } => net.egress_only_gateways.push(NEW_EIGW.into()),
            Change::CreateRoute { route_table_id, target, .. } => {
                if let Some(t) = net.route_table_mut(route_table_id) {
                    t.routes.push(crate::aws::Route {
                        destination_v4: None,
                        destination_v6: Some(Ipv6Net::ANY),
                        target: target.clone(),
                    });
                }
            }
            Change::ReplaceRoute { route_table_id, target, .. } => {
                if let Some(t) = net.route_table_mut(route_table_id) {
                    for r in &mut t.routes {
                        if r.destination_v6 == Some(Ipv6Net::ANY) {
                            r.target = target.clone();
                        }
                    }
                }
            }
        }
    }

    async fn apply(&self, cx: &StepCx<'_>) -> Result<Outcome, StepError> {
        match self {
            Change::CreateEgressOnlyGateway { vpc_id, .. } => {
                // Same token for the same run and step: a retry returns the
                // same gateway instead of creating a second one.
                let token = format!("dualstack-{}-{}", cx.run_id, cx.step);
                let tags = [(RUN_TAG.to_string(), cx.run_id.to_string()), ("Name".to_string(), format!("{vpc_id}-ipv6-egress"))];
                let id = cx.ec2.create_egress_only_gateway(vpc_id, &token, &tags).await?;
                Ok(Outcome { resource_id: Some(id), ..Outcome::default() })
            }
            Change::CreateRoute { route_table_id, target, .. } => {
                cx.ec2.create_route_v6(route_table_id, Ipv6Net::ANY, target).await?;
                Ok(Outcome::default())
            }
            Change::ReplaceRoute { route_table_id, target, .. } => {
                cx.ec2.replace_route_v6(route_table_id, Ipv6Net::ANY, target).await?;
                Ok(Outcome::default())
            }
        }
    }

    fn reconcile(&self, net: &Network) -> Option<Outcome> {
        match self {
            Change::CreateEgressOnlyGateway { prior, .. } => net
                .egress_only_gateways
                .iter()
                .find(|g| !prior.contains(g))
                .map(|g| Outcome { resource_id: Some(g.clone()), ..Outcome::default() }),
            Change::CreateRoute { route_table_id, target, .. } | Change::ReplaceRoute { route_table_id, target, .. } => net
                .route_table(route_table_id)?
                .route_v6(&Ipv6Net::ANY)
                .filter(|r| &r.target == target)
                .map(|_| Outcome::default()),
        }
    }

    async fn undo(&self, cx: &StepCx<'_>, outcome: &Outcome, net: &Network) -> Result<(), StepError> {
        match self {
            Change::CreateEgressOnlyGateway { .. } => {
                if let Some(id) = &outcome.resource_id
                    && net.egress_only_gateways.contains(id)
                {
                    cx.ec2.delete_egress_only_gateway(id).await?;
                }
            }
            Change::CreateRoute { route_table_id, target, .. } => {
                let ours = net
                    .route_table(route_table_id)
                    .and_then(|t| t.route_v6(&Ipv6Net::ANY))
                    .is_some_and(|r| &r.target == target);
                if ours {
                    cx.ec2.delete_route_v6(route_table_id, Ipv6Net::ANY).await?;
                }
            }
            Change::ReplaceRoute { route_table_id, prior, .. } => {
                let current = net.route_table(route_table_id).and_then(|t| t.route_v6(&Ipv6Net::ANY));
                match current {
                    Some(r) if &r.target == prior => {}
                    Some(_) => cx.ec2.replace_route_v6(route_table_id, Ipv6Net::ANY, prior).await?,
                    None => cx.ec2.create_route_v6(route_table_id, Ipv6Net::ANY, prior).await?,
                }
            }
        }
        Ok(())
    }
}
