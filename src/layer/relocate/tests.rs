use std::path::Path;

use super::*;
use crate::layer::testutil::{Raw, Tree, listing, names, raw_tar};
use crate::layer::{Compression, IdMode, WriteOptions, squash, write_tree};

const EPOCH: i64 = 1_700_000_000;

fn out_opts() -> OutputOptions {
    OutputOptions { ids: IdMode::Root, ..OutputOptions::new(Compression::None, EPOCH) }
}

/// A gzip layer of the tree at `root`, below `prefix` if given.
fn layer(root: &Path, prefix: Option<&str>) -> Vec<u8> {
    layer_as(root, prefix, Compression::Gzip)
}

fn layer_as(root: &Path, prefix: Option<&str>, compression: Compression) -> Vec<u8> {
    let o = WriteOptions { ids: IdMode::Root, prefix: prefix.map(Into::into), ..WriteOptions::new(compression, EPOCH) };
    write_tree(root, &o, Vec::new()).unwrap().out
}

fn relocated(layers: &[Vec<u8>], r: &Relocation) -> Result<Vec<u8>, LayerError> {
    let inputs = layers.iter().map(|l| LayerInput::sorted(&l[..])).collect();
    Ok(squash_relocated(inputs, r, &out_opts(), Vec::new())?.out)
}

fn merged_usr() -> Relocation {
    Relocation::new().strip_prefix("root/prime").moving("bin", "usr/bin").moving("sbin", "usr/sbin")
}

#[test]
fn stripping_the_prefix_gives_the_squash_of_the_trees_themselves() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    Tree(a.path())
        .dir("etc", 0o750)
        .file("etc/motd", b"a", 0o644)
        .dir("usr/share/doc", 0o755)
        .file("usr/share/doc/README", b"r", 0o600)
        .symlink("usr/share/doc/link", "README")
        .touch_all(EPOCH as u64 - 10);
    Tree(b.path()).dir("etc", 0o755).file("etc/motd", b"b", 0o644).file("top", b"t", 0o755).touch_all(EPOCH as u64);
    let prefixed = [layer(a.path(), Some("root/prime")), layer(b.path(), Some("root/prime"))];
    let plain = [layer(a.path(), None), layer(b.path(), None)];
    let out = relocated(&prefixed, &Relocation::new().strip_prefix("/root/prime/")).unwrap();
    let inputs = plain.iter().map(|l| LayerInput::sorted(&l[..])).collect();
    assert!(out == squash(inputs, &out_opts(), Vec::new()).unwrap().out, "byte for byte");
    assert_eq!(
        names(&out),
        [
            "etc/",
            "etc/motd",
            "top",
            "usr/",
            "usr/share/",
            "usr/share/doc/",
            "usr/share/doc/README",
            "usr/share/doc/link"
        ]
    );
    // Without a prefix and without moves, it is squash.
    let out = relocated(&plain, &Relocation::new()).unwrap();
    let inputs = plain.iter().map(|l| LayerInput::sorted(&l[..])).collect();
    assert!(out == squash(inputs, &out_opts(), Vec::new()).unwrap().out);
}

/// What pack wrote before it streamed: the primes copied into one dir, each
/// moved directory's content copied into its target (created 0755 root if
/// missing) and removed, then the dir packed. All mtimes are the epoch, as
/// they are for primes (files copied after it, clamped).
#[test]
fn moved_directories_land_in_their_targets_as_a_copy_through_the_link_would() {
    let prime = tempfile::tempdir().unwrap();
    Tree(prime.path())
        .dir("bin", 0o755)
        .file("bin/hello", b"hello", 0o755)
        .dir("bin/sub", 0o700)
        .file("bin/sub/x", b"x", 0o644)
        .dir("etc", 0o755)
        .file("etc/conf", b"c", 0o600)
        .dir("sbin", 0o755)
        .file("sbin/daemon", b"d", 0o755)
        .dir("usr/bin/sub", 0o755)
        .file("usr/bin/a", b"a", 0o755)
        .file("usr/bin/sub/y", b"y", 0o644)
        .dir("usr/share", 0o755)
        .file("usr/share/z", b"z", 0o644)
        .touch_all(EPOCH as u64 + 100);
    let expected = tempfile::tempdir().unwrap();
    Tree(expected.path())
        .dir("etc", 0o755)
        .file("etc/conf", b"c", 0o600)
        .dir("usr/bin", 0o755)
        .file("usr/bin/a", b"a", 0o755)
        .file("usr/bin/hello", b"hello", 0o755)
        // Both had `sub`: the moved one's header wins, the contents merge.
        .dir("usr/bin/sub", 0o700)
        .file("usr/bin/sub/x", b"x", 0o644)
        .file("usr/bin/sub/y", b"y", 0o644)
        // No `usr/sbin` in the prime: made for the move.
        .dir("usr/sbin", 0o755)
        .file("usr/sbin/daemon", b"d", 0o755)
        .dir("usr/share", 0o755)
        .file("usr/share/z", b"z", 0o644)
        .touch_all(EPOCH as u64 + 100);
    let o = WriteOptions { ids: IdMode::Root, ..WriteOptions::new(Compression::None, EPOCH) };
    let want = write_tree(expected.path(), &o, Vec::new()).unwrap().out;

    let out = relocated(&[layer(prime.path(), Some("root/prime"))], &merged_usr()).unwrap();
    assert_eq!(listing(&out), listing(&want));
    assert!(out == want, "byte for byte");
    assert_eq!(
        listing(&out)[..4],
        [
            "etc/ 5 755 0:0 1700000000 0",
            "etc/conf 0 600 0:0 1700000000 1 \"c\"",
            "usr/ 5 755 0:0 1700000000 0",
            "usr/bin/ 5 755 0:0 1700000000 0",
        ]
    );
}

#[test]
fn later_layers_win_and_whiteouts_apply_before_the_move() {
    let lower = raw_tar(&[
        Raw::dir("root/"),
        Raw::dir("root/prime/"),
        Raw::dir("root/prime/bin/"),
        Raw::file("root/prime/bin/gone", b"1"),
        Raw::file("root/prime/bin/tool", b"v1"),
        Raw::dir("root/prime/usr/"),
        Raw::dir("root/prime/usr/bin/"),
        Raw::file("root/prime/usr/bin/old", b"o"),
    ]);
    let upper = raw_tar(&[
        Raw::dir("root/"),
        Raw::dir("root/prime/"),
        Raw::dir("root/prime/bin/"),
        Raw::file("root/prime/bin/.wh.gone", b""),
        Raw::file("root/prime/bin/tool", b"v2"),
        Raw::dir("root/prime/usr/"),
        Raw::dir("root/prime/usr/bin/"),
        Raw::file("root/prime/usr/bin/.wh.old", b""),
    ]);
    let out = relocated(&[lower, upper], &merged_usr()).unwrap();
    assert_eq!(
        listing(&out),
        ["usr/ 5 755 0:0 1000 0", "usr/bin/ 5 755 0:0 1000 0", "usr/bin/tool 0 644 0:0 1000 2 \"v2\""]
    );
}

#[test]
fn a_file_and_a_symlink_meeting_through_the_link_are_a_conflict() {
    // The python venv case: `bin/python3.11 -> python3` over the real
    // interpreter at `usr/bin/python3.11` would loop.
    let prime = tempfile::tempdir().unwrap();
    Tree(prime.path()).dir("bin", 0o755).symlink("bin/tool", "tool").dir("usr/bin", 0o755).file(
        "usr/bin/tool",
        b"#!/bin/sh\n",
        0o755,
    );
    let err = relocated(&[layer(prime.path(), Some("root/prime"))], &merged_usr()).unwrap_err();
    match &err {
        LayerError::PathConflict { path, first, first_layer, second, second_layer, through } => {
            assert_eq!((path.as_str(), first.as_str(), second.as_str()), ("usr/bin/tool", "bin/tool", "usr/bin/tool"));
            assert_eq!((*first_layer, *second_layer, through.as_str()), (0, 0, "bin -> usr/bin"));
        }
        other => panic!("{other}"),
    }
    assert_eq!(
        err.to_string(),
        "conflicting paths pointing to 'usr/bin/tool': 'bin/tool' (layer 0) and 'usr/bin/tool' (layer 0) differ, \
         and bin -> usr/bin makes them one; keep one of them, or make them identical"
    );

    // Across layers, and for files that differ only in content.
    let a = raw_tar(&[Raw::dir("root/prime/usr/bin/"), Raw::file("root/prime/usr/bin/x", b"one")]);
    let b = raw_tar(&[Raw::dir("root/prime/bin/"), Raw::file("root/prime/bin/x", b"two")]);
    let err = relocated(&[a, b], &merged_usr()).unwrap_err();
    assert!(
        matches!(&err, LayerError::PathConflict { first, first_layer: 1, second, second_layer: 0, .. }
            if first == "bin/x" && second == "usr/bin/x"),
        "{err}"
    );
}

#[test]
fn identical_aliases_are_written_once() {
    let prime = raw_tar(&[
        Raw::dir("root/prime/bin/"),
        Raw::file("root/prime/bin/same", b"s"),
        Raw::symlink("root/prime/bin/sh", "dash"),
        Raw::dir("root/prime/usr/bin/"),
        Raw::file("root/prime/usr/bin/same", b"s"),
        Raw::symlink("root/prime/usr/bin/sh", "dash"),
    ]);
    let out = relocated(&[prime], &merged_usr()).unwrap();
    assert_eq!(names(&out), ["usr/", "usr/bin/", "usr/bin/same", "usr/bin/sh"]);

    // A mode is part of the entry.
    let prime = raw_tar(&[
        Raw::dir("root/prime/bin/"),
        Raw { mode: 0o755, ..Raw::file("root/prime/bin/same", b"s") },
        Raw::dir("root/prime/usr/bin/"),
        Raw::file("root/prime/usr/bin/same", b"s"),
    ]);
    assert!(matches!(relocated(&[prime], &merged_usr()), Err(LayerError::PathConflict { .. })));
}

#[test]
fn a_moved_directory_cannot_land_on_a_non_directory() {
    let prime = raw_tar(&[
        Raw::dir("root/prime/bin/"),
        Raw::file("root/prime/bin/x", b"x"),
        Raw::dir("root/prime/usr/"),
        Raw::symlink("root/prime/usr/bin", "elsewhere"),
    ]);
    let err = relocated(&[prime], &merged_usr()).unwrap_err();
    assert!(
        matches!(&err, LayerError::PathConflict { path, first, second, .. }
            if path == "usr/bin" && first == "bin" && second == "usr/bin"),
        "{err}"
    );
}

#[test]
fn a_moved_empty_directory_still_makes_its_target_and_a_non_directory_stays() {
    let prime = raw_tar(&[Raw::dir("root/prime/bin/"), Raw::symlink("root/prime/sbin", "bin")]);
    let out = relocated(&[prime], &merged_usr()).unwrap();
    assert_eq!(
        listing(&out),
        ["sbin 2 777 0:0 1000 0 -> bin", "usr/ 5 755 0:0 1700000000 0", "usr/bin/ 5 755 0:0 1700000000 0"]
    );
}

#[test]
fn a_target_sorting_before_its_source_parks_the_rest_until_the_move_is_read() {
    let prime = raw_tar(&[
        Raw::dir("aa/"),
        Raw::file("aa/y", b"y"),
        Raw::dir("mm/"),
        Raw::file("mm/z", b"zzz"),
        Raw::dir("zz/"),
        Raw::file("zz/x", b"x"),
    ]);
    let out = relocated(&[prime], &Relocation::new().moving("zz", "aa")).unwrap();
    assert_eq!(
        listing(&out),
        [
            "aa/ 5 755 0:0 1000 0",
            "aa/x 0 644 0:0 1000 1 \"x\"",
            "aa/y 0 644 0:0 1000 1 \"y\"",
            "mm/ 5 755 0:0 1000 0",
            "mm/z 0 644 0:0 1000 3 \"zzz\"",
        ]
    );
}

#[test]
fn hard_links_follow_their_targets_and_keep_their_content_when_the_order_changes() {
    let prime = raw_tar(&[
        Raw::dir("bin/"),
        Raw::file("bin/a", b"aaa"),
        Raw::hardlink("bin/b", "bin/a"),
        Raw::dir("etc/"),
        Raw::hardlink("etc/alias", "bin/a"),
        Raw::dir("usr/"),
        Raw::hardlink("usr/c", "bin/a"),
    ]);
    let out = relocated(&[prime], &Relocation::new().moving("bin", "usr/bin")).unwrap();
    assert_eq!(
        listing(&out),
        [
            "etc/ 5 755 0:0 1000 0",
            // Now first in the layer: it holds the content...
            "etc/alias 0 644 0:0 1000 3 \"aaa\"",
            "usr/ 5 755 0:0 1000 0",
            // ...and the old target links to it, as do the others.
            "usr/bin/ 5 755 0:0 1700000000 0",
            "usr/bin/a 1 644 0:0 1000 0 -> etc/alias",
            "usr/bin/b 1 644 0:0 1000 0 -> etc/alias",
            "usr/c 1 644 0:0 1000 0 -> etc/alias",
        ]
    );
}

#[test]
fn moves_that_nest_or_chain_are_refused() {
    let prime = raw_tar(&[Raw::dir("a/")]);
    let nest = Relocation::new().moving("a", "x").moving("a/b", "y");
    assert!(matches!(relocated(std::slice::from_ref(&prime), &nest), Err(LayerError::InvalidRelocation { .. })));
    let chain = Relocation::new().moving("a", "b/c").moving("b", "d");
    let err = relocated(&[prime], &chain).unwrap_err();
    assert_eq!(err.to_string(), "invalid relocation: move \"a\" -> \"b/c\" ends below \"b\", which moves too");
}

#[test]
fn only_links_inside_the_root_become_moves() {
    let links: BTreeMap<Vec<u8>, Vec<u8>> = [
        ("bin", "usr/bin"),
        ("sbin", "/usr/sbin/"),
        ("up", "../etc"),
        ("dot", "./usr"),
        ("self", "self/x"),
        ("chain", "lib/x"),
        ("lib", "usr/lib"),
    ]
    .into_iter()
    .map(|(a, b)| (a.as_bytes().to_vec(), b.as_bytes().to_vec()))
    .collect();
    let r = Relocation::new().through_links(&links);
    let moves: Vec<(String, String)> = r
        .moves()
        .iter()
        .map(|m| (String::from_utf8_lossy(&m.from).into_owned(), String::from_utf8_lossy(&m.to).into_owned()))
        .collect();
    let want = [("bin", "usr/bin"), ("lib", "usr/lib"), ("sbin", "usr/sbin")];
    assert_eq!(moves, want.map(|(a, b)| (a.to_string(), b.to_string())));
}

#[test]
fn top_level_links_come_from_the_topmost_layer_that_has_the_name() {
    let base = raw_tar(&[
        Raw::symlink("bin", "usr/bin"),
        Raw::dir("etc/"),
        Raw::symlink("lib", "usr/lib"),
        Raw::symlink("sbin", "/usr/sbin"),
        Raw::symlink("srv", "var/srv"),
        Raw::dir("usr/"),
        Raw::dir("usr/bin/"),
    ]);
    // Written by another tool: unsorted, no directory entries.
    let upper = raw_tar(&[
        Raw::file("sbin/init", b"i"),
        Raw::file(".wh.lib", b""),
        Raw::symlink("opt", "/srv"),
        Raw::symlink("lib", "usr/lib64"),
    ]);
    let layers = [top_level(&base[..]).unwrap(), top_level(&upper[..]).unwrap()];
    assert_eq!(layers[1].names[b"sbin".as_slice()], TopEntry::Other);
    let links = top_level_links(&layers);
    let shown: Vec<String> = links
        .iter()
        .map(|(n, t)| format!("{} -> {}", String::from_utf8_lossy(n), String::from_utf8_lossy(t)))
        .collect();
    // lib: the upper layer's link (a whiteout never hides its own layer);
    // sbin: a directory above the link.
    assert_eq!(shown, ["bin -> usr/bin", "lib -> usr/lib64", "opt -> /srv", "srv -> var/srv"]);

    // A whiteout removes a link; an opaque root hides everything below.
    let wh = raw_tar(&[Raw::file(".wh.bin", b"")]);
    let opaque = raw_tar(&[Raw::file(".wh..wh..opq", b""), Raw::symlink("srv", "x")]);
    let links = top_level_links(&[layers[0].clone(), top_level(&wh[..]).unwrap()]);
    assert!(!links.contains_key(b"bin".as_slice()) && links.contains_key(b"sbin".as_slice()));
    let links = top_level_links(&[layers[0].clone(), top_level(&opaque[..]).unwrap()]);
    assert_eq!(links.into_iter().collect::<Vec<_>>(), [(b"srv".to_vec(), b"x".to_vec())]);
}

/// A small seeded generator (xorshift64), for the trees below.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn pick<'a>(&mut self, from: &[&'a str]) -> &'a str {
        from[(self.next() % from.len() as u64) as usize]
    }
}

/// What relocating the squash of `squashed` must give, worked out on the
/// whole listing in memory: each path mapped, a moved directory's own
/// entry standing at its target only if nothing else is, moved directory
/// headers over the target's, missing parents 0755 root at the epoch.
fn moved_in_memory(squashed: &[u8], moves: &[(&str, &str)]) -> Vec<String> {
    let lines = listing(squashed);
    // key → (precedence, line)
    let mut out: BTreeMap<Vec<u8>, (u8, String)> = BTreeMap::new();
    for line in lines {
        let (name, rest) = line.split_once(' ').unwrap();
        let dir = name.ends_with('/');
        let path = name.trim_end_matches('/');
        let mut mapped = (1, path.to_string());
        for (from, to) in moves {
            if path == *from && dir {
                mapped = (0, to.to_string());
            } else if let Some(below) = path.strip_prefix(&format!("{from}/")) {
                mapped = (2, format!("{to}/{below}"));
            }
        }
        let (prec, p) = mapped;
        let line = if prec == 0 {
            format!("{p}/ 5 755 0:0 {EPOCH} 0")
        } else {
            format!("{p}{} {rest}", if dir { "/" } else { "" })
        };
        let key = sort_key(p.as_bytes(), false);
        match out.get(&key) {
            Some((q, other)) => {
                assert!(dir && other.contains("/ 5 "), "generated trees have no file aliases: {other} / {line}");
                if prec > *q {
                    out.insert(key, (prec, line));
                }
            }
            None => {
                out.insert(key, (prec, line));
            }
        }
    }
    let paths: Vec<String> =
        out.values().map(|(_, l)| l.split(' ').next().unwrap().trim_end_matches('/').to_string()).collect();
    for p in paths {
        let mut parent = p.as_str();
        while let Some((up, _)) = parent.rsplit_once('/') {
            out.entry(sort_key(up.as_bytes(), false)).or_insert_with(|| (0, format!("{up}/ 5 755 0:0 {EPOCH} 0")));
            parent = up;
        }
    }
    out.into_values().map(|(_, l)| l).collect()
}

#[test]
fn relocating_random_trees_matches_moving_them_in_memory() {
    let moves = [("bin", "usr/bin"), ("mm", "usr/mm"), ("sbin", "usr/sbin"), ("zz", "aa")];
    let relocation = moves.iter().fold(Relocation::new().strip_prefix("root/prime"), |r, (f, t)| r.moving(f, t));
    let tops = ["aa", "bin", "etc", "mm", "sbin", "usr", "zz"];
    let seconds = ["bin", "mm", "sbin", "x", "y"];
    let mut counter = 0;
    for seed in 1..=60u64 {
        let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        let dirs: Vec<tempfile::TempDir> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
        for d in &dirs {
            let t = Tree(d.path());
            for _ in 0..(rng.next() % 12) {
                let mut at = rng.pick(&tops).to_string();
                if !rng.next().is_multiple_of(3) {
                    at = format!("{at}/{}", rng.pick(&seconds));
                }
                let mode = [0o755, 0o700, 0o750][(rng.next() % 3) as usize];
                t.dir(&at, mode);
                counter += 1;
                match rng.next() % 4 {
                    0 => {
                        t.symlink(&format!("{at}/l{counter}"), "somewhere");
                    }
                    1 => {}
                    _ => {
                        let body = format!("{seed}-{counter}");
                        t.file(&format!("{at}/f{counter}"), body.as_bytes(), 0o644);
                    }
                }
            }
            t.touch_all(EPOCH as u64 - rng.next() % 3);
        }
        let layers: Vec<Vec<u8>> =
            dirs.iter().map(|d| layer_as(d.path(), Some("root/prime"), Compression::None)).collect();
        let plain: Vec<Vec<u8>> = dirs.iter().map(|d| layer_as(d.path(), None, Compression::None)).collect();
        let inputs = plain.iter().map(|l| LayerInput::sorted(&l[..])).collect();
        let squashed = squash(inputs, &out_opts(), Vec::new()).unwrap().out;
        let out = relocated(&layers, &relocation).unwrap_or_else(|e| panic!("seed {seed}: {e}"));
        assert_eq!(listing(&out), moved_in_memory(&squashed, &moves), "seed {seed}");
    }
}
