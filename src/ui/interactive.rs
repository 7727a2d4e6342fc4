//! Interactive mode on a terminal (`dialoguer`): before each step, its diff
//! and API calls and a choice (apply / skip / show details / abort); after a
//! failure, the failing check's last observations and a choice (roll back
//! everything / roll back this step / retry / pause).

use std::sync::Arc;

use dialoguer::console::Term;
use dialoguer::Select;

use super::progress::ProgressReporter;
use crate::engine::pilot::{FailureDecision, Pilot, StepDecision, StepPreview};
use crate::runbook::StepId;
use crate::steps::StepError;

pub struct TerminalPilot {
    progress: Arc<ProgressReporter>,
}

impl TerminalPilot {
    pub fn new(progress: Arc<ProgressReporter>) -> TerminalPilot {
        TerminalPilot { progress }
    }
}

/// Ask on stderr; an interrupted prompt (Ctrl-C, end of input) counts as the
/// safe choice `fallback`.
fn choose(prompt: &str, items: &[&str], fallback: usize) -> usize {
    // Keys typed while AWS was slow (an Enter during a bake) must not answer
    // a question that was not on the screen yet.
    // SAFETY: tcflush on stdin only discards pending input.
    unsafe {
        libc::tcflush(libc::STDIN_FILENO, libc::TCIFLUSH);
    }
    let term = Term::stderr();
    Select::new().with_prompt(prompt).items(items).default(0).report(true).interact_on_opt(&term).ok().flatten().unwrap_or(fallback)
}

impl Pilot for TerminalPilot {
    fn before_step(&self, p: &StepPreview<'_>) -> StepDecision {
        self.progress.suspend(|| {
            let term = Term::stderr();
            let n = p.changes.len();
            let _ = term.write_line(&format!(
                "\nstep {} ({}){}: {n} change{}",
                p.step,
                p.kind,
                if p.confirm { ", marked confirm: true" } else { "" },
                if n == 1 { "" } else { "s" }
            ));
            for c in p.changes {
                let _ = term.write_line(&format!("  {c}"));
            }
            if !p.gate.is_empty() {
                let _ = term.write_line(&format!("  then health gate: {}", p.gate.join(", ")));
            }
            loop {
                let items = ["apply", "skip this step", "show details (API calls)", "abort (pause the run: resume or roll back later)"];
                match choose(&format!("Apply step {}?", p.step), &items, 3) {
                    0 => return StepDecision::Apply,
                    1 => return StepDecision::Skip,
                    2 => {
                        for c in p.changes {
                            let _ = term.write_line(&format!("  {} {}", c.call, c.args));
                        }
                    }
                    _ => return StepDecision::Abort,
                }
            }
        })
    }

    fn on_failure(&self, step: &StepId, error: &StepError) -> FailureDecision {
        self.progress.suspend(|| {
            let term = Term::stderr();
            let _ = term.write_line(&format!("\nstep {step} failed: {error}"));
            let items = [
                "roll back everything (back to IPv4)",
                "roll back this step",
                "retry the step",
                "pause (exit 4: resume or roll back later)",
            ];
            match choose(&format!("Step {step} failed. What now?"), &items, 3) {
                0 => FailureDecision::RollbackAll,
                1 => FailureDecision::RollbackStep,
                2 => FailureDecision::Retry,
                _ => FailureDecision::Pause,
            }
        })
    }
}
