//! `source-type: zip`: any bytes as a zip, extracted into a fresh directory.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let root = tempfile::tempdir().unwrap();
    let zip = root.path().join("a.zip");
    std::fs::write(&zip, data).unwrap();
    let dest = root.path().join("t");
    std::fs::create_dir(&dest).unwrap();
    let _ = strata::sources::zip_archive::extract_file(&zip, &dest);
    for e in std::fs::read_dir(root.path()).unwrap() {
        let n = e.unwrap().file_name();
        assert!(n == "t" || n == "a.zip", "{n:?} landed outside the target");
    }
});
