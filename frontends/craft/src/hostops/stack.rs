//! Layers laid over each other, read as the image would show them: what
//! `craft.prune` compares primed files with (the base and the overlay
//! layers below the prime) and where `craft.run-user` finds
//! `/etc/passwd`. Whiteouts are in their OCI form (`dir/.wh.<name>`,
//! `dir/.wh..wh..opq`), as host ops see them.
//!
//! An image reference stands for all of its layers, which strata reads
//! into one tree (later layers' entries over earlier ones, whiteouts kept
//! as entries): such a tree is *merged*, and a whiteout in it may be older
//! or newer than an entry it names. There, a path a whiteout (or an opaque
//! marker) could hide counts as absent: pruning then keeps the file, which
//! is always safe.

use crate::tree::{Entry, Tree, file_name, parent};

use super::overlay::{OPAQUE, WHITEOUT};

/// One layer of a stack: its tree and whether several layers were merged
/// into it.
#[derive(Clone, Copy)]
pub struct Layer<'a> {
    pub tree: &'a Tree,
    pub merged: bool,
}

/// Layers bottom to top.
pub struct Stack<'a> {
    pub layers: Vec<Layer<'a>>,
}

/// What a stack shows at a path.
#[derive(Debug, PartialEq, Eq)]
pub enum Seen<'a> {
    /// The entry, and the index of the layer it is in.
    Entry(usize, &'a Entry),
    /// Deleted (a whiteout, an opaque directory, a non-directory above it),
    /// or possibly so in a merged layer.
    Hidden,
    /// No layer has it.
    Absent,
}

impl Seen<'_> {
    pub fn entry(&self) -> Option<&Entry> {
        match self {
            Seen::Entry(_, e) => Some(e),
            _ => None,
        }
    }
}

/// Whether `path` is a whiteout name (`.wh.x` or the opaque marker).
pub fn is_whiteout(path: &str) -> bool {
    file_name(path).starts_with(WHITEOUT)
}

/// `path`'s proper ancestors, outermost first (`a`, `a/b` for `a/b/c`).
fn ancestors(path: &str) -> Vec<&str> {
    let mut v = Vec::new();
    let mut p = parent(path);
    while !p.is_empty() {
        v.push(p);
        p = parent(p);
    }
    v.reverse();
    v
}

/// The whiteout name that deletes `path` (`dir/.wh.name`).
fn whiteout_of(path: &str) -> String {
    let dir = parent(path);
    let name = format!("{WHITEOUT}{}", file_name(path));
    if dir.is_empty() { name } else { format!("{dir}/{name}") }
}

/// Whether `layer` deletes what is below it at `path`: a whiteout of the
/// path or of an ancestor, an opaque ancestor, or an ancestor that is not
/// a directory.
fn deletes(layer: &Tree, path: &str) -> bool {
    if layer.contains(&whiteout_of(path)) {
        return true;
    }
    ancestors(path).into_iter().any(|a| {
        layer.contains(&whiteout_of(a))
            || layer.contains(&format!("{a}/{OPAQUE}"))
            || layer.get(a).is_some_and(|e| !e.is_dir())
    })
}

impl<'a> Stack<'a> {
    /// What the stack shows at `path` (not following symlinks).
    pub fn seen(&self, path: &str) -> Seen<'a> {
        for (i, layer) in self.layers.iter().enumerate().rev() {
            let here = layer.tree.get(path).filter(|_| !is_whiteout(path));
            let deleted = deletes(layer.tree, path);
            match here {
                Some(e) if !(layer.merged && deleted) => return Seen::Entry(i, e),
                Some(_) => return Seen::Hidden,
                None if deleted => return Seen::Hidden,
                None => {}
            }
        }
        Seen::Absent
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(listing: &str) -> Tree {
        Tree::parse_listing(listing).unwrap()
    }

    #[test]
    fn the_topmost_layer_decides_and_whiteouts_hide_what_is_below() {
        let base = tree("f 644 etc/passwd base\nf 644 etc/group base\nd 755 opt/x\nf 644 opt/x/f base\n");
        let overlay = tree("f 644 etc/passwd overlay\nf 0 etc/.wh.group\nd 755 opt/x\nf 0 opt/x/.wh..wh..opq\n");
        let stack =
            Stack { layers: vec![Layer { tree: &base, merged: true }, Layer { tree: &overlay, merged: false }] };
        assert_eq!(stack.seen("etc/passwd"), Seen::Entry(1, overlay.get("etc/passwd").unwrap()));
        assert_eq!(stack.seen("etc/group"), Seen::Hidden);
        assert_eq!(stack.seen("opt/x/f"), Seen::Hidden, "an opaque directory hides the base's files");
        assert_eq!(stack.seen("etc/shadow"), Seen::Absent);
        let base_only = Stack { layers: vec![Layer { tree: &base, merged: true }] };
        assert_eq!(base_only.seen("etc/group"), Seen::Entry(0, base.get("etc/group").unwrap()));
    }

    #[test]
    fn in_a_merged_tree_a_whiteout_next_to_an_entry_counts_as_hidden() {
        // Layer 1 deleted etc/motd, layer 2 may have put it back: unknown.
        let merged = tree("f 644 etc/motd m\nf 0 etc/.wh.motd\nf 644 usr/bin/x x\n");
        let stack = Stack { layers: vec![Layer { tree: &merged, merged: true }] };
        assert_eq!(stack.seen("etc/motd"), Seen::Hidden);
        assert!(matches!(stack.seen("usr/bin/x"), Seen::Entry(0, _)));
        // In one layer, an entry next to its parent's opaque marker is new.
        let one = tree("d 755 etc\nf 0 etc/.wh..wh..opq\nf 644 etc/motd m\n");
        let stack = Stack { layers: vec![Layer { tree: &one, merged: false }] };
        assert!(matches!(stack.seen("etc/motd"), Seen::Entry(0, _)));
    }
}
