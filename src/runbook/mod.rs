//! Runbooks: YAML in, a validated [`Runbook`] out, or diagnostics that name
//! `file:line:column`.
//!
//! Two stages, as in ripgrep's argument handling: serde reads the text into
//! raw structs that reject unknown fields ([`RawRunbook`], the step kinds'
//! `Raw` types), then [`validate`] turns them into the model the rest of the
//! program trusts without re-checking. Checks that need AWS (does this name
//! exist?) happen in the steps' `check`, still before any change, and point
//! back into the file through [`Ref::at`].

mod source;
mod validate;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;
use sha2::{Digest, Sha256};

pub use source::{Diagnostic, Pos, Source};
pub use validate::ValidateCx;

use crate::steps::{RawStep, StepSpec};

/// The JSON Schema of this format (`dualstack schema`), for editors.
pub const SCHEMA: &str = include_str!("schema.json");

/// The only runbook format version this build reads.
pub const FORMAT_VERSION: u32 = 1;

/// The top level of a runbook file, as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRunbook {
    pub version: u32,
    pub name: String,
    #[serde(default)]
    pub region: Option<String>,
    pub vpc: String,
    /// Named health checks, used by the steps' gates.
    #[serde(default)]
    pub checks: std::collections::BTreeMap<String, crate::health::RawCheck>,
    /// Gate timing for every step that does not say otherwise.
    #[serde(default)]
    pub gate_defaults: Option<crate::health::gate::RawGate>,
    /// What a failed gate does, unless a step says otherwise.
    #[serde(default)]
    pub on_health_failure: Option<HealthPolicy>,
    pub steps: Vec<RawStep>,
}

/// What a failed health gate does.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HealthPolicy {
    /// Roll back this step and every earlier step of the run (back to IPv4).
    #[default]
    RollbackAll,
    /// Roll back this step only, then stop.
    RollbackStep,
    /// Leave everything as it is; `resume` or `rollback` later.
    Pause,
}

/// A step's identifier: unique in its runbook, `[a-z0-9][a-z0-9_-]*`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct StepId(String);

impl StepId {
    pub fn parse(s: &str) -> Option<StepId> {
        let mut chars = s.chars();
        let first_ok = chars.next().is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
        let rest_ok = chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
        (first_ok && rest_ok && s.len() <= 64).then(|| StepId(s.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for StepId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A reference to an AWS resource as the runbook wrote it: an ID or a Name,
/// with where it was written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ref {
    pub text: String,
    pub at: Pos,
}

impl fmt::Display for Ref {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// A validated step.
#[derive(Debug)]
pub struct RunbookStep {
    pub id: StepId,
    pub at: Pos,
    pub confirm: bool,
    pub spec: StepSpec,
    /// Health gate run after the step's changes (and between traffic stages).
    pub gate: Option<crate::health::Gate>,
    pub on_health_failure: HealthPolicy,
}

/// A validated runbook.
#[derive(Debug)]
pub struct Runbook {
    pub source: Arc<Source>,
    /// SHA-256 of the file's bytes, recorded in the journal so that `resume`
    /// can refuse a runbook that changed under an interrupted run.
    pub hash: String,
    pub name: String,
    pub region: Option<String>,
    pub vpc: Ref,
    pub steps: Vec<RunbookStep>,
}

impl Runbook {
    pub fn path(&self) -> &Path {
        &self.source.path
    }

    /// Render an error that points into this runbook.
    pub fn diagnostic(&self, at: Pos, message: impl Into<String>) -> Diagnostic {
        Diagnostic::new(&self.source, at, message)
    }
}

/// Why a runbook could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("cannot read runbook {}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{}", render(.0))]
    Invalid(Vec<Diagnostic>),
}

fn render(diags: &[Diagnostic]) -> String {
    // The edge prints "error: " before the first; the rest get their own.
    let mut out = diags.iter().map(|d| d.to_string()).collect::<Vec<_>>().join("\n\nerror: ");
    if diags.len() > 1 {
        out.push_str(&format!("\n\n{} errors in runbook", diags.len()));
    }
    out
}

/// Read, parse and validate a runbook file.
pub fn load(path: &Path) -> Result<Runbook, LoadError> {
    let bytes = std::fs::read(path).map_err(|source| LoadError::Io { path: path.to_path_buf(), source })?;
    let hash: String = Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect();
    let text = String::from_utf8(bytes).map_err(|e| {
        let src = Source::new(path, String::new());
        LoadError::Invalid(vec![Diagnostic::new(&src, Pos { line: 1, col: 1 }, format!("not UTF-8 text: {e}"))])
    })?;
    parse(path, text, hash)
}

/// Parse and validate runbook text (`path` is only used in messages).
pub fn parse(path: &Path, text: String, hash: String) -> Result<Runbook, LoadError> {
    let source = Arc::new(Source::new(path, text));
    let raw: RawRunbook = match serde_yaml::from_str(&source.text) {
        Ok(raw) => raw,
        Err(e) => {
            let pos = e.location().map_or(Pos { line: 1, col: 1 }, |l| source.pos_of_offset(l.index()));
            let msg = strip_location(&e.to_string());
            let diag = Diagnostic::new(&source, pos, msg);
            let diag = match hint_for(&e.to_string()) {
                Some(h) => diag.help(h),
                None => diag,
            };
            return Err(LoadError::Invalid(vec![diag]));
        }
    };
    validate::runbook(raw, source, hash)
}

/// serde_yaml appends " at line L column C"; we print the position up front.
fn strip_location(msg: &str) -> String {
    match msg.find(" at line ") {
        Some(i) => msg[..i].to_string(),
        None => msg.to_string(),
    }
}

fn hint_for(msg: &str) -> Option<&'static str> {
    if msg.contains("unknown field") {
        Some("check the spelling against the runbook format in the README")
    } else if msg.contains("missing field") {
        Some("this field is required")
    } else {
        None
    }
}
