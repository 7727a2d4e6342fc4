//! One writer per state directory. The lock is an advisory `flock` on a file
//! that also records the holder (pid, host, start time, command): a second
//! run is told who holds it, and because the kernel drops a `flock` when its
//! holder dies, a lock left by a killed process is simply taken over, with a
//! warning naming the dead holder.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Holder {
    pub pid: u32,
    pub host: String,
    pub started_at: String,
    pub command: String,
}

impl std::fmt::Display for Holder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "pid {} on {} since {} (`{}`)", self.pid, self.host, self.started_at, self.command)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("another dualstack run holds {}: {}", path.display(), holder.as_ref().map_or_else(|| "holder unknown".to_string(), |h| h.to_string()))]
    Held { path: PathBuf, holder: Option<Holder> },
    #[error("lock {}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
}

/// A held lock; released (and its holder record cleared) on drop.
pub struct Lock {
    file: File,
    /// Set when the lock was left by a process that died holding it.
    pub stale: Option<Holder>,
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

impl Lock {
    pub fn acquire(path: &Path, command: &str) -> Result<Lock, LockError> {
        let io = |source| LockError::Io { path: path.to_path_buf(), source };
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
                    std::thread::sleep(std::time::Duration::from_millis(10));
                    holder = std::fs::read_to_string(path).ok().and_then(|t| serde_json::from_str(&t).ok());
                }
                return Err(LockError::Held { path: path.to_path_buf(), holder });
            }
            return Err(io(err));
        }
        // We hold the flock: whoever is recorded is gone without clearing it.
        let me = Holder {
            pid: std::process::id(),
            host: hostname(),
            started_at: super::journal::now(),
            command: command.to_string(),
        };
        file.set_len(0).map_err(io)?;
        file.seek(SeekFrom::Start(0)).map_err(io)?;
        file.write_all(serde_json::to_string(&me).expect("holder serializes").as_bytes()).map_err(io)?;
        file.sync_data().map_err(io)?;
        Ok(Lock { file, stale: recorded })
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        // Clear the holder record; closing the file releases the flock.
        let _ = self.file.set_len(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_holder_is_refused_and_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lock");
        let first = Lock::acquire(&path, "apply").unwrap();
        assert!(first.stale.is_none());
        match Lock::acquire(&path, "apply") {
            Err(LockError::Held { holder: Some(h), .. }) => assert_eq!(h.pid, std::process::id()),
            other => panic!("expected Held, got {:?}", other.err()),
        }
        drop(first);
        assert!(Lock::acquire(&path, "apply").unwrap().stale.is_none());
    }

    #[test]
    fn a_record_left_by_a_dead_holder_is_taken_over() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lock");
        let dead = Holder { pid: 999_999, host: "h".into(), started_at: "t".into(), command: "apply".into() };
        std::fs::write(&path, serde_json::to_string(&dead).unwrap()).unwrap();
        let lock = Lock::acquire(&path, "apply").unwrap();
        assert_eq!(lock.stale, Some(dead));
    }
}
