//! What a pull reads from a registry's manifest or index document.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let digest = strata::digest::sha256(data);
    let want = strata::image::Platform::host();
    let _ = strata::registry::read_document("fuzz.invalid/x:1", data, &digest, &want);
});
