#!/usr/bin/env bash
# Builds the libFuzzer targets (ASan + UBSan, coverage on all of kvshift's
# own code) into ./build-fuzz and runs each for a bounded time (default 60 s,
# or the first argument) from the checked-in seed corpus. A crash, a
# sanitizer report, a leak or a timeout fails the script and leaves the
# reproducer in build-fuzz/artifacts/. Then runs the importer's property test
# (random torch programs) for the same time from a random seed.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${KVSHIFT_FUZZ_BUILD_DIR:-$root/build-fuzz}"
seconds="${1:-60}"
KVSHIFT_EXTRA_PACKAGES="libclang-rt-22-dev" bash "$root/scripts/setup.sh" --no-build

if [ ! -f "$build/build.ninja" ]; then
  echo "== configuring $build (libFuzzer + ASan + UBSan)"
  cmake -G Ninja -S "$root" -B "$build" \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_C_COMPILER=clang-22 -DCMAKE_CXX_COMPILER=clang++-22 \
    -DLLVM_USE_LINKER=lld \
    -DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache \
    -DKVSHIFT_BUILD_FUZZERS=ON \
    -DMLIR_DIR=/usr/lib/llvm-22/lib/cmake/mlir > /dev/null
fi
echo "== building the fuzz targets"
ninja -C "$build" kvshift-fuzz-npy kvshift-fuzz-opt

mkdir -p "$build/artifacts"
status=0
for target in npy opt; do
  work="$build/corpus-$target"
  mkdir -p "$work"
  echo "== fuzzing $target for $seconds s"
  if "$build/bin/kvshift-fuzz-$target" "$work" "$root/fuzz/corpus/$target" \
      -max_total_time="$seconds" -timeout=30 -rss_limit_mb=6000 \
      -max_len=16384 -print_final_stats=1 \
      -artifact_prefix="$build/artifacts/$target-" > "$build/fuzz-$target.log" 2>&1; then
    runs=$(awk '/stat::number_of_executed_units/ {print $NF}' "$build/fuzz-$target.log" | tail -1)
    echo "fuzz-$target: $runs executions, no crash"
  else
    status=1
    echo "fuzz-$target: FAILED, see $build/fuzz-$target.log and $build/artifacts/"
    grep -E "ERROR|SUMMARY|Test unit written" "$build/fuzz-$target.log" | head -20 || true
  fi
done

# (3) The Python importer: random small torch programs imported, compiled
# and run against float64, from a random seed, for the same time. Needs the
# normal (uninstrumented) build's runtime library.
normal="${KVSHIFT_BUILD_DIR:-$root/build}"
KVSHIFT_EXTRA_PACKAGES="python3-torch" bash "$root/scripts/setup.sh" > /dev/null
seed=$(( $(date +%s) % 1000000 ))
echo "== importer property test for $seconds s from seed $seed"
if KVSHIFT_BUILD_DIR="$normal" /usr/bin/python3 "$root/test/Python/importer_property.py" \
    --seconds "$seconds" --seed "$seed" > "$build/fuzz-importer.log" 2>&1; then
  echo "fuzz-importer: $(tail -1 "$build/fuzz-importer.log" | sed 's/^importer_property: //')"
else
  status=1
  echo "fuzz-importer: FAILED (replay with test/Python/importer_property.py --replay SEED):"
  cat "$build/fuzz-importer.log" | tail -20
fi
exit "$status"
