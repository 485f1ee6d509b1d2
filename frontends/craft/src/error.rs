//! Errors of the craft frontend. Spec errors carry the line and column of
//! the offending node and a line saying what to do (DESIGN.md §8).

use std::fmt;
use std::path::PathBuf;

/// A position in the spec file: line and column, both from 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Pos {
    pub line: usize,
    pub col: usize,
}

impl Pos {
    pub fn new(line: usize, col: usize) -> Pos {
        Pos { line, col }
    }
}

/// A mistake in the spec, where it is and what to do about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecError {
    pub pos: Pos,
    pub message: String,
    pub help: String,
}

impl SpecError {
    pub fn new(pos: Pos, message: impl Into<String>, help: impl Into<String>) -> SpecError {
        SpecError { pos, message: message.into(), help: help.into() }
    }
}

impl fmt::Display for SpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}\n  help: {}", self.pos.line, self.pos.col, self.message, self.help)
    }
}

/// Why a spec file could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("cannot read {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// `file:line:col: message` then `  help: ...`.
    #[error("{file}:{}:{}: {}\n  help: {}", error.pos.line, error.pos.col, error.message, error.help)]
    Spec { file: String, error: SpecError },
}

impl LoadError {
    /// The spec error, if this is one.
    pub fn spec(&self) -> Option<&SpecError> {
        match self {
            LoadError::Spec { error, .. } => Some(error),
            LoadError::Io { .. } => None,
        }
    }
}

/// The closest of `candidates` to `word`, if it is close enough to be a
/// plausible typo (edit distance at most a third of the word, at least 1).
pub fn closest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let limit = (word.chars().count() / 3).max(1);
    candidates
        .into_iter()
        .map(|c| (edit_distance(word, c), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, c)| (*d, *c))
        .map(|(_, c)| c)
}

/// Optimal string alignment distance: edits and adjacent transpositions.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            d[i][j] = (d[i - 1][j] + 1).min(d[i][j - 1] + 1).min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d[i][j] = d[i][j].min(d[i - 2][j - 2] + 1);
            }
        }
    }
    d[a.len()][b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_words_only() {
        let keys = ["plugin", "source", "stage", "prime"];
        assert_eq!(closest("plugn", keys), Some("plugin"));
        assert_eq!(closest("stgae", keys), Some("stage"));
        assert_eq!(closest("organise", ["organize", "overlay"]), Some("organize"));
        assert_eq!(closest("zzz", keys), None);
    }
}
