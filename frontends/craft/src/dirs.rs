//! Paths inside build containers (DESIGN.md §4, rockcraft's managed
//! instance layout). Every command, environment and scriptlet the frontend
//! generates uses these, never a host path.

/// The project directory, read-only (`CRAFT_PROJECT_DIR`).
pub const PROJECT_DIR: &str = "/root/project";
/// Where each part's directories live.
pub const PARTS_DIR: &str = "/root/parts";
/// The squashed stage (`CRAFT_STAGE`).
pub const STAGE_DIR: &str = "/root/stage";
/// The squashed prime (`CRAFT_PRIME`).
pub const PRIME_DIR: &str = "/root/prime";
/// `CRAFT_OVERLAY` in the overlay step over an image base: that step's
/// container root *is* the overlay (the runtime base plus the overlay
/// layers of the parts before it).
pub const OVERLAY_DIR: &str = "/";
/// `CRAFT_OVERLAY` everywhere else (rockcraft's `<work>/overlay/overlay`):
/// where the lifecycle mounts the overlay in a build-base container — read
/// only in the build of a part that sees the overlay, writable in the
/// overlay step of a `base: bare` project (which has no shell to run in).
pub const OVERLAY_MOUNT_DIR: &str = "/root/overlay/overlay";
/// What the lifecycle mounts for a step's helpers: `bin/craftctl`, the
/// `craftctl/` state directory, and the trees `craftctl default` copies.
/// Outside `/root`, so it never lands in a step's layer.
pub const RUN_DIR: &str = "/run/strata";
/// `craftctl` itself (on `PATH` in scriptlets).
pub const CRAFTCTL_BIN: &str = "/run/strata/bin/craftctl";
/// `STRATA_CRAFTCTL_DIR`: step scripts, the default action and project
/// variables (see `craftctl::CRAFTCTL_SH` for the protocol).
pub const CRAFTCTL_DIR: &str = "/run/strata/craftctl";
/// Where the lifecycle mounts the host-fetched source for a pull step that
/// runs in a container; the default pull action copies it into `src`.
pub const FETCHED_SOURCE_DIR: &str = "/run/strata/source";
/// Where the lifecycle mounts what the default stage/prime action adds (the
/// part's migration, computed host-side); `craftctl default` copies it.
pub const MIGRATION_DIR: &str = "/run/strata/migration";

/// A part's directories inside the build container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartDirs {
    /// `CRAFT_PART_SRC`
    pub src: String,
    /// `CRAFT_PART_SRC_WORK`: `src/<source-subdir>`
    pub src_work: String,
    /// `CRAFT_PART_BUILD`
    pub build: String,
    /// `CRAFT_PART_BUILD_WORK`: `build/<source-subdir>` unless the plugin
    /// builds out of the source tree
    pub build_work: String,
    /// `CRAFT_PART_INSTALL`
    pub install: String,
    /// The part's download cache (npm's node tarball).
    pub cache: String,
}

impl PartDirs {
    pub fn new(part: &str, source_subdir: Option<&str>, out_of_source: bool) -> PartDirs {
        let base = format!("{PARTS_DIR}/{part}");
        let src = format!("{base}/src");
        let build = format!("{base}/build");
        let (src_work, build_work) = match source_subdir {
            Some(sub) if !sub.is_empty() => {
                let sub = sub.trim_end_matches('/');
                (format!("{src}/{sub}"), if out_of_source { build.clone() } else { format!("{build}/{sub}") })
            }
            _ => (src.clone(), build.clone()),
        };
        PartDirs {
            src,
            src_work,
            build,
            build_work,
            install: format!("{base}/install"),
            cache: format!("{base}/cache"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subdir_applies_to_build_only_for_in_tree_plugins() {
        let d = PartDirs::new("hello", Some("c"), false);
        assert_eq!(d.src_work, "/root/parts/hello/src/c");
        assert_eq!(d.build_work, "/root/parts/hello/build/c");
        let d = PartDirs::new("hello", Some("c"), true);
        assert_eq!(d.build_work, "/root/parts/hello/build");
        assert_eq!(d.install, "/root/parts/hello/install");
    }
}
