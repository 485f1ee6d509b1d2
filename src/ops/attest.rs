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

/// Rebuilds the project (every step run again unless `--use-cache`) and
/// compares the result with `--image`.
pub fn verify(store: &Store, args: &VerifyArgs, out: &mut dyn Write) -> crate::Result<()> {
    let expected = store.resolve(&args.image)?;
    let mut build = crate::cli::BuildArgs { tags: Vec::new(), push: false, output: None, ..args.build.clone() };
    build.lc.no_cache = build.lc.no_cache || !args.use_cache;
    let mut log = Vec::new();
    let rebuilt = super::build::build(store, &build, &mut log)?.expect("not a dry run");
    if rebuilt.digest() == expected.digest() {
        writeln!(out, "{}: reproduced bit for bit ({})", args.image, expected.digest()).ok();
        return Ok(());
    }
    out.write_all(&log).ok();
    let difference = match crate::verify::first_difference(store, &expected, &rebuilt)? {
        Some(d) => d.to_string(),
        None => "none found".into(),
    };
    Err(VerifyError::Differs {
        project: args.build.project.display().to_string(),
        image: args.image.clone(),
        expected: expected.digest().to_string(),
        rebuilt: rebuilt.digest().to_string(),
        difference,
    }
    .into())
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
