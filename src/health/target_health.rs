//! `target_health`: every registered target of a target group is healthy,
//! as DescribeTargetHealth reports it.
//!
//! ```yaml
//! tg-v6-healthy: { target_health: { target_group: redash-green-v6 } }
//! ```
//! The group is looked up by name when the check runs, so it may be one a
//! step creates.

use serde::Deserialize;

use crate::aws::Elbv2;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Raw {
    pub target_group: String,
}

#[derive(Clone, Debug)]
pub struct TargetHealth {
    pub target_group: String,
}

impl TargetHealth {
    pub async fn run(&self, elb: &dyn Elbv2) -> (bool, String) {
        let arn = match elb.target_group_arn(&self.target_group).await {
            Ok(Some(arn)) => arn,
            Ok(None) => return (false, format!("target group {} not found", self.target_group)),
            Err(e) => return (false, e.to_string()),
        };
        match elb.target_health(&arn).await {
            Ok(targets) if targets.is_empty() => (false, format!("{}: no registered targets", self.target_group)),
            Ok(targets) => {
                let ok = targets.iter().all(|t| t.state == "healthy");
                let states: Vec<String> = targets
                    .iter()
                    .map(|t| {
                        let port = t.port.map(|p| format!(":{p}")).unwrap_or_default();
                        let why = t.reason.as_deref().map(|r| format!(" ({r})")).unwrap_or_default();
                        format!("{}{port} {}{why}", t.id, t.state)
                    })
                    .collect();
                (ok, format!("{}: {}", self.target_group, states.join(", ")))
            }
            Err(e) => (false, e.to_string()),
        }
    }
}
