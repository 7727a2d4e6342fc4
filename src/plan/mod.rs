//! The dry-run: runbook + live state -> the changes `apply` would make, step
//! by step, in order. Pure: it projects each change onto a copy of the
//! snapshot so that later steps see what earlier ones will have done, and
//! never calls AWS. `apply` runs the same projection as its preflight, so a
//! runbook that cannot finish is refused before the first change.

use serde::Serialize;

use crate::aws::Network;
use crate::preflight::{self, cost::Cost, Finding};
use crate::runbook::{Runbook, StepId};
use crate::steps::{Change, Description, StepError};

#[derive(Debug, Serialize)]
pub struct StepPlan {
    pub step: StepId,
    pub kind: &'static str,
    pub changes: Vec<Description>,
    /// The changes themselves (for the permissions rehearsal).
    #[serde(skip)]
    pub calls: Vec<Change>,
}

#[derive(Debug, Serialize)]
pub struct Plan {
    pub runbook: String,
    pub vpc: String,
    pub steps: Vec<StepPlan>,
    /// The known traps this runbook walks into (see [`crate::preflight`]).
    pub findings: Vec<Finding>,
    /// The public IPv4 bill before and after.
    pub cost: Cost,
    /// The run's marker on the VPC while it lasts (set by the command,
    /// which knows where the journal is).
    pub marker: Option<MarkerPlan>,
    /// The live state the plan was made from (`apply` starts from it).
    #[serde(skip)]
    pub live: Network,
}

impl Plan {
    pub fn change_count(&self) -> usize {
        self.steps.iter().map(|s| s.changes.len()).sum()
    }
}

/// The tags a run puts on its VPC (see [`crate::engine::marker`]).
#[derive(Clone, Debug, Serialize)]
pub struct MarkerPlan {
    /// `dualstack:state`: where the journal is.
    pub state: String,
    /// Another run's marker on the VPC now: (run id, state).
    pub held_by: Option<(String, String)>,
}

/// A runbook that cannot finish: the step that AWS (or the runbook's own
/// references) would stop, and the findings seen before it.
#[derive(Debug)]
pub struct Blocked {
    pub step: StepId,
    pub error: StepError,
    pub findings: Vec<Finding>,
}

/// Project the whole runbook onto `live`, collecting each step's changes and
/// the preflight findings on the state each step will see.
pub fn build(runbook: &Runbook, live: Network) -> Result<Plan, Blocked> {
    let mut net = live.clone();
    let mut steps = Vec::new();
    let mut findings = preflight::on_live(&live);
    for step in &runbook.steps {
        let spec = step.spec.step();
        findings.extend(preflight::before_step(step, &net));
        let calls = match project_step(spec, &mut net) {
            Ok(c) => c,
            Err(error) => return Err(Blocked { step: step.id.clone(), error, findings }),
        };
        let changes = calls.iter().map(Change::describe).collect();
        steps.push(StepPlan { step: step.id.clone(), kind: spec.kind(), changes, calls });
    }
    findings.extend(preflight::at_end(&live, &net));
    let needs_nat = findings.iter().any(|f| f.id == preflight::dns64::ID);
    let cost = preflight::cost::estimate(&live, &net, needs_nat);
    Ok(Plan { runbook: runbook.name.clone(), vpc: crate::aws::label(&net.vpc.id, net.vpc.name.as_deref()), steps, findings, cost, marker: None, live })
}

/// Project one step onto `net`: every change it would make, in order.
/// Batch-wise steps are projected batch after batch, so the plan shows every
/// stage (bounded, in case a projection does not converge).
pub fn project_step(spec: &dyn crate::steps::Step, net: &mut Network) -> Result<Vec<Change>, StepError> {
    let mut all = Vec::new();
    for _ in 0..200 {
        let changes = spec.check(net)?;
        for c in &changes {
            c.project(net);
        }
        let done = changes.is_empty() || !(spec.converges() || changes.iter().any(|c| c.creates_dependency()));
        all.extend(changes);
        if done {
            break;
        }
    }
    Ok(all)
}

/// The plan as a person reads it: per step, current -> desired and the API
/// call, or `no change`.
pub fn render_text(plan: &Plan) -> String {
    let mut out = format!("Plan for runbook {} on {}\n", plan.runbook, plan.vpc);
    for s in &plan.steps {
        out.push_str(&format!("\nstep {} ({})\n", s.step, s.kind));
        if s.changes.is_empty() {
            out.push_str("  no change\n");
        }
        for c in &s.changes {
            out.push_str(&format!("  {c}\n"));
            out.push_str(&format!("      {} {}\n", c.call, c.args));
        }
    }
    let n = plan.change_count();
    let steps_changing = plan.steps.iter().filter(|s| !s.changes.is_empty()).count();
    out.push_str(&format!(
        "\n{n} change{} in {steps_changing} of {} steps ({n} mutating API call{}{}). Nothing was changed.\n",
        if n == 1 { "" } else { "s" },
        plan.steps.len(),
        if n == 1 { "" } else { "s" },
        // A run that changes nothing marks nothing.
        if n > 0 && plan.marker.is_some() { ", and 2 for the run's marker" } else { "" },
    ));
    if let Some(m) = plan.marker.as_ref().filter(|_| n > 0) {
        // Announced like every other mutating call, at the ends of the run.
        let tags = format!("Tags={}=<run id>,{}={}", crate::engine::marker::RUN_TAG, crate::engine::marker::STATE_TAG, m.state);
        let id = plan.vpc.split(' ').next().unwrap_or(&plan.vpc);
        out.push_str(&format!("\nrun marker on {} (one run per VPC)\n", plan.vpc));
        out.push_str(&format!("  before the first change:\n      ec2:CreateTags Resources={id} {tags}\n"));
        out.push_str(&format!("  once completed or fully rolled back:\n      ec2:DeleteTags Resources={id} {tags}\n"));
        match &m.held_by {
            Some((run, state)) if *state != m.state => {
                out.push_str(&format!("  now marked by run {run} (journal {state}): apply is refused (exit 5) until that run ends\n"))
            }
            Some((run, _)) => out.push_str(&format!("  now marked by run {run} of this journal: apply takes it over\n")),
            None => {}
        }
    }
    out.push_str(&crate::preflight::cost::render_text(&plan.cost));
    if !plan.findings.is_empty() {
        out.push_str(&format!("\nPreflight findings ({})\n", preflight::summary(&plan.findings)));
        out.push_str(&preflight::render_text(&plan.findings));
    }
    out
}
