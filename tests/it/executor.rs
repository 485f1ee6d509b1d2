//! The executor conformance suite (DESIGN.md §7): one table of steps, run on
//! every backend, each giving a layer whose entries are checked exactly.
//!
//! - [`cases`] is the table: a name, a closure making the [`StepSpec`] over
//!   an [`Env`]'s base layers (busybox plus a fixture layer strata writes
//!   itself, see [`fixture_tree`]), and what must come out ([`Expect`]).
//! - [`run_case`] runs one case on any `&dyn Executor` and checks it: the
//!   layer listing for steps that succeed, the exit code and log tail for a
//!   failing step, the error and how fast it came for a timeout or a
//!   cancellation. [`assert_clean`] then checks nothing is left behind.
//! - The runc backend runs every case in each snapshot mode (overlay twice,
//!   fuse-overlayfs where installed, copy) and requires one layer digest for
//!   overlay and copy (fuse-overlayfs: the same entries, but directory
//!   mtimes may differ, see `snapshot::rootfs`). Another backend adds one test per case the same way and
//!   compares its digests with runc's:
//!
//! ```ignore
//! let env = Env::new();
//! let out = run_case(&DockerExecutor::new()?, &env, &case(name));
//! let runc = run_case(&RuncExecutor::new(), &Env::new(), &case(name));
//! assert_eq!(out.layer, runc.layer);
//! ```
//!
//! Everything needs root and runc: under `CI=true` a missing one fails.

use std::fs;
use std::io::Read;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use strata::executor::{Cancel, ExecError, Executor, Mount, Network, PrefixedLog, RuncExecutor, StepSpec};
use strata::image::{Image, Platform};
use strata::layer::{Compression, IdMode, LayerInfo, OutputOptions, WriteOptions, write_layer};
use strata::snapshot::{self, SnapshotMode};
use strata::store::Store;

use crate::support::*;

/// `SOURCE_DATE_EPOCH` of every captured layer (busybox's own).
pub const EPOCH: i64 = 1_700_000_000;

/// Layers are captured uncompressed: their digest is then their diff_id,
/// which is what conformance is about (the compressors are pinned by the
/// layer module's own tests), and a debug build does not spend a minute
/// gzipping the 100 MB case.
pub const CAPTURE: Compression = Compression::None;

/// A fresh store holding the base layers.
pub struct Env {
    /// Holds the store and the host dir.
    _dir: tempfile::TempDir,
    pub store: Store,
    /// busybox's layers, then the fixture layer.
    pub base: Vec<LayerInfo>,
    /// A host directory with a file `in`, for bind mounts.
    pub host_dir: PathBuf,
}

/// The base blobs, built once per test binary and kept in memory.
fn base_blobs() -> &'static [(LayerInfo, Vec<u8>)] {
    static BLOBS: OnceLock<Vec<(LayerInfo, Vec<u8>)>> = OnceLock::new();
    BLOBS.get_or_init(|| {
        let s = Strata::new();
        s.busybox();
        let store = Store::open(s.store()).unwrap();
        let image = Image::load_ref(&store, "busybox:latest", &Platform::host()).unwrap();
        let mut out = Vec::new();
        for (desc, diff_id) in image.layers() {
            let info = LayerInfo {
                digest: desc.digest().clone(),
                diff_id: diff_id.parse().unwrap(),
                size: desc.size(),
                compression: Compression::from_media_type(desc.media_type()).unwrap(),
            };
            out.push((info, store.read_blob(desc.digest()).unwrap()));
        }
        let tree = tempfile::tempdir().unwrap();
        fixture_tree(tree.path());
        let mut bytes = Vec::new();
        let opts = WriteOptions { ids: IdMode::AsFound, ..WriteOptions::new(Compression::Gzip, EPOCH) };
        let info = write_layer(tree.path(), &opts, &mut bytes).unwrap();
        out.push((info, bytes));
        out
    })
}

/// The fixture layer's tree: what the cases modify, delete and replace.
pub fn fixture_tree(root: &Path) {
    let dir = |p: &str| fs::create_dir_all(root.join(p)).unwrap();
    let file = |p: &str, data: &[u8], mode: u32| {
        fs::write(root.join(p), data).unwrap();
        fs::set_permissions(root.join(p), fs::Permissions::from_mode(mode)).unwrap();
    };
    for d in ["data/dir/sub", "data/opaque"] {
        dir(d);
    }
    file("data/dir/a", b"a\n", 0o644);
    file("data/dir/b", b"b\n", 0o644);
    file("data/dir/sub/c", b"c\n", 0o644);
    file("data/file", b"f\n", 0o644);
    file("data/opaque/old1", b"1\n", 0o644);
    file("data/opaque/old2", b"2\n", 0o644);
    file("data/hard1", b"h\n", 0o644);
    fs::hard_link(root.join("data/hard1"), root.join("data/hard2")).unwrap();
    file("data/cap", b"\x7fELF not really\n", 0o755);
    // cap_net_raw+ep, VFS_CAP_REVISION_2.
    let cap = [0x01, 0, 0, 0x02, 0x00, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    xattr::set(root.join("data/cap"), "security.capability", &cap).unwrap();
    file("data/owned", b"o\n", 0o640);
    std::os::unix::fs::chown(root.join("data/owned"), Some(1234), Some(5678)).unwrap();
    std::os::unix::fs::symlink("file", root.join("data/link")).unwrap();
    let old = std::time::UNIX_EPOCH + Duration::from_secs(1_600_000_000);
    for e in walkdir::WalkDir::new(root).contents_first(true) {
        let e = e.unwrap();
        if !e.path_is_symlink() {
            fs::File::open(e.path()).unwrap().set_modified(old).unwrap();
        }
    }
}

impl Env {
    /// A new store (in a temp dir) with the base layers in it.
    pub fn new() -> Env {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path().join("store")).unwrap();
        let mut base = Vec::new();
        for (info, bytes) in base_blobs() {
            store.put_verified(&bytes[..], &info.digest).unwrap();
            base.push(info.clone());
        }
        let host_dir = dir.path().join("host");
        fs::create_dir(&host_dir).unwrap();
        fs::write(host_dir.join("in"), b"in\n").unwrap();
        Env { _dir: dir, store, base, host_dir }
    }

    /// A root step over the base layers running `script` with `sh -c`.
    pub fn sh(&self, name: &str, script: &str) -> StepSpec {
        StepSpec::new(name, self.base.clone(), vec!["/bin/sh".into(), "-c".into(), script.into()])
    }
}

/// What a case must give.
#[derive(Debug, Clone, Copy)]
pub enum Expect {
    /// Exit 0 and a layer listing exactly these entries (see [`listing`]).
    Layer(&'static [&'static str]),
    /// A non-zero exit: the code, and a line the log tail must contain.
    Fails { code: i32, tail_has: &'static str },
    /// `ExecError::TimedOut`, well before the command would have ended.
    TimedOut,
    /// `ExecError::Cancelled` (the case cancels after `cancel_after`).
    Cancelled,
}

pub struct Case {
    pub name: &'static str,
    pub step: fn(&Env) -> StepSpec,
    pub expect: Expect,
    /// Cancel this long after the step starts.
    pub cancel_after: Option<Duration>,
}

impl Case {
    const fn new(name: &'static str, step: fn(&Env) -> StepSpec, expect: Expect) -> Case {
        Case { name, step, expect, cancel_after: None }
    }
}

/// The conformance table.
pub fn cases() -> Vec<Case> {
    use Expect::*;
    vec![
        Case::new("empty_step", |e| e.sh("empty", "true"), Layer(&[])),
        Case::new(
            "create_and_modify",
            |e| {
                e.sh(
                    "create",
                    "echo new > /data/new && chmod 600 /data/new && echo more >> /data/file \
                     && mkdir -p /data/n/m && echo z > /data/n/m/z",
                )
            },
            Layer(&[
                "data/ d 755 0:0",
                "data/file f 644 0:0 \"f\\nmore\\n\"",
                "data/n/ d 755 0:0",
                "data/n/m/ d 755 0:0",
                "data/n/m/z f 644 0:0 \"z\\n\"",
                "data/new f 600 0:0 \"new\\n\"",
            ]),
        ),
        Case::new(
            "delete_from_lower",
            |e| e.sh("delete", "rm /data/dir/a && rm -r /data/dir/sub"),
            Layer(&["data/ d 755 0:0", "data/dir/ d 755 0:0", "data/dir/.wh.a", "data/dir/.wh.sub"]),
        ),
        Case::new(
            "replace_dir_and_file",
            |e| {
                e.sh(
                    "replace",
                    "rm -r /data/dir && echo x > /data/dir && rm /data/file && mkdir /data/file \
                     && echo y > /data/file/y",
                )
            },
            Layer(&[
                "data/ d 755 0:0",
                "data/dir f 644 0:0 \"x\\n\"",
                "data/file/ d 755 0:0",
                "data/file/.wh..wh..opq",
                "data/file/y f 644 0:0 \"y\\n\"",
            ]),
        ),
        Case::new(
            "opaque_dir",
            |e| e.sh("opaque", "rm -r /data/opaque && mkdir /data/opaque && echo n > /data/opaque/new"),
            Layer(&[
                "data/ d 755 0:0",
                "data/opaque/ d 755 0:0",
                "data/opaque/.wh..wh..opq",
                "data/opaque/new f 644 0:0 \"n\\n\"",
            ]),
        ),
        Case::new(
            "symlinks",
            |e| {
                e.sh(
                    "symlinks",
                    "ln -s ../etc/passwd /data/sym && ln -sfn dir /data/link && ln -s /nowhere /data/dangling",
                )
            },
            Layer(&[
                "data/ d 755 0:0",
                "data/dangling l 777 0:0 -> /nowhere",
                "data/link l 777 0:0 -> dir",
                "data/sym l 777 0:0 -> ../etc/passwd",
            ]),
        ),
        Case::new(
            "hard_links",
            |e| {
                e.sh(
                    "hard-links",
                    "echo h > /data/h1 && ln /data/h1 /data/h2 && ln /data/file /data/file-link \
                     && echo more >> /data/hard1",
                )
            },
            Layer(&[
                "data/ d 755 0:0",
                "data/file f 644 0:0 \"f\\n\"",
                "data/file-link h -> data/file",
                "data/h1 f 644 0:0 \"h\\n\"",
                "data/h2 h -> data/h1",
                "data/hard1 f 644 0:0 \"h\\nmore\\n\"",
            ]),
        ),
        Case::new(
            "setuid_setgid_and_owners",
            |e| {
                e.sh(
                    "setuid",
                    "echo s > /data/su && chmod 4755 /data/su && mkdir /data/sg && chmod 2775 /data/sg \
                     && chmod 4750 /data/owned",
                )
            },
            Layer(&[
                "data/ d 755 0:0",
                "data/owned f 4750 1234:5678 \"o\\n\"",
                "data/sg/ d 2775 0:0",
                "data/su f 4755 0:0 \"s\\n\"",
            ]),
        ),
        Case::new(
            "file_capability_survives_copy_up",
            |e| e.sh("caps", "chmod 750 /data/cap"),
            Layer(&[
                "data/ d 755 0:0",
                "data/cap f 750 0:0 \"\\u{7f}ELF not really\\n\" cap=0100000200200000000000000000000000000000",
            ]),
        ),
        Case::new(
            "large_file",
            |e| e.sh("large", "dd if=/dev/zero of=/data/big bs=1M count=100 2>/dev/null"),
            Layer(&["data/ d 755 0:0", "data/big f 644 0:0 104857600 bytes"]),
        ),
        Case::new(
            "process_settings",
            |e| {
                let mut s = e.sh(
                    "settings",
                    "pwd > out; id -u >> out; id -g >> out; hostname >> out; echo \"$FOO $HOME\" >> out",
                );
                s.user = "1000:1001".into();
                s.cwd = "/home/u/work".into();
                s.env.push("FOO=bar".into());
                s.hostname = "builder".into();
                s
            },
            Layer(&[
                "home/ d 755 1000:1001",
                "home/u/ d 755 1000:1001",
                "home/u/work/ d 755 1000:1001",
                "home/u/work/out f 644 1000:1001 \"/home/u/work\\n1000\\n1001\\nbuilder\\nbar /\\n\"",
            ]),
        ),
        Case::new(
            "mounts_leave_no_trace",
            |e| {
                let mut s = e.sh(
                    "mounts",
                    "cp /src/in /data/copied && ! touch /src/nope 2>/dev/null && echo t > /scratch/t \
                     && grep -q localhost /etc/hosts && test \"$(cat /etc/hostname)\" = strata \
                     && test \"$(wc -l < /proc/net/dev)\" -eq 3",
                );
                s.mounts.push(Mount::Bind { source: e.host_dir.clone(), destination: "/src".into(), read_only: true });
                s.mounts.push(Mount::Tmpfs { destination: "/scratch".into(), size_bytes: Some(1 << 20) });
                s
            },
            Layer(&["data/ d 755 0:0", "data/copied f 644 0:0 \"in\\n\""]),
        ),
        Case::new(
            "host_network_leaves_no_trace",
            |e| {
                let mut s = e.sh("host-net", "test -e /etc/resolv.conf && test \"$(wc -l < /proc/net/dev)\" -gt 2");
                s.network = Network::Host;
                s
            },
            Layer(&[]),
        ),
        Case::new(
            "failing_command",
            |e| e.sh("fails", "echo to stdout; echo oops >&2; exit 3"),
            Fails { code: 3, tail_has: "oops" },
        ),
        Case::new(
            "command_not_found",
            |e| StepSpec::new("not-found", e.base.clone(), vec!["/no/such/command".into()]),
            Fails { code: 127, tail_has: "/no/such/command" },
        ),
        Case::new(
            "timeout",
            |e| {
                let mut s = e.sh("timeout", "echo started; sleep 60");
                s.timeout = Some(Duration::from_secs(1));
                s
            },
            TimedOut,
        ),
        Case {
            name: "cancellation",
            step: |e| e.sh("cancel", "echo started; sleep 60"),
            expect: Cancelled,
            cancel_after: Some(Duration::from_millis(500)),
        },
    ]
}

pub fn case(name: &str) -> Case {
    cases().into_iter().find(|c| c.name == name).unwrap_or_else(|| panic!("no case {name}"))
}

/// What a case gave.
#[derive(Debug)]
pub struct Outcome {
    /// The captured layer, for cases that succeed.
    pub layer: Option<LayerInfo>,
    pub elapsed: Duration,
}

/// The entries of a layer blob, one line each:
/// `path kind mode uid:gid [content|size|-> target] [cap=hex]`, kinds `d f l h`
/// (whiteouts and opaque markers: the bare name; their headers are fixed).
pub fn listing(store: &Store, layer: &LayerInfo) -> Vec<String> {
    let mut archive = tar::Archive::new(layer_tar(store, layer));
    let mut out = Vec::new();
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let path = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let name = path.trim_end_matches('/').rsplit('/').next().unwrap_or_default().to_owned();
        if name.starts_with(".wh.") {
            out.push(path);
            continue;
        }
        let h = entry.header().clone();
        let (mode, uid, gid) = (h.mode().unwrap() & 0o7777, h.uid().unwrap(), h.gid().unwrap());
        let mut cap = None;
        if let Some(exts) = entry.pax_extensions().unwrap() {
            for ext in exts {
                let ext = ext.unwrap();
                if ext.key().unwrap() == "SCHILY.xattr.security.capability" {
                    cap = Some(ext.value_bytes().iter().map(|b| format!("{b:02x}")).collect::<String>());
                }
            }
        }
        let link = || String::from_utf8_lossy(&entry.link_name_bytes().unwrap()).into_owned();
        let line = match h.entry_type() {
            tar::EntryType::Directory => format!("{path} d {mode:o} {uid}:{gid}"),
            tar::EntryType::Symlink => format!("{path} l {mode:o} {uid}:{gid} -> {}", link()),
            tar::EntryType::Link => format!("{path} h -> {}", link()),
            tar::EntryType::Regular => {
                let size = entry.size();
                let body = if size <= 64 {
                    let mut data = Vec::new();
                    entry.read_to_end(&mut data).unwrap();
                    format!("{:?}", String::from_utf8_lossy(&data))
                } else {
                    format!("{size} bytes")
                };
                format!("{path} f {mode:o} {uid}:{gid} {body}")
            }
            other => format!("{path} {other:?} {mode:o} {uid}:{gid}"),
        };
        out.push(match cap {
            Some(c) => format!("{line} cap={c}"),
            None => line,
        });
    }
    out
}

/// Runs `case` on `exec` in `env` and checks what it must give.
pub fn run_case(exec: &dyn Executor, env: &Env, case: &Case) -> Outcome {
    let step = (case.step)(env);
    let cancel = Cancel::new();
    let mut log = PrefixedLog::for_step(&env.store, &format!("{}-{}", exec.name(), case.name), None).unwrap();
    let canceller = case.cancel_after.map(|after| {
        let c = cancel.clone();
        std::thread::spawn(move || {
            std::thread::sleep(after);
            c.cancel();
        })
    });
    let start = Instant::now();
    let result = exec.run(&env.store, &step, &mut log, &cancel);
    let elapsed = start.elapsed();
    if let Some(t) = canceller {
        t.join().unwrap();
    }
    let what = format!("{} case {}", exec.name(), case.name);
    let log_text = || fs::read_to_string(log_path(&log)).unwrap_or_default();
    let layer = match (case.expect, result) {
        (Expect::Layer(want), Ok(execution)) => {
            assert_eq!(execution.exit_code, 0, "{what}: the step failed; its log:\n{}", log_text());
            let opts = OutputOptions::new(CAPTURE, EPOCH);
            let layer = snapshot::capture(&env.store, execution.changes, &opts).unwrap();
            assert_eq!(listing(&env.store, &layer), want, "{what}: the layer's entries");
            Some(layer)
        }
        (Expect::Fails { code, tail_has }, Ok(execution)) => {
            let err = execution.success(&step.name).unwrap_err();
            assert_eq!(err.exit_code, code, "{what}: exit code; log:\n{}", log_text());
            assert!(err.tail.contains(tail_has), "{what}: the tail should contain {tail_has:?}:\n{}", err.tail);
            assert!(err.log.is_file(), "{what}: the full log at {}", err.log.display());
            let msg = err.to_string();
            assert!(msg.contains(&step.name) && msg.contains(&format!("exit code {code}")), "{msg}");
            None
        }
        (Expect::TimedOut, Err(ExecError::TimedOut { after, .. })) => {
            assert_eq!(Some(after), step.timeout);
            assert!(elapsed < Duration::from_secs(10), "{what}: took {elapsed:?}");
            assert!(log_text().contains("started"), "{what}: output before the timeout is logged");
            None
        }
        (Expect::Cancelled, Err(ExecError::Cancelled { step: s })) => {
            assert_eq!(s, step.name);
            assert!(elapsed < Duration::from_secs(10), "{what}: took {elapsed:?}");
            None
        }
        (want, got) => panic!("{what}: expected {want:?}, got {got:?}; log:\n{}", log_text()),
    };
    Outcome { layer, elapsed }
}

fn log_path(log: &PrefixedLog) -> PathBuf {
    use strata::executor::LogSink;
    log.path().to_owned()
}

/// Nothing of a finished step is left: no mount below the store, nothing
/// in its temp dir, no runc container state.
pub fn assert_clean(env: &Env, what: &str) {
    let root = env.store.root().to_string_lossy().into_owned();
    let mounts = fs::read_to_string("/proc/self/mountinfo").unwrap();
    let left: Vec<&str> = mounts.lines().filter(|l| l.contains(&root)).collect();
    assert!(left.is_empty(), "{what}: mounts left behind: {left:#?}");
    let tmp: Vec<_> = fs::read_dir(env.store.root().join("strata/tmp")).unwrap().map(|e| e.unwrap().path()).collect();
    assert!(tmp.is_empty(), "{what}: temp files left behind: {tmp:?}");
    let runc_root = RuncExecutor::runc_root(&env.store);
    if runc_root.is_dir() {
        let states: Vec<_> = fs::read_dir(&runc_root).unwrap().map(|e| e.unwrap().path()).collect();
        assert!(states.is_empty(), "{what}: runc state left behind: {states:?}");
    }
}

fn require_runc() -> bool {
    require("root and runc", "test \"$(id -u)\" = 0 && runc --version")
}

/// Runs `name` with runc in every snapshot mode; one layer digest for all.
fn runc_case(name: &str) {
    if !require_runc() {
        return;
    }
    let case = case(name);
    let mut digests = Vec::new();
    let mut envs = Vec::new();
    for (mode, runs) in [(SnapshotMode::Overlay, 2), (SnapshotMode::FuseOverlayfs, 1), (SnapshotMode::Copy, 1)] {
        envs.push(Env::new());
        let env = envs.last().unwrap();
        if let Err(e) = mode.check(&env.store) {
            assert!(mode != SnapshotMode::Overlay, "kernel overlayfs must work as root: {e}");
            assert!(!crate::support::in_ci(), "the {mode} snapshotter is required under CI=true: {e}");
            eprintln!("skipping the {mode} snapshotter: {e}");
            continue;
        }
        let exec = RuncExecutor::new().with_snapshot_mode(mode);
        for run in 0..runs {
            let out = run_case(&exec, env, &case);
            eprintln!("{name}: run {run} with the {mode} snapshotter took {:?}", out.elapsed);
            assert_clean(env, &format!("{name} ({mode}, run {run})"));
            digests.push((mode, out.layer, envs.len() - 1));
        }
    }
    let (_, first, first_env) = &digests[0];
    // fuse-overlayfs gives the same entries (run_case checked them) but not
    // always the same bytes: it does not keep the mtime of the directories
    // it copies up along with a file (see snapshot::rootfs).
    for (mode, layer, env) in digests.iter().filter(|(m, ..)| *m != SnapshotMode::FuseOverlayfs) {
        if layer != first {
            let headers = |env: usize, l: &Option<LayerInfo>| l.as_ref().map(|l| headers(&envs[env].store, l));
            panic!(
                "{name}: the {mode} snapshotter gives another layer than overlay:\n{:#?}\nvs overlay's\n{:#?}",
                headers(*env, layer),
                headers(*first_env, first)
            );
        }
    }
}

/// The uncompressed tar stream of a layer in the store.
fn layer_tar(store: &Store, layer: &LayerInfo) -> Box<dyn Read> {
    let blob = store.open_blob(&layer.digest).unwrap();
    match layer.compression {
        Compression::Gzip => Box::new(flate2::read::GzDecoder::new(blob)),
        Compression::Zstd => Box::new(zstd::stream::read::Decoder::new(blob).unwrap()),
        Compression::None => Box::new(blob),
    }
}

/// Every header field of a layer's entries, to show how two layers differ.
fn headers(store: &Store, layer: &LayerInfo) -> Vec<String> {
    let mut archive = tar::Archive::new(layer_tar(store, layer));
    let mut out = Vec::new();
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let h = entry.header().clone();
        let pax: Vec<String> = entry
            .pax_extensions()
            .unwrap()
            .map(|exts| exts.map(|e| e.unwrap().key().unwrap().to_owned()).collect())
            .unwrap_or_default();
        out.push(format!(
            "{} type={:?} mode={:o} ids={}:{} mtime={} size={} pax={pax:?}",
            String::from_utf8_lossy(&entry.path_bytes()),
            h.entry_type(),
            h.mode().unwrap(),
            h.uid().unwrap(),
            h.gid().unwrap(),
            h.mtime().unwrap(),
            h.size().unwrap(),
        ));
    }
    out
}

macro_rules! runc_cases {
    ($($name:ident),* $(,)?) => {
        mod runc {
            $(
                #[test]
                fn $name() {
                    super::runc_case(stringify!($name));
                }
            )*
        }
    };
}

/// Every case of the table, handed to a backend's macro that turns each
/// name into a `#[test]`: one list, so no backend can miss a case.
macro_rules! for_each_case {
    ($backend:ident) => {
        $backend!(
            empty_step,
            create_and_modify,
            delete_from_lower,
            replace_dir_and_file,
            opaque_dir,
            symlinks,
            hard_links,
            setuid_setgid_and_owners,
            file_capability_survives_copy_up,
            large_file,
            process_settings,
            mounts_leave_no_trace,
            host_network_leaves_no_trace,
            failing_command,
            command_not_found,
            timeout,
            cancellation,
        );
    };
}
pub(crate) use for_each_case;

for_each_case!(runc_cases);

#[test]
fn every_case_is_in_the_list_every_backend_runs() {
    let src = include_str!("executor.rs");
    for c in cases() {
        assert!(src.contains(&format!("    {},\n", c.name)), "case {} is missing from for_each_case!", c.name);
    }
}

/// Several steps at once in one store, each giving the layer it gives alone.
#[test]
fn runc_steps_run_side_by_side() {
    if !require_runc() {
        return;
    }
    let names = ["create_and_modify", "symlinks", "hard_links", "opaque_dir", "timeout", "failing_command"];
    let alone: Vec<Option<LayerInfo>> = {
        let env = Env::new();
        names.iter().map(|n| run_case(&RuncExecutor::new(), &env, &case(n)).layer).collect()
    };
    let env = Env::new();
    let together: Vec<Option<LayerInfo>> = std::thread::scope(|s| {
        let hs: Vec<_> =
            names.iter().map(|n| s.spawn(|| run_case(&RuncExecutor::new(), &env, &case(n)).layer)).collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(together, alone);
    assert_clean(&env, "steps side by side");
}

/// The layers of steps and the snapshots they stack: a step over a layer
/// another step made sees its changes, whiteouts included.
#[test]
fn runc_steps_stack_on_captured_layers() {
    if !require_runc() {
        return;
    }
    let env = Env::new();
    let exec = RuncExecutor::new();
    let first = run_case(&exec, &env, &case("replace_dir_and_file")).layer.unwrap();
    let mut layers = env.base.clone();
    layers.push(first);
    let step = StepSpec::new(
        "second",
        layers,
        vec![
            "/bin/sh".into(),
            "-c".into(),
            "test -f /data/dir && test -f /data/file/y && test ! -e /data/dir/a".into(),
        ],
    );
    let mut log = PrefixedLog::for_step(&env.store, "second", None).unwrap();
    let out = exec.run(&env.store, &step, &mut log, &Cancel::new()).unwrap();
    let text = fs::read_to_string(log_path(&log)).unwrap();
    assert_eq!(out.exit_code, 0, "{text}");
    drop(out);
    assert_clean(&env, "stacked");
    // Snapshots are made once, named by diff_id.
    let snaps = fs::read_dir(snapshot::snapshots_root(&env.store)).unwrap().count();
    assert_eq!(snaps, env.base.len() + 1);
    assert!(
        fs::metadata(snapshot::snapshot_dir(&env.store, &env.base[0].diff_id)).unwrap().mode() & 0o777 == 0o755,
        "snapshot roots are 0755"
    );
}

/// A real distribution image lacks `/etc/resolv.conf`, `/etc/hosts` and
/// `/etc/hostname`: the runtime's bind targets must not show up in the
/// layer, whatever the network. Builds the Debian base with mmdebstrap, so
/// it runs under CI or with STRATA_SLOW_TESTS=1 (STRATA_ROOTFS_CACHE helps).
#[test]
fn runc_on_debian_leaves_only_the_steps_changes() {
    if !crate::support::slow_tests("build the Debian base") {
        return;
    }
    if !require_runc() || !require("mmdebstrap", "mmdebstrap --version") {
        return;
    }
    let s = Strata::new();
    s.ok(&["image", "build", "images/debian-bookworm"]);
    let store = Store::open(s.store()).unwrap();
    let image = Image::load_ref(&store, "debian:bookworm", &Platform::host()).unwrap();
    let layers: Vec<LayerInfo> = image
        .layers()
        .map(|(desc, diff_id)| LayerInfo {
            digest: desc.digest().clone(),
            diff_id: diff_id.parse().unwrap(),
            size: desc.size(),
            compression: Compression::from_media_type(desc.media_type()).unwrap(),
        })
        .collect();
    for network in [Network::None, Network::Host] {
        let script = "test -f /etc/hosts && test -f /etc/hostname && dpkg -s coreutils >/dev/null && echo x > /root/x";
        let mut step = StepSpec::new("debian", layers.clone(), vec!["/bin/sh".into(), "-c".into(), script.into()]);
        step.network = network;
        let mut log = PrefixedLog::for_step(&store, "debian", None).unwrap();
        let out = RuncExecutor::new().run(&store, &step, &mut log, &Cancel::new()).unwrap();
        assert_eq!(out.exit_code, 0, "{network:?}: {}", fs::read_to_string(log_path(&log)).unwrap());
        let layer = snapshot::capture(&store, out.changes, &OutputOptions::new(CAPTURE, EPOCH)).unwrap();
        assert_eq!(listing(&store, &layer), ["root/ d 700 0:0", "root/x f 644 0:0 \"x\\n\""], "{network:?}");
    }
}
