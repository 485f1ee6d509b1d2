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
