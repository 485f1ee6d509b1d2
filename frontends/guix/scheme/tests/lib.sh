# Shared helpers of the shell tests: fetching Debian orig tarballs (the
# upstream bytes, verified by sha256) and driving run-phase.scm phase by
# phase over a temporary root.  Sourced by tests/e2e-*.sh.

SCHEME_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE=${STRATA_GUIX_TEST_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/strata-guix-tests}
# The root of the mirror apt uses on this machine (first deb URI, its
# /debian suffix dropped: pool paths, as in DEBIAN-ORIG.tsv, start with
# debian/), else deb.debian.org.
DEBIAN_MIRROR=${STRATA_DEBIAN_MIRROR:-$(
  { grep -rhoE '^(URIs:|deb) +https?://[^ ]+/debian/?( |$)' /etc/apt/sources.list /etc/apt/sources.list.d/ 2>/dev/null || true; } \
    | head -n1 | sed -E 's/^(URIs:|deb) +//; s/ *$//; s#/$##; s#/debian$##')}
DEBIAN_MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org}

fail() { printf 'FAIL: %s\n' "$*" >&2; exit 1; }

# fetch_orig POOL-PATH SHA256 → prints the cached file (POOL-PATH as in
# conformance/guix/corpus/DEBIAN-ORIG.tsv: debian/pool/…)
fetch_orig() {
  local path=$1 sha=$2 file
  file=$CACHE/$(basename "$path")
  mkdir -p "$CACHE"
  if [[ ! -f $file ]] || ! echo "$sha  $file" | sha256sum -c --status; then
    curl -sSfL -o "$file.part" "$DEBIAN_MIRROR/$path" \
      || fail "cannot fetch $DEBIAN_MIRROR/$path"
    mv "$file.part" "$file"
  fi
  echo "$sha  $file" | sha256sum -c --status \
    || fail "$file: sha256 is $(sha256sum "$file" | cut -d' ' -f1), expected $sha"
  printf '%s\n' "$file"
}

# Write ROOT/phase.scm for phase NAME and run it.  Globals: ROOT BS
# ARGUMENTS PKG_NAME PKG_VERSION SOURCE OUTPUTS INPUTS CODE (optional,
# default standard) LOG.
run_phase() {
  local name=$1 code=${2:-standard}
  cat > "$ROOT/phase.scm" <<SCM
((name . $name)
 (build-system . $BS)
 (code . $code)
 (arguments . ($ARGUMENTS))
 (package . ("$PKG_NAME" . "$PKG_VERSION"))
 (source . "$SOURCE")
 (outputs . ($OUTPUTS))
 (inputs . ($INPUTS))
 (native-inputs . ())
 (system . "x86_64-linux")
 (build-dir . "$ROOT/tmp/guix-build-$PKG_NAME-$PKG_VERSION.drv-0")
 (state . "${STATE:-$ROOT/state}"))
SCM
  # A clean environment, as a container gives: the phases must get
  # everything else from the state directory.
  env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
      STRATA_GUIX_STORE="$ROOT/gnu/store" ${STRICT:+STRATA_GUIX_STRICT=1} \
      guile --no-auto-compile -L "$SCHEME_DIR" \
      "$SCHEME_DIR/strata/run-phase.scm" "$ROOT/phase.scm" >>"$LOG" 2>&1 \
    || { tail -n 30 "$LOG" >&2; fail "$PKG_NAME: phase $name failed (log: $LOG)"; }
}

# Run every standard phase of build system $BS in order.
run_all_phases() {
  local p
  for p in $(guile --no-auto-compile -L "$SCHEME_DIR" \
               "$SCHEME_DIR/strata/run-phase.scm" --list-phases "$BS"); do
    run_phase "$p"
  done
}

new_root() {
  ROOT=$(mktemp -d "${TMPDIR:-/tmp}/strata-guix-e2e.XXXXXX")
  mkdir -p "$ROOT/gnu/store" "$ROOT/state"
  LOG=$ROOT/build.log
  : > "$LOG"
}
