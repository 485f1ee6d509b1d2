//! Base-image recipes (`images/<name>/recipe.toml`) and the builders that
//! turn one into a root-filesystem tarball. The format is described in
//! `images/README.md`; [`Recipe::load`] parses it, [`Recipe::build_rootfs`]
//! writes the tarball, [`Recipe::image_settings`] hands the image config keys
//! to whoever assembles the image.
//!
//! Two kinds of recipe:
//! - `mmdebstrap`: a Debian chroot from a mirror. Run in `--mode=root` as
//!   root and `--mode=unshare` otherwise (both give the same bytes). Its
//!   output is reproducible for the same options and mirror content when
//!   `SOURCE_DATE_EPOCH` is set; we also delete the two files it copies from
//!   the host (`/etc/resolv.conf`, `/etc/hostname`) and drop the device nodes
//!   it puts in `/dev` (runtimes mount their own `/dev`, and device nodes
//!   cannot be unpacked without privileges).
//! - `busybox`: the host's static busybox plus a symlink per applet, a
//!   passwd/group pair and the usual empty directories, written straight
//!   into a tar (sorted, mtimes = epoch, uid/gid 0). No network, no root.
//!
//! Cache: when `STRATA_ROOTFS_CACHE` names a directory, finished tarballs are
//! kept there as `<cache_key>.tar` and reused. The key covers everything the
//! builder reads except the mirror's content, so a cached Debian tarball
//! stays what it was on the day it was built — the point of the cache.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};

use serde::Deserialize;
use sha2::{Digest as _, Sha256};
use toml::Spanned;

/// The mirror used when a `mmdebstrap` recipe names none.
pub const DEFAULT_MIRROR: &str = "http://deb.debian.org/debian";
/// Changes whenever a builder's output changes for the same recipe; part of the cache key.
const BUILDER_VERSION: &str = "strata-rootfs-1";
const BUSYBOX_PATHS: &[&str] = &["/bin/busybox", "/usr/bin/busybox"];
const MMDEBSTRAP_VARIANTS: &[&str] = &[
    "extract",
    "custom",
    "essential",
    "apt",
    "required",
    "minbase",
    "buildd",
    "important",
    "debootstrap",
    "-",
    "standard",
];
/// Files mmdebstrap copies from the host for debootstrap compatibility; see
/// the SOURCE_DATE_EPOCH section of mmdebstrap(1).
const MMDEBSTRAP_HOOK: &str = r#"rm -f "$1/etc/resolv.conf" "$1/etc/hostname""#;
const TAIL_LINES: usize = 30;

#[derive(Debug, thiserror::Error)]
pub enum RecipeError {
    #[error("cannot read recipe {path}: {err}")]
    Read { path: PathBuf, err: io::Error },
    #[error("{path}:{line}:{column}: {message}")]
    Invalid { path: PathBuf, line: usize, column: usize, message: String },
    #[error("`{program}` is not installed; install the Debian package `{package}` (apt-get install {package})")]
    MissingTool { program: &'static str, package: &'static str },
    #[error(
        "{path} is dynamically linked and would not run inside the image; install the Debian package `busybox-static`"
    )]
    NotStatic { path: PathBuf },
    #[error("{recipe}: applet `{applet}` is not provided by {busybox} (see `{busybox} --list`)")]
    UnknownApplet { recipe: PathBuf, applet: String, busybox: PathBuf },
    #[error("{program} failed with {status}; last lines of its output:\n{tail}")]
    ToolFailed { program: &'static str, status: String, tail: String },
    #[error("{what} {path}: {err}")]
    Io { what: &'static str, path: PathBuf, err: io::Error },
}

/// A parsed recipe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recipe {
    /// The recipe file it came from.
    pub path: PathBuf,
    /// The store ref the image gets, e.g. `debian:bookworm`.
    pub name: String,
    pub source_date_epoch: i64,
    pub source: RecipeSource,
    pub image: RecipeImageConfig,
}

/// How the root filesystem is made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecipeSource {
    Mmdebstrap {
        suite: String,
        variant: String,
        mirror: String,
        components: Vec<String>,
        include: Vec<String>,
    },
    /// `None`: every applet the host's busybox has.
    Busybox {
        applets: Option<Vec<String>>,
    },
}

/// The image config keys of a recipe, as plain data.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecipeImageConfig {
    /// `KEY=value`, sorted by key.
    pub env: Vec<String>,
    pub entrypoint: Option<Vec<String>>,
    pub cmd: Option<Vec<String>>,
    pub working_dir: Option<String>,
    pub user: Option<String>,
    pub labels: BTreeMap<String, String>,
}

impl From<RecipeImageConfig> for crate::image::ImageSettings {
    fn from(c: RecipeImageConfig) -> Self {
        let RecipeImageConfig { env, entrypoint, cmd, working_dir, user, labels } = c;
        crate::image::ImageSettings { env, entrypoint, cmd, working_dir, user, labels, ..Default::default() }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct RawRecipe {
    name: Spanned<String>,
    kind: Spanned<Kind>,
    source_date_epoch: Option<Spanned<i64>>,
    suite: Option<Spanned<String>>,
    variant: Option<Spanned<String>>,
    mirror: Option<Spanned<String>>,
    components: Option<Spanned<Vec<String>>>,
    include: Option<Spanned<Vec<String>>>,
    applets: Option<Spanned<Vec<String>>>,
    cmd: Option<Vec<String>>,
    entrypoint: Option<Vec<String>>,
    env: Option<Spanned<BTreeMap<String, String>>>,
    working_dir: Option<String>,
    user: Option<String>,
    labels: Option<BTreeMap<String, String>>,
}

#[derive(Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
enum Kind {
    Mmdebstrap,
    Busybox,
}

/// 1-based line and column (in characters) of a byte offset.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (before.matches('\n').count() + 1, before[line_start..].chars().count() + 1)
}

/// A list of names handed to mmdebstrap comma-separated: no empties, commas or blanks.
fn check_names(what: &str, list: &[String]) -> Result<(), String> {
    match list.iter().find(|n| n.is_empty() || n.contains(|c: char| c == ',' || c.is_whitespace())) {
        Some(bad) => Err(format!("invalid {what} entry {bad:?}: expected a bare name")),
        None => Ok(()),
    }
}

impl Recipe {
    /// Loads `recipe.toml` from a directory, or the given file.
    pub fn load(dir_or_file: &Path) -> Result<Recipe, RecipeError> {
        let path = if dir_or_file.is_dir() { dir_or_file.join("recipe.toml") } else { dir_or_file.to_owned() };
        let text = fs::read_to_string(&path).map_err(|err| RecipeError::Read { path: path.clone(), err })?;
        Self::parse(&text, &path)
    }

    /// Parses recipe text; `path` is used in errors and kept in the result.
    pub fn parse(text: &str, path: &Path) -> Result<Recipe, RecipeError> {
        let err_at = |offset: usize, message: String| {
            let (line, column) = line_col(text, offset);
            RecipeError::Invalid { path: path.to_owned(), line, column, message }
        };
        let raw: RawRecipe =
            toml::from_str(text).map_err(|e| err_at(e.span().map_or(0, |s| s.start), e.message().to_owned()))?;

        let name = raw.name.get_ref();
        if name.is_empty() || name.contains(char::is_whitespace) {
            return Err(err_at(
                raw.name.span().start,
                format!("invalid name {name:?}: expected an image name like `debian:bookworm`"),
            ));
        }
        let source_date_epoch = match &raw.source_date_epoch {
            Some(e) if *e.get_ref() < 0 => {
                return Err(err_at(e.span().start, "source-date-epoch must not be negative".into()));
            }
            Some(e) => *e.get_ref(),
            None => crate::image::DEFAULT_SOURCE_DATE_EPOCH,
        };
        let kind = *raw.kind.get_ref();
        let (kind_name, foreign) = match kind {
            Kind::Mmdebstrap => ("mmdebstrap", vec![("applets", raw.applets.as_ref().map(|s| s.span()))]),
            Kind::Busybox => (
                "busybox",
                vec![
                    ("suite", raw.suite.as_ref().map(|s| s.span())),
                    ("variant", raw.variant.as_ref().map(|s| s.span())),
                    ("mirror", raw.mirror.as_ref().map(|s| s.span())),
                    ("components", raw.components.as_ref().map(|s| s.span())),
                    ("include", raw.include.as_ref().map(|s| s.span())),
                ],
            ),
        };
        if let Some((key, Some(span))) = foreign.into_iter().find(|(_, s)| s.is_some()) {
            return Err(err_at(span.start, format!("`{key}` does not apply to kind = \"{kind_name}\"")));
        }

        let source = match kind {
            Kind::Mmdebstrap => {
                let suite = raw.suite.ok_or_else(|| {
                    err_at(
                        raw.kind.span().start,
                        "kind = \"mmdebstrap\" needs `suite` (e.g. suite = \"bookworm\")".into(),
                    )
                })?;
                if let Some(v) = raw.variant.as_ref().filter(|v| !MMDEBSTRAP_VARIANTS.contains(&v.get_ref().as_str())) {
                    let known = MMDEBSTRAP_VARIANTS.join(", ");
                    return Err(err_at(v.span().start, format!("unknown variant {:?}; one of {known}", v.get_ref())));
                }
                for (what, list) in [("components", &raw.components), ("include", &raw.include)] {
                    if let Some(list) = list {
                        check_names(what, list.get_ref()).map_err(|m| err_at(list.span().start, m))?;
                    }
                }
                let variant = raw.variant.map_or_else(|| "minbase".to_owned(), Spanned::into_inner);
                let components = raw.components.map_or_else(|| vec!["main".to_owned()], Spanned::into_inner);
                let include = raw.include.map(Spanned::into_inner).unwrap_or_default();
                if suite.get_ref().is_empty() {
                    return Err(err_at(suite.span().start, "suite must not be empty".into()));
                }
                let mirror = raw.mirror.map_or_else(|| DEFAULT_MIRROR.to_owned(), Spanned::into_inner);
                RecipeSource::Mmdebstrap { suite: suite.into_inner(), variant, mirror, components, include }
            }
            Kind::Busybox => {
                if let Some(a) = &raw.applets
                    && let Some(bad) = a.get_ref().iter().find(|n| n.is_empty() || n.contains('/'))
                {
                    return Err(err_at(a.span().start, format!("invalid applet name {bad:?}")));
                }
                RecipeSource::Busybox { applets: raw.applets.map(Spanned::into_inner) }
            }
        };

        let mut env = Vec::new();
        if let Some(e) = raw.env {
            let span = e.span();
            for (k, v) in e.into_inner() {
                if k.is_empty() || k.contains('=') {
                    return Err(err_at(span.start, format!("invalid env name {k:?}")));
                }
                env.push(format!("{k}={v}"));
            }
        }
        let image = RecipeImageConfig {
            env,
            entrypoint: raw.entrypoint,
            cmd: raw.cmd,
            working_dir: raw.working_dir,
            user: raw.user,
            labels: raw.labels.unwrap_or_default(),
        };
        Ok(Recipe { path: path.to_owned(), name: raw.name.into_inner(), source_date_epoch, source, image })
    }

    /// `"mmdebstrap"` or `"busybox"`.
    pub fn kind_name(&self) -> &'static str {
        match self.source {
            RecipeSource::Mmdebstrap { .. } => "mmdebstrap",
            RecipeSource::Busybox { .. } => "busybox",
        }
    }

    /// The image config keys of the recipe.
    pub fn image_settings(&self) -> RecipeImageConfig {
        self.image.clone()
    }

    /// A digest over what the rootfs depends on: builder version, epoch,
    /// kind-specific keys and, for busybox, the host binary. Not the image
    /// config keys (they do not touch the rootfs) nor the mirror's content.
    pub fn cache_key(&self) -> Result<String, RecipeError> {
        let mut h = Sha256::new();
        let mut field = |k: &str, v: &str| h.update(format!("{k}={v}\n"));
        field("builder", BUILDER_VERSION);
        field("source-date-epoch", &self.source_date_epoch.to_string());
        match &self.source {
            RecipeSource::Mmdebstrap { suite, variant, mirror, components, include } => {
                field("kind", "mmdebstrap");
                field("suite", suite);
                field("variant", variant);
                field("mirror", mirror);
                field("components", &components.join(","));
                field("include", &include.join(","));
            }
            RecipeSource::Busybox { applets } => {
                field("kind", "busybox");
                field("applets", &applets.as_ref().map_or("*".into(), |a| a.join(",")));
                let bin = find_busybox()?;
                let bytes = fs::read(&bin).map_err(|err| RecipeError::Io { what: "cannot read", path: bin, err })?;
                field("busybox", &hex::encode(Sha256::digest(&bytes)));
            }
        }
        Ok(hex::encode(h.finalize()))
    }

    /// Writes the root filesystem as a tar to `out_tar`, through the cache
    /// in `STRATA_ROOTFS_CACHE` if that is set.
    pub fn build_rootfs(&self, out_tar: &Path) -> Result<(), RecipeError> {
        let cache = std::env::var_os("STRATA_ROOTFS_CACHE").filter(|v| !v.is_empty()).map(PathBuf::from);
        self.build_rootfs_with_cache(cache.as_deref(), out_tar)
    }

    /// Like [`Recipe::build_rootfs`] with an explicit cache directory (or none).
    pub fn build_rootfs_with_cache(&self, cache: Option<&Path>, out_tar: &Path) -> Result<(), RecipeError> {
        fn io(what: &'static str, path: &Path) -> impl FnOnce(io::Error) -> RecipeError + use<> {
            let path = path.to_owned();
            move |err| RecipeError::Io { what, path, err }
        }
        let Some(dir) = cache else { return self.build_uncached(out_tar) };
        let cached = dir.join(format!("{}.tar", self.cache_key()?));
        if cached.is_file() {
            fs::copy(&cached, out_tar).map_err(io("cannot copy cached rootfs to", out_tar))?;
            return Ok(());
        }
        self.build_uncached(out_tar)?;
        fs::create_dir_all(dir).map_err(io("cannot create rootfs cache", dir))?;
        let tmp = tempfile::NamedTempFile::new_in(dir).map_err(io("cannot write to rootfs cache", dir))?;
        fs::copy(out_tar, tmp.path()).map_err(io("cannot write to rootfs cache", dir))?;
        tmp.persist(&cached).map_err(|e| RecipeError::Io { what: "cannot write", path: cached, err: e.error })?;
        Ok(())
    }

    fn build_uncached(&self, out_tar: &Path) -> Result<(), RecipeError> {
        match &self.source {
            RecipeSource::Mmdebstrap { suite, variant, mirror, components, include } => {
                self.mmdebstrap(suite, variant, mirror, components, include, out_tar)
            }
            RecipeSource::Busybox { applets } => self.busybox(applets.as_deref(), out_tar),
        }
    }

    fn mmdebstrap(
        &self,
        suite: &str,
        variant: &str,
        mirror: &str,
        components: &[String],
        include: &[String],
        out_tar: &Path,
    ) -> Result<(), RecipeError> {
        let dir = out_tar.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        let raw =
            tempfile::Builder::new().prefix(".mmdebstrap-").suffix(".tar").tempfile_in(dir).map_err(|err| {
                RecipeError::Io { what: "cannot create a temporary file in", path: dir.to_owned(), err }
            })?;
        // Root mode needs no user namespaces (often blocked in containers);
        // unshare mode needs subuids. Both produce identical tarballs.
        // SAFETY: geteuid has no preconditions and cannot fail.
        let mode = if unsafe { libc::geteuid() } == 0 { "root" } else { "unshare" };
        let mut cmd = Command::new("mmdebstrap");
        cmd.arg(format!("--mode={mode}"))
            .arg("--format=tar")
            .arg(format!("--variant={variant}"))
            .arg(format!("--components={}", components.join(",")))
            .arg(format!("--customize-hook={MMDEBSTRAP_HOOK}"));
        if !include.is_empty() {
            cmd.arg(format!("--include={}", include.join(",")));
        }
        cmd.arg(suite).arg(raw.path()).arg(mirror);
        cmd.env("SOURCE_DATE_EPOCH", self.source_date_epoch.to_string()).stdin(Stdio::null());
        run("mmdebstrap", "mmdebstrap", &mut cmd)?;
        strip_device_nodes(raw.path(), out_tar).map_err(|err| RecipeError::Io {
            what: "cannot rewrite mmdebstrap output into",
            path: out_tar.to_owned(),
            err,
        })
    }

    fn busybox(&self, applets: Option<&[String]>, out_tar: &Path) -> Result<(), RecipeError> {
        let bin = find_busybox()?;
        let binary = fs::read(&bin).map_err(|err| RecipeError::Io { what: "cannot read", path: bin.clone(), err })?;
        if is_static_elf(&binary) == Some(false) {
            return Err(RecipeError::NotStatic { path: bin });
        }
        let listed = run("busybox", "busybox-static", Command::new(&bin).arg("--list"))?;
        let available: Vec<String> = String::from_utf8_lossy(&listed)
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && *l != "busybox")
            .map(String::from)
            .collect();
        let chosen: Vec<String> = match applets {
            None => available,
            Some(wanted) => {
                if let Some(bad) = wanted.iter().find(|a| !available.contains(a)) {
                    return Err(RecipeError::UnknownApplet {
                        recipe: self.path.clone(),
                        applet: bad.clone(),
                        busybox: bin,
                    });
                }
                wanted.to_vec()
            }
        };

        enum Node<'a> {
            Dir(u32),
            File(u32, &'a [u8]),
            Link(String),
        }
        let passwd = b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n";
        let group = b"root:x:0:\nnogroup:x:65534:\n";
        let mut tree: BTreeMap<String, Node> = BTreeMap::new();
        for (dir, mode) in [
            ("", 0o755),
            ("bin", 0o755),
            ("dev", 0o755),
            ("etc", 0o755),
            ("proc", 0o755),
            ("root", 0o700),
            ("sys", 0o755),
            ("tmp", 0o1777),
        ] {
            tree.insert(dir.into(), Node::Dir(mode));
        }
        tree.insert("bin/busybox".into(), Node::File(0o755, &binary));
        tree.insert("etc/passwd".into(), Node::File(0o644, passwd));
        tree.insert("etc/group".into(), Node::File(0o644, group));
        for a in &chosen {
            tree.insert(format!("bin/{a}"), Node::Link("busybox".into()));
        }
        // `#!/usr/bin/env sh` is the one /usr path scripts commonly rely on.
        if chosen.iter().any(|a| a == "env") {
            tree.insert("usr".into(), Node::Dir(0o755));
            tree.insert("usr/bin".into(), Node::Dir(0o755));
            tree.insert("usr/bin/env".into(), Node::Link("../../bin/busybox".into()));
        }

        let io = |err| RecipeError::Io { what: "cannot write", path: out_tar.to_owned(), err };
        let file = File::create(out_tar).map_err(io)?;
        let mut tar = tar::Builder::new(BufWriter::new(file));
        for (path, node) in &tree {
            let mut h = tar::Header::new_ustar();
            let name = match node {
                Node::Dir(_) if path.is_empty() => "./".to_owned(),
                Node::Dir(_) => format!("./{path}/"),
                _ => format!("./{path}"),
            };
            let ustar = h.as_ustar_mut().expect("a ustar header");
            ustar.name[..name.len()].copy_from_slice(name.as_bytes());
            h.set_uid(0);
            h.set_gid(0);
            h.set_mtime(self.source_date_epoch as u64);
            let data: &[u8] = match node {
                Node::Dir(mode) => {
                    h.set_entry_type(tar::EntryType::Directory);
                    h.set_mode(*mode);
                    &[]
                }
                Node::File(mode, bytes) => {
                    h.set_entry_type(tar::EntryType::Regular);
                    h.set_mode(*mode);
                    bytes
                }
                Node::Link(target) => {
                    h.set_entry_type(tar::EntryType::Symlink);
                    h.set_mode(0o777);
                    h.set_link_name(target).map_err(io)?;
                    &[]
                }
            };
            h.set_size(data.len() as u64);
            h.set_cksum();
            tar.append(&h, data).map_err(io)?;
        }
        tar.into_inner().map_err(io)?.flush().map_err(io)
    }
}

fn find_busybox() -> Result<PathBuf, RecipeError> {
    BUSYBOX_PATHS
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .ok_or(RecipeError::MissingTool { program: "busybox", package: "busybox-static" })
}

/// `Some(true)` for an ELF without a program interpreter, `None` when the
/// file is not a little-endian ELF we can read.
fn is_static_elf(b: &[u8]) -> Option<bool> {
    let u16_at = |o: usize| Some(u16::from_le_bytes(b.get(o..o + 2)?.try_into().ok()?) as usize);
    let u32_at = |o: usize| Some(u32::from_le_bytes(b.get(o..o + 4)?.try_into().ok()?));
    if b.get(..4)? != b"\x7fELF" || *b.get(5)? != 1 {
        return None;
    }
    let (phoff, phentsize, phnum) = match b[4] {
        1 => (u32_at(0x1c)? as usize, u16_at(0x2a)?, u16_at(0x2c)?),
        2 => (u64::from_le_bytes(b.get(0x20..0x28)?.try_into().ok()?) as usize, u16_at(0x36)?, u16_at(0x38)?),
        _ => return None,
    };
    const PT_INTERP: u32 = 3;
    (0..phnum).try_fold(true, |fine, i| Some(fine && u32_at(phoff + i * phentsize)? != PT_INTERP))
}

/// Runs a tool, returning its stdout; a failure carries the tail of its output.
fn run(program: &'static str, package: &'static str, cmd: &mut Command) -> Result<Vec<u8>, RecipeError> {
    let out = cmd.output().map_err(|err| match err.kind() {
        io::ErrorKind::NotFound => RecipeError::MissingTool { program, package },
        _ => RecipeError::Io { what: "cannot run", path: PathBuf::from(program), err },
    })?;
    if out.status.success() {
        return Ok(out.stdout);
    }
    let text = String::from_utf8_lossy(if out.stderr.is_empty() { &out.stdout } else { &out.stderr }).into_owned();
    let lines: Vec<&str> = text.lines().collect();
    let tail = lines[lines.len().saturating_sub(TAIL_LINES)..].join("\n");
    Err(RecipeError::ToolFailed { program, status: describe(out.status), tail })
}

fn describe(status: ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(c), _) => format!("exit code {c}"),
        (None, Some(s)) => format!("signal {s}"),
        _ => status.to_string(),
    }
}

/// Copies a tar, leaving out character and block devices (with any extended
/// headers that describe them). Every other entry is copied byte for byte,
/// so the result is as reproducible as the input.
fn strip_device_nodes(input: &Path, output: &Path) -> io::Result<()> {
    let mut archive = tar::Archive::new(BufReader::new(File::open(input)?));
    let mut out = BufWriter::new(File::create(output)?);
    let mut pending: Vec<u8> = Vec::new();
    for entry in archive.entries()?.raw(true) {
        let mut entry = entry?;
        let kind = entry.header().entry_type();
        let header = *entry.header().as_bytes();
        if kind.is_pax_local_extensions() || kind.is_gnu_longname() || kind.is_gnu_longlink() {
            pending.extend_from_slice(&header);
            let n = entry.read_to_end(&mut pending)?;
            pending.resize(pending.len() + (512 - n % 512) % 512, 0);
            continue;
        }
        if matches!(kind, tar::EntryType::Char | tar::EntryType::Block) {
            pending.clear();
            continue;
        }
        out.write_all(&pending)?;
        pending.clear();
        out.write_all(&header)?;
        let n = io::copy(&mut entry, &mut out)?;
        out.write_all(&[0; 512][..((512 - n % 512) % 512) as usize])?;
    }
    out.write_all(&[0; 1024])?;
    out.into_inner().map_err(io::IntoInnerError::into_error)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Recipe, RecipeError> {
        Recipe::parse(text, Path::new("images/x/recipe.toml"))
    }

    fn location(e: RecipeError) -> (usize, usize, String) {
        match e {
            RecipeError::Invalid { line, column, message, .. } => (line, column, message),
            other => panic!("expected a located error, got {other}"),
        }
    }

    #[test]
    fn parses_a_mmdebstrap_recipe_with_defaults() {
        let r = parse("name = \"debian:bookworm\"\nkind = \"mmdebstrap\"\nsuite = \"bookworm\"\n").unwrap();
        assert_eq!(r.name, "debian:bookworm");
        assert_eq!(r.kind_name(), "mmdebstrap");
        assert_eq!(r.source_date_epoch, crate::image::DEFAULT_SOURCE_DATE_EPOCH);
        assert_eq!(
            r.source,
            RecipeSource::Mmdebstrap {
                suite: "bookworm".into(),
                variant: "minbase".into(),
                mirror: DEFAULT_MIRROR.into(),
                components: vec!["main".into()],
                include: vec![],
            }
        );
        assert_eq!(r.image_settings(), RecipeImageConfig::default());
    }

    #[test]
    fn parses_image_config_keys() {
        let r = parse(
            r#"
name = "busybox:latest"
kind = "busybox"
source-date-epoch = 1700000000
applets = ["sh", "ls"]
cmd = ["sh"]
entrypoint = ["/bin/busybox"]
working-dir = "/root"
user = "0:0"
env = { PATH = "/bin", A = "x=y" }
[labels]
"org.opencontainers.image.title" = "busybox"
"#,
        )
        .unwrap();
        assert_eq!(r.source_date_epoch, 1_700_000_000);
        assert_eq!(r.source, RecipeSource::Busybox { applets: Some(vec!["sh".into(), "ls".into()]) });
        let c = r.image_settings();
        assert_eq!(c.env, vec!["A=x=y", "PATH=/bin"]);
        assert_eq!(c.cmd, Some(vec!["sh".into()]));
        assert_eq!(c.entrypoint, Some(vec!["/bin/busybox".into()]));
        assert_eq!(c.working_dir.as_deref(), Some("/root"));
        assert_eq!(c.user.as_deref(), Some("0:0"));
        assert_eq!(c.labels["org.opencontainers.image.title"], "busybox");
    }

    #[test]
    fn unknown_key_points_at_line_and_column() {
        let e = parse("name = \"a\"\nkind = \"busybox\"\n  colour = \"blue\"\n").unwrap_err();
        let (line, column, message) = location(e);
        assert_eq!((line, column), (3, 3));
        assert!(message.contains("unknown field `colour`"), "{message}");
        let shown = parse("name = \"a\"\nkind = \"busybox\"\ncolour = 1\n").unwrap_err().to_string();
        assert!(shown.starts_with("images/x/recipe.toml:3:1: unknown field `colour`"), "{shown}");
    }

    #[test]
    fn bad_values_and_misplaced_keys_are_located() {
        let (l, c, m) = location(parse("name = \"a\"\nkind = \"debootstrap\"\n").unwrap_err());
        assert_eq!((l, c), (2, 8), "{m}");
        let (l, c, m) = location(parse("name = \"a\"\nkind = \"busybox\"\nsuite = \"bookworm\"\n").unwrap_err());
        assert_eq!((l, c), (3, 9));
        assert!(m.contains("`suite` does not apply to kind = \"busybox\""), "{m}");
        let (l, _, m) = location(parse("name = \"a\"\nkind = \"mmdebstrap\"\n").unwrap_err());
        assert_eq!(l, 2);
        assert!(m.contains("needs `suite`"), "{m}");
        let (l, _, m) =
            location(parse("name = \"a\"\nkind = \"mmdebstrap\"\nsuite = \"x\"\ninclude = [\"a,b\"]\n").unwrap_err());
        assert_eq!(l, 4, "{m}");
        let (l, _, _) = location(parse("name = \"a\"\nkind = \"busybox\"\nsource-date-epoch = -1\n").unwrap_err());
        assert_eq!(l, 3);
    }

    #[test]
    fn shipped_recipes_parse() {
        let images = Path::new(env!("CARGO_MANIFEST_DIR")).join("images");
        let debian = Recipe::load(&images.join("debian-bookworm")).unwrap();
        assert_eq!((debian.name.as_str(), debian.kind_name()), ("debian:bookworm", "mmdebstrap"));
        let busybox = Recipe::load(&images.join("busybox")).unwrap();
        assert_eq!((busybox.name.as_str(), busybox.kind_name()), ("busybox:latest", "busybox"));
    }

    #[test]
    fn device_nodes_are_dropped_with_their_headers() {
        let dir = tempfile::tempdir().unwrap();
        let (input, output) = (dir.path().join("in.tar"), dir.path().join("out.tar"));
        let mut b = tar::Builder::new(File::create(&input).unwrap());
        let mut add = |path: &str, kind: tar::EntryType, data: &[u8], pax: bool| {
            if pax {
                b.append_pax_extensions([("path", path.as_bytes())]).unwrap();
            }
            let mut h = tar::Header::new_ustar();
            h.set_path(path).unwrap();
            h.set_entry_type(kind);
            h.set_size(data.len() as u64);
            h.set_cksum();
            b.append(&h, data).unwrap();
        };
        add("dev", tar::EntryType::Directory, b"", false);
        add("dev/null", tar::EntryType::Char, b"", true);
        add("dev/sda", tar::EntryType::Block, b"", false);
        add("etc/motd", tar::EntryType::Regular, b"hello", true);
        b.finish().unwrap();
        drop(b);
        strip_device_nodes(&input, &output).unwrap();
        let mut a = tar::Archive::new(File::open(&output).unwrap());
        let names: Vec<String> =
            a.entries().unwrap().map(|e| e.unwrap().path().unwrap().display().to_string()).collect();
        assert_eq!(names, ["dev", "etc/motd"]);
    }

    #[test]
    fn busybox_rootfs_is_reproducible() {
        if find_busybox().is_err() {
            assert_ne!(std::env::var("CI").as_deref(), Ok("true"), "CI needs busybox-static");
            eprintln!("skipped: no busybox-static on this host");
            return;
        }
        let r = parse("name = \"b\"\nkind = \"busybox\"\nsource-date-epoch = 1234\n").unwrap();
        let dir = tempfile::tempdir().unwrap();
        let (one, two) = (dir.path().join("1.tar"), dir.path().join("2.tar"));
        r.build_rootfs_with_cache(None, &one).unwrap();
        r.build_rootfs_with_cache(None, &two).unwrap();
        assert_eq!(fs::read(&one).unwrap(), fs::read(&two).unwrap());
        let mut a = tar::Archive::new(File::open(&one).unwrap());
        let mut seen = BTreeMap::new();
        for e in a.entries().unwrap() {
            let e = e.unwrap();
            let h = e.header();
            assert_eq!((h.mtime().unwrap(), h.uid().unwrap(), h.gid().unwrap()), (1234, 0, 0));
            let link = h.link_name().unwrap().map(|l| l.display().to_string());
            seen.insert(String::from_utf8_lossy(&e.path_bytes()).into_owned(), (h.mode().unwrap(), link));
        }
        assert_eq!(seen["./tmp/"].0, 0o1777);
        assert_eq!(seen["./bin/sh"].1.as_deref(), Some("busybox"));
        assert_eq!(seen["./bin/busybox"].0, 0o755);
        assert!(seen.contains_key("./etc/passwd") && seen.contains_key("./etc/group"));
        // The cache hands back the same bytes.
        let cache = dir.path().join("cache");
        r.build_rootfs_with_cache(Some(&cache), &two).unwrap();
        r.build_rootfs_with_cache(Some(&cache), &two).unwrap();
        assert_eq!(fs::read(&one).unwrap(), fs::read(&two).unwrap());
        assert!(cache.join(format!("{}.tar", r.cache_key().unwrap())).is_file());
    }
}
