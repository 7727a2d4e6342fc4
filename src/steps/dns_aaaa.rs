//! `dns_aaaa`: an AAAA alias beside each A alias of the service's own name,
//! so that IPv6 clients learn an IPv6 address for it.
//!
//! ```yaml
//! - id: dns
//!   dns_aaaa:
//!     load_balancer: redash                  # the dual-stack load balancer the records point at
//!     records:
//!       - { zone: example.com, name: redash.example.com }   # hosted zone name or ID
//!     timeout: 5m                            # for each change to be INSYNC
//!   gate: { checks: [site-v6], bake: 60s }
//! ```
//! Users reach a service by its own name, usually a Route 53 A alias to the
//! load balancer: until an AAAA alias stands beside it, IPv6 clients never
//! learn an IPv6 address, and every gate on the load balancer's own name
//! proved nothing about their path. Per record: an UPSERT of the AAAA alias
//! with the A alias's routing (SetIdentifier, weight, region, failover,
//! EvaluateTargetHealth), aliasing the load balancer's
//! `CanonicalHostedZoneId` and `dualstack.<DNSName>`, then `GetChange` until
//! INSYNC. An AAAA that already points elsewhere is an error naming it,
//! unless `replace: true`: then the old record is journaled and restored on
//! rollback.
//!
//! Rollback withdraws the AAAA before anything else of the run is undone
//! (the exact record Route 53 holds is deleted), waits for INSYNC, and the
//! load balancer goes back to ipv4 no sooner than `withdraw_wait` later:
//! resolvers keep an answer for its TTL, 60 s for an alias to a load
//! balancer (not settable), whatever INSYNC says.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{resolve, Description, Outcome, Step, StepCx, StepError};
use crate::aws::route53::{normalize, Action, Alias, Record};
use crate::aws::wait::{Probe, Waiter};
use crate::aws::{Network, Scope};
use crate::engine::events::Event;
use crate::runbook::{Pos, Ref, ValidateCx};

/// How long resolvers keep an alias record to a load balancer: its TTL,
/// which Route 53 fixes at 60 s.
pub const ALIAS_TTL: Duration = Duration::from_secs(60);

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Raw {
    pub load_balancer: String,
    pub records: Vec<RawRecord>,
    pub timeout: Option<String>,
    /// After the AAAA is withdrawn, how long resolvers may still answer it.
    pub withdraw_wait: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRecord {
    pub zone: String,
    pub name: String,
    #[serde(default)]
    pub replace: bool,
}

#[derive(Debug)]
pub struct RecordRef {
    pub zone: Ref,
    pub name: Ref,
    pub replace: bool,
}

#[derive(Debug)]
pub struct Spec {
    pub load_balancer: Ref,
    pub records: Vec<RecordRef>,
    pub timeout: Duration,
    pub withdraw_wait: Duration,
    pub at: Pos,
}

impl Spec {
    pub fn validate(raw: Raw, path: &str, cx: &mut ValidateCx) -> Option<Spec> {
        if raw.records.is_empty() {
            cx.error(&format!("{path}.records"), "no records").set_help("list the names that alias the load balancer, with their hosted zone");
            return None;
        }
        let timeout = crate::health::duration(cx, &format!("{path}.timeout"), raw.timeout.as_deref(), Duration::from_secs(300))?;
        let withdraw_wait = crate::health::duration(cx, &format!("{path}.withdraw_wait"), raw.withdraw_wait.as_deref(), ALIAS_TTL)?;
        let records = raw
            .records
            .iter()
            .enumerate()
            .map(|(i, r)| RecordRef {
                zone: cx.reference(&format!("{path}.records[{i}].zone"), &r.zone),
                name: cx.reference(&format!("{path}.records[{i}].name"), &r.name),
                replace: r.replace,
            })
            .collect();
        Some(Spec { load_balancer: cx.reference(&format!("{path}.load_balancer"), &raw.load_balancer), records, timeout, withdraw_wait, at: cx.at(path) })
    }
}

impl Step for Spec {
    fn kind(&self) -> &'static str {
        "dns_aaaa"
    }

    fn scope(&self) -> Scope {
        Scope::LOAD_BALANCERS.union(Scope::DNS)
    }

    fn iam_actions(&self) -> Vec<&'static str> {
        vec!["route53:ChangeResourceRecordSets"]
    }

    fn check(&self, net: &Network) -> Result<Vec<super::Change>, StepError> {
        let lb = resolve::load_balancer(net, &self.load_balancer)?;
        if lb.ip_address_type == "ipv4" {
            return Err(StepError::precondition(self.load_balancer.at, format!("{} is ipv4 at this point of the runbook: an AAAA alias to it would answer nothing", lb.name))
                .with_help("make it dual-stack in a `load_balancer_ip_type` step before this one"));
        }
        let mut changes = Vec::new();
        for r in &self.records {
            let Some(zone) = net.dns_zone(&r.zone.text) else {
                let known: Vec<String> = net.dns_zones.iter().map(|z| format!("{} ({})", z.name, z.id)).collect();
                return Err(StepError::precondition(r.zone.at, format!("no hosted zone `{}`", r.zone.text))
                    .with_help(if known.is_empty() { "the account has no hosted zones".to_string() } else { format!("hosted zones: {}", known.join(", ")) }));
            };
            let name = normalize(&r.name.text);
            let a_aliases: Vec<&Record> = zone.records.iter().filter(|x| x.name == name && x.kind == "A" && x.aliases(&lb.canonical_zone_id, &lb.dns_name)).collect();
            if a_aliases.is_empty() {
                let others: Vec<String> = zone.records.iter().filter(|x| x.name == name).map(Record::render).collect();
                return Err(StepError::precondition(r.name.at, format!("{name} in {} has no A alias to {}", zone.name, lb.name)).with_help(if others.is_empty() {
                    format!("the zone has no record named {name}")
                } else {
                    format!("it has: {}; the AAAA goes beside an A alias to the load balancer", others.join(", "))
                }));
            }
            for a in a_aliases {
                let want = Record {
                    kind: "AAAA".into(),
                    alias: Some(Alias { zone_id: lb.canonical_zone_id.clone(), dns_name: format!("dualstack.{}", normalize(&lb.dns_name)), evaluate_target_health: a.alias.as_ref().is_some_and(|x| x.evaluate_target_health) }),
                    ttl: None,
                    values: vec![],
                    ..a.clone()
                };
                let existing = zone.records.iter().find(|x| x.name == name && x.kind == "AAAA" && x.set_identifier == a.set_identifier);
                match existing {
                    Some(x) if same_target(x, &want) => continue,
                    Some(x) if !r.replace => {
                        return Err(StepError::precondition(r.name.at, format!("{name} already has an AAAA record that points elsewhere: {}", x.render()))
                            .with_help("add `replace: true` to replace it (it is restored on rollback), or remove it yourself"));
                    }
                    _ => {}
                }
                changes.push(super::Change::DnsAaaa(Change::Upsert {
                    zone_id: zone.id.clone(),
                    zone: zone.name.clone(),
                    record: want,
                    prior: existing.cloned(),
                    timeout_secs: self.timeout.as_secs(),
                    withdraw_wait_ms: self.withdraw_wait.as_millis() as u64,
                }));
            }
        }
        Ok(changes)
    }
}

/// Whether `have` is the alias `want` describes (names compared as Route 53
/// returns them).
fn same_target(have: &Record, want: &Record) -> bool {
    match (&have.alias, &want.alias) {
        (Some(h), Some(w)) => h.zone_id == w.zone_id && h.dns_name == w.dns_name && h.evaluate_target_health == w.evaluate_target_health && have.weight == want.weight,
        _ => false,
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Change {
    /// ChangeResourceRecordSets UPSERT of the AAAA alias, waited to INSYNC.
    Upsert { zone_id: String, zone: String, record: Record, prior: Option<Record>, timeout_secs: u64, withdraw_wait_ms: u64 },
}

/// Wait until change `id` is INSYNC.
async fn wait_insync(cx: &StepCx<'_>, id: &str, timeout: Duration, what: &str) -> Result<(), StepError> {
    cx.events.emit(Event::Waiting { step: cx.step.to_string(), what: what.to_string(), deadline_secs: Some(timeout.as_secs()) });
    let waiter = Waiter { deadline: timeout, first_interval: Duration::from_millis(500), max_interval: Duration::from_secs(5), consecutive: 1 };
    let dns = cx.dns;
    waiter
        .until(what, || async move {
            Ok(match dns.change_status(id).await?.as_str() {
                "INSYNC" => Probe::Ready,
                other => Probe::Pending(other.to_string()),
            })
        })
        .await?;
    Ok(())
}

#[async_trait::async_trait]
impl super::ChangeKind for Change {
    fn scope(&self) -> Scope {
        Scope::DNS
    }

    /// Withdrawn before anything else of the run is undone.
    fn undo_phase(&self) -> super::UndoPhase {
        super::UndoPhase::Withdraw
    }

    fn resolvers_keep(&self) -> Option<Duration> {
        let Change::Upsert { withdraw_wait_ms, .. } = self;
        Some(Duration::from_millis(*withdraw_wait_ms))
    }

    fn describe(&self) -> Description {
        let Change::Upsert { zone_id, zone, record, prior, .. } = self;
        let target = record.alias.as_ref().map_or_else(String::new, |a| a.dns_name.clone());
        Description {
            call: "route53:ChangeResourceRecordSets",
            args: format!("HostedZoneId={zone_id} UPSERT {} AAAA alias {target}", record.name),
            resource: format!("{} (zone {zone})", record.name),
            attribute: "AAAA record".into(),
            current: prior.as_ref().map_or_else(|| "none".into(), Record::render),
            desired: record.render(),
        }
    }

    fn project(&self, net: &mut Network) {
        let Change::Upsert { zone_id, record, .. } = self;
        if let Some(z) = net.dns_zone_mut(zone_id) {
            z.records.retain(|x| !(x.name == record.name && x.kind == record.kind && x.set_identifier == record.set_identifier));
            z.records.push(record.clone());
        }
    }

    async fn apply(&self, cx: &StepCx<'_>) -> Result<Outcome, StepError> {
        let Change::Upsert { zone_id, record, .. } = self;
        let id = cx.dns.change(zone_id, Action::Upsert, record).await?;
        Ok(Outcome { resource_id: Some(id), ..Outcome::default() })
    }

    async fn settle(&self, cx: &StepCx<'_>, outcome: &Outcome) -> Result<(), StepError> {
        let Change::Upsert { record, timeout_secs, .. } = self;
        match &outcome.resource_id {
            Some(id) => wait_insync(cx, id, Duration::from_secs(*timeout_secs), &format!("the AAAA of {} to be INSYNC", record.name)).await,
            // Settled from live state after a lost answer: the record is there.
            None => Ok(()),
        }
    }

    fn reconcile(&self, net: &Network) -> Option<Outcome> {
        let Change::Upsert { zone_id, record, .. } = self;
        net.dns_zones.iter().find(|z| &z.id == zone_id)?.records.iter().any(|x| x.name == record.name && x.kind == "AAAA" && same_target(x, record)).then(Outcome::default)
    }

    /// Deletes the AAAA exactly as Route 53 holds it (or puts back the one
    /// it replaced), then waits for INSYNC.
    async fn undo(&self, cx: &StepCx<'_>, _outcome: &Outcome, net: &Network) -> Result<(), StepError> {
        let Change::Upsert { zone_id, record, prior, timeout_secs, .. } = self;
        let Some(zone) = net.dns_zones.iter().find(|z| &z.id == zone_id) else { return Ok(()) };
        let held = zone.records.iter().find(|x| x.name == record.name && x.kind == "AAAA" && x.set_identifier == record.set_identifier);
        let id = match (held, prior) {
            (Some(h), _) if !same_target(h, record) => return Ok(()),
            (Some(_), Some(p)) => cx.dns.change(zone_id, Action::Upsert, p).await?,
            (Some(h), None) => cx.dns.change(zone_id, Action::Delete, h).await?,
            // Gone already: nothing of this run's is left to take back.
            (None, _) => return Ok(()),
        };
        wait_insync(cx, &id, Duration::from_secs(*timeout_secs), &format!("the AAAA of {} to be withdrawn (INSYNC)", record.name)).await
    }
}
