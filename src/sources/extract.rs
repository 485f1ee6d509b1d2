//! Archive entries → a directory, safely, through strata's one safe
//! unpacker.
//!
//! Every archive kind (tar, zip, the data of a deb) is read by its own
//! module, which hands its entries, renamed as they are to be extracted, to
//! a [`Sink`]. The sink checks each name and writes the entry into a plain
//! tar stream; [`extract`] feeds that stream, through a pipe, to
//! [`crate::layer::unpack`] running on the caller's thread. So one piece of
//! code decides where bytes land, for layers and sources alike: it refuses
//! writes through symlinks that lead out of the directory and hard links to
//! anything not extracted before them (see `layer::reader`).
//!
//! The sink itself refuses, before anything is written, names that are
//! absolute or have a `..` component (craft-parts strips leading `/` and
//! `../` instead), and names starting with `.wh.` (the unpacker would take
//! them for overlay whiteouts, and no layer can hold them). Symlink targets
//! are data and are kept as they are; ownership is not kept (the pull layer
//! is owned by root), modes and mtimes are.

use std::ffi::OsStr;
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use super::error::SourceError;
use crate::layer::{UnpackOptions, WhiteoutMode};

/// What an entry is: the layer writer's own kinds, so an archive entry and
/// a layer entry are one type. No archive module makes a whiteout or an
/// opaque marker (the sink refuses `.wh.` names before they could).
pub use crate::layer::Kind;

/// An archive name split into its components, `.` and empty components
/// dropped; refused if it could land outside the directory.
pub fn components<'a>(archive: &Path, raw: &'a [u8]) -> Result<Vec<&'a [u8]>, SourceError> {
    let refuse = |why| SourceError::UnsafeEntry {
        archive: archive.to_path_buf(),
        entry: String::from_utf8_lossy(raw).into(),
        why,
    };
    if raw.first() == Some(&b'/') {
        return Err(refuse("has an absolute path"));
    }
    let mut comps = Vec::new();
    for c in raw.split(|&b| b == b'/') {
        match c {
            b"" | b"." => {}
            b".." => return Err(refuse("has a '..' component")),
            c if c.starts_with(b".wh.") => {
                return Err(refuse("has a name starting with '.wh.', which layers reserve for whiteouts"));
            }
            c => comps.push(c),
        }
    }
    Ok(comps)
}

/// Where an archive module writes its entries.
pub struct Sink<W: Write> {
    archive: std::path::PathBuf,
    builder: tar::Builder<W>,
}

impl<W: Write> Sink<W> {
    pub fn archive(&self) -> &Path {
        &self.archive
    }

    /// Adds one entry named `name` (components as [`components`] returns
    /// them); `data` is read for files only.
    pub fn add(&mut self, name: &[&[u8]], kind: &Kind, mode: u32, mtime: u64, data: &mut dyn Read) -> io::Result<()> {
        if name.is_empty() {
            // The archive's root (`./`): the destination itself.
            return Ok(());
        }
        let path = join(name);
        let path = Path::new(OsStr::from_bytes(&path));
        let mut h = tar::Header::new_gnu();
        h.set_mode(mode & 0o7777);
        h.set_mtime(mtime);
        h.set_uid(0);
        h.set_gid(0);
        match kind {
            Kind::File { size } => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_size(*size);
                self.builder.append_data(&mut h, path, data.take(*size))
            }
            Kind::Dir => self.append_empty(h, tar::EntryType::Directory, path),
            Kind::Symlink { target } => self.append_link(h, tar::EntryType::Symlink, path, target),
            Kind::HardLink { target } => self.append_link(h, tar::EntryType::Link, path, target),
            Kind::CharDevice { major, minor } | Kind::BlockDevice { major, minor } => {
                h.set_device_major(*major)?;
                h.set_device_minor(*minor)?;
                let ty =
                    if matches!(kind, Kind::CharDevice { .. }) { tar::EntryType::Char } else { tar::EntryType::Block };
                self.append_empty(h, ty, path)
            }
            Kind::Fifo => self.append_empty(h, tar::EntryType::Fifo, path),
            Kind::Whiteout | Kind::Opaque => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{}: an archive entry cannot be a whiteout", path.display()),
            )),
        }
    }

    fn append_empty(&mut self, mut h: tar::Header, ty: tar::EntryType, path: &Path) -> io::Result<()> {
        h.set_entry_type(ty);
        h.set_size(0);
        self.builder.append_data(&mut h, path, io::empty())
    }

    fn append_link(&mut self, mut h: tar::Header, ty: tar::EntryType, path: &Path, target: &[u8]) -> io::Result<()> {
        h.set_entry_type(ty);
        h.set_size(0);
        let target = Path::new(OsStr::from_bytes(target));
        self.builder.append_link(&mut h, path, target)
    }
}

pub fn join(comps: &[&[u8]]) -> Vec<u8> {
    comps.join(&b'/')
}

/// Extracts what `produce` writes into the sink into `dest`, an existing
/// empty directory. `produce` runs on a helper thread; the caller's thread
/// unpacks. An error from `produce` wins over the unpacker's (which then
/// only saw the stream end early), unless `produce` failed because the
/// unpacker had stopped reading.
pub fn extract<F>(archive: &Path, dest: &Path, produce: F) -> Result<(), SourceError>
where
    F: FnOnce(&mut Sink<PipeWriter>) -> Result<(), SourceError> + Send,
{
    let (reader, writer) = io::pipe().map_err(super::error::io_err(dest))?;
    let opts = UnpackOptions { whiteouts: WhiteoutMode::Apply, same_owner: false };
    std::thread::scope(|s| {
        let producer = s.spawn(move || {
            let pipe = PipeWriter { inner: writer, broken: false };
            let mut sink = Sink { archive: archive.to_path_buf(), builder: tar::Builder::new(pipe) };
            let produced = produce(&mut sink).and_then(|()| {
                sink.builder.finish().map_err(|e| malformed(archive, "tar", &e))?;
                Ok(())
            });
            let broken = sink.builder.get_ref().broken;
            (produced, broken)
        });
        let unpacked = crate::layer::unpack(io::BufReader::new(reader), dest, &opts);
        let (produced, pipe_broken) = producer.join().unwrap_or_else(|p| std::panic::resume_unwind(p));
        match (produced, unpacked) {
            (Err(e), _) if !pipe_broken => Err(e),
            (_, Err(source)) => Err(SourceError::Extract { archive: archive.to_path_buf(), source }),
            (Err(e), Ok(_)) => Err(e),
            (Ok(()), Ok(_)) => Ok(()),
        }
    })
}

/// The error for an archive that cannot be read.
pub fn malformed(archive: &Path, format: &'static str, e: &dyn std::fmt::Display) -> SourceError {
    SourceError::Malformed { archive: archive.to_path_buf(), format, message: e.to_string() }
}

/// The pipe's write end, remembering whether a write failed (the unpacker
/// stopped reading).
pub struct PipeWriter {
    inner: io::PipeWriter,
    broken: bool,
}

impl Write for PipeWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.inner.write(buf).inspect_err(|_| self.broken = true)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush().inspect_err(|_| self.broken = true)
    }
}
