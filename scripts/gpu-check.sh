#!/usr/bin/env bash
# Runs the GPU check (gpu_check.py) on a GPU machine that has PyTorch with
# CUDA and a CUDA driver but no MLIR, from the directory that
# scripts/build-gpu-check.sh produced (this script is copied into it):
#
#   bash gpu-check.sh [--quick] [--memcheck] [--ncu]   (in the artifact directory)
#   bash scripts/gpu-check.sh DIR [--quick] [--memcheck] [--ncu]
#
# Each part (attention and AOT correctness, decode correctness, decode
# bandwidth, timings, RoPE timings, backward correctness and timings,
# generation with device-resident caches) runs in a process of its own with
# a time limit of its own, so that a kernel fault or a hang in one part
# leaves the results of the others. The first part, a probe of the wgmma
# layouts (wgmma_probe.py; sm_90 only; not yet run on a GPU), has 20 s. The parts'
# limits add up to 9.8 minutes
# (the parts before the backward took about 80 s on an H200; the backward's
# and serve parts have not run on a GPU yet). --memcheck also runs the attention, decode and backward
# correctness checks (small shapes) under compute-sanitizer's memcheck,
# which reports any out-of-bounds access (about 30 s there before the
# backward was added; limit 150 s). --ncu profiles one launch of the bf16 causal D=128
# attention kernel (S = 4096) and one of the bf16 decode kernel with Nsight
# Compute (speed of light, occupancy, warp stall reasons; clocks left alone).
# Builds nothing. Exit status 1 when a correctness check fails, a part
# fails or times out, or no device is usable.
set -uo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
dir="$here"
if [ $# -gt 0 ] && [ -d "$1" ]; then dir="$(cd "$1" && pwd)"; shift; fi
if [ ! -f "$dir/manifest.json" ]; then
  echo "gpu-check.sh: no manifest.json in $dir (build it with scripts/build-gpu-check.sh)" >&2
  exit 1
fi
quick=() memcheck=0 ncu=0
for a in "$@"; do
  case "$a" in
    --quick) quick=(--quick) ;;
    --memcheck) memcheck=1 ;;
    --ncu) ncu=1 ;;
    *) echo "gpu-check.sh: unknown argument '$a' (expected --quick, --memcheck, --ncu)" >&2; exit 1 ;;
  esac
done
py="${PYTHON:-python3}"
log="$dir/results.txt"   # the report also goes here, next to the artifacts
: > "$log"
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv,noheader 2>&1 \
  | tee -a "$log" || true
status=0
part() { # seconds parts
  local limit="$1" parts="$2" rc
  timeout "$limit" "$py" "$dir/gpu_check.py" --artifacts "$dir" --parts "$parts" "${quick[@]}" 2>&1 \
    | tee -a "$log"
  rc=${PIPESTATUS[0]}
  if [ "$rc" -eq 124 ]; then echo "gpu-check.sh: part '$parts' stopped after $limit s" | tee -a "$log"; fi
  [ "$rc" -eq 0 ] || status=1
}
start=$(date +%s)
part 20 wgmma
part 100 attention,aot
part 40 decode
part 40 bandwidth
part 110 timings
part 60 rope
part 60 grad
part 100 gradtimings
part 60 serve
if [ "$memcheck" = 1 ]; then
  sanitizer="$(command -v compute-sanitizer || echo /usr/local/cuda/bin/compute-sanitizer)"
  echo "memcheck: $sanitizer --tool memcheck (attention, decode and backward kernels, small shapes)" | tee -a "$log"
  timeout 150 "$sanitizer" --tool memcheck --error-exitcode 3 --print-limit 20 \
    "$py" "$dir/gpu_check.py" --artifacts "$dir" --parts attention,decode,grad --quick \
    > "$dir/memcheck.txt" 2>&1
  rc=$?
  grep -E "^========= (ERROR|Invalid|Program hit|.*errors)|correctness|aborted" "$dir/memcheck.txt" \
    | head -40 | tee -a "$log"
  tail -3 "$dir/memcheck.txt" | tee -a "$log"
  echo "memcheck: exit status $rc (0: no error found; 3: errors reported; 124: timed out)" | tee -a "$log"
  [ "$rc" -eq 0 ] || status=1
fi
if [ "$ncu" = 1 ]; then
  profiler="$(command -v ncu || echo /usr/local/cuda/bin/ncu)"
  echo "ncu: $profiler (one attention launch, two decode launches: the SIMT kernel, then decode-mma)" | tee -a "$log"
  timeout 240 "$profiler" --clock-control none -k "regex:^kv_(shift_attention_d128_bf16_causal|cache_decode_d128_bf16_causal)$" \
    --section SpeedOfLight --section Occupancy --section WarpStateStats --section LaunchStats \
    "$py" "$dir/gpu_check.py" --artifacts "$dir" --parts profile > "$dir/ncu.txt" 2>&1
  rc=$?
  grep -vE "^==PROF==|^ *-+ *$|^ *$" "$dir/ncu.txt" | grep -E "kv_|Throughput|Duration|Registers|Achieved Occupancy|Theoretical Occupancy|Stall|Warp Cycles|Issued|Elapsed|Memory \[%\]|Compute \(SM\)|DRAM" \
    | head -120 | tee -a "$log"
  echo "ncu: exit status $rc" | tee -a "$log"
fi
echo "gpu-check.sh: $(( $(date +%s) - start )) s, exit status $status" | tee -a "$log"
exit "$status"
