#!/usr/bin/env bash
# Sets up the machine, builds kvshift, installs PyTorch and OpenBLAS for the
# baseline, and runs the CPU benchmark (bench/bench_attention.py; extra
# arguments are passed on, e.g. --quick, --backward or --peak-memory-check).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${KVSHIFT_BUILD_DIR:-$root/build}"
KVSHIFT_EXTRA_PACKAGES="python3-torch libopenblas0-pthread" \
  bash "$root/scripts/setup.sh"

KVSHIFT_TOOLS_DIR="$build/bin" /usr/bin/python3 "$root/bench/bench_attention.py" "$@"
