#!/usr/bin/env bash
# The nightly stress job on one machine: the pipeline ci/github/nightly.yml runs over a
# runner matrix, with the shards as parallel local processes.
#
#   bash ci/nightly.sh [--shards N] [--trials N] [--seed S] [--out DIR] [--baseline DB]
#                      [--campaign FILE] [--group NAME]
#
#   1. build (Release, $FLAKELAB_BUILD or build/) unless FLAKELAB_BIN names a flakelab binary;
#   2. run shards 1..N of the campaign (default ci/nightly.toml) at once, each into
#      OUT/shard-I.db (log OUT/shard-I.log, kept failing trials under OUT/artifacts/shard-I);
#   3. merge them into OUT/nightly.db (merge lists every shard set as complete or not);
#   4. write OUT/nightly.html, OUT/nightly.junit.xml and OUT/summary.md;
#   5. flakelab gate --db OUT/nightly.db [--baseline DB] (also appended to OUT/summary.md).
#
# --trials N overrides every cell's trial count (the test suite runs a tiny nightly with
# --trials 2); --seed defaults to a random one shared by all shards.
# Exit status: the gate's (0 passed, 1 failed), or 3 when a shard, the merge or a report
# could not run (the shards' own exit 1 -- an unexpected cell -- is left for the gate).
set -uo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
usage() {
  sed -n '5,7p' "${BASH_SOURCE[0]}" | sed 's/^# *//' >&2
  exit 2
}

shards=2
trials=""
seed=""
out=""
baseline=""
group=""
campaign="$root/ci/nightly.toml"
while (($#)); do
  case "$1" in
    --shards) shards=${2:?}; shift 2 ;;
    --trials) trials=${2:?}; shift 2 ;;
    --seed) seed=${2:?}; shift 2 ;;
    --out) out=${2:?}; shift 2 ;;
    --baseline) baseline=${2:?}; shift 2 ;;
    --campaign) campaign=${2:?}; shift 2 ;;
    --group) group=${2:?}; shift 2 ;;
    -h|--help) usage ;;
    *) echo "nightly.sh: unknown argument $1" >&2; usage ;;
  esac
done
[[ "$shards" =~ ^[1-9][0-9]*$ ]] || { echo "nightly.sh: --shards $shards: need a positive integer" >&2; exit 2; }
[[ -z "$trials" || "$trials" =~ ^[1-9][0-9]*$ ]] || { echo "nightly.sh: --trials $trials: need a positive integer" >&2; exit 2; }
[[ -f "$campaign" ]] || { echo "nightly.sh: campaign file $campaign does not exist" >&2; exit 2; }
[[ -z "$baseline" || -f "$baseline" ]] || { echo "nightly.sh: baseline $baseline does not exist" >&2; exit 2; }

if [[ -n "${FLAKELAB_BIN:-}" ]]; then
  flakelab=$FLAKELAB_BIN
else
  build=${FLAKELAB_BUILD:-$root/build}
  bash "$root/ci/bootstrap.sh" || exit 3
  bash "$root/ci/build.sh" "$build" Release || exit 3
  flakelab=$build/harness/flakelab
fi
[[ -x "$flakelab" ]] || { echo "nightly.sh: $flakelab is not executable" >&2; exit 3; }

out=${out:-${FLAKELAB_BUILD:-$root/build}/nightly}
mkdir -p "$out" || exit 3
rm -f "$out"/shard-*.db* "$out"/nightly.db* "$out"/summary.md
# 63 bits keep it a valid TOML/CLI integer everywhere.
seed=${seed:-$(od -An -N8 -tu8 /dev/urandom | tr -d ' ' | awk '{ print $1 % 9223372036854775807 }')}

extra=()
[[ -n "$trials" ]] && extra+=(-n "$trials")
[[ -n "$group" ]] && extra+=(--shard-group "$group")
echo "nightly: $campaign, $shards shards, seed $seed${trials:+, $trials trials per cell}, into $out"
start=$(date +%s)
pids=()
for ((i = 1; i <= shards; i++)); do
  "$flakelab" run --campaign "$campaign" --shard "$i/$shards" --seed "$seed" "${extra[@]}" \
    --db "$out/shard-$i.db" --artifacts-dir "$out/artifacts/shard-$i" >"$out/shard-$i.log" 2>&1 &
  pids+=($!)
done
status=0
for ((i = 1; i <= shards; i++)); do
  wait "${pids[i - 1]}"
  rc=$?
  echo "nightly: shard $i/$shards exited $rc ($(tail -n 1 "$out/shard-$i.log"))"
  # 0: all cells as expected, 1: some were not (the gate judges); anything else: the shard failed.
  if ((rc != 0 && rc != 1)); then
    echo "nightly: shard $i/$shards FAILED; its log:" >&2
    tail -n 20 "$out/shard-$i.log" >&2
    status=3
  fi
done
echo "nightly: shards took $(($(date +%s) - start)) s"

inputs=()
for ((i = 1; i <= shards; i++)); do
  [[ -f "$out/shard-$i.db" ]] && inputs+=("$out/shard-$i.db")
done
if ((${#inputs[@]} == 0)); then
  echo "nightly: no shard wrote a database" >&2
  exit 3
fi
"$flakelab" merge -o "$out/nightly.db" "${inputs[@]}" || exit 3

# `report` exits 1 when some run had failures (the flaky cells do): only >= 2 is an error.
for format in html junit markdown; do
  case $format in
    html) file=nightly.html ;;
    junit) file=nightly.junit.xml ;;
    markdown) file=summary.md ;;
  esac
  "$flakelab" report --db "$out/nightly.db" --format "$format" -o "$out/$file"
  (($? > 1)) && status=3
done

gate=(--db "$out/nightly.db")
[[ -n "$baseline" ]] && gate+=(--baseline "$baseline")
"$flakelab" gate "${gate[@]}" >"$out/gate.txt"
gate_status=$?
cat "$out/gate.txt"
((gate_status > 1)) && status=3   # the gate could not judge (usage or database error)
{
  echo
  echo "### Gate"
  echo
  echo '```'
  cat "$out/gate.txt"
  echo '```'
} >>"$out/summary.md"
echo "nightly: reports in $out (nightly.html, nightly.junit.xml, summary.md); total $(($(date +%s) - start)) s"
((status != 0)) && exit "$status"
exit "$gate_status"
