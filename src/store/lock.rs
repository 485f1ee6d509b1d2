//! Inter-process locks on a store, with `flock(2)` through std's `File::lock`.
//!
//! - the **index lock** (`strata/locks/index.lock`) is held exclusively for
//!   each read-modify-write of `index.json`; it is short.
//! - the **gc lock** (`strata/locks/gc.lock`) is held *shared* by every open
//!   [`Store`](super::Store) for its whole life and *exclusively* by `gc`, so
//!   gc never runs while another process may hold blobs it has written but
//!   not referenced yet. Blob writes themselves need no lock: they are atomic
//!   renames of content-addressed files.
//!
//! flock locks belong to the open file description and vanish when the
//! process dies, so a killed strata never leaves a store locked.

use std::fs::{File, OpenOptions};
use std::path::Path;

use super::StoreError;

fn open_lock_file(root: &Path, name: &str) -> Result<File, StoreError> {
    let path = root.join("strata/locks").join(name);
    OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(&path)
        .map_err(|e| StoreError::Io { path, source: e })
}

/// Exclusive hold on `index.json`; released on drop.
pub(super) struct IndexLock(File);

impl IndexLock {
    pub(super) fn acquire(root: &Path) -> Result<Self, StoreError> {
        let f = open_lock_file(root, "index.lock")?;
        f.lock().map_err(|e| StoreError::Io { path: root.join("strata/locks/index.lock"), source: e })?;
        Ok(IndexLock(f))
    }
}

impl Drop for IndexLock {
    fn drop(&mut self) {
        let _ = self.0.unlock();
    }
}

/// The shared hold every open store keeps on the gc lock.
#[derive(Debug)]
pub(super) struct GcGuard {
    file: File,
    path: std::path::PathBuf,
}

impl GcGuard {
    pub(super) fn shared(root: &Path) -> Result<Self, StoreError> {
        let file = open_lock_file(root, "gc.lock")?;
        let path = root.join("strata/locks/gc.lock");
        file.lock_shared().map_err(|e| StoreError::Io { path: path.clone(), source: e })?;
        Ok(GcGuard { file, path })
    }

    /// Upgrades to exclusive until the returned guard drops, then goes back
    /// to shared. Waits (and says so) while other processes use the store.
    pub(super) fn exclusive(&self) -> Result<ExclusiveGc<'_>, StoreError> {
        let err = |e| StoreError::Io { path: self.path.clone(), source: e };
        match self.file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                eprintln!("waiting for other strata processes to release the store...");
                self.file.lock().map_err(err)?;
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(err(e)),
        }
        Ok(ExclusiveGc(self))
    }
}

impl GcGuard {
    /// Upgrades to exclusive if no other process uses the store right now;
    /// `None` (and still shared) if one does. Never waits.
    pub(super) fn try_exclusive(&self) -> Result<Option<ExclusiveGc<'_>>, StoreError> {
        match self.file.try_lock() {
            Ok(()) => Ok(Some(ExclusiveGc(self))),
            Err(std::fs::TryLockError::WouldBlock) => {
                // A failed upgrade may have dropped the shared hold
                // (flock converts by unlocking first): take it back.
                self.file.lock_shared().map_err(|e| StoreError::Io { path: self.path.clone(), source: e })?;
                Ok(None)
            }
            Err(std::fs::TryLockError::Error(e)) => Err(StoreError::Io { path: self.path.clone(), source: e }),
        }
    }
}

pub(super) struct ExclusiveGc<'a>(&'a GcGuard);

impl Drop for ExclusiveGc<'_> {
    fn drop(&mut self) {
        let _ = self.0.file.lock_shared();
    }
}
