#!/usr/bin/env bash
# Installs the Debian packages flakelab builds and runs with, and only those that are
# missing (apt-get update runs only then); then the npm tools of ci/github/ (the workflow
# validator) from its package-lock.json when node_modules is missing. Safe to run any
# number of times.
set -euo pipefail

packages=(
  g++ cmake make pkg-config binutils
  libgtest-dev libgmock-dev libbenchmark-dev
  libhwloc-dev hwloc libcpuid-dev
  libsqlite3-dev sqlite3
  pybind11-dev python3-dev
  python3-pandas python3-matplotlib python3-nbclient python3-nbformat python3-ipykernel python3-pytest  # pybind/ tests, notebook
  libcli11-dev libfmt-dev libspdlog-dev nlohmann-json3-dev libtomlplusplus-dev
  libprotobuf-dev protobuf-compiler
  libxml2-utils   # xmllint: the JUnit report is validated against a schema
  python3-junitparser   # a real JUnit consumer reads the report in a test
  chromium        # headless rendering test of the HTML report
  clang-14 libclang-rt-14-dev   # libFuzzer: the image decoder fuzzer (ci/fuzz.sh)
)

# node and npm: any install will do (e.g. NodeSource's nodejs, which bundles npm); Debian's
# packages otherwise.
if ! command -v npm >/dev/null 2>&1; then
  packages+=(nodejs npm)
fi

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# The workflow validator the test suite runs (@action-validator/cli), pinned by the lock file.
npm_tools() {
  if [[ -x "$root/ci/github/node_modules/.bin/action-validator" ]]; then
    return 0
  fi
  echo "bootstrap: npm ci in ci/github"
  (cd "$root/ci/github" && npm ci --no-audit --no-fund --loglevel=error)
}

missing=()
for package in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$package" 2>/dev/null || true)
  if [[ "$status" != "install ok installed" ]]; then
    missing+=("$package")
  fi
done

if ((${#missing[@]} == 0)); then
  echo "bootstrap: all ${#packages[@]} packages are installed"
  npm_tools
  exit 0
fi

echo "bootstrap: installing ${missing[*]}"
sudo=()
if [[ $(id -u) -ne 0 ]]; then
  sudo=(sudo)
fi
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
npm_tools
echo "bootstrap: done"
