#!/usr/bin/env bash
# pyproject-build-system's 32 phases over tests/fixtures/pyhello (a
# directory source, like a git checkout), whose PEP 517 backend is in-tree
# (#:backend-path from pyproject.toml), with #:configure-flags as
# config_settings.  Checks: the wheel lands in the `wheel' output, is
# unpacked into site-packages with bytecode, the console entry point and the
# wheel's data script are installed, wrapped, and run; the unittest suite
# ran after install.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

new_root
[[ -n ${KEEP:-} ]] || trap 'rm -rf "$ROOT"' EXIT
BS=pyproject PKG_NAME=python-pyhello PKG_VERSION=0.1
ARGUMENTS="#:configure-flags '((\"greeting\" . \"Hi\"))"
out=$ROOT/gnu/store/aaaabbbbccccddddeeeeffffgggghhhh-python-pyhello-0.1
wheel=$ROOT/gnu/store/aaaabbbbccccddddeeeeffffgggghhhh-python-pyhello-0.1-wheel
SOURCE=$ROOT/gnu/store/0123456789abcdfghijklmnpqrsvwxyz-python-pyhello-0.1-checkout
cp -r "$SCHEME_DIR/tests/fixtures/pyhello" "$SOURCE"
OUTPUTS="(\"out\" . \"$out\") (\"wheel\" . \"$wheel\")"
INPUTS='("python" . "/usr")'
run_all_phases

pyver=$(/usr/bin/python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')
site=$out/lib/python$pyver/site-packages
[[ -f $wheel/pyhello-0.1-py3-none-any.whl ]] || fail "no wheel in the wheel output"
[[ -f $site/pyhello/__init__.py ]] || fail "wheel not unpacked into $site"
ls "$site"/pyhello/__pycache__/*.pyc >/dev/null 2>&1 || fail "no bytecode"
[[ ! -e $site/pyhello-0.1.data ]] || fail ".data directory left in site-packages"
[[ -x $out/bin/.pyhello-real ]] || fail "entry point not wrapped"
[[ $(env -i "$out/bin/pyhello") == "Hello from pyhello" ]] || fail "bin/pyhello said: $(env -i "$out/bin/pyhello")"
[[ $(env -i "$out/bin/pyhello-script") == "Hi from pyhello" ]] \
  || fail "data script (config_settings greeting) said: $(env -i "$out/bin/pyhello-script" 2>&1)"
head -n1 "$out/bin/.pyhello-script-real" | grep -q '^#!/usr/bin/python3' || fail "#!python not rewritten"
grep -q "running tests with" "$LOG" || fail "check did not run"
grep -q "^OK" "$LOG" || fail "tests did not pass"
grep -q "imported pyhello" "$LOG" || fail "sanity-check did not import"
grep -q '("SOURCE_DATE_EPOCH" . "315619200")' "$ROOT/state/environ.scm" || fail "SOURCE_DATE_EPOCH"
echo "ok: pyproject pyhello: $(env -i "$out/bin/pyhello")"
