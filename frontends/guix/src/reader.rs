//! The Scheme reader: text → [`Datum`]s, each with its line and column.
//!
//! What Guix package files use, in Guile's syntax: `;` comments, nested
//! `#| … |#` block comments, `#;` datum comments, strings with escapes
//! (`\n \t \\ \" \xHH;` and line continuations), characters (`#\a`,
//! `#\space`, `#\x41`), booleans (`#t #f #true #false`), keywords (`#:x`),
//! vectors, `[ ]` as parentheses, dotted lists, the quote family and Guix's
//! gexp syntax (`#~ #$ #$@ #+ #+@`). See [`crate::datum`] for what the
//! abbreviations read as.

use crate::datum::{Datum, Kind, Pos};

/// Text the reader cannot read, and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ReadError {
    pub pos: Pos,
    pub message: String,
    pub hint: Option<String>,
}

/// The largest file read: 16 MiB (Guix's biggest package modules are ~1 MB).
pub const MAX_SIZE: usize = 16 << 20;
/// The deepest nesting of lists, vectors, abbreviations and datum
/// comments: 256 (package files nest a few dozen levels). Deeper text is
/// refused rather than read, as reading, evaluating and dropping a datum
/// recurse once per level.
pub const MAX_DEPTH: usize = 256;

pub use strata_frontend_api::read_bounded;

/// Reads every datum of `text`.
pub fn read_all(text: &str) -> Result<Vec<Datum>, ReadError> {
    if text.len() > MAX_SIZE {
        return Err(ReadError {
            pos: Pos { line: 1, col: 1 },
            message: format!("the file is {} bytes, more than the limit of {MAX_SIZE}", text.len()),
            hint: Some("a package file is at most a few hundred kilobytes: is this the right file?".into()),
        });
    }
    let mut r = Reader { chars: text.chars().collect(), i: 0, line: 1, col: 1, depth: 0 };
    let mut out = Vec::new();
    loop {
        r.skip_atmosphere()?;
        if r.peek().is_none() {
            return Ok(out);
        }
        match r.datum()? {
            Some(d) => out.push(d),
            None => return Err(r.error_here("unexpected ')'", Some("remove it, or add the '(' it closes"))),
        }
    }
}

struct Reader {
    chars: Vec<char>,
    i: usize,
    line: usize,
    col: usize,
    /// Nesting of `datum` and `#;` calls, against [`MAX_DEPTH`].
    depth: usize,
}

fn is_delimiter(c: char) -> bool {
    c.is_whitespace() || matches!(c, '(' | ')' | '[' | ']' | '"' | ';')
}

impl Reader {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.i).copied()
    }

    fn peek_at(&self, n: usize) -> Option<char> {
        self.chars.get(self.i + n).copied()
    }

    fn pos(&self) -> Pos {
        Pos { line: self.line, col: self.col }
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.i += 1;
        if c == '\n' {
            self.line += 1;
            self.col = 1;
        } else {
            self.col += 1;
        }
        Some(c)
    }

    fn error_at(&self, pos: Pos, message: impl Into<String>, hint: Option<&str>) -> ReadError {
        ReadError { pos, message: message.into(), hint: hint.map(str::to_string) }
    }

    fn error_here(&self, message: impl Into<String>, hint: Option<&str>) -> ReadError {
        self.error_at(self.pos(), message, hint)
    }

    /// Whitespace, comments, block comments and datum comments.
    fn skip_atmosphere(&mut self) -> Result<(), ReadError> {
        loop {
            match (self.peek(), self.peek_at(1)) {
                (Some(c), _) if c.is_whitespace() => {
                    self.bump();
                }
                (Some(';'), _) => {
                    while let Some(c) = self.bump() {
                        if c == '\n' {
                            break;
                        }
                    }
                }
                (Some('#'), Some('|')) => self.block_comment()?,
                (Some('#'), Some('!')) => {
                    let start = self.pos();
                    self.bump();
                    self.bump();
                    loop {
                        match self.bump() {
                            Some('!') if self.peek() == Some('#') => {
                                self.bump();
                                break;
                            }
                            Some(_) => {}
                            None => {
                                return Err(self.error_at(
                                    start,
                                    "unterminated '#!' comment",
                                    Some("end it with '!#'"),
                                ));
                            }
                        }
                    }
                }
                (Some('#'), Some(';')) => {
                    let start = self.pos();
                    self.bump();
                    self.bump();
                    self.enter()?;
                    let skipped = self.skip_atmosphere();
                    self.depth -= 1;
                    skipped?;
                    if self.datum()?.is_none() {
                        return Err(self.error_at(start, "'#;' comments out nothing", None));
                    }
                }
                _ => return Ok(()),
            }
        }
    }

    fn block_comment(&mut self) -> Result<(), ReadError> {
        let start = self.pos();
        self.bump();
        self.bump();
        let mut depth = 1;
        while depth > 0 {
            match self.bump() {
                Some('|') if self.peek() == Some('#') => {
                    self.bump();
                    depth -= 1;
                }
                Some('#') if self.peek() == Some('|') => {
                    self.bump();
                    depth += 1;
                }
                Some(_) => {}
                None => return Err(self.error_at(start, "unterminated block comment", Some("end it with '|#'"))),
            }
        }
        Ok(())
    }

    /// One level deeper, refused past [`MAX_DEPTH`].
    fn enter(&mut self) -> Result<(), ReadError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.error_here(
                format!("the text nests deeper than {MAX_DEPTH} levels here"),
                Some("no package definition nests this deep: is a ')' missing, or the file generated?"),
            ));
        }
        Ok(())
    }

    /// One datum; `None` at a closing parenthesis (not consumed).
    fn datum(&mut self) -> Result<Option<Datum>, ReadError> {
        self.enter()?;
        let d = self.datum_inner();
        self.depth -= 1;
        d
    }

    fn datum_inner(&mut self) -> Result<Option<Datum>, ReadError> {
        let pos = self.pos();
        let Some(c) = self.peek() else {
            return Err(self.error_here("unexpected end of file", None));
        };
        let d = match c {
            ')' | ']' => return Ok(None),
            '(' | '[' => {
                self.bump();
                self.list(pos, if c == '(' { ')' } else { ']' })?
            }
            '"' => {
                self.bump();
                Datum::new(Kind::Str(self.string(pos)?), pos)
            }
            '\'' => self.abbreviation(1, "quote", pos)?,
            '`' => self.abbreviation(1, "quasiquote", pos)?,
            ',' if self.peek_at(1) == Some('@') => self.abbreviation(2, "unquote-splicing", pos)?,
            ',' => self.abbreviation(1, "unquote", pos)?,
            '#' => self.hash(pos)?,
            _ => self.atom(pos)?,
        };
        Ok(Some(d))
    }

    fn abbreviation(&mut self, len: usize, name: &str, pos: Pos) -> Result<Datum, ReadError> {
        for _ in 0..len {
            self.bump();
        }
        self.skip_atmosphere()?;
        match self.datum()? {
            Some(d) => Ok(Datum::list(vec![Datum::sym(name, pos), d], pos)),
            None => Err(self.error_at(pos, format!("nothing after the {name} prefix"), None)),
        }
    }

    fn list(&mut self, pos: Pos, close: char) -> Result<Datum, ReadError> {
        let mut items = Vec::new();
        loop {
            self.skip_atmosphere()?;
            match self.peek() {
                None => {
                    return Err(self.error_at(
                        pos,
                        "unterminated list: this '(' is never closed",
                        Some("add the missing ')'"),
                    ));
                }
                Some(c @ (')' | ']')) => {
                    if c != close {
                        return Err(self.error_here(format!("'{c}' closes a list opened with the other kind"), None));
                    }
                    self.bump();
                    return Ok(Datum::list(items, pos));
                }
                Some('.') if self.peek_at(1).is_none_or(is_delimiter) && !items.is_empty() => {
                    self.bump();
                    self.skip_atmosphere()?;
                    let tail = self.datum()?.ok_or_else(|| self.error_here("nothing after '.'", None))?;
                    self.skip_atmosphere()?;
                    if self.peek() != Some(close) {
                        return Err(self.error_here("more than one datum after '.'", None));
                    }
                    self.bump();
                    return Ok(Datum::new(Kind::Dotted(items, Box::new(tail)), pos));
                }
                Some(_) => match self.datum()? {
                    Some(d) => items.push(d),
                    None => unreachable!("a closing parenthesis was handled above"),
                },
            }
        }
    }

    fn string(&mut self, pos: Pos) -> Result<String, ReadError> {
        let mut s = String::new();
        loop {
            match self.bump() {
                None => return Err(self.error_at(pos, "unterminated string", Some("add the closing '\"'"))),
                Some('"') => return Ok(s),
                Some('\\') => {
                    let at = self.pos();
                    match self.bump() {
                        Some('n') => s.push('\n'),
                        Some('t') => s.push('\t'),
                        Some('r') => s.push('\r'),
                        Some('a') => s.push('\u{7}'),
                        Some('f') => s.push('\u{c}'),
                        Some('v') => s.push('\u{b}'),
                        Some('b') => s.push('\u{8}'),
                        Some('0') => s.push('\0'),
                        Some(c @ ('\\' | '"' | '|' | '\'')) => s.push(c),
                        Some('x') => {
                            let mut hex = String::new();
                            while let Some(c) = self.peek() {
                                if c == ';' {
                                    self.bump();
                                    break;
                                }
                                if !c.is_ascii_hexdigit() || hex.len() == 8 {
                                    break;
                                }
                                hex.push(c);
                                self.bump();
                            }
                            let c = u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32);
                            s.push(c.ok_or_else(|| self.error_at(at, "bad '\\x' escape in string", None))?);
                        }
                        Some('\n') => {
                            while self.peek().is_some_and(|c| c == ' ' || c == '\t') {
                                self.bump();
                            }
                        }
                        Some(c) => {
                            return Err(self.error_at(
                                at,
                                format!("unknown escape '\\{c}' in string"),
                                Some("write a backslash as '\\\\'"),
                            ));
                        }
                        None => return Err(self.error_at(pos, "unterminated string", None)),
                    }
                }
                Some(c) => s.push(c),
            }
        }
    }

    /// The text up to the next delimiter.
    fn token(&mut self) -> String {
        let mut t = String::new();
        while let Some(c) = self.peek() {
            if is_delimiter(c) {
                break;
            }
            t.push(c);
            self.bump();
        }
        t
    }

    fn hash(&mut self, pos: Pos) -> Result<Datum, ReadError> {
        match self.peek_at(1) {
            Some('~') => self.abbreviation(2, "gexp", pos),
            Some('$') if self.peek_at(2) == Some('@') => self.abbreviation(3, "ungexp-splicing", pos),
            Some('$') => self.abbreviation(2, "ungexp", pos),
            Some('+') if self.peek_at(2) == Some('@') => self.abbreviation(3, "ungexp-native-splicing", pos),
            Some('+') => self.abbreviation(2, "ungexp-native", pos),
            Some('\'') => self.abbreviation(2, "syntax", pos),
            Some('`') => self.abbreviation(2, "quasisyntax", pos),
            Some('(') => {
                self.bump();
                self.bump();
                let l = self.list(pos, ')')?;
                match l.kind {
                    Kind::List(items) => Ok(Datum::new(Kind::Vector(items), pos)),
                    _ => Err(self.error_at(pos, "a vector cannot be a dotted list", None)),
                }
            }
            Some(':') => {
                self.bump();
                self.bump();
                let name = self.token();
                if name.is_empty() {
                    return Err(self.error_at(pos, "'#:' without a keyword name", None));
                }
                Ok(Datum::new(Kind::Keyword(name), pos))
            }
            Some('\\') => {
                self.bump();
                self.bump();
                // The first character is taken even if it is a delimiter: `#\(`.
                let first = self.bump().ok_or_else(|| self.error_at(pos, "'#\\' at end of file", None))?;
                let mut name = first.to_string();
                name.push_str(&self.token());
                let c = char_named(&name).ok_or_else(|| {
                    self.error_at(
                        pos,
                        format!("unknown character name '#\\{name}'"),
                        Some("e.g. #\\a, #\\space, #\\x41"),
                    )
                })?;
                Ok(Datum::new(Kind::Char(c), pos))
            }
            _ => {
                let t = self.token();
                match t.as_str() {
                    "#t" | "#true" => Ok(Datum::new(Kind::Bool(true), pos)),
                    "#f" | "#false" => Ok(Datum::new(Kind::Bool(false), pos)),
                    _ if is_number(&t) => Ok(Datum::new(Kind::Num(t), pos)),
                    _ => Err(self.error_at(pos, format!("unknown '#' syntax '{t}'"), None)),
                }
            }
        }
    }

    fn atom(&mut self, pos: Pos) -> Result<Datum, ReadError> {
        if self.peek() == Some('|') {
            self.bump();
            let mut name = String::new();
            loop {
                match self.bump() {
                    Some('|') => return Ok(Datum::new(Kind::Sym(name), pos)),
                    Some(c) => name.push(c),
                    None => return Err(self.error_at(pos, "unterminated '|symbol|'", None)),
                }
            }
        }
        let t = self.token();
        if t.is_empty() {
            // A lone delimiter we do not read as a datum (cannot happen for
            // the delimiters handled in `datum`).
            let c = self.bump().unwrap_or(' ');
            return Err(self.error_at(pos, format!("unexpected '{c}'"), None));
        }
        if is_number(&t) {
            return Ok(Datum::new(Kind::Num(t), pos));
        }
        Ok(Datum::new(Kind::Sym(t), pos))
    }
}

/// Whether a token is a number (decimal, with sign, point, exponent or
/// fraction; or a `#x`/`#b`/`#o`/`#d`/`#e`/`#i` prefixed one).
fn is_number(t: &str) -> bool {
    if let Some(rest) = t.strip_prefix('#') {
        let mut chars = rest.chars();
        return matches!(chars.next(), Some('x' | 'X' | 'b' | 'B' | 'o' | 'O' | 'd' | 'D' | 'e' | 'E' | 'i' | 'I'))
            && chars.as_str().chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '+' | '/'))
            && !chars.as_str().is_empty();
    }
    let body = t.strip_prefix(['+', '-']).unwrap_or(t);
    let Some(first) = body.chars().next() else { return false };
    (first.is_ascii_digit() || (first == '.' && body.len() > 1 && body.as_bytes()[1].is_ascii_digit()))
        && body.chars().all(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | '/'))
}

fn char_named(name: &str) -> Option<char> {
    let mut chars = name.chars();
    let first = chars.next()?;
    if chars.next().is_none() {
        return Some(first);
    }
    Some(match name {
        "space" => ' ',
        "newline" | "linefeed" | "nl" => '\n',
        "tab" => '\t',
        "return" => '\r',
        "nul" | "null" => '\0',
        "alarm" => '\u{7}',
        "backspace" => '\u{8}',
        "delete" | "del" | "rubout" => '\u{7f}',
        "escape" | "esc" => '\u{1b}',
        "page" => '\u{c}',
        _ => {
            let hex = name.strip_prefix('x').or_else(|| name.strip_prefix('U').map(|h| h.trim_start_matches('+')))?;
            return u32::from_str_radix(hex, 16).ok().and_then(char::from_u32);
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read1(text: &str) -> Datum {
        let mut v = read_all(text).unwrap();
        assert_eq!(v.len(), 1, "{text}");
        v.remove(0)
    }

    fn at(d: &Datum) -> (usize, usize) {
        (d.pos.line, d.pos.col)
    }

    #[test]
    fn every_datum_knows_its_line_and_column() {
        let d = read1("(define-public hello\n  (package\n    (name \"hello\")))");
        let items = d.as_list().unwrap();
        assert_eq!(at(&d), (1, 1));
        assert_eq!(at(&items[1]), (1, 16));
        let package = items[2].as_list().unwrap();
        assert_eq!(at(&items[2]), (2, 3));
        assert_eq!(at(&package[1]), (3, 5));
        assert_eq!(at(&package[1].as_list().unwrap()[1]), (3, 11));
    }

    #[test]
    fn comments_of_every_kind_are_skipped() {
        let v = read_all("; line\n#| block #| nested |# |#\n(a #;(ignored datum) b) #;c d #!guile\n!# e").unwrap();
        let texts: Vec<String> = v.iter().map(|d| d.to_string()).collect();
        assert_eq!(texts, ["(a b)", "d", "e"]);
        assert_eq!(at(&v[0]), (3, 1));
    }

    #[test]
    fn strings_keep_their_escapes_meaning() {
        let d = read1(
            r#""a\"b\\c\n\t\x41;\
            d""#,
        );
        assert_eq!(d.kind, Kind::Str("a\"b\\c\n\tAd".into()));
    }

    #[test]
    fn characters_booleans_keywords_and_numbers() {
        let v = read_all(r"#\a #\space #\x41 #\( #t #false #:tests? 42 -1.5 #x1F foo-bar").unwrap();
        let kinds: Vec<Kind> = v.into_iter().map(|d| d.kind).collect();
        assert_eq!(
            kinds,
            [
                Kind::Char('a'),
                Kind::Char(' '),
                Kind::Char('A'),
                Kind::Char('('),
                Kind::Bool(true),
                Kind::Bool(false),
                Kind::Keyword("tests?".into()),
                Kind::Num("42".into()),
                Kind::Num("-1.5".into()),
                Kind::Num("#x1F".into()),
                Kind::Sym("foo-bar".into()),
            ]
        );
    }

    #[test]
    fn quote_family_and_gexps_read_as_two_element_lists() {
        let d = read1("(x 'a `(b ,c ,@d) #~(e #$f #$@g #+h) #$output:static)");
        assert_eq!(
            d.to_string(),
            "(x (quote a) (quasiquote (b (unquote c) (unquote-splicing d))) \
             (gexp (e (ungexp f) (ungexp-splicing g) (ungexp-native h))) (ungexp output:static))"
        );
        // The abbreviation's list starts where the prefix does.
        let gexp = &d.as_list().unwrap()[3];
        assert_eq!(at(gexp), (1, 19));
    }

    #[test]
    fn dotted_lists_vectors_and_brackets() {
        assert_eq!(read1("(a . b)").to_string(), "(a . b)");
        assert_eq!(read1("#(1 2)").to_string(), "#(1 2)");
        assert_eq!(read1("(let ([x 1]) x)").to_string(), "(let ((x 1)) x)");
        assert_eq!(read1("(a ... b)").to_string(), "(a ... b)");
    }

    #[test]
    fn unreadable_text_is_an_error_at_its_place() {
        let e = read_all("(package\n  (name \"x\")").unwrap_err();
        assert_eq!((e.pos.line, e.pos.col), (1, 1));
        assert!(e.message.contains("never closed"), "{e}");
        let e = read_all("(a))").unwrap_err();
        assert_eq!((e.pos.line, e.pos.col), (1, 4));
        let e = read_all("\"abc").unwrap_err();
        assert!(e.message.contains("unterminated string"));
        let e = read_all("(a \"\\q\")").unwrap_err();
        assert_eq!((e.pos.line, e.pos.col), (1, 6));
    }

    #[test]
    fn the_conformance_definitions_read() {
        let dir = std::path::Path::new("/work/shared/conformance/guix");
        let Ok(entries) = std::fs::read_dir(dir) else {
            eprintln!("skipped: {} is absent", dir.display());
            return;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.extension().is_some_and(|x| x == "scm") {
                let text = std::fs::read_to_string(&p).unwrap();
                read_all(&text).unwrap_or_else(|e| panic!("{}: {e:?}", p.display()));
            }
        }
    }
}
