#!/bin/bash
# scm06 through real CRIU under the harness: the rate of CRIU's "unix: Can't bind ...
# Address already in use" against restore_delay_us and load, with the unix-gc-wait policy
# off (CRIU's behaviour), then the same loads with the policy on (the scenario waits for
# the collector before CRIU's restore), which must give 0 failures. CI does not run it
# (it has no CRIU). Prints one row per point: trials, failures, "Can't bind" among them,
# rate and its 95% Wilson interval (the harness's numbers, read from its JSON report).
#
#   FLAKELAB_CRIU=/path/to/criu ci/criu_scm06_sweep.sh [BUILD_DIR] [TRIALS]
#   DELAYS="0 5000" LOADS="idle noise" to sweep fewer points.
#
# Loads: idle (one worker, unpinned); noise (victim and engine on PU 0, a spinning noise
# process on another PU of its L3); jobs (-j 2: two trials at once, each pinned).
# Exits 77 (skipped) when FLAKELAB_CRIU names no executable, 1 if the policy-on rows
# are not all 0 failures, 2 on bad usage.
set -euo pipefail
build=${1:-build}
trials=${2:-200}
delays=${DELAYS:-0 1000 2000 5000 10000 20000}
loads=${LOADS:-idle noise jobs}
flakelab="$build/harness/flakelab"
if [ -z "${FLAKELAB_CRIU:-}" ] || [ ! -x "$FLAKELAB_CRIU" ]; then
  echo "criu_scm06_sweep.sh: skipped: FLAKELAB_CRIU='${FLAKELAB_CRIU:-}' does not name an executable CRIU" >&2
  exit 77
fi
[ -x "$flakelab" ] || { echo "criu_scm06_sweep.sh: no $flakelab (build first: bash ci/build.sh $build Release)" >&2; exit 2; }
[[ "$trials" =~ ^[1-9][0-9]*$ ]] || { echo "criu_scm06_sweep.sh: TRIALS must be a positive integer, not '$trials'" >&2; exit 2; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

load_args() {
  case "$1" in
    idle) echo "" ;;
    noise) echo "--placement same-pu --noise spin@same-l3" ;;
    jobs) echo "-j 2" ;;
    *) echo "criu_scm06_sweep.sh: unknown load '$1' (idle, noise, jobs)" >&2; exit 2 ;;
  esac
}

# One point: its own database, so that its report is that point alone.
point() {  # LOAD DELAY GC_WAIT
  local db="$work/$1-$2-$3.db"
  # shellcheck disable=SC2046
  "$flakelab" run scm06 -n "$trials" --expect flaky --keep-artifacts never --db "$db" \
    --engine-cli "$FLAKELAB_CRIU" -p restore_delay_us="$2" -p unix_gc_wait="$3" $(load_args "$1") >"$work/out" 2>&1 || {
    echo "criu_scm06_sweep.sh: flakelab run failed at load=$1 delay=$2 gc_wait=$3:" >&2
    tail -5 "$work/out" >&2
    exit 1
  }
  "$flakelab" report --db "$db" --format json | python3 -c '
import json, sys
load, delay, wait = sys.argv[1:4]
cells = json.load(sys.stdin)["cells"]
trials = sum(c["trials"] for c in cells)
failing = sum(c["failing"] for c in cells)
errors = sum(c["errors"] for c in cells)
bind = sum(s["count"] for c in cells for s in c.get("signatures", []) if "Can\x27t bind" in s["normalized"])
# Trials of one point share one cell (the -j 2 workers too): its Wilson interval.
rate, low, high = (100 * cells[0][k] for k in ("rate", "wilson_low", "wilson_high"))
print(f"{load:<6} {delay:>9} {wait:>8} {trials:>6} {failing:>6} {bind:>10} {errors:>6} {rate:>7.2f}%  {low:.2f}% .. {high:.2f}%")
' "$1" "$2" "$3"
}

echo "scm06 through $("$FLAKELAB_CRIU" --version | head -1), $trials trials per point, $(nproc) CPUs, $(uname -r)"
printf '%-6s %9s %8s %6s %6s %10s %6s %8s  %s\n' load delay_us gc_wait trials failed "Can't bind" errors rate "95% Wilson"
for load in $loads; do
  for delay in $delays; do point "$load" "$delay" 0; done
done
policy_failures=0
for load in $loads; do
  row=$(point "$load" 0 1s)
  echo "$row"
  [ "$(echo "$row" | awk '{print $5}')" = 0 ] || policy_failures=1
done
if [ "$policy_failures" != 0 ]; then
  echo "criu_scm06_sweep.sh: a policy-on point (gc_wait 1s) had failures" >&2
  exit 1
fi
