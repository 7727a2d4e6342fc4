//! Waiting for AWS to reach a state: poll with backoff (a read that is
//! NotFound counts as pending: reads are eventually consistent), optionally
//! require consecutive good reads, fail fast on terminal states and always
//! give up at a deadline.

use std::future::Future;
use std::time::{Duration, Instant};

use super::AwsError;

/// What one poll saw.
pub enum Probe {
    /// The desired state holds.
    Ready,
    /// Not yet; the string says what was seen (for progress and timeouts).
    Pending(String),
    /// A state from which the desired one will never come.
    Terminal(String),
}

#[derive(Debug, thiserror::Error)]
pub enum WaitError {
    #[error("gave up waiting for {what} after {secs}s; last seen: {last}")]
    Deadline { what: String, secs: u64, last: String },
    #[error("{what} will not happen: {state}")]
    Terminal { what: String, state: String },
    #[error(transparent)]
    Aws(#[from] AwsError),
}

/// How to wait.
#[derive(Clone, Debug)]
pub struct Waiter {
    pub deadline: Duration,
    pub first_interval: Duration,
    pub max_interval: Duration,
    /// Consecutive `Ready` reads needed.
    pub consecutive: u32,
}

impl Default for Waiter {
    fn default() -> Self {
        Waiter {
            deadline: Duration::from_secs(300),
            first_interval: Duration::from_millis(200),
            max_interval: Duration::from_secs(5),
            // A stale read shows the old state (pending), never the new one:
            // one read that shows the change is proof that it was made, as
            // the SDK's own waiters take it.
            consecutive: 1,
        }
    }
}

impl Waiter {
    /// Poll `probe` until it is ready `consecutive` times in a row. A
    /// `NotFound` error counts as pending: the resource may just not be
    /// visible yet.
    pub async fn until<F, Fut>(&self, what: &str, mut probe: F) -> Result<(), WaitError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<Probe, AwsError>>,
    {
        self.until_read(what, || {
            let read = probe();
            async move { read.await.map(|p| (p, ())) }
        })
        .await
    }

    /// [`Waiter::until`] for a probe that reads something on the way (the
    /// state it judged): returns the last read, the one found ready.
    pub async fn until_read<T, F, Fut>(&self, what: &str, mut probe: F) -> Result<T, WaitError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<(Probe, T), AwsError>>,
    {
        let start = Instant::now();
        let mut interval = self.first_interval;
        let mut good = 0;
        loop {
            let last = match probe().await {
                Ok((Probe::Ready, read)) => {
                    good += 1;
                    if good >= self.consecutive {
                        return Ok(read);
                    }
                    // A confirming read need not wait long.
                    tokio::time::sleep(self.first_interval / 2).await;
                    continue;
                }
                Ok((Probe::Pending(seen), _)) => seen,
                Ok((Probe::Terminal(state), _)) => {
                    return Err(WaitError::Terminal { what: what.to_string(), state });
                }
                Err(e) if e.is_not_found() => e.to_string(),
                Err(e) => return Err(e.into()),
            };
            good = 0;
            if start.elapsed() + interval > self.deadline {
                return Err(WaitError::Deadline {
                    what: what.to_string(),
                    secs: self.deadline.as_secs(),
                    last,
                });
            }
            tokio::time::sleep(interval).await;
            interval = (interval * 3 / 2).min(self.max_interval);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    fn fast() -> Waiter {
        Waiter {
            deadline: Duration::from_millis(300),
            first_interval: Duration::from_millis(5),
            max_interval: Duration::from_millis(20),
            consecutive: 2,
        }
    }

    #[tokio::test]
    async fn needs_consecutive_ready_reads() {
        let n = AtomicU32::new(0);
        // ready, pending, ready, ready: only the last two count.
        fast()
            .until("x", || async {
                Ok(match n.fetch_add(1, Ordering::SeqCst) {
                    1 => Probe::Pending("flap".into()),
                    _ => Probe::Ready,
                })
            })
            .await
            .unwrap();
        assert_eq!(n.load(Ordering::SeqCst), 4);
    }

    #[tokio::test]
    async fn until_read_returns_the_read_found_ready() {
        let n = AtomicU32::new(0);
        let read = fast()
            .until_read("x", || async {
                let i = n.fetch_add(1, Ordering::SeqCst);
                Ok((if i == 0 { Probe::Pending("not yet".into()) } else { Probe::Ready }, i))
            })
            .await
            .unwrap();
        assert_eq!(read, 2, "the second consecutive ready read");
    }

    #[tokio::test]
    async fn fails_fast_on_terminal_and_at_deadline() {
        let e = fast().until("x", || async { Ok(Probe::Terminal("failed".into())) }).await;
        assert!(matches!(e, Err(WaitError::Terminal { .. })));
        let e = fast().until("x", || async { Ok(Probe::Pending("associating".into())) }).await;
        assert!(matches!(e, Err(WaitError::Deadline { ref last, .. }) if last == "associating"));
    }
}
