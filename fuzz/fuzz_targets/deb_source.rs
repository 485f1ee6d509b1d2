//! `source-type: deb`: any bytes as a .deb, extracted into a fresh directory.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let root = tempfile::tempdir().unwrap();
    let deb = root.path().join("a.deb");
    std::fs::write(&deb, data).unwrap();
    let dest = root.path().join("t");
    std::fs::create_dir(&dest).unwrap();
    let _ = strata::sources::deb::extract_file(&deb, &dest);
    for e in std::fs::read_dir(root.path()).unwrap() {
        let n = e.unwrap().file_name();
        assert!(n == "t" || n == "a.deb", "{n:?} landed outside the target");
    }
});
