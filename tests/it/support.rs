//! Helpers shared by the integration tests: running `strata` in a temp
//! store, requiring external tools, reading digests.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The workspace root (where `images/` lives).
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// Whether `check` (a shell command) succeeds. If not: under CI, panic; on a
/// developer machine, print why the test is skipped and return false.
#[must_use]
pub fn require(what: &str, check: &str) -> bool {
    let ok = Command::new("sh").arg("-c").arg(check).output().is_ok_and(|o| o.status.success());
    if !ok {
        assert!(!in_ci(), "{what} is required under CI=true but `{check}` failed; run .ci/setup");
        eprintln!("skipping: {what} is not available (`{check}` failed); .ci/setup installs it");
    }
    ok
}

/// Whether slow tests (minutes: mmdebstrap, Debian build steps) run: always
/// under CI, else only with `STRATA_SLOW_TESTS=1`; says why when they don't.
#[must_use]
pub fn slow_tests(what: &str) -> bool {
    let on = in_ci() || std::env::var("STRATA_SLOW_TESTS").is_ok_and(|v| v == "1");
    if !on {
        eprintln!("skipping: set STRATA_SLOW_TESTS=1 (or CI=true) to {what}");
    }
    on
}

pub fn require_docker() -> bool {
    require("a running Docker daemon", "docker info")
}

pub fn require_podman() -> bool {
    require("podman", "podman info")
}

/// A throw-away store and a `strata` command bound to it.
pub struct Strata {
    pub dir: tempfile::TempDir,
}

impl Strata {
    pub fn new() -> Self {
        Strata { dir: tempfile::tempdir().expect("temp dir") }
    }

    pub fn store(&self) -> PathBuf {
        self.dir.path().join("store")
    }

    /// A path for test outputs beside the store.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn cmd(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_strata"));
        c.arg("--store").arg(self.store()).current_dir(repo());
        c
    }

    /// Runs strata with `args`; returns stdout, panicking with stderr on failure.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.cmd().args(args).output().expect("run strata");
        assert!(out.status.success(), "strata {args:?} failed:\n{}", text(&out));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs strata with `args`, expecting failure; returns stderr.
    pub fn fails(&self, args: &[&str]) -> String {
        let out = self.cmd().args(args).output().expect("run strata");
        assert!(!out.status.success(), "strata {args:?} should have failed:\n{}", text(&out));
        String::from_utf8_lossy(&out.stderr).into_owned()
    }

    /// Builds the busybox base image into this store; returns its digest.
    pub fn busybox(&self) -> String {
        let out = self.ok(&["image", "build", "images/busybox"]);
        last_digest(&out)
    }

    /// Builds the base image of `images/<recipe>` into this store; returns
    /// its digest. Root-filesystem tarballs go through [`rootfs_cache`], so
    /// a Debian bootstrap runs once per machine, not once per store; tests
    /// that want the same recipe at the same time wait for the first.
    pub fn base_image(&self, recipe: &str) -> String {
        let cache = rootfs_cache();
        std::fs::create_dir_all(&cache).expect("rootfs cache dir");
        let lock = std::fs::File::create(cache.join(format!("{recipe}.lock"))).expect("rootfs cache lock");
        lock.lock().expect("lock the rootfs cache");
        let out = self
            .cmd()
            .args(["image", "build", &format!("images/{recipe}")])
            .env("STRATA_ROOTFS_CACHE", &cache)
            .output()
            .expect("run strata");
        assert!(out.status.success(), "strata image build images/{recipe} failed:\n{}", text(&out));
        last_digest(&String::from_utf8_lossy(&out.stdout))
    }

    /// What `name` tags: its index (an image with attestations) or manifest.
    pub fn tagged_digest(&self, name: &str) -> String {
        let v: serde_json::Value = serde_json::from_str(&self.ok(&["image", "inspect", name])).unwrap();
        v.get("index").unwrap_or(&v["digest"]).as_str().unwrap().to_owned()
    }

    /// The manifest digest the store has for `name`.
    pub fn digest_of(&self, name: &str) -> String {
        let v: serde_json::Value = serde_json::from_str(&self.ok(&["image", "inspect", name])).unwrap();
        v["digest"].as_str().unwrap().to_owned()
    }
}

/// Where [`Strata::base_image`] keeps root-filesystem tarballs:
/// `STRATA_ROOTFS_CACHE` if set (`.ci/build-base-images` writes one into
/// `$STRATA_CI_STATE/base-images.env`), else `target/tmp/rootfs-cache`. A
/// cached Debian tarball is the mirror as it was when it was made; delete
/// the directory to pick up newer packages.
pub fn rootfs_cache() -> PathBuf {
    std::env::var_os("STRATA_ROOTFS_CACHE")
        .filter(|v| !v.is_empty())
        .map_or_else(|| PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("rootfs-cache"), PathBuf::from)
}

/// The image manifest of an OCI layout directory's first entry, through
/// the index a build with attestations writes (the image manifest first).
pub fn oci_dir_image_manifest(dir: &Path) -> serde_json::Value {
    let read = |d: &str| -> serde_json::Value {
        let p = dir.join("blobs/sha256").join(d.trim_start_matches("sha256:"));
        serde_json::from_slice(&std::fs::read(p).expect("a blob")).expect("JSON")
    };
    let index: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.join("index.json")).unwrap()).unwrap();
    let doc = read(index["manifests"][0]["digest"].as_str().unwrap());
    match doc["manifests"][0]["digest"].as_str() {
        Some(image) => read(image),
        None => doc,
    }
}

/// The last `sha256:…` word in `s`.
pub fn last_digest(s: &str) -> String {
    s.split_whitespace().rev().find(|w| w.starts_with("sha256:")).expect("a digest in the output").to_owned()
}

/// Runs a shell command; panics with its output if it fails.
pub fn sh(cmd: &str) -> String {
    let out = Command::new("sh").arg("-c").arg(cmd).output().expect("run sh");
    assert!(out.status.success(), "`{cmd}` failed:\n{}", text(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn text(o: &Output) -> String {
    format!(
        "status: {}\nstdout:\n{}\nstderr:\n{}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// sha256 of a file, as `sha256:<hex>`.
pub fn file_digest(p: &Path) -> String {
    let out = sh(&format!("sha256sum '{}'", p.display()));
    format!("sha256:{}", out.split_whitespace().next().unwrap())
}

/// A real HTTP/1.1 server on a loopback port serving one body at one path
/// (404 elsewhere), counting the requests it answers. It lives as long as
/// the test process.
pub struct HttpServer {
    pub url: String,
    requests: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl HttpServer {
    pub fn serve(path: &str, body: Vec<u8>) -> HttpServer {
        use std::io::{BufRead, Write};
        use std::sync::atomic::Ordering;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://127.0.0.1:{}{path}", listener.local_addr().unwrap().port());
        let requests = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let (count, path) = (requests.clone(), path.to_owned());
        std::thread::spawn(move || {
            for mut stream in listener.incoming().flatten() {
                let mut reader = std::io::BufReader::new(stream.try_clone().unwrap());
                let (mut first, mut line) = (String::new(), String::new());
                let _ = reader.read_line(&mut first);
                while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                    line.clear();
                }
                count.fetch_add(1, Ordering::SeqCst);
                let found = first.split_whitespace().nth(1) == Some(path.as_str());
                let (status, bytes) = if found { ("200 OK", &body[..]) } else { ("404 Not Found", &b""[..]) };
                let head = format!("HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", bytes.len());
                let _ = stream.write_all(head.as_bytes()).and_then(|()| stream.write_all(bytes));
            }
        });
        HttpServer { url, requests }
    }

    pub fn requests(&self) -> usize {
        self.requests.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// Every file below `dir` (symlinks not followed) holding `needle`.
pub fn files_holding(dir: &std::path::Path, needle: &[u8], skip: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else { continue };
        for e in entries.flatten() {
            let p = e.path();
            let Ok(t) = e.file_type() else { continue };
            if t.is_dir() {
                stack.push(p);
            } else if t.is_file()
                && p != skip
                && std::fs::read(&p).is_ok_and(|b| b.windows(needle.len()).any(|w| w == needle))
            {
                found.push(p);
            }
        }
    }
    found
}

/// The plain-HTTP registry `.ci/setup` starts (`STRATA_CI_REGISTRY`), if it
/// answers; see [`require`] for what happens when it does not.
pub fn ci_registry() -> Option<String> {
    let reg = std::env::var("STRATA_CI_REGISTRY").unwrap_or_else(|_| "127.0.0.1:5000".into());
    require(&format!("the .ci/setup registry at {reg}"), &format!("curl -sf -o /dev/null http://{reg}/v2/"))
        .then_some(reg)
}
