;;; strata — (guix build meson-build-system) for package code that names Guix's module.
;;;
;;; Package definitions list Guix's build-side modules in #:modules, import
;;; them with #:prefix, or use-modules them in trivial builders; this module
;;; gives them strata's implementation, (strata build meson), under that name.

(define-module (guix build meson-build-system)
  #:use-module (strata build alias))

(re-export-all! (current-module) '(strata build meson))
