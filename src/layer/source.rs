//! Layers read back as normalised entries in strata's order, for
//! [`filter`](super::filter) and [`squash`](super::squash).
//!
//! An input comes in one of two ways ([`InputOrder`]):
//!
//! - **Sorted** — written by strata (or otherwise known to be in its
//!   [order](super::order)). The tar stream is decompressed and read once,
//!   entry by entry; nothing is buffered but the current header. The order
//!   is verified as the entries go by: an entry out of order is an error
//!   ([`LayerError::OutOfOrder`]), never a silently wrong result.
//! - **Unsorted** — anything else, typically layers imported from other
//!   tools. A first pass decompresses the layer once into an anonymous
//!   temporary file holding only file contents, and keeps every entry's
//!   header in memory; the headers are then sorted and the entries served
//!   in order by seeking in the temporary file. Memory grows with the number
//!   of entries, never with their content. Duplicate paths resolve as tar
//!   does (the last one wins; a whiteout never hides an entry of its own
//!   layer), and hard links are renumbered so that, in the new order, the
//!   first path of each inode holds the content and the others link to it.
//!
//! [`DropStore`] keeps the entries filter and squash leave out, in case a
//! hard link that is kept points at one of them: it then becomes a regular
//! file with the target's content (read back from the store).

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};

use super::emit::{EntrySink, Kind, Meta};
use super::order::{Class, EntryName, parse_entry_name};
use super::{Compression, LayerError};

/// How errors name the root of a layer that is not unpacked anywhere.
const LAYER_ROOT: &str = "the layer root";

/// Whether an input layer is known to be in strata's order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum InputOrder {
    /// Written by strata: streamed in one pass, order verified on the way.
    #[default]
    Sorted,
    /// Any order (imported layers): indexed in a first pass, contents
    /// spooled to a temporary file.
    Unsorted,
}

/// A layer stream (compressed or not) given to filter or squash.
#[derive(Debug)]
pub struct LayerInput<R> {
    pub reader: R,
    pub order: InputOrder,
}

impl<R: Read> LayerInput<R> {
    /// A layer strata wrote.
    pub fn sorted(reader: R) -> Self {
        LayerInput { reader, order: InputOrder::Sorted }
    }

    /// A layer from anywhere else.
    pub fn unsorted(reader: R) -> Self {
        LayerInput { reader, order: InputOrder::Unsorted }
    }
}

/// Sniffs the compression of a layer stream from its first bytes and returns
/// the uncompressed tar stream, guarded by the [`Limits`](super::limits::Limits)
/// of the environment (a stream past them fails to read; see
/// [`super::limits`]).
pub fn decompress<'a, R: Read + 'a>(mut blob: R) -> io::Result<(Compression, Box<dyn Read + 'a>)> {
    let mut head = [0u8; 4];
    let mut n = 0;
    while n < head.len() {
        match blob.read(&mut head[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    let head = head[..n].to_vec();
    let compression = Compression::sniff(&head);
    let whole = io::Cursor::new(head).chain(blob);
    let reader: Box<dyn Read + 'a> = match compression {
        Compression::None => Box::new(whole),
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(whole)),
        Compression::Zstd => Box::new(zstd::stream::read::Decoder::new(whole)?),
    };
    let limits = super::limits::Limits::from_env()?;
    Ok((compression, Box::new(super::limits::TarGuard::new(reader, limits))))
}

/// Reads an entry's header into a [`Meta`]; `None` for entries that are not
/// part of the tree (the root `./`, global PAX headers, aufs metadata).
///
/// `within` names the tree a hard link must stay in, for error messages.
pub(crate) fn meta_from_tar<R: Read>(
    entry: &mut tar::Entry<'_, R>,
    within: &std::path::Path,
) -> Result<Option<Meta>, LayerError> {
    let raw = entry.path_bytes().into_owned();
    let display = || String::from_utf8_lossy(&raw).into_owned();
    let ty = entry.header().entry_type();
    if ty.is_pax_global_extensions() {
        return Ok(None);
    }
    let (path, class) = match parse_entry_name(&raw)? {
        EntryName::Root | EntryName::Ignored => return Ok(None),
        EntryName::Entry { path, class } => (path, class),
    };
    let h = entry.header();
    let malformed = |e: io::Error| {
        LayerError::Malformed(io::Error::new(e.kind(), format!("entry {:?}: {e}", String::from_utf8_lossy(&raw))))
    };
    let mode = h.mode().map_err(malformed)? & 0o7777;
    let uid = h.uid().map_err(malformed)?;
    let gid = h.gid().map_err(malformed)?;
    let mut mtime = h.mtime().map_err(malformed)? as i64;
    let dev = |h: &tar::Header| -> Result<(u32, u32), LayerError> {
        let major = h.device_major().map_err(malformed)?.unwrap_or(0);
        let minor = h.device_minor().map_err(malformed)?.unwrap_or(0);
        Ok((major, minor))
    };
    let kind = match class {
        Class::Whiteout => Kind::Whiteout,
        Class::Opaque => Kind::Opaque,
        Class::Plain => match ty {
            tar::EntryType::Regular | tar::EntryType::Continuous | tar::EntryType::GNUSparse => {
                Kind::File { size: entry.size() }
            }
            tar::EntryType::Directory => Kind::Dir,
            tar::EntryType::Symlink => {
                Kind::Symlink { target: entry.link_name_bytes().map(|c| c.into_owned()).unwrap_or_default() }
            }
            tar::EntryType::Link => {
                let target = entry.link_name_bytes().map(|c| c.into_owned()).unwrap_or_default();
                match parse_entry_name(&target) {
                    Ok(EntryName::Entry { path, class: Class::Plain }) => Kind::HardLink { target: path },
                    _ => {
                        return Err(LayerError::HardLinkEscape {
                            entry: display(),
                            link_target: String::from_utf8_lossy(&target).into_owned(),
                            target: within.to_path_buf(),
                        });
                    }
                }
            }
            tar::EntryType::Char => {
                let (major, minor) = dev(h)?;
                Kind::CharDevice { major, minor }
            }
            tar::EntryType::Block => {
                let (major, minor) = dev(h)?;
                Kind::BlockDevice { major, minor }
            }
            tar::EntryType::Fifo => Kind::Fifo,
            other => {
                return Err(LayerError::UnsupportedEntry { entry: display(), kind: other.as_byte() as char });
            }
        },
    };
    let mut capability = None;
    if let Some(exts) = entry.pax_extensions().map_err(LayerError::Malformed)? {
        for ext in exts {
            let ext = ext.map_err(LayerError::Malformed)?;
            match ext.key_bytes() {
                b"SCHILY.xattr.security.capability" => capability = Some(ext.value_bytes().to_vec()),
                b"mtime" => {
                    // PAX times may be fractional or negative: keep whole seconds.
                    let v = String::from_utf8_lossy(ext.value_bytes());
                    if let Ok(t) = v.split('.').next().unwrap_or("").parse::<i64>() {
                        mtime = t;
                    }
                }
                _ => {}
            }
        }
    }
    if !matches!(kind, Kind::File { .. }) {
        capability = None;
    }
    Ok(Some(Meta { path, kind, mode, uid, gid, mtime, capability }))
}

/// One input layer, yielding entries in strata's order.
pub(crate) trait Source {
    /// The next entry; its content (if a file) is readable through
    /// [`Source::data`] until the next call.
    fn next_entry(&mut self) -> Result<Option<Meta>, LayerError>;
    /// The content of the entry last returned.
    fn data(&mut self) -> &mut dyn Read;
}

/// A sorted input, read in one streaming pass.
pub(crate) struct StreamSource<'a, R: Read> {
    layer: usize,
    entries: tar::Entries<'a, R>,
    current: Option<tar::Entry<'a, R>>,
    last: Option<(Vec<u8>, String)>,
    empty: io::Empty,
}

impl<'a, R: Read> StreamSource<'a, R> {
    pub fn new(layer: usize, archive: &'a mut tar::Archive<R>) -> Result<Self, LayerError> {
        Ok(StreamSource {
            layer,
            entries: archive.entries().map_err(LayerError::Malformed)?,
            current: None,
            last: None,
            empty: io::empty(),
        })
    }
}

impl<R: Read> Source for StreamSource<'_, R> {
    fn next_entry(&mut self) -> Result<Option<Meta>, LayerError> {
        self.current = None;
        loop {
            let Some(entry) = self.entries.next() else {
                return Ok(None);
            };
            let mut entry = entry.map_err(LayerError::Malformed)?;
            let Some(meta) = meta_from_tar(&mut entry, LAYER_ROOT.as_ref())? else {
                continue;
            };
            let key = meta.key();
            if let Some((last_key, last_name)) = &self.last
                && key <= *last_key
            {
                return Err(LayerError::OutOfOrder {
                    layer: self.layer,
                    entry: meta.display(),
                    previous: last_name.clone(),
                });
            }
            if let Kind::HardLink { target } = &meta.kind
                && super::order::sort_key(target, false) >= key
            {
                return Err(LayerError::OutOfOrder {
                    layer: self.layer,
                    entry: meta.display(),
                    previous: String::from_utf8_lossy(target).into_owned(),
                });
            }
            self.last = Some((key, meta.display()));
            self.current = Some(entry);
            return Ok(Some(meta));
        }
    }

    fn data(&mut self) -> &mut dyn Read {
        match &mut self.current {
            Some(entry) => entry,
            None => &mut self.empty,
        }
    }
}

/// An unsorted input: indexed, spooled, and served in order.
pub(crate) struct SpooledSource {
    items: std::vec::IntoIter<(Meta, u64)>,
    file: io::Take<File>,
}

impl SpooledSource {
    /// Reads the whole layer once: headers into memory, contents into an
    /// anonymous temporary file.
    pub fn new<R: Read>(reader: R) -> Result<Self, LayerError> {
        let mut spool = tempfile::tempfile().map_err(LayerError::Spool)?;
        let mut archive = tar::Archive::new(reader);
        let mut items: Vec<(Vec<u8>, Meta, u64)> = Vec::new();
        let mut offset = 0u64;
        {
            let mut out = io::BufWriter::with_capacity(256 * 1024, &mut spool);
            for entry in archive.entries().map_err(LayerError::Malformed)? {
                let mut entry = entry.map_err(LayerError::Malformed)?;
                let Some(meta) = meta_from_tar(&mut entry, LAYER_ROOT.as_ref())? else {
                    continue;
                };
                let at = offset;
                if let Kind::File { size } = meta.kind {
                    let n = io::copy(&mut entry, &mut out).map_err(LayerError::Malformed)?;
                    if n != size {
                        return Err(LayerError::Malformed(io::Error::new(
                            io::ErrorKind::UnexpectedEof,
                            format!("content of {:?} ends early", meta.display()),
                        )));
                    }
                    offset += n;
                }
                items.push((meta.key(), meta, at));
            }
            out.flush().map_err(LayerError::Spool)?;
        }
        // Stable: equal keys keep their stream order, so "last" means last in the stream.
        items.sort_by(|a, b| a.0.cmp(&b.0));
        let mut deduped: Vec<(Vec<u8>, Meta, u64)> = Vec::with_capacity(items.len());
        for item in items {
            match deduped.last_mut() {
                Some(prev) if prev.0 == item.0 => {
                    // A whiteout only hides lower layers, never an entry of its own layer.
                    let marker = |m: &Meta| matches!(m.kind, Kind::Whiteout | Kind::Opaque);
                    if !marker(&item.1) || marker(&prev.1) {
                        *prev = item;
                    }
                }
                _ => deduped.push(item),
            }
        }
        let mut items: Vec<(Meta, u64)> = deduped.into_iter().map(|(_, m, o)| (m, o)).collect();
        renumber_hard_links(&mut items);
        Ok(SpooledSource { items: items.into_iter(), file: spool.take(0) })
    }
}

/// Rewrites hard links so that in the sorted order each inode's content sits
/// at its first path and every other path links to that one.
fn renumber_hard_links(items: &mut [(Meta, u64)]) {
    let index: HashMap<Vec<u8>, usize> = items.iter().enumerate().map(|(i, (m, _))| (m.path.clone(), i)).collect();
    // Group link entries by the file they finally point at.
    let mut groups: HashMap<usize, Vec<usize>> = HashMap::new();
    for i in 0..items.len() {
        let mut target = i;
        for _ in 0..16 {
            match &items[target].0.kind {
                Kind::HardLink { target: t } => match index.get(t) {
                    Some(&j) if j != target => target = j,
                    _ => break,
                },
                _ => break,
            }
        }
        if target != i
            && !matches!(items[target].0.kind, Kind::HardLink { .. } | Kind::Dir | Kind::Whiteout | Kind::Opaque)
        {
            groups.entry(target).or_default().push(i);
        }
    }
    for (target, links) in groups {
        let first = links.iter().copied().chain([target]).min().expect("non-empty");
        if first == target {
            for i in links {
                items[i].0.kind = Kind::HardLink { target: items[target].0.path.clone() };
            }
            continue;
        }
        // The content moves to the first path; the original becomes a link.
        let (content, offset) = (items[target].0.clone(), items[target].1);
        let first_path = items[first].0.path.clone();
        items[first] = (Meta { path: first_path.clone(), ..content }, offset);
        for i in links.into_iter().chain([target]) {
            if i != first {
                items[i].0.kind = Kind::HardLink { target: first_path.clone() };
                items[i].0.capability = None;
            }
        }
    }
}

impl Source for SpooledSource {
    fn next_entry(&mut self) -> Result<Option<Meta>, LayerError> {
        let Some((meta, offset)) = self.items.next() else {
            self.file.set_limit(0);
            return Ok(None);
        };
        self.file.get_mut().seek(SeekFrom::Start(offset)).map_err(LayerError::Spool)?;
        self.file.set_limit(meta.data_size());
        Ok(Some(meta))
    }

    fn data(&mut self) -> &mut dyn Read {
        &mut self.file
    }
}

/// Entries left out of the output, kept for hard links that point at them.
#[derive(Default)]
pub(crate) struct DropStore {
    file: Option<File>,
    len: u64,
    dropped: HashMap<(usize, Vec<u8>), (Meta, u64)>,
    /// Targets already materialised: (layer, target) → the path now holding the content.
    moved: HashMap<(usize, Vec<u8>), Vec<u8>>,
}

/// What a kept hard link should become.
pub(crate) enum LinkFix {
    /// Its target is in the output: keep the link as it is.
    Keep,
    /// Its target was materialised at another path: link there.
    Relink(Vec<u8>),
    /// Its target (the last path) was left out: become this file (content
    /// via [`DropStore::content`] at the offset).
    Materialise(Meta, u64, Vec<u8>),
}

impl DropStore {
    /// Records an entry that is not emitted (with its content if a file).
    pub fn drop_entry(&mut self, layer: usize, meta: &Meta, data: &mut dyn Read) -> Result<(), LayerError> {
        if matches!(meta.kind, Kind::Dir | Kind::Whiteout | Kind::Opaque) {
            return Ok(());
        }
        let offset = self.len;
        if let Kind::File { size } = meta.kind
            && size > 0
        {
            if self.file.is_none() {
                self.file = Some(tempfile::tempfile().map_err(LayerError::Spool)?);
            }
            let file = self.file.as_mut().expect("just created");
            file.seek(SeekFrom::Start(offset)).map_err(LayerError::Spool)?;
            let n = io::copy(&mut data.take(size), file).map_err(LayerError::Malformed)?;
            if n != size {
                return Err(LayerError::Malformed(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!("content of {:?} ends early", meta.display()),
                )));
            }
            self.len += size;
        }
        self.dropped.insert((layer, meta.path.clone()), (meta.clone(), offset));
        Ok(())
    }

    /// Decides what a kept hard link `link` of `layer` becomes.
    pub fn fix_link(&self, layer: usize, link: &Meta) -> LinkFix {
        let Kind::HardLink { target: first } = &link.kind else {
            return LinkFix::Keep;
        };
        let mut target = first;
        // A link to a dropped link is followed (tar links point at the first
        // path, but foreign layers may chain them); the depth is bounded.
        for _ in 0..16 {
            let key = (layer, target.clone());
            if let Some(path) = self.moved.get(&key) {
                return LinkFix::Relink(path.clone());
            }
            match self.dropped.get(&key) {
                None if target == first => return LinkFix::Keep,
                None => return LinkFix::Relink(target.clone()),
                Some((meta, offset)) => match &meta.kind {
                    Kind::HardLink { target: next } => target = next,
                    _ => {
                        let file = Meta { path: link.path.clone(), ..meta.clone() };
                        return LinkFix::Materialise(file, *offset, target.clone());
                    }
                },
            }
        }
        LinkFix::Keep
    }

    /// Remembers that the target of `link` now lives at `link.path`.
    pub fn materialised(&mut self, layer: usize, target: &[u8], at: &[u8]) {
        self.moved.insert((layer, target.to_vec()), at.to_vec());
    }

    /// The content of a dropped file, `size` bytes at `offset`.
    pub fn content(&mut self, offset: u64, size: u64) -> Result<impl Read + '_, LayerError> {
        let file = match self.file.as_mut() {
            Some(f) => f,
            None => return Ok(Box::new(io::empty()) as Box<dyn Read>),
        };
        file.seek(SeekFrom::Start(offset)).map_err(LayerError::Spool)?;
        Ok(Box::new(file.take(size)) as Box<dyn Read>)
    }
}

/// Puts an entry that filter or squash keeps into `sink`; a hard link whose
/// target was left out becomes a regular file with the target's content,
/// and later links to the same target link to it instead.
pub(crate) fn emit_kept(
    layer: usize,
    meta: &Meta,
    data: &mut dyn Read,
    drops: &mut DropStore,
    sink: &mut dyn EntrySink,
) -> Result<(), LayerError> {
    match drops.fix_link(layer, meta) {
        LinkFix::Keep => sink.put(layer, meta, data),
        LinkFix::Relink(path) => {
            let relinked = Meta { kind: Kind::HardLink { target: path }, ..meta.clone() };
            sink.put(layer, &relinked, &mut io::empty())
        }
        LinkFix::Materialise(file, offset, last) => {
            let size = file.data_size();
            sink.put(layer, &file, &mut drops.content(offset, size)?)?;
            if let Kind::HardLink { target } = &meta.kind {
                drops.materialised(layer, target, &meta.path);
            }
            drops.materialised(layer, &last, &meta.path);
            Ok(())
        }
    }
}
