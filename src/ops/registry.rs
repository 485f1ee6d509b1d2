//! `strata pull|push|login|logout`.

use std::io::{Read, Write};

use crate::cli::RegistryArgs;
use crate::image::Platform;
use crate::registry::{self, AuthConfig, Credentials, PullOptions, PushOptions, RegistryOptions};
use crate::store::Store;

fn registry_options(a: &RegistryArgs) -> RegistryOptions {
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
    Ok(())
}

pub fn push(store: &Store, a: &crate::cli::PushArgs, out: &mut dyn Write) -> crate::Result<()> {
    let desc = store.resolve(&a.image)?;
    let dests = a.destinations.iter().map(|d| registry::parse_reference(d)).collect::<Result<Vec<_>, _>>()?;
    let opts = PushOptions { registry: registry_options(&a.registry), chunked: a.chunked, ..PushOptions::default() };
    let rep = registry::push(store, &desc, &dests, &opts)?;
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
    writeln!(out, "{}", if removed { format!("removed credentials for {reg}") } else { format!("not logged in to {reg}") })
        .ok();
    Ok(())
}
