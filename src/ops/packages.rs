//! `strata FRONTEND ls [NAME]` and `strata FRONTEND publish`: the package
//! repositories ([`crate::packages`]) for the user.

use std::io::Write;

use strata_frontend_api::packages::Repository;

use super::registry::registry_options;
use crate::cli::{PackageLsArgs, PublishArgs};
use crate::registry::PushOptions;
use crate::store::Store;

/// One line per build: `name/version/build  members  (repository)`.
pub fn ls(store: &Store, a: &PackageLsArgs, out: &mut dyn Write) -> crate::Result<()> {
    let mut repos = vec![Repository::Store];
    for r in &a.repos {
        repos.push(Repository::parse(r).map_err(crate::build::BuildError::FrontendOption)?);
    }
    let builds = crate::packages::list(store, &a.frontend, a.name.as_deref(), &repos, &registry_options(&a.registry))?;
    if builds.is_empty() {
        let what = a.name.as_deref().map(|n| format!("no builds of '{n}'")).unwrap_or("no packages".into());
        writeln!(out, "{what} in {}", repos.iter().map(|r| r.to_string()).collect::<Vec<_>>().join(", ")).ok();
    }
    for b in builds {
        let members: Vec<&str> = b.members.iter().map(|(m, _)| m.as_str()).collect();
        writeln!(out, "{}/{}/{}  {}  ({})", b.name, b.version, b.build, members.join(", "), b.repository).ok();
    }
    Ok(())
}

/// Pushes the builds and says where each went.
pub fn publish(store: &Store, a: &PublishArgs, out: &mut dyn Write) -> crate::Result<()> {
    let to = Repository::parse(&a.to).map_err(crate::build::BuildError::FrontendOption)?;
    let opts = PushOptions { registry: registry_options(&a.registry), ..PushOptions::default() };
    for (dest, digest) in crate::packages::publish(store, &a.frontend, &a.package, &to, &opts)? {
        writeln!(out, "published {dest} {digest}").ok();
    }
    Ok(())
}
