//! Keep some entries of a layer: the tar-level filter behind stage and prime.
//!
//! [`filter`] reads a layer and writes a new one with the entries a predicate
//! selects, plus the parent directories of those entries. It never unpacks
//! anything, so ownership, modes and devices survive without root.
//!
//! - The predicate sees each entry's logical path (relative, no trailing
//!   slash) and its [`Kind`]; for a whiteout the path it deletes, for an
//!   opaque marker its directory.
//! - A directory is written if it is selected or if anything under it is
//!   kept, always before its children, with its own header from the input.
//!   Directories missing from the input (foreign layers may omit them) are
//!   written as 0755 root.
//! - A kept hard link whose target is not kept becomes a regular file with
//!   the target's content and metadata (the content of left-out files is
//!   held in a temporary file for this); later links to the same target
//!   then link to that file.
//! - The output is in strata's order with the writer's header normalisation
//!   (mtime clamp, ids, PAX), whatever the input's.

use std::io::{self, Read, Write};
use std::path::Path;

use super::emit::{Emitter, Kind, Meta, Origin};
use super::order::path_is_within;
use super::source::{DropStore, Source, SpooledSource, StreamSource, decompress, emit_kept};
use super::{InputOrder, LayerError, LayerInput, OutputOptions, Written, entry_path};

/// Writes the entries of `input` that `keep` selects (and their parent
/// directories) as a new layer stream into `out`.
pub fn filter<R: Read, W: Write>(
    input: LayerInput<R>,
    keep: &dyn Fn(&Path, &Kind) -> bool,
    opts: &OutputOptions,
    out: W,
) -> Result<Written<W>, LayerError> {
    let (_, stream) = decompress(input.reader).map_err(LayerError::Malformed)?;
    match input.order {
        InputOrder::Sorted => {
            let mut archive = tar::Archive::new(stream);
            let mut source = StreamSource::new(0, &mut archive)?;
            run(&mut source, keep, opts, out)
        }
        InputOrder::Unsorted => run(&mut SpooledSource::new(stream)?, keep, opts, out),
    }
}

fn run<W: Write>(
    source: &mut dyn Source,
    keep: &dyn Fn(&Path, &Kind) -> bool,
    opts: &OutputOptions,
    out: W,
) -> Result<Written<W>, LayerError> {
    let mut emitter = Emitter::new(out, opts)?;
    let mut drops = DropStore::default();
    // The input's directories enclosing the current entry, and whether each
    // has been written yet.
    let mut pending: Vec<(Meta, bool)> = Vec::new();
    while let Some(meta) = source.next_entry()? {
        while pending.last().is_some_and(|(dir, _)| !path_is_within(meta.container(), &dir.path)) {
            pending.pop();
        }
        let selected = keep(entry_path(&meta.path), &meta.kind);
        if meta.kind == Kind::Dir {
            pending.push((meta, false));
            if selected {
                write_pending(&mut pending, &mut emitter)?;
            }
        } else if selected {
            write_pending(&mut pending, &mut emitter)?;
            emit_kept(0, &meta, source.data(), &mut drops, &mut emitter)?;
        } else {
            drops.drop_entry(0, &meta, source.data())?;
        }
    }
    emitter.finish()
}

/// Writes the enclosing directories not written yet, outermost first.
fn write_pending<W: Write>(pending: &mut [(Meta, bool)], emitter: &mut Emitter<W>) -> Result<(), LayerError> {
    for (dir, written) in pending.iter_mut().filter(|(_, w)| !*w) {
        emitter.emit(dir, &mut io::empty(), Origin::Stream)?;
        *written = true;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;

    use super::*;
    use crate::layer::testutil::{Raw, Tree, listing, names, raw_tar};
    use crate::layer::{Compression, IdMode, WriteOptions, write_tree};

    const EPOCH: i64 = 1_700_000_000;

    fn out_opts(c: Compression) -> OutputOptions {
        OutputOptions { ids: IdMode::Root, ..OutputOptions::new(c, EPOCH) }
    }

    fn layer(root: &Path) -> Vec<u8> {
        let o = WriteOptions { ids: IdMode::Root, ..WriteOptions::new(Compression::Zstd, EPOCH) };
        write_tree(root, &o, Vec::new()).unwrap().out
    }

    fn run_filter(input: LayerInput<&[u8]>, keep: &dyn Fn(&Path, &Kind) -> bool) -> Vec<u8> {
        filter(input, keep, &out_opts(Compression::None), Vec::new()).unwrap().out
    }

    fn tree(root: &Path) {
        Tree(root)
            .dir("usr", 0o755)
            .dir("usr/bin", 0o711)
            .file("usr/bin/git", b"git binary", 0o755)
            .hardlink("usr/bin/git-upload-pack", "usr/bin/git")
            .hardlink("usr/bin/git-receive-pack", "usr/bin/git")
            .dir("usr/include", 0o755)
            .file("usr/include/git.h", b"h", 0o644)
            .dir("usr/share/doc", 0o700)
            .file("usr/share/doc/README", b"r", 0o644)
            .dir("var/empty", 0o755)
            .touch_all(EPOCH as u64 - 10);
    }

    #[test]
    fn keeping_everything_reproduces_the_layer_byte_for_byte() {
        let src = tempfile::tempdir().unwrap();
        tree(src.path());
        let input = layer(src.path());
        let out =
            filter(LayerInput::sorted(&input[..]), &|_, _| true, &out_opts(Compression::Zstd), Vec::new()).unwrap();
        assert!(out.out == input);
    }

    #[test]
    fn kept_entries_bring_their_parents_with_their_own_headers() {
        let src = tempfile::tempdir().unwrap();
        tree(src.path());
        let input = layer(src.path());
        let seen = RefCell::new(Vec::new());
        let out = run_filter(LayerInput::sorted(&input[..]), &|p, k| {
            seen.borrow_mut().push(format!("{} {k:?}", p.display()));
            p.starts_with("usr/share") || p == Path::new("var/empty")
        });
        assert_eq!(
            listing(&out),
            [
                "usr/ 5 755 0:0 1699999990 0",
                "usr/share/ 5 755 0:0 1699999990 0",
                "usr/share/doc/ 5 700 0:0 1699999990 0",
                "usr/share/doc/README 0 644 0:0 1699999990 1 \"r\"",
                "var/ 5 755 0:0 1699999990 0",
                "var/empty/ 5 755 0:0 1699999990 0",
            ]
        );
        // The predicate sees logical paths, no trailing slash, and kinds.
        assert!(seen.borrow().contains(&"usr/bin Dir".to_string()));
        assert!(seen.borrow().iter().any(|s| s.starts_with("usr/bin/git-upload-pack HardLink { target: ")));
    }

    #[test]
    fn a_kept_link_to_a_dropped_file_carries_the_content() {
        let src = tempfile::tempdir().unwrap();
        tree(src.path());
        let input = layer(src.path());
        // `git` is dropped; the two links to it are kept.
        let out = run_filter(LayerInput::sorted(&input[..]), &|p, _| p.to_str().unwrap().contains("pack"));
        assert_eq!(
            listing(&out),
            [
                "usr/ 5 755 0:0 1699999990 0",
                "usr/bin/ 5 711 0:0 1699999990 0",
                // The first kept link becomes the file, with the target's metadata...
                "usr/bin/git-receive-pack 0 755 0:0 1699999990 10 \"git binary\"",
                // ...and the next one links to it.
                "usr/bin/git-upload-pack 1 755 0:0 1699999990 0 -> usr/bin/git-receive-pack",
            ]
        );
    }

    #[test]
    fn whiteouts_are_filtered_by_the_path_they_delete() {
        let input = raw_tar(&[
            Raw::dir("etc/"),
            Raw::file("etc/hosts", b"h"),
            // Sorted where `etc/motd` would be.
            Raw::file("etc/.wh.motd", b""),
            Raw::dir("var/"),
            Raw::dir("var/log/"),
            Raw::file("var/log/.wh..wh..opq", b""),
        ]);
        let seen = RefCell::new(Vec::new());
        let out = run_filter(LayerInput::sorted(&input[..]), &|p, k| {
            seen.borrow_mut().push(format!("{} {k:?}", p.display()));
            matches!(k, Kind::Whiteout | Kind::Opaque)
        });
        assert_eq!(names(&out), ["etc/", "etc/.wh.motd", "var/", "var/log/", "var/log/.wh..wh..opq"]);
        assert!(seen.borrow().contains(&"etc/motd Whiteout".to_string()));
        assert!(seen.borrow().contains(&"var/log Opaque".to_string()));
    }

    #[test]
    fn unsorted_layers_must_be_declared_and_are_then_sorted() {
        // As other tools write them: `./` prefixes, files before their
        // directories' siblings in creation order, a link before its target
        // in strata's order.
        let input = raw_tar(&[
            Raw::dir("./"),
            Raw::dir("./b/"),
            Raw::file("./b/x", b"x"),
            Raw::hardlink("./a-link", "b/x"),
            Raw::dir("./a/"),
            Raw::file("./a/y", b"y"),
        ]);
        let err =
            filter(LayerInput::sorted(&input[..]), &|_, _| true, &out_opts(Compression::None), Vec::new()).unwrap_err();
        assert!(matches!(err, LayerError::OutOfOrder { layer: 0, .. }), "{err}");
        assert!(err.to_string().contains("InputOrder::Unsorted"), "{err}");

        let out = run_filter(LayerInput::unsorted(&input[..]), &|_, _| true);
        let l = listing(&out);
        assert_eq!(names(&out), ["a/", "a/y", "a-link", "b/", "b/x"]);
        // The content moved to the first path in the new order.
        assert!(l[2].starts_with("a-link 0 644") && l[2].ends_with("\"x\""), "{l:?}");
        assert_eq!(l[4], "b/x 1 644 0:0 1000 0 -> a-link");
    }
}
