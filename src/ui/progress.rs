//! Progress on a terminal: one spinner per step (`indicatif`) showing what
//! the step is waiting for (AWS associating a block, a bake, a gate) with the
//! time elapsed and the deadline; every line the text reporter would print is
//! printed above it. Used only when stderr is a terminal and the output is
//! text; otherwise [`super::reporter`] prints plain lines.

use std::sync::Mutex;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::reporter::text_line;
use crate::engine::events::{Event, EventSink};

#[derive(Default)]
pub struct ProgressReporter {
    bar: Mutex<Option<ProgressBar>>,
}

fn spinner(step: &str, message: String) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
    bar.set_style(ProgressStyle::with_template("{spinner} {prefix} {wide_msg} {elapsed}").expect("valid template"));
    bar.set_prefix(step.to_string());
    bar.set_message(message);
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}

impl ProgressReporter {
    pub fn new() -> ProgressReporter {
        ProgressReporter::default()
    }

    /// Run `f` (a prompt) with the spinner hidden.
    pub fn suspend<R>(&self, f: impl FnOnce() -> R) -> R {
        let bar = self.bar.lock().expect("progress lock").clone();
        match bar {
            Some(b) => b.suspend(f),
            None => f(),
        }
    }

    fn println(&self, line: &str) {
        match self.bar.lock().expect("progress lock").as_ref() {
            Some(b) => b.println(line),
            None => eprintln!("{line}"),
        }
    }

    fn set(&self, bar: Option<ProgressBar>) {
        if let Some(old) = std::mem::replace(&mut *self.bar.lock().expect("progress lock"), bar) {
            old.finish_and_clear();
        }
    }

    fn message(&self, message: String) {
        if let Some(b) = self.bar.lock().expect("progress lock").as_ref() {
            b.set_message(message);
        }
    }

    /// A new wait: its elapsed time starts now (the deadline is the wait's).
    fn wait(&self, message: String) {
        if let Some(b) = self.bar.lock().expect("progress lock").as_ref() {
            b.reset_elapsed();
            b.set_message(message);
        }
    }
}

impl EventSink for ProgressReporter {
    fn emit(&self, e: Event) {
        let line = text_line(&e);
        match &e {
            Event::StepStarted { step, kind } => {
                self.set(None);
                if let Some(l) = &line {
                    self.println(l);
                }
                self.set(Some(spinner(step, format!("{kind}: reading state"))));
                return;
            }
            Event::ChangeStarted { change, .. } => self.message(format!("{} {}", change.call, change.resource)),
            Event::Waiting { what, deadline_secs, .. } => {
                let deadline = deadline_secs.map(|d| format!(" (deadline {})", humantime::format_duration(Duration::from_secs(d)))).unwrap_or_default();
                self.wait(format!("waiting for {what}{deadline}"));
                return;
            }
            Event::GateStarted { checks, timeout_secs, .. } => {
                self.wait(format!("health gate: {} (deadline {})", checks.join(", "), humantime::format_duration(Duration::from_secs(*timeout_secs))));
            }
            Event::StepVerified { .. } | Event::StepUnchanged { .. } | Event::StepFailed { .. } | Event::StepSkipped { .. } | Event::RunFinished { .. } => {
                self.set(None);
            }
            Event::RollbackStarted { .. } => {
                self.set(None);
                if let Some(l) = &line {
                    self.println(l);
                }
                self.set(Some(spinner("rollback", "undoing, newest first".into())));
                return;
            }
            _ => {}
        }
        if let Some(l) = line {
            self.println(&l);
        }
    }
}
