//! A memo of what the tool reads from AWS but does not change (a VPC's
//! internet gateways, a target group's tags), or forgets before it changes
//! it (a load balancer's listeners). A migration reads the same parts step
//! after step; a memo keeps those reads to one per run, or, for what others
//! change too (instances come and go, a listener may be edited by hand), to
//! one per [`CURRENT_FOR`], the time a read counts as current.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::AwsError;

/// How long a read is taken as current without reading again. Between steps
/// a few seconds apart, what the run itself read and verified is as good as
/// a new read; across a bake, a long gate or a person at a prompt, targets,
/// tasks and instances move (a deploy, an autoscaling group), so what is
/// older is read again before anything is decided on it.
pub const CURRENT_FOR: Duration = Duration::from_secs(30);

/// Values by key, each read at most once until forgotten (or, with a
/// maximum age, until older than it).
pub(crate) struct Memo<V> {
    entries: Mutex<HashMap<String, (V, Instant)>>,
    max_age: Option<Duration>,
}

impl<V> Default for Memo<V> {
    fn default() -> Self {
        Memo { entries: Mutex::new(HashMap::new()), max_age: None }
    }
}

impl<V: Clone> Memo<V> {
    /// A memo whose entries are read again once older than [`CURRENT_FOR`].
    pub fn current() -> Self {
        Memo { entries: Mutex::new(HashMap::new()), max_age: Some(CURRENT_FOR) }
    }

    pub fn get(&self, key: &str) -> Option<V> {
        let entries = self.entries.lock().expect("not poisoned");
        let (v, at) = entries.get(key)?;
        self.max_age.is_none_or(|max| at.elapsed() <= max).then(|| v.clone())
    }

    pub fn contains(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    pub fn put(&self, key: impl Into<String>, value: V) {
        self.entries.lock().expect("not poisoned").insert(key.into(), (value, Instant::now()));
    }

    /// Drop `key`: called before a write that can change it, so that even
    /// a write whose answer is lost is followed by a real read.
    pub fn forget(&self, key: &str) {
        self.entries.lock().expect("not poisoned").remove(key);
    }

    /// Drop every entry `keep` refuses.
    pub fn retain(&self, keep: impl Fn(&str, &V) -> bool) {
        self.entries.lock().expect("not poisoned").retain(|k, (v, _)| keep(k, v));
    }

    /// The value of `key`, from `read` the first time.
    pub async fn get_or_read<F>(&self, key: &str, read: F) -> Result<V, AwsError>
    where
        F: Future<Output = Result<V, AwsError>>,
    {
        if let Some(v) = self.get(key) {
            return Ok(v);
        }
        let v = read.await?;
        self.put(key, v.clone());
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn reads_once_until_forgotten_or_too_old() {
        let memo = Memo::default();
        let reads = std::sync::atomic::AtomicU32::new(0);
        let read = || async { Ok::<_, AwsError>(reads.fetch_add(1, std::sync::atomic::Ordering::SeqCst)) };
        assert_eq!(memo.get_or_read("k", read()).await.unwrap(), 0);
        assert_eq!(memo.get_or_read("k", read()).await.unwrap(), 0, "the second read comes from the memo");
        memo.forget("k");
        assert_eq!(memo.get_or_read("k", read()).await.unwrap(), 1, "a forgotten key is read again");

        let current = Memo::current();
        current.put("k", 7);
        assert_eq!(current.get("k"), Some(7));
        let old = Instant::now().checked_sub(CURRENT_FOR + Duration::from_secs(1)).expect("the clock is past it");
        current.entries.lock().unwrap().insert("k".into(), (7, old));
        assert_eq!(current.get("k"), None, "an entry older than CURRENT_FOR is read again");
    }
}
