//! Tera rendering, which spk applies to every spec before parsing it
//! (reference §1.1): the context has `spk.version`, `opt` (the option map,
//! namespaced names nested: `opt.python.abi`) and `env`; the extra filters
//! are `default_opts`, `compare_version`, `parse_version` and
//! `replace_regex`.
//!
//! Rendering is bounded (macro recursion, `range`, time): see [`limits`].
//!
//! `env` is the environment strata is given for the spec (empty unless the
//! user passes variables through): spk leaks the caller's whole
//! environment, strata does not (docs/spk-differences.md).

use std::collections::{BTreeMap, HashMap};

use tera::{Context, Tera, Value};

use crate::error::{Pos, SpecError};
use crate::version::{Version, VersionRange};

pub mod limits;

/// The spk version the templates see (`spk.version`): the one the
/// reference was read from.
pub const SPK_VERSION: &str = "0.44.0";

/// Renders `text` with `opts` (flat names, `ns.name` nested) and `env`.
pub fn render(
    text: &str,
    opts: &BTreeMap<String, String>,
    env: &BTreeMap<String, String>,
) -> Result<String, SpecError> {
    if !text.contains("{{") && !text.contains("{%") && !text.contains("{#") {
        return Ok(text.to_string());
    }
    let timeout = limits::timeout()
        .map_err(|m| SpecError::new(Pos::new(1, 1), m, "give the template timeout in seconds, e.g. 30"))?;
    let mut ctx = Context::new();
    ctx.insert("spk", &serde_json::json!({ "version": SPK_VERSION }));
    ctx.insert("opt", &nest(opts));
    ctx.insert("env", env);
    let owned = text.to_string();
    // Parsing and rendering both recurse per nesting level: on the
    // renderer's thread, with its large stack, under the deadline.
    let rendered = limits::with_deadline(timeout, move || -> Result<String, Refusal> {
        let mut tera = Tera::default();
        tera.autoescape_on(vec![]);
        tera.register_filter("default_opts", default_opts);
        tera.register_filter("compare_version", compare_version);
        tera.register_filter("parse_version", parse_version);
        tera.register_filter("replace_regex", replace_regex);
        limits::bounded_range(&mut tera);
        let ast = tera::Template::new("spec", None, &owned).map_err(Refusal::Tera)?.ast;
        limits::check_macros(&ast).map_err(Refusal::Limit)?;
        tera.add_raw_template("spec", &owned).map_err(Refusal::Tera)?;
        tera.render("spec", &ctx).map_err(Refusal::Tera)
    });
    match rendered {
        Ok(Ok(out)) => Ok(out),
        Ok(Err(Refusal::Tera(e))) => Err(template_error(text, &e)),
        Ok(Err(Refusal::Limit(m))) | Err(m) => Err(SpecError::new(
            Pos::new(1, 1),
            format!("the spec's template cannot be rendered: {m}"),
            "spk renders the spec with Tera first: keep its loops and macros finite (limits: docs/spk-differences.md)",
        )),
    }
}

/// Why a render failed: Tera's error, or one of strata's limits.
enum Refusal {
    Tera(tera::Error),
    Limit(String),
}

/// `{"python.abi": "cp37m"}` → `{"python": {"abi": "cp37m"}}`; a name that
/// is both a value and a namespace keeps its value.
fn nest(opts: &BTreeMap<String, String>) -> Value {
    let mut root = serde_json::Map::new();
    for (k, v) in opts {
        match k.split_once('.') {
            Some((ns, name)) => {
                let e = root.entry(ns.to_string()).or_insert_with(|| Value::Object(Default::default()));
                if let Value::Object(m) = e {
                    m.insert(name.to_string(), Value::String(v.clone()));
                }
            }
            None => {
                root.insert(k.clone(), Value::String(v.clone()));
            }
        }
    }
    Value::Object(root)
}

/// A template error: Tera's whole chain of causes, at the line it names
/// when it names one.
fn template_error(text: &str, e: &tera::Error) -> SpecError {
    let mut msg = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        src = s.source();
    }
    let msg = msg.replace("'spec'", "the spec");
    // Tera's parse errors carry ` --> L:C`.
    let pos = msg
        .split("--> ")
        .nth(1)
        .and_then(|r| {
            let mut it = r.split(|c: char| !c.is_ascii_digit()).filter(|s| !s.is_empty());
            Some(Pos::new(it.next()?.parse().ok()?, it.next()?.parse().ok()?))
        })
        .unwrap_or_else(|| Pos::new(1, 1));
    let _ = text;
    SpecError::new(
        pos,
        format!("the spec's template cannot be rendered: {msg}"),
        "spk renders the spec with Tera first: check the {{ }} and {% %} blocks (opt.NAME needs the option set: give it with -X opt=NAME=VALUE or use default_opts)",
    )
}

/// `opt | default_opts(name=value, ...)`: the map with the names it lacks set.
fn default_opts(value: &Value, args: &HashMap<String, Value>) -> tera::Result<Value> {
    let mut map = match value {
        Value::Object(m) => m.clone(),
        _ => return Err("default_opts applies to the option map (opt)".into()),
    };
    for (k, v) in args {
        let v = match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        map.entry(k.clone()).or_insert(Value::String(v));
    }
    Ok(Value::Object(map))
}

fn string_arg(args: &HashMap<String, Value>, name: &str, filter: &str) -> tera::Result<String> {
    match args.get(name) {
        Some(Value::String(s)) => Ok(s.clone()),
        Some(v) => Ok(v.to_string()),
        None => Err(format!("{filter} needs the argument {name}=...").into()),
    }
}

fn value_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        v => v.to_string(),
    }
}

/// `version | compare_version(op=">=", rhs="1.2")`, or `op=">=1.2"` alone.
fn compare_version(value: &Value, args: &HashMap<String, Value>) -> tera::Result<Value> {
    let op = string_arg(args, "op", "compare_version")?;
    let range = match args.get("rhs") {
        Some(r) => format!("{op}{}", value_text(r)),
        None => op,
    };
    let v = Version::parse(&value_text(value)).map_err(|e| tera::Error::msg(e.to_string()))?;
    let r = VersionRange::parse(&range).map_err(|e| tera::Error::msg(e.to_string()))?;
    Ok(Value::Bool(r.contains(&v)))
}

/// `version | parse_version` (the version as spk prints it) or with
/// `field=base|major|minor|patch|parts[i]|pre.TAG|post.TAG`.
fn parse_version(value: &Value, args: &HashMap<String, Value>) -> tera::Result<Value> {
    let v = Version::parse(&value_text(value)).map_err(|e| tera::Error::msg(e.to_string()))?;
    let Some(field) = args.get("field").map(value_text) else {
        return Ok(Value::String(v.to_string()));
    };
    let part = |i: usize| Value::from(v.parts.get(i).copied().unwrap_or(0));
    Ok(match field.as_str() {
        "base" => Value::String(v.base()),
        "major" => part(0),
        "minor" => part(1),
        "patch" => part(2),
        f => {
            if let Some(i) = f.strip_prefix("parts[").and_then(|r| r.strip_suffix(']')) {
                part(i.parse().map_err(|_| tera::Error::msg(format!("bad field {f}")))?)
            } else if let Some(t) = f.strip_prefix("pre.") {
                v.pre.iter().find(|(n, _)| n == t).map(|(_, n)| Value::from(*n)).unwrap_or(Value::Null)
            } else if let Some(t) = f.strip_prefix("post.") {
                v.post.iter().find(|(n, _)| n == t).map(|(_, n)| Value::from(*n)).unwrap_or(Value::Null)
            } else {
                return Err(format!("parse_version has no field '{f}'").into());
            }
        }
    })
}

/// `text | replace_regex(from="(\d+)", to="v$1")`.
fn replace_regex(value: &Value, args: &HashMap<String, Value>) -> tera::Result<Value> {
    let from = string_arg(args, "from", "replace_regex")?;
    let to = string_arg(args, "to", "replace_regex")?;
    let re = regex::Regex::new(&from).map_err(|e| tera::Error::msg(e.to_string()))?;
    Ok(Value::String(re.replace_all(&value_text(value), to.as_str()).into_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(kv: &[(&str, &str)]) -> BTreeMap<String, String> {
        kv.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn python3s_header_sets_a_default_and_derives_the_abi() {
        let t = "# {% set opt = opt | default_opts(version=\"3.7.3\") %}\n\
                 # {% set cpXX = opt.version | replace_regex(from=\"(\\d+)\\.(\\d+).*\", to=\"cp$1$2\") %}\n\
                 pkg: python/{{ opt.version }}\nabi: {{cpXX}}m\n";
        let out = render(t, &BTreeMap::new(), &BTreeMap::new()).unwrap();
        assert!(out.contains("pkg: python/3.7.3\nabi: cp37m\n"), "{out}");
        let out = render(t, &opts(&[("version", "3.9.1")]), &BTreeMap::new()).unwrap();
        assert!(out.contains("pkg: python/3.9.1\nabi: cp39m\n"), "a given option beats the default: {out}");
    }

    #[test]
    fn namespaced_options_nest_and_env_is_what_it_is_given() {
        let env = opts(&[("USER", "ci")]);
        let out = render("a: {{ opt.python.abi }}-{{ env.USER }}", &opts(&[("python.abi", "cp37m")]), &env).unwrap();
        assert_eq!(out, "a: cp37m-ci");
    }

    #[test]
    fn version_filters() {
        let out = render(
            "{{ '3.7.3' | parse_version(field='minor') }} {{ '3.7.3' | compare_version(op='>=', rhs='3.7') }} {{ '1.2.3' | parse_version(field='base') }}",
            &BTreeMap::new(),
            &BTreeMap::new(),
        )
        .unwrap();
        assert_eq!(out, "7 true 1.2.3");
    }

    #[test]
    fn an_unset_option_is_an_error_with_a_hint() {
        let e = render("pkg: a/{{ opt.nothing }}", &BTreeMap::new(), &BTreeMap::new()).unwrap_err();
        assert!(e.message.contains("cannot be rendered"), "{e:?}");
        assert!(e.hint.contains("default_opts"));
    }
}
