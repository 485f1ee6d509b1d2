#!/usr/bin/env bash
# bzip2 1.0.8 (conformance/guix/corpus/bzip2.scm), the corpus' hardest gnu
# package: #:modules adding (ice-9 ftw) and (srfi srfi-1), #:make-flags built
# from (assoc-ref %outputs "out"), outputs out and static, and six added or
# replaced phases using scandir, a named let, with-directory-excursion,
# symlink, patch-makefile-SHELL and substitute*.  The phase list and code
# are what the host side produces from the definition's modify-phases (the
# gexp stripped, #$(%current-target-system) → #f); the lambdas below are
# the definition's, verbatim.  Source: Debian's bzip2_1.0.8.orig.tar.gz
# (sha256 equal to the Guix origin's).  Checks bzip2 round-trips a file, the
# shared-library symlink chain, the static library in its own output, and
# the patched bzdiff.
#
# Then zip 3.0 (corpus/zip.scm: #:make-flags from a let over
# (assoc-ref %outputs "out"), (replace 'build) applying invoke to them,
# (delete 'configure)) with that bzip2 as a store input — the graph edge
# zip → bzip2: set-paths must point the compiler at bzip2's include and lib
# and the ld-wrapper adds its lib to the RUNPATH, so zip links the store libbz2 and records it
# in its RUNPATH.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

tarball=$(fetch_orig debian/pool/main/b/bzip2/bzip2_1.0.8.orig.tar.gz \
  ab5a03176ee106d3f0fa90e381da478ddae405918153cca248e682cd0c4a2269)
new_root
[[ -n ${KEEP:-} ]] || trap 'rm -rf "$ROOT"' EXIT
BS=gnu PKG_NAME=bzip2 PKG_VERSION=1.0.8
ARGUMENTS="#:modules '((guix build gnu-build-system) (guix build utils) (ice-9 ftw) (srfi srfi-1))
  #:make-flags (list (string-append \"PREFIX=\" (assoc-ref %outputs \"out\")))
  #:tests? #t"
out=$ROOT/gnu/store/0s92986cv0p692icqlw1j42y9nld8zd8-bzip2-1.0.8
static=$ROOT/gnu/store/0s92986cv0p692icqlw1j42y9nld8zd8-bzip2-1.0.8-static
SOURCE=$ROOT/gnu/store/ab5a03176ee106d3f0fa90e381da478d-bzip2-1.0.8.tar.gz
cp "$tarball" "$SOURCE"
OUTPUTS="(\"out\" . \"$out\") (\"static\" . \"$static\")"
INPUTS=''

hide_input_bzip2='(lambda* (#:key inputs #:allow-other-keys)
  (let ((bzip2 (assoc-ref inputs "bzip2")))
    (if bzip2
        (begin
          (setenv "LIBRARY_PATH"
                  (string-join (delete (string-append bzip2 "/lib")
                                       (string-split (getenv "LIBRARY_PATH")
                                                     #\:))
                               ":"))
          (format #t "environment variable `LIBRARY_PATH'"'"' set to `~a'"'"'~%"
                  (getenv "LIBRARY_PATH")))
        (format #t "no bzip2 found, nothing done~%"))
    #t))'
configure='(lambda* (#:key target #:allow-other-keys)
  (when #f
    (substitute* (find-files "." "Makefile")
      (("CC=.*$")
       (string-append "CC = " target "-gcc\n"))))
  #t)'
build_shared_lib='(lambda* (#:key inputs #:allow-other-keys)
  (patch-makefile-SHELL "Makefile-libbz2_so")
  (invoke "make" "-f" "Makefile-libbz2_so"))'
install_shared_lib='(lambda* (#:key outputs #:allow-other-keys)
  (let* ((out    (assoc-ref outputs "out"))
         (libdir (string-append out "/lib"))
         (soname "libbz2.so")
         (lib (car (scandir "."
                            (lambda (file)
                              (and (string-prefix? soname file)
                                   (eq? (quote regular)
                                        (stat:type (lstat file))))))))
         (soversion (string-drop lib (+ 1 (string-length soname)))))
    (install-file lib libdir)
    (with-directory-excursion libdir
      (let loop ((base soname)
                 (numbers (string-split soversion #\.)))
        (unless (null? numbers)
          (let ((so-file (string-append base "." (car numbers))))
            (symlink so-file base)
            (loop so-file (cdr numbers))))))
    #t))'
move_static_lib='(lambda* (#:key outputs #:allow-other-keys)
  (let ((out (assoc-ref outputs "out"))
        (static (assoc-ref outputs "static")))
    (with-directory-excursion (string-append out "/lib")
      (install-file "libbz2.a" (string-append static "/lib"))
      (delete-file "libbz2.a")
      #t)))'
patch_scripts='(lambda* (#:key outputs inputs #:allow-other-keys)
  (let* ((out (assoc-ref outputs "out")))
    (substitute* (string-append out "/bin/bzdiff")
      (("/bin/rm") "rm")))
  #t)'

# The list modify-phases yields (two add-after on install-shared-lib: the
# later one, patch-scripts, runs first).
for p in separate-from-pid1 set-SOURCE-DATE-EPOCH set-paths hide-input-bzip2 \
         install-locale unpack bootstrap patch-usr-bin-file \
         patch-source-shebangs configure patch-generated-file-shebangs \
         build-shared-lib build check install install-shared-lib \
         patch-scripts move-static-lib patch-shebangs strip validate-runpath \
         validate-documentation-location delete-info-dir-file \
         patch-dot-desktop-files make-dynamic-linker-cache \
         install-license-files reset-gzip-timestamps compress-documentation; do
  case $p in
    hide-input-bzip2) run_phase "$p" "$hide_input_bzip2" ;;
    configure) run_phase "$p" "$configure" ;;
    build-shared-lib) run_phase "$p" "$build_shared_lib" ;;
    install-shared-lib) run_phase "$p" "$install_shared_lib" ;;
    move-static-lib) run_phase "$p" "$move_static_lib" ;;
    patch-scripts) run_phase "$p" "$patch_scripts" ;;
    *) run_phase "$p" ;;
  esac
done

echo "round trip me" > "$ROOT/data"
"$out/bin/bzip2" -k "$ROOT/data"
[[ $("$out/bin/bzip2" -dc "$ROOT/data.bz2") == "round trip me" ]] || fail "bzip2 round trip"
[[ $(readlink "$out/lib/libbz2.so") == libbz2.so.1 ]] || fail "libbz2.so link"
[[ $(readlink "$out/lib/libbz2.so.1") == libbz2.so.1.0 ]] || fail "libbz2.so.1 link"
[[ $(readlink "$out/lib/libbz2.so.1.0") == libbz2.so.1.0.8 ]] || fail "libbz2.so.1.0 link"
[[ -f $out/lib/libbz2.so.1.0.8 ]] || fail "shared library not installed"
[[ -f $static/lib/libbz2.a && ! -e $out/lib/libbz2.a ]] || fail "static library not moved to the static output"
grep -q '/bin/rm' "$out/bin/bzdiff" && fail "bzdiff still calls /bin/rm"
grep -q 'no bzip2 found, nothing done' "$LOG" || fail "hide-input-bzip2 did not run"
grep -q 'PREFIX=' "$LOG" || true
[[ -f $out/share/doc/bzip2-1.0.8/LICENSE && -f $static/share/doc/bzip2-1.0.8/LICENSE ]] \
  || fail "LICENSE not in every output"

# zip, with bzip2's out as an input.
tarball=$(fetch_orig debian/pool/main/z/zip/zip_3.0.orig.tar.gz \
  f0e8bb1f9b7eb0b01285495a2699df3a4b766784c1765a8f1aeedf63c0806369)
STATE=$ROOT/state-zip
mkdir -p "$STATE"
PKG_NAME=zip PKG_VERSION=3.0
ARGUMENTS='#:tests? #f
  #:make-flags (let ((out (assoc-ref %outputs "out")))
                 (list "-f" "unix/Makefile"
                       "CC=gcc -Wno-error=implicit-function-declaration"
                       (string-append "prefix=" out)
                       (string-append "MANDIR=" out "/share/man/man1")))'
zip_out=$ROOT/gnu/store/06r2md4jysp5q5lx108vgv8b7c596zhh-zip-3.0
SOURCE=$ROOT/gnu/store/f0e8bb1f9b7eb0b01285495a2699df3a-zip30.tar.gz
cp "$tarball" "$SOURCE"
OUTPUTS="(\"out\" . \"$zip_out\")"
INPUTS="(\"bzip2\" . \"$out\")"
zip_build='(lambda* (#:key (make-flags (quote ())) #:allow-other-keys)
  (apply invoke "make" "generic" make-flags))'
for p in $(guile --no-auto-compile -L "$SCHEME_DIR" \
             "$SCHEME_DIR/strata/run-phase.scm" --list-phases gnu); do
  case $p in
    configure) ;;                                   # (delete 'configure)
    build) run_phase "$p" "$zip_build" ;;
    *) run_phase "$p" ;;
  esac
done
grep -q "(\"C_INCLUDE_PATH\" . \"$out/include\")" "$STATE/environ.scm" \
  || fail "C_INCLUDE_PATH does not point at bzip2's include"
readelf -d "$zip_out/bin/zip" | grep -q "RUNPATH.*$out/lib" \
  || fail "zip's RUNPATH lacks bzip2's lib: $(readelf -d "$zip_out/bin/zip" | grep -i path)"
ldd "$zip_out/bin/zip" | grep -q "libbz2.so.1.0 => $out/lib/" \
  || fail "zip does not load the store libbz2: $(ldd "$zip_out/bin/zip" | grep bz2)"
"$zip_out/bin/zip" -v | grep -qi "bzip2" || fail "zip lacks bzip2 support"
(cd "$ROOT" && "$zip_out/bin/zip" -q -Z bzip2 data.zip data)
/usr/bin/python3 -c 'import sys, zipfile; sys.stdout.write(zipfile.ZipFile(sys.argv[1]).read("data").decode())' \
  "$ROOT/data.zip" | grep -qx "round trip me" || fail "zip round trip"
echo "ok: gnu bzip2 round-trips (libbz2.a in the static output); zip links the store libbz2 and round-trips"
