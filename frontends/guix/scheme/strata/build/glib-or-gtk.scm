;;; strata — the standard phases of glib-or-gtk-build-system.
;;;
;;; This module owns glib-or-gtk-build-system's 26 phases (reference §2.3):
;;; gnu's list plus generate-gdk-pixbuf-loaders-cache-file after unpack and,
;;; after install, glib-or-gtk-wrap then glib-or-gtk-compile-schemas.  The
;;; two post-install phases are also what meson-build-system runs with
;;; #:glib-or-gtk? #t.

(define-module (strata build glib-or-gtk)
  #:use-module (strata build utils)
  #:use-module ((strata build gnu) #:prefix gnu:)
  #:use-module (srfi srfi-1)
  #:use-module (srfi srfi-26)
  #:use-module (ice-9 match)
  #:use-module (ice-9 format)
  #:export (%standard-phases
            %default-arguments
            generate-gdk-pixbuf-loaders-cache-file
            glib-or-gtk-wrap
            glib-or-gtk-compile-schemas))

(define %default-arguments
  (append
   '((#:glib-or-gtk-wrap-excluded-outputs . ())
     (#:make-flags . ("gtk_update_icon_cache=true")))
   (remove (match-lambda ((k . _) (eq? k #:make-flags)))
           gnu:%default-arguments)))

(define* (generate-gdk-pixbuf-loaders-cache-file . _)
  ;; Guix runs gdk-pixbuf-query-loaders over the inputs' loaders when the
  ;; tool is in PATH.  Debian's gdk-pixbuf keeps its loader cache under
  ;; /usr/lib already (ADAPTATIONS.md), so strata leaves it to Debian.
  (if (which "gdk-pixbuf-query-loaders")
      (format #t "gdk-pixbuf loaders: Debian's cache is used~%")
      (format #t "no gdk-pixbuf-query-loaders; nothing to do~%")))

(define (existing dirs) (filter directory-exists? dirs))

(define* (glib-or-gtk-wrap #:key inputs outputs
                           (glib-or-gtk-wrap-excluded-outputs '())
                           #:allow-other-keys)
  "Wrap the programs in bin, sbin and libexec of every output but the
excluded ones so they find the data, GTK modules and GIO modules of the
package and its store inputs."
  (define dirs
    (append (map cdr outputs)
            (remove (lambda (d) (or (string=? d "/usr")
                                    (string-prefix? "/usr/" d)))
                    (filter-map (match-lambda
                                  (("source" . _) #f)
                                  ((_ . (? string? d)) d)
                                  (_ #f))
                                (or inputs '())))))
  (define xdg-data (existing (map (cut string-append <> "/share") dirs)))
  (define gtk-path (existing (append-map
                              (lambda (d)
                                (list (string-append d "/lib/gtk-2.0")
                                      (string-append d "/lib/gtk-3.0")
                                      (string-append d "/lib/gtk-4.0")))
                              dirs)))
  (define gio (existing (map (cut string-append <> "/lib/gio/modules") dirs)))
  (define specs
    (append (if (null? xdg-data) '() `(("XDG_DATA_DIRS" prefix ,xdg-data)))
            (if (null? gtk-path) '() `(("GTK_PATH" prefix ,gtk-path)))
            (if (null? gio) '() `(("GIO_EXTRA_MODULES" prefix ,gio)))))
  (unless (null? specs)
    (for-each
     (match-lambda
       ((name . dir)
        (unless (member name glib-or-gtk-wrap-excluded-outputs)
          (for-each
           (lambda (prog) (apply wrap-program prog specs))
           (append-map
            (lambda (sub)
              (let ((d (string-append dir "/" sub)))
                (if (directory-exists? d)
                    (filter (lambda (f)
                              (and (executable-file? f)
                                   (not (symbolic-link? f))
                                   (not (string-prefix? "." (basename f)))))
                            (find-files d))
                    '())))
            '("bin" "sbin" "libexec"))))))
     outputs)))

(define* (glib-or-gtk-compile-schemas #:key outputs #:allow-other-keys)
  "Compile the GSettings schemas an output installs, unless it ships a
compiled file already."
  (for-each
   (match-lambda
     ((_ . dir)
      (let ((schemas (string-append dir "/share/glib-2.0/schemas")))
        (when (and (directory-exists? schemas)
                   (not (file-exists?
                         (string-append schemas "/gschemas.compiled"))))
          (invoke "glib-compile-schemas" schemas)))))
   outputs))

(define %standard-phases
  (modify-phases gnu:%standard-phases
    (add-after 'unpack 'generate-gdk-pixbuf-loaders-cache-file
      generate-gdk-pixbuf-loaders-cache-file)
    (add-after 'install 'glib-or-gtk-compile-schemas
      glib-or-gtk-compile-schemas)
    (add-after 'install 'glib-or-gtk-wrap glib-or-gtk-wrap)))
