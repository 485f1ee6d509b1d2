#!/usr/bin/env bash
# lv2 1.18.10 (conformance/guix/corpus/lv2.scm: bare meson-build-system, a
# libsndfile input and pkg-config native input, both Debian-mapped to /usr)
# built with meson-build-system's 24 phases over Debian's
# lv2_1.18.10.orig.tar.xz (sha256 equal to the Guix origin's).  Checks the
# headers, the pkg-config file and the spec bundles are installed under out,
# and that a program compiles against them through pkg-config.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
command -v meson >/dev/null || fail "meson is not installed (apt-get install meson ninja-build)"

tarball=$(fetch_orig debian/pool/main/l/lv2/lv2_1.18.10.orig.tar.xz \
  78c51bcf21b54e58bb6329accbb4dae03b2ed79b520f9a01e734bd9de530953f)
new_root
[[ -n ${KEEP:-} ]] || trap 'rm -rf "$ROOT"' EXIT
BS=meson PKG_NAME=lv2 PKG_VERSION=1.18.10 ARGUMENTS=""
out=$ROOT/gnu/store/1yt7dprl3fc7ykyd5hf1f4xxc2chwacq-lv2-1.18.10
SOURCE=$ROOT/gnu/store/78c51bcf21b54e58bb6329accbb4dae0-lv2-1.18.10.tar.xz
cp "$tarball" "$SOURCE"
OUTPUTS="(\"out\" . \"$out\")"
INPUTS='("libsndfile" . "/usr") ("pkg-config" . "/usr")'
run_all_phases

[[ -f $out/include/lv2/core/lv2.h ]] || fail "headers not installed"
[[ -f $out/lib/pkgconfig/lv2.pc ]] || fail "lv2.pc not installed"
[[ -f $out/lib/lv2/core.lv2/manifest.ttl ]] || fail "spec bundles not installed"
grep -q -- "--buildtype=debugoptimized" "$LOG" || fail "meson setup flags"
grep -q -- "--wrap-mode=nofallback" "$LOG" || fail "meson setup flags"
grep -q "starting phase \`shrink-runpath'" "$LOG" || fail "shrink-runpath did not run"
printf '#include <lv2/core/lv2.h>\nint main(void){return LV2_CORE__Plugin[0] == 0;}\n' > "$ROOT/p.c"
gcc -o "$ROOT/p" "$ROOT/p.c" $(PKG_CONFIG_PATH=$out/lib/pkgconfig pkg-config --cflags lv2)
"$ROOT/p" || fail "program against lv2 failed"
echo "ok: meson lv2 installed $(ls "$out/lib/lv2" | wc -l) spec bundles"
