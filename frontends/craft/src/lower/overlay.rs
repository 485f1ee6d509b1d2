//! The overlay step (craft-parts' `_run_overlay`): a part's changes to the
//! runtime base, filtered by its `overlay` fileset, a layer of the image
//! between the base and the prime.
//!
//! | base | `<p>:overlay` (exec, host network) | its changes are |
//! |---|---|---|
//! | an image | root filesystem: the base + the overlay layers of the parts before it (lifecycle order); tmpfs over apt's state and the lifecycle dirs ([`SCRATCH_DIRS`]) | the root filesystem's, less [`UNCAPTURED`] |
//! | `bare` | the build base; the earlier overlay layers mounted writable at `CRAFT_OVERLAY` | the mount's |
//!
//! then `<p>:overlay:filter` ([`hostops::OVERLAY_FILTER`]) applies the
//! fileset. Over `bare`, `overlay-packages` and `override-overlay` need a
//! system to run in: refused when lowering ([`LowerError::BareBase`]).

use strata_frontend_api::graph::{
    Capture, ExecOp, HostInput, HostOutput, LayerRef, Mount, MountSource, Network, OUT, Op,
};
use strata_frontend_api::{Base, Step};

use crate::dirs::{OVERLAY_MOUNT_DIR, PARTS_DIR, PRIME_DIR, STAGE_DIR};
use crate::hostops::{self, overlay::OverlayFilter};
use crate::parse::{bare_overlay_conflict, uses_overlay};

use super::{LowerError, Lowering};

/// Files apt and dpkg write with timestamps or host state (`aux-cache`
/// holds inode numbers): never kept in an overlay layer, so two builds give
/// the same bytes (mmdebstrap drops them from reproducible images too).
pub const UNCAPTURED: &[&str] = &[
    "var/cache/ldconfig/aux-cache",
    "var/log/alternatives.log",
    "var/log/apt/eipp.log.xz",
    "var/log/apt/history.log",
    "var/log/apt/term.log",
    "var/log/dpkg.log",
];

/// The overlay container's tmpfs mounts: apt's lists and downloads
/// (craft-parts keeps them in a package cache layer below the parts'
/// layers, never in a part's) and the lifecycle's own dirs.
pub const SCRATCH_DIRS: &[&str] = &["/var/lib/apt/lists", "/var/cache/apt", PARTS_DIR, STAGE_DIR, PRIME_DIR];

/// The output of the overlay exec op, before the fileset.
const CHANGES: &str = "changes";

impl Lowering<'_> {
    pub(super) fn overlay(&mut self, part: &str) -> Result<(), LowerError> {
        let p = &self.project.parts[part];
        if !uses_overlay(p) {
            return Ok(());
        }
        let bare = self.project.base == Base::Bare;
        if let Some(what) = bare_overlay_conflict(p).filter(|_| bare) {
            return Err(LowerError::BareBase { part: part.into(), what });
        }
        let changes =
            Capture { output: CHANGES.into(), paths: vec![], drop: UNCAPTURED.iter().map(|s| s.to_string()).collect() };
        let below = self.overlays_before(part, false);
        let op = if bare {
            ExecOp {
                rootfs: vec![self.build_base()],
                mounts: vec![Mount {
                    destination: OVERLAY_MOUNT_DIR.into(),
                    source: MountSource::Layers(below),
                    read_only: false,
                    capture: Some(changes),
                }],
                network: Network::Host,
                ..Default::default()
            }
        } else {
            let mut rootfs: Vec<LayerRef> = self.base().into_iter().collect();
            rootfs.extend(below);
            ExecOp {
                rootfs,
                mounts: SCRATCH_DIRS
                    .iter()
                    .map(|d| Mount {
                        destination: d.to_string(),
                        source: MountSource::Tmpfs,
                        read_only: false,
                        capture: None,
                    })
                    .collect(),
                network: Network::Host,
                capture: vec![changes],
                ..Default::default()
            }
        };
        let id = format!("{part}:overlay");
        let script = self.script(part, Step::Overlay).expect("a part with overlay content runs an overlay script");
        let op = self.script_op(&id, part, script, op);
        self.push(id.clone(), part, Step::Overlay, format!("overlay {part}"), Op::Exec(op));
        let params = OverlayFilter { part: part.into(), overlay: self.project.parts[part].overlay.clone() };
        let op = hostops::host_op(
            hostops::OVERLAY_FILTER,
            &params,
            vec![HostInput { layers: vec![LayerRef::output(&id, CHANGES)], path: String::new() }],
            vec![HostOutput { name: OUT.into(), prefix: String::new() }],
        );
        self.push(format!("{id}:filter"), part, Step::Overlay, format!("filter the overlay of {part}"), Op::Host(op));
        Ok(())
    }
}
