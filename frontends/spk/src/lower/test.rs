//! The spec's tests (reference §6): `strata spk test` runs the stages
//! asked for, `strata build --test` the install stage after the build.
//!
//! | stage | root filesystem | environment | cwd |
//! |---|---|---|---|
//! | `sources` | the build base + the source package + the test's requirements | the options (`SPK_OPT_*`), `PREFIX` | the src dir |
//! | `build` | the build's environment (build base, build requirements) + the source package + the requirements | the build's, less the package's own `SPK_PKG_*` | the src dir |
//! | `install` | the build base + every component of the build + their run closure + the requirements + the source package | the options, the package's `SPK_PKG_*`, `PREFIX`, `PATH` | the src dir |
//!
//! Each is a vertex `<n>:test:<stage>:<i>:<build id>` running `bash -ex`
//! over the test's script after sourcing the startup files; it captures
//! nothing, so a test that passed is not run again for the same inputs.
//! A test runs for a build when every one of its selectors matches the
//! build's option values (spk's code ANDs them; its docs say any).

use std::collections::BTreeSet;
use std::path::Path;

use strata_frontend_api::FrontendError;
use strata_frontend_api::graph::{FileData, LayerRef, Op, Vertex};

use super::build::{BUILD_PATH, SOURCE_STARTUP, pkg_env, spk_step};
use super::source::quote;
use super::{Built, Lowering};
use crate::spec::{Request, Spec, TestSpec};

/// The package's own variables (reference §3.6 item 4), which sources and
/// build tests do not get.
fn own_var(name: &str) -> bool {
    name == "SPK_PKG" || name == "SPK_PKG_NAME" || name == "SPK_PKG_BUILD" || name.starts_with("SPK_PKG_VERSION")
}

/// Whether `test` runs for a build with option `values`: every selector's
/// values are the build's (a key with components, `python:run`, compares
/// the option `python`).
pub fn selected(test: &TestSpec, values: &std::collections::BTreeMap<String, String>) -> bool {
    test.selectors.iter().all(|sel| {
        sel.entries.iter().all(|(k, v)| {
            let key = k.split(':').next().unwrap_or(k).to_lowercase();
            values.get(&key).is_some_and(|have| have == v)
        })
    })
}

impl Lowering<'_> {
    /// The test vertices of `built` (a build of `spec`) for `stages`.
    pub(super) fn tests(
        &mut self,
        spec: &Spec,
        file: &Path,
        built: &Built,
        stages: &[&str],
    ) -> Result<(), FrontendError> {
        let Some(b) = built.build.clone() else { return Ok(()) };
        for (i, test) in spec.tests.iter().enumerate() {
            if !stages.contains(&test.stage.as_str()) || !selected(test, &b.values) {
                continue;
            }
            let at = |e: FrontendError| if e.file.is_none() { e.at(file, test.pos.line, test.pos.col) } else { e };
            // The test's own requirements: their run closure.
            let mut extra: Vec<LayerRef> = Vec::new();
            let mut seen = BTreeSet::new();
            for r in &test.requirements {
                if let Request::Pkg { name, components, range, .. } = r
                    && let Some(dep) = self.resolve(name, range, &built.ident).map_err(at)?
                {
                    let comps = if components.is_empty() { vec!["run".to_string()] } else { components.clone() };
                    self.closure(&dep, &comps, &mut extra, &mut seen).map_err(at)?;
                }
            }
            // `SPK_OPT_*` and the namespaced `SPK_PKG_<ns>_OPT_*`.
            let is_option = |k: &str| k.starts_with("SPK_OPT_") || (k.starts_with("SPK_PKG_") && k.contains("_OPT_"));
            let options = || b.env.iter().filter(|(k, _)| is_option(k)).cloned();
            let (mut rootfs, mut env): (Vec<LayerRef>, Vec<(String, String)>) = match test.stage.as_str() {
                "sources" => {
                    let mut env: Vec<(String, String)> = options().collect();
                    env.push(("PREFIX".into(), "/spfs".into()));
                    env.push(("PATH".into(), BUILD_PATH.into()));
                    (vec![LayerRef::image(&self.settings.build_base)], env)
                }
                "build" => (b.rootfs.clone(), b.env.iter().filter(|(k, _)| !own_var(k)).cloned().collect()),
                _ => {
                    let mut layers = vec![LayerRef::image(&self.settings.build_base)];
                    let mut seen = BTreeSet::new();
                    let all: Vec<String> = built.components.keys().cloned().collect();
                    self.closure(built, &all, &mut layers, &mut seen).map_err(at)?;
                    let mut env: Vec<(String, String)> = vec![("SPK_ACTIVE_PREFIX".into(), "/spfs".into())];
                    env.extend(options());
                    pkg_env("SPK_PKG", built, &mut env);
                    env.push(("SPK_PKG_NAME".into(), built.name.clone()));
                    env.push(("PREFIX".into(), "/spfs".into()));
                    env.push(("PATH".into(), BUILD_PATH.into()));
                    (layers, env)
                }
            };
            for l in extra {
                if !rootfs.contains(&l) {
                    rootfs.push(l);
                }
            }
            rootfs.extend(b.source.iter().cloned());
            env.push(("SHELL".into(), "bash".into()));
            let mut run = String::from("set -e\n");
            if test.stage != "sources" {
                run.push_str(&b.provided);
            }
            run.push_str(SOURCE_STARTUP);
            run.push_str(&format!("mkdir -p {src}\ncd {src}\n", src = quote(&format!("/{}", b.src_dir))));
            run.push_str("exec bash -ex /.spk/test.sh\n");
            let files =
                vec![FileData::new("run.sh", 0o755, run), FileData::new("test.sh", 0o644, test.script.join("\n"))];
            let op = spk_step(rootfs, files, env, Vec::new());
            let id = format!("{}:test:{}:{i}:{}", built.name, test.stage, built.digest);
            let mut v = Vertex::new(&id, Some(built.name.as_str()), "test", Op::Exec(op));
            v.description = format!("test {} ({} stage, test {i})", built.ident, test.stage);
            self.graph.push(v);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::error::Pos;
    use crate::spec::Variant;

    fn test_with(selectors: &[&[(&str, &str)]]) -> TestSpec {
        TestSpec {
            stage: "install".into(),
            script: vec!["true".into()],
            selectors: selectors
                .iter()
                .map(|s| Variant {
                    entries: s.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
                    pos: Pos::default(),
                })
                .collect(),
            requirements: Vec::new(),
            pos: Pos::default(),
        }
    }

    #[test]
    fn a_test_runs_when_every_selector_matches_as_in_spks_code() {
        let values = BTreeMap::from([("debug".to_string(), "on".to_string()), ("python".into(), "3.11".into())]);
        assert!(selected(&test_with(&[]), &values), "no selectors: every build");
        assert!(selected(&test_with(&[&[("debug", "on")]]), &values));
        assert!(selected(&test_with(&[&[("debug", "on")], &[("python", "3.11")]]), &values));
        assert!(
            !selected(&test_with(&[&[("debug", "on")], &[("debug", "off")]]), &values),
            "the selectors are ANDed (spk's docs say any; its code says all)"
        );
        assert!(!selected(&test_with(&[&[("python", "3")]]), &values), "values compare as exact strings");
        assert!(selected(&test_with(&[&[("python:run", "3.11")]]), &values), "components name the option");
    }
}
