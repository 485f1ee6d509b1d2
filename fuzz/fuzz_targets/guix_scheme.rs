//! The Guix frontend: the reader, then every definition evaluated.
#![no_main]

use libfuzzer_sys::fuzz_target;
use strata_frontend_guix::eval::{Evaluator, Target};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut ev = Evaluator::new(Target { system: "x86_64-linux".into() });
    if ev.load(std::path::Path::new("fuzz.scm"), &text, true).is_err() {
        return;
    }
    for name in ev.all_names() {
        let _ = ev.global(&name, Default::default());
    }
});
