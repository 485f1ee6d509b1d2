//! The forms that derive a package's fields from another's, as variants
//! written with `inherit` do: `substitute-keyword-arguments` over
//! `(package-arguments P)`, and `modify-inputs` over `(package-inputs P)`
//! (and the native and propagated lists).
//!
//! A package's arguments are build-side code ([`Arg::value`]); they come
//! back as [`Value::Code`], so a clause's variable holds the old code and
//! a quasiquote or gexp splices it into the new (`` `(cons "--x" ,flags) ``,
//! `#~(modify-phases #$phases …)`), as Guix does.

use std::rc::Rc;

use crate::datum::{Datum, Kind, Pos};
use crate::eval::env::Env;
use crate::eval::record::{Input, InputTarget, Package};
use crate::eval::value::Value;
use crate::eval::{EvalError, Evaluator};

/// `(package-arguments P)`: the keyword list, each value as code.
pub fn arguments_value(p: &Package, pos: Pos) -> Value {
    let mut items = Vec::new();
    for a in &p.arguments {
        items.push(Value::Datum(Datum::new(Kind::Keyword(a.key.clone()), a.pos)));
        items.push(Value::Code(a.value.clone()));
    }
    Value::List(items, pos)
}

/// `(package-inputs P)` and friends: each input as `("LABEL" PACKAGE
/// "OUTPUT")`, which an inputs field reads back as it was.
pub fn inputs_value(inputs: &[Input], pos: Pos) -> Value {
    Value::List(inputs.iter().map(input_value).collect(), pos)
}

fn input_value(i: &Input) -> Value {
    let target = match &i.target {
        InputTarget::Package(p) => Value::Package(p.clone()),
        InputTarget::External(n) => Value::External(n.clone(), i.pos),
    };
    Value::List(vec![Value::str(&i.label, i.pos), target, Value::str(&i.output, i.pos)], i.pos)
}

/// `(substitute-keyword-arguments BASE ((#:KW VAR [DEFAULT]) EXPR) …)`:
/// BASE's keyword list with each clause's keyword's value replaced by
/// EXPR evaluated with VAR bound to the old value. A keyword BASE lacks is
/// added when the clause gives a DEFAULT (bound to VAR), else left out.
pub fn substitute_keyword_arguments(
    ev: &Evaluator,
    d: &Datum,
    args: &[Datum],
    env: &Rc<Env>,
) -> Result<Value, EvalError> {
    let Some((base, clauses)) = args.split_first() else {
        return Err(EvalError::new(d.pos, "substitute-keyword-arguments needs a keyword list")
            .hint("(substitute-keyword-arguments (package-arguments P) ((#:KW VAR) EXPR) …)"));
    };
    let base_value = ev.eval(base, env)?;
    let items = base_value
        .items()
        .ok_or_else(|| EvalError::new(base.pos, format!("expected a keyword list, got {}", base_value.describe())))?;
    let mut pairs: Vec<(String, Value)> = Vec::new();
    for pair in items.chunks(2) {
        let (Value::Datum(Datum { kind: Kind::Keyword(k), .. }), Some(v)) = (&pair[0], pair.get(1)) else {
            return Err(EvalError::new(base.pos, "expected a keyword list (#:KW VALUE …)"));
        };
        pairs.push((k.clone(), v.clone()));
    }
    for clause in clauses {
        let bad = || EvalError::new(clause.pos, "a substitute-keyword-arguments clause is ((#:KW VAR [DEFAULT]) EXPR)");
        let [head, expr] = clause.as_list().ok_or_else(bad)? else { return Err(bad()) };
        let (kw, var, default) = match head.as_list().ok_or_else(bad)? {
            [k, v] => (k, v, None),
            [k, v, dflt] => (k, v, Some(dflt)),
            _ => return Err(bad()),
        };
        let (Kind::Keyword(kw), Some(var)) = (&kw.kind, var.as_sym()) else { return Err(bad()) };
        let old = match pairs.iter().position(|(k, _)| k == kw) {
            Some(i) => Some((i, pairs[i].1.clone())),
            None => match default {
                Some(dflt) => Some((usize::MAX, ev.eval(dflt, env)?)),
                None => None,
            },
        };
        let Some((i, old)) = old else { continue };
        let scope = Env::child(env);
        scope.define(var, old);
        let new = ev.eval(expr, &scope)?;
        if i == usize::MAX {
            pairs.push((kw.clone(), new));
        } else {
            pairs[i].1 = new;
        }
    }
    let mut out = Vec::new();
    for (k, v) in pairs {
        out.push(Value::Datum(Datum::new(Kind::Keyword(k), d.pos)));
        out.push(v);
    }
    Ok(Value::List(out, d.pos))
}

/// `(modify-inputs INPUTS CLAUSE …)` with `(delete "NAME" …)`, `(prepend
/// PKG …)`, `(append PKG …)` and `(replace "NAME" PKG)`, in order.
pub fn modify_inputs(ev: &Evaluator, d: &Datum, args: &[Datum], env: &Rc<Env>) -> Result<Value, EvalError> {
    let Some((base, clauses)) = args.split_first() else {
        return Err(EvalError::new(d.pos, "modify-inputs needs an input list")
            .hint("(modify-inputs (package-inputs P) (delete \"NAME\") (append PKG))"));
    };
    let base_value = ev.eval(base, env)?;
    let mut items = base_value
        .items()
        .ok_or_else(|| EvalError::new(base.pos, format!("expected an input list, got {}", base_value.describe())))?;
    for clause in clauses {
        let Some((op, operands)) = clause.as_form() else {
            return Err(EvalError::new(clause.pos, "a modify-inputs clause is (delete|prepend|append|replace …)"));
        };
        match op {
            "delete" => {
                for n in operands {
                    let name = ev.eval(n, env)?;
                    let name = name.as_str().ok_or_else(|| {
                        EvalError::new(n.pos, format!("delete takes input names (strings), got {}", name.describe()))
                    })?;
                    let before = items.len();
                    items.retain(|i| label_of(i).as_deref() != Some(name));
                    if items.len() == before {
                        return Err(EvalError::new(
                            n.pos,
                            format!("modify-inputs: no input named \"{name}\" to delete"),
                        )
                        .hint(format!("the inputs are: {}", labels(&items))));
                    }
                }
            }
            "prepend" | "append" => {
                let mut new = Vec::new();
                for e in operands {
                    new.push(ev.eval(e, env)?);
                }
                if op == "prepend" {
                    new.append(&mut items);
                    items = new;
                } else {
                    items.extend(new);
                }
            }
            "replace" => {
                let [n, e] = operands else {
                    return Err(EvalError::new(clause.pos, "replace takes an input name and a package"));
                };
                let name = ev.eval(n, env)?;
                let name =
                    name.as_str().ok_or_else(|| EvalError::new(n.pos, "replace takes an input name (a string)"))?;
                let new = ev.eval(e, env)?;
                let Some(slot) = items.iter_mut().find(|i| label_of(i).as_deref() == Some(name)) else {
                    return Err(EvalError::new(n.pos, format!("modify-inputs: no input named \"{name}\" to replace"))
                        .hint(format!("the inputs are: {}", labels(&items))));
                };
                // The label stays, as in Guix; the package is the new one.
                *slot = Value::List(vec![Value::str(name, n.pos), new], n.pos);
            }
            other => {
                return Err(EvalError::new(clause.pos, format!("unknown modify-inputs clause '{other}'"))
                    .hint("the clauses are: delete prepend append replace"));
            }
        }
    }
    Ok(Value::List(items, d.pos))
}

/// An input item's label: a package's name, or a labelled entry's label.
fn label_of(item: &Value) -> Option<String> {
    match item {
        Value::Package(p) => Some(p.name.clone()),
        Value::External(n, _) => Some(n.clone()),
        _ => {
            let parts = item.items()?;
            match parts.first()? {
                Value::Datum(Datum { kind: Kind::Str(s), .. }) => Some(s.clone()),
                first => label_of(first),
            }
        }
    }
}

fn labels(items: &[Value]) -> String {
    items.iter().filter_map(label_of).collect::<Vec<_>>().join(" ")
}
