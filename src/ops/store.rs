//! `strata store fsck|gc|path`.

use std::io::Write;

use crate::gc::{self, DaemonOutcome, GcOptions};
use crate::store::Store;

/// Verifies the store; returns whether it is clean.
pub fn fsck(store: &Store, out: &mut dyn Write) -> crate::Result<bool> {
    let report = store.fsck()?;
    for p in &report.problems {
        writeln!(out, "problem: {p}").ok();
    }
    writeln!(
        out,
        "checked {} blobs and {} image names in {}: {}",
        report.blobs_checked,
        report.refs_checked,
        store.root().display(),
        if report.is_clean() { "ok".to_string() } else { format!("{} problem(s)", report.problems.len()) }
    )
    .ok();
    Ok(report.is_clean())
}

/// Runs gc (see `crate::gc`) and says what went. Fails, after saying
/// everything else, if a daemon it reached could not be pruned.
pub fn gc(store: &Store, opts: &GcOptions, out: &mut dyn Write) -> crate::Result<()> {
    let r = gc::run(store, opts)?;
    let verb = if opts.dry_run { "would remove" } else { "removed" };
    writeln!(
        out,
        "{verb} {} cache record(s), {} blob(s) ({}), {} temp file(s), {} download(s) ({}), {} snapshot(s)",
        r.cache_records_removed,
        r.blobs_removed,
        human_bytes(r.bytes_freed),
        r.temp_files_removed,
        r.downloads_removed,
        human_bytes(r.download_bytes_freed),
        r.snapshots_removed,
    )
    .ok();
    for (path, e) in &r.unmount_failures {
        writeln!(out, "could not unmount {} (left by a killed build): {e}", path.display()).ok();
    }
    for path in &r.temp_still_mounted {
        writeln!(out, "kept {}: something is still mounted below it (unmount it, then gc again)", path.display()).ok();
    }
    if r.snapshots_kept_mounted {
        writeln!(out, "kept every snapshot: something is still mounted in the store").ok();
    }
    let daemons = if opts.all { gc::prune_daemons(opts.dry_run) } else { Vec::new() };
    let mut failed = Vec::new();
    for d in &daemons {
        let line = match &d.outcome {
            DaemonOutcome::Docker(p) => format!(
                "{verb} {} step container(s), {} step image(s); {} in use, left alone",
                p.containers, p.images, p.in_use
            ),
            DaemonOutcome::Containerd { leftovers: l, snapshots } => format!(
                "{verb} {} step container(s), {} lease(s), {} active snapshot(s), {} cached snapshot(s); {} step(s) in use, left alone",
                l.containers, l.leases, l.snapshots, snapshots, l.in_use
            ),
            DaemonOutcome::Unavailable(why) => format!("not reachable, skipped ({why})"),
            DaemonOutcome::NotChecked => "not asked (--dry-run)".to_string(),
            DaemonOutcome::Failed(e) => {
                failed.push(format!("{}: {e}", d.daemon));
                format!("prune failed: {e}")
            }
        };
        writeln!(out, "{}: {line}", d.daemon).ok();
    }
    if !failed.is_empty() {
        return Err(gc::GcError::DaemonPrune { failures: failed }.into());
    }
    Ok(())
}

/// `1234567` → `1.2 MB` (decimal units, as docker prints sizes).
/// `strata source add FILE…`: each file into the download cache; prints
/// its sha256 and name.
pub fn source_add(store: &Store, files: &[std::path::PathBuf], out: &mut dyn Write) -> crate::Result<()> {
    let downloads = crate::sources::Downloads::in_store(store);
    for f in files {
        let sha256 = downloads.add(f)?;
        writeln!(out, "{sha256}  {}", f.display()).ok();
    }
    Ok(())
}

/// `strata source ls`: the added files, by name.
pub fn source_ls(store: &Store, out: &mut dyn Write) -> crate::Result<()> {
    let downloads = crate::sources::Downloads::in_store(store);
    let mut names: Vec<_> = downloads.names().into_iter().filter(|l| l.exists()).collect();
    names.sort();
    for link in names {
        let target = std::fs::read_link(&link).unwrap_or_default();
        let hex = target.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let name = link.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        writeln!(out, "sha256:{hex}  {name}").ok();
    }
    Ok(())
}

pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1000.0 && u < UNITS.len() - 1 {
        v /= 1000.0;
        u += 1;
    }
    if u == 0 { format!("{n} B") } else { format!("{v:.1} {}", UNITS[u]) }
}

/// `10GB`, `512MiB`, `1.5g`, `1000` (bytes) → bytes. Decimal units as
/// docker prints them, binary ones as `--keep-storage` users also type.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num.parse().map_err(|_| format!("'{s}' is not a size (try 10GB or 512MiB)"))?;
    let mult: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kb" => 1e3,
        "m" | "mb" => 1e6,
        "g" | "gb" => 1e9,
        "t" | "tb" => 1e12,
        "kib" => 1024.0,
        "mib" => 1024f64.powi(2),
        "gib" => 1024f64.powi(3),
        "tib" => 1024f64.powi(4),
        u => return Err(format!("unknown size unit '{u}' in '{s}' (B, kB, MB, GB, TB, KiB, MiB, GiB, TiB)")),
    };
    Ok((n * mult) as u64)
}

#[cfg(test)]
mod tests {
    #[test]
    fn sizes_parse_like_docker_keep_storage() {
        assert_eq!(super::parse_size("10GB"), Ok(10_000_000_000));
        assert_eq!(super::parse_size("512MiB"), Ok(512 * 1024 * 1024));
        assert_eq!(super::parse_size("0"), Ok(0));
        assert!(super::parse_size("ten").unwrap_err().contains("not a size"));
        assert!(super::parse_size("1zb").unwrap_err().contains("unknown size unit"));
    }

    #[test]
    fn sizes_read_like_docker_images() {
        assert_eq!(super::human_bytes(999), "999 B");
        assert_eq!(super::human_bytes(1_234_567), "1.2 MB");
    }
}
