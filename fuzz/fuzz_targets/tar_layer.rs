//! Layer unpacking: any bytes as a (gzip, zstd or plain) layer, unpacked
//! into a fresh directory, which must hold everything written.
#![no_main]

use libfuzzer_sys::fuzz_target;
use strata::layer::{UnpackOptions, unpack};

fuzz_target!(|data: &[u8]| {
    let root = tempfile::tempdir().unwrap();
    let target = root.path().join("t");
    std::fs::create_dir(&target).unwrap();
    let _ = unpack(data, &target, &UnpackOptions { same_owner: false, ..Default::default() });
    for e in std::fs::read_dir(root.path()).unwrap() {
        assert_eq!(e.unwrap().file_name(), "t", "an entry landed outside the target");
    }
});
