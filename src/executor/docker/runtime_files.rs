//! What the container runtime, not the step, leaves in a container's changes,
//! and removing it before the changes become a layer.
//!
//! # Why
//!
//! A runtime needs mount points and a few files of its own in the root
//! filesystem. Where they land differs, so a step's raw changes differ
//! between daemons even when the step did the same thing:
//!
//! | path | Docker (overlay2) | Podman (overlay) | runc backend |
//! |---|---|---|---|
//! | `/etc/hosts`, `/etc/hostname`, `/etc/resolv.conf` | bind mounts over placeholders in its *init layer* (a lower dir) | bind mounts; a missing file gets an empty placeholder in the *upper dir* | placeholders in `snapshot`'s init dir (a lower dir) |
//! | `/run/.containerenv` | — | bind mount, placeholder (and `/run`) in the upper dir | — |
//! | `/.dockerenv` | empty file in the init layer | — | — |
//! | `/etc/mtab` | symlink → `/proc/mounts` in the init layer | the same symlink in the upper dir, if missing | — |
//! | `/proc`, `/sys` | created in the upper dir when missing | created in the upper dir when missing | init dir |
//! | `/dev` | init layer | created in the upper dir when missing | init dir |
//! | the step's bind and tmpfs destinations | created in the upper dir (and missing parents; an existing parent is copied up) | the same | init dir |
//!
//! # The rule
//!
//! The *mount points* of a step are `proc`, `sys`, `dev`, `etc/hosts`,
//! `etc/hostname`, `etc/resolv.conf`, `run/.containerenv` and the
//! destinations of the step's own mounts. While the step runs, something is
//! mounted on each: what it writes there goes to the mounted file system,
//! and it can neither remove nor rename over them (`EBUSY`). So an entry of
//! the changes *at* a mount point can only be the runtime's placeholder.
//! An entry is the runtime's, and is dropped, when it is:
//!
//! 1. at a mount point: an empty regular file, or a directory that is not
//!    opaque and has nothing (left) below it. Anything else there —
//!    impossible in practice — is kept, so nothing a step did is dropped
//!    silently;
//! 2. at `.dockerenv`: an empty file or a whiteout (the step can only touch
//!    that file because Docker's init layer put it there);
//! 3. at `etc/mtab`: a symlink to exactly `/proc/mounts`, what both daemons
//!    create. A step that writes that very symlink over an image lacking one
//!    loses it; a whiteout there is kept (the image may have had the file);
//! 4. a directory above a dropped entry that is not opaque and has nothing
//!    left below it: the `etc/` or `root/` a placeholder was created in — a
//!    copy-up of an unchanged directory, or one the runtime created. A step
//!    that only changed the mode or owner of such a directory, and put
//!    nothing in it, loses that change.
//!
//! What a step writes *through* those mounts (appending to `/etc/hosts`) is
//! never captured, by any backend — as with BuildKit, whose runc executor
//! mounts these files the same way. After this rule, Docker's and Podman's
//! changes hold what runc's upper dir holds; the conformance suite compares
//! the layers case by case.

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

use crate::executor::{Mount, StepSpec};

/// Mount points every Docker/Podman container has (relative to the root).
const RUNTIME_MOUNTS: [&str; 7] =
    ["proc", "sys", "dev", "etc/hosts", "etc/hostname", "etc/resolv.conf", "run/.containerenv"];
const DOCKERENV: &str = ".dockerenv";
const MTAB: &str = "etc/mtab";
const MTAB_TARGET: &[u8] = b"/proc/mounts";

/// An entry of a container's changes, as far as the rule needs to know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Seen {
    /// A regular file and its size.
    File(u64),
    /// A directory; `opaque` if it hides the lower layers' content.
    Dir {
        opaque: bool,
    },
    Symlink(Vec<u8>),
    Whiteout,
    Other,
}

/// The paths the runtime owns during one step.
#[derive(Debug, Clone)]
pub(crate) struct RuntimePaths {
    mount_points: BTreeSet<String>,
}

impl RuntimePaths {
    pub fn for_step(spec: &StepSpec) -> Self {
        let mut mount_points: BTreeSet<String> = RUNTIME_MOUNTS.iter().map(|p| (*p).to_owned()).collect();
        for m in &spec.mounts {
            let (Mount::Bind { destination, .. } | Mount::Tmpfs { destination, .. }) = m;
            let p = normalise(destination);
            if !p.is_empty() {
                mount_points.insert(p);
            }
        }
        RuntimePaths { mount_points }
    }

    /// Rules 1–3 for a non-directory entry (directories need to know what
    /// is below them: see [`RuntimePaths::is_mount_point`] and rule 4).
    fn is_runtime_file(&self, path: &str, seen: &Seen) -> bool {
        match seen {
            Seen::File(0) => self.mount_points.contains(path) || path == DOCKERENV,
            Seen::Whiteout => path == DOCKERENV,
            Seen::Symlink(target) => path == MTAB && target == MTAB_TARGET,
            _ => false,
        }
    }

    fn is_mount_point(&self, path: &str) -> bool {
        self.mount_points.contains(path)
    }

    /// Which entries of a whole change list are the runtime's. Paths are
    /// relative, without a trailing `/`; whiteouts are listed at the path
    /// they delete, opaque markers not at all (their directory is
    /// `Dir { opaque: true }`).
    ///
    /// `also` are entries dropped for other reasons (Podman's `users`
    /// fixes); directories above them are candidates for rule 4 as well.
    pub fn runtime_entries<'a>(
        &self,
        entries: impl IntoIterator<Item = (&'a str, &'a Seen)>,
        also: &'a [String],
    ) -> BTreeSet<String> {
        let entries: BTreeMap<&str, &Seen> = entries.into_iter().collect();
        let mut dropped: BTreeSet<String> = also.iter().cloned().collect();
        let mut dirs: BTreeSet<&str> = also.iter().flat_map(|p| ancestors(p)).collect();
        for (&p, &s) in &entries {
            if self.is_runtime_file(p, s) {
                dropped.insert(p.to_owned());
                dirs.extend(ancestors(p));
            } else if self.is_mount_point(p) && matches!(s, Seen::Dir { .. }) {
                dirs.insert(p);
                dirs.extend(ancestors(p));
            }
        }
        // Deepest first, so a directory sees what became of its children.
        let mut dirs: Vec<&str> = dirs.into_iter().collect();
        dirs.sort_by_key(|d| std::cmp::Reverse(depth(d)));
        for dir in dirs {
            let Some(Seen::Dir { opaque: false }) = entries.get(dir) else {
                continue;
            };
            let below = format!("{dir}/");
            let kept_below = entries
                .range(below.as_str()..)
                .take_while(|(p, _)| p.starts_with(&below))
                .any(|(p, _)| !dropped.contains(*p));
            if !kept_below {
                dropped.insert(dir.to_owned());
            }
        }
        dropped
    }

    /// Removes the runtime's entries from an overlayfs upper dir in place (the
    /// container's own, removed with it afterwards). Returns what was
    /// removed. Only the candidate paths and their parents are looked at.
    /// `also` are paths already removed for other reasons (Podman's
    /// `users` fixes), whose directories are candidates for rule 4.
    pub fn scrub_upper_dir(&self, upper: &Path, also: &[String]) -> io::Result<Vec<String>> {
        let mut removed = Vec::new();
        let mut dirs: BTreeSet<&str> = also.iter().flat_map(|p| ancestors(p)).collect();
        let candidates = self.mount_points.iter().map(String::as_str).chain([DOCKERENV, MTAB]);
        for path in candidates {
            let full = upper.join(path);
            match stat_upper(&full)? {
                Some(Seen::Dir { .. }) if self.is_mount_point(path) => {
                    dirs.insert(path);
                    dirs.extend(ancestors(path));
                }
                Some(seen) if self.is_runtime_file(path, &seen) => {
                    std::fs::remove_file(&full)?;
                    removed.push(path.to_owned());
                    dirs.extend(ancestors(path));
                }
                _ => {}
            }
        }
        let mut dirs: Vec<&str> = dirs.into_iter().collect();
        dirs.sort_by_key(|d| std::cmp::Reverse(depth(d)));
        for dir in dirs {
            let full = upper.join(dir);
            if stat_upper(&full)? == Some(Seen::Dir { opaque: false }) && std::fs::read_dir(&full)?.next().is_none() {
                std::fs::remove_dir(&full)?;
                removed.push(dir.to_owned());
            }
        }
        Ok(removed)
    }
}

fn depth(path: &str) -> usize {
    path.matches('/').count()
}

/// `a/b/c` → `a/b`, `a`.
fn ancestors(path: &str) -> impl Iterator<Item = &str> {
    fn parent(p: &str) -> Option<&str> {
        p.rfind('/').map(|i| &p[..i])
    }
    std::iter::successors(parent(path), |p| parent(p))
}

/// `/a//b/./c/` → `a/b/c`.
pub(crate) fn normalise(path: &str) -> String {
    path.split('/').filter(|c| !c.is_empty() && *c != ".").collect::<Vec<_>>().join("/")
}

/// What an upper dir entry is, `None` if absent.
fn stat_upper(path: &Path) -> io::Result<Option<Seen>> {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound || e.kind() == io::ErrorKind::NotADirectory => return Ok(None),
        Err(e) => return Err(e),
    };
    let ft = meta.file_type();
    Ok(Some(if ft.is_file() {
        Seen::File(meta.len())
    } else if ft.is_dir() {
        Seen::Dir { opaque: is_opaque(path) }
    } else if ft.is_symlink() {
        use std::os::unix::ffi::OsStrExt;
        Seen::Symlink(std::fs::read_link(path)?.as_os_str().as_bytes().to_vec())
    } else if ft.is_char_device() && meta.rdev() == 0 {
        Seen::Whiteout
    } else {
        Seen::Other
    }))
}

/// overlayfs marks opaque directories with `trusted.overlay.opaque=y` (or
/// `user.overlay.opaque=y` on `userxattr` mounts).
fn is_opaque(dir: &Path) -> bool {
    ["trusted.overlay.opaque", "user.overlay.opaque"]
        .iter()
        .any(|name| matches!(xattr::get(dir, name), Ok(Some(v)) if v == b"y"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paths(mounts: &[&str]) -> RuntimePaths {
        let mut spec = StepSpec::new("t", Vec::new(), vec!["true".into()]);
        spec.mounts = mounts.iter().map(|d| Mount::Tmpfs { destination: (*d).to_owned(), size_bytes: None }).collect();
        RuntimePaths::for_step(&spec)
    }

    fn dropped(rp: &RuntimePaths, entries: &[(&str, Seen)]) -> Vec<String> {
        rp.runtime_entries(entries.iter().map(|(p, s)| (*p, s)), &[]).into_iter().collect()
    }

    const DIR: Seen = Seen::Dir { opaque: false };

    #[test]
    fn podman_placeholders_and_the_dirs_made_for_them_are_dropped() {
        let entries = [
            ("etc", DIR),
            ("etc/hostname", Seen::File(0)),
            ("etc/hosts", Seen::File(0)),
            ("etc/mtab", Seen::Symlink(b"/proc/mounts".to_vec())),
            ("f", Seen::File(3)),
            ("run", DIR),
            ("run/.containerenv", Seen::File(0)),
        ];
        assert_eq!(
            dropped(&paths(&[]), &entries),
            ["etc", "etc/hostname", "etc/hosts", "etc/mtab", "run", "run/.containerenv"]
        );
    }

    #[test]
    fn the_steps_mount_points_and_their_made_parents_are_dropped() {
        let entries =
            [("proc", DIR), ("root", DIR), ("root/project", DIR), ("scratch", DIR), ("work", DIR), ("work/x", DIR)];
        let rp = paths(&["/root/project", "/scratch/"]);
        assert_eq!(dropped(&rp, &entries), ["proc", "root", "root/project", "scratch"]);
    }

    #[test]
    fn a_directory_the_step_also_wrote_in_is_kept() {
        let entries = [
            ("etc", DIR),
            ("etc/hosts", Seen::File(0)),
            ("etc/motd", Seen::File(6)),
            ("etc/group", Seen::Whiteout),
            ("root", DIR),
            ("root/project", DIR),
            ("root/.profile", Seen::File(5)),
        ];
        assert_eq!(dropped(&paths(&["/root/project"]), &entries), ["etc/hosts", "root/project"]);
    }

    #[test]
    fn an_opaque_directory_is_kept_even_when_emptied() {
        let entries = [("run", Seen::Dir { opaque: true }), ("run/.containerenv", Seen::File(0))];
        assert_eq!(dropped(&paths(&[]), &entries), ["run/.containerenv"]);
    }

    #[test]
    fn only_what_the_runtime_makes_is_dropped() {
        // Non-empty files, other targets, whiteouts of mount points, files
        // elsewhere, a non-empty mount-point dir, are the step's.
        let entries = [
            ("etc", DIR),
            ("etc/hosts", Seen::File(12)),
            ("etc/mtab", Seen::Symlink(b"/proc/self/mounts".to_vec())),
            ("etc/resolv.conf", Seen::Whiteout),
            ("hosts", Seen::File(0)),
            ("x", DIR),
            ("x/etc", DIR),
            ("x/etc/hosts", Seen::File(0)),
            ("dev", DIR),
            ("dev/null", Seen::Other),
        ];
        assert!(dropped(&paths(&[]), &entries).is_empty());
        assert!(dropped(&paths(&[]), &[("etc/mtab", Seen::Whiteout)]).is_empty());
    }

    #[test]
    fn docker_env_marker_touched_or_deleted_is_dropped() {
        let rp = paths(&[]);
        assert_eq!(dropped(&rp, &[(".dockerenv", Seen::Whiteout)]), [".dockerenv"]);
        assert_eq!(dropped(&rp, &[(".dockerenv", Seen::File(0)), ("f", Seen::File(1))]), [".dockerenv"]);
        assert!(dropped(&rp, &[(".dockerenv", Seen::File(4))]).is_empty());
    }

    #[test]
    fn scrubbing_an_upper_dir_removes_placeholders_in_place() {
        let d = tempfile::tempdir().unwrap();
        let up = d.path();
        for dir in ["etc", "run", "tmp", "proc", "root/project", "data"] {
            std::fs::create_dir_all(up.join(dir)).unwrap();
        }
        std::fs::write(up.join("etc/hosts"), b"").unwrap();
        std::fs::write(up.join("etc/hostname"), b"").unwrap();
        std::fs::write(up.join("etc/motd"), b"hello\n").unwrap();
        std::os::unix::fs::symlink("/proc/mounts", up.join("etc/mtab")).unwrap();
        std::fs::write(up.join("run/.containerenv"), b"").unwrap();
        std::fs::write(up.join("tmp/hosts"), b"").unwrap();
        std::fs::write(up.join("data/kept"), b"x").unwrap();
        let rp = paths(&["/root/project", "/data"]);
        let mut removed = rp.scrub_upper_dir(up, &[]).unwrap();
        removed.sort();
        assert_eq!(
            removed,
            ["etc/hostname", "etc/hosts", "etc/mtab", "proc", "root", "root/project", "run", "run/.containerenv"]
        );
        assert!(up.join("etc/motd").is_file());
        assert!(up.join("tmp/hosts").is_file());
        assert!(up.join("data/kept").is_file());
        // Nothing to do the second time.
        assert!(rp.scrub_upper_dir(up, &[]).unwrap().is_empty());

        // A directory left empty by another fix goes too.
        std::fs::create_dir_all(up.join("var/lib")).unwrap();
        assert_eq!(rp.scrub_upper_dir(up, &["var/lib/gone".into()]).unwrap(), ["var/lib", "var"]);
    }

    #[test]
    fn directories_emptied_by_other_fixes_are_dropped() {
        let entries = [("etc", DIR), ("etc/passwd", Seen::File(82)), ("tmp", DIR), ("tmp/x", Seen::File(1))];
        let got: Vec<String> = paths(&[])
            .runtime_entries(entries.iter().map(|(p, s)| (*p, s)), &["etc/passwd".into()])
            .into_iter()
            .collect();
        assert_eq!(got, ["etc", "etc/passwd"]);
    }
}
