#!/usr/bin/env bash
# Sets up the machine, builds kvshift, installs PyTorch and OpenBLAS for the
# baseline, and runs the CPU benchmark (bench/bench_attention.py; extra
# arguments are passed on, e.g. --quick or --peak-memory-check).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${KVSHIFT_BUILD_DIR:-$root/build}"
bash "$root/scripts/setup.sh"

missing=()
for p in python3-torch libopenblas0-pthread; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" \
    || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "== installing: ${missing[*]}"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq \
    --no-install-recommends "${missing[@]}" > /dev/null
fi

KVSHIFT_TOOLS_DIR="$build/bin" /usr/bin/python3 "$root/bench/bench_attention.py" "$@"
