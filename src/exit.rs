//! Exit codes, documented in the README. Scripts depend on them: never
//! renumber.

/// Success.
pub const SUCCESS: i32 = 0;
/// A step failed and the run was rolled back (AWS is back where it was), or
/// AWS refused a read before anything changed.
pub const STEP_FAILED: i32 = 1;
/// Invalid input or usage: a runbook error, a bad flag, a missing `--yes`
/// without a terminal. Nothing in AWS was changed.
pub const USAGE: i32 = 2;
/// Rolled back because a health check failed.
pub const HEALTH_FAILED: i32 = 3;
/// Paused or interrupted: run `resume` or `rollback`. Also: a rollback that
/// could not finish.
pub const PAUSED: i32 = 4;
/// Another run holds the lock on the state directory.
pub const LOCKED: i32 = 5;
/// The journal is damaged (truncated, not JSON, unknown format version); it
/// was left untouched.
pub const STATE_DAMAGED: i32 = 6;
/// Preflight found an error-level finding (a known IPv6 trap) that was not
/// allowed with `--allow ID`. Nothing in AWS was changed.
pub const FINDINGS: i32 = 7;
