//! Reporters: [`TextReporter`] writes one readable line per event to stderr
//! (so stdout stays clean for piping); [`JsonReporter`] writes one JSON object
//! per event to stdout, stable for other tools, each with its time (`ts`);
//! [`Tee`] sends the same events to a reporter and to the run's log file.

use std::io::Write;
use std::sync::Mutex;

use crate::engine::events::{Event, EventSink, RunOutcome};

/// Which reporter `--output` selects.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Output {
    Text,
    Json,
}

pub struct TextReporter<W: Write + Send> {
    out: Mutex<W>,
}

impl<W: Write + Send> TextReporter<W> {
    pub fn new(out: W) -> Self {
        TextReporter { out: Mutex::new(out) }
    }
}

/// One line for an event, or none for events too chatty for a terminal.
pub fn text_line(e: &Event) -> Option<String> {
    Some(match e {
        Event::RunStarted { run_id, runbook, vpc, operation } => format!("{operation} {runbook} on {vpc} (run {run_id})"),
        Event::StepStarted { step, kind } => format!("step {step} ({kind})"),
        Event::StepSkipped { step, reason } => format!("step {step}: skipped, {reason}"),
        Event::StepUnchanged { step } => format!("  {step}: no change"),
        Event::ChangeStarted { change, .. } => {
            format!("  {change}  [{}]", change.call)
        }
        Event::ChangeApplied { .. } => return None,
        Event::ChangeReconciled { step, seq, applied } => format!(
            "  {step}: change #{seq} was interrupted; live state shows it {}",
            if *applied { "was applied" } else { "did not happen" }
        ),
        Event::Waiting { what, .. } => format!("  waiting for {what}"),
        Event::StepVerified { step, changes } => format!("  {step}: verified ({changes} change{})", if *changes == 1 { "" } else { "s" }),
        Event::StepFailed { step, error } => format!("  {step}: FAILED: {error}"),
        Event::RollbackStarted { reason, changes } => format!("rolling back {changes} change{}: {reason}", if *changes == 1 { "" } else { "s" }),
        Event::UndoStarted { change, .. } => {
            format!("  undo {}: {}: {} -> {}", change.resource, change.attribute, change.desired, change.current)
        }
        Event::UndoDone { .. } => return None,
        Event::GateStarted { step, checks, .. } => format!("  {step}: health gate ({})", checks.join(", ")),
        Event::Observation { check, ok, detail, .. } => format!("    {} {check}: {detail}", if *ok { "ok  " } else { "FAIL" }),
        Event::GatePassed { step } => format!("  {step}: health gate passed"),
        Event::Warning { message } => format!("warning: {message}"),
        Event::RunFinished { outcome } => match outcome {
            RunOutcome::Completed => "done".into(),
            RunOutcome::RolledBack => "rolled back".into(),
            RunOutcome::Reverted => "rollback complete".into(),
            RunOutcome::Paused => "paused".into(),
            RunOutcome::RollbackIncomplete => "rollback INCOMPLETE".into(),
        },
    })
}

impl<W: Write + Send> EventSink for TextReporter<W> {
    fn emit(&self, e: Event) {
        if let Some(line) = text_line(&e) {
            let mut out = self.out.lock().expect("reporter lock");
            let _ = writeln!(out, "{line}");
        }
    }
}

pub struct JsonReporter<W: Write + Send> {
    out: Mutex<W>,
}

impl<W: Write + Send> JsonReporter<W> {
    pub fn new(out: W) -> Self {
        JsonReporter { out: Mutex::new(out) }
    }
}

/// One event as a JSON line: `{"ts":"2026-...Z","event":"step_started",...}`.
pub fn json_line(e: &Event) -> String {
    let body = serde_json::to_string(e).expect("events serialize");
    let ts = humantime::format_rfc3339_millis(std::time::SystemTime::now());
    format!("{{\"ts\":\"{ts}\",{}", &body[1..])
}

impl<W: Write + Send> EventSink for JsonReporter<W> {
    fn emit(&self, e: Event) {
        let mut out = self.out.lock().expect("reporter lock");
        let _ = writeln!(out, "{}", json_line(&e));
        let _ = out.flush();
    }
}

/// Every event to `first`, and as a JSON line to `log` (the run's log in the
/// state directory), flushed per event so that a killed run's log is whole
/// up to its last event.
pub struct Tee<'a> {
    pub first: &'a dyn EventSink,
    pub log: Mutex<std::fs::File>,
}

impl EventSink for Tee<'_> {
    fn emit(&self, e: Event) {
        if let Ok(mut f) = self.log.lock() {
            let _ = writeln!(f, "{}", json_line(&e));
        }
        self.first.emit(e);
    }
}
