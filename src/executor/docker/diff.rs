//! A stopped container's changes as a diff tar, for daemons whose upper dir
//! cannot be read here (a remote daemon, the vfs driver, user namespaces).
//!
//! The container is committed to a temporary image (labelled
//! [`CAPTURE_IMAGE_LABEL`], removed again before returning), the image is
//! saved (`docker save`, streamed to a spool file in the store's tmp dir),
//! and its top layer — the commit's — is copied out, checked against the
//! top diff_id the daemon reports, and stripped of the runtime's own files
//! (`runtime_files`). Docker 20.10 names layers `<id>/layer.tar`, Podman
//! `<diff_id>.tar`, Docker ≥ 25 `blobs/sha256/<digest>`; `manifest.json`
//! says which is which in all three, and symlinks between them are
//! followed.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};

use bollard::models::ContainerConfig;
use bollard::query_parameters::{CommitContainerOptions, RemoveImageOptions};
use futures_util::StreamExt;
use oci_spec::image::Digest;
use tempfile::NamedTempFile;

use super::Session;
use super::runtime_files::{RuntimePaths, Seen, normalise};
use super::users::{Fix, PodmanUsers};
use crate::digest::HashingWriter;
use crate::executor::ExecError;
use crate::store::Store;

/// Label on the temporary images commits make; `prune` removes leftovers.
pub const CAPTURE_IMAGE_LABEL: &str = "org.strata.capture-image";

const WHITEOUT: &str = ".wh.";
const OPAQUE: &str = ".wh..wh..opq";

/// The changes of the stopped container `id`, whose image has
/// `input_layers` layers, as a diff tar in the store's tmp dir.
pub(crate) fn diff_tar(
    session: &Session,
    store: &Store,
    id: &str,
    input_layers: usize,
    runtime: &RuntimePaths,
    users: Option<&PodmanUsers>,
    step: &str,
) -> Result<NamedTempFile, ExecError> {
    let api = |op: &str, e: &bollard::errors::Error| session.api_error(step, op, e);
    let tmp_dir = store.tmp_dir();
    let io_err = |e: io::Error| ExecError::Io { step: step.to_owned(), path: tmp_dir.clone(), source: e };
    let temp = |prefix: &str| tempfile::Builder::new().prefix(prefix).tempfile_in(&tmp_dir).map_err(io_err);

    let opts = CommitContainerOptions {
        container: Some(id.to_owned()),
        repo: Some("strata-capture".into()),
        tag: Some(id.chars().take(12).collect()),
        pause: false,
        ..Default::default()
    };
    let config = ContainerConfig {
        labels: Some(HashMap::from([
            (CAPTURE_IMAGE_LABEL.to_owned(), "1".to_owned()),
            (super::body::OWNER_LABEL.to_owned(), super::body::owner()),
        ])),
        ..Default::default()
    };
    let image = session.block_on(session.docker.commit_container(opts, config)).map_err(|e| api("commit", &e))?.id;
    let _image = ImageGuard { session, id: image.clone() };

    let inspect = session.block_on(session.docker.inspect_image(&image)).map_err(|e| api("inspect the commit", &e))?;
    let diff_ids = inspect.root_fs.and_then(|r| r.layers).unwrap_or_default();
    if diff_ids.len() <= input_layers {
        // Nothing changed and the daemon added no layer: an empty tar.
        let mut out = temp("docker-diff-")?;
        out.write_all(&[0u8; 1024]).map_err(io_err)?;
        return Ok(out);
    }
    let top: Digest = diff_ids[diff_ids.len() - 1].parse().map_err(|e| ExecError::Backend {
        backend: session.backend,
        step: step.to_owned(),
        message: format!("the commit of container {id} reports a bad diff_id: {e}"),
    })?;

    let mut spool = temp("docker-save-")?;
    session.block_on(async {
        let mut body = session.docker.export_image(&image);
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| api("save the commit", &e))?;
            spool.write_all(&chunk).map_err(io_err)?;
        }
        Ok::<_, ExecError>(())
    })?;
    spool.flush().map_err(io_err)?;

    let bad = |message: String| ExecError::Backend {
        backend: session.backend,
        step: step.to_owned(),
        message: format!("the saved commit of container {id}: {message}"),
    };
    let raw = temp("docker-diff-")?;
    let raw = top_layer(spool.as_file_mut(), &top, raw).map_err(|e| bad(e.to_string()))?;
    drop(spool);
    strip_runtime_entries(raw, runtime, users, &tmp_dir).map_err(|e| bad(format!("cannot read its top layer: {e}")))
}

/// Removes the temporary commit when dropped.
struct ImageGuard<'a> {
    session: &'a Session,
    id: String,
}

impl Drop for ImageGuard<'_> {
    fn drop(&mut self) {
        let opts = RemoveImageOptions { force: true, noprune: false, ..Default::default() };
        let removed = self.session.block_on(self.session.docker.remove_image(&self.id, Some(opts), None));
        if let Err(e) = removed
            && !super::is_not_found(&e)
        {
            eprintln!(
                "warning: cannot remove the temporary image {} from {}: {e}; remove it with `{} rmi {}`",
                self.id, self.session.ep.address, self.session.backend, self.id
            );
        }
    }
}

/// Copies the last layer `manifest.json` names out of a `docker save`
/// archive into `out`, uncompressed, checking it hashes to `diff_id`.
fn top_layer(save: &mut File, diff_id: &Digest, out: NamedTempFile) -> io::Result<NamedTempFile> {
    let bad = |m: String| io::Error::new(io::ErrorKind::InvalidData, m);
    save.rewind()?;
    // path → (data offset, size, symlink target)
    let mut index: BTreeMap<String, (u64, u64, Option<String>)> = BTreeMap::new();
    {
        let mut ar = tar::Archive::new(&*save);
        for e in ar.entries()? {
            let e = e?;
            let path = normalise(&String::from_utf8_lossy(&e.path_bytes()));
            let link = match e.header().entry_type() {
                tar::EntryType::Symlink => e.link_name()?.map(|l| l.to_string_lossy().into_owned()),
                _ => None,
            };
            index.insert(path, (e.raw_file_position(), e.size(), link));
        }
    }
    let read = |save: &mut File, path: &str| -> io::Result<Vec<u8>> {
        let &(pos, size, _) = index.get(path).ok_or_else(|| bad(format!("no {path} in the archive")))?;
        save.seek(SeekFrom::Start(pos))?;
        let mut buf = Vec::new();
        save.take(size).read_to_end(&mut buf)?;
        Ok(buf)
    };
    let manifest: serde_json::Value =
        serde_json::from_slice(&read(save, "manifest.json")?).map_err(|e| bad(format!("manifest.json: {e}")))?;
    let mut path = manifest[0]["Layers"]
        .as_array()
        .and_then(|l| l.last())
        .and_then(|l| l.as_str())
        .map(normalise)
        .ok_or_else(|| bad("manifest.json names no layers".into()))?;
    for _ in 0..8 {
        match index.get(&path) {
            Some((_, _, Some(target))) => path = resolve(&path, target),
            _ => break,
        }
    }
    let &(pos, size, _) = index.get(&path).ok_or_else(|| bad(format!("no {path} in the archive")))?;
    save.seek(SeekFrom::Start(pos))?;
    let (_, mut tar) = crate::layer::decompress(save.take(size))?;
    let mut w = HashingWriter::new(io::BufWriter::new(out));
    io::copy(&mut tar, &mut w)?;
    let (buf, found, _) = w.finish();
    let out = buf.into_inner().map_err(|e| e.into_error())?;
    if &found != diff_id {
        return Err(bad(format!("its top layer {path} hashes to {found}, the daemon says {diff_id}")));
    }
    Ok(out)
}

/// `a/b/../c` relative to the directory of `from`.
fn resolve(from: &str, target: &str) -> String {
    let mut parts: Vec<&str> = if target.starts_with('/') { Vec::new() } else { from.split('/').collect::<Vec<_>>() };
    parts.pop();
    for p in target.split('/') {
        match p {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    parts.join("/")
}

/// One entry of a diff tar: where its bytes are (extension headers
/// included), what the runtime rule sees, and new content if Podman's
/// `users` fix rewrites it.
struct Span {
    start: u64,
    end: u64,
    key: Option<(String, Seen)>,
    replace: Option<(tar::Header, Vec<u8>)>,
}

/// Drops the runtime's entries from a diff tar (and applies Podman's
/// `users` fixes): returns `tar` itself when there is nothing to do, else a
/// filtered copy. Kept entries are copied byte for byte, extension headers
/// and all; a rewritten file gets a plain header with its old metadata.
fn strip_runtime_entries(
    mut tar: NamedTempFile,
    runtime: &RuntimePaths,
    users: Option<&PodmanUsers>,
    tmp_dir: &std::path::Path,
) -> io::Result<NamedTempFile> {
    tar.as_file_mut().rewind()?;
    let mut spans = Vec::new();
    let mut opaque = std::collections::BTreeSet::new();
    let mut fixed_away = Vec::new();
    let mut end_of_last = 0u64;
    {
        let mut ar = tar::Archive::new(tar.as_file());
        for e in ar.entries()? {
            let mut e = e?;
            let path = normalise(&String::from_utf8_lossy(&e.path_bytes()));
            let (dir, name) = match path.rfind('/') {
                Some(i) => (&path[..i], &path[i + 1..]),
                None => ("", path.as_str()),
            };
            let end = e.raw_file_position() + e.size().div_ceil(512) * 512;
            let mut replace = None;
            let key = if name == OPAQUE {
                opaque.insert(dir.to_owned());
                None
            } else if let Some(hidden) = name.strip_prefix(WHITEOUT) {
                let p = if dir.is_empty() { hidden.to_owned() } else { format!("{dir}/{hidden}") };
                Some((p, Seen::Whiteout))
            } else {
                let kind = e.header().entry_type();
                let seen = match kind {
                    tar::EntryType::Regular | tar::EntryType::Continuous => Seen::File(e.size()),
                    tar::EntryType::Directory => Seen::Dir { opaque: false },
                    tar::EntryType::Symlink => {
                        Seen::Symlink(e.link_name_bytes().map(|l| l.into_owned()).unwrap_or_default())
                    }
                    _ => Seen::Other,
                };
                if let (Some(u), Seen::File(_)) = (users, &seen)
                    && u.is_candidate(&path)
                {
                    let mut content = Vec::new();
                    e.read_to_end(&mut content)?;
                    match u.fix(&path, &content).map_err(io::Error::other)? {
                        Fix::Keep => {}
                        Fix::Drop => fixed_away.push(path.clone()),
                        Fix::Replace(new) => replace = Some((plain_header(e.header(), &path, new.len())?, new)),
                    }
                }
                (!path.is_empty()).then_some((path.clone(), seen))
            };
            spans.push(Span { start: end_of_last, end, key, replace });
            end_of_last = end;
        }
    }
    for s in &mut spans {
        if let Some((p, Seen::Dir { opaque: o })) = &mut s.key {
            *o = opaque.contains(p.as_str());
        }
    }
    let keys = spans.iter().filter_map(|s| s.key.as_ref().map(|(p, seen)| (p.as_str(), seen)));
    let drop = runtime.runtime_entries(keys, &fixed_away);
    if drop.is_empty() && spans.iter().all(|s| s.replace.is_none()) {
        return Ok(tar);
    }
    let out = tempfile::Builder::new().prefix("docker-diff-").tempfile_in(tmp_dir)?;
    let mut w = io::BufWriter::new(out);
    let src = tar.as_file_mut();
    for s in spans.iter().filter(|s| !s.key.as_ref().is_some_and(|(p, _)| drop.contains(p))) {
        if let Some((header, data)) = &s.replace {
            w.write_all(header.as_bytes())?;
            w.write_all(data)?;
            w.write_all(&[0u8; 512][..data.len().next_multiple_of(512) - data.len()])?;
            continue;
        }
        src.seek(SeekFrom::Start(s.start))?;
        let n = io::copy(&mut (&mut *src).take(s.end - s.start), &mut w)?;
        if n != s.end - s.start {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "the diff tar is truncated"));
        }
    }
    w.write_all(&[0u8; 1024])?;
    w.into_inner().map_err(|e| e.into_error())
}

/// A ustar header for a regular file `path` of `size` bytes with the mode,
/// owner and mtime of `old`.
fn plain_header(old: &tar::Header, path: &str, size: usize) -> io::Result<tar::Header> {
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(tar::EntryType::Regular);
    h.set_path(path)?;
    h.set_size(size as u64);
    h.set_mode(old.mode()?);
    h.set_uid(old.uid()?);
    h.set_gid(old.gid()?);
    h.set_mtime(old.mtime()?);
    h.set_cksum();
    Ok(h)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(b: &mut tar::Builder<Vec<u8>>, path: &str, kind: tar::EntryType, data: &[u8], link: Option<&str>) {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_size(data.len() as u64);
        h.set_mode(0o755);
        if let Some(l) = link {
            h.set_link_name(l).unwrap();
        }
        b.append_data(&mut h, path, data).unwrap();
    }

    fn no_mounts() -> RuntimePaths {
        RuntimePaths::for_step(&crate::executor::StepSpec::new("t", Vec::new(), Vec::new()))
    }

    fn names(f: &mut NamedTempFile) -> Vec<String> {
        f.as_file_mut().rewind().unwrap();
        let mut ar = tar::Archive::new(f.as_file());
        ar.entries().unwrap().map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned()).collect()
    }

    #[test]
    fn podman_placeholders_are_stripped_and_the_rest_kept_byte_for_byte() {
        let mut b = tar::Builder::new(Vec::new());
        entry(&mut b, "etc/", tar::EntryType::Directory, b"", None);
        entry(&mut b, "etc/hostname", tar::EntryType::Regular, b"", None);
        entry(&mut b, "etc/mtab", tar::EntryType::Symlink, b"", Some("/proc/mounts"));
        entry(&mut b, "f", tar::EntryType::Regular, b"hi\n", None);
        // a long name: GNU long-name extension header before the entry
        let long = format!("d/{}", "x".repeat(150));
        entry(&mut b, &long, tar::EntryType::Regular, b"long", None);
        entry(&mut b, "run/", tar::EntryType::Directory, b"", None);
        entry(&mut b, "run/.containerenv", tar::EntryType::Regular, b"", None);
        entry(&mut b, "usr/", tar::EntryType::Directory, b"", None);
        entry(&mut b, "usr/.wh..wh..opq", tar::EntryType::Regular, b"", None);
        let bytes = b.into_inner().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let mut t = NamedTempFile::new_in(dir.path()).unwrap();
        t.write_all(&bytes).unwrap();
        let mut out = strip_runtime_entries(t, &no_mounts(), None, dir.path()).unwrap();
        assert_eq!(names(&mut out), ["f", long.as_str(), "usr/", "usr/.wh..wh..opq"]);
        let mut ar = tar::Archive::new(File::open(out.path()).unwrap());
        let mut e = ar.entries().unwrap().nth(1).unwrap().unwrap();
        let mut s = String::new();
        e.read_to_string(&mut s).unwrap();
        assert_eq!(s, "long");
    }

    #[test]
    fn a_tar_without_runtime_entries_is_handed_back_untouched() {
        let mut b = tar::Builder::new(Vec::new());
        entry(&mut b, "f", tar::EntryType::Regular, b"hi\n", None);
        entry(&mut b, ".wh..dockerenvx", tar::EntryType::Regular, b"", None);
        let bytes = b.into_inner().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let mut t = NamedTempFile::new_in(dir.path()).unwrap();
        t.write_all(&bytes).unwrap();
        let path = t.path().to_owned();
        let out = strip_runtime_entries(t, &no_mounts(), None, dir.path()).unwrap();
        assert_eq!(out.path(), path);
    }

    #[test]
    fn docker_env_whiteout_is_stripped() {
        let mut b = tar::Builder::new(Vec::new());
        entry(&mut b, ".wh..dockerenv", tar::EntryType::Regular, b"", None);
        entry(&mut b, "f", tar::EntryType::Regular, b"hi\n", None);
        let dir = tempfile::tempdir().unwrap();
        let mut t = NamedTempFile::new_in(dir.path()).unwrap();
        t.write_all(&b.into_inner().unwrap()).unwrap();
        let mut out = strip_runtime_entries(t, &no_mounts(), None, dir.path()).unwrap();
        assert_eq!(names(&mut out), ["f"]);
    }

    #[test]
    fn symlinks_in_a_save_archive_resolve_relative_to_their_directory() {
        assert_eq!(resolve("abc/layer.tar", "../def.tar"), "def.tar");
        assert_eq!(resolve("a/b/layer.tar", "../../blobs/sha256/x"), "blobs/sha256/x");
        assert_eq!(resolve("a/layer.tar", "/blobs/x"), "blobs/x");
        assert_eq!(normalise("./etc/"), "etc");
        assert_eq!(normalise("./"), "");
    }

    #[test]
    fn the_top_layer_is_found_through_manifest_json_and_verified() {
        let layer = {
            let mut b = tar::Builder::new(Vec::new());
            entry(&mut b, "f", tar::EntryType::Regular, b"hi\n", None);
            b.into_inner().unwrap()
        };
        let diff_id = crate::digest::sha256(&layer);
        let mut b = tar::Builder::new(Vec::new());
        entry(&mut b, "base.tar", tar::EntryType::Regular, b"not this one", None);
        entry(&mut b, &format!("{}.tar", diff_id.digest()), tar::EntryType::Regular, &layer, None);
        entry(&mut b, "abc/layer.tar", tar::EntryType::Symlink, b"", Some(&format!("../{}.tar", diff_id.digest())));
        let manifest = br#"[{"Config":"c.json","Layers":["base.tar","abc/layer.tar"]}]"#;
        entry(&mut b, "manifest.json", tar::EntryType::Regular, manifest, None);
        let dir = tempfile::tempdir().unwrap();
        let mut save = tempfile::tempfile_in(dir.path()).unwrap();
        save.write_all(&b.into_inner().unwrap()).unwrap();
        let out = top_layer(&mut save, &diff_id, NamedTempFile::new_in(dir.path()).unwrap()).unwrap();
        assert_eq!(std::fs::read(out.path()).unwrap(), layer);
        let wrong = crate::digest::sha256(b"other");
        let e = top_layer(&mut save, &wrong, NamedTempFile::new_in(dir.path()).unwrap()).unwrap_err();
        assert!(e.to_string().contains("hashes to"), "{e}");
    }
}
