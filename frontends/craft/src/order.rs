//! Part order, by craft-parts' rules (`parts.sort_parts`): alphabetical,
//! then every part moved after the parts named in its `after:`. A cycle is
//! an error that names it, starting from its alphabetically first part.

use std::collections::{BTreeMap, BTreeSet};

use strata_frontend_api::{Part, Project};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OrderError {
    /// `cycle` starts and ends with the same part: `[a, b, a]` means `a`
    /// comes after `b`, which comes after `a`.
    #[error("parts depend on each other in a cycle: {}", cycle.join(" → "))]
    Cycle { cycle: Vec<String> },
}

/// The lifecycle order of a project's parts.
pub fn order(project: &Project) -> Result<Vec<String>, OrderError> {
    order_parts(&project.parts)
}

/// The lifecycle order of `parts` (names in `after:` that are not parts are
/// ignored here; the frontend rejects them when loading).
pub fn order_parts(parts: &BTreeMap<String, Part>) -> Result<Vec<String>, OrderError> {
    // craft-parts walks the names in reverse order and takes, each round,
    // the first part no remaining part waits for, prepending it.
    let mut remaining: Vec<&str> = parts.keys().rev().map(String::as_str).collect();
    let mut sorted: Vec<String> = Vec::new();
    while !remaining.is_empty() {
        let top =
            remaining.iter().position(|p| !remaining.iter().any(|other| parts[*other].after.iter().any(|a| a == p)));
        let Some(i) = top else {
            return Err(OrderError::Cycle { cycle: find_cycle(parts, &remaining) });
        };
        sorted.insert(0, remaining.remove(i).to_string());
    }
    Ok(sorted)
}

/// craft-parts' `_find_dependency_cycle`: a depth-first search from each
/// remaining part, in their order; the cycle found is rotated to start at
/// its smallest name and closed with it.
fn find_cycle(parts: &BTreeMap<String, Part>, remaining: &[&str]) -> Vec<String> {
    let names: BTreeSet<&str> = remaining.iter().copied().collect();
    let deps =
        |p: &str| -> Vec<&str> { parts[p].after.iter().map(String::as_str).filter(|d| names.contains(d)).collect() };
    fn search<'a>(
        start: &'a str,
        deps: &dyn Fn(&str) -> Vec<&'a str>,
        visited: &mut BTreeSet<&'a str>,
        path: &mut Vec<&'a str>,
    ) -> Option<Vec<&'a str>> {
        if let Some(i) = path.iter().position(|p| *p == start) {
            return Some(path[i..].to_vec());
        }
        if !visited.insert(start) {
            return None;
        }
        path.push(start);
        for d in deps(start) {
            if let Some(c) = search(d, deps, visited, path) {
                return Some(c);
            }
        }
        path.pop();
        None
    }
    for start in remaining {
        let mut visited = BTreeSet::new();
        let mut path = Vec::new();
        if let Some(cycle) = search(start, &deps, &mut visited, &mut path) {
            let min = cycle.iter().enumerate().min_by_key(|(_, n)| **n).map(|(i, _)| i).unwrap_or(0);
            let mut out: Vec<String> = cycle[min..].iter().chain(&cycle[..min]).map(|s| s.to_string()).collect();
            out.push(out[0].clone());
            return out;
        }
    }
    remaining.iter().map(|s| s.to_string()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::part_after;

    fn parts(spec: &[(&str, &[&str])]) -> BTreeMap<String, Part> {
        spec.iter().map(|(n, after)| (n.to_string(), part_after(after))).collect()
    }

    #[test]
    fn alphabetical_without_after() {
        let p = parts(&[("c", &[]), ("a", &[]), ("b", &[])]);
        assert_eq!(order_parts(&p).unwrap(), ["a", "b", "c"]);
    }

    #[test]
    fn after_moves_a_part_behind_its_dependencies() {
        // a-app sorts first but waits for z-lib (the after-scriptlets case).
        let p = parts(&[("a-app", &["z-lib"]), ("z-lib", &[])]);
        assert_eq!(order_parts(&p).unwrap(), ["z-lib", "a-app"]);
        // craft-parts' sort_parts gives this order (checked against 2.37.2): a
        // dependency moves just before the first part that needs it.
        let p = parts(&[("a", &["c"]), ("b", &[]), ("c", &[]), ("d", &["a"])]);
        assert_eq!(order_parts(&p).unwrap(), ["c", "a", "b", "d"]);
    }

    #[test]
    fn cycles_are_named_from_their_first_part() {
        let p = parts(&[("b", &["a"]), ("a", &["b"]), ("c", &[])]);
        assert_eq!(order_parts(&p).unwrap_err(), OrderError::Cycle { cycle: vec!["a".into(), "b".into(), "a".into()] });
        let p = parts(&[("x", &["z"]), ("y", &["x"]), ("z", &["y"])]);
        let err = order_parts(&p).unwrap_err();
        assert_eq!(err.to_string(), "parts depend on each other in a cycle: x → z → y → x");
        let p = parts(&[("self", &["self"])]);
        assert_eq!(order_parts(&p).unwrap_err().to_string(), "parts depend on each other in a cycle: self → self");
    }
}
