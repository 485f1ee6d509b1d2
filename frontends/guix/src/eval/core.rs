//! Special forms and procedure application: `quote`, `quasiquote`,
//! `gexp`, `if`, `cond`, `case`, `when`, `unless`, `and`, `or`, `let`,
//! `let*`, `letrec`, `lambda`, `begin`, `match`, and the record forms
//! (`package`, `origin`, `git-reference`, `package/inherit`).

use std::rc::Rc;

use crate::datum::{Datum, Kind, Pos};
use crate::eval::env::Env;
use crate::eval::value::{Closure, Value};
use crate::eval::{EvalError, Evaluator, builtins, quasi, record};

impl Evaluator {
    /// Evaluates `d` in `env`, within the evaluator's depth and step
    /// limits ([`super::MAX_DEPTH`], [`super::MAX_STEPS`]).
    pub fn eval(&self, d: &Datum, env: &Rc<Env>) -> Result<Value, EvalError> {
        let steps = self.steps.get() + 1;
        self.steps.set(steps);
        if steps > super::MAX_STEPS {
            return Err(EvalError::new(
                d.pos,
                format!("evaluation took more than {} steps (a loop that never ends?)", super::MAX_STEPS),
            )
            .hint("package definitions evaluate in a few thousand steps: look for a procedure that calls itself without end"));
        }
        let depth = self.depth.get() + 1;
        if depth > super::MAX_DEPTH {
            return Err(EvalError::new(
                d.pos,
                format!(
                    "evaluation nests deeper than {} levels (a procedure that calls itself without end?)",
                    super::MAX_DEPTH
                ),
            )
            .hint("look for a recursion without a base case"));
        }
        self.depth.set(depth);
        // 128 KiB of headroom; 4 MiB more stack at a time, on the heap.
        let v = stacker::maybe_grow(128 << 10, 4 << 20, || self.eval_inner(d, env));
        self.depth.set(depth - 1);
        v
    }

    fn eval_inner(&self, d: &Datum, env: &Rc<Env>) -> Result<Value, EvalError> {
        match &d.kind {
            Kind::Sym(name) => self.lookup(name, d.pos, env),
            Kind::List(items) if items.is_empty() => {
                Err(EvalError::new(d.pos, "'()' is not an expression").hint("write ''() or (list) for an empty list"))
            }
            Kind::List(items) => self.eval_form(d, items, env),
            Kind::Dotted(..) => Err(EvalError::new(d.pos, "a dotted list is not an expression")),
            _ => Ok(Value::Datum(d.clone())),
        }
    }

    fn lookup(&self, name: &str, pos: Pos, env: &Rc<Env>) -> Result<Value, EvalError> {
        if let Some(v) = env.lookup(name) {
            return Ok(v);
        }
        if let Some(v) = self.global(name, pos)? {
            return Ok(v);
        }
        if let Some(v) = self.this_variable(name, pos) {
            return Ok(v);
        }
        if let Some(b) = builtins::named(name) {
            return Ok(Value::Builtin(b));
        }
        Ok(Value::External(name.to_string(), pos))
    }

    /// `%output` and `%outputs` while a package's arguments are evaluated.
    fn this_variable(&self, name: &str, pos: Pos) -> Option<Value> {
        let this = self.this.borrow();
        let p = this.last()?;
        match name {
            "%output" => Some(Value::str(p.output_path("out"), pos)),
            "%outputs" => Some(Value::List(
                p.outputs
                    .iter()
                    .map(|o| Value::Pair(Box::new(Value::str(o, pos)), Box::new(Value::str(p.output_path(o), pos))))
                    .collect(),
                pos,
            )),
            _ => None,
        }
    }

    fn eval_form(&self, d: &Datum, items: &[Datum], env: &Rc<Env>) -> Result<Value, EvalError> {
        let args = &items[1..];
        if let Some(head) = items[0].as_sym()
            && env.lookup(head).is_none()
            && !self.is_defined(head)
        {
            match head {
                "quote" => return Ok(Value::Datum(one(d, args, "quote")?.clone())),
                "quasiquote" => return quasi::quasiquote(self, one(d, args, "quasiquote")?, env),
                "gexp" => return quasi::gexp(self, one(d, args, "gexp")?, env),
                "ungexp" | "ungexp-splicing" | "unquote" | "unquote-splicing" => {
                    return Err(EvalError::new(d.pos, format!("'{head}' outside a gexp or quasiquote")));
                }
                "if" => {
                    if args.len() < 2 || args.len() > 3 {
                        return Err(EvalError::new(
                            d.pos,
                            "'if' takes a test, a consequent and an optional alternative",
                        ));
                    }
                    return if self.eval(&args[0], env)?.truthy() {
                        self.eval(&args[1], env)
                    } else if let Some(alt) = args.get(2) {
                        self.eval(alt, env)
                    } else {
                        Ok(Value::Unspecified)
                    };
                }
                "when" | "unless" => {
                    let test = self.eval(args.first().ok_or_else(|| EvalError::new(d.pos, "missing test"))?, env)?;
                    return if test.truthy() == (head == "when") {
                        self.body(&args[1..], env)
                    } else {
                        Ok(Value::Unspecified)
                    };
                }
                "cond" => return self.cond(args, env),
                "case" => return self.case(d, args, env),
                "and" => {
                    let mut v = Value::bool(true, d.pos);
                    for a in args {
                        v = self.eval(a, env)?;
                        if !v.truthy() {
                            return Ok(v);
                        }
                    }
                    return Ok(v);
                }
                "or" => {
                    for a in args {
                        let v = self.eval(a, env)?;
                        if v.truthy() {
                            return Ok(v);
                        }
                    }
                    return Ok(Value::bool(false, d.pos));
                }
                "begin" => return self.body(args, env),
                "let" => return self.let_form(d, args, env, false),
                "let*" | "letrec" | "letrec*" => return self.let_form(d, args, env, true),
                "lambda" => return lambda(d, args, env),
                "match" => return self.match_form(d, args, env),
                "package" => return record::package(self, d, args, env, None),
                "package/inherit" => {
                    let parent =
                        args.first().ok_or_else(|| EvalError::new(d.pos, "package/inherit needs a package"))?;
                    let parent = self.eval(parent, env)?;
                    return record::package(self, d, &args[1..], env, Some(parent));
                }
                "origin" => return record::origin(self, d, args, env),
                "git-reference" => return record::git_reference(self, d, args, env),
                "define" | "define-public" => {
                    return Err(EvalError::new(d.pos, "a definition inside an expression")
                        .hint("move it to the top level, or use let"));
                }
                "substitute-keyword-arguments" => {
                    return super::inherit::substitute_keyword_arguments(self, d, args, env);
                }
                "modify-inputs" => return super::inherit::modify_inputs(self, d, args, env),
                _ => {}
            }
        }
        let f = self.eval(&items[0], env)?;
        let mut vals = Vec::with_capacity(args.len());
        for a in args {
            vals.push(self.eval(a, env)?);
        }
        self.apply(&f, vals, d.pos)
    }

    /// Calls a procedure value.
    pub fn apply(&self, f: &Value, args: Vec<Value>, pos: Pos) -> Result<Value, EvalError> {
        match f {
            Value::Builtin(name) => builtins::call(self, name, args, pos),
            Value::Closure(c) => {
                let env = Env::child(&c.env);
                if args.len() < c.params.len() || (c.rest.is_none() && args.len() > c.params.len()) {
                    return Err(EvalError::new(
                        pos,
                        format!("wrong number of arguments: expected {}, got {}", c.params.len(), args.len()),
                    ));
                }
                let mut it = args.into_iter();
                for p in &c.params {
                    env.define(p, it.next().unwrap_or(Value::Unspecified));
                }
                if let Some(r) = &c.rest {
                    env.define(r, Value::List(it.collect(), pos));
                }
                self.body(&c.body, &env)
            }
            Value::External(name, _) => Err(EvalError::new(pos, format!("unknown procedure '{name}'"))
                .hint("the Guix frontend evaluates the package-level forms listed in docs/guix-differences.md; define it in one of these files, or leave it to the build side inside a gexp")),
            other => Err(EvalError::new(pos, format!("{} is not a procedure", other.describe()))),
        }
    }

    /// The last value of a body (internal `define`s bind in its frame).
    pub fn body(&self, body: &[Datum], env: &Rc<Env>) -> Result<Value, EvalError> {
        let env = Env::child(env);
        let mut v = Value::Unspecified;
        for d in body {
            if let Some(("define", args)) = d.as_form()
                && let Some(name) = args.first().and_then(Datum::as_sym)
                && args.len() == 2
            {
                let val = self.eval(&args[1], &env)?;
                env.define(name, val);
                continue;
            }
            v = self.eval(d, &env)?;
        }
        Ok(v)
    }

    fn cond(&self, clauses: &[Datum], env: &Rc<Env>) -> Result<Value, EvalError> {
        for c in clauses {
            let items = c
                .as_list()
                .filter(|i| !i.is_empty())
                .ok_or_else(|| EvalError::new(c.pos, "a cond clause is a list (TEST BODY…)"))?;
            if items[0].as_sym() == Some("else") {
                return self.body(&items[1..], env);
            }
            let t = self.eval(&items[0], env)?;
            if t.truthy() {
                return if items.len() == 1 { Ok(t) } else { self.body(&items[1..], env) };
            }
        }
        Ok(Value::Unspecified)
    }

    fn case(&self, d: &Datum, args: &[Datum], env: &Rc<Env>) -> Result<Value, EvalError> {
        let key = self.eval(args.first().ok_or_else(|| EvalError::new(d.pos, "case needs a key"))?, env)?;
        for c in &args[1..] {
            let items =
                c.as_list().filter(|i| !i.is_empty()).ok_or_else(|| EvalError::new(c.pos, "bad case clause"))?;
            let hit = match &items[0] {
                x if x.as_sym() == Some("else") => true,
                Datum { kind: Kind::List(data), .. } => data.iter().any(|x| key.equal(&Value::Datum(x.clone()))),
                other => return Err(EvalError::new(other.pos, "a case clause starts with a list of data")),
            };
            if hit {
                return self.body(&items[1..], env);
            }
        }
        Ok(Value::Unspecified)
    }

    fn let_form(&self, d: &Datum, args: &[Datum], env: &Rc<Env>, sequential: bool) -> Result<Value, EvalError> {
        let Some(first) = args.first() else { return Err(EvalError::new(d.pos, "'let' needs bindings")) };
        if let Some(name) = first.as_sym() {
            // Named let: a loop.
            let bindings =
                args.get(1).and_then(Datum::as_list).ok_or_else(|| EvalError::new(d.pos, "bad named let"))?;
            let mut params = Vec::new();
            let mut inits = Vec::new();
            for b in bindings {
                let (n, e) = binding(b)?;
                params.push(n.to_string());
                inits.push(self.eval(e, env)?);
            }
            let loop_env = Env::child(env);
            let c = Rc::new(Closure { params, rest: None, body: args[2..].to_vec(), env: loop_env.clone() });
            loop_env.define(name, Value::Closure(c.clone()));
            return self.apply(&Value::Closure(c), inits, d.pos);
        }
        let bindings =
            first.as_list().ok_or_else(|| EvalError::new(first.pos, "let bindings are a list ((NAME EXPR) …)"))?;
        let new = Env::child(env);
        for b in bindings {
            let (n, e) = binding(b)?;
            let v = self.eval(e, if sequential { &new } else { env })?;
            new.define(n, v);
        }
        self.body(&args[1..], &new)
    }

    fn match_form(&self, d: &Datum, args: &[Datum], env: &Rc<Env>) -> Result<Value, EvalError> {
        let v = self.eval(args.first().ok_or_else(|| EvalError::new(d.pos, "match needs an expression"))?, env)?;
        for clause in &args[1..] {
            let items = clause
                .as_list()
                .filter(|i| !i.is_empty())
                .ok_or_else(|| EvalError::new(clause.pos, "a match clause is a list (PATTERN BODY…)"))?;
            let new = Env::child(env);
            if self.matches(&items[0], &v, &new)? {
                return self.body(&items[1..], &new);
            }
        }
        Err(EvalError::new(d.pos, format!("no match clause matches {}", v.describe()))
            .hint("add a catch-all clause (_ …)"))
    }

    /// Whether `v` matches pattern `p`, binding its variables in `env`.
    fn matches(&self, p: &Datum, v: &Value, env: &Rc<Env>) -> Result<bool, EvalError> {
        match &p.kind {
            Kind::Sym(s) if s == "_" => Ok(true),
            Kind::Sym(s) => {
                env.define(s, v.clone());
                Ok(true)
            }
            Kind::List(items) => match items.first().and_then(Datum::as_sym) {
                Some("quote") if items.len() == 2 => Ok(v.equal(&Value::Datum(items[1].clone()))),
                Some("or") => {
                    for alt in &items[1..] {
                        if self.matches(alt, v, env)? {
                            return Ok(true);
                        }
                    }
                    Ok(false)
                }
                Some("and") => {
                    for alt in &items[1..] {
                        if !self.matches(alt, v, env)? {
                            return Ok(false);
                        }
                    }
                    Ok(true)
                }
                Some("?") if items.len() >= 2 => {
                    let pred = self.eval(&items[1], env)?;
                    if !self.apply(&pred, vec![v.clone()], p.pos)?.truthy() {
                        return Ok(false);
                    }
                    for sub in &items[2..] {
                        if !self.matches(sub, v, env)? {
                            return Ok(false);
                        }
                    }
                    Ok(true)
                }
                _ => {
                    let Some(vs) = v.items() else { return Ok(false) };
                    if vs.len() != items.len() || items.iter().any(|i| i.as_sym() == Some("...")) {
                        if items.iter().any(|i| i.as_sym() == Some("...")) {
                            return Err(EvalError::new(p.pos, "match patterns with '...' are not supported yet"));
                        }
                        return Ok(false);
                    }
                    for (sub, x) in items.iter().zip(&vs) {
                        if !self.matches(sub, x, env)? {
                            return Ok(false);
                        }
                    }
                    Ok(true)
                }
            },
            _ => Ok(v.equal(&Value::Datum(p.clone()))),
        }
    }
}

fn one<'a>(d: &Datum, args: &'a [Datum], form: &str) -> Result<&'a Datum, EvalError> {
    match args {
        [x] => Ok(x),
        _ => Err(EvalError::new(d.pos, format!("'{form}' takes one datum"))),
    }
}

fn binding(b: &Datum) -> Result<(&str, &Datum), EvalError> {
    match b.as_list() {
        Some([n, e]) if n.as_sym().is_some() => Ok((n.as_sym().unwrap_or_default(), e)),
        _ => Err(EvalError::new(b.pos, "a binding is (NAME EXPR)")),
    }
}

fn lambda(d: &Datum, args: &[Datum], env: &Rc<Env>) -> Result<Value, EvalError> {
    let Some(formals) = args.first() else { return Err(EvalError::new(d.pos, "lambda needs parameters")) };
    let sym = |x: &Datum| x.as_sym().map(str::to_string).ok_or_else(|| EvalError::new(x.pos, "a parameter is a name"));
    let (params, rest) = match &formals.kind {
        Kind::Sym(r) => (Vec::new(), Some(r.clone())),
        Kind::List(v) => (v.iter().map(sym).collect::<Result<_, _>>()?, None),
        Kind::Dotted(v, r) => (v.iter().map(sym).collect::<Result<_, _>>()?, Some(sym(r)?)),
        _ => return Err(EvalError::new(formals.pos, "bad lambda parameters")),
    };
    Ok(Value::Closure(Rc::new(Closure { params, rest, body: args[1..].to_vec(), env: env.clone() })))
}
