;;; strata — trivial-build-system.
;;;
;;; This module owns the single `builder' phase strata uses for
;;; trivial-build-system (reference §2.6): it evaluates the package's
;;; #:builder expression in the build module, where %build-inputs,
;;; %outputs and %output are defined.  The source is not unpacked.

(define-module (strata build trivial)
  #:use-module (strata build utils)
  #:use-module (ice-9 match)
  #:export (%standard-phases
            %default-arguments
            builder))

(define %default-arguments
  '((#:builder . #f)
    (#:modules . #f)
    (#:guile . #f)
    (#:allowed-references . #f)
    (#:disallowed-references . #f)
    (#:source . #f)
    (#:system . "x86_64-linux")
    (#:build . #f)
    (#:target . #f)
    (#:outputs . ())
    (#:inputs . ())
    (#:native-inputs . #f)
    (#:phases . #f)
    (#:search-paths . #f)))

(define %builder-module
  ;; The phase driver sets this to the module the package code lives in.
  (make-parameter #f))

(define* (builder #:key (builder #f) #:allow-other-keys)
  (unless builder
    (error "trivial-build-system: the package has no #:builder"))
  (let ((module (or (%builder-module)
                    (error "trivial-build-system: no build module"))))
    (eval builder module)))

(define %standard-phases
  `((builder . ,builder)))

(export %builder-module)
