//! The pull step: the part's source as the layer `root/parts/<p>/src`.
//!
//! | the part has | vertices |
//! |---|---|
//! | a source, no pull script | `<p>:pull`: a [`FetchOp`] (owners root, `source-subdir` checked) |
//! | no source, no pull script | `<p>:pull`: [`hostops::EMPTY`] (today's empty `src` dir) |
//! | `override-pull` or plugin pull commands | `<p>:pull:source`: the fetch at the root of its layer, mounted read-only at [`FETCHED_SOURCE_DIR`] in `<p>:pull`, an exec op over the build base capturing `src`; with `override-pull` and a `source-subdir`, `<p>:pull:check-subdir` ([`hostops::CHECK_SUBDIR`]) |
//!
//! stage-packages are fetched first, as craft-parts does ([`super::packages`]).
//! The fetch under a pull script keeps the owners as found: today's
//! lifecycle bind-mounted the fetched dir, and `craftctl default` copies it
//! with `cp -a`.

use strata_frontend_api::Step;
use strata_frontend_api::graph::{
    Capture, ExecOp, FetchOp, HostInput, HostOutput, Mount, MountSource, Network, OUT, Op, Owner,
};

use crate::dirs::FETCHED_SOURCE_DIR;
use crate::hostops::{self, subdir::CheckSubdir};

use super::{LowerError, Lowering, part_path};

impl Lowering<'_> {
    pub(super) fn pull(&mut self, part: &str) -> Result<(), LowerError> {
        let p = &self.project.parts[part];
        if !p.build_plan.build_snaps.is_empty() {
            return Err(LowerError::Unsupported { part: part.into(), what: "build-snaps".into() });
        }
        self.fetch_stage_packages(part)?;
        let p = &self.project.parts[part];
        let override_pull = p.scriptlets.override_pull.is_some();
        let src = part_path(part, "src");
        let id = format!("{part}:pull");
        let Some(script) = self.script(part, Step::Pull) else {
            let op = match &p.source {
                Some(s) => Op::Fetch(FetchOp {
                    part: part.into(),
                    source: on_host(s),
                    prefix: src,
                    owner: Owner::Root,
                    check_subdir: true,
                }),
                None => Op::Host(hostops::host_op(
                    hostops::EMPTY,
                    &serde_json::json!({}),
                    vec![],
                    vec![HostOutput { name: OUT.into(), prefix: src }],
                )),
            };
            self.push(id, part, Step::Pull, format!("pull {part}"), op);
            return Ok(());
        };
        let mut mounts = Vec::new();
        if let Some(s) = &p.source {
            let fetch = FetchOp {
                part: part.into(),
                source: on_host(s),
                prefix: String::new(),
                owner: Owner::AsFound,
                check_subdir: !override_pull,
            };
            let source_id = format!("{part}:pull:source");
            mounts.push(Mount {
                destination: FETCHED_SOURCE_DIR.into(),
                source: MountSource::Layers(vec![strata_frontend_api::graph::LayerRef::output(&source_id, OUT)]),
                read_only: true,
                capture: None,
            });
            self.push(source_id, part, Step::Pull, format!("fetch the source of {part}"), Op::Fetch(fetch));
        }
        let check = p.source.as_ref().filter(|_| override_pull).and_then(|s| {
            let subdir = s.subdir.clone()?;
            Some(CheckSubdir { part: part.into(), subdir, location: s.location.clone() })
        });
        let op = ExecOp {
            rootfs: vec![self.build_base()],
            mounts,
            network: Network::None,
            capture: vec![Capture::under(OUT, [src.clone()])],
            ..Default::default()
        };
        let op = self.script_op(&id, part, script, op);
        self.push(id.clone(), part, Step::Pull, format!("pull {part}"), Op::Exec(op));
        if let Some(check) = check {
            let input = HostInput { layers: vec![self.pull_out(part)], path: src };
            let op = hostops::host_op(hostops::CHECK_SUBDIR, &check, vec![input], vec![]);
            self.push(
                format!("{id}:check-subdir"),
                part,
                Step::Pull,
                format!("check the source-subdir of {part}"),
                Op::Host(op),
            );
        }
        Ok(())
    }
}

/// A source as strata fetches it on the host: a location under
/// `$CRAFT_PROJECT_DIR` (which the frontend expands to `/root/project`, the
/// project in the build container) is made relative to the project.
pub(super) fn on_host(s: &strata_frontend_api::Source) -> strata_frontend_api::Source {
    let mut s = s.clone();
    if let Some(rest) = s.location.strip_prefix(crate::dirs::PROJECT_DIR) {
        let rest = rest.trim_start_matches('/');
        s.location = if rest.is_empty() { ".".into() } else { rest.into() };
    }
    s
}
