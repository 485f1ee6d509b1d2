//! Quasiquote and gexps: templates whose holes are evaluated on the host.
//!
//! A quasiquote keeps host values as they are (so labelled inputs,
//! `` `(("datrie" ,libdatrie)) ``, still hold the package); a gexp is
//! build-side code, so its holes become code at once ([`to_datum`]): a
//! package becomes its output directory, `#$output[:NAME]` the package's
//! output of that name. Parts without holes keep their positions.

use std::rc::Rc;

use crate::datum::{Datum, Kind};
use crate::eval::env::Env;
use crate::eval::value::{Value, to_datum};
use crate::eval::{EvalError, Evaluator};

/// `` `TEMPLATE ``.
pub fn quasiquote(ev: &Evaluator, d: &Datum, env: &Rc<Env>) -> Result<Value, EvalError> {
    qq(ev, d, env, 1)
}

fn has_hole(d: &Datum, names: &[&str]) -> bool {
    match &d.kind {
        Kind::List(items) => {
            items.first().and_then(Datum::as_sym).is_some_and(|h| names.contains(&h) && items.len() == 2)
                || items.iter().any(|i| has_hole(i, names))
        }
        Kind::Dotted(items, t) => items.iter().any(|i| has_hole(i, names)) || has_hole(t, names),
        _ => false,
    }
}

const QQ_HOLES: &[&str] = &["unquote", "unquote-splicing", "quasiquote"];

fn qq(ev: &Evaluator, d: &Datum, env: &Rc<Env>, depth: usize) -> Result<Value, EvalError> {
    if !has_hole(d, QQ_HOLES) {
        return Ok(Value::Datum(d.clone()));
    }
    match &d.kind {
        Kind::List(items) => {
            if let (Some(head), 2) = (items[0].as_sym(), items.len()) {
                match head {
                    "unquote" if depth == 1 => return ev.eval(&items[1], env),
                    "unquote" | "unquote-splicing" => {
                        let inner = qq(ev, &items[1], env, depth - 1)?;
                        return Ok(Value::List(vec![Value::Datum(items[0].clone()), inner], d.pos));
                    }
                    "quasiquote" => {
                        let inner = qq(ev, &items[1], env, depth + 1)?;
                        return Ok(Value::List(vec![Value::Datum(items[0].clone()), inner], d.pos));
                    }
                    _ => {}
                }
            }
            let mut out = Vec::new();
            for item in items {
                if depth == 1
                    && let Some(("unquote-splicing", [x])) = item.as_form()
                {
                    let v = ev.eval(x, env)?;
                    out.extend(splice(&v, item)?);
                    continue;
                }
                out.push(qq(ev, item, env, depth)?);
            }
            Ok(Value::List(out, d.pos))
        }
        Kind::Dotted(items, tail) => {
            let mut out = Vec::new();
            for item in items {
                out.push(qq(ev, item, env, depth)?);
            }
            let tail = qq(ev, tail, env, depth)?;
            let mut v = tail;
            for item in out.into_iter().rev() {
                v = Value::Pair(Box::new(item), Box::new(v));
            }
            Ok(v)
        }
        _ => Ok(Value::Datum(d.clone())),
    }
}

fn splice(v: &Value, at: &Datum) -> Result<Vec<Value>, EvalError> {
    match v {
        Value::Unspecified => Ok(Vec::new()),
        _ => v.items().ok_or_else(|| EvalError::new(at.pos, format!("cannot splice {}: not a list", v.describe()))),
    }
}

const GEXP_HOLES: &[&str] = &["ungexp", "ungexp-splicing", "ungexp-native", "ungexp-native-splicing", "gexp"];

/// `#~TEMPLATE`: build-side code.
pub fn gexp(ev: &Evaluator, d: &Datum, env: &Rc<Env>) -> Result<Value, EvalError> {
    Ok(Value::Datum(expand(ev, d, env)?))
}

fn expand(ev: &Evaluator, d: &Datum, env: &Rc<Env>) -> Result<Datum, EvalError> {
    if !has_hole(d, GEXP_HOLES) {
        return Ok(d.clone());
    }
    match &d.kind {
        Kind::List(items) => {
            if let (Some(head), 2) = (items[0].as_sym(), items.len()) {
                match head {
                    "ungexp" | "ungexp-native" => return hole(ev, &items[1], env),
                    "gexp" => {
                        return Err(EvalError::new(d.pos, "a gexp inside a gexp is not supported yet")
                            .hint("write the inner code without '#~'"));
                    }
                    _ => {}
                }
            }
            let mut out = Vec::new();
            for item in items {
                if let Some((h @ ("ungexp-splicing" | "ungexp-native-splicing"), [x])) = item.as_form() {
                    let _ = h;
                    let v = ev.eval(x, env)?;
                    for i in splice(&v, item)? {
                        out.push(to_datum(&i, item.pos)?);
                    }
                    continue;
                }
                out.push(expand(ev, item, env)?);
            }
            Ok(Datum::list(out, d.pos))
        }
        Kind::Dotted(items, tail) => Ok(Datum::new(
            Kind::Dotted(
                items.iter().map(|i| expand(ev, i, env)).collect::<Result<_, _>>()?,
                Box::new(expand(ev, tail, env)?),
            ),
            d.pos,
        )),
        _ => Ok(d.clone()),
    }
}

/// What `#$x` inserts.
fn hole(ev: &Evaluator, x: &Datum, env: &Rc<Env>) -> Result<Datum, EvalError> {
    if let Some(s) = x.as_sym()
        && (s == "output" || s.starts_with("output:"))
        && env.lookup(s).is_none()
    {
        let name = s.strip_prefix("output:").unwrap_or("out");
        let this = ev.this.borrow();
        let Some(p) = this.last() else {
            return Err(EvalError::new(x.pos, "'#$output' outside a package's arguments"));
        };
        if !p.outputs.iter().any(|o| o == name) {
            return Err(EvalError::new(x.pos, format!("the package has no output '{name}'"))
                .hint(format!("its outputs are: {}", p.outputs.join(" "))));
        }
        return Ok(Datum::str(&p.output_path(name), x.pos));
    }
    let v = ev.eval(x, env)?;
    // A symbol or list inserted into code is code; a string is a literal.
    to_datum(&v, x.pos)
}
