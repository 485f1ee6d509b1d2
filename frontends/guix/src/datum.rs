//! Scheme data as the reader gives them: every datum carries the line and
//! column it starts at, so any later error can point at the source. Its
//! `Display` writes the datum back as Guile reads it (`write` syntax),
//! which is how phase code reaches the build side.
//!
//! The reader abbreviations become two-element lists, as in Scheme:
//! `'x` → `(quote x)`, `` `x `` → `(quasiquote x)`, `,x` → `(unquote x)`,
//! `,@x` → `(unquote-splicing x)`, and Guix's `#~x` → `(gexp x)`,
//! `#$x` → `(ungexp x)`, `#$@x` → `(ungexp-splicing x)`, `#+x` →
//! `(ungexp-native x)`, `#+@x` → `(ungexp-native-splicing x)`.

use std::fmt;

/// Line and column, both from 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pos {
    pub line: usize,
    pub col: usize,
}

/// A datum and where it starts.
#[derive(Debug, Clone, PartialEq)]
pub struct Datum {
    pub kind: Kind,
    pub pos: Pos,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    Bool(bool),
    /// A number, as written (`42`, `-1`, `1.5`, `#x1F`).
    Num(String),
    Str(String),
    Char(char),
    Sym(String),
    /// `#:name`, without the `#:`.
    Keyword(String),
    List(Vec<Datum>),
    /// `(a b . c)`: the elements before the dot, and the tail.
    Dotted(Vec<Datum>, Box<Datum>),
    Vector(Vec<Datum>),
}

impl Datum {
    pub fn new(kind: Kind, pos: Pos) -> Datum {
        Datum { kind, pos }
    }

    pub fn sym(name: &str, pos: Pos) -> Datum {
        Datum::new(Kind::Sym(name.into()), pos)
    }

    pub fn str(s: &str, pos: Pos) -> Datum {
        Datum::new(Kind::Str(s.into()), pos)
    }

    pub fn list(items: Vec<Datum>, pos: Pos) -> Datum {
        Datum::new(Kind::List(items), pos)
    }

    /// The symbol's name, if it is one.
    pub fn as_sym(&self) -> Option<&str> {
        match &self.kind {
            Kind::Sym(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_list(&self) -> Option<&[Datum]> {
        match &self.kind {
            Kind::List(v) => Some(v),
            _ => None,
        }
    }

    /// For `(HEAD args…)`: HEAD's name and the args.
    pub fn as_form(&self) -> Option<(&str, &[Datum])> {
        let items = self.as_list()?;
        let head = items.first()?.as_sym()?;
        Some((head, &items[1..]))
    }

    /// What a user calls this kind of datum, for messages.
    pub fn describe(&self) -> &'static str {
        match self.kind {
            Kind::Bool(_) => "a boolean",
            Kind::Num(_) => "a number",
            Kind::Str(_) => "a string",
            Kind::Char(_) => "a character",
            Kind::Sym(_) => "a symbol",
            Kind::Keyword(_) => "a keyword",
            Kind::List(_) | Kind::Dotted(..) => "a list",
            Kind::Vector(_) => "a vector",
        }
    }
}

/// Guile `write` syntax.
impl fmt::Display for Datum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            Kind::Bool(true) => f.write_str("#t"),
            Kind::Bool(false) => f.write_str("#f"),
            Kind::Num(n) => f.write_str(n),
            Kind::Str(s) => write_string(f, s),
            Kind::Char(c) => write_char(f, *c),
            Kind::Sym(s) => f.write_str(s),
            Kind::Keyword(k) => write!(f, "#:{k}"),
            Kind::List(items) => {
                f.write_str("(")?;
                write_items(f, items)?;
                f.write_str(")")
            }
            Kind::Dotted(items, tail) => {
                f.write_str("(")?;
                write_items(f, items)?;
                write!(f, " . {tail})")
            }
            Kind::Vector(items) => {
                f.write_str("#(")?;
                write_items(f, items)?;
                f.write_str(")")
            }
        }
    }
}

fn write_items(f: &mut fmt::Formatter<'_>, items: &[Datum]) -> fmt::Result {
    for (i, d) in items.iter().enumerate() {
        if i > 0 {
            f.write_str(" ")?;
        }
        write!(f, "{d}")?;
    }
    Ok(())
}

/// A string literal Guile reads back to the same characters.
pub fn write_string(f: &mut impl fmt::Write, s: &str) -> fmt::Result {
    f.write_char('"')?;
    for c in s.chars() {
        match c {
            '"' => f.write_str("\\\"")?,
            '\\' => f.write_str("\\\\")?,
            '\n' => f.write_str("\\n")?,
            '\t' => f.write_str("\\t")?,
            '\r' => f.write_str("\\r")?,
            c if (c as u32) < 0x20 || c as u32 == 0x7f => write!(f, "\\x{:x};", c as u32)?,
            c => f.write_char(c)?,
        }
    }
    f.write_char('"')
}

fn write_char(f: &mut fmt::Formatter<'_>, c: char) -> fmt::Result {
    match c {
        ' ' => f.write_str("#\\space"),
        '\n' => f.write_str("#\\newline"),
        '\t' => f.write_str("#\\tab"),
        '\r' => f.write_str("#\\return"),
        '\0' => f.write_str("#\\nul"),
        c if c.is_control() => write!(f, "#\\x{:x}", c as u32),
        c => write!(f, "#\\{c}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p() -> Pos {
        Pos { line: 1, col: 1 }
    }

    #[test]
    fn data_are_written_as_guile_reads_them() {
        let d = Datum::list(
            vec![
                Datum::sym("f", p()),
                Datum::str("a\"b\\c\nd", p()),
                Datum::new(Kind::Keyword("tests?".into()), p()),
                Datum::new(Kind::Bool(false), p()),
                Datum::new(Kind::Char(' '), p()),
                Datum::new(Kind::Dotted(vec![Datum::sym("a", p())], Box::new(Datum::sym("b", p()))), p()),
            ],
            p(),
        );
        assert_eq!(d.to_string(), r#"(f "a\"b\\c\nd" #:tests? #f #\space (a . b))"#);
    }
}
