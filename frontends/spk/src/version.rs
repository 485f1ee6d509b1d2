//! spk versions and version ranges (reference §7), as far as strata's
//! resolver needs them: parsing, ordering, and whether a version is in a
//! range. Compat is read with the default `x.a.b` rule for bare versions:
//! the first part must match and the version must be at least the one given.

use std::cmp::Ordering;
use std::fmt;

/// `1.2.3`, `1.1.1+r.13`, `0.2.0-pre.0`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    pub parts: Vec<u64>,
    pub pre: Vec<(String, u64)>,
    pub post: Vec<(String, u64)>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{text}' is not a version: {why}")]
pub struct VersionError {
    pub text: String,
    pub why: String,
}

fn tags(text: &str, all: &str) -> Result<Vec<(String, u64)>, VersionError> {
    let err = |why: &str| VersionError { text: all.to_string(), why: why.to_string() };
    let mut v = Vec::new();
    for t in text.split(',') {
        let (name, num) = t.split_once('.').ok_or_else(|| err("a tag is NAME.NUMBER"))?;
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(err("a tag name is letters and digits"));
        }
        v.push((name.to_string(), num.parse().map_err(|_| err("a tag number is an integer"))?));
    }
    v.sort();
    Ok(v)
}

impl Version {
    pub fn parse(text: &str) -> Result<Version, VersionError> {
        let err = |why: &str| VersionError { text: text.to_string(), why: why.to_string() };
        let (rest, post) = match text.split_once('+') {
            Some((r, p)) => (r, tags(p, text)?),
            None => (text, Vec::new()),
        };
        let (base, pre) = match rest.split_once('-') {
            Some((b, p)) => (b, tags(p, text)?),
            None => (rest, Vec::new()),
        };
        if base.is_empty() {
            return Err(err("it is empty"));
        }
        let parts = base
            .split('.')
            .map(|p| p.parse::<u64>().map_err(|_| err("the parts are dot-separated unsigned integers")))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Version { parts, pre, post })
    }

    /// The parts alone, dot-joined (`1.2.3`).
    pub fn base(&self) -> String {
        self.parts.iter().map(u64::to_string).collect::<Vec<_>>().join(".")
    }

    pub fn part(&self, i: usize) -> u64 {
        self.parts.get(i).copied().unwrap_or(0)
    }

    fn cmp_parts(&self, other: &Version) -> Ordering {
        let n = self.parts.len().max(other.parts.len());
        (0..n).map(|i| self.part(i).cmp(&other.part(i))).find(|o| o.is_ne()).unwrap_or(Ordering::Equal)
    }
}

impl Ord for Version {
    fn cmp(&self, other: &Version) -> Ordering {
        // pre < release < post
        let rank = |v: &Version| {
            if !v.pre.is_empty() {
                0
            } else if v.post.is_empty() {
                1
            } else {
                2
            }
        };
        self.cmp_parts(other)
            .then_with(|| rank(self).cmp(&rank(other)))
            .then_with(|| self.pre.cmp(&other.pre))
            .then_with(|| self.post.cmp(&other.post))
    }
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Version) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.base())?;
        let join = |t: &[(String, u64)]| t.iter().map(|(n, v)| format!("{n}.{v}")).collect::<Vec<_>>().join(",");
        if !self.pre.is_empty() {
            write!(f, "-{}", join(&self.pre))?;
        }
        if !self.post.is_empty() {
            write!(f, "+{}", join(&self.post))?;
        }
        Ok(())
    }
}

/// One clause of a range.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Clause {
    Any,
    /// `1.2.*`: these leading parts.
    Wildcard(Vec<u64>),
    /// A bare version: at least this, same first part (`x.a.b`).
    Compatible(Version),
    /// `^1.2.3`
    Caret(Version),
    /// `~1.2.3`
    Tilde(Version),
    Cmp(&'static str, Version),
}

/// A comma-separated intersection of clauses (`>=1.2,<2`, `~3.7`, `6.3`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionRange {
    clauses: Vec<Clause>,
}

impl VersionRange {
    pub fn parse(text: &str) -> Result<VersionRange, VersionError> {
        let mut clauses = Vec::new();
        for c in text.split(',').map(str::trim) {
            let c = c.strip_prefix("API:").or_else(|| c.strip_prefix("Binary:")).unwrap_or(c);
            let clause = if c.is_empty() || c == "*" {
                Clause::Any
            } else if let Some(w) = c.strip_suffix(".*") {
                Clause::Wildcard(Version::parse(w)?.parts)
            } else if let Some(v) = c.strip_prefix('^') {
                Clause::Caret(Version::parse(v)?)
            } else if let Some(v) = c.strip_prefix('~') {
                Clause::Tilde(Version::parse(v)?)
            } else {
                let ops = ["==", "!==", "!=", ">=", "<=", ">", "<", "="];
                match ops.iter().find(|o| c.starts_with(**o)) {
                    Some(op) => Clause::Cmp(op, Version::parse(&c[op.len()..])?),
                    None => Clause::Compatible(Version::parse(c)?),
                }
            };
            clauses.push(clause);
        }
        Ok(VersionRange { clauses })
    }

    pub fn contains(&self, v: &Version) -> bool {
        self.clauses.iter().all(|c| match c {
            Clause::Any => true,
            Clause::Wildcard(p) => p.iter().enumerate().all(|(i, x)| v.part(i) == *x),
            Clause::Compatible(b) => v >= b && v.part(0) == b.part(0),
            Clause::Caret(b) => {
                let lead = b.parts.iter().position(|p| *p != 0).unwrap_or(b.parts.len().saturating_sub(1));
                v >= b && (0..=lead).all(|i| v.part(i) == b.part(i))
            }
            Clause::Tilde(b) => {
                // ~1.2.3 := >=1.2.3,<1.3 ; ~1.2 := >=1.2,<2.0
                let keep = b.parts.len().saturating_sub(1).max(1);
                v >= b && (0..keep).all(|i| v.part(i) == b.part(i))
            }
            Clause::Cmp(op, b) => match *op {
                ">=" => v >= b,
                "<=" => v <= b,
                ">" => v > b,
                "<" => v < b,
                "=" => v.cmp_parts(b).is_eq() && (b.post.is_empty() || v.post == b.post),
                "==" => v == b,
                "!=" => !(v.cmp_parts(b).is_eq() && (b.post.is_empty() || v.post == b.post)),
                _ => v != b,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Version {
        Version::parse(s).unwrap()
    }

    fn r(s: &str) -> VersionRange {
        VersionRange::parse(s).unwrap()
    }

    #[test]
    fn versions_order_pre_before_release_before_post() {
        assert!(v("1.2.0-pre.0") < v("1.2.0"));
        assert!(v("1.2.0") < v("1.2.0+r.1"));
        assert_eq!(v("1.1").cmp(&v("1.1.0")), Ordering::Equal);
        assert_eq!(v("1.1.1+r.13").to_string(), "1.1.1+r.13");
        assert!(Version::parse("1.x").is_err());
    }

    #[test]
    fn ranges() {
        assert!(
            r("1.2.3").contains(&v("1.4.0")) && !r("1.2.3").contains(&v("2.0.0")) && !r("1.2.3").contains(&v("1.2.2"))
        );
        assert!(r("^3.13").contains(&v("3.20.1")) && !r("^3.13").contains(&v("4.0")));
        assert!(r("~1.2.3").contains(&v("1.2.9")) && !r("~1.2.3").contains(&v("1.3.0")));
        assert!(r("~1.2").contains(&v("1.9")) && !r("~1.2").contains(&v("2.0")), "spk's ~1.2 is <2.0");
        assert!(r(">=1.2,<2").contains(&v("1.5")) && !r(">=1.2,<2").contains(&v("2.0")));
        assert!(r("1.2.*").contains(&v("1.2.7")) && !r("1.2.*").contains(&v("1.3")));
        assert!(r("").contains(&v("0.1")) && r("*").contains(&v("9")));
        assert!(r("=1.2").contains(&v("1.2.0")) && r("==1.2.0").contains(&v("1.2.0")));
    }
}
