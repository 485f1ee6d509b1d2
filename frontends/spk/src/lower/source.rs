//! The source package (reference §2): every source collected, in list
//! order, under `/spfs/spk/pkg/<n>/<v>/src[/<subdir>]`, as one layer.
//!
//! | source | vertices |
//! |---|---|
//! | `path:` | a host-side fetch of the path, then [`hostops::LOCAL_SOURCE`] (excludes, `.gitignore`s) placed at the target dir |
//! | `git:` | a host-side clone (strata's git source), placed at the target dir |
//! | `tar:` | a host-side fetch of the archive (path or URL), then `<n>:source:run:<i>`: `tar -xf` in the target dir … |
//! | `script:` | `<n>:source:run:<i>`: `bash -ex` the script in the target dir … |
//!
//! … each in a container over the build base and the sources before it, in
//! list order (host network: spk's source scripts clone and download).
//!
//! `<n>:source` squashes them into the one layer the builds read.

use strata_frontend_api::graph::{
    Capture, ExecOp, FetchOp, FileData, HostInput, HostOp, HostOutput, LayerOp, LayerRef, Mount, MountSource, Network,
    OUT, Op, Owner, Vertex,
};
use strata_frontend_api::{FrontendError, Source, SourceKind as IrKind};

use super::{Lowering, pkg_dir};
use crate::hostops::{self, LocalSource};
use crate::spec::{SourceKind, Spec};

/// Where the source container sees the fetched archives.
const FETCH_DIR: &str = "/.spk-fetch";

fn ir_source(kind: IrKind, location: &str) -> Source {
    Source {
        kind,
        location: location.to_string(),
        checksum: None,
        branch: None,
        tag: None,
        commit: None,
        depth: 0,
        submodules: None,
        subdir: None,
    }
}

/// The file name a fetched archive is stored under.
fn archive_name(location: &str) -> String {
    let path = location.split(['?', '#']).next().unwrap_or(location);
    path.rsplit('/').find(|s| !s.is_empty()).unwrap_or("source.tar").to_string()
}

/// `script` between two listings of `/spfs` without the src dir `src`: a
/// path created, changed or removed there fails the step with spk's
/// make-source error. Writes outside `/spfs` (a tool's caches under
/// `/root`, `/tmp`) are not spk's business, nor kept.
fn checked_outside(src: &str, script: &str) -> String {
    let (dir, quoted) = (format!("/{src}"), quote(&format!("/{src}")));
    format!(
        "set -e\n\
         list() {{ find /spfs -path {quoted} -prune -o -type d -printf 'd %p\\n' -o -printf 'f %p %s %T@ %m %l\\n' 2>/dev/null | LC_ALL=C sort; }}\n\
         mkdir -p {quoted}\n\
         list > /tmp/.spk-sources-before\n\
         (\n{script}\n)\n\
         list > /tmp/.spk-sources-after\n\
         bad=$(LC_ALL=C comm -3 /tmp/.spk-sources-before /tmp/.spk-sources-after | head -n 1 | sed 's/^[[:space:]]*[df] //; s/ .*//')\n\
         if [ -n \"$bad\" ]; then echo \"Invalid source file path found: $bad (a source may write only under {dir})\" >&2; exit 1; fi\n"
    )
}

/// A shell word.
pub fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

impl Lowering<'_> {
    /// Lowers the sources of `spec`; returns the source package's layer
    /// (`None` for `sources: []`).
    pub(super) fn source(&mut self, spec: &Spec, file: &std::path::Path) -> Result<Option<LayerRef>, FrontendError> {
        let (name, version) = (spec.name.as_str(), spec.version.to_string());
        let src = pkg_dir(name, &version, "src");
        let group = Some(name);
        let mut layers: Vec<LayerRef> = Vec::new();
        for (i, s) in spec.sources.iter().enumerate() {
            let target = match &s.subdir {
                Some(d) => format!("{src}/{}", d.trim_matches('/')),
                None => src.clone(),
            };
            let at = |e: String| FrontendError::new(e).at(file, s.pos.line, s.pos.col);
            match &s.kind {
                SourceKind::Local { path, exclude, filter } => {
                    if path.contains("://") {
                        return Err(at(format!("path source '{path}' is a URL"))
                            .hint("use 'tar:' for an archive URL, or 'git:' for a repository"));
                    }
                    let fetch = format!("{name}:source:fetch:{i}");
                    let op = FetchOp {
                        part: name.to_string(),
                        source: ir_source(IrKind::Local, path),
                        prefix: String::new(),
                        owner: Owner::Root,
                        check_subdir: false,
                    };
                    let mut v = Vertex::new(&fetch, group, "source", Op::Fetch(op));
                    v.description = format!("read the local source {path} of {name}");
                    self.graph.push(v);
                    let id = format!("{name}:source:local:{i}");
                    let params = serde_json::to_value(LocalSource { exclude: exclude.clone(), filter: filter.clone() })
                        .expect("plain data");
                    let op = HostOp {
                        name: hostops::LOCAL_SOURCE.into(),
                        params,
                        inputs: vec![HostInput { layers: vec![LayerRef::output(&fetch, OUT)], path: String::new() }],
                        outputs: vec![HostOutput { name: OUT.into(), prefix: target }],
                    };
                    let mut v = Vertex::new(&id, group, "source", Op::Host(op));
                    v.description = format!("filter the local source {path} of {name} as rsync does");
                    self.graph.push(v);
                    layers.push(LayerRef::output(&id, OUT));
                }
                SourceKind::Git { url, reference, depth } => {
                    let id = format!("{name}:source:git:{i}");
                    let mut source = ir_source(IrKind::Git, url);
                    source.branch = reference.clone();
                    source.depth = *depth;
                    let op = FetchOp {
                        part: name.to_string(),
                        source,
                        prefix: target,
                        owner: Owner::Root,
                        check_subdir: false,
                    };
                    let mut v = Vertex::new(&id, group, "source", Op::Fetch(op));
                    v.description = format!("clone {url} for {name}");
                    self.graph.push(v);
                    layers.push(LayerRef::output(&id, OUT));
                }
                SourceKind::Tar { tar } => {
                    let id = format!("{name}:source:fetch:{i}");
                    let op = FetchOp {
                        part: name.to_string(),
                        source: ir_source(IrKind::File, tar),
                        prefix: String::new(),
                        owner: Owner::Root,
                        check_subdir: false,
                    };
                    let mut v = Vertex::new(&id, group, "source", Op::Fetch(op));
                    v.description = format!("fetch {tar} for {name}");
                    self.graph.push(v);
                    let dest = format!("{FETCH_DIR}/{i}");
                    let mount = Mount {
                        destination: dest.clone(),
                        source: MountSource::Layers(vec![LayerRef::output(&id, OUT)]),
                        read_only: true,
                        capture: None,
                    };
                    let t = quote(&format!("/{target}"));
                    let f = quote(&format!("{dest}/{}", archive_name(tar)));
                    let script = format!("set -e\nmkdir -p {t}\ncd {t}\ntar -xf {f}\n");
                    let run = self.source_run(spec, i, &layers, vec![mount], script, format!("unpack {tar}"));
                    layers.push(run);
                }
                SourceKind::Script { lines } => {
                    let t = quote(&format!("/{target}"));
                    let body = lines.join("\n");
                    let mut tag = String::from("SPK_SOURCE_SCRIPT");
                    while body.contains(&tag) {
                        tag.push('_');
                    }
                    let script = format!("set -e\nmkdir -p {t}\ncd {t}\nbash -ex - <<'{tag}'\n{body}\n{tag}\n");
                    let run = self.source_run(spec, i, &layers, Vec::new(), script, "run a source script".into());
                    layers.push(run);
                }
            }
        }
        if layers.is_empty() {
            return Ok(None);
        }
        let id = format!("{name}:source");
        let mut v = Vertex::new(&id, group, "source", Op::Layer(LayerOp::Squash { inputs: layers }));
        v.description = format!("the source package {name}/{version}/src");
        self.graph.push(v);
        let layer = LayerRef::output(&id, OUT);
        self.publish(crate::repo::source_package(name, &version, &layer));
        Ok(Some(layer))
    }

    /// `<n>:source:run:<i>`: `script` in a container over the build base
    /// and the sources before it; yields its changes to the src dir.
    fn source_run(
        &mut self,
        spec: &Spec,
        i: usize,
        below: &[LayerRef],
        mut mounts: Vec<Mount>,
        script: String,
        what: String,
    ) -> LayerRef {
        let (name, version) = (spec.name.as_str(), spec.version.to_string());
        let src = pkg_dir(name, &version, "src");
        let group = Some(name);
        let id = format!("{name}:source:run:{i}");
        let mut rootfs = vec![LayerRef::image(&self.settings.build_base)];
        rootfs.extend(below.iter().cloned());
        let v = &spec.version;
        let env = vec![
            ("SPK_PKG".to_string(), format!("{name}/{version}/src")),
            ("SPK_PKG_NAME".into(), name.to_string()),
            ("SPK_PKG_VERSION".into(), version.clone()),
            ("SPK_PKG_BUILD".into(), "src".into()),
            ("SPK_PKG_VERSION_MAJOR".into(), v.part(0).to_string()),
            ("SPK_PKG_VERSION_MINOR".into(), v.part(1).to_string()),
            ("SPK_PKG_VERSION_PATCH".into(), v.part(2).to_string()),
            ("SPK_PKG_VERSION_BASE".into(), v.base()),
        ];
        let script = checked_outside(&src, &script);
        mounts.push(Mount {
            destination: "/.spk".into(),
            source: MountSource::Dir { seed: Vec::new(), files: vec![FileData::new("sources.sh", 0o755, script)] },
            read_only: true,
            capture: None,
        });
        let op = ExecOp {
            rootfs,
            mounts,
            argv: vec!["/bin/bash".into(), "/.spk/sources.sh".into()],
            env,
            cwd: Some("/".into()),
            network: Network::Host,
            capture: vec![Capture::under(OUT, [src.clone()])],
            ..Default::default()
        };
        let mut vx = Vertex::new(&id, group, "source", Op::Exec(op));
        vx.description = format!("{what} for the sources of {name}");
        self.graph.push(vx);
        LayerRef::output(&id, OUT)
    }
}
