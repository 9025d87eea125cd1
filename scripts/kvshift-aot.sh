#!/usr/bin/env bash
# Compiles an MLIR module (kvshift / linalg on tensors) ahead of time into a
# small shared library for NVIDIA GPUs that needs no MLIR where it runs:
# host code + the kernels embedded as PTX (or cubin) + libkvshift_cuda_runtime,
# linked only against the C/C++ runtime (libcuda.so.1 is opened at run time).
#
#   scripts/kvshift-aot.sh IN.mlir OUT.so [PIPELINE-OPTIONS]
#
# PIPELINE-OPTIONS go to --kvshift-to-nvvm (default "chip=sm_80", PTX that the
# driver JIT-compiles for any newer GPU; e.g. "chip=sm_90a format=bin").
# Every public function @f gets a C entry point
#   void _mlir_ciface_f(Desc *result, Desc *arg0, Desc *arg1, ...)
# where Desc is a strided memref descriptor {T *allocated; T *aligned;
# int64_t offset; int64_t sizes[R]; int64_t strides[R];}. Arguments are host
# memory; the result buffer is malloc'd by the library (free(result.allocated)).
# After each call, kvshift_cuda_take_error(char *msg, size_t n) returns 1 with
# a one-line message when anything failed (no device, a CUDA error); the
# result is then not valid. kvshift_cuda_probe(char *msg, size_t n) says
# whether a device is usable. See docs/GPU.md.
#
# Tools: $KVSHIFT_BUILD_DIR (default ./build) for kvshift-opt and
# libkvshift_cuda_runtime.a, LLVM 22 for mlir-translate and clang.
set -euo pipefail

if [ $# -lt 2 ]; then
  echo "usage: $0 IN.mlir OUT.so [kvshift-to-nvvm options]" >&2
  exit 2
fi
in="$1"; out="$2"; opts="${3:-chip=sm_80}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${KVSHIFT_BUILD_DIR:-$root/build}"
llvm="${LLVM_BIN:-/usr/lib/llvm-22/bin}"
runtime="$build/lib/libkvshift_cuda_runtime.a"
for f in "$build/bin/kvshift-opt" "$runtime" "$llvm/mlir-translate" "$llvm/clang"; do
  [ -e "$f" ] || { echo "$0: missing $f (build with scripts/setup.sh; the runtime needs the CUDA toolkit)" >&2; exit 1; }
done

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
"$build/bin/kvshift-opt" "$in" --kvshift-emit-c-interface \
  --kvshift-to-nvvm="$opts" -o "$tmp/host.mlir"
"$llvm/mlir-translate" --mlir-to-llvmir "$tmp/host.mlir" -o "$tmp/host.ll"
"$llvm/clang" -O2 -fPIC -c -Wno-override-module "$tmp/host.ll" -o "$tmp/host.o"
"$llvm/clang++" -shared -fPIC -o "$out" "$tmp/host.o" "$runtime" -ldl \
  -Wl,--no-undefined -Wl,-Bsymbolic
echo "$out: $(nm -D --defined-only "$out" | grep -c ' T _mlir_ciface_') C entry point(s);" \
  "needs $(readelf -d "$out" | grep NEEDED | sed 's/.*\[\(.*\)\]/\1/' | tr '\n' ' ')"
