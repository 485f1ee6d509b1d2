;;; strata — shared helpers of the Scheme unit tests.
;;;
;;; Owns the temporary-directory and output-capture helpers and `run-tests',
;;; which ends an SRFI-64 suite with an exit status that says whether
;;; anything failed (run-tests.sh relies on it).

(define-module (harness)
  #:use-module (srfi srfi-64)
  #:use-module (ice-9 popen)
  #:use-module (ice-9 textual-ports)
  #:use-module (strata build utils)
  #:export (call-with-temporary-directory
            with-temporary-directory
            write-file
            read-file
            capture-stderr
            command-output
            finish-tests))

(define (call-with-temporary-directory proc)
  (let ((dir (mkdtemp (string-append (or (getenv "TMPDIR") "/tmp")
                                     "/strata-guix-test.XXXXXX")))
        (cwd (getcwd)))
    (dynamic-wind
      (const #t)
      (lambda () (proc dir))
      (lambda ()
        (chdir cwd)
        (delete-file-recursively dir)))))

(define-syntax-rule (with-temporary-directory dir body ...)
  (call-with-temporary-directory (lambda (dir) body ...)))

(define* (write-file file content #:key (mode #f))
  (mkdir-p (dirname file))
  (call-with-output-file file (lambda (p) (display content p)))
  (when mode (chmod file mode))
  file)

(define (read-file file)
  (call-with-input-file file get-string-all))

(define (capture-stderr thunk)
  "Call THUNK; return (values RESULT STDERR-TEXT)."
  (let* ((result #f)
         (text (call-with-output-string
                 (lambda (port)
                   (with-error-to-port port
                     (lambda () (set! result (thunk))))))))
    (values result text)))

(define (command-output program . args)
  (let* ((port (apply open-pipe* OPEN_READ program args))
         (text (get-string-all port)))
    (close-pipe port)
    text))

(define (finish-tests name)
  (let* ((runner (test-runner-current))
         (bad (+ (test-runner-fail-count runner)
                 (test-runner-xpass-count runner))))
    (test-end name)
    (exit (if (zero? bad) 0 1))))

(define-public (install-fake-tools! dir names)
  "Put scripts named NAMES in DIR/bin, first in PATH, each appending
\"NAME ARG…\" (one line) to DIR/calls and copying any -C FILE it is given to
DIR/preload.  Returns a thunk restoring PATH."
  (let ((old (getenv "PATH")))
    (for-each
     (lambda (name)
       (write-file (string-append dir "/bin/" name)
                   (string-append "#!/bin/sh\n"
                                  "echo \"" name " $*\" >> " dir "/calls\n"
                                  "while [ $# -gt 0 ]; do\n"
                                  "  if [ \"$1\" = -C ]; then cp \"$2\" " dir "/preload; fi\n"
                                  "  shift\ndone\n")
                   #:mode #o755))
     names)
    (setenv "PATH" (string-append dir "/bin:" old))
    (lambda () (setenv "PATH" old))))

(define-public (fake-calls dir)
  (if (file-exists? (string-append dir "/calls"))
      (string-split (string-trim-right (read-file (string-append dir "/calls"))
                                       #\newline)
                    #\newline)
      '()))
