//! Debian packages as dpkg records them: the paragraphs of
//! `var/lib/dpkg/status` whose `Status` ends in `installed`.

/// The dpkg database, relative to an image's root.
pub const STATUS: &str = "var/lib/dpkg/status";

/// One installed Debian package.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Deb {
    pub name: String,
    pub version: String,
    pub architecture: String,
    pub maintainer: Option<String>,
    pub homepage: Option<String>,
    /// The source package, when it differs from the binary's name.
    pub source: Option<String>,
    /// The sha256 of its `.deb`, when strata fetched it (stage-packages).
    pub sha256: Option<String>,
    /// What its copyright file says ([`super::copyright`]); filled by the
    /// inventory, which sees the image's `usr/share/doc`.
    pub license: super::copyright::DebLicense,
}

impl Deb {
    /// Its package URL (purl-spec `deb` type), for Debian.
    pub fn purl(&self) -> String {
        format!("pkg:deb/debian/{}@{}?arch={}", self.name, purl_escape(&self.version), self.architecture)
    }
}

/// `version` with the characters a purl version may not hold bare
/// (`:` of an epoch, `+`) percent-encoded.
fn purl_escape(version: &str) -> String {
    version.replace('%', "%25").replace(':', "%3A").replace('+', "%2B")
}

/// The installed packages of a status file, in its order.
pub fn parse_status(text: &str) -> Vec<Deb> {
    text.split("\n\n").filter_map(paragraph).collect()
}

fn paragraph(p: &str) -> Option<Deb> {
    let field = |name: &str| {
        p.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            (k == name && !l.starts_with([' ', '\t'])).then(|| v.trim().to_string())
        })
    };
    if !field("Status")?.ends_with(" installed") {
        return None;
    }
    let name = field("Package")?;
    // `Source: name (version)` names the source package and, when it
    // differs, its version.
    let source = field("Source").map(|s| s.split_whitespace().next().unwrap_or_default().to_string());
    Some(Deb {
        version: field("Version")?,
        architecture: field("Architecture").unwrap_or_else(|| "all".into()),
        maintainer: field("Maintainer"),
        homepage: field("Homepage"),
        source: source.filter(|s| *s != name),
        sha256: None,
        license: Default::default(),
        name,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const STATUS_FILE: &str = "Package: base-files\nEssential: yes\nStatus: install ok installed\nPriority: required\nArchitecture: amd64\nMaintainer: Santiago Vila <sanvila@debian.org>\nVersion: 12.4+deb12u5\nDescription: Debian base system\n miscellaneous files\n\nPackage: gone\nStatus: deinstall ok config-files\nVersion: 1\n\nPackage: libc6\nStatus: install ok installed\nArchitecture: amd64\nSource: glibc\nVersion: 2.36-9+deb12u4\nHomepage: https://www.gnu.org/software/libc/libc.html\n";

    #[test]
    fn installed_packages_are_read_and_removed_ones_skipped() {
        let debs = parse_status(STATUS_FILE);
        let names: Vec<&str> = debs.iter().map(|d| d.name.as_str()).collect();
        assert_eq!(names, ["base-files", "libc6"]);
        assert_eq!(debs[0].maintainer.as_deref(), Some("Santiago Vila <sanvila@debian.org>"));
        assert_eq!(debs[1].source.as_deref(), Some("glibc"));
    }

    #[test]
    fn purls_escape_the_version() {
        let d = &parse_status(STATUS_FILE)[0];
        assert_eq!(d.purl(), "pkg:deb/debian/base-files@12.4%2Bdeb12u5?arch=amd64");
    }
}
