//! The gate loop: run the gate's checks in rounds; pass after
//! `healthy_threshold` consecutive passing rounds once `bake` has elapsed;
//! fail after `unhealthy_threshold` consecutive failing rounds, or at the
//! deadline. Every observation is handed to the caller (the engine journals
//! it) as it happens.

use std::time::{Duration, Instant};

use serde::Deserialize;

use super::{duration, Check, HealthCx, Observation};
use crate::runbook::{Pos, ValidateCx};

/// `gate_defaults:` and a step's `gate:` as written.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawGate {
    #[serde(default)]
    pub checks: Vec<String>,
    pub bake: Option<String>,
    pub interval: Option<String>,
    pub healthy_threshold: Option<u32>,
    pub unhealthy_threshold: Option<u32>,
    pub timeout: Option<String>,
}

/// Gate timing, from `gate_defaults` overridden by the step's `gate`.
#[derive(Clone, Debug)]
pub struct Timing {
    pub interval: Duration,
    pub healthy_threshold: u32,
    pub unhealthy_threshold: u32,
    pub timeout: Duration,
    pub bake: Duration,
}

impl Timing {
    /// How long a gate may take: its timeout, or more when the bake and the
    /// passing rounds after it need more.
    pub fn deadline(&self) -> Duration {
        self.timeout.max(self.bake + self.interval * (self.healthy_threshold + 1))
    }
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            interval: Duration::from_secs(5),
            healthy_threshold: 3,
            unhealthy_threshold: 2,
            timeout: Duration::from_secs(300),
            bake: Duration::ZERO,
        }
    }
}

impl RawGate {
    /// Apply these settings over `base`.
    pub fn timing(&self, base: &Timing, path: &str, cx: &mut ValidateCx) -> Option<Timing> {
        let t = Timing {
            interval: duration(cx, &format!("{path}.interval"), self.interval.as_deref(), base.interval)?,
            healthy_threshold: self.healthy_threshold.unwrap_or(base.healthy_threshold),
            unhealthy_threshold: self.unhealthy_threshold.unwrap_or(base.unhealthy_threshold),
            timeout: duration(cx, &format!("{path}.timeout"), self.timeout.as_deref(), base.timeout)?,
            bake: duration(cx, &format!("{path}.bake"), self.bake.as_deref(), base.bake)?,
        };
        if t.healthy_threshold == 0 || t.unhealthy_threshold == 0 {
            cx.error(path, "thresholds must be at least 1");
            return None;
        }
        if t.interval.is_zero() {
            cx.error(&format!("{path}.interval"), "the interval must be more than zero");
            return None;
        }
        Some(t)
    }
}

/// A step's gate: named checks and timing.
#[derive(Clone, Debug)]
pub struct Gate {
    pub checks: Vec<(String, Check)>,
    pub timing: Timing,
    pub at: Pos,
}

/// Why a gate failed, with what the checks last saw.
#[derive(Clone, Debug)]
pub struct GateFailure {
    pub reason: String,
    pub last: Vec<Observation>,
}

impl std::fmt::Display for GateFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.reason)?;
        for o in &self.last {
            write!(f, "\n    {} {}: {}", if o.ok { "ok  " } else { "FAIL" }, o.check, o.detail)?;
        }
        Ok(())
    }
}

impl Gate {
    pub async fn run(&self, cx: &HealthCx<'_>, mut observe: impl FnMut(&Observation)) -> Result<(), GateFailure> {
        let t = &self.timing;
        let start = Instant::now();
        let deadline = t.deadline();
        let (mut passes, mut fails) = (0u32, 0u32);
        loop {
            let mut round = Vec::with_capacity(self.checks.len());
            for (name, check) in &self.checks {
                let o = check.run(name, cx).await;
                observe(&o);
                round.push(o);
            }
            if round.iter().all(|o| o.ok) {
                passes += 1;
                fails = 0;
            } else {
                fails += 1;
                passes = 0;
            }
            if fails >= t.unhealthy_threshold {
                let failing: Vec<&str> = round.iter().filter(|o| !o.ok).map(|o| o.check.as_str()).collect();
                return Err(GateFailure {
                    reason: format!("health check {} failed {fails} round(s) in a row", failing.join(", ")),
                    last: round,
                });
            }
            if passes >= t.healthy_threshold && start.elapsed() >= t.bake {
                return Ok(());
            }
            if start.elapsed() + t.interval > deadline {
                return Err(GateFailure {
                    reason: format!("the gate did not pass within {}s", deadline.as_secs()),
                    last: round,
                });
            }
            tokio::time::sleep(t.interval).await;
        }
    }
}
