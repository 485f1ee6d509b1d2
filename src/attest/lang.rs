//! Language packages found in a layer's tree, besides Python's
//! ([`super::python`]):
//!
//! | ecosystem | read from |
//! |---|---|
//! | npm | `node_modules/NAME/package.json` (and `@scope/NAME`), and the same in Debian's global module directories (`usr/share/nodejs`, `usr/lib/nodejs`, `usr/lib/<triplet>/nodejs`): what is installed; a `package-lock.json` (lockfile v2/v3 `packages`, or npm's hidden `node_modules/.package-lock.json`) for the entries whose directory the tree lacks |
//! | Go | the build info the Go linker embeds in every binary (Go 1.18+): the `.go.buildinfo` ELF section, [`go_buildinfo`] |
//! | Cargo | the dependency list `cargo auditable` embeds: the `.dep-v0` ELF section, zlib-compressed JSON, [`cargo_auditable`] |
//!
//! ELF sections are found with the `object` crate, reading only the
//! headers and the section (a large binary is not read whole).

use std::io::Read as _;
use std::path::Path;

use object::{Object as _, ObjectSection as _};

/// Which package ecosystem.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub enum Ecosystem {
    Pypi,
    Npm,
    Go,
    Cargo,
}

impl Ecosystem {
    /// Its purl type.
    pub fn purl_type(self) -> &'static str {
        match self {
            Ecosystem::Pypi => "pypi",
            Ecosystem::Npm => "npm",
            Ecosystem::Go => "golang",
            Ecosystem::Cargo => "cargo",
        }
    }

    /// Its name in SPDX ids (`SPDXRef-Npm-…`).
    pub fn id(self) -> &'static str {
        match self {
            Ecosystem::Pypi => "PyPI",
            Ecosystem::Npm => "Npm",
            Ecosystem::Go => "Go",
            Ecosystem::Cargo => "Cargo",
        }
    }
}

/// One language package.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub struct Lang {
    pub ecosystem: Ecosystem,
    pub name: String,
    pub version: String,
    /// As declared (`MIT`, free text); `None` when the metadata has none.
    pub license: Option<String>,
    pub homepage: Option<String>,
    /// The file it was found in, relative to the root scanned.
    pub path: String,
    /// A checksum the metadata gives (Go's `h1:` module sum, npm's `integrity`).
    pub checksum: Option<String>,
}

impl Lang {
    /// Its package URL.
    pub fn purl(&self) -> String {
        let name = match self.ecosystem {
            Ecosystem::Pypi => self.name.to_lowercase().replace('_', "-"),
            // A scope's `@` is encoded; the `/` separates namespace and name.
            Ecosystem::Npm => self.name.replace('@', "%40"),
            Ecosystem::Go | Ecosystem::Cargo => self.name.clone(),
        };
        format!("pkg:{}/{name}@{}", self.ecosystem.purl_type(), escape(&self.version))
    }

    /// What makes it one package in an image: where and which.
    pub fn key(&self) -> String {
        format!("{}\0{}\0{}", self.path, self.name, self.version)
    }
}

/// `s` percent-encoded but for purl's unreserved characters.
fn escape(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// The largest JSON metadata file read (a lockfile of a big project).
const MAX_JSON: u64 = 32 << 20;
/// The largest embedded section read (Go build info, Cargo's list).
const MAX_SECTION: u64 = 8 << 20;

/// Every npm, Go and Cargo package under `root`.
pub fn scan(root: &Path) -> Vec<Lang> {
    let mut out = Vec::new();
    let mut locks = Vec::new();
    let walk = walkdir::WalkDir::new(root).follow_links(false).sort_by_file_name();
    for e in walk.into_iter().filter_map(Result::ok) {
        if !e.file_type().is_file() {
            continue;
        }
        let p = e.path();
        let Ok(rel) = p.strip_prefix(root) else { continue };
        let rel = rel.to_string_lossy().into_owned();
        let name = e.file_name().to_string_lossy();
        if name == "package.json" && installed_npm_dir(&rel) {
            out.extend(read_json(p).and_then(|j| npm_package(&j, &rel)));
        } else if name == "package-lock.json" || name == ".package-lock.json" {
            locks.push((p.to_path_buf(), rel));
        } else if e.metadata().is_ok_and(|m| m.len() >= 64) && is_elf(p) {
            out.extend(binary(p, &rel));
        }
    }
    // Lockfile entries stand for what the tree does not hold installed.
    for (p, rel) in locks {
        let Some(j) = read_json(&p) else { continue };
        for l in npm_lock(&j, &rel) {
            if !root.join(&l.path).exists() {
                out.push(l);
            }
        }
    }
    out
}

/// `DIR/NAME/package.json` or `DIR/@scope/NAME/package.json` where `DIR`
/// is a directory Node loads packages from: any `node_modules`, or one of
/// Debian's global module directories, where its `node-*` packages (and
/// `nodejs` itself: undici, acorn, …) install npm packages —
/// `usr/share/nodejs`, `usr/lib/nodejs`, `usr/lib/<triplet>/nodejs`.
fn installed_npm_dir(rel: &str) -> bool {
    let parts: Vec<&str> = rel.split('/').collect();
    let n = parts.len();
    let modules = |i: usize| {
        parts[i] == "node_modules"
            || matches!(parts[..=i], ["usr", "share" | "lib", "nodejs"] | ["usr", "lib", _, "nodejs"])
    };
    (n >= 3 && modules(n - 3) && !parts[n - 2].starts_with(['.', '@']))
        || (n >= 4 && modules(n - 4) && parts[n - 3].starts_with('@'))
}

fn read_json(p: &Path) -> Option<serde_json::Value> {
    let f = std::fs::File::open(p).ok()?;
    let mut text = Vec::new();
    f.take(MAX_JSON).read_to_end(&mut text).ok()?;
    serde_json::from_slice(&text).ok()
}

/// An installed package's `package.json`.
pub fn npm_package(j: &serde_json::Value, path: &str) -> Option<Lang> {
    let name = j["name"].as_str()?.to_string();
    let version = j["version"].as_str()?.to_string();
    let homepage = j["homepage"].as_str().map(str::to_string);
    Some(Lang {
        ecosystem: Ecosystem::Npm,
        name,
        version,
        license: npm_license(j),
        homepage,
        path: path.into(),
        checksum: None,
    })
}

/// `license` (`"MIT"`, or the old `{"type": "MIT"}`), else the old `licenses` list.
fn npm_license(j: &serde_json::Value) -> Option<String> {
    let one = |v: &serde_json::Value| v.as_str().or_else(|| v["type"].as_str()).map(str::to_string);
    one(&j["license"]).or_else(|| {
        let all: Vec<String> = j["licenses"].as_array()?.iter().filter_map(one).collect();
        (!all.is_empty()).then(|| all.join(" OR "))
    })
}

/// The packages of a lockfile (v2/v3 `packages`: keys are the install
/// paths, `node_modules/a/node_modules/b`), each with the path its
/// `package.json` would have. The root entry (`""`) is the project.
pub fn npm_lock(j: &serde_json::Value, path: &str) -> Vec<Lang> {
    let Some(packages) = j["packages"].as_object() else { return Vec::new() };
    // The hidden lockfile sits in node_modules; its keys start from its parent.
    let dir = Path::new(path).parent().map(|d| d.to_string_lossy().into_owned()).unwrap_or_default();
    let base = if path.ends_with(".package-lock.json") {
        dir.strip_suffix("node_modules").unwrap_or(&dir).trim_end_matches('/').to_string()
    } else {
        dir
    };
    let mut out = Vec::new();
    for (key, entry) in packages {
        let Some(at) = key.rfind("node_modules/") else { continue };
        if entry["link"].as_bool() == Some(true) {
            continue;
        }
        let name =
            entry["name"].as_str().map(str::to_string).unwrap_or_else(|| key[at + "node_modules/".len()..].to_string());
        let Some(version) = entry["version"].as_str() else { continue };
        let installed =
            if base.is_empty() { format!("{key}/package.json") } else { format!("{base}/{key}/package.json") };
        out.push(Lang {
            ecosystem: Ecosystem::Npm,
            name,
            version: version.into(),
            license: npm_license(entry),
            homepage: None,
            path: installed,
            checksum: entry["integrity"].as_str().map(str::to_string),
        });
    }
    out
}

fn is_elf(p: &Path) -> bool {
    let mut magic = [0u8; 4];
    std::fs::File::open(p).and_then(|mut f| f.read_exact(&mut magic)).is_ok() && magic == *b"\x7fELF"
}

/// The Go modules and Cargo crates an ELF binary embeds a list of.
fn binary(p: &Path, rel: &str) -> Vec<Lang> {
    let Ok(file) = std::fs::File::open(p) else { return Vec::new() };
    let cache = object::ReadCache::new(file);
    let Ok(obj) = object::File::parse(&cache) else { return Vec::new() };
    let section = |name: &str| {
        let s = obj.section_by_name(name)?;
        (s.size() <= MAX_SECTION).then(|| s.data().ok().map(<[u8]>::to_vec)).flatten()
    };
    let mut out = Vec::new();
    if let Some(data) = section(".go.buildinfo") {
        out.extend(go_buildinfo(&data, rel));
    }
    if let Some(data) = section(".dep-v0") {
        out.extend(cargo_auditable(&data, rel));
    }
    out
}

/// The Go build info blob: `\xff Go buildinf:`, pointer size, flags; with
/// flag 2 (Go 1.18+) two varint-prefixed strings at offset 32, the Go
/// version and the module info (between 16-byte sentinels: `path`, `mod`,
/// `dep` and `=>` replacement lines, tab-separated). Older binaries, which
/// point into their data instead, give nothing. The modules, and the
/// standard library as `stdlib` at the Go version.
pub fn go_buildinfo(data: &[u8], path: &str) -> Vec<Lang> {
    const MAGIC: &[u8] = b"\xff Go buildinf:";
    if data.len() < 32 || !data.starts_with(MAGIC) || data[15] & 2 == 0 {
        return Vec::new();
    }
    let mut rest = &data[32..];
    let Some(version) = varint_string(&mut rest) else { return Vec::new() };
    let Some(mut modinfo) = varint_string(&mut rest) else { return Vec::new() };
    if modinfo.len() >= 33 && modinfo[modinfo.len() - 17] == b'\n' {
        modinfo = &modinfo[16..modinfo.len() - 16];
    }
    let go = String::from_utf8_lossy(version);
    let lang = |name: &str, version: &str, sum: Option<&str>| Lang {
        ecosystem: Ecosystem::Go,
        name: name.into(),
        version: version.into(),
        license: None,
        homepage: None,
        path: path.into(),
        checksum: sum.filter(|s| !s.is_empty()).map(str::to_string),
    };
    let mut out = vec![lang("stdlib", go.trim_start_matches("go"), None)];
    for line in String::from_utf8_lossy(modinfo).lines() {
        let f: Vec<&str> = line.split('\t').collect();
        match f.as_slice() {
            ["mod" | "dep", name, version, rest @ ..] => out.push(lang(name, version, rest.first().copied())),
            // A replacement stands for the line before it.
            ["=>", name, version, rest @ ..] if out.len() > 1 => {
                *out.last_mut().expect("one") = lang(name, version, rest.first().copied());
            }
            _ => {}
        }
    }
    out
}

/// A uvarint length, then that many bytes.
fn varint_string<'a>(rest: &mut &'a [u8]) -> Option<&'a [u8]> {
    let (mut n, mut shift) = (0u64, 0u32);
    loop {
        let (&b, tail) = rest.split_first()?;
        *rest = tail;
        n |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            break;
        }
        shift += 7;
        if shift > 63 {
            return None;
        }
    }
    let n = usize::try_from(n).ok().filter(|n| *n <= rest.len())?;
    let (s, tail) = rest.split_at(n);
    *rest = tail;
    Some(s)
}

/// `cargo auditable`'s list: zlib-compressed JSON
/// `{"packages": [{"name", "version", "source", "kind", "root"}]}`. Build
/// dependencies (`kind: build`) are not in the binary and are left out.
pub fn cargo_auditable(data: &[u8], path: &str) -> Vec<Lang> {
    let mut text = Vec::new();
    if flate2::read::ZlibDecoder::new(data).take(MAX_SECTION).read_to_end(&mut text).is_err() {
        return Vec::new();
    }
    let Ok(j) = serde_json::from_slice::<serde_json::Value>(&text) else { return Vec::new() };
    let Some(packages) = j["packages"].as_array() else { return Vec::new() };
    packages
        .iter()
        .filter(|p| p["kind"].as_str().unwrap_or("runtime") == "runtime")
        .filter_map(|p| {
            Some(Lang {
                ecosystem: Ecosystem::Cargo,
                name: p["name"].as_str()?.into(),
                version: p["version"].as_str()?.into(),
                license: None,
                homepage: None,
                path: path.into(),
                checksum: None,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;

    use super::*;

    /// A Go 1.18+ build info blob with `modinfo` between the sentinels.
    fn go_blob(version: &str, modinfo: &str) -> Vec<u8> {
        let mut b = b"\xff Go buildinf:".to_vec();
        b.extend([8, 2]);
        b.resize(32, 0);
        let mut info = vec![0x30; 16];
        info.extend(modinfo.as_bytes());
        info.extend([0xf9; 16]);
        for s in [version.as_bytes(), &info] {
            let mut n = s.len();
            while n >= 0x80 {
                b.push((n as u8) | 0x80);
                n >>= 7;
            }
            b.push(n as u8);
            b.extend(s);
        }
        b
    }

    #[test]
    fn go_build_info_gives_the_main_module_its_deps_and_the_standard_library() {
        let modinfo = "path\texample.com/hello/cmd/hello\nmod\texample.com/hello\t(devel)\t\ndep\tgolang.org/x/text\tv0.14.0\th1:ScX5w1eTa3QqT8oi6+ziP7dTV1S2+ALU0bI+0zXKWiQ=\ndep\tgithub.com/old/mod\tv1.0.0\th1:x=\n=>\tgithub.com/new/mod\tv1.2.0\th1:y=\nbuild\tCGO_ENABLED=0\n";
        let found = go_buildinfo(&go_blob("go1.19.8", modinfo), "usr/bin/hello");
        let got: Vec<(&str, &str)> = found.iter().map(|l| (l.name.as_str(), l.version.as_str())).collect();
        assert_eq!(
            got,
            [
                ("stdlib", "1.19.8"),
                ("example.com/hello", "(devel)"),
                ("golang.org/x/text", "v0.14.0"),
                ("github.com/new/mod", "v1.2.0")
            ]
        );
        assert_eq!(found[2].purl(), "pkg:golang/golang.org/x/text@v0.14.0");
        assert_eq!(found[1].purl(), "pkg:golang/example.com/hello@%28devel%29");
        assert_eq!(found[2].checksum.as_deref(), Some("h1:ScX5w1eTa3QqT8oi6+ziP7dTV1S2+ALU0bI+0zXKWiQ="));
        // Before Go 1.18 the strings are pointers: nothing is claimed.
        let mut old = go_blob("go1.17", modinfo);
        old[15] = 0;
        assert!(go_buildinfo(&old, "x").is_empty());
        assert!(go_buildinfo(b"\xff Go buildinf:", "x").is_empty());
    }

    #[test]
    fn cargo_auditable_lists_runtime_crates() {
        let json = r#"{"packages":[{"name":"hello","version":"0.1.0","source":"local","root":true,"dependencies":[1]},{"name":"itoa","version":"1.0.11","source":"crates.io"},{"name":"cc","version":"1.0.0","source":"crates.io","kind":"build"}]}"#;
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        z.write_all(json.as_bytes()).unwrap();
        let found = cargo_auditable(&z.finish().unwrap(), "usr/bin/hello");
        let got: Vec<String> = found.iter().map(Lang::purl).collect();
        assert_eq!(got, ["pkg:cargo/hello@0.1.0", "pkg:cargo/itoa@1.0.11"]);
        assert!(cargo_auditable(b"not zlib", "x").is_empty());
    }

    #[test]
    fn npm_packages_installed_and_locked() {
        let dir = tempfile::tempdir().unwrap();
        let write = |rel: &str, text: &str| {
            let p = dir.path().join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        };
        let app = "usr/lib/node_modules/app";
        write(&format!("{app}/package.json"), r#"{"name":"app","version":"1.0.0","license":"MIT"}"#);
        write(
            &format!("{app}/node_modules/ms/package.json"),
            r#"{"name":"ms","version":"2.1.3","license":{"type":"MIT"}}"#,
        );
        write(
            &format!("{app}/node_modules/@types/node/package.json"),
            r#"{"name":"@types/node","version":"20.1.0","license":"MIT"}"#,
        );
        // Not an installed package: a test fixture's manifest.
        write(&format!("{app}/test/package.json"), r#"{"name":"fixture","version":"0.0.0"}"#);
        // Debian's node packages, in Node's global module directories.
        write("usr/share/nodejs/acorn/package.json", r#"{"name":"acorn","version":"8.8.1","license":"MIT"}"#);
        write("usr/share/nodejs/acorn/dist/package.json", r#"{"type":"commonjs"}"#);
        write("usr/share/nodejs/@types/busboy/package.json", r#"{"name":"@types/busboy","version":"1.5.0"}"#);
        write(
            "usr/lib/x86_64-linux-gnu/nodejs/cjs-module-lexer/package.json",
            r#"{"name":"cjs-module-lexer","version":"1.2.2"}"#,
        );
        // Not a module directory.
        write("usr/share/doc/nodejs/x/package.json", r#"{"name":"x","version":"1.0.0"}"#);
        write(
            "srv/web/package-lock.json",
            r#"{"lockfileVersion":3,"packages":{"":{"name":"web","version":"1.0.0"},"node_modules/left-pad":{"version":"1.3.0","license":"WTFPL","integrity":"sha512-x"},"node_modules/local":{"link":true}}}"#,
        );
        let mut found = scan(dir.path());
        found.sort_by(|a, b| a.name.cmp(&b.name));
        let got: Vec<(String, &str, Option<&str>)> =
            found.iter().map(|l| (l.purl(), l.path.as_str(), l.license.as_deref())).collect();
        assert_eq!(
            got,
            [
                ("pkg:npm/%40types/busboy@1.5.0".into(), "usr/share/nodejs/@types/busboy/package.json", None),
                (
                    "pkg:npm/%40types/node@20.1.0".into(),
                    "usr/lib/node_modules/app/node_modules/@types/node/package.json",
                    Some("MIT")
                ),
                ("pkg:npm/acorn@8.8.1".into(), "usr/share/nodejs/acorn/package.json", Some("MIT")),
                ("pkg:npm/app@1.0.0".into(), "usr/lib/node_modules/app/package.json", Some("MIT")),
                (
                    "pkg:npm/cjs-module-lexer@1.2.2".into(),
                    "usr/lib/x86_64-linux-gnu/nodejs/cjs-module-lexer/package.json",
                    None
                ),
                ("pkg:npm/left-pad@1.3.0".into(), "srv/web/node_modules/left-pad/package.json", Some("WTFPL")),
                ("pkg:npm/ms@2.1.3".into(), "usr/lib/node_modules/app/node_modules/ms/package.json", Some("MIT")),
            ]
        );
    }
}
