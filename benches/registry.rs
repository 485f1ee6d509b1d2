//! W5 of bench/WORKLOADS.md: push the W4 image (~200 MB tree, one gzip
//! layer) to a local registry, then push it again unchanged; against
//! `skopeo copy` of the same OCI layout to the same kind of registry, in the
//! same run. Each sample gets a fresh `docker-registry` with empty storage,
//! so neither tool finds blobs already there on a first push.
//!
//!     cargo bench --bench registry
//!
//! Needs `docker-registry` and `skopeo` (`.ci/setup` installs both). Prints
//! one line per workload: strata's median, the peer's median, the ratio.

#[path = "common/tree.rs"]
mod tree;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use strata::image::{ImageBuilder, NewLayer};
use strata::layer::{Compression, WriteOptions, write_blob, write_tree};
use strata::store::Store;

const RUNS: usize = 5;
const EPOCH: i64 = 1_700_000_000;

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return; // test runners probing targets: do nothing
    }
    for tool in ["docker-registry", "skopeo"] {
        if Command::new("sh")
            .arg("-c")
            .arg(format!("command -v {tool}"))
            .output()
            .map(|o| !o.status.success())
            .unwrap_or(true)
        {
            eprintln!("W5 needs {tool} (run .ci/setup)");
            std::process::exit(1);
        }
    }
    let strata = PathBuf::from(env!("CARGO_BIN_EXE_strata"));
    let data = tree::bench_dir();
    let w4 = data.join("w4");
    tree::ensure_tree(&w4, 200 << 20, 10_000, 0x5eed_0004);

    let work = tempfile::tempdir().unwrap();
    let store_dir = work.path().join("store");
    let store = Store::open(&store_dir).unwrap();
    let opts =
        WriteOptions { prefix: Some("root/parts/w4/install".into()), ..WriteOptions::new(Compression::Gzip, EPOCH) };
    let mut uncompressed = 0;
    let layer = write_blob(&store, opts.compression, |w| {
        let written = write_tree(&w4, &opts, w)?;
        uncompressed = written.uncompressed_size;
        Ok(written)
    })
    .unwrap();
    let size = layer.size;
    let desc = ImageBuilder::scratch(EPOCH)
        .layer(NewLayer { info: layer, created_by: "W4 tree".into(), comment: None })
        .build(&store)
        .unwrap();
    store.set_ref("w5:latest", &desc).unwrap();
    println!(
        "W5 image {} — one layer of {:.1} MiB ({:.1} MiB uncompressed); median of {RUNS} after a warm-up",
        desc.digest(),
        size as f64 / 1048576.0,
        uncompressed as f64 / 1048576.0
    );
    drop(store);

    let push = |port: u16| {
        run(Command::new(&strata).arg("--store").arg(&store_dir).args([
            "push",
            "w5:latest",
            &format!("127.0.0.1:{port}/w5/img:1"),
        ]))
    };
    let skopeo = |port: u16| {
        run(Command::new("skopeo").args([
            "copy",
            "--quiet",
            "--preserve-digests",
            "--dest-tls-verify=false",
            &format!("oci:{}:w5:latest", store_dir.display()),
            &format!("docker://127.0.0.1:{port}/w5/img:1"),
        ]))
    };

    let (mut first, mut again, mut peer_first, mut peer_again) = (vec![], vec![], vec![], vec![]);
    for i in 0..=RUNS {
        let reg = Registry::start(work.path());
        let t = time(|| push(reg.port));
        let t2 = time(|| push(reg.port));
        drop(reg);
        let reg = Registry::start(work.path());
        let p = time(|| skopeo(reg.port));
        let p2 = time(|| skopeo(reg.port));
        if i > 0 {
            first.push(t);
            again.push(t2);
            peer_first.push(p);
            peer_again.push(p2);
        }
    }
    line("W5 first push", median(&mut first), median(&mut peer_first), "goal ≤ 1.0");
    let a = median(&mut again);
    line(
        "W5 unchanged re-push",
        a,
        median(&mut peer_again),
        &format!("goal ≤ 0.1 s: {}", if a <= 0.1 { "met" } else { "not met" }),
    );
}

fn line(what: &str, ours: f64, peer: f64, goal: &str) {
    println!("{what:<24} strata {ours:7.3} s   skopeo copy {peer:7.3} s   ratio {:.2}   ({goal})", ours / peer);
}

fn time(f: impl FnOnce()) -> f64 {
    let t = Instant::now();
    f();
    t.elapsed().as_secs_f64()
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn run(c: &mut Command) {
    let out = c.output().expect("spawn");
    assert!(out.status.success(), "{c:?} failed: {}", String::from_utf8_lossy(&out.stderr));
}

/// A throw-away `docker-registry` on a free loopback port with empty storage.
struct Registry {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Registry {
    fn start(parent: &Path) -> Registry {
        let dir = tempfile::tempdir_in(parent).unwrap();
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let config = dir.path().join("config.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:{port}\n",
                dir.path().join("data").display()
            ),
        )
        .unwrap();
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start docker-registry");
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "docker-registry did not start on port {port}");
            std::thread::sleep(Duration::from_millis(20));
        }
        Registry { child, port, _dir: dir }
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
