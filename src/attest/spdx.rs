//! An [`Inventory`] as an SPDX 2.3 JSON document.
//!
//! The document DESCRIBES the image (a `CONTAINER` package whose checksum
//! is the manifest digest). The image CONTAINS its base image and each
//! group (a part, with its sources as download location and checksum);
//! the base or the group whose layer installed a Debian package or Python
//! distribution CONTAINS it. Packages carry their purl as an external
//! reference and a comment naming their layer. `created` is the build's
//! `SOURCE_DATE_EPOCH`, and the namespace is derived from the manifest
//! digest, so the same image always gets the same document.

use serde_json::{Value, json};
use strata_frontend_api::metadata::{Package, SourceRef};

use super::inventory::{Found, Inventory, Origin};
use super::license::spdx_expression;

pub const PREDICATE_TYPE: &str = "https://spdx.dev/Document";
pub const MEDIA_TYPE: &str = "application/spdx+json";

const NOASSERTION: &str = "NOASSERTION";

/// The SPDX document of `inv`, its creation time `created` (RFC 3339).
pub fn document(inv: &Inventory, created: &str) -> Value {
    let mut packages = vec![image_package(inv)];
    let mut rels = vec![rel("SPDXRef-DOCUMENT", "DESCRIBES", "SPDXRef-Image")];
    if let Some(b) = &inv.base {
        packages.push(json!({
            "SPDXID": "SPDXRef-Base",
            "name": b.reference,
            "downloadLocation": NOASSERTION,
            "filesAnalyzed": false,
            "checksums": [checksum("SHA256", b.digest.digest())],
            "primaryPackagePurpose": "CONTAINER",
            "comment": format!("the base image, {}", b.digest),
        }));
        rels.push(rel("SPDXRef-Image", "CONTAINS", "SPDXRef-Base"));
    }
    for (group, p) in &inv.groups {
        let id = group_id(group);
        packages.push(group_package(&id, p));
        rels.push(rel("SPDXRef-Image", "CONTAINS", &id));
    }
    for (i, d) in inv.debs.iter().enumerate() {
        let id = format!("SPDXRef-Deb-{}-{i}", sanitize(&d.item.name));
        let mut p = json!({
            "SPDXID": id,
            "name": d.item.name,
            "versionInfo": d.item.version,
            "downloadLocation": NOASSERTION,
            "filesAnalyzed": false,
            "licenseConcluded": NOASSERTION,
            "licenseDeclared": d.item.license.expression.as_deref().unwrap_or(NOASSERTION),
            "licenseComments": d.item.license.note,
            "copyrightText": NOASSERTION,
            "supplier": d.item.maintainer.as_ref().map(|m| format!("Person: {m}")).unwrap_or(NOASSERTION.into()),
            "externalRefs": [purl(&d.item.purl())],
            "primaryPackagePurpose": "LIBRARY",
            "comment": placement(d),
        });
        if let Some(h) = &d.item.homepage {
            p["homepage"] = json!(h);
        }
        if let Some(s) = &d.item.source {
            p["sourceInfo"] = json!(format!("built from the Debian source package {s}"));
        }
        if let Some(sum) = &d.item.sha256 {
            p["checksums"] = json!([checksum("SHA256", sum)]);
        }
        packages.push(p);
        rels.push(rel(&container(&d.origin), "CONTAINS", &id));
    }
    for (i, d) in inv.language_packages().iter().enumerate() {
        let id = format!("SPDXRef-{}-{}-{i}", d.item.ecosystem.id(), sanitize(&d.item.name));
        let (declared, comment) = license_fields(d.item.license.as_deref());
        let mut p = json!({
            "SPDXID": id,
            "name": d.item.name,
            "versionInfo": d.item.version,
            "downloadLocation": NOASSERTION,
            "filesAnalyzed": false,
            "licenseConcluded": NOASSERTION,
            "licenseDeclared": declared,
            "copyrightText": NOASSERTION,
            "externalRefs": [purl(&d.item.purl())],
            "primaryPackagePurpose": "LIBRARY",
            "comment": format!("{}, {}", placement(d), d.item.path),
        });
        if let Some(c) = comment {
            p["licenseComments"] = json!(c);
        }
        if let Some(h) = &d.item.homepage {
            p["homepage"] = json!(h);
        }
        match d.item.checksum.as_deref().and_then(sri_checksum) {
            Some(sum) => p["checksums"] = json!([sum]),
            None => {
                if let Some(sum) = &d.item.checksum {
                    p["comment"] = json!(format!("{}; checksum {sum}", p["comment"].as_str().unwrap_or_default()));
                }
            }
        }
        packages.push(p);
        rels.push(rel(&container(&d.origin), "CONTAINS", &id));
    }
    let extracted = extracted_licenses(inv, &packages);
    let mut doc = json!({
        "spdxVersion": "SPDX-2.3",
        "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": inv.name,
        "documentNamespace": format!("https://example.invalid/strata/spdx/{}/{}", sanitize(&inv.name), inv.digest.digest()),
        "creationInfo": {
            "created": created,
            "creators": [format!("Tool: strata-{}", env!("CARGO_PKG_VERSION"))],
        },
        "packages": packages,
        "relationships": rels,
    });
    if !extracted.is_empty() {
        doc["hasExtractedLicensingInfos"] = json!(extracted);
    }
    doc
}

/// An `hasExtractedLicensingInfos` entry for each `LicenseRef-` the
/// packages' declared licenses use (SPDX requires one): Debian's name of
/// it, and where its text is.
fn extracted_licenses(inv: &Inventory, packages: &[Value]) -> Vec<Value> {
    let mut names: std::collections::BTreeMap<String, String> = std::collections::BTreeMap::new();
    for p in packages {
        let declared = p["licenseDeclared"].as_str().unwrap_or_default();
        for t in declared.replace(['(', ')'], " ").split_whitespace().filter(|t| t.starts_with("LicenseRef-")) {
            names.entry(t.to_string()).or_insert_with(|| t.trim_start_matches("LicenseRef-").to_string());
        }
    }
    for (id, name) in inv.debs.iter().flat_map(|d| &d.item.license.refs) {
        if let Some(n) = names.get_mut(id) {
            *n = name.clone();
        }
    }
    names
        .into_iter()
        .map(|(id, name)| {
            json!({
                "licenseId": id,
                "name": name,
                "extractedText": format!("The license a package's metadata names '{name}'; its text is in the package's copyright or license file."),
            })
        })
        .collect()
}

fn image_package(inv: &Inventory) -> Value {
    let project = inv.project.as_ref();
    let (declared, comment) = license_fields(project.and_then(|p| p.license.as_deref()));
    let mut p = json!({
        "SPDXID": "SPDXRef-Image",
        "name": inv.name,
        "downloadLocation": NOASSERTION,
        "filesAnalyzed": false,
        "checksums": [checksum("SHA256", inv.digest.digest())],
        "licenseConcluded": NOASSERTION,
        "licenseDeclared": declared,
        "copyrightText": NOASSERTION,
        "primaryPackagePurpose": "CONTAINER",
        "externalRefs": [purl(&format!("pkg:oci/{}@{}", oci_name(&inv.name), inv.digest.to_string().replace(':', "%3A")))],
    });
    if let Some(v) = &inv.version {
        p["versionInfo"] = json!(v);
    }
    if let Some(c) = comment {
        p["licenseComments"] = json!(c);
    }
    if let Some(d) = project.and_then(|p| p.description.as_ref()) {
        p["summary"] = json!(d);
    }
    p
}

fn group_package(id: &str, p: &Package) -> Value {
    let first = p.sources.first();
    let mut v = json!({
        "SPDXID": id,
        "name": p.name,
        "downloadLocation": first.map(download_location).unwrap_or(NOASSERTION.into()),
        "filesAnalyzed": false,
        "licenseConcluded": NOASSERTION,
        "licenseDeclared": license_fields(p.license.as_deref()).0,
        "copyrightText": NOASSERTION,
        "primaryPackagePurpose": "SOURCE",
    });
    if let Some(ver) = &p.version {
        v["versionInfo"] = json!(ver);
    }
    let sums: Vec<Value> = p.sources.iter().filter_map(|s| s.checksum.as_deref()).filter_map(spdx_checksum).collect();
    if !sums.is_empty() {
        v["checksums"] = json!(sums);
    }
    if !p.sources.is_empty() {
        let described: Vec<String> = p.sources.iter().map(|s| format!("{} source {}", s.kind, s.url)).collect();
        v["sourceInfo"] = json!(described.join("; "));
    }
    v
}

/// SPDX's download location of a source: a URL, `git+URL@commit`, or
/// NOASSERTION for a path in the project.
fn download_location(s: &SourceRef) -> String {
    if s.kind == "local" || !s.url.contains("://") {
        return NOASSERTION.into();
    }
    match (&s.kind[..], &s.commit) {
        ("git", Some(c)) => format!("git+{}@{c}", s.url),
        ("git", None) => format!("git+{}", s.url),
        _ => s.url.clone(),
    }
}

/// `sha256/hex` as an SPDX checksum, for the algorithms SPDX names.
fn spdx_checksum(sum: &str) -> Option<Value> {
    let (alg, hex) = sum.split_once('/')?;
    let alg = match alg {
        "sha1" => "SHA1",
        "sha256" => "SHA256",
        "sha384" => "SHA384",
        "sha512" => "SHA512",
        "md5" => "MD5",
        _ => return None,
    };
    Some(checksum(alg, hex))
}

/// An npm `integrity` (subresource integrity, `sha512-<base64>`) as an
/// SPDX checksum.
fn sri_checksum(sri: &str) -> Option<Value> {
    let (alg, b64) = sri.split_once('-')?;
    let alg = match alg {
        "sha1" => "SHA1",
        "sha256" => "SHA256",
        "sha384" => "SHA384",
        "sha512" => "SHA512",
        _ => return None,
    };
    let bytes = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, b64).ok()?;
    Some(checksum(alg, &hex::encode(bytes)))
}

fn checksum(alg: &str, hex: &str) -> Value {
    json!({ "algorithm": alg, "checksumValue": hex })
}

fn purl(locator: &str) -> Value {
    json!({ "referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl", "referenceLocator": locator })
}

fn rel(a: &str, kind: &str, b: &str) -> Value {
    json!({ "spdxElementId": a, "relationshipType": kind, "relatedSpdxElement": b })
}

/// `(licenseDeclared, licenseComments)` for a declared license.
fn license_fields(license: Option<&str>) -> (String, Option<String>) {
    match license {
        None => (NOASSERTION.into(), None),
        Some(l) => match spdx_expression(l) {
            Some(e) => (e, None),
            None => (NOASSERTION.into(), Some(format!("declared as: {l}"))),
        },
    }
}

fn placement<T>(f: &Found<T>) -> String {
    let by = match &f.origin {
        Origin::Base => "the base image".to_string(),
        Origin::Group(g, step) => format!("the {step} step of '{g}'"),
        Origin::Project => "the project".to_string(),
    };
    format!("in layer {} of the image, from {by}", f.layer)
}

fn container(o: &Origin) -> String {
    match o {
        Origin::Base => "SPDXRef-Base".into(),
        Origin::Group(g, _) => group_id(g),
        Origin::Project => "SPDXRef-Image".into(),
    }
}

fn group_id(g: &str) -> String {
    format!("SPDXRef-Group-{}", sanitize(g))
}

/// `s` with every character SPDX ids refuse replaced by `-`.
fn sanitize(s: &str) -> String {
    s.chars().map(|c| if c.is_ascii_alphanumeric() || c == '.' || c == '-' { c } else { '-' }).collect()
}

/// The repository part of an image name, lowercased, for a `pkg:oci` purl.
fn oci_name(name: &str) -> String {
    let repo = name.rsplit('/').next().unwrap_or(name);
    repo.split(':').next().unwrap_or(repo).to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::super::testdata::inventory;
    use super::*;

    #[test]
    fn the_image_is_described_and_contains_its_base_and_groups_which_contain_their_packages() {
        let doc = document(&inventory(), "1970-01-01T00:00:00Z");
        let rels: Vec<(String, String, String)> = doc["relationships"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                let s = |k: &str| r[k].as_str().unwrap().to_string();
                (s("spdxElementId"), s("relationshipType"), s("relatedSpdxElement"))
            })
            .collect();
        let has = |a: &str, k: &str, b: &str| rels.contains(&(a.into(), k.into(), b.into()));
        assert!(has("SPDXRef-DOCUMENT", "DESCRIBES", "SPDXRef-Image"));
        assert!(has("SPDXRef-Image", "CONTAINS", "SPDXRef-Base"));
        assert!(has("SPDXRef-Image", "CONTAINS", "SPDXRef-Group-hello"));
        assert!(has("SPDXRef-Base", "CONTAINS", "SPDXRef-Deb-libc6-0"));
        assert!(has("SPDXRef-Group-hello", "CONTAINS", "SPDXRef-PyPI-flask-0"));
    }

    #[test]
    fn sources_give_download_location_and_checksum_and_licenses_are_checked() {
        let doc = document(&inventory(), "1970-01-01T00:00:00Z");
        let hello = doc["packages"].as_array().unwrap().iter().find(|p| p["name"] == "hello").unwrap();
        assert_eq!(hello["downloadLocation"], "https://example.com/hello-2.12.tar.gz");
        assert_eq!(hello["checksums"][0]["algorithm"], "SHA256");
        let image = &doc["packages"][0];
        assert_eq!(image["licenseDeclared"], "NOASSERTION");
        assert_eq!(image["licenseComments"], "declared as: GPL v3");
        let flask = doc["packages"].as_array().unwrap().iter().find(|p| p["name"] == "flask").unwrap();
        assert_eq!(flask["licenseDeclared"], "BSD-3-Clause");
        assert!(
            flask["comment"].as_str().unwrap().starts_with("in layer 1 of the image, from the prime step of 'hello'")
        );
    }

    #[test]
    fn debian_licenses_are_declared_and_their_license_refs_extracted() {
        let doc = document(&inventory(), "1970-01-01T00:00:00Z");
        let libc = doc["packages"].as_array().unwrap().iter().find(|p| p["name"] == "libc6").unwrap();
        assert_eq!(libc["licenseDeclared"], "LGPL-2.1-or-later AND LicenseRef-public-domain");
        assert_eq!(libc["licenseComments"], "from /usr/share/doc/libc6/copyright (DEP-5)");
        assert_eq!(doc["hasExtractedLicensingInfos"][0]["licenseId"], "LicenseRef-public-domain");
        assert_eq!(doc["hasExtractedLicensingInfos"][0]["name"], "public-domain");
    }

    #[test]
    fn npm_packages_carry_their_purl_and_integrity() {
        let doc = document(&inventory(), "1970-01-01T00:00:00Z");
        let node = doc["packages"].as_array().unwrap().iter().find(|p| p["name"] == "@types/node").unwrap();
        assert_eq!(node["SPDXID"], "SPDXRef-Npm--types-node-1");
        assert_eq!(node["externalRefs"][0]["referenceLocator"], "pkg:npm/%40types/node@20.1.0");
        assert_eq!(node["checksums"][0], json!({ "algorithm": "SHA512", "checksumValue": "000102" }));
        assert_eq!(node["licenseDeclared"], "MIT");
    }

    #[test]
    fn git_sources_are_located_by_commit() {
        let s = SourceRef {
            kind: "git".into(),
            url: "https://x/r.git".into(),
            commit: Some("abc".into()),
            ..Default::default()
        };
        assert_eq!(download_location(&s), "git+https://x/r.git@abc");
    }
}
