;;; strata — re-exporting a strata module under a Guix module's name.
;;;
;;; Owns `re-export-all!', used by the (guix build …) modules under
;;; ../../guix/build/ so that package code asking for Guix's build-side
;;; modules gets strata's.

(define-module (strata build alias)
  #:export (re-export-all!))

(define (re-export-all! module name)
  "Make MODULE use the module NAME and re-export every binding NAME exports."
  (let ((iface (resolve-interface name)))
    (module-use! module iface)
    (module-re-export! module (module-map (lambda (sym var) sym) iface))))
