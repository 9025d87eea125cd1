#!/usr/bin/env bash
# Builds, on a machine with kvshift (MLIR 22) and the CUDA toolkit, the
# self-contained directory that scripts/gpu-check.sh runs on a GPU machine
# without MLIR:
#   OUT/kernels/*.ptx     the fused kernels (bf16, f16) x (causal, not) x
#                         (D = 64, 128), and with RoPE (rope_theta = 10000)
#                         (bf16, f16) x (causal, not) x (D = 128), and three
#                         variants (bf16, D = 128, causal: warps = 8 with
#                         and without RoPE, min-blocks-per-sm = 3, and
#                         the others listed below), dynamic B/H/S, PTX for
#                         sm_80 (the driver JIT-compiles it for newer GPUs;
#                         the wgmma variants are PTX for sm_90a)
#   OUT/kernels/*_grad*.ptx  the backward kernels of kv_shift_attention_grad
#                         and training steps (listed below), and a variant
#                         whose grad_kv runs on warpgroup MMAs (sm_90a)
#   OUT/kernels/kv_cache_decode_*.ptx   the decode kernels of
#                         kv_cache_attention (bf16, f16, D = 128, causal; bf16
#                         with RoPE; two bf16 variants: no prefetch, splits
#                         of 256), each with its merge kernel
#   OUT/kernels/*.sm_90a.cubin  each PTX module compiled by ptxas for
#                         sm_90a (when the toolkit has ptxas), with its
#                         report (*.ptxas-sm_90a.txt): loaded on an H100 or
#                         H200 instead of JIT-compiling the PTX
#   OUT/manifest.json     kernel names, launch configuration, parameter ABI
#   OUT/lib/*.so          ahead-of-time libraries (scripts/kvshift-aot.sh) of
#                         the whole host path, for the end-to-end check
#   OUT/gpu_check.py, OUT/gpu-check.sh   the driver and its wrapper
#   OUT/wgmma_probe.py                   the wgmma layout probe (part wgmma)
#
#   scripts/build-gpu-check.sh [OUT]      (default: build/gpu-check)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${KVSHIFT_BUILD_DIR:-$root/build}"
out="${1:-$build/gpu-check}"
opt="$build/bin/kvshift-opt"
chip="${KVSHIFT_GPU_CHIP:-sm_80}"
ptxas="$(command -v ptxas || echo /usr/local/cuda/bin/ptxas)"
rm -rf "$out"
mkdir -p "$out/kernels" "$out/lib" "$out/src"

rope_theta=10000.0
kernel_input() { # dtype d causal [rope attribute] -> MLIR text
  local t="$1" d="$2" c="$3" r="${4:-}" ty
  ty="tensor<?x?x?x${d}x${t}>"
  cat <<MLIR
func.func @attn(%q: $ty, %k: $ty, %v: $ty, %kw: tensor<?x2xf32>, %vw: tensor<?x2xf32>) -> $ty {
  %o = kvshift.kv_shift_attention %q, %k, %v mix(%kw, %vw) $c $r
      : ($ty, $ty, $ty, tensor<?x2xf32>, tensor<?x2xf32>) -> $ty
  return %o : $ty
}
MLIR
}

# Manifest fields of the RoPE pre-pass kernel (in the same PTX module): one
# thread per row and pair of 16-byte chunks, 256 threads a block.
rope_fields() { # d dtype
  echo "\"rope_theta\": $rope_theta, \"rope_kernel\": \"kv_shift_rope_d${1}_${2}\", \"rope_threads\": 256, \"rope_items_per_row\": $(( $1 / 16 ))"
}

# ', "smem": {kernel: bytes}' for the kernels of a source whose tiles exceed
# 48 KiB (kvshift.dynamic_shared_memory: launched with that much dynamic
# shared memory), or nothing.
smem_field() { # src fuse-options
  "$opt" "$1" --kvshift-share-attention-stats --kvshift-fuse-attention-gpu="$2" | /usr/bin/python3 -c '
import json, re, sys
m = re.findall(r"gpu\.func @(\w+)\(.*kvshift\.dynamic_shared_memory = (\d+)", sys.stdin.read())
print(", \"smem\": " + json.dumps({k: int(v) for k, v in m}) if m else "")'
}

entries=()
build_kernel() { # dtype d causal rope(0|1) [suffix:kvshift-to-nvvm options]
  local t="$1" d="$2" c="$3" rope="$4" variant="${5:-}" name extra="" options="chip=$chip" base
  local warps=4
  base="kv_shift_attention_d${d}_${t}${c:+_causal}"
  [ "$rope" = 1 ] && base="${base}_rope"
  name="$base"
  if [ -n "$variant" ]; then
    # A variant of the default tiles or options; its kernel keeps the
    # default kernel's name.
    options="$options ${variant#*:}"
    case "$variant" in *warps=*) warps="${variant##*warps=}"; warps="${warps%% *}" ;; esac
    name="${base}_${variant%%:*}"
    # "options": what the variant passes to kvshift-fuse-attention-gpu (the
    # emulated check lowers its source with them).
    extra=", \"variant_of\": \"$base\", \"kernel\": \"$base\", \"block_m\": $(( 16 * warps )), \"threads\": $(( 32 * warps )), \"options\": \"$options\""
  fi
  if [ "$rope" = 1 ]; then
    kernel_input "$t" "$d" "$c" "rope_theta = $rope_theta" > "$out/src/$name.mlir"
    # The pre-pass kernel is in the same PTX module; its launch: rows =
    # numel / D, one thread per row and pair of 16-byte chunks.
    extra="$extra, $(rope_fields "$d" "$t")"
  else
    kernel_input "$t" "$d" "$c" > "$out/src/$name.mlir"
  fi
  "$opt" "$out/src/$name.mlir" --kvshift-to-nvvm="$options" -o "$out/src/$name.lowered.mlir"
  /usr/bin/python3 "$root/scripts/extract-ptx.py" "$out/src/$name.lowered.mlir" -o "$out/kernels/$name.ptx"
  if [ -x "$ptxas" ]; then
    "$ptxas" -arch=sm_90a -v "$out/kernels/$name.ptx" -o "$out/kernels/$name.sm_90a.cubin" 2> "$out/kernels/$name.ptxas-sm_90a.txt"
  fi
  extra="$extra$(smem_field "$out/src/$name.mlir" "$options")"
  entries+=("{\"name\": \"$name\", \"ptx\": \"kernels/$name.ptx\", \"dtype\": \"$t\", \"d\": $d, \"causal\": $([ -n "$c" ] && echo true || echo false)$extra}")
}
for t in bf16 f16; do
  for d in 64 128; do
    for c in "" causal; do
      build_kernel "$t" "$d" "$c" 0
    done
  done
  for c in "" causal; do
    build_kernel "$t" 128 "$c" 1
  done
done
# Variants, timed against the defaults (bf16, D = 128, causal): 8 warps
# (128 query rows), 3 blocks per SM asked of ptxas (168 registers, with
# spills), key tiles of 32 rows (half the shared memory and S registers,
# twice the barriers per key), shifted value windows (no halo row per
# tile; also with RoPE and not causal), lazy rescaling of O, and both;
# warpgroup MMAs (wgmma, PTX for sm_90a: H100/H200 only; causal with and
# without RoPE, not causal, with lazy rescaling, f16), and the pipelined
# wgmma loop (wgmma-overlap; alone and with lazy rescaling), and both with
# two warpgroups per block (warps=8, 128 query rows sharing the tiles);
# and the mma.sync kernel's tiles double-buffered (below).
build_kernel bf16 128 causal 0 "w8:warps=8"
build_kernel bf16 128 causal 1 "w8:warps=8"
build_kernel bf16 128 causal 0 "mb3:min-blocks-per-sm=3"
build_kernel bf16 128 causal 0 "k32:block-k=32"
build_kernel bf16 128 causal 0 "sv:shifted-values=true"
build_kernel bf16 128 causal 1 "sv:shifted-values=true"
build_kernel bf16 128 "" 0 "sv:shifted-values=true"
build_kernel bf16 128 causal 0 "lz:lazy-rescale=true"
build_kernel bf16 128 causal 0 "svlz:shifted-values=true lazy-rescale=true"
build_kernel bf16 128 causal 1 "svlz:shifted-values=true lazy-rescale=true"
# The key and value tiles double-buffered on mma.sync (kv-prefetch: one
# barrier per key tile instead of four; 70720 bytes of dynamic shared
# memory), with and without RoPE, and with lazy rescaling.
build_kernel bf16 128 causal 0 "pf:kv-prefetch=true"
build_kernel bf16 128 causal 1 "pf:kv-prefetch=true"
build_kernel bf16 128 causal 0 "pflz:kv-prefetch=true lazy-rescale=true"
build_kernel bf16 128 causal 0 "wg:chip=sm_90a wgmma=true"
build_kernel bf16 128 causal 1 "wg:chip=sm_90a wgmma=true"
build_kernel bf16 128 "" 0 "wg:chip=sm_90a wgmma=true"
build_kernel bf16 128 causal 0 "wglz:chip=sm_90a wgmma=true lazy-rescale=true"
build_kernel bf16 128 causal 0 "wgov:chip=sm_90a wgmma=true wgmma-overlap=true"
build_kernel bf16 128 causal 0 "wgovlz:chip=sm_90a wgmma=true wgmma-overlap=true lazy-rescale=true"
build_kernel bf16 128 causal 0 "wg8lz:chip=sm_90a wgmma=true lazy-rescale=true warps=8"
build_kernel bf16 128 causal 0 "wgov8lz:chip=sm_90a wgmma=true wgmma-overlap=true lazy-rescale=true warps=8"
# 128-key tiles (64 KiB, 96 KiB pipelined: dynamic shared memory), with one
# and two warpgroups (FlashAttention-3's 128 x 128 block).
build_kernel bf16 128 causal 0 "wg128lz:chip=sm_90a wgmma=true lazy-rescale=true block-k=128"
build_kernel bf16 128 causal 0 "wgov128lz:chip=sm_90a wgmma=true wgmma-overlap=true lazy-rescale=true block-k=128"
build_kernel bf16 128 causal 0 "wg8x128lz:chip=sm_90a wgmma=true lazy-rescale=true warps=8 block-k=128"
build_kernel bf16 128 causal 0 "wgov8x128lz:chip=sm_90a wgmma=true wgmma-overlap=true lazy-rescale=true warps=8 block-k=128"
build_kernel f16 128 causal 0 "wg:chip=sm_90a wgmma=true"

# The decode kernels: kv_cache_attention over a cache of dynamic rows.
decode_entries=()
decode_input() { # dtype [rope attribute] -> MLIR text
  local t="$1" r="${2:-}" qt ct
  qt="tensor<?x?x?x128x${t}>"; ct="tensor<?x?x?x128x${t}>"
  cat <<MLIR
func.func @decode(%q: $qt, %kc: $ct, %vc: $ct, %len: index) -> $qt {
  %o = kvshift.kv_cache_attention %q, %kc, %vc length %len causal $r
      : ($qt, $ct, $ct, index) -> $qt
  return %o : $qt
}
MLIR
}
# Variants, timed against the default of their dtype: without the prefetch
# of the next step's keys, with splits of 256 rows, and the tensor-core
# kernel (decode-mma; with and without the prefetch, f16, RoPE).
for spec in "bf16::" "f16::" "bf16:rope:" "bf16::noprefetch" "bf16::split256" \
            "bf16::mma" "bf16::mmanoprefetch" "f16::mma" "bf16:rope:mma"; do
  t="${spec%%:*}"; rest="${spec#*:}"; rope="${rest%%:*}"; variant="${rest#*:}"
  base="kv_cache_decode_d128_${t}_causal"
  [ "$rope" = rope ] && base="${base}_rope"
  name="$base" extra="" fuse="" split=512
  case "$variant" in
    noprefetch) fuse="decode-prefetch=false" ;;
    split256) fuse="decode-split=256"; split=256 ;;
    mma) fuse="decode-mma=true" ;;
    mmanoprefetch) fuse="decode-mma=true decode-prefetch=false" ;;
  esac
  options="chip=$chip${fuse:+ $fuse}"
  if [ -n "$variant" ]; then
    name="${base}_${variant}"
    # "options": what the variant passes to kvshift-fuse-attention-gpu (the
    # emulated check lowers its source with them).
    extra=", \"variant_of\": \"$base\", \"kernel\": \"$base\", \"options\": \"$fuse\""
  fi
  if [ "$rope" = rope ]; then
    decode_input "$t" "rope_theta = $rope_theta" > "$out/src/$name.mlir"
    extra="$extra, \"rope_theta\": $rope_theta"
  else
    decode_input "$t" > "$out/src/$name.mlir"
  fi
  "$opt" "$out/src/$name.mlir" --kvshift-to-nvvm="$options" -o "$out/src/$name.lowered.mlir"
  /usr/bin/python3 "$root/scripts/extract-ptx.py" "$out/src/$name.lowered.mlir" -o "$out/kernels/$name.ptx"
  if [ -x "$ptxas" ]; then
    "$ptxas" -arch=sm_90a -v "$out/kernels/$name.ptx" -o "$out/kernels/$name.sm_90a.cubin" 2> "$out/kernels/$name.ptxas-sm_90a.txt"
  fi
  # Defaults of kvshift-to-nvvm: decode-split=512, decode-rows=4, 4 warps;
  # 128 merge threads.
  decode_entries+=("{\"name\": \"$name\", \"merge\": \"${base}_merge\", \"ptx\": \"kernels/$name.ptx\", \"dtype\": \"$t\", \"d\": 128, \"causal\": true, \"split\": $split, \"rows\": 4, \"threads\": 128, \"merge_threads\": 128$extra}")
done

# The backward kernels of kv_shift_attention_grad: (bf16, f16) x (causal,
# not) at D = 128, bf16 causal at D = 64, and bf16 causal D = 128 with RoPE
# (the pre-pass kernel in the same PTX); dynamic B/H/S. The launch
# configuration (rows per block, threads) is read from the launcher
# declaration that --kvshift-fuse-attention-gpu writes.
grad_entries=()
grad_input() { # dtype d causal [rope attribute] -> MLIR text
  local t="$1" d="$2" c="$3" r="${4:-}" ty w
  ty="tensor<?x?x?x${d}x${t}>"; w="tensor<?x2xf32>"
  cat <<MLIR
func.func @grad(%q: $ty, %k: $ty, %v: $ty, %kw: $w, %vw: $w, %do: $ty) -> ($ty, $ty, $ty, $w, $w) {
  %dq, %dk, %dv, %dkw, %dvw = kvshift.kv_shift_attention_grad %q, %k, %v mix(%kw, %vw) dout(%do) $c $r
      : ($ty, $ty, $ty, $w, $w, $ty) -> ($ty, $ty, $ty, $w, $w)
  return %dq, %dk, %dv, %dkw, %dvw : $ty, $ty, $ty, $w, $w
}
MLIR
}
build_grad() { # name options extra (the source in $out/src/<name>.mlir)
  local name="$1" options="$2" extra="$3" config
  "$opt" "$out/src/$name.mlir" --kvshift-to-nvvm="$options" -o "$out/src/$name.lowered.mlir"
  /usr/bin/python3 "$root/scripts/extract-ptx.py" "$out/src/$name.lowered.mlir" -o "$out/kernels/$name.ptx"
  if [ -x "$ptxas" ]; then
    "$ptxas" -arch=sm_90a -v "$out/kernels/$name.ptx" -o "$out/kernels/$name.sm_90a.cubin" 2> "$out/kernels/$name.ptxas-sm_90a.txt"
  fi
  config="$("$opt" "$out/src/$name.mlir" --kvshift-fuse-attention-gpu="$options" | /usr/bin/python3 -c '
import json, re, sys
text = sys.stdin.read()
a = dict(re.findall(r"kvshift\.gpu_(grad_q_rows|grad_kv_rows|threads) = (\d+)", text))
n = dict(re.findall(r"gpu\.func @\w+_grad_(\w+)\(.*known_block_size = array<i32: (\d+)", text))
print(json.dumps({"q_rows": int(a["grad_q_rows"]), "kv_rows": int(a["grad_kv_rows"]),
                  "threads": int(a["threads"]), "mix_threads": int(n["mix"]),
                  "w_threads": int(n["w"])})[1:-1])')"
  extra="$extra$(smem_field "$out/src/$name.mlir" "$options")"
  grad_entries+=("{\"name\": \"$name\", \"ptx\": \"kernels/$name.ptx\", \"dtype\": \"$t\", \"d\": $d, \"causal\": $([ -n "$c" ] && echo true || echo false), $config$extra}")
}
for spec in bf16:128:causal: bf16:128:: f16:128:causal: f16:128:: bf16:64:causal: bf16:128:causal:rope; do
  IFS=: read -r t d c rope <<< "$spec"
  name="kv_shift_attention_d${d}_${t}${c:+_causal}${rope:+_rope}_grad"
  extra=""
  if [ -n "$rope" ]; then
    grad_input "$t" "$d" "$c" "rope_theta = $rope_theta" > "$out/src/$name.mlir"
    # The forward's pre-pass kernel, in the same PTX module.
    extra=", $(rope_fields "$d" "$t")"
  else
    grad_input "$t" "$d" "$c" > "$out/src/$name.mlir"
  fi
  build_grad "$name" "chip=$chip" "$extra"
done
# Training steps: a forward and its gradient on the same operands, (bf16
# causal, bf16 not causal, f16 causal) at D = 128. The pipeline's
# --kvshift-share-attention-stats makes the forward write each row's
# log-sum-exp and the backward read it (a stats kernel, then grad_q without
# a forward pass): the forward kernel and five backward kernels in one PTX.
train_input() { # dtype d causal -> MLIR text
  local t="$1" d="$2" c="$3" ty w
  ty="tensor<?x?x?x${d}x${t}>"; w="tensor<?x2xf32>"
  cat <<MLIR
func.func @train(%q: $ty, %k: $ty, %v: $ty, %kw: $w, %vw: $w, %do: $ty) -> ($ty, $ty, $ty, $ty, $w, $w) {
  %o = kvshift.kv_shift_attention %q, %k, %v mix(%kw, %vw) $c : ($ty, $ty, $ty, $w, $w) -> $ty
  %dq, %dk, %dv, %dkw, %dvw = kvshift.kv_shift_attention_grad %q, %k, %v mix(%kw, %vw) dout(%do) $c
      : ($ty, $ty, $ty, $w, $w, $ty) -> ($ty, $ty, $ty, $w, $w)
  return %o, %dq, %dk, %dv, %dkw, %dvw : $ty, $ty, $ty, $ty, $w, $w
}
MLIR
}
build_train() { # name forward options extra (the source in $out/src/<name>.mlir)
  local name="$1" fwd="$2" options="$3" extra="$4" config
  "$opt" "$out/src/$name.mlir" --kvshift-to-nvvm="$options" -o "$out/src/$name.lowered.mlir"
  /usr/bin/python3 "$root/scripts/extract-ptx.py" "$out/src/$name.lowered.mlir" -o "$out/kernels/$name.ptx"
  if [ -x "$ptxas" ]; then
    "$ptxas" -arch=sm_90a -v "$out/kernels/$name.ptx" -o "$out/kernels/$name.sm_90a.cubin" 2> "$out/kernels/$name.ptxas-sm_90a.txt"
  fi
  config="$("$opt" "$out/src/$name.mlir" --kvshift-share-attention-stats --kvshift-fuse-attention-gpu="$options" | /usr/bin/python3 -c '
import json, re, sys
text = sys.stdin.read()
fwd = next(l for l in text.splitlines() if "kvshift.gpu_block_m" in l)
grad = next(l for l in text.splitlines() if "kvshift.gpu_grad_stats_kernel" in l)
a = dict(re.findall(r"kvshift\.gpu_(grad_q_rows|grad_kv_rows|threads) = (\d+)", grad))
f = dict(re.findall(r"kvshift\.gpu_(block_m|threads) = (\d+)", fwd))
n = dict(re.findall(r"gpu\.func @\w+_grad_(\w+)\(.*known_block_size = array<i32: (\d+)", text))
print(json.dumps({"q_rows": int(a["grad_q_rows"]), "kv_rows": int(a["grad_kv_rows"]),
                  "threads": int(a["threads"]), "mix_threads": int(n["mix"]),
                  "w_threads": int(n["w"]), "stats": True, "forward": sys.argv[1],
                  "block_m": int(f["block_m"]), "fwd_threads": int(f["threads"])})[1:-1])' "$fwd")"
  extra="$extra$(smem_field "$out/src/$name.mlir" "$options")"
  grad_entries+=("{\"name\": \"$name\", \"ptx\": \"kernels/$name.ptx\", \"dtype\": \"$t\", \"d\": $d, \"causal\": $([ -n "$c" ] && echo true || echo false), $config$extra}")
}
for spec in bf16:128:causal bf16:128: f16:128:causal; do
  IFS=: read -r t d c <<< "$spec"
  fwd="kv_shift_attention_d${d}_${t}${c:+_causal}_lse"
  name="${fwd}_grad"
  train_input "$t" "$d" "$c" > "$out/src/$name.mlir"
  build_train "$name" "$fwd" "chip=$chip" ""
done
# Backward variants on mma.sync (PTX for $chip, so they run on every GPU of
# the check, before the sm_90a variants below), bf16 causal D = 128, with
# the tiles double-buffered (grad-prefetch: the next tile's copies during
# this one's products; grad_kv 52224 B and grad_q 70720 B of dynamic shared
# memory): the training step and the recomputing backward.
t=bf16 d=128 c=causal
fwd="kv_shift_attention_d128_bf16_causal_lse"
base="${fwd}_grad"
train_input "$t" "$d" "$c" > "$out/src/${base}_pf.mlir"
build_train "${base}_pf" "$fwd" "chip=$chip grad-prefetch=true" \
  ", \"variant_of\": \"$base\", \"kernel\": \"$base\", \"options\": \"chip=$chip grad-prefetch=true\""
rbase="kv_shift_attention_d128_bf16_causal_grad"
grad_input "$t" "$d" "$c" > "$out/src/${rbase}_pf.mlir"
build_grad "${rbase}_pf" "chip=$chip grad-prefetch=true" \
  ", \"variant_of\": \"$rbase\", \"kernel\": \"$rbase\", \"options\": \"chip=$chip grad-prefetch=true\""
# A training-step variant, bf16 causal D = 128, wgmma=true (PTX for
# sm_90a): the forward, grad_q and grad_kv on warpgroup MMAs.
train_input "$t" "$d" "$c" > "$out/src/${base}_wg.mlir"
build_train "${base}_wg" "$fwd" "chip=sm_90a wgmma=true" \
  ", \"variant_of\": \"$base\", \"kernel\": \"$base\", \"options\": \"chip=sm_90a wgmma=true\""
# ... and with 8 warps: 128 query rows per forward and grad_q block, 120 key
# rows per grad_kv block (whose four tiles, 80 KiB, take dynamic shared
# memory): each block reads the tiles it shares once for twice the rows.
train_input "$t" "$d" "$c" > "$out/src/${base}_wg8.mlir"
build_train "${base}_wg8" "$fwd" "chip=sm_90a wgmma=true warps=8" \
  ", \"variant_of\": \"$base\", \"kernel\": \"$base\", \"options\": \"chip=sm_90a wgmma=true warps=8\""
# ... and with grad_kv's q and dO tiles double-buffered (grad-prefetch: the
# next query tile's copies during this one's products; 64 KiB of dynamic
# shared memory).
train_input "$t" "$d" "$c" > "$out/src/${base}_wgpf.mlir"
build_train "${base}_wgpf" "$fwd" "chip=sm_90a wgmma=true grad-prefetch=true" \
  ", \"variant_of\": \"$base\", \"kernel\": \"$base\", \"options\": \"chip=sm_90a wgmma=true grad-prefetch=true\""
# A backward variant, bf16 causal D = 128: grad_kv's four products as
# warpgroup MMAs (wgmma=true; PTX for sm_90a, kernels named as the base
# entry's), checked and timed against the base entry. The variants come
# last in the manifest: a fault in one (which ends the CUDA context) leaves
# the other sets' rows of part grad.
t=bf16 d=128 c=causal
base="kv_shift_attention_d128_bf16_causal_grad"
grad_input "$t" "$d" "$c" > "$out/src/${base}_wg.mlir"
build_grad "${base}_wg" "chip=sm_90a wgmma=true" \
  ", \"variant_of\": \"$base\", \"kernel\": \"$base\", \"options\": \"chip=sm_90a wgmma=true\""

# The whole host path (copies, launch, runtime), ahead of time: bf16 and f16,
# D = 128, causal, dynamic shapes.
for t in bf16 f16; do
  kernel_input "$t" 128 causal > "$out/src/aot_$t.mlir"
  KVSHIFT_BUILD_DIR="$build" bash "$root/scripts/kvshift-aot.sh" \
    "$out/src/aot_$t.mlir" "$out/lib/libkvshift_attn_${t}_d128_causal.so" "chip=$chip" > /dev/null
done
# ... and with RoPE (bf16): the launcher runs the pre-pass, then the kernel.
kernel_input bf16 128 causal "rope_theta = $rope_theta" > "$out/src/aot_bf16_rope.mlir"
KVSHIFT_BUILD_DIR="$build" bash "$root/scripts/kvshift-aot.sh" \
  "$out/src/aot_bf16_rope.mlir" "$out/lib/libkvshift_attn_bf16_d128_causal_rope.so" "chip=$chip" > /dev/null

{
  echo "{"
  echo "  \"chip\": \"$chip\","
  echo "  \"block_m\": 64, \"threads\": 128,"
  echo "  \"params\": \"q, k, v, kw, vw, out: (allocated ptr, aligned ptr, offset=0, size=numel, stride=1); then B, Hq, Sq, Hkv, Sk as int64\","
  echo "  \"grid\": \"(ceil(Sq / block_m), Hq, B)\","
  echo "  \"scale\": \"1/sqrt(D)\","
  echo "  \"rope_params\": \"x, w (kw, f32), out: (allocated ptr, aligned ptr, offset=0, size=numel, stride=1); then rows = numel / D, seq, pos_offset (Sk - Sq for q, 0 for k), heads (of x), mix (0 for q, 1 for k: mixed, then rotated) as int64; grid (ceil(rows * rope_items_per_row / rope_threads)), rope_threads threads\","
  echo "  \"aot_rope_theta\": $rope_theta,"
  # The sm_90a cubins beside the PTX (kernels/<name>.sm_90a.cubin) and the
  # ptxas that made them: gpu_check.py loads them on an H100 or H200 instead
  # of JIT-compiling the PTX in every part.
  echo "  \"cubins\": \"$([ -x "$ptxas" ] && "$ptxas" --version | sed -n 's/.*\(release [0-9.]*\).*/sm_90a, ptxas \1/p')\","
  echo "  \"built\": \"$(date -u +%Y-%m-%dT%H:%M:%SZ) from $(git -C "$root" rev-parse --short HEAD)\","
  echo "  \"kernels\": ["
  for i in "${!entries[@]}"; do
    sep=","; [ "$i" -eq $(( ${#entries[@]} - 1 )) ] && sep=""
    echo "    ${entries[$i]}$sep"
  done
  echo "  ],"
  echo "  \"decode_kernels\": ["
  for i in "${!decode_entries[@]}"; do
    sep=","; [ "$i" -eq $(( ${#decode_entries[@]} - 1 )) ] && sep=""
    echo "    ${decode_entries[$i]}$sep"
  done
  echo "  ],"
  echo "  \"grad_params\": \"<name>_q: q, k, v, kw, vw, dout, lse, delta, dq; <name>_kv: q, k, v, kw, vw, dout, lse, delta, dkh, dvh (flat memrefs), then B, Hq, Sq, Hkv, Sk; <name>_mix: k, v, kw, vw, dkh, dvh, dk, dv, part, then B, Hkv, Sk; <name>_w: part, dkw, dvw, then B, Hkv, Sk. lse, delta: f32 [B Hq Sq]; dkh, dvh: f32 [B Hkv Sk D]; part: f32 [B Hkv Sk 4]. Grids: q (ceil(Sq / q_rows), Hq, B), kv (ceil(Sk / kv_rows), Hkv, B), mix (ceil(B Hkv Sk / (mix_threads / 32))), w (Hkv). Entries with stats (training steps): <forward>: the forward kernel's parameters, then lse (f32 [B Hq Sq], natural log), grid (ceil(Sq / block_m), Hq, B) of fwd_threads; <name>_stats: dout, out, lse (the forward's), lse, delta (grad_q's), then B Hq Sq, grid ceil(B Hq Sq / (threads / 32)), launched before <name>_q, which then reads lse and delta\","
  echo "  \"grad_kernels\": ["
  for i in "${!grad_entries[@]}"; do
    sep=","; [ "$i" -eq $(( ${#grad_entries[@]} - 1 )) ] && sep=""
    echo "    ${grad_entries[$i]}$sep"
  done
  echo "  ]"
  echo "}"
} > "$out/manifest.json"
cp "$root/scripts/gpu_check.py" "$root/scripts/gpu-check.sh" "$root/scripts/wgmma_probe.py" "$out/"
# kvshift.cuda (the kernels on PyTorch tensors, differentiable) with the
# kernel sets it would compile, saved: the GPU machine has no MLIR. bf16
# causal and not, f16 causal, bf16 causal with RoPE, bf16 causal with the
# wgmma forward (sm_90a); D = 128; and the cache ops of the serve part.
rm -rf "$out/python" "$out/torch"
mkdir -p "$out/python"
cp -r "$root/python/kvshift" "$out/python/"
rm -rf "$out/python/kvshift/__pycache__"
KVSHIFT_BUILD_DIR="$build" PYTHONPATH="$root/python" /usr/bin/python3 - "$out/torch" "$chip" "$rope_theta" <<'PY'
import sys
import torch
import kvshift.cuda as kc
out, chip, theta = sys.argv[1], sys.argv[2], float(sys.argv[3])
sets = [kc.Kernels(dt, 128, causal, rope_theta=rt, chip=chip)
        for dt, causal, rt in ((torch.bfloat16, True, None), (torch.bfloat16, False, None),
                               (torch.float16, True, None), (torch.bfloat16, True, theta))]
# The training step with the wgmma forward (sm_90a; the backward keeps its
# kernels), timed against the default's.
sets += [kc.Kernels(torch.bfloat16, 128, True, chip="sm_90a",
                    options="wgmma=true lazy-rescale=true")]
# The serve part's cache ops (gpu_check.py SERVE_*: head dim 64, RoPE, causal,
# scale 1/8): the append kernel and the decode kernels, SIMT and decode-mma.
sets += [kc.cache_kernels("append", dt, 64, rope_theta=theta, chip=chip)
         for dt in (torch.float32, torch.bfloat16)]
sets += [kc.cache_kernels("attention", dt, 64, True, 0.125, theta, chip, opts)
         for dt, opts in ((torch.float32, ""), (torch.bfloat16, ""),
                          (torch.bfloat16, "decode-mma=true"))]
kc.save_kernels(out, sets)
PY
echo "$out: $(ls "$out/kernels" | grep -v _grad | grep -c '^kv_shift_attention.*\.ptx$') attention kernels, $(ls "$out/kernels" | grep -cE '_grad(_[a-z0-9]+)?\.ptx$') backward kernel sets, $(ls "$out/kernels" | grep -c '^kv_cache_decode.*\.ptx$') decode kernels, $(ls "$out/lib" | wc -l) AOT libraries; copy it to the GPU machine and run: bash gpu-check.sh"
