//! Podman's `/etc/passwd` and `/etc/group` entries for an unknown user.
//!
//! When a container runs as a numeric user (or group) missing from the
//! image's `/etc/passwd` (`/etc/group`), Podman appends an entry for it to
//! the container's own file before starting it (libpod
//! `generatePasswdAndGroup`; there is no switch for it in the Docker API):
//!
//! ```text
//! /etc/passwd  <uid>:*:<uid>:<gid>:container user:<workdir>:/bin/sh
//! /etc/group   <gid>:x:<gid>:<user as given>
//! ```
//!
//! That write is the runtime's, not the step's, and neither Docker nor the
//! runc backend makes it. So, on Podman, the first occurrence of exactly that
//! line is taken out of the changed file again; if what is left is the
//! input layers' file, the file was changed by Podman alone and is dropped
//! from the changes (with an `etc/` made only for it: `runtime_files`'
//! rule 4), otherwise the step's own edits are kept without Podman's line.

use std::io::Read;

use crate::executor::{ExecError, StepSpec, spec};
use crate::layer::LayerInfo;
use crate::store::Store;

/// What to do with one changed file.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Fix {
    /// Podman did not touch it.
    Keep,
    /// Only Podman changed it: not a change of the step.
    Drop,
    /// The step changed it too: its content without Podman's line.
    Replace(Vec<u8>),
}

/// The lines Podman appends for one step, and where the original files are.
pub(crate) struct PodmanUsers<'a> {
    passwd: String,
    group: Option<String>,
    store: &'a Store,
    layers: &'a [LayerInfo],
    step: &'a str,
}

impl<'a> PodmanUsers<'a> {
    /// `None` for a user Podman adds nothing for (a non-numeric one).
    pub fn for_step(spec: &'a StepSpec, store: &'a Store) -> Option<PodmanUsers<'a>> {
        spec::parse_user(&spec.user).ok()?;
        let (user, group) = match spec.user.split_once(':') {
            Some((u, g)) => (u, Some(g)),
            None => (spec.user.as_str(), None),
        };
        let uid: u32 = user.parse().ok()?;
        let gid: u32 = group.and_then(|g| g.parse().ok()).unwrap_or(0);
        let group_gid: Option<u32> = group.unwrap_or(user).parse().ok();
        Some(PodmanUsers {
            passwd: format!("{uid}:*:{uid}:{gid}:container user:{}:/bin/sh\n", spec.cwd),
            group: group_gid.map(|g| format!("{g}:x:{g}:{user}\n")),
            store,
            layers: &spec.layers,
            step: &spec.name,
        })
    }

    /// The line Podman may have appended to `path` (relative), if any.
    fn line(&self, path: &str) -> Option<&str> {
        match path {
            "etc/passwd" => Some(&self.passwd),
            "etc/group" => self.group.as_deref(),
            _ => None,
        }
    }

    pub fn is_candidate(&self, path: &str) -> bool {
        self.line(path).is_some()
    }

    /// What to do with the changed file `path` whose content is `content`.
    pub fn fix(&self, path: &str, content: &[u8]) -> Result<Fix, ExecError> {
        let Some(line) = self.line(path) else {
            return Ok(Fix::Keep);
        };
        let Some(without) = remove_first(content, line.as_bytes()) else {
            return Ok(Fix::Keep);
        };
        match base_file(self.store, self.layers, path, self.step)? {
            Some(original) if original == without => Ok(Fix::Drop),
            _ => Ok(Fix::Replace(without)),
        }
    }
}

/// `content` without the first occurrence of `line`, `None` if absent.
fn remove_first(content: &[u8], line: &[u8]) -> Option<Vec<u8>> {
    let at = content.windows(line.len()).position(|w| w == line)?;
    let mut out = content[..at].to_vec();
    out.extend_from_slice(&content[at + line.len()..]);
    Some(out)
}

/// The content of the regular file `path` (relative) in the image made of
/// `layers`, read from their blobs in the store, top layer first.
pub(crate) fn base_file(
    store: &Store,
    layers: &[LayerInfo],
    path: &str,
    step: &str,
) -> Result<Option<Vec<u8>>, ExecError> {
    let (dir, name) = path.rsplit_once('/').unwrap_or(("", path));
    let whiteout = if dir.is_empty() { format!(".wh.{name}") } else { format!("{dir}/.wh.{name}") };
    let opaque = if dir.is_empty() { ".wh..wh..opq".to_owned() } else { format!("{dir}/.wh..wh..opq") };
    // A whiteout of any parent hides the file too.
    let parent_whiteouts: Vec<String> = std::iter::successors(Some(dir), |d| d.rsplit_once('/').map(|(p, _)| p))
        .filter(|d| !d.is_empty())
        .map(|d| match d.rsplit_once('/') {
            Some((p, n)) => format!("{p}/.wh.{n}"),
            None => format!(".wh.{d}"),
        })
        .collect();
    for layer in layers.iter().rev() {
        let io = |e: std::io::Error| ExecError::Io {
            step: step.to_owned(),
            path: store.blob_path(&layer.digest),
            source: e,
        };
        let (_, tar) = crate::layer::decompress(store.open_blob(&layer.digest)?).map_err(io)?;
        let mut ar = tar::Archive::new(tar);
        let mut hidden = false;
        for e in ar.entries().map_err(io)? {
            let mut e = e.map_err(io)?;
            let p = super::runtime_files::normalise(&String::from_utf8_lossy(&e.path_bytes()));
            if p == path {
                if e.header().entry_type() != tar::EntryType::Regular {
                    return Ok(None);
                }
                let mut buf = Vec::new();
                e.read_to_end(&mut buf).map_err(io)?;
                return Ok(Some(buf));
            }
            if p == whiteout || parent_whiteouts.contains(&p) {
                return Ok(None);
            }
            hidden |= p == opaque;
        }
        if hidden {
            return Ok(None);
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layer::{Compression, LayerInfo};

    fn layer(store: &Store, files: &[(&str, &[u8])]) -> LayerInfo {
        let mut b = tar::Builder::new(Vec::new());
        for (p, data) in files {
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            b.append_data(&mut h, p, *data).unwrap();
        }
        let bytes = b.into_inner().unwrap();
        let d = store.put_bytes(Compression::None.media_type(), &bytes).unwrap();
        LayerInfo {
            digest: d.digest().clone(),
            diff_id: d.digest().clone(),
            size: d.size(),
            compression: Compression::None,
        }
    }

    #[test]
    fn podmans_lines_are_what_libpod_writes() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let mut s = StepSpec::new("t", Vec::new(), vec!["true".into()]);
        s.user = "1000:1000".into();
        s.cwd = "/new/dir".into();
        let u = PodmanUsers::for_step(&s, &store).unwrap();
        assert_eq!(u.passwd, "1000:*:1000:1000:container user:/new/dir:/bin/sh\n");
        assert_eq!(u.group.as_deref(), Some("1000:x:1000:1000\n"));
        s.user = "1000".into();
        let u = PodmanUsers::for_step(&s, &store).unwrap();
        assert_eq!(u.passwd, "1000:*:1000:0:container user:/new/dir:/bin/sh\n");
        assert_eq!(u.group.as_deref(), Some("1000:x:1000:1000\n"));
    }

    #[test]
    fn a_file_only_podman_changed_is_dropped_and_step_edits_are_kept() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let base = layer(&store, &[("etc/passwd", b"root:x:0:0:root:/root:/bin/sh\n")]);
        let mut s = StepSpec::new("t", vec![base], vec!["true".into()]);
        s.user = "7:7".into();
        let u = PodmanUsers::for_step(&s, &store).unwrap();
        let podman = b"root:x:0:0:root:/root:/bin/sh\n7:*:7:7:container user:/:/bin/sh\n";
        assert_eq!(u.fix("etc/passwd", podman).unwrap(), Fix::Drop);
        let edited = b"root:x:0:0:root:/root:/bin/sh\n7:*:7:7:container user:/:/bin/sh\nme:x:8:8::/:/bin/sh\n";
        assert_eq!(
            u.fix("etc/passwd", edited).unwrap(),
            Fix::Replace(b"root:x:0:0:root:/root:/bin/sh\nme:x:8:8::/:/bin/sh\n".to_vec())
        );
        assert_eq!(u.fix("etc/passwd", b"root:x:0:0:root:/root:/bin/sh\n").unwrap(), Fix::Keep);
        assert_eq!(u.fix("etc/shadow", podman).unwrap(), Fix::Keep);
    }

    #[test]
    fn the_base_file_is_read_top_layer_first_with_whiteouts() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let bottom = layer(&store, &[("etc/group", b"old\n"), ("etc/passwd", b"p\n")]);
        let top = layer(&store, &[("etc/group", b"new\n"), ("etc/.wh.passwd", b"")]);
        let layers = [bottom.clone(), top];
        assert_eq!(base_file(&store, &layers, "etc/group", "t").unwrap().as_deref(), Some(&b"new\n"[..]));
        assert_eq!(base_file(&store, &layers, "etc/passwd", "t").unwrap(), None);
        assert_eq!(
            base_file(&store, std::slice::from_ref(&bottom), "etc/passwd", "t").unwrap().as_deref(),
            Some(&b"p\n"[..])
        );
        let gone = layer(&store, &[(".wh.etc", b"")]);
        assert_eq!(base_file(&store, &[bottom, gone], "etc/group", "t").unwrap(), None);
    }
}
