//! Plugins as data: each plugin's own YAML keys, the Debian packages it
//! needs, its build environment and its build commands, as craft-parts
//! 2.37.2 generates them (`craft_parts/plugins/*.py`), with container paths
//! (`crate::dirs`).
//!
//! The build packages are craft-parts' own list, and on top of it, for the
//! plugins that compile native code ([`PluginDef::compiles_native`]),
//! [`DEBIAN_TOOLCHAIN`]: rockcraft builds in an instance that has
//! `build-essential`, strata in a Debian minbase with nothing, and apt there
//! installs without recommends (so `gcc` alone has no C library headers).
//! The completion is added in one place, [`PluginDef::plan`]; the plugin
//! modules keep craft-parts' lists as they are (but for rust's snap, see
//! `rust.rs`).
//!
//! Commands refer to `${CRAFT_PARALLEL_BUILD_COUNT}` where craft-parts
//! writes the number: a [`strata_frontend_api::Project`] does not depend on the
//! builder's core count, and [`crate::env::expand_globals`] turns the text
//! into craft-parts' own (`make -j"4"`). `tests/fixtures/plugins/` holds
//! craft-parts' output for a table of options, which the tests compare with.

use std::collections::BTreeMap;

use strata_frontend_api::{Base, BuildPlan, OptionValue, RequiredCommand};

use crate::dirs::PartDirs;

mod autotools;
mod cmake;
mod dump;
mod go;
mod make;
mod meson;
mod nil;
mod npm;
pub mod python;
mod rust;

/// The type of a plugin key's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyType {
    Bool,
    String,
    /// A list of strings.
    List,
    /// A list of strings without duplicates.
    UniqueList,
}

/// One plugin-specific key.
#[derive(Debug, Clone, Copy)]
pub struct KeySpec {
    pub name: &'static str,
    pub ty: KeyType,
}

const fn key(name: &'static str, ty: KeyType) -> KeySpec {
    KeySpec { name, ty }
}

/// A plugin: its keys and how it turns a part into a [`BuildPlan`].
pub struct PluginDef {
    pub name: &'static str,
    /// Keys of its own (all prefixed with `<name>-`).
    pub keys: &'static [KeySpec],
    /// Whether a part with this plugin must have a `source`.
    pub needs_source: bool,
    /// Whether it builds out of the source tree (no copy of src into build).
    pub out_of_source: bool,
    /// Plugin-specific `build-attributes` it supports.
    pub build_attributes: &'static [&'static str],
    /// Whether its build compiles C or C++, itself (make, autotools, cmake,
    /// meson) or through the language's tools (cgo, cargo build scripts and
    /// linking, pip building extensions, node-gyp): then its build packages
    /// get [`DEBIAN_TOOLCHAIN`] added to craft-parts' list.
    pub compiles_native: bool,
    plan: fn(&PluginInput<'_>) -> Result<BuildPlan, PluginError>,
}

/// Whose plugins a project gets. rockcraft registers plugins of its own
/// over craft-parts' for rock projects (`rockcraft.yaml`, `*.rockcraft.yaml`),
/// per build base (`plugins/python_common.py`, `get_python_plugins`); today
/// only `python` differs (`python.rs`). Other project files (`parts.yaml`,
/// `strata.yaml`) get craft-parts' plugins as they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavour {
    CraftParts,
    /// A rock: whether its runtime base is `bare`, and whether its build
    /// base is one of the Ubuntu releases rockcraft gives its v1 plugins
    /// (20.04, 22.04, 24.04; [`crate::usrmerge::is_legacy_ubuntu`]). Any
    /// other build base, Debian's included, gets the v2 plugins.
    Rockcraft {
        bare: bool,
        legacy: bool,
    },
}

impl Flavour {
    /// The flavour of a project file named `spec_file` over the runtime
    /// base `base`, built in `build_base`.
    pub fn of(spec_file: &str, base: &Base, build_base: &str) -> Flavour {
        if Flavour::is_rock(spec_file) {
            Flavour::Rockcraft { bare: *base == Base::Bare, legacy: crate::usrmerge::is_legacy_ubuntu(build_base) }
        } else {
            Flavour::CraftParts
        }
    }

    /// Whether a project file named `spec_file` is a rock's.
    pub fn is_rock(spec_file: &str) -> bool {
        spec_file == "rockcraft.yaml" || spec_file.ends_with(".rockcraft.yaml")
    }
}

/// Everything a plugin sees of its part.
pub struct PluginInput<'a> {
    pub part: &'a str,
    pub flavour: Flavour,
    pub dirs: PartDirs,
    /// The plugin keys given, by name.
    pub options: &'a BTreeMap<String, OptionValue>,
    pub after: &'a [String],
    pub disable_parallel: bool,
    pub build_attributes: &'a [String],
}

impl PluginInput<'_> {
    pub fn list(&self, key: &str) -> Vec<String> {
        match self.options.get(key) {
            Some(OptionValue::List(l)) => l.clone(),
            _ => Vec::new(),
        }
    }

    pub fn list_or(&self, key: &str, default: &[&str]) -> Vec<String> {
        match self.options.get(key) {
            Some(OptionValue::List(l)) => l.clone(),
            _ => default.iter().map(|s| s.to_string()).collect(),
        }
    }

    pub fn string(&self, key: &str) -> Option<&str> {
        match self.options.get(key) {
            Some(OptionValue::String(s)) => Some(s),
            _ => None,
        }
    }

    pub fn flag(&self, key: &str) -> bool {
        matches!(self.options.get(key), Some(OptionValue::Bool(true)))
    }

    pub fn has_after(&self, part: &str) -> bool {
        self.after.iter().any(|a| a == part)
    }
}

/// A plugin option that craft-parts (or strata) rejects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginError {
    /// The key to point at; `None` points at `plugin:`.
    pub key: Option<&'static str>,
    pub message: String,
    pub help: String,
}

impl PluginError {
    fn new(key: Option<&'static str>, message: impl Into<String>, help: impl Into<String>) -> PluginError {
        PluginError { key, message: message.into(), help: help.into() }
    }
}

/// strata's completion of the build packages of a plugin that compiles
/// native code: the compiler toolchain of Debian's `build-essential` (its
/// dependencies less `dpkg-dev`, which is packaging tools and perl, not
/// compiling), which rockcraft's build instance has (craft-providers installs
/// `build-essential` in its Ubuntu build instances by default) and a Debian
/// minbase does not. craft-parts lists `gcc` (and sometimes `make`) and relies
/// on that instance for the rest; Debian's `gcc` only recommends `libc6-dev`,
/// and strata installs without recommends, so `stdio.h` would be missing. `g++`
/// because every one of these may compile C++ (a CMake `project()` without
/// `LANGUAGES` fails without a C++ compiler, node-gyp builds C++ addons).
pub const DEBIAN_TOOLCHAIN: &[&str] = &["g++", "gcc", "libc6-dev", "make"];

/// The plugins strata knows, by name.
pub const PLUGINS: &[&PluginDef] = &[
    &autotools::DEF,
    &cmake::DEF,
    &dump::DEF,
    &go::DEF,
    &make::DEF,
    &meson::DEF,
    &nil::DEF,
    &npm::DEF,
    &python::DEF,
    &rust::DEF,
];

/// craft-parts plugins strata does not implement (yet): named so the error
/// says so instead of "unknown plugin".
pub const UNSUPPORTED_PLUGINS: &[&str] = &[
    "ant",
    "bazel",
    "cargo-use",
    "colcon",
    "dotnet",
    "go-use",
    "gradle",
    "gradle-use",
    "jlink",
    "maven",
    "maven-use",
    "npm-use",
    "poetry",
    "qmake",
    "ruby",
    "scons",
    "uv",
];

pub fn plugin(name: &str) -> Option<&'static PluginDef> {
    PLUGINS.iter().copied().find(|p| p.name == name)
}

/// The plugin whose keys `key` belongs to, if it belongs to one: a key is a
/// plugin's when it starts with `<plugin>-` (craft-parts' rule).
pub fn owner_of_key(key: &str) -> Option<&'static PluginDef> {
    PLUGINS.iter().copied().find(|p| key.strip_prefix(p.name).is_some_and(|rest| rest.starts_with('-')))
}

impl PluginDef {
    pub fn key(&self, name: &str) -> Option<&KeySpec> {
        self.keys.iter().find(|k| k.name == name)
    }

    /// The build plan for a part using this plugin: craft-parts' plan, with
    /// [`DEBIAN_TOOLCHAIN`] added to the build packages of a plugin that
    /// compiles native code.
    pub fn plan(&self, input: &PluginInput<'_>) -> Result<BuildPlan, PluginError> {
        let mut plan = (self.plan)(input)?;
        plan.out_of_source = self.out_of_source;
        if self.compiles_native {
            plan.build_packages.extend(strings(DEBIAN_TOOLCHAIN));
        }
        plan.build_packages.sort();
        plan.build_packages.dedup();
        Ok(plan)
    }
}

fn required(command: &str, args: &str, part: &str, hint: &str) -> RequiredCommand {
    RequiredCommand {
        command: command.to_string(),
        args: args.to_string(),
        provided_by_part: part.to_string(),
        hint: hint.to_string(),
    }
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

fn env(pairs: &[(&str, String)]) -> Vec<(String, String)> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.clone())).collect()
}

/// Python's `shlex.quote`.
pub fn shlex_quote(s: &str) -> String {
    if s.is_empty() {
        return "''".to_string();
    }
    let safe = |c: char| c.is_ascii_alphanumeric() || "_@%+=:,./-".contains(c);
    if s.chars().all(safe) {
        return s.to_string();
    }
    format!("'{}'", s.replace('\'', "'\"'\"'"))
}

/// Python's `repr()` of a `str` (what craft-parts' `{x!r}` writes).
pub fn py_repr(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') { '"' } else { '\'' };
    let mut out = String::new();
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || c as u32 == 0x7f => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_matches_python() {
        assert_eq!(shlex_quote("--prefix=/usr"), "--prefix=/usr");
        assert_eq!(shlex_quote("-Dfoo=a b"), "'-Dfoo=a b'");
        assert_eq!(shlex_quote("-Dq='x'"), "'-Dq='\"'\"'x'\"'\"''");
        assert_eq!(py_repr("c.txt"), "'c.txt'");
        assert_eq!(py_repr("it's.txt"), "\"it's.txt\"");
        assert_eq!(py_repr("a'\"b"), "'a\\'\"b'");
    }

    #[test]
    fn plugin_keys_belong_to_their_plugin() {
        assert_eq!(owner_of_key("make-parameters").map(|p| p.name), Some("make"));
        assert_eq!(owner_of_key("npm-include-node").map(|p| p.name), Some("npm"));
        assert!(owner_of_key("source").is_none());
        assert!(owner_of_key("maker-x").is_none());
    }
}
