;;; strata — the standard phases of cmake-build-system.
;;;
;;; This module owns cmake-build-system's phase list (gnu's without
;;; bootstrap, reference §2.1) and its configure, build, check and install
;;; phases, which drive CMake itself: a cache-preload script for the
;;; standard settings, `cmake --build', `ctest', `cmake --install'.

(define-module (strata build cmake)
  #:use-module (strata build utils)
  #:use-module ((strata build gnu) #:prefix gnu:)
  #:use-module (srfi srfi-1)
  #:use-module (srfi srfi-34)
  #:use-module (srfi srfi-35)
  #:use-module (ice-9 match)
  #:use-module (ice-9 format)
  #:use-module (ice-9 threads)
  #:export (%standard-phases
            %default-arguments
            configure
            build
            check
            install
            cmake-preload-script))

;; The search paths the package gets when it passes none: gnu's, plus the
;; one Guix's cmake package declares as a native search path, so that
;; find_package finds the CMake config files of store inputs (libmatroska
;; finds libebml's EBMLConfig.cmake through it).
(define %cmake-search-paths
  (append gnu:%default-search-paths
          '(("CMAKE_PREFIX_PATH" ("") ":" directory #f))))

(define %default-arguments
  (append
   `((#:search-paths . ,%cmake-search-paths)
     (#:out-of-source? . #t)
     (#:generator . "Unix Makefiles")
     (#:build-type . "RelWithDebInfo")
     (#:test-exclude . "")
     (#:test-repeat-until-pass? . #t)
     (#:test-repeat-until-pass-count . 5))
   (remove (match-lambda
             ((k . _) (memq k '(#:search-paths #:out-of-source? #:test-target
                                #:bootstrap-scripts))))
           gnu:%default-arguments)))

(define (cmake-preload-script out build-type tests?)
  "The text of the cache-preload script (cmake -C) with the settings Guix's
cmake-build-system presets."
  ;; The cache entry type only matters to CMake's GUIs: all are STRING.
  (define (set name value)
    (format #f "set(~a ~s CACHE STRING \"\")~%" name value))
  (string-append
   (if build-type (set "CMAKE_BUILD_TYPE" build-type) "")
   (set "CMAKE_INSTALL_PREFIX" out)
   (set "CMAKE_INSTALL_LIBDIR" "lib")
   (set "CMAKE_INSTALL_RPATH_USE_LINK_PATH" "TRUE")
   (set "CMAKE_INSTALL_RPATH" (string-append out "/lib"))
   (set "CMAKE_VERBOSE_MAKEFILE" "ON")
   (set "CMAKE_COLOR_DIAGNOSTICS" "ON")
   (set "BUILD_TESTING" (if tests? "ON" "OFF"))))

(define* (configure #:key outputs (configure-flags '()) (out-of-source? #t)
                    (build-type "RelWithDebInfo") (generator "Unix Makefiles")
                    target (tests? (not target))
                    #:allow-other-keys)
  (let* ((abs-srcdir (getcwd))
         (srcdir (if out-of-source?
                     (string-append "../" (basename abs-srcdir))
                     "."))
         (out (assoc-ref outputs "out")))
    (when out-of-source?
      (mkdir-p "../build")
      (chdir "../build"))
    (format #t "source directory: ~s (relative from build: ~s)~%"
            abs-srcdir srcdir)
    (format #t "build directory: ~s~%" (getcwd))
    ;; The preload script is read once, by this configure run.
    (let* ((port (mkstemp! (string-append (or (getenv "TMPDIR") "/tmp")
                                          "/strata-cmake-preload-XXXXXX")))
           (preload (port-filename port)))
      (display (cmake-preload-script out build-type tests?) port)
      (close-port port)
      (let ((args `(,srcdir "-C" ,preload ,(string-append "-G" generator)
                    ,@configure-flags)))
        (format #t "running 'cmake' with arguments ~s~%" args)
        (dynamic-wind
          (const #t)
          (lambda () (apply invoke "cmake" args))
          (lambda () (false-if-exception (delete-file preload))))))))

(define* (build #:key (make-flags '()) (parallel-build? #t)
                #:allow-other-keys)
  (apply invoke "cmake" "--build" "."
         `(,@(if parallel-build?
                 (list "-j" (number->string (parallel-job-count)))
                 (list "-j" "1"))
           "--"
           ,@(if parallel-build?
                 (list "-l" (number->string (total-processor-count)))
                 '())
           ,@make-flags)))

(define* (check #:key target (tests? (not target)) (parallel-tests? #t)
                (test-exclude "") (test-repeat-until-pass? #t)
                (test-repeat-until-pass-count 5)
                #:allow-other-keys)
  (if tests?
      (guard (c ((invoke-error? c)
                 (for-each (lambda (log)
                             (format #t "~%--- ~a ---~%" log)
                             (call-with-input-file log
                               (lambda (in) (dump-port in (current-output-port)))
                               #:binary #t))
                           (find-files "." "^LastTest\\.log$"))
                 (raise c)))
        (apply invoke "ctest" "--output-on-failure" "--no-tests=error"
               `(,@(if (string-null? test-exclude) '()
                       (list "--exclude-regex" test-exclude))
                 ,@(if parallel-tests?
                       (list "-j" (number->string (parallel-job-count))
                             ;; ctest holds tests back above this load; a
                             ;; floor keeps small machines from stalling.
                             "--test-load"
                             (number->string (max 4 (total-processor-count))))
                       (list "-j" "1"))
                 ,@(if test-repeat-until-pass?
                       (list "--repeat"
                             (format #f "until-pass:~a"
                                     test-repeat-until-pass-count))
                       '()))))
      (format #t "test suite not run~%")))

(define* (install . _)
  (invoke "cmake" "--install" "."))

(define %standard-phases
  (modify-phases gnu:%standard-phases
    (delete 'bootstrap)
    (replace 'configure configure)
    (replace 'build build)
    (replace 'check check)
    (replace 'install install)))
