//! A file tree as data: the paths of a part's install dir, the stage or the
//! prime, with types, modes, owners, symlink targets and a content id.
//! Filesets, organize, stage conflicts and the dump simulation work on
//! these, never on the disk, so they can be tested on listings and run by
//! the lifecycle on a layer's table of contents.
//!
//! Paths are relative, `/`-separated, with no `.` components, no leading
//! or trailing `/`; the root itself is the empty path and is not stored.

use std::collections::BTreeMap;
use std::fmt;

/// What a path is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryKind {
    Dir,
    /// A regular file; `content` identifies its bytes (a digest, or the
    /// bytes themselves in tests). Equal ids mean equal contents.
    File {
        content: String,
    },
    Symlink {
        target: String,
    },
}

/// One path of a tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub kind: EntryKind,
    /// Permission bits (`0o755`), without the file type.
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
}

impl Entry {
    pub fn dir(mode: u32) -> Entry {
        Entry { kind: EntryKind::Dir, mode, uid: 0, gid: 0 }
    }

    pub fn file(mode: u32, content: impl Into<String>) -> Entry {
        Entry { kind: EntryKind::File { content: content.into() }, mode, uid: 0, gid: 0 }
    }

    pub fn symlink(target: impl Into<String>) -> Entry {
        Entry { kind: EntryKind::Symlink { target: target.into() }, mode: 0o777, uid: 0, gid: 0 }
    }

    pub fn is_dir(&self) -> bool {
        self.kind == EntryKind::Dir
    }

    pub fn is_symlink(&self) -> bool {
        matches!(self.kind, EntryKind::Symlink { .. })
    }

    /// `ls -l`'s mode string: `drwxr-xr-x`, `-rw-------`, `lrwxrwxrwx`.
    pub fn mode_string(&self) -> String {
        let t = match self.kind {
            EntryKind::Dir => 'd',
            EntryKind::File { .. } => '-',
            EntryKind::Symlink { .. } => 'l',
        };
        let mut s = String::from(t);
        for shift in [6, 3, 0] {
            let bits = (self.mode >> shift) & 7;
            s.push(if bits & 4 != 0 { 'r' } else { '-' });
            s.push(if bits & 2 != 0 { 'w' } else { '-' });
            s.push(if bits & 1 != 0 { 'x' } else { '-' });
        }
        // setuid/setgid/sticky
        let special = [(0o4000, 3), (0o2000, 6), (0o1000, 9)];
        let mut chars: Vec<char> = s.chars().collect();
        for (bit, idx) in special {
            if self.mode & bit != 0 {
                chars[idx] = match (chars[idx], idx) {
                    ('x', 9) => 't',
                    ('-', 9) => 'T',
                    ('x', _) => 's',
                    _ => 'S',
                };
            }
        }
        chars.into_iter().collect()
    }
}

/// A file tree: path → entry.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tree {
    entries: BTreeMap<String, Entry>,
}

/// A line of [`Tree::parse_listing`] that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("listing line {line}: {message}")]
pub struct ListingError {
    pub line: usize,
    pub message: String,
}

impl Tree {
    pub fn new() -> Tree {
        Tree::default()
    }

    /// Reads a listing, one entry per line: `TYPE MODE PATH [-> TARGET |
    /// CONTENT]` with TYPE `d`, `f` or `l` and MODE in octal, e.g.
    /// `f 600 etc/app.conf secret` or `l 777 usr/lib/libfoo.so -> libfoo.so.1`.
    /// A file without CONTENT gets its path as content. Missing parent
    /// directories are added with mode 755. `#` starts a comment line.
    pub fn parse_listing(text: &str) -> Result<Tree, ListingError> {
        let mut tree = Tree::new();
        for (i, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let err = |m: &str| ListingError { line: i + 1, message: m.to_string() };
            let mut fields = line.splitn(3, ' ');
            let (Some(t), Some(mode), Some(rest)) = (fields.next(), fields.next(), fields.next()) else {
                return Err(err("expected TYPE MODE PATH"));
            };
            let mode = u32::from_str_radix(mode, 8).map_err(|_| err("MODE is not octal"))?;
            let (path, extra) = match rest.split_once(' ') {
                Some((p, e)) => (p, Some(e)),
                None => (rest, None),
            };
            let entry = match t {
                "d" => Entry::dir(mode),
                "f" => Entry::file(mode, extra.unwrap_or(path)),
                "l" => {
                    let target =
                        extra.and_then(|e| e.strip_prefix("-> ")).ok_or_else(|| err("a symlink needs '-> TARGET'"))?;
                    Entry { kind: EntryKind::Symlink { target: target.to_string() }, mode, uid: 0, gid: 0 }
                }
                _ => return Err(err("TYPE must be d, f or l")),
            };
            tree.insert_with_parents(path, entry, 0o755);
        }
        Ok(tree)
    }

    /// `find ROOT -printf '%M %p\n' | LC_ALL=C sort`, with `root` as the
    /// name of the top directory (mode `root_mode`): the format of the
    /// conformance cases' `expected-prime.txt`.
    pub fn find_listing(&self, root: &str, root_mode: u32) -> Vec<String> {
        let mut lines = vec![format!("{} {root}", Entry::dir(root_mode).mode_string())];
        lines.extend(self.entries.iter().map(|(p, e)| format!("{} {root}/{p}", e.mode_string())));
        lines.sort();
        lines
    }

    pub fn get(&self, path: &str) -> Option<&Entry> {
        self.entries.get(path)
    }

    pub fn contains(&self, path: &str) -> bool {
        path.is_empty() || self.entries.contains_key(path)
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&String, &Entry)> {
        self.entries.iter()
    }

    pub fn paths(&self) -> impl Iterator<Item = &str> {
        self.entries.keys().map(String::as_str)
    }

    /// Sets `path` (parents must exist or be added by the caller).
    pub fn insert(&mut self, path: &str, entry: Entry) {
        let path = normalize(path);
        if !path.is_empty() {
            self.entries.insert(path, entry);
        }
    }

    /// Sets `path`, creating missing parent directories with `dir_mode`.
    pub fn insert_with_parents(&mut self, path: &str, entry: Entry, dir_mode: u32) {
        let path = normalize(path);
        self.mkdir_p(parent(&path), dir_mode);
        self.insert(&path, entry);
    }

    /// Creates `path` and its parents as directories with `mode` where
    /// missing (like `mkdir -p` under umask 022).
    pub fn mkdir_p(&mut self, path: &str, mode: u32) {
        let path = normalize(path);
        let mut cur = String::new();
        for comp in path.split('/').filter(|c| !c.is_empty()) {
            if !cur.is_empty() {
                cur.push('/');
            }
            cur.push_str(comp);
            self.entries.entry(cur.clone()).or_insert_with(|| Entry::dir(mode));
        }
    }

    /// Removes `path` and everything under it.
    pub fn remove_tree(&mut self, path: &str) {
        let prefix = format!("{path}/");
        self.entries.retain(|p, _| p != path && !p.starts_with(&prefix));
    }

    /// The paths directly inside directory `dir` (`""` is the root), by
    /// name, following symlinks to reach `dir` itself.
    pub fn children(&self, dir: &str) -> Vec<String> {
        let Some(real) = self.resolve(dir) else { return Vec::new() };
        if !real.is_empty() && !self.get(&real).is_some_and(Entry::is_dir) {
            return Vec::new();
        }
        let prefix = if real.is_empty() { String::new() } else { format!("{real}/") };
        self.entries
            .range(prefix.clone()..)
            .take_while(|(p, _)| p.starts_with(&prefix))
            .filter(|(p, _)| !p[prefix.len()..].contains('/'))
            .map(|(p, _)| p[prefix.len()..].to_string())
            .collect()
    }

    /// Every path under `dir`, not following symlinks (`os.walk`).
    pub fn descendants(&self, dir: &str) -> Vec<String> {
        let prefix = if dir.is_empty() { String::new() } else { format!("{dir}/") };
        self.entries
            .range(prefix.clone()..)
            .take_while(|(p, _)| p.starts_with(&prefix))
            .map(|(p, _)| p.clone())
            .collect()
    }

    /// Whether `path` exists, following symlinks (Python's `Path.exists`).
    pub fn exists(&self, path: &str) -> bool {
        self.resolve(path).is_some_and(|r| self.contains(&r))
    }

    /// Whether `path` exists or is a symlink (`os.path.lexists`).
    pub fn lexists(&self, path: &str) -> bool {
        self.entries.contains_key(path) || self.exists(path)
    }

    /// Whether `path` is a directory, following symlinks (`Path.is_dir`).
    pub fn is_dir(&self, path: &str) -> bool {
        self.resolve(path).is_some_and(|r| r.is_empty() || self.get(&r).is_some_and(Entry::is_dir))
    }

    /// Whether `path` is a directory and not a symlink.
    pub fn is_real_dir(&self, path: &str) -> bool {
        self.get(path).is_some_and(Entry::is_dir)
    }

    /// Whether `path` is a symlink.
    pub fn is_symlink(&self, path: &str) -> bool {
        self.get(path).is_some_and(Entry::is_symlink)
    }

    /// `path` with every symlink followed, if it stays inside the tree
    /// (absolute targets and targets above the root leave it). The result
    /// need not exist.
    pub fn resolve(&self, path: &str) -> Option<String> {
        self.resolve_depth(path, 0)
    }

    fn resolve_depth(&self, path: &str, depth: usize) -> Option<String> {
        if depth > 40 {
            return None;
        }
        let mut cur: Vec<String> = Vec::new();
        let comps: Vec<&str> = path.split('/').filter(|c| !c.is_empty() && *c != ".").collect();
        for (i, comp) in comps.iter().enumerate() {
            if *comp == ".." {
                cur.pop()?;
                continue;
            }
            cur.push(comp.to_string());
            let joined = cur.join("/");
            if let Some(Entry { kind: EntryKind::Symlink { target }, .. }) = self.get(&joined) {
                if target.starts_with('/') {
                    return None;
                }
                cur.pop();
                let base = cur.join("/");
                let rest = comps[i + 1..].join("/");
                let next = [base.as_str(), target.as_str(), rest.as_str()]
                    .iter()
                    .filter(|s| !s.is_empty())
                    .copied()
                    .collect::<Vec<_>>()
                    .join("/");
                return self.resolve_depth(&next, depth + 1);
            }
        }
        Some(cur.join("/"))
    }

    /// `path` with its parent directories resolved and its last component
    /// kept (craft-parts' `_get_resolved_relative_path`): a symlink stays a
    /// symlink, a file reached through a symlinked directory gets its real
    /// path. `None` when the parent leaves the tree.
    pub fn resolve_parent(&self, path: &str) -> Option<String> {
        let (parent, name) = split_last(path);
        if parent.is_empty() {
            return Some(name.to_string());
        }
        let real = self.resolve(parent)?;
        Some(if real.is_empty() { name.to_string() } else { format!("{real}/{name}") })
    }
}

impl fmt::Display for Tree {
    /// The listing format of [`Tree::parse_listing`].
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (p, e) in &self.entries {
            match &e.kind {
                EntryKind::Dir => writeln!(f, "d {:o} {p}", e.mode)?,
                EntryKind::File { content } => writeln!(f, "f {:o} {p} {content}", e.mode)?,
                EntryKind::Symlink { target } => writeln!(f, "l {:o} {p} -> {target}", e.mode)?,
            }
        }
        Ok(())
    }
}

/// Lexical normalization like `PurePosixPath`: no empty or `.` components,
/// no leading or trailing `/` (`..` is kept).
pub fn normalize(path: &str) -> String {
    path.split('/').filter(|c| !c.is_empty() && *c != ".").collect::<Vec<_>>().join("/")
}

/// The parent of a normalized path (`""` for top-level paths).
pub fn parent(path: &str) -> &str {
    split_last(path).0
}

/// The last component of a normalized path.
pub fn file_name(path: &str) -> &str {
    split_last(path).1
}

fn split_last(path: &str) -> (&str, &str) {
    match path.rfind('/') {
        Some(i) => (&path[..i], &path[i + 1..]),
        None => ("", path),
    }
}

/// `a/b` joined with `c` (either may be empty).
pub fn join(a: &str, b: &str) -> String {
    match (a.is_empty(), b.is_empty()) {
        (true, _) => b.to_string(),
        (_, true) => a.to_string(),
        _ => format!("{a}/{b}"),
    }
}

/// Whether `path` is `base` or inside it.
pub fn is_within(path: &str, base: &str) -> bool {
    base.is_empty() || path == base || path.strip_prefix(base).is_some_and(|r| r.starts_with('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree() -> Tree {
        Tree::parse_listing(
            "d 755 usr\nd 755 usr/lib\nf 644 usr/lib/libfoo.so.1\nl 777 usr/lib/libfoo.so -> libfoo.so.1\n\
             l 777 lib -> usr/lib\nl 777 abs -> /usr/lib\nf 600 etc/app.conf\n",
        )
        .unwrap()
    }

    #[test]
    fn listings_round_trip_and_add_parents() {
        let t = tree();
        assert!(t.is_real_dir("etc"));
        assert_eq!(Tree::parse_listing(&t.to_string()).unwrap(), t);
        assert_eq!(t.get("etc/app.conf").unwrap().mode_string(), "-rw-------");
        assert_eq!(t.get("lib").unwrap().mode_string(), "lrwxrwxrwx");
    }

    #[test]
    fn symlinks_resolve_inside_the_tree_only() {
        let t = tree();
        assert_eq!(t.resolve("lib/libfoo.so").as_deref(), Some("usr/lib/libfoo.so.1"));
        assert!(t.is_dir("lib") && !t.is_real_dir("lib"));
        assert_eq!(t.resolve_parent("lib/libfoo.so").as_deref(), Some("usr/lib/libfoo.so"));
        assert_eq!(t.resolve("abs"), None);
        assert!(!t.exists("abs") && t.lexists("abs"));
        assert_eq!(t.children("lib"), ["libfoo.so", "libfoo.so.1"]);
        assert_eq!(t.children(""), ["abs", "etc", "lib", "usr"]);
    }

    #[test]
    fn special_mode_bits_print_like_ls() {
        assert_eq!(Entry::file(0o4755, "x").mode_string(), "-rwsr-xr-x");
        assert_eq!(Entry::dir(0o1777).mode_string(), "drwxrwxrwt");
        assert_eq!(Entry::dir(0o700).mode_string(), "drwx------");
    }
}
