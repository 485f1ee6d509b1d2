;;; strata — the driver of one Guix phase in a build container.
;;;
;;; This module owns the protocol between strata's Guix frontend and the
;;; build container (HELPERS.md "The Guix phase protocol"; the state format
;;; and the additions are documented in ../PROTOCOL.md): it reads the phase
;;; file, restores the environment and working directory the previous phase
;;; left in the state directory, builds the module the package's expressions
;;; are evaluated in, evaluates the package's keyword arguments there, calls
;;; the phase with Guix's keyword arguments, and saves the environment and
;;; working directory for the next phase.  run-phase.scm is its command line.

(define-module (strata phase)
  #:use-module (strata build utils)
  #:use-module (srfi srfi-1)
  #:use-module (srfi srfi-26)
  #:use-module (srfi srfi-34)
  #:use-module (srfi srfi-35)
  #:use-module (ice-9 match)
  #:use-module (ice-9 exceptions)
  #:use-module (ice-9 format)
  #:use-module (ice-9 threads)
  #:use-module (ice-9 rdelim)
  #:export (%build-systems
            build-system-module
            build-system-phase-names
            read-phase-file
            phase-ref
            make-build-module
            evaluate-arguments
            phase-arguments
            restore-state!
            save-state!
            run-phase
            main))

;;;
;;; Build systems.
;;;

(define %build-systems
  ;; build-system symbol in phase.scm → module holding %standard-phases and
  ;; %default-arguments.
  '((gnu . (strata build gnu))
    (cmake . (strata build cmake))
    (meson . (strata build meson))
    (glib-or-gtk . (strata build glib-or-gtk))
    (copy . (strata build copy))
    (trivial . (strata build trivial))
    (pyproject . (strata build pyproject))))

(define (build-system-module name)
  (match (assq name %build-systems)
    ((_ . module-name) (resolve-module module-name))
    (#f (error (format #f "unknown build system `~a'; strata knows ~{~a~^ ~}"
                       name (map car %build-systems))))))

(define (build-system-phase-names name)
  (map car (module-ref (build-system-module name) '%standard-phases)))

;;;
;;; The phase file.
;;;

(define (read-phase-file file)
  "The alist in FILE (one datum)."
  (let ((datum (call-with-input-file file read)))
    (unless (and (list? datum) (every pair? datum))
      (error (format #f "~a: expected one alist datum" file)))
    datum))

(define* (phase-ref phase key #:optional default)
  (match (assq key phase)
    ((_ . value) value)
    (#f default)))

;;;
;;; The module package code is evaluated in.
;;;

(define %default-modules
  ;; Besides the build system's module and the utilities, what phase code
  ;; commonly uses without declaring it.
  '((ice-9 format) (ice-9 match) (ice-9 ftw) (ice-9 regex) (ice-9 rdelim)
    (ice-9 popen) (ice-9 textual-ports) (ice-9 binary-ports) (ice-9 threads)
    (srfi srfi-1) (srfi srfi-11) (srfi srfi-26) (srfi srfi-34)
    (srfi srfi-35)))

(define (module-spec->interface spec)
  "SPEC is (NAME …) or ((NAME …) #:prefix P #:select (…) …) as in #:modules."
  (match spec
    (((? symbol?) ...)
     (resolve-interface spec))
    ((((? symbol?) ...) . options)
     (apply resolve-interface (car spec) options))))

(define* (make-build-module build-system #:key (modules '()))
  "A fresh module for package code: the build system's module and the
utilities first (so `%standard-phases' is the build system's, as in Guix),
then the #:modules the package asked for, the usual (ice-9 …) and SRFI
modules, and the core bindings last."
  (let ((m (make-fresh-user-module)))
    ;; A fresh user module uses (guile) first; put it last instead.
    (set-module-uses!
     m
     (append
      (list (resolve-interface '(strata build utils))
            (resolve-interface
             (module-name (build-system-module build-system))))
      (filter-map (lambda (spec)
                    (catch #t
                      (lambda () (module-spec->interface spec))
                      (lambda args
                        (warning "#:modules: cannot load ~s; ignored" spec)
                        #f)))
                  modules)
      (map resolve-interface %default-modules)
      (list (resolve-interface '(guile)))))
    m))

(define (evaluate-arguments module arguments)
  "ARGUMENTS is the package's keyword list whose values are build-side
expressions: a keyword list of their values.  #:phases is dropped (the
phase code comes in `code'); #:builder is kept unevaluated (it is code)."
  (let loop ((args arguments) (acc '()))
    (match args
      (() (reverse acc))
      ((#:phases _ . rest) (loop rest acc))
      ((#:builder expr . rest) (loop rest (cons* expr #:builder acc)))
      (((? keyword? k) expr . rest)
       (loop rest (cons* (eval expr module) k acc)))
      (_ (error (format #f "arguments: not a keyword list: ~s" args))))))

(define (keyword-list->alist lst)
  (match lst
    (() '())
    ((k v . rest) (acons k v (keyword-list->alist rest)))))

(define (alist->keyword-list alist)
  (append-map (match-lambda ((k . v) (list k v))) alist))

(define (phase-arguments phase bs-module evaluated)
  "The keyword arguments every phase is called with: the build system's
defaults, overridden by the package's EVALUATED arguments, then what the
protocol supplies (#:source #:system #:outputs #:inputs …)."
  (define defaults (module-ref bs-module '%default-arguments))
  (define given (keyword-list->alist evaluated))
  (define system (phase-ref phase 'system "x86_64-linux"))
  (define inputs (phase-ref phase 'inputs '()))
  (define source (phase-ref phase 'source #f))
  (for-each (match-lambda
              ((k . _)
               (unless (assq k defaults)
                 (warning "keyword ~s is not one ~a-build-system accepts; \
passed on anyway" k (phase-ref phase 'build-system 'gnu)))))
            given)
  (let* ((protocol
          `((#:source . ,source)
            (#:system . ,system)
            (#:outputs . ,(phase-ref phase 'outputs '()))
            ;; A native build: native inputs are already in `inputs' and
            ;; #:native-inputs is #f, as Guix passes them.
            (#:inputs . ,inputs)
            (#:native-inputs . #f)
            (#:phases . ,(module-ref bs-module '%standard-phases))))
         (merged
          (fold (lambda (pair acc)
                  (cons pair (alist-delete (car pair) acc eq?)))
                defaults
                (append given protocol)))
         (merged (if (assq-ref merged #:build)
                     merged
                     (acons #:build (nix-system->gnu-triplet system)
                            (alist-delete #:build merged eq?)))))
    ;; Defaults first, in the build system's order, then the rest.
    (alist->keyword-list
     (append (filter-map (match-lambda ((k . _) (assq k merged))) defaults)
             (remove (lambda (p) (assq (car p) defaults)) merged)))))

;;;
;;; State carried between phases.
;;;

(define (state-file dir name) (string-append dir "/" name))

(define (read-environment dir)
  (with-fluids ((%default-port-encoding "UTF-8"))
    (call-with-input-file (state-file dir "environ.scm") read)))

(define (driver-variable? name)
  ;; STRATA_GUIX_* control the driver (strictness, backtraces, the store
  ;; prefix), not the build: they come from each phase's container and are
  ;; not part of the saved state.
  (string-prefix? "STRATA_GUIX_" name))

(define (restore-state! dir)
  "When DIR holds a previous phase's state, make the process environment and
cwd what it saved (keeping this container's STRATA_GUIX_* variables);
returns #t then, #f for the first phase."
  (if (file-exists? (state-file dir "environ.scm"))
      (let ((env (append (remove (lambda (p) (driver-variable? (car p)))
                                 (read-environment dir))
                         (filter (lambda (p) (driver-variable? (car p)))
                                 (current-environment))))
            (cwd (string-trim-right
                  (with-fluids ((%default-port-encoding "UTF-8"))
                    (call-with-input-file (state-file dir "cwd") read-string))
                  #\newline)))
        (environ (map (match-lambda ((k . v) (string-append k "=" v))) env))
        (chdir cwd)
        #t)
      #f))

(define (shell-quote str)
  (string-append "'" (string-join (string-split str #\') "'\\''") "'"))

(define (shell-name? name)
  (and (not (string-null? name))
       (not (char-numeric? (string-ref name 0)))
       (string-every (lambda (c) (or (char-alphabetic? c) (char-numeric? c)
                                     (char=? c #\_)))
                     name)))

(define (write-atomically file proc)
  ;; State files are UTF-8 whatever the locale of the phase.
  (let ((tmp (string-append file ".tmp")))
    (with-fluids ((%default-port-encoding "UTF-8"))
      (call-with-output-file tmp proc))
    (rename-file tmp file)))

(define (current-environment)
  (sort (filter-map (lambda (kv)
                      (let ((i (string-index kv #\=)))
                        (and i (cons (substring kv 0 i)
                                     (substring kv (+ i 1))))))
                    (environ))
        (lambda (a b) (string<? (car a) (car b)))))

(define* (save-state! dir #:key (phases '()))
  "Write the environment and cwd to DIR (format: ../PROTOCOL.md)."
  (mkdir-p dir)
  (let ((env (remove (lambda (p) (driver-variable? (car p)))
                     (current-environment))))
    (write-atomically (state-file dir "environ.scm")
                      (lambda (out) (write env out) (newline out)))
    (write-atomically (state-file dir "environ.sh")
                      (lambda (out)
                        (for-each (match-lambda
                                    ((k . v)
                                     (when (shell-name? k)
                                       (format out "export ~a=~a~%"
                                               k (shell-quote v)))))
                                  env)))
    (write-atomically (state-file dir "cwd")
                      (lambda (out) (display (getcwd) out) (newline out)))
    (unless (null? phases)
      (let ((log (open-file (state-file dir "phases") "a")))
        ;; Names only: the state is captured in a layer, and timings
        ;; would make its digest differ from run to run.
        (for-each (match-lambda
                    ((phase . _) (format log "~a~%" phase)))
                  phases)
        (close-port log)))))

(define (initialise-environment! phase)
  "The first phase starts from the container's environment plus what Guix's
daemon provides: one variable per output, NIX_BUILD_TOP, NIX_STORE,
NIX_BUILD_CORES, TMPDIR & co, HOME=/homeless-shelter; cwd = build-dir."
  (let ((build-dir (phase-ref phase 'build-dir "/tmp/guix-build")))
    (for-each (match-lambda ((name . dir) (setenv name dir)))
              (phase-ref phase 'outputs '()))
    (setenv "NIX_BUILD_TOP" build-dir)
    (setenv "NIX_STORE" (%store-directory))
    (unless (getenv "NIX_BUILD_CORES")
      (setenv "NIX_BUILD_CORES" (number->string (total-processor-count))))
    (for-each (lambda (v) (unless (getenv v) (setenv v "/tmp")))
              '("TMPDIR" "TEMPDIR" "TMP" "TEMP"))
    (setenv "HOME" "/homeless-shelter")
    (mkdir-p build-dir)
    (chdir build-dir)))

;;;
;;; Running a phase.
;;;

(define (phase-procedure phase module bs-module)
  (let ((name (phase-ref phase 'name))
        (code (phase-ref phase 'code 'standard)))
    (if (eq? code 'standard)
        (let ((phases (module-ref bs-module '%standard-phases))
              (optional (match (module-variable bs-module '%optional-phases)
                          (#f '())
                          (var (variable-ref var)))))
          (or (assq-ref phases name)
              (assq-ref optional name)
              (error (format #f "~a-build-system has no standard phase `~a'; \
its phases are: ~{~a~^ ~}" (phase-ref phase 'build-system) name
(map car phases)))))
        (let ((proc (eval code module)))
          (unless (procedure? proc)
            (error (format #f "the code of phase `~a' is not a procedure: ~s"
                           name code)))
          proc))))

(define %running-phase
  ;; The phase being run, for the error report (set outside any dynamic
  ;; extent so the handler still sees it after unwinding).
  #f)

(define (run-phase phase)
  "Run PHASE (an alist as read from phase.scm) in this process."
  (let* ((state (phase-ref phase 'state "/strata/state"))
         (name (phase-ref phase 'name))
         (done '())
         (bs (phase-ref phase 'build-system 'gnu))
         (bs-module (build-system-module bs))
         (package (phase-ref phase 'package #f)))
    (unless (restore-state! state)
      (initialise-environment! phase))
    ;; The locale the previous phases chose (install-locale) holds here too.
    (false-if-exception (setlocale LC_ALL ""))
    (parameterize ((%package-name+version
                    (match package
                      ((n . v) (string-append n "-" v))
                      (_ #f))))
      (let* ((raw (phase-ref phase 'arguments '()))
             (modules-expr (memq #:modules raw))
             (modules (match modules-expr
                        ((_ expr . _) (or (false-if-exception
                                           (eval expr (current-module)))
                                          (and (pair? expr) expr)
                                          '()))
                        (_ '())))
             (module (make-build-module bs #:modules (or modules '())))
             (outputs (phase-ref phase 'outputs '()))
             (inputs (phase-ref phase 'inputs '())))
        (module-define! module '%outputs outputs)
        (module-define! module '%output (assoc-ref outputs "out"))
        (module-define! module '%build-inputs
                        (append inputs
                                (match (phase-ref phase 'source #f)
                                  (#f '())
                                  (src `(("source" . ,src))))))
        (module-define! module '%build-host-inputs
                        (module-ref module '%build-inputs))
        (module-define! module '%build-target-inputs '())
        ;; Host-side procedures the host normally evaluates away; should
        ;; one reach the build side, it answers for a native build.
        (let ((system (phase-ref phase 'system "x86_64-linux")))
          (module-define! module '%current-system (make-parameter system))
          (module-define! module '%current-target-system (make-parameter #f))
          ;; (this-package-input "x") inside a gexp is the input's store
          ;; path; left for the build side, it is the input's directory.
          (let ((lookup (lambda (label) (assoc-ref inputs label))))
            (module-define! module 'this-package-input lookup)
            (module-define! module 'this-package-native-input lookup))
          (for-each (lambda (name) (module-define! module name (const #f)))
                    '(target-hurd? target-hurd64? system-hurd? system-hurd64?
                      target-arm? target-aarch64? target-x86-32?
                      target-mingw? target-64bit?)))
        (let* ((evaluated (evaluate-arguments module raw))
               (args (phase-arguments phase bs-module evaluated))
               ;; One phase, or several run in this process (a group).
               (steps (match (phase-ref phase 'phases #f)
                        (#f (list (cons name (phase-ref phase 'code 'standard))))
                        (steps steps))))
          (for-each
           (match-lambda
             ((step-name . code)
              (let* ((step `((name . ,step-name) (code . ,code) ,@phase))
                     (proc (phase-procedure step module bs-module))
                     (start (current-time)))
                (set! %running-phase step-name)
                (format #t "starting phase `~a'~%" step-name)
                (force-output)
                (with-fluids ((%default-port-conversion-strategy 'error))
                  ;; trivial's builder is evaluated in the package's module.
                  (match (module-variable bs-module '%builder-module)
                    (#f (apply proc args))
                    (var (parameterize (((variable-ref var) module))
                           (apply proc args)))))
                (let ((seconds (- (current-time) start)))
                  (format #t "phase `~a' succeeded after ~a seconds~%"
                          step-name seconds)
                  (force-output)
                  (set! done (cons (cons step-name seconds) done))))))
           steps)
          ;; The state is written once the whole vertex succeeded.
          (save-state! state #:phases (reverse done)))))))

(define (report-error phase-name key args)
  "One line on stderr naming the phase and what went wrong; an &invoke-error
names the command and its exit status."
  (let ((text (call-with-output-string
                (lambda (port) (describe-error port key args)))))
    (format (current-error-port) "error: in phase '~a': ~a" phase-name text)
    (when (string-contains text "nrecognized keyword")
      (format (current-error-port) "  (every phase is called with all the \
keyword arguments: its lambda* needs #:allow-other-keys)~%"))
    (force-output (current-error-port))))

(define (describe-error port key args)
  (match (cons key args)
    (('%exception exn)
     (cond
      ((invoke-error? exn) (report-invoke-error exn port))
      ((message-condition? exn)
       (format port "~a~%" (condition-message exn)))
      ((and (exception-with-message? exn) (exception-with-irritants? exn))
       (format port "~a~{ ~s~}~%" (exception-message exn)
               (exception-irritants exn)))
      ((exception-with-message? exn)
       (format port "~a~%" (exception-message exn)))
      (else (format port "~s~%" exn))))
    (_ (print-exception port #f key args))))

(define (main args)
  (match args
    ((_ "--list-phases" bs)
     (for-each (cut format #t "~a~%" <>)
               (build-system-phase-names (string->symbol bs)))
     (exit 0))
    ((_ file)
     (setvbuf (current-output-port) 'line)
     (setvbuf (current-error-port) 'line)
     (let ((phase (read-phase-file file)))
       (set! %running-phase (phase-ref phase 'name '?))
       (catch #t
         (lambda () (run-phase phase) (exit 0))
         (lambda (key . args)
           (if (eq? key 'quit)
               (apply exit args)
               (begin
                 (report-error %running-phase key args)
                 (exit 1))))
         (lambda (key . args)
           (when (getenv "STRATA_GUIX_BACKTRACE")
             (display-backtrace (make-stack #t) (current-error-port)))))))
    (_
     (format (current-error-port)
             "usage: run-phase.scm PHASE-FILE | --list-phases BUILD-SYSTEM~%")
     (exit 2))))
