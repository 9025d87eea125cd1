// RUN: kvshift-opt %s --kvshift-share-attention-stats --kvshift-fuse-attention-gpu="wgmma=true chip=sm_90a block-k=272" | FileCheck %s
// RUN: kvshift-opt %s --kvshift-to-nvvm="wgmma=true chip=sm_90a block-k=272" | %extract_ptx - -o %t.ptx
// RUN: %ptxas -arch=sm_90a %t.ptx -o %t.cubin
// REQUIRES: ptxas

// wgmma's N is at most 256: key tiles above 256 (block-k=272) keep
// mma.sync in the forward and in the training step's grad_q (whose S and
// dP have N = block-k); grad_kv, whose tiles do not depend on block-k, keeps
// its warpgroup MMAs. ptxas accepts the result (an m64n272k16 it would not).
// CHECK-LABEL: gpu.func @kv_shift_attention_d16_bf16_causal_lse(
// CHECK-NOT: wgmma
// CHECK: nvvm.mma.sync
// CHECK-LABEL: gpu.func @kv_shift_attention_d16_bf16_causal_lse_grad_q(
// CHECK-NOT: wgmma
// CHECK: nvvm.mma.sync
// CHECK-LABEL: gpu.func @kv_shift_attention_d16_bf16_causal_lse_grad_kv(
// CHECK: wgmma.mma_async.sync.aligned.m64n32k16
func.func @train(%q: tensor<1x2x300x16xbf16>, %k: tensor<1x2x300x16xbf16>, %v: tensor<1x2x300x16xbf16>, %kw: tensor<2x2xf32>, %vw: tensor<2x2xf32>, %do: tensor<1x2x300x16xbf16>) -> (tensor<1x2x300x16xbf16>, tensor<1x2x300x16xbf16>, tensor<1x2x300x16xbf16>, tensor<1x2x300x16xbf16>, tensor<2x2xf32>, tensor<2x2xf32>) {
  %o = kvshift.kv_shift_attention %q, %k, %v mix(%kw, %vw) causal
      : (tensor<1x2x300x16xbf16>, tensor<1x2x300x16xbf16>, tensor<1x2x300x16xbf16>, tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<1x2x300x16xbf16>
  %dq, %dk, %dv, %dkw, %dvw = kvshift.kv_shift_attention_grad %q, %k, %v mix(%kw, %vw) dout(%do) causal
      : (tensor<1x2x300x16xbf16>, tensor<1x2x300x16xbf16>, tensor<1x2x300x16xbf16>, tensor<2x2xf32>, tensor<2x2xf32>, tensor<1x2x300x16xbf16>) -> (tensor<1x2x300x16xbf16>, tensor<1x2x300x16xbf16>, tensor<1x2x300x16xbf16>, tensor<2x2xf32>, tensor<2x2xf32>)
  return %o, %dq, %dk, %dv, %dkw, %dvw : tensor<1x2x300x16xbf16>, tensor<1x2x300x16xbf16>, tensor<1x2x300x16xbf16>, tensor<1x2x300x16xbf16>, tensor<2x2xf32>, tensor<2x2xf32>
}
