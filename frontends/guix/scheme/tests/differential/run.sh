#!/usr/bin/env bash
# Differential check against Guix's own build-side code (not part of
# run-tests.sh: it needs a Guix source tree, which strata does not carry).
#
#   tests/differential/run.sh GUIX-SOURCE-DIR
#
# GUIX-SOURCE-DIR is a Guix checkout (its guix/build/utils.scm,
# copy-build-system.scm, gnu-build-system.scm, gremlin.scm and guix/elf.scm
# are loaded from it). Each script here runs twice — once with Guix's
# (guix build …) modules, once with strata's (the aliases in guix/build/) —
# and the outputs are diffed. Expected differences are the deliberate ones
# of ADAPTATIONS.md (modify-phases' error, patch-makefile-SHELL keeping `:=`,
# wrap-program's quoting, copy-recursively creating a missing parent).
set -uo pipefail
guix=${1:?usage: run.sh GUIX-SOURCE-DIR}
here=$(cd "$(dirname "$0")" && pwd)
scheme=$(cd "$here/../.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# Both sides see the test root's store as the store.
export NIX_STORE=$work/root/gnu/store STRATA_GUIX_STORE=$work/root/gnu/store
# Guix reads it when its module loads.
export NIX_BUILD_CORES=3
for t in utils-cases install-plan gnu-phases build-commands; do
  guile --no-auto-compile -L "$guix" "$here/$t.scm" "$work/root" guix >"$work/$t.guix" 2>/dev/null
  guile --no-auto-compile -L "$scheme" "$here/$t.scm" "$work/root" strata >"$work/$t.strata" 2>/dev/null
  echo "=== $t"
  diff "$work/$t.guix" "$work/$t.strata" && echo "identical"
done
