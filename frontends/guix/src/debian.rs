//! Guix inputs that are not defined in the package files map to Debian
//! packages installed in the build container (reference §7's table, plus
//! the user's `-X debian=NAME=PKG,PKG`). Guix bundles a library, its
//! headers and its tools in one package; Debian splits them, so one input
//! maps to a set. Inside a phase such an input's directory is `/usr`.

/// What every build of a build system needs in the container: Guile for
/// the phases, and the tools of Guix's implicit inputs.
pub fn base_packages(bs: &str) -> Vec<&'static str> {
    let mut v =
        vec!["guile-3.0", "build-essential", "file", "xz-utils", "bzip2", "gzip", "zstd", "patch", "gawk", "unzip"];
    match bs {
        "cmake" => v.extend(["cmake", "ninja-build"]),
        "meson" | "glib-or-gtk" => v.extend(["meson", "ninja-build", "pkg-config"]),
        "pyproject" => v.extend(["python3", "python3-setuptools", "python3-wheel", "python3-pip"]),
        _ => {}
    }
    v
}

/// The labels of Guix's implicit inputs (gnu-build-system's
/// `%final-inputs`), each `/usr` here.
pub const IMPLICIT_INPUTS: &[&str] = &[
    "tar",
    "gzip",
    "bzip2",
    "file",
    "diffutils",
    "patch",
    "findutils",
    "gawk",
    "zstd",
    "sed",
    "grep",
    "xz",
    "coreutils",
    "make",
    "bash",
    "ld-wrapper",
    "binutils",
    "gcc",
    "libc",
];

/// The built-in map: Guix variable name → Debian packages (empty: the
/// base packages already provide it).
const MAP: &[(&str, &[&str])] = &[
    ("gcc-toolchain", &[]),
    ("gcc", &[]),
    ("binutils", &[]),
    ("coreutils", &[]),
    ("gnu-make", &[]),
    ("bash", &[]),
    ("bash-minimal", &[]),
    ("tar", &[]),
    ("gzip", &["gzip"]),
    ("sed", &[]),
    ("grep", &[]),
    ("findutils", &[]),
    ("diffutils", &[]),
    ("gawk", &["gawk"]),
    ("file", &["file"]),
    ("patch", &["patch"]),
    ("unzip", &["unzip"]),
    ("zlib", &["zlib1g-dev"]),
    ("bzip2", &["bzip2", "libbz2-dev"]),
    ("xz", &["xz-utils", "liblzma-dev"]),
    ("zstd", &["zstd", "libzstd-dev"]),
    ("lz4", &["lz4", "liblz4-dev"]),
    ("lzo", &["liblzo2-dev"]),
    ("pkg-config", &["pkg-config"]),
    ("perl", &["perl"]),
    ("python", &["python3", "python-is-python3"]),
    ("python-wrapper", &["python3", "python-is-python3"]),
    ("python-minimal", &["python3"]),
    ("which", &["debianutils"]),
    ("texinfo", &["texinfo"]),
    ("doxygen", &["doxygen"]),
    ("check", &["check"]),
    ("readline", &["libreadline-dev"]),
    ("ncurses", &["libncurses-dev", "ncurses-bin"]),
    ("perl-archive-zip", &["libarchive-zip-perl"]),
    ("openssl", &["libssl-dev"]),
    ("glib", &["libglib2.0-dev", "libglib2.0-bin"]),
    ("gettext-minimal", &["gettext"]),
    ("autoconf", &["autoconf"]),
    ("automake", &["automake"]),
    ("libtool", &["libtool"]),
    ("bison", &["bison"]),
    ("flex", &["flex"]),
    ("m4", &["m4"]),
    ("libxml2", &["libxml2-dev"]),
    ("expat", &["libexpat1-dev"]),
    ("pcre2", &["libpcre2-dev"]),
    ("libpng", &["libpng-dev"]),
    ("libjpeg-turbo", &["libjpeg62-turbo-dev"]),
    ("curl", &["curl", "libcurl4-openssl-dev"]),
    ("jansson", &["libjansson-dev"]),
    ("libsndfile", &["libsndfile1-dev"]),
    ("libpciaccess", &["libpciaccess-dev"]),
    ("imagemagick", &["imagemagick"]),
    ("patchutils", &["patchutils"]),
    ("util-linux", &["uuid-dev", "libblkid-dev", "libmount-dev"]),
    ("gmp", &["libgmp-dev"]),
    ("sqlite", &["libsqlite3-dev"]),
    ("libx11", &["libx11-dev"]),
    ("libebml", &["libebml-dev"]),
    ("libdatrie", &["libdatrie-dev"]),
    ("lv2", &["lv2-dev"]),
    ("cmake", &["cmake"]),
    ("cmake-minimal", &["cmake"]),
    ("meson", &["meson"]),
    ("ninja", &["ninja-build"]),
    ("libevent", &["libevent-dev"]),
    ("ncompress", &["ncompress"]),
];

/// The Debian packages for input `name`: the user's entries (`NAME=PKG,PKG`)
/// first, then the built-in map; `None` when neither knows it.
pub fn packages_for(name: &str, user: &[&str]) -> Option<Vec<String>> {
    for u in user.iter().rev() {
        if let Some((n, pkgs)) = u.split_once('=')
            && n == name
        {
            return Some(pkgs.split(',').filter(|p| !p.is_empty()).map(str::to_string).collect());
        }
    }
    MAP.iter().find(|(n, _)| *n == name).map(|(_, p)| p.iter().map(|s| s.to_string()).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inputs_map_to_sets_of_debian_packages_and_users_override() {
        assert_eq!(packages_for("zlib", &[]), Some(vec!["zlib1g-dev".to_string()]));
        assert_eq!(packages_for("gcc-toolchain", &[]), Some(vec![]));
        assert_eq!(packages_for("libfoo", &[]), None);
        assert_eq!(
            packages_for("libfoo", &["libfoo=libfoo-dev,foo-tools"]),
            Some(vec!["libfoo-dev".into(), "foo-tools".into()])
        );
        assert_eq!(packages_for("zlib", &["zlib=zlib1g-dev,zlib1g"]).unwrap().len(), 2);
    }
}
