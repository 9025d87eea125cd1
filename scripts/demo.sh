#!/usr/bin/env bash
# Sets up the machine and builds kvshift, then runs the main job: import a
# small KV-shift Llama-style model from PyTorch (and the same network with the
# attention written the paper's way in plain PyTorch), compile it for the CPU
# with kvshift.compile, run it and compare its logits with PyTorch's
# (examples/run_model.py; arguments are passed on, e.g. --seq 128).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${KVSHIFT_BUILD_DIR:-$root/build}"
KVSHIFT_EXTRA_PACKAGES="python3-torch ${KVSHIFT_EXTRA_PACKAGES:-}" bash "$root/scripts/setup.sh"

echo "== running the model"
KVSHIFT_BUILD_DIR="$build" /usr/bin/python3 "$root/examples/run_model.py" "$@"
