;;; Unit tests of (strata build copy): copy-build-system's phase list and
;;; #:install-plan, one test per row of the reference's table (§2.5).

(use-modules (srfi srfi-1)
             (srfi srfi-34)
             (srfi srfi-35)
             (srfi srfi-64)
             (ice-9 match)
             (strata build utils)
             ((strata build copy) #:prefix copy:)
             (harness))

(test-begin "copy")

(test-equal "19 phases: gnu's without bootstrap, configure, build, check"
  '(separate-from-pid1 set-SOURCE-DATE-EPOCH set-paths install-locale unpack
    patch-usr-bin-file patch-source-shebangs patch-generated-file-shebangs
    install patch-shebangs strip validate-runpath
    validate-documentation-location delete-info-dir-file
    patch-dot-desktop-files make-dynamic-linker-cache install-license-files
    reset-gzip-timestamps compress-documentation)
  (map car copy:%standard-phases))

(define (plan-result plan)
  "Run PLAN over a fixed source tree; the sorted files of out and doc,
relative to each."
  (with-temporary-directory dir
    (chdir dir)
    (for-each (lambda (f) (write-file (string-append "src/" f) f))
              '("foo/top.txt" "foo/sub/file" "foo/sub/myfile" "doc/manual"))
    (chdir "src")
    (let ((out (string-append dir "/out"))
          (doc (string-append dir "/doc")))
      (with-output-to-string
        (lambda ()
          (copy:install #:outputs `(("out" . ,out) ("doc" . ,doc))
                        #:install-plan plan)))
      (append
       (map (lambda (f) (substring f (+ 1 (string-length out))))
            (find-files out))
       (map (lambda (f) (string-append "doc:" (substring f (+ 1 (string-length doc)))))
            (find-files doc))))))

(test-equal "a file to TARGET/ goes beneath"
  '("share/a/top.txt")
  (plan-result '(("foo/top.txt" "share/a/"))))

(test-equal "a symlink SOURCE is recreated as a symlink"
  "top.txt"
  (with-temporary-directory dir
    (chdir dir)
    (write-file "src/foo/top.txt" "x")
    (symlink "top.txt" "src/foo/link")
    (chdir "src")
    (with-output-to-string
      (lambda ()
        (copy:install #:outputs `(("out" . ,(string-append dir "/out")))
                      #:install-plan '(("foo/link" "l/")))))
    (readlink (string-append dir "/out/l/link"))))

(test-equal "a file to TARGET is copied as TARGET"
  '("share/b")
  (plan-result '(("foo/top.txt" "share/b"))))

(test-equal "a directory to TARGET is copied as TARGET"
  '("share/c/sub/file" "share/c/sub/myfile" "share/c/top.txt")
  (plan-result '(("foo" "share/c"))))

(test-equal "a directory to TARGET/ goes beneath"
  '("share/d/foo/sub/file" "share/d/foo/sub/myfile" "share/d/foo/top.txt")
  (plan-result '(("foo" "share/d/"))))

(test-equal "SOURCE/ copies the contents"
  '("share/e/sub/file" "share/e/sub/myfile" "share/e/top.txt")
  (plan-result '(("foo/" "share/e"))))

(test-equal "#:include is a suffix test on ./rel/path, structure kept"
  '("share/f/sub/file" "share/f/sub/myfile")
  (plan-result '(("foo" "share/f" #:include ("file")))))

(test-equal "#:include-regexp is searched in ./rel/path"
  '("share/g/sub/file" "share/g/sub/myfile")
  (plan-result '(("foo" "share/g" #:include-regexp ("sub/")))))

(test-equal "#:exclude drops paths ending in it"
  '("share/h/top.txt")
  (plan-result '(("foo" "share/h" #:exclude ("file")))))

(test-equal "#:output sends the entry to another output"
  '("doc:share/doc/x/manual")
  (plan-result '(("doc/" "share/doc/x" #:output "doc"))))

(test-equal "the default plan copies the whole tree into out"
  '("doc/manual" "foo/sub/file" "foo/sub/myfile" "foo/top.txt")
  (plan-result '(("." "./"))))

(test-assert "filters on a file SOURCE are an error"
  (guard (c (#t (string-contains
                 (call-with-output-string
                   (lambda (p) (print-exception p #f '%exception (list c))))
                 "Cannot use filters when SOURCE is a file")))
    (plan-result '(("foo/top.txt" "x" #:include ("t"))))
    #f))

(finish-tests "copy")
