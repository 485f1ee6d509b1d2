//! stage-packages: Debian packages fetched in a part's pull step, verified
//! against the apt index, kept as a layer of their own, and unpacked into
//! the part's install dir when its build step starts — craft-parts'
//! `packages/deb.py` (`fetch_stage_packages`, `unpack_stage_packages`) and
//! `packages/normalize.py`.
//!
//! | when | where | what | layer |
//! |---|---|---|---|
//! | pull | container of the build base, host network, apt state of its own (a tmpfs) | resolve the packages on an empty dpkg status, download them | — |
//! | pull | host | each `.deb` checked against the index's SHA256 and size ([`verify_deb`]) | `<p>:stage-packages`: `root/parts/<p>/stage_packages/*.deb` |
//! | build, first | container of the build base + that layer, no network | `dpkg-deb --extract` of each `.deb` into a scratch dir, merged into the install dir in name order | — (a host dir, bind-mounted) |
//! | build, first | host | craft-parts' normalisation ([`normalize`]) | `<p>:stage-packages-install`: `root/parts/<p>/install` |
//!
//! The build container then runs over that install layer, and the part's
//! install tree (what organize, stage and prime see) is the two squashed.
//! [`StagePackages`] lists what was fetched (name, version, architecture,
//! SHA256): what a step cache keys the pull step's packages on.
//!
//! Resolution is craft-parts': every requested package and its whole
//! dependency closure as apt would install them on an empty system, without
//! recommends, for the architecture built for. craft-parts then drops the
//! packages its base's manifest lists (`/snap/<base>/.../dpkg.list`); the
//! bases rockcraft passes it (`ubuntu@24.04`, `bare`) have none, so rockcraft
//! stages the whole closure — `libc6` included, which is what lets a
//! `base: bare` image run a staged `hello`. strata does the same.
//!
//! Why `dpkg-deb` in a container rather than a reader of our own: Debian's
//! `data.tar` members are xz-compressed (zstd on Ubuntu), and the workspace
//! has no xz decoder; `dpkg-deb` in the build base is the reference
//! unpacker for every compression dpkg accepts, it is what craft-parts runs,
//! and it keeps this module clear of `src/sources/`' deb extraction. What
//! the normalisation needs from the build environment (`dpkg -L libc6`,
//! files that absolute symlinks point at) is gathered by the same
//! container; the normalisation itself is plain Rust over the host dir.

use std::collections::BTreeSet;
use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};

use super::{Lifecycle, io_err};
use crate::executor::{Mount, Network};
use crate::layer::{IdMode, LayerInfo, LayerInput};
use crate::progress::Event;
use strata_frontend_craft::env::part_dirs;
use strata_frontend_craft::migrate::fix_pkg_config;

/// Where the fetch container writes its results (a host dir, bind-mounted).
const FETCH_DIR: &str = "/run/strata/packages";
/// apt's lists, cache and (empty) dpkg status for the fetch: a tmpfs, so
/// none of it lands anywhere.
const APT_STATE_DIR: &str = "/var/lib/strata-apt";
/// Where the unpack container writes what the normalisation needs.
const UNPACK_INFO_DIR: &str = "/run/strata/unpack";
/// Scratch for one `.deb` at a time (a tmpfs).
const UNPACK_SCRATCH_DIR: &str = "/tmp/strata-unpack";

/// One fetched stage package.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
pub struct StagePackage {
    pub name: String,
    pub version: String,
    /// Debian architecture (`amd64`, `all`).
    pub arch: String,
    /// The file's name in `root/parts/<p>/stage_packages` (the pool file's).
    pub file: String,
    pub size: u64,
    /// Hex SHA256 from the apt index, which the file was checked against.
    pub sha256: String,
}

/// What a part's pull step fetched for its `stage-packages`, sorted by
/// name: the resolved closure, pinned by version and SHA256.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct StagePackages {
    pub packages: Vec<StagePackage>,
}

impl StagePackages {
    /// `name=version`, as craft-parts records the pull step's
    /// `stage-packages` asset.
    pub fn assets(&self) -> Vec<String> {
        self.packages.iter().map(|p| format!("{}={}", p.name, p.version)).collect()
    }
}

/// A part's fetched packages and the layer holding them.
#[derive(Debug, Clone)]
pub struct Fetched {
    pub packages: StagePackages,
    pub layer: LayerInfo,
}

/// What can go wrong with stage-packages.
#[derive(Debug, thiserror::Error)]
pub enum PackageError {
    #[error(
        "part '{part}': stage package '{package}' is not in the apt sources of the build base; check its name, or pick a build-base whose release has it"
    )]
    NotFound { part: String, package: String },
    #[error("part '{part}': apt cannot resolve the stage-packages:\n{message}")]
    Unresolvable { part: String, message: String },
    #[error(
        "part '{part}': stage-packages need apt-get in the build base '{build_base}'; use a Debian or Ubuntu build-base such as debian:bookworm"
    )]
    NoApt { part: String, build_base: String },
    #[error(
        "part '{part}': '{name}' is not a Debian package name (chisel slices, 'pkg_slice', are not supported); list packages as name, name:arch or name=version"
    )]
    BadName { part: String, name: String },
    #[error(
        "part '{part}': {file} ({package}) does not match the apt index: expected sha256:{expected}, found sha256:{found}; the download is corrupt or the mirror changed under its index — build again, or check the mirror"
    )]
    DigestMismatch { part: String, package: String, file: String, expected: String, found: String },
    #[error(
        "part '{part}': {file} ({package}) is {found} bytes, the apt index says {expected}; the download is corrupt — build again"
    )]
    SizeMismatch { part: String, package: String, file: String, expected: u64, found: u64 },
    #[error("part '{part}': apt resolved {package} but {what}")]
    Inconsistent { part: String, package: String, what: String },
}

impl Lifecycle<'_> {
    fn note(&mut self, message: String) {
        self.progress.event(&Event::Note { message });
    }

    /// The pull step's part for `stage-packages`: resolve, download and
    /// verify them, and keep them as the layer `<p>:stage-packages`.
    pub(super) fn fetch_stage_packages(&mut self, part: &str) -> crate::Result<()> {
        let names = self.project.parts[part].stage_packages.clone();
        if names.is_empty() {
            return Ok(());
        }
        for n in &names {
            if !valid_package_spec(n) {
                return Err(bad(PackageError::BadName { part: part.into(), name: n.clone() }));
            }
        }
        let label = format!("{part}:stage-packages");
        self.note(format!("[{label}] fetch: {}", names.join(" ")));
        let work = fresh_dir(&self.part_dir(part).join("stage-packages-fetch"))?;
        fs::create_dir_all(work.join("debs")).map_err(io_err(&work))?;
        let script = fetch_script(part, &names, &self.info.arch_build_for);
        let mounts = vec![
            Mount::Bind { source: work.clone(), destination: FETCH_DIR.into(), read_only: false },
            Mount::Tmpfs { destination: APT_STATE_DIR.into(), size_bytes: None },
        ];
        // Everything the container produces is in the bind mount; its own
        // (near-empty) changes are not kept as a layer.
        let build_base = self.build_base.clone();
        self.run_container(&label, build_base, sh(script), None, Network::Host, mounts)?;
        if work.join("no-apt").exists() {
            let build_base = self.project.build_base.clone();
            return Err(bad(PackageError::NoApt { part: part.into(), build_base }));
        }
        if let Ok(err) = fs::read_to_string(work.join("apt-error")) {
            return Err(bad(apt_failure(part, &err)));
        }
        let read = |name: &str| fs::read_to_string(work.join(name)).map_err(io_err(&work.join(name)));
        let resolved = parse_resolved(&read("resolved")?);
        let index = parse_index(&read("index")?);
        let dir = fresh_dir(&self.part_dir(part).join("stage_packages"))?;
        let mut packages = Vec::new();
        for (name, arch, version) in resolved {
            let spec = format!("{name}:{arch}={version}");
            let inconsistent =
                |what: String| bad(PackageError::Inconsistent { part: part.into(), package: spec.clone(), what });
            let Some(rec) = index.iter().find(|r| r.package == name && r.arch == arch && r.version == version) else {
                return Err(inconsistent("the apt index has no record of it".into()));
            };
            let Some(file) = rec.filename.rsplit('/').next().filter(|f| f.ends_with(".deb")) else {
                return Err(inconsistent(format!("its index record names no .deb file ('{}')", rec.filename)));
            };
            let pkg = StagePackage {
                name: name.clone(),
                version: version.clone(),
                arch: arch.clone(),
                file: file.to_string(),
                size: rec.size,
                sha256: rec.sha256.clone(),
            };
            let downloaded = work.join("debs").join(apt_file_name(&name, &version, &arch));
            if !downloaded.is_file() {
                return Err(inconsistent(format!("apt-get download left no {}", downloaded.display())));
            }
            verify_deb(part, &pkg, &downloaded).map_err(bad)?;
            let dest = dir.join(&pkg.file);
            fs::rename(&downloaded, &dest).map_err(io_err(&dest))?;
            packages.push(pkg);
        }
        packages.sort();
        let prefix = format!("root/parts/{part}/stage_packages");
        let layer = self.write_layer(&label, &dir, Some(&prefix), IdMode::Root)?;
        let list: Vec<String> = packages.iter().map(|p| format!("{}={}", p.name, p.version)).collect();
        self.note(format!("[{label}] fetched {}", list.join(" ")));
        self.parts.entry(part.to_string()).or_default().stage_packages =
            Some(Fetched { packages: StagePackages { packages }, layer });
        Ok(())
    }

    /// The fetch script of `part`'s stage-packages (what the pull key names
    /// besides the packages and the build base).
    pub(super) fn fetch_script_of(&self, part: &str) -> String {
        fetch_script(part, &self.project.parts[part].stage_packages, &self.info.arch_build_for)
    }

    /// The unpack script of `part`'s fetched stage-packages, if it has any
    /// (what the build key names besides the `.deb` layer).
    pub(super) fn unpack_script_of(&self, part: &str) -> Option<String> {
        let fetched = self.parts.get(part)?.stage_packages.as_ref()?;
        let install_path = part_dirs(part, &self.project.parts[part]).install;
        Some(unpack_script(part, &deb_paths(part, &fetched.packages), &install_path))
    }

    /// The start of the build step for a part with stage-packages: the
    /// packages unpacked into its install dir and normalised, as the layer
    /// `<p>:stage-packages-install` (`root/parts/<p>/install`), which the
    /// build container runs over. `None` without stage-packages.
    pub(super) fn unpack_stage_packages(&mut self, part: &str) -> crate::Result<Option<LayerInfo>> {
        let Some(fetched) = self.parts.get(part).and_then(|s| s.stage_packages.clone()) else { return Ok(None) };
        let label = format!("{part}:stage-packages");
        self.note(format!("[{label}] unpack {} packages into the install dir", fetched.packages.packages.len()));
        let install_path = part_dirs(part, &self.project.parts[part]).install;
        let install = fresh_dir(&self.part_dir(part).join("stage-packages-install"))?;
        let info = fresh_dir(&self.part_dir(part).join("stage-packages-unpack"))?;
        let script = unpack_script(part, &deb_paths(part, &fetched.packages), &install_path);
        let mounts = vec![
            Mount::Bind { source: install.clone(), destination: install_path.clone(), read_only: false },
            Mount::Bind { source: info.clone(), destination: UNPACK_INFO_DIR.into(), read_only: false },
            Mount::Tmpfs { destination: UNPACK_SCRATCH_DIR.into(), size_bytes: None },
        ];
        let mut layers = self.build_base.clone();
        layers.push(fetched.layer.clone());
        self.run_container(&format!("{part}:stage-packages-unpack"), layers, sh(script), None, Network::None, mounts)?;
        let libc6_path = info.join("libc6-files");
        let libc6: BTreeSet<String> =
            fs::read_to_string(&libc6_path).map_err(io_err(&libc6_path))?.lines().map(str::to_string).collect();
        normalize(&install, &install_path, &libc6, &info.join("system")).map_err(io_err(&install))?;
        let prefix = format!("root/parts/{part}/install");
        let layer =
            self.write_layer(&format!("{part}:stage-packages-install"), &install, Some(&prefix), IdMode::AsFound)?;
        Ok(Some(layer))
    }

    /// The part's whole install tree after its build: the unpacked
    /// stage-packages with the build's changes on top (squashed, so the
    /// build may also delete or replace what the packages brought).
    pub(super) fn with_stage_packages(
        &mut self,
        unpacked: Option<&LayerInfo>,
        built: LayerInfo,
    ) -> crate::Result<LayerInfo> {
        let Some(unpacked) = unpacked else { return Ok(built) };
        let mut inputs = Vec::new();
        for l in [unpacked, &built] {
            inputs.push(LayerInput::sorted(io::BufReader::new(self.store.open_blob(&l.digest)?)));
        }
        let mut out = self.store.blob_writer()?;
        let diff_id = crate::layer::squash(inputs, &self.output_opts(), &mut out)?.diff_id;
        let (digest, size) = out.commit(None)?;
        Ok(LayerInfo { digest, diff_id, size, compression: self.compression })
    }
}

/// Where the build container sees each fetched `.deb`, in unpack order.
fn deb_paths(part: &str, packages: &StagePackages) -> Vec<String> {
    packages.packages.iter().map(|p| format!("/root/parts/{part}/stage_packages/{}", p.file)).collect()
}

fn bad(e: PackageError) -> crate::Error {
    super::LifecycleError::from(e).into()
}

fn sh(script: String) -> Vec<String> {
    vec!["/bin/sh".into(), "-c".into(), script]
}

/// An empty directory at `path` (whatever was there is removed).
fn fresh_dir(path: &Path) -> crate::Result<PathBuf> {
    if path.exists() {
        fs::remove_dir_all(path).map_err(io_err(path))?;
    }
    fs::create_dir_all(path).map_err(io_err(path))?;
    fs::set_permissions(path, fs::Permissions::from_mode(0o755)).map_err(io_err(path))?;
    Ok(path.to_path_buf())
}

/// `name`, `name:arch`, `name=version`: what apt takes (no options, no
/// chisel slices).
fn valid_package_spec(s: &str) -> bool {
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
/// resolved), no recommends, the target architecture. Failures to resolve
/// are written to `apt-error` for a typed error; a build base without apt
/// leaves `no-apt`.
fn fetch_script(part: &str, names: &[String], arch: &str) -> String {
    let pkgs: Vec<String> = names.iter().map(|n| quote(n)).collect();
    format!(
        r#"# strata: fetch the stage-packages of part '{part}' (craft-parts' fetch_stage_packages)
set -eu
out={FETCH_DIR}
if ! command -v apt-get >/dev/null 2>&1; then : > "$out/no-apt"; exit 0; fi
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
apt-cache "$@" show --no-all-versions $(cat "$out/resolved") > "$out/index"
cd "$out/debs"
apt-get "$@" download $(cat "$out/resolved")
"#,
        arch_opt = quote(&format!("APT::Architecture={arch}")),
        pkgs = pkgs.join(" "),
    )
}

/// The unpack container's script: each `.deb` extracted on its own and
/// merged into the install dir (craft-parts' `_unpack_stage_debs`), then
/// what the normalisation needs from the build environment: libc6's files
/// (`_run_dpkg_query_list_files`) and copies of files that absolute
/// symlinks of the packages point at and the packages lack
/// (`_try_copy_local`).
fn unpack_script(part: &str, debs: &[String], install: &str) -> String {
    let debs: Vec<String> = debs.iter().map(|d| quote(d)).collect();
    format!(
        r#"# strata: unpack the stage-packages of part '{part}' (craft-parts' unpack_stage_packages)
set -eu
inst={inst}
info={UNPACK_INFO_DIR}
for deb in {debs}; do
    t=$(mktemp -d {UNPACK_SCRATCH_DIR}/deb.XXXXXX)
    dpkg-deb --extract "$deb" "$t"
    cp -a "$t/." "$inst/"
    rm -rf "$t"
done
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
        debs = debs.join(" "),
    )
}

/// The typed error for apt's complaint about the requested packages.
fn apt_failure(part: &str, stderr: &str) -> PackageError {
    for line in stderr.lines() {
        if let Some(rest) = line.split("Unable to locate package ").nth(1) {
            return PackageError::NotFound { part: part.into(), package: rest.trim().to_string() };
        }
    }
    let message: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    let tail = message.len().saturating_sub(12);
    PackageError::Unresolvable { part: part.into(), message: message[tail..].join("\n") }
}

/// `name:arch=version` lines (what the fetch script's `sed` makes of
/// apt's `Inst` lines) → `(name, arch, version)`.
fn parse_resolved(text: &str) -> Vec<(String, String, String)> {
    text.lines()
        .filter_map(|l| {
            let (name_arch, version) = l.trim().split_once('=')?;
            let (name, arch) = name_arch.split_once(':')?;
            Some((name.to_string(), arch.to_string(), version.to_string()))
        })
        .collect()
}

/// One package record of the apt index (`apt-cache show`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct IndexRecord {
    package: String,
    version: String,
    arch: String,
    filename: String,
    size: u64,
    sha256: String,
}

/// deb822 records → the fields a fetch checks (continuation lines and
/// other fields are skipped).
fn parse_index(text: &str) -> Vec<IndexRecord> {
    let mut out = Vec::new();
    let mut rec = IndexRecord::default();
    for line in text.lines().chain(std::iter::once("")) {
        if line.trim().is_empty() {
            if !rec.package.is_empty() {
                out.push(std::mem::take(&mut rec));
            }
            continue;
        }
        if line.starts_with([' ', '\t']) {
            continue;
        }
        let Some((k, v)) = line.split_once(':') else { continue };
        let v = v.trim().to_string();
        match k {
            "Package" => rec.package = v,
            "Version" => rec.version = v,
            "Architecture" => rec.arch = v,
            "Filename" => rec.filename = v,
            "Size" => rec.size = v.parse().unwrap_or(0),
            "SHA256" => rec.sha256 = v.to_ascii_lowercase(),
            _ => {}
        }
    }
    out
}

/// The name `apt-get download` gives a package's file: apt's
/// `QuoteString` of name, version and architecture (`:` as `%3a`).
fn apt_file_name(name: &str, version: &str, arch: &str) -> String {
    fn q(s: &str, bad: &str) -> String {
        let mut out = String::new();
        for b in s.bytes() {
            if bad.as_bytes().contains(&b) || b == b'%' || b <= 0x20 || b >= 0x7f {
                out.push_str(&format!("%{b:02x}"));
            } else {
                out.push(b as char);
            }
        }
        out
    }
    format!("{}_{}_{}.deb", q(name, "_:"), q(version, "_:"), q(arch, "_:."))
}

/// Checks a downloaded `.deb` against its apt index record: size, then
/// SHA256. A mismatch is an error that names the file and both digests.
pub fn verify_deb(part: &str, pkg: &StagePackage, path: &Path) -> Result<(), PackageError> {
    let io_fail = |e: io::Error| PackageError::Inconsistent {
        part: part.into(),
        package: pkg.name.clone(),
        what: format!("{} cannot be read: {e}", path.display()),
    };
    let mut f = fs::File::open(path).map_err(io_fail)?;
    let mut h = Sha256::new();
    let found_size = io::copy(&mut f, &mut h).map_err(io_fail)?;
    let file = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let spec = format!("{}={}", pkg.name, pkg.version);
    if found_size != pkg.size {
        return Err(PackageError::SizeMismatch {
            part: part.into(),
            package: spec,
            file,
            expected: pkg.size,
            found: found_size,
        });
    }
    let found = hex::encode(h.finalize());
    if found != pkg.sha256 {
        return Err(PackageError::DigestMismatch {
            part: part.into(),
            package: spec,
            file,
            expected: pkg.sha256.clone(),
            found,
        });
    }
    Ok(())
}

/// craft-parts' `normalize` of unpacked packages, on the host dir `dir`
/// that is `install_path` inside the build container:
///
/// 1. `usr/lib/python*/sitecustomize.py` is removed;
/// 2. absolute symlinks become relative when their target is in `dir` —
///    except those to libc6's files (`libc6`), which stay absolute; a
///    target found neither in `dir` nor in `system` (copies of the build
///    environment's files) is left dangling, one in `system` is copied in;
/// 3. setuid and setgid bits are dropped from files and directories;
/// 4. `.pc` files get their `prefix=` under `install_path` (stage moves it
///    under the stage);
/// 5. `usr/bin/xml2-config` and `xslt-config` get `prefix=` under
///    `install_path`;
/// 6. Python shebangs (`#!/usr/bin/python3`) become `#!/usr/bin/env
///    python3`; with an argument, a `/bin/sh` trampoline.
pub fn normalize(dir: &Path, install_path: &str, libc6: &BTreeSet<String>, system: &Path) -> io::Result<()> {
    remove_sitecustomize(dir)?;
    let mut entries = Vec::new();
    for e in walkdir::WalkDir::new(dir).min_depth(1).sort_by_file_name().follow_links(false) {
        entries.push(e.map_err(io::Error::other)?.into_path());
    }
    for path in &entries {
        let Ok(meta) = fs::symlink_metadata(path) else { continue };
        if meta.file_type().is_symlink() {
            let target = fs::read_link(path)?;
            if target.is_absolute() {
                fix_symlink(dir, path, &target, libc6, system)?;
            }
            continue;
        }
        let mode = meta.permissions().mode();
        if mode & 0o6000 != 0 {
            fs::set_permissions(path, fs::Permissions::from_mode(mode & 0o1777))?;
        }
        if meta.is_file() && path.extension().is_some_and(|e| e == "pc") {
            rewrite_text(path, |t| Some(fix_pkg_config(t, "", install_path)))?;
        }
    }
    for tool in ["usr/bin/xml2-config", "usr/bin/xslt-config"] {
        let p = dir.join(tool);
        if fs::symlink_metadata(&p).is_ok_and(|m| m.is_file()) {
            let with = format!("prefix={install_path}/usr");
            rewrite_text(&p, |t| Some(t.replace("prefix=/usr", &with)))?;
        }
    }
    for e in walkdir::WalkDir::new(dir).min_depth(1).sort_by_file_name().follow_links(false) {
        let e = e.map_err(io::Error::other)?;
        if e.file_type().is_file() && starts_with_shebang(e.path())? {
            rewrite_text(e.path(), rewrite_python_shebang)?;
        }
    }
    Ok(())
}

fn remove_sitecustomize(dir: &Path) -> io::Result<()> {
    let lib = dir.join("usr/lib");
    let Ok(rd) = fs::read_dir(&lib) else { return Ok(()) };
    for e in rd.flatten() {
        if e.file_name().to_string_lossy().starts_with("python") {
            let f = e.path().join("sitecustomize.py");
            if fs::symlink_metadata(&f).is_ok() {
                fs::remove_file(&f)?;
            }
        }
    }
    Ok(())
}

/// `_fix_symlink`: `link` (in `dir`) points at the absolute `target`.
fn fix_symlink(dir: &Path, link: &Path, target: &Path, libc6: &BTreeSet<String>, system: &Path) -> io::Result<()> {
    let target_str = target.to_string_lossy();
    if libc6.contains(target_str.as_ref()) {
        return Ok(());
    }
    let rel_target = target_str.trim_start_matches('/').to_string();
    if resolve_in_root(dir, &rel_target).is_none() {
        // Not in the packages: a copy of the build environment's file, if
        // the unpack container found one; else the link stays dangling.
        let copy = system.join(&rel_target);
        if !fs::symlink_metadata(&copy).is_ok_and(|m| m.is_file()) {
            return Ok(());
        }
        let Some(parent) = Path::new(&rel_target).parent() else { return Ok(()) };
        // Create the parents inside `dir` only (never through a symlink out of it).
        let Some(parent_in_dir) = mkdir_in_root(dir, &parent.to_string_lossy())? else { return Ok(()) };
        let name = Path::new(&rel_target).file_name().unwrap_or_default();
        fs::copy(&copy, parent_in_dir.join(name))?;
    }
    let link_rel = link.strip_prefix(dir).map_err(io::Error::other)?;
    let from: Vec<String> = link_rel
        .parent()
        .map(|p| p.components().map(|c| c.as_os_str().to_string_lossy().into_owned()).collect())
        .unwrap_or_default();
    let relative = relative_path(&from, &rel_target);
    fs::remove_file(link)?;
    std::os::unix::fs::symlink(relative, link)
}

/// `os.path.relpath(target, start)` for `target` (relative to the root)
/// seen from the directory `from` (its components): lexical, `..` resolved.
fn relative_path(from: &[String], target: &str) -> String {
    let mut to: Vec<&str> = Vec::new();
    for c in target.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                to.pop();
            }
            c => to.push(c),
        }
    }
    let common = from.iter().zip(&to).take_while(|(a, b)| a.as_str() == **b).count();
    let mut parts: Vec<&str> = vec![".."; from.len() - common];
    parts.extend(&to[common..]);
    if parts.is_empty() { ".".to_string() } else { parts.join("/") }
}

/// The host path of `rel` inside `root`, symlinks resolved as if `root`
/// were `/` (absolute targets restart at `root`, `..` stops at it).
/// `None` if a component is missing or the links loop.
fn resolve_in_root(root: &Path, rel: &str) -> Option<PathBuf> {
    let mut pending: Vec<String> = rel.split('/').rev().map(str::to_string).collect();
    let mut cur: Vec<String> = Vec::new();
    let mut hops = 0;
    while let Some(c) = pending.pop() {
        match c.as_str() {
            "" | "." => continue,
            ".." => {
                cur.pop();
                continue;
            }
            _ => {}
        }
        let p = cur.iter().fold(root.to_path_buf(), |p, c| p.join(c)).join(&c);
        let meta = fs::symlink_metadata(&p).ok()?;
        if meta.file_type().is_symlink() {
            hops += 1;
            if hops > 40 {
                return None;
            }
            let t = fs::read_link(&p).ok()?;
            let t = t.to_string_lossy();
            if t.starts_with('/') {
                cur.clear();
            }
            pending.extend(t.split('/').rev().map(str::to_string));
        } else {
            cur.push(c);
        }
    }
    Some(cur.iter().fold(root.to_path_buf(), |p, c| p.join(c)))
}

/// `mkdir -p` of `rel` inside `root`, following symlinks only within it.
/// Returns the directory's host path, or `None` if something in the way
/// is not a directory.
fn mkdir_in_root(root: &Path, rel: &str) -> io::Result<Option<PathBuf>> {
    let mut done = String::new();
    for c in rel.split('/').filter(|c| !c.is_empty() && *c != ".") {
        let parent = resolve_in_root(root, &done);
        if !done.is_empty() {
            done.push('/');
        }
        done.push_str(c);
        match resolve_in_root(root, &done) {
            Some(p) if p.is_dir() => {}
            Some(_) => return Ok(None),
            None => {
                let Some(p) = parent.map(|p| p.join(c)) else { return Ok(None) };
                if fs::symlink_metadata(&p).is_ok() {
                    return Ok(None); // a dangling link
                }
                fs::create_dir(&p)?;
            }
        }
    }
    Ok(resolve_in_root(root, &done).filter(|p| p.is_dir()))
}

fn starts_with_shebang(path: &Path) -> io::Result<bool> {
    use std::io::Read;
    let mut head = [0u8; 2];
    let mut f = fs::File::open(path)?;
    let mut n = 0;
    while n < 2 {
        let r = f.read(&mut head[n..])?;
        if r == 0 {
            break;
        }
        n += r;
    }
    Ok(n == 2 && &head == b"#!")
}

/// Rewrites a UTF-8 text file with `f` (files that are not UTF-8 are left
/// alone, as craft-parts skips what it cannot decode).
fn rewrite_text(path: &Path, f: impl Fn(&str) -> Option<String>) -> io::Result<()> {
    let bytes = fs::read(path)?;
    let Ok(text) = std::str::from_utf8(&bytes) else { return Ok(()) };
    if let Some(new) = f(text).filter(|n| n != text) {
        fs::write(path, new)?;
    }
    Ok(())
}

/// craft-parts' `_rewrite_python_shebangs` on one file's text: a first
/// line `#!...python<X>` becomes `#!/usr/bin/env python<X>`; one with a
/// single argument after it (`#!/usr/bin/python3 -Es`) a `/bin/sh` line
/// that execs it (env takes no arguments). Other text is kept.
pub fn rewrite_python_shebang(text: &str) -> Option<String> {
    let (first, rest) = match text.find('\n') {
        Some(i) => (&text[..i], &text[i..]),
        None => (text, ""),
    };
    if !first.starts_with("#!") {
        return None;
    }
    let pythons: Vec<usize> = first.match_indices("python").map(|(i, _)| i).filter(|i| *i >= 2).collect();
    // `\A#!.*(python\S*)$`: the last "python" with no whitespace after it.
    if let Some(&i) = pythons.iter().rev().find(|&&i| !first[i..].contains(char::is_whitespace)) {
        return Some(format!("#!/usr/bin/env {}{rest}", &first[i..]));
    }
    // `\A#!.*(python\S*)[ \t\f\v]+(\S+)$`: the last "python" followed by a
    // word, separators and one more word.
    let sep = |c: char| matches!(c, ' ' | '\t' | '\x0c' | '\x0b');
    for &i in pythons.iter().rev() {
        let tail = &first[i..];
        let word_end = tail.find(char::is_whitespace).unwrap_or(tail.len());
        let (interpreter, after) = tail.split_at(word_end);
        let arg = after.trim_start_matches(sep);
        if arg.len() < after.len() && !arg.is_empty() && !arg.contains(char::is_whitespace) {
            return Some(format!("#!/bin/sh\n''''exec {interpreter} {arg} -- \"$0\" \"$@\" # '''{rest}"));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::symlink;
    use std::process::Command;

    use sha2::Digest;

    use super::*;

    /// A real `.deb` made with `dpkg-deb --build`, and its index record.
    fn build_deb(dir: &Path) -> (PathBuf, StagePackage) {
        let root = dir.join("pkg");
        fs::create_dir_all(root.join("DEBIAN")).unwrap();
        fs::create_dir_all(root.join("usr/bin")).unwrap();
        fs::write(
            root.join("DEBIAN/control"),
            "Package: strata-test\nVersion: 1.0-1\nArchitecture: all\nMaintainer: strata <strata@example.com>\nDescription: a test package\n",
        )
        .unwrap();
        fs::write(root.join("usr/bin/strata-test"), "#!/bin/sh\necho hi\n").unwrap();
        let deb = dir.join("strata-test_1.0-1_all.deb");
        let out =
            Command::new("dpkg-deb").args(["--root-owner-group", "--build"]).arg(&root).arg(&deb).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let bytes = fs::read(&deb).unwrap();
        let pkg = StagePackage {
            name: "strata-test".into(),
            version: "1.0-1".into(),
            arch: "all".into(),
            file: "strata-test_1.0-1_all.deb".into(),
            size: bytes.len() as u64,
            sha256: hex::encode(Sha256::digest(&bytes)),
        };
        (deb, pkg)
    }

    #[test]
    fn a_deb_that_does_not_match_the_index_is_refused() {
        if !crate::testutil::need_tool("dpkg-deb") {
            eprintln!("skipping: dpkg-deb is not installed");
            return;
        }
        let tmp = tempfile::tempdir().unwrap();
        let (deb, pkg) = build_deb(tmp.path());
        verify_deb("p", &pkg, &deb).expect("the index's own digest matches");

        let wrong = StagePackage { sha256: "0".repeat(64), ..pkg.clone() };
        let err = verify_deb("p", &wrong, &deb).unwrap_err();
        let PackageError::DigestMismatch { expected, found, .. } = &err else { panic!("{err:?}") };
        assert_eq!((expected.as_str(), found.as_str()), ("0".repeat(64).as_str(), pkg.sha256.as_str()));
        let msg = err.to_string();
        assert!(msg.contains("part 'p'") && msg.contains("strata-test_1.0-1_all.deb"), "{msg}");
        assert!(msg.contains("build again"), "says what to do: {msg}");

        // One flipped byte: same size, another digest.
        let mut bytes = fs::read(&deb).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        fs::write(&deb, &bytes).unwrap();
        assert!(matches!(verify_deb("p", &pkg, &deb), Err(PackageError::DigestMismatch { .. })));
        bytes.push(0);
        fs::write(&deb, &bytes).unwrap();
        assert!(
            matches!(verify_deb("p", &pkg, &deb), Err(PackageError::SizeMismatch { found, .. }) if found == pkg.size + 1)
        );
    }

    #[test]
    fn apt_output_is_read_into_pinned_packages() {
        let resolved =
            parse_resolved("libc6:amd64=2.36-9+deb12u14\ntzdata:all=2026b-0+deb12u1\nlibaudit1:amd64=1:3.0.9-1\n");
        assert_eq!(resolved[2], ("libaudit1".into(), "amd64".into(), "1:3.0.9-1".into()));
        let index = parse_index(
            "Package: hello\nVersion: 2.10-3\nInstalled-Size: 281\nArchitecture: amd64\nDescription: x\n more text\n\
             Filename: pool/main/h/hello/hello_2.10-3_amd64.deb\nSize: 53080\n\
             SHA256: 2E6E2F1A0007DC43BC91C273FD36E91E40A4F1C2765A03ECA68B70A42103878A\n\nPackage: b\nVersion: 1\n",
        );
        assert_eq!(index.len(), 2);
        assert_eq!(index[0].filename, "pool/main/h/hello/hello_2.10-3_amd64.deb");
        assert_eq!((index[0].size, &index[0].sha256[..8]), (53080, "2e6e2f1a"));
        assert_eq!(apt_file_name("libaudit1", "1:3.0.9-1", "amd64"), "libaudit1_1%3a3.0.9-1_amd64.deb");
        assert_eq!(apt_file_name("hello", "2.10-3", "amd64"), "hello_2.10-3_amd64.deb");
        let missing = apt_failure("p", "Reading package lists...\nE: Unable to locate package nosuchpkg\n");
        assert!(matches!(&missing, PackageError::NotFound { package, .. } if package == "nosuchpkg"), "{missing:?}");
        assert!(missing.to_string().contains("check its name"));
        assert!(valid_package_spec("libc6:amd64") && valid_package_spec("hello=2.10-3") && valid_package_spec("g++"));
        assert!(!valid_package_spec("libc6_libs") && !valid_package_spec("-o") && !valid_package_spec("a;b"));
    }

    #[test]
    fn python_shebangs_are_rewritten_like_craft_parts() {
        assert_eq!(
            rewrite_python_shebang("#!/usr/bin/python3\nprint(1)\n").unwrap(),
            "#!/usr/bin/env python3\nprint(1)\n"
        );
        assert_eq!(rewrite_python_shebang("#!/usr/bin/python3.11").unwrap(), "#!/usr/bin/env python3.11");
        assert_eq!(
            rewrite_python_shebang("#!/usr/bin/python3 -Es\nx\n").unwrap(),
            "#!/bin/sh\n''''exec python3 -Es -- \"$0\" \"$@\" # '''\nx\n"
        );
        assert_eq!(rewrite_python_shebang("#!/bin/sh\n# python3 later\n"), None);
        assert_eq!(rewrite_python_shebang("#!/usr/bin/perl -w\n"), None);
        assert_eq!(rewrite_python_shebang("#!/usr/bin/python3 -E -s\n"), None, "two arguments: left alone");
        assert_eq!(rewrite_python_shebang("print('#!/usr/bin/python3')"), None);
    }

    #[test]
    fn relative_paths_are_lexical_like_relpath() {
        let from = |s: &str| s.split('/').filter(|c| !c.is_empty()).map(str::to_string).collect::<Vec<_>>();
        assert_eq!(relative_path(&from("lib64"), "lib/x86_64-linux-gnu/ld.so"), "../lib/x86_64-linux-gnu/ld.so");
        assert_eq!(relative_path(&from("usr/bin"), "usr/bin/x"), "x");
        assert_eq!(relative_path(&from(""), "etc/./a/../b"), "etc/b");
        assert_eq!(relative_path(&from("a/b"), "a"), "..");
    }

    #[test]
    fn normalize_fixes_links_modes_pkg_config_and_shebangs() {
        let tmp = tempfile::tempdir().unwrap();
        let (dir, system) = (tmp.path().join("install"), tmp.path().join("system"));
        let mk = |p: &str| fs::create_dir_all(dir.join(p)).unwrap();
        for d in ["usr/bin", "usr/lib/python3.11", "usr/lib/pkgconfig", "lib/x86_64-linux-gnu", "lib64", "etc"] {
            mk(d);
        }
        fs::write(dir.join("usr/lib/python3.11/sitecustomize.py"), "x").unwrap();
        fs::write(dir.join("lib/x86_64-linux-gnu/libfoo.so.1"), "elf").unwrap();
        symlink("/lib/x86_64-linux-gnu/libfoo.so.1", dir.join("usr/bin/foo-link")).unwrap();
        symlink("/lib/x86_64-linux-gnu/ld.so", dir.join("lib64/ld.so")).unwrap();
        symlink("/etc/from-system", dir.join("etc/needs-system")).unwrap();
        symlink("/nowhere", dir.join("etc/dangling")).unwrap();
        fs::create_dir_all(system.join("etc")).unwrap();
        fs::write(system.join("etc/from-system"), "copied").unwrap();
        fs::write(dir.join("usr/bin/suid"), "x").unwrap();
        fs::set_permissions(dir.join("usr/bin/suid"), fs::Permissions::from_mode(0o4755)).unwrap();
        fs::write(dir.join("usr/lib/pkgconfig/foo.pc"), "prefix=/usr\nlibdir=${prefix}/lib\n").unwrap();
        fs::write(dir.join("usr/bin/tool"), "#!/usr/bin/python3\nimport x\n").unwrap();
        fs::write(dir.join("usr/bin/xml2-config"), "prefix=/usr\nexec_prefix=/usr\n").unwrap();
        let libc6: BTreeSet<String> = ["/lib/x86_64-linux-gnu/ld.so".to_string()].into();

        normalize(&dir, "/root/parts/p/install", &libc6, &system).unwrap();

        assert!(!dir.join("usr/lib/python3.11/sitecustomize.py").exists());
        let link = |p: &str| fs::read_link(dir.join(p)).unwrap().to_string_lossy().into_owned();
        assert_eq!(link("usr/bin/foo-link"), "../../lib/x86_64-linux-gnu/libfoo.so.1");
        assert_eq!(link("lib64/ld.so"), "/lib/x86_64-linux-gnu/ld.so", "libc6's links stay absolute");
        assert_eq!(link("etc/needs-system"), "from-system");
        assert_eq!(fs::read_to_string(dir.join("etc/from-system")).unwrap(), "copied");
        assert_eq!(link("etc/dangling"), "/nowhere");
        assert_eq!(fs::metadata(dir.join("usr/bin/suid")).unwrap().permissions().mode() & 0o7777, 0o755);
        assert_eq!(
            fs::read_to_string(dir.join("usr/lib/pkgconfig/foo.pc")).unwrap(),
            "prefix=/root/parts/p/install/usr\nlibdir=${prefix}/lib\n"
        );
        assert_eq!(fs::read_to_string(dir.join("usr/bin/tool")).unwrap(), "#!/usr/bin/env python3\nimport x\n");
        assert_eq!(
            fs::read_to_string(dir.join("usr/bin/xml2-config")).unwrap(),
            "prefix=/root/parts/p/install/usr\nexec_prefix=/root/parts/p/install/usr\n"
        );
    }

    #[test]
    fn links_resolve_inside_the_root_only() {
        let tmp = tempfile::tempdir().unwrap();
        let r = tmp.path();
        fs::create_dir_all(r.join("usr/lib")).unwrap();
        symlink("usr/lib", r.join("lib")).unwrap();
        symlink("/", r.join("up")).unwrap();
        fs::write(r.join("usr/lib/a"), "").unwrap();
        assert_eq!(resolve_in_root(r, "lib/a"), Some(r.join("usr/lib/a")));
        assert_eq!(resolve_in_root(r, "up/up/../lib/a"), Some(r.join("usr/lib/a")), "/ and .. stop at the root");
        assert_eq!(resolve_in_root(r, "lib/missing"), None);
    }
}
