//! A repository's tags and the documents they name, in one session: what
//! a package repository on a registry is listed with (`tags/list`, then
//! each tag's manifest or index). Nothing is written to the store.

use oci_client::{Reference, RegistryOperation};
use oci_spec::image::Digest;

use super::session::Session;
use super::{RegistryError, RegistryOptions, reference as refs};

/// Whether a registry error says the repository or manifest does not exist.
fn unknown(e: &oci_client::errors::OciDistributionError) -> bool {
    let s = e.to_string();
    matches!(e, oci_client::errors::OciDistributionError::ImageManifestNotFoundError(_))
        || s.contains("NAME_UNKNOWN")
        || s.contains("MANIFEST_UNKNOWN")
}

/// Every tag of `repository`'s repository with the bytes and digest of the
/// document it names, sorted by tag; none if the registry does not know
/// the repository.
pub async fn tagged_documents_async(
    repository: &Reference,
    opts: &RegistryOptions,
) -> Result<Vec<(String, Vec<u8>, Digest)>, RegistryError> {
    let s = Session::open(repository, RegistryOperation::Pull, opts).await?;
    let doing = format!("listing the tags of {}", refs::repository_name(repository));
    let tags = s
        .retry(&doing, || async {
            match s.client.list_tags(repository, &s.auth, None, None).await {
                Ok(t) => Ok(t.tags),
                Err(e) if unknown(&e) => Ok(Vec::new()),
                Err(e) => Err(e),
            }
        })
        .await?;
    let mut tags = tags;
    tags.sort();
    let accept: Vec<&str> = super::pull::MANIFEST_TYPES.to_vec();
    let mut out = Vec::new();
    for tag in tags {
        let r = refs::with_tag(repository, &tag);
        let doing = format!("fetching manifest {r}");
        let got = s
            .retry(&doing, || async {
                match s.client.pull_manifest_raw(&r, &s.auth, &accept).await {
                    Ok(v) => Ok(Some(v)),
                    Err(e) if unknown(&e) => Ok(None),
                    Err(e) => Err(e),
                }
            })
            .await?;
        if let Some((bytes, digest)) = got {
            let digest = digest
                .parse::<Digest>()
                .map_err(|e| RegistryError::Invalid { what: doing.clone(), message: format!("bad digest: {e}") })?;
            if crate::digest::sha256(&bytes) != digest {
                return Err(RegistryError::Invalid { what: doing, message: format!("the bytes are not {digest}") });
            }
            out.push((tag, bytes.to_vec(), digest));
        }
    }
    Ok(out)
}

/// [`tagged_documents_async`], blocking.
pub fn tagged_documents(
    repository: &Reference,
    opts: &RegistryOptions,
) -> Result<Vec<(String, Vec<u8>, Digest)>, RegistryError> {
    super::block_on(|| tagged_documents_async(repository, opts))
}
