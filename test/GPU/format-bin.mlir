// format=bin: gpu-module-to-binary runs ptxas (found through CUDA_HOME) and
// embeds a cubin (an ELF object) instead of PTX.
// REQUIRES: ptxas
// RUN: env CUDA_HOME=%cuda_home kvshift-opt %s --kvshift-to-nvvm="chip=sm_90a format=bin" | FileCheck %s
// CHECK: gpu.binary @kvshift_kernels  [#gpu.object<#nvvm.target<chip = "sm_90a", features = "+ptx80">, properties = {{.*}}, bin = "\7FELF
// CHECK-NOT: assembly =
func.func @attn(%q: tensor<1x4x128x64xf16>, %k: tensor<1x4x128x64xf16>, %v: tensor<1x4x128x64xf16>, %kw: tensor<4x2xf32>, %vw: tensor<4x2xf32>) -> tensor<1x4x128x64xf16> {
  %o = kvshift.kv_shift_attention %q, %k, %v mix(%kw, %vw) causal
      : (tensor<1x4x128x64xf16>, tensor<1x4x128x64xf16>, tensor<1x4x128x64xf16>, tensor<4x2xf32>, tensor<4x2xf32>) -> tensor<1x4x128x64xf16>
  return %o : tensor<1x4x128x64xf16>
}
