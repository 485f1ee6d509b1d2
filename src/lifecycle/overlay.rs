//! The overlay step (DESIGN.md §4; craft-parts' `PartHandler._run_overlay`
//! and `overlays/`): a part's changes to the runtime base, made by
//! `overlay-packages`, `overlay-script` or `override-overlay`, filtered by
//! its `overlay` fileset, kept as one layer of the final image between the
//! base and the prime.
//!
//! | base | container | the overlay is | `CRAFT_OVERLAY` |
//! |---|---|---|---|
//! | an image | the runtime base + the overlay layers of the parts before this one (part order), host network | the container's root | `/` |
//! | `bare` | the build base, host network | a host-side overlay of the earlier overlay layers (empty at first), bind-mounted read-write | `/root/overlay/overlay` |
//!
//! Over an image base, apt's lists and downloads (`/var/lib/apt/lists`,
//! `/var/cache/apt`) are tmpfs mounts — craft-parts keeps them in a package
//! cache layer below the parts' layers, never in a part's layer — and so are
//! `/root/parts`, `/root/stage` and `/root/prime`, which the step's
//! entrypoint creates. The files apt and dpkg write with the time or host
//! state in them ([`UNCAPTURED`]) are dropped from the layer, as mmdebstrap
//! drops them from reproducible images. Over `bare`, rockcraft's overlay is
//! an empty directory: an overlay-script can write into it, but
//! overlay-packages and override-overlay need a system to run in and are
//! refused ([`OverlayError::BareBase`]).
//!
//! The fileset is craft-parts' (`migratable_filesets` on the layer, then
//! `_apply_file_filter`): what it selects is kept, and whiteouts are kept
//! unless their directory is filtered out.
//!
//! A part's build sees the overlay when the part or one it comes after
//! (transitively) declares overlay content (craft-parts'
//! `has_overlay_visibility`): the runtime base and the overlay layers up to
//! and including the part's own are mounted read-only at `CRAFT_OVERLAY`
//! (`/root/overlay/overlay`) in its build container (`Lifecycle::overlay_view`).

use std::path::Path;

use strata_frontend_api::{Base, Step};
use strata_frontend_craft::dirs::{OVERLAY_MOUNT_DIR, PARTS_DIR, PRIME_DIR, STAGE_DIR};
use strata_frontend_craft::fileset::select;
use strata_frontend_craft::migrate::MigrateError;
use strata_frontend_craft::parse::{BARE_OVERLAY_HELP, bare_overlay_conflict, uses_overlay};
use strata_frontend_craft::sequencer::has_overlay_visibility;
use strata_frontend_craft::tree::parent;

use super::{Lifecycle, LifecycleError, read_tree};
use crate::executor::{Mount, Network};
use crate::layer::{self, EntryKind, LayerInfo, LayerInput};
use crate::snapshot::{Rootfs, SnapshotMode};

/// Files apt and dpkg write with timestamps or host state (`aux-cache`
/// holds inode numbers): never kept in an overlay layer, so two builds give
/// the same bytes. The base's own copies, if any, stay as they were.
pub const UNCAPTURED: &[&str] = &[
    "var/cache/ldconfig/aux-cache",
    "var/log/alternatives.log",
    "var/log/apt/eipp.log.xz",
    "var/log/apt/history.log",
    "var/log/apt/term.log",
    "var/log/dpkg.log",
];

/// Directories of the overlay container that are tmpfs mounts: apt's state
/// and downloads, and the lifecycle's own dirs.
const SCRATCH_DIRS: &[&str] = &["/var/lib/apt/lists", "/var/cache/apt", PARTS_DIR, STAGE_DIR, PRIME_DIR];

/// What the overlay step cannot do.
#[derive(Debug, thiserror::Error)]
pub enum OverlayError {
    #[error("part '{part}' uses {what}, but the base is bare; {BARE_OVERLAY_HELP}")]
    BareBase { part: String, what: &'static str },
}

impl Lifecycle<'_> {
    /// Runs the overlay step of `part` and keeps its layer. Nothing to do
    /// for a part without overlay content.
    pub(super) fn overlay(&mut self, part: &str) -> crate::Result<()> {
        let p = &self.project.parts[part];
        if !uses_overlay(p) {
            return Ok(());
        }
        let bare = self.project.base == Base::Bare;
        if let Some(what) = bare_overlay_conflict(p).filter(|_| bare) {
            return Err(LifecycleError::from(OverlayError::BareBase { part: part.into(), what }).into());
        }
        let label = format!("{part}:overlay");
        let below = self.overlays_before(part, false);
        let (run_dir, argv) = self.prepare_run(part, Step::Overlay)?;
        let captured = if bare {
            let root = Rootfs::mount(self.store, &below, SnapshotMode::resolve(self.store)?, &[])?;
            let mount = Mount::Bind {
                source: root.path().to_path_buf(),
                destination: OVERLAY_MOUNT_DIR.into(),
                read_only: false,
            };
            // The build-base container's own changes are not the overlay's.
            let build_base = self.build_base.clone();
            self.run_container(&label, build_base, argv, Some(&run_dir), Network::Host, vec![mount])?;
            crate::snapshot::capture(self.store, root.into_changes()?, &self.output_opts())?
        } else {
            let mut layers = self.base_layers();
            layers.extend(below);
            let mounts =
                SCRATCH_DIRS.iter().map(|d| Mount::Tmpfs { destination: d.to_string(), size_bytes: None }).collect();
            self.run_container(&label, layers, argv, Some(&run_dir), Network::Host, mounts)?
        };
        let layer = self.filter_overlay(&label, part, &captured)?;
        self.parts.entry(part.to_string()).or_default().overlay = Some(layer);
        Ok(())
    }

    /// The overlay layers of the parts before `part` in part order (and
    /// its own, with `including`).
    pub(super) fn overlays_before(&self, part: &str, including: bool) -> Vec<LayerInfo> {
        self.overlay_parts_before(part, including)
            .into_iter()
            .filter_map(|p| self.parts.get(&p)?.overlay.clone())
            .collect()
    }

    /// The parts before `part` in part order (and `part`, with
    /// `including`) that have overlay content: whose `:overlay` vertices
    /// feed what sees `part`'s overlay.
    pub(super) fn overlay_parts_before(&self, part: &str, including: bool) -> Vec<String> {
        let end = self.order.iter().position(|p| p == part).map(|i| if including { i + 1 } else { i }).unwrap_or(0);
        self.order[..end].iter().filter(|p| uses_overlay(&self.project.parts[p.as_str()])).cloned().collect()
    }

    /// The runtime base's layers (none for `bare`).
    pub(super) fn base_layers(&self) -> Vec<LayerInfo> {
        self.base.as_ref().map(|(_, img)| super::image_layers(img)).unwrap_or_default()
    }

    /// Every overlay layer, by part, in part order: what the image gets
    /// between its base and the prime.
    pub(super) fn overlay_layers(&self) -> Vec<(String, LayerInfo)> {
        self.order.iter().filter_map(|p| Some((p.clone(), self.parts.get(p)?.overlay.clone()?))).collect()
    }

    /// For the build of a part that sees the overlay: the runtime base and
    /// the overlay layers up to the part's own, mounted host-side, and the
    /// read-only bind of it at `CRAFT_OVERLAY`. Keep the [`Rootfs`] alive
    /// until the build ends (dropping it unmounts it).
    pub(super) fn overlay_view(&mut self, part: &str) -> crate::Result<Option<(Rootfs, Mount)>> {
        if !has_overlay_visibility(&self.project, part) {
            return Ok(None);
        }
        let mut layers = self.base_layers();
        layers.extend(self.overlays_before(part, true));
        let root = Rootfs::mount(self.store, &layers, SnapshotMode::resolve(self.store)?, &[])?;
        let mount =
            Mount::Bind { source: root.path().to_path_buf(), destination: OVERLAY_MOUNT_DIR.into(), read_only: true };
        Ok(Some((root, mount)))
    }

    /// The step's captured changes, filtered by the part's `overlay`
    /// fileset, as the layer `<p>:overlay`.
    fn filter_overlay(&mut self, label: &str, part: &str, captured: &LayerInfo) -> crate::Result<LayerInfo> {
        let snap = crate::snapshot::snapshot(self.store, captured)?;
        let (tree, _) = read_tree(&snap)?;
        let fileset = &self.project.parts[part].overlay;
        let sel = select(fileset, &tree)
            .map_err(|source| LifecycleError::from(MigrateError::Fileset { part: part.into(), source }))?;
        let keep = |path: &Path, kind: EntryKind| {
            let p = path.to_string_lossy();
            if UNCAPTURED.contains(&p.as_ref()) {
                return false;
            }
            match kind {
                EntryKind::Whiteout => parent(&p).is_empty() || sel.dirs.contains(parent(&p)),
                EntryKind::Dir | EntryKind::Opaque => sel.dirs.contains(p.as_ref()),
                _ => sel.files.contains(p.as_ref()),
            }
        };
        let blob = self.store.open_blob(&captured.digest)?;
        let mut out = self.store.blob_writer()?;
        let input = LayerInput::sorted(std::io::BufReader::new(blob));
        let diff_id = layer::filter(input, &keep, &self.output_opts(), &mut out)?.diff_id;
        let (digest, size) = out.commit(None)?;
        let info = LayerInfo { digest, diff_id, size, compression: self.compression };
        self.layers.push((label.to_string(), info.clone()));
        Ok(info)
    }
}
