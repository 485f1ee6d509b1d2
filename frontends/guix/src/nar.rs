//! The NAR serialisation (Nix archive) and its sha256, the hash of
//! recursive origins such as `git-fetch` checkouts (reference §5.4): every
//! string is an 8-byte little-endian length, the bytes, and zero padding to
//! a multiple of 8; directories list their entries sorted by name; only
//! the owner-executable bit, file contents and symlink targets count.

use std::fs;
use std::io;
use std::path::Path;

use sha2::{Digest, Sha256};

/// Writes the NAR of the file, symlink or directory at `path` to `out`.
pub fn serialize(path: &Path, out: &mut impl io::Write) -> io::Result<()> {
    string(out, b"nix-archive-1")?;
    node(path, out)
}

/// The sha256 of the NAR of `path`.
pub fn hash(path: &Path) -> io::Result<[u8; 32]> {
    let mut w = HashWriter(Sha256::new());
    serialize(path, &mut w)?;
    Ok(w.0.finalize().into())
}

struct HashWriter(Sha256);

impl io::Write for HashWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn string(out: &mut impl io::Write, s: &[u8]) -> io::Result<()> {
    out.write_all(&(s.len() as u64).to_le_bytes())?;
    out.write_all(s)?;
    let pad = (8 - s.len() % 8) % 8;
    out.write_all(&[0u8; 8][..pad])
}

fn node(path: &Path, out: &mut impl io::Write) -> io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::fs::PermissionsExt;
    let meta = fs::symlink_metadata(path)?;
    string(out, b"(")?;
    string(out, b"type")?;
    if meta.file_type().is_symlink() {
        string(out, b"symlink")?;
        string(out, b"target")?;
        string(out, fs::read_link(path)?.as_os_str().as_bytes())?;
    } else if meta.is_dir() {
        string(out, b"directory")?;
        let mut names: Vec<Vec<u8>> =
            fs::read_dir(path)?.map(|e| e.map(|e| e.file_name().as_bytes().to_vec())).collect::<io::Result<_>>()?;
        names.sort();
        for name in names {
            string(out, b"entry")?;
            string(out, b"(")?;
            string(out, b"name")?;
            string(out, &name)?;
            string(out, b"node")?;
            node(&path.join(std::ffi::OsStr::from_bytes(&name)), out)?;
            string(out, b")")?;
        }
    } else {
        string(out, b"regular")?;
        if meta.permissions().mode() & 0o100 != 0 {
            string(out, b"executable")?;
            string(out, b"")?;
        }
        string(out, b"contents")?;
        let bytes = fs::read(path)?;
        string(out, &bytes)?;
    }
    string(out, b")")
}

/// The sha256 of the NAR of a file tree as strata lists it (a host op's
/// input): `tree`'s root is the NAR's root directory; paths `skip` says
/// yes to are left out (with what is below them).
pub fn hash_tree(
    tree: &strata_frontend_api::tree::Tree,
    files: &dyn strata_frontend_api::ReadFile,
    skip: &dyn Fn(&str) -> bool,
) -> io::Result<[u8; 32]> {
    let mut w = HashWriter(Sha256::new());
    string(&mut w, b"nix-archive-1")?;
    tree_node(tree, files, skip, "", &mut w)?;
    Ok(w.0.finalize().into())
}

fn tree_node(
    tree: &strata_frontend_api::tree::Tree,
    files: &dyn strata_frontend_api::ReadFile,
    skip: &dyn Fn(&str) -> bool,
    path: &str,
    out: &mut HashWriter,
) -> io::Result<()> {
    use strata_frontend_api::tree::EntryKind;
    string(out, b"(")?;
    string(out, b"type")?;
    let entry = if path.is_empty() { None } else { tree.get(path) };
    match entry.map(|e| (&e.kind, e.mode)) {
        Some((EntryKind::Symlink { target }, _)) => {
            string(out, b"symlink")?;
            string(out, b"target")?;
            string(out, target.as_bytes())?;
        }
        Some((EntryKind::File { .. }, mode)) => {
            string(out, b"regular")?;
            if mode & 0o100 != 0 {
                string(out, b"executable")?;
                string(out, b"")?;
            }
            string(out, b"contents")?;
            string(out, &files.read(path)?)?;
        }
        _ => {
            string(out, b"directory")?;
            let mut names = tree.children(path);
            names.sort();
            for name in names {
                let child = if path.is_empty() { name.clone() } else { format!("{path}/{name}") };
                if skip(&child) {
                    continue;
                }
                string(out, b"entry")?;
                string(out, b"(")?;
                string(out, b"name")?;
                string(out, name.as_bytes())?;
                string(out, b"node")?;
                tree_node(tree, files, skip, &child, out)?;
                string(out, b")")?;
            }
        }
    }
    string(out, b")")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn strings(parts: &[&[u8]]) -> Vec<u8> {
        let mut v = Vec::new();
        for p in parts {
            string(&mut v, p).unwrap();
        }
        v
    }

    #[test]
    fn a_regular_file_is_its_type_and_contents_padded_to_eight_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("f");
        fs::write(&f, b"hi").unwrap();
        let mut v = Vec::new();
        serialize(&f, &mut v).unwrap();
        assert_eq!(v, strings(&[b"nix-archive-1", b"(", b"type", b"regular", b"contents", b"hi", b")"]));
        assert_eq!(&v[8..21], b"nix-archive-1");
        assert_eq!(v.len() % 8, 0);
    }

    #[test]
    fn directories_sort_entries_and_mark_executables() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("b"), b"").unwrap();
        fs::write(dir.path().join("a"), b"x").unwrap();
        fs::set_permissions(dir.path().join("a"), fs::Permissions::from_mode(0o755)).unwrap();
        std::os::unix::fs::symlink("a", dir.path().join("c")).unwrap();
        let mut v = Vec::new();
        serialize(dir.path(), &mut v).unwrap();
        let want = strings(&[
            b"nix-archive-1",
            b"(",
            b"type",
            b"directory",
            b"entry",
            b"(",
            b"name",
            b"a",
            b"node",
            b"(",
            b"type",
            b"regular",
            b"executable",
            b"",
            b"contents",
            b"x",
            b")",
            b")",
            b"entry",
            b"(",
            b"name",
            b"b",
            b"node",
            b"(",
            b"type",
            b"regular",
            b"contents",
            b"",
            b")",
            b")",
            b"entry",
            b"(",
            b"name",
            b"c",
            b"node",
            b"(",
            b"type",
            b"symlink",
            b"target",
            b"a",
            b")",
            b")",
            b")",
        ]);
        assert_eq!(v, want);
        // The same tree as a listing hashes the same.
        struct Files<'a>(&'a Path);
        impl strata_frontend_api::ReadFile for Files<'_> {
            fn read(&self, path: &str) -> io::Result<Vec<u8>> {
                fs::read(self.0.join(path))
            }
        }
        let tree = strata_frontend_api::tree::Tree::parse_listing("f 755 a\nf 644 b\nl 777 c -> a\nf 644 .git/HEAD\n")
            .unwrap();
        let h = hash_tree(&tree, &Files(dir.path()), &|p| p == ".git").unwrap();
        assert_eq!(h, hash(dir.path()).unwrap());
    }
}
