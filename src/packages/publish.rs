//! `strata FRONTEND ls [NAME]` and `strata FRONTEND publish
//! NAME/VERSION[/BUILD] --to registry://HOST/REPO` (spk's `ls` and
//! `publish`): what the repositories hold, and copying package builds from
//! the store to a registry (every blob, then the index, as `strata push`).

use oci_spec::image::Digest;
use strata_frontend_api::packages::{self, Published, Repository};

use super::index::{local_builds, registry_builds};
use crate::registry::{PushOptions, RegistryOptions};
use crate::store::Store;

/// What `ls` and `publish` can get wrong.
#[derive(Debug, thiserror::Error)]
pub enum PackageError {
    #[error("'{pattern}' is not NAME/VERSION[/BUILD]")]
    BadPattern { pattern: String },
    #[error("the store has no package build {pattern}{}", if have.is_empty() { String::new() } else { format!(" (it has: {})", have.join(", ")) })]
    NotFound { pattern: String, have: Vec<String> },
    #[error(
        "listing every package of {repository} needs its catalog, which registries seldom serve: name a package (`ls NAME`)"
    )]
    NeedName { repository: Repository },
    #[error("packages are published to a registry (registry://HOST/REPO), not to {repository}")]
    NotARegistry { repository: Repository },
}

/// The builds `repositories` hold, of `name` or (in the store) of every
/// package, each repository's in version order.
pub type Listed = Vec<Published>;

/// Lists package builds (see the module docs).
pub fn list(
    store: &Store,
    frontend: &str,
    name: Option<&str>,
    repositories: &[Repository],
    opts: &RegistryOptions,
) -> crate::Result<Listed> {
    let mut out = Vec::new();
    for r in repositories {
        match (r, name) {
            (Repository::Store, Some(n)) => out.extend(local_builds(store, frontend, n)?),
            (Repository::Store, None) => {
                let prefix = format!("{frontend}/");
                let mut names: Vec<String> = store
                    .refs()?
                    .into_iter()
                    .filter_map(|(r, _)| Some(r.strip_prefix(&prefix)?.split(':').next()?.to_string()))
                    .collect();
                names.dedup();
                for n in names {
                    out.extend(local_builds(store, frontend, &n)?);
                }
            }
            (Repository::Registry(repo), Some(n)) => out.extend(registry_builds(repo, n, opts)?),
            (Repository::Registry(_), None) => {
                return Err(PackageError::NeedName { repository: r.clone() }.into());
            }
        }
    }
    Ok(out)
}

/// Pushes the store's builds matching `pattern` (`NAME/VERSION`: every
/// build of that version, the source package among them; `NAME/VERSION/BUILD`:
/// one) to `to`; returns each destination and its digest.
pub fn publish(
    store: &Store,
    frontend: &str,
    pattern: &str,
    to: &Repository,
    opts: &PushOptions,
) -> crate::Result<Vec<(String, Digest)>> {
    let Repository::Registry(repo) = to else {
        return Err(PackageError::NotARegistry { repository: to.clone() }.into());
    };
    let parts: Vec<&str> = pattern.split('/').collect();
    let (name, version, build) = match parts[..] {
        [n, v] if !n.is_empty() && !v.is_empty() => (n, v, None),
        [n, v, b] if !n.is_empty() && !v.is_empty() && !b.is_empty() => (n, v, Some(b)),
        _ => return Err(PackageError::BadPattern { pattern: pattern.into() }.into()),
    };
    let all = local_builds(store, frontend, name)?;
    let chosen: Vec<&Published> =
        all.iter().filter(|p| p.version == version && build.is_none_or(|b| b == p.build)).collect();
    if chosen.is_empty() {
        let have = all.iter().map(|p| format!("{}/{}/{}", p.name, p.version, p.build)).collect();
        return Err(PackageError::NotFound { pattern: pattern.into(), have }.into());
    }
    let mut out = Vec::new();
    for p in chosen {
        let tag = packages::tag(&p.version, &p.build);
        let desc = store.resolve(&super::store_ref(frontend, name, &tag))?;
        let dest = crate::registry::parse_reference(&format!("{repo}/{name}:{tag}"))?;
        crate::registry::push(store, &desc, std::slice::from_ref(&dest), opts)?;
        out.push((dest.to_string(), desc.digest().clone()));
    }
    Ok(out)
}
