//! A per-run memo of what the tool reads from AWS but does not change (a
//! VPC's instances and internet gateways, a target group's tags), or forgets
//! before it changes it (a load balancer's listeners). A migration reads the same parts
//! step after step; a memo keeps those reads to one per run without making
//! the engine's notion of what is current any finer.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Mutex;

use super::AwsError;

/// Values by key, each read at most once until forgotten.
pub(crate) struct Memo<V>(Mutex<HashMap<String, V>>);

impl<V> Default for Memo<V> {
    fn default() -> Self {
        Memo(Mutex::new(HashMap::new()))
    }
}

impl<V: Clone> Memo<V> {
    pub fn get(&self, key: &str) -> Option<V> {
        self.0.lock().expect("not poisoned").get(key).cloned()
    }

    pub fn contains(&self, key: &str) -> bool {
        self.0.lock().expect("not poisoned").contains_key(key)
    }

    pub fn put(&self, key: impl Into<String>, value: V) {
        self.0.lock().expect("not poisoned").insert(key.into(), value);
    }

    /// Drop `key`: called before a write that can change it, so that even
    /// a write whose answer is lost is followed by a real read.
    pub fn forget(&self, key: &str) {
        self.0.lock().expect("not poisoned").remove(key);
    }

    /// Drop every entry `keep` refuses.
    pub fn retain(&self, keep: impl Fn(&str, &V) -> bool) {
        self.0.lock().expect("not poisoned").retain(|k, v| keep(k, v));
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
    async fn reads_once_until_forgotten() {
        let memo = Memo::default();
        let reads = std::sync::atomic::AtomicU32::new(0);
        let read = || async {
            Ok::<_, AwsError>(reads.fetch_add(1, std::sync::atomic::Ordering::SeqCst))
        };
        assert_eq!(memo.get_or_read("k", read()).await.unwrap(), 0);
        assert_eq!(memo.get_or_read("k", read()).await.unwrap(), 0, "the second read comes from the memo");
        memo.forget("k");
        assert_eq!(memo.get_or_read("k", read()).await.unwrap(), 1, "a forgotten key is read again");
    }
}
