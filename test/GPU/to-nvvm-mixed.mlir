// RUN: kvshift-opt %s --kvshift-to-nvvm | FileCheck %s

// kv_shift alone runs on the host (kvshift-decompose, loops); its result
// feeds the fused attention kernel through the launcher; the intermediate
// and returned buffers are handled by buffer deallocation.
// CHECK-LABEL: llvm.func @both
// CHECK: llvm.call @malloc
// The mix on the host: w0 * x_t + w1 * x_{t-1} in f32.
// CHECK: llvm.fmul
// CHECK: llvm.call @kvshift_launch_kv_shift_attention_d64_bf16_causal(
// CHECK: gpu.binary @kvshift_kernels
// CHECK: llvm.func @kvshift_launch_kv_shift_attention_d64_bf16_causal(
// CHECK: gpu.launch_func
func.func @both(%x: tensor<1x2x16x64xbf16>, %w: tensor<2x2xf32>, %q: tensor<1x2x16x64xbf16>) -> (tensor<1x2x16x64xbf16>, tensor<1x2x16x64xbf16>) {
  %s = kvshift.kv_shift %x, %w : tensor<1x2x16x64xbf16>, tensor<2x2xf32> -> tensor<1x2x16x64xbf16>
  %o = kvshift.kv_shift_attention %q, %s, %s mix(%w, %w) causal
      : (tensor<1x2x16x64xbf16>, tensor<1x2x16x64xbf16>, tensor<1x2x16x64xbf16>, tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<1x2x16x64xbf16>
  return %s, %o : tensor<1x2x16x64xbf16>, tensor<1x2x16x64xbf16>
}
