#!/usr/bin/env bash
# README command (2): bootstrap, then build and run every test twice: a Release build
# in build/ and an ASan+UBSan build in build-asan/; then fuzz the image decoder for
# a bounded time (ci/fuzz.sh). Exits non-zero if anything fails.
# FLAKELAB_BUILD / FLAKELAB_BUILD_ASAN override the two build directories.
set -uo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

# Phase times go into the summary: the whole run must stay under CI's 30 minutes.
bash ci/bootstrap.sh || exit 1
echo "bootstrap: $SECONDS s"

declare -A results=()
failed=0

# suite NAME BUILD_DIR BUILD_ARGS...
suite() {
  local name=$1 dir=$2
  shift 2
  echo
  echo "=== $name: build ($dir) ==="
  local started=$SECONDS
  if ! bash ci/build.sh "$dir" "$@"; then
    results[$name]="build FAILED"
    failed=1
    return
  fi
  echo
  echo "=== $name: ctest ($dir) ==="
  local log="$dir/ctest.log" built=$SECONDS
  (cd "$dir" && ctest --output-on-failure --timeout 900) 2>&1 | tee "$log"
  local rc=${PIPESTATUS[0]}
  results[$name]="build $((built - started)) s; $(grep -E "tests passed|tests failed|Total Test time" "$log" | tr '\n' ' ')"
  if ((rc != 0)); then
    results[$name]+="(ctest exit $rc)"
    failed=1
  fi
}

# The Release run keeps the HTML report test's Chromium screenshot (a CI artifact).
release_dir=${FLAKELAB_BUILD:-build}
[[ $release_dir = /* ]] || release_dir=$root/$release_dir
FLAKELAB_REPORT_SCREENSHOT="$release_dir/report-screenshot.png" suite release "${FLAKELAB_BUILD:-build}" Release
# Benchmarks are built (and compile-checked) once, in the Release build.
suite asan+ubsan "${FLAKELAB_BUILD_ASAN:-build-asan}" RelWithDebInfo --sanitize --no-benchmarks

# The image decoder under libFuzzer, for a bounded time: 30 s here, within CI's 30-minute
# budget (FLAKELAB_FUZZ_SECONDS overrides; ci/fuzz.sh alone defaults to 60 s).
export FLAKELAB_FUZZ_SECONDS=${FLAKELAB_FUZZ_SECONDS:-30}
echo
echo "=== fuzz: image decoder ==="
fuzz_started=$SECONDS
if bash ci/fuzz.sh "${FLAKELAB_BUILD_FUZZ:-build-fuzz}"; then
  results[fuzz]="no crash in ${FLAKELAB_FUZZ_SECONDS}s (build and fuzz $((SECONDS - fuzz_started)) s)"
else
  results[fuzz]="FAILED"
  failed=1
fi

echo
echo "=== summary ==="
for name in release asan+ubsan fuzz; do
  echo "$name: ${results[$name]:-not run}"
done
echo "total: $SECONDS s"
if ((failed)); then
  echo "FAILED"
  exit 1
fi
echo "OK"
