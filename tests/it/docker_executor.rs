//! The Docker/Podman executor against the real daemons: steps over the
//! busybox base, their layers compared between capture paths (upper dir and
//! diff tar), between Docker and Podman, and with the runc executor's;
//! failures, timeouts, cancellation, cleanup and prune.
//!
//! Needs root, dockerd at /var/run/docker.sock and Podman's API socket at
//! /run/podman/podman.sock (`.ci/setup` starts both).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use bollard::query_parameters::ListContainersOptions;
use strata::executor::docker::{CaptureMode, DockerExecutor, STEP_LABEL};
use strata::executor::{Cancel, ExecError, Execution, Executor, Network, PrefixedLog, RuncExecutor, StepSpec};
use strata::export::{DaemonEndpoint, DaemonKind};
use strata::image::{Image, Platform};
use strata::layer::{Compression, LayerInfo, OutputOptions};
use strata::store::Store;

use crate::executor::{Env, assert_clean, case, run_case};
use crate::support::{self, Strata};

const PODMAN_SOCKET: &str = "/run/podman/podman.sock";

fn require_root() -> bool {
    support::require("root", "test \"$(id -u)\" = 0")
}

fn require_docker() -> bool {
    require_root() && support::require_docker()
}

fn require_podman_socket() -> bool {
    require_root()
        && support::require("Podman's API service", &format!("curl -sf --unix-socket {PODMAN_SOCKET} http://d/_ping"))
}

/// A store holding the busybox base; its layers.
struct Base {
    _strata: Strata,
    store: Store,
    layers: Vec<LayerInfo>,
}

impl Base {
    fn new() -> Base {
        let strata = Strata::new();
        strata.busybox();
        let store = Store::open(strata.store()).unwrap();
        let img = Image::load_ref(&store, "busybox", &Platform::host()).unwrap();
        let layers = img
            .layers()
            .map(|(d, diff_id)| LayerInfo {
                digest: d.digest().clone(),
                diff_id: diff_id.parse().unwrap(),
                size: d.size(),
                compression: Compression::from_media_type(d.media_type()).unwrap(),
            })
            .collect();
        Base { _strata: strata, store, layers }
    }

    fn step(&self, name: &str, script: &str) -> StepSpec {
        StepSpec::new(unique(name), self.layers.clone(), vec!["sh".into(), "-c".into(), script.into()])
    }

    fn run(&self, ex: &dyn Executor, spec: &StepSpec, cancel: &Cancel) -> Result<Execution, ExecError> {
        let log = self.store.root().join(format!("logs/{}-{}.log", ex.name(), spec.name));
        let mut sink = PrefixedLog::create(&log, spec.name.clone(), None).unwrap();
        ex.run(&self.store, spec, &mut sink, cancel)
    }

    /// Runs `spec` to a zero exit and captures its layer.
    fn layer(&self, ex: &dyn Executor, spec: &StepSpec) -> LayerInfo {
        let exec = self.run(ex, spec, &Cancel::new()).unwrap_or_else(|e| panic!("{}: {e}", ex.name()));
        let exec = exec.success(&spec.name).unwrap_or_else(|e| panic!("{}: {e}", ex.name()));
        let opts = OutputOptions::new(Compression::Gzip, 1_700_000_000);
        strata::snapshot::capture(&self.store, exec.changes, &opts).unwrap()
    }

    /// `type path` for each entry of a stored layer.
    fn entries(&self, layer: &LayerInfo) -> Vec<String> {
        let blob = self.store.open_blob(&layer.digest).unwrap();
        let (_, tar) = strata::layer::decompress(blob).unwrap();
        let mut ar = tar::Archive::new(tar);
        ar.entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                let kind = match e.header().entry_type() {
                    tar::EntryType::Directory => "dir",
                    tar::EntryType::Symlink => "symlink",
                    _ => "file",
                };
                format!("{kind} {}", e.path().unwrap().display())
            })
            .collect()
    }
}

/// A step name no other run shares, so leftovers can be looked up by label.
fn unique(name: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    format!("{name}-{}-{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed))
}

/// Containers (any state) carrying the step label of `step`.
fn containers_of(kind: DaemonKind, host: Option<&str>, step: &str) -> usize {
    let ep = DaemonEndpoint::resolve(kind, host);
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let docker = rt.block_on(connect(&ep));
    let filters = HashMap::from([("label".to_owned(), vec![format!("{STEP_LABEL}={step}")])]);
    let opts = ListContainersOptions { all: true, filters: Some(filters), ..Default::default() };
    rt.block_on(docker.list_containers(Some(opts))).unwrap().len()
}

async fn connect(ep: &DaemonEndpoint) -> bollard::Docker {
    let path = ep.address.strip_prefix("unix://").unwrap();
    bollard::Docker::connect_with_unix(path, 30, bollard::API_DEFAULT_VERSION)
        .unwrap()
        .negotiate_version()
        .await
        .unwrap()
}

fn docker() -> DockerExecutor {
    DockerExecutor::new(DaemonKind::Docker, Some("unix:///var/run/docker.sock"))
}

fn podman() -> DockerExecutor {
    DockerExecutor::new(DaemonKind::Podman, Some(PODMAN_SOCKET))
}

#[test]
fn echo_to_a_file_gives_one_layer_on_both_capture_paths_and_runc() {
    if !require_docker() {
        return;
    }
    let base = Base::new();
    let spec = base.step("echo", "echo hello > /greeting");
    let upper = base.layer(&docker().capture_mode(CaptureMode::UpperDir), &spec);
    let diff = base.layer(&docker().capture_mode(CaptureMode::DiffTar), &spec);
    assert_eq!(base.entries(&upper), ["file greeting"]);
    assert_eq!(upper, diff, "upper dir and diff tar give different layers");
    let runc = base.layer(&RuncExecutor::new(), &spec);
    assert_eq!(upper, runc, "docker's layer differs from runc's");
    assert_eq!(containers_of(DaemonKind::Docker, None, &spec.name), 0);
}

#[test]
fn deleting_a_base_file_is_a_whiteout_and_mounts_leave_no_trace() {
    if !require_docker() {
        return;
    }
    let base = Base::new();
    let src = tempfile::tempdir().unwrap();
    std::fs::write(src.path().join("in"), "from the host\n").unwrap();
    let mut spec = base.step("whiteout", "rm /etc/group && cat /root/project/in > /tmp/copied && echo x > /scratch/y");
    spec.mounts = vec![
        strata::executor::Mount::Bind {
            source: src.path().to_owned(),
            destination: "/root/project".into(),
            read_only: true,
        },
        strata::executor::Mount::Tmpfs { destination: "/scratch".into(), size_bytes: None },
    ];
    spec.cwd = "/root/project".into();
    let upper = base.layer(&docker().capture_mode(CaptureMode::UpperDir), &spec);
    let diff = base.layer(&docker().capture_mode(CaptureMode::DiffTar), &spec);
    assert_eq!(base.entries(&upper), ["dir etc/", "file etc/.wh.group", "dir tmp/", "file tmp/copied"]);
    assert_eq!(upper, diff);
    assert_eq!(upper, base.layer(&RuncExecutor::new(), &spec), "docker's layer differs from runc's");
}

#[test]
fn a_failing_command_reports_its_exit_code_and_log() {
    if !require_docker() {
        return;
    }
    let base = Base::new();
    let spec = base.step("fails", "echo to-stdout; echo oops >&2; exit 3");
    let exec = base.run(&docker(), &spec, &Cancel::new()).unwrap();
    assert_eq!(exec.exit_code, 3);
    let log = std::fs::read_to_string(&exec.log).unwrap();
    assert!(log.contains("to-stdout") && log.contains("oops"), "{log}");
    let e = exec.success(&spec.name).unwrap_err().to_string();
    assert!(e.contains("exit code 3") && e.contains("oops"), "{e}");
    assert_eq!(containers_of(DaemonKind::Docker, None, &spec.name), 0);

    let missing = StepSpec::new(unique("missing"), base.layers.clone(), vec!["/no/such/command".into()]);
    let exec = base.run(&docker(), &missing, &Cancel::new()).unwrap();
    assert_eq!(exec.exit_code, 127);
    let log = std::fs::read_to_string(&exec.log).unwrap();
    assert!(log.contains("/no/such/command"), "{log}");
    drop(exec);
    assert_eq!(containers_of(DaemonKind::Docker, None, &missing.name), 0);
}

#[test]
fn a_step_past_its_timeout_is_killed_and_removed() {
    if !require_docker() {
        return;
    }
    let base = Base::new();
    let mut spec = base.step("slow", "echo started; sleep 60");
    spec.timeout = Some(Duration::from_secs(2));
    let t = Instant::now();
    let e = base.run(&docker(), &spec, &Cancel::new()).unwrap_err();
    assert!(matches!(e, ExecError::TimedOut { .. }), "{e}");
    assert!(t.elapsed() < Duration::from_secs(20), "took {:?}", t.elapsed());
    let log = std::fs::read_to_string(base.store.root().join(format!("logs/docker-{}.log", spec.name))).unwrap();
    assert!(log.contains("started"), "{log}");
    assert_eq!(containers_of(DaemonKind::Docker, None, &spec.name), 0);
}

#[test]
fn a_cancelled_step_leaves_no_container() {
    if !require_docker() {
        return;
    }
    let base = Base::new();
    let spec = base.step("cancelled", "sleep 60");
    let cancel = Cancel::new();
    let c = cancel.clone();
    let t = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(1));
        c.cancel();
    });
    let start = Instant::now();
    let e = base.run(&docker(), &spec, &cancel).unwrap_err();
    t.join().unwrap();
    assert!(matches!(e, ExecError::Cancelled { .. }), "{e}");
    assert!(start.elapsed() < Duration::from_secs(20), "took {:?}", start.elapsed());
    assert_eq!(containers_of(DaemonKind::Docker, None, &spec.name), 0);
}

#[test]
fn podman_gives_the_same_layers_as_docker() {
    if !require_docker() || !require_podman_socket() {
        return;
    }
    let base = Base::new();
    let spec = base.step("podman", "echo hello > /greeting && rm /etc/group && mkdir -p /var/lib/x");
    let docker_layer = base.layer(&docker(), &spec);
    let upper = base.layer(&podman().capture_mode(CaptureMode::UpperDir), &spec);
    let diff = base.layer(&podman().capture_mode(CaptureMode::DiffTar), &spec);
    assert_eq!(
        base.entries(&upper),
        ["dir etc/", "file etc/.wh.group", "file greeting", "dir var/", "dir var/lib/", "dir var/lib/x/"]
    );
    assert_eq!(upper, diff, "podman: upper dir and diff tar differ");
    assert_eq!(upper, docker_layer, "podman's layer differs from docker's");
    assert_eq!(containers_of(DaemonKind::Podman, Some(PODMAN_SOCKET), &spec.name), 0);

    let mut failing = base.step("podman-fails", "echo oops >&2; exit 5");
    failing.timeout = Some(Duration::from_secs(30));
    let exec = base.run(&podman(), &failing, &Cancel::new()).unwrap();
    assert_eq!(exec.exit_code, 5);
    assert!(std::fs::read_to_string(&exec.log).unwrap().contains("oops"));
}

#[test]
fn input_images_are_loaded_once_and_pruned() {
    if !require_docker() {
        return;
    }
    let base = Base::new();
    let ex = docker();
    let (id, tag) = DockerExecutor::step_image(&base.store, &base.layers).unwrap();
    let spec = base.step("cache", "true");
    base.layer(&ex, &spec);
    // Retag: a second run that loaded the image again would bring the tag back.
    support::sh(&format!("docker tag {id} strata-it/retagged:1 && docker rmi {tag}"));
    base.layer(&ex, &spec);
    let tags = support::sh(&format!("docker image inspect --format '{{{{.RepoTags}}}}' {id}"));
    assert_eq!(tags.trim(), "[strata-it/retagged:1]", "the input image was loaded again");
    support::sh(&format!("docker tag {id} {tag} && docker rmi strata-it/retagged:1"));

    let report = ex.prune().unwrap();
    assert!(report.images >= 1, "{report:?}");
    let gone = std::process::Command::new("docker").args(["image", "inspect"]).arg(id.to_string()).output().unwrap();
    assert!(!gone.status.success(), "prune left the step image {id}");
}

#[test]
fn a_daemon_that_is_not_running_is_named_with_how_to_start_it() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("docker.sock");
    let store = Store::open(dir.path().join("store")).unwrap();
    let ex = DockerExecutor::new(DaemonKind::Docker, Some(sock.to_str().unwrap()));
    let spec = StepSpec::new("nodaemon", Vec::new(), vec!["true".into()]);
    let mut sink = PrefixedLog::create(&dir.path().join("log"), "x", None).unwrap();
    let e = ex.run(&store, &spec, &mut sink, &Cancel::new()).unwrap_err().to_string();
    assert!(e.contains(&sock.display().to_string()) && e.contains("dockerd"), "{e}");
}

#[test]
fn a_non_root_step_owns_its_new_cwd_and_podman_adds_no_users() {
    if !require_docker() || !require_podman_socket() {
        return;
    }
    let base = Base::new();
    let mut spec = base.step("nonroot", "echo hi > out && id -u > uid");
    spec.user = "1000:1000".into();
    spec.cwd = "/home/build/x".into();
    let runc = base.layer(&RuncExecutor::new(), &spec);
    assert_eq!(
        base.entries(&runc),
        ["dir home/", "dir home/build/", "dir home/build/x/", "file home/build/x/out", "file home/build/x/uid"]
    );
    for (name, ex) in [
        ("docker upper dir", docker().capture_mode(CaptureMode::UpperDir)),
        ("docker diff tar", docker().capture_mode(CaptureMode::DiffTar)),
        ("podman upper dir", podman().capture_mode(CaptureMode::UpperDir)),
        ("podman diff tar", podman().capture_mode(CaptureMode::DiffTar)),
    ] {
        let layer = base.layer(&ex, &spec);
        assert_eq!(base.entries(&layer), base.entries(&runc), "{name}");
        assert_eq!(layer, runc, "{name}: the layer differs from runc's");
    }

    // Root with a group missing from /etc/group: Podman appends a group
    // line; the step's own edit of the file is kept, Podman's line is not.
    let mut group = base.step("group", "echo 'builders:x:4321:' >> /etc/group");
    group.user = "0:1234".into();
    let expected = base.layer(&RuncExecutor::new(), &group);
    assert_eq!(base.entries(&expected), ["dir etc/", "file etc/group"]);
    let mut untouched = base.step("group-untouched", "echo hi > /hi");
    untouched.user = "0:1234".into();
    let expected_untouched = base.layer(&RuncExecutor::new(), &untouched);
    for ex in [podman().capture_mode(CaptureMode::UpperDir), podman().capture_mode(CaptureMode::DiffTar)] {
        assert_eq!(base.layer(&ex, &group), expected);
        assert_eq!(base.layer(&ex, &untouched), expected_untouched);
    }
}

#[test]
fn every_network_mode_leaves_only_the_steps_changes() {
    if !require_docker() || !require_podman_socket() {
        return;
    }
    let base = Base::new();
    for network in [Network::None, Network::Host, Network::Bridge] {
        let mut spec = base.step("net", "hostname > /name && test -s /etc/hosts");
        spec.network = network;
        spec.hostname = "builder".into();
        for ex in [docker(), podman()] {
            let layer = base.layer(&ex, &spec);
            assert_eq!(base.entries(&layer), ["file name"], "{} {network:?}", ex.name());
        }
    }
}

// ---------------------------------------------------------------------------
// The conformance table of `executor.rs`, on Docker and on Podman: every case
// through both capture paths, checked by the same `run_case`, its layer
// compared with the runc executor's (same digest), nothing left in the store
// (`assert_clean`) nor in the daemon (no container labelled with the step).

/// The runc executor's layer for `case`, computed once per test binary.
fn runc_layer(name: &str) -> Option<LayerInfo> {
    use std::sync::{Mutex, OnceLock};
    static DONE: OnceLock<Mutex<HashMap<String, Option<LayerInfo>>>> = OnceLock::new();
    let done = DONE.get_or_init(Default::default);
    if let Some(l) = done.lock().unwrap().get(name) {
        return l.clone();
    }
    let layer = run_case(&RuncExecutor::new(), &Env::new(), &case(name)).layer;
    done.lock().unwrap().insert(name.to_owned(), layer.clone());
    layer
}

fn daemon_case(kind: DaemonKind, name: &str) {
    let (available, host) = match kind {
        DaemonKind::Docker => (require_docker(), None),
        DaemonKind::Podman => (require_podman_socket(), Some(PODMAN_SOCKET)),
    };
    if !available || !support::require("runc", "runc --version") {
        return;
    }
    let case = case(name);
    let runc = runc_layer(name);
    for mode in [CaptureMode::UpperDir, CaptureMode::DiffTar] {
        let env = Env::new();
        let step = (case.step)(&env).name;
        let exec = DockerExecutor::new(kind, host).capture_mode(mode);
        let out = run_case(&exec, &env, &case);
        eprintln!("{name}: {kind} ({mode:?}) took {:?}", out.elapsed);
        assert_clean(&env, &format!("{name} ({kind}, {mode:?})"));
        assert_eq!(containers_of(kind, host, &step), 0, "{name} ({kind}, {mode:?}): containers left");
        assert_eq!(out.layer, runc, "{name} ({kind}, {mode:?}): the layer is not the runc executor's");
    }
}

macro_rules! daemon_cases {
    ($($name:ident),* $(,)?) => {
        mod docker {
            $(
                #[test]
                fn $name() {
                    super::daemon_case(strata::export::DaemonKind::Docker, stringify!($name));
                }
            )*
        }
        mod podman {
            $(
                #[test]
                fn $name() {
                    super::daemon_case(strata::export::DaemonKind::Podman, stringify!($name));
                }
            )*
        }
    };
}

crate::executor::for_each_case!(daemon_cases);
