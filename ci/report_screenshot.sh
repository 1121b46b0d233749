#!/usr/bin/env bash
# Screenshot of an HTML report in Debian's headless Chromium: ci/report_screenshot.sh
# REPORT.html SHOT.png [WIDTH HEIGHT]. The page is opened from disk (it needs no network);
# the window height bounds the picture (the top of the page: summary, heatmap, charts).
set -euo pipefail
if (($# < 2 || $# > 4)); then
  echo "usage: $0 REPORT.html SHOT.png [WIDTH HEIGHT]" >&2
  exit 2
fi
html=$1 shot=$2 width=${3:-1400} height=${4:-2400}
if [[ ! -f $html ]]; then
  echo "report_screenshot: $html: no such file" >&2
  exit 2
fi
chromium=
for candidate in /usr/bin/chromium /usr/bin/chromium-browser; do
  if [[ -x $candidate ]]; then chromium=$candidate; break; fi
done
if [[ -z $chromium ]]; then
  echo "report_screenshot: Debian's chromium is not installed (ci/bootstrap.sh installs it)" >&2
  exit 2
fi
profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
shot_abs=$(realpath -m "$shot")
timeout 120 "$chromium" --headless=new --no-sandbox --disable-gpu --hide-scrollbars --no-first-run \
  --user-data-dir="$profile" --force-device-scale-factor=1 --window-size="$width,$height" \
  --screenshot="$shot_abs" "file://$(realpath "$html")" >/dev/null 2>&1 || {
  echo "report_screenshot: chromium failed to render $html" >&2
  exit 1
}
[[ -s $shot_abs ]] || { echo "report_screenshot: chromium wrote no $shot" >&2; exit 1; }
echo "report_screenshot: $shot ($(stat -c %s "$shot_abs") bytes)"
