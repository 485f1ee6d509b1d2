//! `craft.prune`: rockcraft's pruning of primed files the base already has
//! (`LifecycleService.post_prime` → `layers.prune_prime_files`): a primed
//! regular file is dropped when the image below the prime shows a regular
//! file at its path with the same contents, owner, group and mode, so the
//! prime layer does not carry a second copy of the base's files (a
//! `stage-packages` closure overlapping the base: libc6, debconf, ...).
//!
//! Inputs: the runtime base (its whole tree), then each part's overlay
//! layer in lifecycle order (they lie between the base and the prime in
//! the image, so "what is below" is the base with them over it), then each
//! part's prime (`root/prime`), in lifecycle order. Outputs: each part's
//! prime again, named after the part, less the pruned files.
//!
//! The comparison is in image paths: a primed `bin/x` is compared with the
//! base's `usr/bin/x` when the base has the link `bin -> usr/bin`, as pack
//! puts it there ([`relocated`]; rockcraft's `is_file()` follows the link).
//! When several parts prime one path, the last part's entry is what the
//! image shows, so that one decides, and the path is dropped from every
//! part or from none. Directories stay, emptied or not (rockcraft unlinks
//! files only); symlinks are never pruned. Only file listings and content
//! ids are read, so the result is a function of the input layers alone.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use strata_frontend_api::{HostOpError, HostResult, HostTree};

use crate::tree::{Entry, EntryKind, Tree};

use super::result;
use super::stack::{Layer, Seen, Stack, is_whiteout};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Prune {
    /// The parts whose primes follow the base and the overlays, in order.
    pub parts: Vec<String>,
    /// How many overlay layers follow the base.
    pub overlays: usize,
}

/// What [`run`] dropped: (part, path in the prime), for the summary.
pub type Pruned = Vec<(String, String)>;

pub fn run(p: &Prune, inputs: &[HostTree<'_>]) -> Result<Vec<HostResult>, HostOpError> {
    let (trees, _) = prune(p, inputs)?;
    Ok(trees.into_iter().map(result).collect())
}

/// The pruned primes, one per part, and what was dropped.
pub fn prune(p: &Prune, inputs: &[HostTree<'_>]) -> Result<(Vec<Tree>, Pruned), HostOpError> {
    let want = 1 + p.overlays + p.parts.len();
    if inputs.len() != want {
        let message = format!("host op 'craft.prune': expected {want} input trees, got {}", inputs.len());
        return Err(HostOpError::new(message));
    }
    let base = inputs[0].tree;
    let mut layers = vec![Layer { tree: base, merged: true }];
    layers.extend(inputs[1..=p.overlays].iter().map(|t| Layer { tree: t.tree, merged: false }));
    let below = Stack { layers };
    let primes: Vec<&Tree> = inputs[1 + p.overlays..].iter().map(|t| t.tree).collect();

    // What the image shows of the prime at each image path: the last part's.
    let mut top: BTreeMap<String, &Entry> = BTreeMap::new();
    for prime in &primes {
        for (path, e) in prime.iter() {
            top.insert(relocated(base, path), e);
        }
    }
    let dropped: BTreeSet<&str> = top
        .iter()
        .filter(|(path, e)| !is_whiteout(path) && same_file(e, below.seen(path)))
        .map(|(path, _)| path.as_str())
        .collect();

    let mut out = Vec::with_capacity(primes.len());
    let mut pruned = Pruned::new();
    for (part, prime) in p.parts.iter().zip(&primes) {
        let mut kept = Tree::new();
        for (path, e) in prime.iter() {
            let drop = matches!(e.kind, EntryKind::File { .. }) && dropped.contains(relocated(base, path).as_str());
            if drop {
                pruned.push((part.clone(), path.clone()));
            } else {
                kept.insert(path, e.clone());
            }
        }
        out.push(kept);
    }
    Ok((out, pruned))
}

/// Whether `prime` is a regular file and `below` the same one: contents,
/// mode, owner, group.
fn same_file(prime: &Entry, below: Seen<'_>) -> bool {
    let Some(b) = below.entry() else { return false };
    matches!((&prime.kind, &b.kind), (EntryKind::File { content: a }, EntryKind::File { content: c }) if a == c)
        && (prime.mode, prime.uid, prime.gid) == (b.mode, b.uid, b.gid)
}

/// Where pack puts the prime's `path` in the image: through the base's
/// top-level link to a directory inside the root (`bin -> usr/bin`:
/// `bin/x` → `usr/bin/x`), else where it is.
pub fn relocated(base: &Tree, path: &str) -> String {
    let Some((top, rest)) = path.split_once('/') else { return path.to_string() };
    let Some(EntryKind::Symlink { target }) = base.get(top).map(|e| &e.kind) else { return path.to_string() };
    let target = target.trim_start_matches('/').trim_start_matches("./").trim_end_matches('/');
    if target.is_empty() || target.split('/').any(|c| c == ".." || c == "." || c.is_empty()) {
        return path.to_string();
    }
    format!("{target}/{rest}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hostops::testing::Files;

    fn prune_with(p: &Prune, trees: &[&Files]) -> (Vec<Tree>, Pruned) {
        let hosts: Vec<HostTree<'_>> = trees.iter().map(|t| t.host()).collect();
        prune(p, &hosts).unwrap()
    }

    fn paths(t: &Tree) -> Vec<&str> {
        t.paths().collect()
    }

    #[test]
    fn files_the_base_has_with_the_same_bytes_owner_and_mode_are_dropped() {
        let base = Files::listing(
            "l 777 bin -> usr/bin\nf 755 usr/bin/debconf same\nf 644 etc/debconf.conf same\nf 644 etc/motd base\nf 644 etc/mode same\nf 644 etc/owner same\n",
        );
        let mut prime = Files::listing(
            "f 755 bin/debconf same\nf 644 etc/debconf.conf same\nf 644 etc/motd mine\nf 600 etc/mode same\nf 644 etc/owner same\nf 644 etc/new new\nl 777 etc/link -> debconf.conf\n",
        );
        let mut owned = prime.tree.get("etc/owner").unwrap().clone();
        owned.gid = 42;
        prime.tree.insert("etc/owner", owned);
        let p = Prune { parts: vec!["p".into()], overlays: 0 };
        let (out, pruned) = prune_with(&p, &[&base, &prime]);
        assert_eq!(
            pruned,
            [("p".to_string(), "bin/debconf".to_string()), ("p".into(), "etc/debconf.conf".into())],
            "bin/debconf is usr/bin/debconf in the image"
        );
        // Other bytes, another mode or group, new files, links and the
        // directories stay.
        assert_eq!(paths(&out[0]), ["bin", "etc", "etc/link", "etc/mode", "etc/motd", "etc/new", "etc/owner"]);
    }

    #[test]
    fn an_overlay_between_the_base_and_the_prime_decides_what_is_below() {
        let base = Files::listing("f 644 etc/a same\nf 644 etc/b same\nf 644 etc/c same\n");
        // The overlay changed etc/a and deleted etc/b: the prime's copies
        // are what the image shows there.
        let overlay = Files::listing("f 644 etc/a changed\nf 0 etc/.wh.b\nf 644 etc/o mine\n");
        let prime = Files::listing("f 644 etc/a same\nf 644 etc/b same\nf 644 etc/c same\nf 644 etc/o mine\n");
        let p = Prune { parts: vec!["p".into()], overlays: 1 };
        let (out, pruned) = prune_with(&p, &[&base, &overlay, &prime]);
        assert_eq!(pruned.iter().map(|(_, f)| f.as_str()).collect::<Vec<_>>(), ["etc/c", "etc/o"]);
        assert_eq!(paths(&out[0]), ["etc", "etc/a", "etc/b"]);
    }

    #[test]
    fn the_last_part_priming_a_path_decides_for_every_part() {
        let base = Files::listing("f 644 etc/x same\nf 644 etc/y same\n");
        let first = Files::listing("f 644 etc/x other\nf 644 etc/y same\n");
        let second = Files::listing("f 644 etc/x same\nf 644 etc/y other\n");
        let p = Prune { parts: vec!["a".into(), "b".into()], overlays: 0 };
        let (out, pruned) = prune_with(&p, &[&base, &first, &second]);
        // etc/x: b's copy is the base's, so neither is packed (a's would
        // show otherwise); etc/y: b's differs, so both stay.
        assert_eq!(pruned, [("a".to_string(), "etc/x".to_string()), ("b".into(), "etc/x".into())]);
        assert_eq!(paths(&out[0]), ["etc", "etc/y"]);
        assert_eq!(paths(&out[1]), ["etc", "etc/y"]);
    }

    #[test]
    fn the_same_inputs_give_the_same_trees() {
        let base = Files::listing("f 644 a/1 x\nf 644 a/2 y\n");
        let prime = Files::listing("f 644 a/1 x\nf 644 a/2 z\nf 644 a/3 w\n");
        let p = Prune { parts: vec!["p".into()], overlays: 0 };
        let once = prune_with(&p, &[&base, &prime]);
        assert_eq!(once, prune_with(&p, &[&base, &prime]));
        let hosts = [base.host(), prime.host()];
        assert_eq!(run(&p, &hosts).unwrap()[0].tree, once.0[0]);
        assert!(prune(&Prune { overlays: 1, ..p }, &hosts).is_err(), "the input count is checked");
    }
}
