//! Helpers shared by the layer tests: trees on disk, crafted tar streams,
//! and a readable listing of a layer.

use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::Path;
use std::time::{Duration, UNIX_EPOCH};

use super::source::decompress;

/// Whether the test may use root-only operations (mknod, chown, trusted.*
/// xattrs). Without root it says why it stops; under `CI=true` it fails.
pub fn have_root(what: &str) -> bool {
    crate::testutil::need_root(what)
}

/// Builds trees with explicit modes and times (umask-independent).
pub struct Tree<'a>(pub &'a Path);

impl Tree<'_> {
    pub fn dir(&self, rel: &str, mode: u32) -> &Self {
        let p = self.0.join(rel);
        fs::create_dir_all(&p).unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(mode)).unwrap();
        self
    }

    pub fn file(&self, rel: &str, content: &[u8], mode: u32) -> &Self {
        let p = self.0.join(rel);
        fs::write(&p, content).unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(mode)).unwrap();
        self
    }

    pub fn symlink(&self, rel: &str, target: &str) -> &Self {
        symlink(target, self.0.join(rel)).unwrap();
        self
    }

    pub fn hardlink(&self, rel: &str, existing: &str) -> &Self {
        fs::hard_link(self.0.join(existing), self.0.join(rel)).unwrap();
        self
    }

    /// Sets the mtime of every entry (symlinks included, not followed).
    pub fn touch_all(&self, secs: u64) -> &Self {
        for e in walkdir::WalkDir::new(self.0).contents_first(true) {
            let e = e.unwrap();
            let c = std::ffi::CString::new(e.path().as_os_str().as_encoded_bytes()).unwrap();
            let ts = libc::timespec { tv_sec: secs as libc::time_t, tv_nsec: 0 };
            // SAFETY: valid path and timespec pair.
            let r =
                unsafe { libc::utimensat(libc::AT_FDCWD, c.as_ptr(), [ts, ts].as_ptr(), libc::AT_SYMLINK_NOFOLLOW) };
            assert_eq!(r, 0);
        }
        let _ = UNIX_EPOCH + Duration::from_secs(secs);
        self
    }
}

/// One line per entry: `name type mode uid:gid mtime size [-> link] [xattrs]`.
pub fn listing(layer: &[u8]) -> Vec<String> {
    let (_, stream) = decompress(layer).unwrap();
    let mut archive = tar::Archive::new(stream);
    let mut out = Vec::new();
    for e in archive.entries().unwrap() {
        let mut e = e.unwrap();
        let h = e.header().clone();
        let mut line = format!(
            "{} {} {:o} {}:{} {} {}",
            String::from_utf8_lossy(&e.path_bytes()),
            h.entry_type().as_byte() as char,
            h.mode().unwrap(),
            h.uid().unwrap(),
            h.gid().unwrap(),
            h.mtime().unwrap(),
            e.size(),
        );
        if let Some(l) = e.link_name_bytes() {
            line += &format!(" -> {}", String::from_utf8_lossy(&l));
        }
        if let Some(exts) = e.pax_extensions().unwrap() {
            for ext in exts {
                let ext = ext.unwrap();
                if ext.key().unwrap().starts_with("SCHILY.xattr.") {
                    line += &format!(" {}={:02x?}", ext.key().unwrap(), ext.value_bytes());
                }
            }
        }
        let mut data = Vec::new();
        e.read_to_end(&mut data).unwrap();
        if h.entry_type().is_file() && !data.is_empty() {
            line += &format!(" {:?}", String::from_utf8_lossy(&data[..data.len().min(24)]));
        }
        out.push(line);
    }
    out
}

/// Just the entry names of a layer, in stream order.
pub fn names(layer: &[u8]) -> Vec<String> {
    listing(layer).iter().map(|l| l.split(' ').next().unwrap().to_string()).collect()
}

/// A tar entry written byte for byte, for streams strata would never write.
pub struct Raw<'a> {
    pub name: &'a [u8],
    pub ty: tar::EntryType,
    pub link: &'a [u8],
    pub data: &'a [u8],
    pub mode: u32,
}

impl<'a> Raw<'a> {
    pub fn file(name: &'a str, data: &'a [u8]) -> Self {
        Raw { name: name.as_bytes(), ty: tar::EntryType::Regular, link: b"", data, mode: 0o644 }
    }
    pub fn dir(name: &'a str) -> Self {
        Raw { name: name.as_bytes(), ty: tar::EntryType::Directory, link: b"", data: b"", mode: 0o755 }
    }
    pub fn symlink(name: &'a str, target: &'a str) -> Self {
        Raw { name: name.as_bytes(), ty: tar::EntryType::Symlink, link: target.as_bytes(), data: b"", mode: 0o777 }
    }
    pub fn hardlink(name: &'a str, target: &'a str) -> Self {
        Raw { name: name.as_bytes(), ty: tar::EntryType::Link, link: target.as_bytes(), data: b"", mode: 0o644 }
    }
}

/// A plain tar of `entries`, in the given order, names unchecked.
pub fn raw_tar(entries: &[Raw]) -> Vec<u8> {
    let mut out = Vec::new();
    for e in entries {
        let mut h = tar::Header::new_ustar();
        h.as_old_mut().name[..e.name.len()].copy_from_slice(e.name);
        h.as_old_mut().linkname[..e.link.len()].copy_from_slice(e.link);
        h.set_entry_type(e.ty);
        h.set_mode(e.mode);
        h.set_size(e.data.len() as u64);
        h.set_mtime(1_000);
        h.set_uid(0);
        h.set_gid(0);
        h.set_cksum();
        out.write_all(h.as_bytes()).unwrap();
        out.write_all(e.data).unwrap();
        out.resize(out.len().next_multiple_of(512), 0);
    }
    out.resize(out.len() + 1024, 0);
    out
}

/// Every path under `root`, relative, sorted, with `/` after directories.
pub fn tree_paths(root: &Path) -> Vec<String> {
    let mut v: Vec<String> = walkdir::WalkDir::new(root)
        .min_depth(1)
        .into_iter()
        .map(|e| {
            let e = e.unwrap();
            let rel = e.path().strip_prefix(root).unwrap().to_string_lossy().into_owned();
            if e.file_type().is_dir() { rel + "/" } else { rel }
        })
        .collect();
    v.sort();
    v
}
