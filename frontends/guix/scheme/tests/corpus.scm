;;; Every phase procedure of the real definitions in tests/fixtures/
;;; definitions/ (the shared conformance files) is compiled in the build
;;; module the phase driver gives it — the package's build system and
;;; #:modules — with Guile's unbound-variable analysis on.  A test fails
;;; when a phase uses an identifier strata's build side does not define,
;;; i.e. a utility missing from (strata build utils).  Host-side ungexps
;;; (#$output, #$(this-package-input …), ,(cc-for-target)) are replaced by
;;; a string, as the host side replaces them by literal data.

(use-modules (srfi srfi-1)
             (srfi srfi-26)
             (srfi srfi-64)
             (ice-9 match)
             (ice-9 ftw)
             (system base compile)
             (strata phase)
             (harness))

(define scheme-dir
  (or (getenv "STRATA_GUIX_SCHEME_DIR")
      (dirname (dirname (canonicalize-path (car (command-line)))))))

(define definitions-dir
  (string-append scheme-dir "/tests/fixtures/definitions"))

;; Read gexps as Guix's reader extensions do.
(read-hash-extend #\~ (lambda (c port) (list 'gexp (read port))))
(read-hash-extend #\$ (lambda (c port)
                        (if (eqv? (peek-char port) #\@)
                            (begin (read-char port)
                                   (list 'ungexp-splicing (read port)))
                            (list 'ungexp (read port)))))
(read-hash-extend #\+ (lambda (c port) (list 'ungexp-native (read port))))

(define (read-all file)
  (call-with-input-file file
    (lambda (port)
      (let loop ((acc '()))
        (let ((x (read port)))
          (if (eof-object? x) (reverse acc) (loop (cons x acc))))))))

(define (host-substitute x)
  "X with host-side insertions replaced by a literal store path."
  (match x
    (((or 'ungexp 'ungexp-native 'unquote) _) "/gnu/store/placeholder")
    ((? pair?) (cons (host-substitute (car x)) (host-substitute (cdr x))))
    (_ x)))

(define (phase-procedures tree)
  "The (NAME . PROCEDURE-FORM) of every replace/add-before/add-after clause
in TREE whose procedure is a lambda form."
  (define (lambda-form? p)
    (match p ((or ('lambda . _) ('lambda* . _)) #t) (_ #f)))
  (define (name-of n) (match n (('quote s) s) (_ n)))
  (let walk ((x tree) (acc '()))
    (match x
      (('replace name (? lambda-form? p))
       (cons (cons (name-of name) p) acc))
      (((or 'add-before 'add-after) _ name (? lambda-form? p))
       (cons (cons (name-of name) p) acc))
      ((a . b) (walk b (walk a acc)))
      (_ acc))))

(define (keyword-value args key)
  (match (memq key args)
    ((_ v . _) v)
    (_ #f)))

(define (package-facts form)
  "(values NAME BUILD-SYSTEM MODULES-FORM TREE) of a define-public form."
  (match form
    (('define-public name ('package fields ...))
     (let* ((bs (any (match-lambda
                       (('build-system s)
                        (string->symbol
                         (string-drop-right (symbol->string s)
                                            (string-length "-build-system"))))
                       (_ #f))
                     fields))
            (arguments (any (match-lambda
                              (('arguments a) a)
                              (_ #f))
                            fields))
            (args-list (match arguments
                         (('list . rest) rest)
                         (((or 'quote 'quasiquote) (rest ...)) rest)
                         (_ '())))
            (modules (match (keyword-value args-list #:modules)
                       (('quote m) m)
                       (_ '()))))
       (values name bs modules fields)))
    (_ (values #f #f #f #f))))

(define (unbound-warnings form module)
  "The warning text Guile's compiler emits for FORM in MODULE."
  (call-with-output-string
    (lambda (port)
      (parameterize ((current-warning-port port))
        (compile form #:env module #:from 'scheme #:to 'bytecode
                 #:opts '(#:warnings (unbound-variable arity-mismatch)))))))

(test-begin "corpus")

(define files
  (map (cut string-append definitions-dir "/" <>)
       (scandir definitions-dir (cut string-suffix? ".scm" <>))))

(test-assert "the fixture definitions are there"
  (>= (length files) 19))

(test-assert "the check sees an identifier the build side lacks"
  (string-contains
   (unbound-warnings '(lambda _ (frobnicate-the-zork "x"))
                     (make-build-module 'gnu))
   "frobnicate-the-zork"))

(define checked 0)

(for-each
 (lambda (file)
   (for-each
    (lambda (form)
      (call-with-values (lambda () (package-facts form))
        (lambda (name bs modules fields)
          (when (and name (assq bs %build-systems))
            (let ((module (make-build-module bs #:modules modules)))
              (for-each
               (match-lambda
                 ((phase . proc)
                  (set! checked (+ checked 1))
                  (test-equal (format #f "~a: phase ~a compiles with no unbound \
variable" name phase)
                    ""
                    (unbound-warnings (host-substitute proc) module))))
               (phase-procedures fields)))))))
    (read-all file)))
 files)

(test-assert "phases of at least 15 procedures were checked"
  (>= checked 15))

(finish-tests "corpus")
