//! `strata store fsck|gc|path`.

use std::io::Write;

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

pub fn gc(store: &Store, dry_run: bool, out: &mut dyn Write) -> crate::Result<()> {
    let r = store.gc(dry_run)?;
    writeln!(
        out,
        "{} {} blob(s) ({}), {} temp file(s)",
        if dry_run { "would remove" } else { "removed" },
        r.blobs_removed,
        human_bytes(r.bytes_freed),
        r.temp_files_removed
    )
    .ok();
    Ok(())
}

/// `1234567` → `1.2 MB` (decimal units, as docker prints sizes).
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

#[cfg(test)]
mod tests {
    #[test]
    fn sizes_read_like_docker_images() {
        assert_eq!(super::human_bytes(999), "999 B");
        assert_eq!(super::human_bytes(1_234_567), "1.2 MB");
    }
}
