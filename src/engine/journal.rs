//! The journal: an append-only sequence of JSON records per runbook, kept
//! by a state backend ([`crate::state`]), the single source of truth for
//! `resume`, `rollback` and `status`.
//!
//! Every record carries the format version, the run id, a timestamp, its
//! number and the hash of the record before it. Before each mutating call an
//! `intent` record holds the change with the prior values needed to undo
//! it; after it an `outcome` record holds what AWS returned. Each record is
//! durable before the next AWS call (the backend says what durable means),
//! so after a crash the journal says exactly which calls may have happened
//! (an intent without an outcome) and nothing else.
//!
//! A journal that cannot be read back whole is never repaired or
//! overwritten: the tool stops and names the record.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::events::RunOutcome;
use crate::runbook::StepId;
use crate::steps::{Change, Outcome};

/// The journal format this build writes and reads.
pub const FORMAT: u32 = 1;

/// One line of the journal.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Line {
    pub v: u32,
    pub run: String,
    /// RFC 3339 with milliseconds, UTC.
    pub at: String,
    /// The record's number, from 1, and the hash of the record before it:
    /// together they make any gap, reordering or edit visible on read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prev: Option<String>,
    /// The writing process's nonce: a store that finds a record where it
    /// meant to write one tells its own lost-answer attempt from another
    /// writer's record by this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub writer: Option<String>,
    #[serde(flatten)]
    pub record: Record,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Record {
    /// An operation (apply, resume, rollback) started on this run.
    Started { operation: String, runbook: String, runbook_hash: String, vpc_id: String, pid: u32 },
    StepStarted { step: StepId, kind: String },
    Intent { seq: u64, step: StepId, change: Change },
    Outcome { seq: u64, outcome: Outcome, #[serde(default)] reconciled: bool },
    /// The intent's call did not happen (AWS refused it, or reading state
    /// after a crash showed no trace of it).
    Abandoned { seq: u64, reason: String },
    StepDone { step: StepId },
    /// Left out at the interactive prompt: counts as done for `resume`.
    StepSkipped { step: StepId },
    StepFailed { step: StepId, error: String },
    RollbackStarted { reason: String },
    /// One health check result during a gate.
    Observation { step: StepId, observation: crate::health::Observation },
    GatePassed { step: StepId },
    UndoIntent { seq: u64 },
    /// The run's marker on its VPC is about to be set (or removed), and was
    /// (see [`crate::engine::marker`]).
    MarkIntent { tags: Vec<(String, String)>, set: bool },
    MarkDone { set: bool },
    /// The lock was taken over from a holder whose lease ran out: written
    /// first by the new holder, at the next record number, so that the old
    /// holder's next record is refused and it stops.
    LockTakenOver { from: crate::state::Holder, generation: u64 },
    UndoDone { seq: u64 },
    Ended { outcome: RunOutcome },
}

#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    /// The store could not be read or written (a disk error, S3 refusing
    /// or not answering): nothing was recorded.
    #[error("journal {at}: {message}")]
    Io { at: String, message: String },
    #[error("journal {at} is damaged: {message}; it was left untouched (inspect or move it away to start over)")]
    Damaged { at: String, message: String },
    /// Another process owns the run now (it took the lock over, or the lock
    /// was force-unlocked): this one stops before any further AWS call.
    #[error("lost the lock on {at}: {message}; this run stopped before any further AWS call (see `dualstack status`)")]
    LockLost { at: String, message: String },
}

/// One record as a store keeps it: its bytes, and where it is for messages
/// (`path:line`, or an S3 URL).
pub struct Stored {
    pub at: String,
    pub bytes: Vec<u8>,
}

/// The journal: the records read from its store, and the store that takes
/// the next ones. The store decides what "durable" means (an fsync, an S3
/// answer of 200); the journal decides what a record is, numbers them and
/// chains each to the one before, so that any store refuses a gap, a
/// reordering or an edit the same way.
pub struct Journal {
    store: std::sync::Arc<dyn crate::state::Store>,
    lines: Vec<Line>,
    /// The hash of the last record's bytes, for the next one's `prev`.
    last_hash: Option<String>,
    /// This process's nonce: tells its own records from another writer's.
    writer: String,
    lease: Option<std::sync::Arc<crate::state::lease::Lease>>,
}

impl Journal {
    /// Read and verify every record of `store`'s journal.
    pub fn open(store: std::sync::Arc<dyn crate::state::Store>, lease: Option<std::sync::Arc<crate::state::lease::Lease>>) -> Result<Journal, JournalError> {
        let stored = store.read()?;
        let (lines, last_hash) = verify(&stored)?;
        Ok(Journal { store, lines, last_hash, writer: crate::state::nonce(), lease })
    }

    /// Where the journal is, for messages.
    pub fn location(&self) -> String {
        self.store.location()
    }

    /// Where the journal is, the same from any directory of this machine
    /// (and, for shared state, from any machine): the VPC marker's value.
    pub fn identity(&self) -> String {
        self.store.identity()
    }

    pub fn lines(&self) -> &[Line] {
        &self.lines
    }

    /// Append one record, durably, before anything else happens.
    pub fn append(&mut self, run: &str, record: Record) -> Result<(), JournalError> {
        let n = self.lines.len() as u64 + 1;
        let line = Line {
            v: FORMAT,
            run: run.to_string(),
            at: now(),
            n: Some(n),
            prev: self.last_hash.clone(),
            writer: Some(self.writer.clone()),
            record,
        };
        let text = serde_json::to_string(&line).expect("journal records serialize");
        self.store.append(n, text.as_bytes())?;
        self.last_hash = Some(hash(text.as_bytes()));
        self.lines.push(line);
        Ok(())
    }

    /// Whether this process may still send a mutating call: its lease on
    /// the lock has not run out and was not taken over. Checked just before
    /// each one is sent (the record before it proved the journal ours).
    pub fn before_call(&self) -> Result<(), JournalError> {
        match &self.lease {
            Some(lease) => lease.check().map_err(|message| JournalError::LockLost { at: self.store.location(), message }),
            None => Ok(()),
        }
    }
    /// Whether `step` has changes applied in `run` that no passed gate has
    /// covered yet (a run interrupted between a change and its gate).
    pub fn gate_pending(&self, run: &str, step: &StepId) -> bool {
        let mut seqs = std::collections::HashSet::new();
        let mut pending = false;
        for l in self.lines.iter().filter(|l| l.run == run) {
            match &l.record {
                Record::Intent { seq, step: s, .. } if s == step => {
                    seqs.insert(*seq);
                }
                Record::Outcome { seq, .. } if seqs.contains(seq) => pending = true,
                Record::GatePassed { step: s } if s == step => pending = false,
                _ => {}
            }
        }
        pending
    }

    /// Whether `run` set its marker on the VPC (or may have: an intent
    /// whose answer is not known) and has not removed it.
    pub fn marker_outstanding(&self, run: &str) -> bool {
        let mut outstanding = false;
        for l in self.lines.iter().filter(|l| l.run == run) {
            match &l.record {
                Record::MarkIntent { set, .. } => outstanding = *set || outstanding,
                Record::MarkDone { set } => outstanding = *set,
                _ => {}
            }
        }
        outstanding
    }

    /// The next change sequence number (unique in this journal).
    pub fn next_seq(&self) -> u64 {
        self.lines
            .iter()
            .filter_map(|l| match l.record {
                Record::Intent { seq, .. } => Some(seq),
                _ => None,
            })
            .max()
            .map_or(1, |m| m + 1)
    }

    pub fn state(&self) -> JournalState {
        JournalState::from_lines(&self.lines)
    }
}


/// A short hash of a record's bytes: the next record's `prev`.
fn hash(bytes: &[u8]) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(bytes);
    digest.iter().take(16).map(|b| format!("{b:02x}")).collect()
}

/// Parse the records in order and check their chain: each is record `n`
/// and names the hash of the one before. Records written before the chain
/// existed (no `n`) are taken as they are.
fn verify(stored: &[Stored]) -> Result<(Vec<Line>, Option<String>), JournalError> {
    let mut out = Vec::with_capacity(stored.len());
    let mut last: Option<String> = None;
    for (i, s) in stored.iter().enumerate() {
        let damaged = |message: String| JournalError::Damaged { at: s.at.clone(), message };
        let text = std::str::from_utf8(&s.bytes).map_err(|_| damaged("not UTF-8 text".into()))?;
        let value: serde_json::Value = serde_json::from_str(text).map_err(|e| damaged(format!("not valid JSON ({e})")))?;
        match value.get("v").and_then(|v| v.as_u64()) {
            Some(v) if v == u64::from(FORMAT) => {}
            Some(v) => return Err(damaged(format!("format version {v}, but this dualstack reads version {FORMAT}"))),
            None => return Err(damaged("no format version".into())),
        }
        let line: Line = serde_json::from_value(value).map_err(|e| damaged(format!("unexpected record ({e})")))?;
        if let Some(n) = line.n {
            let want = i as u64 + 1;
            if n != want {
                return Err(damaged(format!("record {n} stands where record {want} belongs")));
            }
            if line.prev != last {
                return Err(damaged(format!("record {n} does not follow the record before it (its chain hash differs): a record was changed, removed or put in from elsewhere")));
            }
        }
        last = Some(hash(&s.bytes));
        out.push(line);
    }
    Ok((out, last))
}

/// Current UTC time as RFC 3339 with milliseconds.
pub fn now() -> String {
    humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string()
}

/// Where one journaled change stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChangeStatus {
    /// Intent written, no outcome: the call may or may not have happened.
    Unconfirmed,
    Applied,
    Abandoned,
    /// Undo started, not confirmed.
    Undoing,
    Undone,
}

#[derive(Clone, Debug)]
pub struct ChangeState {
    pub seq: u64,
    pub run: String,
    pub step: StepId,
    pub change: Change,
    pub outcome: Option<Outcome>,
    pub status: ChangeStatus,
}

/// The last run recorded in the journal.
#[derive(Clone, Debug)]
pub struct RunState {
    pub run_id: String,
    /// The last operation started on it.
    pub operation: String,
    pub runbook_hash: String,
    pub vpc_id: String,
    /// Set once a rollback started in this run (automatic or commanded).
    pub rolling_back: bool,
    pub ended: Option<RunOutcome>,
    /// Steps finished in this run, and the one that failed last.
    pub done_steps: Vec<StepId>,
    pub failed_step: Option<(StepId, String)>,
    pub started_steps: Vec<StepId>,
    /// Steps a person chose to skip (also in `done_steps`).
    pub skipped_steps: Vec<StepId>,
}

/// Everything `resume`, `rollback` and `status` need, derived from the lines
/// alone (a pure function: the journal is the state).
#[derive(Clone, Debug, Default)]
pub struct JournalState {
    pub last_run: Option<RunState>,
    /// Every change ever journaled, in order.
    pub changes: Vec<ChangeState>,
}

impl JournalState {
    pub fn from_lines(lines: &[Line]) -> JournalState {
        let mut state = JournalState::default();
        let mut index: BTreeMap<u64, usize> = BTreeMap::new();
        for line in lines {
            match &line.record {
                Record::Started { operation, runbook_hash, vpc_id, .. } => {
                    let same = state.last_run.as_ref().is_some_and(|r| r.run_id == line.run);
                    if same {
                        let r = state.last_run.as_mut().expect("checked");
                        r.operation = operation.clone();
                        r.runbook_hash = runbook_hash.clone();
                        r.ended = None;
                        r.rolling_back = operation == "rollback" || r.rolling_back;
                    } else {
                        state.last_run = Some(RunState {
                            run_id: line.run.clone(),
                            operation: operation.clone(),
                            runbook_hash: runbook_hash.clone(),
                            vpc_id: vpc_id.clone(),
                            rolling_back: operation == "rollback",
                            ended: None,
                            done_steps: Vec::new(),
                            failed_step: None,
                            started_steps: Vec::new(),
                            skipped_steps: Vec::new(),
                        });
                    }
                }
                Record::StepStarted { step, .. } => {
                    if let Some(r) = state.last_run.as_mut() {
                        r.started_steps.push(step.clone());
                    }
                }
                Record::Intent { seq, step, change } => {
                    index.insert(*seq, state.changes.len());
                    state.changes.push(ChangeState {
                        seq: *seq,
                        run: line.run.clone(),
                        step: step.clone(),
                        change: change.clone(),
                        outcome: None,
                        status: ChangeStatus::Unconfirmed,
                    });
                }
                Record::Outcome { seq, outcome, .. } => {
                    if let Some(&i) = index.get(seq) {
                        state.changes[i].outcome = Some(outcome.clone());
                        state.changes[i].status = ChangeStatus::Applied;
                    }
                }
                Record::Abandoned { seq, .. } => {
                    if let Some(&i) = index.get(seq) {
                        state.changes[i].status = ChangeStatus::Abandoned;
                    }
                }
                Record::UndoIntent { seq } => {
                    if let Some(&i) = index.get(seq) {
                        state.changes[i].status = ChangeStatus::Undoing;
                    }
                }
                Record::UndoDone { seq } => {
                    if let Some(&i) = index.get(seq) {
                        state.changes[i].status = ChangeStatus::Undone;
                    }
                }
                Record::StepSkipped { step } => {
                    if let Some(r) = state.last_run.as_mut() {
                        r.done_steps.push(step.clone());
                        r.skipped_steps.push(step.clone());
                    }
                }
                Record::StepDone { step } => {
                    if let Some(r) = state.last_run.as_mut() {
                        r.done_steps.push(step.clone());
                        r.failed_step = None;
                    }
                }
                Record::StepFailed { step, error } => {
                    if let Some(r) = state.last_run.as_mut() {
                        r.failed_step = Some((step.clone(), error.clone()));
                    }
                }
                Record::Observation { .. } | Record::GatePassed { .. } | Record::LockTakenOver { .. } | Record::MarkIntent { .. } | Record::MarkDone { .. } => {}
                Record::RollbackStarted { .. } => {
                    if let Some(r) = state.last_run.as_mut() {
                        r.rolling_back = true;
                    }
                }
                Record::Ended { outcome } => {
                    if let Some(r) = state.last_run.as_mut() {
                        r.ended = Some(*outcome);
                    }
                }
            }
        }
        state
    }

    /// The last run stopped without finishing (crash, kill, pause, or a
    /// rollback that could not complete).
    pub fn interrupted(&self) -> Option<&RunState> {
        self.last_run.as_ref().filter(|r| {
            matches!(r.ended, None | Some(RunOutcome::Paused) | Some(RunOutcome::RollbackIncomplete))
        })
    }

    /// Changes whose call may have happened and that have not been undone:
    /// what a rollback must look at, oldest first.
    pub fn to_undo(&self) -> Vec<&ChangeState> {
        self.changes
            .iter()
            .filter(|c| matches!(c.status, ChangeStatus::Applied | ChangeStatus::Undoing | ChangeStatus::Unconfirmed))
            .collect()
    }

    pub fn unconfirmed(&self) -> Vec<&ChangeState> {
        self.changes.iter().filter(|c| c.status == ChangeStatus::Unconfirmed).collect()
    }
}

