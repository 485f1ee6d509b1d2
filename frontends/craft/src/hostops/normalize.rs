//! `craft.normalize-stage-packages`: craft-parts' `normalize` of unpacked
//! stage-packages, on trees. `install` is what the unpack container merged
//! into the part's install dir (`install_dir` inside the container),
//! `info` what it gathered: `libc6-files` and `system/<path>` copies of
//! build-environment files absolute links point at.
//!
//! 1. `usr/lib/python*/sitecustomize.py` is removed;
//! 2. absolute symlinks become relative when their target is in the tree —
//!    except those to libc6's files, which stay absolute; a target found
//!    neither in the tree nor in `system/` stays dangling, one in
//!    `system/` is copied in;
//! 3. setuid and setgid bits are dropped;
//! 4. `.pc` files get their `prefix=` under `install_dir`;
//! 5. `usr/bin/xml2-config` and `xslt-config` get `prefix=` under it;
//! 6. Python shebangs become `#!/usr/bin/env python3` (with an argument,
//!    a `/bin/sh` trampoline).

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use strata_frontend_api::{HostOpError, HostResult, HostTree};

use crate::migrate::fix_pkg_config;
use crate::tree::{Entry, EntryKind, Tree, file_name, parent};

use super::{content_id, read};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Normalize {
    /// `CRAFT_PART_INSTALL` of the part.
    pub install_dir: String,
}

/// The bytes of the files being normalised: new ones, or where an input has them.
struct Contents<'a, 'b> {
    inputs: [&'a HostTree<'b>; 2],
    origin: BTreeMap<String, (usize, String)>,
    data: BTreeMap<String, Vec<u8>>,
}

impl Contents<'_, '_> {
    fn bytes(&self, id: &str) -> Result<Vec<u8>, HostOpError> {
        if let Some(b) = self.data.get(id) {
            return Ok(b.clone());
        }
        let (i, path) =
            self.origin.get(id).ok_or_else(|| HostOpError::new(format!("no input file has content {id}")))?;
        read(self.inputs[*i], path)
    }

    /// Rewrites the UTF-8 file at `path` with `f` (other files are left alone).
    fn rewrite(&mut self, tree: &mut Tree, path: &str, f: impl Fn(&str) -> Option<String>) -> Result<(), HostOpError> {
        let Some(entry) = tree.get(path).cloned() else { return Ok(()) };
        let EntryKind::File { content } = &entry.kind else { return Ok(()) };
        let bytes = self.bytes(content)?;
        let Ok(text) = std::str::from_utf8(&bytes) else { return Ok(()) };
        if let Some(new) = f(text).filter(|n| n != text) {
            let id = content_id(new.as_bytes());
            self.data.insert(id.clone(), new.into_bytes());
            tree.insert(path, Entry { kind: EntryKind::File { content: id }, ..entry });
        }
        Ok(())
    }
}

pub fn run(p: &Normalize, install: &HostTree<'_>, info: &HostTree<'_>) -> Result<HostResult, HostOpError> {
    let mut origin = BTreeMap::new();
    for (i, t) in [install, info].iter().enumerate() {
        for (path, e) in t.tree.iter() {
            if let EntryKind::File { content } = &e.kind {
                origin.entry(content.clone()).or_insert((i, path.clone()));
            }
        }
    }
    let mut c = Contents { inputs: [install, info], origin, data: BTreeMap::new() };
    let libc6: BTreeSet<String> = match info.tree.get("libc6-files") {
        Some(Entry { kind: EntryKind::File { content }, .. }) => {
            String::from_utf8_lossy(&c.bytes(content)?).lines().map(str::to_string).collect()
        }
        _ => BTreeSet::new(),
    };
    let mut tree = install.tree.clone();
    for py in tree.children("usr/lib").into_iter().filter(|n| n.starts_with("python")) {
        let f = format!("usr/lib/{py}/sitecustomize.py");
        if tree.get(&f).is_some_and(|e| !e.is_dir()) {
            tree.remove_tree(&f);
        }
    }
    let paths: Vec<String> = tree.paths().map(str::to_string).collect();
    for path in &paths {
        let Some(entry) = tree.get(path).cloned() else { continue };
        if let EntryKind::Symlink { target } = &entry.kind {
            if target.starts_with('/') {
                fix_symlink(&mut tree, info.tree, path, target, &libc6);
            }
            continue;
        }
        if entry.mode & 0o6000 != 0 {
            tree.insert(path, Entry { mode: entry.mode & 0o1777, ..entry.clone() });
        }
        let name = file_name(path);
        if matches!(entry.kind, EntryKind::File { .. }) && name.len() > 3 && name.ends_with(".pc") {
            c.rewrite(&mut tree, path, |t| Some(fix_pkg_config(t, "", &p.install_dir)))?;
        }
    }
    for tool in ["usr/bin/xml2-config", "usr/bin/xslt-config"] {
        let with = format!("prefix={}/usr", p.install_dir);
        c.rewrite(&mut tree, tool, |t| Some(t.replace("prefix=/usr", &with)))?;
    }
    let files: Vec<(String, String)> = tree
        .iter()
        .filter_map(|(p, e)| match &e.kind {
            EntryKind::File { content } => Some((p.clone(), content.clone())),
            _ => None,
        })
        .collect();
    for (path, content) in files {
        if c.bytes(&content)?.starts_with(b"#!") {
            c.rewrite(&mut tree, &path, rewrite_python_shebang)?;
        }
    }
    Ok(HostResult { tree, data: c.data })
}

/// `_fix_symlink`: `link` points at the absolute `target`.
fn fix_symlink(tree: &mut Tree, info: &Tree, link: &str, target: &str, libc6: &BTreeSet<String>) {
    if libc6.contains(target) {
        return;
    }
    let rel = target.trim_start_matches('/').to_string();
    if resolve_in_root(tree, &rel).is_none() {
        // Not in the packages: a copy of the build environment's file, if
        // the unpack container found one; else the link stays dangling.
        let Some(copy) = info.get(&format!("system/{rel}")).filter(|e| matches!(e.kind, EntryKind::File { .. })) else {
            return;
        };
        let Some(dir) = mkdir_in_root(tree, parent(&rel)) else { return };
        let at = if dir.is_empty() { file_name(&rel).to_string() } else { format!("{dir}/{}", file_name(&rel)) };
        tree.insert(&at, Entry { uid: 0, gid: 0, ..copy.clone() });
    }
    let from: Vec<&str> = parent(link).split('/').filter(|c| !c.is_empty()).collect();
    tree.insert(link, Entry::symlink(relative_path(&from, &rel)));
}

/// `os.path.relpath(target, start)` for `target` (relative to the root)
/// seen from the directory `from`: lexical, `..` resolved.
pub fn relative_path(from: &[&str], target: &str) -> String {
    let mut to: Vec<&str> = Vec::new();
    for c in target.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                to.pop();
            }
            c => to.push(c),
        }
    }
    let common = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
    let mut parts: Vec<&str> = vec![".."; from.len() - common];
    parts.extend(&to[common..]);
    if parts.is_empty() { ".".to_string() } else { parts.join("/") }
}

/// `rel` with symlinks resolved as if the tree's root were `/` (absolute
/// targets restart at the root, `..` stops at it). `None` if a component
/// is missing or the links loop.
fn resolve_in_root(tree: &Tree, rel: &str) -> Option<String> {
    let mut pending: Vec<String> = rel.split('/').rev().map(str::to_string).collect();
    let mut cur: Vec<String> = Vec::new();
    let mut hops = 0;
    while let Some(c) = pending.pop() {
        match c.as_str() {
            "" | "." => continue,
            ".." => {
                cur.pop();
                continue;
            }
            _ => {}
        }
        cur.push(c);
        let joined = cur.join("/");
        if let EntryKind::Symlink { target } = &tree.get(&joined)?.kind {
            hops += 1;
            if hops > 40 {
                return None;
            }
            cur.pop();
            if target.starts_with('/') {
                cur.clear();
            }
            pending.extend(target.split('/').rev().map(str::to_string));
        }
    }
    Some(cur.join("/"))
}

/// `mkdir -p` of `rel` inside the tree, following symlinks only within it;
/// the directory's real path, or `None` if something in the way is not one.
fn mkdir_in_root(tree: &mut Tree, rel: &str) -> Option<String> {
    let mut done = String::new();
    for c in rel.split('/').filter(|c| !c.is_empty() && *c != ".") {
        let parent_dir = resolve_in_root(tree, &done);
        done = if done.is_empty() { c.to_string() } else { format!("{done}/{c}") };
        match resolve_in_root(tree, &done) {
            Some(p) if p.is_empty() || tree.is_real_dir(&p) => {}
            Some(_) => return None,
            None => {
                let p = parent_dir.map(|d| if d.is_empty() { c.to_string() } else { format!("{d}/{c}") })?;
                if tree.get(&p).is_some() {
                    return None; // a dangling link
                }
                tree.insert(&p, Entry::dir(0o755));
            }
        }
    }
    resolve_in_root(tree, &done).filter(|p| p.is_empty() || tree.is_real_dir(p))
}

/// craft-parts' `_rewrite_python_shebangs` on one file's text: a first
/// line `#!...python<X>` becomes `#!/usr/bin/env python<X>`; one with a
/// single argument after it (`#!/usr/bin/python3 -Es`) a `/bin/sh` line
/// that execs it (env takes no arguments). Other text is kept.
pub fn rewrite_python_shebang(text: &str) -> Option<String> {
    let (first, rest) = match text.find('\n') {
        Some(i) => (&text[..i], &text[i..]),
        None => (text, ""),
    };
    if !first.starts_with("#!") {
        return None;
    }
    let pythons: Vec<usize> = first.match_indices("python").map(|(i, _)| i).filter(|i| *i >= 2).collect();
    if let Some(&i) = pythons.iter().rev().find(|&&i| !first[i..].contains(char::is_whitespace)) {
        return Some(format!("#!/usr/bin/env {}{rest}", &first[i..]));
    }
    let sep = |c: char| matches!(c, ' ' | '\t' | '\x0c' | '\x0b');
    for &i in pythons.iter().rev() {
        let tail = &first[i..];
        let word_end = tail.find(char::is_whitespace).unwrap_or(tail.len());
        let (interpreter, after) = tail.split_at(word_end);
        let arg = after.trim_start_matches(sep);
        if arg.len() < after.len() && !arg.is_empty() && !arg.contains(char::is_whitespace) {
            return Some(format!("#!/bin/sh\n''''exec {interpreter} {arg} -- \"$0\" \"$@\" # '''{rest}"));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hostops::testing::Files;

    fn text(out: &HostResult, path: &str) -> String {
        let EntryKind::File { content } = &out.tree.get(path).unwrap().kind else { panic!("{path} is not a file") };
        String::from_utf8(out.data[content].clone()).unwrap()
    }

    #[test]
    fn normalize_fixes_links_modes_pkg_config_and_shebangs() {
        let install = Files::listing(
            "f 644 usr/lib/python3.11/sitecustomize.py x\n\
             f 644 lib/x86_64-linux-gnu/libfoo.so.1 elf\n\
             l 777 usr/bin/foo-link -> /lib/x86_64-linux-gnu/libfoo.so.1\n\
             l 777 lib64/ld.so -> /lib/x86_64-linux-gnu/ld.so\n\
             l 777 etc/needs-system -> /etc/from-system\n\
             l 777 etc/dangling -> /nowhere\n\
             f 4755 usr/bin/suid x\n\
             f 644 usr/lib/pkgconfig/foo.pc prefix=/usr\\nlibdir=${prefix}/lib\\n\n\
             f 755 usr/bin/tool #!/usr/bin/python3\\nimport x\\n\n\
             f 755 usr/bin/xml2-config prefix=/usr\\nexec_prefix=/usr\\n\n",
        );
        let info =
            Files::listing("f 644 libc6-files /lib/x86_64-linux-gnu/ld.so\\n\nf 600 system/etc/from-system copied\n");
        let out =
            run(&Normalize { install_dir: "/root/parts/p/install".into() }, &install.host(), &info.host()).unwrap();
        let t = &out.tree;
        assert!(!t.contains("usr/lib/python3.11/sitecustomize.py"));
        let link = |p: &str| match &t.get(p).unwrap().kind {
            EntryKind::Symlink { target } => target.clone(),
            _ => panic!("{p} is not a link"),
        };
        assert_eq!(link("usr/bin/foo-link"), "../../lib/x86_64-linux-gnu/libfoo.so.1");
        assert_eq!(link("lib64/ld.so"), "/lib/x86_64-linux-gnu/ld.so", "libc6's links stay absolute");
        assert_eq!(link("etc/needs-system"), "from-system");
        assert_eq!(
            t.get("etc/from-system"),
            info.tree.get("system/etc/from-system").map(|e| Entry { uid: 0, gid: 0, ..e.clone() }).as_ref()
        );
        assert_eq!(link("etc/dangling"), "/nowhere");
        assert_eq!(t.get("usr/bin/suid").unwrap().mode, 0o755);
        assert_eq!(text(&out, "usr/lib/pkgconfig/foo.pc"), "prefix=/root/parts/p/install/usr\nlibdir=${prefix}/lib\n");
        assert_eq!(text(&out, "usr/bin/tool"), "#!/usr/bin/env python3\nimport x\n");
        assert_eq!(
            text(&out, "usr/bin/xml2-config"),
            "prefix=/root/parts/p/install/usr\nexec_prefix=/root/parts/p/install/usr\n"
        );
    }

    #[test]
    fn python_shebangs_are_rewritten_like_craft_parts() {
        assert_eq!(
            rewrite_python_shebang("#!/usr/bin/python3 -Es\nx\n").unwrap(),
            "#!/bin/sh\n''''exec python3 -Es -- \"$0\" \"$@\" # '''\nx\n"
        );
        assert_eq!(rewrite_python_shebang("#!/bin/sh\n# python3 later\n"), None);
        assert_eq!(rewrite_python_shebang("#!/usr/bin/python3 -E -s\n"), None, "two arguments: left alone");
    }

    #[test]
    fn relative_paths_are_lexical_like_relpath() {
        assert_eq!(relative_path(&["lib64"], "lib/x86_64-linux-gnu/ld.so"), "../lib/x86_64-linux-gnu/ld.so");
        assert_eq!(relative_path(&["usr", "bin"], "usr/bin/x"), "x");
        assert_eq!(relative_path(&[], "etc/./a/../b"), "etc/b");
    }
}
