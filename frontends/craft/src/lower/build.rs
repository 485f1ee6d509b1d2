//! The build step: build-packages, the build itself, organize.
//!
//! | vertex | op | over | yields |
//! |---|---|---|---|
//! | `<p>:build-packages` | exec, host network: [`apt_install`] | the build base | every change but apt's logs and caches (the time is in them); the op never names the part, so parts with the same packages get one op (and one key) |
//! | `<p>:build` | exec, host network: the step script | build base + build-packages + own pull + unpacked stage-packages + the stage of its `after:` parts (transitively, lifecycle order); the overlay at `CRAFT_OVERLAY` read-only when the part sees it | `root/parts/<p>/{build,install}`; `vars` for the adopt-info part |
//! | `<p>:build:squash` | [`LayerOp::Squash`] (with stage-packages) | the unpacked packages, the build's layer | the whole install tree |
//! | `<p>:build:organize` | [`hostops::ORGANIZE`] | its install tree | the organized install tree, `root/parts/<p>/install` |

use strata_frontend_api::Step;
use strata_frontend_api::graph::{
    Capture, ExecOp, HostInput, HostOutput, LayerOp, LayerRef, Mount, MountSource, Network, OUT, Op,
};

use crate::dirs::OVERLAY_MOUNT_DIR;
use crate::hostops::{self, organize::Organize};
use crate::scripts::{apt_install, build_packages};
use crate::sequencer::has_overlay_visibility;

use super::{Lowering, part_path};

/// Files apt writes with the time or host state in them, beyond the
/// overlay's ([`super::overlay::UNCAPTURED`]): its binary package caches.
/// Dropped from the build-packages layer so the same packages give the
/// same bytes (DESIGN.md §5); the build never reads them.
const APT_CACHES: &[&str] = &["var/cache/apt/pkgcache.bin", "var/cache/apt/srcpkgcache.bin"];

/// The exec op installing `packages` over `build_base`: the same for every
/// part that needs them.
pub fn build_packages_op(build_base: LayerRef, packages: &[String]) -> ExecOp {
    let script = apt_install(packages);
    let drop = super::overlay::UNCAPTURED.iter().chain(APT_CACHES).map(|p| p.to_string()).collect();
    ExecOp {
        rootfs: vec![build_base],
        argv: vec!["/bin/sh".into(), "-c".into(), format!("set -e\n{script}rm -rf /var/lib/apt/lists/*\n")],
        network: Network::Host,
        capture: vec![Capture { output: OUT.into(), paths: Vec::new(), drop }],
        ..Default::default()
    }
}

impl Lowering<'_> {
    pub(super) fn build(&mut self, part: &str) {
        let packages = build_packages(self.project, part);
        if !packages.is_empty() {
            let op = build_packages_op(self.build_base(), &packages);
            let id = format!("{part}:build-packages");
            self.push(id, part, Step::Build, format!("install the build-packages of {part}"), Op::Exec(op));
        }
        self.unpack_stage_packages(part);
        let mut rootfs = vec![self.build_base()];
        rootfs.extend(self.build_packages_out(part));
        rootfs.push(self.pull_out(part));
        rootfs.extend(self.unpacked(part));
        rootfs.extend(self.dependencies(part).iter().map(|d| self.stage_out(d)));
        let mut mounts = Vec::new();
        if has_overlay_visibility(self.project, part) {
            let mut view: Vec<LayerRef> = self.base().into_iter().collect();
            view.extend(self.overlays_before(part, true));
            mounts.push(Mount {
                destination: OVERLAY_MOUNT_DIR.into(),
                source: MountSource::Layers(view),
                read_only: true,
                capture: None,
            });
        }
        let op = ExecOp {
            rootfs,
            mounts,
            // craft-parts' build has the network: plugins fetch their
            // dependencies here (pip, go mod download, cargo, npm).
            network: Network::Host,
            capture: vec![Capture::under(OUT, [part_path(part, "build"), part_path(part, "install")])],
            ..Default::default()
        };
        let id = format!("{part}:build");
        let script = self.script(part, Step::Build).expect("the build step always runs a script");
        let op = self.script_op(&id, part, script, op);
        self.push(id.clone(), part, Step::Build, format!("build {part}"), Op::Exec(op));
        let mut built = LayerRef::output(&id, OUT);
        if let Some(unpacked) = self.unpacked(part) {
            // The build's changes over the unpacked packages (it may delete
            // or replace what they brought), as one install tree.
            let squash = format!("{part}:build:squash");
            let op = LayerOp::Squash { inputs: vec![unpacked, built] };
            self.push(squash.clone(), part, Step::Build, format!("squash the install tree of {part}"), Op::Layer(op));
            built = LayerRef::output(&squash, OUT);
        }
        let install = part_path(part, "install");
        let params = Organize { part: part.into(), organize: self.project.parts[part].organize.clone() };
        let op = hostops::host_op(
            hostops::ORGANIZE,
            &params,
            vec![HostInput { layers: vec![built], path: install.clone() }],
            vec![HostOutput { name: OUT.into(), prefix: install }],
        );
        self.push(format!("{part}:build:organize"), part, Step::Build, format!("organize {part}"), Op::Host(op));
    }
}
