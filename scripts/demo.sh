#!/usr/bin/env bash
# Sets up the machine, builds kvshift, then compiles the example KV-shift
# attention graph (examples/attention.mlir) for the CPU, runs it on random
# inputs and checks it against a float64 NumPy reference.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${KVSHIFT_BUILD_DIR:-$root/build}"
bash "$root/scripts/setup.sh"

echo "== running the example"
KVSHIFT_TOOLS_DIR="$build/bin" /usr/bin/python3 "$root/examples/run_example.py" "$@"
