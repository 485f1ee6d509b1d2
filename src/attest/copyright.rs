//! Debian packages' licenses, from their `usr/share/doc/PKG/copyright`
//! when it is machine-readable (DEP-5, the copyright-format 1.0): every
//! `License:` field's short name, mapped to an SPDX identifier where
//! Debian's name has one (`GPL-2+` → `GPL-2.0-or-later`, `Expat` → `MIT`)
//! and to a `LicenseRef-` otherwise (`public-domain`), the distinct ones
//! joined by `AND` (each file of the package is under one of them). A
//! file that is not DEP-5 gives no expression, only a note saying so, so
//! the SBOM says NOASSERTION rather than guessing from prose.

/// What a package's copyright file says of its licenses.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct DebLicense {
    /// An SPDX expression of the licenses, when the file is DEP-5.
    pub expression: Option<String>,
    /// Where it came from, or why there is none.
    pub note: String,
    /// The `LicenseRef-` identifiers in `expression`, each with Debian's name.
    pub refs: Vec<(String, String)>,
}

/// The licensing `text` (a copyright file of package `pkg`) declares.
pub fn parse(pkg: &str, text: &str) -> DebLicense {
    let file = format!("/usr/share/doc/{pkg}/copyright");
    let paras = paragraphs(text);
    let header = paras.first().cloned().unwrap_or_default();
    let machine_readable = header.iter().any(|l| {
        let l = l.to_ascii_lowercase();
        (l.starts_with("format:") || l.starts_with("format-specification:"))
            && (l.contains("copyright-format") || l.contains("dep5") || l.contains("dep-5"))
    });
    if !machine_readable {
        return DebLicense {
            note: format!("{file} is not machine-readable (DEP-5); its licenses are not asserted"),
            ..Default::default()
        };
    }
    let mut terms: Vec<String> = Vec::new();
    let mut refs: Vec<(String, String)> = Vec::new();
    // The header's and the Files paragraphs' License fields; a paragraph
    // of only a License field gives the text of a license named elsewhere.
    for (i, para) in paras.iter().enumerate() {
        let fields: Vec<(&str, &str)> = para
            .iter()
            .filter(|l| !l.starts_with([' ', '\t']))
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim(), v.trim()))
            .collect();
        let has = |name: &str| fields.iter().any(|(k, _)| k.eq_ignore_ascii_case(name));
        if i > 0 && !has("files") {
            continue;
        }
        for (_, value) in fields.iter().filter(|(k, v)| k.eq_ignore_ascii_case("license") && !v.is_empty()) {
            if let Some(e) = expression(value, &mut refs)
                && !terms.contains(&e)
            {
                terms.push(e);
            }
        }
    }
    if terms.is_empty() {
        return DebLicense { note: format!("{file} names no license"), ..Default::default() };
    }
    terms.sort();
    let expression = if terms.len() == 1 {
        terms.remove(0)
    } else {
        terms
            .iter()
            .map(|t| if t.contains(' ') { format!("({t})") } else { t.clone() })
            .collect::<Vec<_>>()
            .join(" AND ")
    };
    refs.sort();
    refs.dedup();
    DebLicense { expression: Some(expression), note: format!("from {file} (DEP-5)"), refs }
}

/// The paragraphs of a control-like file: lines, split at blank ones.
fn paragraphs(text: &str) -> Vec<Vec<&str>> {
    let mut out: Vec<Vec<&str>> = vec![Vec::new()];
    for l in text.lines() {
        if l.trim().is_empty() {
            if !out.last().expect("one").is_empty() {
                out.push(Vec::new());
            }
        } else {
            out.last_mut().expect("one").push(l);
        }
    }
    out.retain(|p| !p.is_empty());
    out
}

/// One `License:` field's short name (`GPL-2+ or Artistic`, `LGPL-2.1+
/// with OpenSSL exception`) as an SPDX expression.
fn expression(field: &str, refs: &mut Vec<(String, String)>) -> Option<String> {
    // `or` binds loosest, then `and` (and `,` used as "and").
    let alternatives: Vec<String> = split_words(field, "or")
        .iter()
        .map(|alt| {
            let all: Vec<String> = split_words(&alt.replace(',', " and "), "and")
                .iter()
                .filter(|t| !t.trim().is_empty())
                .map(|t| identifier(t.trim(), refs))
                .collect();
            if all.len() > 1 { format!("({})", all.join(" AND ")) } else { all.concat() }
        })
        .filter(|a| !a.is_empty())
        .collect();
    match alternatives.len() {
        0 => None,
        1 => Some(alternatives[0].trim_start_matches('(').trim_end_matches(')').to_string()),
        _ => Some(alternatives.join(" OR ")),
    }
}

/// `text` split at the word `word` (any case), surrounded by spaces.
fn split_words(text: &str, word: &str) -> Vec<String> {
    let mut out = vec![String::new()];
    for w in text.split_whitespace() {
        if w.eq_ignore_ascii_case(word) {
            out.push(String::new());
        } else {
            let cur = out.last_mut().expect("one");
            if !cur.is_empty() {
                cur.push(' ');
            }
            cur.push_str(w);
        }
    }
    out.into_iter().filter(|s| !s.is_empty()).collect()
}

/// Debian's name of one license as an SPDX identifier, or a `LicenseRef-`
/// recorded in `refs`.
fn identifier(name: &str, refs: &mut Vec<(String, String)>) -> String {
    if let Some(id) = spdx_id(name) {
        return id;
    }
    let id = format!(
        "LicenseRef-{}",
        name.chars()
            .map(|c| match c {
                '+' => 'p',
                c if c.is_ascii_alphanumeric() || c == '.' || c == '-' => c,
                _ => '-',
            })
            .collect::<String>()
    );
    refs.push((id.clone(), name.to_string()));
    id
}

/// The SPDX identifier of Debian's short name, where there is one.
fn spdx_id(name: &str) -> Option<String> {
    let lower = name.to_ascii_lowercase();
    let fixed = match lower.as_str() {
        "expat" | "mit" => Some("MIT"),
        "apache-2.0" | "apache-2" => Some("Apache-2.0"),
        "artistic" | "artistic-1.0" => Some("Artistic-1.0"),
        "artistic-2.0" => Some("Artistic-2.0"),
        "bsd-2-clause" => Some("BSD-2-Clause"),
        "bsd-3-clause" => Some("BSD-3-Clause"),
        "bsd-4-clause" => Some("BSD-4-Clause"),
        "isc" => Some("ISC"),
        "zlib" => Some("Zlib"),
        "cc0-1.0" | "cc0" => Some("CC0-1.0"),
        "mpl-2.0" => Some("MPL-2.0"),
        "mpl-1.1" => Some("MPL-1.1"),
        "bsl-1.0" => Some("BSL-1.0"),
        "unicode-dfs-2016" => Some("Unicode-DFS-2016"),
        "curl" => Some("curl"),
        "openssl" => Some("OpenSSL"),
        "x11" => Some("X11"),
        "0bsd" => Some("0BSD"),
        "unlicense" => Some("Unlicense"),
        "wtfpl" => Some("WTFPL"),
        "psf-2.0" => Some("PSF-2.0"),
        "python-2.0" => Some("Python-2.0"),
        _ => None,
    };
    if let Some(f) = fixed {
        return Some(f.into());
    }
    // The GNU family: GPL-2, GPL-2+, LGPL-2.1+, AGPL-3, GFDL-1.3+.
    let (base, later) = match lower.strip_suffix('+') {
        Some(b) => (b, true),
        None => (lower.as_str(), false),
    };
    let (family, version) = base.split_once('-')?;
    let family = match family {
        "gpl" => "GPL",
        "lgpl" => "LGPL",
        "agpl" => "AGPL",
        "gfdl" => "GFDL",
        _ => return None,
    };
    let version = match version {
        "1" | "1.0" => "1.0",
        "2" | "2.0" => "2.0",
        "2.1" => "2.1",
        "3" | "3.0" => "3.0",
        "1.1" | "1.2" | "1.3" if family == "GFDL" => version,
        _ => return None,
    };
    let known = matches!(
        (family, version),
        ("GPL", "1.0" | "2.0" | "3.0")
            | ("LGPL", "2.0" | "2.1" | "3.0")
            | ("AGPL", "3.0")
            | ("GFDL", "1.1" | "1.2" | "1.3")
    );
    known.then(|| format!("{family}-{version}-{}", if later { "or-later" } else { "only" }))
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEP5: &str = "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\nUpstream-Name: sed\n\nFiles: *\nCopyright: 1989-2022 Free Software Foundation\nLicense: GPL-3+\n\nFiles: lib/*\nCopyright: FSF\nLicense: LGPL-2.1+ or GPL-2+\n\nFiles: doc/*\nLicense: GFDL-NIV-1.3+\n\nFiles: debian/*\nLicense: public-domain\n\nLicense: Apache-2.0\n On Debian systems, the complete text of the GNU General\n License: not a field\n";

    #[test]
    fn dep5_licenses_become_one_spdx_expression() {
        let l = parse("sed", DEP5);
        assert_eq!(
            l.expression.as_deref(),
            Some(
                "GPL-3.0-or-later AND (LGPL-2.1-or-later OR GPL-2.0-or-later) AND LicenseRef-GFDL-NIV-1.3p AND LicenseRef-public-domain"
            )
        );
        assert_eq!(
            l.refs,
            [
                ("LicenseRef-GFDL-NIV-1.3p".to_string(), "GFDL-NIV-1.3+".to_string()),
                ("LicenseRef-public-domain".into(), "public-domain".into())
            ]
        );
        assert_eq!(l.note, "from /usr/share/doc/sed/copyright (DEP-5)");
        assert!(crate::attest::license::spdx_expression(l.expression.as_deref().unwrap()).is_some());
    }

    #[test]
    fn one_license_and_debian_names() {
        let l = parse(
            "zlib1g",
            "Format: http://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\nFiles: *\nLicense: Zlib\n\nFiles: debian/*\nLicense: Zlib\n",
        );
        assert_eq!(l.expression.as_deref(), Some("Zlib"));
        assert_eq!(
            parse("x", "Format: copyright-format/1.0\n\nFiles: *\nLicense: Expat, BSD-2-clause\n")
                .expression
                .as_deref(),
            Some("MIT AND BSD-2-Clause")
        );
        assert_eq!(
            parse("x", "Format: copyright-format/1.0\n\nFiles: *\nLicense: GPL-2\n").expression.as_deref(),
            Some("GPL-2.0-only")
        );
    }

    #[test]
    fn prose_copyright_files_assert_nothing() {
        let l = parse("libc6", "This is the Debian prepackaged version of the GNU C Library.\n\nLicense: LGPL\n");
        assert_eq!(l.expression, None);
        assert!(l.note.contains("not machine-readable"), "{}", l.note);
    }
}
