;;; Unit tests of (strata build glib-or-gtk): the phase list and the two
;;; post-install phases (glib-compile-schemas is a fake recording its call).

(use-modules (srfi srfi-64)
             (ice-9 regex)
             (ice-9 match)
             (strata build utils)
             ((strata build glib-or-gtk) #:prefix glib:)
             ((strata build meson) #:prefix meson:)
             (harness))

(test-begin "glib-or-gtk")

(test-equal "26 phases: wrap, then compile-schemas, right after install"
  '(26 (install glib-or-gtk-wrap glib-or-gtk-compile-schemas patch-shebangs))
  (let ((names (map car glib:%standard-phases)))
    (list (length names) (list-head (member 'install names) 4))))

(test-equal "meson offers the two phases for #:glib-or-gtk? #t"
  '(glib-or-gtk-wrap glib-or-gtk-compile-schemas)
  (map car meson:%optional-phases))

(test-equal "glib-or-gtk-wrap: programs get XDG_DATA_DIRS and GIO_EXTRA_MODULES of the outputs and store inputs"
  "OUT/share:DEP/share|DEP/lib/gio/modules\n"
  (with-temporary-directory dir
    (let ((out (string-append dir "/out"))
          (dep (string-append dir "/gnu/store/x-dep")))
      (mkdir-p (string-append out "/share"))
      (mkdir-p (string-append dep "/share"))
      (mkdir-p (string-append dep "/lib/gio/modules"))
      (write-file (string-append out "/bin/app")
                  "#!/bin/sh\necho \"$XDG_DATA_DIRS|$GIO_EXTRA_MODULES\"\n"
                  #:mode #o755)
      (glib:glib-or-gtk-wrap #:outputs `(("out" . ,out))
                             #:inputs `(("dep" . ,dep) ("glib" . "/usr")))
      (let* ((text (command-output "env" "-u" "XDG_DATA_DIRS"
                                   "-u" "GIO_EXTRA_MODULES"
                                   (string-append out "/bin/app")))
             (text (regexp-substitute/global #f out text 'pre "OUT" 'post)))
        (regexp-substitute/global #f dep text 'pre "DEP" 'post)))))

(test-equal "glib-or-gtk-compile-schemas runs only where no gschemas.compiled exists"
  '("glib-compile-schemas OUT/share/glib-2.0/schemas")
  (with-temporary-directory dir
    (let ((restore (install-fake-tools! dir '("glib-compile-schemas")))
          (a (string-append dir "/a"))
          (b (string-append dir "/b")))
      (write-file (string-append a "/share/glib-2.0/schemas/x.gschema.xml") "")
      (write-file (string-append b "/share/glib-2.0/schemas/gschemas.compiled") "")
      (glib:glib-or-gtk-compile-schemas #:outputs `(("out" . ,a) ("lib" . ,b)))
      (restore)
      (map (lambda (l) (regexp-substitute/global #f a l 'pre "OUT" 'post))
           (fake-calls dir)))))

(finish-tests "glib-or-gtk")
