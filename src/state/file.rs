//! The local backend, `file://DIR`: the journal is `DIR/<runbook name>.journal.jsonl`,
//! one JSON record per line, each written whole with one `write` and
//! fsynced before the next AWS call; the lock is an advisory `flock` on
//! `DIR/lock` that also records its holder.
//!
//! A second run is told who holds the lock, and because the kernel drops a
//! `flock` when its holder dies, a lock left by a killed process is simply
//! taken over, with a warning naming the dead holder: no lease is needed.
//!
//! A journal is created whole (a temporary file, synced, renamed), so an
//! empty journal, a leftover temporary file or a last line without its
//! newline is damage, reported with its line, never a fresh start.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use super::{Acquired, Holder, LockError, LockOptions, RenewError, Store};
use crate::engine::journal::{JournalError, Stored};

pub struct FileStore {
    dir: PathBuf,
    path: PathBuf,
    /// The journal, open for appending once it exists.
    file: Mutex<Option<File>>,
    /// The held lock's file: closing it releases the flock.
    lock: Mutex<Option<File>>,
}

impl FileStore {
    /// The state directory `dir` (created 0700) for the runbook `name`.
    pub fn new(dir: &Path, name: &str) -> Result<FileStore, JournalError> {
        Ok(FileStore { dir: dir.to_path_buf(), path: dir.join(format!("{name}.journal.jsonl")), file: Mutex::new(None), lock: Mutex::new(None) })
    }

    fn io(&self, e: std::io::Error) -> JournalError {
        JournalError::Io { at: self.path.display().to_string(), message: e.to_string() }
    }

    fn create_dir(&self) -> Result<(), LockError> {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.dir)
            .map_err(|e| LockError::Io { at: self.dir.display().to_string(), message: format!("cannot create the state directory: {e}") })
    }
}

/// Where a journal is written before it exists under its own name.
fn tmp_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".tmp");
    path.with_file_name(name)
}

/// Create the journal with its first line: written to a temporary file,
/// synced, then renamed, so that a journal never exists empty or half
/// written.
fn create(path: &Path, first: &[u8]) -> std::io::Result<File> {
    let tmp = tmp_path(path);
    let mut f = OpenOptions::new().create_new(true).write(true).mode(0o600).open(&tmp)?;
    f.write_all(first)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        File::open(dir)?.sync_all()?;
    }
    OpenOptions::new().append(true).open(path)
}

/// Split the journal's text into its records, refusing what a crash or a
/// hand could leave behind.
fn split(path: &Path, bytes: &[u8]) -> Result<Vec<Stored>, JournalError> {
    let at = |line: usize| format!("{}:{line}", path.display());
    let damaged = |line: usize, message: &str| JournalError::Damaged { at: at(line), message: message.to_string() };
    if bytes.is_empty() {
        return Err(damaged(1, "the file is empty (a journal is created with its first record)"));
    }
    if std::str::from_utf8(bytes).is_err() {
        let valid = std::str::from_utf8(bytes).map_err(|e| e.valid_up_to()).unwrap_err();
        return Err(damaged(bytes[..valid].iter().filter(|b| **b == b'\n').count() + 1, "not UTF-8 text"));
    }
    if !bytes.ends_with(b"\n") {
        let line = bytes.split(|b| *b == b'\n').count();
        return Err(damaged(line, "the last line is incomplete (the file was truncated)"));
    }
    Ok(bytes[..bytes.len() - 1].split(|b| *b == b'\n').enumerate().map(|(i, l)| Stored { at: at(i + 1), bytes: l.to_vec() }).collect())
}

#[async_trait::async_trait]
impl Store for FileStore {
    fn location(&self) -> String {
        self.path.display().to_string()
    }

    fn identity(&self) -> String {
        let path = std::path::absolute(&self.path).unwrap_or_else(|_| self.path.clone());
        format!("file://{}{}", super::hostname(), path.display())
    }

    fn read(&self) -> Result<Vec<Stored>, JournalError> {
        let tmp = tmp_path(&self.path);
        if tmp.exists() {
            return Err(JournalError::Damaged {
                at: format!("{}:1", tmp.display()),
                message: "a run stopped while creating this journal (no AWS call follows that point)".into(),
            });
        }
        match std::fs::read(&self.path) {
            Ok(bytes) => split(&self.path, &bytes),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
            Err(e) => Err(self.io(e)),
        }
    }

    fn append(&self, n: u64, bytes: &[u8]) -> Result<(), JournalError> {
        let mut line = bytes.to_vec();
        line.push(b'\n');
        let mut file = self.file.lock().expect("journal file");
        if file.is_none() && n == 1 {
            *file = Some(create(&self.path, &line).map_err(|e| self.io(e))?);
            return Ok(());
        }
        if file.is_none() {
            *file = Some(OpenOptions::new().append(true).open(&self.path).map_err(|e| self.io(e))?);
        }
        let f = file.as_mut().expect("opened above");
        f.write_all(&line).map_err(|e| self.io(e))?;
        f.sync_data().map_err(|e| self.io(e))
    }

    async fn acquire(&self, me: &Holder, opts: &LockOptions, warn: &(dyn Fn(String) + Send + Sync)) -> Result<Acquired, LockError> {
        self.create_dir()?;
        let path = self.dir.join("lock");
        // A flock needs no lease (the kernel drops it with its holder):
        // `--lock-wait` only waits for the holder to finish.
        let deadline = opts.wait.map(|w| std::time::Instant::now() + w);
        let mut announced = false;
        let (file, stale) = loop {
            match flock(&path, me) {
                Err(LockError::Held { holder, .. }) if deadline.is_some_and(|d| std::time::Instant::now() < d) => {
                    if !announced {
                        let who = holder.map_or_else(|| "another run".to_string(), |h| h.to_string());
                        warn(format!("waiting up to {} for the lock held by {who}", humantime::format_duration(opts.wait.unwrap_or_default())));
                        announced = true;
                    }
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                other => break other?,
            }
        };
        if let Some(dead) = &stale {
            warn(format!("took over the lock left by {dead}, which is no longer running"));
        }
        *self.lock.lock().expect("lock file") = Some(file);
        Ok(Acquired { taken_over: None, generation: 1, at: super::lease::boot_now() })
    }

    async fn renew(&self) -> Result<(), RenewError> {
        Ok(())
    }

    async fn release(&self) -> Result<(), LockError> {
        if let Some(file) = self.lock.lock().expect("lock file").take() {
            // Clear the holder record; closing the file releases the flock.
            let _ = file.set_len(0);
        }
        Ok(())
    }

    fn lease(&self) -> Option<Duration> {
        None
    }

    async fn force_unlock(&self, _id: &str) -> Result<Holder, LockError> {
        Err(LockError::Mismatch(format!(
            "{} is a local lock: the kernel releases it when its holder exits, so there is nothing to force (stop the process that holds it)",
            self.dir.join("lock").display()
        )))
    }

    fn log_dir(&self) -> PathBuf {
        self.dir.join("logs")
    }
}

/// Take the `flock` on `path` without waiting and record `me` in it;
/// returns the file and the holder a dead process left recorded.
pub fn flock(path: &Path, me: &Holder) -> Result<(File, Option<Holder>), LockError> {
    let io = |e: std::io::Error| LockError::Io { at: path.display().to_string(), message: e.to_string() };
    let mut file = OpenOptions::new().read(true).write(true).create(true).truncate(false).mode(0o600).open(path).map_err(io)?;
    // SAFETY: flock on a file descriptor we own.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    let mut text = String::new();
    file.read_to_string(&mut text).map_err(io)?;
    let recorded: Option<Holder> = serde_json::from_str(&text).ok();
    if rc != 0 {
        let err = std::io::Error::last_os_error();
        if err.raw_os_error() == Some(libc::EWOULDBLOCK) {
            // The holder may have taken the lock a moment ago and not
            // written its record yet: give it a moment to be named.
            let mut holder = recorded;
            for _ in 0..50 {
                if holder.is_some() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(10));
                holder = std::fs::read_to_string(path).ok().and_then(|t| serde_json::from_str(&t).ok());
            }
            return Err(LockError::Held { at: path.display().to_string(), holder, lease: None, help: None });
        }
        return Err(io(err));
    }
    // We hold the flock: whoever is recorded is gone without clearing it.
    file.set_len(0).map_err(io)?;
    file.seek(SeekFrom::Start(0)).map_err(io)?;
    file.write_all(serde_json::to_string(me).expect("holder serializes").as_bytes()).map_err(io)?;
    file.sync_data().map_err(io)?;
    Ok((file, recorded))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::engine::journal::{ChangeStatus, Journal, Record};
    use crate::runbook::StepId;
    use crate::steps::{subnet_ipv6, Change, Outcome};

    fn flag_change() -> Change {
        Change::SubnetIpv6(subnet_ipv6::Change::SetFlag {
            subnet_id: "subnet-1".into(),
            subnet: "subnet-1".into(),
            flag: crate::aws::SubnetFlag::EnableDns64,
            value: true,
            prior: false,
        })
    }

    fn journal(dir: &Path) -> Journal {
        Journal::open(Arc::new(FileStore::new(dir, "j").unwrap()), None).unwrap()
    }

    fn open_err(dir: &Path) -> JournalError {
        Journal::open(Arc::new(FileStore::new(dir, "j").unwrap()), None).err().expect("an error")
    }

    #[test]
    fn an_intent_without_outcome_is_unconfirmed_and_to_be_undone() {
        let dir = tempfile::tempdir().unwrap();
        let mut j = journal(dir.path());
        let step = StepId::parse("subnets").unwrap();
        j.append("r1", Record::Started { operation: "apply".into(), runbook: "x".into(), runbook_hash: "h".into(), vpc_id: "vpc-1".into(), pid: 1 }).unwrap();
        j.append("r1", Record::Intent { seq: 1, step: step.clone(), change: flag_change() }).unwrap();
        j.append("r1", Record::Outcome { seq: 1, outcome: Outcome::default(), reconciled: false }).unwrap();
        j.append("r1", Record::Intent { seq: 2, step, change: flag_change() }).unwrap();
        let reread = journal(dir.path());
        let st = reread.state();
        assert_eq!(st.changes[0].status, ChangeStatus::Applied);
        assert_eq!(st.changes[1].status, ChangeStatus::Unconfirmed);
        assert_eq!(st.to_undo().len(), 2);
        assert!(st.interrupted().is_some());
        assert_eq!(reread.next_seq(), 3);
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(dir.path().join("j.journal.jsonl")).unwrap().permissions().mode() & 0o777, 0o600);
    }

    #[test]
    fn damaged_journals_name_the_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j.journal.jsonl");
        let at = |line: usize| format!("{}:{line}", path.display());
        std::fs::write(&path, "{\"v\":1,\"run\":\"r\",\"at\":\"t\",\"type\":\"step_done\",\"step\":\"a\"}\n{\"v\":1,\"ru").unwrap();
        assert!(matches!(open_err(dir.path()), JournalError::Damaged { at: a, .. } if a == at(2)));
        std::fs::write(&path, "{\"v\":9,\"run\":\"r\",\"at\":\"t\",\"type\":\"step_done\",\"step\":\"a\"}\n").unwrap();
        assert!(matches!(open_err(dir.path()), JournalError::Damaged { at: a, .. } if a == at(1)));
        std::fs::write(&path, "not json\n").unwrap();
        assert!(matches!(open_err(dir.path()), JournalError::Damaged { at: a, .. } if a == at(1)));
        std::fs::write(&path, "").unwrap();
        assert!(matches!(open_err(dir.path()), JournalError::Damaged { at: a, .. } if a == at(1)), "an empty journal is damage");
    }

    #[test]
    fn a_journal_is_created_whole_and_a_leftover_temporary_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j.journal.jsonl");
        let mut j = journal(dir.path());
        j.append("r1", Record::StepDone { step: StepId::parse("a").unwrap() }).unwrap();
        j.append("r1", Record::StepDone { step: StepId::parse("b").unwrap() }).unwrap();
        assert_eq!(journal(dir.path()).lines().len(), 2);
        assert!(!tmp_path(&path).exists());
        std::fs::write(tmp_path(&path), "{}").unwrap();
        match open_err(dir.path()) {
            JournalError::Damaged { at, .. } => assert_eq!(at, format!("{}:1", tmp_path(&path).display())),
            other => panic!("expected the temporary file to be refused, got {other:?}"),
        }
    }

    #[test]
    fn a_removed_or_edited_record_breaks_the_chain() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j.journal.jsonl");
        let mut j = journal(dir.path());
        for s in ["a", "b", "c"] {
            j.append("r1", Record::StepDone { step: StepId::parse(s).unwrap() }).unwrap();
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        std::fs::write(&path, format!("{}\n{}\n", lines[0], lines[2])).unwrap();
        match open_err(dir.path()) {
            JournalError::Damaged { at, message } => {
                assert_eq!(at, format!("{}:2", path.display()));
                assert!(message.contains("record 3 stands where record 2 belongs"), "{message}");
            }
            other => panic!("expected a gap to be refused, got {other:?}"),
        }
        std::fs::write(&path, format!("{}\n{}\n{}\n", lines[0], lines[1].replace("\"b\"", "\"x\""), lines[2])).unwrap();
        match open_err(dir.path()) {
            JournalError::Damaged { at, message } => {
                assert_eq!(at, format!("{}:3", path.display()));
                assert!(message.contains("chain"), "{message}");
            }
            other => panic!("expected an edit to be refused, got {other:?}"),
        }
    }

    #[test]
    fn second_holder_is_refused_and_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lock");
        let me = Holder::me("apply");
        let first = flock(&path, &me).unwrap();
        assert!(first.1.is_none());
        match flock(&path, &me) {
            Err(LockError::Held { holder: Some(h), .. }) => assert_eq!(h.pid, std::process::id()),
            other => panic!("expected Held, got {:?}", other.err()),
        }
        drop(first);
        assert!(flock(&path, &me).unwrap().1.is_some(), "a record not cleared is reported as left behind");
    }

    #[test]
    fn a_record_left_by_a_dead_holder_is_taken_over() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lock");
        // A lock file as versions before the lock id wrote it.
        std::fs::write(&path, r#"{"pid":999999,"host":"h","started_at":"t","command":"apply"}"#).unwrap();
        let (_file, stale) = flock(&path, &Holder::me("apply")).unwrap();
        let dead = stale.unwrap();
        assert_eq!((dead.pid, dead.operation.as_str()), (999_999, "apply"));
    }
}
