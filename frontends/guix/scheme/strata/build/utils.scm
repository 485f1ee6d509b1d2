;;; strata — build-side utilities for Guix package phases.
;;;
;;; This module owns the procedures and macros that Guix package phases call
;;; inside the build container: `invoke', `substitute*', `install-file',
;;; `mkdir-p', `copy-recursively', `find-files', `which', `search-input-file',
;;; `wrap-program', `modify-phases', the shebang patchers, and so on.  It is
;;; strata's own implementation, written from the semantics recorded in
;;; /work/shared/reference/guix.md §4 (not from Guix's code).  Packages reach
;;; it under its Guix name too: guix/build/utils.scm re-exports it.
;;;
;;; Deliberate differences from Guix (see ../../ADAPTATIONS.md):
;;;  - `substitute*' reports a pattern that matched nothing in any of the
;;;    files it was given: a warning on stderr, or an error when the
;;;    environment variable STRATA_GUIX_STRICT is "1".
;;;  - the store directory is read from STRATA_GUIX_STORE (default
;;;    "/gnu/store") so tests can use a temporary root.

(define-module (strata build utils)
  #:use-module (srfi srfi-1)
  #:use-module (srfi srfi-11)
  #:use-module (srfi srfi-26)
  #:use-module (srfi srfi-34)
  #:use-module (srfi srfi-35)
  #:use-module (ice-9 match)
  #:use-module (ice-9 regex)
  #:use-module (ice-9 rdelim)
  #:use-module (ice-9 ftw)
  #:use-module (ice-9 popen)
  #:use-module (ice-9 format)
  #:use-module (ice-9 threads)
  #:use-module (rnrs bytevectors)
  #:use-module (rnrs io ports)
  #:export (%store-directory
            %package-name+version
            store-file-name?
            strip-store-file-name
            package-name->name+version
            parallel-job-count
            nix-system->gnu-triplet

            directory-exists?
            executable-file?
            regular-file?
            symbolic-link?
            file-name-predicate
            file-header-match
            elf-file?
            ar-file?
            gzip-file?
            make-file-writable
            make-executable
            chmod-recursively
            set-file-time

            mkdir-p
            install-file
            copy-recursively
            delete-file-recursively
            with-directory-excursion
            find-files
            symlink-relative
            switch-symlinks
            dump-port

            which
            search-path-as-list
            search-path-as-string->list
            list->search-path-as-string
            set-path-environment-variable
            search-input-file
            search-input-directory
            &search-error
            search-error?
            search-error-path
            search-error-file

            invoke
            invoke/quiet
            &invoke-error
            invoke-error?
            invoke-error-program
            invoke-error-arguments
            invoke-error-exit-status
            invoke-error-term-signal
            invoke-error-stop-signal
            invoke-error-output
            report-invoke-error
            &substitute-error
            substitute-error?
            substitute-error-file
            substitute-error-patterns

            with-atomic-file-replacement
            substitute
            substitute*
            strict-mode?

            patch-shebang
            patch-makefile-SHELL
            wrap-program
            wrapped-program?
            wrap-script
            &wrap-error
            wrap-error?

            modify-phases
            alist-cons-before
            alist-cons-after
            alist-replace
            &missing-phase-error
            missing-phase-error?
            missing-phase-error-name
            missing-phase-error-phases

            remove-store-references
            string-replace-substring
            reset-gzip-timestamp
            patch-/usr/bin/file
            make-desktop-entry-file
            false-if-file-not-found
            cc-for-target
            cxx-for-target
            pkg-config-for-target
            warning)
  #:replace (rename-file))

;;;
;;; Store names and small helpers.
;;;

(define %package-name+version
  ;; "NAME-VERSION" of the package being built, set by the phase driver
  ;; from phase.scm; #f when unknown (phases then parse the out path).
  (make-parameter #f))

(define (%store-directory)
  "The store prefix: $STRATA_GUIX_STORE, else /gnu/store."
  (let ((dir (getenv "STRATA_GUIX_STORE")))
    (if (and dir (not (string-null? dir)))
        (string-trim-right dir #\/)
        "/gnu/store")))

(define (store-file-name? file)
  (string-prefix? (string-append (%store-directory) "/") file))

(define (strip-store-file-name file)
  "The base name of FILE without the leading hash: \"/gnu/store/abc-hello-2.12\"
gives \"hello-2.12\".  A base name with no dash is returned as is."
  (let* ((base (basename file))
         (dash (string-index base #\-)))
    (if dash (substring base (+ dash 1)) base)))

(define (package-name->name+version spec)
  "Split \"hello-2.12.3\" into \"hello\" and \"2.12.3\": the version starts at
the first dash followed by a digit (\"font-x-1.2-3\" → \"font-x\", \"1.2-3\").
Returns (values NAME #f) when there is none."
  (let loop ((start 0))
    (let ((dash (string-index spec #\- start)))
      (cond ((not dash) (values spec #f))
            ((and (< (+ dash 1) (string-length spec))
                  (char-numeric? (string-ref spec (+ dash 1))))
             (values (substring spec 0 dash) (substring spec (+ dash 1))))
            (else (loop (+ dash 1)))))))

(define (parallel-job-count)
  "How many jobs to run: $NIX_BUILD_CORES, where unset means 1 and 0 means
every processor."
  (let ((cores (getenv "NIX_BUILD_CORES")))
    (match (and cores (string->number cores))
      (#f 1)
      (0 (total-processor-count))
      (n n))))

(define (nix-system->gnu-triplet system)
  "\"x86_64-linux\" → \"x86_64-unknown-linux-gnu\"."
  (match (string-split system #\-)
    ((arch "linux") (string-append arch "-unknown-linux-gnu"))
    ((arch "gnu") (string-append arch "-pc-gnu"))
    ((arch kernel) (string-append arch "-unknown-" kernel))
    (_ system)))

(define (warning fmt . args)
  (apply format (current-error-port) (string-append "warning: " fmt "~%") args)
  (force-output (current-error-port)))

;;;
;;; File predicates.
;;;

(define (file-type file)
  (let ((st (false-if-exception (lstat file))))
    (and st (stat:type st))))

(define (directory-exists? dir)
  (let ((st (false-if-exception (stat dir))))
    (and st (eq? 'directory (stat:type st)))))

(define (regular-file? file)
  (let ((st (false-if-exception (stat file))))
    (and st (eq? 'regular (stat:type st)))))

(define (symbolic-link? file)
  (eq? 'symlink (file-type file)))

(define (executable-file? file)
  "True when FILE exists and has its owner execute bit (as in Guix, a
directory counts)."
  (let ((st (false-if-exception (stat file))))
    (and st (not (zero? (logand (stat:perms st) #o100))))))

(define (executable-program? file)
  "A regular file some execute bit is set on: what `which' looks for."
  (let ((st (false-if-exception (stat file))))
    (and st (eq? 'regular (stat:type st))
         (not (zero? (logand (stat:perms st) #o111))))))

(define (file-header-match header)
  "A predicate that is true for regular files whose first bytes are HEADER
(a bytevector)."
  (let ((len (bytevector-length header)))
    (lambda* (file #:optional stat-result)
      (and (regular-file? file)
           (call-with-input-file file
             (lambda (port)
               (let ((got (get-bytevector-n port len)))
                 (and (bytevector? got) (bytevector=? got header))))
             #:binary #t)))))

(define elf-file? (file-header-match #vu8(#x7f #x45 #x4c #x46)))
(define ar-file? (file-header-match (string->utf8 "!<arch>\n")))
(define gzip-file? (file-header-match #vu8(#x1f #x8b)))

(define (file-name-predicate regexp)
  "A (FILE STAT) predicate true when FILE's base name matches REGEXP (a
string or a compiled regexp)."
  (let ((rx (if (regexp? regexp) regexp (make-regexp regexp))))
    (lambda (file stat)
      (regexp-exec rx (basename file)))))

(define (make-file-writable file)
  "Add the owner read and write bits to FILE (a symlink is left alone)."
  (let ((st (lstat file)))
    (unless (eq? 'symlink (stat:type st))
      (chmod file (logior #o600 (stat:perms st))))))

(define (make-executable file)
  "Add the execute bits for which FILE has read bits."
  (let* ((perms (stat:perms (stat file)))
         (x (ash (logand perms #o444) -2)))
    (chmod file (logior perms x))))

(define (chmod-recursively dir file-mode dir-mode)
  "Set FILE-MODE on every file and DIR-MODE on every directory under DIR
(symlinks untouched)."
  (for-each (lambda (f)
              (match (file-type f)
                ('directory (chmod f dir-mode))
                ('symlink #t)
                (_ (chmod f file-mode))))
            (cons dir (find-files dir #:directories? #t))))

(define (set-file-time file st)
  "Give FILE the access and modification times recorded in ST."
  (utime file
         (stat:atime st) (stat:mtime st)
         (stat:atimensec st) (stat:mtimensec st)
         AT_SYMLINK_NOFOLLOW))

;;;
;;; Directories and copying.
;;;

(define (mkdir-p dir)
  "Create DIR and its missing parents; an existing directory is fine."
  (let loop ((components (string-split dir #\/))
             (prefix (if (string-prefix? "/" dir) "" ".")))
    (match components
      (() #t)
      (("" . rest) (loop rest prefix))
      ((head . rest)
       (let ((path (if (string-null? prefix)
                       (string-append "/" head)
                       (string-append prefix "/" head))))
         (unless (directory-exists? path)
           (catch 'system-error
             (lambda () (mkdir path))
             (lambda args
               (unless (and (= EEXIST (system-error-errno args))
                            (directory-exists? path))
                 (apply throw args)))))
         (loop rest path))))))

(define (install-file file directory)
  "Create DIRECTORY and copy FILE into it under FILE's base name.  A symlink
FILE is followed; the permission bits are copied."
  (mkdir-p directory)
  (copy-file file (string-append directory "/" (basename file))))

(define* (copy-recursively source destination
                           #:key
                           (log (current-output-port))
                           (follow-symlinks? #f)
                           (copy-file copy-file)
                           keep-mtime? keep-permissions?
                           (select? (const #t)))
  "Copy SOURCE (a directory or a single file) to DESTINATION.  Symlinks are
recreated as symlinks unless FOLLOW-SYMLINKS?.  Each copy is logged to LOG as
`SOURCE' -> `DEST'.  SELECT? is called with (FILE STAT) and may exclude files."
  (define stat* (if follow-symlinks? stat lstat))
  (define (copy-one src dst st)
    (match (stat:type st)
      ('symlink
       (let ((target (readlink src)))
         (when (file-exists-or-link? dst) (delete-file dst))
         (symlink target dst)))
      (_
       (copy-file src dst)
       (when keep-permissions? (chmod dst (stat:perms st)))
       (when keep-mtime? (set-file-time dst st))))
    (when log (format log "`~a' -> `~a'~%" src dst)))
  (let ((st (stat* source)))
    (if (eq? 'directory (stat:type st))
        (let walk ((src source) (dst destination) (st st))
          (mkdir-p dst)
          (for-each
           (lambda (name)
             (let* ((s (string-append src "/" name))
                    (d (string-append dst "/" name))
                    (sst (stat* s)))
               (when (select? s sst)
                 (if (eq? 'directory (stat:type sst))
                     (walk s d sst)
                     (copy-one s d sst)))))
           (directory-entries src))
          (when keep-permissions? (chmod dst (stat:perms st)))
          (when keep-mtime? (set-file-time dst st)))
        (begin
          (mkdir-p (dirname destination))
          (copy-one source destination st)))))

;; Guile's own, which the replacement below falls back from.
(define core-rename-file (@ (guile) rename-file))

(define* (rename-file old new #:key (primitive core-rename-file))
  "Rename OLD to NEW as Guile's rename-file does.  Where the kernel refuses
with EXDEV -- renaming a directory that comes from a lower layer of an
overlay file system, which is what strata's phase containers are made of --
copy OLD to NEW instead (symlinks, modes and times kept), then delete OLD.
PRIMITIVE is the rename to try first (tests pass one that fails)."
  (catch 'system-error
    (lambda () (primitive old new))
    (lambda args
      (if (eqv? (system-error-errno args) EXDEV)
          (begin
            (copy-recursively old new #:log #f
                              #:keep-mtime? #t #:keep-permissions? #t)
            (if (eq? 'directory (stat:type (lstat old)))
                (delete-file-recursively old)
                (delete-file old)))
          (apply throw args)))))

(define (file-exists-or-link? file)
  (->bool (false-if-exception (lstat file))))

(define (directory-entries dir)
  "The names in DIR, sorted, without . and .."
  (or (scandir dir (lambda (n) (not (member n '("." ".."))))) '()))

(define* (delete-file-recursively dir #:key follow-mounts?)
  "Delete DIR like `rm -rf': symlinks are not followed and, unless
FOLLOW-MOUNTS?, nothing on another file system is entered.  Errors are
reported on stderr, not raised."
  (let ((dev (false-if-exception (stat:dev (lstat dir)))))
    (define (report file args)
      (warning "failed to delete ~a: ~a" file
               (strerror (system-error-errno args))))
    (let walk ((file dir))
      (let ((st (false-if-exception (lstat file))))
        (cond
         ((not st) #t)
         ((and (eq? 'directory (stat:type st))
               (or follow-mounts? (eqv? dev (stat:dev st))))
          (for-each (lambda (n) (walk (string-append file "/" n)))
                    (directory-entries file))
          (catch 'system-error (lambda () (rmdir file))
            (lambda args (report file args))))
         (else
          (catch 'system-error (lambda () (delete-file file))
            (lambda args (report file args)))))))))

(define-syntax-rule (with-directory-excursion dir body ...)
  "Run BODY with DIR as the current directory; go back even on error."
  (let ((saved (getcwd)))
    (dynamic-wind
      (lambda () (chdir dir))
      (lambda () body ...)
      (lambda () (chdir saved)))))

(define* (find-files dir #:optional (pred (const #t))
                     #:key (stat lstat) directories? fail-on-error?)
  "The sorted list of files below DIR for which PRED holds.  PRED is a
(FILE STAT) procedure or a regexp string matched against the base name.
Directories are listed only when DIRECTORIES?.  Symlinks are not followed
unless STAT is `stat'.  Unreadable directories are skipped with a warning,
or raise when FAIL-ON-ERROR?."
  (define pred*
    (if (procedure? pred) pred (file-name-predicate pred)))
  (define (walk file acc)
    (let ((st (catch 'system-error (lambda () (stat file))
                (lambda args
                  (if fail-on-error? (apply throw args) #f)))))
      (cond
       ((not st) acc)
       ((eq? 'directory (stat:type st))
        (let* ((acc (if (and directories? (pred* file st)) (cons file acc) acc))
               (names (catch 'system-error
                        (lambda ()
                          (let ((d (scandir file)))
                            (unless d
                              (throw 'system-error 'find-files "~A"
                                     (list "cannot read directory")
                                     (list EACCES)))
                            (filter (lambda (n) (not (member n '("." ".."))))
                                    d)))
                        (lambda args
                          (if fail-on-error?
                              (apply throw args)
                              (begin
                                (warning "find-files: ~a: cannot read directory"
                                         file)
                                '()))))))
          (fold (lambda (n acc) (walk (string-append file "/" n) acc))
                acc names)))
       ((pred* file st) (cons file acc))
       (else acc))))
  (if (directory-exists? dir)
      (sort (walk dir '()) string<?)
      ;; Guix lists a non-directory DIR as itself when it matches.
      (let ((st (false-if-exception (stat dir))))
        (if (and st (pred* dir st)) (list dir) '()))))

(define (symlink-relative target link)
  "Create LINK pointing to TARGET with a path relative to LINK's directory."
  (define (components f)
    (filter (negate string-null?) (string-split f #\/)))
  (let* ((from (components (canonicalize-path (dirname link))))
         (to (components (if (string-prefix? "/" target)
                             target
                             (string-append (getcwd) "/" target)))))
    (let loop ((a from) (b to))
      (if (and (pair? a) (pair? b) (string=? (car a) (car b)))
          (loop (cdr a) (cdr b))
          (symlink (string-join (append (map (const "..") a) b) "/") link)))))

(define (switch-symlinks link target)
  "Make LINK point to TARGET, replacing LINK atomically if it exists."
  (let ((tmp (string-append link ".new")))
    (when (file-exists-or-link? tmp) (delete-file tmp))
    (symlink target tmp)
    (rename-file tmp link)))

(define* (dump-port in out #:optional len
                    #:key (buffer-size 65536)
                    (progress (lambda (total continue) (continue))))
  "Copy LEN bytes (all when LEN is #f) from port IN to port OUT.  PROGRESS
is called with the bytes copied so far and a thunk continuing the copy,
first with 0, then after each chunk."
  (let ((buf (make-bytevector buffer-size)))
    (define (chunk total)
      (if len (min buffer-size (- len total)) buffer-size))
    (let loop ((total 0))
      (progress
       total
       (lambda ()
         (if (and len (>= total len))
             total
             (let ((n (get-bytevector-n! in buf 0 (chunk total))))
               (if (eof-object? n)
                   total
                   (begin
                     (put-bytevector out buf 0 n)
                     (loop (+ total n)))))))))))

;;;
;;; Search paths.
;;;

(define* (search-path-as-string->list str #:optional (separator #\:))
  "The components of the search path STR; empty ones are dropped."
  (cond ((not str) '())
        (separator (string-tokenize str (char-set-complement
                                         (char-set separator))))
        (else (list str))))

(define* (list->search-path-as-string lst #:optional (separator ":"))
  (if separator (string-join lst separator) (match lst ((x . _) x) (() ""))))

(define* (which program #:optional (path (getenv "PATH")))
  "The absolute file name of PROGRAM found in PATH (a colon-separated string
or a list of directories), or #f."
  (if (string-index program #\/)
      (and (executable-program? program) program)
      (let ((dirs (if (string? path) (search-path-as-string->list path)
                      (or path '()))))
        (any (lambda (dir)
               (let ((f (string-append dir "/" program)))
                 (and (executable-program? f) f)))
             dirs))))

(define* (search-path-as-list files input-dirs #:key (type 'directory) pattern)
  "For each directory in INPUT-DIRS, the DIR/FILE of FILES that exist and
have TYPE; with PATTERN, the files under those that match the regexp."
  (append-map
   (lambda (input)
     (append-map
      (lambda (file)
        (let ((full (string-append input "/" file)))
          (if pattern
              (if (directory-exists? full)
                  (find-files full (lambda (f st)
                                     (and (eq? type (stat:type st))
                                          (string-match pattern f)))
                              #:directories? (eq? type 'directory))
                  '())
              (let ((st (false-if-exception (stat full))))
                (if (and st (eq? type (stat:type st)))
                    (list full)
                    '())))))
      files))
   (delete-duplicates input-dirs)))

(define* (set-path-environment-variable variable files input-dirs
                                        #:key (separator ":") (type 'directory)
                                        pattern (log (current-output-port)))
  "Set VARIABLE to the existing sub-directories FILES of INPUT-DIRS; unset it
when there are none."
  (let ((found (search-path-as-list files input-dirs
                                    #:type type #:pattern pattern)))
    (if (null? found)
        (begin
          ;; Never an empty value: it often means ".".
          (unsetenv variable)
          (when log (format log "environment variable `~a' unset~%" variable)))
        (let ((value (list->search-path-as-string found separator)))
          (setenv variable value)
          (when log
            (format log "environment variable `~a' set to `~a'~%"
                    variable value))))))

(define-condition-type &search-error &error
  search-error?
  (path search-error-path)
  (file search-error-file))

(define (inputs->directories inputs)
  "INPUTS is an alist label → directory (or a list of directories)."
  (filter-map (match-lambda
                ((label . (? string? dir)) dir)
                ((label (? string? dir) . _) dir)
                ((? string? dir) dir)
                (_ #f))
              (or inputs '())))

(define (search-input-file inputs file)
  "The first DIR/FILE that is a file, over the directories of INPUTS (an
alist).  FILE's leading slash is optional.  Raises &search-error if none."
  (let ((rel (string-trim file #\/)))
    (or (any (lambda (dir)
               (let ((f (string-append dir "/" rel)))
                 (and (file-exists? f) (not (directory-exists? f)) f)))
             (inputs->directories inputs))
        (raise (condition
                (&search-error (path (inputs->directories inputs))
                               (file file))
                (&message
                 (message (format #f "input file `~a' not found in ~s"
                                  file (inputs->directories inputs)))))))))

(define (search-input-directory inputs directory)
  "Like `search-input-file', for a directory."
  (let ((rel (string-trim directory #\/)))
    (or (any (lambda (dir)
               (let ((f (string-append dir "/" rel)))
                 (and (directory-exists? f) f)))
             (inputs->directories inputs))
        (raise (condition
                (&search-error (path (inputs->directories inputs))
                               (file directory))
                (&message
                 (message (format #f "input directory `~a' not found in ~s"
                                  directory (inputs->directories inputs)))))))))

;;;
;;; Running programs.
;;;

(define-condition-type &invoke-error &error
  invoke-error?
  (program invoke-error-program)
  (arguments invoke-error-arguments)
  (exit-status invoke-error-exit-status)
  (term-signal invoke-error-term-signal)
  (stop-signal invoke-error-stop-signal)
  (output invoke-error-output))

(define (raise-invoke-error program args status output)
  (raise (condition
          (&invoke-error (program program)
                         (arguments args)
                         (exit-status (status:exit-val status))
                         (term-signal (status:term-sig status))
                         (stop-signal (status:stop-sig status))
                         (output output)))))

(define (invoke program . args)
  "Run PROGRAM (looked up in PATH) with ARGS, without a shell.  A non-zero
exit raises &invoke-error; returns #t otherwise."
  (force-output (current-output-port))
  (force-output (current-error-port))
  (let ((status (apply system* program args)))
    (unless (zero? status)
      (raise-invoke-error program args status #f))
    #t))

(define* (invoke/quiet program . args)
  "Like `invoke', but PROGRAM's stdout and stderr are captured and shown only
in the error."
  (let* ((port (apply open-pipe* OPEN_READ "/bin/sh" "-c"
                      "exec \"$@\" 2>&1" "sh" program args))
         (output (get-string-all port))
         (status (close-pipe port)))
    (unless (zero? status)
      (raise-invoke-error program args status output))
    #t))

(define* (report-invoke-error c #:optional (port (current-error-port)))
  "Write a one-line description of the &invoke-error C on PORT."
  (format port "command ~s failed: ~a~%"
          (cons (invoke-error-program c) (invoke-error-arguments c))
          (cond ((invoke-error-exit-status c)
                 => (cut format #f "exit status ~a" <>))
                ((invoke-error-term-signal c)
                 => (cut format #f "terminated by signal ~a" <>))
                ((invoke-error-stop-signal c)
                 => (cut format #f "stopped by signal ~a" <>))
                (else "unknown status")))
  (let ((out (invoke-error-output c)))
    (when (and out (not (string-null? out)))
      (display out port))))

;;;
;;; substitute*
;;;

(define-condition-type &substitute-error &error
  substitute-error?
  (file substitute-error-file)
  (patterns substitute-error-patterns))

(define (strict-mode?)
  (equal? (getenv "STRATA_GUIX_STRICT") "1"))

(define (with-atomic-file-replacement file proc)
  "Call PROC with an input port on FILE and an output port on a temporary
file in the same directory, then rename the temporary over FILE, keeping
FILE's permission bits.  On error the temporary is removed."
  (let* ((template (string-append file ".XXXXXX"))
         (out (mkstemp! template))
         (tmp (port-filename out))
         (mode (stat:perms (stat file))))
    (catch #t
      (lambda ()
        (call-with-input-file file
          (lambda (in)
            (set-port-conversion-strategy! in 'error)
            (set-port-encoding! out (port-encoding in))
            (set-port-conversion-strategy! out 'error)
            (proc in out)))
        (close-port out)
        (chmod tmp mode)
        (rename-file tmp file))
      (lambda args
        (false-if-exception (close-port out))
        (false-if-exception (delete-file tmp))
        (apply throw args)))))

;; Guile's regexps stop at a NUL byte; NULs in a line are swapped for a
;; code point that does not occur in text files while the line is matched.
(define %nul-stand-in #\xf8ff)

(define* (substitute file clauses #:key (warn-unmatched? #t))
  "Rewrite FILE (a file name or a list of them) line by line.  CLAUSES is a
list of (REGEXP . PROC): every non-overlapping match of the extended
REGEXP in a line is replaced by (PROC MATCH); clauses apply in order, each
to the line as rewritten by the previous ones.  Lines keep their newline, so
`$' matches only after it and `.' matches it.  With WARN-UNMATCHED?, a
pattern that matched nothing in any of the files is reported (an error in
strict mode)."
  (let* ((files (if (string? file) (list file) file))
         (compiled (map (match-lambda
                          ((pattern . proc)
                           (list pattern (make-regexp pattern regexp/extended)
                                 proc)))
                        clauses))
         (hits (make-vector (length compiled) 0)))
    (define (rewrite-line line)
      (let ((has-nul? (string-index line #\nul)))
        (let loop ((line (if has-nul?
                             (string-map (lambda (c) (if (char=? c #\nul)
                                                         %nul-stand-in c))
                                         line)
                             line))
                   (clauses compiled) (i 0))
          (match clauses
            (()
             (if has-nul?
                 (string-map (lambda (c) (if (char=? c %nul-stand-in) #\nul c))
                             line)
                 line))
            (((pattern rx proc) . rest)
             (let ((matches (list-matches rx line)))
               (if (null? matches)
                   (loop line rest (+ i 1))
                   (begin
                     (vector-set! hits i (+ (vector-ref hits i)
                                            (length matches)))
                     (loop (replace-matches line matches proc)
                           rest (+ i 1))))))))))
    (for-each
     (lambda (f)
       (with-atomic-file-replacement f
         (lambda (in out)
           (let loop ()
             (let ((line (read-line in 'concat)))
               (unless (eof-object? line)
                 (display (rewrite-line line) out)
                 (loop)))))))
     files)
    (when warn-unmatched?
      (let ((unmatched (filter-map (lambda (c i)
                                     (and (zero? (vector-ref hits i))
                                          (car c)))
                                   compiled (iota (length compiled)))))
        (define where
          ;; Long lists (find-files results) are abbreviated.
          (match files
            (() "no file (an empty list of files)")
            ((_ _ _ _ _ . _)
             (format #f "~a and ~a other files" (car files)
                     (- (length files) 1)))
            (_ (string-join files ", "))))
        (unless (null? unmatched)
          (if (strict-mode?)
              (raise (condition
                      (&substitute-error (file files) (patterns unmatched))
                      (&message
                       (message
                        (format #f "substitute*: ~{pattern ~s~^, ~} matched \
nothing in ~a (STRATA_GUIX_STRICT=1)" unmatched where)))))
              (for-each (lambda (p)
                          (warning "substitute*: pattern ~s matched nothing \
in ~a" p where))
                        unmatched)))))
    #t))

(define (replace-matches line matches proc)
  "LINE with each of MATCHES (non-overlapping, in order) replaced by
(PROC MATCH)."
  (let loop ((start 0) (matches matches) (acc '()))
    (match matches
      (()
       (string-concatenate-reverse acc (substring line start)))
      ((m . rest)
       (let ((replacement (proc m)))
         (unless (string? replacement)
           (error "substitute*: replacement is not a string" replacement))
         (loop (match:end m) rest
               (cons* replacement (substring line start (match:start m))
                      acc)))))))

(define-syntax substitute-bindings
  ;; Bind VAR… to the whole match then groups 1, 2, …; `_' binds nothing.
  (syntax-rules (_)
    ((_ m i () body ...) (let () body ...))
    ((_ m i (_ var ...) body ...)
     (substitute-bindings m (+ i 1) (var ...) body ...))
    ((_ m i (v var ...) body ...)
     (let ((v (match:substring m i)))
       (substitute-bindings m (+ i 1) (var ...) body ...)))))

(define-syntax substitute*
  (syntax-rules ()
    "(substitute* FILE ((REGEXP VAR …) BODY …) …): in FILE (a name or a list
of names), replace each match of REGEXP by the string BODY returns, with
VAR… bound to the whole match and its groups (`_' skips one)."
    ((_ file ((regexp var ...) body ...) ...)
     (substitute file
                 (list (cons regexp
                             (lambda (m)
                               (substitute-bindings m 0 (var ...) body ...)))
                       ...)))))

;;;
;;; Shebangs and Makefile shells.
;;;

(define %shebang-rx
  ;; "#!" INTERPRETER [ARGS], the interpreter an absolute file name.
  (make-regexp "^#![[:blank:]]*(/[^[:blank:]\n]*)[[:blank:]]*([^\n]*)(\n?)$"))

(define* (patch-shebang file #:optional
                        (path (search-path-as-string->list (getenv "PATH")))
                        #:key (keep-mtime? #t))
  "If FILE starts with #!, point its interpreter at the one found in PATH
(a list of directories): #!/bin/sh becomes #!DIR/sh, #!/usr/bin/env X ARGS
becomes #!DIR/X ARGS.  Interpreters already in the store are left alone.
Returns #t when FILE was rewritten."
  (define (read-first-line)
    (call-with-input-file file
      (lambda (port)
        (let ((magic (get-bytevector-n port 2)))
          (and (bytevector? magic)
               (equal? magic #vu8(35 33))
               (let ((rest (read-line port 'concat)))
                 (and (string? rest) (string-append "#!" rest))))))
      #:binary #t))
  (let ((line (false-if-exception
               (with-fluids ((%default-port-encoding "ISO-8859-1"))
                 (read-first-line)))))
    (match (and line (regexp-exec %shebang-rx line))
      (#f #f)
      (m
       (let* ((interp (match:substring m 1))
              (args (match:substring m 2))
              (env? (string-suffix? "/env" interp)))
         (let-values (((cmd rest)
                       (if env?
                           (match (string-tokenize args)
                             (() (values #f ""))
                             ((cmd . more)
                              (values cmd (string-join more " "))))
                           (values (basename interp) args))))
           (cond
            ((store-file-name? interp) #f)
            ((or (not cmd) (string-prefix? "-" cmd)) #f)
            (else
             (let ((found (which cmd path)))
               (cond
                ((not found)
                 (warning "patch-shebang: ~a: no binary for interpreter `~a' \
found in $PATH" file cmd)
                 #f)
                ((and (not env?) (string=? found interp)) #f)
                (else
                 (let ((new (string-append "#!" found
                                           (if (string-null? rest) ""
                                               (string-append " " rest))
                                           "\n"))
                       (st (stat file)))
                   (format (current-error-port)
                           "patch-shebang: ~a: changing `~a' to `~a'~%"
                           file (string-trim-right (match:substring m 0))
                           (string-trim-right new))
                   (rewrite-first-line file new)
                   (when keep-mtime? (set-file-time file st))
                   #t))))))))))))

(define (rewrite-first-line file new-first-line)
  "Replace FILE's first line (bytes up to and including the first newline)
by NEW-FIRST-LINE, byte-exactly for the rest of the file."
  (let* ((bytes (call-with-input-file file get-bytevector-all #:binary #t))
         (len (bytevector-length bytes))
         (nl (let loop ((i 0))
               (cond ((= i len) len)
                     ((= 10 (bytevector-u8-ref bytes i)) (+ i 1))
                     (else (loop (+ i 1))))))
         ;; The line was read as Latin-1: write it back byte for byte.
         (head (u8-list->bytevector
                (map (lambda (c)
                       (let ((n (char->integer c)))
                         (if (< n 256) n (char->integer #\?))))
                     (string->list new-first-line))))
         (mode (stat:perms (stat file)))
         (out (mkstemp! (string-append file ".XXXXXX")))
         (tmp (port-filename out)))
    (put-bytevector out head)
    (put-bytevector out bytes nl (- len nl))
    (close-port out)
    (chmod tmp mode)
    (rename-file tmp file)))

(define* (patch-makefile-SHELL file #:key (keep-mtime? #t))
  "Point `SHELL = /…/sh' lines of the makefile FILE at the shell found in
PATH, keeping the file's mtime."
  ;; Makefiles may be in any 8-bit encoding: read them as Latin-1.
  (let ((st (stat file)))
    (with-fluids ((%default-port-encoding "ISO-8859-1"))
     (substitute file
                (list (cons "^( *SHELL[[:blank:]]*:?=[[:blank:]]*)([[:graph:]]*/)([[:graph:]]+)(.*)$"
                            (lambda (m)
                              (let* ((shell (match:substring m 3))
                                     (found (which shell)))
                                (if found
                                    (string-append (match:substring m 1) found
                                                   (match:substring m 4))
                                    (match:substring m 0))))))
                #:warn-unmatched? #f))
    (when keep-mtime? (set-file-time file st))))

;;;
;;; Wrappers.
;;;

(define-condition-type &wrap-error &error
  wrap-error?
  (program wrap-error-program)
  (type wrap-error-type))

(define (double-quote str)
  ;; Values are double-quoted as Guix writes them, so a value may refer to
  ;; other variables ("$HOME/.local/share").
  (string-append "\"" (string-join (string-split str #\") "\\\"") "\""))

(define (wrapper-export spec)
  "The shell line for one wrap-program spec: (VAR [SEP] = (VALUE…)),
(VAR [SEP] prefix (DIR…)), (VAR [SEP] suffix (DIR…)); SEP defaults to :."
  (define (line var sep position dirs)
    (let ((joined (string-join dirs sep)))
      (match position
        ('= (format #f "export ~a=~a" var (double-quote joined)))
        ('prefix
         (format #f "export ~a=~a${~a:+~a}\"$~a\"" var (double-quote joined)
                 var sep var))
        ('suffix
         (format #f "export ~a=\"$~a\"${~a:+~a}~a" var var var sep
                 (double-quote joined)))
        (_ (error "wrap-program: unknown position" position)))))
  (match spec
    ((var (? string? sep) (? symbol? position) (dirs ...))
     (line var sep position dirs))
    ((var (? symbol? position) (dirs ...)) (line var ":" position dirs))
    (_ (error "wrap-program: malformed variable spec" spec))))

(define (wrapped-program? prog)
  "True for the .NAME-real file wrap-program moves a program to."
  (let ((base (basename prog)))
    (and (string-prefix? "." base) (string-suffix? "-real" base))))

(define* (wrap-program prog #:key (sh (or (which "bash") "/bin/sh"))
                       #:rest specs)
  "Turn PROG into a shell wrapper that sets the variables of SPECS, each
(VAR [SEP] = (VALUE…)), (VAR [SEP] prefix (DIR…)) or (VAR [SEP] suffix
(DIR…)), then execs .PROG-real (PROG's original, hard-linked) as
${0##*/}.  Wrapping a wrapper adds its exports to the existing one."
  (define specs*
    ;; #:rest includes the keyword arguments; drop them.
    (let loop ((l specs) (acc '()))
      (match l
        (() (reverse acc))
        (((? keyword?) _ . rest) (loop rest acc))
        ((x . rest) (loop rest (cons x acc))))))
  (define real
    (string-append (dirname prog) "/." (basename prog) "-real"))
  (define exports (map wrapper-export specs*))
  (when (wrapped-program? prog)
    (error (string-append prog " is a wrapper; refusing to wrap it")))
  (if (file-exists? real)
      ;; Already wrapped: insert the new exports before the exec line.
      (let* ((lines (call-with-input-file prog
                      (lambda (p)
                        (let loop ((acc '()))
                          (let ((l (read-line p)))
                            (if (eof-object? l) (reverse acc)
                                (loop (cons l acc))))))))
             (exec-line? (cut string-prefix? "exec " <>))
             (before (take-while (negate exec-line?) lines))
             (after (drop-while (negate exec-line?) lines)))
        (call-with-output-file prog
          (lambda (out)
            (for-each (cut format out "~a~%" <>)
                      (append before exports after)))))
      (let ((tmp (string-append real "-tmp")))
        (link prog real)
        (call-with-output-file tmp
          (lambda (out)
            (format out "#!~a~%" sh)
            (for-each (cut format out "~a~%" <>) exports)
            (format out "exec -a \"${0##*/}\" ~s \"$@\"~%"
                    (canonicalize-path real))))
        (chmod tmp #o755)
        (rename-file tmp prog)))
  #t)

(define* (wrap-script prog #:key (guile (which "guile")) #:rest specs)
  "Wrap the interpreted script PROG without a shell: PROG's interpreter line
is kept for the real script, PROG becomes a Guile script that sets the
variables of SPECS and execs the interpreter on .PROG-real."
  (define specs*
    (let loop ((l specs) (acc '()))
      (match l
        (() (reverse acc))
        (((? keyword?) _ . rest) (loop rest acc))
        ((x . rest) (loop rest (cons x acc))))))
  (define real (string-append (dirname prog) "/." (basename prog) "-real"))
  (define interpreter
    (call-with-input-file prog
      (lambda (p)
        (let ((l (read-line p)))
          (and (string? l) (string-prefix? "#!" l)
               (string-tokenize (substring l 2)))))))
  (unless interpreter
    (raise (condition (&wrap-error (program prog) (type 'no-interpreter))
                      (&message (message (format #f "wrap-script: ~a has no \
#! line" prog))))))
  (unless guile
    (raise (condition (&wrap-error (program prog) (type 'no-guile))
                      (&message (message "wrap-script: no guile in PATH")))))
  (let ((mode (stat:perms (stat prog))))
    (rename-file prog real)
    (call-with-output-file prog
      (lambda (out)
        (format out "#!~a --no-auto-compile~%!#~%" guile)
        (write
         `(begin
            ,@(map (match-lambda
                     ((var sep position values)
                      (let ((joined (string-join values sep)))
                        (if (eq? position '=)
                            `(setenv ,var ,joined)
                            `(let ((old (getenv ,var)))
                               (setenv ,var
                                       (cond ((or (not old) (string-null? old))
                                              ,joined)
                                             (else
                                              ,(if (eq? position 'prefix)
                                                   `(string-append ,joined ,sep old)
                                                   `(string-append old ,sep ,joined))))))))))
                   (map (match-lambda
                          ((var (? symbol? pos) values) (list var ":" pos values))
                          ((var (? string? sep) pos values) (list var sep pos values)))
                        specs*))
            (apply execl ,(car interpreter) ,(car interpreter)
                   (append ',(cdr interpreter) (list ,real)
                           (cdr (command-line)))))
         out)
        (newline out)))
    (chmod prog mode))
  #t)

;;;
;;; modify-phases
;;;

(define-condition-type &missing-phase-error &error
  missing-phase-error?
  (name missing-phase-error-name)
  (phases missing-phase-error-phases))

(define (missing-phase who name phases)
  (raise (condition
          (&missing-phase-error (name name) (phases (map car phases)))
          (&message
           (message (format #f "modify-phases: ~a '~a: no phase named `~a'; \
the phases are: ~{~a~^ ~}" who name name (map car phases)))))))

(define (alist-replace key value alist)
  "ALIST with the first pair named KEY given VALUE; a clear error if KEY is
absent."
  (let loop ((l alist) (acc '()))
    (match l
      (() (missing-phase 'replace key alist))
      (((k . v) . rest)
       (if (eq? k key)
           (append-reverse acc (acons key value rest))
           (loop rest (cons (car l) acc)))))))

(define (alist-cons-before ref key value alist)
  (let loop ((l alist) (acc '()))
    (match l
      (() (missing-phase 'add-before ref alist))
      (((k . v) . rest)
       (if (eq? k ref)
           (append-reverse acc (acons key value l))
           (loop rest (cons (car l) acc)))))))

(define (alist-cons-after ref key value alist)
  (let loop ((l alist) (acc '()))
    (match l
      (() (missing-phase 'add-after ref alist))
      (((k . v) . rest)
       (if (eq? k ref)
           (append-reverse acc (cons (car l) (acons key value rest)))
           (loop rest (cons (car l) acc)))))))

;; The clause keywords are compared by name, not by binding: package code
;; runs in modules where `delete' may be core's or SRFI-1's.
(define-syntax modify-phases
  (lambda (x)
    "Fold the clauses over the phase alist, left to right."
    (define (clause-kind c)
      (syntax-case c ()
        ((kw . _) (identifier? #'kw) (syntax->datum #'kw))
        (_ #f)))
    (syntax-case x ()
      ((_ phases) #'phases)
      ((_ phases clause rest ...)
       (case (clause-kind #'clause)
         ((delete)
          (syntax-case #'clause ()
            ((_ name)
             #'(modify-phases (let ((n name))
                                (remove (lambda (p) (eq? (car p) n)) phases))
                              rest ...))))
         ((replace)
          (syntax-case #'clause ()
            ((_ name proc)
             #'(modify-phases (alist-replace name proc phases) rest ...))))
         ((add-before)
          (syntax-case #'clause ()
            ((_ ref name proc)
             #'(modify-phases (alist-cons-before ref name proc phases)
                              rest ...))))
         ((add-after)
          (syntax-case #'clause ()
            ((_ ref name proc)
             #'(modify-phases (alist-cons-after ref name proc phases)
                              rest ...))))
         (else
          (syntax-violation 'modify-phases
                            "expected (delete|replace|add-before|add-after …)"
                            x #'clause)))))))

;;;
;;; Store references.
;;;

(define (remove-store-references file)
  "Replace the hash part of every store file name in FILE by e's, so FILE no
longer refers to store items.  Returns #t."
  (let* ((prefix (string->utf8 (string-append (%store-directory) "/")))
         (plen (bytevector-length prefix))
         (bytes (call-with-input-file file get-bytevector-all #:binary #t))
         (len (if (eof-object? bytes) 0 (bytevector-length bytes))))
    (define (prefix-at? i)
      (and (<= (+ i plen 32) len)
           (let loop ((j 0))
             (or (= j plen)
                 (and (= (bytevector-u8-ref bytes (+ i j))
                         (bytevector-u8-ref prefix j))
                      (loop (+ j 1)))))))
    (let loop ((i 0) (changed? #f))
      (cond
       ((>= i len)
        (when changed?
          (let ((mode (stat:perms (stat file))))
            (make-file-writable file)
            (call-with-output-file file (cut put-bytevector <> bytes)
              #:binary #t)
            (chmod file mode))))
       ((prefix-at? i)
        (do ((k 0 (+ k 1))) ((= k 32))
          (bytevector-u8-set! bytes (+ i plen k) (char->integer #\e)))
        (loop (+ i plen 32) #t))
       (else (loop (+ i 1) changed?)))))
  #t)

(define (string-replace-substring str old new)
  "STR with every occurrence of OLD replaced by NEW."
  (let ((olen (string-length old)))
    (let loop ((start 0) (acc '()))
      (let ((i (string-contains str old start)))
        (if (or (not i) (zero? olen))
            (string-concatenate-reverse acc (substring str start))
            (loop (+ i olen) (cons* new (substring str start i) acc)))))))

;;;
;;; Smaller helpers packages call.
;;;

(define-syntax-rule (false-if-file-not-found exp)
  "EXP's value, or #f if it raises ENOENT."
  (catch 'system-error
    (lambda () exp)
    (lambda args
      (if (= ENOENT (system-error-errno args)) #f (apply throw args)))))

(define* (reset-gzip-timestamp file #:key (keep-mtime? #t))
  "Zero the modification time recorded in the header of the gzip FILE."
  (let ((st (stat file))
        (port (open-file file "r+b")))
    (seek port 4 SEEK_SET)
    (put-bytevector port (make-bytevector 4 0))
    (close-port port)
    (when keep-mtime? (set-file-time file st))))

(define* (patch-/usr/bin/file file #:key (file-command (which "file"))
                              (keep-mtime? #t))
  "Point the /usr/bin/file references of FILE (libtool's probe in configure
scripts) at FILE-COMMAND."
  (let ((st (stat file)))
    (when (and file-command (not (string=? file-command "/usr/bin/file")))
      (with-fluids ((%default-port-encoding "ISO-8859-1"))
        (substitute file (list (cons "/usr/bin/file" (const file-command)))
                    #:warn-unmatched? #f))
      (when keep-mtime? (set-file-time file st)))))

(define* (make-desktop-entry-file destination #:key (type "Application")
                                  name #:allow-other-keys #:rest args)
  "Write a freedesktop.org desktop entry to DESTINATION: Type= first, then
each keyword argument in the order given — #:generic-name → GenericName=,
#:try-exec → TryExec=, #:d-bus-activatable → DBusActivatable=.  Values are
booleans (true/false), numbers, strings (`;' escaped) or lists of strings
(joined with `;'); an alist ((#f \"default\") (\"fr\" \"texte\")) gives
localised keys (Name[fr]=).  #:name is required."
  (define (key->field key)
    (string-concatenate
     (map (lambda (w)
            (if (string-null? w) w
                (string-append (string-upcase (substring w 0 1))
                               (substring w 1))))
          (string-split (symbol->string (keyword->symbol key)) #\-))))
  (define (escape s) (string-join (string-split s #\;) "\\;"))
  (define (value->string v)
    (match v
      (#t "true")
      (#f "false")
      ((? number?) (number->string v))
      ((? string?) (escape v))
      (((? string?) ...) (string-join (map escape v) ";"))
      (_ (error "make-desktop-entry-file: not a boolean, number, string or \
list of strings" v))))
  (define (localised? v)
    (match v ((((or #f (? string?)) _) ...) (pair? v)) (_ #f)))
  (define (write-field port key v)
    (if (localised? v)
        (for-each (match-lambda
                    ((#f text) (format port "~a=~a~%" key (value->string text)))
                    ((locale text)
                     (format port "~a[~a]=~a~%" key locale
                             (value->string text))))
                  v)
        (format port "~a=~a~%" key (value->string v))))
  (unless name (error "make-desktop-entry-file: #:name is required"))
  (mkdir-p (dirname destination))
  (call-with-output-file destination
    (lambda (port)
      (format port "[Desktop Entry]~%")
      (let loop ((l (if (memq #:type args) args (cons* #:type type args))))
        (match l
          (() #t)
          (((? keyword? k) v . rest)
           (write-field port (key->field k) v)
           (loop rest))
          (_ (error "make-desktop-entry-file: expected keyword arguments"
                    args)))))))

;; The compilers of the (native) build; a cross target prefixes them.
(define* (cc-for-target #:optional target)
  (if target (string-append target "-gcc") "gcc"))
(define* (cxx-for-target #:optional target)
  (if target (string-append target "-g++") "g++"))
(define* (pkg-config-for-target #:optional target)
  (if target (string-append target "-pkg-config") "pkg-config"))
