// kvshift-to-nvvm passes min-blocks-per-sm, decode-prefetch and decode-mma
// on to kvshift-fuse-attention-gpu: the attention kernel carries nvvm.minctasm
// (.minnctapersm in the PTX), and without the prefetch the decode loop
// carries only the softmax state (12 values for 4 rows) instead of also the
// next step's 4 keys and 4 values (20).
// RUN: kvshift-opt %s --kvshift-to-nvvm --mlir-print-ir-after=kvshift-fuse-attention-gpu -o /dev/null 2>&1 | FileCheck %s --check-prefix=DEFAULT
// RUN: kvshift-opt %s --kvshift-to-nvvm="min-blocks-per-sm=2 decode-prefetch=false" --mlir-print-ir-after=kvshift-fuse-attention-gpu -o /dev/null 2>&1 | FileCheck %s --check-prefix=OPTS
// RUN: kvshift-opt %s --kvshift-to-nvvm="min-blocks-per-sm=2" | FileCheck %s --check-prefix=PTX
// RUN: kvshift-opt %s --kvshift-to-nvvm="decode-mma=true" --mlir-print-ir-after=kvshift-fuse-attention-gpu -o /dev/null 2>&1 | FileCheck %s --check-prefix=MMA
// MMA: gpu.func @kv_cache_decode_d64_bf16_causal(
// MMA: nvvm.mma.sync
// MMA: gpu.func @kv_cache_decode_d64_bf16_causal_merge(
// DEFAULT: gpu.func @kv_shift_attention_d64_bf16_causal(
// DEFAULT-SAME: kernel attributes {known_block_size = array<i32: 128, 1, 1>} {
// DEFAULT: gpu.func @kv_cache_decode_d64_bf16_causal(
// DEFAULT: scf.for {{.*}} -> (f32, f32, f32, f32, f32, f32, f32, f32, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xbf16>,
// OPTS: gpu.func @kv_shift_attention_d64_bf16_causal(
// OPTS-SAME: nvvm.minctasm = 2 : i32
// OPTS: gpu.func @kv_cache_decode_d64_bf16_causal(
// OPTS: scf.for {{.*}} -> (f32, f32, f32, f32, f32, f32, f32, f32, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>) {
// PTX: .minnctapersm 2
func.func @attn(%q: tensor<1x2x16x64xbf16>, %k: tensor<1x2x16x64xbf16>, %v: tensor<1x2x16x64xbf16>, %kw: tensor<2x2xf32>, %vw: tensor<2x2xf32>) -> tensor<1x2x16x64xbf16> {
  %o = kvshift.kv_shift_attention %q, %k, %v mix(%kw, %vw) causal : (tensor<1x2x16x64xbf16>, tensor<1x2x16x64xbf16>, tensor<1x2x16x64xbf16>, tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<1x2x16x64xbf16>
  return %o : tensor<1x2x16x64xbf16>
}
func.func @decode(%q: tensor<1x4x1x64xbf16>, %kc: tensor<1x2x32x64xbf16>, %vc: tensor<1x2x32x64xbf16>, %len: index) -> tensor<1x4x1x64xbf16> {
  %o = kvshift.kv_cache_attention %q, %kc, %vc length %len causal : (tensor<1x4x1x64xbf16>, tensor<1x2x32x64xbf16>, tensor<1x2x32x64xbf16>, index) -> tensor<1x4x1x64xbf16>
  return %o : tensor<1x4x1x64xbf16>
}
