//! Build systems on the host side: each one's standard phases in Guix's
//! order and the keywords it accepts (as the build side's
//! `%default-arguments` has them, PROTOCOL.md "Phase lists"), and
//! `modify-phases` applied to that list — so an unknown keyword or a
//! `replace` of a phase that does not exist is an error at its line and
//! column before anything runs (Guix: an opaque match error at build time).

use crate::datum::{Datum, Kind, Pos};
use crate::eval::EvalError;
use crate::eval::record::Package;

/// One phase of a package's build: its name and code (`None`: the build
/// system's standard phase).
#[derive(Debug, Clone, PartialEq)]
pub struct Phase {
    pub name: String,
    pub code: Option<Datum>,
}

const GNU: &[&str] = &[
    "separate-from-pid1",
    "set-SOURCE-DATE-EPOCH",
    "set-paths",
    "install-locale",
    "unpack",
    "bootstrap",
    "patch-usr-bin-file",
    "patch-source-shebangs",
    "configure",
    "patch-generated-file-shebangs",
    "build",
    "check",
    "install",
    "patch-shebangs",
    "strip",
    "validate-runpath",
    "validate-documentation-location",
    "delete-info-dir-file",
    "patch-dot-desktop-files",
    "make-dynamic-linker-cache",
    "install-license-files",
    "reset-gzip-timestamps",
    "compress-documentation",
];

const PYPROJECT: &[&str] = &[
    "separate-from-pid1",
    "set-SOURCE-DATE-EPOCH",
    "set-paths",
    "install-locale",
    "unpack",
    "ensure-no-mtimes-pre-1980",
    "enable-bytecode-determinism",
    "ensure-no-cythonized-files",
    "set-version",
    "patch-usr-bin-file",
    "patch-source-shebangs",
    "patch-generated-file-shebangs",
    "build",
    "install",
    "add-install-to-pythonpath",
    "add-install-to-path",
    "create-entrypoints",
    "wrap",
    "sanity-check",
    "compile-bytecode",
    "check",
    "patch-shebangs",
    "rename-pth-file",
    "strip",
    "validate-runpath",
    "validate-documentation-location",
    "delete-info-dir-file",
    "patch-dot-desktop-files",
    "make-dynamic-linker-cache",
    "install-license-files",
    "reset-gzip-timestamps",
    "compress-documentation",
];

/// The phases that only set up the environment, run as one vertex when
/// they open the list unmodified (issue #12 item 4).
pub const SETUP: &[&str] = &["separate-from-pid1", "set-SOURCE-DATE-EPOCH", "set-paths", "install-locale"];

/// The standard phases of `bs`, in order.
pub fn standard(bs: &str, glib_or_gtk: bool) -> Vec<String> {
    let mut v: Vec<String> = match bs {
        "pyproject" => PYPROJECT.iter().map(|s| s.to_string()).collect(),
        "trivial" => vec!["builder".into()],
        _ => GNU.iter().map(|s| s.to_string()).collect(),
    };
    let insert_after = |v: &mut Vec<String>, anchor: &str, names: &[&str]| {
        if let Some(i) = v.iter().position(|p| p == anchor) {
            for (k, n) in names.iter().enumerate() {
                v.insert(i + 1 + k, n.to_string());
            }
        }
    };
    match bs {
        "cmake" | "copy" | "meson" => v.retain(|p| p != "bootstrap"),
        _ => {}
    }
    match bs {
        "copy" => v.retain(|p| !matches!(p.as_str(), "configure" | "build" | "check")),
        "meson" => {
            insert_after(&mut v, "unpack", &["generate-gdk-pixbuf-loaders-cache-file"]);
            insert_after(&mut v, "strip", &["shrink-runpath"]);
            if glib_or_gtk {
                insert_after(&mut v, "install", &["glib-or-gtk-wrap", "glib-or-gtk-compile-schemas"]);
            }
        }
        "glib-or-gtk" => {
            insert_after(&mut v, "unpack", &["generate-gdk-pixbuf-loaders-cache-file"]);
            insert_after(&mut v, "install", &["glib-or-gtk-wrap", "glib-or-gtk-compile-schemas"]);
        }
        _ => {}
    }
    v
}

const GNU_KEYWORDS: &[&str] = &[
    "source",
    "system",
    "build",
    "target",
    "outputs",
    "inputs",
    "native-inputs",
    "search-paths",
    "native-search-paths",
    "phases",
    "locale",
    "locale-category",
    "separate-from-pid1?",
    "bootstrap-scripts",
    "configure-flags",
    "make-flags",
    "out-of-source?",
    "tests?",
    "test-target",
    "test-suite-log-regexp",
    "parallel-build?",
    "parallel-tests?",
    "patch-shebangs?",
    "patch-/usr/bin/file?",
    "license-file-regexp",
    "strip-binaries?",
    "strip-flags",
    "strip-directories",
    "validate-runpath?",
    "elf-directories",
    "make-dynamic-linker-cache?",
    "compress-documentation?",
    "documentation-compressor",
    "info-compressor",
    "guile",
    "modules",
    "imported-modules",
    "substitutable?",
    "allowed-references",
    "disallowed-references",
    "implicit-inputs?",
    "implicit-cross-inputs?",
];

/// The keywords `bs` accepts (without `#:`).
pub fn keywords(bs: &str) -> Vec<&'static str> {
    let without = |drop: &[&str], add: &[&'static str]| -> Vec<&'static str> {
        let mut v: Vec<&'static str> = add.to_vec();
        v.extend(GNU_KEYWORDS.iter().copied().filter(|k| !drop.contains(k)));
        v
    };
    match bs {
        "cmake" => without(
            &["test-target", "bootstrap-scripts"],
            &["generator", "build-type", "test-exclude", "test-repeat-until-pass?", "test-repeat-until-pass-count"],
        ),
        "meson" => without(
            &["test-target", "make-flags", "bootstrap-scripts"],
            &["build-type", "test-options", "glib-or-gtk?"],
        ),
        "copy" => without(
            &[
                "configure-flags",
                "make-flags",
                "test-target",
                "parallel-build?",
                "parallel-tests?",
                "bootstrap-scripts",
            ],
            &["install-plan"],
        ),
        "glib-or-gtk" => without(&[], &["glib-or-gtk-wrap-excluded-outputs"]),
        "pyproject" => without(
            &["make-flags", "test-target", "out-of-source?", "bootstrap-scripts", "parallel-build?"],
            &["build-backend", "backend-path", "test-backend", "test-flags", "python"],
        ),
        "trivial" => vec![
            "builder",
            "modules",
            "guile",
            "allowed-references",
            "disallowed-references",
            "source",
            "system",
            "build",
            "target",
            "outputs",
            "inputs",
            "native-inputs",
            "phases",
            "search-paths",
        ],
        _ => GNU_KEYWORDS.to_vec(),
    }
}

/// Every keyword argument of `p` is one its build system accepts.
pub fn check_keywords(p: &Package) -> Result<(), EvalError> {
    let known = keywords(&p.build_system);
    for a in &p.arguments {
        if !known.contains(&a.key.as_str()) {
            let mut near: Vec<&str> = known.iter().copied().filter(|k| similar(k, &a.key)).collect();
            near.truncate(3);
            let hint = if near.is_empty() {
                format!(
                    "{}-build-system accepts: {}",
                    p.build_system,
                    known.iter().map(|k| format!("#:{k}")).collect::<Vec<_>>().join(" ")
                )
            } else {
                format!("did you mean {}?", near.iter().map(|k| format!("#:{k}")).collect::<Vec<_>>().join(" or "))
            };
            return Err(EvalError::new(
                a.pos,
                format!("unknown keyword #:{} for {}-build-system", a.key, p.build_system),
            )
            .hint(hint));
        }
    }
    Ok(())
}

/// Two names a typo apart: same letters but one or two.
fn similar(a: &str, b: &str) -> bool {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            d[i][j] = (d[i - 1][j] + 1).min(d[i][j - 1] + 1).min(d[i - 1][j - 1] + cost);
        }
    }
    d[a.len()][b.len()] <= 2
}

/// The phases `p` runs: its build system's, after `#:phases`.
pub fn phases_of(p: &Package) -> Result<Vec<Phase>, EvalError> {
    let glib = p.argument("glib-or-gtk?").is_some_and(|a| a.value.kind != Kind::Bool(false));
    let base: Vec<Phase> = standard(&p.build_system, glib).into_iter().map(|name| Phase { name, code: None }).collect();
    match p.argument("phases") {
        None => Ok(base),
        Some(a) => apply(&p.build_system, base, &a.value),
    }
}

fn quoted_name(d: &Datum) -> Option<&str> {
    match d.as_form() {
        Some(("quote", [s])) => s.as_sym(),
        _ => None,
    }
}

fn names(v: &[Phase]) -> String {
    v.iter().map(|p| p.name.as_str()).collect::<Vec<_>>().join(" ")
}

/// `expr` (`%standard-phases` or `(modify-phases BASE CLAUSE…)`) over `base`.
fn apply(bs: &str, base: Vec<Phase>, expr: &Datum) -> Result<Vec<Phase>, EvalError> {
    if matches!(expr.as_sym(), Some(s) if s == "%standard-phases" || s.ends_with(":%standard-phases")) {
        return Ok(base);
    }
    let Some(("modify-phases", [inner, clauses @ ..])) = expr.as_form() else {
        return Err(EvalError::new(
            expr.pos,
            "#:phases must be %standard-phases or (modify-phases %standard-phases …)",
        )
        .hint("other ways of computing the phase list are not supported yet"));
    };
    let mut v = apply(bs, base, inner)?;
    for c in clauses {
        let missing = |v: &[Phase], what: &str, name: &str, pos: Pos| {
            EvalError::new(pos, format!("modify-phases: {what} '{name}: {bs}-build-system has no phase '{name}' here"))
                .hint(format!("the phases at this point are: {}", names(v)))
        };
        match c.as_form() {
            Some(("delete", [n])) => {
                let name = quoted_name(n)
                    .ok_or_else(|| EvalError::new(n.pos, "delete takes a quoted phase name ('configure)"))?;
                v.retain(|p| p.name != name);
            }
            Some(("replace", [n, code])) => {
                let name = quoted_name(n).ok_or_else(|| EvalError::new(n.pos, "replace takes a quoted phase name"))?;
                let Some(i) = v.iter().position(|p| p.name == name) else {
                    return Err(missing(&v, "replace", name, c.pos));
                };
                v[i].code = Some(code.clone());
            }
            Some((how @ ("add-before" | "add-after"), [anchor, n, code])) => {
                let (Some(anchor_name), Some(name)) = (quoted_name(anchor), quoted_name(n)) else {
                    return Err(EvalError::new(c.pos, format!("{how} takes two quoted phase names and a procedure")));
                };
                let Some(i) = v.iter().position(|p| p.name == anchor_name) else {
                    return Err(missing(&v, how, anchor_name, anchor.pos));
                };
                let at = if how == "add-before" { i } else { i + 1 };
                v.insert(at, Phase { name: name.to_string(), code: Some(code.clone()) });
            }
            _ => {
                return Err(EvalError::new(
                    c.pos,
                    "a modify-phases clause is (delete 'X), (replace 'X PROC), (add-before 'X 'NEW PROC) or (add-after 'X 'NEW PROC)",
                ));
            }
        }
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reader::read_all;

    fn phases(bs: &str, expr: &str) -> Result<Vec<Phase>, EvalError> {
        let d = read_all(expr).unwrap().remove(0);
        let base = standard(bs, false).into_iter().map(|name| Phase { name, code: None }).collect();
        apply(bs, base, &d)
    }

    #[test]
    fn the_phase_lists_are_the_build_side_s() {
        assert_eq!(standard("gnu", false).len(), 23);
        assert_eq!(standard("cmake", false).len(), 22);
        assert_eq!(standard("meson", false).len(), 24);
        assert_eq!(standard("meson", true).len(), 26);
        assert_eq!(standard("glib-or-gtk", false).len(), 26);
        assert_eq!(standard("copy", false).len(), 19);
        assert_eq!(standard("pyproject", false).len(), 32);
        assert_eq!(standard("trivial", false), ["builder"]);
    }

    #[test]
    fn modify_phases_deletes_replaces_and_inserts_as_guix_does() {
        let v = phases(
            "gnu",
            "(modify-phases %standard-phases (delete 'configure) (replace 'install (lambda _ 1)) \
             (add-after 'install 'a (lambda _ 2)) (add-after 'install 'b (lambda _ 3)) (add-before 'check 'c (lambda _ 4)))",
        )
        .unwrap();
        let n: Vec<&str> = v.iter().map(|p| p.name.as_str()).collect();
        assert!(!n.contains(&"configure"));
        let i = n.iter().position(|p| *p == "install").unwrap();
        // Two add-after 'install: the later one ends up closer to install.
        assert_eq!(&n[i - 2..i + 3], ["c", "check", "install", "b", "a"]);
        assert_eq!(v[i].code.as_ref().unwrap().to_string(), "(lambda _ 1)");
    }

    #[test]
    fn a_missing_anchor_names_the_phase_and_the_list() {
        let e = phases("cmake", "(modify-phases %standard-phases\n  (replace 'bootstrap (lambda _ #t)))").unwrap_err();
        assert_eq!((e.pos.line, e.pos.col), (2, 3));
        assert_eq!(e.message, "modify-phases: replace 'bootstrap: cmake-build-system has no phase 'bootstrap' here");
        assert!(e.hint.unwrap().contains("unpack patch-usr-bin-file"));
        let e = phases("gnu", "(modify-phases %standard-phases (add-after 'instal 'x (lambda _ #t)))").unwrap_err();
        assert!(e.message.contains("add-after 'instal"), "{}", e.message);
        assert_eq!((e.pos.line, e.pos.col), (1, 44));
    }

    #[test]
    fn keywords_follow_the_build_system() {
        assert!(keywords("gnu").contains(&"configure-flags"));
        assert!(!keywords("copy").contains(&"configure-flags"));
        assert!(keywords("copy").contains(&"install-plan"));
        assert!(keywords("cmake").contains(&"build-type"));
        assert!(similar("test-targte", "test-target"));
        assert!(!similar("phases", "tests?"));
    }
}
