//! Python distributions as installers record them: the `METADATA` file of
//! each `*.dist-info` directory under a `site-packages` or
//! `dist-packages` directory (PEP 376, core metadata).

use std::path::Path;

/// One installed Python distribution.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub struct Dist {
    pub name: String,
    pub version: String,
    /// `License-Expression`, else `License` when it is one line.
    pub license: Option<String>,
    pub homepage: Option<String>,
    /// Where its `METADATA` is, relative to the root scanned.
    pub path: String,
}

impl Dist {
    /// As a language package, as the SBOM writers render them.
    pub fn as_lang(&self) -> super::lang::Lang {
        super::lang::Lang {
            ecosystem: super::lang::Ecosystem::Pypi,
            name: self.name.clone(),
            version: self.version.clone(),
            license: self.license.clone(),
            homepage: self.homepage.clone(),
            path: self.path.clone(),
            checksum: None,
        }
    }

    /// Its package URL (purl-spec `pypi` type: the name lowercased, `_` → `-`).
    pub fn purl(&self) -> String {
        format!("pkg:pypi/{}@{}", self.name.to_lowercase().replace('_', "-"), self.version)
    }
}

/// Every distribution under `root` (a layer's or an image's tree).
pub fn scan(root: &Path) -> Vec<Dist> {
    let mut out = Vec::new();
    let walk = walkdir::WalkDir::new(root).max_depth(8).follow_links(false).sort_by_file_name();
    for e in walk.into_iter().filter_map(Result::ok) {
        let p = e.path();
        let is_dist_info = e.file_type().is_dir()
            && p.extension().is_some_and(|x| x == "dist-info")
            && p.parent().and_then(Path::file_name).is_some_and(|n| n == "site-packages" || n == "dist-packages");
        if !is_dist_info {
            continue;
        }
        let Ok(text) = std::fs::read_to_string(p.join("METADATA")) else { continue };
        let rel = p.join("METADATA").strip_prefix(root).map(|r| r.to_string_lossy().into_owned()).unwrap_or_default();
        out.extend(parse_metadata(&text, rel));
    }
    out
}

/// A `METADATA` file's name, version, license and home page.
pub fn parse_metadata(text: &str, path: String) -> Option<Dist> {
    // The headers end at the first empty line; the body is the description.
    let headers: Vec<(&str, &str)> = text
        .lines()
        .take_while(|l| !l.is_empty())
        .filter(|l| !l.starts_with([' ', '\t']))
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim(), v.trim()))
        .collect();
    let get = |name: &str| headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.to_string());
    let homepage = get("Home-page").or_else(|| {
        headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case("Project-URL"))
            .find_map(|(_, v)| v.split_once(',').filter(|(l, _)| l.trim().eq_ignore_ascii_case("homepage")))
            .map(|(_, u)| u.trim().to_string())
    });
    let license = get("License-Expression").or_else(|| get("License").filter(|l| !l.is_empty() && l != "UNKNOWN"));
    Some(Dist { name: get("Name")?, version: get("Version")?, license, homepage, path })
}

#[cfg(test)]
mod tests {
    use super::*;

    const METADATA: &str = "Metadata-Version: 2.1\nName: Flask_Login\nVersion: 0.6.3\nLicense: MIT\nProject-URL: Homepage, https://github.com/maxcountryman/flask-login\nRequires-Dist: Flask>=1.0.4\n\nFlask-Login\n===========\nName: not-a-header\n";

    #[test]
    fn metadata_headers_give_name_version_license_and_home_page() {
        let d = parse_metadata(METADATA, "x/METADATA".into()).unwrap();
        assert_eq!((d.name.as_str(), d.version.as_str(), d.license.as_deref()), ("Flask_Login", "0.6.3", Some("MIT")));
        assert_eq!(d.homepage.as_deref(), Some("https://github.com/maxcountryman/flask-login"));
        assert_eq!(d.purl(), "pkg:pypi/flask-login@0.6.3");
    }

    #[test]
    fn only_dist_info_under_site_packages_counts() {
        let dir = tempfile::tempdir().unwrap();
        for p in ["usr/lib/python3/dist-packages/a-1.dist-info", "srv/b-2.dist-info"] {
            std::fs::create_dir_all(dir.path().join(p)).unwrap();
            std::fs::write(dir.path().join(p).join("METADATA"), "Name: a\nVersion: 1\n").unwrap();
        }
        let found = scan(dir.path());
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].path, "usr/lib/python3/dist-packages/a-1.dist-info/METADATA");
    }
}
