//! `strata attest ls|get` and `strata verify`: an image's attestations
//! read back, and a rebuild compared bit for bit.

use std::io::Write;

use crate::attest::{self, AttestError, oci};
use crate::cli::{AttestSubcommand, KeySubcommand, SignArgs, VerifyArgs, VerifySignatureArgs};
use crate::store::Store;

/// What `strata verify` found.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("the rebuild of {project} is {rebuilt}, not {image} ({expected}); first difference: {difference}")]
    Differs { project: String, image: String, expected: String, rebuilt: String, difference: String },
    #[error("`strata verify` needs an image: `strata verify IMAGE` or `strata verify PROJECT --image IMAGE`")]
    NoImage,
    #[error(
        "{image} has no provenance attestation to rebuild it from (built with --sbom=false?); use `strata verify PROJECT --image {image}`"
    )]
    NoProvenance { image: String },
    #[error("{image}'s provenance has no {what}")]
    BadProvenance { image: String, what: String },
    #[error(
        "{image}'s provenance records no git source (it was not built in a git work tree); give the project with --project DIR"
    )]
    NoSource { image: String },
    #[error(
        "{image} was built from a dirty work tree (changes not in commit {commit} of {uri}): a checkout of the commit cannot reproduce it; commit the changes and build again, or give the work tree with --project DIR"
    )]
    Dirty { image: String, uri: String, commit: String },
    #[error("{what} failed: {detail}")]
    Git { what: String, detail: String },
    #[error(
        "the spec file {path} has sha256 {found}, but {image}'s provenance records sha256 {recorded}: it is not the spec the image was built from"
    )]
    SpecDigest { path: String, image: String, found: String, recorded: String },
    #[error("cannot read the spec file {path} recorded in {image}'s provenance: {source}")]
    Spec { path: String, image: String, source: std::io::Error },
    #[error(
        "the image {name} ({digest}) that {image} was built from is not in the store, and pulling it by digest failed: {error}"
    )]
    MissingImage { image: String, name: String, digest: String, error: String },
    #[error("cannot make a temporary directory: {0}")]
    Temp(std::io::Error),
}

pub fn attest(store: &Store, cmd: &AttestSubcommand, out: &mut dyn Write) -> crate::Result<()> {
    match cmd {
        AttestSubcommand::Ls { image } => {
            let (manifest, atts) = oci::read(store, &store.resolve(image)?)?;
            writeln!(out, "image {}", manifest.digest()).ok();
            writeln!(out, "{:<12} {:<34} {:<72} SIZE", "KIND", "PREDICATE TYPE", "DIGEST").ok();
            for a in &atts {
                let kind = attest::kind_of(&a.predicate_type);
                writeln!(out, "{kind:<12} {:<34} {:<72} {}", a.predicate_type, a.layer.digest(), a.layer.size()).ok();
            }
        }
        AttestSubcommand::Get { image, kind, predicate } => {
            let (_, atts) = oci::read(store, &store.resolve(image)?)?;
            let want = attest::KINDS.iter().find(|(k, _)| k == kind).map(|(_, t)| *t).unwrap_or(kind.as_str());
            let Some(a) = atts.iter().find(|a| a.predicate_type == want) else {
                let have = atts.iter().map(|a| attest::kind_of(&a.predicate_type).to_string()).collect();
                return Err(AttestError::Missing { image: image.clone(), kind: kind.clone(), have }.into());
            };
            let mut st = oci::statement(store, a)?;
            if *predicate {
                st = st["predicate"].take();
            }
            let text = serde_json::to_string_pretty(&st).map_err(AttestError::Json)?;
            writeln!(out, "{text}").ok();
        }
    }
    Ok(())
}

/// `strata verify IMAGE` rebuilds from the provenance ([`verify_image`]);
/// `strata verify PROJECT --image IMAGE` rebuilds the project (every step
/// run again unless `--use-cache`) and compares the result with `--image`.
pub fn verify(store: &Store, args: &VerifyArgs, out: &mut dyn Write) -> crate::Result<()> {
    let Some(image) = &args.image else {
        let image = args.build.project.to_string_lossy().into_owned();
        if image == "." {
            return Err(VerifyError::NoImage.into());
        }
        return verify_image(store, &image, args, out);
    };
    let expected = store.resolve(image)?;
    let mut build = crate::cli::BuildArgs { tags: Vec::new(), push: false, output: None, ..args.build.clone() };
    build.lc.no_cache = build.lc.no_cache || !args.use_cache;
    let mut log = Vec::new();
    let rebuilt = super::build::build(store, &build, &mut log)?.expect("not a dry run");
    if rebuilt.digest() == expected.digest() {
        writeln!(out, "{image}: reproduced bit for bit ({})", expected.digest()).ok();
        return Ok(());
    }
    out.write_all(&log).ok();
    let difference = match crate::verify::first_difference(store, &expected, &rebuilt)? {
        Some(d) => d.to_string(),
        None => "none found".into(),
    };
    Err(VerifyError::Differs {
        project: args.build.project.display().to_string(),
        image: image.clone(),
        expected: expected.digest().to_string(),
        rebuilt: rebuilt.digest().to_string(),
        difference,
    }
    .into())
}

/// `strata verify IMAGE`: reads the image's provenance, gets the project
/// (`--project DIR`, else a clone of the recorded git source at the
/// recorded commit), checks the spec file against the recorded digest, and
/// rebuilds with the recorded options in a fresh temporary store holding
/// only the recorded images (copied by digest from this store, else pulled
/// by digest). The store's step cache is never used.
fn verify_image(store: &Store, image: &str, args: &VerifyArgs, out: &mut dyn Write) -> crate::Result<()> {
    let expected = store.resolve(image)?;
    let (manifest, atts) = oci::read(store, &expected)?;
    let prov = atts
        .iter()
        .find(|a| a.predicate_type == attest::provenance::PREDICATE_TYPE)
        .ok_or_else(|| VerifyError::NoProvenance { image: image.to_string() })?;
    let st = oci::statement(store, prov)?;
    let def = &st["predicate"]["buildDefinition"];
    let ext = &def["externalParameters"];
    let bad = |what: &str| VerifyError::BadProvenance { image: image.to_string(), what: what.to_string() };
    let recorded = ext["spec"]["digest"]["sha256"].as_str().ok_or_else(|| bad("spec digest"))?.to_string();
    let temp = |prefix: &str| tempfile::Builder::new().prefix(prefix).tempdir().map_err(VerifyError::Temp);

    // The project: the one given, else a checkout of the recorded commit.
    let _clone;
    // The rebuild's provenance records the original's git source, not its
    // clone's (an origin-less tree's path) nor --project's: the rebuild is
    // compared, never kept, and its source is where it came from.
    let src = &ext["source"];
    let recorded_source = match (src["uri"].as_str(), src["digest"]["gitCommit"].as_str(), src["path"].as_str()) {
        (Some(uri), Some(commit), Some(path)) => Some(crate::resolve::Checkout {
            source: uri.to_string(),
            origin: src["remote"].as_str() == Some("origin"),
            revision: commit.to_string(),
            path: path.to_string(),
            dirty: src["dirty"].as_bool().unwrap_or(false),
        }),
        _ => None,
    };
    let (spec_path, project) = match &args.project_dir {
        Some(dir) => {
            let file = ext["spec"]["file"].as_str().ok_or_else(|| bad("spec file"))?;
            let path = if dir.is_file() { dir.clone() } else { dir.join(file) };
            (path, dir.display().to_string())
        }
        None => {
            let (Some(uri), Some(commit), Some(path)) =
                (src["uri"].as_str(), src["digest"]["gitCommit"].as_str(), src["path"].as_str())
            else {
                return Err(VerifyError::NoSource { image: image.to_string() }.into());
            };
            if src["dirty"].as_bool().unwrap_or(false) {
                return Err(VerifyError::Dirty {
                    image: image.to_string(),
                    uri: uri.to_string(),
                    commit: commit.to_string(),
                }
                .into());
            }
            let dir = temp("strata-verify-src-")?;
            let work = dir.path().join("src");
            git(
                &["clone", "--quiet", "--no-checkout", uri, &work.to_string_lossy()],
                None,
                &format!("git clone {uri}"),
            )?;
            git(
                &["checkout", "--quiet", "--detach", commit],
                Some(&work),
                &format!("git checkout {commit} (in a clone of {uri})"),
            )?;
            if src["remote"].as_str() != Some("origin") {
                // The work tree had no origin: neither has the rebuild's
                // (the image's source annotation comes from it).
                git(&["remote", "remove", "origin"], Some(&work), "git remote remove origin")?;
            }
            _clone = dir;
            (work.join(path), format!("{uri}@{commit}"))
        }
    };
    let bytes = std::fs::read(&spec_path).map_err(|e| VerifyError::Spec {
        path: spec_path.display().to_string(),
        image: image.to_string(),
        source: e,
    })?;
    let found = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&bytes));
    if found != recorded {
        return Err(VerifyError::SpecDigest {
            path: spec_path.display().to_string(),
            image: image.to_string(),
            found,
            recorded,
        }
        .into());
    }

    // A fresh store with the recorded images, by digest.
    let fresh_dir = temp("strata-verify-store-")?;
    let fresh = Store::open(fresh_dir.path())?;
    let registry = super::registry::registry_options(&args.build.lc.registry);
    for dep in def["resolvedDependencies"].as_array().into_iter().flatten() {
        let (Some(name), Some(hex)) =
            (dep["uri"].as_str().and_then(|u| u.strip_prefix("oci://")), dep["digest"]["sha256"].as_str())
        else {
            continue;
        };
        let digest = format!("sha256:{hex}");
        let pinned = if name.contains('@') { name.to_string() } else { format!("{name}@{digest}") };
        let copied = match store.resolve(&pinned) {
            Ok(d) if d.digest().to_string() == digest => copy_image(store, &fresh, &d).map(|()| d),
            _ => Err(crate::store::StoreError::RefNotFound { name: pinned.clone() }),
        };
        let desc = match copied {
            Ok(d) => d,
            Err(_) => {
                let po = crate::registry::PullOptions {
                    registry: registry.clone(),
                    local_name: None,
                    check_tag: false,
                    ..Default::default()
                };
                let pulled = crate::registry::parse_reference(&pinned)
                    .and_then(|r| crate::registry::pull(&fresh, &r, Some(&crate::image::Platform::host()), &po));
                match pulled {
                    Ok(rep) => rep.descriptor,
                    Err(e) => {
                        return Err(VerifyError::MissingImage {
                            image: image.to_string(),
                            name: name.to_string(),
                            digest,
                            error: e.to_string(),
                        }
                        .into());
                    }
                }
            }
        };
        fresh.set_ref(name, &desc)?;
    }

    // The rebuild, with the recorded options.
    let opts = &ext["options"];
    let mut build = crate::cli::BuildArgs { tags: Vec::new(), push: false, output: None, ..args.build.clone() };
    build.project = spec_path.clone();
    build.cache_to = None;
    build.dry_run = false;
    build.sbom = true;
    let full = st["predicate"]["runDetails"].get("metadata").is_some();
    build.provenance = if full { attest::provenance::Mode::Full } else { attest::provenance::Mode::Reproducible };
    build.lc.base = opts["base"].as_str().map(str::to_string);
    build.lc.build_base = opts["build-base"].as_str().map(str::to_string);
    build.lc.frontend_opts = opts["frontend-options"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v.as_str().map_or_else(|| v.to_string(), str::to_string)))
        .collect();
    if let Some(c) = def["internalParameters"]["compression"].as_str().and_then(|c| c.parse().ok()) {
        build.lc.compression = c;
    }
    build.lc.no_cache = true;
    build.lc.pull = false;
    build.lc.cache_from = Vec::new();
    let mut log = Vec::new();
    let rebuilt =
        super::build::build_recording(&fresh, &build, Some(recorded_source), &mut log)?.expect("not a dry run");
    // A provenance with run details differs at every run: then the images
    // (not the indexes holding them and their attestations) are compared.
    let (expected, rebuilt) = if full { (manifest, oci::read(&fresh, &rebuilt)?.0) } else { (expected, rebuilt) };
    if rebuilt.digest() == expected.digest() {
        writeln!(out, "{image}: reproduced bit for bit ({})", expected.digest()).ok();
        return Ok(());
    }
    out.write_all(&log).ok();
    copy_image(store, &fresh, &expected)?;
    let difference = match crate::verify::first_difference(&fresh, &expected, &rebuilt)? {
        Some(d) => d.to_string(),
        None => "none found".into(),
    };
    Err(VerifyError::Differs {
        project,
        image: image.to_string(),
        expected: expected.digest().to_string(),
        rebuilt: rebuilt.digest().to_string(),
        difference,
    }
    .into())
}

/// Runs git (in `dir`), failing with `what` and git's message.
fn git(args: &[&str], dir: Option<&std::path::Path>, what: &str) -> Result<(), VerifyError> {
    let mut c = std::process::Command::new("git");
    if let Some(d) = dir {
        c.arg("-C").arg(d);
    }
    let o = c.args(args).output().map_err(|e| VerifyError::Git { what: what.into(), detail: e.to_string() })?;
    if !o.status.success() {
        let detail = String::from_utf8_lossy(&o.stderr).trim().to_string();
        return Err(VerifyError::Git { what: what.into(), detail });
    }
    Ok(())
}

/// Copies `desc` and every blob it reaches from `from` into `to`.
fn copy_image(from: &Store, to: &Store, desc: &oci_spec::image::Descriptor) -> Result<(), crate::store::StoreError> {
    for d in from.closure(desc) {
        if to.has_blob(d.digest()) || (!from.has_blob(d.digest()) && crate::store::may_be_absent(&d)) {
            continue;
        }
        to.put_verified(from.open_blob(d.digest())?, d.digest())?;
    }
    Ok(())
}

/// The passphrase of private keys, from the environment.
fn passphrase() -> Option<String> {
    std::env::var("STRATA_KEY_PASSPHRASE").ok().filter(|p| !p.is_empty())
}

pub fn key(cmd: &KeySubcommand, out: &mut dyn Write) -> crate::Result<()> {
    let KeySubcommand::Generate { output, prefix, algorithm } = cmd;
    let prefix = output.clone().or_else(|| prefix.clone()).unwrap_or_else(|| "strata".into());
    let (private, public) = crate::sign::keys::generate(*algorithm, passphrase().as_deref())?;
    let with = |ext: &str| {
        let mut p = prefix.clone().into_os_string();
        p.push(ext);
        std::path::PathBuf::from(p)
    };
    let (kp, kpub) = (with(".key"), with(".pub"));
    let write = |path: &std::path::Path, text: &str, mode: u32| -> crate::Result<()> {
        use std::io::Write as _;
        use std::os::unix::fs::OpenOptionsExt as _;
        let io = |e| crate::sign::SignError::Io { path: path.to_path_buf(), source: e };
        let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(mode).open(path).map_err(io)?;
        f.write_all(text.as_bytes()).map_err(io)?;
        Ok(())
    };
    write(&kp, &private, 0o600)?;
    write(&kpub, &public, 0o644)?;
    writeln!(out, "wrote {} and {}", kp.display(), kpub.display()).ok();
    Ok(())
}

pub fn sign(store: &Store, args: &SignArgs, out: &mut dyn Write) -> crate::Result<()> {
    let pass = passphrase();
    let report = crate::sign::sign(store, &args.image, &args.key, pass.as_deref(), args.bundle_dir.as_deref())?;
    for (what, digest) in &report.items {
        writeln!(out, "signed {what} {digest}").ok();
    }
    writeln!(out, "bundles attached under {}", report.tag).ok();
    Ok(())
}

pub fn verify_signature(store: &Store, args: &VerifySignatureArgs, out: &mut dyn Write) -> crate::Result<()> {
    let report = crate::sign::verify(store, &args.image, &args.key)?;
    for (what, digest) in &report.items {
        writeln!(out, "verified {what} {digest}").ok();
    }
    Ok(())
}
