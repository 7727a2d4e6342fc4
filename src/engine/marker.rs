//! One run per VPC, across state directories and machines: a run marks the
//! VPC it works on with two tags just before its first change (a run with
//! nothing to change marks nothing), and removes them
//! when it completes or is fully rolled back. A paused or failed run leaves
//! them, so that a second person's `apply` from another folder or machine
//! is refused (exit 5), naming the run and where its journal is.
//!
//! - `dualstack:run` = the run id, `dualstack:state` = where its journal is
//!   (an `s3://` URL, or `file://HOST/PATH`), shortened to fit AWS's 256
//!   characters of a tag value.
//! - A marker whose state is this run's own journal is this team's run:
//!   the lock on that journal already makes it the only writer, so it is
//!   taken over (a `resume`, a `rollback`, a new `apply` after a failure).
//! - `CreateTags` is last-writer-wins. After marking, a run waits a short
//!   settle delay and reads the tags back, and goes on only if its own run
//!   id is still there: two runs that raced both read the same winner. The
//!   delay must be longer than the time between a run's read of the tags
//!   and its write (milliseconds: the read is made just before the write).
//! - Removal is `DeleteTags` with the values, which leaves another run's
//!   marker alone.
//!
//! Each of the two writes is journaled before it is sent, like a change, and
//! a lost answer is settled by reading the tags.

use std::time::Duration;

use super::journal::Record;
use super::{Engine, EngineError};
use crate::engine::events::Event;

pub const RUN_TAG: &str = "dualstack:run";
pub const STATE_TAG: &str = "dualstack:state";
/// Attempts at a marker whose write was lost.
const MARK_ATTEMPTS: usize = 3;
/// AWS's limit on a tag value, in characters.
const VALUE_MAX: usize = 256;

/// How long a run waits between marking the VPC and reading the mark back
/// (`DUALSTACK_MARKER_SETTLE`, default 2 s).
pub fn settle_delay() -> Duration {
    std::env::var("DUALSTACK_MARKER_SETTLE").ok().and_then(|v| humantime::parse_duration(&v).ok()).unwrap_or(Duration::from_secs(2))
}

/// `value` as it fits in a tag: the end kept (it names the journal), the
/// start replaced by `…`.
pub fn fit(value: &str) -> String {
    let chars: Vec<char> = value.chars().collect();
    if chars.len() <= VALUE_MAX {
        return value.to_string();
    }
    std::iter::once('…').chain(chars[chars.len() - (VALUE_MAX - 1)..].iter().copied()).collect()
}

/// Another run's marker, found on the VPC.
#[derive(Debug, Clone)]
pub struct Foreign {
    pub vpc: String,
    pub run: String,
    pub state: String,
}

impl std::fmt::Display for Foreign {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} is being migrated by run {} (journal {}): finish or roll back that run with the same --state, or pass --force if it is gone for good; nothing was changed",
            self.vpc, self.run, self.state
        )
    }
}

/// Whether a marker found on `vpc` (run `run`, journal `state`, empty when
/// not recorded) belongs to another journal than `mine` (already [`fit`]),
/// and so refuses this run: the one rule for the preflight's early check and
/// the check just before the first change.
pub fn refusal(vpc: &str, run: &str, state: &str, mine: &str) -> Option<Foreign> {
    (state != mine).then(|| Foreign {
        vpc: vpc.to_string(),
        run: run.to_string(),
        state: if state.is_empty() { "(not recorded)".to_string() } else { state.to_string() },
    })
}

impl Engine<'_> {
    fn marker_tags(&self) -> Vec<(String, String)> {
        vec![(RUN_TAG.to_string(), fit(&self.run_id)), (STATE_TAG.to_string(), fit(&self.journal.identity()))]
    }

    async fn read_marker(&self) -> Result<(Option<String>, Option<String>), EngineError> {
        let tags = self.aws.ec2.vpc_tags(&self.vpc_id, &[RUN_TAG, STATE_TAG]).await?;
        let get = |k: &str| tags.iter().find(|(key, _)| key == k).map(|(_, v)| v.clone());
        Ok((get(RUN_TAG), get(STATE_TAG)))
    }

    /// Before the run's first change: the VPC carries this run's marker.
    pub(super) async fn ensure_marked(&mut self) -> Result<(), EngineError> {
        if !self.marked {
            self.mark().await?;
            self.marked = true;
        }
        Ok(())
    }

    /// At the end of a completed or fully undone run: remove its marker,
    /// if it set one.
    pub(super) async fn release_marker(&mut self) -> Result<(), EngineError> {
        if self.marked || self.journal.marker_outstanding(&self.run_id) {
            self.unmark().await?;
            self.marked = false;
        }
        Ok(())
    }

    /// Mark the VPC for this run, unless another run's marker is on it.
    async fn mark(&mut self) -> Result<(), EngineError> {
        let mine = self.marker_tags();
        let (run, state) = self.read_marker().await?;
        if let Some(r) = &run {
            if *r == mine[0].1 {
                return Ok(());
            }
            if let Some(foreign) = refusal(&self.vpc_id, r, state.as_deref().unwrap_or(""), &mine[1].1) {
                if !self.force {
                    return Err(EngineError::Marked(foreign));
                }
                self.events.emit(Event::Warning {
                    message: format!("{} carried the marker of run {r} ({}); replacing it as --force asks", self.vpc_id, foreign.state),
                });
            }
        }
        for _ in 0..MARK_ATTEMPTS {
            self.record(Record::MarkIntent { tags: mine.clone(), set: true })?;
            self.journal.before_call()?;
            if let Err(e) = self.aws.ec2.tag_vpc(&self.vpc_id, &mine).await {
                // A lost answer is settled by the read below; a refusal is not.
                if e.kind != crate::aws::FailureKind::Unknown {
                    return Err(e.into());
                }
            }
            tokio::time::sleep(self.marker_settle).await;
            let (run, state) = self.read_marker().await?;
            match run {
                Some(r) if r == mine[0].1 => {
                    self.record(Record::MarkDone { set: true })?;
                    return Ok(());
                }
                Some(r) => {
                    // Another run marked it at the same moment and won: its
                    // marker stays, and this run stops before any change.
                    self.record(Record::MarkDone { set: false })?;
                    return Err(EngineError::Marked(Foreign { vpc: self.vpc_id.clone(), run: r, state: state.unwrap_or_else(|| "(not recorded)".into()) }));
                }
                // The write was lost on its way: nobody holds the VPC.
                None => self.record(Record::MarkDone { set: false })?,
            }
        }
        Err(crate::aws::AwsError::local("ec2:CreateTags", format!("the run's marker on {} did not hold after {MARK_ATTEMPTS} attempts", self.vpc_id)).into())
    }

    /// Remove this run's marker (the run completed or is fully undone).
    async fn unmark(&mut self) -> Result<(), EngineError> {
        // DeleteTags with the values removes only this run's marker. A
        // marker set by an earlier process (a resume, a rollback), or one
        // whose write or removal was interrupted, is read first: a call for
        // a marker that is not there would be a call too many.
        let mine = self.marker_tags();
        if !self.marked {
            let (run, _) = self.read_marker().await?;
            if run.as_deref() != Some(mine[0].1.as_str()) {
                self.record(Record::MarkDone { set: false })?;
                return Ok(());
            }
        }
        self.record(Record::MarkIntent { tags: mine.clone(), set: false })?;
        self.journal.before_call()?;
        if let Err(e) = self.aws.ec2.untag_vpc(&self.vpc_id, &mine).await {
            if e.kind != crate::aws::FailureKind::Unknown {
                return Err(e.into());
            }
            // The answer was lost: removed or not, a read tells.
            if self.read_marker().await?.0.as_deref() == Some(mine[0].1.as_str()) {
                self.aws.ec2.untag_vpc(&self.vpc_id, &mine).await?;
            }
        }
        self.record(Record::MarkDone { set: false })?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_values_keep_their_end() {
        assert_eq!(fit("s3://b/p"), "s3://b/p");
        let long = format!("s3://bucket/{}", "x".repeat(300)) + "/end";
        let short = fit(&long);
        assert_eq!(short.chars().count(), 256);
        assert!(short.starts_with('…') && short.ends_with("/end"));
    }
}
