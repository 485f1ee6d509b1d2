//! The working directory of a step run by a non-root user.
//!
//! A missing working directory is created before the step runs, as a change
//! of the step. The runc backend creates it and its missing parents owned by
//! the step's user (`Rootfs::mkdir_all`, BuildKit's `WORKDIR`); Docker
//! creates them owned by root (a non-root step then cannot write in its own
//! cwd) and Podman the last one only by the user. So for a non-root step,
//! the missing directories are created here, in the created but not yet
//! started container, by uploading a tar of them (mode 0755, the step's
//! uid:gid, mtime now, as `mkdir` would): the daemon then finds the cwd
//! present and leaves it alone. Root steps need nothing: every backend
//! creates root-owned 0755 directories for them.
//!
//! Which directories are missing: Docker creates the cwd when it creates the
//! container, so they are the cwd components its change list (`GET
//! .../changes`) reports as added; Podman creates it when starting, so they
//! are the components a stat (`HEAD .../archive`) finds missing. The upload
//! re-creates Docker's directories with the right owner (an extracted
//! directory entry sets the owner of an existing one). A component that is
//! a symlink is left to the daemon, as is a cwd whose path holds `..`.

use bollard::models::ChangeType;
use bollard::query_parameters::{ContainerArchiveInfoOptions, UploadToContainerOptions};

use super::{Session, is_not_found};
use crate::executor::{ExecError, StepSpec, spec};

/// Go's `os.ModeSymlink`, as the stat header reports modes.
const GO_MODE_SYMLINK: u32 = 1 << 27;
/// Go's `os.ModeDir`.
const GO_MODE_DIR: u32 = 1 << 31;

/// Creates the missing directories of `spec.cwd` in the container `id`,
/// owned by the step's user, when that user is not root.
pub(crate) fn prepare(s: &Session, id: &str, spec: &StepSpec) -> Result<(), ExecError> {
    let Ok((uid, gid)) = spec::parse_user(&spec.user) else {
        return Ok(());
    };
    if (uid, gid) == (0, 0) {
        return Ok(());
    }
    let comps: Vec<&str> = spec.cwd.split('/').filter(|c| !c.is_empty() && *c != ".").collect();
    if comps.contains(&"..") {
        return Ok(());
    }
    // Docker has already created a missing cwd, root-owned, when it created
    // the container: those directories are its only changes so far. Podman
    // creates it only when starting: a stat finds it missing.
    let created: Vec<String> = match s.block_on(s.docker.container_changes(id)) {
        Ok(changes) => {
            changes.unwrap_or_default().into_iter().filter(|c| c.kind == ChangeType::_1).map(|c| c.path).collect()
        }
        Err(e) => return Err(s.api_error(&spec.name, "list the container's changes", &e)),
    };
    let mut first_missing = None;
    for i in 1..=comps.len() {
        let path = format!("/{}", comps[..i].join("/"));
        if created.contains(&path) {
            first_missing = Some(i);
            break;
        }
        let opts = ContainerArchiveInfoOptions { path: path.clone() };
        match s.block_on(s.docker.get_container_archive_info(id, Some(opts))) {
            Ok(st) if st.file_mode & GO_MODE_SYMLINK != 0 || st.file_mode & GO_MODE_DIR == 0 => return Ok(()),
            Ok(_) => {}
            Err(e) if is_not_found(&e) => {
                first_missing = Some(i);
                break;
            }
            Err(e) => return Err(s.api_error(&spec.name, &format!("stat {path} in the container"), &e)),
        }
    }
    let Some(first) = first_missing else { return Ok(()) };
    let tar = dirs_tar(&comps, first, uid, gid).map_err(|e| ExecError::Backend {
        backend: s.backend,
        step: spec.name.clone(),
        message: format!("cannot build the working directory's tar: {e}"),
    })?;
    let opts = UploadToContainerOptions { path: "/".into(), ..Default::default() };
    s.block_on(s.docker.upload_to_container(id, Some(opts), bollard::body_full(tar.into())))
        .map_err(|e| s.api_error(&spec.name, &format!("create the working directory {}", spec.cwd), &e))
}

/// A tar of the directories `comps[..first]`, `comps[..first + 1]`, … `comps`.
fn dirs_tar(comps: &[&str], first: usize, uid: u32, gid: u32) -> std::io::Result<Vec<u8>> {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let mut b = tar::Builder::new(Vec::new());
    for i in first..=comps.len() {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Directory);
        h.set_mode(0o755);
        h.set_uid(uid.into());
        h.set_gid(gid.into());
        h.set_mtime(now);
        h.set_size(0);
        b.append_data(&mut h, format!("{}/", comps[..i].join("/")), std::io::empty())?;
    }
    b.into_inner()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tar_holds_the_missing_directories_owned_by_the_user() {
        let tar = dirs_tar(&["root", "parts", "a"], 2, 1000, 100).unwrap();
        let mut ar = tar::Archive::new(&tar[..]);
        let got: Vec<(String, u64, u64, u32)> = ar
            .entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                let h = e.header();
                (e.path().unwrap().display().to_string(), h.uid().unwrap(), h.gid().unwrap(), h.mode().unwrap())
            })
            .collect();
        assert_eq!(got, [("root/parts/".into(), 1000, 100, 0o755), ("root/parts/a/".into(), 1000, 100, 0o755)]);
    }
}
