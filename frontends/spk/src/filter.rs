//! Which files of a local source spk copies (reference §2.1): rsync with
//! `--exclude` globs (default `.git/`, `.svn/`) and `--filter` rules
//! (default `:- .gitignore`, every directory's `.gitignore` merged), and
//! which captured files a component takes (§5.3: gitignore syntax rooted
//! at `/spfs`). Both are the same pattern language: [`Pattern`].

/// One gitignore/rsync pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    glob: String,
    negated: bool,
    dir_only: bool,
    /// Matched against the whole path from the base (it had a `/` before
    /// its end), else against the last component at any depth.
    anchored: bool,
}

impl Pattern {
    /// Parses a line; `None` for blanks and `#` comments.
    pub fn parse(line: &str) -> Option<Pattern> {
        let line = line.trim_end();
        if line.is_empty() || line.starts_with('#') {
            return None;
        }
        let (negated, rest) = match line.strip_prefix('!') {
            Some(r) => (true, r),
            None => (false, line),
        };
        let (dir_only, rest) = match rest.strip_suffix('/') {
            Some(r) => (true, r),
            None => (false, rest),
        };
        let anchored = rest.contains('/');
        let glob = rest.trim_start_matches('/').to_string();
        (!glob.is_empty()).then_some(Pattern { glob, negated, dir_only, anchored })
    }

    pub fn negated(&self) -> bool {
        self.negated
    }

    /// Whether the pattern names `path` itself (relative to its base).
    pub fn matches(&self, path: &str, is_dir: bool) -> bool {
        if self.dir_only && !is_dir {
            return false;
        }
        if self.anchored {
            glob(self.glob.as_bytes(), path.as_bytes())
        } else {
            glob(self.glob.as_bytes(), path.rsplit('/').next().unwrap_or(path).as_bytes())
        }
    }
}

/// A list of patterns where the last match decides.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rules {
    /// Each with the directory it is relative to ("" for the root).
    rules: Vec<(String, Pattern)>,
}

impl Rules {
    pub fn new<S: AsRef<str>>(lines: impl IntoIterator<Item = S>) -> Rules {
        let mut r = Rules::default();
        r.add("", lines);
        r
    }

    /// Adds the lines of a `.gitignore` in `dir`.
    pub fn add<S: AsRef<str>>(&mut self, dir: &str, lines: impl IntoIterator<Item = S>) {
        for l in lines {
            if let Some(p) = Pattern::parse(l.as_ref()) {
                self.rules.push((dir.to_string(), p));
            }
        }
    }

    /// Whether `path` is matched (and not negated by a later pattern).
    pub fn matches(&self, path: &str, is_dir: bool) -> Option<bool> {
        let mut verdict = None;
        for (dir, p) in &self.rules {
            let rel = if dir.is_empty() {
                Some(path)
            } else {
                path.strip_prefix(dir.as_str()).and_then(|r| r.strip_prefix('/'))
            };
            if let Some(rel) = rel
                && p.matches(rel, is_dir)
            {
                verdict = Some(!p.negated);
            }
        }
        verdict
    }

    /// Whether a path or any of its parents is matched (component files:
    /// "a pattern matches a path when the path or any parent matches").
    pub fn matches_path_or_parent(&self, path: &str, is_dir: bool) -> bool {
        let mut verdict = false;
        let comps: Vec<&str> = path.split('/').collect();
        for i in 1..=comps.len() {
            let p = comps[..i].join("/");
            let d = i < comps.len() || is_dir;
            if let Some(v) = self.matches(&p, d) {
                verdict = v;
                if v && i < comps.len() {
                    // A matched parent takes everything below unless a later
                    // pattern for the deeper path says otherwise.
                    continue;
                }
            }
        }
        verdict
    }
}

/// Glob matching: `*` and `?` within a component, `**` across them,
/// `[abc]` / `[a-z]` / `[!a]` classes, `\x` escapes.
pub fn glob(p: &[u8], s: &[u8]) -> bool {
    match p.first() {
        None => s.is_empty(),
        Some(b'*') if p.get(1) == Some(&b'*') => {
            let rest = p[2..].strip_prefix(b"/").unwrap_or(&p[2..]);
            (0..=s.len()).any(|i| glob(rest, &s[i..]) && (i == 0 || s[i - 1] == b'/' || rest.is_empty()))
                || (0..=s.len()).any(|i| glob(&p[2..], &s[i..]))
        }
        Some(b'*') => (0..=s.len()).take_while(|i| *i == 0 || s[i - 1] != b'/').any(|i| glob(&p[1..], &s[i..])),
        Some(b'?') => s.first().is_some_and(|c| *c != b'/') && glob(&p[1..], &s[1..]),
        Some(b'[') => {
            let Some(end) = p.iter().skip(2).position(|c| *c == b']').map(|e| e + 2) else {
                return s.first() == Some(&b'[') && glob(&p[1..], &s[1..]);
            };
            let Some(&c) = s.first() else { return false };
            let (neg, set) = match p[1] {
                b'!' | b'^' => (true, &p[2..end]),
                _ => (false, &p[1..end]),
            };
            let mut hit = false;
            let mut i = 0;
            while i < set.len() {
                if i + 2 < set.len() && set[i + 1] == b'-' {
                    hit |= set[i] <= c && c <= set[i + 2];
                    i += 3;
                } else {
                    hit |= set[i] == c;
                    i += 1;
                }
            }
            hit != neg && c != b'/' && glob(&p[end + 1..], &s[1..])
        }
        Some(b'\\') if p.len() > 1 => s.first() == Some(&p[1]) && glob(&p[2..], &s[1..]),
        Some(c) => s.first() == Some(c) && glob(&p[1..], &s[1..]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob(b"*.o", b"main.o"));
        assert!(!glob(b"*.o", b"dir/main.o"), "* stops at /");
        assert!(glob(b"**/*.o", b"a/b/main.o") && glob(b"**/*.o", b"main.o"));
        assert!(glob(b"lib/**", b"lib/x/y.so"));
        assert!(glob(b"a?c", b"abc") && glob(b"[a-c]x", b"bx") && !glob(b"[!a-c]x", b"bx"));
    }

    #[test]
    fn spks_default_excludes_drop_vcs_dirs_only() {
        let r = Rules::new([".git/", ".svn/"]);
        assert_eq!(r.matches(".git", true), Some(true));
        assert_eq!(r.matches("sub/.git", true), Some(true), "no slash inside: any depth");
        assert_eq!(r.matches(".git", false), None, "dir-only");
        assert_eq!(r.matches(".gitignore", false), None);
    }

    #[test]
    fn gitignore_lines_are_relative_to_their_directory_and_may_be_negated() {
        let mut r = Rules::default();
        r.add("", ["build/", "*.log", "!keep.log"]);
        r.add("sub", ["/local.txt"]);
        assert_eq!(r.matches("build", true), Some(true));
        assert_eq!(r.matches("a/x.log", false), Some(true));
        assert_eq!(r.matches("keep.log", false), Some(false));
        assert_eq!(r.matches("sub/local.txt", false), Some(true));
        assert_eq!(r.matches("local.txt", false), None, "anchored to sub/");
    }

    #[test]
    fn component_patterns_take_a_path_when_a_parent_matches() {
        let r = Rules::new(["/bin/", "lib/", "!/lib/pkgconfig"]);
        assert!(r.matches_path_or_parent("bin/hello", false));
        assert!(r.matches_path_or_parent("lib/libz.so", false));
        assert!(!r.matches_path_or_parent("lib/pkgconfig/zlib.pc", false), "negated below a match");
        assert!(!r.matches_path_or_parent("share/man/x.1", false));
        assert!(Rules::new(["*"]).matches_path_or_parent("etc/spfs/startup.d/spk_x.sh", false));
    }
}
