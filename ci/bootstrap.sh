#!/usr/bin/env bash
# Installs the Debian packages flakelab builds and runs with, and only those that are
# missing (apt-get update runs only then). Safe to run any number of times.
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
  chromium        # headless rendering test of the HTML report
  clang-14 libclang-rt-14-dev   # libFuzzer: the image decoder fuzzer (ci/fuzz.sh)
)

missing=()
for package in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$package" 2>/dev/null || true)
  if [[ "$status" != "install ok installed" ]]; then
    missing+=("$package")
  fi
done

if ((${#missing[@]} == 0)); then
  echo "bootstrap: all ${#packages[@]} packages are installed"
  exit 0
fi

echo "bootstrap: installing ${missing[*]}"
sudo=()
if [[ $(id -u) -ne 0 ]]; then
  sudo=(sudo)
fi
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
echo "bootstrap: done"
