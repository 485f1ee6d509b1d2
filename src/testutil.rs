//! Helpers shared by the unit tests of several modules.

/// Whether `tool` is on PATH. If not, the test fails under `CI=true` (CI
/// installs everything; a skip there would hide a missing install step) and
/// otherwise prints why it is skipped.
pub(crate) fn need_tool(tool: &str) -> bool {
    let found = std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()).any(|d| d.join(tool).is_file());
    if !found {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "{tool} is not installed, and CI=true forbids skipping (apt-get install the package that has it)"
        );
        eprintln!("skipped: {tool} is not installed");
    }
    found
}

/// Whether this process is root (for tests that mount): under CI=true a
/// non-root run fails the test instead of skipping it.
pub(crate) fn need_root(what: &str) -> bool {
    // SAFETY: geteuid cannot fail.
    let root = unsafe { libc::geteuid() } == 0;
    if !root {
        assert!(std::env::var("CI").as_deref() != Ok("true"), "{what} needs root, and CI=true forbids skipping");
        eprintln!("skipped: {what} needs root");
    }
    root
}
