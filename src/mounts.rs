//! What is mounted where, from `/proc/self/mountinfo`: the store refuses to
//! delete across a mount point, and gc unmounts what killed builds left
//! under the store's temp dir. A leaf, like [`crate::digest`].

use std::io;
use std::path::{Path, PathBuf};

/// Every mount point at or below `dir`, deepest first (so unmounting in
/// this order never meets a mount point that still has mounts on it).
/// `dir` is compared after resolving symlinks, as the kernel reports
/// mount points.
pub fn mount_points_under(dir: &Path) -> io::Result<Vec<PathBuf>> {
    let info = std::fs::read_to_string("/proc/self/mountinfo")?;
    let dir = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    Ok(under(&info, &dir))
}

fn under(mountinfo: &str, dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = mountinfo
        .lines()
        // "36 35 98:0 /mnt1 /mnt/parent rw,noatime master:1 - ext3 /dev/root rw": the 5th field.
        .filter_map(|l| l.split(' ').nth(4))
        .map(|p| PathBuf::from(unescape(p)))
        .filter(|p| p.starts_with(dir))
        .collect();
    out.sort_by(|a, b| b.components().count().cmp(&a.components().count()).then_with(|| b.cmp(a)));
    out.dedup();
    out
}

/// mountinfo escapes space, tab, newline and backslash as `\ooo`.
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal =
            bytes.get(i + 1..i + 4).filter(|o| bytes[i] == b'\\' && o.iter().all(|c| (b'0'..=b'7').contains(c)));
        match octal {
            Some(o) => {
                out.push((o[0] - b'0') * 64 + (o[1] - b'0') * 8 + (o[2] - b'0'));
                i += 4;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mount_points_below_a_dir_come_deepest_first_with_escapes_decoded() {
        let info = "\
22 1 0:21 / / rw - ext4 /dev/vda rw
90 22 0:50 / /s/strata/tmp/step-1/rootfs rw - overlay overlay rw,lowerdir=a
91 90 0:51 / /s/strata/tmp/step-1/rootfs/proc rw - proc proc rw
92 22 0:52 / /s/strata/tmp/my\\040step/rootfs rw - overlay overlay rw
93 22 0:53 / /s/strata/tmpfoo rw - tmpfs tmpfs rw
";
        assert_eq!(
            under(info, Path::new("/s/strata/tmp")),
            [
                PathBuf::from("/s/strata/tmp/step-1/rootfs/proc"),
                PathBuf::from("/s/strata/tmp/step-1/rootfs"),
                PathBuf::from("/s/strata/tmp/my step/rootfs"),
            ]
        );
        assert!(under(info, Path::new("/elsewhere")).is_empty());
    }

    #[test]
    fn this_process_sees_its_root_mounted() {
        assert!(mount_points_under(Path::new("/")).unwrap().contains(&PathBuf::from("/")));
    }
}
