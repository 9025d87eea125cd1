#!/usr/bin/env bash
# Runs the GPU check (gpu_check.py) on a GPU machine that has PyTorch with
# CUDA and a CUDA driver but no MLIR, from the directory that
# scripts/build-gpu-check.sh produced (this script is copied into it):
#
#   bash gpu-check.sh [--quick]          (in the artifact directory)
#   bash scripts/gpu-check.sh DIR [--quick]
#
# Builds nothing. Bounded to 9.5 minutes. Exit status 1 when a correctness
# check fails (or no device is usable).
set -uo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
dir="$here"
if [ $# -gt 0 ] && [ -d "$1" ]; then dir="$(cd "$1" && pwd)"; shift; fi
if [ ! -f "$dir/manifest.json" ]; then
  echo "gpu-check.sh: no manifest.json in $dir (build it with scripts/build-gpu-check.sh)" >&2
  exit 1
fi
py="${PYTHON:-python3}"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null \
  || echo "nvidia-smi not available"
# The report also goes to results.txt next to the artifacts.
timeout 570 "$py" "$dir/gpu_check.py" --artifacts "$dir" "$@" 2>&1 | tee "$dir/results.txt"
status=${PIPESTATUS[0]}
[ "$status" -eq 124 ] && echo "gpu-check.sh: stopped after 570 s" | tee -a "$dir/results.txt"
exit "$status"
