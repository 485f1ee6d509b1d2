//! Usrmerged install dirs: which parts get them, and the scaffolding.
//!
//! craft-parts (since 2.23) can fill a part's install dir, before anything
//! is installed there, with `usr/bin`, `usr/lib`, `usr/lib64` and
//! `usr/sbin` and the links `bin -> usr/bin`, `lib -> usr/lib`,
//! `lib64 -> usr/lib64`, `sbin -> usr/sbin` (`part_handler.py`,
//! `_create_usrmerge_scaffolding`), so that what plugins and packages put
//! in `bin/` lands in `usr/bin/`, and a part's install dir agrees with a
//! merged-/usr base (and with the other parts) about what `bin` is.
//!
//! Whether a part gets it ([`usrmerged`]) is craft-parts' rule:
//! `disable-usrmerge` never, `enable-usrmerge` always, otherwise when the
//! project is usrmerged by default and the plugin is neither `dump` nor
//! `nil`. Whether a project is usrmerged by default
//! ([`usrmerged_by_default`]) is its application's choice:
//!
//! - a rock (`rockcraft.yaml`) is, as rockcraft decides it
//!   (`services/lifecycle.py`), unless its effective base (the `base`, or
//!   the `build-base` when the base is `bare`) is Ubuntu 20.04, 22.04 or
//!   24.04. A Debian base is merged-/usr (bookworm's `/bin` is a link to
//!   `usr/bin`), so Debian rocks are usrmerged;
//! - a `parts.yaml` or `strata.yaml` project keeps craft-parts' default,
//!   which is off.
//!
//! The scaffolding is made where craft-parts makes it, before the build
//! step's first write to the install dir: in the stage-packages' unpack
//! ([`crate::lower::packages::unpack_script`], whose merge follows the
//! links as craft-parts' `link_or_copy_tree` does), and at the start of the
//! build step ([`scaffold_script`]).

use strata_frontend_api::{Base, Project};

use crate::plugins::Flavour;

/// The top-level directories a usrmerged install dir has as links into `usr/`.
pub const MERGED_DIRS: &[&str] = &["bin", "lib", "lib64", "sbin"];

/// The Ubuntu releases rockcraft builds without usrmerged install dirs by
/// default (and with its v1 Python plugin), as tags of the `ubuntu` image:
/// version and code name.
const LEGACY_UBUNTU: &[&str] = &["20.04", "focal", "22.04", "jammy", "24.04", "noble"];

/// Whether `image` (an image reference such as `ubuntu:24.04` or
/// `docker.io/library/ubuntu:noble@sha256:...`) is one of the Ubuntu bases
/// rockcraft treats the old way: 20.04, 22.04 or 24.04.
pub fn is_legacy_ubuntu(image: &str) -> bool {
    let image = image.split_once('@').map_or(image, |(name, _)| name);
    let (name, tag) = match image.rsplit_once(':') {
        Some((name, tag)) if !tag.contains('/') => (name, tag),
        _ => (image, "latest"),
    };
    let repository = name.rsplit('/').next().unwrap_or(name);
    repository == "ubuntu" && LEGACY_UBUNTU.contains(&tag)
}

/// The base rockcraft decides by: the runtime base, or the build base when
/// the runtime base is `bare` (rockcraft's `effective_base`).
pub fn effective_base(project: &Project) -> &str {
    match &project.base {
        Base::Image(image) => image,
        Base::Bare => &project.build_base,
    }
}

/// Whether the project's parts get usrmerged install dirs unless they say
/// otherwise (craft-parts' `usrmerged_by_default`, as rockcraft sets it).
pub fn usrmerged_by_default(project: &Project) -> bool {
    Flavour::is_rock(&project.spec_file) && !is_legacy_ubuntu(effective_base(project))
}

/// Whether part `part_name` gets a usrmerged install dir (craft-parts'
/// `_create_usrmerge_scaffolding`).
pub fn usrmerged(project: &Project, part_name: &str) -> bool {
    let part = &project.parts[part_name];
    let has = |attribute: &str| part.build_attributes.iter().any(|a| a == attribute);
    if has("disable-usrmerge") {
        return false;
    }
    has("enable-usrmerge") || (usrmerged_by_default(project) && !matches!(part.plugin.as_str(), "dump" | "nil"))
}

/// Shell that makes the scaffolding in the install dir `install` where it
/// is missing: each `usr/<dir>`, and each link unless something of that
/// name is there already (craft-parts would fail on it; here it is only
/// ever the link itself, made when the stage-packages were unpacked).
pub fn scaffold_script(install: &str) -> String {
    let mut s = String::new();
    for d in MERGED_DIRS {
        s.push_str(&format!(
            "mkdir -p \"{install}/usr/{d}\"\n[ -e \"{install}/{d}\" ] || [ -L \"{install}/{d}\" ] || ln -s usr/{d} \"{install}/{d}\"\n"
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use strata_frontend_api::Part;

    use super::*;

    fn project(spec_file: &str, base: Base, build_base: &str, parts: &[(&str, &str, &[&str])]) -> Project {
        let parts: BTreeMap<String, Part> = parts
            .iter()
            .map(|(name, plugin, attributes)| {
                let part = Part {
                    plugin: plugin.to_string(),
                    build_attributes: attributes.iter().map(|a| a.to_string()).collect(),
                    ..Part::default()
                };
                (name.to_string(), part)
            })
            .collect();
        Project {
            ir_version: strata_frontend_api::IR_VERSION,
            frontend: "craft".into(),
            name: None,
            title: None,
            version: None,
            summary: None,
            description: None,
            license: None,
            base,
            build_base: build_base.into(),
            platforms: BTreeMap::new(),
            adopt_info: None,
            source_date_epoch: None,
            image: Default::default(),
            project_dir: ".".into(),
            spec_file: spec_file.into(),
            parts,
        }
    }

    #[test]
    fn legacy_ubuntu_bases_are_recognised_by_image_reference() {
        for image in ["ubuntu:20.04", "ubuntu:22.04", "ubuntu:24.04", "ubuntu:noble", "docker.io/library/ubuntu:jammy"]
        {
            assert!(is_legacy_ubuntu(image), "{image}");
        }
        assert!(is_legacy_ubuntu("localhost:5000/ubuntu:24.04@sha256:0123"));
        for image in ["ubuntu:25.10", "ubuntu:26.04", "ubuntu", "debian:bookworm", "debian:trixie", "myubuntu:24.04"] {
            assert!(!is_legacy_ubuntu(image), "{image}");
        }
    }

    #[test]
    fn rocks_decide_by_their_effective_base_as_rockcraft_does() {
        let parts: &[(&str, &str, &[&str])] = &[("go", "go", &[])];
        let debian = Base::Image("debian:bookworm".into());
        assert!(usrmerged_by_default(&project("rockcraft.yaml", debian.clone(), "debian:bookworm", parts)));
        let noble = Base::Image("ubuntu:24.04".into());
        assert!(!usrmerged_by_default(&project("rockcraft.yaml", noble, "ubuntu:24.04", parts)));
        let resolute = Base::Image("ubuntu:26.04".into());
        assert!(usrmerged_by_default(&project("app.rockcraft.yaml", resolute, "ubuntu:26.04", parts)));
        // bare: the build base decides.
        assert!(usrmerged_by_default(&project("rockcraft.yaml", Base::Bare, "debian:bookworm", parts)));
        assert!(!usrmerged_by_default(&project("rockcraft.yaml", Base::Bare, "ubuntu:22.04", parts)));
        // parts files keep craft-parts' default.
        for spec in ["parts.yaml", "strata.yaml"] {
            assert!(!usrmerged_by_default(&project(spec, debian.clone(), "debian:bookworm", parts)), "{spec}");
        }
    }

    #[test]
    fn parts_follow_craft_parts_rule() {
        let parts: &[(&str, &str, &[&str])] = &[
            ("go", "go", &[]),
            ("dump", "dump", &[]),
            ("nil", "nil", &[]),
            ("nil-on", "nil", &["enable-usrmerge"]),
            ("go-off", "go", &["disable-usrmerge"]),
        ];
        let rock = project("rockcraft.yaml", Base::Image("debian:bookworm".into()), "debian:bookworm", parts);
        let merged: Vec<&str> =
            ["go", "dump", "nil", "nil-on", "go-off"].into_iter().filter(|p| usrmerged(&rock, p)).collect();
        assert_eq!(merged, ["go", "nil-on"]);
        let file = project("parts.yaml", Base::Image("debian:bookworm".into()), "debian:bookworm", parts);
        let merged: Vec<&str> =
            ["go", "dump", "nil", "nil-on", "go-off"].into_iter().filter(|p| usrmerged(&file, p)).collect();
        assert_eq!(merged, ["nil-on"]);
    }

    #[test]
    fn the_scaffolding_script_makes_craft_parts_links() {
        let s = scaffold_script("/root/parts/p/install");
        assert!(s.contains("mkdir -p \"/root/parts/p/install/usr/lib64\"\n"));
        assert!(s.contains("|| ln -s usr/sbin \"/root/parts/p/install/sbin\"\n"));
    }
}
