//! The decisions a person makes during a run, in interactive mode: before a
//! step (apply, skip, abort) and after a failure (roll back everything, roll
//! back this step, retry, pause). The engine asks through [`Pilot`] and stays
//! free of any terminal code; [`crate::ui::interactive`] asks on a terminal.

use crate::runbook::StepId;
use crate::steps::{Description, StepError};

/// What to do with a step about to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StepDecision {
    Apply,
    /// Leave this step out of the run; the next one runs.
    Skip,
    /// Stop here, nothing undone: the run is paused (`resume` or `rollback`).
    Abort,
}

/// What to do after a step or its gate failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailureDecision {
    RollbackAll,
    RollbackStep,
    Retry,
    Pause,
}

/// A step about to run, as the person deciding sees it.
pub struct StepPreview<'a> {
    pub step: &'a StepId,
    pub kind: &'a str,
    /// Every change the step would make (all its stages), from live state.
    pub changes: &'a [Description],
    /// The health checks of its gate.
    pub gate: Vec<String>,
    /// The runbook marks it `confirm: true`.
    pub confirm: bool,
}

pub trait Pilot: Send + Sync {
    fn before_step(&self, preview: &StepPreview<'_>) -> StepDecision;
    fn on_failure(&self, step: &StepId, error: &StepError) -> FailureDecision;
}
