//! Golden tests for spec errors: every `tests/fixtures-negative/<case>/`
//! holds an `input.yaml` and the exact error strata reports for it
//! (`expected-error.txt`: `input.yaml:LINE:COLUMN: message`, then a
//! `  help:` line). The case directory is the project directory.
//!
//! `STRATA_BLESS=1 cargo test -p strata-frontend-craft --test negative`
//! rewrites the expected files from the current output.

use std::path::Path;

use strata_frontend_craft::CraftFrontend;

#[test]
fn negative_cases_report_the_expected_error() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures-negative");
    let bless = std::env::var_os("STRATA_BLESS").is_some();
    let mut cases: Vec<_> =
        std::fs::read_dir(&root).unwrap().map(|e| e.unwrap().path()).filter(|p| p.is_dir()).collect();
    cases.sort();
    assert!(cases.len() >= 30, "the negative cases are missing");
    let mut failures = Vec::new();
    for dir in cases {
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let input = std::fs::read_to_string(dir.join("input.yaml")).unwrap();
        let got = match CraftFrontend.load_str(&input, &dir, "input.yaml") {
            Ok(_) => format!("(no error: {name} loaded)"),
            Err(e) => e.to_string(),
        };
        let expected_path = dir.join("expected-error.txt");
        if bless {
            std::fs::write(&expected_path, format!("{got}\n")).unwrap();
            continue;
        }
        let expected = std::fs::read_to_string(&expected_path).unwrap_or_default();
        if expected.trim_end() != got {
            failures.push(format!("{name}:\n  expected: {}\n  got:      {got}", expected.trim_end()));
        }
    }
    assert!(failures.is_empty(), "{} negative case(s) differ:\n{}", failures.len(), failures.join("\n"));
}
