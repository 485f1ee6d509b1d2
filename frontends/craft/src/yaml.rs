//! YAML with a position on every node, and the scalar rules craft-parts
//! sees through PyYAML.
//!
//! Why saphyr: it is the maintained successor of yaml-rust/yaml-rust2, pure
//! Rust (no libyaml), YAML 1.2, and its `MarkedYamlOwned` keeps a span on
//! every node *and every mapping key*. Errors found long after parsing —
//! `after:` naming a missing part, a cycle, a plugin key on the wrong plugin
//! — still point at a line and column. serde-based crates (`serde_yaml_ng`,
//! `serde_norway`) only locate errors raised while deserializing.
//!
//! Scalars are loaded unresolved (`early_parse(false)`): this module decides
//! what a plain `yes` or `1.10` means for the field it lands in, keeping the
//! source text of numbers given to string fields (PyYAML would turn `1.10`
//! into `1.1`; see docs/craft-differences.md).

use saphyr::{MarkedYamlOwned, ScalarStyle, YamlDataOwned, YamlLoader};

use crate::error::{Pos, SpecError};

/// A YAML node with the position where it starts.
#[derive(Debug, Clone)]
pub struct Node {
    pub pos: Pos,
    pub kind: Kind,
}

#[derive(Debug, Clone)]
pub enum Kind {
    /// A scalar's text; `plain` is false for quoted and block scalars and
    /// for `!!str`-tagged ones.
    Scalar {
        text: String,
        plain: bool,
    },
    Seq(Vec<Node>),
    /// Entries in file order (duplicate keys are a load error).
    Map(Vec<(Node, Node)>),
}

/// The largest project file read: 16 MiB (real ones are a few kilobytes).
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
            format!("the project file is {} bytes, more than the limit of {MAX_SIZE}", text.len()),
            "a project file is a few kilobytes of YAML: is this the right file?",
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
                        "flatten the structure: no field of a project file nests this deep",
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
    let err = scan.err().or_else(|| loader.error().cloned());
    if let Some(e) = err {
        let m = e.marker();
        let help = if e.info().contains("duplicated key") {
            "a key appears twice in this mapping: keep one of them"
        } else {
            "fix the YAML syntax here (indentation, quoting, a missing ':'); an unclosed '[', '{' or quote above shows up here too"
        };
        return Err(SpecError::new(Pos::new(m.line(), m.col() + 1), format!("invalid YAML: {}", e.info()), help));
    }
    let mut docs = loader.into_documents();
    match docs.len() {
        0 => Err(SpecError::new(
            Pos::new(1, 1),
            "the file is empty",
            "a project file is a YAML mapping with at least a 'parts:' key",
        )),
        1 => convert(docs.remove(0)),
        _ => Err(SpecError::new(
            Pos::new(1, 1),
            "the file holds more than one YAML document",
            "keep one document: remove the '---' separators",
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
            // Only reached for nodes the loader builds itself; keep the text.
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
                "write the value out instead of using an alias or a '!!' tag",
            ));
        }
    };
    Ok(Node { pos, kind })
}

/// What PyYAML (YAML 1.1, which craft-parts uses) makes of a plain scalar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolved {
    Null,
    Bool(bool),
    Int,
    Float,
    Str,
}

/// Resolves a plain scalar the way PyYAML's `SafeLoader` does.
pub fn resolve_plain(text: &str) -> Resolved {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Resolved::Null,
        "yes" | "Yes" | "YES" | "true" | "True" | "TRUE" | "on" | "On" | "ON" => return Resolved::Bool(true),
        "no" | "No" | "NO" | "false" | "False" | "FALSE" | "off" | "Off" | "OFF" => return Resolved::Bool(false),
        _ => {}
    }
    let t = text.strip_prefix(['-', '+']).unwrap_or(text);
    let t = t.replace('_', "");
    if t.is_empty() {
        return Resolved::Str;
    }
    let is_int = t.bytes().all(|b| b.is_ascii_digit())
        || t.strip_prefix("0x").is_some_and(|h| !h.is_empty() && h.bytes().all(|b| b.is_ascii_hexdigit()))
        || t.strip_prefix("0b").is_some_and(|h| !h.is_empty() && h.bytes().all(|b| b == b'0' || b == b'1'));
    if is_int {
        return Resolved::Int;
    }
    if matches!(t.as_str(), ".inf" | ".Inf" | ".INF" | ".nan" | ".NaN" | ".NAN") {
        return Resolved::Float;
    }
    // [0-9][0-9_]*)?\.[0-9_]*([eE][-+][0-9]+)?
    let (mantissa, exp) = match t.find(['e', 'E']) {
        Some(i) => (&t[..i], Some(&t[i + 1..])),
        None => (t.as_str(), None),
    };
    let exp_ok = exp.is_none_or(|e| {
        e.strip_prefix(['-', '+']).is_some_and(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
    });
    if let Some((int, frac)) = mantissa.split_once('.')
        && exp_ok
        && int.bytes().all(|b| b.is_ascii_digit())
        && frac.bytes().all(|b| b.is_ascii_digit())
        && !(int.is_empty() && frac.is_empty())
    {
        return Resolved::Float;
    }
    Resolved::Str
}

impl Node {
    pub fn describe(&self) -> &'static str {
        match &self.kind {
            Kind::Seq(_) => "a list",
            Kind::Map(_) => "a mapping",
            Kind::Scalar { plain: false, .. } => "a string",
            Kind::Scalar { text, plain: true } => match resolve_plain(text) {
                Resolved::Null => "nothing (null)",
                Resolved::Bool(_) => "a boolean",
                Resolved::Int => "an integer",
                Resolved::Float => "a number",
                Resolved::Str => "a string",
            },
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(&self.kind, Kind::Scalar { text, plain: true } if resolve_plain(text) == Resolved::Null)
    }

    /// The scalar's text, whatever it resolves to.
    pub fn scalar_text(&self) -> Option<&str> {
        match &self.kind {
            Kind::Scalar { text, .. } => Some(text),
            _ => None,
        }
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
    fn plain_scalars_resolve_like_pyyaml() {
        assert_eq!(resolve_plain("yes"), Resolved::Bool(true));
        assert_eq!(resolve_plain("Off"), Resolved::Bool(false));
        assert_eq!(resolve_plain("~"), Resolved::Null);
        assert_eq!(resolve_plain("42"), Resolved::Int);
        assert_eq!(resolve_plain("1.10"), Resolved::Float);
        assert_eq!(resolve_plain("1.2.3"), Resolved::Str);
        assert_eq!(resolve_plain("6.0e-3"), Resolved::Float);
        assert_eq!(resolve_plain("6e-3"), Resolved::Str, "YAML 1.1 floats need a dot");
        assert_eq!(resolve_plain("-"), Resolved::Str);
        assert_eq!(resolve_plain("usr/bin"), Resolved::Str);
    }

    #[test]
    fn nodes_know_their_line_and_column() {
        let n = load("parts:\n  a:\n    plugin: nil\n    after: [b, 'c']\n").unwrap();
        let Kind::Map(top) = &n.kind else { panic!() };
        let Kind::Map(parts) = &top[0].1.kind else { panic!() };
        let Kind::Map(a) = &parts[0].1.kind else { panic!() };
        assert_eq!((a[1].0.pos.line, a[1].0.pos.col), (4, 5));
        let Kind::Seq(after) = &a[1].1.kind else { panic!() };
        assert_eq!((after[1].pos.line, after[1].pos.col), (4, 16));
        assert!(matches!(&after[1].kind, Kind::Scalar { plain: false, .. }));
    }

    #[test]
    fn syntax_errors_have_a_position() {
        let e = load("parts:\n  a: [unclosed\n").unwrap_err();
        assert!(e.pos.line >= 2, "{e:?}");
        assert!(e.message.starts_with("invalid YAML"));
        let e = load("parts:\n  a: 1\n  a: 2\n").unwrap_err();
        assert!(e.message.contains("invalid YAML"), "{e:?}");
    }
}
