#!/usr/bin/env bash
# Builds the image-decoder libFuzzer target (clang, ASan+UBSan) and fuzzes it for a
# bounded time. Exits non-zero if the fuzzer finds a crash, a leak or a sanitizer
# report (the reproducer is left in the build directory).
#   bash ci/fuzz.sh [BUILD_DIR]     FLAKELAB_FUZZ_SECONDS (default 60)
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
dir=${1:-$root/build-fuzz}
seconds=${FLAKELAB_FUZZ_SECONDS:-60}

CXX=clang++ cmake -S "$root/engine/fuzz" -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$dir" -j "${FLAKELAB_JOBS:-2}"
mkdir -p "$dir/corpus"
echo "fuzz: engine_decode_fuzzer for ${seconds}s (corpus $dir/corpus)"
cd "$dir"
./engine_decode_fuzzer -max_total_time="$seconds" -rss_limit_mb=4096 -print_final_stats=1 corpus 2>&1 | tail -20
