;;; Differential cases for copy-build-system's install phase (#:install-plan),
;;; run by run.sh with Guix's module and with strata's.
(use-modules (ice-9 match) (ice-9 textual-ports) (srfi srfi-1))
(define impl (caddr (command-line)))
(define install
  (if (string=? impl "guix")
      (module-ref (resolve-interface '(guix build copy-build-system)) '%standard-phases)
      (module-ref (resolve-interface '(strata build copy)) '%standard-phases)))
(define install-phase (assq-ref install 'install))
(use-modules (guix build utils))
(define root (cadr (command-line)))
(define (w f c) (mkdir-p (dirname f)) (call-with-output-file f (lambda (p) (display c p))))
(define plans
  '((("foo/top.txt" "share/a/")) (("foo/top.txt" "share/b")) (("foo" "share/c")) (("foo" "share/d/"))
    (("foo/" "share/e")) (("foo" "share/f" #:include ("file"))) (("foo" "share/g" #:include-regexp ("sub/")))
    (("foo" "share/h" #:exclude ("file"))) (("foo" "share/i" #:include ("file") #:exclude ("myfile")))
    (("foo" "share/j" #:exclude-regexp ("^\\./sub"))) (("." "./")) (("foo/sub" "x/y/z/"))
    (("foo/link" "l/")) (("foo" "m" #:include ("link"))) (("foo/" "n/"))
    (("foo" "share/k" #:include-regexp ("top")) ("foo/sub/file" "share/k/extra"))))
(for-each
 (lambda (plan)
   (system* "rm" "-rf" root) (mkdir-p (string-append root "/src")) (chdir (string-append root "/src"))
   (for-each (lambda (f) (w f f)) '("foo/top.txt" "foo/sub/file" "foo/sub/myfile"))
   (symlink "top.txt" "foo/link")
   (format #t "== ~s~%" plan)
   (catch #t
     (lambda ()
       (with-output-to-string (lambda () (install-phase #:outputs `(("out" . ,(string-append root "/out"))) #:install-plan plan)))
       (for-each (lambda (f) (format #t "  ~a~a~%" (substring f (string-length root))
                                     (if (symbolic-link? f) (string-append " -> " (readlink f)) "")))
                 (find-files (string-append root "/out") #:directories? #f)))
     (lambda (k . a) (format #t "  ERROR ~a~%" k))))
 plans)
