;;; strata — the standard phases of copy-build-system.
;;;
;;; This module owns copy-build-system's phase list (gnu's without bootstrap,
;;; configure, build and check, reference §2.5) and its `install' phase,
;;; which applies #:install-plan: entries (SOURCE TARGET [#:include …]
;;; [#:include-regexp …] [#:exclude …] [#:exclude-regexp …] [#:output NAME])
;;; relative to the unpacked source, with the semantics the reference
;;; records (verified against Guix there).

(define-module (strata build copy)
  #:use-module (strata build utils)
  #:use-module ((strata build gnu) #:prefix gnu:)
  #:use-module (srfi srfi-1)
  #:use-module (srfi srfi-11)
  #:use-module (srfi srfi-26)
  #:use-module (srfi srfi-34)
  #:use-module (srfi srfi-35)
  #:use-module (ice-9 match)
  #:use-module (ice-9 regex)
  #:export (%standard-phases
            %default-arguments
            install
            install-plan-entry))

(define %default-arguments
  (append
   '((#:install-plan . (("." "./"))))
   (remove (match-lambda
             ((k . _) (memq k '(#:configure-flags #:make-flags #:test-target
                                #:parallel-build? #:parallel-tests?
                                #:bootstrap-scripts))))
           gnu:%default-arguments)))

(define (parse-entry entry)
  "ENTRY → (values SOURCE TARGET FILTERS OUTPUT), FILTERS an alist of the
four filter keywords."
  (match entry
    ((source target . options)
     (let loop ((opts options) (filters '()) (output "out"))
       (match opts
         (() (values source target (reverse filters) output))
         ((#:output name . rest) (loop rest filters name))
         (((? keyword? k) (values ...) . rest)
          (unless (memq k '(#:include #:include-regexp #:exclude
                            #:exclude-regexp))
            (error (format #f "install-plan: unknown option ~s in ~s"
                           k entry)))
          (loop rest (acons k values filters) output))
         (_ (error (format #f "install-plan: malformed entry ~s" entry))))))
    (_ (error (format #f "install-plan: malformed entry ~s" entry)))))

(define (selected? rel filters)
  "Whether the relative path REL (\"./sub/file\") passes FILTERS: included
when no include filter is given or one matches (suffix or regexp search),
then not excluded."
  (define (any-suffix keys) (any (cut string-suffix? <> rel) keys))
  (define (any-regexp keys) (any (cut string-match <> rel) keys))
  (let ((incl (assq-ref filters #:include))
        (incl-rx (assq-ref filters #:include-regexp))
        (excl (assq-ref filters #:exclude))
        (excl-rx (assq-ref filters #:exclude-regexp)))
    (and (if (or incl incl-rx)
             (or (and incl (any-suffix incl))
                 (and incl-rx (any-regexp incl-rx)))
             #t)
         (not (and excl (any-suffix excl)))
         (not (and excl-rx (any-regexp excl-rx))))))

(define (install-plan-entry entry outputs)
  "Apply one install-plan ENTRY, relative to the cwd, into OUTPUTS."
  (let-values (((source target filters output) (parse-entry entry)))
    (let* ((out (or (assoc-ref outputs output)
                    (error (format #f "install-plan: no output ~s in ~s"
                                   output (map car outputs)))))
           (dest (string-append out "/" target))
           (file? (not (directory-exists? source))))
      (unless (file-exists? source)
        (error (format #f "install-plan: source ~s does not exist" source)))
      (cond
       ((and file? (pair? filters))
        (error "Cannot use filters when SOURCE is a file."))
       (file?
        ;; TARGET ending in / : put beneath; else copy as TARGET.
        (let ((d (if (string-suffix? "/" target)
                     (string-append dest (basename source))
                     dest)))
          (mkdir-p (dirname d))
          ;; A symlink is recreated, not followed.
          (if (symbolic-link? source)
              (symlink (readlink source) d)
              (copy-file source d))
          (format #t "`~a' -> `~a'~%" source d)))
       ((and (null? filters) (not (string-suffix? "/" source)))
        ;; The directory itself: as TARGET, or beneath it with a slash.
        (copy-recursively source
                          (if (string-suffix? "/" target)
                              (string-append dest (basename source))
                              dest)
                          #:keep-permissions? #f))
       (else
        ;; Contents mode (trailing slash on SOURCE, or any filter): the
        ;; files below SOURCE, paths relative to it kept.
        (let ((base (string-trim-right source #\/)))
          (for-each
           (lambda (file)
             (let* ((rel (string-append "." (substring file (string-length base))))
                    (d (string-append dest "/" rel)))
               (when (selected? rel filters)
                 (mkdir-p (dirname d))
                 (if (symbolic-link? file)
                     (symlink (readlink file) d)
                     (copy-file file d))
                 (format #t "`~a' -> `~a'~%" rel d))))
           (find-files base (const #t)))))))))

(define* (install #:key outputs (install-plan '(("." "./")))
                  #:allow-other-keys)
  (format #t "install plan: ~s~%" install-plan)
  (for-each (cut install-plan-entry <> outputs) install-plan))

(define %standard-phases
  (modify-phases gnu:%standard-phases
    (delete 'bootstrap)
    (delete 'configure)
    (delete 'build)
    (delete 'check)
    (replace 'install install)))
