//! The craft frontend's reader: any bytes as a `parts.yaml`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = strata_frontend_craft::parse::parse_project(&text, std::path::Path::new("/nonexistent"), "parts.yaml");
});
