//! A real REAPI farm on loopback for the remote-execution tests and the
//! W6R bench: a BuildGrid 0.4.4 server (CAS, action cache, execution and
//! Bots services, one unnamed instance, PostgreSQL for its scheduler) and
//! `strata worker` bots serving it, each with its own store and log.
//!
//! Included with `#[path = ".../common/buildgrid.rs"] mod buildgrid;` by
//! `tests/it/main.rs` and `benches/build.rs`; it needs std, `libc` and the
//! `strata` binary of the same package (`CARGO_BIN_EXE_strata`).
//!
//! `.ci/setup` installs BuildGrid into a venv (`STRATA_BUILDGRID`, default
//! /opt/strata-buildgrid/bin/bgd) and starts PostgreSQL on its local
//! socket; each [`Farm`] makes and drops its own database.

#![allow(dead_code)]

use std::fs;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// PostgreSQL's local socket directory on Debian.
pub const PG_SOCKET: &str = "/var/run/postgresql";

/// BuildGrid's `bgd` program.
pub fn bgd() -> PathBuf {
    std::env::var_os("STRATA_BUILDGRID").map(PathBuf::from).unwrap_or_else(|| "/opt/strata-buildgrid/bin/bgd".into())
}

/// Why a farm cannot start here, if it cannot: BuildGrid or PostgreSQL
/// missing (root and runc are the callers' to check).
pub fn unavailable() -> Option<String> {
    let works = |cmd: &str| Command::new("sh").args(["-c", cmd]).output().is_ok_and(|o| o.status.success());
    if !works(&format!("{} --help", bgd().display())) {
        return Some(format!("no BuildGrid at {} (.ci/setup installs it)", bgd().display()));
    }
    if !works(&format!("psql -h {PG_SOCKET} -d postgres -c 'select 1'")) {
        return Some(format!("no PostgreSQL on {PG_SOCKET} (.ci/setup starts it)"));
    }
    None
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A BuildGrid server with its own database and CAS directory; stopped and
/// its database dropped when dropped.
pub struct Farm {
    server: Child,
    db: String,
    pub url: String,
    pub log: PathBuf,
}

impl Farm {
    /// Starts a server keeping its files under `dir`; waits until it
    /// listens (BuildGrid takes ~20 s).
    pub fn start(dir: &Path) -> Farm {
        fs::create_dir_all(dir).unwrap();
        let db = format!("strata_farm_{}_{}", std::process::id(), free_port());
        let ok = |c: &mut Command, what: &str| {
            let out = c.output().unwrap_or_else(|e| panic!("{what}: {e}"));
            assert!(
                out.status.success(),
                "{what} failed:\n{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
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

/// A `strata worker` process (one lease) with its own store and log under
/// `dir`; stopped with SIGTERM when dropped.
pub struct Bot {
    child: Option<Child>,
    log: PathBuf,
}

impl Bot {
    pub fn start(dir: &Path, name: &str, url: &str) -> Bot {
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

    pub fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The steps it ran to the end.
    pub fn ran(&self) -> Vec<String> {
        self.log()
            .lines()
            .filter(|l| l.contains(" exited 0 in "))
            .filter_map(|l| l.split(": ").nth(1)?.split(' ').next().map(str::to_owned))
            .collect()
    }

    /// SIGKILL, as a machine that dies.
    pub fn kill(&mut self) {
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
