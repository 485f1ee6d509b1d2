//! The evaluator on small definitions and on the shared conformance files.

use std::path::Path;
use std::rc::Rc;

use super::*;
use crate::eval::record::InputTarget;

fn eval(text: &str, name: &str) -> Result<Rc<Package>, EvalError> {
    let mut ev = Evaluator::new(Target { system: "x86_64-linux".into() });
    ev.load(Path::new("t.scm"), text, true).unwrap();
    ev.package(name).map(|p| p.expect("a package"))
}

fn arg(p: &Package, key: &str) -> String {
    p.argument(key).unwrap_or_else(|| panic!("no #:{key}")).value.to_string()
}

const HELLO: &str = r#"
(define-public hello
  (package
    (name "hello")
    (version "2.12.3")
    (source (origin
              (method url-fetch)
              (uri (string-append "mirror://gnu/hello/hello-" version ".tar.gz"))
              (sha256 (base32 "183a6rxnhixiyykd7qis0y9g9cfqhpkk872a245y3zl28can0pqd"))))
    (build-system gnu-build-system)
    (synopsis "Example GNU package")
    (license gpl3+)))
"#;

#[test]
fn later_fields_see_earlier_ones() {
    let p = eval(HELLO, "hello").unwrap();
    assert_eq!((p.name.as_str(), p.version.as_str(), p.build_system.as_str()), ("hello", "2.12.3", "gnu"));
    let src = p.source.as_ref().unwrap();
    assert_eq!(src.method, "url-fetch");
    assert_eq!(src.uris, ["mirror://gnu/hello/hello-2.12.3.tar.gz"]);
    assert_eq!(src.sha256.as_ref().unwrap().1, crate::datum::Pos { line: 9, col: 31 });
    assert_eq!(p.outputs, ["out"]);
    assert!(p.output_path("out").starts_with("/gnu/store/") && p.output_path("out").ends_with("-hello-2.12.3"));
}

#[test]
fn quasiquoted_arguments_evaluate_their_unquotes_on_the_host() {
    let p = eval(
        r#"(define-public x (package (name "x") (version "1") (build-system gnu-build-system)
             (outputs (list "out" "static"))
             (arguments `(#:tests? #f #:make-flags (list (string-append "CC=" ,(cc-for-target)) "a")
                          #:phases (modify-phases %standard-phases (delete 'configure))))))"#,
        "x",
    )
    .unwrap();
    assert_eq!(arg(&p, "tests?"), "#f");
    assert_eq!(arg(&p, "make-flags"), r#"(list (string-append "CC=" "gcc") "a")"#);
    assert_eq!(arg(&p, "phases"), "(modify-phases %standard-phases (delete (quote configure)))");
}

#[test]
fn module_lists_stay_data_in_both_argument_styles() {
    // bzip2 writes `(list #:modules '((guix build utils) …))`, older
    // packages `` `(#:modules ((guix build utils))) ``: the value is a list
    // of module names Guix reads on the host; the build side must get it
    // as data, not call it.
    let listed = eval(
        r#"(define-public x (package (name "x") (version "1") (build-system gnu-build-system)
             (arguments (list #:modules '((guix build utils) (srfi srfi-1)) #:tests? #f))))"#,
        "x",
    )
    .unwrap();
    assert_eq!(arg(&listed, "modules"), "(quote ((guix build utils) (srfi srfi-1)))");
    let quasi = eval(
        r#"(define-public x (package (name "x") (version "1") (build-system gnu-build-system)
             (arguments `(#:modules ((guix build utils))))))"#,
        "x",
    )
    .unwrap();
    assert_eq!(arg(&quasi, "modules"), "(quote ((guix build utils)))");
}

#[test]
fn gexps_insert_outputs_and_inputs_as_store_paths() {
    let p = eval(
        r#"(define-public lib (package (name "lib") (version "2") (build-system gnu-build-system)))
           (define-public x (package (name "x") (version "1") (build-system gnu-build-system)
             (outputs '("out" "doc"))
             (inputs (list lib zlib))
             (arguments (list #:test-target "test"
                              #:configure-flags #~(list (string-append "--docdir=" #$output:doc)
                                                        #$(this-package-input "zlib")
                                                        #$(file-append lib "/bin/lib"))))))"#,
        "x",
    )
    .unwrap();
    let lib = match &p.inputs[0].target {
        InputTarget::Package(l) => l.clone(),
        InputTarget::External(_) => panic!("lib is defined in the file"),
    };
    assert!(matches!(&p.inputs[1].target, InputTarget::External(n) if n == "zlib"));
    assert_eq!(arg(&p, "test-target"), "\"test\"");
    assert_eq!(
        arg(&p, "configure-flags"),
        format!(
            "(list (string-append \"--docdir=\" \"{}\") \"/usr\" \"{}/bin/lib\")",
            p.output_path("doc"),
            lib.output_path("out")
        )
    );
}

#[test]
fn match_and_cond_over_the_current_system() {
    let p = eval(
        r#"(define-public x (package (name "x") (version "1.2.3") (build-system gnu-build-system)
             (arguments (list #:tests? (match (%current-system) ((or "armhf-linux" "aarch64-linux") #f) (_ #t))
                              #:make-flags (cond ((target-64bit?) ''("B=64")) (else ''()))
                              #:test-target (let* ((v (version-major+minor version)) (w (string-append "t" v))) w)))))"#,
        "x",
    )
    .unwrap();
    assert_eq!(arg(&p, "tests?"), "#t");
    assert_eq!(arg(&p, "make-flags"), "(quote (\"B=64\"))");
    assert_eq!(arg(&p, "test-target"), "\"t1.2\"");
}

#[test]
fn inherit_overrides_the_given_fields_and_keeps_the_rest() {
    let p =
        eval(&format!("{HELLO}\n(define-public hello-next (package (inherit hello) (version \"3.0\")))"), "hello-next")
            .unwrap();
    assert_eq!((p.name.as_str(), p.version.as_str()), ("hello", "3.0"));
    // The parent's source was evaluated with the parent's version.
    assert_eq!(p.source.as_ref().unwrap().uris, ["mirror://gnu/hello/hello-2.12.3.tar.gz"]);
    let parent = eval(HELLO, "hello").unwrap();
    assert_ne!(p.hash, parent.hash);
}

/// A parent and the variant real Guix files write: its arguments
/// substituted, its inputs modified.
const VARIANT: &str = r#"
(define-public base (package (name "base") (version "1") (build-system gnu-build-system)
  (inputs (list zlib libx))
  (arguments (list #:tests? #f
                   #:configure-flags #~(list "--a")
                   #:phases #~(modify-phases %standard-phases (delete 'check))))))
(define-public libx (package (name "libx") (version "1") (build-system gnu-build-system)))
(define-public liby (package (name "liby") (version "1") (build-system gnu-build-system)))
(define-public variant (package (inherit base) (name "variant")
  (arguments
    (substitute-keyword-arguments (package-arguments base)
      ((#:configure-flags flags) #~(cons "--b" #$flags))
      ((#:phases phases) #~(modify-phases #$phases (delete 'strip)))
      ((#:make-flags flags '()) #~(cons "V=1" '#$flags))
      ((#:test-target target) "never")))
  (inputs (modify-inputs (package-inputs base)
            (delete "zlib")
            (prepend liby)
            (append openssl)
            (replace "libx" liby)))))
"#;

#[test]
fn substitute_keyword_arguments_rewrites_the_parent_s_code() {
    let p = eval(VARIANT, "variant").unwrap();
    assert_eq!(arg(&p, "tests?"), "#f");
    assert_eq!(arg(&p, "configure-flags"), "(cons \"--b\" (list \"--a\"))");
    assert_eq!(
        arg(&p, "phases"),
        "(modify-phases (modify-phases %standard-phases (delete (quote check))) (delete (quote strip)))"
    );
    // A default makes a keyword the parent lacks; without one it stays out.
    assert_eq!(arg(&p, "make-flags"), "(cons \"V=1\" (quote ()))");
    assert!(p.argument("test-target").is_none());
    let phases: Vec<String> = crate::phases::phases_of(&p).unwrap().into_iter().map(|ph| ph.name).collect();
    assert!(!phases.contains(&"check".to_string()) && !phases.contains(&"strip".to_string()), "{phases:?}");
}

#[test]
fn modify_inputs_deletes_prepends_appends_and_replaces_by_label() {
    let p = eval(VARIANT, "variant").unwrap();
    let inputs: Vec<(&str, String)> = p
        .inputs
        .iter()
        .map(|i| {
            let to = match &i.target {
                InputTarget::Package(q) => q.name.clone(),
                InputTarget::External(n) => format!("external {n}"),
            };
            (i.label.as_str(), to)
        })
        .collect();
    // libx keeps its label and gets liby's package, as Guix's replace does.
    assert_eq!(inputs, [("liby", "liby".into()), ("libx", "liby".into()), ("openssl", "external openssl".into())]);
    let e = eval(&VARIANT.replace("(delete \"zlib\")", "(delete \"zlibb\")"), "variant").unwrap_err();
    assert!(e.message.contains("no input named \"zlibb\" to delete"), "{}", e.message);
    assert_eq!(e.hint.as_deref(), Some("the inputs are: zlib libx"));
}

#[test]
fn labelled_and_plain_inputs_are_both_labelled() {
    let p = eval(
        r#"(define-public x (package (name "x") (version "1") (build-system gnu-build-system)
             (inputs `(("datrie" ,libdatrie) ("glib:bin" ,glib "bin")))
             (native-inputs (list pkg-config (list glib "bin")))))"#,
        "x",
    )
    .unwrap();
    let labels: Vec<(&str, &str)> = p.all_inputs().map(|i| (i.label.as_str(), i.output.as_str())).collect();
    assert_eq!(labels, [("pkg-config", "out"), ("glib", "bin"), ("datrie", "out"), ("glib:bin", "bin")]);
}

#[test]
fn what_cannot_be_evaluated_is_an_error_at_its_place() {
    let e = eval(r#"(define-public x (package (name "x") (versoin "1")))"#, "x").unwrap_err();
    assert_eq!((e.pos.line, e.pos.col, e.message.as_str()), (1, 38, "unknown package field 'versoin'"));
    assert!(e.hint.unwrap().contains("version"));
    let e = eval(r#"(define-public x (package (name (frobnicate "x"))))"#, "x").unwrap_err();
    assert_eq!((e.pos.line, e.pos.col), (1, 33));
    assert!(e.message.contains("unknown procedure 'frobnicate'"), "{}", e.message);
    let e = eval(
        r#"(define-public x (package (name "x") (version "1") (build-system gnu-build-system) (arguments (list #:tests?))))"#,
        "x",
    )
    .unwrap_err();
    assert!(e.message.contains("without a value"), "{}", e.message);
    let e = eval(r#"(define-public x (package (name "x") (version "1") (build-system cargo-build-system)))"#, "x")
        .unwrap_err();
    assert!(e.message.contains("cargo-build-system"), "{}", e.message);
}

#[test]
fn the_conformance_definitions_evaluate() {
    let dir = Path::new("/work/shared/conformance/guix");
    if !dir.is_dir() {
        eprintln!("skipped: {} is absent", dir.display());
        return;
    }
    for sub in [dir.to_path_buf(), dir.join("corpus")] {
        let mut ev = Evaluator::new(Target { system: "x86_64-linux".into() });
        let mut files: Vec<_> = std::fs::read_dir(&sub).unwrap().flatten().map(|e| e.path()).collect();
        files.sort();
        files.retain(|f| f.extension().is_some_and(|x| x == "scm"));
        for f in &files {
            ev.load(f, &std::fs::read_to_string(f).unwrap(), false).unwrap();
        }
        for name in ev.all_names() {
            if let Err(e) = ev.global(&name, Pos::default()) {
                panic!("{}: {name}: {}:{}: {} ({:?})", sub.display(), e.pos.line, e.pos.col, e.message, e.hint);
            }
        }
    }
}

/// Package code that never stops, or grows without end, ends in an error
/// at its line instead of a stack overflow, a hang or an exhausted memory.
#[test]
fn runaway_evaluation_is_refused_in_bounded_time() {
    let cases = [
        // Unbounded recursion.
        ("(define (f x) (f x))\n(define-public p (f 1))", "nests deeper than 2000 levels"),
        // Mutual recursion through a let-bound lambda.
        ("(define (g x) (let ((h (lambda (y) (g y)))) (h x)))\n(define-public p (g 1))", "nests deeper than 2000"),
        // A string doubling itself.
        ("(define (d s) (d (string-append s s s s)))\n(define-public p (d \"xxxxxxxx\"))", "a string of"),
        // A list doubling itself.
        ("(define (d l) (d (append l l)))\n(define-public p (d (list 1 2 3)))", "a list of"),
        // Exponential work at a bounded depth: the step budget ends it.
        (
            "(define (e l) (if (null? l) 1 (list (e (cdr l)) (e (cdr l)) (e (cdr l)))))\n\
             (define-public p (e '(1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25)))",
            "more than 5000000 steps",
        ),
    ];
    for (text, want) in cases {
        let t = std::time::Instant::now();
        let e = match eval(text, "p") {
            Err(e) => e,
            Ok(_) => panic!("{text}: evaluated"),
        };
        assert!(e.message.contains(want), "{text}: {want}: {}", e.message);
        assert!(t.elapsed().as_secs() < 60, "{text}: took {:?}", t.elapsed());
    }
}

#[test]
fn hostile_text_is_refused_by_the_reader() {
    let deep = "(".repeat(100_000);
    let e = crate::reader::read_all(&deep).unwrap_err();
    assert!(e.message.contains("nests deeper than 256 levels"), "{}", e.message);
    let comments = "#;".repeat(100_000) + "x";
    let e = crate::reader::read_all(&comments).unwrap_err();
    assert!(e.message.contains("nests deeper than 256 levels"), "{}", e.message);
    let quotes = "'".repeat(100_000) + "x";
    assert!(crate::reader::read_all(&quotes).unwrap_err().message.contains("deeper"));
    let huge = " ".repeat(crate::reader::MAX_SIZE + 1);
    assert!(crate::reader::read_all(&huge).unwrap_err().message.contains("more than the limit"));
}
