//! [`fetch`] end to end, one source kind at a time: archives built in the
//! test, served from the project or a real HTTP server on a loopback port,
//! git repositories made with the git command.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use strata_frontend_api::{Source, SourceKind};

use super::testutil::{
    HttpServer, TarEntry, bzip2, commit, git, git_repo, gzip, have_tool, listing, lzma, tar_bytes, xz, zstd,
};
use super::*;
use crate::store::Store;

/// A project dir, a store and a destination, all in one temp dir.
struct Env {
    _dir: tempfile::TempDir,
    project: PathBuf,
    store: Store,
    dest: PathBuf,
    cancel: Cancel,
}

impl Env {
    fn new() -> Env {
        let dir = tempfile::tempdir().unwrap();
        let project = dir.path().join("project");
        fs::create_dir(&project).unwrap();
        let store = Store::open(dir.path().join("store")).unwrap();
        let dest = dir.path().join("work/parts/p/src");
        Env { project, store, dest, cancel: Cancel::new(), _dir: dir }
    }

    fn write(&self, name: &str, bytes: &[u8]) {
        let p = self.project.join(name);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, bytes).unwrap();
    }

    fn fetch(&self, source: &Source) -> Result<(Fetched, Vec<String>), SourceError> {
        let downloads = Downloads::in_store(&self.store);
        let req = FetchRequest {
            part: "p",
            source,
            project_dir: &self.project,
            dest: &self.dest,
            downloads: &downloads,
            cancel: &self.cancel,
        };
        let mut lines = Vec::new();
        let fetched = fetch(&req, &mut |l| lines.push(l))?;
        Ok((fetched, lines))
    }

    fn downloads(&self) -> PathBuf {
        self.store.root().join("strata/downloads")
    }
}

fn source(kind: SourceKind, location: &str) -> Source {
    Source {
        kind,
        location: location.into(),
        checksum: None,
        branch: None,
        tag: None,
        commit: None,
        depth: 0,
        submodules: None,
        subdir: None,
    }
}

fn with_checksum(mut s: Source, c: &str) -> Source {
    s.checksum = Some(c.into());
    s
}

fn sha256_hex(bytes: &[u8]) -> String {
    crate::digest::sha256(bytes).digest().to_string()
}

/// A release tarball: one top-level directory, as `git archive --prefix` makes.
fn release_tar() -> Vec<u8> {
    tar_bytes(&[
        TarEntry::dir("hello-1.0/"),
        TarEntry::file("hello-1.0/Makefile", "all:\n"),
        TarEntry::dir("hello-1.0/src/"),
        TarEntry::file("hello-1.0/src/hello.c", "int main(){}\n"),
        TarEntry::file("hello-1.0/configure", "#!/bin/sh\n").mode(0o555),
        TarEntry::symlink("hello-1.0/src/main.c", "hello.c"),
    ])
}

#[test]
fn a_local_source_is_the_project_directory_itself() {
    let env = Env::new();
    env.write("web/index.html", b"hi");
    let (f, _) = env.fetch(&source(SourceKind::Local, "web")).unwrap();
    assert_eq!(f, Fetched { dir: env.project.join("web"), identity: None });
    let err = env.fetch(&source(SourceKind::Local, "missing")).unwrap_err();
    assert!(
        err.to_string().starts_with("part 'p': source '") && err.to_string().ends_with("missing' is not a directory")
    );
}

#[test]
fn tarballs_in_every_compression_are_extracted_without_their_top_directory() {
    let tar = release_tar();
    for (name, bytes) in [
        ("hello.tar", tar.clone()),
        ("hello.tar.gz", gzip(&tar)),
        ("hello.tar.bz2", bzip2(&tar)),
        ("hello.tar.xz", xz(&tar)),
        ("hello.tar.zst", zstd(&tar)),
    ] {
        let env = Env::new();
        env.write(&format!("dl/{name}"), &bytes);
        let (f, _) = env.fetch(&source(SourceKind::Tar, &format!("dl/{name}"))).unwrap();
        assert_eq!(f.dir, env.dest);
        assert_eq!(f.identity, Some(format!("sha256:{}", sha256_hex(&bytes))), "{name}");
        assert_eq!(listing(&f.dir), ["Makefile", "configure", "src/", "src/hello.c", "src/main.c"], "{name}");
        assert_eq!(fs::read_link(f.dir.join("src/main.c")).unwrap(), Path::new("hello.c"));
        // craft-parts makes everything writable by its owner.
        let mode = fs::metadata(f.dir.join("configure")).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o755, "{name}");
        assert_eq!(fs::metadata(&f.dir).unwrap().permissions().mode() & 0o777, 0o755);
        // The project holds only what the test put there.
        assert_eq!(listing(&env.project), ["dl/", format!("dl/{name}").as_str()]);
    }
}

#[test]
fn a_checksum_is_verified_before_anything_is_extracted() {
    let env = Env::new();
    let bytes = gzip(&release_tar());
    env.write("hello.tar.gz", &bytes);
    let good = format!("sha256/{}", sha256_hex(&bytes));
    let (f, _) = env.fetch(&with_checksum(source(SourceKind::Tar, "hello.tar.gz"), &good)).unwrap();
    assert!(f.dir.join("Makefile").is_file());

    fs::remove_dir_all(&env.dest).unwrap();
    let wrong = format!("sha256/{}", "0".repeat(64));
    let err = env.fetch(&with_checksum(source(SourceKind::Tar, "hello.tar.gz"), &wrong)).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "part 'p': checksum mismatch for hello.tar.gz: expected sha256/{}, got sha256/{}; \
             make sure source-checksum matches the source",
            "0".repeat(64),
            sha256_hex(&bytes)
        )
    );
    assert!(!env.dest.exists(), "nothing was extracted");
}

#[test]
fn entries_leaving_the_source_directory_are_refused_naming_archive_and_entry() {
    let cases: Vec<(&str, Vec<TarEntry>, &str)> = vec![
        (
            "dotdot",
            vec![TarEntry::file("ok", "x"), TarEntry::file("../evil", "x")],
            "entry \"../evil\" has a '..' component",
        ),
        ("absolute", vec![TarEntry::file("/etc/evil", "x")], "entry \"/etc/evil\" has an absolute path"),
        (
            "hardlink",
            vec![TarEntry::file("a", "x"), TarEntry::hard_link("h", "../../etc/passwd")],
            "entry \"../../etc/passwd\" has a '..' component",
        ),
        (
            "whiteout",
            vec![TarEntry::file("d/.wh.x", "")],
            "entry \"d/.wh.x\" has a name starting with '.wh.', which layers reserve for whiteouts",
        ),
    ];
    for (name, entries, expected) in cases {
        let env = Env::new();
        env.write("a.tar", &tar_bytes(&entries));
        let err = env.fetch(&source(SourceKind::Tar, "a.tar")).unwrap_err().to_string();
        let archive = env.project.join("a.tar");
        assert_eq!(err, format!("{}: {expected}; refusing to extract it", archive.display()), "{name}");
        assert!(!env.dest.exists() || listing(&env.dest).is_empty(), "{name}: nothing written");
    }
}

#[test]
fn a_write_through_a_symlink_out_of_the_tree_is_refused() {
    let env = Env::new();
    let outside = env.project.parent().unwrap().join("outside");
    fs::create_dir(&outside).unwrap();
    let entries = [TarEntry::symlink("link", outside.to_str().unwrap()), TarEntry::file("link/planted", "gotcha")];
    env.write("a.tar", &tar_bytes(&entries));
    let err = env.fetch(&source(SourceKind::Tar, "a.tar")).unwrap_err();
    let text = err.to_string();
    assert!(
        text.starts_with(&format!(
            "cannot extract {}: layer entry \"link/planted\"",
            env.project.join("a.tar").display()
        )),
        "{text}"
    );
    assert!(text.contains("which leads outside"), "{text}");
    assert!(listing(&outside).is_empty(), "nothing written outside");
}

#[test]
fn a_zip_is_extracted_as_it_is() {
    use std::io::Write;
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let o = zip::write::SimpleFileOptions::default();
    w.start_file("pkg/setup.py", o).unwrap();
    w.write_all(b"print()").unwrap();
    let bytes = w.finish().unwrap().into_inner();
    let env = Env::new();
    env.write("pkg.zip", &bytes);
    let (f, _) = env.fetch(&source(SourceKind::Zip, "pkg.zip")).unwrap();
    assert_eq!(listing(&f.dir), ["pkg/", "pkg/setup.py"], "zips keep their top directory");
    assert_eq!(f.identity, Some(format!("sha256:{}", sha256_hex(&bytes))));
}

/// An ar archive (a .deb) of `members`, made by hand.
fn ar(members: &[(&str, &[u8])]) -> Vec<u8> {
    let mut out = b"!<arch>\n".to_vec();
    for (name, data) in members {
        let header = format!("{:<16}{:<12}{:<6}{:<6}{:<8}{:<10}`\n", name, 0, 0, 0, 100644, data.len());
        out.extend_from_slice(header.as_bytes());
        out.extend_from_slice(data);
        if data.len() % 2 == 1 {
            out.push(b'\n');
        }
    }
    out
}

#[test]
fn a_deb_made_by_hand_gives_its_data_tree() {
    let data = tar_bytes(&[
        TarEntry::dir("./"),
        TarEntry::dir("./usr/"),
        TarEntry::dir("./usr/bin/"),
        TarEntry::file("./usr/bin/tool", "#!/bin/sh\n").mode(0o755),
    ]);
    let control = gzip(&tar_bytes(&[TarEntry::file("./control", "Package: tool\n")]));
    let env = Env::new();
    for (member, bytes) in [
        ("data.tar", data.clone()),
        ("data.tar.gz", gzip(&data)),
        ("data.tar.xz", xz(&data)),
        ("data.tar.zst", zstd(&data)),
        ("data.tar.bz2", bzip2(&data)),
        ("data.tar.lzma", lzma(&data)),
    ] {
        let deb = ar(&[("debian-binary", b"2.0\n"), ("control.tar.gz", &control), (member, &bytes)]);
        env.write("tool.deb", &deb);
        let (f, _) = env.fetch(&source(SourceKind::Deb, "tool.deb")).unwrap();
        assert_eq!(listing(&f.dir), ["usr/", "usr/bin/", "usr/bin/tool"], "{member}");
        assert_eq!(fs::metadata(f.dir.join("usr/bin/tool")).unwrap().permissions().mode() & 0o777, 0o755);
    }

    env.write("not.deb", &ar(&[("data.tar", b"")]));
    let err = env.fetch(&source(SourceKind::Deb, "not.deb")).unwrap_err().to_string();
    assert!(err.ends_with("as a deb archive: the first member is not debian-binary"), "{err}");
}

#[test]
fn a_deb_built_by_dpkg_deb_gives_its_data_tree() {
    if !have_tool("dpkg-deb") {
        return;
    }
    let env = Env::new();
    let root = env.project.parent().unwrap().join("pkgroot");
    fs::create_dir_all(root.join("DEBIAN")).unwrap();
    fs::create_dir_all(root.join("opt/tool")).unwrap();
    fs::write(
        root.join("DEBIAN/control"),
        "Package: tool\nVersion: 1.0\nArchitecture: all\nMaintainer: t <t@example.com>\nDescription: a tool\n",
    )
    .unwrap();
    fs::write(root.join("opt/tool/README"), "docs").unwrap();
    let deb = env.project.join("tool_1.0_all.deb");
    let out = std::process::Command::new("dpkg-deb")
        .args(["--root-owner-group", "--build"])
        .arg(&root)
        .arg(&deb)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let (f, _) = env.fetch(&source(SourceKind::Deb, "tool_1.0_all.deb")).unwrap();
    assert_eq!(listing(&f.dir), ["opt/", "opt/tool/", "opt/tool/README"]);
}

#[test]
fn a_file_source_is_copied_under_its_base_name() {
    let env = Env::new();
    env.write("bin/run.sh", b"#!/bin/sh\n");
    fs::set_permissions(env.project.join("bin/run.sh"), fs::Permissions::from_mode(0o750)).unwrap();
    let (f, _) = env.fetch(&source(SourceKind::File, "bin/run.sh")).unwrap();
    assert_eq!(listing(&f.dir), ["run.sh"]);
    assert_eq!(fs::metadata(f.dir.join("run.sh")).unwrap().permissions().mode() & 0o777, 0o750);

    let server = HttpServer::start();
    let url = server.serve("/dl/tool.bin", b"binary".to_vec());
    let (f, _) = env.fetch(&source(SourceKind::File, &url)).unwrap();
    assert_eq!(listing(&f.dir), ["tool.bin"]);
    assert_eq!(fs::metadata(f.dir.join("tool.bin")).unwrap().permissions().mode() & 0o777, 0o644);
    assert_eq!(f.identity, Some(format!("sha256:{}", sha256_hex(b"binary"))));
}

#[test]
fn a_download_with_a_checksum_is_cached_and_not_downloaded_again() {
    let env = Env::new();
    let server = HttpServer::start();
    let bytes = gzip(&release_tar());
    let url = server.serve("/hello-1.0.tar.gz", bytes.clone());
    let s = with_checksum(source(SourceKind::Tar, &url), &format!("sha1/{}", sha1_hex(&bytes)));

    let (first, lines) = env.fetch(&s).unwrap();
    assert_eq!(server.requests(), 1);
    assert!(lines[0].starts_with(&format!("{url} downloaded (")), "{lines:?}");
    let blob = env.downloads().join("sha256").join(sha256_hex(&bytes));
    assert_eq!(fs::read(&blob).unwrap(), bytes);
    assert_eq!(fs::metadata(&blob).unwrap().permissions().mode() & 0o777, 0o444);

    let (second, lines) = env.fetch(&s).unwrap();
    assert_eq!(server.requests(), 1, "the second build does no network I/O");
    assert!(lines[0].starts_with(&format!("{url} from the download cache")), "{lines:?}");
    assert_eq!(second, first);
    assert_eq!(listing(&second.dir), ["Makefile", "configure", "src/", "src/hello.c", "src/main.c"]);

    // Without a checksum nothing pins the content: every build downloads.
    let unpinned = source(SourceKind::Tar, &url);
    env.fetch(&unpinned).unwrap();
    env.fetch(&unpinned).unwrap();
    assert_eq!(server.requests(), 3);
}

#[test]
fn the_index_lists_what_each_pinned_download_names_and_a_hit_marks_it_used() {
    let env = Env::new();
    let server = HttpServer::start();
    let bytes = gzip(&release_tar());
    let url = server.serve("/b.tar.gz", bytes.clone());
    let s = with_checksum(source(SourceKind::Tar, &url), &format!("sha256/{}", sha256_hex(&bytes)));
    env.fetch(&s).unwrap();
    env.fetch(&source(SourceKind::Tar, &server.serve("/unpinned.tar.gz", gzip(&release_tar())))).unwrap();
    let d = Downloads::in_store(&env.store);
    let entries = d.entries();
    assert_eq!(entries.len(), 1, "only a pinned download is indexed");
    assert_eq!(entries[0].sha256.as_ref().map(|d| d.digest().to_owned()), Some(sha256_hex(&bytes)));
    assert_eq!(d.files().len(), 1, "the same tarball twice is one file");
    assert!(d.has_file(entries[0].sha256.as_ref().unwrap()));

    let long_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(86_400);
    fs::File::options().write(true).open(&entries[0].index).unwrap().set_modified(long_ago).unwrap();
    env.fetch(&s).unwrap();
    assert_eq!(server.requests(), 2, "a hit");
    assert!(d.entries()[0].used > long_ago + std::time::Duration::from_secs(3600), "the hit is its last use");
}

#[test]
fn an_added_file_serves_any_url_with_its_sha256_without_the_network() {
    let env = Env::new();
    let bytes = gzip(&release_tar());
    let file = env.project.join("hello_2.12.orig.tar.gz");
    fs::write(&file, &bytes).unwrap();
    let d = Downloads::in_store(&env.store);
    let sha = d.add(&file).unwrap();
    assert_eq!(sha.digest(), sha256_hex(&bytes));
    // By name, for frontends that look sources up by name.
    let link = d.names_dir().join("hello_2.12.orig.tar.gz");
    assert_eq!(fs::read(&link).unwrap(), bytes);
    // Nothing listens on port 1: a download would fail.
    let s = with_checksum(
        source(SourceKind::Tar, "http://127.0.0.1:1/hello-2.12.tar.gz"),
        &format!("sha256/{}", sha.digest()),
    );
    let (fetched, lines) = env.fetch(&s).unwrap();
    assert!(lines[0].contains("from the download cache"), "{lines:?}");
    assert_eq!(listing(&fetched.dir), ["Makefile", "configure", "src/", "src/hello.c", "src/main.c"]);
    // Another checksum is no hit.
    let other =
        with_checksum(source(SourceKind::Tar, "http://127.0.0.1:1/x.tar.gz"), &format!("sha256/{}", "0".repeat(64)));
    assert!(env.fetch(&other).is_err());
    // Adding it twice keeps one file; the index entry keeps it from gc.
    d.add(&file).unwrap();
    assert_eq!(d.files().len(), 1);
    assert!(d.entries().iter().all(|e| e.sha256.as_ref() == Some(&sha)), "{:?}", d.entries());
}

#[test]
fn a_damaged_cache_entry_is_downloaded_again() {
    let env = Env::new();
    let server = HttpServer::start();
    let bytes = gzip(&release_tar());
    let url = server.serve("/a.tar.gz", bytes.clone());
    let s = with_checksum(source(SourceKind::Tar, &url), &format!("sha256/{}", sha256_hex(&bytes)));
    env.fetch(&s).unwrap();
    let blob = env.downloads().join("sha256").join(sha256_hex(&bytes));
    fs::set_permissions(&blob, fs::Permissions::from_mode(0o644)).unwrap();
    fs::write(&blob, b"bit rot").unwrap();
    env.fetch(&s).unwrap();
    assert_eq!(server.requests(), 2);
    assert_eq!(fs::read(&blob).unwrap(), bytes);
}

#[test]
fn a_download_with_the_wrong_checksum_keeps_nothing() {
    let env = Env::new();
    let server = HttpServer::start();
    let url = server.serve("/a.tar.gz", gzip(&release_tar()));
    let s = with_checksum(source(SourceKind::Tar, &url), &format!("md5/{}", "f".repeat(32)));
    let err = env.fetch(&s).unwrap_err().to_string();
    assert!(err.starts_with(&format!("part 'p': checksum mismatch for {url}: expected md5/ffff")), "{err}");
    assert!(!env.dest.exists());
    assert!(!env.downloads().exists() || listing(&env.downloads()).is_empty(), "{:?}", listing(&env.downloads()));
    assert!(listing(&env.store.root().join("strata/tmp")).is_empty(), "no temp file left");
}

#[test]
fn http_errors_and_other_schemes_are_reported() {
    let env = Env::new();
    let server = HttpServer::start();
    let err = env.fetch(&source(SourceKind::Tar, &server.url("/missing.tar.gz"))).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("part 'p': downloading {} failed: HTTP 404; check the URL", server.url("/missing.tar.gz"))
    );
    let err = env.fetch(&source(SourceKind::Tar, "ftp://example.com/a.tar.gz")).unwrap_err();
    assert!(err.to_string().contains("only http and https URLs are supported"), "{err}");
    let err = env.fetch(&source(SourceKind::Tar, "nowhere.tar.gz")).unwrap_err();
    assert!(err.to_string().contains("nowhere.tar.gz' not found"), "{err}");
}

#[test]
fn source_subdir_must_be_a_directory_of_the_fetched_tree() {
    let env = Env::new();
    env.write("hello.tar", &release_tar());
    let mut s = source(SourceKind::Tar, "hello.tar");
    let (f, _) = env.fetch(&s).unwrap();
    s.subdir = Some("src".into());
    check_subdir("p", &s, &f.dir).unwrap();
    s.subdir = Some("hello-1.0/src".into());
    assert_eq!(
        check_subdir("p", &s, &f.dir).unwrap_err().to_string(),
        "part 'p': source-subdir 'hello-1.0/src' is not a directory in the source hello.tar; check it against \
         the source's layout (a tarball with a single top-level directory has it stripped)"
    );
    s.subdir = Some("Makefile".into());
    assert!(check_subdir("p", &s, &f.dir).is_err(), "a file is not a directory");
}

fn sha1_hex(bytes: &[u8]) -> String {
    let c = Checksum::parse(&format!("sha1/{}", "0".repeat(40))).unwrap();
    checksum::hash_reader(&mut &bytes[..], Some(&c)).unwrap().declared.unwrap()
}

// git

/// A repository with history: `main` (two commits, tag v1 on the first),
/// branch `dev` with one more commit.
struct Repo {
    dir: PathBuf,
    first: String,
    second: String,
    dev: String,
}

fn repo(env: &Env) -> Repo {
    let dir = env.project.join("upstream");
    let first = git_repo(&dir, &[("README", "one\n")]);
    git(&dir, &["tag", "-a", "v1", "-m", "v1"]);
    let second = commit(&dir, &[("README", "two\n")], "second");
    git(&dir, &["checkout", "-q", "-b", "dev"]);
    let dev = commit(&dir, &[("DEV", "dev\n")], "dev");
    git(&dir, &["checkout", "-q", "main"]);
    Repo { dir, first, second, dev }
}

fn git_source(location: &str) -> Source {
    source(SourceKind::Git, location)
}

fn readme(f: &Fetched) -> String {
    fs::read_to_string(f.dir.join("README")).unwrap()
}

#[test]
fn a_git_clone_checks_out_the_default_branch_and_reports_its_commit() {
    if !have_tool("git") {
        return;
    }
    let env = Env::new();
    let r = repo(&env);
    let (f, lines) = env.fetch(&git_source("upstream")).unwrap();
    assert_eq!(f.identity.as_deref(), Some(r.second.as_str()));
    assert_eq!(readme(&f), "two\n");
    assert!(f.dir.join(".git").is_dir(), "the clone keeps .git, as craft-parts'");
    let canonical = fs::canonicalize(&r.dir).unwrap();
    assert_eq!(lines, [format!("git clone file://{}", canonical.display()), format!("commit {}", r.second)]);
}

#[test]
fn a_git_branch_tag_or_commit_is_checked_out() {
    if !have_tool("git") {
        return;
    }
    let env = Env::new();
    let r = repo(&env);
    let url = format!("file://{}", r.dir.display());
    let mut s = git_source(&url);
    s.branch = Some("dev".into());
    let (f, _) = env.fetch(&s).unwrap();
    assert_eq!(f.identity.as_deref(), Some(r.dev.as_str()));
    assert!(f.dir.join("DEV").is_file());

    let mut s = git_source(&url);
    s.tag = Some("v1".into());
    let (f, _) = env.fetch(&s).unwrap();
    assert_eq!((f.identity.as_deref(), readme(&f).as_str()), (Some(r.first.as_str()), "one\n"));

    for commit in [r.first.clone(), r.first[..8].to_string()] {
        let mut s = git_source(&url);
        s.commit = Some(commit.clone());
        let (f, _) = env.fetch(&s).unwrap();
        assert_eq!(f.identity.as_deref(), Some(r.first.as_str()), "{commit}");
        assert_eq!(readme(&f), "one\n");
    }

    let mut s = git_source(&url);
    s.commit = Some("deadbeef".into());
    let err = env.fetch(&s).unwrap_err();
    assert_eq!(
        err.to_string(),
        "part 'p': cannot resolve source-commit 'deadbeef'; make sure source-commit is right, or give the full \
         40-character commit"
    );
}

#[test]
fn a_shallow_git_clone_has_only_the_asked_history() {
    if !have_tool("git") {
        return;
    }
    let env = Env::new();
    let r = repo(&env);
    let url = format!("file://{}", r.dir.display());
    let mut s = git_source(&url);
    s.depth = 1;
    let (f, _) = env.fetch(&s).unwrap();
    assert_eq!(git(&f.dir, &["rev-list", "--count", "HEAD"]), "1");
    assert_eq!(f.identity.as_deref(), Some(r.second.as_str()));

    // depth with a full commit: fetched at that commit only.
    s.commit = Some(r.first.clone());
    let (f, _) = env.fetch(&s).unwrap();
    assert_eq!(f.identity.as_deref(), Some(r.first.as_str()));
    assert_eq!(git(&f.dir, &["rev-list", "--count", "HEAD"]), "1");
}

#[test]
fn git_submodules_are_fetched_unless_left_out() {
    if !have_tool("git") {
        return;
    }
    let env = Env::new();
    let lib = env.project.join("lib");
    git_repo(&lib, &[("lib.c", "int lib;\n")]);
    let other = env.project.join("other");
    git_repo(&other, &[("other.c", "int other;\n")]);
    let app = env.project.join("app");
    git_repo(&app, &[("main.c", "int main;\n")]);
    git(&app, &["submodule", "add", "-q", &format!("file://{}", lib.display()), "vendor/lib"]);
    git(&app, &["submodule", "add", "-q", &format!("file://{}", other.display()), "vendor/other"]);
    git(&app, &["commit", "-q", "-m", "submodules"]);

    let (f, _) = env.fetch(&git_source("app")).unwrap();
    assert!(f.dir.join("vendor/lib/lib.c").is_file() && f.dir.join("vendor/other/other.c").is_file());

    let mut s = git_source("app");
    s.submodules = Some(vec![]);
    let (f, _) = env.fetch(&s).unwrap();
    assert!(!f.dir.join("vendor/lib/lib.c").exists() && !f.dir.join("vendor/other/other.c").exists());

    s.submodules = Some(vec!["vendor/lib".into()]);
    let (f, _) = env.fetch(&s).unwrap();
    assert!(f.dir.join("vendor/lib/lib.c").is_file() && !f.dir.join("vendor/other/other.c").exists());

    // With a commit the submodules are updated after the checkout.
    let head = git(&app, &["rev-parse", "HEAD"]);
    s.commit = Some(head);
    let (f, _) = env.fetch(&s).unwrap();
    assert!(f.dir.join("vendor/lib/lib.c").is_file() && !f.dir.join("vendor/other/other.c").exists());
}

#[test]
fn a_failing_git_command_shows_its_error() {
    if !have_tool("git") {
        return;
    }
    let env = Env::new();
    let r = repo(&env);
    let mut s = git_source(&format!("file://{}", r.dir.display()));
    s.branch = Some("no-such-branch".into());
    let err = env.fetch(&s).unwrap_err().to_string();
    assert!(
        err.starts_with("part 'p': `git -c advice.detachedHead=false clone --recursive --branch no-such-branch"),
        "{err}"
    );
    assert!(err.contains("no-such-branch not found"), "{err}");
}

#[test]
fn a_cancelled_build_stops_a_stalled_download() {
    let env = Env::new();
    // Accepts the connection and never answers.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/slow.tar.gz", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        let _connection = listener.accept();
        std::thread::sleep(std::time::Duration::from_secs(30));
    });
    let cancel = env.cancel.clone();
    std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(300));
        cancel.cancel();
    });
    let started = std::time::Instant::now();
    let err = env.fetch(&source(SourceKind::Tar, &url)).unwrap_err();
    assert_eq!(err.to_string(), format!("part 'p': fetching {url} was cancelled"));
    assert!(started.elapsed() < std::time::Duration::from_secs(5), "{:?}", started.elapsed());
}
