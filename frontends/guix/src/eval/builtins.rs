//! The procedures package files call at the package level: lists and
//! strings, versions, the target system, package field accessors,
//! `this-package-input`, `file-append`, `git-file-name`, `base32`.

use crate::base32;
use crate::datum::{Datum, Kind, Pos};
use crate::eval::value::{Value, path_of};
use crate::eval::{EvalError, Evaluator};

const NAMES: &[&str] = &[
    "list",
    "cons",
    "append",
    "string-append",
    "string-split",
    "string-join",
    "car",
    "cdr",
    "cadr",
    "caddr",
    "first",
    "second",
    "third",
    "last",
    "assoc-ref",
    "version-major+minor",
    "version-major",
    "version-major+minor+point",
    "version-prefix?",
    "string=?",
    "equal?",
    "eq?",
    "eqv?",
    "null?",
    "pair?",
    "list?",
    "string?",
    "not",
    "member",
    "length",
    "reverse",
    "string-prefix?",
    "string-suffix?",
    "string-contains",
    "number->string",
    "string-downcase",
    "string-upcase",
    "%current-system",
    "%current-target-system",
    "target-64bit?",
    "target-x86-64?",
    "target-x86-32?",
    "target-x86?",
    "target-arm?",
    "target-arm32?",
    "target-aarch64?",
    "target-linux?",
    "target-hurd?",
    "target-riscv64?",
    "target-ppc64le?",
    "target-ppc32?",
    "target-powerpc?",
    "target-mingw?",
    "target-hurd64?",
    "system-hurd?",
    "system-hurd64?",
    "target-little-endian?",
    "cc-for-target",
    "cxx-for-target",
    "pkg-config-for-target",
    "ar-for-target",
    "this-package-input",
    "this-package-native-input",
    "package-name",
    "package-version",
    "package-source",
    "package-outputs",
    "package-arguments",
    "package-inputs",
    "package-native-inputs",
    "package-propagated-inputs",
    "file-append",
    "git-file-name",
    "git-version",
    "base32",
    "search-patches",
    "string-replace-substring",
];

/// The builtin of that name.
pub fn named(name: &str) -> Option<&'static str> {
    NAMES.iter().find(|n| **n == name).copied()
}

fn arity(name: &str, args: &[Value], n: usize, pos: Pos) -> Result<(), EvalError> {
    if args.len() != n {
        return Err(EvalError::new(pos, format!("'{name}' takes {n} argument(s), got {}", args.len())));
    }
    Ok(())
}

fn str_arg<'a>(name: &str, v: &'a Value, pos: Pos) -> Result<&'a str, EvalError> {
    v.as_str().ok_or_else(|| EvalError::new(pos, format!("'{name}' expects a string, got {}", v.describe())))
}

fn list_arg(name: &str, v: &Value, pos: Pos) -> Result<Vec<Value>, EvalError> {
    v.items().ok_or_else(|| EvalError::new(pos, format!("'{name}' expects a list, got {}", v.describe())))
}

fn strings(v: Vec<String>, pos: Pos) -> Value {
    Value::List(v.into_iter().map(|s| Value::str(s, pos)).collect(), pos)
}

fn version_parts(v: &str, n: usize) -> String {
    v.split('.').take(n).collect::<Vec<_>>().join(".")
}

/// Calls builtin `name`; a result past [`super::MAX_STRING`] or
/// [`super::MAX_LIST`] is an error.
pub fn call(ev: &Evaluator, name: &str, args: Vec<Value>, pos: Pos) -> Result<Value, EvalError> {
    let v = call_unchecked(ev, name, args, pos)?;
    let too_big = |what: String| {
        Err(EvalError::new(pos, format!("'{name}' made {what}, more than the evaluator allows"))
            .hint("package-level code builds short lists and strings: look for a loop that grows a value without end"))
    };
    if let Value::List(items, _) = &v
        && items.len() > super::MAX_LIST
    {
        return too_big(format!("a list of {} items (limit {})", items.len(), super::MAX_LIST));
    }
    if let Some(s) = v.as_str()
        && s.len() > super::MAX_STRING
    {
        return too_big(format!("a string of {} bytes (limit {})", s.len(), super::MAX_STRING));
    }
    Ok(v)
}

fn call_unchecked(ev: &Evaluator, name: &str, args: Vec<Value>, pos: Pos) -> Result<Value, EvalError> {
    let system = ev.target.system.as_str();
    let arch = system.split('-').next().unwrap_or("");
    let b = |x: bool| Ok(Value::bool(x, pos));
    match name {
        "list" => Ok(Value::List(args, pos)),
        "cons" => {
            arity(name, &args, 2, pos)?;
            match args[1].items() {
                Some(mut tail) => {
                    tail.insert(0, args[0].clone());
                    Ok(Value::List(tail, pos))
                }
                None => Ok(Value::Pair(Box::new(args[0].clone()), Box::new(args[1].clone()))),
            }
        }
        "append" => {
            let mut out = Vec::new();
            for a in &args {
                out.extend(list_arg(name, a, pos)?);
            }
            Ok(Value::List(out, pos))
        }
        "string-append" => {
            let mut s = String::new();
            for a in &args {
                s.push_str(str_arg(name, a, pos).map_err(|e| {
                    if let Value::External(n, _) = a {
                        EvalError::new(pos, format!("'{n}' is not defined in these files"))
                            .hint("define it, or move this expression into a gexp for the build side")
                    } else {
                        e
                    }
                })?);
            }
            Ok(Value::str(s, pos))
        }
        "string-split" => {
            arity(name, &args, 2, pos)?;
            let s = str_arg(name, &args[0], pos)?;
            let Value::Datum(Datum { kind: Kind::Char(c), .. }) = &args[1] else {
                return Err(EvalError::new(pos, "string-split splits on a character (#\\.)"));
            };
            Ok(strings(s.split(*c).map(str::to_string).collect(), pos))
        }
        "string-join" => {
            let items = list_arg(name, args.first().unwrap_or(&Value::Unspecified), pos)?;
            let sep = match args.get(1) {
                Some(s) => str_arg(name, s, pos)?.to_string(),
                None => " ".into(),
            };
            let parts: Vec<&str> = items.iter().map(|i| str_arg(name, i, pos)).collect::<Result<_, _>>()?;
            Ok(Value::str(parts.join(&sep), pos))
        }
        "string-replace-substring" => {
            arity(name, &args, 3, pos)?;
            let (s, a, r) =
                (str_arg(name, &args[0], pos)?, str_arg(name, &args[1], pos)?, str_arg(name, &args[2], pos)?);
            Ok(Value::str(s.replace(a, r), pos))
        }
        "car" | "first" | "cdr" | "cadr" | "second" | "caddr" | "third" | "last" => {
            arity(name, &args, 1, pos)?;
            if let Value::Pair(a, d) = &args[0] {
                return match name {
                    "car" | "first" => Ok((**a).clone()),
                    "cdr" => Ok((**d).clone()),
                    _ => Err(EvalError::new(pos, format!("'{name}' of a pair"))),
                };
            }
            let items = list_arg(name, &args[0], pos)?;
            let at = |i: usize| {
                items.get(i).cloned().ok_or_else(|| EvalError::new(pos, format!("'{name}' of a list too short")))
            };
            match name {
                "car" | "first" => at(0),
                "cadr" | "second" => at(1),
                "caddr" | "third" => at(2),
                "last" => items.last().cloned().ok_or_else(|| EvalError::new(pos, "'last' of an empty list")),
                _ => {
                    if items.is_empty() {
                        return Err(EvalError::new(pos, "'cdr' of an empty list"));
                    }
                    Ok(Value::List(items[1..].to_vec(), pos))
                }
            }
        }
        "assoc-ref" => {
            arity(name, &args, 2, pos)?;
            for entry in list_arg(name, &args[0], pos)? {
                let (k, v) = match &entry {
                    Value::Pair(k, v) => ((**k).clone(), (**v).clone()),
                    other => match other.items() {
                        Some(items) if !items.is_empty() => (items[0].clone(), Value::List(items[1..].to_vec(), pos)),
                        _ => continue,
                    },
                };
                if k.equal(&args[1]) {
                    return Ok(v);
                }
            }
            b(false)
        }
        "version-major+minor" => {
            arity(name, &args, 1, pos)?;
            Ok(Value::str(version_parts(str_arg(name, &args[0], pos)?, 2), pos))
        }
        "version-major+minor+point" => {
            arity(name, &args, 1, pos)?;
            Ok(Value::str(version_parts(str_arg(name, &args[0], pos)?, 3), pos))
        }
        "version-major" => {
            arity(name, &args, 1, pos)?;
            Ok(Value::str(version_parts(str_arg(name, &args[0], pos)?, 1), pos))
        }
        "version-prefix?" | "string-prefix?" => {
            arity(name, &args, 2, pos)?;
            b(str_arg(name, &args[1], pos)?.starts_with(str_arg(name, &args[0], pos)?))
        }
        "string-suffix?" => {
            arity(name, &args, 2, pos)?;
            b(str_arg(name, &args[1], pos)?.ends_with(str_arg(name, &args[0], pos)?))
        }
        "string-contains" => {
            arity(name, &args, 2, pos)?;
            b(str_arg(name, &args[0], pos)?.contains(str_arg(name, &args[1], pos)?))
        }
        "string-downcase" => {
            Ok(Value::str(str_arg(name, args.first().unwrap_or(&Value::Unspecified), pos)?.to_lowercase(), pos))
        }
        "string-upcase" => {
            Ok(Value::str(str_arg(name, args.first().unwrap_or(&Value::Unspecified), pos)?.to_uppercase(), pos))
        }
        "string=?" | "equal?" | "eq?" | "eqv?" => {
            arity(name, &args, 2, pos)?;
            b(args[0].equal(&args[1]))
        }
        "null?" => {
            arity(name, &args, 1, pos)?;
            b(args[0].items().is_some_and(|v| v.is_empty()))
        }
        "pair?" => {
            arity(name, &args, 1, pos)?;
            b(matches!(args[0], Value::Pair(..)) || args[0].items().is_some_and(|v| !v.is_empty()))
        }
        "list?" => b(args.first().and_then(Value::items).is_some()),
        "string?" => b(args.first().and_then(Value::as_str).is_some()),
        "not" => {
            arity(name, &args, 1, pos)?;
            b(!args[0].truthy())
        }
        "member" => {
            arity(name, &args, 2, pos)?;
            let items = list_arg(name, &args[1], pos)?;
            match items.iter().position(|i| i.equal(&args[0])) {
                Some(i) => Ok(Value::List(items[i..].to_vec(), pos)),
                None => b(false),
            }
        }
        "length" => {
            arity(name, &args, 1, pos)?;
            Ok(Value::Datum(Datum::new(Kind::Num(list_arg(name, &args[0], pos)?.len().to_string()), pos)))
        }
        "reverse" => {
            arity(name, &args, 1, pos)?;
            let mut v = list_arg(name, &args[0], pos)?;
            v.reverse();
            Ok(Value::List(v, pos))
        }
        "number->string" => match args.first() {
            Some(Value::Datum(Datum { kind: Kind::Num(n), .. })) => Ok(Value::str(n.clone(), pos)),
            _ => Err(EvalError::new(pos, "number->string expects a number")),
        },
        "%current-system" => Ok(Value::str(system, pos)),
        "%current-target-system" => b(false),
        "target-64bit?" => b(matches!(arch, "x86_64" | "aarch64" | "riscv64" | "powerpc64le" | "s390x" | "mips64el")),
        "target-x86-64?" => b(arch == "x86_64"),
        "target-x86-32?" => b(matches!(arch, "i686" | "i586")),
        "target-x86?" => b(matches!(arch, "x86_64" | "i686" | "i586")),
        "target-arm?" => b(matches!(arch, "aarch64" | "armhf")),
        "target-arm32?" => b(arch == "armhf"),
        "target-aarch64?" => b(arch == "aarch64"),
        "target-riscv64?" => b(arch == "riscv64"),
        "target-ppc64le?" => b(arch == "powerpc64le"),
        "target-ppc32?" => b(arch == "powerpc"),
        "target-powerpc?" => b(arch.starts_with("powerpc")),
        "target-linux?" => b(system.ends_with("-linux")),
        "target-little-endian?" => b(!matches!(arch, "powerpc" | "powerpc64" | "s390x")),
        "target-hurd?" | "target-hurd64?" | "system-hurd?" | "system-hurd64?" | "target-mingw?" => b(false),
        "cc-for-target" => Ok(Value::str("gcc", pos)),
        "cxx-for-target" => Ok(Value::str("g++", pos)),
        "pkg-config-for-target" => Ok(Value::str("pkg-config", pos)),
        "ar-for-target" => Ok(Value::str("ar", pos)),
        "this-package-input" | "this-package-native-input" => {
            arity(name, &args, 1, pos)?;
            let label = str_arg(name, &args[0], pos)?;
            let this = ev.this.borrow();
            let Some(p) = this.last() else {
                return Err(EvalError::new(pos, format!("'{name}' outside a package's arguments")));
            };
            let inputs: Vec<_> = if name == "this-package-input" {
                p.inputs.iter().chain(&p.propagated_inputs).collect()
            } else {
                p.native_inputs.iter().collect()
            };
            match inputs.iter().find(|i| i.label == label) {
                Some(i) => Ok(Value::str(i.path(), pos)),
                None => {
                    Err(EvalError::new(pos, format!("the package has no input labelled \"{label}\"")).hint(format!(
                        "its labels are: {}",
                        inputs.iter().map(|i| i.label.as_str()).collect::<Vec<_>>().join(" ")
                    )))
                }
            }
        }
        "package-name"
        | "package-version"
        | "package-source"
        | "package-outputs"
        | "package-arguments"
        | "package-inputs"
        | "package-native-inputs"
        | "package-propagated-inputs" => {
            arity(name, &args, 1, pos)?;
            let Value::Package(p) = &args[0] else {
                return Err(EvalError::new(
                    pos,
                    format!("'{name}' expects a package defined in these files, got {}", args[0].describe()),
                ));
            };
            Ok(match name {
                "package-name" => Value::str(&p.name, pos),
                "package-version" => Value::str(&p.version, pos),
                "package-outputs" => strings(p.outputs.clone(), pos),
                "package-arguments" => super::inherit::arguments_value(p, pos),
                "package-inputs" => super::inherit::inputs_value(&p.inputs, pos),
                "package-native-inputs" => super::inherit::inputs_value(&p.native_inputs, pos),
                "package-propagated-inputs" => super::inherit::inputs_value(&p.propagated_inputs, pos),
                _ => match &p.source {
                    Some(o) => Value::Origin(o.clone()),
                    None => Value::bool(false, pos),
                },
            })
        }
        "file-append" => {
            let Some(base) = args.first() else { return Err(EvalError::new(pos, "file-append needs a package")) };
            path_of(base, pos)?;
            let mut suffix = String::new();
            for a in &args[1..] {
                suffix.push_str(str_arg(name, a, pos)?);
            }
            Ok(Value::FileAppend(Box::new(base.clone()), suffix))
        }
        "git-file-name" => {
            arity(name, &args, 2, pos)?;
            Ok(Value::str(format!("{}-{}-checkout", str_arg(name, &args[0], pos)?, str_arg(name, &args[1], pos)?), pos))
        }
        "git-version" => {
            arity(name, &args, 3, pos)?;
            let commit = str_arg(name, &args[2], pos)?;
            Ok(Value::str(
                format!(
                    "{}-{}.{}",
                    str_arg(name, &args[0], pos)?,
                    str_arg(name, &args[1], pos)?,
                    &commit[..commit.len().min(7)]
                ),
                pos,
            ))
        }
        "base32" => {
            arity(name, &args, 1, pos)?;
            let s = str_arg(name, &args[0], pos)?;
            let at = match &args[0] {
                Value::Datum(d) => d.pos,
                _ => pos,
            };
            let bytes = base32::decode(s).map_err(|e| EvalError::new(at, format!("bad base32 hash: {e}")))?;
            if bytes.len() != 32 {
                return Err(EvalError::new(
                    at,
                    format!("a sha256 is 52 nix-base32 characters, this one has {}", s.len()),
                ));
            }
            Ok(Value::Hash(s.to_string(), at))
        }
        "search-patches" => Ok(Value::List(args, pos)),
        _ => Err(EvalError::new(pos, format!("'{name}' is not implemented"))),
    }
}
