;;; strata — the standard phases of gnu-build-system.
;;;
;;; This module owns `%standard-phases' of gnu-build-system, in Guix's order
;;; (reference §1.2), each phase a procedure taking Guix's keyword arguments,
;;; and `%default-arguments', the keywords the build system accepts with
;;; their defaults (reference §1.1).  The other build systems start from this
;;; list.  Where a phase cannot hold on a Debian build base (RUNPATH
;;; validation, the dynamic linker cache, search paths pointing at /usr) it
;;; is adapted; ../../ADAPTATIONS.md says how and why.

(define-module (strata build gnu)
  #:use-module (strata build utils)
  #:use-module (srfi srfi-1)
  #:use-module (srfi srfi-11)
  #:use-module (srfi srfi-26)
  #:use-module (srfi srfi-34)
  #:use-module (srfi srfi-35)
  #:use-module (ice-9 match)
  #:use-module (ice-9 regex)
  #:use-module (ice-9 ftw)
  #:use-module (ice-9 format)
  #:use-module (ice-9 threads)
  #:use-module (ice-9 popen)
  #:use-module (ice-9 rdelim)
  #:use-module (rnrs io ports)
  #:use-module (rnrs bytevectors)
  #:export (%standard-phases
            %default-arguments
            %default-search-paths
            %license-file-regexp
            gnu-build

            separate-from-pid1
            set-SOURCE-DATE-EPOCH
            set-paths
            install-locale
            unpack
            bootstrap
            patch-usr-bin-file
            patch-source-shebangs
            configure
            patch-generated-file-shebangs
            build
            check
            install
            patch-shebangs
            strip
            validate-runpath
            validate-documentation-location
            delete-info-dir-file
            patch-dot-desktop-files
            make-dynamic-linker-cache
            install-license-files
            reset-gzip-timestamps
            compress-documentation

            output-name+version
            outputs->directories
            elf-needed+runpath
            debian-library-directories))

(define %license-file-regexp
  "^(COPYING.*|LICEN[CS]E.*|[Ll]icen[cs]e.*|Copy[Rr]ight(\\.(txt|md))?)$")

;; Search paths the implicit inputs of gnu-build-system declare (gcc, the
;; linker, pkg-config, autoconf's aclocal), in the sexp form Guix gives
;; #:search-paths: (VARIABLE (FILE…) SEPARATOR TYPE PATTERN).  Used when the
;; package passes none.
(define %default-search-paths
  '(("C_INCLUDE_PATH" ("include") ":" directory #f)
    ("CPLUS_INCLUDE_PATH" ("include/c++" "include") ":" directory #f)
    ("LIBRARY_PATH" ("lib" "lib64") ":" directory #f)
    ("PKG_CONFIG_PATH" ("lib/pkgconfig" "share/pkgconfig") ":" directory #f)
    ("ACLOCAL_PATH" ("share/aclocal") ":" directory #f)))

(define %default-arguments
  ;; keyword → default, for every keyword gnu-build-system accepts.
  `((#:source . #f)
    (#:system . "x86_64-linux")
    (#:build . #f)                      ; computed from #:system
    (#:target . #f)
    (#:outputs . ())
    (#:inputs . ())
    (#:native-inputs . #f)
    (#:search-paths . #f)               ; #f = %default-search-paths
    (#:native-search-paths . #f)
    (#:phases . #f)
    (#:locale . "C.UTF-8")
    (#:locale-category . ,LC_ALL)
    (#:separate-from-pid1? . #t)
    (#:bootstrap-scripts . ("bootstrap" "bootstrap.sh" "autogen.sh"))
    (#:configure-flags . ())
    (#:make-flags . ())
    (#:out-of-source? . #f)
    (#:tests? . #t)
    (#:test-target . "check")
    (#:test-suite-log-regexp . "^(test-?suite|LastTestFailed)\\.log$")
    (#:parallel-build? . #t)
    (#:parallel-tests? . #t)
    (#:patch-shebangs? . #t)
    (#:patch-/usr/bin/file? . #t)
    (#:license-file-regexp . ,%license-file-regexp)
    (#:strip-binaries? . #t)
    (#:strip-flags . ("--strip-unneeded" "--enable-deterministic-archives"))
    (#:strip-directories . ("lib" "lib64" "libexec" "bin" "sbin"))
    (#:validate-runpath? . #t)
    (#:elf-directories . ("lib" "lib64" "libexec" "bin" "sbin"))
    (#:make-dynamic-linker-cache? . #t)
    (#:compress-documentation? . #t)
    (#:documentation-compressor . #f)   ; #f = zstd when in PATH, else gzip
    (#:info-compressor . "gzip")
    ;; Accepted for the host side's benefit; they mean nothing build-side.
    (#:guile . #f)
    (#:modules . #f)
    (#:imported-modules . #f)
    (#:substitutable? . #t)
    (#:allowed-references . #f)
    (#:disallowed-references . #f)
    (#:implicit-inputs? . #t)
    (#:implicit-cross-inputs? . #t)))

;;;
;;; Helpers shared by the phases.
;;;

(define (outputs->directories outputs)
  (map cdr (or outputs '())))

(define (non-debug-outputs outputs)
  (filter (match-lambda ((name . _) (not (string=? name "debug"))))
          (or outputs '())))

(define (output-name+version outputs)
  "NAME-VERSION of the package, from the `out' output's store name (hash
stripped), as Guix derives it; the driver's `%package-name+version' (from
phase.scm) wins, since strata's output paths need not follow Guix's."
  (or (%package-name+version)
      (let ((out (or (assoc-ref outputs "out")
                     (match outputs (((_ . dir) . _) dir) (_ #f)))))
        (and out (strip-store-file-name out)))))

(define (log-phase fmt . args)
  (apply format #t fmt args)
  (newline)
  (force-output))

(define (inputs-directories inputs)
  (delete-duplicates
   (filter-map (match-lambda
                 (("source" . _) #f)
                 ((_ . (? string? dir)) dir)
                 ((_ (? string? dir) . _) dir)
                 (_ #f))
               (or inputs '()))))

(define (debian-directory? dir)
  "Debian-provided inputs are mapped to /usr (or /)."
  (or (string=? dir "/usr") (string=? dir "/")
      (string-prefix? "/usr/" dir)))

;;;
;;; The phases.
;;;

(define* (separate-from-pid1 #:key (separate-from-pid1? #t) #:allow-other-keys)
  ;; Guix forks so that an init reaps zombies when the builder is PID 1.
  ;; Here each phase is its own short-lived process started by the
  ;; container runtime, so there is nothing to separate: log like Guix does
  ;; when it is not PID 1.
  (if (and separate-from-pid1? (= 1 (getpid)))
      (log-phase "running as PID 1; strata phases are short-lived processes, \
not forking")
      (log-phase "not running as PID 1 (PID: ~a)" (getpid))))

(define* (set-SOURCE-DATE-EPOCH . _)
  (setenv "SOURCE_DATE_EPOCH" "1"))

(define* (set-paths #:key target inputs native-inputs
                    search-paths native-search-paths
                    #:allow-other-keys)
  ;; PATH: bin and sbin of every input but the source, then what the
  ;; container had (Debian's tools live there whether or not the package
  ;; names them; see ADAPTATIONS.md).  Search-path variables are set only
  ;; from store inputs: a Debian input is /usr, which the toolchain already
  ;; searches, and CPLUS_INCLUDE_PATH=/usr/include breaks #include_next.
  (define input-dirs
    (inputs-directories (if target native-inputs
                            (append (or native-inputs '()) (or inputs '())))))
  (define store-dirs (remove debian-directory? input-dirs))
  (setenv "GUIX_LD_WRAPPER_ALLOW_IMPURITIES" "no")
  (let* ((bins (search-path-as-list '("bin" "sbin") input-dirs))
         (old (search-path-as-string->list
               (or (getenv "PATH") "")))
         (path (delete-duplicates (append bins old))))
    (setenv "PATH" (list->search-path-as-string path ":"))
    (log-phase "environment variable `PATH' set to `~a'" (getenv "PATH")))
  (for-each
   (match-lambda
     ((variable files separator type pattern)
      (set-path-environment-variable variable files store-dirs
                                     #:separator separator
                                     #:type type
                                     #:pattern pattern))
     ((variable files)
      (set-path-environment-variable variable files store-dirs)))
   (or search-paths %default-search-paths))
  ;; Guix's LIBRARY_PATH always holds the C library's directory (glibc is
  ;; an implicit input), and phases edit it (bzip2's hide-input-bzip2
  ;; splits it); Debian's C library is in the toolchain's own directories,
  ;; which close the list, so it is always set and names no new directory.
  (let* ((store-libs (search-path-as-string->list
                      (or (getenv "LIBRARY_PATH") "")))
         (debian (filter directory-exists?
                         '("/usr/lib/x86_64-linux-gnu" "/usr/lib/aarch64-linux-gnu"
                           "/usr/lib"))))
    (setenv "LIBRARY_PATH"
            (list->search-path-as-string
             (delete-duplicates (append store-libs debian)) ":"))
    (log-phase "environment variable `LIBRARY_PATH' set to `~a'"
               (getenv "LIBRARY_PATH")))
  ;; Guix's ld-wrapper: gcc runs strata's (strata/bin/ld) before the real
  ;; linker, which adds a RUNPATH entry for each store library a link uses.
  (let ((wrapper (search-path %load-path "strata/bin/ld")))
    (when wrapper
      (setenv "COMPILER_PATH" (dirname wrapper))
      (log-phase "environment variable `COMPILER_PATH' set to `~a' (ld-wrapper)"
                 (getenv "COMPILER_PATH")))))

(define* (install-locale #:key (locale "C.UTF-8") (locale-category LC_ALL)
                         #:allow-other-keys)
  (catch 'system-error
    (lambda ()
      (setlocale locale-category locale)
      (setenv "LC_ALL" locale)
      (log-phase "using '~a' locale for category \"LC_ALL\"" locale))
    (lambda args
      (warning "failed to install '~a' locale: ~a" locale
               (strerror (system-error-errno args))))))

(define %tarball-rx (make-regexp "\\.(tar(\\..*)?|tgz|tbz)$"))

(define* (unpack #:key source #:allow-other-keys)
  (unless (and source (file-exists? source))
    (error "unpack: source not found" source))
  (if (directory-exists? source)
      (begin
        (mkdir-p "source")
        (chdir "source")
        (copy-recursively source "." #:keep-mtime? #t #:log #f)
        (for-each make-file-writable
                  (find-files "." #:directories? #t)))
      (begin
        (cond
         ((string-suffix? ".zip" source)
          (invoke "unzip" source))
         ((regexp-exec %tarball-rx source)
          (invoke "tar" "xvf" source))
         (else
          (let* ((name (basename source))
                 (name* (if (string-index name #\-)
                            ;; Store file names carry a hash prefix.
                            (if (store-file-name? source)
                                (strip-store-file-name source)
                                name)
                            name)))
            (copy-file source name*)
            (make-file-writable name*)
            (match (decompressor-for name*)
              (#f #t)
              (tool (invoke tool "--decompress" name*))))))
        (match (filter directory-exists? (directory-names "."))
          (() #t)
          ((first . _) (chdir first))))))

(define (directory-names dir)
  (or (scandir dir (lambda (n) (not (member n '("." ".."))))) '()))

(define (decompressor-for name)
  (cond ((or (string-suffix? ".gz" name) (string-suffix? ".Z" name)) "gzip")
        ((string-suffix? ".bz2" name) "bzip2")
        ((string-suffix? ".lz" name) "lzip")
        ((string-suffix? ".xz" name) "xz")
        ((string-suffix? ".zst" name) "zstd")
        (else #f)))

(define* (bootstrap #:key (bootstrap-scripts '("bootstrap" "bootstrap.sh"
                                                "autogen.sh"))
                    #:allow-other-keys)
  (define (script? f) (and (file-exists? f) (not (directory-exists? f))))
  (if (script? "configure")
      (log-phase "GNU build system bootstrapping not needed")
      (let ((script (find script? bootstrap-scripts)))
        ;; configure.ac of GNU packages often runs this one.
        (when (script? "build-aux/git-version-gen")
          (patch-shebang "build-aux/git-version-gen"))
        (cond
         (script
          (log-phase "running './~a'" script)
          (setenv "NOCONFIGURE" "true")
          (if (executable-file? script)
              (begin
                (patch-shebang script)
                (invoke (string-append "./" script)))
              (invoke "sh" script))
          (unsetenv "NOCONFIGURE"))
         ((or (file-exists? "configure.ac") (file-exists? "configure.in"))
          (invoke "autoreconf" "-vif"))
         (else
          (log-phase "no 'configure.ac' or anything like that, doing nothing"))))))

(define* (patch-usr-bin-file #:key (patch-/usr/bin/file? #t)
                             #:allow-other-keys)
  (when patch-/usr/bin/file?
    (let ((file (which "file")))
      (cond
       ((not file)
        (warning "patch-usr-bin-file: `file' not found in PATH"))
       ((string=? file "/usr/bin/file")
        ;; Debian's `file' is /usr/bin/file: the rewrite would be an
        ;; identity that only touches mtimes.
        (log-phase "`file' is /usr/bin/file; configure scripts left as they are"))
       (else
        (for-each
         (cut patch-/usr/bin/file <> #:file-command file)
         (find-files "." (lambda (f st)
                           (and (string=? (basename f) "configure")
                                (executable-file? f))))))))))

(define* (patch-source-shebangs . _)
  (for-each patch-shebang
            (find-files "." (lambda (f st) (eq? 'regular (stat:type st))))))

(define* (configure #:key build target native-inputs inputs outputs
                    (configure-flags '()) out-of-source?
                    (system "x86_64-linux")
                    #:allow-other-keys)
  (define (output dir) (assoc-ref outputs dir))
  (define bash
    (or (false-if-exception
         (search-input-file (or native-inputs inputs) "/bin/bash"))
        ;; The Debian base has bash even when no input names it.
        (which "bash")
        "/bin/sh"))
  (define abs-srcdir (getcwd))
  (define srcdir
    (if out-of-source?
        (string-append "../" (basename abs-srcdir))
        "."))
  (define out (output "out"))
  (define flags
    `(,@(if target '("CC_FOR_BUILD=gcc") '())
      ,(string-append "CONFIG_SHELL=" bash)
      ,(string-append "SHELL=" bash)
      ,(string-append "--prefix=" out)
      "--enable-fast-install"
      ,@(if (output "bin")
            (list (string-append "--bindir=" (output "bin") "/bin"))
            '())
      ,@(if (output "lib")
            (cons (string-append "--libdir=" (output "lib") "/lib")
                  (if (output "include")
                      '()
                      (list (string-append "--includedir=" (output "lib")
                                           "/include"))))
            '())
      ,@(if (output "include")
            (list (string-append "--includedir=" (output "include")
                                 "/include"))
            '())
      ,@(if (output "doc")
            (let-values (((name version)
                          (package-name->name+version
                           (output-name+version outputs))))
              (list (string-append "--docdir=" (output "doc")
                                   "/share/doc/" name)))
            '())
      ,(string-append "--build=" (or build (nix-system->gnu-triplet system)))
      ,@(if target (list (string-append "--host=" target)) '())
      ,@configure-flags))
  (log-phase "source directory: ~s (relative from build: ~s)" abs-srcdir srcdir)
  (when out-of-source?
    (mkdir-p "../build")
    (chdir "../build"))
  (log-phase "build directory: ~s" (getcwd))
  (format #t "configure flags: ~s~%" flags)
  (apply invoke bash (string-append srcdir "/configure") flags))

(define* (patch-generated-file-shebangs . _)
  (for-each patch-shebang
            (find-files "." (lambda (f st)
                              (and (eq? 'regular (stat:type st))
                                   (not (zero? (logand (stat:perms st)
                                                       #o100)))))))
  (for-each patch-makefile-SHELL
            (find-files "." "^(GNU)?[Mm]akefile$")))

(define (make-parallel-flags parallel?)
  (if parallel?
      (list "-j" (number->string (parallel-job-count))
            (string-append "--max-load="
                           (number->string (total-processor-count))))
      '()))

(define* (build #:key (make-flags '()) (parallel-build? #t)
                #:allow-other-keys)
  (apply invoke "make"
         (append (make-parallel-flags parallel-build?) make-flags)))

(define* (check #:key target (make-flags '()) (tests? (not target))
                (test-target "check") (parallel-tests? #t)
                (test-suite-log-regexp "^(test-?suite|LastTestFailed)\\.log$")
                #:allow-other-keys)
  (if tests?
      (guard (c ((invoke-error? c)
                 (for-each (lambda (log)
                             (format #t "~%--- ~a ---~%" log)
                             (call-with-input-file log
                               (lambda (in) (dump-port in (current-output-port)))
                               #:binary #t))
                           (find-files "." test-suite-log-regexp))
                 (raise c)))
        (apply invoke "make" test-target
               (append (make-parallel-flags parallel-tests?) make-flags)))
      (log-phase "test suite not run")))

(define* (install #:key (make-flags '()) #:allow-other-keys)
  (apply invoke "make" "install" make-flags))

(define* (patch-shebangs #:key inputs outputs (patch-shebangs? #t)
                         #:allow-other-keys)
  (define (bin-dirs dir)
    (map (cut string-append dir "/" <>) '("bin" "sbin" "libexec")))
  ;; Guix looks in the outputs, then the inputs (bash & co are implicit
  ;; inputs there).  The host side need not list Debian's implicit inputs,
  ;; so the container's PATH comes last (ADAPTATIONS.md).
  (define path
    (delete-duplicates
     (append (append-map bin-dirs (outputs->directories outputs))
             (append-map bin-dirs (inputs-directories inputs))
             (search-path-as-string->list (getenv "PATH")))))
  (when patch-shebangs?
    (for-each
     (lambda (dir)
       (when (directory-exists? dir)
         (for-each (lambda (f)
                     (when (eq? 'regular (stat:type (lstat f)))
                       (patch-shebang f path)))
                   (map (cut string-append dir "/" <>)
                        (directory-names dir)))))
     (append-map bin-dirs (outputs->directories outputs)))))

(define* (strip #:key target outputs (strip-binaries? #t)
                (strip-flags '("--strip-unneeded"
                               "--enable-deterministic-archives"))
                (strip-directories '("lib" "lib64" "libexec" "bin" "sbin"))
                #:allow-other-keys)
  (define strip-command
    (or (which (if target (string-append target "-strip") "strip")) "strip"))
  (define objcopy-command
    (or (which (if target (string-append target "-objcopy") "objcopy"))
        "objcopy"))
  (define debug-output (assoc-ref outputs "debug"))
  (define (debug-file file)
    (string-append debug-output "/lib/debug/" (string-trim file #\/) ".debug"))
  (define (try what thunk)
    (guard (c ((invoke-error? c)
               (warning "~a: ~a" what
                        (call-with-output-string
                          (cut report-invoke-error c <>)))
               #f))
      (thunk)
      #t))
  (define (strip-file file)
    (make-file-writable file)
    (when (and debug-output (elf-file? file))
      (let ((dbg (debug-file file)))
        (mkdir-p (dirname dbg))
        (copy-file file dbg)
        (when (try dbg (lambda ()
                         (invoke objcopy-command "--only-keep-debug" file dbg)))
          (chmod dbg #o400))))
    (when (try file (lambda () (apply invoke strip-command
                                      (append strip-flags (list file)))))
      (when (and debug-output (elf-file? file)
                 (file-exists? (debug-file file)))
        (try file (lambda ()
                    (invoke objcopy-command
                            (string-append "--add-gnu-debuglink="
                                           (debug-file file))
                            file))))))
  (if (not strip-binaries?)
      (log-phase "not stripping (#:strip-binaries? #f)")
      (for-each
       (match-lambda
         ((name . dir)
          (for-each
           (lambda (sub)
             (let ((d (string-append dir "/" sub)))
               (when (directory-exists? d)
                 (for-each strip-file
                           (find-files d (lambda (f st)
                                           (and (eq? 'regular (stat:type st))
                                                (or (elf-file? f)
                                                    (ar-file? f)))))))))
           strip-directories)))
       (non-debug-outputs outputs))))

;;; RUNPATH validation, adapted to Debian.

(define (elf-needed+runpath file)
  "FILE's DT_NEEDED entries and RUNPATH (or RPATH) directories, read with
`readelf -d'.  Returns (values NEEDED RUNPATH), or (values #f #f) when FILE
has no dynamic section."
  (let* ((port (open-pipe* OPEN_READ "readelf" "-d" "-W" file))
         (text (get-string-all port)))
    (close-pipe port)
    (if (string-contains text "There is no dynamic section")
        (values #f #f)
        (let ((needed (map (cut match:substring <> 1)
                           (list-matches "\\(NEEDED\\)[^[]*\\[([^]]*)\\]" text)))
              (runpath (append-map
                        (lambda (m) (string-split (match:substring m 2) #\:))
                        (list-matches "\\((RUNPATH|RPATH)\\)[^[]*\\[([^]]*)\\]"
                                      text))))
          (values needed runpath)))))

(define (debian-library-directories)
  "The directories Debian's dynamic linker searches without a RUNPATH: the
multiarch and plain lib dirs and those of /etc/ld.so.conf(.d)."
  (define (conf-dirs file)
    (if (file-exists? file)
        (call-with-input-file file
          (lambda (p)
            (let loop ((acc '()))
              (let ((line (read-line p)))
                (cond
                 ((eof-object? line) (reverse acc))
                 ((string-prefix? "include " line)
                  (loop (append-reverse
                         (append-map conf-dirs
                                     (let ((pattern (string-trim-both
                                                     (substring line 8))))
                                       (if (string-suffix? "/*.conf" pattern)
                                           (let ((d (dirname pattern)))
                                             (map (cut string-append d "/" <>)
                                                  (sort (or (scandir d (cut string-suffix? ".conf" <>)) '())
                                                        string<?)))
                                           (list pattern))))
                         acc)))
                 ((string-prefix? "/" (string-trim line))
                  (loop (cons (string-trim-both line) acc)))
                 (else (loop acc)))))))
        '()))
  (delete-duplicates
   (append (conf-dirs "/etc/ld.so.conf")
           '("/lib/x86_64-linux-gnu" "/usr/lib/x86_64-linux-gnu"
             "/lib/aarch64-linux-gnu" "/usr/lib/aarch64-linux-gnu"
             "/lib64" "/usr/lib64" "/lib" "/usr/lib"))))

(define* (validate-runpath #:key (validate-runpath? #t)
                           (elf-directories '("lib" "lib64" "libexec"
                                              "bin" "sbin"))
                           outputs #:allow-other-keys)
  ;; Guix: every DT_NEEDED must be found in the file's RUNPATH.  On Debian
  ;; the libraries of Debian inputs are found through ld.so.conf, not a
  ;; RUNPATH, so those directories count as well; a library found nowhere
  ;; still fails the build.
  (define system-dirs (debian-library-directories))
  (define (origin-expand dir file)
    (string-replace-substring
     (string-replace-substring dir "${ORIGIN}" (dirname file))
     "$ORIGIN" (dirname file)))
  (define (problems file)
    (let-values (((needed runpath) (elf-needed+runpath file)))
      (if (not needed)
          '()
          (let ((dirs (append (map (cut origin-expand <> file) runpath)
                              system-dirs)))
            (filter-map
             (lambda (lib)
               (and (not (string-index lib #\/))
                    (not (any (lambda (d)
                                (file-exists? (string-append d "/" lib)))
                              dirs))
                    (format #f "~a: error: depends on '~a', which cannot be \
found in RUNPATH ~s or Debian's library directories" file lib runpath)))
             needed)))))
  (cond
   ((not validate-runpath?)
    (log-phase "skipping RUNPATH validation"))
   ((not (which "readelf"))
    (warning "validate-runpath: no readelf (binutils) in PATH; skipping"))
   (else
      (let* ((files (append-map
                     (match-lambda
                       ((_ . dir)
                        (append-map
                         (lambda (sub)
                           (let ((d (string-append dir "/" sub)))
                             (if (directory-exists? d)
                                 (find-files d (lambda (f st)
                                                 (and (eq? 'regular
                                                           (stat:type st))
                                                      (elf-file? f))))
                                 '())))
                         elf-directories)))
                     (non-debug-outputs outputs)))
             (errors (append-map problems files)))
        (log-phase "validating RUNPATH of ~a binaries..." (length files))
        (for-each (cut format (current-error-port) "~a~%" <>) errors)
        (unless (null? errors)
          (error "RUNPATH validation failed"))))))

(define* (validate-documentation-location #:key outputs #:allow-other-keys)
  (define (move dir from to)
    (let ((src (string-append dir "/" from))
          (dst (string-append dir "/" to)))
      (when (directory-exists? src)
        (log-phase "moving ~a to ~a" src dst)
        (mkdir-p (dirname dst))
        (if (file-exists? dst)
            (begin
              (copy-recursively src dst #:log #f)
              (delete-file-recursively src))
            (rename-file src dst)))))
  (for-each (match-lambda
              ((_ . dir)
               (move dir "man" "share/man")
               (move dir "info" "share/info")))
            (or outputs '())))

(define* (delete-info-dir-file #:key outputs #:allow-other-keys)
  (for-each (match-lambda
              ((_ . dir)
               (let ((f (string-append dir "/share/info/dir")))
                 (when (file-exists? f) (delete-file f)))))
            (or outputs '())))

(define* (patch-dot-desktop-files #:key outputs #:allow-other-keys)
  (define bins
    (append-map (lambda (dir)
                  (list (string-append dir "/bin") (string-append dir "/sbin")))
                (outputs->directories outputs)))
  (define (fix key)
    (cons (string-append "^" key "=([^/[:blank:]\r\n]+)(.*)$")
          (lambda (m)
            (let* ((prog (match:substring m 1))
                   (found (which prog bins)))
              (if found
                  (string-append key "=" found (match:substring m 2))
                  (begin
                    (warning "~a: `~a' not found in the outputs" key prog)
                    (match:substring m 0)))))))
  (for-each
   (lambda (dir)
     (let ((apps (string-append dir "/share/applications")))
       (when (directory-exists? apps)
         (for-each (lambda (f)
                     (substitute f (list (fix "Exec") (fix "TryExec"))
                                 #:warn-unmatched? #f))
                   (find-files apps "\\.desktop$")))))
   (outputs->directories outputs)))

(define* (make-dynamic-linker-cache #:key (make-dynamic-linker-cache? #t)
                                    #:allow-other-keys)
  ;; Guix's glibc reads $out/etc/ld.so.cache next to a program; Debian's
  ;; ld.so reads only /etc/ld.so.cache, so writing one into the output would
  ;; add a file nothing reads.  Nothing is written (ADAPTATIONS.md).
  (log-phase "make-dynamic-linker-cache: ~a"
             (if make-dynamic-linker-cache?
                 "not needed on a Debian base (ld.so uses /etc/ld.so.cache); \
nothing written"
                 "disabled")))

(define (source-directory out-of-source? name)
  "The unpacked source directory: the cwd, or for out-of-source builds the
sibling directory of the build directory — the only one, or else the first
whose name starts with the package NAME; #f if none."
  (if out-of-source?
      (let* ((here (basename (getcwd)))
             (siblings (filter (lambda (n)
                                 (and (not (member n (list "build" here)))
                                      (directory-exists?
                                       (string-append "../" n))))
                               (directory-names ".."))))
        (match siblings
          (() #f)
          ((only) (string-append "../" only))
          (several (and=> (find (cut string-prefix? name <>) several)
                          (cut string-append "../" <>)))))
      "."))

(define* (install-license-files #:key outputs
                                (license-file-regexp %license-file-regexp)
                                out-of-source?
                                #:allow-other-keys)
  ;; Files at the top of the source whose names match go to
  ;; share/doc/NAME-VERSION of every output (a matching directory, e.g.
  ;; LICENSES/, contributes its contents).
  (let* ((full-name (output-name+version outputs))
         (src (source-directory out-of-source?
                                (call-with-values
                                    (lambda ()
                                      (package-name->name+version full-name))
                                  (lambda (name version) name))))
         (rx (make-regexp license-file-regexp))
         (files (if src
                    (filter (cut regexp-exec rx <>) (directory-names src))
                    '())))
    (if (null? files)
        (warning "no license files found in ~a"
                 (if src (canonicalize-path src) "the source directory"))
        (for-each
         (match-lambda
           ((_ . dir)
            (let ((docdir (string-append dir "/share/doc/" full-name)))
              (for-each (lambda (f)
                          (let ((file (string-append src "/" f)))
                            ;; A directory's contents land in docdir
                            ;; itself, as Guix copies them.
                            (if (directory-exists? file)
                                (copy-recursively file docdir #:log #f)
                                (install-file file docdir))))
                        files))))
         (or outputs '())))))

(define* (reset-gzip-timestamps #:key outputs #:allow-other-keys)
  (define (reset file)
    (let ((mode (stat:perms (stat file))))
      (make-file-writable file)
      (let ((port (open-file file "r+b")))
        (seek port 4 SEEK_SET)
        (put-bytevector port (make-bytevector 4 0))
        (close-port port))
      (chmod file mode)))
  (for-each (lambda (dir)
              (for-each reset
                        (find-files dir
                                    (lambda (f st)
                                      (and (eq? 'regular (stat:type st))
                                           (string-match "\\.(gz|tgz)$" f)
                                           (gzip-file? f))))))
            (outputs->directories outputs)))

(define* (compress-documentation #:key outputs (compress-documentation? #t)
                                 documentation-compressor
                                 (info-compressor "gzip")
                                 #:allow-other-keys)
  (define compressor
    (or documentation-compressor (if (which "zstd") "zstd" "gzip")))
  (define (flags+ext tool)
    (match tool
      ("zstd" (values (list "-19" "--rm" "--quiet"
                            (string-append "--threads="
                                           (number->string
                                            (parallel-job-count))))
                      ".zst"))
      ("gzip" (values '("--best" "--no-name") ".gz"))
      ("bzip2" (values '("--best") ".bz2"))
      ("xz" (values '("-9") ".xz"))))
  (define (compress dir pattern tool)
    (when (directory-exists? dir)
      (let-values (((flags ext) (flags+ext tool)))
        (let* ((all (find-files dir (const #t)))
               (files (filter (lambda (f)
                                (let ((st (lstat f)))
                                  (and (eq? 'regular (stat:type st))
                                       (= 1 (stat:nlink st))
                                       (string-match pattern (basename f)))))
                              all))
               (links (filter symbolic-link? all)))
          (unless (null? files)
            (for-each make-file-writable files)
            (apply invoke tool (append flags files)))
          ;; A link to a page that got compressed follows it: foo.1 → bar.1
          ;; becomes foo.1.zst → bar.1.zst.
          (for-each
           (lambda (link)
             (let* ((target (readlink link))
                    (resolved (if (string-prefix? "/" target)
                                  target
                                  (string-append (dirname link) "/" target))))
               (when (and (not (file-exists? resolved))
                          (file-exists? (string-append resolved ext)))
                 (delete-file link)
                 (symlink (string-append target ext)
                          (string-append link ext)))))
           links)))))
  (if (not compress-documentation?)
      (log-phase "not compressing documentation")
      (for-each
       (lambda (dir)
         (compress (string-append dir "/share/man")
                   "\\.[0-9]+[:alpha:]*$" compressor)
         (compress (string-append dir "/share/info")
                   "\\.info(-[0-9]+)?$" info-compressor))
       (outputs->directories outputs))))

(define %standard-phases
  `((separate-from-pid1 . ,separate-from-pid1)
    (set-SOURCE-DATE-EPOCH . ,set-SOURCE-DATE-EPOCH)
    (set-paths . ,set-paths)
    (install-locale . ,install-locale)
    (unpack . ,unpack)
    (bootstrap . ,bootstrap)
    (patch-usr-bin-file . ,patch-usr-bin-file)
    (patch-source-shebangs . ,patch-source-shebangs)
    (configure . ,configure)
    (patch-generated-file-shebangs . ,patch-generated-file-shebangs)
    (build . ,build)
    (check . ,check)
    (install . ,install)
    (patch-shebangs . ,patch-shebangs)
    (strip . ,strip)
    (validate-runpath . ,validate-runpath)
    (validate-documentation-location . ,validate-documentation-location)
    (delete-info-dir-file . ,delete-info-dir-file)
    (patch-dot-desktop-files . ,patch-dot-desktop-files)
    (make-dynamic-linker-cache . ,make-dynamic-linker-cache)
    (install-license-files . ,install-license-files)
    (reset-gzip-timestamps . ,reset-gzip-timestamps)
    (compress-documentation . ,compress-documentation)))

(define* (gnu-build #:key (phases %standard-phases) #:allow-other-keys
                    #:rest args)
  "Run every phase of PHASES in one process with ARGS, as Guix's builder
does (used by the unit tests; strata runs one phase per container)."
  (for-each (match-lambda
              ((name . proc)
               (format #t "starting phase `~a'~%" name)
               (apply proc args)
               (format #t "phase `~a' succeeded~%" name)))
            phases))
