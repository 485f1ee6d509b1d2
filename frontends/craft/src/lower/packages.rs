//! stage-packages (craft-parts' `packages/deb.py` and `normalize.py`):
//! fetched in the pull step, unpacked into the install dir when the build
//! step starts.
//!
//! | vertex | op | over | yields |
//! |---|---|---|---|
//! | `<p>:pull:stage-packages` | exec, host network: [`fetch_script`] (apt with lists, cache and an empty dpkg status of its own) | the build base | `fetched`: what the script wrote in [`FETCH_DIR`] (the `.deb`s, apt's resolution and index records, or an error marker) |
//! | `<p>:pull:debs` | [`hostops::STAGE_PACKAGES`]: each `.deb` checked against the index's SHA256 and size | `fetched` | `debs`: `root/parts/<p>/stage_packages/*.deb`; `list`: the unpack order and the resolved list |
//! | `<p>:build:unpack` | exec, no network: [`unpack_script`] (`dpkg-deb --extract` of each, in list order) | the build base + `debs`, `list` at [`LIST_DIR`] | `install`: the merged packages; `info`: libc6's files and copies of the files absolute links point at |
//! | `<p>:build:normalize` | [`hostops::NORMALIZE`] | `install`, `info` | `out`: `root/parts/<p>/install` |
//!
//! The resolved package list, which today's step cache kept beside the
//! `.deb` layer, is the `list` layer: `packages.json` (name, version,
//! architecture, file, size, SHA256, by name) and `debs` (the files in
//! unpack order, one per line).

use strata_frontend_api::Step;
use strata_frontend_api::graph::{Capture, ExecOp, HostInput, HostOutput, LayerRef, Mount, MountSource, Network, Op};

use crate::env::part_dirs;
use crate::hostops::{self, normalize::Normalize, packages::VerifyDebs};

use super::{LowerError, Lowering, part_path};

/// Where the fetch container writes its results.
pub const FETCH_DIR: &str = "/run/strata/packages";
/// apt's lists, cache and (empty) dpkg status for the fetch: a tmpfs.
pub const APT_STATE_DIR: &str = "/var/lib/strata-apt";
/// Where the unpack container sees the package list.
pub const LIST_DIR: &str = "/run/strata/stage-packages";
/// Where the unpack container writes what the normalisation needs.
pub const UNPACK_INFO_DIR: &str = "/run/strata/unpack";
/// Scratch for one `.deb` at a time (a tmpfs).
pub const UNPACK_SCRATCH_DIR: &str = "/tmp/strata-unpack";

/// The outputs of the stage-packages vertices.
pub const FETCHED: &str = "fetched";
pub const DEBS: &str = "debs";
pub const LIST: &str = "list";
pub const INSTALL: &str = "install";
pub const INFO: &str = "info";

impl Lowering<'_> {
    /// `<p>:pull:stage-packages` and `<p>:pull:debs`, for a part with some.
    pub(super) fn fetch_stage_packages(&mut self, part: &str) -> Result<(), LowerError> {
        let names = self.project.parts[part].stage_packages.clone();
        if names.is_empty() {
            return Ok(());
        }
        if let Some(n) = names.iter().find(|n| !valid_package_spec(n)) {
            return Err(LowerError::BadPackageName { part: part.into(), name: n.clone() });
        }
        let op = ExecOp {
            rootfs: vec![self.build_base()],
            argv: sh(fetch_script(part, &names, &self.info.arch_build_for)),
            mounts: vec![
                Mount {
                    destination: FETCH_DIR.into(),
                    source: MountSource::Dir { seed: vec![], files: vec![] },
                    read_only: false,
                    capture: Some(Capture::all(FETCHED)),
                },
                Mount {
                    destination: APT_STATE_DIR.into(),
                    source: MountSource::Tmpfs,
                    read_only: false,
                    capture: None,
                },
            ],
            network: Network::Host,
            ..Default::default()
        };
        let fetch = format!("{part}:pull:stage-packages");
        self.push(fetch.clone(), part, Step::Pull, format!("fetch the stage-packages of {part}"), Op::Exec(op));
        let params = VerifyDebs { part: part.into(), build_base: self.project.build_base.clone() };
        let op = hostops::host_op(
            hostops::STAGE_PACKAGES,
            &params,
            vec![HostInput { layers: vec![LayerRef::output(&fetch, FETCHED)], path: String::new() }],
            vec![
                HostOutput { name: DEBS.into(), prefix: part_path(part, "stage_packages") },
                HostOutput { name: LIST.into(), prefix: String::new() },
            ],
        );
        self.push(
            format!("{part}:pull:debs"),
            part,
            Step::Pull,
            format!("verify the stage-packages of {part}"),
            Op::Host(op),
        );
        Ok(())
    }

    /// `<p>:build:unpack` and `<p>:build:normalize`, for a part with
    /// stage-packages.
    pub(super) fn unpack_stage_packages(&mut self, part: &str) {
        if self.project.parts[part].stage_packages.is_empty() {
            return;
        }
        let install_dir = part_dirs(part, &self.project.parts[part]).install;
        let debs = format!("{part}:pull:debs");
        let dir = |destination: &str, output: &str| Mount {
            destination: destination.into(),
            source: MountSource::Dir { seed: vec![], files: vec![] },
            read_only: false,
            capture: Some(Capture::all(output)),
        };
        let op = ExecOp {
            rootfs: vec![self.build_base(), LayerRef::output(&debs, DEBS)],
            argv: sh(unpack_script(part, &install_dir, crate::usrmerge::usrmerged(self.project, part))),
            mounts: vec![
                Mount {
                    destination: LIST_DIR.into(),
                    source: MountSource::Layers(vec![LayerRef::output(&debs, LIST)]),
                    read_only: true,
                    capture: None,
                },
                dir(&install_dir, INSTALL),
                dir(UNPACK_INFO_DIR, INFO),
                Mount {
                    destination: UNPACK_SCRATCH_DIR.into(),
                    source: MountSource::Tmpfs,
                    read_only: false,
                    capture: None,
                },
            ],
            ..Default::default()
        };
        let unpack = format!("{part}:build:unpack");
        self.push(unpack.clone(), part, Step::Build, format!("unpack the stage-packages of {part}"), Op::Exec(op));
        let op = hostops::host_op(
            hostops::NORMALIZE,
            &Normalize { install_dir: install_dir.clone() },
            vec![
                HostInput { layers: vec![LayerRef::output(&unpack, INSTALL)], path: String::new() },
                HostInput { layers: vec![LayerRef::output(&unpack, INFO)], path: String::new() },
            ],
            vec![HostOutput { name: strata_frontend_api::graph::OUT.into(), prefix: part_path(part, "install") }],
        );
        self.push(
            format!("{part}:build:normalize"),
            part,
            Step::Build,
            format!("normalise the stage-packages of {part}"),
            Op::Host(op),
        );
    }
}

fn sh(script: String) -> Vec<String> {
    vec!["/bin/sh".into(), "-c".into(), script]
}

/// `name`, `name:arch`, `name=version`: what apt takes (no options, no
/// chisel slices).
pub fn valid_package_spec(s: &str) -> bool {
    let name = s.split(['=', ':']).next().unwrap_or("");
    name.len() >= 2
        && name.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "+-.".contains(c))
        && s.chars().all(|c| c.is_ascii_alphanumeric() || "+-.:=~".contains(c))
}

/// A word for `sh`, single-quoted.
fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// The fetch container's script: apt with its own lists, cache and an
/// empty dpkg status (nothing counts as installed, so the whole closure is
/// resolved), no recommends, the target architecture. A failure to resolve
/// is written to `apt-error`; a build base without apt leaves `no-apt`.
pub fn fetch_script(part: &str, names: &[String], arch: &str) -> String {
    let pkgs: Vec<String> = names.iter().map(|n| quote(n)).collect();
    format!(
        r#"# strata: fetch the stage-packages of part '{part}' (craft-parts' fetch_stage_packages)
set -eu
out={FETCH_DIR}
if ! command -v apt-get >/dev/null 2>&1; then : > "$out/no-apt"; exit 0; fi
mkdir -p "$out/debs"
state={APT_STATE_DIR}
mkdir -p "$state/lists/partial" "$state/cache/archives/partial"
: > "$state/status"
export DEBIAN_FRONTEND=noninteractive
set -- -q -o "Dir::State::Lists=$state/lists" -o "Dir::State::status=$state/status" -o "Dir::Cache=$state/cache" \
    -o {arch_opt} -o APT::Install-Recommends=false -o APT::Sandbox::User=root -o Debug::NoLocking=1
apt-get "$@" update
if ! apt-get "$@" --simulate install {pkgs} > "$out/simulation" 2> "$out/apt-error"; then
    cat "$out/apt-error" >&2
    exit 0
fi
rm -f "$out/apt-error"
sed -n 's/^Inst \([^ ]*\) (\([^ ]*\) [^[]*\[\([^]]*\)\].*$/\1:\3=\2/p' "$out/simulation" > "$out/resolved"
printf 'fetched %s\n' "$(sed 's/:[^=]*=/=/' "$out/resolved" | tr '\n' ' ')"
apt-cache "$@" show --no-all-versions $(cat "$out/resolved") > "$out/index"
cd "$out/debs"
apt-get "$@" download $(cat "$out/resolved")
"#,
        arch_opt = quote(&format!("APT::Architecture={arch}")),
        pkgs = pkgs.join(" "),
    )
}

/// The unpack container's script: each `.deb` of the list extracted on its
/// own and merged into the install dir in list order (craft-parts'
/// `_unpack_stage_debs`), then what the normalisation needs from the build
/// environment: libc6's files (`_run_dpkg_query_list_files`) and copies of
/// the files that absolute symlinks of the packages point at and the
/// packages lack (`_try_copy_local`).
///
/// A usrmerged part ([`crate::usrmerge`]) gets its scaffolding first, and
/// each package's `bin/`, `lib/`, `lib64/` and `sbin/` are merged through
/// the links (craft-parts' `link_or_copy_tree` follows a link to a
/// directory where the package has a directory; `cp -a` would refuse).
pub fn unpack_script(part: &str, install: &str, usrmerged: bool) -> String {
    let (scaffold, through_links) = if usrmerged {
        let dirs = crate::usrmerge::MERGED_DIRS.join(" ");
        (
            crate::usrmerge::scaffold_script("$inst"),
            format!(
                r#"    for d in {dirs}; do
        if [ -d "$t/$d" ] && [ ! -L "$t/$d" ] && [ -L "$inst/$d" ] && [ -d "$inst/$d" ]; then
            cp -a "$t/$d/." "$inst/$d/"
            rm -rf "$t/$d"
        fi
    done
"#
            ),
        )
    } else {
        (String::new(), String::new())
    };
    format!(
        r#"# strata: unpack the stage-packages of part '{part}' (craft-parts' unpack_stage_packages)
set -eu
inst={inst}
info={UNPACK_INFO_DIR}
debs={debs}
{scaffold}while IFS= read -r f; do
    t=$(mktemp -d {UNPACK_SCRATCH_DIR}/deb.XXXXXX)
    dpkg-deb --extract "$debs/$f" "$t"
{through_links}    cp -a "$t/." "$inst/"
    rm -rf "$t"
done < {LIST_DIR}/debs
dpkg -L libc6 2>/dev/null | while IFS= read -r f; do
    case $f in *lib*) if [ -f "$f" ]; then printf '%s\n' "$f"; fi ;; esac
done > "$info/libc6-files"
find "$inst" -type l | while IFS= read -r l; do
    t=$(readlink "$l")
    case $t in /*) ;; *) continue ;; esac
    if [ -e "$inst$t" ] || grep -qxF -e "$t" "$info/libc6-files"; then continue; fi
    if [ -f "$t" ]; then
        mkdir -p "$info/system$(dirname "$t")"
        cp -L "$t" "$info/system$t"
    fi
done
"#,
        inst = quote(install),
        debs = quote(&format!("/root/parts/{part}/stage_packages")),
    )
}
