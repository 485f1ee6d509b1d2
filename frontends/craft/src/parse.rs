//! The project file → [`Project`]: rockcraft-style top-level keys, every
//! craft-parts part key, each plugin's keys; every mistake reported at its
//! line and column with what to do.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use strata_frontend_api::{
    Base, Fileset, IR_VERSION, ImageSettings, OptionValue, Part, Permission, Platform, Project, Scriptlets, Source,
    SourceKind,
};

use crate::dirs::PartDirs;
use crate::error::{SpecError, closest};
use crate::order;
use crate::plugins::{self, Flavour, KeyType, PluginInput, UNSUPPORTED_PLUGINS};
use crate::yaml::{self, Kind, Node, Resolved, resolve_plain};

/// The build base of a project whose runtime base is `bare` and that names
/// no `build-base` (rockcraft requires one; strata builds bare parts files
/// such as the conformance cases in its Debian base image).
pub const DEFAULT_BUILD_BASE: &str = "debian:bookworm";

/// Debian architectures craft-parts knows (`_DEB_TO_TRIPLET`).
pub const ARCHITECTURES: &[&str] = &["amd64", "arm64", "armhf", "i386", "powerpc", "ppc64el", "riscv64", "s390x"];

const TOP_KEYS: &[&str] = &[
    "name",
    "title",
    "version",
    "summary",
    "description",
    "license",
    "base",
    "build-base",
    "platforms",
    "adopt-info",
    "source-date-epoch",
    "entrypoint",
    "cmd",
    "entrypoint-command",
    "environment",
    "labels",
    "user",
    "run-user",
    "working-dir",
    "ports",
    "parts",
];

/// rockcraft keys strata does not implement, and what to do instead.
const UNSUPPORTED_TOP_KEYS: &[(&str, &str)] = &[
    ("services", "strata images have no pebble: set 'entrypoint' and 'cmd' instead"),
    ("checks", "strata images have no pebble: remove 'checks'"),
    ("entrypoint-service", "strata images have no pebble: set 'entrypoint' and 'cmd' instead"),
    ("package-repositories", "add repositories in an override-build or overlay-script scriptlet"),
    ("extensions", "write the parts the extension would add"),
];

const PART_KEYS: &[&str] = &[
    "plugin",
    "source",
    "source-type",
    "source-checksum",
    "source-branch",
    "source-tag",
    "source-commit",
    "source-depth",
    "source-submodules",
    "source-subdir",
    "after",
    "disable-parallel",
    "build-packages",
    "build-environment",
    "build-attributes",
    "stage-packages",
    "overlay-packages",
    "overlay-script",
    "override-overlay",
    "overlay",
    "organize",
    "stage",
    "prime",
    "override-pull",
    "override-build",
    "override-stage",
    "override-prime",
    "permissions",
];

/// craft-parts part keys strata does not implement, and what to do instead.
const UNSUPPORTED_PART_KEYS: &[(&str, &str)] = &[
    ("build-snaps", "build containers have no snapd: use build-packages with the Debian package"),
    ("stage-snaps", "build containers have no snapd: use stage-packages, or fetch it in override-build"),
    ("stage-slices", "chisel slices are not supported yet: use stage-packages"),
    ("build-slices", "chisel slices are not supported yet: use build-packages"),
    ("overlay-recommended-packages", "list the recommended packages in overlay-packages"),
    ("source-channel", "snap sources are not supported: use a tar, deb or git source"),
];

const BUILD_ATTRIBUTES: &[&str] = &["enable-usrmerge", "disable-usrmerge"];

/// Parses a project (or bare `parts:`) file. `project_dir` is only read to
/// tell local directory sources from other sources, as craft-parts does.
pub fn parse_project(text: &str, project_dir: &Path, spec_file: &str) -> Result<Project, SpecError> {
    parse_project_over(text, project_dir, spec_file, None)
}

/// [`parse_project`] with the runtime base replaced by `base` (`bare` or an
/// image reference; `strata build --base`) before the parts are read, so
/// that what depends on the base (the overlay checks, rockcraft's plugins)
/// sees the base the image gets. The default build base still follows the
/// project's own `base`.
pub fn parse_project_over(
    text: &str,
    project_dir: &Path,
    spec_file: &str,
    base_override: Option<&str>,
) -> Result<Project, SpecError> {
    let root = yaml::load(text)?;
    let Kind::Map(entries) = &root.kind else {
        return Err(SpecError::new(
            root.pos,
            format!("the project file must be a mapping, not {}", root.describe()),
            "start the file with keys such as 'name:' and 'parts:'",
        ));
    };
    let mut top: BTreeMap<&str, (&Node, &Node)> = BTreeMap::new();
    for (k, v) in entries {
        let name = key_text(k)?;
        if let Some((_, help)) = UNSUPPORTED_TOP_KEYS.iter().find(|(n, _)| *n == name) {
            return Err(SpecError::new(k.pos, format!("'{name}' is not supported by strata"), *help));
        }
        if !TOP_KEYS.contains(&name) {
            return Err(unknown_key(k, name, "at the top level", TOP_KEYS));
        }
        top.insert(name, (k, v));
    }
    let get = |key: &str| top.get(key).map(|(_, v)| *v);

    let Some(&(parts_key, parts_node)) = top.get("parts") else {
        return Err(SpecError::new(
            root.pos,
            "the project has no 'parts'",
            "add a 'parts:' mapping with at least one part, e.g. parts: {my-part: {plugin: nil}}",
        ));
    };
    let name = get("name").map(|n| opt_string(n, "name")).transpose()?.flatten();
    if let (Some(n), Some(node)) = (&name, get("name"))
        && !valid_project_name(n)
    {
        return Err(SpecError::new(
            node.pos,
            format!("invalid project name '{n}'"),
            "use lowercase letters, digits and hyphens, starting with a letter (e.g. my-app)",
        ));
    }
    let base = match get("base") {
        None => Base::Bare,
        Some(n) => match string(n, "base")?.as_str() {
            "bare" => Base::Bare,
            other => Base::Image(image_ref(other)),
        },
    };
    let build_base = match (get("build-base"), &base) {
        (Some(n), _) => image_ref(&string(n, "build-base")?),
        (None, Base::Image(img)) => img.clone(),
        (None, Base::Bare) => DEFAULT_BUILD_BASE.to_string(),
    };
    let base = match base_override {
        Some("bare") => Base::Bare,
        Some(image) => Base::Image(image.to_string()),
        None => base,
    };
    let flavour = Flavour::of(spec_file, &base, &build_base);

    let parts_map = map(parts_node, "parts")?;
    if parts_map.is_empty() {
        return Err(SpecError::new(
            parts_key.pos,
            "'parts' is empty",
            "add at least one part, e.g. my-part: {plugin: nil}",
        ));
    }
    let mut parts = BTreeMap::new();
    let mut part_nodes: BTreeMap<String, (&Node, &Node)> = BTreeMap::new();
    for (k, v) in parts_map {
        let part_name = key_text(k)?.to_string();
        if !valid_part_name(&part_name) {
            return Err(SpecError::new(
                k.pos,
                format!("invalid part name '{part_name}'"),
                "use letters, digits, '.', '_' and '-', starting with a letter or digit (no '/' or spaces)",
            ));
        }
        let part = parse_part(&part_name, k, v, project_dir, &base, flavour)?;
        parts.insert(part_name.clone(), part);
        part_nodes.insert(part_name, (k, v));
    }
    check_after(&parts, &part_nodes)?;

    let adopt_info = get("adopt-info").map(|n| string(n, "adopt-info")).transpose()?;
    if let (Some(a), Some(node)) = (&adopt_info, get("adopt-info"))
        && !parts.contains_key(a)
    {
        return Err(SpecError::new(
            node.pos,
            format!("adopt-info names '{a}', which is not a part"),
            missing_part_help(a, &parts),
        ));
    }
    let source_date_epoch = match get("source-date-epoch") {
        None => None,
        Some(n) => Some(integer(n, "source-date-epoch", 0, i64::MAX)?),
    };

    Ok(Project {
        ir_version: IR_VERSION,
        frontend: "craft".into(),
        name,
        title: get("title").map(|n| opt_string(n, "title")).transpose()?.flatten(),
        version: get("version").map(|n| opt_string(n, "version")).transpose()?.flatten(),
        summary: get("summary").map(|n| opt_string(n, "summary")).transpose()?.flatten(),
        description: get("description").map(|n| opt_string(n, "description")).transpose()?.flatten(),
        license: get("license").map(|n| opt_string(n, "license")).transpose()?.flatten(),
        base,
        build_base,
        platforms: get("platforms").map(parse_platforms).transpose()?.unwrap_or_default(),
        adopt_info,
        source_date_epoch,
        image: parse_image(&get)?,
        project_dir: project_dir.to_path_buf(),
        spec_file: spec_file.to_string(),
        parts,
    })
}

/// rockcraft writes bases as `ubuntu@24.04`; as an image that is `ubuntu:24.04`.
fn image_ref(s: &str) -> String {
    match s.split_once('@') {
        Some((distro, version)) if !distro.contains('/') && !version.contains(':') => format!("{distro}:{version}"),
        _ => s.to_string(),
    }
}

fn valid_project_name(n: &str) -> bool {
    !n.is_empty()
        && n.len() <= 40
        && n.starts_with(|c: char| c.is_ascii_lowercase())
        && !n.ends_with('-')
        && !n.contains("--")
        && n.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

fn valid_part_name(n: &str) -> bool {
    n.starts_with(|c: char| c.is_ascii_alphanumeric())
        && n.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '+'))
}

fn parse_platforms(node: &Node) -> Result<BTreeMap<String, Platform>, SpecError> {
    let mut out = BTreeMap::new();
    for (k, v) in map(node, "platforms")? {
        let name = key_text(k)?.to_string();
        let platform = if v.is_null() {
            check_arch(k, &name, &format!("platforms.{name}"))?;
            Platform { build_on: vec![name.clone()], build_for: vec![name.clone()] }
        } else {
            let what = format!("platforms.{name}");
            let mut build_on = None;
            let mut build_for = None;
            for (pk, pv) in map(v, &what)? {
                let key = key_text(pk)?;
                let arches = match &pv.kind {
                    Kind::Seq(items) => items
                        .iter()
                        .map(|i| Ok((i, string(i, &format!("{what}.{key}"))?)))
                        .collect::<Result<Vec<_>, _>>()?,
                    _ => vec![(pv, string(pv, &format!("{what}.{key}"))?)],
                };
                for (n, a) in &arches {
                    check_arch(n, a, &format!("{what}.{key}"))?;
                }
                let arches = arches.into_iter().map(|(_, a)| a).collect();
                match key {
                    "build-on" => build_on = Some(arches),
                    "build-for" => build_for = Some(arches),
                    other => return Err(unknown_key(pk, other, &format!("in {what}"), &["build-on", "build-for"])),
                }
            }
            let Some(build_on) = build_on else {
                return Err(SpecError::new(
                    k.pos,
                    format!("platform '{name}' has no build-on"),
                    "add build-on: [<architecture>]",
                ));
            };
            let build_for = match build_for {
                Some(b) => b,
                None if ARCHITECTURES.contains(&name.as_str()) => vec![name.clone()],
                None => {
                    return Err(SpecError::new(
                        k.pos,
                        format!("platform '{name}' has no build-for and its name is not an architecture"),
                        "add build-for: [<architecture>]",
                    ));
                }
            };
            Platform { build_on, build_for }
        };
        out.insert(name, platform);
    }
    Ok(out)
}

fn check_arch(node: &Node, arch: &str, what: &str) -> Result<(), SpecError> {
    if ARCHITECTURES.contains(&arch) {
        return Ok(());
    }
    let hint = match arch {
        "x86_64" | "x64" => " (did you mean 'amd64'?)".to_string(),
        "aarch64" => " (did you mean 'arm64'?)".to_string(),
        "ppc64le" => " (did you mean 'ppc64el'?)".to_string(),
        "armv7l" | "armv7" => " (did you mean 'armhf'?)".to_string(),
        _ => suggestion(arch, ARCHITECTURES),
    };
    Err(SpecError::new(
        node.pos,
        format!("{what}: unknown architecture '{arch}'"),
        format!("use a Debian architecture: {}{hint}", ARCHITECTURES.join(", ")),
    ))
}

/// rockcraft's `entrypoint-command` (`utils.parse_command`): the words
/// before a `[ ... ]` group are the entrypoint, the words inside it the
/// default arguments (the CMD). rockcraft clears both before it sets them,
/// so an empty list is set too, and clears the base's (`echo` →
/// `["echo"]` and no CMD; `[ echo hi ]` → no entrypoint, CMD `["echo", "hi"]`).
pub fn entrypoint_command(text: &str) -> Result<(Vec<String>, Vec<String>), String> {
    let words = shlex::split(text).ok_or("unbalanced quotes")?;
    let (mut entrypoint, mut args) = (Vec::new(), Vec::new());
    let (mut inside, mut had_group) = (false, false);
    for w in words {
        match (inside, w.as_str()) {
            (true, "[") => return Err("cannot nest [ ... ] groups".into()),
            (true, "]") => inside = false,
            (true, _) => args.push(w),
            (false, _) if had_group => return Err("cannot have any arguments after the [ ... ] group".into()),
            (false, "[") => (inside, had_group) = (true, true),
            (false, "]") => return Err("a ']' without its '['".into()),
            (false, _) => entrypoint.push(w),
        }
    }
    Ok((entrypoint, args))
}

/// rockcraft's `run-user`: one of its shared users
/// ([`crate::hostops::user::SHARED_USERS`]), which the image gets in its
/// `/etc/passwd` and runs as; it cannot be combined with `user:`.
fn run_user(n: &Node, has_user: bool) -> Result<String, SpecError> {
    let name = string(n, "run-user")?;
    let allowed: Vec<&str> = crate::hostops::user::SHARED_USERS.iter().map(|(u, _)| *u).collect();
    if !allowed.contains(&name.as_str()) {
        return Err(SpecError::new(
            n.pos,
            format!("run-user '{name}' is not allowed; the allowed values are: {}", allowed.join(", ")),
            "run-user names one of rockcraft's shared users; for another user, set 'user:' to one the image has",
        ));
    }
    if has_user {
        return Err(SpecError::new(
            n.pos,
            "'run-user' and 'user' both set the image's user",
            "keep one: run-user (rockcraft's shared user) or user",
        ));
    }
    Ok(name)
}

fn parse_image<'a>(get: &dyn Fn(&str) -> Option<&'a Node>) -> Result<ImageSettings, SpecError> {
    let mut image = ImageSettings {
        entrypoint: get("entrypoint").map(|n| string_list(n, "entrypoint")).transpose()?,
        cmd: get("cmd").map(|n| string_list(n, "cmd")).transpose()?,
        user: get("user").map(|n| string(n, "user")).transpose()?,
        working_dir: get("working-dir").map(|n| string(n, "working-dir")).transpose()?,
        ..ImageSettings::default()
    };
    if let Some(n) = get("entrypoint-command") {
        if let Some(other) = ["entrypoint", "cmd"].into_iter().find(|k| get(k).is_some()) {
            return Err(SpecError::new(
                n.pos,
                format!("'entrypoint-command' and '{other}' both set the image's entrypoint"),
                "keep one: entrypoint-command (rockcraft's) or entrypoint and cmd",
            ));
        }
        let (entrypoint, cmd) = entrypoint_command(&string(n, "entrypoint-command")?)
            .map_err(|why| SpecError::new(n.pos, format!("entrypoint-command: {why}"), "e.g. 'echo [ hello ]'"))?;
        (image.entrypoint, image.cmd) = (Some(entrypoint), Some(cmd));
    }
    if let Some(n) = get("run-user") {
        image.run_user = Some(run_user(n, get("user").is_some())?);
    }
    if let (Some(w), Some(n)) = (&image.working_dir, get("working-dir"))
        && !w.starts_with('/')
    {
        return Err(SpecError::new(
            n.pos,
            format!("working-dir '{w}' is not absolute"),
            "write it from the root, e.g. /app",
        ));
    }
    if let Some(n) = get("environment") {
        for (k, v) in map(n, "environment")? {
            let key = key_text(k)?;
            check_env_name(k, key, "environment")?;
            image.environment.push((key.to_string(), string(v, &format!("environment.{key}"))?));
        }
    }
    if let Some(n) = get("labels") {
        for (k, v) in map(n, "labels")? {
            let key = key_text(k)?;
            image.labels.insert(key.to_string(), string(v, &format!("labels.{key}"))?);
        }
    }
    if let Some(n) = get("ports") {
        let items = seq(n, "ports")?;
        for item in items {
            let text = string(item, "ports")?;
            let (port, proto) = text.split_once('/').unwrap_or((&text, "tcp"));
            let ok = port.parse::<u16>().is_ok_and(|p| p > 0) && matches!(proto, "tcp" | "udp" | "sctp");
            if !ok {
                return Err(SpecError::new(
                    item.pos,
                    format!("invalid port '{text}'"),
                    "write a port number, optionally with a protocol: 8080, 8080/tcp, 53/udp",
                ));
            }
            let normalized = format!("{port}/{proto}");
            if image.ports.contains(&normalized) {
                return Err(SpecError::new(
                    item.pos,
                    format!("port {normalized} is listed twice"),
                    "remove the duplicate",
                ));
            }
            image.ports.push(normalized);
        }
    }
    Ok(image)
}

fn parse_part(
    name: &str,
    key: &Node,
    node: &Node,
    project_dir: &Path,
    base: &Base,
    flavour: Flavour,
) -> Result<Part, SpecError> {
    let what = format!("parts.{name}");
    if node.is_null() {
        return Err(SpecError::new(
            key.pos,
            format!("part '{name}' is empty"),
            "give it at least a plugin, e.g. plugin: nil",
        ));
    }
    let entries = map(node, &what)?;
    let mut keys: BTreeMap<&str, (&Node, &Node)> = BTreeMap::new();
    for (k, v) in entries {
        keys.insert(key_text(k)?, (k, v));
    }
    // The plugin: `plugin:` or, as in craft-parts, the part's own name.
    let (plugin_name, plugin_pos) = match keys.get("plugin") {
        Some((_, v)) => (string(v, &format!("{what}.plugin"))?, v.pos),
        None if plugins::plugin(name).is_some() => (name.to_string(), key.pos),
        None => {
            // A misspelt key (`plgin:`) explains a missing plugin better.
            for (k, _) in entries {
                let key = key_text(k)?;
                let known = PART_KEYS.contains(&key)
                    || UNSUPPORTED_PART_KEYS.iter().any(|(n, _)| *n == key)
                    || plugins::owner_of_key(key).is_some();
                if !known {
                    return Err(unknown_key(k, key, &format!("in part '{name}'"), PART_KEYS));
                }
            }
            return Err(SpecError::new(
                key.pos,
                format!("part '{name}' has no plugin"),
                format!("add 'plugin:' with one of: {}", plugin_names().join(", ")),
            ));
        }
    };
    let Some(plugin) = plugins::plugin(&plugin_name) else {
        let names = plugin_names();
        let help = if UNSUPPORTED_PLUGINS.contains(&plugin_name.as_str()) {
            format!(
                "craft-parts' '{plugin_name}' plugin is not supported yet: use plugin: nil with override-build, or one of: {}",
                names.join(", ")
            )
        } else {
            format!("use one of: {}{}", names.join(", "), suggestion(&plugin_name, &names))
        };
        return Err(SpecError::new(plugin_pos, format!("part '{name}': unknown plugin '{plugin_name}'"), help));
    };

    let mut part = Part {
        plugin: plugin_name.clone(),
        plugin_options: BTreeMap::new(),
        build_plan: Default::default(),
        source: None,
        after: Vec::new(),
        disable_parallel: false,
        build_packages: Vec::new(),
        stage_packages: Vec::new(),
        overlay_packages: Vec::new(),
        overlay: Fileset::all(),
        build_environment: Vec::new(),
        build_attributes: Vec::new(),
        organize: Vec::new(),
        stage: Fileset::all(),
        prime: Fileset::all(),
        scriptlets: Scriptlets::default(),
        permissions: Vec::new(),
    };
    let mut source_keys: BTreeMap<&str, (&Node, &Node)> = BTreeMap::new();
    for (k, v) in entries {
        let key = key_text(k)?;
        let at = format!("{what}.{key}");
        if let Some((_, help)) = UNSUPPORTED_PART_KEYS.iter().find(|(n, _)| *n == key) {
            return Err(SpecError::new(k.pos, format!("part '{name}': '{key}' is not supported by strata"), *help));
        }
        if key.starts_with("source") && PART_KEYS.contains(&key) {
            source_keys.insert(key, (k, v));
            continue;
        }
        match key {
            "plugin" => {}
            "after" => part.after = string_list(v, &at)?,
            "disable-parallel" => part.disable_parallel = boolean(v, &at)?,
            "build-packages" => part.build_packages = string_list(v, &at)?,
            "stage-packages" => part.stage_packages = string_list(v, &at)?,
            "overlay-packages" => part.overlay_packages = string_list(v, &at)?,
            "build-environment" => part.build_environment = build_environment(v, &at)?,
            "build-attributes" => {
                for item in seq(v, &at)? {
                    let attr = string(item, &at)?;
                    if attr == "self-contained" {
                        return Err(SpecError::new(
                            item.pos,
                            format!("part '{name}': the 'self-contained' build attribute is not supported"),
                            "it needs the *-use plugins (npm-use, maven-use), which strata does not have; remove it",
                        ));
                    }
                    if !BUILD_ATTRIBUTES.contains(&attr.as_str()) {
                        return Err(SpecError::new(
                            item.pos,
                            format!("part '{name}': unknown build attribute '{attr}'"),
                            format!(
                                "use one of: {}{}",
                                BUILD_ATTRIBUTES.join(", "),
                                suggestion(&attr, BUILD_ATTRIBUTES)
                            ),
                        ));
                    }
                    part.build_attributes.push(attr);
                }
            }
            "organize" => part.organize = organize(v, &at)?,
            "stage" | "prime" | "overlay" => {
                let fs = fileset(v, &at)?;
                match key {
                    "stage" => part.stage = fs,
                    "prime" => part.prime = fs,
                    _ => part.overlay = fs,
                }
            }
            "override-pull" => part.scriptlets.override_pull = opt_string(v, &at)?,
            "override-build" => part.scriptlets.override_build = opt_string(v, &at)?,
            "override-stage" => part.scriptlets.override_stage = opt_string(v, &at)?,
            "override-prime" => part.scriptlets.override_prime = opt_string(v, &at)?,
            "overlay-script" => part.scriptlets.overlay_script = opt_string(v, &at)?,
            "override-overlay" => part.scriptlets.override_overlay = opt_string(v, &at)?,
            "permissions" => part.permissions = permissions(v, &at)?,
            _ => match plugins::owner_of_key(key) {
                Some(owner) if owner.name == plugin.name => {
                    let Some(spec) = owner.key(key) else {
                        let own: Vec<&str> = owner.keys.iter().map(|k| k.name).collect();
                        let help = if own.is_empty() {
                            format!("the {} plugin has no keys of its own; remove it", owner.name)
                        } else {
                            format!("the {} plugin's keys are: {}{}", owner.name, own.join(", "), suggestion(key, &own))
                        };
                        return Err(SpecError::new(
                            k.pos,
                            format!("part '{name}': unknown key '{key}' for the {} plugin", owner.name),
                            help,
                        ));
                    };
                    let value = match spec.ty {
                        KeyType::Bool => OptionValue::Bool(boolean(v, &at)?),
                        KeyType::String => OptionValue::String(string(v, &at)?),
                        KeyType::List => OptionValue::List(string_list(v, &at)?),
                        KeyType::UniqueList => {
                            let list = string_list(v, &at)?;
                            let mut seen = BTreeSet::new();
                            for (item, node) in list.iter().zip(seq(v, &at)?) {
                                if !seen.insert(item) {
                                    return Err(SpecError::new(
                                        node.pos,
                                        format!("{at}: '{item}' is listed twice"),
                                        "remove the duplicate",
                                    ));
                                }
                            }
                            OptionValue::List(list)
                        }
                    };
                    part.plugin_options.insert(key.to_string(), value);
                }
                Some(owner) => {
                    return Err(SpecError::new(
                        k.pos,
                        format!(
                            "part '{name}': '{key}' is a key of the {} plugin, but this part uses the {} plugin",
                            owner.name, plugin.name
                        ),
                        format!("remove '{key}', or set plugin: {}", owner.name),
                    ));
                }
                None => {
                    let mut valid: Vec<&str> = PART_KEYS.to_vec();
                    valid.extend(plugin.keys.iter().map(|k| k.name));
                    return Err(unknown_key(k, key, &format!("in part '{name}'"), &valid));
                }
            },
        }
    }
    if part.scriptlets.overlay_script.is_some() && part.scriptlets.override_overlay.is_some() {
        let (k, _) = keys["override-overlay"];
        return Err(SpecError::new(
            k.pos,
            format!("part '{name}': override-overlay and overlay-script cannot both be defined"),
            "keep one: overlay-script runs after overlay-packages are installed, override-overlay replaces the overlay step",
        ));
    }
    // rockcraft's overlay over `base: bare` is an empty directory: an
    // overlay-script can write into it, but there is no package manager to
    // install overlay-packages and nothing to chroot into for override-overlay.
    if *base == Base::Bare
        && let Some(what) = bare_overlay_conflict(&part)
        && let Some((k, _)) = keys.get(what)
    {
        return Err(SpecError::new(
            k.pos,
            format!("part '{name}' uses {what}, but the base is bare"),
            BARE_OVERLAY_HELP,
        ));
    }
    part.source = parse_source(name, &source_keys, project_dir)?;
    if plugin.needs_source && part.source.is_none() {
        return Err(SpecError::new(
            plugin_pos,
            format!("part '{name}': the {} plugin needs a 'source'", plugin.name),
            "add source: <a directory of the project, a URL or a git repository>",
        ));
    }
    let subdir = part.source.as_ref().and_then(|s| s.subdir.clone());
    let input = PluginInput {
        part: name,
        flavour,
        dirs: PartDirs::new(name, subdir.as_deref(), plugin.out_of_source),
        options: &part.plugin_options,
        after: &part.after,
        disable_parallel: part.disable_parallel,
        build_attributes: &part.build_attributes,
    };
    part.build_plan = plugin.plan(&input).map_err(|e| {
        let pos = e.key.and_then(|k| keys.get(k)).map(|(k, _)| k.pos).unwrap_or(plugin_pos);
        SpecError::new(pos, format!("part '{name}': {}", e.message), e.help)
    })?;
    Ok(part)
}

/// What to tell a user whose part needs an image base for its overlay.
pub const BARE_OVERLAY_HELP: &str = "with 'base: bare' the overlay is an empty directory, with no shell or package manager to run them in: pick an image base, use stage-packages, or write files into $CRAFT_OVERLAY from an overlay-script";

/// The overlay key of `part` that cannot work over `base: bare`
/// (`overlay-packages`, `override-overlay`), if any.
pub fn bare_overlay_conflict(part: &Part) -> Option<&'static str> {
    if !part.overlay_packages.is_empty() {
        Some("overlay-packages")
    } else if part.scriptlets.override_overlay.is_some() {
        Some("override-overlay")
    } else {
        None
    }
}

/// Whether a part declares overlay content (craft-parts' `has_overlay`).
pub fn uses_overlay(part: &Part) -> bool {
    !part.overlay_packages.is_empty()
        || part.scriptlets.overlay_script.is_some()
        || part.scriptlets.override_overlay.is_some()
        || !part.overlay.is_all()
}

fn parse_source(
    part: &str,
    keys: &BTreeMap<&str, (&Node, &Node)>,
    project_dir: &Path,
) -> Result<Option<Source>, SpecError> {
    let get = |k: &str| keys.get(k).copied();
    let at = |k: &str| format!("parts.{part}.{k}");
    let Some((_, loc_node)) = get("source") else {
        if let Some((k, _)) = keys.values().next() {
            return Err(SpecError::new(
                k.pos,
                format!("part '{part}': '{}' needs a 'source'", key_text(k)?),
                "add source: <a directory of the project, a URL or a git repository>, or remove this key",
            ));
        }
        return Ok(None);
    };
    let location = string(loc_node, &at("source"))?;
    let kind = match get("source-type") {
        Some((_, n)) => {
            let t = string(n, &at("source-type"))?;
            match t.as_str() {
                "local" => SourceKind::Local,
                "tar" => SourceKind::Tar,
                "zip" => SourceKind::Zip,
                "git" => SourceKind::Git,
                "file" => SourceKind::File,
                "deb" => SourceKind::Deb,
                "snap" | "rpm" | "7z" => {
                    return Err(SpecError::new(
                        n.pos,
                        format!("part '{part}': {t} sources are not supported by strata"),
                        "use a tar, zip, deb, file, git or local source",
                    ));
                }
                other => {
                    let kinds = ["local", "tar", "zip", "git", "file", "deb"];
                    return Err(SpecError::new(
                        n.pos,
                        format!("part '{part}': unknown source-type '{other}'"),
                        format!("use one of: {}{}", kinds.join(", "), suggestion(other, &kinds)),
                    ));
                }
            }
        }
        None => detect_source_kind(&location, project_dir).ok_or_else(|| {
            SpecError::new(
                loc_node.pos,
                format!("part '{part}': cannot tell what kind of source '{location}' is"),
                "it is not a directory of the project and its name says nothing: set source-type (local, tar, zip, git, file or deb)",
            )
        })?,
    };
    let mut source = Source {
        kind,
        location,
        checksum: None,
        branch: None,
        tag: None,
        commit: None,
        depth: 0,
        submodules: None,
        subdir: None,
    };
    for (&key, &(k, v)) in keys {
        let allowed = match key {
            "source" | "source-type" | "source-subdir" => true,
            "source-checksum" => matches!(kind, SourceKind::Tar | SourceKind::Zip | SourceKind::File | SourceKind::Deb),
            _ => kind == SourceKind::Git,
        };
        if !allowed {
            return Err(SpecError::new(
                k.pos,
                format!("part '{part}': '{key}' cannot be used with a {} source", kind.name()),
                "remove it, or fix source-type",
            ));
        }
        match key {
            "source-checksum" => {
                let c = string(v, &at(key))?;
                let parsed = c.split_once('/').and_then(|(alg, hex)| {
                    let digits = checksum_hex_digits(alg)?;
                    (!hex.is_empty() && hex.bytes().all(|b| b.is_ascii_hexdigit())).then_some((alg, hex, digits))
                });
                let Some((alg, hex, digits)) = parsed else {
                    return Err(SpecError::new(
                        v.pos,
                        format!("part '{part}': invalid source-checksum '{c}'"),
                        "write <algorithm>/<hex digest>, e.g. sha256/1451d01e..., with md5, sha1, sha224, sha256, sha384 or sha512",
                    ));
                };
                // craft-parts would only find out at pull, as a mismatch.
                if hex.len() != digits {
                    return Err(SpecError::new(
                        v.pos,
                        format!(
                            "part '{part}': source-checksum '{c}' has {} hex digits; a {alg} digest has {digits}",
                            hex.len()
                        ),
                        format!("copy the whole digest, as `{alg}sum <file>` prints it"),
                    ));
                }
                source.checksum = Some(c);
            }
            "source-branch" => source.branch = opt_string(v, &at(key))?.filter(|s| !s.is_empty()),
            "source-tag" => source.tag = opt_string(v, &at(key))?.filter(|s| !s.is_empty()),
            "source-commit" => source.commit = opt_string(v, &at(key))?.filter(|s| !s.is_empty()),
            "source-depth" => source.depth = integer(v, &at(key), 0, i64::from(u32::MAX))? as u32,
            "source-submodules" => source.submodules = Some(string_list(v, &at(key))?),
            "source-subdir" => {
                let s = string(v, &at(key))?;
                if s.starts_with('/') || s.split('/').any(|c| c == "..") {
                    return Err(SpecError::new(
                        v.pos,
                        format!("part '{part}': source-subdir '{s}' leaves the source"),
                        "give a relative path inside the source, without '..'",
                    ));
                }
                source.subdir = Some(s).filter(|s| !s.is_empty());
            }
            _ => {}
        }
    }
    let refs = [("source-tag", &source.tag), ("source-branch", &source.branch), ("source-commit", &source.commit)];
    let given: Vec<&str> = refs.iter().filter(|(_, v)| v.is_some()).map(|(k, _)| *k).collect();
    if given.len() > 1 {
        let (k, _) = keys[given[1]];
        return Err(SpecError::new(
            k.pos,
            format!("part '{part}': {} and {} cannot be used together", given[0], given[1]),
            "pick one git reference: a branch, a tag or a commit",
        ));
    }
    Ok(Some(source))
}

/// The length in hex digits of a `source-checksum` algorithm's digests;
/// `None` for an algorithm strata does not verify.
fn checksum_hex_digits(algorithm: &str) -> Option<usize> {
    match algorithm {
        "md5" => Some(32),
        "sha1" => Some(40),
        "sha224" => Some(56),
        "sha256" => Some(64),
        "sha384" => Some(96),
        "sha512" => Some(128),
        _ => None,
    }
}

/// craft-parts' source type inference: name patterns first (tar, git, zip,
/// deb in its order), then a directory of the project is a local source.
pub fn detect_source_kind(location: &str, project_dir: &Path) -> Option<SourceKind> {
    let lower_ext = |s: &str| location.ends_with(s);
    let tar = {
        // \.(tar(\.[a-z0-9]+)?|tgz)$
        location.ends_with(".tgz")
            || location.ends_with(".tar")
            || location.rsplit_once(".tar.").is_some_and(|(_, ext)| {
                !ext.is_empty() && ext.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
            })
    };
    let git = location.starts_with("git@")
        || location.starts_with("git:")
        || location.strip_prefix("git+").is_some_and(|rest| rest.find(':').is_some_and(|i| i > 0))
        || location.ends_with(".git");
    if tar {
        return Some(SourceKind::Tar);
    }
    if git {
        return Some(SourceKind::Git);
    }
    if lower_ext(".zip") {
        return Some(SourceKind::Zip);
    }
    if lower_ext(".deb") {
        return Some(SourceKind::Deb);
    }
    // `$CRAFT_PROJECT_DIR` is expanded before craft-parts looks at the disk.
    let local = location
        .strip_prefix("${CRAFT_PROJECT_DIR}")
        .or_else(|| location.strip_prefix("$CRAFT_PROJECT_DIR"))
        .map(|rest| format!(".{rest}"))
        .unwrap_or_else(|| location.to_string());
    if !local.contains("://") && project_dir.join(&local).is_dir() {
        return Some(SourceKind::Local);
    }
    None
}

fn check_after(parts: &BTreeMap<String, Part>, nodes: &BTreeMap<String, (&Node, &Node)>) -> Result<(), SpecError> {
    for (name, part) in parts {
        let (_, node) = nodes[name];
        let after_node = match &node.kind {
            Kind::Map(entries) => entries.iter().find(|(k, _)| k.scalar_text() == Some("after")).map(|(_, v)| v),
            _ => None,
        };
        for (i, dep) in part.after.iter().enumerate() {
            if !parts.contains_key(dep) {
                let pos = match after_node.map(|n| &n.kind) {
                    Some(Kind::Seq(items)) => items[i].pos,
                    _ => node.pos,
                };
                return Err(SpecError::new(
                    pos,
                    format!("part '{name}' comes after '{dep}', which is not a part"),
                    missing_part_help(dep, parts),
                ));
            }
        }
    }
    if let Err(order::OrderError::Cycle { cycle }) = order::order_parts(parts) {
        let first = &cycle[0];
        let (k, node) = nodes[first];
        let pos = match &node.kind {
            Kind::Map(entries) => entries.iter().find(|(k, _)| k.scalar_text() == Some("after")).map(|(k, _)| k.pos),
            _ => None,
        }
        .unwrap_or(k.pos);
        return Err(SpecError::new(
            pos,
            format!("parts depend on each other in a cycle: {}", cycle.join(" → ")),
            "remove one of these parts from another's 'after:' list",
        ));
    }
    Ok(())
}

fn missing_part_help(name: &str, parts: &BTreeMap<String, Part>) -> String {
    let names: Vec<&str> = parts.keys().map(String::as_str).collect();
    format!("name one of the parts: {}{}", names.join(", "), suggestion(name, &names))
}

fn plugin_names() -> Vec<&'static str> {
    plugins::PLUGINS.iter().map(|p| p.name).collect()
}

fn suggestion(word: &str, candidates: &[&str]) -> String {
    closest(word, candidates.iter().copied()).map(|c| format!(" (did you mean '{c}'?)")).unwrap_or_default()
}

fn unknown_key(k: &Node, key: &str, place: &str, valid: &[&str]) -> SpecError {
    let help = match closest(key, valid.iter().copied()) {
        Some(c) => format!("did you mean '{c}'? valid keys: {}", valid.join(", ")),
        None => format!("valid keys: {}", valid.join(", ")),
    };
    SpecError::new(k.pos, format!("unknown key '{key}' {place}"), help)
}

fn build_environment(node: &Node, at: &str) -> Result<Vec<(String, String)>, SpecError> {
    let mut out = Vec::new();
    for item in seq(node, at)? {
        let Kind::Map(entries) = &item.kind else {
            return Err(SpecError::new(
                item.pos,
                format!("{at} entries must be mappings, not {}", item.describe()),
                "write each variable as '- NAME: value'",
            ));
        };
        for (k, v) in entries {
            let key = key_text(k)?;
            check_env_name(k, key, at)?;
            out.push((key.to_string(), string(v, &format!("{at}.{key}"))?));
        }
    }
    Ok(out)
}

fn check_env_name(k: &Node, key: &str, at: &str) -> Result<(), SpecError> {
    let ok = key.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if ok {
        return Ok(());
    }
    Err(SpecError::new(
        k.pos,
        format!("{at}: '{key}' is not a valid environment variable name"),
        "use letters, digits and '_', not starting with a digit",
    ))
}

fn organize(node: &Node, at: &str) -> Result<Vec<(String, String)>, SpecError> {
    let mut out = Vec::new();
    for (k, v) in map(node, at)? {
        let from = scalar_string(k, at)?;
        let to = string(v, &format!("{at}.{from}"))?;
        if from.is_empty() {
            return Err(SpecError::new(
                k.pos,
                format!("{at}: empty source path"),
                "name a path of the part's install dir",
            ));
        }
        if from.starts_with('(') {
            return Err(SpecError::new(
                k.pos,
                format!("{at}: partition paths such as '{from}' are not supported"),
                "organize paths of the install dir; copy build-dir files in override-build",
            ));
        }
        if from.starts_with('/') || from.split('/').any(|c| c == "..") {
            return Err(SpecError::new(
                k.pos,
                format!("{at}: '{from}' leaves the install directory"),
                "source paths are relative to the part's install dir, without '..'",
            ));
        }
        if to.starts_with('(') {
            return Err(SpecError::new(
                v.pos,
                format!("{at}: partition paths such as '{to}' are not supported"),
                "organize into a path of the install dir",
            ));
        }
        if to.split('/').any(|c| c == "..") {
            return Err(SpecError::new(v.pos, format!("{at}: '{to}' leaves the install directory"), "remove the '..'"));
        }
        out.push((from, to));
    }
    Ok(out)
}

fn fileset(node: &Node, at: &str) -> Result<Fileset, SpecError> {
    let mut entries = Vec::new();
    for item in seq(node, at)? {
        let e = string(item, at)?;
        let path = e.strip_prefix('-').unwrap_or(&e);
        if path.is_empty() {
            return Err(SpecError::new(item.pos, format!("{at}: empty entry"), "remove it, or name a path"));
        }
        if path.starts_with('/') {
            return Err(SpecError::new(
                item.pos,
                format!("{at}: path '{path}' must be relative"),
                format!("write it without the leading '/': {}", path.trim_start_matches('/')),
            ));
        }
        if path.starts_with('(') {
            return Err(SpecError::new(
                item.pos,
                format!("{at}: partition paths such as '{path}' are not supported"),
                "remove the partition",
            ));
        }
        entries.push(e);
    }
    Ok(Fileset { entries })
}

fn permissions(node: &Node, at: &str) -> Result<Vec<Permission>, SpecError> {
    let mut out = Vec::new();
    for item in seq(node, at)? {
        let mut p = Permission { path: "*".into(), owner: None, group: None, mode: None };
        let mut owner_node = None;
        let mut group_node = None;
        for (k, v) in map(item, at)? {
            let key = key_text(k)?;
            match key {
                "path" => p.path = string(v, &format!("{at}.path"))?,
                "owner" => {
                    p.owner = Some(integer(v, &format!("{at}.owner"), 0, i64::from(u32::MAX))? as u32);
                    owner_node = Some(k);
                }
                "group" => {
                    p.group = Some(integer(v, &format!("{at}.group"), 0, i64::from(u32::MAX))? as u32);
                    group_node = Some(k);
                }
                "mode" => {
                    let quoted = matches!(&v.kind, Kind::Scalar { plain: false, .. })
                        || matches!(&v.kind, Kind::Scalar { text, plain: true } if resolve_plain(text) == Resolved::Str);
                    let text = v.scalar_text().unwrap_or_default();
                    let digits = text.strip_prefix("0o").unwrap_or(text);
                    let mode = u32::from_str_radix(digits, 8).ok().filter(|m| *m <= 0o7777);
                    match (quoted, mode) {
                        (true, Some(m)) if !digits.is_empty() => p.mode = Some(m),
                        _ => {
                            return Err(SpecError::new(
                                v.pos,
                                format!("{at}.mode: '{text}' is not a quoted octal mode"),
                                "write the mode as a quoted octal string, e.g. mode: \"755\"",
                            ));
                        }
                    }
                }
                other => return Err(unknown_key(k, other, &format!("in {at}"), &["path", "owner", "group", "mode"])),
            }
        }
        if let Some(k) = match (owner_node, group_node) {
            (Some(k), None) | (None, Some(k)) => Some(k),
            _ => None,
        } {
            return Err(SpecError::new(
                k.pos,
                format!("{at}: 'owner' and 'group' must be set together"),
                "add the other one (numeric ids, e.g. owner: 584792, group: 584792)",
            ));
        }
        out.push(p);
    }
    Ok(out)
}

// --- typed access to nodes -------------------------------------------------

fn key_text(k: &Node) -> Result<&str, SpecError> {
    match &k.kind {
        Kind::Scalar { text, .. } => Ok(text),
        _ => Err(SpecError::new(
            k.pos,
            format!("keys must be plain names, not {}", k.describe()),
            "write the key as a plain word",
        )),
    }
}

fn map<'a>(n: &'a Node, what: &str) -> Result<&'a [(Node, Node)], SpecError> {
    match &n.kind {
        Kind::Map(entries) => Ok(entries),
        _ if n.is_null() => Ok(&[]),
        _ => Err(SpecError::new(
            n.pos,
            format!("'{what}' must be a mapping, not {}", n.describe()),
            "write 'key: value' pairs indented under it",
        )),
    }
}

fn seq<'a>(n: &'a Node, what: &str) -> Result<&'a [Node], SpecError> {
    match &n.kind {
        Kind::Seq(items) => Ok(items),
        _ => Err(SpecError::new(
            n.pos,
            format!("'{what}' must be a list, not {}", n.describe()),
            format!("write it as a YAML list, e.g. {}: [a, b]", what.rsplit('.').next().unwrap_or(what)),
        )),
    }
}

/// A scalar as a string: quoted strings, plain strings and numbers (kept as
/// written). Booleans and null are mistakes, as in craft-parts.
fn string(n: &Node, what: &str) -> Result<String, SpecError> {
    match &n.kind {
        Kind::Scalar { text, plain: false } => Ok(text.clone()),
        Kind::Scalar { text, plain: true } => match resolve_plain(text) {
            Resolved::Str | Resolved::Int | Resolved::Float => Ok(text.clone()),
            Resolved::Bool(_) => Err(SpecError::new(
                n.pos,
                format!("'{what}' must be a string, not the boolean {text}"),
                format!("quote it if you mean the word: '{text}'"),
            )),
            Resolved::Null => {
                Err(SpecError::new(n.pos, format!("'{what}' has no value"), "give it a value, or remove the key"))
            }
        },
        _ => Err(SpecError::new(
            n.pos,
            format!("'{what}' must be a string, not {}", n.describe()),
            "write a single value (quote it if it contains ': ' or starts with a special character)",
        )),
    }
}

/// Like [`string`], for keys of mappings that may be any scalar.
fn scalar_string(n: &Node, what: &str) -> Result<String, SpecError> {
    match &n.kind {
        Kind::Scalar { text, .. } => Ok(text.clone()),
        _ => string(n, what),
    }
}

/// An optional string: null means absent.
fn opt_string(n: &Node, what: &str) -> Result<Option<String>, SpecError> {
    if n.is_null() { Ok(None) } else { string(n, what).map(Some) }
}

fn string_list(n: &Node, what: &str) -> Result<Vec<String>, SpecError> {
    seq(n, what)?.iter().map(|i| string(i, what)).collect()
}

/// A boolean: PyYAML's plain booleans (`true`, `yes`, `on`, ...), and the
/// strings pydantic accepts for booleans.
fn boolean(n: &Node, what: &str) -> Result<bool, SpecError> {
    if let Kind::Scalar { text, plain } = &n.kind {
        if *plain && let Resolved::Bool(b) = resolve_plain(text) {
            return Ok(b);
        }
        match text.to_ascii_lowercase().as_str() {
            "true" | "yes" | "on" | "y" | "t" | "1" => return Ok(true),
            "false" | "no" | "off" | "n" | "f" | "0" => return Ok(false),
            _ => {}
        }
    }
    Err(SpecError::new(n.pos, format!("'{what}' must be true or false, not {}", n.describe()), "write true or false"))
}

fn integer(n: &Node, what: &str, min: i64, max: i64) -> Result<i64, SpecError> {
    let value = match &n.kind {
        Kind::Scalar { text, .. } => text.replace('_', "").parse::<i64>().ok(),
        _ => None,
    };
    match value {
        Some(v) if (min..=max).contains(&v) => Ok(v),
        _ => Err(SpecError::new(
            n.pos,
            format!("'{what}' must be a whole number from {min} to {max}, not {}", n.describe()),
            "write a number such as 0 or 1700000000",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::entrypoint_command;

    fn v(words: &[&str]) -> Vec<String> {
        words.iter().map(|w| w.to_string()).collect()
    }

    #[test]
    fn entrypoint_command_splits_as_rockcraft_does() {
        // rockcraft's spread tests entrypoint-command{,-cmd-only,-empty,-no-cmd}.
        assert_eq!(entrypoint_command("echo [ foo ]").unwrap(), (v(&["echo"]), v(&["foo"])));
        assert_eq!(entrypoint_command("[ echo foo ]").unwrap(), (v(&[]), v(&["echo", "foo"])));
        assert_eq!(entrypoint_command("[ ]").unwrap(), (v(&[]), v(&[])));
        assert_eq!(entrypoint_command("echo").unwrap(), (v(&["echo"]), v(&[])));
        assert_eq!(entrypoint_command("sh -c 'echo a b' [ x ]").unwrap(), (v(&["sh", "-c", "echo a b"]), v(&["x"])));
        assert!(entrypoint_command("a [ b ] c").unwrap_err().contains("after"));
        assert!(entrypoint_command("a [ [ b ] ]").unwrap_err().contains("nest"));
        assert!(entrypoint_command("a ]").is_err());
        assert!(entrypoint_command("echo 'open").unwrap_err().contains("quotes"));
    }
}
