//! Test helpers: archives built from bytes (with any name, even the ones
//! `tar::Builder` refuses), directory listings, a real HTTP server on a
//! loopback port, and git repositories made with the git command.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// One entry of a test tarball.
pub struct TarEntry {
    pub name: String,
    pub ty: tar::EntryType,
    pub data: Vec<u8>,
    pub link: String,
    pub mode: u32,
}

impl TarEntry {
    pub fn file(name: &str, data: &str) -> TarEntry {
        TarEntry {
            name: name.into(),
            ty: tar::EntryType::Regular,
            data: data.as_bytes().to_vec(),
            link: String::new(),
            mode: 0o644,
        }
    }

    pub fn dir(name: &str) -> TarEntry {
        TarEntry { ty: tar::EntryType::Directory, mode: 0o755, ..TarEntry::file(name, "") }
    }

    pub fn symlink(name: &str, target: &str) -> TarEntry {
        TarEntry { ty: tar::EntryType::Symlink, link: target.into(), mode: 0o777, ..TarEntry::file(name, "") }
    }

    pub fn hard_link(name: &str, target: &str) -> TarEntry {
        TarEntry { ty: tar::EntryType::Link, link: target.into(), ..TarEntry::file(name, "") }
    }

    pub fn mode(self, mode: u32) -> TarEntry {
        TarEntry { mode, ..self }
    }
}

/// A plain tar stream of `entries`, names written as they are (up to 100 bytes).
pub fn tar_bytes(entries: &[TarEntry]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for e in entries {
        let mut h = tar::Header::new_gnu();
        let old = h.as_old_mut();
        old.name[..e.name.len()].copy_from_slice(e.name.as_bytes());
        old.linkname[..e.link.len()].copy_from_slice(e.link.as_bytes());
        h.set_entry_type(e.ty);
        h.set_size(e.data.len() as u64);
        h.set_mode(e.mode);
        h.set_mtime(1_700_000_000);
        h.set_cksum();
        b.append(&h, e.data.as_slice()).unwrap();
    }
    b.into_inner().unwrap()
}

/// `tar` compressed every way a tarball source may be.
pub fn gzip(tar: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(tar).unwrap();
    e.finish().unwrap()
}

pub fn bzip2(tar: &[u8]) -> Vec<u8> {
    let mut e = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::default());
    e.write_all(tar).unwrap();
    e.finish().unwrap()
}

pub fn xz(tar: &[u8]) -> Vec<u8> {
    let mut e = lzma_rust2::XzWriter::new(Vec::new(), lzma_rust2::XzOptions::default()).unwrap();
    e.write_all(tar).unwrap();
    e.finish().unwrap()
}

/// Legacy LZMA-alone, as old debs' `data.tar.lzma`.
pub fn lzma(tar: &[u8]) -> Vec<u8> {
    let opts = lzma_rust2::LzmaOptions::with_preset(6);
    let mut e = lzma_rust2::LzmaWriter::new_use_header(Vec::new(), &opts, None).unwrap();
    e.write_all(tar).unwrap();
    e.finish().unwrap()
}

pub fn zstd(tar: &[u8]) -> Vec<u8> {
    zstd::encode_all(tar, 3).unwrap()
}

/// Every path under `dir`, sorted, directories with a trailing `/`.
pub fn listing(dir: &Path) -> Vec<String> {
    let mut out: Vec<String> = walkdir::WalkDir::new(dir)
        .min_depth(1)
        .into_iter()
        .map(|e| {
            let e = e.unwrap();
            let rel = e.path().strip_prefix(dir).unwrap().to_string_lossy().into_owned();
            if e.file_type().is_dir() { format!("{rel}/") } else { rel }
        })
        .collect();
    out.sort();
    out
}

/// A real HTTP/1.1 server on a loopback port, serving fixed bodies by path
/// (404 for the rest) and counting the requests it answered.
pub struct HttpServer {
    pub port: u16,
    files: Arc<Mutex<BTreeMap<String, Vec<u8>>>>,
    requests: Arc<AtomicUsize>,
}

impl HttpServer {
    pub fn start() -> HttpServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let files: Arc<Mutex<BTreeMap<String, Vec<u8>>>> = Arc::default();
        let requests = Arc::new(AtomicUsize::new(0));
        let (f, r) = (files.clone(), requests.clone());
        // The thread lives as long as the test process; each test has its own port.
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut request_line = String::new();
                if reader.read_line(&mut request_line).is_err() {
                    continue;
                }
                let mut line = String::new();
                while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                    line.clear();
                }
                r.fetch_add(1, Ordering::SeqCst);
                let path = request_line.split_whitespace().nth(1).unwrap_or("/").to_string();
                let body = f.lock().unwrap().get(&path).cloned();
                let (status, body) = match body {
                    Some(b) => ("200 OK", b),
                    None => ("404 Not Found", b"not found".to_vec()),
                };
                let head = format!("HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len());
                let _ = stream.write_all(head.as_bytes()).and_then(|()| stream.write_all(&body));
            }
        });
        HttpServer { port, files, requests }
    }

    /// Serves `body` at `path`; returns its URL.
    pub fn serve(&self, path: &str, body: Vec<u8>) -> String {
        self.files.lock().unwrap().insert(path.to_owned(), body);
        self.url(path)
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

/// Runs git in `dir` with a fixed identity and dates; returns stdout.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .current_dir(dir)
        .args(["-c", "protocol.file.allow=always", "-c", "init.defaultBranch=main"])
        .args(args)
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.com")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.com")
        .env("GIT_AUTHOR_DATE", "2024-01-01T00:00:00Z")
        .env("GIT_COMMITTER_DATE", "2024-01-01T00:00:00Z")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("HOME", dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// A new repository at `dir` with one commit holding `files`.
pub fn git_repo(dir: &Path, files: &[(&str, &str)]) -> String {
    std::fs::create_dir_all(dir).unwrap();
    git(dir, &["init", "-q"]);
    commit(dir, files, "first")
}

/// Writes `files` and commits them; returns the commit.
pub fn commit(dir: &Path, files: &[(&str, &str)], message: &str) -> String {
    for (name, text) in files {
        let p = dir.join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-q", "-m", message]);
    git(dir, &["rev-parse", "HEAD"])
}

pub(crate) use crate::testutil::need_tool as have_tool;
