#!/usr/bin/env bash
# Configures and builds flakelab.
#   bash ci/build.sh BUILD_DIR [BUILD_TYPE] [--sanitize] [--no-benchmarks]
# BUILD_TYPE defaults to Release; --sanitize builds with ASan+UBSan
# (-DFLAKELAB_SANITIZE=ON); --no-benchmarks skips the Google Benchmark targets
# (numbers from a sanitized build mean nothing). FLAKELAB_JOBS sets the parallel
# jobs (default 2).
set -euo pipefail

usage() {
  echo "usage: bash ci/build.sh BUILD_DIR [BUILD_TYPE] [--sanitize] [--no-benchmarks]" >&2
  exit 2
}

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build_dir=""
build_type=Release
sanitize=OFF
benchmarks=ON
for arg in "$@"; do
  case "$arg" in
    --sanitize) sanitize=ON ;;
    --no-benchmarks) benchmarks=OFF ;;
    -h|--help) usage ;;
    -*) echo "build.sh: unknown option $arg" >&2; usage ;;
    *)
      if [[ -z "$build_dir" ]]; then build_dir=$arg
      else build_type=$arg
      fi
      ;;
  esac
done
[[ -n "$build_dir" ]] || usage

echo "build: $build_dir ($build_type, sanitize=$sanitize, benchmarks=$benchmarks)"
cmake -S "$root" -B "$build_dir" \
  -DCMAKE_BUILD_TYPE="$build_type" \
  -DFLAKELAB_SANITIZE="$sanitize" \
  -DFLAKELAB_BENCHMARKS="$benchmarks"
cmake --build "$build_dir" -j "${FLAKELAB_JOBS:-2}"
