//! `strata build`, `plan`, `step`, `shell`, `clean`: the build pipeline on the chosen executor; name
//! the image, export it if asked, print its digest.

use std::io::Write;

use oci_spec::image::Descriptor;

use crate::build::{self as pipeline, BuildError, BuildOptions};
use crate::cli::ExecutorKind;
use crate::cli::{BuildArgs, CleanArgs, LifecycleArgs, ShellArgs, StepArgs, TargetArgs};
use crate::executor::checked::CheckedOnFirstUse;
use crate::executor::containerd::{ContainerdConfig, ContainerdExecutor};
use crate::executor::docker::DockerExecutor;
use crate::executor::{Cancel, Executor, RuncExecutor};
use crate::export::{self, ExportTarget};
use crate::progress;
use crate::store::Store;

/// The lifecycle options the user chose.
fn options(lc: &LifecycleArgs, cancel: &Cancel) -> crate::Result<BuildOptions> {
    Ok(BuildOptions {
        build_base: lc.build_base.clone(),
        base: lc.base.clone(),
        compression: lc.compression,
        pull: lc.pull,
        registry: super::registry::registry_options(&lc.registry),
        cancel: cancel.clone(),
        no_cache: lc.no_cache,
        no_cache_filter: lc.no_cache_filter.clone(),
        cache_from: lc.cache_from.clone(),
        shell_on_fail: lc.shell_on_fail,
        jobs: lc.jobs,
        echo_logs: progress::resolve(lc.progress) != progress::ProgressMode::Tty,
        build_ca: match (&lc.build_ca, lc.no_build_ca) {
            (Some(f), _) => Some(f.clone()),
            (None, true) => None,
            (None, false) => crate::worker::local::host_ca_bundle(),
        },
        frontend_options: lc.frontend_opts.clone(),
        limits: crate::executor::Limits {
            memory: lc.memory,
            pids: lc.pids_limit,
            seccomp: lc.security_opt.unwrap_or_default(),
        },
        step_timeout: lc.step_timeout,
        attest: None,
        secrets: crate::worker::secrets::Secrets::new(lc.secrets.iter().cloned())?,
        target: None,
        image_variant: None,
        provenance_source: None,
    })
}

/// `strata FRONTEND TARGET FILE` (`strata spk make-source`): builds the
/// target and prints each result's layers (or that a check passed).
pub fn make(store: &Store, args: &TargetArgs, out: &mut dyn Write) -> crate::Result<()> {
    let cancel = Cancel::new();
    let mut opts = options(&args.lc, &cancel)?;
    opts.target = Some(args.target.clone());
    cancel_on_ctrl_c(&cancel);
    let executor = executor(args.lc.executor)?;
    let made = pipeline::make_local(
        store,
        executor.as_ref(),
        &args.project,
        &args.frontend,
        &opts,
        progress::renderer(args.lc.progress, out).as_mut(),
    )?;
    for (vertex, outputs) in &made.results {
        if outputs.is_empty() {
            writeln!(out, "{vertex}: ok").ok();
        }
        for (name, layer) in outputs {
            writeln!(out, "{vertex}: {name} {} ({} bytes)", layer.digest, layer.size).ok();
        }
    }
    writeln!(out, "{} {}: {} step(s) run, {} cached", args.frontend, args.target, made.ran.len(), made.cached.len())
        .ok();
    Ok(())
}

/// Builds (or with `--dry-run`, plans) the project; returns the image, if built.
pub fn build(store: &Store, args: &BuildArgs, out: &mut dyn Write) -> crate::Result<Option<Descriptor>> {
    build_recording(store, args, None, out)
}

/// [`build`]; with `Some(source)`, the provenance records `source` as the
/// project's git source (`strata verify IMAGE`: the original's, not its
/// clone's).
pub(crate) fn build_recording(
    store: &Store,
    args: &BuildArgs,
    source: Option<Option<crate::resolve::Checkout>>,
    out: &mut dyn Write,
) -> crate::Result<Option<Descriptor>> {
    // Parse --output and --cache-to before spending minutes on the build.
    let target: Option<ExportTarget> = args.output.as_deref().map(str::parse).transpose()?;
    let cache_to = args.cache_to.as_deref().map(crate::cache::remote::parse_cache_ref).transpose()?;
    let cancel = Cancel::new();
    let mut opts = options(&args.lc, &cancel)?;
    opts.attest = Some(crate::attest::AttestOptions { enabled: args.sbom, provenance: args.provenance });
    opts.provenance_source = source;
    if args.dry_run {
        pipeline::plan(store, &args.project, &opts, progress::renderer(args.lc.progress, out).as_mut())?;
        return Ok(None);
    }
    cancel_on_ctrl_c(&cancel);
    let built = match &args.remote.remote {
        Some(_) if !opts.secrets.is_empty() => return Err(crate::worker::secrets::SecretError::RemoteBuild.into()),
        Some(url) => {
            let endpoint = super::remote::endpoint(url, &args.remote.farm);
            let worker = crate::worker::RemoteWorker::new(store, &endpoint, opts.compression)?;
            let built = pipeline::build_with(
                store,
                &worker,
                &args.project,
                &opts,
                progress::renderer(args.lc.progress, out).as_mut(),
            )?;
            let t = worker.traffic();
            let mb = |b: u64| b as f64 / 1e6;
            writeln!(
                out,
                "remote {url}: {} step(s) run there, {} from its cache; up {} blob(s) ({:.1} MB), down {} ({:.1} MB)",
                t.executed,
                t.cached,
                t.uploaded_blobs,
                mb(t.uploaded_bytes),
                t.downloaded_blobs,
                mb(t.downloaded_bytes)
            )
            .ok();
            built
        }
        None => {
            let executor = executor(args.lc.executor)?;
            pipeline::build(
                store,
                executor.as_ref(),
                &args.project,
                &opts,
                progress::renderer(args.lc.progress, out).as_mut(),
            )?
        }
    };
    // The image as tagged, exported and pushed: the index attaching its
    // attestations, or the bare manifest.
    let root = built.index.clone().unwrap_or_else(|| built.manifest.clone());
    for t in &args.tags {
        store.set_ref(t, &root)?;
    }
    if let Some(r) = &cache_to {
        let reg = super::registry::registry_options(&args.lc.registry);
        let started = std::time::Instant::now();
        crate::cache::remote::export(store, r, &built.records, &reg)?;
        let n = built.records.len();
        writeln!(out, "exported {n} cached step(s) to {r} in {:.1}s", started.elapsed().as_secs_f64()).ok();
    }
    let name = match args.tags.first() {
        Some(t) => crate::store::normalize_ref(t)?,
        None => {
            let n = format!("{}:{}", built.name, built.version.as_deref().unwrap_or("latest"));
            crate::store::normalize_ref(&n).unwrap_or_else(|_| "strata-build:latest".into())
        }
    };
    if let Some(target) = &target {
        let report = export::export(store, &root, &name, target)?;
        writeln!(out, "{report}").ok();
    }
    if args.push {
        let dests = args.tags.iter().map(|t| crate::registry::parse_reference(t)).collect::<Result<Vec<_>, _>>()?;
        let opts = crate::registry::PushOptions {
            registry: super::registry::registry_options(&args.lc.registry),
            ..Default::default()
        };
        let rep = crate::registry::push(store, &root, &dests, &opts)?;
        for p in &rep.pushed {
            writeln!(out, "pushed {p}").ok();
        }
    }
    match args.tags.first() {
        Some(t) => writeln!(out, "{t} {}", root.digest()).ok(),
        None => writeln!(out, "{}", root.digest()).ok(),
    };
    Ok(Some(root))
}

/// `strata step STEP [PART...]`: the lifecycle up to `step` for `parts`.
pub fn step(store: &Store, step: &str, args: &StepArgs, out: &mut dyn Write) -> crate::Result<()> {
    let cancel = Cancel::new();
    let opts = options(&args.lc, &cancel)?;
    cancel_on_ctrl_c(&cancel);
    let executor = executor(args.lc.executor)?;
    let mut progress = progress::renderer(args.lc.progress, out);
    pipeline::run_steps(store, executor.as_ref(), &args.project, &opts, step, &args.parts, progress.as_mut())
}

/// `strata shell`: returns the exit code of the shell or command.
pub fn shell(store: &Store, args: &ShellArgs, out: &mut dyn Write) -> crate::Result<i32> {
    let cancel = Cancel::new();
    let opts = options(&args.lc, &cancel)?;
    // A frontend whose files hold several packages names the one with
    // `--package`, which is then the part (`strata shell -p hello.scm
    // --package hello --phase check`).
    let package = opts.frontend_options.iter().rev().find(|(k, _)| k == "package").map(|(_, v)| v.clone());
    let part = args.part.clone().or(package).ok_or(BuildError::NoPart)?;
    let at = match &args.phase {
        Some(p) => pipeline::ShellAt::Before(p.clone()),
        None => pipeline::ShellAt::After(args.step.clone()),
    };
    let executor = executor(args.lc.executor)?;
    // Progress goes to stderr: stdout belongs to the command.
    let mut err = std::io::stderr();
    let _ = out;
    let mut progress = progress::renderer(args.lc.progress, &mut err);
    pipeline::shell(store, executor.as_ref(), &args.project, &opts, &part, &at, &args.command, progress.as_mut())
}

/// `strata clean [PART...]`.
pub fn clean(store: &Store, args: &CleanArgs, out: &mut dyn Write) -> crate::Result<()> {
    let n = pipeline::clean(store, &args.project, &args.parts)?;
    writeln!(out, "forgot {n} cached step(s)").ok();
    Ok(())
}

/// The executor the user chose, checked to be reachable when its first
/// step runs ([`CheckedOnFirstUse`]): a fully cached build needs none.
fn executor(kind: ExecutorKind) -> crate::Result<Box<dyn Executor>> {
    Ok(match kind {
        ExecutorKind::Runc => Box::new(CheckedOnFirstUse::new(RuncExecutor::new(), RuncExecutor::check)),
        ExecutorKind::Docker => Box::new(CheckedOnFirstUse::new(DockerExecutor::docker(), DockerExecutor::check)),
        ExecutorKind::Podman => Box::new(CheckedOnFirstUse::new(DockerExecutor::podman(), DockerExecutor::check)),
        ExecutorKind::Containerd => {
            let e = ContainerdExecutor::new(ContainerdConfig::from_env())?;
            Box::new(CheckedOnFirstUse::new(e, ContainerdExecutor::ping))
        }
    })
}

/// Ctrl-C cancels the build: the running step's container, mounts and temp
/// dirs are removed by the executor, and no further step starts.
fn cancel_on_ctrl_c(cancel: &Cancel) {
    let cancel = cancel.clone();
    std::thread::spawn(move || {
        let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() else { return };
        rt.block_on(async {
            if tokio::signal::ctrl_c().await.is_ok() {
                eprintln!("cancelling the build (Ctrl-C)");
                cancel.cancel();
            }
        });
    });
}
