//! Cache keys: a vertex's named inputs, hashed.
//!
//! A [`KeyParts`] is an ordered map from an input's name (`source:src/main.c`,
//! `run:craftctl/build.sh`, `layer:pull`) to a short value (a digest, or a
//! small canonical string). The [`Key`] is the sha256 of the canonical JSON of
//! that map plus [`FORMAT_VERSION`]. Keeping the inputs by name, not only
//! their hash, is what lets a miss say *what* changed ([`super::MissReason`]).
//!
//! What each kind of vertex puts in its key is in
//! [`crate::solver::keys`], beside the code that computes it (and held to
//! it by a test).

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::layer::LayerInfo;

/// The cache record layout and layer format. Bump it when either changes
/// in a way that alters what a step yields for the same inputs.
pub const FORMAT_VERSION: &str = "strata-step-cache-v1";

/// A vertex's inputs by name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyParts(pub BTreeMap<String, String>);

/// A cache key: sha256 hex of a [`KeyParts`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Key(pub String);

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", self.0)
    }
}

/// sha256 of bytes as `sha256:<hex>`.
pub fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

impl KeyParts {
    /// The parts every key starts with.
    pub fn new(vertex: &str) -> KeyParts {
        let mut k = KeyParts::default();
        k.add("format", FORMAT_VERSION);
        k.add("vertex", vertex);
        k
    }

    pub fn add(&mut self, name: impl Into<String>, value: impl Into<String>) {
        self.0.insert(name.into(), value.into());
    }

    /// A value as canonical JSON: kept as is when short (so a miss can show
    /// it), as its sha256 otherwise.
    pub fn add_json<T: Serialize + ?Sized>(&mut self, name: impl Into<String>, value: &T) {
        let bytes = crate::json::to_vec(value).unwrap_or_default();
        let shown = match std::str::from_utf8(&bytes) {
            Ok(s) if s.len() <= 120 => s.to_string(),
            _ => sha256(&bytes),
        };
        self.add(name, shown);
    }

    /// Layers by content (diff_id), one part each: `name[0]`, `name[1]`, ...
    /// A single layer is just `name`.
    pub fn add_layers<'a>(&mut self, name: &str, layers: impl IntoIterator<Item = &'a LayerInfo>) {
        let layers: Vec<&LayerInfo> = layers.into_iter().collect();
        if layers.len() == 1 {
            self.add(name, layers[0].diff_id.to_string());
            return;
        }
        self.add(format!("{name}.count"), layers.len().to_string());
        for (i, l) in layers.iter().enumerate() {
            self.add(format!("{name}[{i}]"), l.diff_id.to_string());
        }
    }

    /// Every entry of `other` under `prefix:`.
    pub fn extend_prefixed(&mut self, prefix: &str, other: impl IntoIterator<Item = (String, String)>) {
        for (k, v) in other {
            self.add(format!("{prefix}:{k}"), v);
        }
    }

    pub fn key(&self) -> Key {
        let bytes = crate::json::to_vec(&self.0).expect("a string map serializes");
        Key(hex::encode(Sha256::digest(bytes)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_depends_on_every_part_and_nothing_else() {
        let mut a = KeyParts::new("hello:build");
        a.add("run:build.sh", "sha256:1");
        let mut b = KeyParts::new("hello:build");
        b.add("run:build.sh", "sha256:1");
        assert_eq!(a.key(), b.key(), "same inputs, same key");
        b.add("run:build.sh", "sha256:2");
        assert_ne!(a.key(), b.key(), "a changed input changes the key");
        let mut c = KeyParts::new("other:build");
        c.add("run:build.sh", "sha256:1");
        assert_ne!(a.key(), c.key(), "the vertex is part of the key");
    }

    #[test]
    fn long_json_values_are_kept_as_their_digest() {
        let mut k = KeyParts::new("p:stage");
        k.add_json("stage", &vec!["usr/bin/*", "-usr/share"]);
        assert_eq!(k.0["stage"], r#"["usr/bin/*","-usr/share"]"#);
        let long: Vec<String> = (0..50).map(|i| format!("file-{i}")).collect();
        k.add_json("prime", &long);
        assert!(k.0["prime"].starts_with("sha256:"));
    }
}
