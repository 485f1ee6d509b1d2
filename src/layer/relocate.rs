//! Squash layers into one with their paths moved: the tar-level pack.
//!
//! [`squash_relocated`] merges layers exactly as [`squash`](super::squash())
//! does (bottom to top, later over earlier, whiteouts and opaque markers
//! applied, no whiteouts left) and, in the same streaming pass, maps the
//! result's paths through a [`Relocation`]:
//!
//! - **strip a prefix**: only what lies strictly below it is kept, with the
//!   prefix taken off (`root/prime/usr/bin/hello` → `usr/bin/hello`);
//! - **move directories through links**: what lies below a directory
//!   `from` goes below `to` instead (`bin/hello` → `usr/bin/hello` when the
//!   image's base has `bin -> usr/bin`). The directory `from` itself has no
//!   entry of its own: `to` keeps the header of the result's own `to`, or,
//!   if it has none, gets the emitter's default (0755, 0:0, the epoch).
//!   A `from` that is not a directory in the result stays where it is.
//!
//! # Aliases
//!
//! A move can make two paths of the result one (`bin/X` and `usr/bin/X`).
//! Directories merge; the moved one's header wins, the moved directory
//! being laid over the target. Anything else must be the same entry in
//! both places (same type, content or link target, mode, owner and
//! capability; mtimes are not compared) and is then written once;
//! otherwise [`LayerError::PathConflict`] names both paths and the layers
//! they come from. A moved directory whose target is not a directory in
//! the result is such a conflict too.
//!
//! # Order
//!
//! Moves break strata's [order](super::order): `bin/hello` is read before
//! `etc/` but written after it, inside `usr/bin/`. Each entry is written
//! as soon as no entry still to come can sort before it; an entry that has
//! to wait is parked: its header in memory, its content in an anonymous
//! temporary file. With merged-/usr links that is what the prime has
//! below `bin/`, `lib/` and `sbin/`: everything else streams through, and
//! nothing is unpacked. A hard link written before its target (the order
//! changed) takes the target's content, and the target then links to it.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};

use super::emit::{Emitter, EntrySink, Kind, Meta, Origin, two_stage};
use super::order::{EntryName, parse_entry_name, path_is_within, sort_key};
use super::source::meta_from_tar;
use super::squash::{merge, with_sources};
use super::{LayerError, LayerInput, OutputOptions, Written, decompress};

/// How [`squash_relocated`] maps the paths of the squashed layers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Relocation {
    strip_prefix: Vec<u8>,
    moves: Vec<Move>,
}

/// One directory moved: what lies below `from` goes below `to`. Logical
/// paths (relative, `/`-separated, no trailing slash), after the prefix is
/// stripped.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Move {
    pub from: Vec<u8>,
    pub to: Vec<u8>,
}

impl Relocation {
    /// No prefix, no moves: [`squash_relocated`] is then [`squash`](super::squash()).
    pub fn new() -> Relocation {
        Relocation::default()
    }

    /// Keeps what lies strictly below `prefix` (`root/prime`; leading and
    /// trailing slashes ignored), without the prefix.
    pub fn strip_prefix(mut self, prefix: impl AsRef<[u8]>) -> Relocation {
        self.strip_prefix = trim_slashes(prefix.as_ref()).to_vec();
        self
    }

    /// Moves what lies below the directory `from` below `to`.
    pub fn moving(mut self, from: impl AsRef<[u8]>, to: impl AsRef<[u8]>) -> Relocation {
        let (from, to) = (trim_slashes(from.as_ref()).to_vec(), trim_slashes(to.as_ref()).to_vec());
        self.moves.push(Move { from, to });
        self.moves.sort();
        self
    }

    /// The moves that make a tree laid over a base go through the base's
    /// top-level symlinks (see [`top_level_links`]), as rockcraft packs a
    /// prime: for each link whose target stays inside the image's root
    /// (`usr/bin`, or `/usr/bin`: absolute targets resolve in the image's
    /// root), the directory of that name moves to the target. Targets with
    /// `.` or `..` components, and links whose target lies below another
    /// link (a chain), are left alone.
    pub fn through_links(mut self, links: &BTreeMap<Vec<u8>, Vec<u8>>) -> Relocation {
        let inside: Vec<(&Vec<u8>, Vec<u8>)> = links
            .iter()
            .filter_map(|(name, target)| {
                let t = trim_slashes(target);
                let plain = !t.is_empty() && t.split(|&c| c == b'/').all(|c| !matches!(c, b"" | b"." | b".."));
                plain.then(|| (name, t.to_vec()))
            })
            .collect();
        for (name, target) in &inside {
            if inside.iter().any(|(other, _)| path_is_within(target, other)) {
                continue;
            }
            self = self.moving(name, target);
        }
        self
    }

    pub fn moves(&self) -> &[Move] {
        &self.moves
    }

    /// Refuses moves that nest or chain: a `from` below another `from`, or
    /// a `to` below any `from` (its entries would have to move twice).
    fn check(&self) -> Result<(), LayerError> {
        let invalid = |why: String| Err(LayerError::InvalidRelocation { why });
        for m in &self.moves {
            let show = |p: &[u8]| String::from_utf8_lossy(p).into_owned();
            if m.from.is_empty() || m.to.is_empty() {
                return invalid(format!("move {:?} -> {:?}: an empty path", show(&m.from), show(&m.to)));
            }
            for p in [&m.from, &m.to] {
                match parse_entry_name(p)? {
                    EntryName::Entry { path, class: super::order::Class::Plain } if path == *p => {}
                    _ => return invalid(format!("{:?} is not a plain relative path", show(p))),
                }
            }
            for o in &self.moves {
                if path_is_within(&m.to, &o.from) {
                    return invalid(format!(
                        "move {:?} -> {:?} ends below {:?}, which moves too",
                        show(&m.from),
                        show(&m.to),
                        show(&o.from)
                    ));
                }
                if o != m && path_is_within(&m.from, &o.from) {
                    return invalid(format!("moves from {:?} and {:?} nest", show(&o.from), show(&m.from)));
                }
            }
        }
        Ok(())
    }
}

fn trim_slashes(mut p: &[u8]) -> &[u8] {
    while let Some(rest) = p.strip_prefix(b"/") {
        p = rest;
    }
    while let Some(rest) = p.strip_suffix(b"/") {
        p = rest;
    }
    p
}

/// Merges `layers` (bottom first) as [`squash`](super::squash()) does and
/// writes the result, its paths mapped through `relocation`, to `out`.
///
/// Two stages, as [`write_tree`](super::write_tree) has: a scoped thread
/// reads the inputs, merges and relocates, this one compresses.
pub fn squash_relocated<R: Read + Send, W: Write>(
    layers: Vec<LayerInput<R>>,
    relocation: &Relocation,
    opts: &OutputOptions,
    out: W,
) -> Result<Written<W>, LayerError> {
    relocation.check()?;
    two_stage(out, opts, move |emitter| {
        let mut relocator = Relocator::new(emitter, relocation, opts.source_date_epoch);
        with_sources(layers, |sources| merge(sources, &relocation.strip_prefix, &mut relocator))?;
        relocator.flush(&Bound::End)?;
        Ok(relocator.emitter)
    })
}

/// A move with the keys the relocator compares.
struct MoveKeys {
    from: Vec<u8>,
    to: Vec<u8>,
    from_key: Vec<u8>,
    to_key: Vec<u8>,
}

/// The least key an entry still to come may have.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Bound {
    /// Only keys greater than this one are still to come.
    After(Vec<u8>),
    /// This key itself may still come.
    From(Vec<u8>),
    /// Nothing is still to come.
    End,
}

impl Bound {
    /// Whether an entry with `key` can be written: nothing to come sorts
    /// before it or has the same path.
    fn clears(&self, key: &[u8]) -> bool {
        match self {
            Bound::After(b) => key <= b.as_slice(),
            Bound::From(b) => key < b.as_slice(),
            Bound::End => true,
        }
    }

    fn tighten(&mut self, other: Bound) {
        let tighter = match (&*self, &other) {
            (Bound::End, _) => true,
            (_, Bound::End) => false,
            (Bound::After(a), Bound::After(b)) => b < a,
            (Bound::After(a), Bound::From(b)) => b <= a,
            (Bound::From(a), Bound::After(b)) => b < a,
            (Bound::From(a), Bound::From(b)) => b < a,
        };
        if tighter {
            *self = other;
        }
    }
}

/// An entry waiting for its place in the output.
struct Parked {
    layer: usize,
    /// Its path in the squashed result (prefix stripped), for conflicts.
    original: Vec<u8>,
    /// The move it came through.
    moved: Option<usize>,
    /// Stands for a moved directory itself: written (with the default
    /// header) only if nothing else is at its target.
    placeholder: bool,
    /// Path and hard-link target mapped.
    meta: Meta,
    /// Where its content is in the spill file.
    offset: u64,
}

/// Contents of parked entries: an anonymous temporary file, made when the
/// first one is parked.
#[derive(Default)]
struct Spill {
    file: Option<File>,
    len: u64,
}

impl Spill {
    fn put(&mut self, data: &mut dyn Read, meta: &Meta) -> Result<u64, LayerError> {
        let offset = self.len;
        let size = meta.data_size();
        if size == 0 {
            return Ok(offset);
        }
        if self.file.is_none() {
            self.file = Some(tempfile::tempfile().map_err(LayerError::Spool)?);
        }
        let file = self.file.as_mut().expect("just made");
        file.seek(SeekFrom::Start(offset)).map_err(LayerError::Spool)?;
        let n = io::copy(&mut data.take(size), file).map_err(LayerError::Malformed)?;
        if n != size {
            return Err(LayerError::Malformed(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("content of {:?} ends early", meta.display()),
            )));
        }
        self.len += size;
        Ok(offset)
    }

    fn get(&mut self, offset: u64, size: u64) -> Result<Box<dyn Read + '_>, LayerError> {
        match self.file.as_mut() {
            Some(f) if size > 0 => {
                f.seek(SeekFrom::Start(offset)).map_err(LayerError::Spool)?;
                Ok(Box::new(f.take(size)))
            }
            _ => Ok(Box::new(io::empty())),
        }
    }

    /// Whether two stretches of the spill hold the same bytes.
    fn same(&mut self, a: u64, b: u64, size: u64) -> Result<bool, LayerError> {
        let mut left = size;
        let (mut a, mut b) = (a, b);
        let mut x = vec![0u8; 64 * 1024];
        let mut y = vec![0u8; 64 * 1024];
        while left > 0 {
            let n = left.min(x.len() as u64) as usize;
            self.get(a, n as u64)?.read_exact(&mut x[..n]).map_err(LayerError::Spool)?;
            self.get(b, n as u64)?.read_exact(&mut y[..n]).map_err(LayerError::Spool)?;
            if x[..n] != y[..n] {
                return Ok(false);
            }
            left -= n as u64;
            a += n as u64;
            b += n as u64;
        }
        Ok(true)
    }
}

/// The [`EntrySink`] between the merge and the emitter: strips, moves,
/// reorders and checks aliases (see the module docs).
struct Relocator<S: Write> {
    emitter: Emitter<S>,
    strip: Vec<u8>,
    moves: Vec<MoveKeys>,
    epoch: i64,
    /// Parked entries by mapped key; more than one at a key are aliases.
    parked: BTreeMap<Vec<u8>, Vec<Parked>>,
    spill: Spill,
    /// Hard-link targets (mapped paths) whose content a link written
    /// before them took: they become links to it.
    relinked: HashMap<Vec<u8>, Vec<u8>>,
}

impl<S: Write> Relocator<S> {
    fn new(emitter: Emitter<S>, r: &Relocation, epoch: i64) -> Self {
        let moves = r
            .moves
            .iter()
            .map(|m| MoveKeys {
                from: m.from.clone(),
                to: m.to.clone(),
                from_key: sort_key(&m.from, false),
                to_key: sort_key(&m.to, false),
            })
            .collect();
        Relocator {
            emitter,
            strip: r.strip_prefix.clone(),
            moves,
            epoch,
            parked: BTreeMap::new(),
            spill: Spill::default(),
            relinked: HashMap::new(),
        }
    }

    /// A path of the squashed result without the prefix.
    fn stripped<'p>(&self, path: &'p [u8], entry: &Meta) -> Result<&'p [u8], LayerError> {
        if self.strip.is_empty() {
            return Ok(path);
        }
        match path.strip_prefix(self.strip.as_slice()).and_then(|p| p.strip_prefix(b"/")) {
            Some(p) if !p.is_empty() => Ok(p),
            _ => Err(LayerError::HardLinkEscape {
                entry: entry.display(),
                link_target: String::from_utf8_lossy(path).into_owned(),
                target: String::from_utf8_lossy(&self.strip).into_owned().into(),
            }),
        }
    }

    /// The move whose `from` is `path` or one of its parents.
    fn move_of(&self, path: &[u8]) -> Option<usize> {
        self.moves.iter().position(|m| path_is_within(path, &m.from))
    }

    /// Where `path` goes (a non-directory at a `from` stays).
    fn mapped(&self, path: &[u8]) -> (Option<usize>, Vec<u8>) {
        match self.move_of(path) {
            Some(i) if path.len() > self.moves[i].from.len() => {
                let m = &self.moves[i];
                let mut to = m.to.clone();
                to.extend_from_slice(&path[m.from.len()..]);
                (Some(i), to)
            }
            _ => (None, path.to_vec()),
        }
    }

    /// The least key still to come once the entry at `original` is in.
    fn bound(&self, original: &[u8]) -> Bound {
        let key = sort_key(original, false);
        // Not moved: after this entry, in input order.
        let mut bound = Bound::After(key.clone());
        for m in &self.moves {
            if path_is_within(original, &m.from) {
                // Inside the moved subtree: after this entry's new place
                // (the directory itself stands at the target).
                let to = if original.len() == m.from.len() { m.to.clone() } else { self.mapped(original).1 };
                bound.tighten(Bound::After(sort_key(&to, false)));
            } else if key < m.from_key {
                // Not reached: the target itself (its placeholder) may come.
                bound.tighten(Bound::From(m.to_key.clone()));
            }
        }
        bound
    }

    /// Writes the parked entries `bound` clears, in order.
    fn flush(&mut self, bound: &Bound) -> Result<(), LayerError> {
        self.flush_while(|key| bound.clears(key))
    }

    /// Writes parked entries in order while `go` says so of their key.
    fn flush_while(&mut self, go: impl Fn(&[u8]) -> bool) -> Result<(), LayerError> {
        while let Some(entry) = self.parked.first_entry() {
            if !go(entry.key()) {
                break;
            }
            let group = entry.remove();
            let chosen = self.resolve(group)?;
            self.write(chosen, None)?;
        }
        Ok(())
    }

    /// One entry out of the parked entries at one path: a conflict unless
    /// they are aliases that agree.
    fn resolve(&mut self, mut group: Vec<Parked>) -> Result<Parked, LayerError> {
        if group.len() == 1 {
            return Ok(group.pop().expect("one"));
        }
        // Later in precedence wins: the target's own entry, then the moved
        // ones in the order of their `from`, as if laid over it in turn.
        group.sort_by_key(|p| (!p.placeholder, p.moved.map_or(0, |i| i + 1)));
        let real: Vec<usize> = (0..group.len()).filter(|&i| !group[i].placeholder).collect();
        let Some(&first) = real.first() else {
            return Ok(group.pop().expect("non-empty"));
        };
        let all_dirs = real.iter().all(|&i| group[i].meta.kind == Kind::Dir);
        if all_dirs {
            return Ok(group.swap_remove(*real.last().expect("non-empty")));
        }
        // Something not a directory: every real entry must be the same, and
        // no moved directory may land on it.
        if let Some(p) = group.iter().position(|p| p.placeholder) {
            return Err(self.conflict(&group[p], &group[first]));
        }
        for &i in &real[1..] {
            if !self.same(&group[first], &group[i])? {
                return Err(self.conflict(&group[first], &group[i]));
            }
        }
        // A hard link to its alias is the same file: write the file.
        let key_path = group[first].meta.path.clone();
        let pick = real
            .iter()
            .rev()
            .copied()
            .find(|&i| !matches!(&group[i].meta.kind, Kind::HardLink { target } if *target == key_path))
            .unwrap_or(first);
        Ok(group.swap_remove(pick))
    }

    /// Whether two aliases are the same entry (mtimes aside).
    fn same(&mut self, a: &Parked, b: &Parked) -> Result<bool, LayerError> {
        let (x, y) = (&a.meta, &b.meta);
        if (x.mode & 0o7777, x.uid, x.gid, &x.capability) != (y.mode & 0o7777, y.uid, y.gid, &y.capability) {
            return Ok(false);
        }
        Ok(match (&x.kind, &y.kind) {
            (Kind::File { size: s }, Kind::File { size: t }) => s == t && self.spill.same(a.offset, b.offset, *s)?,
            (Kind::HardLink { target }, _) if *target == y.path => matches!(y.kind, Kind::File { .. }),
            (_, Kind::HardLink { target }) if *target == x.path => matches!(x.kind, Kind::File { .. }),
            (k, l) => k == l,
        })
    }

    fn conflict(&self, a: &Parked, b: &Parked) -> LayerError {
        let show = |p: &[u8]| String::from_utf8_lossy(p).into_owned();
        let (moved, other) = if a.moved.is_some() { (a, b) } else { (b, a) };
        let link = moved.moved.or(other.moved).map(|i| &self.moves[i]);
        LayerError::PathConflict {
            path: show(&a.meta.path),
            first: show(&moved.original),
            first_layer: moved.layer,
            second: show(&other.original),
            second_layer: other.layer,
            through: link.map(|m| format!("{} -> {}", show(&m.from), show(&m.to))).unwrap_or_default(),
        }
    }

    /// Writes one entry: its content from `data`, or from the spill when
    /// `data` is `None`.
    fn write(&mut self, mut p: Parked, data: Option<&mut dyn Read>) -> Result<(), LayerError> {
        if p.placeholder {
            // Nothing else at the target: the directory the move needs,
            // with the header the emitter gives missing parents.
            p.meta = Meta {
                path: p.meta.path,
                kind: Kind::Dir,
                mode: 0o755,
                uid: 0,
                gid: 0,
                mtime: self.epoch,
                capability: None,
            };
        }
        if let Kind::HardLink { target } = &p.meta.kind {
            if let Some(at) = self.relinked.get(target) {
                p.meta.kind = Kind::HardLink { target: at.clone() };
            } else if sort_key(target, false) > p.meta.key() {
                // The target comes later now: this link takes its content.
                let target = target.clone();
                let (file, offset) = self.parked_file(&target, &p.meta)?;
                let file = Meta { path: p.meta.path.clone(), ..file };
                let size = file.data_size();
                self.emitter.emit(&file, &mut self.spill.get(offset, size)?, Origin::Stream)?;
                self.relinked.insert(target, p.meta.path);
                return Ok(());
            }
        }
        if !self.relinked.is_empty()
            && let Some(at) = self.relinked.get(&p.meta.path)
        {
            let link = Meta { kind: Kind::HardLink { target: at.clone() }, capability: None, ..p.meta };
            return self.emitter.emit(&link, &mut io::empty(), Origin::Stream);
        }
        match data {
            Some(d) => self.emitter.emit(&p.meta, d, Origin::Stream),
            None => {
                let size = p.meta.data_size();
                self.emitter.emit(&p.meta, &mut self.spill.get(p.offset, size)?, Origin::Stream)
            }
        }
    }

    /// The parked file a hard link written before it points at.
    fn parked_file(&self, target: &[u8], link: &Meta) -> Result<(Meta, u64), LayerError> {
        self.parked
            .get(&sort_key(target, false))
            .and_then(|g| g.iter().find(|p| matches!(p.meta.kind, Kind::File { .. })))
            .map(|p| (p.meta.clone(), p.offset))
            .ok_or_else(|| LayerError::HardLinkMissing {
                entry: link.display(),
                link_target: String::from_utf8_lossy(target).into_owned(),
                target: "the relocated layer".into(),
            })
    }
}

impl<S: Write> EntrySink for Relocator<S> {
    fn put(&mut self, layer: usize, meta: &Meta, data: &mut dyn Read) -> Result<(), LayerError> {
        let original = self.stripped(&meta.path, meta)?.to_vec();
        let (mut moved, mut path) = self.mapped(&original);
        let mut placeholder = false;
        if meta.kind == Kind::Dir
            && let Some(i) = self.move_of(&original)
            && original == self.moves[i].from
        {
            (moved, path, placeholder) = (Some(i), self.moves[i].to.clone(), true);
        }
        let mut mapped = Meta { path, ..meta.clone() };
        if let Kind::HardLink { target } = &meta.kind {
            let target = self.stripped(target, meta)?;
            mapped.kind = Kind::HardLink { target: self.mapped(target).1 };
        }
        let key = mapped.key();
        let bound = self.bound(&original);
        // What sorts before this entry and can go, goes first.
        self.flush_while(|k| k < key.as_slice() && bound.clears(k))?;
        let parked = Parked { layer, original, moved, placeholder, meta: mapped, offset: 0 };
        if bound.clears(&key) && !self.parked.contains_key(&key) {
            // Everything before it is out and nothing can join it: stream it.
            self.write(parked, Some(data))?;
        } else {
            let offset = self.spill.put(data, &parked.meta)?;
            self.parked.entry(key).or_default().push(Parked { offset, ..parked });
        }
        self.flush(&bound)
    }
}

/// What one layer has at the top level of its tree, as far as
/// [`top_level_links`] cares.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TopLevel {
    /// By name: each name the layer has an entry at, or below.
    pub names: BTreeMap<Vec<u8>, TopEntry>,
    /// The layer's root is opaque (`.wh..wh..opq` at the top): the layers
    /// below it do not count.
    pub opaque: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TopEntry {
    /// A symlink, with its target as stored.
    Symlink(Vec<u8>),
    /// A whiteout: the name is gone.
    Whiteout,
    /// A directory (or entries below the name), a file, a device.
    Other,
}

/// Reads the top level of one layer from its tar headers (compressed or
/// not, in any order); file contents are skipped, nothing is written.
pub fn top_level<R: Read>(layer: R) -> Result<TopLevel, LayerError> {
    let (_, stream) = decompress(layer).map_err(LayerError::Malformed)?;
    let mut archive = tar::Archive::new(stream);
    let mut top = TopLevel::default();
    for entry in archive.entries().map_err(LayerError::Malformed)? {
        let mut entry = entry.map_err(LayerError::Malformed)?;
        let Some(meta) = meta_from_tar(&mut entry, "the layer root".as_ref())? else { continue };
        if meta.path.is_empty() {
            top.opaque |= meta.kind == Kind::Opaque;
            continue;
        }
        let (name, below) = match meta.path.iter().position(|&c| c == b'/') {
            Some(i) => (&meta.path[..i], true),
            None => (&meta.path[..], meta.kind == Kind::Opaque),
        };
        let seen = match (&meta.kind, below) {
            (_, true) | (Kind::Dir, _) => TopEntry::Other,
            (Kind::Symlink { target }, false) => TopEntry::Symlink(target.clone()),
            (Kind::Whiteout, false) => TopEntry::Whiteout,
            _ => TopEntry::Other,
        };
        // A whiteout hides lower layers only, never an entry of its own
        // layer; a name with entries below it is a directory.
        match top.names.get(name) {
            Some(TopEntry::Other) => {}
            Some(_) if seen == TopEntry::Whiteout => {}
            _ => {
                top.names.insert(name.to_vec(), seen);
            }
        }
    }
    Ok(top)
}

/// The top-level symlinks of the tree that `layers` (bottom first) make
/// when unpacked in turn, with their targets as stored: for each name, the
/// topmost layer that has it decides; a whiteout removes it, an opaque
/// root hides the layers below.
pub fn top_level_links(layers: &[TopLevel]) -> BTreeMap<Vec<u8>, Vec<u8>> {
    let mut decided: BTreeMap<&[u8], Option<&[u8]>> = BTreeMap::new();
    for layer in layers.iter().rev() {
        for (name, entry) in &layer.names {
            decided.entry(name).or_insert(match entry {
                TopEntry::Symlink(t) => Some(t),
                _ => None,
            });
        }
        if layer.opaque {
            break;
        }
    }
    decided.into_iter().filter_map(|(n, t)| Some((n.to_vec(), t?.to_vec()))).collect()
}

#[cfg(test)]
mod tests;
