//! The executor: runs a runbook's steps with a checkpoint before and after
//! every mutating call, rolls back on failure, resumes after interruption.
//!
//! Forward, for each step: read what the previous steps did not leave
//! current, `check` what is missing, and for each change write an intent,
//! make the call, write the outcome, wait for AWS to settle; then verify by
//! re-reading what the step changed until `check` finds nothing missing.
//! Changes of a step on different resources (subnets, route tables, security
//! groups, interfaces, load balancers) go up to eight at a time: every
//! intent of the group is written before its calls are made together.
//! Backward (rollback): every change the journal holds as applied, newest
//! first, each undone from its recorded prior values.
//!
//! The engine never prints; it emits [`events::Event`]s.

pub mod events;
pub mod journal;
pub mod marker;
pub mod pilot;

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::aws::wait::{Probe, Waiter};
use crate::aws::{Aws, AwsError, Network, Scope, CURRENT_FOR};
use crate::health::HealthCx;
use crate::runbook::{HealthPolicy, Runbook, RunbookStep, StepId};
use crate::steps::{Change, Outcome, StepCx, StepError};
use events::{Event, EventSink, RunOutcome};
use journal::{ChangeStatus, Journal, JournalError, Record};
use pilot::{FailureDecision, Pilot, StepDecision, StepPreview};

/// Attempts at a change whose answer was lost and that live state shows was
/// not applied (a server fault before AWS applied it). Server faults come in
/// bursts, so the attempts back off: 0.2, 0.4, 0.8, 1.6 s.
const AMBIGUOUS_ATTEMPTS: u32 = 5;

/// The wait after ambiguous attempt `attempt` (1-based).
fn ambiguous_backoff(attempt: u32) -> Duration {
    Duration::from_millis(100 << attempt)
}

/// What to do when a step fails.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum OnFailure {
    /// Undo this step's partial effects and every earlier step, newest first.
    Rollback,
    /// Leave everything as it is; `resume` or `rollback` later.
    Pause,
}

/// Errors that stop the engine itself (as opposed to a step failing, which
/// the engine handles and reports in [`Report`]).
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Journal(#[from] JournalError),
    #[error("reading AWS state: {0}")]
    Aws(#[from] AwsError),
    /// Another run's marker is on the VPC.
    #[error("{0}")]
    Marked(marker::Foreign),
}

/// A step failure, with where it happened.
#[derive(Debug)]
pub struct Failure {
    pub step: StepId,
    pub error: StepError,
}

/// How a run ended.
#[derive(Debug)]
pub struct Report {
    pub run_id: String,
    pub outcome: RunOutcome,
    pub failure: Option<Failure>,
    /// Set when the rollback could not finish.
    pub undo_failure: Option<Failure>,
    pub changes_applied: usize,
    pub changes_undone: usize,
    /// Paused because a person chose to abort at a prompt.
    pub aborted: bool,
    /// Only this step was rolled back: earlier steps stay in effect.
    pub rolled_back_step: Option<StepId>,
}

pub struct Engine<'a> {
    pub aws: Aws<'a>,
    pub events: &'a dyn EventSink,
    pub journal: Journal,
    pub run_id: String,
    pub vpc_id: String,
    /// For associations and disassociations.
    pub waiter: Waiter,
    /// For read-back after a step (eventual consistency only).
    pub verify_waiter: Waiter,
    /// Where `command` checks run (the runbook's directory).
    pub workdir: std::path::PathBuf,
    /// Set (by a signal handler) to stop forward work after the call in
    /// flight: the run is then paused, never left mid-call.
    pub stop: Arc<AtomicBool>,
    /// Who decides at the prompts: asked before every step when
    /// `interactive`, else only before `confirm: true` steps; asked after a
    /// failure only when `interactive`.
    pub pilot: Option<&'a dyn Pilot>,
    pub interactive: bool,
    /// What this run last knew of the VPC: each step verifies what it
    /// changed, so the next step starts from this instead of reading
    /// everything again. Seeded by `apply` with the preflight's read when no
    /// prompt stood in between.
    pub known: Option<Known>,
    /// Changes this process applied and waited for: the others a resumed
    /// step finds applied are waited for again before it goes on
    /// ([`Change::settle_on_resume`]).
    settled: std::collections::HashSet<u64>,
    /// Go on even though another run's marker is on the VPC.
    pub force: bool,
    /// Between marking the VPC and reading the mark back.
    pub marker_settle: Duration,
    /// The VPC carries this run's marker (set, or found, by this process).
    marked: bool,
    applied: usize,
    undone: usize,
}

/// What the run knows of the VPC: its last read, and when each part of it
/// was read.
pub struct Known {
    net: Network,
    reads: Vec<(Scope, Instant)>,
}

impl Known {
    /// `net`, whose `scope` was read just now.
    pub fn new(net: Network, scope: Scope) -> Known {
        Known { net, reads: vec![(scope, Instant::now())] }
    }

    /// The parts read within [`CURRENT_FOR`].
    fn current(&self) -> Scope {
        self.reads.iter().filter(|(_, at)| at.elapsed() <= CURRENT_FOR).fold(Scope::NONE, |a, (s, _)| a.union(*s))
    }
}

/// A new run id: UTC time and pid, sortable and unique on one machine.
pub fn new_run_id() -> String {
    let t = journal::now().replace(['-', ':'], "");
    let t = t.split('.').next().unwrap_or(&t).to_string();
    format!("{t}Z-{}", std::process::id())
}

impl<'a> Engine<'a> {
    pub fn new(aws: Aws<'a>, events: &'a dyn EventSink, journal: Journal, run_id: String, vpc_id: String) -> Engine<'a> {
        Engine {
            aws,
            events,
            journal,
            run_id,
            vpc_id,
            waiter: Waiter::default(),
            verify_waiter: Waiter { deadline: Duration::from_secs(60), ..Waiter::default() },
            stop: Arc::new(AtomicBool::new(false)),
            workdir: std::path::PathBuf::from("."),
            pilot: None,
            interactive: false,
            known: None,
            settled: std::collections::HashSet::new(),
            force: false,
            marker_settle: marker::settle_delay(),
            marked: false,
            applied: 0,
            undone: 0,
        }
    }

    fn cx<'s>(&'s self, step: &'s StepId) -> StepCx<'s> {
        StepCx {
            ec2: self.aws.ec2,
            elb: self.aws.elb,
            ecs: self.aws.ecs,
            dns: self.aws.dns,
            events: self.events,
            step,
            vpc_id: &self.vpc_id,
            run_id: &self.run_id,
            waiter: &self.waiter,
        }
    }

    fn record(&mut self, record: Record) -> Result<(), JournalError> {
        let run = self.run_id.clone();
        self.journal.append(&run, record)
    }

    fn started(&mut self, operation: &str, runbook: &Runbook) -> Result<(), EngineError> {
        self.record(Record::Started {
            operation: operation.to_string(),
            runbook: runbook.name.clone(),
            runbook_hash: runbook.hash.clone(),
            vpc_id: self.vpc_id.clone(),
            pid: std::process::id(),
        })?;
        self.events.emit(Event::RunStarted {
            run_id: self.run_id.clone(),
            runbook: runbook.name.clone(),
            vpc: self.vpc_id.clone(),
            operation: operation.to_string(),
        });
        Ok(())
    }

    fn report(&self, outcome: RunOutcome, failure: Option<Failure>, undo_failure: Option<Failure>) -> Report {
        Report {
            run_id: self.run_id.clone(),
            outcome,
            failure,
            undo_failure,
            changes_applied: self.applied,
            changes_undone: self.undone,
            aborted: false,
            rolled_back_step: None,
        }
    }

    /// Run the runbook forward. `skip` lists steps already done in this run
    /// (when resuming).
    pub async fn run(mut self, runbook: &Runbook, operation: &str, skip: &[StepId], on_failure: OnFailure) -> Result<Report, EngineError> {
        self.started(operation, runbook)?;
        self.reconcile_unconfirmed().await?;
        for step in &runbook.steps {
            if skip.contains(&step.id) {
                self.events.emit(Event::StepSkipped { step: step.id.to_string(), reason: "done before the interruption".into() });
                continue;
            }
            // After "retry" on a failed gate: the gate again, before the
            // step moves on (to the next traffic stage, say).
            let mut gate_first = false;
            loop {
                let error = match self.run_step(step, gate_first).await {
                    Ok(()) => break,
                    Err(StepFailure::Step(e)) => e,
                    Err(StepFailure::Engine(e)) => return Err(e),
                    Err(StepFailure::Skipped) => {
                        self.record(Record::StepSkipped { step: step.id.clone() })?;
                        self.events.emit(Event::StepSkipped { step: step.id.to_string(), reason: "skipped at the prompt".into() });
                        break;
                    }
                    Err(StepFailure::Stopped) => {
                        self.events.emit(Event::Warning {
                            message: format!("interrupted during step {}: stopped after the call in flight", step.id),
                        });
                        self.record(Record::Ended { outcome: RunOutcome::Paused })?;
                        self.events.emit(Event::RunFinished { outcome: RunOutcome::Paused });
                        return Ok(self.report(RunOutcome::Paused, None, None));
                    }
                    Err(StepFailure::Aborted) => {
                        self.events.emit(Event::Warning { message: format!("stopped before step {} at the prompt; nothing was undone", step.id) });
                        self.record(Record::Ended { outcome: RunOutcome::Paused })?;
                        self.events.emit(Event::RunFinished { outcome: RunOutcome::Paused });
                        return Ok(Report { aborted: true, ..self.report(RunOutcome::Paused, None, None) });
                    }
                };
                self.record(Record::StepFailed { step: step.id.clone(), error: error.to_string() })?;
                self.events.emit(Event::StepFailed { step: step.id.to_string(), error: error.to_string() });
                let health = matches!(error, StepError::Gate(_));
                let mut policy = if health {
                    step.on_health_failure
                } else {
                    match on_failure {
                        OnFailure::Pause => HealthPolicy::Pause,
                        OnFailure::Rollback => HealthPolicy::RollbackAll,
                    }
                };
                if let Some(pilot) = self.pilot.filter(|_| self.interactive) {
                    // A person decides instead of the runbook's policy.
                    match tokio::task::block_in_place(|| pilot.on_failure(&step.id, &error)) {
                        FailureDecision::Retry => {
                            self.events.emit(Event::Warning { message: format!("retrying step {}", step.id) });
                            gate_first = health;
                            continue;
                        }
                        FailureDecision::RollbackAll => policy = HealthPolicy::RollbackAll,
                        FailureDecision::RollbackStep => policy = HealthPolicy::RollbackStep,
                        FailureDecision::Pause => policy = HealthPolicy::Pause,
                    }
                }
                let failure = Failure { step: step.id.clone(), error };
                return match policy {
                    HealthPolicy::RollbackStep => {
                        let reason = format!("step {} failed: rolling back this step", failure.step);
                        let (run, id) = (self.run_id.clone(), step.id.clone());
                        // The step's changes, and what their undo needs undone
                        // with them (a redeploy: its subnets' flags).
                        let changes = self.journal.state().changes;
                        let own: Vec<&journal::ChangeState> = changes.iter().filter(|c| c.run == run && c.step == id).collect();
                        let needed: std::collections::HashSet<u64> = changes
                            .iter()
                            .filter(|o| o.run == run && own.iter().any(|c| c.change.undo_needs(&o.change)))
                            .map(|o| o.seq)
                            .collect();
                        let (outcome, undo_failure) =
                            self.undo(&reason, RunOutcome::RolledBack, |c| c.run == run && (c.step == id || needed.contains(&c.seq))).await?;
                        Ok(Report { rolled_back_step: Some(id), ..self.report(outcome, Some(failure), undo_failure) })
                    }
                    HealthPolicy::Pause => {
                        self.record(Record::Ended { outcome: RunOutcome::Paused })?;
                        self.events.emit(Event::RunFinished { outcome: RunOutcome::Paused });
                        Ok(self.report(RunOutcome::Paused, Some(failure), None))
                    }
                    HealthPolicy::RollbackAll => {
                        let reason = if health {
                            format!("step {} failed its health gate: back to IPv4", failure.step)
                        } else {
                            format!("step {} failed: {}", failure.step, failure.error)
                        };
                        let (outcome, undo_failure) = self.undo(&reason, RunOutcome::RolledBack, |_| true).await?;
                        Ok(self.report(outcome, Some(failure), undo_failure))
                    }
                };
            }
        }
        self.release_marker().await?;
        self.record(Record::Ended { outcome: RunOutcome::Completed })?;
        self.events.emit(Event::RunFinished { outcome: RunOutcome::Completed });
        Ok(self.report(RunOutcome::Completed, None, None))
    }

    /// Undo everything the journal holds as applied (the `rollback` command,
    /// or finishing an interrupted rollback).
    pub async fn rollback(mut self, runbook: &Runbook, reason: &str) -> Result<Report, EngineError> {
        self.started("rollback", runbook)?;
        let (outcome, undo_failure) = self.undo(reason, RunOutcome::Reverted, |_| true).await?;
        Ok(self.report(outcome, None, undo_failure))
    }

    async fn snapshot(&self, scope: Scope) -> Result<Network, AwsError> {
        self.aws.snapshot(&self.vpc_id, scope).await
    }

    async fn run_step(&mut self, step: &RunbookStep, gate_first: bool) -> Result<(), StepFailure> {
        if self.stop.load(Ordering::SeqCst) {
            return Err(StepFailure::Stopped);
        }
        if gate_first && step.gate.is_some() {
            // What is in effect must hold up before anything more changes.
            self.run_gate(step).await?;
        }
        let kind = step.spec.step().kind();
        self.record(Record::StepStarted { step: step.id.clone(), kind: kind.to_string() })?;
        self.events.emit(Event::StepStarted { step: step.id.to_string(), kind: kind.to_string() });
        let scope = step.spec.step().scope();
        let started = Instant::now();
        // Read only what the previous steps did not leave current.
        let (net, mut known, read_at_start) = match self.known.take() {
            Some(known) => {
                let read = scope.minus(known.current());
                (self.aws.refresh(&self.vpc_id, &known.net, read).await, known.reads, read)
            }
            None => (self.snapshot(scope).await, Vec::new(), scope),
        };
        let mut net = net.map_err(StepError::from)?;
        // An interrupted run's calls of this step that AWS is still carrying
        // out (a deployment) are waited for, not made again.
        let resumed: Vec<_> = self
            .journal
            .state()
            .changes
            .into_iter()
            .filter(|c| c.run == self.run_id && c.step == step.id && c.status == ChangeStatus::Applied)
            .filter(|c| c.change.settle_on_resume() && !self.settled.contains(&c.seq))
            .collect();
        if !resumed.is_empty() {
            for c in &resumed {
                c.change.settle(&self.cx(&step.id), &c.outcome.clone().unwrap_or_default()).await?;
                self.settled.insert(c.seq);
            }
            let touched = resumed.iter().fold(Scope::NONE, |s, c| s.union(c.change.scope()));
            net = self.aws.refresh(&self.vpc_id, &net, touched.intersect(scope)).await.map_err(StepError::from)?;
        }
        let mut pending: VecDeque<Change> = step.spec.step().check(&net)?.into();
        let is_gate_step = matches!(step.spec, crate::steps::StepSpec::HealthGate(_));
        if step.confirm && self.pilot.is_none() && (!pending.is_empty() || is_gate_step) {
            self.events.emit(Event::Warning { message: format!("step {} is marked `confirm: true`; no terminal to ask on, approved by --yes", step.id) });
        }
        if let Some(pilot) = self.pilot.filter(|_| self.interactive || step.confirm)
            && (!pending.is_empty() || is_gate_step)
        {
            // Every stage the step will go through, from this read.
            let changes: Vec<_> = crate::plan::project_step(step.spec.step(), &mut net.clone())?.iter().map(Change::describe).collect();
            let preview = StepPreview {
                step: &step.id,
                kind,
                changes: &changes,
                gate: step.gate.as_ref().map(|g| g.checks.iter().map(|(n, _)| n.clone()).collect()).unwrap_or_default(),
                confirm: step.confirm,
            };
            match tokio::task::block_in_place(|| pilot.before_step(&preview)) {
                StepDecision::Apply => {}
                StepDecision::Skip => return Err(StepFailure::Skipped),
                StepDecision::Abort => return Err(StepFailure::Aborted),
            }
        }
        let mut net = net;
        // What the changes applied since the last read can have modified.
        let mut touched = Scope::NONE;
        // What the step's changes can have modified, all of them.
        let mut changed = Scope::NONE;
        // Changes applied since the step last settled.
        let mut unsettled = false;
        let mut count = 0;
        let mut gated = false;
        let mut batches = 0;
        // The changes applied since `net` was last read or projected, with
        // what AWS answered.
        let mut batch: Vec<(Change, Outcome)> = Vec::new();
        loop {
            while let Some(change) = pending.pop_front() {
                if self.stop.load(Ordering::SeqCst) {
                    return Err(StepFailure::Stopped);
                }
                if change.needs_settled() && (unsettled || !matches!(step.spec.step().settled(&net), Probe::Ready)) {
                    // Wait once for everything applied so far (every subnet's
                    // block associated), not once per association.
                    net = self.wait_settled(step, &net).await?;
                    unsettled = false;
                }
                let group = take_independent(change, &mut pending);
                let outcomes = self.apply_changes(&step.id, &group).await?;
                count += group.len();
                gated = false;
                for (change, outcome) in group.into_iter().zip(outcomes) {
                    unsettled |= !change.needs_settled();
                    touched = touched.union(change.scope());
                    changed = changed.union(change.scope());
                    batch.push((change, outcome));
                }
                // What follows concerns a change applied on its own.
                let last = &batch.last().expect("just applied").0;
                if last.gate_after() && step.gate.is_some() {
                    // A traffic stage: it must prove itself before the next one.
                    self.run_gate(step).await?;
                    gated = true;
                }
                if last.creates_dependency() {
                    // What comes next refers to what was just created: re-check
                    // against live state rather than patching the old list.
                    net = self.aws.refresh(&self.vpc_id, &net, touched.intersect(scope)).await.map_err(StepError::from)?;
                    touched = Scope::NONE;
                    batch.clear();
                    pending = step.spec.step().check(&net)?.into();
                }
            }
            // Batch-wise steps continue until their check finds nothing left.
            if !step.spec.step().converges() || count == 0 {
                break;
            }
            batches += 1;
            if batches > 200 {
                return Err(StepError::Verify("the step keeps finding changes to make".into()).into());
            }
            // What AWS now holds is what was sent: decide the next batch on
            // the projection; `touched` stays to be read once at the end.
            for (c, outcome) in batch.drain(..) {
                c.project_applied(&self.cx(&step.id), &outcome, &mut net).await?;
            }
            pending = step.spec.step().check(&net)?.into();
            if pending.is_empty() && touched.intersect(scope) != Scope::NONE {
                // Done on the projection: one read of what the step changed
                // says whether it is done in AWS (then verify has nothing to
                // read), or what is still missing, applied as the next batch.
                net = self.aws.refresh(&self.vpc_id, &net, touched.intersect(scope)).await.map_err(StepError::from)?;
                touched = touched.minus(scope);
                pending = step.spec.step().check(&net)?.into();
            }
            if pending.is_empty() {
                break;
            }
        }
        let net = self.verify(step, net, touched).await?;
        // What this step read at its start, and what it changed and read
        // back, is known as of then; what it changed outside what it reads is
        // no longer known; the rest keeps the age it had.
        let verified = changed.intersect(scope);
        let gone = changed.minus(scope);
        for (parts, _) in &mut known {
            *parts = parts.minus(read_at_start).minus(verified).minus(gone);
        }
        known.push((read_at_start.minus(verified), started));
        known.push((verified, Instant::now()));
        known.retain(|(parts, _)| *parts != Scope::NONE);
        self.known = Some(Known { net, reads: known });
        if step.gate.is_some() && !gated && (count > 0 || is_gate_step || self.journal.gate_pending(&self.run_id, &step.id)) {
            self.run_gate(step).await?;
        }
        self.record(Record::StepDone { step: step.id.clone() })?;
        if count == 0 {
            self.events.emit(Event::StepUnchanged { step: step.id.to_string() });
        } else {
            self.events.emit(Event::StepVerified { step: step.id.to_string(), changes: count });
        }
        Ok(())
    }

    /// Run the step's gate, journaling every observation as it happens.
    async fn run_gate(&mut self, step: &RunbookStep) -> Result<(), StepFailure> {
        let Some(gate) = &step.gate else { return Ok(()) };
        self.events.emit(Event::GateStarted {
            step: step.id.to_string(),
            checks: gate.checks.iter().map(|(n, _)| n.clone()).collect(),
            timeout_secs: gate.timing.deadline().as_secs(),
        });
        let cx = HealthCx { elb: self.aws.elb, ecs: self.aws.ecs, dns: self.aws.dns, workdir: self.workdir.clone() };
        let (journal, events, run) = (&mut self.journal, self.events, self.run_id.clone());
        let mut write_error = None;
        let result = gate
            .run(&cx, |o| {
                events.emit(Event::Observation { step: step.id.to_string(), check: o.check.clone(), ok: o.ok, detail: o.detail.clone() });
                if let Err(e) = journal.append(&run, Record::Observation { step: step.id.clone(), observation: o.clone() })
                    && write_error.is_none()
                {
                    write_error = Some(e);
                }
            })
            .await;
        if let Some(e) = write_error {
            return Err(e.into());
        }
        match result {
            Ok(()) => {
                self.record(Record::GatePassed { step: step.id.clone() })?;
                self.events.emit(Event::GatePassed { step: step.id.to_string() });
                Ok(())
            }
            Err(failure) => Err(StepError::Gate(failure).into()),
        }
    }

    /// Read until the step's resources settled (blocks associated); returns
    /// the last read.
    async fn wait_settled(&self, step: &RunbookStep, net: &Network) -> Result<Network, StepError> {
        let spec = step.spec.step();
        let part = spec.settle_scope();
        let what = format!("step {} to settle", step.id);
        self.events.emit(Event::Waiting { step: step.id.to_string(), what: what.clone(), deadline_secs: Some(self.waiter.deadline.as_secs()) });
        let (aws, vpc) = (self.aws, self.vpc_id.as_str());
        let fresh = self
            .waiter
            .until_read(&what, || async move {
                let fresh = aws.refresh(vpc, net, part).await?;
                Ok((spec.settled(&fresh), fresh))
            })
            .await?;
        Ok(fresh)
    }

    /// Read back until nothing is missing and the step's resources settled.
    /// Only what the step's changes can have modified (`touched`) is read
    /// again; the rest comes from `net`, the step's last read.
    async fn verify(&self, step: &RunbookStep, net: Network, touched: Scope) -> Result<Network, StepError> {
        let spec = step.spec.step();
        let vpc = self.vpc_id.as_str();
        let aws = self.aws;
        let scope = spec.scope();
        let mut part = touched.intersect(scope);
        if part == Scope::NONE {
            // Nothing changed since the last read: it may already say all,
            // or that only the step's resources have yet to settle.
            let complete = spec.check(&net).is_ok_and(|m| m.is_empty());
            if complete && matches!(spec.settled(&net), Probe::Ready) {
                return Ok(net);
            }
            part = if complete { spec.settle_scope() } else { scope };
        }
        let prev = &net;
        self.verify_waiter
            .until_read(&format!("step {} to verify", step.id), || async move {
                let fresh = aws.refresh(vpc, prev, part).await?;
                let probe = match spec.check(&fresh) {
                    Err(e) => Probe::Terminal(e.to_string()),
                    Ok(missing) => match missing.first() {
                        Some(first) => Probe::Pending(format!("still missing: {}", first.describe())),
                        None => spec.settled(&fresh),
                    },
                };
                Ok((probe, fresh))
            })
            .await
            .map_err(|e| StepError::Verify(e.to_string()))
    }

    /// Journal, make and record one change; returns what AWS answered.
    async fn apply_change(&mut self, step: &StepId, change: &Change) -> Result<Outcome, StepFailure> {
        self.ensure_marked().await?;
        let seq = self.intent(step, change)?;
        self.journal.before_call()?;
        let result = change.apply(&self.cx(step)).await;
        self.answer(step, change, seq, result, true).await
    }

    /// Apply `group` (see [`take_independent`]): every intent journaled
    /// first, the calls made together, then each answer recorded in order.
    /// The first failure is returned once every answer is recorded: what
    /// was applied is journaled, so a rollback undoes it.
    async fn apply_changes(&mut self, step: &StepId, group: &[Change]) -> Result<Vec<Outcome>, StepFailure> {
        if let [change] = group {
            return Ok(vec![self.apply_change(step, change).await?]);
        }
        self.ensure_marked().await?;
        let mut seqs = Vec::with_capacity(group.len());
        for change in group {
            seqs.push(self.intent(step, change)?);
        }
        self.journal.before_call()?;
        let results = {
            let cx = self.cx(step);
            futures_util::future::join_all(group.iter().map(|c| c.apply(&cx))).await
        };
        let mut outcomes = Vec::with_capacity(group.len());
        let mut failure = None;
        for ((change, seq), result) in group.iter().zip(seqs).zip(results) {
            // Once a call of the group failed, nothing more is sent.
            match self.answer(step, change, seq, result, failure.is_none()).await {
                Ok(outcome) => outcomes.push(outcome),
                Err(f) => {
                    failure.get_or_insert(f);
                }
            }
        }
        match failure {
            Some(f) => Err(f),
            None => Ok(outcomes),
        }
    }

    /// Journal the intent to make `change`, before its call.
    fn intent(&mut self, step: &StepId, change: &Change) -> Result<u64, JournalError> {
        let seq = self.journal.next_seq();
        self.record(Record::Intent { seq, step: step.clone(), change: change.clone() })?;
        self.events.emit(Event::ChangeStarted { step: step.to_string(), seq, change: change.describe() });
        Ok(seq)
    }

    /// Record what AWS answered to intent `seq`, and wait for the change to
    /// settle. A lost answer is settled by reading live state: applied, it
    /// is recorded; not applied (a server fault before AWS applied it), the
    /// change is sent again under a new intent if `resend`.
    async fn answer(
        &mut self,
        step: &StepId,
        change: &Change,
        mut seq: u64,
        mut result: Result<Outcome, StepError>,
        resend: bool,
    ) -> Result<Outcome, StepFailure> {
        let mut attempt = 1;
        loop {
            let outcome = match result {
                Ok(outcome) => {
                    self.record(Record::Outcome { seq, outcome: outcome.clone(), reconciled: false })?;
                    self.events.emit(Event::ChangeApplied { step: step.to_string(), seq, outcome: outcome.clone() });
                    outcome
                }
                // The lock was lost while the call was out (a retry after a
                // backoff is not sent then): stop, the intent unconfirmed,
                // for the new holder to settle from live state.
                Err(_) if let Err(lost) = self.journal.before_call() => return Err(lost.into()),
                Err(e) if e.is_ambiguous() => {
                    // The call may have happened: read state instead of guessing.
                    let net = self.snapshot(change.scope()).await.map_err(StepError::from)?;
                    match change.reconcile(&net) {
                        Some(outcome) => {
                            self.events.emit(Event::ChangeReconciled { step: step.to_string(), seq, applied: true });
                            self.record(Record::Outcome { seq, outcome: outcome.clone(), reconciled: true })?;
                            outcome
                        }
                        None => {
                            self.record(Record::Abandoned { seq, reason: e.to_string() })?;
                            if !resend || attempt >= AMBIGUOUS_ATTEMPTS {
                                return Err(e.into());
                            }
                            // Live state shows the call did not happen: sending
                            // it again cannot apply it twice.
                            self.events.emit(Event::Warning { message: format!("{e}; live state shows it was not applied, sending it again") });
                            tokio::time::sleep(ambiguous_backoff(attempt)).await;
                            attempt += 1;
                            seq = self.intent(step, change)?;
                            self.journal.before_call()?;
                            result = change.apply(&self.cx(step)).await;
                            continue;
                        }
                    }
                }
                Err(e) => {
                    self.record(Record::Abandoned { seq, reason: e.to_string() })?;
                    return Err(e.into());
                }
            };
            self.applied += 1;
            change.settle(&self.cx(step), &outcome).await?;
            self.settled.insert(seq);
            return Ok(outcome);
        }
    }

    /// Settle every intent that has no outcome by reading live state.
    async fn reconcile_unconfirmed(&mut self) -> Result<(), EngineError> {
        let state = self.journal.state();
        let unconfirmed: Vec<_> = state.unconfirmed().into_iter().cloned().collect();
        if unconfirmed.is_empty() {
            return Ok(());
        }
        let scope = unconfirmed.iter().fold(Scope::NONE, |s, c| s.union(c.change.scope()));
        let net = self.snapshot(scope).await?;
        for c in unconfirmed {
            match c.change.reconcile(&net) {
                Some(outcome) => {
                    self.record(Record::Outcome { seq: c.seq, outcome, reconciled: true })?;
                    self.events.emit(Event::ChangeReconciled { step: c.step.to_string(), seq: c.seq, applied: true });
                }
                None => {
                    self.record(Record::Abandoned { seq: c.seq, reason: "no trace in live state after the interruption".into() })?;
                    self.events.emit(Event::ChangeReconciled { step: c.step.to_string(), seq: c.seq, applied: false });
                }
            }
        }
        Ok(())
    }

    /// Undo `target` (the oldest change of `c`'s key) on `snapshot`. An
    /// undo reads state to decide what to do, so after an answer that may
    /// hide an applied call it is simply run again on a fresh read: if the
    /// call happened, there is nothing left to undo. Says whether it read
    /// again (the caller's snapshot is then stale).
    async fn undo_one(&self, c: &journal::ChangeState, target: &journal::ChangeState, snapshot: &Network) -> (Result<(), StepError>, bool) {
        let outcome = target.outcome.clone().unwrap_or_default();
        let mut result = target.change.undo(&self.cx(&c.step), &outcome, snapshot).await;
        let mut reread = false;
        for attempt in 1..AMBIGUOUS_ATTEMPTS {
            match &result {
                Err(e) if e.is_ambiguous() => {
                    self.events.emit(Event::Warning { message: format!("{e}; reading state and undoing again") });
                    tokio::time::sleep(ambiguous_backoff(attempt)).await;
                    reread = true;
                    result = match self.snapshot(c.change.scope()).await {
                        Ok(fresh) => target.change.undo(&self.cx(&c.step), &outcome, &fresh).await,
                        Err(e) => Err(e.into()),
                    };
                }
                _ => break,
            }
        }
        (result, reread)
    }

    /// Undo the applied changes that `which` selects, newest first.
    async fn undo(
        &mut self,
        reason: &str,
        done: RunOutcome,
        which: impl Fn(&journal::ChangeState) -> bool,
    ) -> Result<(RunOutcome, Option<Failure>), EngineError> {
        self.record(Record::RollbackStarted { reason: reason.to_string() })?;
        self.reconcile_unconfirmed().await?;
        let state = self.journal.state();
        let mut todo: Vec<_> = state
            .changes
            .iter()
            .filter(|c| matches!(c.status, ChangeStatus::Applied | ChangeStatus::Undoing) && which(c))
            .cloned()
            .collect();
        todo.reverse();
        // The undo order of a run (see `UndoPhase`): subnet flags, then
        // redeploys onto IPv4, then what was deleted recreated, then the
        // rest, blocks last; newest first within each (the sort is stable).
        todo.sort_by_key(|c| c.change.undo_phase());
        // Changes that set the same thing (a listener's weights stage after
        // stage, a flag set twice) are undone once, at the newest's turn and
        // with the oldest's prior value: the listener goes back to IPv4 in
        // one call instead of one per stage.
        let mut oldest: std::collections::HashMap<String, journal::ChangeState> = std::collections::HashMap::new();
        for c in &todo {
            if let Some(k) = c.change.undo_key() {
                oldest.insert(k, c.clone());
            }
        }
        let mut undone_keys = std::collections::HashSet::new();
        self.events.emit(Event::RollbackStarted { reason: reason.to_string(), changes: todo.len() });
        let mut net: Option<(StepId, String, Network)> = None;
        // Until when resolvers may still answer a record the rollback withdrew.
        let mut resolvers_until: Option<Instant> = None;
        let mut next = 0;
        while next < todo.len() {
            // Undos that wait long on distinct resources (one redeploy per
            // service) go together: the way back takes the longest of them,
            // not their sum. Everything else is undone one at a time.
            let mut end = next + 1;
            if todo[next].change.undo_together() {
                while end < todo.len() && end - next < WRITE_FAN_OUT && todo[end].change.undo_together() {
                    end += 1;
                }
            }
            let group = &todo[next..end];
            next = end;
            // One snapshot per step (and run): each undo reads state to stay
            // idempotent, and undos within a step touch distinct resources.
            let first = &group[0];
            // Taken out while the group is undone, put back after unless stale.
            let (net_step, net_run, snapshot) = match net.take() {
                Some((s, r, n)) if group.len() == 1 && s == first.step && r == first.run => (s, r, n),
                _ => {
                    let scope = group.iter().fold(Scope::NONE, |s, c| s.union(c.change.scope()));
                    (first.step.clone(), first.run.clone(), self.snapshot(scope).await?)
                }
            };
            let mut work: Vec<(journal::ChangeState, journal::ChangeState)> = Vec::new();
            self.ensure_marked().await?;
            for c in group {
                self.record(Record::UndoIntent { seq: c.seq })?;
                if let Some(k) = c.change.undo_key() {
                    if !undone_keys.insert(k.clone()) {
                        // Already restored by a newer change with the same key.
                        self.record(Record::UndoDone { seq: c.seq })?;
                        self.undone += 1;
                        continue;
                    }
                    let target = oldest.get(&k).unwrap_or(c).clone();
                    work.push((c.clone(), target));
                } else {
                    work.push((c.clone(), c.clone()));
                }
            }
            if let Some(until) = resolvers_until.filter(|u| *u > Instant::now() && work.iter().any(|(_, t)| t.change.after_resolvers())) {
                let left = until - Instant::now();
                self.events.emit(Event::Waiting {
                    step: first.step.to_string(),
                    what: format!("resolvers to forget the withdrawn AAAA records (their TTL) before {} changes back", work[0].1.change.describe().resource),
                    deadline_secs: Some(left.as_secs().max(1)),
                });
                tokio::time::sleep(left).await;
            }
            for (c, target) in &work {
                self.events.emit(Event::UndoStarted { step: c.step.to_string(), seq: c.seq, change: target.change.describe() });
            }
            self.journal.before_call()?;
            let results = futures_util::future::join_all(work.iter().map(|(c, target)| self.undo_one(c, target, &snapshot))).await;
            let mut stale = false;
            let mut failure = None;
            for ((c, target), (result, reread)) in work.iter().zip(results) {
                stale |= reread || target.change.undo_creates();
                if let Err(error) = result {
                    failure.get_or_insert(Failure { step: c.step.clone(), error });
                    continue;
                }
                if let Some(keep) = target.change.resolvers_keep() {
                    let until = Instant::now() + keep;
                    resolvers_until = Some(resolvers_until.map_or(until, |u| u.max(until)));
                }
                self.record(Record::UndoDone { seq: c.seq })?;
                self.undone += 1;
                self.events.emit(Event::UndoDone { step: c.step.to_string(), seq: c.seq });
            }
            if !stale {
                net = Some((net_step, net_run, snapshot));
            }
            if let Some(f) = failure {
                self.record(Record::Ended { outcome: RunOutcome::RollbackIncomplete })?;
                self.events.emit(Event::StepFailed { step: f.step.to_string(), error: format!("rollback: {}", f.error) });
                self.events.emit(Event::RunFinished { outcome: RunOutcome::RollbackIncomplete });
                return Ok((RunOutcome::RollbackIncomplete, Some(f)));
            }
        }
        if self.journal.state().to_undo().is_empty() {
            // Everything undone: the VPC is free for another run.
            self.release_marker().await?;
        }
        self.record(Record::Ended { outcome: done })?;
        self.events.emit(Event::RunFinished { outcome: done });
        Ok((done, None))
    }
}

/// Writes in flight at once within a step (subnets, route tables, security
/// groups, interfaces, load balancers: one call per resource at a time).
const WRITE_FAN_OUT: usize = 8;

/// `first` and the changes after it in `pending` that can be applied
/// together with it (see [`Change::concurrency_key`]): up to
/// [`WRITE_FAN_OUT`], each on another resource, none taken past a change that
/// must be applied on its own or after a wait. A change on a resource already
/// in the group stays, with every later change on it, so that the changes on
/// one resource keep their order.
fn take_independent(first: Change, pending: &mut VecDeque<Change>) -> Vec<Change> {
    let Some(key) = first.concurrency_key() else { return vec![first] };
    let needs_settled = first.needs_settled();
    let mut taken = std::collections::HashSet::from([key]);
    let mut group = vec![first];
    let mut i = 0;
    while i < pending.len() && group.len() < WRITE_FAN_OUT {
        let Some(key) = pending[i].concurrency_key().filter(|_| pending[i].needs_settled() == needs_settled) else { break };
        if taken.insert(key) {
            group.extend(pending.remove(i));
        } else {
            i += 1;
        }
    }
    group
}

/// A step either fails (handled: rollback or pause), is stopped by a signal
/// (pause), or the engine cannot go on (journal unwritable).
enum StepFailure {
    Step(StepError),
    Engine(EngineError),
    Stopped,
    /// Left out at the prompt.
    Skipped,
    /// Stopped at the prompt before the step.
    Aborted,
}

impl From<StepError> for StepFailure {
    fn from(e: StepError) -> Self {
        StepFailure::Step(e)
    }
}

impl From<EngineError> for StepFailure {
    fn from(e: EngineError) -> Self {
        StepFailure::Engine(e)
    }
}

impl From<JournalError> for StepFailure {
    fn from(e: JournalError) -> Self {
        StepFailure::Engine(e.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::SubnetFlag;
    use crate::steps::{subnet_ipv6, vpc_ipv6_cidr};

    fn assoc(subnet: &str) -> Change {
        Change::SubnetIpv6(subnet_ipv6::Change::AssociateBlock { subnet_id: subnet.into(), subnet: subnet.into(), cidr: None, index: None })
    }

    fn flag(subnet: &str, flag: SubnetFlag) -> Change {
        Change::SubnetIpv6(subnet_ipv6::Change::SetFlag { subnet_id: subnet.into(), subnet: subnet.into(), flag, value: true, prior: false })
    }

    fn label(c: &Change) -> String {
        match c {
            Change::SubnetIpv6(subnet_ipv6::Change::AssociateBlock { subnet_id, .. }) => format!("assoc {subnet_id}"),
            Change::SubnetIpv6(subnet_ipv6::Change::SetFlag { subnet_id, flag, .. }) => format!("{subnet_id} {flag:?}"),
            _ => "other".into(),
        }
    }

    fn groups(mut pending: VecDeque<Change>) -> Vec<Vec<String>> {
        let mut out = Vec::new();
        while let Some(first) = pending.pop_front() {
            out.push(take_independent(first, &mut pending).iter().map(label).collect());
        }
        out
    }

    #[test]
    fn a_part_read_too_long_ago_is_not_current() {
        let old = Instant::now().checked_sub(CURRENT_FOR + Duration::from_secs(1)).expect("the clock is past it");
        let known = Known { net: Network::default(), reads: vec![(Scope::TARGET_GROUPS.union(Scope::COMPUTE), old), (Scope::VPC, Instant::now())] };
        assert_eq!(known.current(), Scope::VPC);
        assert_eq!(Known::new(Network::default(), Scope::ALL).current(), Scope::ALL);
    }

    #[test]
    fn changes_on_other_resources_go_together_and_one_resource_keeps_its_order() {
        use SubnetFlag::{AssignIpv6AddressOnCreation as Assign, EnableResourceNameDnsAaaaRecordOnLaunch as Aaaa};
        let pending = VecDeque::from([
            assoc("a"),
            assoc("b"),
            flag("a", Assign),
            flag("a", Aaaa),
            flag("b", Assign),
            flag("b", Aaaa),
        ]);
        // Associations and flags never share a group (the flags wait for
        // the blocks); a subnet's second flag follows its first.
        assert_eq!(
            groups(pending),
            [vec!["assoc a", "assoc b"], vec!["a AssignIpv6AddressOnCreation", "b AssignIpv6AddressOnCreation"], vec![
                "a EnableResourceNameDnsAaaaRecordOnLaunch",
                "b EnableResourceNameDnsAaaaRecordOnLaunch"
            ]]
        );
    }

    #[test]
    fn a_change_applied_on_its_own_is_a_barrier_and_groups_are_bounded() {
        let vpc = Change::VpcIpv6Cidr(vpc_ipv6_cidr::Change::Associate {
            vpc_id: "vpc-1".into(),
            vpc: "vpc-1".into(),
            source: crate::aws::VpcIpv6Source::Amazon,
            prior: vec![],
        });
        assert_eq!(groups(VecDeque::from([assoc("a"), vpc, assoc("b")])), [vec!["assoc a"], vec!["other"], vec!["assoc b"]], "nothing is taken past the VPC's change");
        let sizes: Vec<usize> = groups((0..20).map(|i| assoc(&format!("s{i}"))).collect()).iter().map(Vec::len).collect();
        assert_eq!(sizes, [WRITE_FAN_OUT, WRITE_FAN_OUT, 20 - 2 * WRITE_FAN_OUT]);
    }
}
