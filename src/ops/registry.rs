//! `strata pull|push|login|logout`.

use std::io::{Read, Write};

use crate::cli::RegistryArgs;
use crate::image::Platform;
use crate::registry::{self, AuthConfig, Credentials, PullOptions, PushOptions, RegistryOptions};
use oci_spec::image::{Descriptor, ImageIndex, ImageIndexBuilder, MediaType};

use crate::sign::{bundle, referrers};
use crate::store::Store;

/// Registry options from the command line over the environment's.
pub(crate) fn registry_options(a: &RegistryArgs) -> RegistryOptions {
    let mut o = RegistryOptions::from_env();
    o.insecure_registries.extend(a.insecure_registries.iter().cloned());
    if let Some(f) = &a.authfile {
        let mut files = vec![f.clone()];
        files.extend(o.auth.files.iter().filter(|x| *x != f).cloned());
        o.auth = AuthConfig::with_files(files);
    }
    o
}

pub fn pull(store: &Store, a: &crate::cli::PullArgs, out: &mut dyn Write) -> crate::Result<()> {
    let r = registry::parse_reference(&a.reference)?;
    let platform = a.platform.as_deref().map(str::parse::<Platform>).transpose()?;
    let opts = PullOptions {
        registry: registry_options(&a.registry),
        all_platforms: a.all_platforms,
        local_name: a.tag.clone(),
        ..PullOptions::default()
    };
    let rep = registry::pull(store, &r, platform.as_ref(), &opts)?;
    let local = a.tag.clone().unwrap_or_else(|| a.reference.clone());
    // The image is pulled either way: a registry that cannot list
    // referrers (or an offline pinned pull) leaves it unsigned here, which
    // `verify-signature` reports.
    let signatures = pull_signatures(store, &r, &local, &rep.descriptor, &opts.registry).unwrap_or_else(|e| {
        writeln!(out, "note: no signatures pulled: {e}").ok();
        0
    });
    if let Some(m) = &rep.tag_moved {
        writeln!(out, "note: {m}").ok();
    }
    writeln!(
        out,
        "pulled {} ({} blob(s) fetched, {} already present) {}",
        rep.reference,
        rep.blobs_fetched,
        rep.blobs_present,
        rep.descriptor.digest()
    )
    .ok();
    if signatures > 0 {
        writeln!(out, "pulled {signatures} signature(s)").ok();
    }
    Ok(())
}

/// `desc` and, for an index, the manifests it lists: what signatures can
/// be attached to.
fn subjects(store: &Store, desc: &Descriptor) -> crate::Result<Vec<Descriptor>> {
    let mut out = vec![desc.clone()];
    if desc.media_type() == &MediaType::ImageIndex {
        let index: ImageIndex = store.read_json(desc.digest())?;
        out.extend(index.manifests().iter().filter(|m| m.media_type() == &MediaType::ImageManifest).cloned());
    }
    Ok(out)
}

/// Brings the Sigstore bundles attached to what was pulled (`desc` and the
/// manifests of an index) and keeps them under the referrers tags of
/// `local`, merged with any already there; returns how many came.
fn pull_signatures(
    store: &Store,
    r: &registry::Reference,
    local: &str,
    desc: &Descriptor,
    opts: &RegistryOptions,
) -> crate::Result<usize> {
    let mut n = 0;
    for subject in subjects(store, desc)? {
        let got = registry::pull_referrers(store, r, subject.digest(), bundle::MEDIA_TYPE, opts)?;
        if got.is_empty() {
            continue;
        }
        n += got.len();
        let tag = referrers::tag(local, &subject)?;
        let have: Vec<Descriptor> = match store.resolve(&tag) {
            Ok(d) => store.read_json::<ImageIndex>(d.digest())?.manifests().clone(),
            Err(_) => Vec::new(),
        };
        let index = ImageIndexBuilder::default()
            .schema_version(2u32)
            .media_type(MediaType::ImageIndex)
            .manifests(registry::merge_referrers(&got, &have))
            .build()
            .map_err(crate::sign::SignError::from)?;
        let d = store.put_json(MediaType::ImageIndex, &index)?;
        store.set_ref(&tag, &d)?;
    }
    Ok(n)
}

pub fn push(store: &Store, a: &crate::cli::PushArgs, out: &mut dyn Write) -> crate::Result<()> {
    let desc = store.resolve(&a.image)?;
    let dests = a.destinations.iter().map(|d| registry::parse_reference(d)).collect::<Result<Vec<_>, _>>()?;
    let opts = PushOptions { registry: registry_options(&a.registry), chunked: a.chunked, ..PushOptions::default() };
    let rep = registry::push(store, &desc, &dests, &opts)?;
    let mut found = Vec::new();
    for m in subjects(store, &desc)? {
        if let Ok(index) = store.resolve(&referrers::tag(&a.image, &m)?) {
            found.push((m, index));
        }
    }
    let signatures =
        if found.is_empty() { None } else { Some(registry::push_referrers(store, &found, &dests, &opts)?) };
    writeln!(
        out,
        "{} blob(s) uploaded ({}), {} mounted, {} already there",
        rep.blobs_uploaded,
        super::store::human_bytes(rep.bytes_uploaded),
        rep.blobs_mounted,
        rep.blobs_present
    )
    .ok();
    for p in &rep.pushed {
        writeln!(out, "pushed {p}").ok();
    }
    if let Some(sig) = signatures {
        writeln!(out, "pushed {} signature(s)", sig.artifacts).ok();
    }
    Ok(())
}

pub fn login(a: &crate::cli::LoginArgs, out: &mut dyn Write) -> crate::Result<()> {
    let mut password = String::new();
    std::io::stdin()
        .read_to_string(&mut password)
        .map_err(|e| registry::RegistryError::Io { path: "<standard input>".into(), source: e })?;
    let password = password.trim_end_matches(['\n', '\r']);
    let reg = a.registry.as_deref().unwrap_or("docker.io");
    let file = registry::login(reg, &Credentials::basic(&a.username, password), &registry_options(&a.registry_opts))?;
    writeln!(out, "login succeeded; credentials saved in {}", file.display()).ok();
    Ok(())
}

pub fn logout(a: &crate::cli::LogoutArgs, out: &mut dyn Write) -> crate::Result<()> {
    let reg = a.registry.as_deref().unwrap_or("docker.io");
    let removed = registry::logout(reg, &registry_options(&a.registry_opts))?;
    writeln!(
        out,
        "{}",
        if removed { format!("removed credentials for {reg}") } else { format!("not logged in to {reg}") }
    )
    .ok();
    Ok(())
}

fn artifact_spec(f: &crate::cli::ArtifactFiles) -> crate::Result<registry::ArtifactSpec> {
    let files = f
        .files
        .iter()
        .map(|arg| {
            // PATH:MEDIA_TYPE — a media type always has a '/', a path's last ':' part never needs one.
            let (path, mt) = match arg.rsplit_once(':') {
                Some((p, mt)) if mt.contains('/') && !p.is_empty() => (p, mt),
                _ => (arg.as_str(), "application/octet-stream"),
            };
            registry::ArtifactFile { path: path.into(), media_type: mt.to_owned() }
        })
        .collect();
    let mut annotations = std::collections::BTreeMap::new();
    for a in &f.annotations {
        let (k, v) = a.split_once('=').ok_or_else(|| registry::RegistryError::Invalid {
            what: format!("annotation '{a}'"),
            message: "expected KEY=VALUE".into(),
        })?;
        annotations.insert(k.to_owned(), v.to_owned());
    }
    Ok(registry::ArtifactSpec { artifact_type: f.artifact_type.clone(), files, annotations, subject: None })
}

/// `strata artifact push|attach|ls`. `ls` needs no store.
pub fn artifact(store: Option<&Store>, cmd: &crate::cli::ArtifactSubcommand, out: &mut dyn Write) -> crate::Result<()> {
    use crate::cli::ArtifactSubcommand as A;
    match cmd {
        A::Push { destination, files, registry: ra } => {
            let store = store.expect("artifact push opens the store");
            let dest = registry::parse_reference(destination)?;
            let desc = registry::build_artifact(store, &artifact_spec(files)?)?;
            let opts = PushOptions { registry: registry_options(ra), ..PushOptions::default() };
            let rep = registry::push(store, &desc, &[dest], &opts)?;
            for p in &rep.pushed {
                writeln!(out, "pushed {p}").ok();
            }
        }
        A::Attach { subject, files, registry: ra } => {
            let store = store.expect("artifact attach opens the store");
            let subject = registry::parse_reference(subject)?;
            let opts = PushOptions { registry: registry_options(ra), ..PushOptions::default() };
            let rep = registry::attach(store, &subject, &artifact_spec(files)?, &opts)?;
            writeln!(
                out,
                "attached {} to {}{}",
                rep.artifact.digest(),
                rep.subject,
                if rep.used_tag_schema { " (through the referrers tag)" } else { "" }
            )
            .ok();
        }
        A::Ls { subject, artifact_type, registry: ra } => {
            let subject = registry::parse_reference(subject)?;
            for d in registry::referrers(&subject, artifact_type.as_deref(), &registry_options(ra))? {
                let ty = d.artifact_type().as_ref().map(|t| t.to_string()).unwrap_or_default();
                writeln!(out, "{} {} {}", d.digest(), ty, d.size()).ok();
            }
        }
    }
    Ok(())
}
