//! The lease on a lock that needs one (S3): how long this process may go on
//! making AWS calls since it last proved it holds the lock, and the task
//! that renews it.
//!
//! The lease is timed with `CLOCK_BOOTTIME`, which keeps counting while a
//! laptop sleeps: Rust's `Instant` (`CLOCK_MONOTONIC`) stops during a
//! suspend, so a lease timed by it would outlive its real length, and a
//! laptop that woke up after its lock was taken over would carry on. The
//! lease runs from the moment the request that renewed it was *sent*: a
//! contender starts counting no earlier than when it sees the renewal, so
//! this process's lease always ends before anyone may take the lock over.
//!
//! What is left is the call already past its check when the lease ends: it
//! was checked at most one lease ago, and goes out within the time a
//! journal write and the call's own sending take after its check.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::{RenewError, Store};

/// Time since boot, suspend included.
pub fn boot_now() -> Duration {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    #[cfg(target_os = "linux")]
    let clock = libc::CLOCK_BOOTTIME;
    // Elsewhere the monotonic clock is the best there is.
    #[cfg(not(target_os = "linux"))]
    let clock = libc::CLOCK_MONOTONIC;
    // SAFETY: clock_gettime writes one timespec we own.
    let rc = unsafe { libc::clock_gettime(clock, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_BOOTTIME) failed");
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

#[derive(Debug)]
pub struct Lease {
    ttl: Duration,
    inner: Mutex<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// When the request that last proved the lock ours was sent.
    renewed_at: Duration,
    /// Set once the lock is known to be someone else's.
    lost: Option<String>,
}

impl Lease {
    /// A lease of `ttl` proved by a request sent at `at` ([`boot_now`]).
    pub fn new(ttl: Duration, at: Duration) -> Lease {
        Lease { ttl, inner: Mutex::new(Inner { renewed_at: at, lost: None }) }
    }

    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// Ok while the lease lasts and the lock was not taken; else why not.
    pub fn check(&self) -> Result<(), String> {
        let inner = self.inner.lock().expect("lease lock");
        if let Some(why) = &inner.lost {
            return Err(why.clone());
        }
        let age = boot_now().saturating_sub(inner.renewed_at);
        if age >= self.ttl {
            return Err(format!(
                "the lease of {} ran out {} ago without a renewal (was this machine asleep, or S3 unreachable?)",
                humantime::format_duration(self.ttl),
                humantime::format_duration(Duration::from_millis((age - self.ttl).as_millis() as u64))
            ));
        }
        Ok(())
    }

    /// Whether the lock is known to be someone else's now.
    pub fn taken(&self) -> bool {
        self.inner.lock().expect("lease lock").lost.is_some()
    }

    fn renewed(&self, at: Duration) {
        let mut inner = self.inner.lock().expect("lease lock");
        inner.renewed_at = inner.renewed_at.max(at);
    }

    fn lose(&self, why: String) {
        self.inner.lock().expect("lease lock").lost.get_or_insert(why);
    }

    fn age(&self) -> Duration {
        boot_now().saturating_sub(self.inner.lock().expect("lease lock").renewed_at)
    }
}

/// Renew `lease` through `store` every third of it until aborted, or until
/// the lock is lost: taken over, force-unlocked, or not renewed before the
/// lease ran out.
pub fn keep(lease: Arc<Lease>, store: Arc<dyn Store>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let period = lease.ttl / 3;
        // A renewal that fails for want of an answer is tried again soon:
        // the lease still runs.
        let retry = (lease.ttl / 12).clamp(Duration::from_millis(50), Duration::from_secs(2));
        let mut wait = period;
        loop {
            tokio::time::sleep(wait).await;
            let sent = boot_now();
            match store.renew().await {
                Ok(()) => {
                    lease.renewed(sent);
                    wait = period;
                }
                Err(RenewError::Lost(why)) => {
                    lease.lose(why);
                    return;
                }
                Err(RenewError::Transient(why)) => {
                    if lease.age() >= lease.ttl {
                        lease.lose(format!("the lease could not be renewed before it ran out: {why}"));
                        return;
                    }
                    wait = retry;
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lease_runs_out_on_the_boot_clock() {
        let now = boot_now();
        let fresh = Lease::new(Duration::from_secs(60), now);
        assert!(fresh.check().is_ok());
        let old = Lease::new(Duration::from_secs(60), now.saturating_sub(Duration::from_secs(61)));
        assert!(old.check().unwrap_err().contains("ran out"), "{:?}", old.check());
        old.renewed(boot_now());
        assert!(old.check().is_ok(), "a renewal extends it");
        old.lose("taken over by pid 1".into());
        assert!(old.taken());
        assert_eq!(old.check().unwrap_err(), "taken over by pid 1");
    }
}
