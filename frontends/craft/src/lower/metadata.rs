//! The graph's [`Metadata`]: the project (name, version, license, summary)
//! and each part with its source as the spec pins it (URL or a path
//! relative to the project, `source-checksum`, `source-commit`,
//! `source-tag` or `source-branch`). Parts have no version or license of
//! their own in craft; a branch or tag's commit is pinned by strata's
//! resolve phase, which the provenance records. A part with
//! `stage-packages` names the list of the packages it unpacked.

use strata_frontend_api::metadata::{DebList, Metadata, Package, SourceRef};

use super::Lowering;
use super::pull::on_host;

impl Lowering<'_> {
    pub(super) fn metadata(&mut self) {
        let p = self.project;
        let project = p.name.as_ref().map(|name| Package {
            name: name.clone(),
            version: p.version.clone(),
            license: p.license.clone(),
            homepage: None,
            description: p.summary.clone().or_else(|| p.description.clone()),
            ..Default::default()
        });
        let groups = self
            .order
            .iter()
            .map(|part| {
                let def = &p.parts[part];
                let sources = def.source.iter().map(|s| SourceRef::of(&on_host(s))).collect();
                // stage-packages: the resolved list `<p>:pull:debs` writes.
                let unpacked_debs = if def.stage_packages.is_empty() {
                    Vec::new()
                } else {
                    vec![DebList {
                        vertex: format!("{part}:pull:debs"),
                        output: super::packages::LIST.into(),
                        path: "packages.json".into(),
                        by: "stage-packages".into(),
                    }]
                };
                (part.clone(), Package { name: part.clone(), sources, unpacked_debs, ..Default::default() })
            })
            .collect();
        self.graph.metadata = Metadata { project, groups };
    }
}
