//! Looking packages up: [`StoreIndex`] answers a frontend's
//! [`PackageIndex`] queries from the store's refs (`<frontend>/<name>:*`)
//! and from registries' tag lists (`HOST/REPO/<name>:*`). Read-only: a
//! registry's documents are read into memory, never into the store, so
//! `strata plan` can ask too. A member is named by a reference pinned by
//! digest, which the resolver finds in the store or pulls.

use std::collections::BTreeMap;
use std::path::PathBuf;

use oci_spec::image::{Digest, ImageIndex};
use strata_frontend_api::packages::{self, PackageIndex, Published, Repository};

use crate::registry::RegistryOptions;
use crate::store::Store;

/// The index over one store and the registries a build names.
pub struct StoreIndex {
    pub root: PathBuf,
    /// The frontend whose packages these are (the store's ref prefix).
    pub frontend: String,
    pub registry: RegistryOptions,
}

impl PackageIndex for StoreIndex {
    fn builds(&self, repository: &Repository, name: &str) -> Result<Vec<Published>, String> {
        match repository {
            Repository::Store => {
                let store = Store::open(&self.root).map_err(|e| e.to_string())?;
                local_builds(&store, &self.frontend, name).map_err(|e| e.to_string())
            }
            Repository::Registry(r) => registry_builds(r, name, &self.registry).map_err(|e| e.to_string()),
        }
    }
}

/// The package builds of `name` in the store.
pub fn local_builds(store: &Store, frontend: &str, name: &str) -> crate::Result<Vec<Published>> {
    let prefix = format!("{frontend}/{name}:");
    let mut out = Vec::new();
    for (r, desc) in store.refs()? {
        if !r.starts_with(&prefix) {
            continue;
        }
        let bytes = store.read_blob(desc.digest())?;
        if let Some(p) = published(&bytes, Repository::Store, &format!("{frontend}/{name}")) {
            out.push(p);
        }
    }
    sort(&mut out);
    Ok(out)
}

/// The package builds of `name` in the registry repository `repo` (`HOST/REPO`).
pub fn registry_builds(repo: &str, name: &str, opts: &RegistryOptions) -> crate::Result<Vec<Published>> {
    let repository = format!("{repo}/{name}");
    let reference = crate::registry::parse_reference(&format!("{repository}:latest"))?;
    let mut out = Vec::new();
    for (_tag, bytes, _digest) in crate::registry::tagged_documents(&reference, opts)? {
        if let Some(p) = published(&bytes, Repository::Registry(repo.to_string()), &repository) {
            out.push(p);
        }
    }
    sort(&mut out);
    Ok(out)
}

/// A package build from its index's bytes; `None` for any other document
/// (an image someone tagged in the same repository).
fn published(bytes: &[u8], repository: Repository, name: &str) -> Option<Published> {
    let index: ImageIndex = serde_json::from_slice(bytes).ok()?;
    let ann: BTreeMap<String, String> = index.annotations().clone()?.into_iter().collect();
    let get = |k: &str| ann.get(k).cloned();
    let members = index
        .manifests()
        .iter()
        .map(|m| {
            let member = m.annotations().as_ref()?.get(packages::MEMBER)?.clone();
            Some((member, pinned(name, m.digest())))
        })
        .collect::<Option<Vec<_>>>()?;
    Some(Published {
        repository,
        name: get(packages::NAME)?,
        version: get(packages::VERSION)?,
        build: get(packages::BUILD)?,
        annotations: ann,
        members,
    })
}

fn pinned(repository: &str, digest: &Digest) -> String {
    format!("{repository}@{digest}")
}

fn sort(v: &mut [Published]) {
    v.sort_by(|a, b| (a.version.as_str(), a.build.as_str()).cmp(&(b.version.as_str(), b.build.as_str())));
}

#[cfg(test)]
mod tests {
    use super::*;
    use strata_frontend_api::graph::{BuildGraph, FrontendId, LayerRef};
    use strata_frontend_api::packages::{PackageMember, PackageSpec};

    #[test]
    fn the_store_lists_the_builds_it_holds_with_members_pinned_by_digest() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let l = store.put_bytes(oci_spec::image::MediaType::ImageLayer, b"run").unwrap();
        let info = crate::layer::LayerInfo {
            digest: l.digest().clone(),
            diff_id: l.digest().clone(),
            size: l.size(),
            compression: crate::layer::Compression::None,
        };
        let mut graph = BuildGraph::new(FrontendId { name: "spk".into(), semantics: 1 });
        for (v, b) in [("1.2.0", "AAAAAAAA"), ("1.0.0", "BBBBBBBB")] {
            graph.packages.push(PackageSpec {
                name: "lib".into(),
                version: v.into(),
                build: b.into(),
                annotations: BTreeMap::new(),
                members: vec![PackageMember { name: "run".into(), layer: LayerRef::output("p", "run") }],
            });
        }
        let outputs = BTreeMap::from([("p".to_string(), BTreeMap::from([("run".to_string(), info)]))]);
        super::super::store_packages(&store, &graph, &outputs, &crate::resolve::Resolved::default()).unwrap();
        let found = local_builds(&store, "spk", "lib").unwrap();
        let ids: Vec<(&str, &str)> = found.iter().map(|p| (p.version.as_str(), p.build.as_str())).collect();
        assert_eq!(ids, [("1.0.0", "BBBBBBBB"), ("1.2.0", "AAAAAAAA")]);
        let (member, reference) = &found[0].members[0];
        assert_eq!(member, "run");
        assert!(reference.starts_with("spk/lib@sha256:"), "{reference}");
        let desc = store.resolve(reference).expect("a member resolves by digest in the store");
        assert_eq!(desc.media_type(), &oci_spec::image::MediaType::ImageManifest);
        assert!(local_builds(&store, "spk", "other").unwrap().is_empty());
    }
}
