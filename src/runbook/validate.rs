//! Semantic checks that need the whole runbook: ids, names, ordering between
//! steps. Each step kind validates its own fields in its module through
//! [`ValidateCx`].

use std::collections::HashMap;
use std::sync::Arc;

use super::{Diagnostic, LoadError, Pos, RawRunbook, Ref, Runbook, RunbookStep, Source, StepId, FORMAT_VERSION};
use crate::health::gate::{RawGate, Timing};
use crate::health::{Check, Gate};
use crate::steps::StepSpec;

/// Collects diagnostics while validating, so a user sees every problem at once.
pub struct ValidateCx {
    source: Arc<Source>,
    diags: Vec<Diagnostic>,
}

impl ValidateCx {
    pub fn new(source: Arc<Source>) -> ValidateCx {
        ValidateCx { source, diags: Vec::new() }
    }

    /// Position of the value at `path`.
    pub fn at(&self, path: &str) -> Pos {
        self.source.pos(path)
    }

    /// A reference written at `path`.
    pub fn reference(&self, path: &str, text: &str) -> Ref {
        Ref { text: text.to_string(), at: self.at(path) }
    }

    /// Record an error at the value at `path`; returns it to add a help line.
    pub fn error(&mut self, path: &str, message: impl Into<String>) -> &mut Diagnostic {
        let pos = self.at(path);
        self.error_at(pos, message)
    }

    pub fn error_at(&mut self, pos: Pos, message: impl Into<String>) -> &mut Diagnostic {
        self.diags.push(Diagnostic::new(&self.source, pos, message));
        self.diags.last_mut().expect("just pushed")
    }

    pub fn error_count(&self) -> usize {
        self.diags.len()
    }

    pub fn has_errors(&self) -> bool {
        !self.diags.is_empty()
    }
}

impl Diagnostic {
    /// In-place variant of [`Diagnostic::help`] for `cx.error(..).help(..)`.
    pub fn set_help(&mut self, text: impl Into<String>) {
        self.help = Some(text.into());
    }
}

pub(super) fn runbook(raw: RawRunbook, source: Arc<Source>, hash: String) -> Result<Runbook, LoadError> {
    let mut cx = ValidateCx::new(source.clone());
    if raw.version != FORMAT_VERSION {
        cx.error("version", format!("unsupported runbook version {}", raw.version))
            .set_help(format!("this dualstack reads version {FORMAT_VERSION}"));
    }
    let name_ok = !raw.name.is_empty()
        && raw.name.len() <= 100
        && raw.name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && !raw.name.starts_with('.');
    if !name_ok {
        cx.error("name", format!("invalid runbook name `{}`", raw.name))
            .set_help("use letters, digits, `-`, `_` and `.`: it names the journal file");
    }
    if raw.vpc.trim().is_empty() {
        cx.error("vpc", "`vpc` is empty").set_help("give the VPC's ID (vpc-...) or its Name tag");
    }
    if raw.steps.is_empty() {
        cx.error("steps", "a runbook needs at least one step");
    }

    // Named checks, then the default gate timing.
    let mut checks: HashMap<String, Check> = HashMap::new();
    for (name, raw_check) in raw.checks {
        let path = format!("checks.{name}");
        if let Some(c) = raw_check.validate(&path, &mut cx) {
            checks.insert(name, c);
        }
    }
    let defaults = match &raw.gate_defaults {
        Some(g) => {
            if !g.checks.is_empty() {
                cx.error("gate_defaults.checks", "`gate_defaults` sets timing only").set_help("list checks in each step's `gate`");
            }
            g.timing(&Timing::default(), "gate_defaults", &mut cx).unwrap_or_default()
        }
        None => Timing::default(),
    };
    let policy = raw.on_health_failure.unwrap_or_default();

    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut steps = Vec::new();
    for (i, mut raw_step) in raw.steps.into_iter().enumerate() {
        let path = format!("steps[{i}]");
        let id_path = format!("{path}.id");
        let id = StepId::parse(&raw_step.id);
        if id.is_none() {
            cx.error(&id_path, format!("invalid step id `{}`", raw_step.id))
                .set_help("step ids are lowercase letters, digits, `-` and `_`, starting with a letter or digit");
        }
        if let Some(first) = seen.get(&raw_step.id) {
            let first_line = source.pos(&format!("steps[{first}].id")).line;
            cx.error(&id_path, format!("duplicate step id `{}`", raw_step.id))
                .set_help(format!("first used on line {first_line}; step ids must be unique"));
        } else {
            seen.insert(raw_step.id.clone(), i);
        }
        let confirm = raw_step.confirm;
        let at = cx.at(&path);
        let on_health_failure = raw_step.on_health_failure.unwrap_or(policy);
        // A health_gate step's settings are its gate.
        let (raw_gate, gate_path) = match (raw_step.gate.take(), raw_step.health_gate.as_ref()) {
            (Some(_), Some(_)) => {
                cx.error(&format!("{path}.gate"), "a `health_gate` step is its own gate").set_help("put the checks under `health_gate`");
                (None, String::new())
            }
            (Some(g), None) => (Some(g), format!("{path}.gate")),
            (None, Some(h)) => (Some(h.clone()), format!("{path}.health_gate")),
            (None, None) => (None, String::new()),
        };
        let gate = raw_gate.and_then(|g| gate(&g, &gate_path, &checks, &defaults, &mut cx));
        if let Some(spec) = StepSpec::from_raw(raw_step, &path, &mut cx)
            && let Some(id) = id
        {
            steps.push(RunbookStep { id, at, confirm, spec, gate, on_health_failure });
        }
    }
    if !cx.has_errors() {
        check_order(&steps, &mut cx);
    }
    if cx.has_errors() {
        return Err(LoadError::Invalid(cx.diags));
    }
    Ok(Runbook {
        vpc: Ref { text: raw.vpc.trim().to_string(), at: source.pos("vpc") },
        source,
        hash,
        name: raw.name,
        region: raw.region,
        steps,
    })
}

/// A step's gate: its checks must be defined, and it must have some.
fn gate(raw: &RawGate, path: &str, checks: &HashMap<String, Check>, defaults: &Timing, cx: &mut ValidateCx) -> Option<Gate> {
    let timing = raw.timing(defaults, path, cx)?;
    if raw.checks.is_empty() {
        cx.error(path, "a gate needs at least one check").set_help("list names from the runbook's `checks:`");
        return None;
    }
    let mut named = Vec::new();
    for (i, name) in raw.checks.iter().enumerate() {
        match checks.get(name) {
            Some(c) => named.push((name.clone(), c.clone())),
            None => {
                let mut known: Vec<&String> = checks.keys().collect();
                known.sort();
                let help = if known.is_empty() {
                    "the runbook defines no `checks:`".to_string()
                } else {
                    format!("defined checks: {}", known.iter().map(|k| k.as_str()).collect::<Vec<_>>().join(", "))
                };
                cx.error(&format!("{path}.checks[{i}]"), format!("no check named `{name}`")).set_help(help);
            }
        }
    }
    (named.len() == raw.checks.len()).then(|| Gate { checks: named, timing, at: cx.at(path) })
}

/// Orderings AWS would reject, visible from the runbook alone: anything that
/// needs the VPC's IPv6 block placed before the step that associates it.
fn check_order(steps: &[RunbookStep], cx: &mut ValidateCx) {
    let vpc_step = steps.iter().position(|s| matches!(s.spec, StepSpec::VpcIpv6Cidr(_)));
    let Some(vpc_index) = vpc_step else { return };
    let vpc = &steps[vpc_index];
    if let Some(dup) = steps.iter().skip(vpc_index + 1).find(|s| matches!(s.spec, StepSpec::VpcIpv6Cidr(_))) {
        cx.error_at(dup.at, format!("step `{}` associates a second IPv6 block with the VPC", dup.id))
            .set_help(format!("step `{}` (line {}) already does; a VPC needs one", vpc.id, vpc.at.line));
    }
    // An index must fit the block the runbook itself associates, when its
    // size is known offline (an Amazon-provided block is always a /56).
    if let StepSpec::VpcIpv6Cidr(vspec) = &vpc.spec
        && let Some(prefix) = vspec.planned_prefix()
    {
        let slots = 1u64 << (64 - u32::from(prefix.min(64)));
        for s in &steps[vpc_index + 1..] {
            if let StepSpec::SubnetIpv6(spec) = &s.spec {
                for (n, at) in spec.indexes() {
                    if u64::from(n) >= slots {
                        cx.error_at(at, format!("index {n} does not fit a /{prefix}: it holds /64s number 0 to {}", slots - 1));
                    }
                }
            }
        }
    }
    for s in &steps[..vpc_index] {
        if let StepSpec::SubnetIpv6(spec) = &s.spec
            && spec.needs_vpc_block()
        {
            cx.error_at(s.at, format!("step `{}` carves subnet blocks out of the VPC's IPv6 block, which step `{}` only associates later", s.id, vpc.id))
                .set_help(format!("move step `{}` (line {}) before step `{}`", vpc.id, vpc.at.line, s.id));
        }
    }
}
