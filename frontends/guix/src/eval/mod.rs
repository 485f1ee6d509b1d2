//! The package-level evaluator: what Guix package files do when Guile
//! loads them, enough to get each package record — `define`/`define-public`,
//! `package`, `origin`, `inherit`, `let`, `if`/`cond`/`match` over
//! `(%current-system)`, list and string procedures, field references,
//! quasiquote and gexps (which build the build-side code of `arguments`).
//! Anything else is an [`EvalError`] at its line and column, with a hint.
//!
//! Top-level definitions of every file of the directory are collected
//! first and evaluated on demand, so a package may use one defined later
//! or in another file; a name no file defines is an
//! [`Value::External`] (a package from elsewhere, a build system, a
//! license), an error only where its value is needed.
//!
//! | module | owns |
//! |---|---|
//! | [`value`] | what expressions evaluate to |
//! | [`env`] | lexical environments |
//! | [`core`] | special forms and application |
//! | [`quasi`] | quasiquote and gexp expansion |
//! | [`builtins`] | the procedures package files call |
//! | [`record`] | `package`, `origin`, `git-reference` records |

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use strata_frontend_api::FrontendError;

use crate::datum::{Datum, Pos};
use crate::reader::read_all;

pub mod builtins;
pub mod core;
pub mod env;
pub mod inherit;
pub mod quasi;
pub mod record;
pub mod value;

use env::Env;
use record::Package;
use value::Value;

/// Something package code does that the evaluator cannot do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvalError {
    pub file: Option<PathBuf>,
    pub pos: Pos,
    pub message: String,
    pub hint: Option<String>,
}

impl EvalError {
    pub fn new(pos: Pos, message: impl Into<String>) -> EvalError {
        EvalError { file: None, pos, message: message.into(), hint: None }
    }

    pub fn hint(mut self, hint: impl Into<String>) -> EvalError {
        self.hint = Some(hint.into());
        self
    }

    pub fn into_frontend(self) -> FrontendError {
        let mut e = FrontendError::new(self.message);
        if let Some(f) = self.file {
            e = e.at(f, self.pos.line, self.pos.col);
        }
        if let Some(h) = self.hint {
            e = e.hint(h);
        }
        e
    }
}

/// One top-level definition.
struct Global {
    expr: Datum,
    file: PathBuf,
    value: RefCell<Option<Value>>,
    busy: Cell<bool>,
}

/// The machine a build is for: what `(%current-system)` returns.
#[derive(Debug, Clone)]
pub struct Target {
    /// Guix's system name (`x86_64-linux`).
    pub system: String,
}

/// The package being defined, for `this-package-input` and `#$output`.
pub struct This {
    pub package: Rc<Package>,
}

/// Every definition of a set of files, evaluated on demand.
pub struct Evaluator {
    globals: BTreeMap<String, Global>,
    /// Names in definition order, per file.
    order: Vec<(PathBuf, String)>,
    pub target: Target,
    /// The file of the definition being evaluated, innermost last.
    files: RefCell<Vec<PathBuf>>,
    /// The packages whose `arguments` are being evaluated, innermost last.
    pub(crate) this: RefCell<Vec<Rc<Package>>>,
    /// How deep evaluation is nested now, against [`MAX_DEPTH`].
    depth: Cell<usize>,
    /// Expressions evaluated so far, against [`MAX_STEPS`].
    steps: Cell<u64>,
}

/// The deepest evaluation nests (a procedure calling itself, or a
/// recursion that builds a deep value): past it, an error instead of a
/// stack overflow. The stack grows on the heap as needed below it.
pub const MAX_DEPTH: usize = 2_000;
/// The most expressions one evaluator evaluates: package files take
/// thousands; a loop that never ends reaches this in seconds.
pub const MAX_STEPS: u64 = 5_000_000;
/// The longest string a builtin may return: 4 MiB.
pub const MAX_STRING: usize = 4 << 20;
/// The longest list a builtin may return: 10,000 items (package input
/// lists have dozens). With the string limit, a loop doubling a value
/// stops in a few steps instead of exhausting the memory.
pub const MAX_LIST: usize = 10_000;

impl Evaluator {
    pub fn new(target: Target) -> Evaluator {
        Evaluator {
            globals: BTreeMap::new(),
            order: Vec::new(),
            target,
            files: RefCell::new(Vec::new()),
            this: RefCell::new(Vec::new()),
            depth: Cell::new(0),
            steps: Cell::new(0),
        }
    }

    /// Reads `file` and collects its top-level definitions. A name defined
    /// again replaces the earlier definition only when `primary` (the
    /// spec file wins over its neighbours).
    pub fn load(&mut self, file: &Path, text: &str, primary: bool) -> Result<(), FrontendError> {
        let data = read_all(text).map_err(|e| {
            let mut fe = FrontendError::new(e.message).at(file, e.pos.line, e.pos.col);
            if let Some(h) = e.hint {
                fe = fe.hint(h);
            }
            fe
        })?;
        for d in data {
            let Some((head, args)) = d.as_form() else { continue };
            if head != "define" && head != "define-public" {
                continue;
            }
            let (name, expr) = match args.first() {
                Some(Datum { kind: crate::datum::Kind::Sym(n), .. }) if args.len() == 2 => (n.clone(), args[1].clone()),
                Some(sig @ Datum { kind: crate::datum::Kind::List(_), .. }) => {
                    let items = sig.as_list().unwrap_or(&[]);
                    let Some(name) = items.first().and_then(Datum::as_sym) else { continue };
                    // (define (f . args) body…) → (lambda args body…)
                    let params = Datum::list(items[1..].to_vec(), sig.pos);
                    let mut lambda = vec![Datum::sym("lambda", d.pos), params];
                    lambda.extend(args[1..].iter().cloned());
                    (name.to_string(), Datum::list(lambda, d.pos))
                }
                Some(sig @ Datum { kind: crate::datum::Kind::Dotted(items, rest), .. }) => {
                    let Some(name) = items.first().and_then(Datum::as_sym) else { continue };
                    let params = Datum::new(crate::datum::Kind::Dotted(items[1..].to_vec(), rest.clone()), sig.pos);
                    let params = if items.len() == 1 { (**rest).clone() } else { params };
                    let mut lambda = vec![Datum::sym("lambda", d.pos), params];
                    lambda.extend(args[1..].iter().cloned());
                    (name.to_string(), Datum::list(lambda, d.pos))
                }
                _ => {
                    return Err(FrontendError::new(format!("a '{head}' this frontend cannot read"))
                        .at(file, d.pos.line, d.pos.col)
                        .hint("write (define NAME EXPR) or (define (NAME ARGS…) BODY…)"));
                }
            };
            if self.globals.contains_key(&name) && !primary {
                continue;
            }
            self.order.push((file.to_path_buf(), name.clone()));
            self.globals.insert(
                name,
                Global { expr, file: file.to_path_buf(), value: RefCell::new(None), busy: Cell::new(false) },
            );
        }
        Ok(())
    }

    /// The names `file` defines, in order.
    pub fn names_in(&self, file: &Path) -> Vec<String> {
        self.order.iter().filter(|(f, _)| f == file).map(|(_, n)| n.clone()).collect()
    }

    /// The names every file defines.
    pub fn all_names(&self) -> Vec<String> {
        self.order.iter().map(|(_, n)| n.clone()).collect()
    }

    pub fn is_defined(&self, name: &str) -> bool {
        self.globals.contains_key(name)
    }

    /// The file defining `name`.
    pub fn file_of(&self, name: &str) -> Option<&Path> {
        self.globals.get(name).map(|g| g.file.as_path())
    }

    /// The value of the top-level definition `name` (evaluated once).
    pub fn global(&self, name: &str, pos: Pos) -> Result<Option<Value>, EvalError> {
        let Some(g) = self.globals.get(name) else { return Ok(None) };
        if let Some(v) = g.value.borrow().as_ref() {
            return Ok(Some(v.clone()));
        }
        if g.busy.get() {
            return Err(EvalError::new(pos, format!("'{name}' is defined in terms of itself"))
                .hint("a package cannot be its own input"));
        }
        g.busy.set(true);
        self.files.borrow_mut().push(g.file.clone());
        let r = self.eval(&g.expr, &Env::root());
        self.files.borrow_mut().pop();
        g.busy.set(false);
        let v = r.map_err(|mut e| {
            if e.file.is_none() {
                e.file = Some(g.file.clone());
            }
            e
        })?;
        *g.value.borrow_mut() = Some(v.clone());
        Ok(Some(v))
    }

    /// The top-level definition `name` as a package.
    pub fn package(&self, name: &str) -> Result<Option<Rc<Package>>, EvalError> {
        match self.global(name, Pos::default())? {
            Some(Value::Package(p)) => Ok(Some(p)),
            _ => Ok(None),
        }
    }

    /// The file of the definition being evaluated.
    pub fn current_file(&self) -> Option<PathBuf> {
        self.files.borrow().last().cloned()
    }
}

#[cfg(test)]
mod tests;
