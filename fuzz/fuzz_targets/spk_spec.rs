//! The spk frontend's reader: Tera rendering, YAML, the spec.
#![no_main]

use std::collections::BTreeMap;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let opts = BTreeMap::from([("debug".to_string(), "on".to_string())]);
    let _ = strata_frontend_spk::load::load_str(
        &text,
        std::path::Path::new("fuzz.spk.yaml"),
        &opts,
        &BTreeMap::new(),
        false,
    );
});
