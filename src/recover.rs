//! Cleaning up after a strata that was killed: SIGKILL, the OOM killer, a
//! CI runner's timeout, a power cut.
//!
//! Nothing a killed build leaves can corrupt the store: blobs, refs, step
//! records and downloads are written to temp files and renamed into place,
//! so a kill at any moment leaves either the old state or the new one. What
//! it does leave is debris that costs space and, for mounts and containers,
//! keeps running:
//!
//! | left behind | by | removed here by |
//! |---|---|---|
//! | a step container still running (a foreground `runc run` is in its own process group, so it outlives strata) and runc's state for it | the runc executor | [`RuncExecutor::remove_leftovers`] |
//! | overlay and FUSE mounts of step root filesystems under `strata/tmp/` | snapshots | [`crate::snapshot::unmount_leftovers`] |
//! | half-written blobs, step dirs, unpacked trees in `strata/tmp/` | everything | [`crate::store::Exclusive::clean_temp`] |
//!
//! [`after_kill`] runs at the start of every command that writes to the
//! store, and does something only when it can take the store's exclusive
//! lock at once: then no other strata process has the store open, so
//! everything above belongs to a process that is gone. When another strata
//! is running, the debris waits for the last one or for `strata store gc`
//! (which does the same under a lock it waits for). Daemon executors'
//! leftovers (Docker containers, containerd tasks) are `strata store gc
//! --all`'s.

use std::path::PathBuf;

use crate::executor::RuncExecutor;
use crate::store::Store;

/// What [`after_kill`] cleaned up.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Recovered {
    /// Step containers stopped and deleted (runc ids).
    pub containers: Vec<String>,
    /// Filesystems unmounted under the store's temp dir.
    pub unmounted: usize,
    /// Entries removed from the store's temp dir.
    pub temp_removed: usize,
    /// What could not be cleaned (mounts that would not unmount, and the
    /// temp entries kept because of them), with why.
    pub left: Vec<(PathBuf, String)>,
}

impl Recovered {
    /// Whether there was anything to clean up.
    pub fn is_empty(&self) -> bool {
        self.containers.is_empty() && self.unmounted == 0 && self.temp_removed == 0 && self.left.is_empty()
    }
}

impl std::fmt::Display for Recovered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut parts = Vec::new();
        if !self.containers.is_empty() {
            parts.push(format!("stopped {} step container(s) ({})", self.containers.len(), self.containers.join(", ")));
        }
        if self.unmounted > 0 {
            parts.push(format!("unmounted {} filesystem(s)", self.unmounted));
        }
        if self.temp_removed > 0 {
            parts.push(format!("removed {} temporary entr(y/ies)", self.temp_removed));
        }
        write!(f, "cleaned up after an interrupted strata: {}", parts.join(", "))?;
        for (path, why) in &self.left {
            write!(f, "\n  could not clean {}: {why}", path.display())?;
        }
        Ok(())
    }
}

/// Cleans up what killed strata processes left in `store`, if no other
/// strata process has it open (see the module docs). Returns what it did;
/// an empty report when there was nothing or another process is running.
pub fn after_kill(store: &Store) -> crate::Result<Recovered> {
    let Some(gc) = store.try_lock_exclusive()? else { return Ok(Recovered::default()) };
    let mut report = Recovered { containers: RuncExecutor::new().remove_leftovers(store), ..Recovered::default() };
    let mounted = crate::mounts::mount_points_under(&store.tmp_dir()).map(|m| m.len()).unwrap_or(0);
    let failures = crate::snapshot::unmount_leftovers(&gc);
    report.unmounted = mounted.saturating_sub(failures.len());
    report.left.extend(failures.into_iter().map(|(p, e)| (p, e.to_string())));
    let temp = gc.clean_temp(false)?;
    report.temp_removed = temp.removed;
    report.left.extend(temp.still_mounted.into_iter().map(|p| (p, "something is still mounted below it".to_string())));
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_killed_builds_temp_files_are_removed_when_the_store_is_ours_alone() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        std::fs::write(store.tmp_dir().join("blob-half-written"), b"half").unwrap();
        std::fs::create_dir_all(store.tmp_dir().join("step-abc/upper/etc")).unwrap();

        let report = after_kill(&store).unwrap();
        assert_eq!(report.temp_removed, 2);
        assert!(report.containers.is_empty() && report.left.is_empty());
        assert!(report.to_string().contains("removed 2 temporary"), "{report}");
        assert_eq!(std::fs::read_dir(store.tmp_dir()).unwrap().count(), 0);
        assert!(after_kill(&store).unwrap().is_empty(), "nothing twice");
    }

    #[test]
    fn nothing_is_touched_while_another_strata_has_the_store_open() {
        let dir = tempfile::tempdir().unwrap();
        let ours = Store::open(dir.path()).unwrap();
        let live = Store::open(dir.path()).unwrap(); // another process's hold, as far as flock goes
        std::fs::write(live.tmp_dir().join("blob-being-written"), b"live").unwrap();

        assert!(after_kill(&ours).unwrap().is_empty());
        assert!(live.tmp_dir().join("blob-being-written").exists());
        drop(live);
        // And the store is still held shared after the failed upgrade: a
        // gc elsewhere would have to wait for us.
        let third = Store::open(dir.path()).unwrap();
        assert!(third.try_lock_exclusive().unwrap().is_none());
    }
}
