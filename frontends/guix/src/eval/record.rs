//! The records package files build: `package` (with `inherit` and
//! `package/inherit`), `origin` and `git-reference`. Fields are bound in
//! order, so later fields see earlier ones (`version` inside `source`), as
//! Guix's record macro does; `arguments` is evaluated last, once the
//! package's store paths are known, with `this-package-input`, `%output`
//! and `#$output` referring to this package.

use std::rc::Rc;

use sha2::{Digest, Sha256};

use crate::base32;
use crate::datum::{Datum, Kind, Pos};
use crate::eval::env::Env;
use crate::eval::value::{GitRef, Value, to_datum};
use crate::eval::{EvalError, Evaluator};

/// Where Guix keeps store items, and so where outputs live.
pub const STORE: &str = "/gnu/store";

/// A package definition, evaluated.
#[derive(Debug)]
pub struct Package {
    pub name: String,
    pub version: String,
    pub source: Option<Rc<Origin>>,
    /// `gnu`, `cmake`, … (the variable's name without `-build-system`).
    pub build_system: String,
    pub build_system_pos: Pos,
    /// The keyword arguments, each value build-side code.
    pub arguments: Vec<Arg>,
    pub inputs: Vec<Input>,
    pub native_inputs: Vec<Input>,
    pub propagated_inputs: Vec<Input>,
    pub outputs: Vec<String>,
    pub home_page: Option<String>,
    /// 32 nix-base32 characters naming its store items.
    pub hash: String,
    pub pos: Pos,
    /// The file it is defined in.
    pub file: Option<std::path::PathBuf>,
    fields: Fields,
}

/// One keyword argument: `#:tests? #f`.
#[derive(Debug, Clone)]
pub struct Arg {
    pub key: String,
    pub value: Datum,
    pub pos: Pos,
}

/// One input, labelled as Guix labels them.
#[derive(Debug, Clone)]
pub struct Input {
    pub label: String,
    pub target: InputTarget,
    pub output: String,
    pub pos: Pos,
}

#[derive(Debug, Clone)]
pub enum InputTarget {
    /// A package defined in these files: a graph dependency.
    Package(Rc<Package>),
    /// A package from elsewhere, by its variable name.
    External(String),
}

impl Input {
    /// The directory it is seen at in a build.
    pub fn path(&self) -> String {
        match &self.target {
            InputTarget::Package(p) => p.output_path(&self.output),
            InputTarget::External(_) => "/usr".into(),
        }
    }
}

/// A fetched source.
#[derive(Debug, Clone)]
pub struct Origin {
    /// `url-fetch`, `git-fetch`, …
    pub method: String,
    pub uris: Vec<String>,
    pub git: Option<GitRef>,
    /// The nix-base32 sha256 as written, and where.
    pub sha256: Option<(String, Pos)>,
    pub file_name: Option<String>,
    /// The patches it names (`search-patches` file names), and where; the
    /// lowering finds them beside the definition.
    pub patches: Vec<String>,
    pub patches_pos: Option<Pos>,
    /// `patch-flags` (Guix's default: `-p1`).
    pub patch_flags: Vec<String>,
    /// The snippet, as build-side code run in the unpacked source's top
    /// directory after the patches.
    pub snippet: Option<Datum>,
    pub pos: Pos,
}

impl Origin {
    /// Whether the hash is over a NAR (a directory) rather than a file.
    pub fn recursive(&self) -> bool {
        self.method.starts_with("git-fetch") || self.method == "hg-fetch" || self.method == "svn-fetch"
    }
}

/// The fields as given or inherited, before `arguments` is evaluated.
#[derive(Debug, Clone, Default)]
struct Fields {
    name: Option<String>,
    version: Option<String>,
    source: Option<Rc<Origin>>,
    build_system: Option<(String, Pos)>,
    arguments: Option<(Datum, Rc<Env>)>,
    inputs: Vec<Input>,
    native_inputs: Vec<Input>,
    propagated_inputs: Vec<Input>,
    outputs: Option<Vec<String>>,
    home_page: Option<String>,
}

/// Fields Guix has that do not change a build: accepted, not evaluated.
const IGNORED: &[&str] = &[
    "synopsis",
    "description",
    "license",
    "properties",
    "native-search-paths",
    "search-paths",
    "supported-systems",
    "replacement",
    "location",
    "definition-location",
];

const FIELDS: &[&str] = &[
    "name",
    "version",
    "source",
    "build-system",
    "arguments",
    "inputs",
    "native-inputs",
    "propagated-inputs",
    "outputs",
    "home-page",
];

impl Package {
    /// `/gnu/store/<hash>-<name>-<version>[-<output>]`.
    pub fn output_path(&self, output: &str) -> String {
        let mut p = format!("{STORE}/{}-{}-{}", self.hash, self.name, self.version);
        if output != "out" {
            p.push('-');
            p.push_str(output);
        }
        p
    }

    /// Every input, native input and propagated input, in Guix's order
    /// (native, then inputs, then propagated).
    pub fn all_inputs(&self) -> impl Iterator<Item = &Input> {
        self.native_inputs.iter().chain(&self.inputs).chain(&self.propagated_inputs)
    }

    /// The argument `key` (without `#:`).
    pub fn argument(&self, key: &str) -> Option<&Arg> {
        self.arguments.iter().find(|a| a.key == key)
    }
}

/// `(package FIELD…)`, `(package (inherit P) FIELD…)`, `(package/inherit P FIELD…)`.
pub fn package(
    ev: &Evaluator,
    d: &Datum,
    fields: &[Datum],
    env: &Rc<Env>,
    inherit: Option<Value>,
) -> Result<Value, EvalError> {
    let mut f = Fields::default();
    let set_parent = |v: Value, pos: Pos, f: &mut Fields| match v {
        Value::Package(p) => {
            *f = p.fields.clone();
            Ok(())
        }
        other => Err(EvalError::new(pos, format!("inherit expects a package, got {}", other.describe()))),
    };
    if let Some(p) = inherit {
        set_parent(p, d.pos, &mut f)?;
    }
    let fenv = Env::child(env);
    for (i, field) in fields.iter().enumerate() {
        let (name, expr) = field_of(field, "package")?;
        if name == "inherit" {
            if i != 0 {
                return Err(EvalError::new(field.pos, "(inherit …) must be the package's first field"));
            }
            let v = ev.eval(expr, &fenv)?;
            set_parent(v, expr.pos, &mut f)?;
            continue;
        }
        if IGNORED.contains(&name) {
            continue;
        }
        if name == "arguments" {
            f.arguments = Some((expr.clone(), fenv.clone()));
            continue;
        }
        if !FIELDS.contains(&name) {
            return Err(EvalError::new(field.pos, format!("unknown package field '{name}'"))
                .hint(format!("package fields are: {}", [FIELDS, IGNORED].concat().join(" "))));
        }
        let v = ev.eval(expr, &fenv)?;
        match name {
            "name" => f.name = Some(string(&v, expr.pos, "name")?),
            "version" => f.version = Some(string(&v, expr.pos, "version")?),
            "home-page" => f.home_page = v.as_str().map(str::to_string),
            "source" => {
                f.source = match &v {
                    Value::Origin(o) => Some(o.clone()),
                    Value::Datum(Datum { kind: Kind::Bool(false), .. }) => None,
                    other => {
                        return Err(EvalError::new(
                            expr.pos,
                            format!("source must be an origin, got {}", other.describe()),
                        )
                        .hint("local-file and other file-like sources are not supported yet"));
                    }
                }
            }
            "build-system" => f.build_system = Some((build_system(&v, expr.pos)?, expr.pos)),
            "inputs" => f.inputs = inputs(&v, expr.pos)?,
            "native-inputs" => f.native_inputs = inputs(&v, expr.pos)?,
            "propagated-inputs" => f.propagated_inputs = inputs(&v, expr.pos)?,
            "outputs" => {
                let items = v.items().ok_or_else(|| EvalError::new(expr.pos, "outputs is a list of strings"))?;
                f.outputs = Some(items.iter().map(|o| string(o, expr.pos, "an output")).collect::<Result<_, _>>()?);
            }
            _ => unreachable!("every field of FIELDS is handled"),
        }
        fenv.define(name, v);
    }
    let name = f.name.clone().ok_or_else(|| EvalError::new(d.pos, "the package has no name field"))?;
    let version = f.version.clone().ok_or_else(|| EvalError::new(d.pos, "the package has no version field"))?;
    let (bs, bs_pos) = f.build_system.clone().ok_or_else(|| {
        EvalError::new(d.pos, "the package has no build-system field").hint("e.g. (build-system gnu-build-system)")
    })?;
    let outputs = f.outputs.clone().unwrap_or_else(|| vec!["out".into()]);
    let hash = store_hash(&f, &outputs);
    let mut p = Package {
        name,
        version,
        source: f.source.clone(),
        build_system: bs,
        build_system_pos: bs_pos,
        arguments: Vec::new(),
        inputs: f.inputs.clone(),
        native_inputs: f.native_inputs.clone(),
        propagated_inputs: f.propagated_inputs.clone(),
        outputs,
        home_page: f.home_page.clone(),
        hash,
        pos: d.pos,
        file: ev.current_file(),
        fields: f.clone(),
    };
    if let Some((expr, aenv)) = &f.arguments {
        let this =
            Rc::new(Package { arguments: Vec::new(), fields: Fields::default(), source: None, ..clone_head(&p) });
        ev.this.borrow_mut().push(this);
        let r = arguments(ev, expr, aenv);
        ev.this.borrow_mut().pop();
        p.arguments = r?;
    }
    Ok(Value::Package(Rc::new(p)))
}

/// The fields `this-package-input` and `#$output` read.
fn clone_head(p: &Package) -> Package {
    Package {
        name: p.name.clone(),
        version: p.version.clone(),
        source: None,
        build_system: p.build_system.clone(),
        build_system_pos: p.build_system_pos,
        arguments: Vec::new(),
        inputs: p.inputs.clone(),
        native_inputs: p.native_inputs.clone(),
        propagated_inputs: p.propagated_inputs.clone(),
        outputs: p.outputs.clone(),
        home_page: p.home_page.clone(),
        hash: p.hash.clone(),
        pos: p.pos,
        file: p.file.clone(),
        fields: Fields::default(),
    }
}

/// The store hash: a function of what the package is built from — its
/// name, version, build system, source hash, outputs and inputs (their
/// hashes) — so it is known before anything is built. Unlike Guix's it
/// leaves out `arguments`, so editing a phase does not move the output
/// directories and rerun the phases before it (docs/guix-differences.md).
fn store_hash(f: &Fields, outputs: &[String]) -> String {
    let mut h = Sha256::new();
    h.update(b"strata-guix-store-1\0");
    for s in [&f.name, &f.version] {
        h.update(s.as_deref().unwrap_or("").as_bytes());
        h.update(b"\0");
    }
    if let Some((bs, _)) = &f.build_system {
        h.update(bs.as_bytes());
    }
    h.update(b"\0");
    if let Some(s) = &f.source
        && let Some((sha, _)) = &s.sha256
    {
        h.update(sha.as_bytes());
    }
    for o in outputs {
        h.update(o.as_bytes());
        h.update(b"\0");
    }
    for i in f.native_inputs.iter().chain(&f.inputs).chain(&f.propagated_inputs) {
        h.update(i.label.as_bytes());
        h.update(b"\0");
        match &i.target {
            InputTarget::Package(p) => h.update(p.hash.as_bytes()),
            InputTarget::External(n) => h.update(n.as_bytes()),
        }
        h.update(b"\0");
    }
    let digest = h.finalize();
    base32::encode(&digest[..20])
}

fn field_of<'a>(field: &'a Datum, record: &str) -> Result<(&'a str, &'a Datum), EvalError> {
    match field.as_list() {
        Some([n, e]) if n.as_sym().is_some() => Ok((n.as_sym().unwrap_or_default(), e)),
        _ => Err(EvalError::new(field.pos, format!("a {record} field is (NAME EXPR)"))),
    }
}

fn string(v: &Value, pos: Pos, what: &str) -> Result<String, EvalError> {
    v.as_str()
        .map(str::to_string)
        .ok_or_else(|| EvalError::new(pos, format!("{what} must be a string, got {}", v.describe())))
}

fn build_system(v: &Value, pos: Pos) -> Result<String, EvalError> {
    let known = ["gnu", "cmake", "meson", "glib-or-gtk", "copy", "trivial", "pyproject"];
    match v {
        Value::External(n, _) => match n.strip_suffix("-build-system") {
            Some(bs) if known.contains(&bs) => Ok(bs.to_string()),
            _ => Err(EvalError::new(pos, format!("build system '{n}' is not supported"))
                .hint(format!("supported: {}", known.map(|k| format!("{k}-build-system")).join(" ")))),
        },
        other => Err(EvalError::new(pos, format!("build-system must be a build system, got {}", other.describe()))),
    }
}

/// An inputs field: new style `(list a (list b "out"))` or old style
/// `` `(("label" ,pkg) ("l2" ,pkg "bin")) ``.
fn inputs(v: &Value, pos: Pos) -> Result<Vec<Input>, EvalError> {
    let items = v.items().ok_or_else(|| EvalError::new(pos, "inputs are a list of packages"))?;
    let target = |v: &Value| match v {
        Value::Package(p) => Some((InputTarget::Package(p.clone()), p.name.clone())),
        Value::External(n, _) => Some((InputTarget::External(n.clone()), n.clone())),
        _ => None,
    };
    let mut out = Vec::new();
    for item in items {
        let ipos = match &item {
            Value::External(_, p) => *p,
            Value::List(_, p) => *p,
            Value::Datum(d) => d.pos,
            _ => pos,
        };
        if let Some((t, name)) = target(&item) {
            out.push(Input { label: name, target: t, output: "out".into(), pos: ipos });
            continue;
        }
        let parts = item.items().unwrap_or_default();
        let input = match parts.as_slice() {
            [p, o] if target(p).is_some() && o.as_str().is_some() => {
                let (t, name) = target(p).expect("checked");
                Input { label: name, target: t, output: o.as_str().unwrap_or("out").into(), pos: ipos }
            }
            [l, p, rest @ ..] if l.as_str().is_some() && target(p).is_some() && rest.len() <= 1 => {
                let (t, _) = target(p).expect("checked");
                let output = rest.first().and_then(Value::as_str).unwrap_or("out").to_string();
                Input { label: l.as_str().unwrap_or_default().into(), target: t, output, pos: ipos }
            }
            _ => {
                return Err(EvalError::new(
                    ipos,
                    format!(
                        "an input is a package, (list PACKAGE \"OUTPUT\") or (\"LABEL\" PACKAGE), got {}",
                        item.describe()
                    ),
                ));
            }
        };
        out.push(input);
    }
    Ok(out)
}

/// The keyword list of `arguments`, each value as build-side code.
fn arguments(ev: &Evaluator, expr: &Datum, env: &Rc<Env>) -> Result<Vec<Arg>, EvalError> {
    // (list #:k v …): keep each keyword's own position.
    let pairs: Vec<(Value, Value, Pos)> = if let Some(("list", items)) = expr.as_form()
        && env.lookup("list").is_none()
    {
        let mut v = Vec::new();
        for pair in items.chunks(2) {
            let key = ev.eval(&pair[0], env)?;
            let value = match pair.get(1) {
                Some(x) => ev.eval(x, env)?,
                None => return Err(EvalError::new(pair[0].pos, "a keyword without a value in arguments")),
            };
            v.push((key, value, pair[0].pos));
        }
        v
    } else {
        let v = ev.eval(expr, env)?;
        let items = v.items().ok_or_else(|| {
            EvalError::new(expr.pos, format!("arguments must be a keyword list, got {}", v.describe()))
        })?;
        let mut out = Vec::new();
        for pair in items.chunks(2) {
            let pos = match &pair[0] {
                Value::Datum(d) => d.pos,
                _ => expr.pos,
            };
            let Some(value) = pair.get(1) else {
                return Err(EvalError::new(pos, "a keyword without a value in arguments"));
            };
            out.push((pair[0].clone(), value.clone(), pos));
        }
        out
    };
    let mut args = Vec::new();
    for (key, value, pos) in pairs {
        let Value::Datum(Datum { kind: Kind::Keyword(k), .. }) = key else {
            return Err(EvalError::new(
                pos,
                format!("expected a keyword (#:name) in arguments, got {}", key.describe()),
            ));
        };
        let code = match value {
            // A symbol value is data (`#:test-backend 'pytest`).
            Value::Datum(d @ Datum { kind: Kind::Sym(_), .. }) => {
                let p = d.pos;
                Datum::list(vec![Datum::sym("quote", p), d], p)
            }
            // The builder's module lists are data Guix reads on the host,
            // in both argument styles; as code they would be calls.
            v if matches!(k.as_str(), "modules" | "imported-modules") => {
                Datum::list(vec![Datum::sym("quote", pos), to_datum(&v, pos)?], pos)
            }
            v => to_datum(&v, pos)?,
        };
        args.push(Arg { key: k, value: code, pos });
    }
    Ok(args)
}

/// `(origin FIELD…)`.
pub fn origin(ev: &Evaluator, d: &Datum, fields: &[Datum], env: &Rc<Env>) -> Result<Value, EvalError> {
    let mut o = Origin {
        method: String::new(),
        uris: Vec::new(),
        git: None,
        sha256: None,
        file_name: None,
        patches: Vec::new(),
        patches_pos: None,
        patch_flags: vec!["-p1".into()],
        snippet: None,
        pos: d.pos,
    };
    for field in fields {
        let (name, expr) = field_of(field, "origin")?;
        match name {
            // The snippet runs with (guix build utils) and Guile's own
            // modules; patch and Guile are the build container's.
            "modules" | "patch-inputs" | "patch-guile" => continue,
            _ => {}
        }
        let v = ev.eval(expr, env)?;
        match name {
            "method" => match &v {
                Value::External(n, _) => o.method = n.clone(),
                other => {
                    return Err(EvalError::new(
                        expr.pos,
                        format!("method must be a fetch method such as url-fetch, got {}", other.describe()),
                    ));
                }
            },
            "uri" => match &v {
                Value::GitRef(g) => o.git = Some(g.clone()),
                _ => {
                    if let Some(s) = v.as_str() {
                        o.uris = vec![s.to_string()];
                    } else if let Some(items) = v.items() {
                        o.uris = items.iter().map(|i| string(i, expr.pos, "a uri")).collect::<Result<_, _>>()?;
                    } else {
                        return Err(EvalError::new(
                            expr.pos,
                            format!("uri must be a string or a list of strings, got {}", v.describe()),
                        ));
                    }
                }
            },
            "sha256" | "hash" => match v {
                Value::Hash(s, p) => o.sha256 = Some((s, p)),
                other => {
                    return Err(EvalError::new(
                        expr.pos,
                        format!("sha256 must be (base32 \"…\"), got {}", other.describe()),
                    ));
                }
            },
            "file-name" => o.file_name = Some(string(&v, expr.pos, "file-name")?),
            "patches" => {
                let items = v.items().unwrap_or_default();
                o.patches = items
                    .iter()
                    .map(|i| {
                        i.as_str().map(str::to_string).ok_or_else(|| {
                            EvalError::new(expr.pos, format!("a patch must be a file name, got {}", i.describe())).hint(
                                "name it with (search-patches \"NAME.patch\") and put the file beside the definition",
                            )
                        })
                    })
                    .collect::<Result<_, _>>()?;
                o.patches_pos = Some(field.pos);
            }
            "patch-flags" => {
                let items = v.items().unwrap_or_default();
                o.patch_flags = items.iter().map(|i| string(i, expr.pos, "a patch flag")).collect::<Result<_, _>>()?;
            }
            "snippet" => o.snippet = Some(to_datum(&v, expr.pos)?),
            _ => {
                return Err(EvalError::new(field.pos, format!("unknown origin field '{name}'"))
                    .hint("origin fields are: method uri sha256 file-name patches snippet modules patch-flags"));
            }
        }
    }
    if o.method.is_empty() {
        return Err(EvalError::new(d.pos, "the origin has no method").hint("e.g. (method url-fetch)"));
    }
    Ok(Value::Origin(Rc::new(o)))
}

/// `(git-reference (url …) (commit …) (recursive? …))`.
pub fn git_reference(ev: &Evaluator, d: &Datum, fields: &[Datum], env: &Rc<Env>) -> Result<Value, EvalError> {
    let mut g = GitRef { url: String::new(), commit: String::new(), recursive: false };
    for field in fields {
        let (name, expr) = field_of(field, "git-reference")?;
        let v = ev.eval(expr, env)?;
        match name {
            "url" => g.url = string(&v, expr.pos, "url")?,
            "commit" => g.commit = string(&v, expr.pos, "commit")?,
            "recursive?" => g.recursive = v.truthy(),
            _ => {
                return Err(EvalError::new(field.pos, format!("unknown git-reference field '{name}'"))
                    .hint("fields: url commit recursive?"));
            }
        }
    }
    if g.url.is_empty() || g.commit.is_empty() {
        return Err(EvalError::new(d.pos, "a git-reference needs a url and a commit"));
    }
    Ok(Value::GitRef(g))
}
