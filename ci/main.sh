#!/usr/bin/env bash
# README command (1): bootstrap, build (Release, build/), run the default campaign over
# the compel scenarios into one database, and print its summary.
# FLAKELAB_BUILD overrides the build directory; FLAKELAB_DB names a database to append
# to (by default $FLAKELAB_BUILD/campaign.db, started afresh each time).
#
# Exit status: 0 when every run behaved as expected; 1 when a run that should pass had a
# failed, timed-out or errored trial, or a "flaky" run had a timed-out or errored one;
# 2/3 when flakelab reported a usage/harness error. Runs marked "flaky" (the legacy
# compel/stack check reproducing CRIU's flake) are expected to fail now and then: their
# failures are reported, not fatal.
set -uo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

# The default campaign, one run per line:  EXPECT  TRIALS  SCENARIO [--param k=v ...]
# EXPECT is "pass" (any non-pass trial fails this script) or "flaky" (failures are
# the point: reported, never fatal). Placement: see PLACE_* below.
CAMPAIGN=(
  "pass   1000  compel/infect"
  "pass   500   compel/rsys"
  "pass   200   compel/fdspy"
  "pass   1000  compel/stack"
  "flaky  2000  compel/stack --param check=legacy --param adjacent_writer=on"
)

bash ci/bootstrap.sh || exit 3
build=${FLAKELAB_BUILD:-build}
bash ci/build.sh "$build" Release || exit 3

flakelab=$build/harness/flakelab
db=${FLAKELAB_DB:-$build/campaign.db}
if [[ -z "${FLAKELAB_DB:-}" ]]; then
  rm -f "$db" "$db-wal" "$db-shm"   # a fresh campaign each time
fi

# Pin the victim and the injector to the first two CPUs this process may use (the
# adjacent writer shares the injector's); run unpinned on a one-CPU machine.
allowed=$(awk '/^Cpus_allowed_list:/ {print $2}' /proc/self/status)
cpus=()
IFS=, read -ra ranges <<<"$allowed"
for range in "${ranges[@]}"; do
  first=${range%-*}
  last=${range#*-}
  for ((cpu = first; cpu <= last && ${#cpus[@]} < 2; cpu++)); do cpus+=("$cpu"); done
done
placement=()
if ((${#cpus[@]} >= 2)); then
  placement=(--cpus "victim=${cpus[0]},injector=${cpus[1]},writer=${cpus[1]}")
fi

"$flakelab" cpu
echo

status=0
for entry in "${CAMPAIGN[@]}"; do
  read -r expect trials scenario_and_params <<<"$entry"
  read -ra args <<<"$scenario_and_params"
  # Roles a scenario never uses are simply not recorded.
  echo "=== flakelab run ${args[*]} -n $trials ${placement[*]} ($expect) ==="
  "$flakelab" run "${args[@]}" -n "$trials" "${placement[@]}" --db "$db"
  rc=$?
  echo
  case "$rc" in
    0)
      if [[ "$expect" == flaky ]]; then
        echo "note: ${args[*]}: no failure in $trials trials (expected a few)"
      fi
      ;;
    1)
      if [[ "$expect" == flaky ]]; then
        # Failures are expected; trials that timed out or errored are not.
        broken=$(sqlite3 "$db" "SELECT count(*) FROM trials WHERE run_id = (SELECT max(id) FROM runs)
                                AND outcome IN ('timeout', 'error')")
        if [[ "$broken" == 0 ]]; then
          echo "expected: ${args[*]} failed some trials (see the report)"
        else
          echo "UNEXPECTED: ${args[*]} had $broken timed-out/errored trials"
          status=1
        fi
      else
        echo "UNEXPECTED: ${args[*]} had failed/timed-out/errored trials"
        status=1
      fi
      ;;
    *)
      echo "ERROR: flakelab exited $rc for ${args[*]}"
      status=$rc
      ;;
  esac
  echo
done

echo "=== flakelab report --db $db --format text ==="
"$flakelab" report --db "$db" --format text
html="${db%.db}.html"
if "$flakelab" report --db "$db" --format html -o "$html" 2>/dev/null || [[ -s "$html" ]]; then
  echo
  echo "HTML report: $(cd "$(dirname "$html")" && pwd)/$(basename "$html")"
else
  echo "ERROR: could not write the HTML report $html"
  status=3
fi
echo
if ((status == 0)); then
  echo "campaign: OK"
else
  echo "campaign: FAILED (exit $status)"
fi
exit "$status"
