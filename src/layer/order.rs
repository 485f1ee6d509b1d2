//! Entry paths and the one order every strata layer is written in.
//!
//! # The order
//!
//! Entries are sorted by their path **component by component**, each
//! component compared by its raw bytes. Equivalently: by the bytes of the
//! full path with `/` sorting below every other byte (a name cannot contain
//! NUL, so `/` ↦ `0x00` gives exactly this order). It is what a depth-first
//! walk gives when every directory's children are sorted by name, which is
//! how the writer produces it, one directory listing at a time.
//!
//! It is *not* plain byte order of the full path. `a/b` comes before `a-c`
//! here ("a" < "a-c"), while plain byte order has `a-c` first because
//! `-` (0x2d) < `/` (0x2f). Plain byte order was rejected because it
//! interleaves a directory's subtree with its siblings (`a/`, `a-c`, `a/b`
//! with directory entries carrying their trailing slash, or `a`, `a-c`, `a/b`
//! without), so neither the writer nor a reader could handle one directory at
//! a time. In this order **every subtree is contiguous**, right after its
//! directory's own entry, and that is what lets [`squash`](super::squash())
//! merge layers in one streaming pass: when an upper layer deletes or
//! replaces a directory, everything below it in the lower layers comes next
//! and is skipped without any lookup table.
//!
//! Whiteouts are placed by the path they hide: `.wh.NAME` sorts where `NAME`
//! would (an overlay upper dir stores the whiteout as a device named `NAME`,
//! so this is again just the walk order). The opaque marker
//! `DIR/.wh..wh..opq` sorts right after `DIR/` itself, before any child of
//! `DIR`, so a reader learns that a directory is opaque before it sees what
//! the layer puts in it. Both rules only concern names starting with `.wh.`,
//! which the writer refuses for anything that is not a whiteout.
//!
//! The order is a pure function of the set of paths, independent of the
//! filesystem, directory creation order, locale or platform.

use std::cmp::Ordering;

use super::LayerError;

/// The name prefix that marks a whiteout entry (`DIR/.wh.NAME` deletes `DIR/NAME`).
pub const WHITEOUT_PREFIX: &[u8] = b".wh.";
/// The name of the entry marking its directory as opaque.
pub const OPAQUE_MARKER: &[u8] = b".wh..wh..opq";
/// Prefix of aufs-private metadata (`.wh..wh.plnk/`, `.wh..wh.aufs`), ignored like Docker does.
const AUFS_META_PREFIX: &[u8] = b".wh..wh.";

/// Compares two relative paths in strata's layer order (see the module docs).
///
/// Trailing slashes are ignored; `.wh.` names are compared as plain names
/// here (use the entry's logical path, as the writer does, for whiteouts).
pub fn compare_paths(a: &[u8], b: &[u8]) -> Ordering {
    let a = a.strip_suffix(b"/").unwrap_or(a);
    let b = b.strip_suffix(b"/").unwrap_or(b);
    a.split(|&c| c == b'/').cmp(b.split(|&c| c == b'/'))
}

/// The sort key of an entry: its logical path with `/` mapped to `0`, and
/// for an opaque marker the key of its directory followed by `0` (an empty
/// last component, which sorts before every real name).
pub(crate) fn sort_key(path: &[u8], opaque: bool) -> Vec<u8> {
    let mut key: Vec<u8> = path.iter().map(|&c| if c == b'/' { 0 } else { c }).collect();
    if opaque {
        key.push(0);
    }
    key
}

/// Whether `key` lies strictly below the directory whose key is `dir`
/// (everything lies below the root, whose key is empty).
pub(crate) fn key_is_under(key: &[u8], dir: &[u8]) -> bool {
    if dir.is_empty() {
        return !key.is_empty();
    }
    key.len() > dir.len() && key.starts_with(dir) && key[dir.len()] == 0
}

/// Whether `path` is `dir` or lies below it (logical paths, `/`-separated;
/// the root is the empty path).
pub(crate) fn path_is_within(path: &[u8], dir: &[u8]) -> bool {
    dir.is_empty() || path == dir || (path.len() > dir.len() && path.starts_with(dir) && path[dir.len()] == b'/')
}

/// The parent of a logical path (`""` for top-level entries).
pub(crate) fn parent(path: &[u8]) -> &[u8] {
    match path.iter().rposition(|&c| c == b'/') {
        Some(i) => &path[..i],
        None => b"",
    }
}

/// What an entry name means once the `.wh.` conventions are applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Class {
    /// An ordinary entry at its own path.
    Plain,
    /// `DIR/.wh.NAME`: the logical path is `DIR/NAME`, which it deletes.
    Whiteout,
    /// `DIR/.wh..wh..opq`: the logical path is `DIR`, which it makes opaque.
    Opaque,
}

/// A tar entry name, checked and normalised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum EntryName {
    /// The root itself (`.`, `./`): not a layer entry (see the writer docs).
    Root,
    /// Names strata ignores, like Docker: aufs metadata (`.wh..wh.plnk`).
    Ignored,
    /// A real entry: its logical path (relative, no `.` components, no
    /// trailing slash) and how to read it.
    Entry { path: Vec<u8>, class: Class },
}

/// Checks and normalises a raw tar entry name: leading `./` and `.`
/// components and repeated or trailing slashes are dropped; an absolute path
/// or a `..` component is refused with an error naming the entry.
pub(crate) fn parse_entry_name(raw: &[u8]) -> Result<EntryName, LayerError> {
    let entry = || String::from_utf8_lossy(raw).into_owned();
    if raw.first() == Some(&b'/') {
        return Err(LayerError::AbsolutePath { entry: entry() });
    }
    let mut path = Vec::with_capacity(raw.len());
    let mut last = &raw[0..0];
    for comp in raw.split(|&c| c == b'/') {
        match comp {
            b"" | b"." => continue,
            b".." => return Err(LayerError::ParentComponent { entry: entry() }),
            _ => {}
        }
        if !path.is_empty() {
            path.push(b'/');
        }
        path.extend_from_slice(comp);
        last = comp;
    }
    if path.is_empty() {
        return Ok(EntryName::Root);
    }
    if last == OPAQUE_MARKER {
        let dir_len = path.len() - last.len();
        path.truncate(dir_len.saturating_sub(1));
        return Ok(EntryName::Entry { path, class: Class::Opaque });
    }
    let first = path.split(|&c| c == b'/').next().unwrap_or_default();
    if first.starts_with(AUFS_META_PREFIX) || last.starts_with(AUFS_META_PREFIX) || last == WHITEOUT_PREFIX {
        return Ok(EntryName::Ignored);
    }
    if let Some(name) = last.strip_prefix(WHITEOUT_PREFIX) {
        let name = name.to_vec();
        path.truncate(path.len() - last.len());
        path.extend_from_slice(&name);
        return Ok(EntryName::Entry { path, class: Class::Whiteout });
    }
    Ok(EntryName::Entry { path, class: Class::Plain })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sorted(mut paths: Vec<&str>) -> Vec<&str> {
        paths.sort_by(|a, b| compare_paths(a.as_bytes(), b.as_bytes()));
        paths
    }

    #[test]
    fn subtrees_stay_contiguous_which_plain_byte_order_does_not_give() {
        let paths = vec!["a-c", "a/b", "a", "a.d", "a/b/c", "b", "a0"];
        // strata's order: the whole subtree of `a` before its sibling `a-c`.
        assert_eq!(sorted(paths.clone()), ["a", "a/b", "a/b/c", "a-c", "a.d", "a0", "b"]);
        // Plain byte order of the full paths interleaves it ('-' and '.' < '/').
        let mut bytewise = paths;
        bytewise.sort();
        assert_eq!(bytewise, ["a", "a-c", "a.d", "a/b", "a/b/c", "a0", "b"]);
    }

    #[test]
    fn sort_keys_agree_with_compare_paths_and_put_opaque_markers_first() {
        let paths = ["a", "a/b", "a-c", "a/b/c", "a/+x", "a/.bashrc", "b"];
        let mut by_key: Vec<&str> = paths.to_vec();
        by_key.sort_by_key(|p| sort_key(p.as_bytes(), false));
        assert_eq!(by_key, sorted(paths.to_vec()));

        let opaque_a = sort_key(b"a", true);
        assert!(sort_key(b"a", false) < opaque_a);
        for child in ["a/+x", "a/.bashrc", "a/b"] {
            assert!(opaque_a < sort_key(child.as_bytes(), false), "{child}");
        }
        assert!(opaque_a < sort_key(b"a-c", false));
        assert!(key_is_under(&sort_key(b"a/b/c", false), &sort_key(b"a", false)));
        assert!(!key_is_under(&sort_key(b"a-c", false), &sort_key(b"a", false)));
        assert!(key_is_under(&sort_key(b"x", false), b""));
    }

    #[test]
    fn entry_names_are_normalised_and_classified() {
        let entry = |p: &str, c| EntryName::Entry { path: p.as_bytes().to_vec(), class: c };
        assert_eq!(parse_entry_name(b"./usr//bin/").unwrap(), entry("usr/bin", Class::Plain));
        assert_eq!(parse_entry_name(b"./").unwrap(), EntryName::Root);
        assert_eq!(parse_entry_name(b"etc/.wh.passwd").unwrap(), entry("etc/passwd", Class::Whiteout));
        assert_eq!(parse_entry_name(b".wh.etc").unwrap(), entry("etc", Class::Whiteout));
        assert_eq!(parse_entry_name(b"var/.wh..wh..opq").unwrap(), entry("var", Class::Opaque));
        assert_eq!(parse_entry_name(b".wh..wh..opq").unwrap(), entry("", Class::Opaque));
        assert_eq!(parse_entry_name(b".wh..wh.plnk/1.2").unwrap(), EntryName::Ignored);
        assert_eq!(parse_entry_name(b"x/.wh..wh.aufs").unwrap(), EntryName::Ignored);
    }

    #[test]
    fn absolute_and_parent_paths_are_refused_naming_the_entry() {
        let err = parse_entry_name(b"/etc/x").unwrap_err();
        assert!(matches!(err, LayerError::AbsolutePath { .. }));
        assert!(err.to_string().contains("\"/etc/x\""), "{err}");
        let err = parse_entry_name(b"a/../../evil").unwrap_err();
        assert!(matches!(err, LayerError::ParentComponent { .. }));
        assert!(err.to_string().contains("a/../../evil"), "{err}");
    }
}
