//! The phase file a phase vertex mounts at `/strata/phase/phase.scm`:
//! the alist `strata/run-phase.scm` reads (scheme/PROTOCOL.md, "The phase
//! file"). It holds everything a phase depends on besides its root
//! filesystem, so it is the phase's part of the vertex key: a phase's own
//! code is in it, the other phases' code is not (`#:phases` is left out).

use std::fmt::Write;

use crate::datum::write_string;
use crate::debian::IMPLICIT_INPUTS;
use crate::eval::record::Package;
use crate::phases::Phase;

/// Where the build side finds the state, inside the container.
pub const STATE_DIR: &str = "/strata/state";

/// The build tree, as Guix names it.
pub fn build_dir(p: &Package) -> String {
    format!("/tmp/guix-build-{}-{}.drv-0", p.name, p.version)
}

fn s(out: &mut String, v: &str) {
    write_string(out, v).expect("writing to a String");
}

/// The phase file for `phases` (one phase, or a group run in one process)
/// of `p`, whose source is at `source` in the container.
pub fn phase_file(p: &Package, phases: &[Phase], source: Option<&str>, system: &str) -> String {
    let mut out = String::from("(");
    let code = |ph: &Phase| ph.code.as_ref().map_or_else(|| "standard".to_string(), |c| c.to_string());
    if let [one] = phases {
        let _ = write!(out, "(name . {})\n (code . {})\n ", one.name, code(one));
    } else {
        out.push_str("(phases . (");
        for ph in phases {
            let _ = write!(out, "({} . {}) ", ph.name, code(ph));
        }
        out.push_str("))\n ");
    }
    let _ = write!(out, "(build-system . {})\n (arguments . (", p.build_system);
    for a in p.arguments.iter().filter(|a| a.key != "phases") {
        let _ = write!(out, "#:{} {} ", a.key, a.value);
    }
    out.push_str("))\n (package . (");
    s(&mut out, &p.name);
    out.push_str(" . ");
    s(&mut out, &p.version);
    out.push_str("))\n");
    if let Some(src) = source {
        out.push_str(" (source . ");
        s(&mut out, src);
        out.push_str(")\n");
    }
    out.push_str(" (outputs . (");
    for o in &p.outputs {
        out.push('(');
        s(&mut out, o);
        out.push_str(" . ");
        s(&mut out, &p.output_path(o));
        out.push_str(") ");
    }
    out.push_str("))\n (inputs . (");
    let mut labels: Vec<&str> = Vec::new();
    for i in p.all_inputs() {
        out.push('(');
        s(&mut out, &i.label);
        out.push_str(" . ");
        s(&mut out, &i.path());
        out.push_str(") ");
        labels.push(&i.label);
    }
    for l in IMPLICIT_INPUTS.iter().filter(|l| !labels.contains(l)) {
        out.push('(');
        s(&mut out, l);
        out.push_str(" . \"/usr\") ");
    }
    out.push_str("))\n (system . ");
    s(&mut out, system);
    out.push_str(")\n (build-dir . ");
    s(&mut out, &build_dir(p));
    out.push_str(")\n (state . ");
    s(&mut out, STATE_DIR);
    out.push_str("))\n");
    out
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::eval::{Evaluator, Target};
    use crate::reader::read_all;

    #[test]
    fn the_phase_file_is_one_alist_with_the_phase_s_code_and_no_phases_argument() {
        let mut ev = Evaluator::new(Target { system: "x86_64-linux".into() });
        let text = r#"(define-public x (package (name "x") (version "1") (build-system gnu-build-system)
            (inputs (list zlib))
            (arguments (list #:tests? #f #:phases #~(modify-phases %standard-phases (delete 'check))))))"#;
        ev.load(Path::new("x.scm"), text, true).unwrap();
        let p = ev.package("x").unwrap().unwrap();
        let ph = Phase { name: "install".into(), code: read_all("(lambda _ (mkdir-p \"a\"))").unwrap().pop() };
        let f = phase_file(&p, &[ph], Some("/strata/source/x-1.tar.gz"), "x86_64-linux");
        let d = read_all(&f).unwrap();
        assert_eq!(d.len(), 1, "{f}");
        assert!(f.contains("(name . install)\n (code . (lambda _ (mkdir-p \"a\")))"), "{f}");
        assert!(f.contains("(arguments . (#:tests? #f ))"), "{f}");
        assert!(f.contains("(\"zlib\" . \"/usr\")"), "{f}");
        assert!(f.contains(&format!("(\"out\" . \"{}\")", p.output_path("out"))), "{f}");
        assert!(f.contains("(build-dir . \"/tmp/guix-build-x-1.drv-0\")"), "{f}");
        let group = phase_file(
            &p,
            &[Phase { name: "set-paths".into(), code: None }, Phase { name: "install-locale".into(), code: None }],
            None,
            "x86_64-linux",
        );
        assert!(group.starts_with("((phases . ((set-paths . standard) (install-locale . standard) ))"), "{group}");
    }
}
