//! `strata store gc`, composed: each of the store's tenants says what it
//! keeps, the store marks and sweeps ([`Store::mark`],
//! [`Exclusive::sweep`], [`Exclusive::clean_temp`]). Everything runs under
//! the store's exclusive gc lock, so no other strata process is mid-write
//! or mid-build while anything is removed.
//!
//! | kind | where | kept | dropped |
//! |---|---|---|---|
//! | refs | `index.json` | every blob a named image reaches | never (`strata image rm` removes names) |
//! | step-cache records | `strata/cache/steps/` ([`crate::cache`]) | every record, and the blobs its layers and its image reach | with `--keep-storage SIZE`: least recently used first, see below |
//! | downloads | `strata/downloads/` ([`crate::sources::Downloads`]) | every `urls/` entry whose file is there, and the files they name | files no entry names (downloads without `source-checksum`, which are never looked up again); entries whose file is gone or unreadable; with `--keep-storage`: least recently used entries, see below |
//! | snapshots | `strata/snapshots/<diff_id>` ([`crate::snapshot`]) | those whose layer is still kept (a kept record's layer, or in a kept image's config) | those of layers that go; with `--all`, every one (they are unpacked again from blobs on demand). None at all while something is still mounted in the store |
//! | temp | `strata/tmp/` | entries something is still mounted below | everything else: interrupted blob writes and downloads, step, snapshot and probe dirs of killed builds (their mounts are unmounted first) |
//! | `--all`: Docker, Podman | the daemons at their usual addresses | what a live strata process uses; images a container uses | strata's step images (label `org.strata.step-image`), step containers and temporary commits of processes that are gone ([`DockerExecutor::prune`]) |
//! | `--all`: containerd | namespace `$CONTAINERD_NAMESPACE` or `strata` | what a live strata process uses or holds in a lease | step containers, tasks, leases and active snapshots of processes that are gone (label `io.strata.owner`), then the chain and init snapshots nothing else is built on ([`ContainerdExecutor::prune_leftovers`], [`ContainerdExecutor::prune`]) |
//!
//! **`--keep-storage SIZE`** bounds what is kept only because it saves
//! work later: step-cache records and pinned downloads, ranked together by
//! last use (a record's mtime is touched by every cache hit, a download
//! entry's by every download-cache hit). Newest first, each keeps its own
//! bytes — the blobs no ref and no newer kept record holds, and its file if
//! no newer kept entry names it — while the total stays within SIZE; from
//! the first that does not fit, it and everything older go (strictly least
//! recently used, so an old small entry never outlives a newer big one).
//! Images named by a ref are always kept and never count. Snapshots and
//! temp files do not count: snapshots follow their layers, temp goes anyway.
//!
//! Why downloads are ranked with the records rather than kept as long as a
//! record "uses" them: a cached pull step already holds its source as a
//! layer, so a download only saves work when that step reruns (its key
//! changed for another reason, `--no-cache`); it is worth as much as its
//! last use says, like a record. Records do not name the downloads they
//! came from, so there is no reference to follow either.
//!
//! Not collected: `strata/cache/vertices/` (the last inputs of each vertex,
//! which let a build say why it missed, including "its cache entry was
//! removed"), `strata/cache/stat/` (stat caches of local source trees) and
//! `strata/logs/` (each step's last log, overwritten by its next run): a
//! few kilobytes per part.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::time::SystemTime;

use oci_spec::image::{Digest, MediaType};

use crate::cache::{StepCache, StoredRecord};
use crate::executor::ExecError;
use crate::executor::containerd::{ContainerdConfig, ContainerdExecutor, LeftoverReport};
use crate::executor::docker::{DockerExecutor, PruneReport};
use crate::sources::{DownloadEntry, Downloads};
use crate::store::{Exclusive, Marks, Store, StoreError};

/// What made gc fail after it did its work.
#[derive(Debug, thiserror::Error)]
pub enum GcError {
    /// `--all`: a daemon was reachable but could not be pruned (the store
    /// itself was collected).
    #[error("the store was collected, but pruning failed: {}", failures.join("; "))]
    DaemonPrune { failures: Vec<String> },
}

/// What `strata store gc` is asked to do.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GcOptions {
    /// Count what would go; remove nothing, ask no daemon.
    pub dry_run: bool,
    /// Keep at most this many bytes of step cache and downloads (see the
    /// module docs).
    pub keep_storage: Option<u64>,
    /// Also drop every snapshot and what strata left in Docker, Podman and
    /// containerd.
    pub all: bool,
}

/// What gc removed (or, in a dry run, would remove).
#[derive(Debug, Default)]
pub struct GcReport {
    /// Step-cache records dropped to fit `--keep-storage`.
    pub cache_records_removed: usize,
    pub blobs_removed: usize,
    pub bytes_freed: u64,
    /// Downloaded files removed, and their bytes.
    pub downloads_removed: usize,
    pub download_bytes_freed: u64,
    /// Download-index entries removed (dropped, dangling or unreadable).
    pub download_entries_removed: usize,
    pub snapshots_removed: usize,
    /// Every snapshot was kept because something is still mounted in the
    /// store (a killed build's overlay gc could not unmount).
    pub snapshots_kept_mounted: bool,
    pub temp_files_removed: usize,
    /// Temp entries kept because something is still mounted below them.
    pub temp_still_mounted: Vec<PathBuf>,
    /// Mounts of killed builds that could not be unmounted.
    pub unmount_failures: Vec<(PathBuf, String)>,
}

/// `--all`: what one daemon gave up.
#[derive(Debug)]
pub struct DaemonReport {
    /// `docker (unix:///var/run/docker.sock)`, `containerd (namespace strata)`.
    pub daemon: String,
    pub outcome: DaemonOutcome,
}

#[derive(Debug)]
pub enum DaemonOutcome {
    Docker(PruneReport),
    Containerd {
        leftovers: LeftoverReport,
        /// Chain and init snapshots removed.
        snapshots: usize,
    },
    /// Not running or not reachable here: nothing to remove there.
    Unavailable(String),
    /// Reachable, but the prune failed.
    Failed(String),
    /// `--dry-run`: daemons are not asked.
    NotChecked,
}

/// Runs gc on `store`; waits for other strata processes using it first.
/// With `opts.all` it drops every snapshot too; what strata left in the
/// daemons is [`prune_daemons`]' business (it needs no store).
pub fn run(store: &Store, opts: &GcOptions) -> crate::Result<GcReport> {
    let gc = store.lock_exclusive()?;
    let mut report = GcReport::default();
    let dry = opts.dry_run;

    // Roots 1: the refs.
    let mut marks = Marks::new();
    store.mark(&mut marks, store.refs()?.into_iter().map(|(_, d)| d));

    // Roots 2 and 3: step-cache records and download entries, within the budget.
    let cache = StepCache::new(store);
    let downloads = Downloads::in_store(store);
    let records = cache.records();
    let (entries, dangling): (Vec<DownloadEntry>, Vec<DownloadEntry>) =
        downloads.entries().into_iter().partition(|e| e.sha256.as_ref().is_some_and(|d| downloads.has_file(d)));
    let mut candidates = Vec::with_capacity(records.len() + entries.len());
    for (i, r) in records.iter().enumerate() {
        candidates.push(record_candidate(store, &marks, i, r));
    }
    let sizes: HashMap<Digest, u64> = downloads.files().into_iter().map(|f| (f.sha256, f.size)).collect();
    for (i, e) in entries.iter().enumerate() {
        let sha = e.sha256.clone().expect("partitioned on it");
        let size = sizes.get(&sha).copied().unwrap_or(0);
        candidates.push(Candidate {
            used: e.used,
            path: e.index.clone(),
            who: Who::Download(i),
            costs: vec![(Cost::Download(sha), size)],
        });
    }
    let (kept, dropped) = budget(candidates, opts.keep_storage);

    let mut live_diff_ids = HashSet::new();
    let mut live_downloads = HashSet::new();
    for who in kept {
        match who {
            Who::Record(i) => {
                let r = &records[i].record;
                store.mark(&mut marks, r.roots());
                live_diff_ids.extend(r.layers.iter().map(|(_, l)| l.diff_id.clone()));
            }
            Who::Download(i) => {
                live_downloads.extend(entries[i].sha256.clone());
            }
        }
    }
    for who in dropped {
        match who {
            Who::Record(i) => {
                report.cache_records_removed += 1;
                if !dry {
                    cache.remove(&records[i])?;
                }
            }
            Who::Download(i) => {
                report.download_entries_removed += 1;
                if !dry {
                    remove_download(&downloads, &entries[i].index)?;
                }
            }
        }
    }
    for e in &dangling {
        report.download_entries_removed += 1;
        if !dry {
            remove_download(&downloads, &e.index)?;
        }
    }
    for f in downloads.files() {
        if live_downloads.contains(&f.sha256) {
            continue;
        }
        report.downloads_removed += 1;
        report.download_bytes_freed += f.size;
        if !dry {
            remove_download(&downloads, &f.path)?;
        }
    }
    // The names of added files that went (`strata source add`).
    if !dry {
        for link in downloads.names() {
            if !link.exists() {
                remove_download(&downloads, &link)?;
            }
        }
    }

    // The sweep.
    let swept = gc.sweep(&marks, dry)?;
    report.blobs_removed = swept.blobs_removed;
    report.bytes_freed = swept.bytes_freed;
    if !dry {
        crate::attest::cache::AttestCache::in_store(store).prune(store);
        crate::attest::layer_scan::LayerScans::in_store(store).prune(store);
    }

    // What killed builds left mounted, then snapshots, then temp.
    if !dry {
        report.unmount_failures =
            crate::snapshot::unmount_leftovers(&gc).into_iter().map(|(p, e)| (p, e.to_string())).collect();
    }
    live_diff_ids.extend(config_diff_ids(store, &marks));
    collect_snapshots(&gc, &live_diff_ids, opts, &mut report)?;
    let temp = gc.clean_temp(dry)?;
    report.temp_files_removed = temp.removed;
    report.temp_still_mounted = temp.still_mounted;
    Ok(report)
}

fn remove_download(downloads: &Downloads, path: &std::path::Path) -> Result<(), StoreError> {
    downloads.remove(path).map_err(|e| StoreError::Io { path: path.to_owned(), source: e })
}

/// Removes the snapshots of layers that are not kept (every one with
/// `--all`), unless something is still mounted in the store: then a
/// snapshot may be a lower dir of it, and all stay.
fn collect_snapshots(
    gc: &Exclusive<'_>,
    live: &HashSet<Digest>,
    opts: &GcOptions,
    report: &mut GcReport,
) -> crate::Result<()> {
    let store = gc.store();
    let tmp = store.tmp_dir();
    let mounted = match crate::mounts::mount_points_under(store.root()) {
        // Mounts below the temp dir are checked by `clean_temp`, and in a
        // dry run nothing has been unmounted yet: only others count there.
        Ok(points) => points.iter().any(|p| !(opts.dry_run && p.starts_with(&tmp))),
        Err(_) => true,
    };
    let doomed: Vec<PathBuf> = crate::snapshot::snapshots(store)
        .into_iter()
        .filter(|(diff_id, _)| opts.all || !live.contains(diff_id))
        .map(|(_, dir)| dir)
        .collect();
    if doomed.is_empty() {
        return Ok(());
    }
    if mounted {
        report.snapshots_kept_mounted = true;
        return Ok(());
    }
    for dir in doomed {
        report.snapshots_removed += 1;
        if !opts.dry_run {
            crate::snapshot::remove_snapshot(gc, &dir)?;
        }
    }
    Ok(())
}

/// The diff_ids every marked image config lists: the layers of images gc
/// keeps, whose snapshots stay.
fn config_diff_ids(store: &Store, marks: &Marks) -> Vec<Digest> {
    let is_config = |mt: &MediaType| {
        matches!(mt, MediaType::ImageConfig)
            || matches!(mt, MediaType::Other(s) if s == "application/vnd.docker.container.image.v1+json")
    };
    let mut out = Vec::new();
    for d in marks.descriptors().filter(|d| is_config(d.media_type())) {
        let Ok(v) = store.read_json::<serde_json::Value>(d.digest()) else { continue };
        let ids = v.pointer("/rootfs/diff_ids").and_then(|i| i.as_array()).cloned().unwrap_or_default();
        out.extend(ids.iter().filter_map(|i| i.as_str()?.parse::<Digest>().ok()));
    }
    out
}

// ------------------------------------------------------------ the budget

/// What `--keep-storage` ranks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Who {
    /// `records[i]`.
    Record(usize),
    /// `entries[i]`.
    Download(usize),
}

/// What keeping something costs: each counted once, by whoever keeps it first.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Cost {
    Blob(Digest),
    Download(Digest),
}

#[derive(Debug)]
struct Candidate {
    used: SystemTime,
    /// Ties on `used` are broken by path, so the order is stable.
    path: PathBuf,
    who: Who,
    /// What it alone would keep, and the bytes of each.
    costs: Vec<(Cost, u64)>,
}

/// A record's candidate: the blobs its layers and image reach that are in
/// the store and that no ref keeps anyway.
fn record_candidate(store: &Store, by_refs: &Marks, i: usize, r: &StoredRecord) -> Candidate {
    let mut costs = Vec::new();
    for root in r.record.roots() {
        for d in store.closure(&root) {
            if !by_refs.contains(d.digest()) && store.has_blob(d.digest()) {
                costs.push((Cost::Blob(d.digest().clone()), d.size()));
            }
        }
    }
    Candidate { used: r.used, path: r.path.clone(), who: Who::Record(i), costs }
}

/// Splits `candidates` into kept and dropped: everything is kept without a
/// limit; with one, newest first while the running total fits, and from
/// the first that does not, that one and every older one are dropped.
fn budget(mut candidates: Vec<Candidate>, keep_bytes: Option<u64>) -> (Vec<Who>, Vec<Who>) {
    candidates.sort_by(|a, b| b.used.cmp(&a.used).then_with(|| a.path.cmp(&b.path)));
    let mut counted: HashSet<Cost> = HashSet::new();
    let mut total = 0u64;
    let mut over = false;
    let (mut kept, mut dropped) = (Vec::new(), Vec::new());
    for c in candidates {
        let own: u64 = c.costs.iter().filter(|(k, _)| !counted.contains(k)).map(|(_, n)| *n).sum();
        over = over || keep_bytes.is_some_and(|k| total + own > k);
        if over {
            dropped.push(c.who);
            continue;
        }
        total += own;
        counted.extend(c.costs.into_iter().map(|(k, _)| k));
        kept.push(c.who);
    }
    (kept, dropped)
}

// ------------------------------------------------------------ --all: the daemons

/// `--all`: prunes what strata left in each daemon it can reach — Docker
/// at `$DOCKER_HOST` or its socket, Podman at `$CONTAINER_HOST` or its
/// socket, containerd as [`ContainerdConfig::from_env`] says. A daemon that
/// is not running is reported and skipped; in a dry run none is asked.
pub fn prune_daemons(dry_run: bool) -> Vec<DaemonReport> {
    let mut out = Vec::new();
    for docker in [DockerExecutor::docker(), DockerExecutor::podman()] {
        let daemon = format!("{} ({})", docker.endpoint().kind, docker.endpoint().address);
        let outcome = if dry_run {
            DaemonOutcome::NotChecked
        } else {
            match docker.check() {
                Err(e) => DaemonOutcome::Unavailable(reason(e)),
                Ok(()) => match docker.prune() {
                    Ok(r) => DaemonOutcome::Docker(r),
                    Err(e) => DaemonOutcome::Failed(e.to_string()),
                },
            }
        };
        out.push(DaemonReport { daemon, outcome });
    }
    let config = ContainerdConfig::from_env();
    let daemon = format!("containerd (namespace {})", config.namespace);
    let outcome = if dry_run {
        DaemonOutcome::NotChecked
    } else {
        match ContainerdExecutor::new(config).and_then(|c| c.ping().map(|()| c)) {
            Err(e) => DaemonOutcome::Unavailable(reason(e)),
            Ok(c) => match c.prune_leftovers().and_then(|leftovers| Ok((leftovers, c.prune()?))) {
                Ok((leftovers, snapshots)) => DaemonOutcome::Containerd { leftovers, snapshots },
                Err(e) => DaemonOutcome::Failed(e.to_string()),
            },
        }
    };
    out.push(DaemonReport { daemon, outcome });
    out
}

fn reason(e: ExecError) -> String {
    match e {
        ExecError::Unavailable { reason, .. } => reason,
        e => e.to_string(),
    }
}

#[cfg(test)]
mod tests;
