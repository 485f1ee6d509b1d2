;;; Differential cases for gnu-build-system phases, run by run.sh with Guix's
;;; module and with strata's.
(use-modules (rnrs bytevectors) (rnrs io ports))
(use-modules (ice-9 match) (ice-9 regex) (ice-9 textual-ports) (srfi srfi-1) (guix build utils))
(define impl (caddr (command-line)))
(define phases
  (if (string=? impl "guix")
      (module-ref (resolve-interface '(guix build gnu-build-system)) '%standard-phases)
      (module-ref (resolve-interface '(strata build gnu)) '%standard-phases)))
(define (ph n) (assq-ref phases n))
(define root (cadr (command-line)))
(define out (string-append root "/gnu/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-pkg-1.0"))
(define doc (string-append root "/gnu/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-pkg-1.0-doc"))
(define outputs `(("out" . ,out) ("doc" . ,doc)))
(define (w f c) (mkdir-p (dirname f)) (call-with-output-file f (lambda (p) (display c p))))
(define (listing)
  (for-each (lambda (f) (format #t "  ~a~a~%" (substring f (string-length root))
                                (if (symbolic-link? f) (string-append " -> " (readlink f)) "")))
            (find-files root #:directories? #f)))
(define report (current-output-port))
(define (display-report x) (display x report) (newline report))
(define-syntax-rule (case name body ...)
  (begin (system* "rm" "-rf" root) (mkdir-p root) (chdir root)
         (format #t "== ~a~%" name)
         (catch #t (lambda () (with-output-to-string (lambda () (with-error-to-port (open-output-string) (lambda () body ...))))
                     (listing))
           (lambda (k . a) (format #t "  ERROR ~a ~s~%" k a)))))
(case "compress-doc"
  (for-each (lambda (n) (w (string-append out "/share/man/man1/" n) ".TH\n")) '("ls.1" "open.3p" "perl.3pm" "ssl.1ssl" "a.1h" "x.7x"))
  (symlink "ls.1" (string-append out "/share/man/man1/foo.1"))
  (symlink "foo.1" (string-append out "/share/man/man1/bar.1"))
  (w (string-append out "/share/info/x.info") "i") (w (string-append out "/share/info/x.info-1") "i")
  (w (string-append doc "/share/man/man5/y.5") "y")
  ((ph 'compress-documentation) #:outputs outputs))
(case "validate-doc"
  (w (string-append out "/man/man1/a.1") "") (w (string-append out "/info/a.info") "")
  ((ph 'validate-documentation-location) #:outputs outputs))
(case "license"
  (w "src/COPYING" "") (w "src/LICENSES/MIT" "m") (w "src/COPYING.LIB" "") (w "src/LICENSE.md" "") (w "src/copyright" "") (w "src/Copyright.txt" "") (w "src/licence" "") (mkdir-p "src/LICENSES")
  (chdir "src")
  ((ph 'install-license-files) #:outputs outputs))
(case "license out-of-source"
  (w "pkg-1.0/COPYING" "") (mkdir-p "build") (chdir "build")
  ((ph 'install-license-files) #:outputs outputs #:out-of-source? #t))
(case "desktop"
  (w (string-append out "/bin/app") "") (chmod (string-append out "/bin/app") #o755)
  (w (string-append out "/share/applications/a.desktop") "[Desktop Entry]\nExec=app --x %U\nTryExec=app\nExec=/abs/p\nExec=missing\n")
  ((ph 'patch-dot-desktop-files) #:outputs outputs)
  (display-report (call-with-input-file (string-append out "/share/applications/a.desktop") get-string-all)))
(case "configure"
  (w "src/configure" "#!/bin/sh\nfor a in \"$@\"; do echo \"$a\"; done > /tmp/strata-differential-args\n") (chmod "src/configure" #o755) (chdir "src")
  ((ph 'configure) #:outputs `(("out" . ,out) ("doc" . ,doc) ("lib" . "/l") ("bin" . "/b")) #:inputs '(("bash" . "/usr")) #:build "x86_64-unknown-linux-gnu" #:configure-flags '("--x"))
  (display-report (call-with-input-file "/tmp/strata-differential-args" get-string-all)))
(case "unpack dir"
  (w "co/a" "x") (chmod "co/a" #o444) (mkdir "b") (chdir "b")
  ((ph 'unpack) #:source (string-append root "/co"))
  (format report "cwd ~a ~o~%" (substring (getcwd) (string-length root)) (stat:perms (stat "a"))))
(case "unpack gz"
  (w "data.txt" "hello") (system* "gzip" "data.txt") (mkdir-p "gnu/store") (rename-file "data.txt.gz" "gnu/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-data.txt.gz") (mkdir "b") (chdir "b")
  ((ph 'unpack) #:source (string-append root "/gnu/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-data.txt.gz")))
(case "gzip ts"
  (w (string-append out "/share/x") "d") (system* "gzip" (string-append out "/share/x"))
  ((ph 'reset-gzip-timestamps) #:outputs outputs)
  (display-report (bytevector->u8-list (call-with-input-file (string-append out "/share/x.gz") (lambda (p) (get-bytevector-n p 8)) #:binary #t))))
(case "unpack tarball, several top dirs"
  (w "t/b-dir/x" "1") (w "t/a-dir/y" "2") (w "t/file" "3")
  (mkdir-p "gnu/store") (system* "tar" "czf" "gnu/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-t.tar.gz" "-C" "t" ".")
  (system* "rm" "-rf" "t") (mkdir "b") (chdir "b")
  ((ph 'unpack) #:source (string-append root "/gnu/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-t.tar.gz"))
  (format report "cwd ~a~%" (substring (getcwd) (string-length root))))
(case "bootstrap non-executable autogen.sh"
  (w "autogen.sh" "echo ran > out\n") (w "build-aux/git-version-gen" "#!/bin/sh\n") (chmod "build-aux/git-version-gen" #o755)
  ((ph 'bootstrap))
  (format report "mode ~o ~a" (stat:perms (stat "autogen.sh")) (call-with-input-file "build-aux/git-version-gen" get-string-all)))
(case "bootstrap configure.ac only, no autoreconf"
  (w "configure.ac" "AC_INIT\n") (w "configure" "") ((ph 'bootstrap)))
(case "delete-info-dir-file"
  (w (string-append out "/share/info/dir") "") (w (string-append out "/share/info/a.info") "")
  ((ph 'delete-info-dir-file) #:outputs outputs))
(case "set-paths"
  (w "in1/bin/x" "") (w "in1/include/a.h" "") (w "in1/lib/pkgconfig/a.pc" "") (w "in2/sbin/y" "")
  ((ph 'set-paths) #:inputs `(("a" . ,(string-append root "/in1")) ("b" . ,(string-append root "/in2")) ("source" . "/src"))
   #:search-paths '(("C_INCLUDE_PATH" ("include") ":" directory #f) ("PKG_CONFIG_PATH" ("lib/pkgconfig") ":" directory #f) ("XML" ("lib") " " regular "\\.pc$")))
  (for-each (lambda (v) (format report "~a=~a~%" v (let ((x (getenv v))) (and x (regexp-substitute/global #f root x 'pre "ROOT" 'post)))))
            '("C_INCLUDE_PATH" "PKG_CONFIG_PATH" "XML"))
  (format report "PATH starts ~a~%" (regexp-substitute/global #f root (car (string-split (getenv "PATH") #\:)) 'pre "ROOT" 'post)))
