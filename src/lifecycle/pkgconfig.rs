//! craft-parts' pkg-config fix at stage time, on a host dir (used by the
//! lifecycle until craft's stage runs as a host op of the build graph).

use std::fs;
use std::path::Path;

use strata_frontend_craft::dirs::STAGE_DIR;
use strata_frontend_craft::migrate::fix_pkg_config;
use strata_frontend_craft::tree::{Entry, EntryKind, Tree};

use super::LifecycleError;
use crate::vertex::hostfs::{HostFsError, file_digest};

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> LifecycleError + '_ {
    move |source| LifecycleError::Io { path: path.to_path_buf(), source }
}

/// craft-parts' stage-time fix of pkg-config files (`_builtin_stage`'s
/// `pkgconfig_fixup`): each of `files` (paths in `dir`) that is a `.pc`
/// regular file gets its `prefix=` moved from the part's install dir into
/// the stage ([`fix_pkg_config`]); `tree` gets the new contents' ids, so
/// prime copies the fixed files.
pub fn fix_staged_pkg_config<'a>(
    dir: &Path,
    tree: &mut Tree,
    files: impl IntoIterator<Item = &'a String>,
    install_dir: &str,
) -> Result<(), LifecycleError> {
    for rel in files.into_iter().filter(|f| f.ends_with(".pc")) {
        let path = dir.join(rel);
        let is_file = fs::symlink_metadata(&path).is_ok_and(|m| m.is_file());
        let Some(entry) = tree.get(rel).filter(|_| is_file).cloned() else { continue };
        let Ok(text) = String::from_utf8(fs::read(&path).map_err(io_err(&path))?) else { continue };
        let fixed = fix_pkg_config(&text, install_dir, STAGE_DIR);
        if fixed != text {
            fs::write(&path, fixed).map_err(io_err(&path))?;
            tree.insert(
                rel,
                Entry { kind: EntryKind::File { content: file_digest(&path).map_err(from_hostfs)? }, ..entry },
            );
        }
    }
    Ok(())
}

fn from_hostfs(e: HostFsError) -> LifecycleError {
    LifecycleError::Io { path: e.path, source: e.source }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vertex::hostfs::read_tree;

    #[test]
    fn staged_pkg_config_files_point_into_the_stage() {
        let d = tempfile::tempdir().unwrap();
        fs::create_dir_all(d.path().join("usr/lib/pkgconfig")).unwrap();
        let pc = "usr/lib/pkgconfig/foo.pc".to_string();
        fs::write(d.path().join(&pc), "prefix=/root/parts/p/install/usr\nName: foo\n").unwrap();
        let (mut tree, _) = read_tree(d.path()).unwrap();
        let before = tree.get(&pc).cloned();
        fix_staged_pkg_config(d.path(), &mut tree, [&pc], "/root/parts/p/install").unwrap();
        assert_eq!(fs::read_to_string(d.path().join(&pc)).unwrap(), "prefix=/root/stage/usr\nName: foo\n");
        let (back, _) = read_tree(d.path()).unwrap();
        assert_eq!(tree.get(&pc), back.get(&pc), "the tree knows the new contents");
        assert_ne!(tree.get(&pc), before.as_ref());
    }
}
