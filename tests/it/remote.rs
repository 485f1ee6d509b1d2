//! Remote execution against a real farm: BuildGrid 0.4.4 (its CAS, action
//! cache, execution and Bots services, on PostgreSQL) on loopback, served
//! by two or three `strata worker` processes. Checks that a remote build
//! gives the local image digest, that steps spread over the workers, that
//! a fresh store building a project the farm has seen runs no step, and
//! that a worker killed mid-step has its lease run by another.
//!
//! `.ci/setup` installs BuildGrid into a venv (`STRATA_BUILDGRID`, default
//! /opt/strata-buildgrid/bin/bgd) and starts PostgreSQL on its local
//! socket; each test makes its own database. BuildGrid takes ~20 s to
//! start, so these are slow tests.

use std::fs;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{Strata, last_digest, require, slow_tests, text};

const PG_SOCKET: &str = "/var/run/postgresql";

fn bgd() -> PathBuf {
    std::env::var_os("STRATA_BUILDGRID").map(PathBuf::from).unwrap_or_else(|| "/opt/strata-buildgrid/bin/bgd".into())
}

fn ready() -> bool {
    slow_tests("run steps on a BuildGrid farm")
        && require("root and runc", "test \"$(id -u)\" = 0 && runc --version")
        && require("BuildGrid (.ci/setup installs it)", &format!("{} --help", bgd().display()))
        && require(
            "PostgreSQL on its local socket (.ci/setup starts it)",
            &format!("psql -h {PG_SOCKET} -d postgres -c 'select 1'"),
        )
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A BuildGrid server with its own database and CAS directory.
struct Farm {
    server: Child,
    db: String,
    url: String,
    log: PathBuf,
}

impl Farm {
    fn start(dir: &Path) -> Farm {
        let db = format!("strata_it_{}_{}", std::process::id(), free_port());
        let ok = |c: &mut Command, what: &str| {
            let out = c.output().unwrap_or_else(|e| panic!("{what}: {e}"));
            assert!(out.status.success(), "{what} failed:\n{}", text(&out));
        };
        ok(Command::new("createdb").args(["-h", PG_SOCKET, &db]), "createdb");
        let conn = format!("postgresql+psycopg2:///{db}?host={PG_SOCKET}");
        ok(Command::new(bgd()).args(["migrate", "apply", &conn]), "bgd migrate apply");
        let port = free_port();
        let config = dir.join("bgd.yml");
        fs::write(&config, config_yaml(port, &conn, &dir.join("cas"))).unwrap();
        let log = dir.join("bgd.log");
        let server = Command::new(bgd())
            .args(["server", "start"])
            .arg(&config)
            .stdout(fs::File::create(&log).unwrap())
            .stderr(Stdio::from(fs::File::options().append(true).open(&log).unwrap()))
            .spawn()
            .expect("start BuildGrid");
        let mut farm = Farm { server, db, url: format!("grpc://127.0.0.1:{port}"), log };
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = farm.server.try_wait() {
                panic!("BuildGrid exited ({status}):\n{}", fs::read_to_string(&farm.log).unwrap_or_default());
            }
            assert!(started.elapsed() < Duration::from_secs(120), "BuildGrid did not listen on {port} in 120 s");
            std::thread::sleep(Duration::from_millis(250));
        }
        farm
    }
}

impl Drop for Farm {
    fn drop(&mut self) {
        let _ = self.server.kill();
        let _ = self.server.wait();
        let _ = Command::new("dropdb").args(["-h", PG_SOCKET, "--if-exists", &self.db]).output();
    }
}

/// BuildGrid's configuration: every service of one unnamed instance; bot
/// sessions expire 10 s after a bot's last call, so a killed worker's
/// lease goes to another quickly.
fn config_yaml(port: u16, conn: &str, cas: &Path) -> String {
    format!(
        r#"# Every Execute stream and bot long-poll holds a server thread: room for them.
thread-pool-size: 64
server:
  - !channel
    address: "127.0.0.1:{port}"
    insecure-mode: true
connections:
  - !sql-connection &sql
    connection-string: "{conn}"
    pool-size: 5
    max-overflow: 10
storages:
  - !disk-storage &cas
    path: {cas}
caches:
  - !lru-action-cache &ac
    storage: *cas
    max-cached-refs: 100000
    allow-updates: true
    cache-failed-actions: false
schedulers:
  - !sql-scheduler &sched
    sql: *sql
    storage: *cas
    action-cache: *ac
    bot-session-keepalive-timeout: 10
    session-expiry-timer-interval: 1
    max-job-attempts: 3
instances:
  - name: ""
    services:
      - !action-cache
        cache: *ac
      - !execution
        scheduler: *sched
      - !cas
        storage: *cas
      - !bytestream
        storage: *cas
"#,
        cas = cas.display()
    )
}

/// A `strata worker` process with its own store and log.
struct Bot {
    child: Option<Child>,
    log: PathBuf,
}

impl Bot {
    fn start(dir: &Path, name: &str, url: &str) -> Bot {
        let log = dir.join(format!("{name}.log"));
        let child = Command::new(env!("CARGO_BIN_EXE_strata"))
            .arg("--store")
            .arg(dir.join(format!("{name}-store")))
            .args(["worker", "--bots", url, "--leases", "1", "--bot-id", name])
            .stdout(Stdio::null())
            .stderr(fs::File::create(&log).unwrap())
            .spawn()
            .expect("start strata worker");
        Bot { child: Some(child), log }
    }

    fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The steps it ran to the end.
    fn ran(&self) -> Vec<String> {
        self.log()
            .lines()
            .filter(|l| l.contains(" exited 0 in "))
            .filter_map(|l| l.split(": ").nth(1)?.split(' ').next().map(str::to_owned))
            .collect()
    }

    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Bot {
    fn drop(&mut self) {
        if let Some(c) = &self.child {
            // SAFETY: signalling our own child.
            unsafe { libc::kill(c.id() as i32, libc::SIGTERM) };
        }
        if let Some(mut c) = self.child.take() {
            let _ = c.wait();
        }
    }
}

fn project(dir: &Path, spec: &str) -> PathBuf {
    fs::create_dir_all(dir).unwrap();
    fs::write(dir.join("parts.yaml"), spec).unwrap();
    dir.to_path_buf()
}

fn build(s: &Strata, proj: &Path, remote: Option<&str>) -> String {
    let mut args = vec!["build", proj.to_str().unwrap(), "--base", "bare", "--build-base", "busybox:latest"];
    args.extend(["--progress", "plain"]);
    if let Some(url) = remote {
        args.extend(["--remote", url]);
    }
    s.ok(&args)
}

/// Four independent parts, each a second long, so that three one-lease
/// workers share them.
const FOUR_PARTS: &str = "parts:
  p1:
    plugin: nil
    override-build: |
      sleep 1; echo one > $CRAFT_PART_INSTALL/one
  p2:
    plugin: nil
    override-build: |
      sleep 1; echo two > $CRAFT_PART_INSTALL/two
  p3:
    plugin: nil
    override-build: |
      sleep 1; mkdir -p $CRAFT_PART_INSTALL/usr/bin; echo three > $CRAFT_PART_INSTALL/usr/bin/three; chmod 755 $CRAFT_PART_INSTALL/usr/bin/three
  p4:
    plugin: nil
    after: [p1]
    override-build: |
      sleep 1; ln -s one $CRAFT_PART_INSTALL/four
";

#[test]
fn a_remote_build_gives_the_local_image_and_a_fresh_store_runs_no_step() {
    if !ready() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let proj = project(&tmp.path().join("proj"), FOUR_PARTS);
    let local = Strata::new();
    local.busybox();
    let local_digest = last_digest(&build(&local, &proj, None));

    let farm = Farm::start(tmp.path());
    let bots: Vec<Bot> = (1..=3).map(|n| Bot::start(tmp.path(), &format!("w{n}"), &farm.url)).collect();
    let client = Strata::new();
    client.busybox();
    let out = build(&client, &proj, Some(&farm.url));
    assert_eq!(last_digest(&out), local_digest, "a remote build gives the local image:\n{out}");
    assert!(out.contains("4 step(s) run there, 0 from its cache"), "{out}");
    let ran: Vec<Vec<String>> = bots.iter().map(Bot::ran).collect();
    let total: usize = ran.iter().map(Vec::len).sum();
    assert_eq!(total, 4, "each build step ran once on the farm: {ran:?}");
    assert!(ran.iter().filter(|r| !r.is_empty()).count() >= 2, "the steps spread over the workers: {ran:?}");
    // Only what the image needs came down; intermediate layers stay in the farm.
    let store_blobs = fs::read_dir(client.store().join("blobs/sha256")).unwrap().count();
    assert!(store_blobs > 0);

    // A fresh machine: an empty store (but the base) builds the same image
    // from the farm's action cache, and no worker runs anything.
    let fresh = Strata::new();
    fresh.busybox();
    let started = Instant::now();
    let again = build(&fresh, &proj, Some(&farm.url));
    let seconds = started.elapsed().as_secs_f64();
    assert_eq!(last_digest(&again), local_digest, "{again}");
    assert!(again.contains("0 step(s) run there, 4 from its cache"), "{again}");
    for p in ["p1", "p2", "p3", "p4"] {
        assert!(again.contains(&format!("[{p}:build] cached")), "the farm's hit shows as cached: {again}");
    }
    let after: usize = bots.iter().map(|b| b.ran().len()).sum();
    assert_eq!(after, 4, "no step ran again");
    eprintln!("fresh store, warm farm: {seconds:.1}s");
}

#[test]
fn a_worker_killed_mid_step_has_its_lease_run_by_another() {
    if !ready() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let proj = project(
        &tmp.path().join("proj"),
        "parts:\n  slow:\n    plugin: nil\n    override-build: |\n      sleep 8; echo done > $CRAFT_PART_INSTALL/slow\n",
    );
    let farm = Farm::start(tmp.path());
    let mut bots: Vec<Bot> = (1..=2).map(|n| Bot::start(tmp.path(), &format!("w{n}"), &farm.url)).collect();
    let client = Strata::new();
    client.busybox();
    let mut cmd = client.cmd();
    cmd.args(["build", proj.to_str().unwrap(), "--base", "bare", "--build-base", "busybox:latest"])
        .args(["--progress", "plain", "--remote", &farm.url])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let running = cmd.spawn().unwrap();
    let started = Instant::now();
    let victim = loop {
        if let Some(i) = bots.iter().position(|b| b.log().contains("running slow:build")) {
            break i;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "no worker took the step");
        std::thread::sleep(Duration::from_millis(100));
    };
    std::thread::sleep(Duration::from_secs(2));
    bots[victim].kill();
    let out = running.wait_with_output().unwrap();
    assert!(out.status.success(), "the build survives its worker:\n{}", text(&out));
    let other = &bots[1 - victim];
    assert_eq!(other.ran(), vec!["slow:build".to_string()], "the other worker ran it:\n{}", other.log());
    assert!(bots[victim].ran().is_empty(), "{}", bots[victim].log());
    let local = Strata::new();
    local.busybox();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(last_digest(&stdout), last_digest(&build(&local, &proj, None)), "{stdout}");
}
