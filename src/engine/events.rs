//! What the engine reports while it works. The engine never prints: it emits
//! these, and a reporter in [`crate::ui`] renders them as text or JSON lines.

use serde::Serialize;

use crate::steps::{Description, Outcome};

#[derive(Clone, Debug, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    RunStarted { run_id: String, runbook: String, vpc: String, operation: String },
    StepStarted { step: String, kind: String },
    StepSkipped { step: String, reason: String },
    StepUnchanged { step: String },
    ChangeStarted { step: String, seq: u64, change: Description },
    ChangeApplied { step: String, seq: u64, outcome: Outcome },
    /// A change whose outcome was unknown (crash, lost answer), settled by
    /// reading live state.
    ChangeReconciled { step: String, seq: u64, applied: bool },
    /// AWS (or a bake) is being waited for; `deadline_secs` is how long at most.
    Waiting { step: String, what: String, deadline_secs: Option<u64> },
    StepVerified { step: String, changes: usize },
    StepFailed { step: String, error: String },
    RollbackStarted { reason: String, changes: usize },
    UndoStarted { step: String, seq: u64, change: Description },
    UndoDone { step: String, seq: u64 },
    /// A health gate: bakes, then checks until healthy or `timeout_secs`.
    GateStarted { step: String, checks: Vec<String>, timeout_secs: u64 },
    Observation { step: String, check: String, ok: bool, detail: String },
    GatePassed { step: String },
    Warning { message: String },
    RunFinished { outcome: RunOutcome },
}

/// How a run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunOutcome {
    Completed,
    /// A step failed and everything applied was undone.
    RolledBack,
    /// `rollback` command finished.
    Reverted,
    /// Stopped on failure as asked (`--on-failure pause`).
    Paused,
    /// The rollback itself could not finish.
    RollbackIncomplete,
}

/// Where events go.
pub trait EventSink: Send + Sync {
    fn emit(&self, event: Event);
}

/// A shared sink (the progress display, which the prompts also use).
impl<T: EventSink + ?Sized> EventSink for std::sync::Arc<T> {
    fn emit(&self, event: Event) {
        (**self).emit(event)
    }
}
