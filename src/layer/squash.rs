//! Merge layers into one: the tar-level squash behind stage and prime.
//!
//! [`squash`] takes layers bottom to top and writes the single layer that
//! unpacking them in turn would give: a full tree, with no whiteouts left.
//!
//! It is a k-way merge on strata's [order](super::order), one entry of each
//! input in memory at a time. At each path the topmost layer wins. Lower
//! layers are cut off below a path where a layer above
//!
//! - has a whiteout (the path and everything under it),
//! - has an opaque marker (everything under the directory), or
//! - has a non-directory (everything under it: a file replaced a directory).
//!
//! Because every subtree is contiguous in this order, what a cut hides comes
//! right after it; the cuts in force form a stack along the current path.
//! Directories present in several layers merge, with the topmost header.
//!
//! Inputs marked [`InputOrder::Unsorted`](super::InputOrder) are indexed and
//! spooled first (see [`LayerInput`]) and then take part in the same merge.
//! Hard links are kept when their target is in the result from the same
//! layer; otherwise the link becomes a copy of the target as it was in that
//! layer (see [`filter`](super::filter()), which does the same). For that,
//! the content of every file the merge leaves out is copied to an anonymous
//! temporary file as it streams by: disk, never memory, and only as much as
//! upper layers replace or delete.

use std::io::{Read, Write};

use super::emit::{Emitter, EntrySink, Kind, Meta};
use super::order::{key_is_under, sort_key};
use super::source::{DropStore, Source, SpooledSource, StreamSource, decompress, emit_kept};
use super::{InputOrder, LayerError, LayerInput, OutputOptions, Written};

/// A cut: entries of layers below `layer` are hidden under `key` (and at
/// `key` itself when `inclusive`).
struct Cut {
    key: Vec<u8>,
    layer: usize,
    inclusive: bool,
}

impl Cut {
    fn hides(&self, key: &[u8], layer: usize) -> bool {
        layer < self.layer && (key_is_under(key, &self.key) || (self.inclusive && key == self.key.as_slice()))
    }

    fn covers(&self, key: &[u8]) -> bool {
        key == self.key.as_slice() || key_is_under(key, &self.key)
    }
}

/// Merges `layers` (bottom first) into one layer stream written to `out`.
pub fn squash<R: Read, W: Write>(
    layers: Vec<LayerInput<R>>,
    opts: &OutputOptions,
    out: W,
) -> Result<Written<W>, LayerError> {
    let mut emitter = Emitter::new(out, opts)?;
    with_sources(layers, |sources| merge(sources, b"", &mut emitter))?;
    emitter.finish()
}

/// Opens `layers` (bottom first) as sources in strata's order and runs `f`
/// over them: sorted inputs stream, unsorted ones are spooled first.
pub(crate) fn with_sources<R: Read, T>(
    layers: Vec<LayerInput<R>>,
    f: impl FnOnce(&mut [Box<dyn Source + '_>]) -> Result<T, LayerError>,
) -> Result<T, LayerError> {
    let mut archives = Vec::new();
    let mut spooled = Vec::new();
    for (i, input) in layers.into_iter().enumerate() {
        let (_, stream) = decompress(input.reader).map_err(LayerError::Malformed)?;
        match input.order {
            InputOrder::Sorted => archives.push((i, tar::Archive::new(stream))),
            InputOrder::Unsorted => spooled.push((i, SpooledSource::new(stream)?)),
        }
    }
    let mut sources: Vec<(usize, Box<dyn Source + '_>)> = Vec::new();
    for (i, archive) in archives.iter_mut() {
        sources.push((*i, Box::new(StreamSource::new(*i, archive)?)));
    }
    for (i, source) in spooled {
        sources.push((i, Box::new(source)));
    }
    sources.sort_by_key(|(i, _)| *i);
    let mut sources: Vec<Box<dyn Source + '_>> = sources.into_iter().map(|(_, s)| s).collect();
    f(&mut sources)
}

/// The merge: puts the squashed entries that lie strictly below `within`
/// (everything when it is empty) into `sink`, in order. Entries outside
/// `within` still cut off what they hide, and are kept for the hard links
/// that point at them, like every entry left out.
pub(crate) fn merge(
    sources: &mut [Box<dyn Source + '_>],
    within: &[u8],
    sink: &mut dyn EntrySink,
) -> Result<(), LayerError> {
    let mut drops = DropStore::default();
    let mut heads: Vec<Option<(Vec<u8>, Meta)>> = Vec::with_capacity(sources.len());
    for source in sources.iter_mut() {
        heads.push(source.next_entry()?.map(|m| (m.key(), m)));
    }
    let scope = sort_key(within, false);
    let mut cuts: Vec<Cut> = Vec::new();
    while let Some(key) = heads.iter().flatten().map(|(k, _)| k).min().cloned() {
        while cuts.last().is_some_and(|c| !c.covers(&key)) {
            cuts.pop();
        }
        let group: Vec<usize> =
            (0..heads.len()).filter(|&i| heads[i].as_ref().is_some_and(|(k, _)| *k == key)).collect();
        let live: Vec<usize> = group.iter().copied().filter(|&i| !cuts.iter().any(|c| c.hides(&key, i))).collect();

        // What the live entries at this path cut off below them.
        let mut new_cuts = Vec::new();
        for &i in &live {
            let meta = &heads[i].as_ref().expect("in group").1;
            match meta.kind {
                Kind::Dir => {}
                Kind::Whiteout => new_cuts.push(Cut { key: key.clone(), layer: i, inclusive: true }),
                Kind::Opaque => new_cuts.push(Cut { key: key[..key.len() - 1].to_vec(), layer: i, inclusive: false }),
                _ => new_cuts.push(Cut { key: key.clone(), layer: i, inclusive: false }),
            }
        }

        let in_scope = within.is_empty() || key_is_under(&key, &scope);
        let winner = live.last().copied().filter(|&i| {
            in_scope && !matches!(heads[i].as_ref().expect("in group").1.kind, Kind::Whiteout | Kind::Opaque)
        });
        for &i in &group {
            let meta = heads[i].take().expect("in group").1;
            if Some(i) == winner {
                emit_kept(i, &meta, sources[i].data(), &mut drops, sink)?;
            } else {
                drops.drop_entry(i, &meta, sources[i].data())?;
            }
            heads[i] = sources[i].next_entry()?.map(|m| (m.key(), m));
        }
        cuts.extend(new_cuts);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::layer::testutil::{Raw, Tree, listing, names, raw_tar};
    use crate::layer::{Compression, IdMode, UnpackOptions, WriteOptions, unpack, write_tree};

    const EPOCH: i64 = 1_700_000_000;

    fn out_opts() -> OutputOptions {
        OutputOptions { ids: IdMode::Root, ..OutputOptions::new(Compression::None, EPOCH) }
    }

    fn layer(root: &Path) -> Vec<u8> {
        let o = WriteOptions { ids: IdMode::Root, ..WriteOptions::new(Compression::Gzip, EPOCH) };
        write_tree(root, &o, Vec::new()).unwrap().out
    }

    /// What squash must equal: unpacking the layers in turn, then packing.
    fn unpack_all_then_write(layers: &[Vec<u8>]) -> Vec<u8> {
        let dir = tempfile::tempdir().unwrap();
        for l in layers {
            unpack(&l[..], dir.path(), &UnpackOptions { same_owner: false, ..Default::default() }).unwrap();
        }
        let o = WriteOptions { ids: IdMode::Root, ..WriteOptions::new(Compression::None, EPOCH) };
        write_tree(dir.path(), &o, Vec::new()).unwrap().out
    }

    fn squash_sorted(layers: &[Vec<u8>]) -> Vec<u8> {
        let inputs = layers.iter().map(|l| LayerInput::sorted(&l[..])).collect();
        squash(inputs, &out_opts(), Vec::new()).unwrap().out
    }

    /// Three layers exercising every rule: whiteouts, opaque directories, a
    /// file replacing a directory and back, and hard links whose target an
    /// upper layer replaces.
    fn scenario() -> Vec<Vec<u8>> {
        let base = tempfile::tempdir().unwrap();
        Tree(base.path())
            .dir("etc", 0o755)
            .file("etc/passwd", b"root:x:0:0", 0o644)
            .file("etc/motd", b"hello", 0o644)
            .dir("opt/app/lib", 0o755)
            .file("opt/app/lib/old.so", b"old", 0o755)
            .file("opt/app/.config", b"c", 0o600)
            .dir("srv", 0o755)
            .file("srv/data", b"d", 0o644)
            .file("usr-bin-tool", b"tool v1", 0o755)
            .hardlink("tool-alias", "usr-bin-tool")
            .dir("keep", 0o700)
            .file("keep/me", b"k", 0o644)
            .touch_all(EPOCH as u64 - 100);
        let mid = tempfile::tempdir().unwrap();
        Tree(mid.path())
            .dir("etc", 0o750)
            .file("etc/motd", b"changed", 0o644)
            .file("srv", b"srv is a file now", 0o644)
            .dir("opt/app", 0o755)
            .file("opt/app/new", b"n", 0o644)
            .file("usr-bin-tool", b"tool v2", 0o755)
            .touch_all(EPOCH as u64 - 50);
        // Whiteouts and opaque markers, as an overlay capture would give them.
        let top = raw_tar(&[
            Raw::dir("etc/"),
            Raw::file("etc/.wh.passwd", b""),
            Raw::dir("opt/"),
            Raw::dir("opt/app/"),
            Raw::file("opt/app/.wh..wh..opq", b""),
            Raw::file("opt/app/fresh", b"f"),
            Raw::dir("srv/"),
            Raw::file("srv/again", b"a dir again"),
        ]);
        vec![layer(base.path()), layer(mid.path()), top]
    }

    #[test]
    fn squash_equals_unpacking_every_layer_then_packing() {
        let layers = scenario();
        let squashed = squash_sorted(&layers);
        assert_eq!(listing(&squashed), listing(&unpack_all_then_write(&layers)));
        assert!(squashed == unpack_all_then_write(&layers), "byte for byte");
        assert_eq!(
            names(&squashed),
            [
                "etc/",
                "etc/motd",
                "keep/",
                "keep/me",
                "opt/",
                "opt/app/",
                "opt/app/fresh",
                "srv/",
                "srv/again",
                "tool-alias",
                "usr-bin-tool",
            ]
        );
        let l = listing(&squashed);
        // The top layer's directory header wins.
        assert!(l[0].starts_with("etc/ 5 755 0:0 1000 "), "{l:?}");
        // The link's target was replaced above it: the link keeps the old content.
        assert!(l[9].starts_with("tool-alias 0 755") && l[9].ends_with("\"tool v1\""), "{l:?}");
        assert!(l[10].ends_with("\"tool v2\""), "{l:?}");
    }

    #[test]
    fn one_layer_squashes_to_itself_and_whiteouts_are_dropped() {
        let layers = scenario();
        let o = OutputOptions { compression: Compression::Gzip, ..out_opts() };
        let one = squash(vec![LayerInput::sorted(&layers[0][..])], &o, Vec::new()).unwrap();
        assert!(one.out == layers[0]);
        let top = squash_sorted(&layers[2..]);
        assert_eq!(names(&top), ["etc/", "opt/", "opt/app/", "opt/app/fresh", "srv/", "srv/again"]);
    }

    #[test]
    fn unsorted_inputs_are_merged_too() {
        let layers = scenario();
        let reversed = |l: &Vec<u8>| {
            // The same entries in reverse order (parents after children).
            let (_, stream) = crate::layer::decompress(&l[..]).unwrap();
            let mut a = tar::Archive::new(stream);
            let mut entries = Vec::new();
            for e in a.entries().unwrap() {
                let mut e = e.unwrap();
                let mut data = Vec::new();
                std::io::Read::read_to_end(&mut e, &mut data).unwrap();
                entries.push((
                    e.header().clone(),
                    e.path_bytes().into_owned(),
                    e.link_name_bytes().map(|c| c.into_owned()),
                    data,
                ));
            }
            let mut b = tar::Builder::new(Vec::new());
            for (mut h, path, link, data) in entries.into_iter().rev() {
                match link {
                    Some(link) => b
                        .append_link(
                            &mut h,
                            Path::new(std::str::from_utf8(&path).unwrap()),
                            Path::new(std::str::from_utf8(&link).unwrap()),
                        )
                        .unwrap(),
                    None => b.append_data(&mut h, Path::new(std::str::from_utf8(&path).unwrap()), &data[..]).unwrap(),
                }
            }
            b.into_inner().unwrap()
        };
        let mixed = [reversed(&layers[0]), layers[1].clone(), reversed(&layers[2])];
        let inputs = vec![
            LayerInput::unsorted(&mixed[0][..]),
            LayerInput::sorted(&mixed[1][..]),
            LayerInput::unsorted(&mixed[2][..]),
        ];
        let out = squash(inputs, &out_opts(), Vec::new()).unwrap().out;
        assert!(out == squash_sorted(&layers));

        let err = squash(vec![LayerInput::sorted(&mixed[0][..])], &out_opts(), Vec::new()).unwrap_err();
        assert!(matches!(err, LayerError::OutOfOrder { layer: 0, .. }), "{err}");
    }
}
