;;; Unit tests of (strata build gnu): gnu-build-system's standard phases,
;;; each called alone with the keyword arguments it reads, over small fake
;;; trees (fake configure scripts and Makefiles record what they were given).

(use-modules (srfi srfi-1)
             (srfi srfi-26)
             (srfi srfi-34)
             (srfi srfi-64)
             (ice-9 match)
             (ice-9 regex)
             (ice-9 popen)
             (ice-9 textual-ports)
             (rnrs bytevectors)
             (rnrs io ports)
             (strata build utils)
             ((strata build gnu) #:prefix gnu:)
             (harness))

(test-begin "gnu")

(test-equal "the 23 standard phases in Guix's order"
  '(separate-from-pid1 set-SOURCE-DATE-EPOCH set-paths install-locale unpack
    bootstrap patch-usr-bin-file patch-source-shebangs configure
    patch-generated-file-shebangs build check install patch-shebangs strip
    validate-runpath validate-documentation-location delete-info-dir-file
    patch-dot-desktop-files make-dynamic-linker-cache install-license-files
    reset-gzip-timestamps compress-documentation)
  (map car gnu:%standard-phases))

(test-equal "set-SOURCE-DATE-EPOCH sets 1"
  "1"
  (begin (gnu:set-SOURCE-DATE-EPOCH) (getenv "SOURCE_DATE_EPOCH")))

(test-equal "set-paths: inputs' bin first; search paths only from store inputs"
  '(#t #t #f)
  (with-temporary-directory dir
    (let ((store (string-append dir "/gnu/store/abc-zlib-1.3")))
      (mkdir-p (string-append store "/bin"))
      (mkdir-p (string-append store "/include"))
      (mkdir-p (string-append store "/lib"))
      (let ((old-path (getenv "PATH")))
        (gnu:set-paths #:inputs `(("zlib" . ,store) ("gcc" . "/usr")
                                  ("source" . "/src")))
        (let ((result
               (list (string-prefix? (string-append store "/bin:/usr/bin")
                                     (getenv "PATH"))
                     (equal? (getenv "C_INCLUDE_PATH")
                             (string-append store "/include"))
                     ;; no store input has share/aclocal: unset
                     (getenv "ACLOCAL_PATH"))))
          (setenv "PATH" old-path)
          (unsetenv "C_INCLUDE_PATH") (unsetenv "CPLUS_INCLUDE_PATH")
          (unsetenv "LIBRARY_PATH") (unsetenv "COMPILER_PATH")
          result)))))

(test-equal "set-paths: LIBRARY_PATH is the store inputs' lib dirs, then Debian's; gcc finds the ld-wrapper"
  '("STORE/lib" #t #t)
  (with-temporary-directory dir
    (let ((store (string-append dir "/gnu/store/abc-bzip2-1.0.8"))
          (old-path (getenv "PATH")))
      (mkdir-p (string-append store "/lib"))
      (gnu:set-paths #:inputs `(("bzip2" . ,store)))
      (let ((libs (search-path-as-string->list (getenv "LIBRARY_PATH")))
            (wrapper (string-append (getenv "COMPILER_PATH") "/ld")))
        (setenv "PATH" old-path)
        (unsetenv "LIBRARY_PATH") (unsetenv "COMPILER_PATH")
        (list (regexp-substitute/global #f store (car libs) 'pre "STORE" 'post)
              (equal? (cdr libs) (filter directory-exists?
                                         '("/usr/lib/x86_64-linux-gnu"
                                           "/usr/lib/aarch64-linux-gnu"
                                           "/usr/lib")))
              (access? wrapper X_OK))))))

(test-equal "set-paths: LIBRARY_PATH is set without store inputs (phases split it)"
  #t
  (let ((old-path (getenv "PATH")))
    (gnu:set-paths #:inputs '(("gcc" . "/usr")))
    (let ((v (getenv "LIBRARY_PATH")))
      (setenv "PATH" old-path)
      (unsetenv "LIBRARY_PATH") (unsetenv "COMPILER_PATH")
      (string? v))))

(define (ld-wrapper-run dir . args)
  "Run strata/bin/ld with ARGS over a store under DIR and a fake real linker
that prints its arguments, one per line."
  (let ((fake (string-append dir "/real-ld")))
    (call-with-output-file fake
      (lambda (p) (display "#!/bin/sh\nprintf '%s\\n' \"$@\"\n" p)))
    (chmod fake #o755)
    (let* ((port (apply open-pipe* OPEN_READ
                        "env" (string-append "STRATA_REAL_LD=" fake)
                        (string-append "NIX_STORE=" dir "/gnu/store")
                        (search-path %load-path "strata/bin/ld") args))
           (out (get-string-all port)))
      (close-pipe port)
      (string-replace-substring out (string-append dir "/gnu/store") "STORE"))))

(test-equal "ld-wrapper: -rpath for the store libraries a link uses, once each, after the arguments"
  '("-o" "prog" "-LSTORE/a/lib" "-LSTORE/b/lib" "-Lbuild" "main.o" "-la" "-lc"
    "STORE/c/lib/libc9.so.1" "-rpath" "STORE/a/lib" "-rpath" "STORE/c/lib")
  (with-temporary-directory dir
    (let ((store (string-append dir "/gnu/store")))
      (for-each (lambda (f) (mkdir-p (dirname f)) (call-with-output-file f (const #t)))
                (map (cut string-append store <>)
                     '("/a/lib/liba.so" "/b/lib/libunused.so" "/c/lib/libc9.so.1")))
      (string-split
            (string-trim-right
             (ld-wrapper-run dir "-o" "prog"
                             (string-append "-L" store "/a/lib")
                             (string-append "-L" store "/b/lib")
                             "-Lbuild" "main.o" "-la" "-lc"
                             (string-append store "/c/lib/libc9.so.1")))
            #\newline))))

(test-equal "ld-wrapper: static links, the output and the dynamic linker add nothing"
  "-static -L STORE/a/lib -la -o STORE/a/lib/liba.so -dynamic-linker STORE/a/lib/liba.so"
  (with-temporary-directory dir
    (let ((store (string-append dir "/gnu/store")))
      (mkdir-p (string-append store "/a/lib"))
      (call-with-output-file (string-append store "/a/lib/liba.so") (const #t))
      (string-join
       (string-split
        (string-trim-right
         (ld-wrapper-run dir "-static" "-L" (string-append store "/a/lib") "-la"
                         "-o" (string-append store "/a/lib/liba.so")
                         "-dynamic-linker" (string-append store "/a/lib/liba.so")))
        #\newline)
       " "))))

(test-equal "unpack: a tarball, then cd into its first directory"
  '("pkg-1.0" "hello\n")
  (with-temporary-directory dir
    (chdir dir)
    (write-file "pkg-1.0/README" "hello\n")
    (invoke "tar" "czf" "pkg-1.0.tar.gz" "pkg-1.0")
    (delete-file-recursively "pkg-1.0")
    (mkdir-p "build") (chdir "build")
    (gnu:unpack #:source (string-append dir "/pkg-1.0.tar.gz"))
    (list (basename (getcwd)) (read-file "README"))))

(test-equal "unpack: a directory source is copied to source/, writable"
  '("source" #o644)
  (with-temporary-directory dir
    (chdir dir)
    (write-file "checkout/README" "x" #:mode #o444)
    (mkdir-p "build") (chdir "build")
    (gnu:unpack #:source (string-append dir "/checkout"))
    (list (basename (getcwd)) (stat:perms (stat "README")))))

(test-equal "bootstrap: runs the first bootstrap script when there is no configure"
  "ran\n"
  (with-temporary-directory dir
    (chdir dir)
    (write-file "autogen.sh" "#!/bin/sh\necho ran > out\n" #:mode #o755)
    (gnu:bootstrap)
    (read-file "out")))

(test-equal "bootstrap: a script without the exec bit is run with sh, its mode kept"
  '("ran\n" #o644)
  (with-temporary-directory dir
    (chdir dir)
    (write-file "bootstrap" "echo ran > out\n" #:mode #o644)
    (gnu:bootstrap)
    (list (read-file "out") (stat:perms (stat "bootstrap")))))

(test-assert "bootstrap: nothing to do when configure exists"
  (with-temporary-directory dir
    (chdir dir)
    (write-file "configure" "" #:mode #o755)
    (write-file "autogen.sh" "#!/bin/sh\necho ran > out\n" #:mode #o755)
    (gnu:bootstrap)
    (not (file-exists? "out"))))

(define fake-configure
  ;; Records its arguments, one per line.
  "#!/bin/sh\nfor a in \"$@\"; do echo \"$a\"; done > \"${0%/*}/../args\"\n")

(test-equal "configure: the automatic flags in Guix's order, then #:configure-flags"
  (list "CONFIG_SHELL=BASH" "SHELL=BASH" "--prefix=/o/out"
        "--enable-fast-install" "--bindir=/o/bin/bin" "--libdir=/o/lib/lib"
        "--includedir=/o/lib/include" "--docdir=/o/doc/share/doc/pkg"
        "--build=x86_64-unknown-linux-gnu" "--enable-x")
  (with-temporary-directory dir
    (chdir dir)
    (mkdir-p "src")
    (write-file "src/configure" fake-configure #:mode #o755)
    (chdir "src")
    (parameterize ((%package-name+version "pkg-1.0"))
      (gnu:configure #:outputs '(("out" . "/o/out") ("bin" . "/o/bin")
                                 ("lib" . "/o/lib") ("doc" . "/o/doc"))
                     #:inputs '()
                     #:configure-flags '("--enable-x")))
    (map (lambda (l) (regexp-substitute/global #f "=/[^ ]*bash$" l
                                               'pre "=BASH" 'post))
         (string-split (string-trim-right (read-file "../args")) #\newline))))

(test-equal "configure: out-of-source builds in ../build and runs ../SRC/configure"
  '("build" #t)
  (with-temporary-directory dir
    (chdir dir)
    (write-file "pkg/configure"
                "#!/bin/sh\necho \"$0\" > where\n" #:mode #o755)
    (chdir "pkg")
    (gnu:configure #:outputs '(("out" . "/o")) #:inputs '()
                   #:out-of-source? #t)
    (list (basename (getcwd))
          (string=? "../pkg/configure\n" (read-file "where")))))

(define recording-makefile
  "all:\n\techo \"all $(FLAG)\" >> log\ncheck:\n\techo \"check $(FLAG)\" >> log\ninstall:\n\techo \"install $(FLAG)\" >> log\n")

(test-equal "build, check, install run make with #:make-flags and #:test-target"
  "all V\ncheck V\ninstall V\n"
  (with-temporary-directory dir
    (chdir dir)
    (write-file "Makefile" recording-makefile)
    (gnu:build #:make-flags '("FLAG=V"))
    (gnu:check #:make-flags '("FLAG=V") #:test-target "check")
    (gnu:install #:make-flags '("FLAG=V"))
    (read-file "log")))

(test-equal "check with #:tests? #f runs nothing"
  #f
  (with-temporary-directory dir
    (chdir dir)
    (write-file "Makefile" recording-makefile)
    (gnu:check #:tests? #f)
    (file-exists? "log")))

(test-assert "check: a failing suite shows test-suite.log and raises"
  (with-temporary-directory dir
    (chdir dir)
    (write-file "Makefile" "check:\n\techo 'FAIL: t1 detail' > test-suite.log; false\n")
    (let* ((raised #f)
           (out (call-with-output-string
                  (lambda (port)
                    (with-output-to-port port
                      (lambda ()
                        (guard (c ((invoke-error? c) (set! raised #t)))
                          (gnu:check))))))))
      (and raised (string-contains out "FAIL: t1 detail")))))

(test-equal "patch-shebangs: scripts in the outputs' bin use the inputs' interpreters"
  (string-append "#!" (which "sh") "\n")
  (with-temporary-directory dir
    (let ((out (string-append dir "/out")))
      (write-file (string-append out "/bin/tool") "#!/bin/sh\n" #:mode #o755)
      (gnu:patch-shebangs #:outputs `(("out" . ,out))
                          #:inputs `(("bash" . ,(dirname (dirname (which "sh"))))))
      (read-file (string-append out "/bin/tool")))))

(define (compile-c dir name code . flags)
  (let ((c (write-file (string-append dir "/" name ".c") code)))
    (apply invoke "gcc" "-o" (string-append dir "/" name) c flags)
    (string-append dir "/" name)))

(test-assert "strip: ELF files in bin lose their symbols; a debug output gets them"
  (with-temporary-directory dir
    (let* ((out (string-append dir "/out"))
           (debug (string-append dir "/debug"))
           (exe (begin (mkdir-p (string-append out "/bin"))
                       (compile-c (string-append out "/bin") "prog"
                                  "int main(void){return 0;}\n" "-g"))))
      (gnu:strip #:outputs `(("out" . ,out) ("debug" . ,debug)))
      (and (not (string-contains (command-output "file" exe) "not stripped"))
           (file-exists? (string-append debug "/lib/debug" exe ".debug"))
           (string-contains (command-output "readelf" "-S" exe)
                            ".gnu_debuglink")))))

(test-assert "strip with #:strip-binaries? #f leaves binaries alone"
  (with-temporary-directory dir
    (let* ((out (string-append dir "/out"))
           (exe (begin (mkdir-p (string-append out "/bin"))
                       (compile-c (string-append out "/bin") "prog"
                                  "int main(void){return 0;}\n" "-g"))))
      (gnu:strip #:outputs `(("out" . ,out)) #:strip-binaries? #f)
      (string-contains (command-output "file" exe) "not stripped"))))

(test-equal "validate-runpath: Debian's libraries pass; a library found nowhere fails"
  '(pass fail pass)
  (with-temporary-directory dir
    (let* ((out (string-append dir "/out"))
           (lib (string-append out "/lib")))
      (mkdir-p lib)
      (mkdir-p (string-append out "/bin"))
      (compile-c lib "libfoo.so" "int foo(void){return 1;}\n" "-shared" "-fPIC")
      (let ((try (lambda ()
                   (guard (c (#t 'fail))
                     (gnu:validate-runpath #:outputs `(("out" . ,out)))
                     'pass))))
        (compile-c (string-append out "/bin") "libc-only"
                   "int main(void){return 0;}\n")
        (let ((a (try)))
          (compile-c (string-append out "/bin") "needs-foo"
                     "int foo(void); int main(void){return foo();}\n"
                     (string-append "-L" lib) "-lfoo")
          (let ((b (try)))
            (compile-c (string-append out "/bin") "needs-foo"
                       "int foo(void); int main(void){return foo();}\n"
                       (string-append "-L" lib) "-lfoo"
                       (string-append "-Wl,-rpath=" lib))
            (list a b (try))))))))

(test-equal "validate-documentation-location moves man and info under share"
  '(#t #t #f)
  (with-temporary-directory dir
    (write-file (string-append dir "/man/man1/x.1") "")
    (write-file (string-append dir "/info/x.info") "")
    (gnu:validate-documentation-location #:outputs `(("out" . ,dir)))
    (list (file-exists? (string-append dir "/share/man/man1/x.1"))
          (file-exists? (string-append dir "/share/info/x.info"))
          (file-exists? (string-append dir "/man")))))

(test-equal "delete-info-dir-file removes share/info/dir only"
  '(#f #t)
  (with-temporary-directory dir
    (write-file (string-append dir "/share/info/dir") "")
    (write-file (string-append dir "/share/info/x.info") "")
    (gnu:delete-info-dir-file #:outputs `(("out" . ,dir)))
    (map (lambda (f) (file-exists? (string-append dir "/share/info/" f)))
         '("dir" "x.info"))))

(test-equal "patch-dot-desktop-files makes Exec= absolute when the program is in an output"
  "Exec=OUT/bin/app %U\nTryExec=missing\n"
  (with-temporary-directory dir
    (write-file (string-append dir "/bin/app") "" #:mode #o755)
    (let ((f (write-file (string-append dir "/share/applications/a.desktop")
                         "Exec=app %U\nTryExec=missing\n")))
      (capture-stderr
       (lambda () (gnu:patch-dot-desktop-files #:outputs `(("out" . ,dir)))))
      (regexp-substitute/global #f dir (read-file f) 'pre "OUT" 'post))))

(test-equal "install-license-files copies COPYING* into every output's share/doc/NAME-VERSION"
  '(#t #t #f)
  (with-temporary-directory dir
    (chdir dir)
    (write-file "src/COPYING" "GPL")
    (write-file "src/README" "")
    (chdir "src")
    (parameterize ((%package-name+version "pkg-1.0"))
      (gnu:install-license-files #:outputs `(("out" . ,(string-append dir "/o"))
                                             ("doc" . ,(string-append dir "/d")))))
    (list (file-exists? (string-append dir "/o/share/doc/pkg-1.0/COPYING"))
          (file-exists? (string-append dir "/d/share/doc/pkg-1.0/COPYING"))
          (file-exists? (string-append dir "/o/share/doc/pkg-1.0/README")))))

(test-equal "install-license-files: a LICENSES directory's contents are copied; out of source, the source is the sibling"
  '(#t #t)
  (with-temporary-directory dir
    (chdir dir)
    (write-file "pkg-1.0/LICENSES/MIT.txt" "MIT")
    (write-file "pkg-1.0/COPYING" "GPL")
    (write-file "other/COPYING" "no")
    (mkdir-p "build")
    (chdir "build")
    (parameterize ((%package-name+version "pkg-1.0"))
      (gnu:install-license-files #:outputs `(("out" . ,(string-append dir "/o")))
                                 #:out-of-source? #t))
    (list (file-exists? (string-append dir "/o/share/doc/pkg-1.0/MIT.txt"))
          (file-exists? (string-append dir "/o/share/doc/pkg-1.0/COPYING")))))

(test-equal "reset-gzip-timestamps zeroes the gzip header's mtime"
  #vu8(0 0 0 0)
  (with-temporary-directory dir
    (let ((f (write-file (string-append dir "/share/x.txt") "data")))
      (utime f 1700000000 1700000000)
      (invoke "gzip" f)               ; keeps the name and mtime
      (gnu:reset-gzip-timestamps #:outputs `(("out" . ,dir)))
      (let ((bv (call-with-input-file (string-append f ".gz")
                  get-bytevector-all #:binary #t)))
        (u8-list->bytevector (list (bytevector-u8-ref bv 4) (bytevector-u8-ref bv 5)
                                   (bytevector-u8-ref bv 6) (bytevector-u8-ref bv 7)))))))

(test-equal "compress-documentation: man pages by the odd [:alpha:] rule, links follow, info gzipped"
  '("ls.1.zst" "open.3p.zst" "perl.3pm" "ssl.1ssl" "xx.1.zst -> ls.1.zst"
    "x.info.gz")
  (with-temporary-directory dir
    (let ((man (string-append dir "/share/man/man1")))
      (for-each (lambda (n) (write-file (string-append man "/" n) ".TH X\n"))
                '("ls.1" "open.3p" "perl.3pm" "ssl.1ssl"))
      (symlink "ls.1" (string-append man "/xx.1"))
      (write-file (string-append dir "/share/info/x.info") "info")
      (gnu:compress-documentation #:outputs `(("out" . ,dir))
                                  #:documentation-compressor "zstd")
      (append
       (map (lambda (f)
              (if (symbolic-link? f)
                  (string-append (basename f) " -> " (readlink f))
                  (basename f)))
            (find-files man))
       (map basename (find-files (string-append dir "/share/info")))))))

(finish-tests "gnu")
