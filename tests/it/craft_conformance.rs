//! The craft-parts conformance cases recorded with craft-parts 2.37.2
//! (`frontends/craft/tests/fixtures/conformance/`), built through the very
//! graph and solver `strata build` uses: the craft frontend lowers the
//! case, resolve pins it, the solver runs every fetch, layer op and host op
//! (organize, stage, prime, the conflict check, pack's relocation) for
//! real, and only the processes are emulated — by [`Emulator`], a worker
//! that answers each exec op with the tree craft-parts recorded for it
//! instead of starting a container. The image's primed files are then
//! compared with what craft-parts primed: paths, types, modes, owners and
//! contents.
//!
//! No root and no containers are needed: the emulator writes its layers
//! from trees, the base is a one-file image imported into a fresh store.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use strata::build::{BuildOptions, Built};
use strata::executor::Cancel;
use strata::layer::{Compression, IdMode, LayerInfo, WriteOptions};
use strata::progress::{Event, Progress};
use strata::store::Store;
use strata::vertex::hostfs::{self, FilesByContent};
use strata::worker::{ExecJob, Outputs, Worker};
use strata_frontend_api::graph::MountSource;
use strata_frontend_api::tree::{Entry, EntryKind, Tree};

fn case_dir(case: &str) -> PathBuf {
    support::repo().join("frontends/craft/tests/fixtures/conformance").join(case)
}

fn read(case: &str, file: &str) -> String {
    std::fs::read_to_string(case_dir(case).join(file)).unwrap()
}

fn expected_lines(case: &str, file: &str) -> Vec<String> {
    read(case, file).lines().map(str::to_string).collect()
}

/// A recorded listing (`TYPE MODE PATH [-> TARGET | CONTENT-ID]`) placed
/// under `prefix`, as a layer holds it.
fn listing_under(case: &str, file: &str, prefix: &str) -> Tree {
    let listed = Tree::parse_listing(&read(case, file)).unwrap();
    let mut tree = Tree::new();
    for (p, e) in listed.iter() {
        tree.insert_with_parents(&format!("{prefix}/{p}"), e.clone(), 0o755);
    }
    tree
}

/// The bytes the emulator writes for a recorded content id, and back: a
/// listing knows a file only by (a prefix of) its sha256, so its file
/// holds the id itself and the comparison reads the id out again.
const SYNTHETIC: &str = "synthetic content ";

fn content_id(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes).ok().and_then(|s| s.strip_prefix(SYNTHETIC)) {
        Some(id) => id.trim_end().to_string(),
        None => {
            use sha2::Digest as _;
            format!("sha256:{}", &hex::encode(sha2::Sha256::digest(bytes))[..16])
        }
    }
}

/// A worker that runs no process: each exec op's outputs are trees, either
/// given by the test for that vertex and output, or what the op's shape
/// says a process would leave:
/// - a captured `Dir` mount (craftctl's variables) keeps its seed;
/// - an `override-stage`/`override-prime` step (a read-only `Layers` mount
///   of the default migration, capturing one directory) does
///   `craftctl default`: the migration, placed in that directory.
///
/// Anything else is an error naming the vertex, so a lowering change that
/// adds a process shows up here rather than passing unnoticed.
struct Emulator<'s> {
    store: &'s Store,
    given: BTreeMap<(String, String), (Tree, FilesByContent)>,
}

impl<'s> Emulator<'s> {
    fn new(store: &'s Store) -> Self {
        Emulator { store, given: BTreeMap::new() }
    }

    /// Output `output` of `vertex` is `tree` (paths as the layer holds
    /// them; files with synthetic contents).
    fn gives(self, vertex: &str, output: &str, tree: Tree) -> Self {
        self.gives_files(vertex, output, (tree, FilesByContent::new()))
    }

    /// [`Emulator::gives`] with real bytes for some of the tree's files.
    fn gives_files(mut self, vertex: &str, output: &str, tree: (Tree, FilesByContent)) -> Self {
        self.given.insert((vertex.to_string(), output.to_string()), tree);
        self
    }

    fn tree_of(&self, layers: &[LayerInfo]) -> (Tree, FilesByContent) {
        let mut tree = Tree::new();
        let mut files = FilesByContent::new();
        for l in layers {
            let snap = strata::snapshot::snapshot(self.store, l).unwrap();
            let (t, f) = hostfs::read_tree_with_whiteouts(&snap).unwrap();
            for (p, e) in t.iter() {
                tree.insert(p, e.clone());
            }
            files.extend(f);
        }
        (tree, files)
    }

    fn emulate(&self, job: &ExecJob<'_>, output: &str) -> Result<(Tree, FilesByContent), String> {
        if let Some(t) = self.given.get(&(job.vertex.to_string(), output.to_string())) {
            return Ok(t.clone());
        }
        let mounts = job.op.mounts.iter().zip(&job.mount_layers);
        for (m, layers) in mounts.clone() {
            if let (MountSource::Dir { .. }, Some(c)) = (&m.source, &m.capture)
                && c.output == output
            {
                return Ok(self.tree_of(layers));
            }
        }
        let capture = job.op.capture.iter().find(|c| c.output == output);
        let migration = mounts
            .filter(|(m, _)| m.read_only && matches!(m.source, MountSource::Layers(_)))
            .map(|(_, layers)| layers)
            .next();
        if let (Some(layers), Some([target])) = (migration, capture.map(|c| c.paths.as_slice())) {
            let (default, files) = self.tree_of(layers);
            let mut tree = Tree::new();
            for (p, e) in default.iter() {
                tree.insert_with_parents(&format!("{target}/{p}"), e.clone(), 0o755);
            }
            return Ok((tree, files));
        }
        Err(format!("the emulator has no outputs for {} ({output}): give them with Emulator::gives", job.vertex))
    }

    /// `tree` as a layer: files from `files` where it has them, else the
    /// synthetic bytes of their content id.
    fn layer(&self, tree: &Tree, files: &FilesByContent, epoch: i64) -> LayerInfo {
        let dir = tempfile::tempdir().unwrap();
        let mut sources = files.clone();
        for (n, (_, e)) in tree.iter().enumerate() {
            if let EntryKind::File { content } = &e.kind
                && !sources.contains_key(content)
            {
                let path = dir.path().join(format!("content-{n}"));
                std::fs::write(&path, format!("{SYNTHETIC}{content}\n")).unwrap();
                sources.insert(content.clone(), path);
            }
        }
        let root = dir.path().join("root");
        let paths: Vec<String> = tree.paths().map(str::to_string).collect();
        hostfs::materialize(tree, &paths, &sources, &root).unwrap();
        let opts = WriteOptions { ids: IdMode::Root, ..WriteOptions::new(Compression::Gzip, epoch) };
        strata::layer::write_blob(self.store, Compression::Gzip, |w| strata::layer::write_tree(&root, &opts, w))
            .unwrap()
    }
}

impl Worker for Emulator<'_> {
    fn name(&self) -> &str {
        "emulator"
    }

    fn exec(&self, job: &ExecJob<'_>, _: &Cancel) -> strata::Result<Outputs> {
        let mut outputs = Outputs::new();
        for output in job.op.outputs() {
            let (tree, files) = self
                .emulate(job, &output)
                .map_err(|m| strata::executor::ExecError::InvalidStep { step: job.vertex.to_string(), reason: m })?;
            outputs.insert(output.clone(), self.layer(&tree, &files, job.epoch));
        }
        Ok(outputs)
    }
}

struct Quiet;

impl Progress for Quiet {
    fn event(&mut self, _: &Event) {}
}

/// A fresh store whose `debian:bookworm` (the cases' build base and base)
/// is a one-file image: the cases stage no packages, so nothing reads it.
fn store(dir: &Path) -> Store {
    let store = Store::open(dir.join("store")).unwrap();
    let rootfs = dir.join("rootfs.tar");
    let mut b = tar::Builder::new(std::fs::File::create(&rootfs).unwrap());
    let mut h = tar::Header::new_gnu();
    let os_release = b"ID=debian\nVERSION_ID=\"12\"\n";
    h.set_size(os_release.len() as u64);
    h.set_mode(0o644);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(0);
    h.set_entry_type(tar::EntryType::Regular);
    b.append_data(&mut h, "etc/os-release", &os_release[..]).unwrap();
    b.into_inner().unwrap();
    let src = strata::import::ImportSource::RootfsTar { path: rootfs };
    let desc = strata::import::import(&store, &src, &Default::default()).unwrap();
    store.set_ref("debian:bookworm", &desc).unwrap();
    store
}

fn build(case: &str, store: &Store, worker: &Emulator<'_>) -> Built {
    let opts = BuildOptions { jobs: 2, ..Default::default() };
    strata::build::build_with(store, worker, &case_dir(case), &opts, &mut Quiet)
        .unwrap_or_else(|e| panic!("{case}: {e}"))
}

/// The tree of the layer `vertex` yielded.
fn layer_tree(store: &Store, built: &Built, vertex: &str) -> (Tree, FilesByContent) {
    let layer = built.layers.iter().find(|(v, _)| v == vertex).map(|(_, l)| l.clone());
    let snap = strata::snapshot::snapshot(store, &layer.unwrap_or_else(|| panic!("{vertex} yielded nothing"))).unwrap();
    hostfs::read_tree_with_whiteouts(&snap).unwrap()
}

/// The primed tree: what `pack:prime` put on top of the base.
fn primed(store: &Store, built: &Built) -> (Tree, FilesByContent) {
    layer_tree(store, built, "pack:prime")
}

/// What `part`'s stage step added to the stage.
fn staged(store: &Store, built: &Built, part: &str) -> Tree {
    let (tree, _) = layer_tree(store, built, &format!("{part}:stage"));
    let mut stage = Tree::new();
    for (p, e) in tree.iter() {
        if let Some(rel) = p.strip_prefix("root/stage/") {
            stage.insert(rel, e.clone());
        }
    }
    stage
}

/// `expected-prime-detail.txt`'s format: mode, uid:gid, path, and the
/// sha256 prefix of a file or the target of a symlink, sorted by path.
fn detail(prime: &Tree, files: &FilesByContent) -> Vec<String> {
    let mut lines = vec![("prime".to_string(), "drwxr-xr-x 0:0 prime".to_string())];
    for (p, e) in prime.iter() {
        let extra = match &e.kind {
            EntryKind::Dir => String::new(),
            EntryKind::File { content } => format!(" {}", content_id(&std::fs::read(&files[content]).unwrap())),
            EntryKind::Symlink { target } => format!(" -> {target}"),
        };
        lines.push((format!("prime/{p}"), format!("{} {}:{} prime/{p}{extra}", e.mode_string(), e.uid, e.gid)));
    }
    lines.sort();
    lines.into_iter().map(|(_, l)| l).collect()
}

#[test]
fn dump_filesets_primes_what_craft_parts_primes() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path());
    // The dump plugin copies the source into the install dir.
    let install = listing_under("dump-filesets", "source-tree.txt", "root/parts/files/install");
    let worker = Emulator::new(&store).gives("files:build", "out", install);
    let built = build("dump-filesets", &store, &worker);
    let (prime, files) = primed(&store, &built);
    assert_eq!(prime.find_listing("prime", 0o755), expected_lines("dump-filesets", "expected-prime.txt"));
    assert_eq!(detail(&prime, &files), expected_lines("dump-filesets", "expected-prime-detail.txt"));
    assert!(staged(&store, &built, "files").contains("include/foo.h"));
    assert!(!prime.contains("include"), "staged, then excluded from prime");
    // The organize of this case empties bin/ and lib/; strata drops them
    // (craft-parts keeps them, but this case's stage fileset leaves them out).
    let (organized, _) = layer_tree(&store, &built, "files:build:organize");
    assert!(organized.contains("root/parts/files/install/usr/bin/hello"));
    assert!(!organized.contains("root/parts/files/install/bin"));
}

#[test]
fn after_scriptlets_primes_what_craft_parts_primes() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path());
    let z_lib = listing_under("after-scriptlets", "z-lib-source-tree.txt", "root/parts/z-lib/install");
    let a_app = listing_under("after-scriptlets", "a-app-install-tree.txt", "root/parts/a-app/install");
    // a-app's override-build ends with `craftctl set version=1.2.3-rc1`
    // (expected-project-vars.txt): the variable its vars output carries.
    let value = dir.path().join("version");
    std::fs::write(&value, "1.2.3-rc1").unwrap();
    let mut vars = Tree::new();
    vars.insert_with_parents("vars/version", Entry::file(0o644, "version"), 0o755);
    let vars = (vars, FilesByContent::from([("version".to_string(), value)]));
    let worker = Emulator::new(&store)
        .gives("z-lib:build", "out", z_lib)
        .gives("a-app:build", "out", a_app)
        .gives_files("a-app:build", "vars", vars);
    let built = build("after-scriptlets", &store, &worker);
    assert!(read("after-scriptlets", "expected-project-vars.txt").contains("1.2.3-rc1"));
    // The variable went along a-app's later steps to the image.
    assert_eq!(built.version.as_deref(), Some("1.2.3-rc1"));
    let (mut prime, mut files) = primed(&store, &built);
    // a-app's override-prime writes VERSION straight into the prime:
    // "$(craftctl get version) $GREETING step=$CRAFT_STEP_NAME".
    let version = dir.path().join("VERSION");
    std::fs::write(&version, format!("{SYNTHETIC}sha256:48c8cba2d069ee2a\n")).unwrap();
    prime.insert("VERSION", Entry::file(0o644, "VERSION"));
    files.insert("VERSION".into(), version);
    assert_eq!(prime.find_listing("prime", 0o755), expected_lines("after-scriptlets", "expected-prime.txt"));
    assert_eq!(detail(&prime, &files), expected_lines("after-scriptlets", "expected-prime-detail.txt"));
    let z_lib = staged(&store, &built, "z-lib");
    assert!(z_lib.contains("usr/share/lib/message.txt"));
    assert!(!z_lib.contains("usr/share/lib/VERSION_SUFFIX"), "z-lib's stage excludes it");
}

#[test]
fn make_c_primes_what_craft_parts_primes() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path());
    let install = listing_under("make-c", "install-tree.txt", "root/parts/hello/install");
    let worker =
        Emulator::new(&store).gives("hello:build-packages", "out", Tree::new()).gives("hello:build", "out", install);
    let built = build("make-c", &store, &worker);
    let (prime, files) = primed(&store, &built);
    assert_eq!(prime.find_listing("prime", 0o755), expected_lines("make-c", "expected-prime.txt"));
    assert_eq!(detail(&prime, &files), expected_lines("make-c", "expected-prime-detail.txt"));
    let stage = staged(&store, &built, "hello");
    assert!(stage.contains("usr/include/greet.h"), "staged; prime's explicit includes leave it out");
    assert!(!prime.contains("usr/include/greet.h"));
    assert!(!stage.contains("usr/lib/libgreet.a"), "stage excludes usr/lib/*.a");
}

/// Two usrmerged parts (`enable-usrmerge`, what every part but dump and nil
/// of a Debian rock gets): organize through the scaffolding's links, the
/// same links staged by both parts without a conflict, and the directories
/// the links lead to kept when organize empties them.
#[test]
fn usrmerge_primes_what_craft_parts_primes() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path());
    let tool = listing_under("usrmerge", "tool-install-tree.txt", "root/parts/tool/install");
    let merged = listing_under("usrmerge", "enable-usrmerge-install-tree.txt", "root/parts/enable-usrmerge/install");
    let worker = Emulator::new(&store).gives("tool:build", "out", tool).gives("enable-usrmerge:build", "out", merged);
    let built = build("usrmerge", &store, &worker);
    let (prime, files) = primed(&store, &built);
    assert_eq!(prime.find_listing("prime", 0o755), expected_lines("usrmerge", "expected-prime.txt"));
    assert_eq!(detail(&prime, &files), expected_lines("usrmerge", "expected-prime-detail.txt"));
    for part in ["tool", "enable-usrmerge"] {
        assert!(staged(&store, &built, part).is_symlink("bin"), "{part} stages bin -> usr/bin");
    }
}

use crate::support;
