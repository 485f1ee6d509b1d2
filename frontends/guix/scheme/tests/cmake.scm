;;; Unit tests of (strata build cmake): its phase list and the commands
;;; configure, build, check and install run (cmake and ctest are fakes
;;; that record their arguments).

(use-modules (srfi srfi-64)
             (ice-9 regex)
             (ice-9 match)
             (ice-9 threads)
             (strata build utils)
             ((strata build cmake) #:prefix cmake:)
             (harness))

(test-begin "cmake")

(test-equal "22 phases: gnu's without bootstrap"
  22
  (length cmake:%standard-phases))

(test-assert "no bootstrap phase"
  (not (assq 'bootstrap cmake:%standard-phases)))

(test-equal "the preload script presets Guix's cache entries"
  '("set(CMAKE_BUILD_TYPE \"Release\" CACHE STRING \"\")"
    "set(CMAKE_INSTALL_PREFIX \"/o\" CACHE STRING \"\")"
    "set(CMAKE_INSTALL_LIBDIR \"lib\" CACHE STRING \"\")"
    "set(CMAKE_INSTALL_RPATH_USE_LINK_PATH \"TRUE\" CACHE STRING \"\")"
    "set(CMAKE_INSTALL_RPATH \"/o/lib\" CACHE STRING \"\")"
    "set(CMAKE_VERBOSE_MAKEFILE \"ON\" CACHE STRING \"\")"
    "set(CMAKE_COLOR_DIAGNOSTICS \"ON\" CACHE STRING \"\")"
    "set(BUILD_TESTING \"OFF\" CACHE STRING \"\")")
  (string-split (string-trim-right (cmake:cmake-preload-script "/o" "Release" #f))
                #\newline))

(test-equal "configure runs cmake out of source with the preload and the flags"
  '("build" "cmake ../src -C PRELOAD -GUnix Makefiles -DX=1"
    #t)
  (with-temporary-directory dir
    (let ((restore (install-fake-tools! dir '("cmake"))))
      (mkdir-p (string-append dir "/src"))
      (chdir (string-append dir "/src"))
      (with-output-to-string
        (lambda ()
          (cmake:configure #:outputs '(("out" . "/o"))
                           #:configure-flags '("-DX=1"))))
      (restore)
      (list (basename (getcwd))
            (match (fake-calls dir)
              ((line) (regexp-substitute/global
                       #f "-C [^ ]*" line 'pre "-C PRELOAD" 'post)))
            (->bool (string-contains (read-file (string-append dir "/preload"))
                                     "BUILD_TESTING \"ON\""))))))

(test-equal "build, check and install drive cmake --build, ctest, cmake --install"
  (list (format #f "cmake --build . -j ~a -- -l ~a V=1" (parallel-job-count)
                (total-processor-count))
        (format #f "ctest --output-on-failure --no-tests=error -j ~a --test-load ~a --repeat until-pass:5"
                (parallel-job-count) (max 4 (total-processor-count)))
        "cmake --install .")
  (with-temporary-directory dir
    (let ((restore (install-fake-tools! dir '("cmake" "ctest"))))
      (with-output-to-string
        (lambda ()
          (cmake:build #:make-flags '("V=1"))
          (cmake:check)
          (cmake:install #:make-flags '("ignored"))))
      (restore)
      (fake-calls dir))))

(test-equal "check with #:tests? #f runs no ctest; #:test-exclude is passed"
  (list "ctest --output-on-failure --no-tests=error --exclude-regex slow -j 1")
  (with-temporary-directory dir
    (let ((restore (install-fake-tools! dir '("ctest"))))
      (with-output-to-string
        (lambda ()
          (cmake:check #:tests? #f)
          (cmake:check #:test-exclude "slow" #:parallel-tests? #f
                       #:test-repeat-until-pass? #f)))
      (restore)
      (fake-calls dir))))

(finish-tests "cmake")
