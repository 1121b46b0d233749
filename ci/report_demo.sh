#!/usr/bin/env bash
# The database, HTML report and screenshot the README's report section shows
# (docs/report.png), from real runs on this machine:
#
#   ci/report_demo.sh [--other B.db] [--docs] [OUT_DIR]     (default OUT_DIR: build/report-demo)
#
# a.db: ci/report_demo.toml (scm06 swept over restore_delay_us with the unix-gc-wait policy off,
# expected flaky, and on, must pass; compel/stack's legacy check on every placement, those this
# machine cannot offer skipped with the reason; the fixed check) and a `cmd` cell whose failures
# match no --failure pattern, i.e. harness errors (an erroring cell: the page must say
# UNEXPECTED error). b.db: a database from a second machine when --other gives one; otherwise the
# campaign is run here again (30 trials a cell) and its host row is relabelled "stand-in B", so
# that the merge has two CPU models without claiming another CPU was measured. Then
# `flakelab merge`, `flakelab report --format html` and, with chromium, the screenshot;
# --docs writes it to docs/report.png (as a palette PNG, ci/png_palette.py).
# FLAKELAB overrides the binary (default build/harness/flakelab).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
other= docs=0 out=
while (($#)); do
  case $1 in
    --other) other=$(realpath "${2:?--other needs a database}"); shift 2 ;;
    --docs) docs=1; shift ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    -*) echo "report_demo: unknown option $1" >&2; exit 2 ;;
    *) out=$1; shift ;;
  esac
done
out=${out:-$root/build/report-demo}
flakelab=$(realpath "${FLAKELAB:-$root/build/harness/flakelab}")
[[ -x $flakelab ]] || { echo "report_demo: $flakelab: not built (bash ci/build.sh build Release)" >&2; exit 2; }
[[ -z $other || -f $other ]] || { echo "report_demo: --other $other: no such file" >&2; exit 2; }

# run ARGS...: a `flakelab run` whose exit 1 (a cell did not behave as expected) is part of the demo.
run() {
  local rc=0
  "$flakelab" run "$@" >>run.log 2>&1 || rc=$?
  if ((rc > 1)); then
    echo "report_demo: flakelab run $* exited $rc; see $out/run.log" >&2
    exit "$rc"
  fi
}

rm -rf "$out"
mkdir -p "$out"
cd "$out"
echo "report_demo: recording a.db (about a minute)"
run --campaign "$root/ci/report_demo.toml" --db a.db
run cmd --db a.db -n 20 --failure 'never matches' -- sh -c 'exit $((FLAKELAB_TRIAL % 5 == 4))'
if [[ -n $other ]]; then
  cp "$other" b.db
else
  echo "report_demo: recording b.db (the stand-in for a second machine)"
  run --campaign "$root/ci/report_demo.toml" --db b.db -n 30
  python3 - b.db <<'PY'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
db.execute("UPDATE hosts SET hostname = hostname || '-b', cpu_brand = cpu_brand || ' (stand-in B, recorded here)'")
db.commit()
PY
fi
"$flakelab" merge -o all.db a.db b.db
rc=0
"$flakelab" report --db all.db --format html -o report.html || rc=$?
((rc <= 1)) || { echo "report_demo: flakelab report exited $rc" >&2; exit "$rc"; }
if bash "$root/ci/report_screenshot.sh" report.html report.png 1400 "${FLAKELAB_DEMO_HEIGHT:-2600}"; then
  if ((docs)); then
    mkdir -p "$root/docs"
    # A palette PNG: a third of the size, the page's colours exact.
    python3 "$root/ci/png_palette.py" report.png "$root/docs/report.png"
    echo "report_demo: docs/report.png updated"
  fi
elif ((docs)); then
  echo "report_demo: no screenshot, docs/report.png left as it is" >&2
  exit 1
fi
echo "report_demo: $out/all.db, $out/report.html"
