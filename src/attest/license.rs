//! Whether a declared license string is an SPDX license expression an
//! SBOM may carry as such: identifiers from a list of the common ones (or
//! `LicenseRef-…`), joined by `AND`, `OR` and `WITH`, with parentheses.
//! Anything else (`BSD License`, a URL) is kept as free text instead, so
//! no document states a license expression a validator would refuse.

/// Common SPDX license identifiers (spdx.org/licenses).
const KNOWN: &[&str] = &[
    "0BSD",
    "AGPL-3.0-only",
    "AGPL-3.0-or-later",
    "Apache-1.1",
    "Apache-2.0",
    "Artistic-2.0",
    "BSD-2-Clause",
    "BSD-3-Clause",
    "BSL-1.0",
    "CC-BY-4.0",
    "CC-BY-SA-4.0",
    "CC0-1.0",
    "EPL-2.0",
    "GPL-2.0-only",
    "GPL-2.0-or-later",
    "GPL-3.0-only",
    "GPL-3.0-or-later",
    "ISC",
    "LGPL-2.1-only",
    "LGPL-2.1-or-later",
    "LGPL-3.0-only",
    "LGPL-3.0-or-later",
    "MIT",
    "MIT-0",
    "MPL-2.0",
    "PSF-2.0",
    "Python-2.0",
    "Unlicense",
    "Zlib",
    "curl",
    "OpenSSL",
    "X11",
    "BSD-4-Clause",
    "WTFPL",
    "NCSA",
    "PostgreSQL",
    "Artistic-1.0",
    "MPL-1.1",
    "Unicode-DFS-2016",
    "GPL-1.0-only",
    "GPL-1.0-or-later",
    "LGPL-2.0-only",
    "LGPL-2.0-or-later",
    "GFDL-1.1-only",
    "GFDL-1.1-or-later",
    "GFDL-1.2-only",
    "GFDL-1.2-or-later",
    "GFDL-1.3-only",
    "GFDL-1.3-or-later",
];

/// Exceptions that may follow `WITH`.
const EXCEPTIONS: &[&str] =
    &["Classpath-exception-2.0", "GCC-exception-3.1", "LLVM-exception", "Autoconf-exception-3.0"];

/// `text` as an SPDX expression, when it is one this module can vouch for.
pub fn spdx_expression(text: &str) -> Option<String> {
    let spaced = text.replace('(', " ( ").replace(')', " ) ");
    let tokens: Vec<&str> = spaced.split_whitespace().collect();
    let mut depth = 0i32;
    // Alternates: an operand is expected, then an operator.
    let mut want_operand = true;
    let mut after_with = false;
    for t in &tokens {
        match *t {
            "(" if want_operand => depth += 1,
            ")" if !want_operand && depth > 0 => depth -= 1,
            "AND" | "OR" | "WITH" if !want_operand => {
                after_with = *t == "WITH";
                want_operand = true;
            }
            id if want_operand => {
                let id = id.strip_suffix('+').unwrap_or(id);
                let ok = if after_with { EXCEPTIONS.contains(&id) } else { is_license(id) };
                if !ok {
                    return None;
                }
                after_with = false;
                want_operand = false;
            }
            _ => return None,
        }
    }
    (!tokens.is_empty() && !want_operand && depth == 0).then(|| tokens.join(" ").replace("( ", "(").replace(" )", ")"))
}

fn is_license(id: &str) -> bool {
    KNOWN.contains(&id)
        || id
            .strip_prefix("LicenseRef-")
            .is_some_and(|r| !r.is_empty() && r.chars().all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-'))
}

#[cfg(test)]
mod tests {
    use super::spdx_expression;

    #[test]
    fn expressions_of_known_identifiers_pass() {
        assert_eq!(spdx_expression("MIT").as_deref(), Some("MIT"));
        assert_eq!(
            spdx_expression("(MIT OR Apache-2.0) AND BSD-3-Clause").as_deref(),
            Some("(MIT OR Apache-2.0) AND BSD-3-Clause")
        );
        assert_eq!(
            spdx_expression("GPL-2.0-or-later WITH Classpath-exception-2.0").as_deref(),
            Some("GPL-2.0-or-later WITH Classpath-exception-2.0")
        );
    }

    #[test]
    fn free_text_and_broken_expressions_do_not() {
        for t in ["BSD License", "MIT AND", "(MIT", "https://opensource.org/licenses/MIT", "", "MIT WITH Apache-2.0"] {
            assert_eq!(spdx_expression(t), None, "{t}");
        }
    }
}
