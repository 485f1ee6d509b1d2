#!/usr/bin/env bash
# lsix 1.9.1 (conformance/guix/corpus/lsix.scm: copy-build-system,
# #:install-plan '(("lsix" "bin/"))), its git-fetch origin stood in for by
# Debian's lsix_1.9.1.orig.tar.xz unpacked (the NAR hash of that tree equals
# Guix's), given to the phases as a directory source like a checkout.
# Checks the plan installed bin/lsix, patch-shebangs pointed it at the
# Debian bash, and the license went to share/doc.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

tarball=$(fetch_orig debian/pool/main/l/lsix/lsix_1.9.1.orig.tar.xz \
  caf04fe29eb12d5e7a60e71a83a0568d1df8eff806b195f40b91ca14ca01356f)
new_root
[[ -n ${KEEP:-} ]] || trap 'rm -rf "$ROOT"' EXIT
BS=copy PKG_NAME=lsix PKG_VERSION=1.9.1
ARGUMENTS="#:install-plan '((\"lsix\" \"bin/\"))"
out=$ROOT/gnu/store/1w4wgnkvvirpgxy00jlpw7p1pcflnwy3-lsix-1.9.1
SOURCE=$ROOT/gnu/store/0123456789abcdfghijklmnpqrsvwxyz-lsix-1.9.1-checkout
mkdir -p "$SOURCE"
tar -xJf "$tarball" -C "$SOURCE" --strip-components=1
OUTPUTS="(\"out\" . \"$out\")"
INPUTS='("imagemagick" . "/usr")'
run_all_phases

[[ -x $out/bin/lsix ]] || fail "no executable $out/bin/lsix"
head -n1 "$out/bin/lsix" | grep -qx "#!$(command -v bash)" \
  || fail "shebang not patched: $(head -n1 "$out/bin/lsix")"
bash -n "$out/bin/lsix" || fail "bin/lsix is not a valid bash script"
[[ -f $out/share/doc/lsix-1.9.1/LICENSE ]] || fail "license not installed"
[[ $(find "$out" -type f | wc -l) == 2 ]] || fail "unexpected files: $(find "$out" -type f)"
grep -q "install plan: ((\"lsix\" \"bin/\"))" "$LOG" || fail "plan not logged"
echo "ok: copy lsix installed bin/lsix"
