#!/usr/bin/env bash
# GNU hello 2.12.3 (the shared conformance/guix/hello.scm) built with
# gnu-build-system's standard phases, one run-phase.scm process per phase,
# over Debian's hello_2.12.3.orig.tar.gz (byte-identical to upstream: same
# sha256 as the Guix origin).  Checks the installed program greets, the
# license and info files were installed and documentation compressed, and
# that env and cwd were carried between processes.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

tarball=$(fetch_orig debian/pool/main/h/hello/hello_2.12.3.orig.tar.gz \
  0d5f60154382fee10b114a1c34e785d8b1f492073ae2d3a6f7b147687b366aa0)
new_root
[[ -n ${KEEP:-} ]] || trap 'rm -rf "$ROOT"' EXIT
BS=gnu PKG_NAME=hello PKG_VERSION=2.12.3 ARGUMENTS=""
out=$ROOT/gnu/store/0a1b2c3d4e5f6g7h8i9j0k1l2m3n4o5p-hello-2.12.3
SOURCE=$ROOT/gnu/store/q1w2e3r4t5y6u7i8o9p0a1s2d3f4g5h6-hello-2.12.3.tar.gz
cp "$tarball" "$SOURCE"
OUTPUTS="(\"out\" . \"$out\")"
INPUTS='("coreutils" . "/usr") ("gcc" . "/usr") ("make" . "/usr")'
run_all_phases

[[ -x $out/bin/hello ]] || fail "no $out/bin/hello"
greeting=$("$out/bin/hello")
[[ $greeting == "Hello, world!" ]] || fail "hello said: $greeting"
[[ -f $out/share/doc/hello-2.12.3/COPYING ]] || fail "license not installed"
ls "$out"/share/man/man1/hello.1.* >/dev/null 2>&1 || fail "man page missing"
[[ ! -e $out/share/man/man1/hello.1 ]] || fail "man page not compressed"
[[ ! -e $out/share/info/dir ]] || fail "share/info/dir not deleted"
ls "$out"/share/info/hello.info.gz >/dev/null || fail "info not gzipped"
grep -q "^configure .*--prefix=$out" "$LOG" 2>/dev/null \
  || grep -q -- "--prefix=$out" "$LOG" || fail "configure flags not logged"
# State: the last phase saw SOURCE_DATE_EPOCH and LC_ALL set by early phases.
grep -q '("SOURCE_DATE_EPOCH" . "1")' "$ROOT/state/environ.scm" || fail "SOURCE_DATE_EPOCH not carried"
grep -q '("LC_ALL" . "C.UTF-8")' "$ROOT/state/environ.scm" || fail "LC_ALL not carried"
[[ $(cat "$ROOT/state/cwd") == "$ROOT/tmp/guix-build-hello-2.12.3.drv-0/hello-2.12.3" ]] \
  || fail "cwd is $(cat "$ROOT/state/cwd")"
[[ $(wc -l < "$ROOT/state/phases") == 23 ]] || fail "not 23 phases logged"
file -b "$out/bin/hello" | grep -q 'not stripped' && fail "hello not stripped"
echo "ok: gnu hello greets: $greeting"
