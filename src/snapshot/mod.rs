//! Snapshots: layers unpacked once on disk, a step's root filesystem built
//! from them, and what the step changed captured as a new layer.
//!
//! ```text
//! <store>/strata/snapshots/<diff_id hex>/   one layer, unpacked once, read-only afterwards
//! <store>/strata/tmp/step-XXXXXX/           one running step (removed when it ends)
//!     init/     mount points the runtime needs (lowest of the step's own dirs, never captured)
//!     upper/    the step's changes (overlay upper dir, or its equivalent in copy mode)
//!     work/     overlay work dir
//!     rootfs/   the merged root the container runs in
//! ```
//!
//! Where to start reading:
//!
//! - [`snapshot`]: a layer blob → its snapshot directory, unpacked with
//!   whiteouts stored the overlayfs way (`layer::unpack` with
//!   `WhiteoutMode::Overlay`) into a temp dir and renamed into place, so
//!   processes racing to create the same snapshot are harmless (the loser
//!   drops its copy). Keyed by diff_id: the same content compressed two ways
//!   is one snapshot, and the unpack verifies the diff_id on the way.
//! - [`Rootfs`]: a step's root filesystem in one of three [`SnapshotMode`]s,
//!   and [`Rootfs::into_changes`], which hands back the upper dir.
//! - [`capture`]: [`Changes`] → a layer blob in the store, through the
//!   layer writer for upper dirs and through [`normalize_diff_tar`] for diff
//!   tars, so the same changes give the same bytes both ways.
//!
//! # Modes
//!
//! | mode | root filesystem | changes |
//! |---|---|---|
//! | `overlay` | kernel overlayfs, `redirect_dir=off,metacopy=off,index=off` (+ `volatile`) | the upper dir |
//! | `fuse-overlayfs` | the `fuse-overlayfs` daemon, same options | the upper dir, normalised to what the kernel writes |
//! | `copy` | the layers copied into a plain directory | a diff of that directory against what was copied |
//!
//! [`SnapshotMode::resolve`] takes `STRATA_SNAPSHOTTER` if set, else the first
//! mode that mounts here (probed once per process and store). Kernel overlay
//! takes at most 500 lower dirs: a rootfs of more layers falls back to copy.
//!
//! The conformance suite (`tests/it/executor.rs`) checks that the three
//! modes give the same entries for every case, and overlay and copy the
//! same bytes. fuse-overlayfs differs in one thing it does not record: when
//! it copies a file up it does not restore the mtime of the parent
//! directories it copies up with it, as the kernel does, so those carry the
//! step's time (clamped to `SOURCE_DATE_EPOCH`) instead of the image's.
//!
//! Kernel overlay's legacy mount data is limited to one page, which long
//! lower-dir paths exhaust after a few dozen layers. Lower, upper and work
//! dirs are therefore opened first and named as `/proc/self/fd/N` (18 bytes
//! each, ~200 layers per page); beyond a page the mount goes through the new
//! mount API (`fsopen` + one `lowerdir+` per layer, Linux ≥ 6.8). This is
//! what containerd does with a chdir into the snapshot root, without
//! changing the cwd of a multi-threaded process.
//!
//! # The init dir
//!
//! A runtime creates the mount points it needs (`/proc`, `/sys`, `/dev`,
//! `/etc/resolv.conf`, bind destinations...) when the image lacks them; in
//! the merged root they would land in the upper dir and in the layer. Like
//! Docker's `-init` layer, a per-step `init/` lower dir sits above the
//! image's snapshots and holds exactly those missing mount points, plus
//! copies of their parent directories with the parents' own mode, owner and
//! mtime (so the merged view is unchanged and a later copy-up records the
//! image's metadata, not the init dir's). In copy mode they are created in
//! the copied tree before the baseline is taken, which hides them the same
//! way. A mount point below a symlink in the image is left to the runtime.
//!
//! # Copy mode
//!
//! The layers are copied bottom to top into `rootfs/` (whiteouts applied,
//! hard links between lower files not preserved, as overlayfs breaks them on
//! copy-up), then every entry's inode number and ctime is recorded. After
//! the step, an upper-dir equivalent is built in `upper/`: new, replaced or
//! modified entries (ctime or inode changed) with their parent directories,
//! a 0/0 char device for each recorded path that is gone, and
//! `trusted.overlay.opaque=y` on directories that were recreated (new inode)
//! or replaced a non-directory — what overlayfs does when a directory is
//! created over a whiteout. The one thing it cannot see is a file opened
//! for writing and left unchanged, which overlayfs copies up anyway.

mod capture;
mod copy;
mod error;
pub(crate) mod lower;
mod mode;
mod mount;
mod rootfs;
mod unpacked;

pub use capture::{capture, normalize_diff_tar};
pub use error::{DiffIdMismatch, SnapshotError};
pub use mode::SnapshotMode;
pub(crate) use rootfs::mkdir_in_root;
pub use rootfs::{MountPoint, Rootfs};
pub use unpacked::{remove_snapshot, snapshot, snapshot_dir, snapshots, snapshots_root, unmount_leftovers};

pub use crate::executor::Changes;
