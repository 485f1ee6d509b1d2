;;; Tests of the phase driver, strata/run-phase.scm: each test writes phase
;;; files and runs the driver as the container does (a fresh guile process
;;; per phase, a clean environment), then checks what it did and the state
;;; it left.  The protocol is ../PROTOCOL.md.

(use-modules (srfi srfi-1)
             (ice-9 regex)
             (srfi srfi-11)
             (srfi srfi-26)
             (srfi srfi-64)
             (ice-9 match)
             (ice-9 popen)
             (ice-9 textual-ports)
             (strata build utils)
             (harness))

(define scheme-dir
  ;; This file is run as a script: (car (command-line)) is its name.
  (or (getenv "STRATA_GUIX_SCHEME_DIR")
      (dirname (dirname (canonicalize-path (car (command-line)))))))

(define* (run-phase root phase #:key (extra-env '()))
  "Write PHASE (an alist; defaults for the required keys filled in from
ROOT) to ROOT/phase.scm and run the driver on it in a clean environment.
Returns (values EXIT-STATUS OUTPUT)."
  (define defaults
    `((build-system . gnu)
      (code . standard)
      (arguments . ())
      (package . ("pkg" . "1.0"))
      (outputs . (("out" . ,(string-append root "/gnu/store/abc-pkg-1.0"))))
      (inputs . ())
      (system . "x86_64-linux")
      (build-dir . ,(string-append root "/build"))
      (state . ,(string-append root "/state"))))
  (let ((file (string-append root "/phase.scm")))
    (call-with-output-file file
      (lambda (port)
        (write (append phase
                       (remove (lambda (p) (assq (car p) phase)) defaults))
               port)))
    (let* ((port (apply open-pipe* OPEN_READ "env" "-i"
                        "PATH=/usr/sbin:/usr/bin:/sbin:/bin"
                        (string-append "STRATA_GUIX_STORE=" root "/gnu/store")
                        (append extra-env
                                (list "sh" "-c" "exec \"$@\" 2>&1" "sh"
                                      "guile" "--no-auto-compile" "-L" scheme-dir
                                      (string-append scheme-dir
                                                     "/strata/run-phase.scm")
                                      file))))
           (output (get-string-all port))
           (status (status:exit-val (close-pipe port))))
      (values status output))))

(define-syntax-rule (with-root root body ...)
  (with-temporary-directory root
    (mkdir-p (string-append root "/state"))
    body ...))

(test-begin "phase")

(test-equal "--list-phases prints a build system's phases"
  "gnu:23 cmake:22 meson:24 glib-or-gtk:26 copy:19 trivial:1 pyproject:32"
  (string-join
   (map (lambda (bs)
          (format #f "~a:~a" bs
                  (length (string-tokenize
                           (command-output "guile" "--no-auto-compile"
                                           "-L" scheme-dir
                                           (string-append scheme-dir
                                                          "/strata/run-phase.scm")
                                           "--list-phases" bs)))))
        '("gnu" "cmake" "meson" "glib-or-gtk" "copy" "trivial" "pyproject"))
   " "))

(test-equal "env and cwd set by one phase are seen by the next process"
  '(0 0 "value\n")
  (with-root root
    (let-values (((s1 _) (run-phase root
                                    '((name . first)
                                      (code . (lambda _
                                                (setenv "MY_VAR" "value")
                                                (mkdir "sub")
                                                (chdir "sub")))))))
      (let-values (((s2 out)
                    (run-phase root
                               '((name . second)
                                 (code . (lambda _
                                           (call-with-output-file "seen"
                                             (lambda (p)
                                               (format p "~a~%"
                                                       (getenv "MY_VAR"))))))))))
        (list s1 s2 (read-file (string-append root "/build/sub/seen")))))))

(test-equal "the first phase gets the daemon's variables; the state files are written"
  '(#t #t #t #t #t)
  (with-root root
    (run-phase root '((name . first) (code . (lambda _ #t))))
    (let* ((env (call-with-input-file (string-append root "/state/environ.scm")
                  read))
           (out (string-append root "/gnu/store/abc-pkg-1.0")))
      (list (equal? (assoc-ref env "out") out)
            (equal? (assoc-ref env "NIX_BUILD_TOP") (string-append root "/build"))
            (equal? (assoc-ref env "HOME") "/homeless-shelter")
            (string=? (read-file (string-append root "/state/cwd"))
                      (string-append root "/build\n"))
            (->bool (string-contains
                     (read-file (string-append root "/state/environ.sh"))
                     (string-append "export out='" out "'")))))))

(test-equal "arguments are evaluated in the build module and passed as keywords"
  "A=b;#f;check;(\"out\")\n"
  (with-root root
    (run-phase root
               '((name . show)
                 (arguments . (#:make-flags (list (string-append "A=" "b"))
                               #:tests? (not #t)))
                 (code . (lambda* (#:key make-flags tests? test-target outputs
                                   #:allow-other-keys)
                           (call-with-output-file "args"
                             (lambda (p)
                               (format p "~{~a~};~a;~a;~s~%" make-flags tests?
                                       test-target (map car outputs))))))))
    (read-file (string-append root "/build/args"))))

(test-equal "%outputs, %output and %build-inputs are defined for legacy code"
  "yes\n"
  (with-root root
    (run-phase root
               '((name . show)
                 (source . "/the/source.tar.gz")
                 (code . (lambda _
                           (call-with-output-file "r"
                             (lambda (p)
                               (format p "~a~%"
                                       (if (and (equal? %output
                                                        (assoc-ref %outputs "out"))
                                                (equal? (assoc-ref %build-inputs
                                                                   "source")
                                                        "/the/source.tar.gz"))
                                           "yes" "no"))))))))
    (read-file (string-append root "/build/r"))))

(test-equal "host-side procedures answer for a native build"
  "x86_64-linux #f #f /usr #f\n"
  (with-root root
    (run-phase root
               '((name . show)
                 (inputs . (("perl" . "/usr")))
                 (code . (lambda _
                           (call-with-output-file "s"
                             (lambda (p)
                               (format p "~a ~a ~a ~a ~a~%" (%current-system)
                                       (%current-target-system)
                                       (target-hurd?)
                                       (this-package-input "perl")
                                       (this-package-input "zork"))))))))
    (read-file (string-append root "/build/s"))))

(test-equal "#:modules with #:prefix gnu: gives Guix's prefixed names"
  "23\n"
  (with-root root
    (run-phase root
               '((name . show)
                 (build-system . cmake)
                 (arguments . (#:modules '((guix build cmake-build-system)
                                           ((guix build gnu-build-system)
                                            #:prefix gnu:)
                                           (guix build utils))))
                 (code . (lambda _
                           (call-with-output-file "n"
                             (lambda (p)
                               (format p "~a~%"
                                       (length gnu:%standard-phases))))))))
    (read-file (string-append root "/build/n"))))

(test-assert "a failing invoke names the phase, the command and the exit status"
  (with-root root
    (let-values (((status out)
                  (run-phase root '((name . build)
                                    (code . (lambda _
                                              (invoke "sh" "-c" "exit 7")))))))
      (and (= status 1)
           (string-contains out "error: in phase 'build'")
           (string-contains out "(\"sh\" \"-c\" \"exit 7\")")
           (string-contains out "exit status 7")))))

(test-assert "other errors are reported on one line naming the phase"
  (with-root root
    (let-values (((s1 o1) (run-phase root '((name . p1) (code . (lambda _ (error "went wrong:" 42))))))
                 ((s2 o2) (run-phase root '((name . p2) (code . (lambda _ (raise 'oops))))))
                 ((s3 o3) (run-phase root '((name . p3) (code . (lambda _ (car '())))))))
      (and (= 1 s1 s2 s3)
           (string-contains o1 "error: in phase 'p1': went wrong: 42")
           (string-contains o2 "error: in phase 'p2': oops")
           (string-contains o3 "error: in phase 'p3': ")
           (string-contains o3 "car")))))

(test-assert "a lambda* without #:allow-other-keys gets a hint"
  (with-root root
    (let-values (((status out)
                  (run-phase root '((name . p) (code . (lambda* (#:key outputs) outputs))))))
      (and (= status 1)
           (string-contains out "Unrecognized keyword")
           (string-contains out "needs #:allow-other-keys")))))

(test-assert "a failed phase does not overwrite the state"
  (with-root root
    (run-phase root '((name . ok) (code . (lambda _ (setenv "X" "1")))))
    (run-phase root '((name . bad) (code . (lambda _ (setenv "X" "2")
                                                 (error "boom")))))
    (equal? "1" (assoc-ref (call-with-input-file
                               (string-append root "/state/environ.scm") read)
                           "X"))))

(test-assert "an unknown standard phase lists the build system's phases"
  (with-root root
    (let-values (((status out) (run-phase root '((name . zork)))))
      (and (= status 1)
           (string-contains out "gnu-build-system has no standard phase `zork'")
           (string-contains out "set-SOURCE-DATE-EPOCH")))))

(test-equal "meson: glib-or-gtk-wrap is a standard phase the host may ask for"
  0
  (with-root root
    (let-values (((status out)
                  (run-phase root '((name . glib-or-gtk-wrap)
                                    (build-system . meson)))))
      status)))

(test-assert "a substitute* that matches nothing warns, naming the pattern"
  (with-root root
    (mkdir-p (string-append root "/build"))
    (write-file (string-append root "/build/f") "abc\n")
    (let-values (((status out)
                  (run-phase root '((name . fix)
                                    (code . (lambda _
                                              (substitute* "f"
                                                (("nomatch") "x"))))))))
      (and (= status 0)
           (string-contains out "warning: substitute*: pattern \"nomatch\"")))))

(test-equal "STRATA_GUIX_STRICT comes from each phase's container, not the state"
  '(0 1 0 #f)
  (with-root root
    (mkdir-p (string-append root "/build"))
    (write-file (string-append root "/build/f") "abc\n")
    (let* ((code '(lambda _ (substitute* "f" (("nomatch") "x"))))
           (s1 (run-phase root `((name . a) (code . ,code))))
           (s2 (run-phase root `((name . b) (code . ,code))
                          #:extra-env '("STRATA_GUIX_STRICT=1")))
           (s3 (run-phase root `((name . c) (code . ,code)))))
      (list s1 s2 s3
            (assoc-ref (call-with-input-file
                           (string-append root "/state/environ.scm") read)
                       "STRATA_GUIX_STORE")))))

(test-equal "the phase's return value is ignored (#f is not a failure)"
  0
  (with-root root
    (let-values (((status _) (run-phase root '((name . f) (code . (lambda _ #f))))))
      status)))

(test-equal "trivial: the builder runs with %output and (use-modules (guix build utils))"
  "built\n"
  (with-root root
    (let-values (((status out)
                  (run-phase root
                             '((name . builder)
                               (build-system . trivial)
                               (arguments
                                . (#:modules '((guix build utils))
                                   #:builder
                                   (begin
                                     (use-modules (guix build utils))
                                     (mkdir-p (string-append %output "/share"))
                                     (call-with-output-file
                                         (string-append %output "/share/x")
                                       (lambda (p) (display "built\n" p))))))))))
      (read-file (string-append root "/gnu/store/abc-pkg-1.0/share/x")))))

(test-assert "the state written twice for the same phase is byte-identical"
  (let ((run (lambda ()
               (with-temporary-directory root
                 (mkdir-p (string-append root "/state"))
                 (run-phase root '((name . a) (code . (lambda _ (setenv "Z" "1")))))
                 (run-phase root '((name . b) (code . (lambda _ (mkdir "d") (chdir "d")))))
                 ;; The root differs between runs: compare with it factored out.
                 (map (lambda (f)
                        (regexp-substitute/global
                         #f root (read-file (string-append root "/state/" f))
                         'pre "ROOT" 'post))
                      '("environ.scm" "environ.sh" "cwd" "phases"))))))
    (equal? (run) (run))))

(test-equal "a group: several phases in one process, the state written once"
  '(0 "1" "set-SOURCE-DATE-EPOCH\nmark\n" "yes\n")
  (with-root root
    (let-values (((status out)
                  (run-phase root
                             '((phases . ((set-SOURCE-DATE-EPOCH . standard)
                                          (mark . (lambda _
                                                    (call-with-output-file "m"
                                                      (lambda (p)
                                                        (display "yes\n" p)))))))))))
      (list status
            (assoc-ref (call-with-input-file
                           (string-append root "/state/environ.scm") read)
                       "SOURCE_DATE_EPOCH")
            (read-file (string-append root "/state/phases"))
            (read-file (string-append root "/build/m"))))))

(test-assert "a group: the error names the phase of the group that failed"
  (with-root root
    (let-values (((status out)
                  (run-phase root
                             '((phases . ((set-SOURCE-DATE-EPOCH . standard)
                                          (second . (lambda _ (invoke "false")))))))))
      (and (= status 1)
           (string-contains out "error: in phase 'second'")
           (not (file-exists? (string-append root "/state/environ.scm")))))))

(finish-tests "phase")
