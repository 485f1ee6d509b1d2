;;; Unit tests of (strata build utils): the build-side utilities Guix
;;; package phases call.  Each test states the behaviour relied upon.

(use-modules (srfi srfi-1)
             (srfi srfi-26)
             (srfi srfi-11)
             (srfi srfi-34)
             (srfi srfi-35)
             (srfi srfi-64)
             (ice-9 match)
             (ice-9 regex)
             (ice-9 threads)
             (ice-9 textual-ports)
             (rnrs bytevectors)
             (rnrs io ports)
             (strata build utils)
             (harness))

(test-begin "utils")

;;; Names.

(test-equal "strip-store-file-name drops the hash"
  "hello-2.12.3-doc"
  (strip-store-file-name "/gnu/store/0a1b2c-hello-2.12.3-doc"))

(test-equal "package-name->name+version splits at the first dash before a digit"
  '("font-dejavu" "2.37" "gtk" #f "font-x" "1.2-3")
  (let-values (((n v) (package-name->name+version "font-dejavu-2.37"))
               ((n2 v2) (package-name->name+version "gtk"))
               ((n3 v3) (package-name->name+version "font-x-1.2-3")))
    (list n v n2 v2 n3 v3)))

(test-equal "the store prefix follows STRATA_GUIX_STORE"
  '("/gnu/store" "/tmp/root/gnu/store" #t)
  (let ((old (getenv "STRATA_GUIX_STORE")))
    (unsetenv "STRATA_GUIX_STORE")
    (let ((a (%store-directory)))
      (setenv "STRATA_GUIX_STORE" "/tmp/root/gnu/store/")
      (let ((b (%store-directory))
            (c (store-file-name? "/tmp/root/gnu/store/abc-x")))
        (if old (setenv "STRATA_GUIX_STORE" old) (unsetenv "STRATA_GUIX_STORE"))
        (list a b c)))))

(test-equal "parallel-job-count: unset → 1, N → N, 0 → every CPU"
  (list 1 3 (total-processor-count))
  (let ((old (getenv "NIX_BUILD_CORES")))
    (unsetenv "NIX_BUILD_CORES")
    (let ((a (parallel-job-count)))
      (setenv "NIX_BUILD_CORES" "3")
      (let ((b (parallel-job-count)))
        (setenv "NIX_BUILD_CORES" "0")
        (let ((c (parallel-job-count)))
          (if old (setenv "NIX_BUILD_CORES" old) (unsetenv "NIX_BUILD_CORES"))
          (list a b c))))))

(test-equal "nix-system->gnu-triplet"
  '("x86_64-unknown-linux-gnu" "aarch64-unknown-linux-gnu")
  (map nix-system->gnu-triplet '("x86_64-linux" "aarch64-linux")))

;;; Files and directories.

(test-assert "mkdir-p creates parents and accepts an existing directory"
  (with-temporary-directory dir
    (mkdir-p (string-append dir "/a/b/c"))
    (mkdir-p (string-append dir "/a/b/c"))
    (directory-exists? (string-append dir "/a/b/c"))))

(test-equal "install-file creates the directory and keeps the mode"
  #o755
  (with-temporary-directory dir
    (write-file (string-append dir "/tool") "x" #:mode #o755)
    (install-file (string-append dir "/tool") (string-append dir "/out/bin"))
    (stat:perms (stat (string-append dir "/out/bin/tool")))))

(test-equal "copy-recursively copies a tree, recreates symlinks, keeps mtimes"
  '("hello" "target" 1000)
  (with-temporary-directory dir
    (write-file (string-append dir "/src/sub/f") "hello")
    (utime (string-append dir "/src/sub/f") 1000 1000)
    (symlink "target" (string-append dir "/src/link"))
    (copy-recursively (string-append dir "/src") (string-append dir "/dst")
                      #:keep-mtime? #t #:log #f)
    (list (read-file (string-append dir "/dst/sub/f"))
          (readlink (string-append dir "/dst/link"))
          (stat:mtime (stat (string-append dir "/dst/sub/f"))))))

(test-equal "copy-recursively logs `src' -> `dst'"
  "`a/f' -> `b/f'\n"
  (with-temporary-directory dir
    (chdir dir)
    (write-file "a/f" "x")
    (call-with-output-string
      (lambda (port) (copy-recursively "a" "b" #:log port)))))

(test-assert "delete-file-recursively does not follow symlinks"
  (with-temporary-directory dir
    (write-file (string-append dir "/keep/file") "precious")
    (mkdir-p (string-append dir "/doomed"))
    (symlink (string-append dir "/keep") (string-append dir "/doomed/link"))
    (delete-file-recursively (string-append dir "/doomed"))
    (and (not (file-exists? (string-append dir "/doomed")))
         (file-exists? (string-append dir "/keep/file")))))

(test-equal "with-directory-excursion returns to the old cwd even on error"
  '(#t #t)
  (with-temporary-directory dir
    (let ((here (getcwd)))
      (mkdir-p (string-append dir "/sub"))
      (let ((inside (with-directory-excursion (string-append dir "/sub")
                      (string=? (getcwd) (canonicalize-path
                                          (string-append dir "/sub"))))))
        (catch #t
          (lambda ()
            (with-directory-excursion (string-append dir "/sub")
              (error "boom")))
          (const #f))
        (list inside (string=? here (getcwd)))))))

(test-equal "find-files: sorted, regexp on the base name, no directories"
  '("./a/x.c" "./b.c" "./z/y.c")
  (with-temporary-directory dir
    (chdir dir)
    (for-each (cut write-file <> "") '("z/y.c" "b.c" "a/x.c" "a/x.h"))
    (mkdir-p "d.c")
    (find-files "." "\\.c$")))

(test-equal "find-files: #:directories? lists directories, DIR itself included"
  '("." "./a" "./a/b")
  (with-temporary-directory dir
    (chdir dir)
    (write-file "a/b/f" "")
    (find-files "." (lambda (f st) (eq? 'directory (stat:type st)))
                #:directories? #t)))

(test-equal "find-files does not descend into symlinked directories"
  '("./link" "./real/f")
  (with-temporary-directory dir
    (chdir dir)
    (write-file "real/f" "")
    (symlink "real" "link")
    (find-files ".")))

(test-equal "file-name-predicate matches base names"
  '(#t #f)
  (let ((p (file-name-predicate "^lib.*\\.so")))
    (list (->bool (p "/x/libz.so.1" #f)) (->bool (p "/libdir/z.so" #f)))))

(test-equal "elf-file?, ar-file?, gzip-file?, executable-file? (a directory counts)"
  '(#t #f #t #t #t #t)
  (with-temporary-directory dir
    (chdir dir)
    (write-file "a.txt" "hello")
    (invoke "ar" "rc" "lib.a" "a.txt")
    (invoke "gzip" "-k" "a.txt")
    (list (elf-file? (canonicalize-path "/bin/sh"))
          (elf-file? "a.txt")
          (ar-file? "lib.a")
          (gzip-file? "a.txt.gz")
          (executable-file? (canonicalize-path "/bin/sh"))
          (executable-file? dir))))

(test-equal "make-file-writable adds the owner write bit"
  #o644
  (with-temporary-directory dir
    (let ((f (write-file (string-append dir "/f") "" #:mode #o444)))
      (make-file-writable f)
      (stat:perms (stat f)))))

(test-equal "symlink-relative makes a relative link"
  '("../lib/libfoo.so" "x")
  (with-temporary-directory dir
    (chdir dir)
    (write-file "lib/libfoo.so" "x")
    (mkdir-p "bin")
    (symlink-relative (string-append dir "/lib/libfoo.so") "bin/libfoo.so")
    (list (readlink "bin/libfoo.so") (read-file "bin/libfoo.so"))))

(test-equal "dump-port copies LEN bytes and reports progress"
  '(10 (0 10))
  (let* ((seen '())
         (out (call-with-values open-bytevector-output-port
                (lambda (port get)
                  (dump-port (open-bytevector-input-port (make-bytevector 100 1))
                             port 10
                             #:progress (lambda (n k) (set! seen (cons n seen)) (k)))
                  (get)))))
    (list (bytevector-length out) (reverse seen))))

(test-equal "search-path-as-string->list drops empty components"
  '("/a" "/b")
  (search-path-as-string->list "/a::/b:"))

(test-equal "dump-port copies every byte"
  (make-bytevector 100000 7)
  (let ((out (call-with-values open-bytevector-output-port
               (lambda (port get)
                 (dump-port (open-bytevector-input-port
                             (make-bytevector 100000 7))
                            port)
                 (get)))))
    out))

;;; Search paths and inputs.

(test-equal "which finds programs in PATH, #f otherwise"
  '(#t #f)
  (list (string-suffix? "/sh" (which "sh"))
        (which "surely-no-such-program-xyz")))

(test-equal "search-input-file: leading slash optional, first input wins"
  '("/usr/bin/sh" "/usr/bin/sh")
  (let ((inputs '(("nothing" . "/nonexistent") ("bash" . "/usr"))))
    (list (search-input-file inputs "/bin/sh")
          (search-input-file inputs "bin/sh"))))

(test-assert "search-input-file raises &search-error naming the file"
  (guard (c ((search-error? c)
             (equal? (search-error-file c) "bin/nope")))
    (search-input-file '(("x" . "/usr")) "bin/nope")
    #f))

(test-equal "search-input-directory"
  "/usr/include"
  (search-input-directory '(("libc" . "/usr")) "include"))

(test-equal "set-path-environment-variable: existing sub-dirs, unset if none"
  '("D/a/include:D/b/include" #f)
  (with-temporary-directory dir
    (mkdir-p (string-append dir "/a/include"))
    (mkdir-p (string-append dir "/b/include"))
    (set-path-environment-variable "STRATA_T_INC" '("include")
                                   (list (string-append dir "/a")
                                         (string-append dir "/b")
                                         (string-append dir "/c"))
                                   #:log #f)
    (let ((v (getenv "STRATA_T_INC")))
      (set-path-environment-variable "STRATA_T_INC" '("nope")
                                     (list dir) #:log #f)
      (list (regexp-substitute/global #f dir v 'pre "D" 'post)
            (getenv "STRATA_T_INC")))))

;;; invoke.

(test-assert "invoke returns #t on success"
  (invoke "true"))

(test-equal "invoke raises &invoke-error with the program, args and status"
  '("sh" ("-c" "exit 3") 3)
  (guard (c ((invoke-error? c)
             (list (invoke-error-program c) (invoke-error-arguments c)
                   (invoke-error-exit-status c))))
    (invoke "sh" "-c" "exit 3")))

(test-assert "report-invoke-error names the command and the exit status"
  (guard (c ((invoke-error? c)
             (let ((text (call-with-output-string
                           (lambda (p) (report-invoke-error c p)))))
               (and (string-contains text "\"false\"")
                    (string-contains text "exit status 1")))))
    (invoke "false")))

(test-assert "invoke/quiet keeps the output for the error"
  (guard (c ((invoke-error? c)
             (string-contains (invoke-error-output c) "to stderr")))
    (invoke/quiet "sh" "-c" "echo to stderr >&2; exit 1")))

;;; substitute*

(define (substituted content thunk)
  (with-temporary-directory dir
    (let ((f (string-append dir "/f")))
      (write-file f content)
      (thunk f)
      (read-file f))))

(test-equal "substitute*: match variables bind the match and its groups"
  "prefix=/gnu/out version=[2.1]\n"
  (substituted "prefix=/usr version=2.1\n"
               (lambda (f)
                 (substitute* f
                   (("prefix=/usr") "prefix=/gnu/out")
                   (("version=([0-9]+)\\.([0-9]+)" all major minor)
                    (string-append "version=[" major "." minor "]"))))))

(test-equal "substitute*: `_' skips a binding; a group that did not take part is #f"
  "b:#f\n"
  (substituted "ab\n"
               (lambda (f)
                 (substitute* f
                   (("(a)(b)(c)?" _ _ b c)
                    (format #f "~a:~a" b c))))))

(test-equal "substitute*: every match in a line, clauses in order"
  "YYY-z\n"
  (substituted "xxx-y\n"
               (lambda (f)
                 (substitute* f
                   (("x") "y")
                   (("y$") "z")          ; $ is after the newline: no match
                   (("-y") "-z")
                   (("y") "Y")))))

(test-equal "substitute*: (.*)$ captures the newline"
  "PREFIX = [/usr/local\n]"
  (substituted "PREFIX = /usr/local\n"
               (lambda (f)
                 (substitute* f
                   (("^PREFIX = (.*)$" _ value)
                    (string-append "PREFIX = [" value "]"))))))

(test-equal "substitute*: a list of files; permissions are kept"
  '("B\n" "B\n" #o755)
  (with-temporary-directory dir
    (let ((a (write-file (string-append dir "/a") "A\n" #:mode #o755))
          (b (write-file (string-append dir "/b") "A\n")))
      (substitute* (list a b) (("A") "B"))
      (list (read-file a) (read-file b) (stat:perms (stat a))))))

(test-equal "substitute*: NUL bytes survive"
  "a\x00;c\n"
  (substituted "a\x00;b\n"
               (lambda (f) (substitute* f (("b") "c")))))

(test-assert "substitute*: a pattern that matches nothing warns on stderr"
  (let-values (((_ err)
                (capture-stderr
                 (lambda ()
                   (substituted "abc\n"
                                (lambda (f)
                                  (substitute* f
                                    (("abc") "x")
                                    (("nomatch") "y"))))))))
    (and (string-contains err "\"nomatch\" matched nothing")
         (not (string-contains err "\"abc\"")))))

(test-assert "substitute*: in strict mode an unmatched pattern is an error"
  (begin
    (setenv "STRATA_GUIX_STRICT" "1")
    (let ((result
           (guard (c ((substitute-error? c)
                      (equal? (substitute-error-patterns c) '("nomatch"))))
             (substituted "abc\n"
                          (lambda (f) (substitute* f (("nomatch") "y"))))
             #f)))
      (unsetenv "STRATA_GUIX_STRICT")
      result)))

(test-assert "substitute*: a pattern matching in one of several files is fine"
  (let-values (((_ err)
                (capture-stderr
                 (lambda ()
                   (with-temporary-directory dir
                     (let ((a (write-file (string-append dir "/a") "x\n"))
                           (b (write-file (string-append dir "/b") "y\n")))
                       (substitute* (list a b) (("x") "z"))))))))
    (string-null? err)))

;;; Shebangs.

(test-equal "patch-shebang: #!/bin/sh → the sh in PATH, args kept, mtime kept"
  '("#!DIR/sh -e\necho hi\n" 1234)
  (with-temporary-directory dir
    (write-file (string-append dir "/bin/sh") "" #:mode #o755)
    (let ((f (write-file (string-append dir "/script") "#!/bin/sh -e\necho hi\n")))
      (utime f 1234 1234)
      (patch-shebang f (list (string-append dir "/bin")))
      (list (regexp-substitute/global #f (string-append dir "/bin") (read-file f)
                                      'pre "DIR" 'post)
            (stat:mtime (stat f))))))

(test-equal "patch-shebang: #!/usr/bin/env python3 -u → #!/abs/python3 -u"
  "#!DIR/python3 -u\n"
  (with-temporary-directory dir
    (write-file (string-append dir "/bin/python3") "" #:mode #o755)
    (let ((f (write-file (string-append dir "/s") "#!/usr/bin/env python3 -u\n")))
      (patch-shebang f (list (string-append dir "/bin")))
      (regexp-substitute/global #f (string-append dir "/bin") (read-file f)
                                'pre "DIR" 'post))))

(test-assert "patch-shebang: a missing interpreter warns and leaves the file"
  (with-temporary-directory dir
    (let ((f (write-file (string-append dir "/s") "#!/opt/nothing/zork\n")))
      (let-values (((changed? err)
                    (capture-stderr (lambda () (patch-shebang f (list dir))))))
        (and (not changed?)
             (string-contains err "zork")
             (string=? "#!/opt/nothing/zork\n" (read-file f)))))))

(test-equal "patch-makefile-SHELL points SHELL at the shell in PATH"
  (string-append "SHELL = " (which "sh") "\nall:\n")
  (substituted "SHELL = /bin/sh\nall:\n" patch-makefile-SHELL))

(test-equal "patch-makefile-SHELL reads Latin-1 makefiles without error"
  (string-append "# caf\xe9;\nSHELL = " (which "sh") "\n")
  (with-fluids ((%default-port-encoding "ISO-8859-1"))
    (substituted "# caf\xe9;\nSHELL = /bin/sh\n"
                 (lambda (f)
                   (with-fluids ((%default-port-encoding "UTF-8"))
                     (patch-makefile-SHELL f))))))

;;; Wrappers.

(test-equal "wrap-program sets variables and runs the original"
  "PFX:old|SET /home/x\n"
  (with-temporary-directory dir
    (let ((prog (write-file (string-append dir "/prog")
                            "#!/bin/sh\necho \"$MYPATH|$MYVAR\"\n"
                            #:mode #o755)))
      (wrap-program prog
                    '("MYPATH" prefix ("PFX"))
                    '("MYVAR" " " = ("SET" "$HOME/x")))
      (and (file-exists? (string-append dir "/.prog-real"))
           (command-output "env" "MYPATH=old" "HOME=/home" prog)))))

(test-equal "wrap-program: suffix with a separator; exec -a the base name"
  '("old;S1;S2\n" #t)
  (with-temporary-directory dir
    (let ((prog (write-file (string-append dir "/prog")
                            "#!/bin/sh\necho \"$V\"\n" #:mode #o755)))
      (wrap-program prog '("V" ";" suffix ("S1" "S2")))
      (list (command-output "env" "V=old" prog)
            (->bool (string-contains (read-file prog)
                                     "exec -a \"${0##*/}\" \""))))))

(test-assert "wrap-program refuses to wrap a .X-real file"
  (with-temporary-directory dir
    (let ((prog (write-file (string-append dir "/.prog-real") "#!/bin/sh\n"
                            #:mode #o755)))
      (catch #t (lambda () (wrap-program prog '("V" = ("x"))) #f)
        (const #t)))))

(test-equal "wrap-program twice adds to the existing wrapper"
  "A|B\n"
  (with-temporary-directory dir
    (let ((prog (write-file (string-append dir "/prog")
                            "#!/bin/sh\necho \"$V1|$V2\"\n" #:mode #o755)))
      (wrap-program prog '("V1" = ("A")))
      (wrap-program prog '("V2" = ("B")))
      (command-output prog))))

(test-equal "wrap-script wraps without a shell"
  "X:old\n"
  (with-temporary-directory dir
    (let ((prog (write-file (string-append dir "/s")
                            "#!/bin/sh\necho \"$WV\"\n" #:mode #o755)))
      (wrap-script prog '("WV" prefix ("X")))
      (command-output "env" "WV=old" prog))))

;;; modify-phases

(define phases '((a . 1) (b . 2) (c . 3)))

(test-equal "modify-phases: delete removes every pair with the name"
  '((b . 2) (c . 3))
  (modify-phases (cons '(a . 0) phases) (delete 'a)))

(test-equal "modify-phases: replace keeps the position"
  '((a . 1) (b . x) (c . 3))
  (modify-phases phases (replace 'b 'x)))

(test-equal "modify-phases: two add-before keep their order"
  '(a x y b c)
  (map car (modify-phases phases
             (add-before 'b 'x 0)
             (add-before 'b 'y 0))))

(test-equal "modify-phases: the later add-after ends up closer to its anchor"
  '(a b y x c)
  (map car (modify-phases phases
             (add-after 'b 'x 0)
             (add-after 'b 'y 0))))

(test-equal "modify-phases: a missing anchor names it and the phase list"
  '(zork (a b c))
  (guard (c ((missing-phase-error? c)
             (list (missing-phase-error-name c) (missing-phase-error-phases c))))
    (modify-phases phases (add-after 'zork 'x 0))))

(test-assert "modify-phases: the error message is readable"
  (guard (c ((message-condition? c)
             (string-contains (condition-message c)
                              "no phase named `zork'; the phases are: a b c")))
    (modify-phases phases (replace 'zork 0))))

;;; Store references.

(test-equal "remove-store-references blanks the hash of store file names"
  (string-append "x " (%store-directory) "/" (make-string 32 #\e) "-foo y")
  (with-temporary-directory dir
    (let ((f (write-file (string-append dir "/f")
                         (string-append "x " (%store-directory) "/"
                                        "0123456789abcdfghijklmnpqrsvwxyz-foo y"))))
      (remove-store-references f)
      (read-file f))))

(test-equal "string-replace-substring"
  "a-b-c"
  (string-replace-substring "a::b::c" "::" "-"))

(test-equal "make-desktop-entry-file: Type first, then the fields in order"
  "[Desktop Entry]\nType=Application\nName=Foo\nName[fr]=Toto\nExec=/o/bin/foo %U\nTerminal=true\nNoDisplay=false\nCategories=Utility;Viewer\nStartupWMClass=a\\;b\n"
  (with-temporary-directory dir
    (let ((f (string-append dir "/share/applications/foo.desktop")))
      (make-desktop-entry-file f #:name '((#f "Foo") ("fr" "Toto"))
                               #:exec "/o/bin/foo %U"
                               #:terminal #t #:no-display #f
                               #:categories '("Utility" "Viewer")
                               #:startup-w-m-class "a;b")
      (read-file f))))

(test-equal "false-if-file-not-found turns ENOENT into #f only"
  '(#f #t)
  (list (false-if-file-not-found (stat "/nonexistent/file"))
        (->bool (false-if-file-not-found (stat "/")))))

(test-equal "cc-for-target"
  '("gcc" "aarch64-linux-gnu-gcc")
  (list (cc-for-target) (cc-for-target "aarch64-linux-gnu")))

;;; rename-file across overlay layers.

(test-equal "rename-file copies and deletes where the kernel says EXDEV"
  '(#f "x" #t "a")
  (with-temporary-directory dir
    (let ((old (string-append dir "/old"))
          (new (string-append dir "/new"))
          (exdev (lambda _
                   (throw 'system-error "rename" "~A"
                          (list (strerror EXDEV)) (list EXDEV)))))
      (mkdir old)
      (call-with-output-file (string-append old "/f")
        (lambda (p) (display "x" p)))
      (symlink "a" (string-append old "/l"))
      (rename-file old new #:primitive exdev)
      (list (file-exists? old)
            (call-with-input-file (string-append new "/f") get-string-all)
            (eq? 'symlink (stat:type (lstat (string-append new "/l"))))
            (readlink (string-append new "/l"))))))

(test-assert "rename-file of a file falls back too, and renames normally otherwise"
  (with-temporary-directory dir
    (let ((a (string-append dir "/a"))
          (b (string-append dir "/b"))
          (c (string-append dir "/c"))
          (exdev (lambda _
                   (throw 'system-error "rename" "~A"
                          (list (strerror EXDEV)) (list EXDEV)))))
      (call-with-output-file a (lambda (p) (display "1" p)))
      (rename-file a b #:primitive exdev)
      (rename-file b c)
      (and (not (file-exists? a)) (not (file-exists? b))
           (string=? "1" (call-with-input-file c get-string-all))))))

(test-assert "rename-file raises other errors as Guile's does"
  (with-temporary-directory dir
    (catch 'system-error
      (lambda ()
        (rename-file (string-append dir "/missing") (string-append dir "/x"))
        #f)
      (lambda args (eqv? ENOENT (system-error-errno args))))))

(finish-tests "utils")
