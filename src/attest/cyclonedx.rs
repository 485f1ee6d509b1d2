//! An [`Inventory`] as a CycloneDX 1.6 JSON BOM.
//!
//! `metadata.component` is the image (a `container`); its base image and
//! its groups are top-level components, and the packages a layer of theirs
//! installed are nested under them (CycloneDX's assemblies: nesting is
//! containment). Each package has its purl and the `strata:layer`
//! property. The serial number is derived from the manifest digest and the
//! timestamp is the build's `SOURCE_DATE_EPOCH`: the same image always gets
//! the same BOM.

use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};
use strata_frontend_api::metadata::Package;

use super::inventory::{Found, Inventory, Origin};
use super::lang::Ecosystem;
use super::license::spdx_expression;

pub const PREDICATE_TYPE: &str = "https://cyclonedx.org/bom";
pub const MEDIA_TYPE: &str = "application/vnd.cyclonedx+json";

/// The BOM of `inv`, its timestamp `created` (RFC 3339).
pub fn document(inv: &Inventory, created: &str) -> Value {
    let mut base = inv.base.as_ref().map(|b| {
        json!({
            "type": "container",
            "bom-ref": "base",
            "name": b.reference,
            "hashes": [{ "alg": "SHA-256", "content": b.digest.digest() }],
            "components": [],
        })
    });
    let mut groups: Vec<(String, Value)> = inv.groups.iter().map(|(g, p)| (g.clone(), group(g, p))).collect();
    let mut loose: Vec<Value> = Vec::new();
    let debs = inv.debs.iter().map(|d| {
        let mut c = json!({
            "type": "library",
            "bom-ref": format!("deb:{}:{}:{}", d.item.name, d.item.architecture, d.layer),
            "name": d.item.name,
            "version": d.item.version,
            "purl": d.item.purl(),
            "properties": layer(d),
        });
        if let Some(m) = &d.item.maintainer {
            c["supplier"] = json!({ "name": m });
        }
        if let Some(e) = &d.item.license.expression {
            c["licenses"] = json!([{ "expression": e }]);
        }
        if let Some(sum) = &d.item.sha256 {
            c["hashes"] = json!([{ "alg": "SHA-256", "content": sum }]);
        }
        (d.origin.clone(), c)
    });
    let langs = inv.language_packages();
    let dists = langs.iter().map(|d| {
        let bom_ref = match d.item.ecosystem {
            Ecosystem::Pypi => format!("pypi:{}", d.item.path),
            e => format!("{}:{}:{}@{}", e.purl_type(), d.item.path, d.item.name, d.item.version),
        };
        let mut c = json!({
            "type": "library",
            "bom-ref": bom_ref,
            "name": d.item.name,
            "version": d.item.version,
            "purl": d.item.purl(),
            "properties": layer(d),
        });
        if let Some(l) = &d.item.license {
            c["licenses"] = licenses(l);
        }
        (d.origin.clone(), c)
    });
    for (origin, c) in debs.chain(dists) {
        let slot = match &origin {
            Origin::Base => base.as_mut(),
            Origin::Group(g, _) => groups.iter_mut().find(|(n, _)| n == g).map(|(_, v)| v),
            Origin::Project => None,
        };
        match slot {
            Some(parent) => parent["components"].as_array_mut().expect("components").push(c),
            None => loose.push(c),
        }
    }
    let mut components: Vec<Value> = base.into_iter().collect();
    components.extend(groups.into_iter().map(|(_, v)| v));
    components.extend(loose);
    let mut image = json!({
        "type": "container",
        "bom-ref": "image",
        "name": inv.name,
        "hashes": [{ "alg": "SHA-256", "content": inv.digest.digest() }],
    });
    if let Some(v) = &inv.version {
        image["version"] = json!(v);
    }
    if let Some(p) = &inv.project {
        if let Some(l) = &p.license {
            image["licenses"] = licenses(l);
        }
        if let Some(d) = &p.description {
            image["description"] = json!(d);
        }
    }
    json!({
        "bomFormat": "CycloneDX",
        "specVersion": "1.6",
        "serialNumber": serial_number(inv.digest.as_ref()),
        "version": 1,
        "metadata": {
            "timestamp": created,
            "tools": { "components": [{ "type": "application", "name": "strata", "version": env!("CARGO_PKG_VERSION") }] },
            "component": image,
        },
        "components": components,
    })
}

fn group(name: &str, p: &Package) -> Value {
    let mut c = json!({ "type": "application", "bom-ref": format!("group:{name}"), "name": p.name, "components": [] });
    if let Some(v) = &p.version {
        c["version"] = json!(v);
    }
    if let Some(l) = &p.license {
        c["licenses"] = licenses(l);
    }
    let hashes: Vec<Value> = p
        .sources
        .iter()
        .filter_map(|s| s.checksum.as_deref()?.split_once('/'))
        .filter_map(|(alg, hex)| {
            let alg = match alg {
                "sha1" => "SHA-1",
                "sha256" => "SHA-256",
                "sha384" => "SHA-384",
                "sha512" => "SHA-512",
                "md5" => "MD5",
                _ => return None,
            };
            Some(json!({ "alg": alg, "content": hex }))
        })
        .collect();
    if !hashes.is_empty() {
        c["hashes"] = json!(hashes);
    }
    let refs: Vec<Value> = p
        .sources
        .iter()
        .filter(|s| s.url.contains("://"))
        .map(|s| {
            let kind = if s.kind == "git" { "vcs" } else { "distribution" };
            let mut r = json!({ "type": kind, "url": s.url });
            if let Some(commit) = &s.commit {
                r["comment"] = json!(format!("commit {commit}"));
            }
            r
        })
        .collect();
    if !refs.is_empty() {
        c["externalReferences"] = json!(refs);
    }
    c
}

fn licenses(l: &str) -> Value {
    match spdx_expression(l) {
        Some(e) => json!([{ "expression": e }]),
        None => json!([{ "license": { "name": l } }]),
    }
}

/// Where it was found: the image layer and, for a group's, the step.
fn layer<T>(f: &Found<T>) -> Value {
    let mut props = vec![json!({ "name": "strata:layer", "value": f.layer.to_string() })];
    if let Origin::Group(_, step) = &f.origin {
        props.push(json!({ "name": "strata:step", "value": step }));
    }
    json!(props)
}

/// A `urn:uuid:` made from `seed`'s sha256, with the version and variant
/// bits of a name-based UUID so validators take it.
fn serial_number(seed: &str) -> String {
    let h = Sha256::digest(seed.as_bytes());
    let mut b: [u8; 16] = h[..16].try_into().expect("16 bytes");
    b[6] = (b[6] & 0x0f) | 0x50;
    b[8] = (b[8] & 0x3f) | 0x80;
    let x = hex::encode(b);
    format!("urn:uuid:{}-{}-{}-{}-{}", &x[..8], &x[8..12], &x[12..16], &x[16..20], &x[20..])
}

#[cfg(test)]
mod tests {
    use super::super::testdata::inventory;
    use super::*;

    #[test]
    fn packages_nest_under_the_base_or_group_that_installed_them() {
        let bom = document(&inventory(), "1970-01-01T00:00:00Z");
        assert_eq!(bom["metadata"]["component"]["type"], "container");
        let comps = bom["components"].as_array().unwrap();
        assert_eq!(comps[0]["bom-ref"], "base");
        assert_eq!(comps[0]["components"][0]["purl"], "pkg:deb/debian/libc6@2.36-9%2Bdeb12u4?arch=amd64");
        assert_eq!(comps[1]["bom-ref"], "group:hello");
        assert_eq!(comps[1]["components"][0]["licenses"][0]["expression"], "BSD-3-Clause");
        assert_eq!(comps[1]["hashes"][0]["alg"], "SHA-256");
        assert_eq!(comps[1]["components"][0]["properties"][1], json!({ "name": "strata:step", "value": "prime" }));
    }

    #[test]
    fn the_serial_number_is_a_uuid_fixed_by_the_digest() {
        let a = serial_number("sha256:aa");
        assert_eq!(a, serial_number("sha256:aa"));
        assert_ne!(a, serial_number("sha256:ab"));
        assert_eq!(a.len(), "urn:uuid:".len() + 36);
        assert_eq!(&a[23..24], "5");
    }

    #[test]
    fn free_text_licenses_are_named_not_parsed() {
        let bom = document(&inventory(), "1970-01-01T00:00:00Z");
        assert_eq!(bom["metadata"]["component"]["licenses"][0]["license"]["name"], "GPL v3");
    }
}
