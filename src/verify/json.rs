//! The first field at which two JSON documents differ, in document order
//! (object keys sorted), as a path like `manifests[1].annotations.x`.

use serde_json::Value;

/// `(path, left, right)` of the first difference, `None` when equal.
pub fn first_difference(a: &Value, b: &Value) -> Option<(String, String, String)> {
    walk(a, b, String::new())
}

fn walk(a: &Value, b: &Value, path: String) -> Option<(String, String, String)> {
    if a == b {
        return None;
    }
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let mut keys: Vec<&String> = x.keys().chain(y.keys()).collect();
            keys.sort();
            keys.dedup();
            for k in keys {
                let p = if path.is_empty() { k.clone() } else { format!("{path}.{k}") };
                match (x.get(k), y.get(k)) {
                    (Some(va), Some(vb)) => {
                        if let Some(d) = walk(va, vb, p) {
                            return Some(d);
                        }
                    }
                    (va, vb) => return Some((p, show(va), show(vb))),
                }
            }
            None
        }
        (Value::Array(x), Value::Array(y)) => {
            for i in 0..x.len().max(y.len()) {
                let p = format!("{path}[{i}]");
                match (x.get(i), y.get(i)) {
                    (Some(va), Some(vb)) => {
                        if let Some(d) = walk(va, vb, p) {
                            return Some(d);
                        }
                    }
                    (va, vb) => return Some((p, show(va), show(vb))),
                }
            }
            None
        }
        _ => Some((path, show(Some(a)), show(Some(b)))),
    }
}

fn show(v: Option<&Value>) -> String {
    match v {
        None => "(absent)".into(),
        Some(v) => {
            let s = v.to_string();
            if s.len() > 120 {
                format!("{}…", &s[..s.char_indices().nth(117).map_or(s.len(), |(i, _)| i)])
            } else {
                s
            }
        }
    }
}

/// The value at `path` (as [`first_difference`] writes paths).
pub fn at<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    let mut cur = v;
    for part in path.split('.') {
        let (key, indices) = match part.find('[') {
            Some(i) => (&part[..i], &part[i..]),
            None => (part, ""),
        };
        if !key.is_empty() {
            cur = cur.get(key)?;
        }
        for idx in indices.split('[').filter(|s| !s.is_empty()) {
            cur = cur.get(idx.trim_end_matches(']').parse::<usize>().ok()?)?;
        }
    }
    Some(cur)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_first_differing_field_is_named_by_its_path() {
        let a = json!({"layers": [{"digest": "x"}, {"digest": "y"}], "z": 1});
        let b = json!({"layers": [{"digest": "x"}, {"digest": "w"}], "z": 2});
        let (p, l, r) = first_difference(&a, &b).unwrap();
        assert_eq!((p.as_str(), l.as_str(), r.as_str()), ("layers[1].digest", "\"y\"", "\"w\""));
        assert_eq!(at(&a, "layers[1]"), Some(&json!({"digest": "y"})));
    }

    #[test]
    fn a_missing_key_is_a_difference() {
        let (p, _, r) = first_difference(&json!({"a": 1}), &json!({})).unwrap();
        assert_eq!((p.as_str(), r.as_str()), ("a", "(absent)"));
        assert_eq!(first_difference(&json!([1]), &json!([1])), None);
    }
}
