//! YAML with a position on every node and key, read as spk reads it:
//! serde_yaml 0.9, YAML 1.2's core schema (`on`, `yes` are strings), and
//! numbers turned into strings through Rust's `f64`/`i64` formatting, so
//! `python: 3.10` is `"3.1"` and `gcc: 6.0` is `"6"` (reference §0).
//!
//! saphyr keeps a span on every node and mapping key, so errors found long
//! after parsing (a bad option, an unknown key) still point at a line.

use saphyr::{MarkedYamlOwned, ScalarStyle, YamlDataOwned, YamlLoader};

use crate::error::{Pos, SpecError};

/// A YAML node and where it starts.
#[derive(Debug, Clone)]
pub struct Node {
    pub pos: Pos,
    pub kind: Kind,
}

#[derive(Debug, Clone)]
pub enum Kind {
    /// The scalar's source text; `plain` is false when quoted, a block
    /// scalar or tagged `!!str`.
    Scalar {
        text: String,
        plain: bool,
    },
    Seq(Vec<Node>),
    /// In file order.
    Map(Vec<(Node, Node)>),
}

/// What a YAML 1.2 core-schema plain scalar is.
#[derive(Debug, Clone, PartialEq)]
pub enum Scalar {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str,
}

/// Resolves a plain scalar by the YAML 1.2 core schema.
pub fn resolve_plain(text: &str) -> Scalar {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Scalar::Null,
        "true" | "True" | "TRUE" => return Scalar::Bool(true),
        "false" | "False" | "FALSE" => return Scalar::Bool(false),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => return Scalar::Float(f64::INFINITY),
        "-.inf" | "-.Inf" | "-.INF" => return Scalar::Float(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return Scalar::Float(f64::NAN),
        _ => {}
    }
    let digits = text.strip_prefix(['-', '+']).unwrap_or(text);
    if !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && let Ok(i) = text.parse::<i64>()
    {
        return Scalar::Int(i);
    }
    if let Some(h) = text.strip_prefix("0x")
        && let Ok(i) = i64::from_str_radix(h, 16)
    {
        return Scalar::Int(i);
    }
    if let Some(o) = text.strip_prefix("0o")
        && let Ok(i) = i64::from_str_radix(o, 8)
    {
        return Scalar::Int(i);
    }
    // [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?
    let (mantissa, exp) = match digits.find(['e', 'E']) {
        Some(i) => (&digits[..i], Some(&digits[i + 1..])),
        None => (digits, None),
    };
    let exp_ok = exp.is_none_or(|e| {
        let d = e.strip_prefix(['-', '+']).unwrap_or(e);
        !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit())
    });
    let mant_ok = match mantissa.split_once('.') {
        Some((i, f)) => {
            i.bytes().all(|b| b.is_ascii_digit())
                && f.bytes().all(|b| b.is_ascii_digit())
                && !(i.is_empty() && f.is_empty())
        }
        None => !mantissa.is_empty() && mantissa.bytes().all(|b| b.is_ascii_digit()),
    };
    if exp_ok
        && mant_ok
        && let Ok(f) = text.parse::<f64>()
    {
        return Scalar::Float(f);
    }
    Scalar::Str
}

/// The largest spec read: 16 MiB (real ones are a few kilobytes).
pub const MAX_SIZE: usize = 16 << 20;
/// The deepest nesting of sequences and mappings: 128 (real ones nest
/// fewer than ten levels). Deeper input is refused before a tree is built,
/// as building, converting and dropping it recurse once per level.
pub const MAX_DEPTH: usize = 128;

/// Refuses text larger than [`MAX_SIZE`] or nested deeper than
/// [`MAX_DEPTH`], in one pass over the parser's events. Syntax errors are
/// left to the loader, which reports them with more context.
fn check_limits(text: &str) -> Result<(), SpecError> {
    if text.len() > MAX_SIZE {
        return Err(SpecError::new(
            Pos::new(1, 1),
            format!("the spec is {} bytes, more than the limit of {MAX_SIZE}", text.len()),
            "a spec is a few kilobytes of YAML: is this the right file?",
        ));
    }
    let mut depth = 0usize;
    for event in saphyr_parser::Parser::new_from_str(text) {
        let Ok((event, span)) = event else { return Ok(()) };
        match event {
            saphyr_parser::Event::SequenceStart(..) | saphyr_parser::Event::MappingStart(..) => {
                depth += 1;
                if depth > MAX_DEPTH {
                    return Err(SpecError::new(
                        Pos::new(span.start.line(), span.start.col() + 1),
                        format!("the YAML nests deeper than {MAX_DEPTH} levels here"),
                        "flatten the structure: no field of a spec nests this deep",
                    ));
                }
            }
            saphyr_parser::Event::SequenceEnd | saphyr_parser::Event::MappingEnd => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

pub use strata_frontend_api::read_bounded;

/// Parses one YAML document.
pub fn load(text: &str) -> Result<Node, SpecError> {
    check_limits(text)?;
    let mut loader: YamlLoader<'_, MarkedYamlOwned> = YamlLoader::default();
    loader.early_parse(false);
    let mut parser = saphyr_parser::Parser::new_from_str(text);
    let scan = parser.load(&mut loader, true);
    if let Some(e) = scan.err().or_else(|| loader.error().cloned()) {
        let m = e.marker();
        let hint = if e.info().contains("duplicated key") {
            "a key appears twice in this mapping: keep one of them"
        } else {
            "fix the YAML syntax here (indentation, quoting, a missing ':'); an unclosed '[', '{' or quote above shows up here too"
        };
        return Err(SpecError::new(Pos::new(m.line(), m.col() + 1), format!("invalid YAML: {}", e.info()), hint));
    }
    let mut docs = loader.into_documents();
    match docs.len() {
        0 => {
            Err(SpecError::new(Pos::new(1, 1), "the spec is empty", "an spk spec is a YAML mapping with a 'pkg:' key"))
        }
        1 => convert(docs.remove(0)),
        _ => Err(SpecError::new(
            Pos::new(1, 1),
            "the spec holds more than one YAML document",
            "remove the '---' separators",
        )),
    }
}

fn convert(node: MarkedYamlOwned) -> Result<Node, SpecError> {
    let pos = Pos::new(node.span.start.line(), node.span.start.col() + 1);
    let kind = match node.data {
        YamlDataOwned::Representation(text, style, tag) => {
            let core_str = tag.as_ref().is_some_and(|t| t.is_yaml_core_schema() && t.suffix == "str");
            Kind::Scalar { text, plain: style == ScalarStyle::Plain && !core_str }
        }
        YamlDataOwned::Value(v) => {
            let text = match v {
                saphyr::ScalarOwned::Null => "null".to_string(),
                saphyr::ScalarOwned::Boolean(b) => b.to_string(),
                saphyr::ScalarOwned::Integer(i) => i.to_string(),
                saphyr::ScalarOwned::FloatingPoint(f) => f.to_string(),
                saphyr::ScalarOwned::String(s) => s,
            };
            Kind::Scalar { text, plain: true }
        }
        YamlDataOwned::Sequence(items) => Kind::Seq(items.into_iter().map(convert).collect::<Result<_, _>>()?),
        YamlDataOwned::Mapping(map) => {
            let mut entries = Vec::with_capacity(map.len());
            for (k, v) in map {
                entries.push((convert(k)?, convert(v)?));
            }
            Kind::Map(entries)
        }
        YamlDataOwned::Tagged(_, inner) => return convert(*inner).map(|n| Node { pos, ..n }),
        YamlDataOwned::Alias(_) | YamlDataOwned::BadValue => {
            return Err(SpecError::new(
                pos,
                "this value cannot be read (an unknown alias or a bad tag)",
                "write the value out",
            ));
        }
    };
    Ok(Node { pos, kind })
}

impl Node {
    /// What the node is, for messages.
    pub fn describe(&self) -> &'static str {
        match &self.kind {
            Kind::Seq(_) => "a list",
            Kind::Map(_) => "a mapping",
            Kind::Scalar { plain: false, .. } => "a string",
            Kind::Scalar { text, plain: true } => match resolve_plain(text) {
                Scalar::Null => "nothing (null)",
                Scalar::Bool(_) => "a boolean",
                Scalar::Int(_) | Scalar::Float(_) => "a number",
                Scalar::Str => "a string",
            },
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(&self.kind, Kind::Scalar { text, plain: true } if resolve_plain(text) == Scalar::Null)
    }

    /// A scalar as the string spk's serde would make of it: numbers through
    /// Rust's formatting (`3.10` → `3.1`), booleans as `true`/`false`.
    pub fn as_string(&self) -> Option<String> {
        let Kind::Scalar { text, plain } = &self.kind else { return None };
        if !plain {
            return Some(text.clone());
        }
        Some(match resolve_plain(text) {
            Scalar::Null => String::new(),
            Scalar::Bool(b) => b.to_string(),
            Scalar::Int(i) => i.to_string(),
            Scalar::Float(f) => f.to_string(),
            Scalar::Str => text.clone(),
        })
    }

    /// A boolean, `None` when the node is not one.
    pub fn as_bool(&self) -> Option<bool> {
        match &self.kind {
            Kind::Scalar { text, plain: true } => match resolve_plain(text) {
                Scalar::Bool(b) => Some(b),
                _ => None,
            },
            _ => None,
        }
    }

    pub fn as_map(&self) -> Option<&[(Node, Node)]> {
        match &self.kind {
            Kind::Map(m) => Some(m),
            _ => None,
        }
    }

    pub fn as_seq(&self) -> Option<&[Node]> {
        match &self.kind {
            Kind::Seq(s) => Some(s),
            _ => None,
        }
    }

    /// The key's text of a mapping entry.
    pub fn key_text(&self) -> String {
        self.as_string().unwrap_or_default()
    }

    /// The value at `key` of a mapping.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.as_map()?.iter().find(|(k, _)| k.key_text() == key).map(|(_, v)| v)
    }

    /// An error at this node.
    pub fn error(&self, message: impl Into<String>, hint: impl Into<String>) -> SpecError {
        SpecError::new(self.pos, message, hint)
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn hostile_yaml_is_refused_in_bounded_time() {
        let deep_flow = "a: ".to_string() + &"[".repeat(100_000);
        let deep_block: String = (0..2000).map(|i| format!("{}- \n", "  ".repeat(i))).collect();
        let deep_map: String = (0..2000).map(|i| format!("{}k:\n", " ".repeat(i))).collect();
        for (text, want) in [
            (deep_flow, "invalid YAML"),
            (deep_block, "nests deeper than 128 levels"),
            (deep_map, "nests deeper than 128 levels"),
            ("x".repeat(MAX_SIZE + 1), "more than the limit"),
        ] {
            let e = load(&text).unwrap_err();
            assert!(e.to_string().contains(want), "{want}: {e}");
        }
        // A billion laughs: aliases are refused, never expanded.
        let mut laughs = String::from("a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
        for i in 1..10 {
            let p = i - 1;
            laughs.push_str(&format!("a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"));
        }
        let t = std::time::Instant::now();
        let e = load(&laughs).unwrap_err();
        assert!(e.to_string().contains("alias"), "{e}");
        assert!(t.elapsed().as_secs() < 5, "took {:?}", t.elapsed());
    }
    use super::*;

    #[test]
    fn numbers_become_strings_the_way_spk_formats_them() {
        let n = load("python: 3.10\ngcc: 6.0\ncount: 010\nname: on\nq: '3.10'\n").unwrap();
        assert_eq!(n.get("python").unwrap().as_string().unwrap(), "3.1");
        assert_eq!(n.get("gcc").unwrap().as_string().unwrap(), "6");
        assert_eq!(n.get("count").unwrap().as_string().unwrap(), "10");
        assert_eq!(n.get("name").unwrap().as_string().unwrap(), "on", "YAML 1.2: on is a string");
        assert_eq!(n.get("q").unwrap().as_string().unwrap(), "3.10", "quoted text is kept");
    }

    #[test]
    fn every_node_and_key_has_a_line_and_column() {
        let n = load("pkg: a/1\nbuild:\n  script: [x, 'y']\n").unwrap();
        let b = n.get("build").unwrap();
        let (k, v) = &b.as_map().unwrap()[0];
        assert_eq!(k.pos, Pos::new(3, 3));
        assert_eq!(v.as_seq().unwrap()[1].pos, Pos::new(3, 15));
    }

    #[test]
    fn syntax_errors_point_at_a_line() {
        let e = load("pkg: a/1\nbuild: [unclosed\n").unwrap_err();
        assert!(e.pos.line >= 2 && e.message.starts_with("invalid YAML"), "{e:?}");
    }
}
