//! The journal: an append-only JSON Lines file per runbook in the state
//! directory, the single source of truth for `resume`, `rollback` and
//! `status`.
//!
//! Every line carries the format version, the run id and a timestamp. Before
//! each mutating call an `intent` line records the change with the prior
//! values needed to undo it; after it an `outcome` line records what AWS
//! returned. Each line is written whole with one `write` and fsynced before
//! the next AWS call, so after a crash the journal says exactly which calls
//! may have happened (an intent without an outcome) and nothing else.
//!
//! A journal that cannot be read back whole is never repaired or
//! overwritten: the tool stops and names the file and line.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

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
    UndoDone { seq: u64 },
    Ended { outcome: RunOutcome },
}

#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("journal {}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error("journal {}:{line} is damaged: {message}; it was left untouched (inspect or move it away to start over)", path.display())]
    Damaged { path: PathBuf, line: usize, message: String },
}

pub struct Journal {
    path: PathBuf,
    file: Option<File>,
    lines: Vec<Line>,
}

impl Journal {
    /// Read the journal at `path` (a missing file is an empty journal).
    pub fn open(path: &Path) -> Result<Journal, JournalError> {
        let io = |source| JournalError::Io { path: path.to_path_buf(), source };
        let text = match std::fs::read(path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(io(e)),
        };
        let tmp = tmp_path(path);
        if tmp.exists() {
            return Err(JournalError::Damaged {
                path: tmp,
                line: 1,
                message: "a run stopped while creating this journal (no AWS call follows that point)".into(),
            });
        }
        let lines = parse(path, &text)?;
        Ok(Journal { path: path.to_path_buf(), file: None, lines })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn lines(&self) -> &[Line] {
        &self.lines
    }

    /// Append one record, durably, before anything else happens.
    pub fn append(&mut self, run: &str, record: Record) -> Result<(), JournalError> {
        let line = Line { v: FORMAT, run: run.to_string(), at: now(), record };
        let mut text = serde_json::to_string(&line).expect("journal records serialize");
        text.push('\n');
        let io = |source| JournalError::Io { path: self.path.clone(), source };
        if self.file.is_none() && self.lines.is_empty() {
            self.file = Some(create(&self.path, text.as_bytes()).map_err(io)?);
            self.lines.push(line);
            return Ok(());
        }
        if self.file.is_none() {
            self.file = Some(OpenOptions::new().append(true).open(&self.path).map_err(io)?);
        }
        let f = self.file.as_mut().expect("opened above");
        f.write_all(text.as_bytes()).map_err(io)?;
        f.sync_data().map_err(io)?;
        self.lines.push(line);
        Ok(())
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

/// Where a journal is written before it exists under its own name.
fn tmp_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".tmp");
    path.with_file_name(name)
}

/// Create the journal with its first line: written to a temporary file,
/// synced, then renamed, so that a journal never exists empty or half
/// written (an empty one is therefore damage, not a fresh start).
fn create(path: &Path, first: &[u8]) -> std::io::Result<File> {
    let tmp = tmp_path(path);
    let mut f = OpenOptions::new().create_new(true).write(true).mode(0o600).open(&tmp)?;
    f.write_all(first)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        File::open(dir)?.sync_all()?;
    }
    OpenOptions::new().append(true).open(path)
}

fn parse(path: &Path, bytes: &[u8]) -> Result<Vec<Line>, JournalError> {
    let damaged = |line: usize, message: String| JournalError::Damaged { path: path.to_path_buf(), line, message };
    if bytes.is_empty() && path.exists() {
        return Err(damaged(1, "the file is empty (a journal is created with its first record)".into()));
    }
    if bytes.is_empty() {
        return Ok(Vec::new());
    }
    let text = std::str::from_utf8(bytes).map_err(|e| {
        let line = bytes[..e.valid_up_to()].iter().filter(|b| **b == b'\n').count() + 1;
        damaged(line, "not UTF-8 text".into())
    })?;
    if !text.ends_with('\n') {
        let line = text.lines().count();
        return Err(damaged(line, "the last line is incomplete (the file was truncated)".into()));
    }
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let n = i + 1;
        let value: serde_json::Value =
            serde_json::from_str(raw).map_err(|e| damaged(n, format!("not valid JSON ({e})")))?;
        match value.get("v").and_then(|v| v.as_u64()) {
            Some(v) if v == u64::from(FORMAT) => {}
            Some(v) => return Err(damaged(n, format!("format version {v}, but this dualstack reads version {FORMAT}"))),
            None => return Err(damaged(n, "no format version".into())),
        }
        let line: Line = serde_json::from_value(value).map_err(|e| damaged(n, format!("unexpected record ({e})")))?;
        out.push(line);
    }
    Ok(out)
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
                Record::Observation { .. } | Record::GatePassed { .. } => {}
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::steps::subnet_ipv6;

    fn flag_change() -> Change {
        Change::SubnetIpv6(subnet_ipv6::Change::SetFlag {
            subnet_id: "subnet-1".into(),
            subnet: "subnet-1".into(),
            flag: crate::aws::SubnetFlag::EnableDns64,
            value: true,
            prior: false,
        })
    }

    #[test]
    fn an_intent_without_outcome_is_unconfirmed_and_to_be_undone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j.jsonl");
        let mut j = Journal::open(&path).unwrap();
        let step = StepId::parse("subnets").unwrap();
        j.append("r1", Record::Started { operation: "apply".into(), runbook: "x".into(), runbook_hash: "h".into(), vpc_id: "vpc-1".into(), pid: 1 }).unwrap();
        j.append("r1", Record::Intent { seq: 1, step: step.clone(), change: flag_change() }).unwrap();
        j.append("r1", Record::Outcome { seq: 1, outcome: Outcome::default(), reconciled: false }).unwrap();
        j.append("r1", Record::Intent { seq: 2, step, change: flag_change() }).unwrap();
        let reread = Journal::open(&path).unwrap();
        let st = reread.state();
        assert_eq!(st.changes[0].status, ChangeStatus::Applied);
        assert_eq!(st.changes[1].status, ChangeStatus::Unconfirmed);
        assert_eq!(st.to_undo().len(), 2);
        assert!(st.interrupted().is_some());
        assert_eq!(reread.next_seq(), 3);
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
    }

    #[test]
    fn damaged_journals_name_the_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j.jsonl");
        std::fs::write(&path, "{\"v\":1,\"run\":\"r\",\"at\":\"t\",\"type\":\"step_done\",\"step\":\"a\"}\n{\"v\":1,\"ru").unwrap();
        match Journal::open(&path) {
            Err(JournalError::Damaged { line, .. }) => assert_eq!(line, 2),
            other => panic!("expected damage, got {:?}", other.err()),
        }
        std::fs::write(&path, "{\"v\":9,\"run\":\"r\",\"at\":\"t\",\"type\":\"step_done\",\"step\":\"a\"}\n").unwrap();
        assert!(matches!(Journal::open(&path), Err(JournalError::Damaged { line: 1, .. })));
        std::fs::write(&path, "not json\n").unwrap();
        assert!(matches!(Journal::open(&path), Err(JournalError::Damaged { line: 1, .. })));
        std::fs::write(&path, "").unwrap();
        assert!(matches!(Journal::open(&path), Err(JournalError::Damaged { line: 1, .. })), "an empty journal is damage");
    }

    #[test]
    fn a_journal_is_created_whole_and_a_leftover_temporary_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j.jsonl");
        let mut j = Journal::open(&path).unwrap();
        j.append("r1", Record::StepDone { step: StepId::parse("a").unwrap() }).unwrap();
        j.append("r1", Record::StepDone { step: StepId::parse("b").unwrap() }).unwrap();
        assert_eq!(Journal::open(&path).unwrap().lines().len(), 2);
        assert!(!tmp_path(&path).exists());
        std::fs::write(tmp_path(&path), "{}").unwrap();
        match Journal::open(&path) {
            Err(JournalError::Damaged { path: p, line: 1, .. }) => assert_eq!(p, tmp_path(&path)),
            other => panic!("expected the temporary file to be refused, got {:?}", other.err()),
        }
    }
}
