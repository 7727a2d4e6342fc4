//! Where a run's journal and lock live: the state backends, and the session
//! set-up that opens one for a command.
//!
//! The engine talks to one narrow trait, [`Store`]: read the journal, append
//! one record durably, and acquire / renew / release the lock. Each backend
//! is its own module:
//!
//! - [`file`]: `file://DIR` (the default, `.dualstack/` beside the runbook):
//!   a JSON Lines journal fsynced per record and an advisory `flock`, which
//!   the kernel drops when its holder dies, so it needs no lease.
//! - [`s3`]: `s3://BUCKET/PREFIX`: one object per record written with
//!   `If-None-Match: *`, and a lock object with a lease ([`lease`]) that its
//!   holder renews, so that a dead laptop or CI runner cannot hold it forever.
//!
//! [`open`] picks the backend from `--state` (or `DUALSTACK_STATE`, or
//! `--state-dir`), takes the lock, keeps its lease, and reads the journal.

pub mod file;
pub mod lease;
pub mod machine;
pub mod s3;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::engine::journal::{Journal, JournalError, Record, Stored};

/// Who holds a lock: written into it, shown to whoever finds it held.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Holder {
    /// The lock's own id, for `force-unlock` (a new one per acquisition).
    #[serde(default)]
    pub id: String,
    /// The command that took it: apply, resume, rollback.
    #[serde(alias = "command")]
    pub operation: String,
    #[serde(default)]
    pub user: String,
    pub host: String,
    pub pid: u32,
    pub started_at: String,
    /// The run it works on, once known (a resume learns it from the
    /// journal, after taking the lock).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run: Option<String>,
}

impl std::fmt::Display for Holder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "pid {} on {} since {} (`{}`", self.pid, self.host, self.started_at, self.operation)?;
        if !self.user.is_empty() {
            write!(f, " by {}", self.user)?;
        }
        if let Some(run) = &self.run {
            write!(f, ", run {run}")?;
        }
        if !self.id.is_empty() {
            write!(f, ", lock id {}", self.id)?;
        }
        write!(f, ")")
    }
}

impl Holder {
    /// This process, about to run `operation`.
    pub fn me(operation: &str) -> Holder {
        Holder {
            id: nonce(),
            operation: operation.to_string(),
            user: std::env::var("USER").or_else(|_| std::env::var("LOGNAME")).unwrap_or_default(),
            host: hostname(),
            pid: std::process::id(),
            started_at: crate::engine::journal::now(),
            run: None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Someone else holds it (exit 5).
    #[error("another dualstack run holds {at}: {}{}", holder.as_ref().map_or_else(|| "holder unknown".to_string(), |h| h.to_string()), lease.as_ref().map_or_else(String::new, |l| format!(", with a lease of {}", humantime::format_duration(*l))))]
    Held { at: String, holder: Option<Holder>, lease: Option<Duration>, help: Option<String> },
    /// The backend could not be used (exit 1): nothing was changed.
    #[error("lock {at}: {message}")]
    Io { at: String, message: String },
    /// `force-unlock` named a lock that is not the one there (exit 2).
    #[error("{0}")]
    Mismatch(String),
}

/// How to take a lock.
#[derive(Clone, Copy, Debug)]
pub struct LockOptions {
    /// The lease a holder renews (S3 only).
    pub ttl: Duration,
    /// How long a contender waits for the holder to release or for its
    /// lease to run out; `None`: give up at once.
    pub wait: Option<Duration>,
}

impl Default for LockOptions {
    fn default() -> Self {
        LockOptions { ttl: Duration::from_secs(120), wait: None }
    }
}

/// A lock just taken, and from whom, if it was taken over.
#[derive(Debug)]
pub struct Acquired {
    pub taken_over: Option<Holder>,
    pub generation: u64,
    /// When the request that took it was sent ([`lease::boot_now`]): the
    /// lease runs from then.
    pub at: Duration,
}

/// Why a renewal failed.
#[derive(Debug)]
pub enum RenewError {
    /// The lock is someone else's now (taken over, force-unlocked).
    Lost(String),
    /// No answer, or a fault: try again while the lease lasts.
    Transient(String),
}

/// A state backend: the journal's records and the lock beside them.
///
/// The journal methods are synchronous: a record is written between two
/// AWS calls, and nothing may happen until it is durable anyway.
#[async_trait::async_trait]
pub trait Store: Send + Sync {
    /// Where the journal is, for messages (a path, an `s3://` URL).
    fn location(&self) -> String;
    /// Where the journal is, as any machine would name it (the VPC
    /// marker's value).
    fn identity(&self) -> String {
        self.location()
    }
    /// Every record of the journal, in order, as stored.
    fn read(&self) -> Result<Vec<Stored>, JournalError>;
    /// Store record `n` (from 1; one more than the records read or
    /// appended) durably. A record `n` written by someone else is
    /// [`JournalError::LockLost`].
    fn append(&self, n: u64, bytes: &[u8]) -> Result<(), JournalError>;
    /// Take the lock; `warn` hears about waiting and takeovers.
    async fn acquire(&self, me: &Holder, opts: &LockOptions, warn: &(dyn Fn(String) + Send + Sync)) -> Result<Acquired, LockError>;
    /// Renew the lock's lease; a no-op for a lock that needs none.
    async fn renew(&self) -> Result<(), RenewError>;
    /// Release the lock if this process still holds it.
    async fn release(&self) -> Result<(), LockError>;
    /// The lease a held lock has to be renewed within, if any.
    fn lease(&self) -> Option<Duration>;
    /// Remove a lock left behind, if its id is `id`; returns its holder.
    async fn force_unlock(&self, id: &str) -> Result<Holder, LockError>;
    /// Where this machine keeps the run logs for this journal.
    fn log_dir(&self) -> PathBuf;
    /// Name the run the held lock works on (written at the next renewal).
    fn note_run(&self, _run: &str) {}
    /// Who holds the lock now, and its lease, as far as can be told
    /// without taking it (`status`); `None` when free or not knowable.
    async fn holder(&self) -> Result<Option<(Holder, Option<Duration>)>, LockError> {
        Ok(None)
    }
}

/// Where state lives, as given on the command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StateUrl {
    File(PathBuf),
    S3 { bucket: String, prefix: String },
}

impl StateUrl {
    /// `file://DIR`, `s3://BUCKET[/PREFIX]`, or a plain directory.
    pub fn parse(text: &str) -> Result<StateUrl, String> {
        if let Some(rest) = text.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            let valid = (3..=63).contains(&bucket.len())
                && bucket.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.');
            if !valid {
                return Err(format!("{text}: `{bucket}` is not an S3 bucket name (3 to 63 lower-case letters, digits, `-` and `.`)"));
            }
            return Ok(StateUrl::S3 { bucket: bucket.to_string(), prefix: prefix.trim_matches('/').to_string() });
        }
        if let Some(dir) = text.strip_prefix("file://") {
            if dir.is_empty() {
                return Err(format!("{text}: a file:// state needs a directory"));
            }
            return Ok(StateUrl::File(PathBuf::from(dir)));
        }
        if text.contains("://") {
            return Err(format!("{text}: state must be file://DIR or s3://BUCKET/PREFIX"));
        }
        Ok(StateUrl::File(PathBuf::from(text)))
    }

    /// The state for the runbook at `runbook`: this one, or by default
    /// `.dualstack/` beside the runbook.
    pub fn or_default(given: Option<&StateUrl>, runbook: &Path) -> StateUrl {
        given.cloned().unwrap_or_else(|| {
            let parent = runbook.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
            StateUrl::File(parent.join(".dualstack"))
        })
    }
}

impl std::fmt::Display for StateUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StateUrl::File(dir) => write!(f, "{}", dir.display()),
            StateUrl::S3 { bucket, prefix } if prefix.is_empty() => write!(f, "s3://{bucket}"),
            StateUrl::S3 { bucket, prefix } => write!(f, "s3://{bucket}/{prefix}"),
        }
    }
}

/// The backend for `url` and the journal of the runbook named `name`.
pub fn store(url: &StateUrl, name: &str, config: &aws_config::SdkConfig, retry: crate::aws::retry::RetryPolicy) -> Result<Arc<dyn Store>, JournalError> {
    Ok(match url {
        StateUrl::File(dir) => Arc::new(file::FileStore::new(dir, name)?),
        StateUrl::S3 { bucket, prefix } => Arc::new(s3::S3Store::new(config, retry, bucket, prefix, name)),
    })
}

/// A command's hold on the lock, its lease kept alive in the background.
/// Dropping it releases the lock, unless it was lost.
pub struct Lock {
    store: Arc<dyn Store>,
    keeper: Option<tokio::task::JoinHandle<()>>,
    lease: Option<Arc<lease::Lease>>,
    released: bool,
}

/// Take the lock for `operation` and read the journal. A lock taken over
/// from an expired lease is recorded first thing, so that the old holder's
/// next record is refused.
pub async fn open(store: Arc<dyn Store>, operation: &str, opts: &LockOptions, warn: &(dyn Fn(String) + Send + Sync)) -> Result<(Lock, Journal), OpenError> {
    let me = Holder::me(operation);
    let acquired = store.acquire(&me, opts, warn).await?;
    let lease = store.lease().map(|ttl| Arc::new(lease::Lease::new(ttl, acquired.at)));
    if let Some(l) = &lease {
        // One lock per process: a retried write asks the same lease.
        let l = l.clone();
        crate::aws::retry::set_send_gate(Box::new(move || l.check()));
    }
    let keeper = lease.as_ref().map(|l| lease::keep(l.clone(), store.clone()));
    let lock = Lock { store: store.clone(), keeper, lease: lease.clone(), released: false };
    let mut journal = Journal::open(store.clone(), lease.clone())?;
    if let Some(old) = acquired.taken_over {
        // At the journal's next number. If the old holder wrote that number
        // first (it was still running), read again and write after it: its
        // lease check stops it before another call.
        let mut attempts = 0;
        loop {
            match journal.append("", Record::LockTakenOver { from: old.clone(), generation: acquired.generation }) {
                Err(JournalError::LockLost { .. }) if attempts < 5 => {
                    attempts += 1;
                    journal = Journal::open(store.clone(), lease.clone())?;
                }
                other => break other?,
            }
        }
    }
    Ok((lock, journal))
}

impl Lock {
    pub fn store(&self) -> &dyn Store {
        self.store.as_ref()
    }

    /// Name the run this lock is held for, for whoever finds it held.
    pub fn note_run(&self, run: &str) {
        self.store.note_run(run);
    }

    /// Release the lock now (also done on drop).
    pub async fn release(mut self) -> Result<(), LockError> {
        self.stop_keeping();
        self.released = true;
        if self.lost() { Ok(()) } else { self.store.release().await }
    }

    /// Whether the lock is known to be someone else's (a release is
    /// conditional on it being ours anyway; this saves the call).
    fn lost(&self) -> bool {
        self.lease.as_ref().is_some_and(|l| l.taken())
    }

    fn stop_keeping(&mut self) {
        if let Some(k) = self.keeper.take() {
            k.abort();
        }
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        self.stop_keeping();
        if self.released || self.lost() {
            return;
        }
        let store = self.store.clone();
        block_on(async move { store.release().await }).ok();
    }
}

#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error(transparent)]
    Lock(#[from] LockError),
    #[error(transparent)]
    Journal(#[from] JournalError),
}

/// Run `fut` to completion from synchronous code inside the runtime (the
/// journal is written between AWS calls, with nothing else to do).
pub(crate) fn block_on<F>(fut: F) -> F::Output
where
    F: std::future::Future + Send,
    F::Output: Send,
{
    match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => tokio::task::block_in_place(|| h.block_on(fut)),
        // Outside a runtime, or on a current-thread one (unit tests), which
        // cannot block in place: the future runs on a thread of its own.
        Ok(_) | Err(_) => std::thread::scope(|scope| {
            scope
                .spawn(|| tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime").block_on(fut))
                .join()
                .expect("state backend thread")
        }),
    }
}

/// 16 random bytes in hex: lock ids and writer nonces.
pub fn nonce() -> String {
    let mut buf = [0u8; 16];
    if getrandom::getrandom(&mut buf).is_err() {
        // No OS randomness: time and pid still separate processes.
        let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos();
        buf[..8].copy_from_slice(&(t as u64).to_le_bytes());
        buf[8..12].copy_from_slice(&std::process::id().to_le_bytes());
    }
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname NUL-terminates
    // or truncates within it.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return "unknown".into();
    }
    let end = buf.iter().position(|b| *b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_urls() {
        assert_eq!(StateUrl::parse("s3://my-bucket/team/x/").unwrap(), StateUrl::S3 { bucket: "my-bucket".into(), prefix: "team/x".into() });
        assert_eq!(StateUrl::parse("s3://my-bucket").unwrap(), StateUrl::S3 { bucket: "my-bucket".into(), prefix: String::new() });
        assert_eq!(StateUrl::parse("file:///var/x").unwrap(), StateUrl::File("/var/x".into()));
        assert_eq!(StateUrl::parse("state").unwrap(), StateUrl::File("state".into()));
        assert!(StateUrl::parse("s3://A_B/x").is_err());
        assert!(StateUrl::parse("gs://b/x").is_err());
        assert_eq!(StateUrl::parse("s3://b-1/p").unwrap().to_string(), "s3://b-1/p");
    }

    #[test]
    fn nonces_differ() {
        assert_ne!(nonce(), nonce());
        assert_eq!(nonce().len(), 32);
    }
}
