//! Origins → strata sources: `mirror://KIND/…` expanded through a mirror
//! table (built in, extended by `-X mirror=KIND=URL`), the sha256 turned
//! from nix-base32 into the hex strata verifies, and the source cache
//! (`-X source-cache=DIR`): a file there whose sha256 is the origin's is
//! used instead of downloading; a file of the origin's name with another
//! hash is an error naming both hashes (nothing is kept).

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use strata_frontend_api::{Source, SourceKind};

use crate::base32;
use crate::datum::Pos;
use crate::eval::EvalError;
use crate::eval::record::Origin;

/// The first (authoritative) base URL of each mirror kind (reference §5.2).
const MIRRORS: &[(&str, &str)] = &[
    ("gnu", "https://ftpmirror.gnu.org/gnu/"),
    ("gcc", "https://ftpmirror.gnu.org/gnu/gcc/"),
    ("savannah", "https://download.savannah.gnu.org/releases/"),
    ("sourceforge", "http://downloads.sourceforge.net/project/"),
    ("gnome", "https://download.gnome.org/"),
    ("kernel.org", "https://cdn.kernel.org/pub/"),
    ("xorg", "http://www.x.org/releases/"),
    ("gnupg", "https://gnupg.org/ftp/gcrypt/"),
    ("apache", "https://dlcdn.apache.org/"),
    ("cpan", "http://www.cpan.org/"),
    ("cran", "http://cran.r-project.org/"),
    ("ctan", "https://mirror.ctan.org/"),
    ("debian", "http://deb.debian.org/debian/"),
    ("kde", "https://download.kde.org/"),
    ("openbsd", "https://ftp.openbsd.org/pub/OpenBSD/"),
    ("mate", "https://pub.mate-desktop.org/releases/"),
    ("netfilter.org", "http://ftp.netfilter.org/pub/"),
    ("hackage", "http://hackage.haskell.org/"),
    ("imagemagick", "https://imagemagick.org/archive/"),
];

/// Where a fetched source is seen in a phase's root filesystem.
pub const SOURCE_DIR: &str = "strata/source";

/// An origin, ready to fetch.
#[derive(Debug, Clone, PartialEq)]
pub struct Resolved {
    pub source: Source,
    /// Its path in the build container (the phase file's `source`).
    pub path: String,
    /// Where the fetch puts it in its layer.
    pub prefix: String,
    /// For a recursive origin: the NAR sha256 (nix-base32) the fetched
    /// tree must have, checked by [`crate::hostops::VERIFY_NAR`].
    pub nar: Option<String>,
    /// The tree is the fetched tree's one top directory (a tarball's).
    pub strip_top: bool,
}

/// `url` with a `mirror://KIND/` prefix replaced (`user`: `KIND=URL` entries).
pub fn expand_mirror(url: &str, user: &[&str], pos: Pos) -> Result<String, EvalError> {
    let Some(rest) = url.strip_prefix("mirror://") else { return Ok(url.to_string()) };
    let (kind, path) = rest.split_once('/').unwrap_or((rest, ""));
    let base = user
        .iter()
        .rev()
        .find_map(|u| u.split_once('=').filter(|(k, _)| *k == kind).map(|(_, v)| v.to_string()))
        .or_else(|| MIRRORS.iter().find(|(k, _)| *k == kind).map(|(_, v)| v.to_string()))
        .ok_or_else(|| {
            EvalError::new(pos, format!("no mirror for 'mirror://{kind}/'"))
                .hint(format!("give one with -X mirror={kind}=URL"))
        })?;
    let sep = if base.ends_with('/') { "" } else { "/" };
    Ok(format!("{base}{sep}{path}"))
}

/// The sha256 of a file, as bytes.
pub fn sha256_file(path: &Path) -> std::io::Result<[u8; 32]> {
    let mut f = fs::File::open(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            return Ok(h.finalize().into());
        }
        h.update(&buf[..n]);
    }
}

/// The file name an origin is fetched as: its `file-name`, else the last
/// part of its first URL.
fn file_name(o: &Origin) -> Option<String> {
    o.file_name.clone().or_else(|| o.uris.first().and_then(|u| u.rsplit('/').next()).map(str::to_string))
}

/// Looks in the cache dirs for a file with the sha256 `want`. A file of
/// the origin's name with another hash is an error.
fn from_cache(o: &Origin, want: &[u8], caches: &[PathBuf], pos: Pos) -> Result<Option<PathBuf>, EvalError> {
    let name = file_name(o);
    let mut mismatch = None;
    for dir in caches {
        let Ok(entries) = fs::read_dir(dir) else { continue };
        let mut files: Vec<PathBuf> = entries.flatten().map(|e| e.path()).filter(|p| p.is_file()).collect();
        files.sort();
        for f in files {
            let Ok(h) = sha256_file(&f) else { continue };
            if h.as_slice() == want {
                return Ok(Some(f));
            }
            if name.as_deref().is_some_and(|n| f.file_name().is_some_and(|x| x == n)) {
                mismatch = Some((f, h));
            }
        }
    }
    if let Some((f, h)) = mismatch {
        return Err(EvalError::new(
            pos,
            format!(
                "sha256 mismatch for {}: expected {}, found {} (sha256 {})",
                f.display(),
                base32::encode(want),
                base32::encode(&h),
                base32::hex(&h)
            ),
        )
        .hint("the cached file is not the origin's; remove it, or fix the origin's (base32 …) hash"));
    }
    Ok(None)
}

/// How `o` is fetched: from the cache when it has the file, else from its
/// first URL (mirrors expanded); verified against its sha256 either way.
/// `name_version` names the package (`lz4-1.10.0`), for finding a
/// recursive origin's tarball in the cache.
pub fn resolve(
    o: &Origin,
    mirrors: &[&str],
    caches: &[PathBuf],
    added: Option<&Path>,
    name_version: (&str, &str),
) -> Result<Resolved, EvalError> {
    let (hash, hash_pos) = o
        .sha256
        .clone()
        .ok_or_else(|| EvalError::new(o.pos, "the origin has no sha256").hint("add (sha256 (base32 \"…\"))"))?;
    let want = base32::decode(&hash).map_err(|e| EvalError::new(hash_pos, format!("bad base32 hash: {e}")))?;
    if o.method == "git-fetch" {
        // A flat origin's file is found by content (the download cache
        // serves a `strata source add`ed file); a tree only by name.
        let mut dirs = caches.to_vec();
        dirs.extend(added.map(Path::to_path_buf));
        return git(o, &hash, &dirs, name_version);
    }
    if o.recursive() {
        return Err(EvalError::new(o.pos, format!("'{}' origins are not supported yet", o.method))
            .hint("use a url-fetch or git-fetch origin"));
    }
    if !o.method.starts_with("url-fetch") {
        return Err(
            EvalError::new(o.pos, format!("fetch method '{}' is not supported", o.method)).hint("supported: url-fetch")
        );
    }
    let checksum = Some(format!("sha256/{}", base32::hex(&want)));
    let location = match from_cache(o, &want, caches, hash_pos)? {
        Some(f) => f.display().to_string(),
        None => {
            let url = o.uris.first().ok_or_else(|| EvalError::new(o.pos, "the origin has no uri"))?;
            expand_mirror(url, mirrors, o.pos)?
        }
    };
    let name = location.rsplit('/').next().unwrap_or("source").to_string();
    let source = Source {
        kind: SourceKind::File,
        location,
        checksum,
        branch: None,
        tag: None,
        commit: None,
        depth: 0,
        submodules: None,
        subdir: None,
    };
    Ok(Resolved {
        source,
        path: format!("/{SOURCE_DIR}/{name}"),
        prefix: SOURCE_DIR.into(),
        nar: None,
        strip_top: false,
    })
}

/// A `git-fetch` origin: the commit (or tag) checked out by strata's git
/// fetcher, its NAR hash (without `.git`) checked after the fetch.
fn git(o: &Origin, hash: &str, caches: &[PathBuf], name_version: (&str, &str)) -> Result<Resolved, EvalError> {
    let g = o.git.as_ref().ok_or_else(|| EvalError::new(o.pos, "a git-fetch origin's uri is a (git-reference …)"))?;
    if g.recursive {
        return Err(EvalError::new(o.pos, "git-fetch with (recursive? #t) is not supported yet"));
    }
    let name = o.file_name.clone().unwrap_or_else(|| "checkout".into());
    if let Some((found, tarball)) = cached_tree(&name, caches, name_version) {
        let source = Source {
            kind: if tarball { SourceKind::Tar } else { SourceKind::Local },
            location: found.display().to_string(),
            checksum: None,
            branch: None,
            tag: None,
            commit: None,
            depth: 0,
            submodules: None,
            subdir: None,
        };
        return Ok(Resolved {
            source,
            path: format!("/{SOURCE_DIR}/{name}"),
            prefix: format!("{SOURCE_DIR}/{name}"),
            nar: Some(hash.to_string()),
            strip_top: tarball,
        });
    }
    let is_commit = g.commit.len() == 40 && g.commit.chars().all(|c| c.is_ascii_hexdigit());
    let source = Source {
        kind: SourceKind::Git,
        location: g.url.clone(),
        checksum: None,
        branch: None,
        tag: (!is_commit).then(|| g.commit.clone()),
        commit: is_commit.then(|| g.commit.clone()),
        depth: 0,
        submodules: Some(Vec::new()),
        subdir: None,
    };
    Ok(Resolved {
        source,
        path: format!("/{SOURCE_DIR}/{name}"),
        prefix: format!("{SOURCE_DIR}/{name}"),
        nar: Some(hash.to_string()),
        strip_top: false,
    })
}

/// A cached tree for a recursive origin: a directory named after the
/// origin's file name, or a tarball of the package (`NAME_VERSION.orig.tar.*`
/// as Debian names them, `NAME-VERSION.tar.*`, `FILE-NAME.tar.*`), whose
/// top directory is the tree. The NAR check decides whether it is the one.
fn cached_tree(file_name: &str, caches: &[PathBuf], (name, version): (&str, &str)) -> Option<(PathBuf, bool)> {
    let stems = [format!("{name}_{version}.orig.tar."), format!("{name}-{version}.tar."), format!("{file_name}.tar.")];
    for dir in caches {
        let d = dir.join(file_name);
        if d.is_dir() {
            return Some((d, false));
        }
        let Ok(entries) = fs::read_dir(dir) else { continue };
        let mut files: Vec<PathBuf> = entries.flatten().map(|e| e.path()).filter(|p| p.is_file()).collect();
        files.sort();
        if let Some(f) = files.into_iter().find(|f| {
            f.file_name().and_then(|n| n.to_str()).is_some_and(|n| stems.iter().any(|s| n.starts_with(s.as_str())))
        }) {
            return Some((f, true));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin(uri: &str, hash: &str) -> Origin {
        Origin {
            method: "url-fetch".into(),
            uris: vec![uri.into()],
            git: None,
            sha256: Some((hash.into(), Pos { line: 3, col: 7 })),
            file_name: None,
            patches: vec![],
            patches_pos: None,
            patch_flags: vec!["-p1".into()],
            snippet: None,
            pos: Pos { line: 1, col: 1 },
        }
    }

    #[test]
    fn a_git_origin_is_fetched_by_tag_or_commit_and_checked_by_nar_hash() {
        let mut o = origin("", "1w4wgnkvvirpgxy00jlpw7p1pcflnwy3rwk5zwh4pkk3igpcdi4s");
        o.method = "git-fetch".into();
        o.uris.clear();
        o.file_name = Some("lsix-1.9.1-checkout".into());
        o.git =
            Some(crate::eval::value::GitRef { url: "https://g/lsix".into(), commit: "1.9.1".into(), recursive: false });
        let r = resolve(&o, &[], &[], None, ("lsix", "1.9.1")).unwrap();
        assert_eq!(
            (r.source.kind, r.source.tag.as_deref(), r.source.commit.as_deref()),
            (SourceKind::Git, Some("1.9.1"), None)
        );
        assert_eq!(r.path, "/strata/source/lsix-1.9.1-checkout");
        assert_eq!(r.nar.as_deref(), Some("1w4wgnkvvirpgxy00jlpw7p1pcflnwy3rwk5zwh4pkk3igpcdi4s"));
        // Debian's orig tarball in the cache stands in for the checkout.
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("lsix_1.9.1.orig.tar.xz"), b"").unwrap();
        let r = resolve(&o, &[], &[dir.path().to_path_buf()], None, ("lsix", "1.9.1")).unwrap();
        assert_eq!(r.source.kind, SourceKind::Tar);
        assert!(r.strip_top && r.nar.is_some());
    }

    #[test]
    fn mirrors_expand_through_the_table_and_the_user_s_entries() {
        let p = Pos::default();
        assert_eq!(
            expand_mirror("mirror://gnu/hello/h.tar.gz", &[], p).unwrap(),
            "https://ftpmirror.gnu.org/gnu/hello/h.tar.gz"
        );
        assert_eq!(
            expand_mirror("mirror://gnu/hello/h.tar.gz", &["gnu=http://127.0.0.1:8080/g"], p).unwrap(),
            "http://127.0.0.1:8080/g/hello/h.tar.gz"
        );
        assert_eq!(expand_mirror("https://x/y", &[], p).unwrap(), "https://x/y");
        assert!(
            expand_mirror("mirror://nowhere/x", &[], p).unwrap_err().hint.unwrap().contains("-X mirror=nowhere=URL")
        );
    }

    #[test]
    fn a_cached_file_with_the_origin_s_hash_is_used_under_any_name() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("hello_2.orig.tar.gz"), b"bytes").unwrap();
        let h = base32::encode(&sha256_file(&dir.path().join("hello_2.orig.tar.gz")).unwrap());
        let r = resolve(
            &origin("mirror://gnu/hello/hello-2.tar.gz", &h),
            &[],
            &[dir.path().to_path_buf()],
            None,
            ("hello", "2"),
        )
        .unwrap();
        assert_eq!(r.source.location, dir.path().join("hello_2.orig.tar.gz").display().to_string());
        assert_eq!(r.path, "/strata/source/hello_2.orig.tar.gz");
        assert!(r.source.checksum.unwrap().starts_with("sha256/"));
        let r = resolve(&origin("mirror://gnu/hello/hello-2.tar.gz", &h), &[], &[], None, ("hello", "2")).unwrap();
        assert_eq!(r.source.location, "https://ftpmirror.gnu.org/gnu/hello/hello-2.tar.gz");
    }

    #[test]
    fn a_cached_file_of_the_origin_s_name_with_another_hash_names_both_hashes() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("hello-2.tar.gz"), b"other bytes").unwrap();
        let want = "183a6rxnhixiyykd7qis0y9g9cfqhpkk872a245y3zl28can0pqd";
        let e = resolve(
            &origin("mirror://gnu/hello/hello-2.tar.gz", want),
            &[],
            &[dir.path().to_path_buf()],
            None,
            ("hello", "2"),
        )
        .unwrap_err();
        assert_eq!((e.pos.line, e.pos.col), (3, 7));
        assert!(e.message.contains(&format!("expected {want}, found ")), "{}", e.message);
    }
}
