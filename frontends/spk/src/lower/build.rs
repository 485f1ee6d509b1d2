//! Each variant's binary build (reference §3.5–§3.6):
//!
//! | vertex | op | over | yields |
//! |---|---|---|---|
//! | `<n>:build:<id>` | exec: write spk's metadata, source the startup files, `bash -ex build.sh` in the src dir, write this package's startup files | the build base + the build requirements' component layers (and their run closure) + the source package | the changes under `/spfs` |
//! | `<n>:package:<id>` | [`hostops::PACKAGE`]: purge, validate, split | those changes, the build environment under `/spfs` | one layer per component |

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use strata_frontend_api::FrontendError;
use strata_frontend_api::graph::{
    Capture, ExecOp, FileData, HostInput, HostOp, HostOutput, LayerRef, Mount, MountSource, Network, OUT, Op, Vertex,
};

use super::source::quote;
use super::{BuildEnv, Built, Lowering, pkg_dir};
use crate::hostops::{self, ComponentParams, Package, RuleParams};
use crate::spec::{EnvOp, Request, RuleMode, Spec};
use crate::variants::{Resolved, variants};
use crate::version::Version;

/// Sources the environment's startup files, as an spfs shell does.
pub const SOURCE_STARTUP: &str =
    "for f in /spfs/etc/spfs/startup.d/*.sh; do if [ -e \"$f\" ]; then . \"$f\"; fi; done\n";

/// A step of spk's shape: `/bin/bash /.spk/run.sh` with `files` mounted
/// read-only at `/.spk`, from `/`, without network (the build, the tests).
pub fn spk_step(
    rootfs: Vec<LayerRef>,
    files: Vec<FileData>,
    env: Vec<(String, String)>,
    capture: Vec<Capture>,
) -> ExecOp {
    ExecOp {
        rootfs,
        mounts: vec![Mount {
            destination: "/.spk".into(),
            source: MountSource::Dir { seed: Vec::new(), files },
            read_only: true,
            capture: None,
        }],
        argv: vec!["/bin/bash".into(), "/.spk/run.sh".into()],
        env,
        cwd: Some("/".into()),
        network: Network::None,
        capture,
        ..Default::default()
    }
}

/// The PATH of a build: the deps' `/spfs/bin` first, then Debian's.
pub const BUILD_PATH: &str = "/spfs/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// A name as an environment variable name part (`-` → `_`).
pub fn env_name(s: &str) -> String {
    s.replace('-', "_")
}

/// spk's `SPK_PKG_<P>_*` for a resolved package.
pub fn pkg_env(prefix: &str, b: &Built, env: &mut Vec<(String, String)>) {
    let v = crate::version::Version::parse(&b.version).expect("a built version parses");
    env.push((prefix.to_string(), b.ident.clone()));
    env.push((format!("{prefix}_VERSION"), b.version.clone()));
    env.push((format!("{prefix}_BUILD"), b.digest.clone()));
    env.push((format!("{prefix}_VERSION_MAJOR"), v.part(0).to_string()));
    env.push((format!("{prefix}_VERSION_MINOR"), v.part(1).to_string()));
    env.push((format!("{prefix}_VERSION_PATCH"), v.part(2).to_string()));
    env.push((format!("{prefix}_VERSION_BASE"), v.base()));
}

/// `$NAME` and `${NAME}` replaced by their value in `env`, `$$` by `$`;
/// a variable the build does not set is left for the shell that sources
/// the startup file (`$PATH`).
pub fn expand(value: &str, env: &[(String, String)]) -> String {
    let lookup = |n: &str| env.iter().rev().find(|(k, _)| k == n).map(|(_, v)| v.clone());
    let mut out = String::new();
    let mut rest = value;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(r) = after.strip_prefix('$') {
            out.push('$');
            rest = r;
            continue;
        }
        let (name, len) = match after.strip_prefix('{').and_then(|r| r.find('}').map(|e| (&r[..e], e + 2))) {
            Some((n, l)) => (n, l),
            None => {
                let n = after.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(after.len());
                (&after[..n], n)
            }
        };
        match lookup(name) {
            Some(v) if !name.is_empty() => out.push_str(&v),
            _ => out.push_str(&rest[i..i + 1 + len]),
        }
        rest = &after[len..];
    }
    out.push_str(rest);
    out
}

fn expand_op(op: &EnvOp, env: &[(String, String)]) -> EnvOp {
    match op {
        EnvOp::Set { var, value } => EnvOp::Set { var: var.clone(), value: expand(value, env) },
        EnvOp::Append { var, value, separator } => {
            EnvOp::Append { var: var.clone(), value: expand(value, env), separator: separator.clone() }
        }
        EnvOp::Prepend { var, value, separator } => {
            EnvOp::Prepend { var: var.clone(), value: expand(value, env), separator: separator.clone() }
        }
        other => other.clone(),
    }
}

/// The startup files for `install.environment`: (base name, bash, csh).
pub fn startup_files(name: &str, ops: &[EnvOp]) -> Option<(String, String, String)> {
    if ops.is_empty() {
        return None;
    }
    let mut priority = None;
    let (mut sh, mut csh) = (String::new(), String::new());
    for op in ops {
        match op {
            EnvOp::Set { var, value } => {
                sh.push_str(&format!("export {var}=\"{value}\"\n"));
                csh.push_str(&format!("setenv {var} \"{value}\"\n"));
            }
            EnvOp::Append { var, value, separator } => {
                sh.push_str(&format!("export {var}=\"${{{var}}}{separator}{value}\"\n"));
                csh.push_str(&format!(
                    "if ( $?{var} ) then\nsetenv {var} \"${{{var}}}{separator}{value}\"\nelse\nsetenv {var} \"{value}\"\nendif\n"
                ));
            }
            EnvOp::Prepend { var, value, separator } => {
                sh.push_str(&format!("export {var}=\"{value}{separator}${{{var}}}\"\n"));
                csh.push_str(&format!(
                    "if ( $?{var} ) then\nsetenv {var} \"{value}{separator}${{{var}}}\"\nelse\nsetenv {var} \"{value}\"\nendif\n"
                ));
            }
            EnvOp::Comment(c) => {
                sh.push_str(&format!("# {c}\n"));
                csh.push_str(&format!("# {c}\n"));
            }
            EnvOp::Priority(p) => priority = Some(*p),
        }
    }
    let base = match priority {
        Some(p) => format!("{p:02}_spk_{name}"),
        None => format!("spk_{name}"),
    };
    Some((base, sh, csh))
}

/// Shell lines checking that the Debian packages `--spk-provide` names for
/// spk package `name` are installed, and exporting the first one's
/// upstream version as `SPK_PKG_<name>_VERSION*` (epoch, Debian revision
/// and `~`/`+` suffixes dropped).
pub fn provided_sh(name: &str, debs: &[String]) -> String {
    let mut s = String::new();
    for (i, deb) in debs.iter().enumerate() {
        s.push_str(&format!(
            "s=$(dpkg-query -W -f='${{db:Status-Status}} ${{Version}}' {deb_q} 2>/dev/null) && [ \"${{s%% *}}\" = installed ] || {{ echo {msg} >&2; exit 1; }}\n",
            deb_q = quote(deb),
            msg = quote(&format!(
                "strata: spk package '{name}' is provided by the Debian package '{deb}' (--spk-provide), which the build base does not have installed"
            )),
        ));
        if i == 0 {
            let p = format!("SPK_PKG_{}", env_name(name));
            s.push_str("v=${s#* }; v=${v#*:}; v=${v%-*}; v=${v%%[~+]*}\n");
            s.push_str("IFS=. read -r v1 v2 v3 _ <<EOF\n$v\nEOF\n");
            s.push_str(&format!(
                "export {p}={}\"$v/debian\" {p}_VERSION=\"$v\" {p}_BUILD=debian {p}_VERSION_MAJOR=\"${{v1:-0}}\" {p}_VERSION_MINOR=\"${{v2:-0}}\" {p}_VERSION_PATCH=\"${{v3:-0}}\" {p}_VERSION_BASE=\"$v\"\n",
                quote(&format!("{name}/"))
            ));
            s.push_str(&format!("echo {}\"$v\" >&2\n", quote(&format!("strata: {name} is Debian's {deb} "))));
        }
    }
    s
}

/// The build wrapper: metadata, provided packages checked, startup files
/// sourced, the script, this package's startup files.
fn wrapper(meta: &str, src: &str, components: &[String], startup: Option<&str>, provided: &str) -> String {
    let mut s = String::from("set -e\n");
    s.push_str(&format!("meta={}\nmkdir -p \"$meta\" {}\n", quote(&format!("/{meta}")), quote(&format!("/{src}"))));
    s.push_str("cp /.spk/spec.yaml /.spk/options.json /.spk/build.sh \"$meta/\"\n");
    for c in components {
        s.push_str(&format!(": > \"$meta\"/{}\n", quote(&format!("{c}.cmpt"))));
    }
    s.push_str(provided);
    s.push_str(SOURCE_STARTUP);
    s.push_str(&format!("cd {}\n", quote(&format!("/{src}"))));
    s.push_str("bash -ex \"$meta/build.sh\"\n");
    if let Some(base) = startup {
        s.push_str("mkdir -p /spfs/etc/spfs/startup.d\n");
        s.push_str(&format!("cp /.spk/startup.sh /spfs/etc/spfs/startup.d/{}\n", quote(&format!("{base}.sh"))));
        s.push_str(&format!("cp /.spk/startup.csh /spfs/etc/spfs/startup.d/{}\n", quote(&format!("{base}.csh"))));
    }
    s
}

/// A `fromBuildEnv` template made into a range from version `v` of the
/// build environment (reference §5.1): `Binary` and `API` pin
/// `Binary:V`/`API:V`; otherwise each `x` is the next version part, `v`
/// the base version, `V` the whole one, `X` its pre/post tags (`~x.x` of
/// 3.9.5 is `~3.9`).
pub fn pin_range(template: &str, v: &Version) -> String {
    match template {
        "Binary" | "API" => format!("{template}:{v}"),
        t => {
            let full = v.to_string();
            let tags = full.strip_prefix(&v.base()).unwrap_or("").to_string();
            let mut out = String::new();
            let mut next = 0;
            for c in t.chars() {
                match c {
                    'x' => {
                        out.push_str(&v.part(next).to_string());
                        next += 1;
                    }
                    'v' => out.push_str(&v.base()),
                    'V' => out.push_str(&full),
                    'X' => out.push_str(&tags),
                    c => out.push(c),
                }
            }
            out
        }
    }
}

/// `reqs` with each `fromBuildEnv` request pinned from the package the
/// build environment has (`deps`); one the build base provides keeps an
/// open range (its Debian version is only known inside the build); one
/// the environment lacks is dropped with `ifPresentInBuildEnv`, else an
/// error.
fn pin_requirements(
    reqs: &[Request],
    deps: &[Built],
    provided: &[String],
    ident: &str,
) -> Result<Vec<Request>, FrontendError> {
    let mut out = Vec::new();
    for r in reqs {
        let Request::Pkg { name, from_build_env: Some(t), if_present_in_build_env, .. } = r else {
            out.push(r.clone());
            continue;
        };
        let mut pinned = r.clone();
        if let Request::Pkg { range, from_build_env, .. } = &mut pinned {
            *from_build_env = None;
            match deps.iter().find(|d| d.name == *name) {
                Some(d) => *range = pin_range(t, &Version::parse(&d.version).expect("a built version parses")),
                None if provided.contains(name) => {}
                None if *if_present_in_build_env => continue,
                None => {
                    return Err(FrontendError::new(format!(
                        "{ident}: the install requirement on '{name}' is fromBuildEnv, but the build environment has no {name}"
                    ))
                    .hint(format!("add '- pkg: {name}' to build.options, or set ifPresentInBuildEnv: true")));
                }
            }
        }
        out.push(pinned);
    }
    Ok(out)
}

/// The output spec, as spk writes it beside the build (JSON is YAML).
fn output_spec(spec: &Spec, r: &Resolved, install_requirements: &[Request]) -> String {
    let options: Vec<serde_json::Value> = r
        .values
        .iter()
        .map(|(k, v)| {
            if r.pkgs.iter().any(|(p, _, _)| p == k) {
                serde_json::json!({ "pkg": k, "static": v })
            } else {
                serde_json::json!({ "var": k, "static": v })
            }
        })
        .collect();
    let reqs: Vec<serde_json::Value> = install_requirements
        .iter()
        .map(|q| match q {
            Request::Pkg { name, range, .. } if range.is_empty() => serde_json::json!({ "pkg": name }),
            Request::Pkg { name, range, .. } => serde_json::json!({ "pkg": format!("{name}/{range}") }),
            Request::Var { name, value, .. } => serde_json::json!({ "var": format!("{name}/{value}") }),
        })
        .collect();
    let comps: Vec<serde_json::Value> = spec
        .install
        .components
        .iter()
        .map(|c| serde_json::json!({ "name": c.name, "files": c.files, "uses": c.uses }))
        .collect();
    let v = serde_json::json!({
        "pkg": format!("{}/{}/{}", spec.name, spec.version, r.digest),
        "api": "v0/package",
        "build": { "options": options },
        "install": { "requirements": reqs, "components": comps },
    });
    serde_json::to_string_pretty(&v).expect("plain data") + "\n"
}

impl Lowering<'_> {
    /// Lowers the builds of `spec`.
    pub(super) fn builds(
        &mut self,
        spec: &Spec,
        file: &Path,
        source: &Option<LayerRef>,
        root: bool,
    ) -> Result<Vec<Built>, FrontendError> {
        let sel = if root {
            self.settings.selection.clone()
        } else {
            crate::variants::Selection { variants: Vec::new(), ..self.settings.selection.clone() }
        };
        let mut chosen = variants(&spec.name, &spec.build, &self.settings.host, &sel).map_err(|e| {
            FrontendError::new(format!("{}: {e}", spec.name))
                .at(file, spec.pos.line, spec.pos.col)
                .hint("check build.variants and the -X opt=/-X variant= options")
        })?;
        if !root {
            chosen.truncate(1);
        }
        self.setup_checks(spec, file)?;
        let mut out = Vec::new();
        for r in chosen {
            out.push(self.build(spec, file, source, &r)?);
        }
        Ok(out)
    }

    /// spk's setup-phase rules that read only the spec.
    fn setup_checks(&self, spec: &Spec, file: &Path) -> Result<(), FrontendError> {
        let mode = |rule: &str, default: RuleMode| {
            spec.build.validation.iter().filter(|r| r.rule == rule).map(|r| r.mode).next_back().unwrap_or(default)
        };
        for o in &spec.build.options {
            if let crate::spec::Opt::Var(v) = o {
                let strong = v.inheritance != crate::spec::Inheritance::Weak;
                if strong
                    && v.description.is_none()
                    && mode("StrongInheritanceVarDescription", RuleMode::Require) == RuleMode::Require
                {
                    return Err(FrontendError::new(format!(
                        "option '{}': Description required for strong inheritance vars",
                        v.name
                    ))
                    .at(file, v.pos.line, v.pos.col)
                    .hint("add 'description:' to the option"));
                }
                if v.description.as_ref().is_some_and(|d| d.chars().count() > 256)
                    && mode("LongVarDescription", RuleMode::Deny) == RuleMode::Deny
                {
                    return Err(FrontendError::new(format!(
                        "option '{}': Description over character limit (256)",
                        v.name
                    ))
                    .at(file, v.pos.line, v.pos.col));
                }
            }
        }
        if let Some(l) = &spec.meta.license {
            let valid = !l.is_empty() && l.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '+'));
            if !valid && mode("SpdxLicense", RuleMode::Allow) != RuleMode::Allow {
                return Err(FrontendError::new(format!("A valid SPDX license required, got '{l}'")).in_file(file));
            }
        } else if mode("SpdxLicense", RuleMode::Allow) == RuleMode::Require {
            return Err(FrontendError::new("A valid SPDX license required, got none")
                .in_file(file)
                .hint("add meta.license"));
        }
        Ok(())
    }

    fn build(
        &mut self,
        spec: &Spec,
        file: &Path,
        source: &Option<LayerRef>,
        r: &Resolved,
    ) -> Result<Built, FrontendError> {
        let (name, version) = (spec.name.as_str(), spec.version.to_string());
        let ident = format!("{name}/{version}/{}", r.digest);
        // The build environment: each package option's components (`build`
        // by default) and their run closure.
        let mut env_layers: Vec<LayerRef> = Vec::new();
        let mut seen = BTreeSet::new();
        let mut deps: Vec<Built> = Vec::new();
        let mut provided = String::new();
        for (dep, comps, range) in &r.pkgs {
            let resolved =
                self.resolve(dep, range, &ident).map_err(|e| if e.file.is_none() { e.in_file(file) } else { e })?;
            if let Some(b) = resolved {
                let comps = if comps.is_empty() { vec!["build".to_string()] } else { comps.clone() };
                self.closure(&b, &comps, &mut env_layers, &mut seen)?;
                deps.push(b);
            } else if let Some(debs) = self.settings.provides.get(dep) {
                provided.push_str(&provided_sh(dep, debs));
            }
        }
        let mut rootfs = vec![LayerRef::image(&self.settings.build_base)];
        rootfs.extend(env_layers.iter().cloned());
        let env_rootfs = rootfs.clone();
        rootfs.extend(source.iter().cloned());

        let meta = pkg_dir(name, &version, &r.digest);
        let src = pkg_dir(name, &version, "src");
        let components: Vec<String> = spec.install.components.iter().map(|c| c.name.clone()).collect();
        let mut env: Vec<(String, String)> = vec![("SPK_ACTIVE_PREFIX".into(), "/spfs".into())];
        for d in &deps {
            pkg_env(&format!("SPK_PKG_{}", env_name(&d.name)), d, &mut env);
        }
        for (k, v) in &r.exported {
            match k.split_once('.') {
                Some((ns, x)) => {
                    env.push((format!("SPK_PKG_{}_OPT_{}", env_name(ns), env_name(x)), v.clone()));
                    env.push((format!("SPK_OPT_{k}"), v.clone()));
                }
                None => env.push((format!("SPK_OPT_{}", env_name(k)), v.clone())),
            }
        }
        let own = Built {
            name: name.to_string(),
            ident: ident.clone(),
            version: version.clone(),
            digest: r.digest.clone(),
            components: BTreeMap::new(),
            uses: BTreeMap::new(),
            requirements: BTreeMap::new(),
            environment: Vec::new(),
            build: None,
        };
        pkg_env("SPK_PKG", &own, &mut env);
        env.push(("SPK_PKG_NAME".into(), name.to_string()));
        env.push(("PREFIX".into(), "/spfs".into()));
        env.push(("SHELL".into(), "bash".into()));
        env.push(("PATH".into(), BUILD_PATH.into()));

        let from_base: Vec<String> = self.settings.provides.keys().chain(&self.settings.host_pkgs).cloned().collect();
        let install_requirements = pin_requirements(&spec.install.requirements, &deps, &from_base, &ident)?;
        // spk expands the values at build time (`$$` is a `$`).
        let environment: Vec<EnvOp> = spec.install.environment.iter().map(|op| expand_op(op, &env)).collect();
        let startup = startup_files(name, &environment);
        let mut files = vec![
            FileData::new(
                "run.sh",
                0o755,
                wrapper(&meta, &src, &components, startup.as_ref().map(|s| s.0.as_str()), &provided),
            ),
            FileData::new("build.sh", 0o644, spec.build.script.join("\n")),
            FileData::new("spec.yaml", 0o644, output_spec(spec, r, &install_requirements)),
            FileData::new("options.json", 0o644, serde_json::to_string_pretty(&r.values).expect("plain data")),
        ];
        if let Some((_, sh, csh)) = &startup {
            files.push(FileData::new("startup.sh", 0o644, sh.clone()));
            files.push(FileData::new("startup.csh", 0o644, csh.clone()));
        }

        let build_id = format!("{name}:build:{}", r.digest);
        let build_env = BuildEnv {
            values: r.values.clone(),
            rootfs: env_rootfs,
            source: source.clone(),
            env: env.clone(),
            src_dir: src.clone(),
            provided: provided.clone(),
        };
        let op = spk_step(rootfs, files, env, vec![Capture::under(OUT, ["spfs"])]);
        let mut v = Vertex::new(&build_id, Some(name), "build", Op::Exec(op));
        v.description = format!("build {ident}");
        self.graph.push(v);

        let params = Package {
            ident: ident.clone(),
            src_dir: src,
            meta_dir: meta,
            components: spec
                .install
                .components
                .iter()
                .map(|c| ComponentParams { name: c.name.clone(), files: c.files.clone(), remaining: c.remaining })
                .collect(),
            rules: spec
                .build
                .validation
                .iter()
                .map(|r| RuleParams {
                    mode: match r.mode {
                        RuleMode::Allow => "allow",
                        RuleMode::Deny => "deny",
                        RuleMode::Require => "require",
                    }
                    .into(),
                    rule: r.rule.clone(),
                })
                .collect(),
        };
        let mut env_tree: Vec<LayerRef> = env_layers.clone();
        env_tree.extend(source.iter().cloned());
        let pkg_id = format!("{name}:package:{}", r.digest);
        let op = HostOp {
            name: hostops::PACKAGE.into(),
            params: serde_json::to_value(params).expect("plain data"),
            inputs: vec![
                HostInput { layers: vec![LayerRef::output(&build_id, OUT)], path: String::new() },
                HostInput { layers: env_tree, path: String::new() },
            ],
            outputs: components.iter().map(|c| HostOutput { name: c.clone(), prefix: String::new() }).collect(),
        };
        let mut v = Vertex::new(&pkg_id, Some(name), "package", Op::Host(op));
        v.description = format!("validate {ident} and split it into {}", components.join(", "));
        self.graph.push(v);

        let mut requirements = BTreeMap::new();
        let mut uses = BTreeMap::new();
        for c in &spec.install.components {
            let mut reqs = install_requirements.clone();
            reqs.extend(pin_requirements(&c.requirements, &deps, &from_base, &ident)?);
            requirements.insert(c.name.clone(), reqs);
            uses.insert(c.name.clone(), c.uses.clone());
        }
        Ok(Built {
            components: components.iter().map(|c| (c.clone(), LayerRef::output(&pkg_id, c))).collect(),
            uses,
            requirements,
            environment,
            build: Some(build_env),
            ..own
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_expand_against_the_build_environment() {
        let env = vec![("PREFIX".to_string(), "/spfs".to_string()), ("SPK_PKG_VERSION".to_string(), "1.2".to_string())];
        assert_eq!(expand("$PREFIX/lib:${SPK_PKG_VERSION}", &env), "/spfs/lib:1.2");
        assert_eq!(expand("$$HOME and $PATH", &env), "$HOME and $PATH", "$$ is a dollar; unknown names stay");
        assert_eq!(expand("cost: 5$", &env), "cost: 5$");
    }

    #[test]
    fn from_build_env_templates_pin_the_build_environments_version() {
        let v = Version::parse("3.9.5").unwrap();
        assert_eq!(pin_range("x.x", &v), "3.9");
        assert_eq!(pin_range("~x.x", &v), "~3.9");
        assert_eq!(pin_range(">=x.x.x", &v), ">=3.9.5");
        assert_eq!(pin_range("Binary", &v), "Binary:3.9.5");
        assert_eq!(pin_range("API", &v), "API:3.9.5");
        let post = Version::parse("1.1.1+r.13").unwrap();
        assert_eq!((pin_range("v", &post), pin_range("V", &post)), ("1.1.1".into(), "1.1.1+r.13".into()));
        assert!(crate::version::VersionRange::parse(&pin_range("Binary", &v)).unwrap().contains(&v));
    }

    #[test]
    fn startup_files_follow_spks_naming_and_lines() {
        let ops = vec![
            EnvOp::Comment("greet".into()),
            EnvOp::Set { var: "GREETING".into(), value: "hello".into() },
            EnvOp::Prepend { var: "PATH".into(), value: "/spfs/bin".into(), separator: ":".into() },
        ];
        let (name, sh, csh) = startup_files("greet", &ops).unwrap();
        assert_eq!(name, "spk_greet");
        assert_eq!(sh, "# greet\nexport GREETING=\"hello\"\nexport PATH=\"/spfs/bin:${PATH}\"\n");
        assert!(csh.contains("setenv GREETING \"hello\""));
        let mut ops = ops;
        ops.push(EnvOp::Priority(5));
        assert_eq!(startup_files("greet", &ops).unwrap().0, "05_spk_greet");
        assert_eq!(startup_files("greet", &[]), None);
    }
}
