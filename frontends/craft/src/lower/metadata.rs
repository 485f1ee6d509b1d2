//! The graph's [`Metadata`]: the project (name, version, license, summary)
//! and each part with its source as the spec pins it (URL or a path
//! relative to the project, `source-checksum`, `source-commit`,
//! `source-tag` or `source-branch`). Parts have no version or license of
//! their own in craft; a branch or tag's commit is pinned by strata's
//! resolve phase, which the provenance records.

use strata_frontend_api::metadata::{Metadata, Package, SourceRef};

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
            sources: Vec::new(),
        });
        let groups = self
            .order
            .iter()
            .map(|part| {
                let def = &p.parts[part];
                let sources = def.source.iter().map(|s| SourceRef::of(&on_host(s))).collect();
                (part.clone(), Package { name: part.clone(), sources, ..Default::default() })
            })
            .collect();
        self.graph.metadata = Metadata { project, groups };
    }
}
