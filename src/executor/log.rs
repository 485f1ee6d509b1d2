//! Step output: streamed live to a [`LogSink`] and kept in a log file.
//!
//! Backends call [`LogSink::write`] with raw chunks as they arrive; the
//! sink splits lines. [`PrefixedLog`] is the usual sink: it writes every
//! chunk to the step's log file under `<store>/strata/logs/` and prints
//! whole lines to the terminal prefixed with the step's name.

use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

/// Where a running step's output goes.
pub trait LogSink: Send {
    fn write(&mut self, stream: Stream, chunk: &[u8]);
    /// The file holding everything written so far.
    fn path(&self) -> &Path;
}

/// Keeps the full log in a file and echoes lines as `[prefix] line`.
pub struct PrefixedLog {
    file: File,
    path: PathBuf,
    prefix: String,
    echo: Option<Box<dyn Write + Send>>,
    partial: Vec<u8>,
}

impl PrefixedLog {
    /// Creates (truncates) the log at `path`; echoes to `echo` if given.
    pub fn create(path: &Path, prefix: impl Into<String>, echo: Option<Box<dyn Write + Send>>) -> io::Result<Self> {
        if let Some(p) = path.parent() {
            std::fs::create_dir_all(p)?;
        }
        Ok(PrefixedLog { file: File::create(path)?, path: path.to_owned(), prefix: prefix.into(), echo, partial: Vec::new() })
    }

    /// The last `n` lines of the log file, for error messages.
    pub fn tail(path: &Path, n: usize) -> String {
        let text = std::fs::read(path).unwrap_or_default();
        let text = String::from_utf8_lossy(&text);
        let lines: Vec<&str> = text.lines().collect();
        let mut out = lines[lines.len().saturating_sub(n)..].join("\n");
        out.push('\n');
        out
    }
}

impl LogSink for PrefixedLog {
    fn write(&mut self, _stream: Stream, chunk: &[u8]) {
        let _ = self.file.write_all(chunk);
        let Some(echo) = self.echo.as_mut() else { return };
        self.partial.extend_from_slice(chunk);
        while let Some(i) = self.partial.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.partial.drain(..=i).collect();
            let _ = write!(echo, "[{}] {}", self.prefix, String::from_utf8_lossy(&line));
        }
    }

    fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for PrefixedLog {
    fn drop(&mut self) {
        if let (Some(echo), false) = (self.echo.as_mut(), self.partial.is_empty()) {
            let _ = writeln!(echo, "[{}] {}", self.prefix, String::from_utf8_lossy(&self.partial));
        }
    }
}
