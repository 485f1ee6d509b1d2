;;; Differential cases for the commands the build phases run (gnu's make
;;; invocations, cmake's, meson's, the shebang phases, strip), run by run.sh
;;; with Guix's modules and with strata's.  Fake make/cmake/ctest/meson/ninja
;;; record their arguments; the cmake preload file's content is recorded too.
(use-modules (ice-9 match) (ice-9 textual-ports) (srfi srfi-1) (guix build utils))
(define root (cadr (command-line)))
(define (system-phases name)
  (module-ref (resolve-interface `(guix build ,name)) '%standard-phases))
(define (ph system n) (assq-ref (system-phases system) n))
(define out (string-append root "/gnu/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-pkg-1.0"))
(define (w f c) (mkdir-p (dirname f)) (call-with-output-file f (lambda (p) (display c p))))
(define (fake! names)
  (for-each (lambda (n)
              (w (string-append root "/fake/" n)
                 (string-append "#!/bin/sh\necho \"" n " $*\" | sed \"s|" root "|ROOT|g; s|-C /tmp/[^ ]*|-C TMP|\" >> " root "/calls\n"
                                "while [ $# -gt 0 ]; do [ \"$1\" = -C ] && sed \"s|" root "|ROOT|g\" \"$2\" >> " root "/calls; case \"$1\" in -C/*) sed \"s|" root "|ROOT|g\" \"${1#-C}\" >> " root "/calls;; \"-C \"*) sed \"s|" root "|ROOT|g\" \"${1#-C }\" >> " root "/calls;; esac; shift; done\n"))
              (chmod (string-append root "/fake/" n) #o755))
            names)
  (setenv "PATH" (string-append root "/fake:" (getenv "PATH"))))
(define old-path (getenv "PATH"))
(define report (current-output-port))
(define-syntax-rule (case name body ...)
  (begin (system* "rm" "-rf" root) (mkdir-p root) (chdir root) (setenv "PATH" old-path)
         (setenv "NIX_BUILD_CORES" "3")
         (format #t "== ~a~%" name)
         (catch #t
           (lambda ()
             (with-output-to-string (lambda () (with-error-to-port (open-output-string) (lambda () body ...))))
             (when (file-exists? (string-append root "/calls"))
               (display (call-with-input-file (string-append root "/calls") get-string-all))))
           (lambda (k . a) (format #t "  ERROR ~a~%" k)))))
(case "gnu build/check/install"
  (fake! '("make"))
  ((ph 'gnu-build-system 'build) #:make-flags '("A=1"))
  ((ph 'gnu-build-system 'build) #:make-flags '("A=1") #:parallel-build? #f)
  ((ph 'gnu-build-system 'check) #:make-flags '("A=1") #:test-target "test")
  ((ph 'gnu-build-system 'check) #:tests? #f)
  ((ph 'gnu-build-system 'check) #:parallel-tests? #f)
  ((ph 'gnu-build-system 'install) #:make-flags '("A=1")))
(case "cmake configure"
  (fake! '("cmake"))
  (mkdir-p "src") (chdir "src")
  ((ph 'cmake-build-system 'configure) #:outputs `(("out" . ,out)) #:configure-flags '("-DX=1") #:build-type "Release" #:tests? #f #:generator "Unix Makefiles"))
(case "cmake configure defaults"
  (fake! '("cmake"))
  (mkdir-p "src") (chdir "src")
  ((ph 'cmake-build-system 'configure) #:outputs `(("out" . ,out)) #:build-type "RelWithDebInfo" #:generator "Unix Makefiles"))
(case "cmake build/check/install"
  (fake! '("cmake" "ctest"))
  ((ph 'cmake-build-system 'build) #:make-flags '("V=1"))
  ((ph 'cmake-build-system 'build) #:parallel-build? #f)
  ((ph 'cmake-build-system 'check))
  ((ph 'cmake-build-system 'check) #:test-exclude "slow" #:parallel-tests? #f #:test-repeat-until-pass? #f)
  ((ph 'cmake-build-system 'install) #:make-flags '("V=1")))
(case "meson configure"
  (fake! '("meson"))
  (mkdir-p "src") (chdir "src")
  ((ph 'meson-build-system 'configure) #:outputs `(("out" . ,out) ("lib" . ,(string-append out "-lib"))) #:configure-flags '("-Dx=true") #:build-type "release"))
(case "meson build/check/install"
  (fake! '("meson" "ninja"))
  ((ph 'meson-build-system 'build) #:parallel-build? #t)
  ((ph 'meson-build-system 'check) #:tests? #t #:parallel-tests? #t #:test-options '("--suite" "a"))
  ((ph 'meson-build-system 'install)))
(case "patch-source-shebangs"
  (w "a/x.sh" "#!/bin/sh\n") (w "a/y.in" "#! /bin/bash -e\n") (w "z" "no\n") (symlink "z" "l")
  ((ph 'gnu-build-system 'patch-source-shebangs))
  (for-each (lambda (f) (format report "~a: ~a" f (call-with-input-file f get-string-all))) '("a/x.sh" "a/y.in" "z")))
(case "patch-generated-file-shebangs"
  (w "exe" "#!/bin/sh\n") (chmod "exe" #o755) (w "noexe" "#!/bin/sh\n") (w "sub/Makefile" "SHELL = /bin/sh\n") (w "GNUmakefile" "SHELL=/bin/bash\n")
  ((ph 'gnu-build-system 'patch-generated-file-shebangs))
  (for-each (lambda (f) (format report "~a: ~a" f (call-with-input-file f get-string-all))) '("exe" "noexe" "sub/Makefile" "GNUmakefile")))
(case "patch-shebangs"
  (w (string-append out "/bin/a") "#!/bin/sh\n") (w (string-append out "/libexec/sub/b") "#!/bin/sh\n") (w (string-append out "/share/c") "#!/bin/sh\n")
  ((ph 'gnu-build-system 'patch-shebangs) #:outputs `(("out" . ,out)) #:inputs '(("bash" . "/usr")))
  (for-each (lambda (f) (format report "~a: ~a" f (call-with-input-file (string-append out f) get-string-all))) '("/bin/a" "/libexec/sub/b" "/share/c")))
(case "strip"
  (w "p.c" "int main(void){return 0;}\n") (mkdir-p (string-append out "/bin")) (mkdir-p (string-append out "/share"))
  (invoke "gcc" "-g" "-o" (string-append out "/bin/p") "p.c") (copy-file (string-append out "/bin/p") (string-append out "/share/p"))
  ((ph 'gnu-build-system 'strip) #:outputs `(("out" . ,out) ("debug" . ,(string-append out "-debug"))))
  (for-each (lambda (f) (format report "~a ~a~%" (substring f (string-length root))
                                (let ((s (call-with-input-file f (lambda (p) (get-string-all p)) #:encoding "ISO-8859-1")))
                                  (if (string-contains s ".gnu_debuglink") "debuglink" "-"))))
            (find-files root (lambda (f s) (elf-file? f)))))
