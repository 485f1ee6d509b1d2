//! Which snapshotter builds a step's root filesystem, and how it is chosen.

use std::collections::HashMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};

use super::{SnapshotError, mount};
use crate::store::Store;

/// How a step's root filesystem is made from its snapshots.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SnapshotMode {
    /// Kernel overlayfs (the default where it mounts).
    Overlay,
    /// The `fuse-overlayfs` daemon: for kernels or filesystems where
    /// overlayfs cannot mount (e.g. a store on overlayfs itself).
    FuseOverlayfs,
    /// Plain copies and a tree diff: works anywhere, costs a copy of the
    /// layers per step.
    Copy,
}

impl SnapshotMode {
    /// The environment variable that forces a mode (`overlay`,
    /// `fuse-overlayfs` or `copy`), e.g. to test each one.
    pub const ENV: &'static str = "STRATA_SNAPSHOTTER";

    pub const ALL: [SnapshotMode; 3] = [SnapshotMode::Overlay, SnapshotMode::FuseOverlayfs, SnapshotMode::Copy];

    pub fn as_str(self) -> &'static str {
        match self {
            SnapshotMode::Overlay => "overlay",
            SnapshotMode::FuseOverlayfs => "fuse-overlayfs",
            SnapshotMode::Copy => "copy",
        }
    }

    /// The mode `STRATA_SNAPSHOTTER` asks for, if it is set (and not empty).
    pub fn from_env() -> Result<Option<SnapshotMode>, SnapshotError> {
        match std::env::var(Self::ENV) {
            Ok(v) if !v.is_empty() => v.parse().map(Some),
            _ => Ok(None),
        }
    }

    /// `STRATA_SNAPSHOTTER` if set, else [`SnapshotMode::detect`].
    pub fn resolve(store: &Store) -> Result<SnapshotMode, SnapshotError> {
        match Self::from_env()? {
            Some(m) => Ok(m),
            None => Ok(Self::detect(store)),
        }
    }

    /// The first mode that mounts in this store: overlay, then
    /// fuse-overlayfs, then copy. Probed with a throw-away mount once per
    /// process and store root.
    pub fn detect(store: &Store) -> SnapshotMode {
        static SEEN: OnceLock<Mutex<HashMap<PathBuf, SnapshotMode>>> = OnceLock::new();
        let seen = SEEN.get_or_init(Default::default);
        if let Some(m) = seen.lock().unwrap_or_else(|e| e.into_inner()).get(store.root()) {
            return *m;
        }
        let mode = [SnapshotMode::Overlay, SnapshotMode::FuseOverlayfs]
            .into_iter()
            .find(|m| mount::probe(store, *m).is_ok())
            .unwrap_or(SnapshotMode::Copy);
        seen.lock().unwrap_or_else(|e| e.into_inner()).insert(store.root().to_owned(), mode);
        mode
    }

    /// Whether this mode can mount in `store`, and if not, why.
    pub fn check(self, store: &Store) -> Result<(), SnapshotError> {
        match self {
            SnapshotMode::Copy => Ok(()),
            m => mount::probe(store, m),
        }
    }
}

impl fmt::Display for SnapshotMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for SnapshotMode {
    type Err = SnapshotError;
    fn from_str(s: &str) -> Result<Self, SnapshotError> {
        match s {
            "overlay" | "overlayfs" => Ok(SnapshotMode::Overlay),
            "fuse-overlayfs" | "fuse" => Ok(SnapshotMode::FuseOverlayfs),
            "copy" | "native" => Ok(SnapshotMode::Copy),
            other => Err(SnapshotError::BadMode { value: other.to_owned() }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_parse_and_print_as_the_env_var_spells_them() {
        for m in SnapshotMode::ALL {
            assert_eq!(m.as_str().parse::<SnapshotMode>().unwrap(), m);
        }
        let err = "zfs".parse::<SnapshotMode>().unwrap_err();
        assert!(err.to_string().contains("'zfs'") && err.to_string().contains("STRATA_SNAPSHOTTER"), "{err}");
    }
}
