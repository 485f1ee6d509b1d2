//! `craft.stage-packages`: what the fetch container wrote, checked and
//! laid out — each resolved package's `.deb` against its apt index record
//! (size, then SHA256: the content id strata read is its digest), named as
//! in the pool, and the resolved list beside it (the `list` output:
//! `packages.json` and `debs`, the files in unpack order).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use strata_frontend_api::{HostOpError, HostResult, HostTree};

use crate::tree::{Entry, EntryKind, Tree};

use super::{content_id, read};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerifyDebs {
    pub part: String,
    /// For the message when it has no apt.
    pub build_base: String,
}

/// One fetched stage package.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct StagePackage {
    pub name: String,
    pub version: String,
    /// Debian architecture (`amd64`, `all`).
    pub arch: String,
    /// The file's name in `root/parts/<p>/stage_packages` (the pool file's).
    pub file: String,
    pub size: u64,
    /// Hex SHA256 from the apt index, which the file was checked against.
    pub sha256: String,
}

/// `debs` and `list`, from the fetch container's `fetched` tree.
pub fn run(p: &VerifyDebs, fetched: &HostTree<'_>) -> Result<Vec<HostResult>, HostOpError> {
    let part = &p.part;
    if fetched.tree.contains("no-apt") {
        return Err(HostOpError::new(format!(
            "part '{part}': stage-packages need apt-get in the build base '{}'; use a Debian or Ubuntu build-base such as debian:bookworm",
            p.build_base
        )));
    }
    let text =
        |name: &str| -> Result<String, HostOpError> { Ok(String::from_utf8_lossy(&read(fetched, name)?).into_owned()) };
    if fetched.tree.contains("apt-error") {
        return Err(HostOpError::new(apt_failure(part, &text("apt-error")?)));
    }
    let index = parse_index(&text("index")?);
    let mut debs = Tree::new();
    let mut packages = Vec::new();
    for (name, arch, version) in parse_resolved(&text("resolved")?) {
        let inconsistent =
            |what: String| HostOpError::new(format!("part '{part}': apt resolved {name}:{arch}={version} but {what}"));
        let Some(rec) = index.iter().find(|r| r.package == name && r.arch == arch && r.version == version) else {
            return Err(inconsistent("the apt index has no record of it".into()));
        };
        let Some(file) = rec.filename.rsplit('/').next().filter(|f| f.ends_with(".deb")) else {
            return Err(inconsistent(format!("its index record names no .deb file ('{}')", rec.filename)));
        };
        let downloaded = format!("debs/{}", apt_file_name(&name, &version, &arch));
        let Some(entry) = fetched.tree.get(&downloaded).filter(|e| matches!(e.kind, EntryKind::File { .. })) else {
            return Err(inconsistent(format!("apt-get download left no {downloaded}")));
        };
        let pkg =
            StagePackage { name, version, arch, file: file.to_string(), size: rec.size, sha256: rec.sha256.clone() };
        check(part, &pkg, fetched, &downloaded, entry)?;
        debs.insert(&pkg.file, Entry { uid: 0, gid: 0, ..entry.clone() });
        packages.push(pkg);
    }
    packages.sort();
    let mut list = HostResult::default();
    let json = serde_json::to_vec_pretty(&packages).expect("a package list serializes");
    let order: String = packages.iter().map(|p| format!("{}\n", p.file)).collect();
    for (path, bytes) in [("packages.json", json), ("debs", order.into_bytes())] {
        let id = content_id(&bytes);
        list.tree.insert(path, Entry::file(0o644, id.clone()));
        list.data.insert(id, bytes);
    }
    Ok(vec![HostResult { tree: debs, data: BTreeMap::new() }, list])
}

/// The index's SHA256 against the content id; on a mismatch, the size
/// tells a truncated download from a corrupt one.
fn check(part: &str, pkg: &StagePackage, fetched: &HostTree<'_>, path: &str, entry: &Entry) -> Result<(), HostOpError> {
    let EntryKind::File { content } = &entry.kind else { return Ok(()) };
    let found = content.strip_prefix("sha256:").unwrap_or(content);
    if found == pkg.sha256 {
        return Ok(());
    }
    let spec = format!("{}={}", pkg.name, pkg.version);
    let size = read(fetched, path)?.len() as u64;
    let file = crate::tree::file_name(path);
    if size != pkg.size {
        return Err(HostOpError::new(format!(
            "part '{part}': {file} ({spec}) is {size} bytes, the apt index says {}; the download is corrupt — build again",
            pkg.size
        )));
    }
    Err(HostOpError::new(format!(
        "part '{part}': {file} ({spec}) does not match the apt index: expected sha256:{}, found sha256:{found}; the download is corrupt or the mirror changed under its index — build again, or check the mirror",
        pkg.sha256
    )))
}

/// apt's complaint about the requested packages, as today's messages.
fn apt_failure(part: &str, stderr: &str) -> String {
    for line in stderr.lines() {
        if let Some(rest) = line.split("Unable to locate package ").nth(1) {
            return format!(
                "part '{part}': stage package '{}' is not in the apt sources of the build base; check its name, or pick a build-base whose release has it",
                rest.trim()
            );
        }
    }
    let message: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    let tail = message.len().saturating_sub(12);
    format!("part '{part}': apt cannot resolve the stage-packages:\n{}", message[tail..].join("\n"))
}

/// `name:arch=version` lines → `(name, arch, version)`.
fn parse_resolved(text: &str) -> Vec<(String, String, String)> {
    text.lines()
        .filter_map(|l| {
            let (name_arch, version) = l.trim().split_once('=')?;
            let (name, arch) = name_arch.split_once(':')?;
            Some((name.to_string(), arch.to_string(), version.to_string()))
        })
        .collect()
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct IndexRecord {
    package: String,
    version: String,
    arch: String,
    filename: String,
    size: u64,
    sha256: String,
}

/// deb822 records (`apt-cache show`) → the fields a fetch checks.
fn parse_index(text: &str) -> Vec<IndexRecord> {
    let mut out = Vec::new();
    let mut rec = IndexRecord::default();
    for line in text.lines().chain(std::iter::once("")) {
        if line.trim().is_empty() {
            if !rec.package.is_empty() {
                out.push(std::mem::take(&mut rec));
            }
            continue;
        }
        if line.starts_with([' ', '\t']) {
            continue;
        }
        let Some((k, v)) = line.split_once(':') else { continue };
        let v = v.trim().to_string();
        match k {
            "Package" => rec.package = v,
            "Version" => rec.version = v,
            "Architecture" => rec.arch = v,
            "Filename" => rec.filename = v,
            "Size" => rec.size = v.parse().unwrap_or(0),
            "SHA256" => rec.sha256 = v.to_ascii_lowercase(),
            _ => {}
        }
    }
    out
}

/// The name `apt-get download` gives a package's file (apt's
/// `QuoteString`: `:` as `%3a`).
fn apt_file_name(name: &str, version: &str, arch: &str) -> String {
    fn q(s: &str, bad: &str) -> String {
        let mut out = String::new();
        for b in s.bytes() {
            if bad.as_bytes().contains(&b) || b == b'%' || b <= 0x20 || b >= 0x7f {
                out.push_str(&format!("%{b:02x}"));
            } else {
                out.push(b as char);
            }
        }
        out
    }
    format!("{}_{}_{}.deb", q(name, "_:"), q(version, "_:"), q(arch, "_:."))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hostops::testing::Files;

    fn fetched(deb: &str, sha: &str, size: usize) -> Files {
        let index = format!(
            "Package: hello\\nVersion: 1:2.10-3\\nArchitecture: amd64\\nFilename: pool/main/h/hello/hello_2.10-3_amd64.deb\\nSize: {size}\\nSHA256: {sha}\\n"
        );
        Files::listing(&format!(
            "f 644 resolved hello:amd64=1:2.10-3\\n\nf 644 index {index}\nf 644 debs/hello_1%3a2.10-3_amd64.deb {deb}\n"
        ))
    }

    #[test]
    fn verified_debs_are_named_as_in_the_pool_with_their_list() {
        let sha = content_id(b"DEB").trim_start_matches("sha256:").to_uppercase();
        let f = fetched("DEB", &sha, 3);
        let out = run(&VerifyDebs { part: "p".into(), build_base: "debian".into() }, &f.host()).unwrap();
        assert_eq!(out[0].tree.paths().collect::<Vec<_>>(), ["hello_2.10-3_amd64.deb"]);
        let EntryKind::File { content } = &out[1].tree.get("debs").unwrap().kind else { panic!() };
        assert_eq!(out[1].data[content], b"hello_2.10-3_amd64.deb\n");
        let EntryKind::File { content } = &out[1].tree.get("packages.json").unwrap().kind else { panic!() };
        let list: Vec<StagePackage> = serde_json::from_slice(&out[1].data[content]).unwrap();
        assert_eq!((list[0].name.as_str(), list[0].version.as_str()), ("hello", "1:2.10-3"));
    }

    #[test]
    fn a_deb_that_does_not_match_the_index_is_refused() {
        let p = VerifyDebs { part: "p".into(), build_base: "debian".into() };
        let corrupt = fetched("DEX", &content_id(b"DEB")[7..], 3);
        let err = run(&p, &corrupt.host()).unwrap_err().message;
        assert!(err.contains("does not match the apt index") && err.contains("build again"), "{err}");
        let short = fetched("DE", &content_id(b"DEB")[7..], 3);
        assert!(run(&p, &short.host()).unwrap_err().message.contains("is 2 bytes, the apt index says 3"));
        let missing = Files::listing("f 644 apt-error E: Unable to locate package nosuch\n");
        assert!(run(&p, &missing.host()).unwrap_err().message.contains("stage package"), "typed apt failures");
        let no_apt = Files::listing("f 644 no-apt\n");
        assert!(run(&p, &no_apt.host()).unwrap_err().message.contains("need apt-get in the build base 'debian'"));
    }
}
