//! `strata image build|import|export|ls|inspect|rm`.

use std::io::Write;
use std::path::Path;

use oci_spec::image::Descriptor;

use super::store::human_bytes;
use crate::export::{self, ExportTarget};
use crate::image::{Image, Platform};
use crate::import::{self, ImportOptions, ImportSource};
use crate::layer::Compression;
use crate::recipe::Recipe;
use crate::store::Store;

fn platform_or_host(p: Option<&str>) -> crate::Result<Platform> {
    Ok(match p {
        Some(p) => p.parse::<Platform>()?,
        None => Platform::host(),
    })
}

/// Builds a base image from a recipe and names it; returns the manifest.
pub fn build(
    store: &Store,
    recipe_path: &Path,
    tag: Option<&str>,
    compression: Compression,
    out: &mut dyn Write,
) -> crate::Result<Descriptor> {
    let recipe = Recipe::load(recipe_path)?;
    let name = tag.unwrap_or(&recipe.name).to_owned();
    writeln!(out, "building {name} from {} ({})", recipe_path.display(), recipe.kind_name()).ok();
    let rootfs = tempfile::Builder::new()
        .prefix("rootfs-")
        .suffix(".tar")
        .tempfile_in(store.root().join("strata/tmp"))
        .map_err(|e| crate::store::StoreError::Io { path: store.root().join("strata/tmp"), source: e })?;
    recipe.build_rootfs(rootfs.path())?;
    let opts = ImportOptions {
        platform: Platform::host(),
        compression,
        source_date_epoch: recipe.source_date_epoch,
        settings: recipe.image_settings().into(),
    };
    let desc = import::import(store, &ImportSource::RootfsTar { path: rootfs.path().to_owned() }, &opts)?;
    store.set_ref(&name, &desc)?;
    writeln!(out, "{name} {}", desc.digest()).ok();
    Ok(desc)
}

pub fn import(
    store: &Store,
    source: &str,
    tag: Option<&str>,
    platform: Option<&str>,
    compression: Compression,
    out: &mut dyn Write,
) -> crate::Result<Descriptor> {
    let src: ImportSource = source.parse()?;
    let opts = ImportOptions {
        platform: platform_or_host(platform)?,
        compression,
        source_date_epoch: crate::image::source_date_epoch(None)?,
        settings: Default::default(),
    };
    let desc = import::import(store, &src, &opts)?;
    let name = match (tag, src.default_name()) {
        (Some(t), _) => t.to_owned(),
        (None, Some(n)) => n,
        (None, None) => return Err(import::ImportError::NoName { source_ref: source.to_owned() }.into()),
    };
    store.set_ref(&name, &desc)?;
    writeln!(out, "{name} {}", desc.digest()).ok();
    Ok(desc)
}

pub fn export(store: &Store, name: &str, destination: &str, out: &mut dyn Write) -> crate::Result<()> {
    let target: ExportTarget = destination.parse()?;
    let desc = store.resolve(name)?;
    let full = crate::store::normalize_ref(name)?;
    let report = export::export(store, &desc, &full, &target)?;
    writeln!(out, "{report}").ok();
    Ok(())
}

/// One row of `strata image ls`.
#[derive(Debug, serde::Serialize)]
pub struct ImageRow {
    pub name: String,
    pub digest: String,
    pub media_type: String,
    pub platforms: Vec<String>,
    pub size: u64,
}

pub fn list(store: &Store, json: bool, out: &mut dyn Write) -> crate::Result<Vec<ImageRow>> {
    let mut rows = Vec::new();
    for (name, desc) in store.refs()? {
        let (platforms, size) = summarize(store, &desc);
        rows.push(ImageRow {
            name,
            digest: desc.digest().to_string(),
            media_type: desc.media_type().to_string(),
            platforms,
            size,
        });
    }
    if json {
        for r in &rows {
            writeln!(out, "{}", serde_json::to_string(r).expect("rows serialize")).ok();
        }
    } else {
        writeln!(out, "{:<40} {:<19} {:<14} {:>10}", "NAME", "DIGEST", "PLATFORM", "SIZE").ok();
        for r in &rows {
            let short = r.digest.trim_start_matches("sha256:").get(..12).unwrap_or(&r.digest).to_owned();
            writeln!(out, "{:<40} sha256:{short} {:<14} {:>10}", r.name, r.platforms.join(","), human_bytes(r.size))
                .ok();
        }
    }
    Ok(rows)
}

/// The platforms an image or index offers and the bytes its blobs take.
fn summarize(store: &Store, desc: &Descriptor) -> (Vec<String>, u64) {
    let mut platforms = Vec::new();
    let mut size = 0;
    let mut stack = vec![desc.clone()];
    while let Some(d) = stack.pop() {
        size += d.size();
        let children = crate::store::children(store, &d).unwrap_or_default();
        // An index names its manifests' platforms; a manifest's children
        // (config, layers) have none, so a single image falls through below.
        platforms.extend(
            children.iter().filter_map(|c| c.platform().as_ref()).map(|p| format!("{}/{}", p.os(), p.architecture())),
        );
        stack.extend(children);
    }
    if platforms.is_empty()
        && let Ok(img) = Image::load(store, desc, &Platform::host())
    {
        platforms.push(format!("{}/{}", img.config.os(), img.config.architecture()));
    }
    platforms.sort();
    platforms.dedup();
    (platforms, size)
}

pub fn inspect(store: &Store, name: &str, raw: bool, platform: Option<&str>, out: &mut dyn Write) -> crate::Result<()> {
    let desc = store.resolve(name)?;
    let img = Image::load(store, &desc, &platform_or_host(platform)?)?;
    if raw {
        let m = store.read_blob(img.digest())?;
        let c = store.read_blob(img.manifest.config().digest())?;
        out.write_all(&m).ok();
        writeln!(out).ok();
        out.write_all(&c).ok();
        writeln!(out).ok();
        return Ok(());
    }
    let layers: Vec<_> = img
        .layers()
        .map(|(d, diff_id)| {
            serde_json::json!({
                "digest": d.digest().to_string(), "size": d.size(),
                "mediaType": d.media_type().to_string(), "diffId": diff_id,
            })
        })
        .collect();
    let mut v = serde_json::json!({
        "name": crate::store::normalize_ref(name)?,
        "digest": img.digest().to_string(),
        "configDigest": img.manifest.config().digest().to_string(),
        "created": img.config.created(),
        "platform": format!("{}/{}", img.config.os(), img.config.architecture()),
        "config": img.config.config(),
        "layers": layers,
        "history": img.config.history(),
        "annotations": img.manifest.annotations(),
    });
    // The name tags an index (the image and its attestations): say which.
    if desc.digest() != img.digest() {
        v["index"] = serde_json::json!(desc.digest().to_string());
    }
    writeln!(out, "{}", serde_json::to_string_pretty(&v).expect("json value serializes")).ok();
    Ok(())
}

pub fn remove(store: &Store, names: &[String], out: &mut dyn Write) -> crate::Result<()> {
    for n in names {
        let d = store.remove_ref(n)?;
        writeln!(out, "untagged {} ({})", crate::store::normalize_ref(n)?, d.digest()).ok();
    }
    Ok(())
}
