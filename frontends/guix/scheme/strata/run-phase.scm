;;; strata — command line of the Guix phase driver.
;;;
;;;   guile --no-auto-compile -L /strata/guix /strata/guix/strata/run-phase.scm PHASE-FILE
;;;   guile --no-auto-compile -L DIR DIR/strata/run-phase.scm --list-phases BUILD-SYSTEM
;;;
;;; Runs the one phase PHASE-FILE describes (see ../PROTOCOL.md); exit status
;;; 0 on success, 1 with a message naming the phase on stderr otherwise.
;;; The work is done by (strata phase).

(use-modules (strata phase))

(main (command-line))
