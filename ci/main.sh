#!/usr/bin/env bash
# README command (1): bootstrap, build (Release, build/), run the main job's campaign
# (ci/campaign.toml) into one database, and print its triage report.
# FLAKELAB_BUILD overrides the build directory; FLAKELAB_DB names a database to append
# to (by default $FLAKELAB_BUILD/campaign.db, started afresh each time);
# FLAKELAB_CAMPAIGN names another campaign file.
#
# Exit status: 0 when every cell behaved as its `expect` says; 1 when a cell expected to
# pass had a failed, timed-out or errored trial, or a "flaky" cell had a timed-out or
# errored one; 2/3 when flakelab reported a usage/harness error. Cells marked "flaky"
# (the legacy compel/stack check reproducing CRIU's flake) are expected to fail now and
# then: their failures are reported, not fatal.
set -uo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

bash ci/bootstrap.sh || exit 3
build=${FLAKELAB_BUILD:-build}
bash ci/build.sh "$build" Release || exit 3

flakelab=$build/harness/flakelab
campaign=${FLAKELAB_CAMPAIGN:-ci/campaign.toml}
db=${FLAKELAB_DB:-$build/campaign.db}
if [[ -z "${FLAKELAB_DB:-}" ]]; then
  rm -f "$db" "$db-wal" "$db-shm"   # a fresh campaign each time
  rm -rf "$build/flakelab-artifacts"
fi

"$flakelab" cpu
echo
"$flakelab" topo
echo

echo "=== flakelab run --campaign $campaign --db $db ==="
"$flakelab" run --campaign "$campaign" --db "$db"
status=$?
echo

echo "=== flakelab report --db $db --format text ==="
"$flakelab" report --db "$db" --format text
html="${db%.db}.html"
if "$flakelab" report --db "$db" --format html -o "$html" 2>/dev/null || [[ -s "$html" ]]; then
  echo
  echo "HTML report: $(cd "$(dirname "$html")" && pwd)/$(basename "$html")"
else
  echo "ERROR: could not write the HTML report $html"
  ((status == 0)) && status=3
fi
echo
if ((status == 0)); then
  echo "campaign: OK"
else
  echo "campaign: FAILED (exit $status)"
fi
exit "$status"
