//! What rendering a spec's template may cost. Tera has no limits of its
//! own: a macro calling itself overflows the stack (and aborts the
//! process), `range(end=1e9)` allocates a billion values, and nested loops
//! run for ever. So, before and while rendering:
//!
//! - macros that call themselves, directly or through others, are refused
//!   before rendering ([`check_macros`]), as is nesting deeper than
//!   [`MAX_NESTING`] blocks and expressions;
//! - `range` is strata's own ([`bounded_range`]): Tera's arguments and
//!   result, but all the `range` calls of one render together yield at most
//!   [`MAX_RANGE_ITEMS`] numbers, so loops over ranges stay small whatever
//!   their nesting;
//! - the render runs on its own thread (with a large stack) and is given
//!   up after [`DEFAULT_TIMEOUT`] (`STRATA_SPK_TEMPLATE_TIMEOUT`, seconds).
//!   A render that is given up keeps its thread busy until the process
//!   exits, which for the CLI is right after the error.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tera::ast::{Expr, ExprVal, Node};
use tera::{Tera, Value};

/// The most numbers all `range` calls of one render may produce.
pub const MAX_RANGE_ITEMS: u64 = 1_000_000;
/// The deepest nesting of blocks (`if`, `for`, ...) and expressions.
pub const MAX_NESTING: usize = 64;
/// How long a render may take.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
pub const TIMEOUT_ENV: &str = "STRATA_SPK_TEMPLATE_TIMEOUT";
/// The render thread's stack: Tera recurses once per nested node.
const STACK: usize = 64 << 20;

/// The render timeout: [`DEFAULT_TIMEOUT`] or `STRATA_SPK_TEMPLATE_TIMEOUT`.
pub fn timeout() -> Result<Duration, String> {
    match std::env::var(TIMEOUT_ENV) {
        Err(_) => Ok(DEFAULT_TIMEOUT),
        Ok(v) => v
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|s| s.is_finite() && *s > 0.0)
            .map(Duration::from_secs_f64)
            .ok_or_else(|| format!("{TIMEOUT_ENV}={v:?} is not a number of seconds")),
    }
}

/// Refuses macros that can call themselves and nesting deeper than
/// [`MAX_NESTING`], in the parsed template `ast`.
pub fn check_macros(ast: &[Node]) -> Result<(), String> {
    let mut defs: HashMap<String, HashSet<String>> = HashMap::new();
    let mut top = HashSet::new();
    walk_nodes(ast, 0, &mut top, &mut defs)?;
    // Depth-first search for a cycle in the call graph of `self::` macros.
    fn visit<'a>(
        name: &'a str,
        defs: &'a HashMap<String, HashSet<String>>,
        path: &mut Vec<&'a str>,
        done: &mut HashSet<&'a str>,
    ) -> Result<(), String> {
        if let Some(i) = path.iter().position(|n| *n == name) {
            let mut cycle: Vec<&str> = path[i..].to_vec();
            cycle.push(name);
            return Err(format!(
                "macro '{}' calls itself ({}); a macro that recurses never stops without a limit, so strata refuses it",
                name,
                cycle.join(" → ")
            ));
        }
        if done.contains(name) {
            return Ok(());
        }
        path.push(name);
        for callee in defs.get(name).into_iter().flatten() {
            visit(callee, defs, path, done)?;
        }
        path.pop();
        done.insert(name);
        Ok(())
    }
    let mut done = HashSet::new();
    let mut names: Vec<&String> = defs.keys().collect();
    names.sort();
    for name in names {
        visit(name, &defs, &mut Vec::new(), &mut done)?;
    }
    Ok(())
}

fn too_deep() -> String {
    format!("the template nests blocks or expressions deeper than {MAX_NESTING} levels")
}

/// Collects into `calls` the `self::` macros `nodes` call; macro
/// definitions go to `defs` with their own calls.
fn walk_nodes(
    nodes: &[Node],
    depth: usize,
    calls: &mut HashSet<String>,
    defs: &mut HashMap<String, HashSet<String>>,
) -> Result<(), String> {
    if depth > MAX_NESTING {
        return Err(too_deep());
    }
    for n in nodes {
        match n {
            Node::VariableBlock(_, e) => walk_expr(e, depth + 1, calls)?,
            Node::MacroDefinition(_, m, _) => {
                let mut own = HashSet::new();
                for e in m.args.values().flatten() {
                    walk_expr(e, depth + 1, &mut own)?;
                }
                walk_nodes(&m.body, depth + 1, &mut own, defs)?;
                defs.entry(m.name.clone()).or_default().extend(own);
            }
            Node::Set(_, s) => walk_expr(&s.value, depth + 1, calls)?,
            Node::FilterSection(_, f, _) => {
                for e in f.filter.args.values() {
                    walk_expr(e, depth + 1, calls)?;
                }
                walk_nodes(&f.body, depth + 1, calls, defs)?;
            }
            Node::Block(_, b, _) => walk_nodes(&b.body, depth + 1, calls, defs)?,
            Node::Forloop(_, f, _) => {
                walk_expr(&f.container, depth + 1, calls)?;
                walk_nodes(&f.body, depth + 1, calls, defs)?;
                if let Some(b) = &f.empty_body {
                    walk_nodes(b, depth + 1, calls, defs)?;
                }
            }
            Node::If(i, _) => {
                for (_, e, body) in &i.conditions {
                    walk_expr(e, depth + 1, calls)?;
                    walk_nodes(body, depth + 1, calls, defs)?;
                }
                if let Some((_, body)) = &i.otherwise {
                    walk_nodes(body, depth + 1, calls, defs)?;
                }
            }
            Node::Super
            | Node::Text(_)
            | Node::Extends(..)
            | Node::Include(..)
            | Node::ImportMacro(..)
            | Node::Raw(..)
            | Node::Break(_)
            | Node::Continue(_)
            | Node::Comment(..) => {}
        }
    }
    Ok(())
}

fn walk_expr(e: &Expr, depth: usize, calls: &mut HashSet<String>) -> Result<(), String> {
    if depth > MAX_NESTING {
        return Err(too_deep());
    }
    for f in &e.filters {
        for a in f.args.values() {
            walk_expr(a, depth + 1, calls)?;
        }
    }
    match &e.val {
        ExprVal::String(_) | ExprVal::Int(_) | ExprVal::Float(_) | ExprVal::Bool(_) | ExprVal::Ident(_) => {}
        ExprVal::Math(m) => {
            walk_expr(&m.lhs, depth + 1, calls)?;
            walk_expr(&m.rhs, depth + 1, calls)?;
        }
        ExprVal::Logic(l) => {
            walk_expr(&l.lhs, depth + 1, calls)?;
            walk_expr(&l.rhs, depth + 1, calls)?;
        }
        ExprVal::In(i) => {
            walk_expr(&i.lhs, depth + 1, calls)?;
            walk_expr(&i.rhs, depth + 1, calls)?;
        }
        ExprVal::Test(t) => {
            for a in &t.args {
                walk_expr(a, depth + 1, calls)?;
            }
        }
        ExprVal::MacroCall(m) => {
            calls.insert(m.name.clone());
            for a in m.args.values() {
                walk_expr(a, depth + 1, calls)?;
            }
        }
        ExprVal::FunctionCall(f) => {
            for a in f.args.values() {
                walk_expr(a, depth + 1, calls)?;
            }
        }
        ExprVal::Array(items) => {
            for a in items {
                walk_expr(a, depth + 1, calls)?;
            }
        }
        ExprVal::StringConcat(_) => {}
    }
    Ok(())
}

/// Registers strata's `range` on `tera`: Tera's (`end`, `start=0`,
/// `step_by=1`), with the items of all calls counted against
/// [`MAX_RANGE_ITEMS`].
pub fn bounded_range(tera: &mut Tera) {
    let used = Arc::new(AtomicU64::new(0));
    tera.register_function("range", move |args: &HashMap<String, Value>| -> tera::Result<Value> {
        let int = |name: &str, default: Option<i64>| -> tera::Result<i64> {
            match args.get(name) {
                Some(v) => v.as_i64().ok_or_else(|| format!("range: `{name}` must be an integer, got {v}").into()),
                None => default.ok_or_else(|| format!("range needs `{name}`").into()),
            }
        };
        let end = int("end", None)?;
        let start = int("start", Some(0))?;
        let step = int("step_by", Some(1))?;
        if step <= 0 {
            return Err("range: `step_by` must be a positive integer".into());
        }
        if start > end {
            return Err("range: `start` must not be greater than `end`".into());
        }
        let count = ((end - start) as u64).div_ceil(step as u64);
        let total = used.fetch_add(count, Ordering::Relaxed).saturating_add(count);
        if total > MAX_RANGE_ITEMS {
            return Err(format!(
                "range: the template's ranges add up to more than {MAX_RANGE_ITEMS} items (loops that never end?)"
            )
            .into());
        }
        Ok(Value::Array((start..end).step_by(step as usize).map(Value::from).collect()))
    });
}

/// Runs `render` on a thread with a large stack and waits at most
/// `timeout` for it.
pub fn with_deadline<T: Send + 'static>(
    timeout: Duration,
    render: impl FnOnce() -> T + Send + 'static,
) -> Result<T, String> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("spk-template".into())
        .stack_size(STACK)
        .spawn(move || {
            let _ = tx.send(render());
        })
        .map_err(|e| format!("cannot start the template thread: {e}"))?;
    rx.recv_timeout(timeout).map_err(|e| match e {
        std::sync::mpsc::RecvTimeoutError::Timeout => format!(
            "rendering took longer than {:?} (a loop that never ends?); if the spec is right, raise {TIMEOUT_ENV} (seconds)",
            timeout
        ),
        std::sync::mpsc::RecvTimeoutError::Disconnected => "the template renderer stopped".to_string(),
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::time::Instant;

    use super::*;

    fn render(t: &str) -> Result<String, String> {
        super::super::render(t, &BTreeMap::new(), &BTreeMap::new()).map_err(|e| e.to_string())
    }

    #[test]
    fn recursive_macros_are_refused_before_rendering() {
        let direct = "{% macro f(n) %}{{ self::f(n=n) }}{% endmacro f %}{{ self::f(n=1) }}";
        let e = render(direct).unwrap_err();
        assert!(e.contains("macro 'f' calls itself (f → f)"), "{e}");
        let mutual = "{% macro a() %}{{ self::b() }}{% endmacro a %}{% macro b() %}{% if true %}{{ self::a() }}{% endif %}{% endmacro b %}x";
        let e = render(mutual).unwrap_err();
        assert!(e.contains("calls itself (a → b → a)"), "{e}");
        // Macros calling other macros without a cycle are fine.
        let ok = "{% macro a() %}A{% endmacro a %}{% macro b() %}{{ self::a() }}B{% endmacro b %}{{ self::b() }}";
        assert_eq!(render(ok).unwrap(), "AB");
    }

    #[test]
    fn ranges_are_bounded_across_a_render() {
        assert_eq!(render("{% for i in range(end=3) %}{{ i }}{% endfor %}").unwrap(), "012");
        assert_eq!(render("{% for i in range(start=1, end=8, step_by=3) %}{{ i }}{% endfor %}").unwrap(), "147");
        let t = Instant::now();
        let e = render("{% for i in range(end=1000000000) %}x{% endfor %}").unwrap_err();
        assert!(e.contains("more than 1000000 items"), "{e}");
        let nested = "{% for i in range(end=5000) %}{% for j in range(end=5000) %}{% endfor %}{% endfor %}";
        let e = render(nested).unwrap_err();
        assert!(e.contains("more than 1000000 items"), "{e}");
        assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    }

    #[test]
    fn deep_nesting_is_refused() {
        let ifs = "{% if true %}".repeat(200) + &"{% endif %}".repeat(200);
        let e = render(&ifs).unwrap_err();
        assert!(e.contains("deeper than 64 levels"), "{e}");
        let parens = "{{ ".to_string() + &"(".repeat(5000) + "1" + &")".repeat(5000) + " }}";
        // Parentheses fold away in Tera's parser: deep ones neither crash nor nest.
        assert_eq!(render(&parens).as_deref(), Ok("1"));
    }

    #[test]
    fn a_render_past_its_deadline_is_given_up() {
        let t = Instant::now();
        let e = with_deadline(Duration::from_millis(200), || std::thread::sleep(Duration::from_secs(5))).unwrap_err();
        assert!(e.contains("longer than 200ms"), "{e}");
        assert!(t.elapsed() < Duration::from_secs(2));
        assert_eq!(with_deadline(Duration::from_secs(5), || 7), Ok(7));
    }
}
