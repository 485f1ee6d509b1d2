//! Spec errors and warnings: a position in the spec file, a message and a
//! hint, turned into the IR's [`FrontendError`] at the frontend boundary.

use std::fmt;
use std::path::Path;

use strata_frontend_api::FrontendError;

/// A line and column in the (rendered) spec, both from 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, PartialOrd, Ord)]
pub struct Pos {
    pub line: usize,
    pub col: usize,
}

impl Pos {
    pub fn new(line: usize, col: usize) -> Pos {
        Pos { line, col }
    }
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.col)
    }
}

/// Something wrong with a spec, where it is, and what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{pos}: {message}")]
pub struct SpecError {
    pub pos: Pos,
    pub message: String,
    pub hint: String,
}

impl SpecError {
    pub fn new(pos: Pos, message: impl Into<String>, hint: impl Into<String>) -> SpecError {
        SpecError { pos, message: message.into(), hint: hint.into() }
    }

    /// As the IR's error, in `file`.
    pub fn into_frontend(self, file: &Path) -> FrontendError {
        let e = FrontendError::new(self.message).at(file, self.pos.line, self.pos.col);
        if self.hint.is_empty() { e } else { e.hint(self.hint) }
    }
}

/// A key spk ignores (it warns about nothing; strata warns, and refuses in
/// strict mode).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    pub pos: Pos,
    pub message: String,
}

impl Warning {
    /// `file:line:col: warning: message`, as printed.
    pub fn render(&self, file: &Path) -> String {
        format!("{}:{}: warning: {}", file.display(), self.pos, self.message)
    }
}
