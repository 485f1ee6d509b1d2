#!/usr/bin/env bash
# libebml 1.4.5 (conformance/guix/corpus/libebml.scm: cmake-build-system,
# #:configure-flags (list "-DBUILD_SHARED_LIBS=YES"), #:tests? #f) built with
# cmake-build-system's phases over Debian's libebml_1.4.5.orig.tar.xz
# (sha256 equal to the Guix origin's).  Checks the shared library and the
# headers are installed under the out path with its RUNPATH, and that a
# program links against it and runs.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
command -v cmake >/dev/null || fail "cmake is not installed (apt-get install cmake)"

tarball=$(fetch_orig debian/pool/main/libe/libebml/libebml_1.4.5.orig.tar.xz \
  4971640b0592da29c2d426f303e137a9b0b3d07e1b81d069c1e56a2f49ab221b)
new_root
[[ -n ${KEEP:-} ]] || trap 'rm -rf "$ROOT"' EXIT
BS=cmake PKG_NAME=libebml PKG_VERSION=1.4.5
ARGUMENTS='#:configure-flags (list "-DBUILD_SHARED_LIBS=YES") #:tests? #f'
out=$ROOT/gnu/store/06r2md4jysp5q5lx108vgv8b7c596zhh-libebml-1.4.5
SOURCE=$ROOT/gnu/store/4971640b0592da29c2d426f303e137a9-libebml-1.4.5.tar.xz
cp "$tarball" "$SOURCE"
OUTPUTS="(\"out\" . \"$out\")"
INPUTS='("gcc" . "/usr") ("cmake" . "/usr")'
run_all_phases

lib=$(ls "$out"/lib/libebml.so.* | head -n1)
[[ -f $lib ]] || fail "no shared library in $out/lib"
[[ -f $out/include/ebml/EbmlVersion.h ]] || fail "headers not installed"
[[ -f $out/lib/pkgconfig/libebml.pc ]] || fail "pkg-config file not installed"
readelf -d "$lib" | grep -q "RUNPATH.*$out/lib" || fail "RUNPATH lacks $out/lib"
file -b "$lib" | grep -q 'not stripped' && fail "library not stripped"
grep -q -- "-DBUILD_SHARED_LIBS=YES" "$LOG" || fail "configure flags not passed"
grep -q "test suite not run" "$LOG" || fail "#:tests? #f not honoured"
cat > "$ROOT/v.cpp" <<'CPP'
#include <ebml/EbmlVersion.h>
#include <iostream>
int main() { std::cout << libebml::EbmlCodeVersion << std::endl; }
CPP
g++ -o "$ROOT/v" "$ROOT/v.cpp" -I"$out/include" -L"$out/lib" -lebml -Wl,-rpath="$out/lib"
[[ $("$ROOT/v") == 1.4.5 ]] || fail "linked program printed $("$ROOT/v")"
echo "ok: cmake libebml $("$ROOT/v") built and links"
