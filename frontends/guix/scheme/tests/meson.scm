;;; Unit tests of (strata build meson): its phase list and the commands its
;;; phases run (meson and ninja are fakes that record their arguments).

(use-modules (srfi srfi-64)
             (ice-9 regex)
             (ice-9 match)
             (strata build utils)
             ((strata build meson) #:prefix meson:)
             (harness))

(test-begin "meson")

(test-equal "24 phases; the gdk-pixbuf phase after unpack, shrink-runpath after strip"
  '(24 (unpack generate-gdk-pixbuf-loaders-cache-file)
       (strip shrink-runpath))
  (let ((names (map car meson:%standard-phases)))
    (list (length names)
          (list-head (member 'unpack names) 2)
          (list-head (member 'strip names) 2))))

(test-equal "configure: meson setup in ../build with Guix's flags, then the package's"
  '("build"
    "meson setup --prefix=/o --libdir=/o/lib --buildtype=debugoptimized --wrap-mode=nofallback -Dc_link_args=-Wl,-rpath=/o/lib -Dcpp_link_args=-Wl,-rpath=/o/lib -Dx=true SRC")
  (with-temporary-directory dir
    (let ((restore (install-fake-tools! dir '("meson"))))
      (mkdir-p (string-append dir "/src"))
      (chdir (string-append dir "/src"))
      (with-output-to-string
        (lambda ()
          (meson:configure #:outputs '(("out" . "/o"))
                           #:configure-flags '("-Dx=true"))))
      (restore)
      (list (basename (getcwd))
            (match (fake-calls dir)
              ((line) (regexp-substitute/global #f (string-append dir "/src")
                                                line 'pre "SRC" 'post)))))))

(test-equal "configure with a lib output: --libdir and --includedir there"
  #t
  (with-temporary-directory dir
    (let ((restore (install-fake-tools! dir '("meson"))))
      (mkdir-p (string-append dir "/src"))
      (chdir (string-append dir "/src"))
      (with-output-to-string
        (lambda ()
          (meson:configure #:outputs '(("out" . "/o") ("lib" . "/l")))))
      (restore)
      (->bool (string-contains (car (fake-calls dir))
                               "--libdir=/l/lib --includedir=/l/include")))))

(test-equal "build, check, install: ninja -j N, meson test -t 0, ninja install"
  (list (format #f "ninja --verbose -j ~a" (parallel-job-count))
        "meson test --print-errorlogs -t 0 --suite=fast"
        "ninja install")
  (with-temporary-directory dir
    (let ((restore (install-fake-tools! dir '("meson" "ninja"))))
      (with-output-to-string
        (lambda ()
          (meson:build)
          (meson:check #:test-options '("--suite=fast"))
          (meson:check #:tests? #f)
          (meson:install)))
      (restore)
      (fake-calls dir))))

(finish-tests "meson")
