;;; strata — (guix build glib-or-gtk-build-system) for package code that names Guix's module.
;;;
;;; Package definitions list Guix's build-side modules in #:modules, import
;;; them with #:prefix, or use-modules them in trivial builders; this module
;;; gives them strata's implementation, (strata build glib-or-gtk), under that name.

(define-module (guix build glib-or-gtk-build-system)
  #:use-module (strata build alias))

(re-export-all! (current-module) '(strata build glib-or-gtk))
