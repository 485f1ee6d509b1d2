;;; Unit tests of (strata build trivial) and of the (guix build …) aliases
;;; (strata build alias): the builder is evaluated in the module the
;;; driver hands it, and Guix's module names give strata's bindings.

(use-modules (srfi srfi-1)
             (srfi srfi-64)
             (strata build utils)
             ((strata build trivial) #:prefix trivial:)
             (strata phase)
             (harness))

(test-begin "trivial")

(test-equal "one phase, builder"
  '(builder)
  (map car trivial:%standard-phases))

(test-equal "the builder runs in the given module, with its bindings"
  "from the build module"
  (let ((m (make-build-module 'trivial)))
    (module-define! m 'greeting "from the build module")
    (parameterize ((trivial:%builder-module m))
      (trivial:builder #:builder '(string-append greeting "")))))

(test-assert "no #:builder is an error"
  (catch #t
    (lambda () (trivial:builder) #f)
    (lambda _ #t)))

(test-equal "(guix build utils) exports what (strata build utils) does"
  '()
  (let ((names (lambda (m)
                 (module-map (lambda (sym var) sym) (resolve-interface m)))))
    (lset-xor eq? (names '(guix build utils)) (names '(strata build utils)))))

(test-eq "(guix build gnu-build-system) gives strata's %standard-phases"
  (module-ref (resolve-interface '(strata build gnu)) '%standard-phases)
  (module-ref (resolve-interface '(guix build gnu-build-system))
              '%standard-phases))

(test-assert "the Guix macros work under the Guix name"
  (let ((m (make-fresh-user-module)))
    (eval '(use-modules (guix build utils)) m)
    (equal? '((b . 2))
            (eval '(modify-phases '((a . 1) (b . 2)) (delete 'a)) m))))

(finish-tests "trivial")
