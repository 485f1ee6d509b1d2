//! Storing a package build: each member's layer as an image of one layer
//! (a minimal config: the host platform and the diff_id), an index over
//! them annotated with the package's name, version, build and the
//! frontend's record, and the ref `<frontend>/<name>:<tag>` on it.
//! Deterministic: the same layers and record give the same index digest.

use std::collections::{BTreeMap, HashMap};

use oci_spec::image::{Descriptor, ImageIndexBuilder, ImageManifestBuilder, MediaType};
use strata_frontend_api::graph::{BuildGraph, LayerRef};
use strata_frontend_api::packages::{self, PackageSpec};

use crate::image::Platform;
use crate::layer::LayerInfo;
use crate::resolve::Resolved;
use crate::store::Store;

/// The store's ref of a package build.
pub fn store_ref(frontend: &str, name: &str, tag: &str) -> String {
    format!("{frontend}/{name}:{tag}")
}

/// Stores every package `graph` declares whose layers `outputs` (by vertex,
/// then output) or `resolved` hold; returns each ref and its index.
/// Packages whose layers were not built (a target that stopped short) are
/// skipped.
pub fn store_packages(
    store: &Store,
    graph: &BuildGraph,
    outputs: &BTreeMap<String, BTreeMap<String, LayerInfo>>,
    resolved: &Resolved,
) -> crate::Result<Vec<(String, Descriptor)>> {
    let mut out = Vec::new();
    for p in &graph.packages {
        let layer = |r: &LayerRef| -> Option<LayerInfo> {
            match r {
                LayerRef::Output { vertex, output } => outputs.get(vertex)?.get(output).cloned(),
                LayerRef::Image { .. } => resolved.image_layers(r)?.into_iter().next(),
            }
        };
        let Some(layers) = p.members.iter().map(|m| layer(&m.layer)).collect::<Option<Vec<_>>>() else {
            continue;
        };
        let desc = store_package(store, p, &layers)?;
        let name = store_ref(&graph.frontend.name, &p.name, &packages::tag(&p.version, &p.build));
        store.set_ref(&name, &desc)?;
        out.push((name, desc));
    }
    Ok(out)
}

/// Writes `p` (with `layers`, one per member) and returns its index.
fn store_package(store: &Store, p: &PackageSpec, layers: &[LayerInfo]) -> crate::Result<Descriptor> {
    let platform = Platform::host();
    let mut manifests = Vec::new();
    for (m, l) in p.members.iter().zip(layers) {
        let config = serde_json::json!({
            "architecture": platform.architecture,
            "os": platform.os,
            "rootfs": { "type": "layers", "diff_ids": [l.diff_id.to_string()] },
        });
        let config = store.put_json(MediaType::ImageConfig, &config)?;
        let member = HashMap::from([(packages::MEMBER.to_string(), m.name.clone())]);
        let layer = Descriptor::new(l.media_type(), l.size, l.digest.clone());
        let manifest = ImageManifestBuilder::default()
            .schema_version(2u32)
            .media_type(MediaType::ImageManifest)
            .config(config)
            .layers(vec![layer])
            .annotations(member.clone())
            .build()
            .expect("a manifest with config and layers");
        let mut desc = store.put_json(MediaType::ImageManifest, &manifest)?;
        desc.set_annotations(Some(member));
        manifests.push(desc);
    }
    let mut annotations: HashMap<String, String> = p.annotations.clone().into_iter().collect();
    annotations.insert(packages::NAME.into(), p.name.clone());
    annotations.insert(packages::VERSION.into(), p.version.clone());
    annotations.insert(packages::BUILD.into(), p.build.clone());
    let index = ImageIndexBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageIndex)
        .manifests(manifests)
        .annotations(annotations)
        .build()
        .expect("an index with manifests");
    Ok(store.put_json(MediaType::ImageIndex, &index)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use strata_frontend_api::graph::FrontendId;
    use strata_frontend_api::packages::PackageMember;

    fn layer(store: &Store, bytes: &[u8]) -> LayerInfo {
        let d = store.put_bytes(MediaType::ImageLayer, bytes).unwrap();
        LayerInfo {
            digest: d.digest().clone(),
            diff_id: d.digest().clone(),
            size: d.size(),
            compression: crate::layer::Compression::None,
        }
    }

    #[test]
    fn a_package_is_an_index_of_one_image_per_member_under_its_ref() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let mut graph = BuildGraph::new(FrontendId { name: "spk".into(), semantics: 1 });
        graph.packages.push(PackageSpec {
            name: "greet".into(),
            version: "1.0.0".into(),
            build: "3I42H3S6".into(),
            annotations: BTreeMap::from([("org.strata.spk.package".into(), "{}".into())]),
            members: vec![
                PackageMember { name: "build".into(), layer: LayerRef::output("greet:package:3I42H3S6", "build") },
                PackageMember { name: "run".into(), layer: LayerRef::output("greet:package:3I42H3S6", "run") },
            ],
        });
        let outputs = BTreeMap::from([(
            "greet:package:3I42H3S6".to_string(),
            BTreeMap::from([("build".to_string(), layer(&store, b"b")), ("run".to_string(), layer(&store, b"r"))]),
        )]);
        let stored = store_packages(&store, &graph, &outputs, &Resolved::default()).unwrap();
        assert_eq!(stored.len(), 1);
        assert_eq!(stored[0].0, "spk/greet:1.0.0-3I42H3S6");
        let again = store_packages(&store, &graph, &outputs, &Resolved::default()).unwrap();
        assert_eq!(again[0].1.digest(), stored[0].1.digest(), "deterministic");

        let index: oci_spec::image::ImageIndex = store.read_json(stored[0].1.digest()).unwrap();
        let ann = index.annotations().clone().unwrap();
        assert_eq!(ann[packages::NAME], "greet");
        assert_eq!(ann[packages::BUILD], "3I42H3S6");
        assert_eq!(ann["org.strata.spk.package"], "{}");
        let members: Vec<&str> =
            index.manifests().iter().map(|m| m.annotations().as_ref().unwrap()[packages::MEMBER].as_str()).collect();
        assert_eq!(members, ["build", "run"]);
        let run: oci_spec::image::ImageManifest = store.read_json(index.manifests()[1].digest()).unwrap();
        assert_eq!(run.layers().len(), 1);
        assert_eq!(run.layers()[0].digest(), &outputs["greet:package:3I42H3S6"]["run"].digest);
    }

    #[test]
    fn a_package_whose_layers_were_not_built_is_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let mut graph = BuildGraph::new(FrontendId { name: "spk".into(), semantics: 1 });
        graph.packages.push(PackageSpec {
            name: "x".into(),
            version: "1".into(),
            build: "src".into(),
            annotations: BTreeMap::new(),
            members: vec![PackageMember { name: "src".into(), layer: LayerRef::output("x:source", "out") }],
        });
        assert!(store_packages(&store, &graph, &BTreeMap::new(), &Resolved::default()).unwrap().is_empty());
    }
}
