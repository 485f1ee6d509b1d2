//! Why a step ran: the first input whose value differs from the last build
//! of the same vertex, old → new.

use std::fmt;

use super::KeyParts;

/// Why a vertex missed the cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MissReason {
    /// No earlier build of this vertex is known to this store.
    FirstBuild,
    /// The user asked to run it (`--no-cache`, `--no-cache-filter`).
    Forced { by: String },
    /// An input changed since the last build of this vertex.
    Changed { what: String, old: Option<String>, new: Option<String>, more: usize },
    /// The inputs are those of an earlier build, but its record is gone
    /// (`strata store gc`, a new store) or names a blob the store lacks.
    Evicted,
}

impl MissReason {
    /// Compares the inputs of the last build of a vertex with today's.
    pub fn between(last: Option<&KeyParts>, now: &KeyParts) -> MissReason {
        let Some(last) = last else { return MissReason::FirstBuild };
        let mut diffs = Vec::new();
        for (k, v) in &now.0 {
            match last.0.get(k) {
                Some(old) if old == v => {}
                old => diffs.push((k.clone(), old.cloned(), Some(v.clone()))),
            }
        }
        for (k, v) in &last.0 {
            if !now.0.contains_key(k) {
                diffs.push((k.clone(), Some(v.clone()), None));
            }
        }
        if diffs.is_empty() {
            return MissReason::Evicted;
        }
        // The most telling input first: what the user edits (sources, the
        // spec) before what follows from it (layers of earlier steps).
        diffs.sort_by_key(|(k, _, _)| (rank(k), k.clone()));
        let more = diffs.len() - 1;
        let (what, old, new) = diffs.swap_remove(0);
        MissReason::Changed { what, old, new, more }
    }

    /// A changed layer input named by what made it: `producer` maps a
    /// diff_id to the vertex (and output) that yielded it in this build.
    /// `layer:rootfs[2] changed` says little; `layer:rootfs[2] from
    /// hello:build:organize (install) changed` says where to look.
    pub fn naming_layers(self, producer: impl Fn(&str) -> Option<String>) -> MissReason {
        match self {
            MissReason::Changed { what, old, new: Some(new), more } if is_layer(&what) => {
                let what = match producer(&new) {
                    Some(p) => format!("{what} from {p}"),
                    None => what,
                };
                MissReason::Changed { what, old, new: Some(new), more }
            }
            other => other,
        }
    }
}

/// Whether a key part names input layers (`layer:…`, `mount:<dest>:layers`).
fn is_layer(name: &str) -> bool {
    name.starts_with("layer") || name.contains(":layers")
}

fn rank(name: &str) -> u8 {
    match name.split(':').next().unwrap_or("") {
        "source" => 0,
        "layer" => 3,
        _ if name.starts_with("layer") => 3,
        _ => 1,
    }
}

/// The value with every `sha256:<64 hex>` cut to `sha256:0123456789ab…`,
/// and at most 80 characters.
fn short(v: &str) -> String {
    let mut out = String::new();
    let mut rest = v;
    while let Some(i) = rest.find("sha256:") {
        let hex: String = rest[i + 7..].chars().take_while(char::is_ascii_hexdigit).collect();
        out.push_str(&rest[..i + 7]);
        if hex.len() > 12 {
            out.push_str(&hex[..12]);
            out.push('…');
        } else {
            out.push_str(&hex);
        }
        rest = &rest[i + 7 + hex.len()..];
    }
    out.push_str(rest);
    if out.chars().count() > 80 { format!("{}…", out.chars().take(80).collect::<String>()) } else { out }
}

impl fmt::Display for MissReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MissReason::FirstBuild => write!(f, "not built before"),
            MissReason::Forced { by } => write!(f, "{by}"),
            MissReason::Evicted => write!(f, "its cache entry was removed"),
            MissReason::Changed { what, old, new, more } => {
                match (old, new) {
                    (Some(o), Some(n)) => write!(f, "{what} changed: {} → {}", short(o), short(n))?,
                    (None, Some(n)) => write!(f, "{what} is new: {}", short(n))?,
                    (Some(o), None) => write!(f, "{what} was removed (was {})", short(o))?,
                    (None, None) => write!(f, "{what} changed")?,
                }
                if *more > 0 {
                    write!(f, " (and {more} more input{})", if *more == 1 { "" } else { "s" })?;
                }
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(kv: &[(&str, &str)]) -> KeyParts {
        let mut k = KeyParts::new("hello:build");
        for (a, b) in kv {
            k.add(*a, *b);
        }
        k
    }

    #[test]
    fn a_changed_source_file_is_named_before_the_layers_that_follow_from_it() {
        let last = parts(&[("source:main.c", "sha256:aaaaaaaaaaaaaaaaaaaa"), ("layer:pull", "sha256:1111")]);
        let now = parts(&[("source:main.c", "sha256:bbbbbbbbbbbbbbbbbbbb"), ("layer:pull", "sha256:2222")]);
        let r = MissReason::between(Some(&last), &now);
        assert_eq!(
            r.to_string(),
            "source:main.c changed: sha256:aaaaaaaaaaaa… → sha256:bbbbbbbbbbbb… (and 1 more input)"
        );
    }

    #[test]
    fn added_and_removed_inputs_are_explained() {
        let last = parts(&[("source:a.c", "sha256:1")]);
        let now = parts(&[("source:b.c", "sha256:1")]);
        let r = MissReason::between(Some(&last), &now).to_string();
        assert_eq!(r, "source:a.c was removed (was sha256:1) (and 1 more input)");
        let file = format!("file 0644 sha256:{}", "ab".repeat(32));
        let r = MissReason::between(
            Some(&parts(&[("source:a.c", "file 0755 sha256:1")])),
            &parts(&[("source:a.c", &file)]),
        );
        assert_eq!(r.to_string(), "source:a.c changed: file 0755 sha256:1 → file 0644 sha256:abababababab…");
        assert_eq!(MissReason::between(None, &now), MissReason::FirstBuild);
        assert_eq!(MissReason::between(Some(&now), &now), MissReason::Evicted);
    }

    #[test]
    fn a_changed_layer_names_the_vertex_that_made_it() {
        let last = parts(&[("layer:rootfs[1]", "sha256:1111")]);
        let now = parts(&[("layer:rootfs[1]", "sha256:2222")]);
        let producer = |d: &str| (d == "sha256:2222").then(|| "z-lib:stage (stage)".to_string());
        let r = MissReason::between(Some(&last), &now).naming_layers(producer);
        assert_eq!(r.to_string(), "layer:rootfs[1] from z-lib:stage (stage) changed: sha256:1111 → sha256:2222");
        // Other inputs, and layers nobody in this build made (a base image's), stay as they are.
        let src = MissReason::between(Some(&parts(&[("argv", "a")])), &parts(&[("argv", "b")]));
        assert_eq!(src.clone().naming_layers(producer), src);
        let base = MissReason::between(
            Some(&parts(&[("layer:rootfs[0]", "sha256:9")])),
            &parts(&[("layer:rootfs[0]", "sha256:8")]),
        );
        assert_eq!(base.clone().naming_layers(producer), base);
    }
}
