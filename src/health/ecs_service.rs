//! `ecs_service`: an ECS service is healthy: its newest deployment
//! COMPLETED, every running task healthy in each target group of the
//! service, and no task of its current deployments stopped with a failure.
//!
//! ```yaml
//! server-healthy: { ecs_service: { cluster: redash, service: redash-server } }
//! ```
//! A failure is what the stop reason and the containers' exit say (failed
//! ELB or container health checks, an essential container exited non-zero,
//! CannotPull..., ResourceInitializationError), not a stop the scheduler
//! makes when it replaces a healthy task in a deployment: both carry stopCode
//! `ServiceSchedulerInitiated`. "Since the step started" is told by the
//! deployments the tasks belong to (`startedBy`), never by comparing AWS's
//! clock with ours.

use serde::Deserialize;

use crate::aws::ecs::Ecs;
use crate::aws::Elbv2;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Raw {
    pub cluster: String,
    pub service: String,
}

#[derive(Clone, Debug)]
pub struct EcsServiceCheck {
    pub cluster: String,
    pub service: String,
}

impl EcsServiceCheck {
    pub async fn run(&self, ecs: &dyn Ecs, elb: &dyn Elbv2) -> (bool, String) {
        let s = match ecs.service(&self.cluster, &self.service).await {
            Ok(Some(s)) => s,
            Ok(None) => return (false, format!("ECS service {} not found in cluster {}", self.service, self.cluster)),
            Err(e) => return (false, e.to_string()),
        };
        let mut ok = true;
        let mut parts = Vec::new();
        match s.primary() {
            Some(d) => {
                let state = d.rollout_state.as_deref().unwrap_or("?");
                ok &= state == "COMPLETED";
                parts.push(format!("deployment {} {state}, {}/{} running", d.id, d.running, d.desired));
            }
            None => {
                ok = false;
                parts.push("no PRIMARY deployment".into());
            }
        }
        if s.tasks.iter().filter(|t| t.last_status == "RUNNING").count() < s.desired as usize {
            ok = false;
        }
        for tg in &s.target_groups {
            let targets = match elb.target_health(tg).await {
                Ok(t) => t,
                Err(e) => return (false, format!("{}: {e}", s.name)),
            };
            let name = tg.split('/').nth(1).unwrap_or(tg);
            for t in &s.tasks {
                let state = t.ipv4.as_deref().and_then(|ip| targets.iter().find(|x| x.id == ip)).map_or("not registered", |x| x.state.as_str());
                ok &= state == "healthy";
                parts.push(format!("{} {state} in {name}", t.label()));
            }
        }
        if s.target_groups.is_empty() {
            parts.extend(s.tasks.iter().map(|t| format!("{} {}", t.label(), t.last_status)));
        }
        let current: Vec<&str> = s.deployments.iter().map(|d| d.id.as_str()).collect();
        match ecs.stopped_tasks(&self.cluster, &s.name).await {
            Ok(stopped) => {
                for t in stopped.iter().filter(|t| t.started_by.as_deref().is_some_and(|d| current.contains(&d)) && t.failed()) {
                    ok = false;
                    parts.push(format!("{} stopped: {}", t.label(), t.stopped_reason.as_deref().unwrap_or("no reason given")));
                }
            }
            Err(e) => return (false, format!("{}: {e}", s.name)),
        }
        (ok, format!("{}: {}", s.name, parts.join("; ")))
    }
}
