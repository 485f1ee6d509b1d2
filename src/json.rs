//! Canonical JSON: object keys sorted, no insignificant whitespace.
//!
//! Every JSON blob strata writes (image configs, manifests, indexes, cache
//! records) goes through here, so the same value always has the same bytes
//! and therefore the same digest. Going through `serde_json::Value` sorts keys
//! because serde_json's map is a `BTreeMap` unless its `preserve_order`
//! feature is on; a test below guards against that feature sneaking in
//! through another dependency.

use serde::Serialize;

/// Serializes `value` as canonical JSON bytes.
pub fn to_vec<T: Serialize + ?Sized>(value: &T) -> serde_json::Result<Vec<u8>> {
    let v = serde_json::to_value(value)?;
    serde_json::to_vec(&v)
}

#[cfg(test)]
mod tests {
    #[test]
    fn keys_are_sorted_and_compact() {
        #[derive(serde::Serialize)]
        struct S {
            zebra: u8,
            apple: Vec<u8>,
            mango: std::collections::HashMap<&'static str, u8>,
        }
        let s = S { zebra: 1, apple: vec![2, 3], mango: [("b", 1), ("a", 2)].into_iter().collect() };
        assert_eq!(
            String::from_utf8(super::to_vec(&s).unwrap()).unwrap(),
            r#"{"apple":[2,3],"mango":{"a":2,"b":1},"zebra":1}"#
        );
    }
}
