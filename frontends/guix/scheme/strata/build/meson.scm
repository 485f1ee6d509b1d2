;;; strata — the standard phases of meson-build-system.
;;;
;;; This module owns meson-build-system's phase list (reference §2.2: from
;;; glib-or-gtk's list without bootstrap, configure/build/check/install
;;; replaced, shrink-runpath after strip, the glib-or-gtk wrap and schema
;;; phases dropped as with the default #:glib-or-gtk? #f) and its phases.
;;; With #:glib-or-gtk? #t those two run after install: they are in
;;; `%optional-phases', so the host side can ask for them by name.

(define-module (strata build meson)
  #:use-module (strata build utils)
  #:use-module ((strata build gnu) #:prefix gnu:)
  #:use-module ((strata build glib-or-gtk) #:prefix glib:)
  #:use-module (srfi srfi-1)
  #:use-module (srfi srfi-11)
  #:use-module (ice-9 match)
  #:use-module (ice-9 format)
  #:export (%standard-phases
            %optional-phases
            %default-arguments
            configure
            build
            check
            install
            shrink-runpath))

(define %default-arguments
  (append
   '((#:out-of-source? . #t)
     (#:build-type . "debugoptimized")
     (#:test-options . ())
     (#:glib-or-gtk? . #f))
   (remove (match-lambda
             ((k . _) (memq k '(#:out-of-source? #:test-target #:make-flags
                                #:bootstrap-scripts))))
           gnu:%default-arguments)))

(define* (configure #:key outputs (configure-flags '())
                    (build-type "debugoptimized")
                    #:allow-other-keys)
  (define (output name) (assoc-ref outputs name))
  (let* ((srcdir (getcwd))
         (out (output "out"))
         (args `(,(string-append "--prefix=" out)
                 ,@(if (output "bin")
                       (list (string-append "--bindir=" (output "bin") "/bin"))
                       '())
                 ,@(if (output "lib")
                       (cons (string-append "--libdir=" (output "lib") "/lib")
                             (if (output "include")
                                 '()
                                 (list (string-append "--includedir="
                                                      (output "lib")
                                                      "/include"))))
                       ;; Debian's meson defaults libdir to the multiarch
                       ;; lib/x86_64-linux-gnu; Guix's to lib.
                       (list (string-append "--libdir=" out "/lib")))
                 ,@(if (output "include")
                       (list (string-append "--includedir=" (output "include")
                                            "/include"))
                       '())
                 ,(string-append "--buildtype=" build-type)
                 "--wrap-mode=nofallback"
                 ,(string-append "-Dc_link_args=-Wl,-rpath=" out "/lib")
                 ,(string-append "-Dcpp_link_args=-Wl,-rpath=" out "/lib")
                 ,@configure-flags
                 ,srcdir)))
    (mkdir-p "../build")
    (chdir "../build")
    (format #t "running 'meson setup' with arguments ~s~%" args)
    (apply invoke "meson" "setup" args)))

(define* (build #:key (parallel-build? #t) #:allow-other-keys)
  (invoke "ninja" "--verbose" "-j"
          (number->string (if parallel-build? (parallel-job-count) 1))))

(define* (check #:key target (tests? (not target)) (test-options '())
                (parallel-tests? #t) #:allow-other-keys)
  (if tests?
      (begin
        (setenv "MESON_TESTTHREADS"
                (number->string (if parallel-tests? (parallel-job-count) 1)))
        (apply invoke "meson" "test" "--print-errorlogs" "-t" "0"
               test-options))
      (format #t "test suite not run~%")))

(define* (install . _)
  (invoke "ninja" "install"))

(define* (shrink-runpath #:key outputs
                         (elf-directories '("lib" "lib64" "libexec"
                                            "bin" "sbin"))
                         #:allow-other-keys)
  ;; Guix rewrites each ELF file's RUNPATH keeping only the directories
  ;; that provide a DT_NEEDED library.  strata uses patchelf for the
  ;; rewrite when the build base has it.
  (let ((patchelf (which "patchelf")))
    (if (not patchelf)
        (format #t "shrink-runpath: no patchelf in PATH; RUNPATHs left as \
meson installed them~%")
        (for-each
         (match-lambda
           (("debug" . _) #t)
           ((_ . dir)
            (for-each
             (lambda (sub)
               (let ((d (string-append dir "/" sub)))
                 (when (directory-exists? d)
                   (for-each (lambda (f)
                               (invoke patchelf "--shrink-rpath" f))
                             (find-files d (lambda (f st)
                                             (and (eq? 'regular (stat:type st))
                                                  (elf-file? f))))))))
             elf-directories)))
         outputs))))

(define %standard-phases
  (modify-phases gnu:%standard-phases
    (delete 'bootstrap)
    (add-after 'unpack 'generate-gdk-pixbuf-loaders-cache-file
      glib:generate-gdk-pixbuf-loaders-cache-file)
    (replace 'configure configure)
    (replace 'build build)
    (replace 'check check)
    (replace 'install install)
    (add-after 'strip 'shrink-runpath shrink-runpath)))

(define %optional-phases
  ;; Standard phases that are not in the default list: with #:glib-or-gtk?
  ;; #t they follow install, in this order.
  `((glib-or-gtk-wrap . ,glib:glib-or-gtk-wrap)
    (glib-or-gtk-compile-schemas . ,glib:glib-or-gtk-compile-schemas)))
