#!/usr/bin/env bash
# Sets up the machine, builds kvshift and runs every test (lit: dialect,
# passes, pipelines, kvshift-run, float64 integration suite).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${KVSHIFT_BUILD_DIR:-$root/build}"
KVSHIFT_EXTRA_PACKAGES="python3-torch python3-matplotlib ${KVSHIFT_EXTRA_PACKAGES:-}" bash "$root/scripts/setup.sh"

echo "== running the tests"
start=$(date +%s)
log="$build/check-kvshift.log"
set +e
/usr/lib/llvm-22/bin/lit -sv "$build/test" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
count() { awk -v re="$1" '$0 ~ re {split($0, a, ":"); n += a[2] + 0} END {print n + 0}' "$log"; }
passed=$(count '^ *Passed *:')
failed=$(count '^ *(Failed|Unresolved|Timed Out|Unexpectedly Passed) *:')
echo "== tests took $(( $(date +%s) - start )) s"
echo "check-kvshift: ${passed:-0} passed, ${failed:-0} failed"
exit "$status"
