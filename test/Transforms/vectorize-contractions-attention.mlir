// The fused attention kernels are built from scf/vector/memref ops, not
// linalg: kvshift-vectorize-contractions, which runs after
// kvshift-fuse-attention in the fused CPU pipeline, leaves them exactly as
// they are: the two outputs are identical.
// RUN: kvshift-opt %s --kvshift-fuse-attention --split-input-file > %t.fused
// RUN: kvshift-opt %s --kvshift-fuse-attention --kvshift-vectorize-contractions --split-input-file > %t.both
// RUN: diff %t.fused %t.both
// RUN: FileCheck %s --input-file=%t.both

// CHECK-LABEL: func.func @attn
// CHECK-NOT: kvshift.kv_shift_attention
// CHECK: scf.parallel
// CHECK: vector.fma
func.func @attn(%q: tensor<1x4x37x24xf32>, %k: tensor<1x2x37x24xf32>, %v: tensor<1x2x37x24xf32>, %kw: tensor<2x2xf32>, %vw: tensor<2x2xf32>) -> tensor<1x4x37x24xf32> {
  %o = kvshift.kv_shift_attention %q, %k, %v mix(%kw, %vw) causal rope_theta = 1.0e4 : (tensor<1x4x37x24xf32>, tensor<1x2x37x24xf32>, tensor<1x2x37x24xf32>, tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<1x4x37x24xf32>
  return %o : tensor<1x4x37x24xf32>
}

// -----

// CHECK-LABEL: func.func @train
// CHECK-NOT: kvshift.kv_shift_attention
// CHECK: vector.fma
func.func @train(%q: tensor<1x2x19x16xf32>, %k: tensor<1x2x19x16xf32>, %v: tensor<1x2x19x16xf32>, %kw: tensor<2x2xf32>, %vw: tensor<2x2xf32>, %do: tensor<1x2x19x16xf32>) -> (tensor<1x2x19x16xf32>, tensor<1x2x19x16xf32>, tensor<1x2x19x16xf32>, tensor<1x2x19x16xf32>, tensor<2x2xf32>, tensor<2x2xf32>) {
  %o = kvshift.kv_shift_attention %q, %k, %v mix(%kw, %vw) causal : (tensor<1x2x19x16xf32>, tensor<1x2x19x16xf32>, tensor<1x2x19x16xf32>, tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<1x2x19x16xf32>
  %dq, %dk, %dv, %dkw, %dvw = kvshift.kv_shift_attention_grad %q, %k, %v mix(%kw, %vw) dout(%do) causal : (tensor<1x2x19x16xf32>, tensor<1x2x19x16xf32>, tensor<1x2x19x16xf32>, tensor<2x2xf32>, tensor<2x2xf32>, tensor<1x2x19x16xf32>) -> (tensor<1x2x19x16xf32>, tensor<1x2x19x16xf32>, tensor<1x2x19x16xf32>, tensor<2x2xf32>, tensor<2x2xf32>)
  return %o, %dq, %dk, %dv, %dkw, %dvw : tensor<1x2x19x16xf32>, tensor<1x2x19x16xf32>, tensor<1x2x19x16xf32>, tensor<1x2x19x16xf32>, tensor<2x2xf32>, tensor<2x2xf32>
}

// -----

// CHECK-LABEL: func.func @decode
// CHECK-NOT: kvshift.kv_cache_attention
// CHECK: vector.reduction <add>
func.func @decode(%q: tensor<1x4x1x8xf32>, %kc: tensor<1x2x64x8xf32>, %vc: tensor<1x2x64x8xf32>, %len: index) -> tensor<1x4x1x8xf32> {
  %o = kvshift.kv_cache_attention %q, %kc, %vc length %len causal : (tensor<1x4x1x8xf32>, tensor<1x2x64x8xf32>, tensor<1x2x64x8xf32>, index) -> tensor<1x4x1x8xf32>
  return %o : tensor<1x4x1x8xf32>
}
