#!/usr/bin/env bash
# Builds kvshift's own code with AddressSanitizer + UndefinedBehaviorSanitizer
# (LeakSanitizer is part of ASan on Linux) into ./build-asan and runs the
# whole lit suite, integration tests included, with those binaries. Any
# sanitizer report makes the tool exit non-zero, so the test fails.
# (libMLIR.so and the JIT-compiled kernels are not instrumented.)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${KVSHIFT_ASAN_BUILD_DIR:-$root/build-asan}"
KVSHIFT_EXTRA_PACKAGES="libclang-rt-22-dev python3-torch" bash "$root/scripts/setup.sh" --no-build

if [ ! -f "$build/build.ninja" ]; then
  echo "== configuring $build (ASan + UBSan)"
  cmake -G Ninja -S "$root" -B "$build" \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_C_COMPILER=clang-22 -DCMAKE_CXX_COMPILER=clang++-22 \
    -DLLVM_USE_LINKER=lld \
    -DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache \
    -DLLVM_USE_SANITIZER="Address;Undefined" \
    -DMLIR_DIR=/usr/lib/llvm-22/lib/cmake/mlir > /dev/null
fi
echo "== building (sanitizers)"
ninja -C "$build" kvshift-opt kvshift-run

echo "== running the tests under ASan + UBSan + LSan"
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:exitcode=86"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:exitcode=87"
log="$build/check-kvshift-asan.log"
set +e
/usr/lib/llvm-22/bin/lit -sv "$build/test" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
count() { awk -v re="$1" '$0 ~ re {split($0, a, ":"); n += a[2] + 0} END {print n + 0}' "$log"; }
echo "check-kvshift-sanitizers: $(count '^ *Passed *:') passed, $(count '^ *(Failed|Unresolved|Timed Out|Unexpectedly Passed) *:') failed"
exit "$status"
