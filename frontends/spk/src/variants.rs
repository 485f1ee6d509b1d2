//! Options, variants and the build id (reference §3.2–§3.4): which
//! variants a build makes, every option's resolved value in each, and
//! spk's build digest over them.
//!
//! The digest reads the *input* variant (the variant + host options + the
//! user's `-o`), never what a solve picks: the same recipe on the same
//! host always has the same id.

use std::collections::BTreeMap;

use sha1::{Digest, Sha1};

use crate::spec::{AutoHostVars, BuildSpec, Opt, PkgOpt, VarOpt, Variant, valid_pkg_name};
use crate::version::VersionRange;

/// The host as spk's `HOST_OPTIONS` sees it: `os`, `arch` (Rust names),
/// `distro` and `<distro>=<version id>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Host {
    pub os: String,
    pub arch: String,
    pub distro: Option<(String, String)>,
}

impl Host {
    /// The option map, in spk's order.
    pub fn options(&self) -> BTreeMap<String, String> {
        let mut m = BTreeMap::from([("os".to_string(), self.os.clone()), ("arch".to_string(), self.arch.clone())]);
        if let Some((id, v)) = &self.distro {
            m.insert("distro".into(), id.clone());
            m.insert(id.clone(), v.clone());
        }
        m
    }
}

/// The Rust `consts::ARCH` name spk uses for a Debian architecture.
pub fn rust_arch(debian: &str) -> String {
    match debian {
        "amd64" => "x86_64",
        "arm64" => "aarch64",
        "armhf" => "arm",
        "i386" => "x86",
        "ppc64el" => "powerpc64",
        other => other,
    }
    .to_string()
}

/// The distro (`/etc/os-release` `ID`, `VERSION_ID`) of the build bases
/// strata knows by name; planning never opens an image.
pub fn distro_of(image: &str) -> Option<(String, String)> {
    let (repo, tag) = image.rsplit_once(':').unwrap_or((image, "latest"));
    let repo = repo.rsplit('/').next().unwrap_or(repo);
    let v = match (repo, tag) {
        ("debian", "bookworm" | "12") => "12",
        ("debian", "trixie" | "13") => "13",
        ("debian", "bullseye" | "11") => "11",
        ("ubuntu", t) if t.contains('.') => t,
        ("ubuntu", "noble") => "24.04",
        ("ubuntu", "jammy") => "22.04",
        ("rockylinux" | "rocky", t) => return Some(("rocky".into(), t.to_string())),
        _ => return None,
    };
    Some((repo.to_string(), v.to_string()))
}

/// One variant as built: every option with its value, the digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// The variant's index in the spec (`None` for the default variant of
    /// a spec without variants).
    pub index: Option<usize>,
    /// Every option of the build (declared, introduced, host): its value.
    pub values: BTreeMap<String, String>,
    /// The build's package options: name, components, requested range.
    pub pkgs: Vec<(String, Vec<String>, String)>,
    /// The options exported as `SPK_OPT_*` (host options included).
    pub exported: BTreeMap<String, String>,
    pub digest: String,
}

/// What the user asked for: `-o` values, `--variant`, `--no-host`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selection {
    pub overrides: BTreeMap<String, String>,
    /// `--variant N`, `--variant k=v,k=v` or `--variant '{"k": "v"}'`.
    pub variants: Vec<String>,
    /// `--new-variant '{"k": "v"}'`: bespoke variants, built instead of
    /// the spec's unless `--variant` picks some of those too.
    pub new_variants: Vec<String>,
    pub no_host: bool,
}

/// A JSON object of option values (`--variant '{...}'`, `--new-variant`),
/// as spk reads one: strings as they are, numbers and booleans in their
/// JSON spelling (`3.10` is `3.1`, as in spk).
pub fn json_values(text: &str) -> Result<Vec<(String, String)>, String> {
    let v: serde_json::Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
    let serde_json::Value::Object(map) = v else {
        return Err("expected a JSON object of option values, like {\"python\": \"3.11\"}".into());
    };
    map.into_iter()
        .map(|(k, v)| {
            let value = match v {
                serde_json::Value::String(s) => s,
                serde_json::Value::Number(n) => n.to_string(),
                serde_json::Value::Bool(b) => b.to_string(),
                serde_json::Value::Null => String::new(),
                other => return Err(format!("option '{k}': {other} is not a string, number or boolean")),
            };
            Ok((k.trim().to_lowercase(), value))
        })
        .collect()
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VariantError {
    #[error("variants {0} and {1} would produce the same build")]
    Duplicate(usize, usize),
    #[error("option '{name}' cannot be '{value}': it must be one of {choices}")]
    Choice { name: String, value: String, choices: String },
    #[error("--variant {0}: {1}")]
    BadSelector(String, String),
    #[error("no variant is left to build{0}")]
    Nothing(String),
}

/// The declared options + the ones `variant` introduces + the host vars.
fn options_for(build: &BuildSpec, variant: &[(String, String)]) -> Vec<Opt> {
    let mut opts = build.options.clone();
    for (key, value) in variant {
        let (name, comps) = match key.split_once(':') {
            Some((n, c)) => {
                let c = c.trim_start_matches('{').trim_end_matches('}');
                (
                    n.to_string(),
                    c.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect::<Vec<_>>(),
                )
            }
            None => (key.clone(), Vec::new()),
        };
        match opts.iter_mut().find(|o| o.name() == name) {
            Some(Opt::Pkg(p)) => {
                for c in comps {
                    if !p.components.contains(&c) {
                        p.components.push(c);
                    }
                }
            }
            Some(Opt::Var(_)) => {}
            None => {
                let new = if (valid_pkg_name(&name) && VersionRange::parse(value).is_ok()) || !comps.is_empty() {
                    Opt::Pkg(PkgOpt {
                        name,
                        components: comps,
                        default: String::new(),
                        static_value: String::new(),
                        pos: Default::default(),
                    })
                } else {
                    Opt::Var(var(&name))
                };
                opts.push(new);
            }
        }
    }
    let host: &[&str] = match build.auto_host_vars {
        AutoHostVars::Distro => &["os", "arch", "distro", "<distro>"],
        AutoHostVars::Arch => &["os", "arch"],
        AutoHostVars::Os => &["os"],
        AutoHostVars::None => &[],
    };
    for h in host {
        if !opts.iter().any(|o| o.name() == *h) {
            opts.push(Opt::Var(var(h)));
        }
    }
    opts
}

fn var(name: &str) -> VarOpt {
    VarOpt {
        name: name.into(),
        default: String::new(),
        choices: Vec::new(),
        inheritance: crate::spec::Inheritance::Weak,
        static_value: String::new(),
        description: None,
        required: false,
        pos: Default::default(),
    }
}

/// A given value for `name` of package `pkg` (`pkg.name` first for a
/// plain name, `ns.name` then `name` for a namespaced one).
fn given<'a>(given: &'a BTreeMap<String, String>, pkg: &str, name: &str) -> Option<&'a String> {
    match name.split_once('.') {
        Some((_, bare)) => given.get(name).or_else(|| given.get(bare)),
        None => given.get(&format!("{pkg}.{name}")).or_else(|| given.get(name)),
    }
}

/// Resolves one variant of `pkg`: `entries` are the variant's own, `input`
/// the variant overridden by the host and the user.
fn resolve(
    pkg: &str,
    build: &BuildSpec,
    entries: &[(String, String)],
    input: &BTreeMap<String, String>,
    host: &BTreeMap<String, String>,
    index: Option<usize>,
) -> Result<Resolved, VariantError> {
    let distro = host.get("distro").cloned();
    let mut values = BTreeMap::new();
    let mut pkgs = Vec::new();
    for o in options_for(build, entries) {
        let name = match o.name() {
            "<distro>" => match &distro {
                Some(d) => d.clone(),
                None => "unknown_distro".into(),
            },
            n => n.to_string(),
        };
        match &o {
            Opt::Var(v) => {
                let value = if !v.static_value.is_empty() {
                    v.static_value.clone()
                } else {
                    given(input, pkg, &name).cloned().unwrap_or_else(|| v.default.clone())
                };
                if !value.is_empty() && !v.choices.is_empty() && !v.choices.contains(&value) {
                    return Err(VariantError::Choice { name, value, choices: v.choices.join(", ") });
                }
                values.insert(name, value);
            }
            Opt::Pkg(p) => {
                let value = if !p.static_value.is_empty() {
                    p.static_value.clone()
                } else {
                    given(input, pkg, &name).cloned().unwrap_or_else(|| p.default.clone())
                };
                let mut comps = p.components.clone();
                comps.sort_by_key(|c| component_rank(c));
                pkgs.push((name.clone(), comps, value.clone()));
                values.insert(name, value);
            }
        }
    }
    let mut exported = input.clone();
    exported.extend(values.clone());
    let digest = build_digest(&values, &pkgs);
    Ok(Resolved { index, values, pkgs, exported, digest })
}

/// spk's order of components: all, build, run, src, then by name.
fn component_rank(c: &str) -> (u8, String) {
    let r = match c {
        "all" => 0,
        "build" => 1,
        "run" => 2,
        "src" => 3,
        _ => 4,
    };
    (r, c.to_string())
}

/// The build id: SHA-1 over `name=value\0` by name, then `pkg=c1,c2,\x01`
/// for package options with components, by name; base32, 8 characters.
pub fn build_digest(values: &BTreeMap<String, String>, pkgs: &[(String, Vec<String>, String)]) -> String {
    let mut h = Sha1::new();
    for (k, v) in values {
        h.update(k.as_bytes());
        h.update(b"=");
        h.update(v.as_bytes());
        h.update([0u8]);
    }
    let mut with_comps: Vec<&(String, Vec<String>, String)> = pkgs.iter().filter(|p| !p.1.is_empty()).collect();
    with_comps.sort_by(|a, b| a.0.cmp(&b.0));
    for (name, comps, _) in with_comps {
        h.update(name.as_bytes());
        h.update(b"=");
        for c in comps {
            h.update(c.as_bytes());
            h.update(b",");
        }
        h.update([1u8]);
    }
    base32(&h.finalize())[..8].to_string()
}

/// RFC 4648 base32, upper case, no padding.
fn base32(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::new();
    let (mut acc, mut bits) = (0u32, 0u32);
    for b in bytes {
        acc = (acc << 8) | u32::from(*b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(ALPHABET[((acc >> bits) & 31) as usize] as char);
        }
    }
    if bits > 0 {
        out.push(ALPHABET[((acc << (5 - bits)) & 31) as usize] as char);
    }
    out
}

/// A variant of the spec: its index (none for the default one) and entries.
type Listed = (Option<usize>, Vec<(String, String)>);

/// The variants `spk build` would build for `pkg` on `host` with `sel`.
pub fn variants(pkg: &str, build: &BuildSpec, host: &Host, sel: &Selection) -> Result<Vec<Resolved>, VariantError> {
    let host_opts = if sel.no_host { BTreeMap::new() } else { host.options() };
    // No variants: one, of the var options' non-empty defaults.
    let listed: Vec<Listed> = if build.variants.is_empty() {
        let defaults = build
            .options
            .iter()
            .filter_map(|o| match o {
                Opt::Var(v) if !v.default.is_empty() => Some((v.name.clone(), v.default.clone())),
                _ => None,
            })
            .collect();
        vec![(None, defaults)]
    } else {
        build.variants.iter().enumerate().map(|(i, v): (usize, &Variant)| (Some(i), v.entries.clone())).collect()
    };
    // Identical variants in the spec are an error.
    for (i, a) in listed.iter().enumerate() {
        for (j, b) in listed.iter().enumerate().skip(i + 1) {
            let (ma, mb): (BTreeMap<_, _>, BTreeMap<_, _>) =
                (a.1.iter().cloned().collect(), b.1.iter().cloned().collect());
            if ma == mb {
                return Err(VariantError::Duplicate(i, j));
            }
        }
    }
    let mut bespoke: Vec<Listed> = Vec::new();
    for text in &sel.new_variants {
        let entries = json_values(text).map_err(|why| VariantError::BadSelector(text.clone(), why))?;
        bespoke.push((None, entries));
    }
    let chosen: Vec<&Listed> = if sel.variants.is_empty() && !bespoke.is_empty() {
        bespoke.iter().collect()
    } else if sel.variants.is_empty() {
        // Skip variants that name a host option with another value.
        listed.iter().filter(|(_, e)| e.iter().all(|(k, v)| host_opts.get(k).is_none_or(|h| h == v))).collect()
    } else {
        let mut out = Vec::new();
        for s in &sel.variants {
            if let Ok(n) = s.parse::<usize>() {
                let v = listed.iter().find(|(i, _)| i.unwrap_or(0) == n).ok_or_else(|| {
                    VariantError::BadSelector(
                        s.clone(),
                        format!("the spec has {} variant(s), counted from 0", listed.len()),
                    )
                })?;
                out.push(v);
                continue;
            }
            let mut want = BTreeMap::new();
            if s.trim_start().starts_with('{') {
                want.extend(json_values(s).map_err(|why| VariantError::BadSelector(s.clone(), why))?);
            } else {
                for kv in s.split(',') {
                    let (k, v) = kv.split_once('=').ok_or_else(|| {
                        VariantError::BadSelector(
                            s.clone(),
                            "expected N, KEY=VALUE[,KEY=VALUE] or a JSON object".into(),
                        )
                    })?;
                    want.insert(k.trim().to_lowercase(), v.trim().to_string());
                }
            }
            let matching: Vec<_> = listed
                .iter()
                .filter(|(_, e)| want.iter().all(|(k, v)| e.iter().any(|(ek, ev)| ek == k && ev == v)))
                .filter(|(_, e)| e.iter().all(|(k, v)| host_opts.get(k).is_none_or(|h| h == v)))
                .collect();
            if matching.is_empty() {
                return Err(VariantError::BadSelector(s.clone(), "no variant has these values".into()));
            }
            out.extend(matching);
        }
        out.extend(bespoke.iter());
        out
    };
    let mut built: Vec<Resolved> = Vec::new();
    for (index, entries) in chosen {
        let mut input: BTreeMap<String, String> = entries.iter().cloned().collect();
        input.extend(host_opts.clone());
        input.extend(sel.overrides.clone());
        let r = resolve(pkg, build, entries, &input, &host_opts, *index)?;
        // Variants that the overrides made identical build once.
        if !built.iter().any(|b| b.digest == r.digest) {
            built.push(r);
        }
    }
    if built.is_empty() {
        let why = if host_opts.is_empty() {
            String::new()
        } else {
            " on this host (every variant names a host option with another value; pick one with -X variant=N)".into()
        };
        return Err(VariantError::Nothing(why));
    }
    Ok(built)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Warning;
    use crate::spec::Reader;

    fn digest(kv: &[(&str, &str)]) -> String {
        build_digest(&kv.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(), &[])
    }

    fn build(yaml: &str) -> BuildSpec {
        let node = crate::yaml::load(&format!("pkg: my-pkg/1.0.0\napi: v0/package\n{yaml}")).unwrap();
        let mut w: Vec<Warning> = Vec::new();
        Reader { warnings: &mut w }.spec(&node).unwrap().build
    }

    fn linux() -> Host {
        Host { os: "linux".into(), arch: "x86_64".into(), distro: Some(("debian".into(), "12".into())) }
    }

    #[test]
    fn the_reference_check_values() {
        assert_eq!(digest(&[]), "3I42H3S6", "no options at all");
        assert_eq!(digest(&[("arch", "x86_64"), ("color", "red")]), "PANWABZU");
    }

    #[test]
    fn an_empty_value_still_counts_and_order_is_by_name() {
        assert_ne!(digest(&[("centos", "")]), digest(&[]));
        // A BTreeMap sorts by name: the same options in any order give one id.
        assert_eq!(digest(&[("color", "red"), ("arch", "x86_64")]), "PANWABZU");
    }

    #[test]
    fn components_of_package_options_count() {
        let plain = vec![("python".to_string(), vec![], "3.7".to_string())];
        let with = vec![("python".to_string(), vec!["run".to_string()], "3.7".to_string())];
        let values = BTreeMap::from([("python".to_string(), "3.7".to_string())]);
        assert_ne!(build_digest(&values, &plain), build_digest(&values, &with), "issue #947");
        assert_eq!(build_digest(&values, &plain), digest(&[("python", "3.7")]));
    }

    #[test]
    fn a_spec_without_options_or_host_vars_is_3i42h3s6() {
        let b = build("build:\n  auto_host_vars: None\n");
        let v = variants("my-pkg", &b, &linux(), &Selection::default()).unwrap();
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].digest, "3I42H3S6");
    }

    #[test]
    fn arch_from_the_host_and_color_from_a_default_is_panwabzu() {
        let b = build("build:\n  auto_host_vars: Arch\n  options:\n    - var: color/red\n");
        // auto_host_vars: Arch adds os too; --no-host with -o arch=... gives exactly arch+color+os.
        let sel = Selection {
            no_host: true,
            overrides: BTreeMap::from([("arch".into(), "x86_64".into())]),
            ..Default::default()
        };
        let v = variants("my-pkg", &b, &linux(), &sel).unwrap();
        assert_eq!(v[0].values.get("os").map(String::as_str), Some(""), "--no-host leaves the host vars empty");
        let b = build("build:\n  auto_host_vars: None\n  options:\n    - var: arch\n    - var: color/red\n");
        let v = variants("my-pkg", &b, &linux(), &Selection::default()).unwrap();
        assert_eq!(v[0].digest, "PANWABZU", "{:?}", v[0].values);
    }

    #[test]
    fn host_vars_follow_auto_host_vars() {
        let b = build("build:\n  options: []\n");
        let v = variants("my-pkg", &b, &linux(), &Selection::default()).unwrap();
        let names: Vec<&str> = v[0].values.keys().map(String::as_str).collect();
        assert_eq!(names, ["arch", "debian", "distro", "os"]);
        assert_eq!(v[0].digest, digest(&[("arch", "x86_64"), ("debian", "12"), ("distro", "debian"), ("os", "linux")]));
    }

    #[test]
    fn variant_keys_that_are_not_options_become_options() {
        let b = build("build:\n  auto_host_vars: None\n  variants:\n    - {gcc: 6.3, debug: on}\n    - {gcc: 9.3}\n");
        let v = variants("my-pkg", &b, &linux(), &Selection::default()).unwrap();
        assert_eq!(v.len(), 2);
        assert_eq!(v[0].pkgs[0].0, "gcc", "gcc: 6.3 is a version range: a build dependency");
        assert_eq!(v[0].values.get("debug").map(String::as_str), Some("on"));
        assert_eq!(v[0].digest, digest(&[("debug", "on"), ("gcc", "6.3")]), "#434: variant-only vars count");
        assert_eq!(v[1].digest, digest(&[("gcc", "9.3")]));
    }

    #[test]
    fn python_3_10_in_a_variant_is_3_1() {
        let b = build("build:\n  auto_host_vars: None\n  variants:\n    - {python: 3.10}\n");
        let v = variants("my-pkg", &b, &linux(), &Selection::default()).unwrap();
        assert_eq!(v[0].values["python"], "3.1");
    }

    #[test]
    fn overrides_collapse_variants_and_host_mismatches_are_skipped() {
        let b = build(
            "build:\n  auto_host_vars: None\n  options: [{var: color}]\n  variants:\n    - {color: red}\n    - {color: blue}\n    - {distro: centos}\n",
        );
        let all = variants("my-pkg", &b, &linux(), &Selection::default()).unwrap();
        assert_eq!(all.len(), 2, "the centos variant is skipped on debian");
        let sel = Selection { overrides: BTreeMap::from([("color".into(), "green".into())]), ..Default::default() };
        assert_eq!(variants("my-pkg", &b, &linux(), &sel).unwrap().len(), 1, "-o makes red and blue the same build");
        let sel = Selection { variants: vec!["1".into()], ..Default::default() };
        assert_eq!(variants("my-pkg", &b, &linux(), &sel).unwrap()[0].values["color"], "blue");
        let sel = Selection { variants: vec!["color=red".into()], ..Default::default() };
        assert_eq!(variants("my-pkg", &b, &linux(), &sel).unwrap()[0].index, Some(0));
    }

    #[test]
    fn duplicates_choices_and_statics() {
        let b = build("build:\n  variants:\n    - {a: 1}\n    - {a: 1}\n");
        assert_eq!(variants("my-pkg", &b, &linux(), &Selection::default()), Err(VariantError::Duplicate(0, 1)));
        let b = build("build:\n  auto_host_vars: None\n  options: [{var: abi, choices: [a, b]}]\n");
        let sel = Selection { overrides: BTreeMap::from([("abi".into(), "c".into())]), ..Default::default() };
        assert!(matches!(variants("my-pkg", &b, &linux(), &sel), Err(VariantError::Choice { .. })));
        let b = build("build:\n  auto_host_vars: None\n  options: [{var: abi, static: x}]\n");
        let sel = Selection { overrides: BTreeMap::from([("abi".into(), "y".into())]), ..Default::default() };
        assert_eq!(variants("my-pkg", &b, &linux(), &sel).unwrap()[0].values["abi"], "x", "static beats a given value");
    }

    #[test]
    fn a_package_scoped_value_beats_a_global_one() {
        let b = build("build:\n  auto_host_vars: None\n  options: [{var: debug/off}]\n");
        let sel = Selection {
            overrides: BTreeMap::from([("debug".into(), "on".into()), ("my-pkg.debug".into(), "full".into())]),
            ..Default::default()
        };
        assert_eq!(variants("my-pkg", &b, &linux(), &sel).unwrap()[0].values["debug"], "full");
    }
}
