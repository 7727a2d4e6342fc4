//! How the tool waits out AWS saying "slow down" and "not yet".
//!
//! - **Throttling** (`RequestLimitExceeded`, `Throttling`) means the call was
//!   not applied, so every call, read or write, is retried with exponential
//!   backoff and jitter, up to [`RetryPolicy::attempts`] attempts. A migration
//!   should wait out a busy account rather than stop half way.
//! - **Server faults and lost answers** are retried by the SDK for reads only.
//!   A write whose answer was lost may have been applied; it is handed back as
//!   [`FailureKind::Unknown`] for the executor to reconcile by reading state.
//! - **Eventual consistency**: right after a create, reads that name the new
//!   resource may answer `...NotFound` for a moment. Reads by ID of something
//!   the run may just have created go through [`eventually`].
//!
//! The SDK's own retry quota (a token bucket shared by every client of a
//! process, 100 throttling retries by default) is replaced by an unlimited
//! one: the tool makes one call at a time per resource and a bounded number
//! of attempts per call, and running out of quota half way through a
//! migration is worse than waiting.

use std::time::Duration;

use aws_sdk_ec2::config::retry::{RetryConfig, RetryPartition, TokenBucket};

use super::{AwsError, FailureKind};

/// Error codes that mean "slow down, nothing was applied" (EC2, ELBv2).
const THROTTLING: &[&str] = &["RequestLimitExceeded", "Throttling", "ThrottlingException", "RequestThrottled"];

/// Attempts at a read that answers NotFound for something that should exist.
const CONSISTENCY_ATTEMPTS: u32 = 6;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts per call, the first included.
    pub attempts: u32,
    /// First backoff; doubled per attempt.
    pub initial: Duration,
    /// Longest single backoff.
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        // 25 attempts with a 20 s cap (the SDK's own cap) ride out several
        // minutes of throttling.
        RetryPolicy { attempts: 25, initial: Duration::from_millis(100), max_backoff: Duration::from_secs(20) }
    }
}

impl RetryPolicy {
    /// The SDK configuration for read clients.
    pub fn sdk_config(&self) -> RetryConfig {
        RetryConfig::standard()
            .with_max_attempts(self.attempts)
            .with_initial_backoff(self.initial)
            .with_max_backoff(self.max_backoff)
    }

    /// A service's two clients, each built by `client` from a retry
    /// configuration: reads with the SDK's standard retry, writes with the
    /// SDK's retries off, since a write resent after a lost answer could
    /// apply twice (writes retry through [`RetryPolicy::write`] only).
    pub fn read_and_write_clients<C>(&self, client: impl Fn(RetryConfig) -> C) -> (C, C) {
        (client(self.sdk_config()), client(RetryConfig::disabled()))
    }

    /// A retry partition of the tool's own, with no retry quota.
    pub fn partition() -> RetryPartition {
        RetryPartition::custom("dualstack").token_bucket(TokenBucket::unlimited()).build()
    }

    /// Backoff before attempt `attempt + 1`: half fixed, half random ("equal
    /// jitter"), so concurrent callers spread out but never retry at once.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let exp = self.initial.saturating_mul(1u32 << attempt.saturating_sub(1).min(20));
        let cap = exp.min(self.max_backoff);
        let half = cap / 2;
        half + half.mul_f64(jitter())
    }

    /// Run a write, retrying only throttling (which AWS guarantees was not
    /// applied). Each attempt after the first asks the send gate first
    /// ([`set_send_gate`]): a backoff can outlast the lock's lease.
    pub async fn write<T, F, Fut>(&self, op: &'static str, mut call: F) -> Result<T, AwsError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, AwsError>>,
    {
        let mut first = true;
        retry_while(op, self.attempts, |a| self.backoff(a), is_throttling, || {
            let gate = if std::mem::take(&mut first) { Ok(()) } else { may_send() };
            let attempt = gate.map(|()| call());
            async move {
                match attempt {
                    Ok(fut) => fut.await,
                    Err(why) => Err(AwsError::local(op, format!("not sent again: {why}"))),
                }
            }
        })
        .await
    }
}

/// Call until it succeeds, fails in a way `retry` does not accept, or has
/// had `attempts` tries; `delay(n)` is the wait after try `n`.
async fn retry_while<T, F, Fut>(
    op: &'static str,
    attempts: u32,
    delay: impl Fn(u32) -> Duration,
    retry: impl Fn(&AwsError) -> bool,
    mut call: F,
) -> Result<T, AwsError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, AwsError>>,
{
    let mut attempt = 1;
    loop {
        match call().await {
            Err(e) if attempt < attempts && retry(&e) => {
                let wait = delay(attempt);
                tracing::debug!(op, attempt, code = e.code(), "trying again in {:?}", wait);
                tokio::time::sleep(wait).await;
                attempt += 1;
            }
            other => return other,
        }
    }
}

type SendGate = Box<dyn Fn() -> Result<(), String> + Send + Sync>;

static SEND_GATE: std::sync::OnceLock<SendGate> = std::sync::OnceLock::new();

/// Install the process's answer to "may a mutating call still go out?" (the
/// state backend's lease on the lock). The engine asks it before each
/// change; [`RetryPolicy::write`] before each attempt after a backoff.
pub fn set_send_gate(gate: SendGate) {
    let _ = SEND_GATE.set(gate);
}

fn may_send() -> Result<(), String> {
    SEND_GATE.get().map_or(Ok(()), |gate| gate())
}

pub fn is_throttling(e: &AwsError) -> bool {
    e.kind == FailureKind::Rejected && is_throttling_code(e.code())
}

pub fn is_throttling_code(code: &str) -> bool {
    THROTTLING.contains(&code)
}

/// A read of something that may have just been created: a NotFound answer is
/// retried a few times (AWS's reads are eventually consistent after a
/// create) before it is believed.
pub async fn eventually<T, F, Fut>(op: &'static str, call: F) -> Result<T, AwsError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, AwsError>>,
{
    // 0.1, 0.2, 0.4, 0.8, 1.6 s: about 3 s in all.
    let delay = |attempt: u32| (Duration::from_millis(100) * (1 << (attempt - 1))).min(Duration::from_secs(2));
    retry_while(op, CONSISTENCY_ATTEMPTS, delay, AwsError::is_not_found, call).await
}

/// A number in [0, 1): good enough to spread retries, no dependency needed.
fn jitter() -> f64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos());
    (h.finish() >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap_and_never_drops_below_half() {
        let p = RetryPolicy { attempts: 10, initial: Duration::from_millis(100), max_backoff: Duration::from_millis(1000) };
        for (attempt, full) in [(1, 100), (2, 200), (3, 400), (4, 800), (5, 1000), (30, 1000)] {
            let d = p.backoff(attempt).as_millis();
            assert!(d >= full / 2 && d <= full, "attempt {attempt}: {d} ms not in [{}, {full}]", full / 2);
        }
    }

    #[tokio::test]
    async fn writes_retry_throttling_but_not_a_lost_answer() {
        let p = RetryPolicy { attempts: 5, initial: Duration::from_millis(1), max_backoff: Duration::from_millis(2) };
        let throttled = || AwsError { operation: "ec2:X", kind: FailureKind::Rejected, code: Some("RequestLimitExceeded".into()), message: String::new() };
        let mut n = 0;
        let r: Result<(), _> = p.write("ec2:X", || { n += 1; let e = throttled(); async move { Err(e) } }).await;
        assert!(r.is_err());
        assert_eq!(n, 5, "gives up after the policy's attempts");
        let mut n = 0;
        let r: Result<(), _> = p
            .write("ec2:X", || {
                n += 1;
                async { Err(AwsError { operation: "ec2:X", kind: FailureKind::Unknown, code: None, message: "lost".into() }) }
            })
            .await;
        assert_eq!(r.unwrap_err().kind, FailureKind::Unknown);
        assert_eq!(n, 1, "an answer that may hide an applied change is never repeated blindly");
    }
}
