#!/usr/bin/env bash
# Runs the benchmarks issue 21 asks for and prints their medians beside the machine's
# floors and CRIU, as ratios measured in the same run:
#   bash ci/bench_vs_criu.sh [BUILD_DIR] [--repetitions N] [--out DIR]
# BUILD_DIR defaults to build (a Release build with benchmarks). FLAKELAB_CRIU names a
# criu binary (default /work/peers/criu/criu/criu when it exists); without one the CRIU
# rows are left out. Each benchmark runs N >= 2 times (default 5); the median of the
# repetitions is what is printed. The JSON of every binary is kept in DIR (default a
# new temp directory, printed). Needs root (ptrace, namespaces). Exit status: 0 when
# every benchmark ran (a target not met is reported, not an error), 1 otherwise.
set -euo pipefail

usage() {
  echo "usage: bash ci/bench_vs_criu.sh [BUILD_DIR] [--repetitions N] [--out DIR]" >&2
  exit 2
}

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=""
reps=5
out=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --repetitions)  # a median needs two
      [[ $# -ge 2 && "$2" =~ ^([2-9]|[1-9][0-9]+)$ ]] || usage; reps=$2; shift 2 ;;
    --out) [[ $# -ge 2 ]] || usage; out=$2; shift 2 ;;
    -h|--help) usage ;;
    -*) echo "bench_vs_criu.sh: unknown option $1" >&2; usage ;;
    *) [[ -z "$build" ]] || usage; build=$1; shift ;;
  esac
done
build=${build:-$root/build}
[[ -d "$build" ]] || { echo "bench_vs_criu.sh: no build directory $build" >&2; exit 1; }
if [[ -z "${FLAKELAB_CRIU:-}" && -x /work/peers/criu/criu/criu ]]; then export FLAKELAB_CRIU=/work/peers/criu/criu/criu; fi
if [[ -n "${FLAKELAB_CRIU:-}" && ! -x "$FLAKELAB_CRIU" ]]; then
  echo "bench_vs_criu.sh: FLAKELAB_CRIU=$FLAKELAB_CRIU is not an executable" >&2
  exit 1
fi
out=${out:-$(mktemp -d /tmp/flakelab-bench-vs-criu-XXXXXX)}
mkdir -p "$out"

# binary (relative to the build), json name, filter
runs=(
  "engine/bench/engine_cli_bench engine_cli BM_VsCriu|BM_CliVersion|BM_CliDumpFresh|BM_CliRestore|Floor_"
  "engine/bench/engine_bench engine BM_Dump/|BM_Restore/|Floor_"
  "scenarios/bench/scm_bench scm BM_ScmTrial/scm06/0|Floor_Fork"
  "harness/bench/harness_bench harness BM_Trial/selftest_noop|BM_Throughput|Floor_Fork"
  "compel/bench/compel_bench compel ."
)
if [[ -z "${FLAKELAB_CRIU:-}" ]]; then
  echo "bench_vs_criu.sh: no FLAKELAB_CRIU: CRIU is left out" >&2
  runs[0]="engine/bench/engine_cli_bench engine_cli BM_CliVersion|BM_CliDumpFresh|BM_CliRestore|Floor_"
fi

echo "machine: $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(nproc) CPUs, $(uname -r)"
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
for r in "${runs[@]}"; do
  read -r bin name filter <<<"$r"
  [[ -x "$build/$bin" ]] || { echo "bench_vs_criu.sh: $build/$bin is not built" >&2; exit 1; }
  echo "running $bin ($reps repetitions) ..." >&2
  "$build/$bin" --benchmark_filter="$filter" --benchmark_repetitions="$reps" \
    --benchmark_report_aggregates_only=true --benchmark_out="$out/$name.json" \
    --benchmark_out_format=json >"$out/$name.txt" 2>&1 || {
    echo "bench_vs_criu.sh: $bin failed; its output:" >&2
    tail -20 "$out/$name.txt" >&2
    exit 1
  }
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
/usr/bin/python3 "$root/ci/bench_vs_criu_table.py" "$out"
echo "JSON and text output: $out"
