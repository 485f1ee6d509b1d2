//! The one place where tar headers are built and layer bytes are produced.
//!
//! The writer (from a directory tree), [`filter`](super::filter) and
//! [`squash`](super::squash) (from other layers) all describe each entry as a
//! [`Meta`] and hand it to an [`Emitter`], which normalises it and writes it:
//!
//! ```text
//! Meta ─▶ ustar header (+ PAX header) ─▶ tar::Builder ─▶ HashingWriter (diff_id)
//!      ─▶ Blocks (fixed-size feed) ─▶ Encoder (gzip / zstd / none) ─▶ out
//! ```
//!
//! # Header normalisation (DESIGN.md §5)
//!
//! - ustar headers (`ustar\0` `00`); anything that does not fit goes in a
//!   PAX extended header (`x`) in front of the entry: `path` (> 100 bytes),
//!   `linkpath` (> 100 bytes), `size` (≥ 8 GiB), `uid`/`gid` (> 2097151),
//!   `mtime` (beyond year 2242) and `SCHILY.xattr.security.capability`.
//!   Records are sorted by key. The ustar `prefix` field is never used, so a
//!   reader sees the same name whether or not it knows ustar. GNU headers and
//!   GNU long-name entries are never written.
//! - The PAX header itself is named `PaxHeaders.0/<last component>`
//!   (truncated to 100 bytes; Go's archive/tar also puts the directory in
//!   front), mode 0644, ids 0, mtime 0.
//! - mode: the permission bits incl. setuid/setgid/sticky (`mode & 0o7777`);
//!   the file type is only in the type flag.
//! - uid/gid numeric as given (or 0 with [`IdMode::Root`]); uname and gname
//!   empty; no atime/ctime.
//! - mtime: `clamp(mtime, 0, source_date_epoch)`, whole seconds. Times before
//!   1970 become 0 (the ustar field cannot hold them, and PAX fractional or
//!   negative times are not worth their portability cost).
//! - devmajor/devminor written as octal zero for entries that are not devices
//!   (as GNU tar and Go do).
//! - directories end in `/`; hard links and symlinks have size 0.
//! - whiteouts: an empty regular file `DIR/.wh.NAME`; opaque directories: an
//!   empty regular file `DIR/.wh..wh..opq` right after `DIR/`. Both have mode
//!   0600, uid/gid 0 and mtime `source_date_epoch` whatever they were made
//!   from: they carry no metadata of their own.
//!
//! # Order and parents
//!
//! The emitter checks that entries arrive in strictly increasing
//! [order](super::order), so no producer can write an unsorted layer. When an
//! entry's parent directory has not been emitted (the writer's `prefix`, a
//! foreign layer that omits directories) it emits the missing directories
//! first as mode 0755, uid/gid 0, mtime `source_date_epoch`.

use std::io::{self, Read, Write};
use std::path::Path;
use std::sync::mpsc;

use flate2::GzBuilder;
use oci_spec::image::Digest;

use super::order::{self, parent, path_is_within};
use super::{Compression, GZIP_LEVEL, IdMode, LayerError, OutputOptions, Written, ZSTD_LEVEL, ZSTD_WORKERS};
use crate::digest::HashingWriter;

/// Largest value of an 8-byte octal field (mode, uid, gid, devmajor, devminor).
const MAX_OCTAL_8: u64 = 0o7777777;
/// Largest value of a 12-byte octal field (size, mtime).
const MAX_OCTAL_12: u64 = 0o77777777777;
/// Size of the buffer file contents are copied through.
const COPY_BUF: usize = 256 * 1024;
/// The compressor is fed in blocks of exactly this size (see [`Blocks`]).
/// Changing it may change gzip layer bytes.
const FEED_BLOCK: usize = 128 * 1024;

/// One entry, as every producer describes it to the [`Emitter`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Meta {
    /// The logical path: relative, `/`-separated, no trailing slash. For a
    /// whiteout the path it deletes, for an opaque marker its directory.
    pub path: Vec<u8>,
    pub kind: Kind,
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    /// Seconds since the epoch, before clamping.
    pub mtime: i64,
    /// The `security.capability` xattr, the only one a layer keeps.
    pub capability: Option<Vec<u8>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    File {
        size: u64,
    },
    Dir,
    Symlink {
        target: Vec<u8>,
    },
    /// A hard link to an earlier entry of the same layer (its logical path).
    HardLink {
        target: Vec<u8>,
    },
    CharDevice {
        major: u32,
        minor: u32,
    },
    BlockDevice {
        major: u32,
        minor: u32,
    },
    Fifo,
    Whiteout,
    Opaque,
}

impl Meta {
    /// The entry's sort key (see [`order`]).
    pub fn key(&self) -> Vec<u8> {
        order::sort_key(&self.path, self.kind == Kind::Opaque)
    }

    /// The directory the entry's tar name sits in: its parent, except for an
    /// opaque marker, which sits in the directory it marks.
    pub fn container(&self) -> &[u8] {
        if self.kind == Kind::Opaque { &self.path } else { parent(&self.path) }
    }

    /// Bytes of content that follow the header.
    pub fn data_size(&self) -> u64 {
        match self.kind {
            Kind::File { size } => size,
            _ => 0,
        }
    }

    /// The name the entry has in the tar stream.
    pub fn tar_name(&self) -> Vec<u8> {
        let mut name = Vec::with_capacity(self.path.len() + 16);
        match self.kind {
            Kind::Dir => {
                name.extend_from_slice(&self.path);
                name.push(b'/');
            }
            Kind::Whiteout => {
                let dir = parent(&self.path);
                let base = &self.path[if dir.is_empty() { 0 } else { dir.len() + 1 }..];
                if !dir.is_empty() {
                    name.extend_from_slice(dir);
                    name.push(b'/');
                }
                name.extend_from_slice(order::WHITEOUT_PREFIX);
                name.extend_from_slice(base);
            }
            Kind::Opaque => {
                if !self.path.is_empty() {
                    name.extend_from_slice(&self.path);
                    name.push(b'/');
                }
                name.extend_from_slice(order::OPAQUE_MARKER);
            }
            _ => name.extend_from_slice(&self.path),
        }
        name
    }

    pub fn display(&self) -> String {
        String::from_utf8_lossy(&self.tar_name()).into_owned()
    }
}

/// Where an entry's content comes from, to word errors about it.
#[derive(Clone, Copy)]
pub(crate) enum Origin<'a> {
    /// A file of the tree being packed.
    Tree(&'a Path),
    /// The content of an entry of another layer.
    Stream,
}

/// The compressor at the end of the pipeline, pinned per [`Compression`].
pub(crate) enum Encoder<W: Write> {
    None(W),
    Gzip(flate2::write::GzEncoder<W>),
    Zstd(zstd::stream::write::Encoder<'static, W>),
}

impl<W: Write> Encoder<W> {
    pub fn new(out: W, compression: Compression) -> io::Result<Self> {
        Ok(match compression {
            Compression::None => Encoder::None(out),
            // Header pinned: mtime 0, no file name, no comment, OS byte 255
            // ("unknown"); XFL follows from the level.
            Compression::Gzip => Encoder::Gzip(
                GzBuilder::new().mtime(0).operating_system(255).write(out, flate2::Compression::new(GZIP_LEVEL)),
            ),
            Compression::Zstd => {
                let mut enc = zstd::stream::write::Encoder::new(out, ZSTD_LEVEL)?;
                // One worker: the frame layout of multi-threaded zstd does
                // not depend on the worker count (≥ 1), so this is the same
                // bytes as -T2 or -T16 would give, but not as 0 workers.
                enc.multithread(ZSTD_WORKERS)?;
                // The frame checksum (XXH64 of the content, 4 bytes) lets a
                // decompressor catch corruption on its own, as zstd(1) does
                // by default.
                enc.include_checksum(true)?;
                Encoder::Zstd(enc)
            }
        })
    }

    pub fn finish(self) -> io::Result<W> {
        match self {
            Encoder::None(w) => Ok(w),
            Encoder::Gzip(e) => e.finish(),
            Encoder::Zstd(e) => e.finish(),
        }
    }
}

impl<W: Write> Write for Encoder<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Encoder::None(w) => w.write(buf),
            Encoder::Gzip(e) => e.write(buf),
            Encoder::Zstd(e) => e.write(buf),
        }
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        match self {
            Encoder::None(w) => w.write_all(buf),
            Encoder::Gzip(e) => e.write_all(buf),
            Encoder::Zstd(e) => e.write_all(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Encoder::None(w) => w.flush(),
            Encoder::Gzip(e) => e.flush(),
            Encoder::Zstd(e) => e.flush(),
        }
    }
}

/// Feeds the compressor in blocks of exactly [`FEED_BLOCK`] bytes (the last
/// one shorter), whatever sizes it is written in.
///
/// Why: zlib-rs's deflate at levels 1 (`deflate_quick`) and 5–6
/// (`deflate_medium`) emits different bytes for the same input fed in
/// different pieces (levels 2–4 and 7–9 do not; zstd does not either; see
/// the `emit` tests). With this, the compressed bytes are a function of the
/// tar stream alone, not of how the emitter, tar-rs or a future refactor
/// happen to chunk their writes.
pub(crate) struct Blocks<W: Write> {
    inner: W,
    buf: Vec<u8>,
}

impl<W: Write> Blocks<W> {
    pub fn new(inner: W) -> Self {
        Blocks { inner, buf: Vec::with_capacity(FEED_BLOCK) }
    }

    pub fn into_inner(mut self) -> io::Result<W> {
        if !self.buf.is_empty() {
            self.inner.write_all(&self.buf)?;
        }
        Ok(self.inner)
    }
}

impl<W: Write> Write for Blocks<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.buf.is_empty() && buf.len() >= FEED_BLOCK {
            // A whole block straight from the caller's buffer: same feed, no copy.
            self.inner.write_all(&buf[..FEED_BLOCK])?;
            return Ok(FEED_BLOCK);
        }
        let n = buf.len().min(FEED_BLOCK - self.buf.len());
        self.buf.extend_from_slice(&buf[..n]);
        if self.buf.len() == FEED_BLOCK {
            self.inner.write_all(&self.buf)?;
            self.buf.clear();
        }
        Ok(n)
    }

    /// Only flushes what is already complete: a partial block stays, so a
    /// flush never changes the bytes.
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The compressing end of the pipeline: `Blocks ▸ Encoder ▸ out`.
pub(crate) type Compressor<W> = Blocks<Encoder<W>>;

/// Starts the compressing end of the pipeline for `out`.
pub(crate) fn compressor<W: Write>(out: W, compression: Compression) -> Result<Compressor<W>, LayerError> {
    Ok(Blocks::new(Encoder::new(out, compression).map_err(LayerError::WriteStream)?))
}

/// Ends the compressed stream and returns the caller's writer.
pub(crate) fn finish_compressor<W: Write>(c: Compressor<W>) -> Result<W, LayerError> {
    c.into_inner().and_then(Encoder::finish).map_err(LayerError::WriteStream)
}

/// Runs `produce` on a scoped thread, its emitter writing the tar stream
/// (hashing it: the diff_id) into a pipe, and compresses that stream into
/// `out` on the calling thread: reading (the tree, or the input layers)
/// overlaps with compressing. The compressor sees the same bytes in the
/// same blocks as with one thread (see [`Blocks`]), so the output is the
/// same. `produce` hands its emitter back when it has written every entry.
pub(crate) fn two_stage<W: Write>(
    out: W,
    opts: &OutputOptions,
    produce: impl FnOnce(Emitter<ChannelWriter>) -> Result<Emitter<ChannelWriter>, LayerError> + Send,
) -> Result<Written<W>, LayerError> {
    let mut compressor = compressor(out, opts.compression)?;
    let (tx, rx) = mpsc::sync_channel::<Vec<u8>>(PIPE_DEPTH);
    let (produced, consumed) = std::thread::scope(|scope| {
        let producer = scope.spawn(move || {
            let sink = ChannelWriter { tx, buf: Vec::with_capacity(PIPE_CHUNK) };
            let emitter = produce(Emitter::with_sink(sink, opts))?;
            let (sink, diff_id, size) = emitter.finish_tar()?;
            sink.close().map_err(LayerError::WriteStream)?;
            Ok::<_, LayerError>((diff_id, size))
        });
        let mut consumed = Ok(());
        for chunk in rx {
            if let Err(e) = compressor.write_all(&chunk) {
                // Dropping the receiver makes the producer stop at its next write.
                consumed = Err(LayerError::WriteStream(e));
                break;
            }
        }
        let produced = producer.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        (produced, consumed)
    });
    // The writing side's error explains a producer that found the pipe closed.
    consumed?;
    let (diff_id, uncompressed_size) = produced?;
    let out = finish_compressor(compressor)?;
    Ok(Written { out, diff_id, uncompressed_size })
}

/// Tar stream chunks in flight between the two stages.
const PIPE_DEPTH: usize = 8;
/// Size of those chunks (the compressor re-blocks them anyway).
const PIPE_CHUNK: usize = 256 * 1024;

/// The producing end of [`two_stage`]'s pipe: the tar stream in chunks.
pub(crate) struct ChannelWriter {
    tx: mpsc::SyncSender<Vec<u8>>,
    buf: Vec<u8>,
}

impl ChannelWriter {
    fn send(&mut self) -> io::Result<()> {
        let chunk = std::mem::replace(&mut self.buf, Vec::with_capacity(PIPE_CHUNK));
        self.tx.send(chunk).map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the compressing side stopped"))
    }

    fn close(mut self) -> io::Result<()> {
        if !self.buf.is_empty() {
            self.send()?;
        }
        Ok(())
    }
}

impl Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let n = data.len().min(PIPE_CHUNK - self.buf.len());
        self.buf.extend_from_slice(&data[..n]);
        if self.buf.len() == PIPE_CHUNK {
            self.send()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Where [`filter`](super::filter()) and [`squash`](super::squash()) put
/// the entries they keep, in strata's order: the [`Emitter`] itself, or an
/// adapter in front of it that changes paths (`relocate`). `layer` is the
/// input the entry comes from (bottom first).
pub(crate) trait EntrySink {
    /// Takes one entry; `data` yields exactly `meta.data_size()` bytes.
    fn put(&mut self, layer: usize, meta: &Meta, data: &mut dyn Read) -> Result<(), LayerError>;
}

impl<S: Write> EntrySink for Emitter<S> {
    fn put(&mut self, _layer: usize, meta: &Meta, data: &mut dyn Read) -> Result<(), LayerError> {
        self.emit(meta, data, Origin::Stream)
    }
}

/// Writes normalised entries, in order, as a PAX tar stream into `S`: the
/// compressor itself ([`Emitter::new`]), or a channel to a thread running it
/// (the writer does this, see `writer::write_tree`).
pub(crate) struct Emitter<S: Write> {
    tar: tar::Builder<HashingWriter<S>>,
    opts: OutputOptions,
    /// Key of the last entry written.
    last_key: Option<Vec<u8>>,
    /// Logical path of the last entry written.
    last_path: Vec<u8>,
    /// The directories (logical paths) enclosing the current position.
    open_dirs: Vec<Vec<u8>>,
    buf: Vec<u8>,
}

impl<W: Write> Emitter<Compressor<W>> {
    /// An emitter compressing into `out` on the calling thread.
    pub fn new(out: W, opts: &OutputOptions) -> Result<Self, LayerError> {
        Ok(Emitter::with_sink(compressor(out, opts.compression)?, opts))
    }

    /// Ends the tar stream (two zero blocks) and the compressed stream.
    pub fn finish(self) -> Result<Written<W>, LayerError> {
        let (c, diff_id, uncompressed_size) = self.finish_tar()?;
        let out = finish_compressor(c)?;
        Ok(Written { out, diff_id, uncompressed_size })
    }
}

impl<S: Write> Emitter<S> {
    /// An emitter writing the uncompressed tar stream into `sink`.
    pub fn with_sink(sink: S, opts: &OutputOptions) -> Self {
        Emitter {
            tar: tar::Builder::new(HashingWriter::new(sink)),
            opts: *opts,
            last_key: None,
            last_path: Vec::new(),
            open_dirs: Vec::new(),
            buf: vec![0; COPY_BUF],
        }
    }

    /// Ends the tar stream; returns the sink, the diff_id and the size of the tar stream.
    pub fn finish_tar(self) -> Result<(S, Digest, u64), LayerError> {
        let hashing = self.tar.into_inner().map_err(LayerError::WriteStream)?;
        Ok(hashing.finish())
    }

    /// Writes one entry, after any missing parent directories. `data` must
    /// yield exactly `meta.data_size()` bytes.
    pub fn emit(&mut self, meta: &Meta, data: &mut dyn Read, origin: Origin) -> Result<(), LayerError> {
        self.open_parents(meta.container(), &meta.path)?;
        let key = meta.key();
        if let Some(last) = &self.last_key
            && key <= *last
        {
            return Err(LayerError::OutOfOrder {
                layer: 0,
                entry: meta.display(),
                previous: String::from_utf8_lossy(&self.last_path).into_owned(),
            });
        }
        self.write_entry(meta, data, origin)?;
        if meta.kind == Kind::Dir {
            self.open_dirs.push(meta.path.clone());
        }
        self.last_key = Some(key);
        self.last_path.clone_from(&meta.path);
        Ok(())
    }

    /// Makes `dir` and its ancestors the open directories, emitting those
    /// that were never emitted.
    fn open_parents(&mut self, dir: &[u8], entry: &[u8]) -> Result<(), LayerError> {
        while let Some(top) = self.open_dirs.last() {
            if path_is_within(dir, top) {
                break;
            }
            self.open_dirs.pop();
        }
        if dir.is_empty() || self.open_dirs.last().is_some_and(|top| top == dir) {
            return Ok(());
        }
        let start = self.open_dirs.last().map_or(0, |top| top.len() + 1);
        let mut end = start;
        while end <= dir.len() {
            end = dir[end..].iter().position(|&c| c == b'/').map_or(dir.len(), |i| end + i);
            let missing = &dir[..end];
            if self.last_key.is_some() && self.last_path == missing {
                return Err(LayerError::ParentNotADirectory {
                    entry: String::from_utf8_lossy(entry).into_owned(),
                    parent: String::from_utf8_lossy(missing).into_owned(),
                });
            }
            let synthesized = Meta {
                path: missing.to_vec(),
                kind: Kind::Dir,
                mode: 0o755,
                uid: 0,
                gid: 0,
                mtime: self.opts.source_date_epoch,
                capability: None,
            };
            self.emit(&synthesized, &mut io::empty(), Origin::Stream)?;
            end += 1;
        }
        Ok(())
    }

    fn write_entry(&mut self, meta: &Meta, data: &mut dyn Read, origin: Origin) -> Result<(), LayerError> {
        let name = meta.tar_name();
        let display = || String::from_utf8_lossy(&name).into_owned();
        let marker = matches!(meta.kind, Kind::Whiteout | Kind::Opaque);
        let epoch = self.opts.source_date_epoch.max(0) as u64;
        let mtime = if marker { epoch } else { (meta.mtime.max(0) as u64).min(epoch) };
        let (uid, gid) = match (marker, self.opts.ids) {
            (true, _) | (_, IdMode::Root) => (0, 0),
            (false, IdMode::AsFound) => (meta.uid, meta.gid),
        };
        let mode = if marker { 0o600 } else { meta.mode & 0o7777 };
        let size = meta.data_size();

        let mut pax: Vec<(&'static str, Vec<u8>)> = Vec::new();
        let mut h = tar::Header::new_ustar();
        put_bytes(&mut h.as_old_mut().name, &name, "path", &mut pax);
        h.set_mode(mode);
        put_num(&mut h, uid, MAX_OCTAL_8, "uid", &mut pax, |h, v| h.set_uid(v));
        put_num(&mut h, gid, MAX_OCTAL_8, "gid", &mut pax, |h, v| h.set_gid(v));
        put_num(&mut h, size, MAX_OCTAL_12, "size", &mut pax, |h, v| h.set_size(v));
        put_num(&mut h, mtime, MAX_OCTAL_12, "mtime", &mut pax, |h, v| h.set_mtime(v));
        let (ty, link, dev) = match &meta.kind {
            Kind::File { .. } | Kind::Whiteout | Kind::Opaque => (tar::EntryType::Regular, None, (0, 0)),
            Kind::Dir => (tar::EntryType::Directory, None, (0, 0)),
            Kind::Symlink { target } => (tar::EntryType::Symlink, Some(target), (0, 0)),
            Kind::HardLink { target } => (tar::EntryType::Link, Some(target), (0, 0)),
            Kind::CharDevice { major, minor } => (tar::EntryType::Char, None, (*major, *minor)),
            Kind::BlockDevice { major, minor } => (tar::EntryType::Block, None, (*major, *minor)),
            Kind::Fifo => (tar::EntryType::Fifo, None, (0, 0)),
        };
        h.set_entry_type(ty);
        if let Some(link) = link {
            put_bytes(&mut h.as_old_mut().linkname, link, "linkpath", &mut pax);
        }
        if u64::from(dev.0) > MAX_OCTAL_8 || u64::from(dev.1) > MAX_OCTAL_8 {
            return Err(LayerError::Unrepresentable { path: display(), what: "device number" });
        }
        {
            let ustar = h.as_ustar_mut().expect("a new_ustar header is ustar");
            octal(&mut ustar.dev_major, dev.0.into());
            octal(&mut ustar.dev_minor, dev.1.into());
        }
        if let Some(cap) = meta.capability.as_ref().filter(|_| !marker) {
            pax.push(("SCHILY.xattr.security.capability", cap.clone()));
        }
        h.set_cksum();

        let out = |e| LayerError::WriteStream(e);
        if !pax.is_empty() {
            pax.sort_by(|a, b| a.0.cmp(b.0));
            let records = pax_records(&pax);
            let mut ph = tar::Header::new_ustar();
            let base = name.strip_suffix(b"/").unwrap_or(&name);
            let base = &base[base.iter().rposition(|&c| c == b'/').map_or(0, |i| i + 1)..];
            let mut pax_name = b"PaxHeaders.0/".to_vec();
            pax_name.extend_from_slice(base);
            pax_name.truncate(100);
            put_bytes(&mut ph.as_old_mut().name, &pax_name, "", &mut Vec::new());
            ph.set_mode(0o644);
            ph.set_uid(0);
            ph.set_gid(0);
            ph.set_mtime(0);
            ph.set_size(records.len() as u64);
            ph.set_entry_type(tar::EntryType::XHeader);
            {
                let ustar = ph.as_ustar_mut().expect("a new_ustar header is ustar");
                octal(&mut ustar.dev_major, 0);
                octal(&mut ustar.dev_minor, 0);
            }
            ph.set_cksum();
            self.tar.append(&ph, records.as_slice()).map_err(out)?;
        }
        // The header alone (an empty body adds no padding), then the content
        // in fixed-size chunks, then the padding to the next block.
        self.tar.append(&h, io::empty()).map_err(out)?;
        if size > 0 {
            self.copy_data(data, size, origin, &name)?;
        }
        Ok(())
    }

    fn copy_data(&mut self, data: &mut dyn Read, size: u64, origin: Origin, name: &[u8]) -> Result<(), LayerError> {
        let read_err = |e: io::Error| match origin {
            Origin::Tree(p) => LayerError::ReadTree { path: p.to_path_buf(), source: e },
            Origin::Stream => LayerError::Malformed(e),
        };
        let short = || match origin {
            Origin::Tree(p) => LayerError::FileChanged { path: p.to_path_buf(), expected: size },
            Origin::Stream => LayerError::Malformed(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("content of {:?} ends early", String::from_utf8_lossy(name)),
            )),
        };
        let mut left = size;
        while left > 0 {
            let want = left.min(self.buf.len() as u64) as usize;
            let mut got = 0;
            while got < want {
                match data.read(&mut self.buf[got..want]) {
                    Ok(0) => return Err(short()),
                    Ok(n) => got += n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(read_err(e)),
                }
            }
            self.tar.get_mut().write_all(&self.buf[..want]).map_err(LayerError::WriteStream)?;
            left -= want as u64;
        }
        let pad = (512 - size % 512) % 512;
        self.tar.get_mut().write_all(&[0u8; 512][..pad as usize]).map_err(LayerError::WriteStream)?;
        Ok(())
    }
}

/// Puts `value` in a fixed-size name field, or a truncated copy there and the
/// whole value in a PAX record when it does not fit.
fn put_bytes(field: &mut [u8], value: &[u8], key: &'static str, pax: &mut Vec<(&'static str, Vec<u8>)>) {
    field.fill(0);
    if value.len() <= field.len() {
        field[..value.len()].copy_from_slice(value);
    } else {
        field.copy_from_slice(&value[..field.len()]);
        pax.push((key, value.to_vec()));
    }
}

/// Sets a numeric field, or 0 there and a PAX record when it does not fit.
fn put_num(
    h: &mut tar::Header,
    value: u64,
    max: u64,
    key: &'static str,
    pax: &mut Vec<(&'static str, Vec<u8>)>,
    set: impl FnOnce(&mut tar::Header, u64),
) {
    if value <= max {
        set(h, value);
    } else {
        set(h, 0);
        pax.push((key, value.to_string().into_bytes()));
    }
}

/// Writes `value` as zero-padded octal with a trailing NUL.
fn octal(field: &mut [u8], value: u64) {
    let digits = field.len() - 1;
    let s = format!("{value:0digits$o}");
    field[..digits].copy_from_slice(&s.as_bytes()[s.len() - digits..]);
    field[digits] = 0;
}

/// Encodes PAX records: `"<len> <key>=<value>\n"`, where `<len>` counts the
/// whole record including its own digits.
fn pax_records(records: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (key, value) in records {
        let rest = 1 + key.len() + 1 + value.len() + 1;
        let mut len = rest + 1;
        while len != rest + len.to_string().len() {
            len = rest + len.to_string().len();
        }
        out.extend_from_slice(format!("{len} {key}=").as_bytes());
        out.extend_from_slice(value);
        out.push(b'\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pax_record_lengths_count_their_own_digits() {
        let r = pax_records(&[("path", b"a".to_vec())]);
        assert_eq!(r, b"9 path=a\n");
        // 8 bytes of key/value/separators + 2 digits would be 10 = 2 digits: "10 ...".
        let r = pax_records(&[("path", b"abcdefghi"[..].to_vec())]);
        let s = String::from_utf8(r).unwrap();
        assert_eq!(s.len(), s.split(' ').next().unwrap().parse::<usize>().unwrap());
        for n in 80..120 {
            let r = pax_records(&[("linkpath", vec![b'x'; n])]);
            let len: usize =
                std::str::from_utf8(&r[..r.iter().position(|&c| c == b' ').unwrap()]).unwrap().parse().unwrap();
            assert_eq!(len, r.len(), "value of {n} bytes");
        }
    }

    fn sample(len: usize) -> Vec<u8> {
        // Compressible, but not trivially: text-like runs and some noise.
        let mut x = 0x2545_f491_4f6c_dd1du64;
        (0..len)
            .map(|i| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                if i % 64 < 48 { b"the quick brown fox jumps over the lazy dog "[i % 44] } else { x as u8 }
            })
            .collect()
    }

    fn compress(data: &[u8], c: Compression, level: Option<u32>, chunk: usize, blocks: bool) -> Vec<u8> {
        let enc = match level {
            Some(l) => Encoder::Gzip(GzBuilder::new().mtime(0).write(Vec::new(), flate2::Compression::new(l))),
            None => Encoder::new(Vec::new(), c).unwrap(),
        };
        if blocks {
            let mut w = Blocks::new(enc);
            data.chunks(chunk).for_each(|p| w.write_all(p).unwrap());
            w.into_inner().unwrap().finish().unwrap()
        } else {
            let mut w = enc;
            data.chunks(chunk).for_each(|p| w.write_all(p).unwrap());
            w.finish().unwrap()
        }
    }

    /// Why [`Blocks`] exists: some zlib-rs levels give different bytes for
    /// the same input written in different pieces.
    #[test]
    fn zlib_rs_fast_levels_depend_on_write_sizes() {
        let data = sample(1 << 20);
        let pieces = |level| compress(&data, Compression::Gzip, Some(level), 4093, false);
        let whole = |level| compress(&data, Compression::Gzip, Some(level), data.len(), false);
        for level in [1, 6] {
            assert_ne!(pieces(level), whole(level), "level {level}");
        }
        for level in [2, 3, 4, 9] {
            assert_eq!(pieces(level), whole(level), "level {level}");
        }
    }

    /// So the compressor is fed in fixed blocks and the layer bytes depend
    /// on the tar stream only, for every compression strata uses.
    #[test]
    fn compressed_bytes_depend_only_on_the_tar_stream() {
        let data = sample(3 << 20);
        for c in [Compression::None, Compression::Gzip, Compression::Zstd] {
            let reference = compress(&data, c, None, data.len(), true);
            for chunk in [1000, 512, 4093, FEED_BLOCK, FEED_BLOCK + 1, 1 << 20] {
                assert!(compress(&data, c, None, chunk, true) == reference, "{c:?} written in pieces of {chunk}");
            }
        }
    }

    /// DESIGN.md §5: multi-threaded zstd gives the same frames for any
    /// worker count ≥ 1, but not the same as single-threaded mode.
    #[test]
    fn zstd_output_is_the_same_for_one_or_more_workers_but_not_zero() {
        let data = sample(40 << 20);
        let with = |workers: u32| {
            let mut e = zstd::stream::write::Encoder::new(Vec::new(), ZSTD_LEVEL).unwrap();
            e.multithread(workers).unwrap();
            e.include_checksum(true).unwrap();
            e.write_all(&data).unwrap();
            e.finish().unwrap()
        };
        let one = with(1);
        assert_eq!(one, compress(&data, Compression::Zstd, None, data.len(), true), "strata pins 1 worker");
        assert!(with(2) == one && with(3) == one);
        assert!(with(0) != one);
    }

    /// Values a ustar header cannot hold go to PAX records, which tar
    /// readers apply; the ustar fields hold 0 or a truncated name.
    #[test]
    fn values_that_do_not_fit_go_to_pax_records() {
        let opts = OutputOptions::new(Compression::None, 1_700_000_000);
        let mut e = Emitter::new(Vec::new(), &opts).unwrap();
        let target = "t/".repeat(70);
        let meta = Meta {
            path: b"link".to_vec(),
            kind: Kind::Symlink { target: target.clone().into_bytes() },
            mode: 0o777,
            uid: 5_000_000,
            gid: 70,
            mtime: 1_600_000_000,
            capability: None,
        };
        e.emit(&meta, &mut io::empty(), Origin::Stream).unwrap();
        let tar = e.finish().unwrap().out;
        let pax = tar::Header::from_byte_slice(&tar[..512]);
        assert_eq!(pax.entry_type(), tar::EntryType::XHeader);
        assert_eq!(pax.path_bytes().as_ref(), b"PaxHeaders.0/link");
        let records = String::from_utf8_lossy(&tar[512..512 + pax.size().unwrap() as usize]).into_owned();
        assert_eq!(records, format!("154 linkpath={target}\n15 uid=5000000\n"));

        let mut archive = tar::Archive::new(&tar[..]);
        let entry = archive.entries().unwrap().next().unwrap().unwrap();
        assert_eq!(entry.link_name_bytes().unwrap().as_ref(), target.as_bytes());
        assert_eq!(entry.header().uid().unwrap(), 5_000_000);
        assert_eq!(entry.header().gid().unwrap(), 70);
        assert_eq!(entry.header().mtime().unwrap(), 1_600_000_000);
    }

    #[test]
    fn octal_fields_are_zero_padded_and_nul_terminated() {
        let mut f = [0xffu8; 8];
        octal(&mut f, 0o755);
        assert_eq!(&f, b"0000755\0");
    }
}
