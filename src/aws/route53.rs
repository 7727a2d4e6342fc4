//! [`Route53`] over the official `aws-sdk-route53` client: the hosted zones
//! with their A and AAAA records, one record changed per call, and the
//! change's status. Route 53 is one global service.
//!
//! Names are kept as Route 53 compares them: lower-case, without the
//! trailing dot (it returns `redash.example.com.`); an alias target's DNS
//! name the same way, so that `dualstack.NAME.elb.amazonaws.com.` and
//! `DualStack.name.elb.amazonaws.com` are one name.

use async_trait::async_trait;
use aws_sdk_route53::types::{AliasTarget, Change, ChangeAction, ChangeBatch, ResourceRecord, ResourceRecordSet, RrType};
use aws_sdk_route53::Client;
use serde::{Deserialize, Serialize};

use super::ec2::err;
use super::retry::RetryPolicy;
use super::AwsError;

/// `Redash.Example.com.` -> `redash.example.com`.
pub fn normalize(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

/// A zone's ID without its `/hostedzone/` prefix.
pub fn zone_id(id: &str) -> &str {
    id.rsplit('/').next().unwrap_or(id)
}

/// An alias record's target.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alias {
    pub zone_id: String,
    /// Normalized (see [`normalize`]).
    pub dns_name: String,
    pub evaluate_target_health: bool,
}

/// One A or AAAA record set, with what routing it takes part in.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// Normalized (see [`normalize`]).
    pub name: String,
    /// `A` or `AAAA`.
    pub kind: String,
    pub set_identifier: Option<String>,
    pub weight: Option<i64>,
    pub region: Option<String>,
    pub failover: Option<String>,
    pub alias: Option<Alias>,
    pub ttl: Option<i64>,
    pub values: Vec<String>,
}

impl Record {
    /// `redash.example.com AAAA alias dualstack.redash-1....elb.amazonaws.com`.
    pub fn render(&self) -> String {
        let id = self.set_identifier.as_deref().map(|s| format!(" [{s}]")).unwrap_or_default();
        match &self.alias {
            Some(a) => format!("{} {}{id} alias {} (zone {})", self.name, self.kind, a.dns_name, a.zone_id),
            None => format!("{} {}{id} {}", self.name, self.kind, self.values.join(" ")),
        }
    }

    /// Whether this record aliases the load balancer whose DNS name is
    /// `dns_name` in zone `zone_id`, as Route 53 returns it: with or without
    /// the `dualstack.` prefix.
    pub fn aliases(&self, zone_id: &str, dns_name: &str) -> bool {
        let want = normalize(dns_name);
        self.alias.as_ref().is_some_and(|a| {
            a.zone_id == zone_id && (a.dns_name == want || a.dns_name.strip_prefix("dualstack.") == Some(want.as_str()))
        })
    }
}

/// A hosted zone and its A and AAAA records.
#[derive(Clone, Debug, Serialize)]
pub struct Zone {
    /// Without the `/hostedzone/` prefix.
    pub id: String,
    /// Normalized (see [`normalize`]).
    pub name: String,
    pub private: bool,
    pub records: Vec<Record>,
}

/// What a record change does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Action {
    Upsert,
    Delete,
}

/// The Route 53 operations a migration needs.
#[async_trait]
pub trait Route53: Send + Sync {
    /// Every hosted zone with its A and AAAA records.
    async fn zones(&self) -> Result<Vec<Zone>, AwsError>;
    /// One change of one record; returns the change's ID.
    async fn change(&self, zone_id: &str, action: Action, record: &Record) -> Result<String, AwsError>;
    /// `PENDING` or `INSYNC`.
    async fn change_status(&self, change_id: &str) -> Result<String, AwsError>;
}

pub struct SdkRoute53 {
    client: Client,
    write: Client,
    retry: RetryPolicy,
}

impl SdkRoute53 {
    pub fn new(config: &aws_config::SdkConfig, retry: RetryPolicy) -> SdkRoute53 {
        let (client, write) = retry
            .read_and_write_clients(|rc| Client::from_conf(aws_sdk_route53::config::Builder::from(config).retry_config(rc).retry_partition(RetryPolicy::partition()).build()));
        SdkRoute53 { client, write, retry }
    }

    async fn records(&self, zone: &str) -> Result<Vec<Record>, AwsError> {
        let mut out = Vec::new();
        let mut start: Option<(String, RrType, Option<String>)> = None;
        loop {
            let mut req = self.client.list_resource_record_sets().hosted_zone_id(zone);
            if let Some((name, kind, id)) = start.take() {
                req = req.start_record_name(name).start_record_type(kind).set_start_record_identifier(id);
            }
            let page = req.send().await.map_err(|e| err("route53:ListResourceRecordSets", e))?;
            out.extend(page.resource_record_sets().iter().filter(|r| matches!(r.r#type(), RrType::A | RrType::Aaaa)).map(record));
            match (page.is_truncated(), page.next_record_name(), page.next_record_type()) {
                (true, Some(name), Some(kind)) => start = Some((name.to_string(), kind.clone(), page.next_record_identifier().map(str::to_string))),
                _ => return Ok(out),
            }
        }
    }
}

fn record(r: &ResourceRecordSet) -> Record {
    Record {
        name: normalize(r.name()),
        kind: r.r#type().as_str().to_string(),
        set_identifier: r.set_identifier().map(str::to_string),
        weight: r.weight(),
        region: r.region().map(|x| x.as_str().to_string()),
        failover: r.failover().map(|x| x.as_str().to_string()),
        alias: r.alias_target().map(|a| Alias { zone_id: a.hosted_zone_id().to_string(), dns_name: normalize(a.dns_name()), evaluate_target_health: a.evaluate_target_health() }),
        ttl: r.ttl(),
        values: r.resource_records().iter().map(|v| v.value().to_string()).collect(),
    }
}

fn record_set(r: &Record) -> Result<ResourceRecordSet, AwsError> {
    let build = |e: aws_sdk_route53::error::BuildError| AwsError::local("route53:ChangeResourceRecordSets", e.to_string());
    let mut b = ResourceRecordSet::builder()
        .name(&r.name)
        .r#type(RrType::from(r.kind.as_str()))
        .set_set_identifier(r.set_identifier.clone())
        .set_weight(r.weight)
        .set_region(r.region.as_deref().map(Into::into))
        .set_failover(r.failover.as_deref().map(Into::into))
        .set_ttl(r.ttl);
    if let Some(a) = &r.alias {
        b = b.alias_target(AliasTarget::builder().hosted_zone_id(&a.zone_id).dns_name(&a.dns_name).evaluate_target_health(a.evaluate_target_health).build().map_err(build)?);
    }
    for v in &r.values {
        b = b.resource_records(ResourceRecord::builder().value(v).build().map_err(build)?);
    }
    b.build().map_err(build)
}

#[async_trait]
impl Route53 for SdkRoute53 {
    async fn zones(&self) -> Result<Vec<Zone>, AwsError> {
        let zones: Vec<_> = self
            .client
            .list_hosted_zones()
            .into_paginator()
            .items()
            .send()
            .collect::<Result<_, _>>()
            .await
            .map_err(|e| err("route53:ListHostedZones", e))?;
        let reads = zones.iter().map(|z| self.records(zone_id(z.id()))).collect();
        let records = super::fan_out(reads).await?;
        Ok(zones
            .iter()
            .zip(records)
            .map(|(z, records)| Zone {
                id: zone_id(z.id()).to_string(),
                name: normalize(z.name()),
                private: z.config().is_some_and(|c| c.private_zone()),
                records,
            })
            .collect())
    }

    async fn change(&self, zone_id: &str, action: Action, record: &Record) -> Result<String, AwsError> {
        const OP: &str = "route53:ChangeResourceRecordSets";
        let set = record_set(record)?;
        let action = match action {
            Action::Upsert => ChangeAction::Upsert,
            Action::Delete => ChangeAction::Delete,
        };
        let change = Change::builder().action(action).resource_record_set(set).build().map_err(|e| AwsError::local(OP, e.to_string()))?;
        let batch = ChangeBatch::builder().changes(change).comment("dualstack").build().map_err(|e| AwsError::local(OP, e.to_string()))?;
        let out = self
            .retry
            .write(OP, || async { self.write.change_resource_record_sets().hosted_zone_id(zone_id).change_batch(batch.clone()).send().await.map_err(|e| err(OP, e)) })
            .await?;
        Ok(out.change_info().map(|c| change_id(c.id())).unwrap_or_default())
    }

    async fn change_status(&self, change_id: &str) -> Result<String, AwsError> {
        let out = self.client.get_change().id(change_id).send().await.map_err(|e| err("route53:GetChange", e))?;
        Ok(out.change_info().map(|c| c.status().as_str().to_string()).unwrap_or_default())
    }
}

/// A change's ID without its `/change/` prefix.
fn change_id(id: &str) -> String {
    id.rsplit('/').next().unwrap_or(id).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_alias_is_matched_as_route_53_returns_it() {
        let r = Record {
            name: normalize("Redash.Example.com."),
            kind: "A".into(),
            set_identifier: None,
            weight: None,
            region: None,
            failover: None,
            alias: Some(Alias { zone_id: "Z14GRHDCWA56QT".into(), dns_name: normalize("DualStack.redash-1.ap-northeast-1.elb.amazonaws.com."), evaluate_target_health: true }),
            ttl: None,
            values: vec![],
        };
        assert_eq!(r.name, "redash.example.com");
        assert!(r.aliases("Z14GRHDCWA56QT", "redash-1.ap-northeast-1.elb.amazonaws.com"));
        assert!(!r.aliases("Z35SXDOTRQ7X7K", "redash-1.ap-northeast-1.elb.amazonaws.com"), "another zone is another target");
        assert!(!r.aliases("Z14GRHDCWA56QT", "other-1.ap-northeast-1.elb.amazonaws.com"));
    }
}
