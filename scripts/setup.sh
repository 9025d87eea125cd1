#!/usr/bin/env bash
# Sets up a fresh Debian 12 machine for kvshift and builds it:
#   1. installs the Debian packages it needs (LLVM/MLIR 22, clang, lld, ninja,
#      ccache, NumPy) when any of them is missing;
#   2. configures and builds the project in ./build (or $KVSHIFT_BUILD_DIR).
# Safe to run again: it installs nothing that is there and rebuilds
# incrementally.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${KVSHIFT_BUILD_DIR:-$root/build}"

packages=(
  cmake ninja-build ccache
  llvm-22-dev llvm-22-tools libmlir-22-dev mlir-22-tools
  clang-22 lld-22 libomp-22-dev
  python3 python3-numpy
  ${KVSHIFT_EXTRA_PACKAGES:-}
)

missing=()
for p in "${packages[@]}"; do
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

[ "${1:-}" = "--no-build" ] && exit 0

if [ ! -f "$build/build.ninja" ]; then
  echo "== configuring $build"
  cmake -G Ninja -S "$root" -B "$build" \
    -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_C_COMPILER=clang-22 -DCMAKE_CXX_COMPILER=clang++-22 \
    -DLLVM_USE_LINKER=lld \
    -DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache \
    -DMLIR_DIR=/usr/lib/llvm-22/lib/cmake/mlir > /dev/null
fi

echo "== building"
start=$(date +%s)
targets=(kvshift-opt kvshift-run KVShiftRuntimeC)
# The CUDA runtime library exists as a target only when CMake found the CUDA
# toolkit.
if ninja -C "$build" -t query kvshift_cuda_runtime > /dev/null 2>&1; then
  targets+=(kvshift_cuda_runtime kvshift_cuda_runtime_static)
fi
ninja -C "$build" "${targets[@]}"
echo "== built in $(( $(date +%s) - start )) s: ${targets[*]}"
