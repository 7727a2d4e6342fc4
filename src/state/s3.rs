//! The shared backend, `s3://BUCKET/PREFIX`, for runs a team (or a CI
//! runner that may die) shares:
//!
//! - the journal is one object per record,
//!   `PREFIX/<runbook name>/journal/<20-digit number>.json`, written with
//!   `If-None-Match: *`. A record is durable when S3 answered 200 (this
//!   backend's fsync). A `412` on record N means the number is taken: if the
//!   object there is byte for byte the record this process meant to write
//!   (its writer nonce included), it was this process's own attempt whose
//!   answer was lost; otherwise another process owns the run, and this one
//!   stops before any further AWS call.
//! - the lock is `PREFIX/<runbook name>/lock.json`, created with
//!   `If-None-Match: *`, holding its holder, its lease and a generation. The
//!   holder renews it with `If-Match` on its ETag every third of the lease;
//!   each renewal changes the body (a renewal counter), since the ETag of a
//!   plain PUT is the MD5 of its body and an unchanged body would look dead.
//!   A contender takes it over only after seeing the same ETag for a whole
//!   lease on its own clock (never by comparing clocks across machines),
//!   with `If-Match` on that ETag and the generation + 1. Release deletes
//!   it with `If-Match`, so it never removes someone else's lock.
//!
//! S3 is strongly consistent for reads and lists after writes, which is
//! what lets a list of the journal's keys be the journal.
//!
//! Slow-downs (503), conflicting conditional writes (409) and lost answers
//! are retried: every write here is conditional, so a retry of a write that
//! was in fact applied answers 412 and is settled by reading the object.

use std::sync::Mutex;
use std::time::Duration;

use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use serde::{Deserialize, Serialize};

use super::lease::boot_now;
use super::{block_on, Acquired, Holder, LockError, LockOptions, RenewError, Store};
use crate::aws::retry::RetryPolicy;
use crate::engine::journal::{JournalError, Stored};

/// Attempts at a call that could not connect.
const UNREACHABLE_ATTEMPTS: u32 = 3;

/// The lock object's body.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct LockBody {
    pub v: u32,
    pub holder: Holder,
    /// The lease its holder renews within, in milliseconds.
    pub lease_ms: u64,
    /// One more at each takeover.
    pub generation: u64,
    /// One more at each renewal: the body, hence the ETag, changes.
    pub renewals: u64,
}

impl LockBody {
    fn lease(&self) -> Duration {
        Duration::from_millis(self.lease_ms)
    }
}

/// The lock as this process holds it.
#[derive(Clone, Debug)]
struct Held {
    etag: String,
    body: LockBody,
}

pub struct S3Store {
    client: aws_sdk_s3::Client,
    bucket: String,
    /// `PREFIX/<runbook name>`.
    base: String,
    retry: RetryPolicy,
    held: Mutex<Option<Held>>,
    ttl: Mutex<Duration>,
}

/// What S3 answered, as this backend acts on it.
#[derive(Debug)]
enum Fault {
    /// 412: the condition failed.
    Precondition,
    /// 404 NoSuchKey.
    NoKey,
    /// 409, 503, 500, throttling, no answer: try again.
    Retry(String),
    /// No connection was made (refused, no such host): tried again a few
    /// times only, since it rarely passes by itself.
    Unreachable(String),
    /// Anything else: a denial, a missing bucket, a bad request.
    Fatal(String),
}

fn classify<E: ProvideErrorMetadata + std::error::Error + 'static>(op: &str, url: &str, e: SdkError<E, aws_smithy_runtime_api::http::Response>) -> Fault {
    match &e {
        SdkError::ServiceError(se) => {
            let status = se.raw().status().as_u16();
            let code = se.err().code().unwrap_or("");
            let message = se.err().message().unwrap_or("");
            match (status, code) {
                (412, _) | (_, "PreconditionFailed") => Fault::Precondition,
                (404, "NoSuchKey") | (404, "") if op != "ListObjectsV2" => Fault::NoKey,
                (409, _) | (500..=599, _) | (_, "SlowDown" | "Throttling" | "RequestTimeout" | "InternalError") => {
                    Fault::Retry(format!("s3:{op} {url}: {status} {code} {message}"))
                }
                (403, _) => Fault::Fatal(format!(
                    "S3 denied s3:{op} on {url} ({} {code}: {message}); the state backend needs s3:GetObject, s3:PutObject, s3:DeleteObject and s3:ListBucket on it",
                    status
                )),
                _ => Fault::Fatal(format!("s3:{op} {url}: {status} {code} {message}")),
            }
        }
        SdkError::ConstructionFailure(_) => Fault::Fatal(format!("s3:{op} {url}: {}", crate::aws::error::source_chain(&e))),
        SdkError::DispatchFailure(d) if let Some(reason) = d.as_connector_error().and_then(|c| crate::aws::reach::never_connected(c)) => {
            Fault::Unreachable(format!("cannot reach S3 for {url}: {reason} (check AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL and the network)"))
        }
        // No answer: the request may or may not have been applied.
        _ => Fault::Retry(format!("s3:{op} {url} got no answer: {}", crate::aws::error::source_chain(&e))),
    }
}

impl S3Store {
    pub fn new(config: &aws_config::SdkConfig, retry: RetryPolicy, bucket: &str, prefix: &str, name: &str) -> S3Store {
        // A custom endpoint (an emulator, MinIO) answers path-style requests;
        // AWS itself is addressed by virtual host.
        let custom = config.endpoint_url().is_some() || std::env::var_os("AWS_ENDPOINT_URL_S3").is_some();
        let conf = aws_sdk_s3::config::Builder::from(config)
            .force_path_style(custom)
            // Every write here is conditional and settled by reading back:
            // the retries are this module's own (see `call`).
            .retry_config(aws_sdk_s3::config::retry::RetryConfig::disabled())
            .timeout_config(aws_sdk_s3::config::timeout::TimeoutConfig::builder().operation_attempt_timeout(Duration::from_secs(20)).build())
            .build();
        let base = if prefix.is_empty() { name.to_string() } else { format!("{prefix}/{name}") };
        S3Store {
            client: aws_sdk_s3::Client::from_conf(conf),
            bucket: bucket.to_string(),
            base,
            retry,
            held: Mutex::new(None),
            ttl: Mutex::new(LockOptions::default().ttl),
        }
    }

    fn url(&self, key: &str) -> String {
        format!("s3://{}/{key}", self.bucket)
    }

    fn record_key(&self, n: u64) -> String {
        format!("{}/journal/{n:020}.json", self.base)
    }

    fn lock_key(&self) -> String {
        format!("{}/lock.json", self.base)
    }

    /// Call `op` until it answers something other than a fault worth
    /// retrying, or the attempts run out.
    async fn call<T, F, Fut>(&self, mut op: F) -> Result<T, Fault>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, Fault>>,
    {
        let mut attempt = 1;
        loop {
            match op().await {
                Err(Fault::Retry(why)) if attempt < self.retry.attempts => {
                    tracing::debug!("{why}; retrying");
                    tokio::time::sleep(self.retry.backoff(attempt)).await;
                    attempt += 1;
                }
                Err(Fault::Unreachable(why)) if attempt < UNREACHABLE_ATTEMPTS.min(self.retry.attempts) => {
                    tracing::debug!("{why}; retrying");
                    tokio::time::sleep(self.retry.backoff(attempt)).await;
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    /// The object at `key` and its ETag.
    async fn get(&self, key: &str) -> Result<(Vec<u8>, String), Fault> {
        let url = self.url(key);
        self.call(|| async {
            let out = self.client.get_object().bucket(&self.bucket).key(key).send().await.map_err(|e| classify("GetObject", &url, e))?;
            let etag = out.e_tag().unwrap_or_default().to_string();
            let bytes = out.body.collect().await.map_err(|e| Fault::Retry(format!("s3:GetObject {url}: the body was cut off: {e}")))?;
            Ok((bytes.into_bytes().to_vec(), etag))
        })
        .await
    }

    /// PUT `bytes` at `key` under a condition; returns the new ETag.
    async fn put(&self, key: &str, bytes: &[u8], condition: Condition<'_>) -> Result<String, Fault> {
        let url = self.url(key);
        self.call(|| async {
            let mut req = self.client.put_object().bucket(&self.bucket).key(key).content_type("application/json").body(ByteStream::from(bytes.to_vec()));
            req = match condition {
                Condition::Absent => req.if_none_match("*"),
                Condition::Matches(etag) => req.if_match(etag),
            };
            let out = req.send().await.map_err(|e| classify("PutObject", &url, e))?;
            Ok(out.e_tag().unwrap_or_default().to_string())
        })
        .await
    }

    async fn delete(&self, key: &str, etag: &str) -> Result<(), Fault> {
        let url = self.url(key);
        self.call(|| async {
            self.client.delete_object().bucket(&self.bucket).key(key).if_match(etag).send().await.map_err(|e| classify("DeleteObject", &url, e))?;
            Ok(())
        })
        .await
    }

    /// The lock object, if there is one.
    async fn current_lock(&self) -> Result<Option<(LockBody, String)>, Fault> {
        let key = self.lock_key();
        match self.get(&key).await {
            Ok((bytes, etag)) => match serde_json::from_slice::<LockBody>(&bytes) {
                Ok(body) => Ok(Some((body, etag))),
                Err(e) => Err(Fault::Fatal(format!("{} is not a dualstack lock ({e}); inspect it, or remove it with `dualstack force-unlock`", self.url(&key)))),
            },
            Err(Fault::NoKey) => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn lock_io(&self, why: String) -> LockError {
        LockError::Io { at: self.url(&self.lock_key()), message: why }
    }

    async fn list_journal(&self) -> Result<Vec<String>, Fault> {
        let prefix = format!("{}/journal/", self.base);
        let url = self.url(&prefix);
        let mut keys = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page = self
                .call(|| async {
                    self.client
                        .list_objects_v2()
                        .bucket(&self.bucket)
                        .prefix(&prefix)
                        .set_continuation_token(token.clone())
                        .send()
                        .await
                        .map_err(|e| classify("ListObjectsV2", &url, e))
                })
                .await?;
            keys.extend(page.contents().iter().filter_map(|o| o.key().map(str::to_string)));
            match page.next_continuation_token() {
                Some(t) if page.is_truncated() == Some(true) => token = Some(t.to_string()),
                _ => break,
            }
        }
        Ok(keys)
    }
}

#[derive(Clone, Copy)]
enum Condition<'a> {
    Absent,
    Matches(&'a str),
}

fn fault_text(f: Fault) -> String {
    match f {
        Fault::Precondition => "the condition failed (412)".into(),
        Fault::NoKey => "no such key (404)".into(),
        Fault::Retry(why) => format!("{why} (gave up after retrying)"),
        Fault::Unreachable(why) => why,
        Fault::Fatal(why) => why,
    }
}

#[async_trait::async_trait]
impl Store for S3Store {
    fn location(&self) -> String {
        self.url(&format!("{}/", self.base))
    }

    fn read(&self) -> Result<Vec<Stored>, JournalError> {
        block_on(async {
            let io = |f: Fault| JournalError::Io { at: self.location(), message: fault_text(f) };
            let keys = self.list_journal().await.map_err(io)?;
            let mut numbered = Vec::with_capacity(keys.len());
            for key in keys {
                let n = key
                    .rsplit('/')
                    .next()
                    .and_then(|f| f.strip_suffix(".json"))
                    .filter(|d| d.len() == 20)
                    .and_then(|d| d.parse::<u64>().ok())
                    .ok_or_else(|| JournalError::Damaged { at: self.url(&key), message: "not a journal record's name (20 digits, .json)".into() })?;
                numbered.push((n, key));
            }
            numbered.sort();
            for (i, (n, _)) in numbered.iter().enumerate() {
                let want = i as u64 + 1;
                if *n != want {
                    return Err(JournalError::Damaged {
                        at: self.url(&self.record_key(want)),
                        message: format!("missing: record {n} exists, but not record {want}"),
                    });
                }
            }
            // The records are independent objects: fetch several at once.
            use futures_util::StreamExt;
            let fetched: Vec<Result<Stored, JournalError>> = futures_util::stream::iter(numbered.into_iter().map(|(_, key)| async move {
                match self.get(&key).await {
                    Ok((bytes, _)) => Ok(Stored { at: self.url(&key), bytes }),
                    Err(f) => Err(JournalError::Io { at: self.url(&key), message: fault_text(f) }),
                }
            }))
            .buffered(16)
            .collect()
            .await;
            fetched.into_iter().collect()
        })
    }

    fn append(&self, n: u64, bytes: &[u8]) -> Result<(), JournalError> {
        let key = self.record_key(n);
        block_on(async {
            match self.put(&key, bytes, Condition::Absent).await {
                Ok(_) => Ok(()),
                Err(Fault::Precondition) => match self.get(&key).await {
                    // This process's own write, whose answer was lost.
                    Ok((there, _)) if there == bytes => Ok(()),
                    Ok((there, _)) => {
                        let other = serde_json::from_slice::<serde_json::Value>(&there).ok();
                        let what = match other.as_ref().and_then(|v| v.get("type")).and_then(|t| t.as_str()) {
                            Some("lock_taken_over") => "another run took the lock over and recorded it there".to_string(),
                            Some(t) => format!("another process wrote record {n} (`{t}`) first"),
                            None => format!("another process wrote record {n} first"),
                        };
                        Err(JournalError::LockLost { at: self.url(&key), message: what })
                    }
                    Err(f) => Err(JournalError::Io { at: self.url(&key), message: fault_text(f) }),
                },
                Err(f) => Err(JournalError::Io { at: self.url(&key), message: fault_text(f) }),
            }
        })
    }

    async fn acquire(&self, me: &Holder, opts: &LockOptions, warn: &(dyn Fn(String) + Send + Sync)) -> Result<Acquired, LockError> {
        *self.ttl.lock().expect("ttl") = opts.ttl;
        let key = self.lock_key();
        let deadline = opts.wait.map(|w| boot_now() + w);
        // The ETag a contender watches, and since when (its own clock).
        let mut watching: Option<(String, Duration)> = None;
        let mut announced = false;
        loop {
            let body = LockBody { v: 1, holder: me.clone(), lease_ms: opts.ttl.as_millis() as u64, generation: 1, renewals: 0 };
            let bytes = serde_json::to_vec(&body).expect("lock serializes");
            let sent = boot_now();
            match self.put(&key, &bytes, Condition::Absent).await {
                Ok(etag) => {
                    *self.held.lock().expect("held") = Some(Held { etag, body });
                    return Ok(Acquired { taken_over: None, generation: 1, at: sent });
                }
                Err(Fault::Precondition) => {}
                Err(f) => return Err(self.lock_io(fault_text(f))),
            }
            let Some((current, etag)) = self.current_lock().await.map_err(|f| self.lock_io(fault_text(f)))? else {
                // Released meanwhile: try again.
                continue;
            };
            if current.holder.id == me.id {
                // Our own create, whose answer was lost.
                *self.held.lock().expect("held") = Some(Held { etag, body: current });
                return Ok(Acquired { taken_over: None, generation: 1, at: sent });
            }
            let held = || LockError::Held {
                at: self.url(&key),
                holder: Some(current.holder.clone()),
                lease: Some(current.lease()),
                help: Some(format!(
                    "if that run is dead, pass --lock-wait {} to take the lock over once its lease has gone unrenewed for a whole lease, or remove it with `dualstack force-unlock RUNBOOK {}`",
                    humantime::format_duration(current.lease() * 2),
                    current.holder.id
                )),
            };
            let Some(deadline) = deadline else {
                return Err(held());
            };
            let now = boot_now();
            match &watching {
                Some((seen, _)) if *seen == etag => {}
                _ => watching = Some((etag.clone(), now)),
            }
            let since = watching.as_ref().expect("set above").1;
            if now.saturating_sub(since) >= current.lease() {
                let next = LockBody { v: 1, holder: me.clone(), lease_ms: opts.ttl.as_millis() as u64, generation: current.generation + 1, renewals: 0 };
                let bytes = serde_json::to_vec(&next).expect("lock serializes");
                let sent = boot_now();
                match self.put(&key, &bytes, Condition::Matches(&etag)).await {
                    Ok(new_etag) => {
                        warn(format!(
                            "took over the lock from {}: its lease of {} went unrenewed for {} (generation {})",
                            current.holder,
                            humantime::format_duration(current.lease()),
                            humantime::format_duration(Duration::from_millis(now.saturating_sub(since).as_millis() as u64)),
                            next.generation
                        ));
                        let generation = next.generation;
                        *self.held.lock().expect("held") = Some(Held { etag: new_etag, body: next });
                        return Ok(Acquired { taken_over: Some(current.holder), generation, at: sent });
                    }
                    // Renewed, released or taken by another contender: look again.
                    Err(Fault::Precondition | Fault::NoKey) => continue,
                    Err(f) => return Err(self.lock_io(fault_text(f))),
                }
            }
            if now >= deadline {
                return Err(held());
            }
            if !announced {
                warn(format!(
                    "waiting up to {} for the lock held by {} (lease {})",
                    humantime::format_duration(Duration::from_secs(deadline.saturating_sub(now).as_secs())),
                    current.holder,
                    humantime::format_duration(current.lease())
                ));
                announced = true;
            }
            // Look often enough to see a renewal within a tenth of a lease.
            let poll = (current.lease() / 10).clamp(Duration::from_millis(50), Duration::from_secs(5));
            tokio::time::sleep(poll.min(deadline.saturating_sub(now))).await;
        }
    }

    async fn renew(&self) -> Result<(), RenewError> {
        let Some(held) = self.held.lock().expect("held").clone() else {
            return Err(RenewError::Lost("the lock is not held".into()));
        };
        let key = self.lock_key();
        let mut next = held.body.clone();
        next.renewals += 1;
        let bytes = serde_json::to_vec(&next).expect("lock serializes");
        let adopt = |etag: String, body: LockBody| *self.held.lock().expect("held") = Some(Held { etag, body });
        match self.put(&key, &bytes, Condition::Matches(&held.etag)).await {
            Ok(etag) => {
                adopt(etag, next);
                Ok(())
            }
            Err(Fault::Precondition) => match self.current_lock().await {
                // Our own renewal, whose answer was lost.
                Ok(Some((body, etag))) if body == next => {
                    adopt(etag, body);
                    Ok(())
                }
                Ok(Some((body, _))) => Err(RenewError::Lost(format!("the lock was taken over by {} (generation {})", body.holder, body.generation))),
                Ok(None) => Err(RenewError::Lost("the lock was removed (force-unlocked?)".into())),
                Err(f) => Err(RenewError::Transient(fault_text(f))),
            },
            Err(Fault::NoKey) => Err(RenewError::Lost(format!("the lock {} was removed (force-unlocked?)", self.url(&key)))),
            Err(f) => Err(RenewError::Transient(fault_text(f))),
        }
    }

    async fn release(&self) -> Result<(), LockError> {
        let Some(held) = self.held.lock().expect("held").take() else {
            return Ok(());
        };
        let deleted = match self.delete(&self.lock_key(), &held.etag).await {
            // A renewal applied whose answer was never read (the keeper
            // stopped mid-call) changed the ETag: still ours if it names us.
            Err(Fault::Precondition) => match self.current_lock().await {
                Ok(Some((body, etag))) if body.holder.id == held.body.holder.id => self.delete(&self.lock_key(), &etag).await,
                _ => Ok(()),
            },
            other => other,
        };
        match deleted {
            // Gone, or someone else's now: not ours to remove.
            Ok(()) | Err(Fault::Precondition | Fault::NoKey) => Ok(()),
            Err(f) => Err(self.lock_io(format!("{} (the lock stays until its lease runs out)", fault_text(f)))),
        }
    }

    fn lease(&self) -> Option<Duration> {
        Some(*self.ttl.lock().expect("ttl"))
    }

    async fn force_unlock(&self, id: &str) -> Result<Holder, LockError> {
        let key = self.lock_key();
        let Some((current, etag)) = self.current_lock().await.map_err(|f| self.lock_io(fault_text(f)))? else {
            return Err(LockError::Mismatch(format!("{} is not locked", self.url(&key))));
        };
        if current.holder.id != id {
            return Err(LockError::Mismatch(format!("{} is held by {}, whose lock id is {}, not {id}: nothing was removed", self.url(&key), current.holder, current.holder.id)));
        }
        match self.delete(&key, &etag).await {
            Ok(()) => Ok(current.holder),
            Err(Fault::Precondition) => Err(LockError::Mismatch(format!("{} changed while it was being removed (its holder renewed it: it is alive); nothing was removed", self.url(&key)))),
            Err(f) => Err(self.lock_io(fault_text(f))),
        }
    }

    async fn holder(&self) -> Result<Option<(Holder, Option<Duration>)>, LockError> {
        let current = self.current_lock().await.map_err(|f| self.lock_io(fault_text(f)))?;
        Ok(current.map(|(body, _)| {
            let lease = body.lease();
            (body.holder, Some(lease))
        }))
    }

    fn note_run(&self, run: &str) {
        if let Some(held) = self.held.lock().expect("held").as_mut() {
            held.body.holder.run = Some(run.to_string());
        }
    }

    fn log_dir(&self) -> std::path::PathBuf {
        // The journal is shared; a run's log of events stays on the machine
        // that ran it.
        let base = std::env::var_os("XDG_STATE_HOME")
            .map(std::path::PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| std::path::PathBuf::from(h).join(".local/state")))
            .unwrap_or_else(std::env::temp_dir);
        base.join("dualstack").join("logs")
    }
}
