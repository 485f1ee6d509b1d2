//! What package-level Scheme evaluates to: data (literals, quoted data,
//! code built by quasiquote and gexps, positions kept), host lists,
//! records (packages, origins, git references), and names these files do
//! not define (packages from elsewhere, which the lowering maps to Debian).

use std::rc::Rc;

use crate::datum::{Datum, Kind, Pos};
use crate::eval::EvalError;
use crate::eval::env::Env;
use crate::eval::record::{Origin, Package};

#[derive(Debug, Clone)]
pub enum Value {
    /// A literal, quoted data, or build-side code.
    Datum(Datum),
    /// A list made on the host (`list`, `append`, quasiquote with unquotes).
    List(Vec<Value>, Pos),
    /// A pair whose tail is not a list (`(cons "a" "b")`).
    Pair(Box<Value>, Box<Value>),
    Package(Rc<Package>),
    Origin(Rc<Origin>),
    GitRef(GitRef),
    /// `(file-append PKG "/bin/x")`.
    FileAppend(Box<Value>, String),
    /// `(base32 "…")`: the string as written, and where.
    Hash(String, Pos),
    /// A name no file here defines: a package from elsewhere
    /// (`gcc-toolchain`), a build system (`gnu-build-system`), a method
    /// (`url-fetch`), a license.
    External(String, Pos),
    Closure(Rc<Closure>),
    Builtin(&'static str),
    /// Build-side code taken from a package (`package-arguments`): used
    /// as it is, never quoted again.
    Code(Datum),
    Unspecified,
}

/// `(git-reference (url …) (commit …) (recursive? …))`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitRef {
    pub url: String,
    pub commit: String,
    pub recursive: bool,
}

/// A `lambda` (or a `define`d procedure).
#[derive(Debug)]
pub struct Closure {
    pub params: Vec<String>,
    pub rest: Option<String>,
    pub body: Vec<Datum>,
    pub env: Rc<Env>,
}

impl Value {
    pub fn str(s: impl Into<String>, pos: Pos) -> Value {
        Value::Datum(Datum::new(Kind::Str(s.into()), pos))
    }

    pub fn bool(b: bool, pos: Pos) -> Value {
        Value::Datum(Datum::new(Kind::Bool(b), pos))
    }

    /// Everything but `#f` is true.
    pub fn truthy(&self) -> bool {
        !matches!(self, Value::Datum(Datum { kind: Kind::Bool(false), .. }))
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Datum(Datum { kind: Kind::Str(s), .. }) => Some(s),
            _ => None,
        }
    }

    /// The elements, if this is a proper list (host list or data).
    pub fn items(&self) -> Option<Vec<Value>> {
        match self {
            Value::List(v, _) => Some(v.clone()),
            Value::Datum(Datum { kind: Kind::List(v), .. }) => Some(v.iter().cloned().map(Value::Datum).collect()),
            _ => None,
        }
    }

    /// What a user calls it, for messages.
    pub fn describe(&self) -> String {
        match self {
            Value::Datum(d) => d.describe().to_string(),
            Value::List(..) => "a list".into(),
            Value::Pair(..) => "a pair".into(),
            Value::Package(p) => format!("the package {}", p.name),
            Value::Origin(_) => "an origin".into(),
            Value::GitRef(_) => "a git-reference".into(),
            Value::FileAppend(..) => "a file-append".into(),
            Value::Hash(..) => "a base32 hash".into(),
            Value::External(n, _) => format!("'{n}' (not defined in these files)"),
            Value::Closure(_) | Value::Builtin(_) => "a procedure".into(),
            Value::Code(_) => "build-side code".into(),
            Value::Unspecified => "nothing".into(),
        }
    }

    /// Scheme `equal?` over what package code compares (strings, numbers,
    /// symbols, lists of them).
    pub fn equal(&self, other: &Value) -> bool {
        match (self.to_plain(), other.to_plain()) {
            (Some(a), Some(b)) => a == b,
            _ => false,
        }
    }

    fn to_plain(&self) -> Option<String> {
        match self {
            Value::Datum(_) | Value::List(..) | Value::Pair(..) => {
                to_datum(self, Pos::default()).ok().map(|d| strip(&d).to_string())
            }
            Value::External(n, _) => Some(format!("#<external {n}>")),
            Value::Package(p) => Some(format!("#<package {}>", p.hash)),
            _ => None,
        }
    }
}

/// The datum without positions (for comparisons).
fn strip(d: &Datum) -> Datum {
    let kind = match &d.kind {
        Kind::List(v) => Kind::List(v.iter().map(strip).collect()),
        Kind::Dotted(v, t) => Kind::Dotted(v.iter().map(strip).collect(), Box::new(strip(t))),
        Kind::Vector(v) => Kind::Vector(v.iter().map(strip).collect()),
        k => k.clone(),
    };
    Datum::new(kind, Pos::default())
}

/// The build-side code for a value inserted into code (by `unquote`,
/// `ungexp`, or as a keyword argument's value): data as is, a package as
/// its `out` directory (`/usr` for one mapped to Debian), a `file-append`
/// as the file's path.
pub fn to_datum(v: &Value, pos: Pos) -> Result<Datum, EvalError> {
    Ok(match v {
        Value::Datum(d) | Value::Code(d) => d.clone(),
        Value::List(items, p) => {
            let p = if *p == Pos::default() { pos } else { *p };
            Datum::list(items.iter().map(|i| to_datum(i, p)).collect::<Result<_, _>>()?, p)
        }
        Value::Pair(a, b) => Datum::new(Kind::Dotted(vec![to_datum(a, pos)?], Box::new(to_datum(b, pos)?)), pos),
        Value::Package(_) | Value::External(..) | Value::FileAppend(..) => Datum::str(&path_of(v, pos)?, pos),
        other => {
            return Err(EvalError::new(pos, format!("{} cannot be used in build-side code", other.describe())));
        }
    })
}

/// The directory (or file) a package-like value stands for.
pub fn path_of(v: &Value, pos: Pos) -> Result<String, EvalError> {
    match v {
        Value::Package(p) => Ok(p.output_path("out")),
        Value::External(..) => Ok("/usr".into()),
        Value::FileAppend(base, suffix) => Ok(format!("{}{suffix}", path_of(base, pos)?)),
        Value::Datum(Datum { kind: Kind::Str(s), .. }) => Ok(s.clone()),
        other => Err(EvalError::new(pos, format!("expected a package, got {}", other.describe()))),
    }
}
