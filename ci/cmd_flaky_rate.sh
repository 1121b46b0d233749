#!/bin/bash
# The issue-15 acceptance run at full size (CI runs it at -n 200: harness/tests/cmd_cli_test.cpp):
# a command failing 1 time in 20 is measured by `flakelab run cmd -n 2000 --expect flaky`,
# which reports the rate with its 95% interval and exits 0. Usage: ci/cmd_flaky_rate.sh [BUILD_DIR] [TRIALS]
set -euo pipefail
build=${1:-build}
trials=${2:-2000}
flakelab="$build/harness/flakelab"
[ -x "$flakelab" ] || { echo "cmd_flaky_rate.sh: no $flakelab (build first: bash ci/build.sh $build Release)" >&2; exit 2; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$flakelab" run cmd -n "$trials" --expect flaky --keep-artifacts never --db "$work/rate.db" -- \
  sh -c 'test $(( $(od -An -N2 -tu2 /dev/urandom) % 20 )) -ne 0'
