//! Step output: streamed live to a [`LogSink`] and kept in a log file.
//!
//! Backends call [`LogSink::write`] with raw chunks as they arrive; the
//! sink splits lines. [`PrefixedLog`] is the usual sink: it writes every
//! chunk to the step's log file, `<store>/strata/logs/<step>.log`
//! ([`step_log_path`]), and prints whole lines to the terminal prefixed with
//! the step's name, one `write` per line so that steps running side by side
//! interleave by line, never inside one.

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

/// Where the log of the step named `name` (or keyed `name`) is kept:
/// `<store>/strata/logs/<name>.log`, with `/`, NUL and a leading `.` replaced
/// by `_` so that any name gives a file directly in that directory.
pub fn step_log_path(store: &crate::store::Store, name: &str) -> PathBuf {
    let mut file: String = name.chars().map(|c| if c == '/' || c == '\0' { '_' } else { c }).collect();
    if file.is_empty() || file.starts_with('.') {
        file.insert(0, '_');
    }
    file.push_str(".log");
    store.root().join("strata/logs").join(file)
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
        Ok(PrefixedLog {
            file: File::create(path)?,
            path: path.to_owned(),
            prefix: prefix.into(),
            echo,
            partial: Vec::new(),
        })
    }

    /// The log of step `name` at [`step_log_path`], echoed as `[name] line`.
    pub fn for_step(store: &crate::store::Store, name: &str, echo: Option<Box<dyn Write + Send>>) -> io::Result<Self> {
        Self::create(&step_log_path(store, name), name, echo)
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
            let out = format!("[{}] {}", self.prefix, String::from_utf8_lossy(&line));
            let _ = echo.write_all(out.as_bytes());
        }
    }

    fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for PrefixedLog {
    fn drop(&mut self) {
        if let (Some(echo), false) = (self.echo.as_mut(), self.partial.is_empty()) {
            let out = format!("[{}] {}\n", self.prefix, String::from_utf8_lossy(&self.partial));
            let _ = echo.write_all(out.as_bytes());
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    /// A `Write` whose bytes the test can read back.
    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn chunks_are_kept_whole_and_echoed_as_prefixed_lines() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::store::Store::open(dir.path()).unwrap();
        let echo = Shared::default();
        let path = step_log_path(&store, "hello:build");
        assert_eq!(path, dir.path().join("strata/logs/hello:build.log"));
        {
            let mut log = PrefixedLog::for_step(&store, "hello:build", Some(Box::new(echo.clone()))).unwrap();
            log.write(Stream::Stdout, b"one\ntw");
            log.write(Stream::Stderr, b"o\nthree");
            assert_eq!(log.path(), path);
        }
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "one\ntwo\nthree");
        let echoed = String::from_utf8(echo.0.lock().unwrap().clone()).unwrap();
        assert_eq!(echoed, "[hello:build] one\n[hello:build] two\n[hello:build] three\n");
        assert_eq!(PrefixedLog::tail(&path, 2), "two\nthree\n");
    }

    #[test]
    fn odd_step_names_stay_in_the_log_dir() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::store::Store::open(dir.path()).unwrap();
        let logs = dir.path().join("strata/logs");
        assert_eq!(step_log_path(&store, "../a/b"), logs.join("_.._a_b.log"));
        assert_eq!(step_log_path(&store, ""), logs.join("_.log"));
    }
}
