//! The lowering: an evaluated package (and the packages of these files it
//! takes as inputs, first) → vertices, and the image.
//!
//! | vertex (`<n>` the package's name) | op | yields |
//! |---|---|---|
//! | `<n>:source` | fetch: the origin's file, verified by its sha256, at `strata/source/` (a git-fetch checkout at `strata/source/<file-name>`) | `out` |
//! | `<n>:source:verify` | host ([`hostops::VERIFY_NAR`]), git-fetch only: the checkout's NAR hash, `.git` left out | `out` |
//! | `<n>:source:patch` | exec, with origin `patches` or a `snippet`: applied over the source (a tarball repacked as `.tar.xz`) | `out`: the changes under `strata/source` |
//! | `<n>:packages` | exec, host network: the build base's Debian packages (Guile, the implicit inputs' tools, the mapped inputs) | `out`: every change but apt's logs and caches |
//! | `<n>:setup` | exec: the first phases that only set the environment, in one process | `changes` |
//! | `<n>:<phase>` | exec: `guile …/run-phase.scm /strata/phase/phase.scm`, one per phase | `changes`: the state dir and the build dir; `output:<o>`: output `o`'s store dir |
//! | `<n>:output:<o>` | layer: the squash of the phases' `output:<o>` layers | `out` |
//! | `<n>:elf-files` | host ([`hostops::ELF_FILES`]): the outputs' ELF files and symlinks | `out` |
//! | `<n>:shlibdeps` | exec, with a runtime base: the Debian packages of the libraries its outputs' ELF files need (`strata/bin/shlibdeps`) | `out`: the list |
//! | `<n>:runtime` | exec, host network, over the runtime base: `ca-certificates` | `out` |
//! | `<n>:runtime-libs` | exec, host network, over the runtime base: the listed packages it lacks (a layer the image leaves out when empty) | `out` |
//!
//! A phase's root filesystem is the build base, the packages, the source,
//! the outputs of its store inputs, then the changes of every earlier
//! phase in order: what the phase sees is exactly the earlier phases'
//! work, and its key reads only those layers and its phase file, so
//! editing one phase reruns it and the phases after it only.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::rc::Rc;

use strata_frontend_api::FrontendError;
use strata_frontend_api::graph::{
    BuildGraph, Capture, ExecOp, FetchOp, FileData, HostInput, HostOp, HostOutput, ImageConfig, ImageLayer, ImageSpec,
    LayerOp, LayerRef, Mount, MountSource, Network, OUT, Op, Owner, Vertex,
};
use strata_frontend_api::metadata::{Package as MetaPackage, SourceRef};

use crate::debian;
use crate::eval::EvalError;
use crate::eval::record::{InputTarget, Package};
use crate::phasefile::{STATE_DIR, build_dir, phase_file};
use crate::phases::{Phase, SETUP, check_keywords, phases_of};
use crate::{hostops, sources};

/// What lowering reads besides the package: the user's options.
#[derive(Debug, Clone)]
pub struct Settings {
    pub build_base: String,
    /// `None`: no runtime base (scratch).
    pub base: Option<String>,
    pub system: String,
    pub parallelism: u32,
    pub strict: bool,
    pub mirrors: Vec<String>,
    pub caches: Vec<PathBuf>,
    /// The store's added sources by name (`strata source add`), where a
    /// recursive origin's tarball is also looked for.
    pub added: Option<PathBuf>,
    /// Directories `search-patches` also looks in (`-X patch-path=DIR`).
    pub patch_path: Vec<PathBuf>,
    /// `NAME=PKG,PKG` entries extending the Debian map.
    pub debian: Vec<String>,
    /// `LINK=TARGET` image symlinks, TARGET relative to the `out` output.
    pub symlinks: Vec<String>,
}

/// Where the build-side Scheme is mounted.
pub const SCHEME_DIR: &str = "/strata/guix";
/// Where the phase file is mounted.
pub const PHASE_DIR: &str = "/strata/phase";
/// The output of a phase vertex.
pub const CHANGES: &str = "changes";

const UNCAPTURED: &[&str] = &[
    "var/cache/ldconfig/aux-cache",
    "var/log/alternatives.log",
    "var/log/apt/eipp.log.xz",
    "var/log/apt/history.log",
    "var/log/apt/term.log",
    "var/log/dpkg.log",
    "var/cache/apt/pkgcache.bin",
    "var/cache/apt/srcpkgcache.bin",
];

/// The state of one lowering.
pub struct Lowering {
    pub graph: BuildGraph,
    settings: Settings,
    /// Lowered packages (by address: one definition, one value) and
    /// their outputs' final layers.
    done: Vec<(Rc<Package>, BTreeMap<String, LayerRef>)>,
    /// Each lowered package's list of the Debian packages its outputs'
    /// ELF files need (a `<n>:shlibdeps` output), when there is a runtime
    /// base to install them into.
    needs: Vec<(Rc<Package>, LayerRef)>,
}

fn located(p: &Package, e: EvalError) -> FrontendError {
    let mut e = e;
    if e.file.is_none() {
        e.file = p.file.clone();
    }
    e.into_frontend()
}

fn rel(path: &str) -> String {
    path.trim_start_matches('/').to_string()
}

impl Lowering {
    pub fn new(graph: BuildGraph, settings: Settings) -> Lowering {
        Lowering { graph, settings, done: Vec::new(), needs: Vec::new() }
    }

    fn push(&mut self, id: &str, group: &str, step: &str, description: String, op: Op) {
        let mut v = Vertex::new(id, Some(group), step, op);
        v.description = description;
        self.graph.push(v);
    }

    /// The package's vertices (its store inputs' first); returns its
    /// outputs' final layers.
    pub fn package(&mut self, p: &Rc<Package>) -> Result<BTreeMap<String, LayerRef>, FrontendError> {
        if let Some((_, done)) = self.done.iter().find(|(q, _)| Rc::ptr_eq(q, p)) {
            return Ok(done.clone());
        }
        check_keywords(p).map_err(|e| located(p, e))?;
        let phases = phases_of(p).map_err(|e| located(p, e))?;
        let mut deps: Vec<LayerRef> = Vec::new();
        for i in p.all_inputs() {
            if let InputTarget::Package(dep) = &i.target {
                let outs = self.package(dep)?;
                deps.extend(outs.into_values());
            }
        }
        deps.dedup();
        let mut group = p.name.clone();
        if self.graph.vertices.iter().any(|v| v.group.as_deref() == Some(group.as_str())) {
            group = format!("{}@{}", p.name, &p.hash[..8]);
        }
        let g = group.as_str();

        // The source.
        let mut rootfs = vec![LayerRef::image(&self.settings.build_base)];
        let packages = self.debian_packages(p)?;
        let pk = format!("{g}:packages");
        self.push(
            &pk,
            g,
            "packages",
            format!("install the Debian packages {g} builds with"),
            Op::Exec(apt_op(
                &self.settings.build_base,
                &packages,
                &format!("mkdir -p /gnu/store {STATE_DIR}\n{SH_IS_BASH}"),
            )),
        );
        rootfs.push(LayerRef::output(&pk, OUT));
        let mut source_path = None;
        let mut meta = MetaPackage {
            name: p.name.clone(),
            version: Some(p.version.clone()),
            homepage: p.home_page.clone(),
            ..Default::default()
        };
        if let Some(o) = &p.source {
            let mirrors: Vec<&str> = self.settings.mirrors.iter().map(String::as_str).collect();
            let r = sources::resolve(
                o,
                &mirrors,
                &self.settings.caches,
                self.settings.added.as_deref(),
                (&p.name, &p.version),
            )
            .map_err(|e| located(p, e))?;
            meta.sources.push(SourceRef::of(&r.source));
            let id = format!("{g}:source");
            let op = FetchOp {
                part: g.into(),
                source: r.source,
                prefix: r.prefix.clone(),
                owner: Owner::Root,
                check_subdir: false,
            };
            self.push(&id, g, "source", format!("fetch the source of {g}"), Op::Fetch(op));
            let mut layer = LayerRef::output(&id, OUT);
            if let Some(expected) = &r.nar {
                let (line, col) = o.sha256.as_ref().map_or((o.pos.line, o.pos.col), |(_, p)| (p.line, p.col));
                let file = p.file.as_ref().map_or_else(|| "?".into(), |f| f.display().to_string());
                let verify = format!("{g}:source:verify");
                let op = HostOp {
                    name: hostops::VERIFY_NAR.into(),
                    params: hostops::verify_params(expected, &format!("{file}:{line}:{col}"), r.strip_top),
                    inputs: vec![HostInput { layers: vec![layer], path: r.prefix.clone() }],
                    outputs: vec![HostOutput { name: OUT.into(), prefix: r.prefix.clone() }],
                };
                self.push(&verify, g, "source", format!("check the NAR hash of {g}'s checkout"), Op::Host(op));
                layer = LayerRef::output(&verify, OUT);
            }
            rootfs.push(layer.clone());
            let mut path = r.path;
            if !o.patches.is_empty() || o.snippet.is_some() {
                // Guix's patch-and-repack: patches, then the snippet, over
                // the verified source; the hash stays the original's.
                let files = self.patch_files(p, o)?;
                let fs = vec![LayerRef::image(&self.settings.build_base), LayerRef::output(&pk, OUT), layer];
                let (op, patched) = patch_op(fs, &path, r.nar.is_some(), files, &o.patch_flags, o.snippet.as_ref())
                    .map_err(|m| located(p, EvalError::new(o.pos, m)))?;
                let id = format!("{g}:source:patch");
                let what =
                    if o.snippet.is_some() { "apply the patches and snippet of" } else { "apply the patches of" };
                self.push(&id, g, "source", format!("{what} {g}'s source"), Op::Exec(op));
                rootfs.push(LayerRef::output(&id, OUT));
                path = patched;
            }
            source_path = Some(path);
        }
        let rootfs_deps = deps.clone();
        rootfs.extend(deps);
        self.graph.metadata.groups.insert(g.to_string(), meta);

        // The phases: the leading setup phases as one vertex, then one each.
        let mut units: Vec<Vec<Phase>> = Vec::new();
        let lead = phases.iter().take_while(|ph| ph.code.is_none() && SETUP.contains(&ph.name.as_str())).count();
        if lead > 1 {
            units.push(phases[..lead].to_vec());
        }
        for ph in &phases[if lead > 1 { lead } else { 0 }..] {
            units.push(vec![ph.clone()]);
        }
        // What a phase keeps: its changes to the state and build dirs as
        // one layer, and to each output's store dir as a layer of that
        // output's, so an output is the squash of its own layers only.
        let mut captures = vec![Capture::under(CHANGES, [rel(STATE_DIR), rel(&build_dir(p))])];
        captures.extend(p.outputs.iter().map(|o| Capture::under(&output_changes(o), [rel(&p.output_path(o))])));
        let mut changes: Vec<LayerRef> = Vec::new();
        let mut by_output: BTreeMap<String, Vec<LayerRef>> = BTreeMap::new();
        let mut seen_steps: Vec<String> = Vec::new();
        for unit in &units {
            let step = if unit.len() > 1 { "setup".to_string() } else { unit[0].name.clone() };
            let mut id = format!("{g}:{step}");
            if seen_steps.contains(&step) {
                id = format!("{g}:{step}-{}", seen_steps.iter().filter(|s| **s == step).count() + 1);
            }
            seen_steps.push(step.clone());
            let file = phase_file(p, unit, source_path.as_deref(), &self.settings.system);
            let mut env = vec![
                ("PATH".to_string(), "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".to_string()),
                ("NIX_BUILD_CORES".to_string(), self.settings.parallelism.max(1).to_string()),
            ];
            if self.settings.strict {
                env.push(("STRATA_GUIX_STRICT".into(), "1".into()));
            }
            let mut fs = rootfs.clone();
            fs.extend(changes.iter().cloned());
            let op = ExecOp {
                rootfs: fs,
                mounts: vec![
                    scheme_mount(),
                    Mount {
                        destination: PHASE_DIR.into(),
                        source: MountSource::Dir { seed: vec![], files: vec![FileData::new("phase.scm", 0o644, file)] },
                        read_only: true,
                        capture: None,
                    },
                ],
                argv: vec![
                    "guile".into(),
                    "--no-auto-compile".into(),
                    "-L".into(),
                    SCHEME_DIR.into(),
                    format!("{SCHEME_DIR}/strata/run-phase.scm"),
                    format!("{PHASE_DIR}/phase.scm"),
                ],
                env,
                network: Network::None,
                capture: captures.clone(),
                ..Default::default()
            };
            let names: Vec<&str> = unit.iter().map(|ph| ph.name.as_str()).collect();
            self.push(&id, g, &step, format!("{g}: phase {}", names.join(", ")), Op::Exec(op));
            changes.push(LayerRef::output(&id, CHANGES));
            for o in &p.outputs {
                let layer = LayerRef::output(&id, &output_changes(o));
                changes.push(layer.clone());
                by_output.entry(o.clone()).or_default().push(layer);
            }
        }

        // The outputs, each its own layer: the squash of its phases' layers.
        let mut outs = BTreeMap::new();
        for o in &p.outputs {
            let id = format!("{g}:output:{o}");
            let op = LayerOp::Squash { inputs: by_output.remove(o).unwrap_or_default() };
            self.push(&id, g, "outputs", format!("{g}: output {o} at {}", p.output_path(o)), Op::Layer(op));
            outs.insert(o.clone(), LayerRef::output(&id, OUT));
        }
        if self.settings.base.is_some() {
            // shlibdeps sees the outputs' ELF files only, so its key changes
            // only when they do.
            let elf = format!("{g}:elf-files");
            let op = HostOp {
                name: hostops::ELF_FILES.into(),
                params: serde_json::json!({}),
                inputs: vec![HostInput { layers: outs.values().cloned().collect(), path: String::new() }],
                outputs: vec![HostOutput { name: OUT.into(), prefix: String::new() }],
            };
            self.push(&elf, g, "shlibdeps", format!("{g}: its outputs' ELF files"), Op::Host(op));
            let mut fs = vec![LayerRef::image(&self.settings.build_base), LayerRef::output(&pk, OUT)];
            fs.extend(rootfs_deps);
            fs.push(LayerRef::output(&elf, OUT));
            let dirs = p.outputs.iter().map(|o| p.output_path(o)).collect();
            let id = format!("{g}:shlibdeps");
            self.push(
                &id,
                g,
                "shlibdeps",
                format!("{g}: the Debian libraries its outputs need"),
                Op::Exec(shlibdeps_op(fs, g, dirs)),
            );
            self.needs.push((p.clone(), LayerRef::output(&id, OUT)));
        }
        self.done.push((p.clone(), outs.clone()));
        Ok(outs)
    }

    /// The files of `o`'s patches, in order, found as `search-patches`
    /// would find them in Guix's tree: beside the definition, in its
    /// `patches/` directory, or in a `-X patch-path=DIR`.
    fn patch_files(&self, p: &Package, o: &crate::eval::record::Origin) -> Result<Vec<FileData>, FrontendError> {
        let dir = p.file.as_ref().and_then(|f| f.parent()).map(PathBuf::from).unwrap_or_else(|| PathBuf::from("."));
        let mut dirs = vec![dir.clone(), dir.join("patches")];
        dirs.extend(self.settings.patch_path.iter().cloned());
        let pos = o.patches_pos.unwrap_or(o.pos);
        let mut files = Vec::new();
        for (i, name) in o.patches.iter().enumerate() {
            let found = dirs.iter().map(|d| d.join(name)).find(|f| f.is_file()).ok_or_else(|| {
                let looked: Vec<String> = dirs.iter().map(|d| d.display().to_string()).collect();
                located(
                    p,
                    EvalError::new(pos, format!("patch '{name}' not found (looked in {})", looked.join(", ")))
                        .hint("put it beside the definition or in its patches/ directory, or give -X patch-path=DIR"),
                )
            })?;
            let bytes = std::fs::read(&found)
                .map_err(|e| located(p, EvalError::new(pos, format!("cannot read patch {}: {e}", found.display()))))?;
            files.push(FileData::new(format!("{:02}-{name}", i + 1), 0o644, bytes));
        }
        Ok(files)
    }

    /// The Debian packages `p`'s build container needs, sorted.
    fn debian_packages(&self, p: &Package) -> Result<Vec<String>, FrontendError> {
        let user: Vec<&str> = self.settings.debian.iter().map(String::as_str).collect();
        let mut v: Vec<String> = debian::base_packages(&p.build_system).into_iter().map(str::to_string).collect();
        for i in p.all_inputs() {
            if let InputTarget::External(name) = &i.target {
                let pkgs = debian::packages_for(name, &user).ok_or_else(|| {
                    located(
                        p,
                        EvalError::new(i.pos, format!("input '{name}' is not defined in these files and has no Debian equivalent in strata's table"))
                            .hint(format!("define it in a .scm file of this directory, or map it: -X debian={name}=DEBIAN-PACKAGE[,…]")),
                    )
                })?;
                v.extend(pkgs);
            }
        }
        v.sort();
        v.dedup();
        Ok(v)
    }

    /// The image: the runtime base, then the package's outputs and those
    /// of its store inputs (each a layer), `PATH` through its `bin`s.
    pub fn image(&mut self, p: &Rc<Package>, outs: &BTreeMap<String, LayerRef>) {
        let mut layers = Vec::new();
        if let Some(base) = self.settings.base.clone() {
            // Guix's images have no CA certificates; these do.
            let id = format!("{}:runtime", p.name);
            let op = apt_op(&base, &["ca-certificates".to_string()], "");
            self.push(&id, &p.name, "runtime", format!("{}: the runtime base's CA certificates", p.name), Op::Exec(op));
            layers.push(ImageLayer {
                layer: LayerRef::output(&id, OUT),
                created_by: "apt-get install ca-certificates".into(),
                comment: None,
                omit_if_empty: false,
            });
        }
        let mut closure: Vec<Rc<Package>> = Vec::new();
        collect_runtime(p, &mut closure);
        if let Some(base) = self.settings.base.clone() {
            // The Debian libraries the outputs in the image need, as
            // dpkg-shlibdeps finds them, over the runtime base.
            let lists: Vec<LayerRef> = closure
                .iter()
                .rev()
                .chain(std::iter::once(p))
                .filter_map(|q| self.needs.iter().find(|(r, _)| Rc::ptr_eq(q, r)).map(|(_, l)| l.clone()))
                .collect();
            let id = format!("{}:runtime-libs", p.name);
            let op = runtime_libs_op(&base, &layers, lists);
            self.push(
                &id,
                &p.name,
                "runtime",
                format!("{}: the Debian libraries its outputs need, over the runtime base", p.name),
                Op::Exec(op),
            );
            layers.push(ImageLayer {
                layer: LayerRef::output(&id, OUT),
                created_by: "strata: the Debian libraries the Guix outputs need (dpkg-shlibdeps)".into(),
                comment: None,
                omit_if_empty: true,
            });
        }
        for dep in closure.iter().rev() {
            if let Some((_, d)) = self.done.iter().find(|(q, _)| Rc::ptr_eq(q, dep)) {
                for (o, l) in d {
                    layers.push(ImageLayer {
                        layer: l.clone(),
                        created_by: format!("guix: {} output {o}", dep.name),
                        comment: Some(dep.output_path(o)),
                        omit_if_empty: false,
                    });
                }
            }
        }
        for (o, l) in outs {
            layers.push(ImageLayer {
                layer: l.clone(),
                created_by: format!("guix: {} output {o}", p.name),
                comment: Some(p.output_path(o)),
                omit_if_empty: false,
            });
        }
        if !self.settings.symlinks.is_empty() {
            let mut links = Vec::new();
            for spec in &self.settings.symlinks {
                let (link, target) = spec.split_once('=').unwrap_or((spec, ""));
                let target = format!("{}/{}", p.output_path("out"), target.trim_start_matches('/'));
                links.push(serde_json::json!([link, target.trim_end_matches('/')]));
            }
            let id = format!("{}:symlinks", p.name);
            let op = HostOp {
                name: hostops::SYMLINKS.into(),
                params: serde_json::json!({ "links": links }),
                inputs: vec![],
                outputs: vec![HostOutput { name: OUT.into(), prefix: String::new() }],
            };
            self.push(&id, &p.name, "image", format!("{}: the image's symlinks", p.name), Op::Host(op));
            layers.push(ImageLayer {
                layer: LayerRef::output(&id, OUT),
                created_by: format!("guix: symlinks {}", self.settings.symlinks.join(" ")),
                comment: None,
                omit_if_empty: false,
            });
        }
        let mut path: Vec<String> =
            vec![format!("{}/bin", p.output_path("out")), format!("{}/sbin", p.output_path("out"))];
        path.extend(
            ["/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"].map(str::to_string),
        );
        let mut labels = BTreeMap::new();
        labels.insert("org.opencontainers.image.title".to_string(), p.name.clone());
        labels.insert("org.opencontainers.image.version".to_string(), p.version.clone());
        if let Some(h) = &p.home_page {
            labels.insert("org.opencontainers.image.url".to_string(), h.clone());
        }
        let config = ImageConfig { env: vec![("PATH".into(), path.join(":"))], labels, ..Default::default() };
        self.graph.metadata.project = self.graph.metadata.groups.values().find(|m| m.name == p.name).cloned();
        self.graph.image = Some(ImageSpec {
            base: self.settings.base.clone(),
            layers,
            name: p.name.clone(),
            config,
            annotations: BTreeMap::new(),
            version: None,
            vcs: false,
        });
    }
}

/// The store packages `p` needs at run time (its inputs and propagated
/// inputs, transitively; native inputs are build tools), dependencies last.
fn collect_runtime(p: &Package, out: &mut Vec<Rc<Package>>) {
    for i in p.inputs.iter().chain(&p.propagated_inputs) {
        if let InputTarget::Package(d) = &i.target
            && !out.iter().any(|x| Rc::ptr_eq(x, d))
        {
            out.push(d.clone());
            collect_runtime(d, out);
        }
    }
}

/// Guix's `sh` is bash (the build environment's `/bin/sh` and the `bash`
/// input's `bin/sh`); Debian's is dash. Phases that run `sh`, or a path
/// found by `(search-input-file inputs "/bin/sh")`, get bash in its POSIX
/// mode, as under Guix: dash differs where tests look (it reports a child
/// killed by a signal on stderr; m4's `198.sysval` check fails on that).
const SH_IS_BASH: &str = "ln -sf bash /bin/sh\n";

/// Where the patch vertex finds the patches and the snippet.
const PATCH_DIR: &str = "/strata/patches";
const SNIPPET_DIR: &str = "/strata/snippet";

/// The exec op applying `patches` (with `flags`) and then `snippet` to the
/// source at `source` (a tarball or a checkout directory), as Guix's
/// patch-and-repack does: a directory is patched where it is; a tarball is
/// unpacked, patched and repacked deterministically as `STEM.tar.xz`
/// beside it (the original is removed). Returns the op and the patched
/// source's path.
fn patch_op(
    rootfs: Vec<LayerRef>,
    source: &str,
    is_dir: bool,
    patches: Vec<FileData>,
    flags: &[String],
    snippet: Option<&crate::datum::Datum>,
) -> Result<(ExecOp, String), String> {
    let name = source.rsplit('/').next().unwrap_or(source);
    let tarball = if is_dir {
        None
    } else {
        let stem = [".tar.gz", ".tgz", ".tar.xz", ".tar.bz2", ".tar.zst", ".tar.lz", ".tar"]
            .iter()
            .find_map(|ext| name.strip_suffix(ext));
        Some(stem.ok_or_else(|| format!("patches and snippets apply to a tarball or a checkout; {name} is neither"))?)
    };
    let patched = match tarball {
        Some(stem) => format!("/{}/{stem}.tar.xz", crate::sources::SOURCE_DIR),
        None => source.to_string(),
    };
    let quote = |s: &str| format!("'{}'", s.replace('\'', "'\\''"));
    let flags: Vec<String> = flags.iter().map(|f| quote(f)).collect();
    let mut script = String::from("set -euo pipefail\n");
    if tarball.is_some() {
        script.push_str(&format!(
            "work=$(mktemp -d)\ncd \"$work\"\ntar xf {src}\nset -- *\n[ $# = 1 ] && [ -d \"$1\" ] || {{ echo \"the source does not unpack to one directory: $*\" >&2; exit 1; }}\ntop=$1\ncd \"$top\"\n",
            src = quote(source)
        ));
    } else {
        script.push_str(&format!("cd {}\n", quote(source)));
    }
    script.push_str(&format!(
        "for p in {PATCH_DIR}/*; do\n  [ -f \"$p\" ] || continue\n  echo \"applying '${{p#{PATCH_DIR}/??-}}'...\"\n  patch --force --no-backup-if-mismatch {} --input \"$p\"\ndone\n",
        flags.join(" ")
    ));
    if snippet.is_some() {
        script.push_str(&format!(
            "guile --no-auto-compile -L {SCHEME_DIR} -c '(use-modules (guix build utils) (ice-9 match) (srfi srfi-1) (srfi srfi-26)) (primitive-load \"{SNIPPET_DIR}/snippet.scm\")'\n"
        ));
    }
    if tarball.is_some() {
        // As Guix repacks: sorted names, one date, root's owner.
        script.push_str(&format!(
            "cd \"$work\"\nrm -f {src}\ntar --sort=name --mtime=@1 --owner=root:0 --group=root:0 --numeric-owner --format=gnu -cf - \"$top\" | xz -T1 > {dst}.part\nmv {dst}.part {dst}\nrm -rf \"$work\"\n",
            src = quote(source),
            dst = quote(&patched)
        ));
    }
    let mut mounts = vec![
        scheme_mount(),
        Mount {
            destination: PATCH_DIR.into(),
            source: MountSource::Dir { seed: vec![], files: patches },
            read_only: true,
            capture: None,
        },
    ];
    if let Some(code) = snippet {
        mounts.push(Mount {
            destination: SNIPPET_DIR.into(),
            source: MountSource::Dir {
                seed: vec![],
                files: vec![FileData::new("snippet.scm", 0o644, format!("{code}\n").into_bytes())],
            },
            read_only: true,
            capture: None,
        });
    }
    let op = ExecOp {
        rootfs,
        mounts,
        argv: vec!["/bin/bash".into(), "-c".into(), script],
        env: vec![("PATH".into(), "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into())],
        network: Network::None,
        capture: vec![Capture::under(OUT, [crate::sources::SOURCE_DIR])],
        ..Default::default()
    };
    Ok((op, patched))
}

/// The name of the layer of a phase's changes to output `o`'s store dir.
fn output_changes(o: &str) -> String {
    format!("output:{o}")
}

/// Where the shlibdeps vertices write their lists, and where the
/// runtime-libs vertex mounts them.
const NEEDS_DIR: &str = "strata/shlibdeps";
const NEEDS_MOUNT: &str = "/strata/needs";

/// The exec op listing the Debian packages of the libraries the ELF files
/// under `dirs` need (`strata/bin/shlibdeps`), into `strata/shlibdeps/<g>`.
fn shlibdeps_op(rootfs: Vec<LayerRef>, g: &str, dirs: Vec<String>) -> ExecOp {
    let list = format!("/{NEEDS_DIR}/{}", g.replace('/', "_"));
    let script = format!(
        "set -e\nmkdir -p /{NEEDS_DIR}\n{SCHEME_DIR}/strata/bin/shlibdeps \"$@\" > '{list}'\nsed 's/^/needs /' '{list}'\n"
    );
    let mut argv = vec!["/bin/bash".into(), "-c".into(), script, "shlibdeps".into()];
    argv.extend(dirs);
    ExecOp {
        rootfs,
        mounts: vec![scheme_mount()],
        argv,
        network: Network::None,
        capture: vec![Capture::under(OUT, [NEEDS_DIR])],
        ..Default::default()
    }
}

/// The exec op installing, over the runtime base and the layers below,
/// the packages of the shlibdeps `lists` the base does not have; with
/// none missing it changes nothing (and the image leaves the layer out).
fn runtime_libs_op(base: &str, below: &[ImageLayer], lists: Vec<LayerRef>) -> ExecOp {
    let script = format!(
        "set -e\nneed=\nfor p in $(cat {NEEDS_MOUNT}/{NEEDS_DIR}/* 2>/dev/null | sort -u); do\n  \
         dpkg-query -W -f='${{db:Status-Status}}\\n' \"$p\" 2>/dev/null | grep -qx installed || need=\"$need $p\"\n\
         done\n[ -n \"$need\" ] || exit 0\necho \"installing$need\"\n\
         export DEBIAN_FRONTEND=noninteractive\napt-get update\napt-get install -y --no-install-recommends $need\n\
         rm -rf /var/lib/apt/lists/*\n"
    );
    let mut rootfs = vec![LayerRef::image(base)];
    rootfs.extend(below.iter().map(|l| l.layer.clone()));
    ExecOp {
        rootfs,
        mounts: vec![Mount {
            destination: NEEDS_MOUNT.into(),
            source: MountSource::Layers(lists),
            read_only: true,
            capture: None,
        }],
        argv: vec!["/bin/sh".into(), "-c".into(), script],
        network: Network::Host,
        capture: vec![apt_capture()],
        ..Default::default()
    }
}

/// The exec op installing `packages` over the build base.
/// `then` runs after the installation.
fn apt_op(build_base: &str, packages: &[String], then: &str) -> ExecOp {
    let script = format!(
        "set -e\nexport DEBIAN_FRONTEND=noninteractive\napt-get update\napt-get install -y --no-install-recommends {}\nrm -rf /var/lib/apt/lists/*\n{then}",
        packages.join(" ")
    );
    ExecOp {
        rootfs: vec![LayerRef::image(build_base)],
        argv: vec!["/bin/sh".into(), "-c".into(), script],
        network: Network::Host,
        capture: vec![apt_capture()],
        ..Default::default()
    }
}

/// What an apt run over a base yields: every change but apt's and dpkg's
/// logs and caches.
fn apt_capture() -> Capture {
    Capture { output: OUT.into(), paths: Vec::new(), drop: UNCAPTURED.iter().map(|s| s.to_string()).collect() }
}

/// The build-side Scheme and its programs, read-only at [`SCHEME_DIR`].
fn scheme_mount() -> Mount {
    Mount {
        destination: SCHEME_DIR.into(),
        source: MountSource::Dir { seed: vec![], files: scheme_files() },
        read_only: true,
        capture: None,
    }
}

/// The build-side Scheme, as files of the `/strata/guix` mount (the
/// programs of `strata/bin` executable).
pub fn scheme_files() -> Vec<FileData> {
    crate::scheme::FILES
        .iter()
        .map(|(path, bytes)| {
            let mode = if path.starts_with("strata/bin/") { 0o755 } else { 0o644 };
            FileData::new(*path, mode, bytes.to_vec())
        })
        .collect()
}
