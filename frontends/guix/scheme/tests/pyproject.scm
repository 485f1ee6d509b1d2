;;; Unit tests of (strata build pyproject): its phase list and the phases
;;; that need no Python build (the full build is tests/e2e-pyproject-*.sh).

(use-modules (srfi srfi-64)
             (strata build utils)
             ((strata build pyproject) #:prefix py:)
             (harness))

(test-begin "pyproject")

(test-equal "the 32 phases in Guix's order"
  '(separate-from-pid1 set-SOURCE-DATE-EPOCH set-paths install-locale unpack
    ensure-no-mtimes-pre-1980 enable-bytecode-determinism
    ensure-no-cythonized-files set-version patch-usr-bin-file
    patch-source-shebangs patch-generated-file-shebangs build install
    add-install-to-pythonpath add-install-to-path create-entrypoints wrap
    sanity-check compile-bytecode check patch-shebangs rename-pth-file strip
    validate-runpath validate-documentation-location delete-info-dir-file
    patch-dot-desktop-files make-dynamic-linker-cache install-license-files
    reset-gzip-timestamps compress-documentation)
  (map car py:%standard-phases))

(test-equal "set-SOURCE-DATE-EPOCH is 1980-01-02 (ZIP-safe)"
  "315619200"
  (begin ((assq-ref py:%standard-phases 'set-SOURCE-DATE-EPOCH))
         (getenv "SOURCE_DATE_EPOCH")))

(test-equal "scheme->json: alists are objects, lists arrays, strings escaped"
  "[{\"a\": \"x\\\"y\", \"b\": [1, true]}, [], false]"
  (py:scheme->json (list '(("a" . "x\"y") ("b" 1 #t)) '() #f)))

(test-equal "ensure-no-mtimes-pre-1980 moves older mtimes to 1980-01-02"
  '(315619200 1700000000)
  (with-temporary-directory dir
    (chdir dir)
    (write-file "old" "") (write-file "new" "")
    (utime "old" 0 0) (utime "new" 1700000000 1700000000)
    (py:ensure-no-mtimes-pre-1980)
    (map (lambda (f) (stat:mtime (stat f))) '("old" "new"))))

(test-equal "ensure-no-cythonized-files deletes C generated from .pyx only"
  '(#f #t #t)
  (with-temporary-directory dir
    (chdir dir)
    (for-each (lambda (f) (write-file f "")) '("m.pyx" "m.c" "other.c"))
    (with-output-to-string py:ensure-no-cythonized-files)
    (map file-exists? '("m.c" "other.c" "m.pyx"))))

(test-equal "set-version: SETUPTOOLS_SCM_PRETEND_VERSION for checkouts using setuptools-scm"
  "2.0.1"
  (with-temporary-directory dir
    (unsetenv "SETUPTOOLS_SCM_PRETEND_VERSION")
    (parameterize ((%package-name+version "python-foo-2.0.1"))
      (py:set-version #:source dir
                      #:inputs '(("python-setuptools-scm" . "/usr"))))
    (getenv "SETUPTOOLS_SCM_PRETEND_VERSION")))

(test-equal "rename-pth-file: easy-install.pth becomes NAME.pth"
  '(#f #t)
  (with-temporary-directory dir
    (let ((site (py:site-packages dir)))
      (write-file (string-append site "/easy-install.pth") "./x\n")
      (parameterize ((%package-name+version "python-foo-1.0"))
        (py:rename-pth-file #:outputs `(("out" . ,dir))))
      (map file-exists? (list (string-append site "/easy-install.pth")
                              (string-append site "/python-foo.pth"))))))

(finish-tests "pyproject")
