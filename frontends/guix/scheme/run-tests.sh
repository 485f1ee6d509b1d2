#!/usr/bin/env bash
# Runs every test of strata's build-side Guix Scheme on the host (guile-3.0,
# no root): the SRFI-64 unit tests tests/*.scm, then the end-to-end builds
# tests/e2e-*.sh (real upstream sources from the Debian mirror apt uses,
# cached in $STRATA_GUIX_TEST_CACHE, default ~/.cache/strata-guix-tests).
#
#   ./run-tests.sh            everything
#   ./run-tests.sh --unit     unit tests only (no network, a few seconds)
#   ./run-tests.sh NAME…      only the named tests (utils, gnu, e2e-gnu-hello…)
#
# Exits non-zero when any test fails; each failure is named at the end.
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
command -v guile >/dev/null || { echo "run-tests: guile not found (apt-get install guile-3.0)" >&2; exit 2; }

unit=() e2e=()
for f in "$here"/tests/*.scm; do
  n=$(basename "$f" .scm); [[ $n == harness ]] || unit+=("$n")
done
for f in "$here"/tests/e2e-*.sh; do e2e+=("$(basename "$f" .sh)"); done

selected=()
case ${1:-} in
  "") selected=("${unit[@]}" "${e2e[@]}") ;;
  --unit) selected=("${unit[@]}") ;;
  *) selected=("$@") ;;
esac

work=$(mktemp -d "${TMPDIR:-/tmp}/strata-guix-tests.XXXXXX")
trap 'rm -rf "$work"' EXIT
failed=()
for t in "${selected[@]}"; do
  log=$work/$t.out
  start=$SECONDS
  if [[ -f $here/tests/$t.scm ]]; then
    # SRFI-64 writes its log into the cwd.
    (cd "$work" && STRATA_GUIX_SCHEME_DIR=$here guile --no-auto-compile \
       -L "$here" -L "$here/tests" "$here/tests/$t.scm") >"$log" 2>&1
  elif [[ -f $here/tests/$t.sh ]]; then
    bash "$here/tests/$t.sh" >"$log" 2>&1
  else
    echo "run-tests: no test named $t" >&2; failed+=("$t"); continue
  fi
  rc=$?
  if [[ $rc == 0 ]]; then
    printf 'PASS %-22s %4ss  %s\n' "$t" $((SECONDS - start)) \
      "$(grep -E '^(# of expected passes|ok:)' "$log" | tr -s ' ' | tr '\n' ' ')"
  else
    printf 'FAIL %-22s %4ss\n' "$t" $((SECONDS - start))
    grep -E 'FAIL|^error|^warning' "$log" | head -n 20 | sed 's/^/    /'
    [[ -f $work/$t.log ]] && grep -B2 -A8 'result-kind: fail' "$work/$t.log" \
      | grep -v source-form | head -n 60 | sed 's/^/    /'
    tail -n 15 "$log" | sed 's/^/    /'
    failed+=("$t")
  fi
done
if (( ${#failed[@]} )); then
  echo "run-tests: FAILED: ${failed[*]}"
  exit 1
fi
echo "run-tests: all ${#selected[@]} passed"
