//! Lowering a spec (and the sibling recipes it depends on) to a build
//! graph (DESIGN.md §4, spk):
//!
//! | vertices | module |
//! |---|---|
//! | `<n>:source…`: the source package `/spfs/spk/pkg/<n>/<v>/src` as one layer | [`source`] |
//! | `<n>:build:<id>`, `<n>:package:<id>`: each variant's build, its purge, validation and components | [`build`] |
//! | the image: the runtime base + the default variant's `run` closure | [`image`] |
//! | `<n>:test:<stage>:<i>:<id>`: the spec's tests (`strata spk test`, `--test`) | [`test`] |
//!
//! What the graph holds follows the [`Target`]: the source package alone
//! (`make-source`), the builds (`make-binary`), the builds and the tests
//! (`test`), or the builds and the image (a whole build).
//!
//! Build requirements are resolved ([`Lowering::resolve`]) from the
//! `*.spk.yaml` files beside the spec, then from the package repositories
//! (the store, then each `--spk-repo`; [`crate::repo`]); packages the build
//! base provides are named with `--spk-provide NAME=DEBIAN-PKG` or
//! `-X host-pkg=NAME`. Every source package and build the graph makes is
//! declared in [`BuildGraph::packages`], so strata stores it in the store's
//! repository.

mod build;
mod image;
mod source;
mod test;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use strata_frontend_api::FrontendError;
use strata_frontend_api::graph::{BuildGraph, FrontendId, LayerRef};
use strata_frontend_api::packages::{PackageSpec, Packages, Published, Repository};

use crate::load::load_file;
use crate::spec::{EnvOp, Request, Spec};
use crate::variants::{Host, Selection};
use crate::version::VersionRange;

/// The build base when neither the user nor the spec names one.
pub const DEFAULT_BASE: &str = "debian:bookworm";

/// Everything lowering reads besides the spec.
#[derive(Debug, Clone)]
pub struct Settings {
    pub selection: Selection,
    /// Packages the build base provides: requirements on them are met.
    pub host_pkgs: Vec<String>,
    /// spk packages the build base's Debian packages provide (`--spk-provide
    /// NAME=DEB,...`): met like `host_pkgs`, and each build that requires
    /// one checks that they are installed and gets their version.
    pub provides: BTreeMap<String, Vec<String>>,
    /// What to make; `None`: a whole build (the builds and the image).
    pub target: Option<Target>,
    /// Run the install tests after a whole build (`--test`).
    pub run_tests: bool,
    /// The test stages to run (`--stage`); empty: all three.
    pub stages: Vec<String>,
    pub strict: bool,
    /// The template's `env`.
    pub env: BTreeMap<String, String>,
    pub build_base: String,
    /// The runtime base; `None`: scratch.
    pub base: Option<String>,
    pub host: Host,
    /// Where published packages are looked up: the store, then each
    /// `--spk-repo` in order.
    pub repositories: Vec<Repository>,
    /// The repositories' index; `None`: none (unit tests).
    pub packages: Option<Packages>,
    /// Which selected build the image is made from (the first: `None`).
    pub image_variant: Option<usize>,
}

/// What `strata spk TARGET` makes (spk's subcommands).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// `make-source`: the source package.
    Source,
    /// `make-binary`: the source package and the binary packages.
    Binary,
    /// `test`: the binary packages and the tests of the selected stages.
    Test,
}

/// A package lowered: its components' layers and what it brings along.
#[derive(Debug, Clone)]
pub struct Built {
    pub name: String,
    /// `name/version/DIGEST`.
    pub ident: String,
    pub version: String,
    pub digest: String,
    pub components: BTreeMap<String, LayerRef>,
    /// Component → the components it `uses`.
    pub uses: BTreeMap<String, Vec<String>>,
    /// Install requirements (per component: the install-level ones plus the component's own).
    pub requirements: BTreeMap<String, Vec<Request>>,
    pub environment: Vec<EnvOp>,
    /// How it was built, for its tests; `None` for a dependency.
    pub build: Option<BuildEnv>,
}

/// One variant's build as its tests see it.
#[derive(Debug, Clone)]
pub struct BuildEnv {
    /// The resolved option values (what test selectors compare).
    pub values: BTreeMap<String, String>,
    /// The build base and the build requirements' layers (no source).
    pub rootfs: Vec<LayerRef>,
    /// The source package's layer.
    pub source: Option<LayerRef>,
    /// The build script's environment (reference §3.6).
    pub env: Vec<(String, String)>,
    /// Where the source package is (`spfs/spk/pkg/<n>/<v>/src`).
    pub src_dir: String,
    /// The shell lines that check and export the `--spk-provide`d packages.
    pub provided: String,
}

pub struct Lowering<'s> {
    pub graph: BuildGraph,
    pub settings: &'s Settings,
    pub dir: PathBuf,
    /// Rendered: `file:line:col: warning: message`.
    pub warnings: Vec<String>,
    /// Sibling recipes, loaded once: (file, spec).
    siblings: Option<Vec<(PathBuf, Spec)>>,
    /// Packages lowered so far, by name (one build each).
    built: BTreeMap<String, Built>,
    /// Packages being lowered (a dependency cycle check).
    active: Vec<String>,
    /// `package:component` of each component layer a closure took (the
    /// image's history names them so, wherever the package came from).
    layer_names: BTreeMap<LayerRef, String>,
}

/// Lowers the spec at `file`.
pub fn lower(file: &Path, settings: &Settings, id: FrontendId) -> Result<(BuildGraph, Vec<String>), FrontendError> {
    let dir = file.parent().map(Path::to_path_buf).unwrap_or_default();
    let mut l = Lowering {
        graph: BuildGraph::new(id),
        settings,
        dir,
        warnings: Vec::new(),
        siblings: None,
        built: BTreeMap::new(),
        active: Vec::new(),
        layer_names: BTreeMap::new(),
    };
    let loaded = load_file(file, &settings.selection.overrides, &settings.env, settings.strict)?;
    l.warnings.extend(loaded.warnings.iter().map(|w| w.render(file)));
    if settings.target == Some(Target::Source) {
        l.source(&loaded.spec, file)?;
        return Ok((l.graph, l.warnings));
    }
    let builds = l.package(&loaded.spec, file, true)?;
    let stages: Vec<&str> = match settings.target {
        Some(Target::Test) if settings.stages.is_empty() => vec!["sources", "build", "install"],
        Some(Target::Test) => settings.stages.iter().map(String::as_str).collect(),
        None if settings.run_tests => vec!["install"],
        _ => Vec::new(),
    };
    for b in &builds {
        l.tests(&loaded.spec, file, b, &stages)?;
    }
    if settings.target.is_none() {
        let k = settings.image_variant.unwrap_or(0);
        let chosen = builds.get(k).ok_or_else(|| {
            FrontendError::new(format!("there is no image variant {k}: {} build(s) are selected", builds.len()))
        })?;
        l.image(&loaded.spec, chosen).map_err(|e| e.in_file(file))?;
        if builds.len() > 1 {
            l.graph.image_variants = builds.iter().map(image::variant_annotations).collect();
        }
    }
    Ok((l.graph, l.warnings))
}

impl Lowering<'_> {
    /// Lowers `spec`: its source package and its builds (every selected
    /// variant for the spec built, the first for a dependency).
    fn package(&mut self, spec: &Spec, file: &Path, root: bool) -> Result<Vec<Built>, FrontendError> {
        self.active.push(spec.name.clone());
        let source = self.source(spec, file)?;
        let builds = self.builds(spec, file, &source, root)?;
        for b in &builds {
            let options = b.build.as_ref().map(|e| e.values.clone()).unwrap_or_default();
            self.publish(crate::repo::binary_package(b, &options));
        }
        self.active.pop();
        if let Some(first) = builds.first() {
            self.built.insert(spec.name.clone(), first.clone());
        }
        Ok(builds)
    }

    /// Declares a package build of this graph (once).
    pub fn publish(&mut self, p: PackageSpec) {
        if !self.graph.packages.iter().any(|q| q.name == p.name && q.version == p.version && q.build == p.build) {
            self.graph.packages.push(p);
        }
    }

    /// The sibling recipes of the spec (every `*.spk.yaml` in its directory).
    fn siblings(&mut self) -> Result<&[(PathBuf, Spec)], FrontendError> {
        if self.siblings.is_none() {
            let mut found = Vec::new();
            let mut paths: Vec<PathBuf> =
                std::fs::read_dir(&self.dir).map(|rd| rd.flatten().map(|e| e.path()).collect()).unwrap_or_default();
            paths.sort();
            for p in paths {
                if p.file_name().is_some_and(|n| n.to_string_lossy().ends_with(".spk.yaml")) {
                    let s = &self.settings;
                    // A sibling that does not load is only an error if it is needed.
                    if let Ok(l) = load_file(&p, &s.selection.overrides, &s.env, false) {
                        found.push((p, l.spec));
                    }
                }
            }
            self.siblings = Some(found);
        }
        Ok(self.siblings.as_deref().unwrap_or_default())
    }

    /// The package that meets a requirement (`name`, `range`), lowered
    /// (once); `None` when the build base provides it.
    pub fn resolve(&mut self, name: &str, range: &str, by: &str) -> Result<Option<Built>, FrontendError> {
        if self.settings.host_pkgs.iter().any(|h| h == name) || self.settings.provides.contains_key(name) {
            return Ok(None);
        }
        let range_p = VersionRange::parse(range).map_err(|e| {
            FrontendError::new(format!("{by} requires '{name}/{range}': {e}"))
                .hint("write a version range such as 1.2, ^1.2, >=1.2,<2 or ~1.2.3")
        })?;
        if let Some(b) = self.built.get(name) {
            let v = crate::version::Version::parse(&b.version).expect("a built version parses");
            if !range_p.contains(&v) {
                return Err(FrontendError::new(format!(
                    "{by} requires '{name}/{range}', but {name}/{} is already part of this build",
                    b.version
                ))
                .hint("align the version ranges of the packages that require it"));
            }
            return Ok(Some(b.clone()));
        }
        if self.active.iter().any(|a| a == name) {
            return Err(FrontendError::new(format!(
                "{by} requires '{name}', which is being built: a dependency cycle ({} → {name})",
                self.active.join(" → ")
            ))
            .hint("spk refuses a package in its own build environment (RecursiveBuild)"));
        }
        let candidates: Vec<(PathBuf, Spec)> =
            self.siblings()?.iter().filter(|(_, s)| s.name == name).cloned().collect();
        let mut best: Option<(PathBuf, Spec)> = None;
        for (p, s) in candidates.iter() {
            if range_p.contains(&s.version) && best.as_ref().is_none_or(|(_, b)| s.version > b.version) {
                best = Some((p.clone(), s.clone()));
            }
        }
        let Some((path, spec)) = best else {
            let (found, published) = self.published(name, &range_p)?;
            if let Some(p) = found {
                let b = crate::repo::built(&p).map_err(FrontendError::new)?;
                self.built.insert(name.to_string(), b.clone());
                return Ok(Some(b));
            }
            let have: Vec<String> = candidates.iter().map(|(_, s)| format!("{}/{}", s.name, s.version)).collect();
            let recipes =
                if have.is_empty() { "no recipe for it".to_string() } else { format!("only {}", have.join(", ")) };
            let seen = if published.is_empty() {
                format!("no build of it in {}", self.repositories_text())
            } else {
                format!("{} hold only {}", self.repositories_text(), published.join(", "))
            };
            return Err(FrontendError::new(format!(
                "{by} requires '{name}{}', which cannot be satisfied: {recipes} in {}, and {seen}",
                if range.is_empty() { String::new() } else { format!("/{range}") },
                self.dir.display()
            ))
            .hint(format!("add a {name}.spk.yaml recipe beside the spec, publish a build of it (`strata spk publish` and --spk-repo registry://HOST/REPO), or, if the build base has it as a Debian package, pass --spk-provide {name}=DEBIAN-PKG")));
        };
        let loaded = load_file(&path, &self.settings.selection.overrides, &self.settings.env, self.settings.strict)?;
        self.warnings.extend(loaded.warnings.iter().map(|w| w.render(&path)));
        let _ = spec;
        let builds = self.package(&loaded.spec, &path, false)?;
        Ok(builds.into_iter().next())
    }

    /// The published build that meets `name`/`range` (see [`crate::repo`]),
    /// and every build the repositories have, as `name/version/build
    /// (repository)`, for the error when none does.
    fn published(&self, name: &str, range: &VersionRange) -> Result<(Option<Published>, Vec<String>), FrontendError> {
        let Some(index) = &self.settings.packages else { return Ok((None, Vec::new())) };
        let mut wanted = self.settings.selection.overrides.clone();
        if !self.settings.selection.no_host {
            wanted.insert("os".into(), self.settings.host.os.clone());
            wanted.insert("arch".into(), self.settings.host.arch.clone());
        }
        let mut seen = Vec::new();
        for repo in &self.settings.repositories {
            let builds = index.0.builds(repo, name).map_err(|e| {
                FrontendError::new(format!("looking up '{name}' in {repo}: {e}"))
                    .hint("check the --spk-repo registry://HOST/REPO and that the registry is up")
            })?;
            if let Some(p) = crate::repo::choose(&builds, range, &wanted) {
                return Ok((Some(p.clone()), seen));
            }
            seen.extend(
                builds
                    .iter()
                    .filter(|p| p.build != crate::repo::SOURCE_BUILD)
                    .map(|p| format!("{} ({repo})", crate::repo::ident(p))),
            );
        }
        Ok((None, seen))
    }

    /// The repositories searched, for messages.
    fn repositories_text(&self) -> String {
        let names: Vec<String> = self.settings.repositories.iter().map(|r| r.to_string()).collect();
        if names.is_empty() { "no package repository".into() } else { names.join(", ") }
    }

    /// The layers of `components` of `pkg` (with the ones they use) and,
    /// transitively, the run components of their install requirements.
    pub fn closure(
        &mut self,
        pkg: &Built,
        components: &[String],
        layers: &mut Vec<LayerRef>,
        seen: &mut BTreeSet<(String, String)>,
    ) -> Result<(), FrontendError> {
        let mut todo: Vec<String> = components.to_vec();
        while let Some(c) = todo.pop() {
            if !seen.insert((pkg.name.clone(), c.clone())) {
                continue;
            }
            let Some(layer) = pkg.components.get(&c) else {
                return Err(FrontendError::new(format!("package {} has no component '{c}'", pkg.ident)).hint(format!(
                    "its components are: {}",
                    pkg.components.keys().cloned().collect::<Vec<_>>().join(", ")
                )));
            };
            if !layers.contains(layer) {
                layers.push(layer.clone());
            }
            self.layer_names.insert(layer.clone(), format!("{}:{c}", pkg.name));
            todo.extend(pkg.uses.get(&c).cloned().unwrap_or_default());
            for r in pkg.requirements.get(&c).cloned().unwrap_or_default() {
                if let Request::Pkg { name, components, range, if_already_present: false, .. } = r
                    && let Some(dep) = self.resolve(&name, &range, &pkg.ident)?
                {
                    let comps = if components.is_empty() { vec!["run".to_string()] } else { components };
                    self.closure(&dep, &comps, layers, seen)?;
                }
            }
        }
        Ok(())
    }
}

/// `spfs/spk/pkg/<n>/<v>/<leaf>` (a layer path, relative).
pub fn pkg_dir(name: &str, version: &str, leaf: &str) -> String {
    format!("spfs/spk/pkg/{name}/{version}/{leaf}")
}

#[cfg(test)]
mod tests;
