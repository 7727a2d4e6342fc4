//! `health_gate`: a step with no change of its own that runs a gate, for
//! example right after the subnet step, so that a DNS64 trap is caught before
//! the load balancer moves.
//!
//! ```yaml
//! - id: app-still-healthy
//!   health_gate: { checks: [redis-v6, site-v4], bake: 30s }
//! ```

use super::{Step, StepError};
use crate::aws::{Network, Scope};

#[derive(Debug)]
pub struct Spec;

impl Step for Spec {
    fn kind(&self) -> &'static str {
        "health_gate"
    }

    fn scope(&self) -> Scope {
        Scope::NONE
    }

    fn check(&self, _net: &Network) -> Result<Vec<super::Change>, StepError> {
        Ok(Vec::new())
    }
}
