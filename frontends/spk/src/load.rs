//! From a file to a [`Spec`]: render the template with the options, parse
//! the YAML with positions, read the spec. Unknown keys are warnings; in
//! strict mode the first is an error.

use std::collections::BTreeMap;
use std::path::Path;

use strata_frontend_api::FrontendError;

use crate::error::{SpecError, Warning};
use crate::spec::{Reader, Spec};

/// A spec and what was said about it.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub spec: Spec,
    pub warnings: Vec<Warning>,
}

/// Loads `text` (the file `file`) with template options `opts` and `env`.
pub fn load_str(
    text: &str,
    file: &Path,
    opts: &BTreeMap<String, String>,
    env: &BTreeMap<String, String>,
    strict: bool,
) -> Result<Loaded, FrontendError> {
    let at = |e: SpecError| e.into_frontend(file);
    // spk requires the raw template to be a YAML mapping too.
    let rendered = crate::template::render(text, opts, env).map_err(at)?;
    let root = crate::yaml::load(&rendered).map_err(at)?;
    let mut warnings = Vec::new();
    let spec = Reader { warnings: &mut warnings }.spec(&root).map_err(at)?;
    if strict && let Some(w) = warnings.first() {
        return Err(FrontendError::new(w.message.clone())
            .at(file, w.pos.line, w.pos.col)
            .hint("strict mode refuses keys spk would ignore: fix or remove it (or build without -X strict)"));
    }
    Ok(Loaded { spec, warnings })
}

/// Loads the file at `path`.
pub fn load_file(
    path: &Path,
    opts: &BTreeMap<String, String>,
    env: &BTreeMap<String, String>,
    strict: bool,
) -> Result<Loaded, FrontendError> {
    let text = crate::yaml::read_bounded(path, crate::yaml::MAX_SIZE)
        .map_err(|e| FrontendError::new(format!("cannot read {}: {e}", path.display())).in_file(path))?;
    load_str(&text, path, opts, env, strict)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str, strict: bool) -> Result<Loaded, FrontendError> {
        load_str(text, Path::new("x.spk.yaml"), &BTreeMap::new(), &BTreeMap::new(), strict)
    }

    #[test]
    fn unknown_keys_warn_with_a_position_and_strict_refuses_them() {
        let text = "pkg: ex/1.0.0\napi: v0/package\nuild:\n  script: [true]\n";
        let l = load(text, false).unwrap();
        assert_eq!(l.warnings.len(), 1);
        assert_eq!(l.warnings[0].pos, crate::error::Pos::new(3, 1));
        assert!(
            l.warnings[0].message.contains("'uild'") && l.warnings[0].message.contains("did you mean 'build'"),
            "{:?}",
            l.warnings
        );
        assert_eq!(l.spec.build.script, ["sh ./build.sh"], "the section is ignored, as spk ignores it");
        let e = load(text, true).unwrap_err();
        assert_eq!(e.pos, Some((3, 1)));
        assert!(e.to_string().starts_with("x.spk.yaml:3:1: unknown key 'uild'"), "{e}");
    }

    #[test]
    fn spec_errors_have_file_line_column_and_hint() {
        let e = load("pkg: ex/1.0.0\nbuild:\n  options:\n    - bar: 1\n", false).unwrap_err();
        assert_eq!(e.pos, Some((4, 7)));
        assert!(e.hint.is_some());
        let e = load("pkg: Ex/1\n", false).unwrap_err();
        assert!(e.to_string().contains("not a valid package name"), "{e}");
        let e = load("pkg: ex/1.0\nsources:\n  - nothing: here\n", false).unwrap_err();
        assert_eq!(e.pos, Some((3, 5)));
    }

    #[test]
    fn the_conformance_specs_load() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/conformance/spk");
        let Ok(entries) = std::fs::read_dir(&dir) else {
            eprintln!("skipped: no {}", dir.display());
            return;
        };
        let mut n = 0;
        for e in entries.flatten() {
            let p = e.path();
            if p.to_string_lossy().ends_with(".spk.yaml") {
                let l = load_file(&p, &BTreeMap::new(), &BTreeMap::new(), false).unwrap_or_else(|e| panic!("{e}"));
                assert!(!l.spec.name.is_empty());
                n += 1;
            }
        }
        assert!(n >= 5, "{n} specs");
    }
}
