//! One run per VPC on this machine: whatever the state backend, a run also
//! takes an advisory `flock` keyed by account, region and VPC ID in the machine's
//! temporary directory, so that two runbooks for one VPC in two folders (two
//! state directories, hence two journal locks) cannot race on one machine.
//! The kernel drops it when its holder dies. Across machines the VPC marker
//! ([`crate::engine::marker`]) does this job.
//!
//! VPC IDs are unique already; the account, the VPC's `OwnerId` as
//! DescribeVpcs reports it, makes the key say whose VPC it is. Every
//! profile or role that sees the VPC sees the same owner (a VPC shared
//! through RAM included), so they all contend for one key.

use std::os::unix::fs::DirBuilderExt;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use super::{Holder, LockError};

/// The directory of the machine-wide locks: shared by every user, so
/// sticky like /tmp.
fn dir() -> PathBuf {
    std::env::var_os("DUALSTACK_MACHINE_LOCKS").map(PathBuf::from).unwrap_or_else(|| std::env::temp_dir().join("dualstack-vpc-locks"))
}

/// A held machine-wide lock on a VPC; released on drop.
pub struct VpcLock {
    _file: std::fs::File,
}

/// Take the lock on `vpc_id` of `account` in `region` for `operation`.
/// An empty `account` (a VPC no longer there to report its owner) keys by
/// region and ID alone.
pub fn lock_vpc(account: &str, region: &str, vpc_id: &str, operation: &str) -> Result<VpcLock, LockError> {
    let dir = dir();
    if !dir.exists() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o1777)
            .create(&dir)
            .map_err(|e| LockError::Io { at: dir.display().to_string(), message: format!("cannot create the machine's VPC locks: {e}") })?;
        // The mode given at creation is cut by the umask.
        let _ = std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o1777));
    }
    let key = if account.is_empty() { format!("{region}-{vpc_id}") } else { format!("{account}-{region}-{vpc_id}") };
    let name: String = key.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' }).collect();
    let path = dir.join(format!("{name}.lock"));
    match super::file::flock(&path, &Holder::me(operation)) {
        Ok((file, _)) => Ok(VpcLock { _file: file }),
        Err(LockError::Held { at, holder, .. }) => Err(LockError::Held {
            at: format!("{vpc_id} on this machine ({at})"),
            holder,
            lease: None,
            help: Some("another runbook on this machine is working on the same VPC, from another state directory: let it finish, or resume or roll back that run".into()),
        }),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_holder_per_account_region_and_vpc() {
        let d = tempfile::tempdir().unwrap();
        // SAFETY (env): this test alone sets this variable, before any lock.
        unsafe { std::env::set_var("DUALSTACK_MACHINE_LOCKS", d.path().join("locks")) };
        let a = lock_vpc("111111111111", "ap-northeast-1", "vpc-1", "apply").unwrap();
        assert!(matches!(lock_vpc("111111111111", "ap-northeast-1", "vpc-1", "resume"), Err(LockError::Held { .. })));
        assert!(lock_vpc("111111111111", "us-east-1", "vpc-1", "apply").is_ok(), "another region is another VPC");
        assert!(lock_vpc("222222222222", "ap-northeast-1", "vpc-1", "apply").is_ok(), "another account is another VPC");
        drop(a);
        assert!(lock_vpc("111111111111", "ap-northeast-1", "vpc-1", "apply").is_ok());
    }
}
