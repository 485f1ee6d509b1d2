//! The spec as data (`api: v0/package` and `v0/platform`) and its reader:
//! every field of reference §1–§6 that a build reads, with the position of
//! each item for later errors. spk ignores unknown keys; strata reports
//! each as a [`Warning`] (an error in strict mode, [`crate::load`]).

use std::collections::BTreeMap;

use crate::error::{Pos, SpecError, Warning};
use crate::version::Version;
use crate::yaml::{Kind, Node};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    Package,
    Platform,
}

/// A whole recipe.
#[derive(Debug, Clone, PartialEq)]
pub struct Spec {
    pub api: Api,
    pub name: String,
    pub version: Version,
    pub meta: Meta,
    pub compat: Option<String>,
    pub deprecated: bool,
    pub sources: Vec<SourceSpec>,
    pub build: BuildSpec,
    pub install: InstallSpec,
    pub tests: Vec<TestSpec>,
    /// Where `pkg:` (or `platform:`) is.
    pub pos: Pos,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Meta {
    pub description: Option<String>,
    pub homepage: Option<String>,
    pub license: Option<String>,
    pub labels: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SourceSpec {
    pub kind: SourceKind,
    pub subdir: Option<String>,
    pub pos: Pos,
}

#[derive(Debug, Clone, PartialEq)]
pub enum SourceKind {
    /// rsync of `path` with `filter` rules and `exclude` globs.
    Local {
        path: String,
        exclude: Vec<String>,
        filter: Vec<String>,
    },
    Git {
        url: String,
        reference: Option<String>,
        depth: u32,
    },
    Tar {
        tar: String,
    },
    Script {
        lines: Vec<String>,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct BuildSpec {
    pub script: Vec<String>,
    pub options: Vec<Opt>,
    pub variants: Vec<Variant>,
    pub validation: Vec<ValidationRule>,
    pub auto_host_vars: AutoHostVars,
}

impl Default for BuildSpec {
    fn default() -> BuildSpec {
        BuildSpec {
            script: vec!["sh ./build.sh".into()],
            options: Vec::new(),
            variants: Vec::new(),
            validation: Vec::new(),
            auto_host_vars: AutoHostVars::Distro,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AutoHostVars {
    Distro,
    Arch,
    Os,
    None,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inheritance {
    Weak,
    StrongForBuildOnly,
    Strong,
}

/// One `build.options` entry.
#[derive(Debug, Clone, PartialEq)]
pub enum Opt {
    Var(VarOpt),
    Pkg(PkgOpt),
}

#[derive(Debug, Clone, PartialEq)]
pub struct VarOpt {
    pub name: String,
    pub default: String,
    pub choices: Vec<String>,
    pub inheritance: Inheritance,
    pub static_value: String,
    pub description: Option<String>,
    pub required: bool,
    pub pos: Pos,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PkgOpt {
    pub name: String,
    pub components: Vec<String>,
    pub default: String,
    pub static_value: String,
    pub pos: Pos,
}

impl Opt {
    pub fn name(&self) -> &str {
        match self {
            Opt::Var(v) => &v.name,
            Opt::Pkg(p) => &p.name,
        }
    }

    pub fn pos(&self) -> Pos {
        match self {
            Opt::Var(v) => v.pos,
            Opt::Pkg(p) => p.pos,
        }
    }
}

/// One `build.variants` entry: `key: value` in file order.
#[derive(Debug, Clone, PartialEq)]
pub struct Variant {
    pub entries: Vec<(String, String)>,
    pub pos: Pos,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleMode {
    Allow,
    Deny,
    Require,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ValidationRule {
    pub mode: RuleMode,
    pub rule: String,
    pub packages: Vec<String>,
    pub action: Option<String>,
    pub pos: Pos,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct InstallSpec {
    pub requirements: Vec<Request>,
    pub environment: Vec<EnvOp>,
    /// Custom components, then `build` and `run` when missing.
    pub components: Vec<Component>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Request {
    Pkg {
        name: String,
        components: Vec<String>,
        range: String,
        if_already_present: bool,
        /// `fromBuildEnv`: the range is made from the version the build
        /// environment has, by this template (`Binary`, `API`, `x.x`, `~x.x`…).
        from_build_env: Option<String>,
        /// `ifPresentInBuildEnv`: a `fromBuildEnv` request whose package the
        /// build environment lacks is dropped (else it is an error).
        if_present_in_build_env: bool,
        pos: Pos,
    },
    Var {
        name: String,
        value: String,
        pos: Pos,
    },
}

/// An `install.environment` op (serialized as a published build's record has it).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EnvOp {
    Set { var: String, value: String },
    Append { var: String, value: String, separator: String },
    Prepend { var: String, value: String, separator: String },
    Comment(String),
    Priority(u8),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Component {
    pub name: String,
    pub files: Vec<String>,
    pub uses: Vec<String>,
    /// `file_match_mode: Remaining`: only paths no earlier component took.
    pub remaining: bool,
    pub requirements: Vec<Request>,
    pub pos: Pos,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TestSpec {
    pub stage: String,
    pub script: Vec<String>,
    pub selectors: Vec<Variant>,
    pub requirements: Vec<Request>,
    pub pos: Pos,
}

/// Reads a rendered spec; warnings gather in `warnings`.
pub struct Reader<'w> {
    pub warnings: &'w mut Vec<Warning>,
}

type R<T> = Result<T, SpecError>;

/// The name rule of packages and components: `[a-z0-9-]`, 2–64 chars, not
/// starting with `-`.
pub fn valid_pkg_name(n: &str) -> bool {
    (2..=64).contains(&n.len())
        && !n.starts_with('-')
        && n.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// Option names: `[a-z0-9_-]`, 2–64 chars, optionally `ns.name`.
pub fn valid_opt_name(n: &str) -> bool {
    let ok = |s: &str| {
        (2..=64).contains(&s.len())
            && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
    };
    match n.split_once('.') {
        Some((ns, name)) => valid_pkg_name(ns) && ok(name),
        None => ok(n),
    }
}

impl Reader<'_> {
    /// The mapping at `node` with its keys checked against `known`.
    fn map<'n>(&mut self, node: &'n Node, what: &str, known: &[&str]) -> R<&'n [(Node, Node)]> {
        let m = node
            .as_map()
            .ok_or_else(|| node.error(format!("{what} must be a mapping, not {}", node.describe()), ""))?;
        for (k, _) in m {
            let key = k.key_text();
            if !known.contains(&key.as_str()) {
                let hint = close_match(&key, known).map(|c| format!(" (did you mean '{c}'?)")).unwrap_or_default();
                self.warnings.push(Warning {
                    pos: k.pos,
                    message: format!(
                        "unknown key '{key}' in {what} is ignored{hint}; known keys: {}",
                        known.join(", ")
                    ),
                });
            }
        }
        Ok(m)
    }

    fn string(&self, node: &Node, what: &str) -> R<String> {
        node.as_string().ok_or_else(|| node.error(format!("{what} must be a string, not {}", node.describe()), ""))
    }

    fn opt_string(&self, node: Option<&Node>, what: &str) -> R<Option<String>> {
        match node {
            None => Ok(None),
            Some(n) if n.is_null() => Ok(None),
            Some(n) => self.string(n, what).map(Some),
        }
    }

    fn bool(&self, node: Option<&Node>, what: &str) -> R<bool> {
        match node {
            None => Ok(false),
            Some(n) => {
                n.as_bool().ok_or_else(|| n.error(format!("{what} must be true or false, not {}", n.describe()), ""))
            }
        }
    }

    fn strings(&self, node: Option<&Node>, what: &str) -> R<Vec<String>> {
        match node {
            None => Ok(Vec::new()),
            Some(n) if n.is_null() => Ok(Vec::new()),
            Some(n) => match &n.kind {
                Kind::Seq(items) => items.iter().map(|i| self.string(i, what)).collect(),
                _ => Err(n.error(format!("{what} must be a list of strings, not {}", n.describe()), "")),
            },
        }
    }

    /// A script: a string split on newlines, or a list of lines.
    fn script(&self, node: &Node, what: &str) -> R<Vec<String>> {
        match &node.kind {
            Kind::Seq(_) => self.strings(Some(node), what),
            _ => Ok(self.string(node, what)?.split('\n').map(str::to_string).collect()),
        }
    }

    fn seq<'n>(&self, node: Option<&'n Node>, what: &str) -> R<&'n [Node]> {
        match node {
            None => Ok(&[]),
            Some(n) if n.is_null() => Ok(&[]),
            Some(n) => n.as_seq().ok_or_else(|| n.error(format!("{what} must be a list, not {}", n.describe()), "")),
        }
    }

    /// Reads the whole document.
    pub fn spec(&mut self, root: &Node) -> R<Spec> {
        if root.as_map().is_none() {
            return Err(root.error("an spk spec must be a YAML mapping", "start the file with 'pkg: NAME/VERSION'"));
        }
        let api = match root.get("api") {
            None => {
                self.warnings.push(Warning {
                    pos: root.pos,
                    message: "no 'api:' key: reading the spec as api: v0/package".into(),
                });
                Api::Package
            }
            Some(n) => match self.string(n, "api")?.as_str() {
                "v0/package" => Api::Package,
                "v0/platform" => Api::Platform,
                other => {
                    return Err(n.error(
                        format!("unknown api '{other}'"),
                        "strata's spk frontend reads 'api: v0/package' and 'api: v0/platform'",
                    ));
                }
            },
        };
        match api {
            Api::Package => self.package(root),
            Api::Platform => self.platform(root),
        }
    }

    fn ident(&self, node: &Node, key: &str) -> R<(String, Version)> {
        let text = self.string(node, key)?;
        let text = text.trim();
        let hint = format!("write '{key}: NAME/VERSION', e.g. '{key}: zlib/1.2.11'");
        let (name, version) =
            text.split_once('/').ok_or_else(|| node.error(format!("'{text}' has no version"), &hint))?;
        if !valid_pkg_name(name) {
            return Err(node.error(
                format!("'{name}' is not a valid package name"),
                "a package name is 2 to 64 of a-z, 0-9 and '-', not starting with '-'",
            ));
        }
        if version.contains('/') {
            return Err(node.error(format!("'{text}' names a build: a recipe must not"), hint));
        }
        let version = Version::parse(version).map_err(|e| node.error(e.to_string(), hint))?;
        Ok((name.to_string(), version))
    }

    fn meta(&mut self, node: Option<&Node>) -> R<Meta> {
        let Some(node) = node.filter(|n| !n.is_null()) else { return Ok(Meta::default()) };
        self.map(node, "meta", &["description", "homepage", "license", "labels"])?;
        let mut labels = BTreeMap::new();
        if let Some(l) = node.get("labels") {
            for (k, v) in l.as_map().ok_or_else(|| l.error("meta.labels must be a mapping", ""))? {
                labels.insert(k.key_text(), self.string(v, "a label")?);
            }
        }
        Ok(Meta {
            description: self.opt_string(node.get("description"), "meta.description")?,
            homepage: self.opt_string(node.get("homepage"), "meta.homepage")?,
            license: self.opt_string(node.get("license"), "meta.license")?,
            labels,
        })
    }

    fn package(&mut self, root: &Node) -> R<Spec> {
        let known = ["pkg", "api", "meta", "compat", "deprecated", "sources", "build", "tests", "install"];
        self.map(root, "the spec", &known)?;
        let pkg = root.get("pkg").ok_or_else(|| root.error("the spec has no 'pkg:'", "add 'pkg: NAME/VERSION'"))?;
        let (name, version) = self.ident(pkg, "pkg")?;
        let sources = match root.get("sources") {
            // spk's default: the spec's own directory.
            None => vec![SourceSpec {
                kind: SourceKind::Local { path: ".".into(), exclude: default_excludes(), filter: default_filters() },
                subdir: None,
                pos: root.pos,
            }],
            Some(n) => self.seq(Some(n), "sources")?.iter().map(|s| self.source(s)).collect::<R<_>>()?,
        };
        let build = match root.get("build") {
            None => BuildSpec::default(),
            Some(n) => self.build(n)?,
        };
        let install = self.install(root.get("install"))?;
        let tests = self.seq(root.get("tests"), "tests")?.iter().map(|t| self.test(t)).collect::<R<_>>()?;
        Ok(Spec {
            api: Api::Package,
            name,
            version,
            meta: self.meta(root.get("meta"))?,
            compat: self.opt_string(root.get("compat"), "compat")?,
            deprecated: self.bool(root.get("deprecated"), "deprecated")?,
            sources,
            build,
            install,
            tests,
            pos: pkg.pos,
        })
    }

    /// `api: v0/platform`: a package with no sources, an empty script, and
    /// its requirements on the build and run components, IfAlreadyPresent.
    fn platform(&mut self, root: &Node) -> R<Spec> {
        self.map(root, "the platform", &["platform", "api", "meta", "compat", "deprecated", "base", "requirements"])?;
        let p = root
            .get("platform")
            .ok_or_else(|| root.error("the platform has no 'platform:'", "add 'platform: NAME/VERSION'"))?;
        let (name, version) = self.ident(p, "platform")?;
        let mut reqs: Vec<Request> = Vec::new();
        for r in self.seq(root.get("requirements"), "requirements")? {
            let (text, remove) = match &r.kind {
                Kind::Map(_) => {
                    self.map(r, "a platform requirement", &["add", "remove"])?;
                    match (r.get("add"), r.get("remove")) {
                        (Some(a), None) => (self.string(a, "add")?, false),
                        (None, Some(x)) => (self.string(x, "remove")?, true),
                        _ => return Err(r.error("a platform requirement has exactly one of 'add' or 'remove'", "")),
                    }
                }
                _ => (self.string(r, "a platform requirement")?, false),
            };
            let (name, components, range) = split_request(&text).map_err(|m| r.error(m, "write NAME[/RANGE]"))?;
            reqs.retain(|q| !matches!(q, Request::Pkg { name: n, .. } if *n == name));
            if !remove {
                reqs.push(Request::Pkg {
                    name,
                    components,
                    range,
                    if_already_present: true,
                    from_build_env: None,
                    if_present_in_build_env: false,
                    pos: r.pos,
                });
            }
        }
        let mut install = InstallSpec { components: default_components(Vec::new()), ..Default::default() };
        for c in &mut install.components {
            c.requirements = reqs.clone();
        }
        Ok(Spec {
            api: Api::Platform,
            name,
            version,
            meta: self.meta(root.get("meta"))?,
            compat: self.opt_string(root.get("compat"), "compat")?,
            deprecated: self.bool(root.get("deprecated"), "deprecated")?,
            sources: Vec::new(),
            // A platform has no files: spk's EmptyPackage never fires on it
            // (its metadata counts); strata's does, so it is allowed here.
            build: BuildSpec {
                script: Vec::new(),
                validation: vec![ValidationRule {
                    mode: RuleMode::Allow,
                    rule: "EmptyPackage".into(),
                    packages: Vec::new(),
                    action: None,
                    pos: p.pos,
                }],
                ..BuildSpec::default()
            },
            install,
            tests: Vec::new(),
            pos: p.pos,
        })
    }

    fn source(&mut self, node: &Node) -> R<SourceSpec> {
        let subdir = self.opt_string(node.get("subdir"), "subdir")?;
        let kind = if let Some(p) = node.get("path") {
            self.map(node, "a path source", &["path", "exclude", "filter", "subdir"])?;
            SourceKind::Local {
                path: self.string(p, "path")?,
                exclude: match node.get("exclude") {
                    None => default_excludes(),
                    n => self.strings(n, "exclude")?,
                },
                filter: match node.get("filter") {
                    None => default_filters(),
                    n => self.strings(n, "filter")?,
                },
            }
        } else if let Some(g) = node.get("git") {
            self.map(node, "a git source", &["git", "ref", "depth", "subdir"])?;
            let depth = match node.get("depth") {
                None => 1,
                Some(d) => self.string(d, "depth")?.parse().map_err(|_| d.error("depth must be a whole number", ""))?,
            };
            SourceKind::Git { url: self.string(g, "git")?, reference: self.opt_string(node.get("ref"), "ref")?, depth }
        } else if let Some(t) = node.get("tar") {
            self.map(node, "a tar source", &["tar", "subdir"])?;
            SourceKind::Tar { tar: self.string(t, "tar")? }
        } else if let Some(s) = node.get("script") {
            self.map(node, "a script source", &["script", "subdir"])?;
            SourceKind::Script { lines: self.script(s, "script")? }
        } else {
            return Err(node.error(
                "this source is none of spk's kinds",
                "a source has one of 'path:', 'git:', 'tar:' or 'script:'",
            ));
        };
        Ok(SourceSpec { kind, subdir, pos: node.pos })
    }

    fn build(&mut self, node: &Node) -> R<BuildSpec> {
        self.map(node, "build", &["script", "options", "variants", "validation", "auto_host_vars"])?;
        let mut b = BuildSpec::default();
        if let Some(s) = node.get("script") {
            b.script = self.script(s, "build.script")?;
        }
        for o in self.seq(node.get("options"), "build.options")? {
            let opt = self.option(o)?;
            if let Some(prev) = b.options.iter().find(|p| p.name() == opt.name()) {
                return Err(o.error(
                    format!("option '{}' is declared twice (first at line {})", opt.name(), prev.pos().line),
                    "keep one declaration",
                ));
            }
            b.options.push(opt);
        }
        for v in self.seq(node.get("variants"), "build.variants")? {
            b.variants.push(self.variant(v, "a variant")?);
        }
        if let Some(v) = node.get("validation") {
            self.map(v, "build.validation", &["rules", "disabled"])?;
            if !self.seq(v.get("disabled"), "validation.disabled")?.is_empty() {
                return Err(v.get("disabled").unwrap().error(
                    "validation.disabled is obsolete (spk refuses it: UseOfObsoleteValidators)",
                    "use 'validation.rules' with 'allow: RULE' instead",
                ));
            }
            for r in self.seq(v.get("rules"), "validation.rules")? {
                b.validation.push(self.rule(r)?);
            }
        }
        if let Some(a) = node.get("auto_host_vars") {
            b.auto_host_vars = match self.string(a, "auto_host_vars")?.as_str() {
                "Distro" => AutoHostVars::Distro,
                "Arch" => AutoHostVars::Arch,
                "Os" => AutoHostVars::Os,
                "None" => AutoHostVars::None,
                o => return Err(a.error(format!("auto_host_vars '{o}' is not Distro, Arch, Os or None"), "")),
            };
        }
        Ok(b)
    }

    fn option(&mut self, node: &Node) -> R<Opt> {
        if let Some(v) = node.get("var") {
            self.map(
                node,
                "a var option",
                &["var", "default", "choices", "inheritance", "static", "description", "compat", "required", "value"],
            )?;
            let text = self.string(v, "var")?;
            let (name, inline) = match text.split_once('/') {
                Some((n, d)) => (n.to_string(), Some(d.to_string())),
                None => (text.clone(), None),
            };
            let name = name.to_lowercase();
            if !valid_opt_name(&name) {
                return Err(v.error(
                    format!("'{name}' is not a valid option name"),
                    "an option name is 2 to 64 of a-z, 0-9, '_' and '-' (or NS.NAME)",
                ));
            }
            let default = match (inline, self.opt_string(node.get("default"), "default")?) {
                (Some(_), Some(_)) => {
                    return Err(v.error(
                        format!("option '{name}' has a default twice"),
                        "give it in 'var: NAME/DEFAULT' or in 'default:', not both",
                    ));
                }
                (a, b) => a.or(b).unwrap_or_default(),
            };
            let inheritance = match self.opt_string(node.get("inheritance"), "inheritance")?.as_deref() {
                None | Some("Weak") => Inheritance::Weak,
                Some("StrongForBuildOnly") => Inheritance::StrongForBuildOnly,
                Some("Strong") => Inheritance::Strong,
                Some(o) => {
                    return Err(node
                        .get("inheritance")
                        .unwrap()
                        .error(format!("inheritance '{o}' is not Weak, StrongForBuildOnly or Strong"), ""));
                }
            };
            let required = self.bool(node.get("required"), "required")?;
            Ok(Opt::Var(VarOpt {
                name,
                default,
                choices: self.strings(node.get("choices"), "choices")?,
                inheritance: if required { Inheritance::Strong } else { inheritance },
                static_value: self.opt_string(node.get("static"), "static")?.unwrap_or_default(),
                description: self.opt_string(node.get("description"), "description")?,
                required,
                pos: node.pos,
            }))
        } else if let Some(p) = node.get("pkg") {
            self.map(node, "a pkg option", &["pkg", "default", "prereleasePolicy", "static", "value"])?;
            let text = self.string(p, "pkg")?;
            let (name, components, inline) =
                split_request(&text).map_err(|m| p.error(m, "write 'pkg: NAME[:COMPONENT][/RANGE]'"))?;
            let default = match self.opt_string(node.get("default"), "default")? {
                Some(d) if !inline.is_empty() => {
                    return Err(
                        p.error(format!("option '{name}' has a default twice ('{inline}' and '{d}')"), "give one")
                    );
                }
                Some(d) => d,
                None => inline,
            };
            Ok(Opt::Pkg(PkgOpt {
                name,
                components,
                default,
                static_value: self.opt_string(node.get("static"), "static")?.unwrap_or_default(),
                pos: node.pos,
            }))
        } else {
            Err(node.error("an option has 'var:' or 'pkg:'", "write '- var: NAME[/DEFAULT]' or '- pkg: NAME[/RANGE]'"))
        }
    }

    fn variant(&mut self, node: &Node, what: &str) -> R<Variant> {
        let m = node.as_map().ok_or_else(|| {
            node.error(format!("{what} must be a mapping of option: value"), "e.g. '- {gcc: 6.3, debug: on}'")
        })?;
        let mut entries = Vec::new();
        for (k, v) in m {
            let value = self.string(v, "a variant value")?;
            entries.push((k.key_text().to_lowercase(), value));
        }
        Ok(Variant { entries, pos: node.pos })
    }

    fn rule(&mut self, node: &Node) -> R<ValidationRule> {
        self.map(node, "a validation rule", &["allow", "deny", "require", "packages", "action"])?;
        let (mode, r) = match (node.get("allow"), node.get("deny"), node.get("require")) {
            (Some(r), None, None) => (RuleMode::Allow, r),
            (None, Some(r), None) => (RuleMode::Deny, r),
            (None, None, Some(r)) => (RuleMode::Require, r),
            _ => return Err(node.error("a validation rule has exactly one of allow, deny or require", "")),
        };
        let rule = self.string(r, "a rule")?;
        const RULES: &[&str] = &[
            "EmptyPackage",
            "CollectAllFiles",
            "AlterExistingFiles",
            "CollectExistingFiles",
            "RecursiveBuild",
            "StrongInheritanceVarDescription",
            "LongVarDescription",
            "InheritRequirements",
            "SpdxLicense",
        ];
        if !RULES.contains(&rule.as_str()) {
            return Err(
                r.error(format!("unknown validation rule '{rule}'"), format!("the rules are: {}", RULES.join(", ")))
            );
        }
        Ok(ValidationRule {
            mode,
            rule,
            packages: self.strings(node.get("packages"), "packages")?,
            action: self.opt_string(node.get("action"), "action")?,
            pos: node.pos,
        })
    }

    fn request(&mut self, node: &Node) -> R<Request> {
        if let Some(p) = node.get("pkg") {
            self.map(
                node,
                "a package request",
                &["pkg", "prereleasePolicy", "include", "fromBuildEnv", "ifPresentInBuildEnv"],
            )?;
            let text = self.string(p, "pkg")?;
            let (name, components, range) =
                split_request(&text).map_err(|m| p.error(m, "write 'pkg: NAME[:COMPONENT][/RANGE]'"))?;
            let include = self.opt_string(node.get("include"), "include")?;
            let if_already_present = match include.as_deref() {
                None | Some("Always") => false,
                Some("IfAlreadyPresent") => true,
                Some(o) => {
                    return Err(node
                        .get("include")
                        .unwrap()
                        .error(format!("include '{o}' is not Always or IfAlreadyPresent"), ""));
                }
            };
            let from_build_env = match node.get("fromBuildEnv") {
                None => None,
                Some(f) => match self.string(f, "fromBuildEnv")?.as_str() {
                    "false" => None,
                    "true" => Some("Binary".to_string()),
                    t => Some(t.to_string()),
                },
            };
            if from_build_env.is_some() && !range.is_empty() {
                return Err(node.get("fromBuildEnv").unwrap().error(
                    format!("'{name}' has both a version ({range}) and fromBuildEnv"),
                    "give one: the version comes from the build environment with fromBuildEnv",
                ));
            }
            let if_present_in_build_env = match node.get("ifPresentInBuildEnv") {
                None => false,
                Some(f) => self.string(f, "ifPresentInBuildEnv")? == "true",
            };
            Ok(Request::Pkg {
                name,
                components,
                range,
                if_already_present,
                from_build_env,
                if_present_in_build_env,
                pos: node.pos,
            })
        } else if let Some(v) = node.get("var") {
            self.map(
                node,
                "a var request",
                &["var", "value", "fromBuildEnv", "ifPresentInBuildEnv", "description", "suppress"],
            )?;
            let text = self.string(v, "var")?;
            let (name, value) = match text.split_once('/') {
                Some((n, val)) => (n.to_string(), val.to_string()),
                None => (text.clone(), self.opt_string(node.get("value"), "value")?.unwrap_or_default()),
            };
            Ok(Request::Var { name: name.to_lowercase(), value, pos: node.pos })
        } else {
            Err(node.error("a request has 'pkg:' or 'var:'", "write '- pkg: NAME[/RANGE]' or '- var: NAME/VALUE'"))
        }
    }

    fn install(&mut self, node: Option<&Node>) -> R<InstallSpec> {
        let mut spec = InstallSpec::default();
        let Some(node) = node.filter(|n| !n.is_null()) else {
            spec.components = default_components(Vec::new());
            return Ok(spec);
        };
        self.map(node, "install", &["requirements", "environment", "components", "embedded"])?;
        for r in self.seq(node.get("requirements"), "install.requirements")? {
            spec.requirements.push(self.request(r)?);
        }
        for e in self.seq(node.get("environment"), "install.environment")? {
            spec.environment.push(self.env_op(e)?);
        }
        let mut comps: Vec<Component> = Vec::new();
        for c in self.seq(node.get("components"), "install.components")? {
            self.map(c, "a component", &["name", "files", "uses", "requirements", "embedded", "file_match_mode"])?;
            let nn = c.get("name").ok_or_else(|| c.error("a component has no name", "add 'name: NAME'"))?;
            let name = self.string(nn, "name")?;
            if !valid_pkg_name(&name) || matches!(name.as_str(), "all" | "src") {
                return Err(nn.error(
                    format!("'{name}' is not a valid component name"),
                    "a component name is 2 to 64 of a-z, 0-9 and '-', and not 'all' or 'src'",
                ));
            }
            if comps.iter().any(|p| p.name == name) {
                return Err(nn.error(format!("component '{name}' is defined twice"), "component names are unique"));
            }
            let remaining = match self.opt_string(c.get("file_match_mode"), "file_match_mode")?.as_deref() {
                None | Some("All") => false,
                Some("Remaining") => true,
                Some(o) => {
                    return Err(c
                        .get("file_match_mode")
                        .unwrap()
                        .error(format!("file_match_mode '{o}' is not All or Remaining"), ""));
                }
            };
            let mut requirements = Vec::new();
            for r in self.seq(c.get("requirements"), "requirements")? {
                requirements.push(self.request(r)?);
            }
            comps.push(Component {
                name,
                files: self.strings(c.get("files"), "files")?,
                uses: self.strings(c.get("uses"), "uses")?,
                remaining,
                requirements,
                pos: c.pos,
            });
        }
        spec.components = default_components(comps);
        Ok(spec)
    }

    fn env_op(&mut self, node: &Node) -> R<EnvOp> {
        let get = |k: &str| node.get(k);
        let sep = |s: &mut Self| -> R<String> {
            Ok(s.opt_string(get("separator"), "separator")?.unwrap_or_else(|| ":".into()))
        };
        let value = |s: &Self| -> R<String> {
            let v = get("value").ok_or_else(|| node.error("this environment op has no 'value:'", ""))?;
            s.string(v, "value")
        };
        if let Some(v) = get("set") {
            self.map(node, "a set op", &["set", "value"])?;
            Ok(EnvOp::Set { var: self.string(v, "set")?, value: value(self)? })
        } else if let Some(v) = get("append") {
            self.map(node, "an append op", &["append", "value", "separator"])?;
            Ok(EnvOp::Append { var: self.string(v, "append")?, value: value(self)?, separator: sep(self)? })
        } else if let Some(v) = get("prepend") {
            self.map(node, "a prepend op", &["prepend", "value", "separator"])?;
            Ok(EnvOp::Prepend { var: self.string(v, "prepend")?, value: value(self)?, separator: sep(self)? })
        } else if let Some(v) = get("comment") {
            Ok(EnvOp::Comment(self.string(v, "comment")?))
        } else if let Some(v) = get("priority") {
            let n = self.string(v, "priority")?;
            Ok(EnvOp::Priority(n.parse().map_err(|_| v.error("priority is a number from 0 to 255", ""))?))
        } else {
            Err(node.error("an environment op has one of set, append, prepend, comment or priority", ""))
        }
    }

    fn test(&mut self, node: &Node) -> R<TestSpec> {
        self.map(node, "a test", &["stage", "script", "selectors", "requirements"])?;
        let stage =
            node.get("stage").ok_or_else(|| node.error("a test has no stage", "add 'stage: sources|build|install'"))?;
        let stage_s = self.string(stage, "stage")?;
        if !matches!(stage_s.as_str(), "sources" | "build" | "install") {
            return Err(stage.error(format!("test stage '{stage_s}' is not sources, build or install"), ""));
        }
        let script = match node.get("script") {
            Some(s) => self.script(s, "script")?,
            None => return Err(node.error("a test has no script", "")),
        };
        let mut selectors = Vec::new();
        for s in self.seq(node.get("selectors"), "selectors")? {
            selectors.push(self.variant(s, "a selector")?);
        }
        let mut requirements = Vec::new();
        for r in self.seq(node.get("requirements"), "requirements")? {
            requirements.push(self.request(r)?);
        }
        Ok(TestSpec { stage: stage_s, script, selectors, requirements, pos: node.pos })
    }
}

fn default_excludes() -> Vec<String> {
    vec![".git/".into(), ".svn/".into()]
}

fn default_filters() -> Vec<String> {
    vec![":- .gitignore".into()]
}

/// The custom components, then `build` and `run` (`files: ['*']`) when missing.
fn default_components(mut comps: Vec<Component>) -> Vec<Component> {
    for name in ["build", "run"] {
        if !comps.iter().any(|c| c.name == name) {
            comps.push(Component {
                name: name.into(),
                files: vec!["*".into()],
                uses: Vec::new(),
                remaining: false,
                requirements: Vec::new(),
                pos: Pos::default(),
            });
        }
    }
    comps
}

/// `name[:comp|:{a,b}][/range]` → (name, components, range).
pub fn split_request(text: &str) -> Result<(String, Vec<String>, String), String> {
    let text = text.trim();
    let (head, range) = match text.split_once('/') {
        Some((h, r)) => (h, r.to_string()),
        None => (text, String::new()),
    };
    let (name, comps) = match head.split_once(':') {
        Some((n, c)) => {
            let c = c.strip_prefix('{').and_then(|c| c.strip_suffix('}')).unwrap_or(c);
            (n, c.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect())
        }
        None => (head, Vec::new()),
    };
    if !valid_pkg_name(name) {
        return Err(format!("'{name}' is not a valid package name"));
    }
    Ok((name.to_string(), comps, range))
}

/// The known key closest to `key` (one edit, or a case difference).
fn close_match<'k>(key: &str, known: &[&'k str]) -> Option<&'k str> {
    known.iter().copied().find(|k| {
        let (a, b) = (key.to_lowercase(), k.to_lowercase());
        a == b || edit_distance(&a, &b) <= 1 || (a.len() > 3 && (b.starts_with(&a) || a.starts_with(&b)))
    })
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            cur.push((prev[j] + usize::from(ca != *cb)).min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}
