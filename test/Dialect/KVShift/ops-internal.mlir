// RUN: kvshift-opt %s | kvshift-opt | FileCheck %s
// RUN: kvshift-opt %s --mlir-print-op-generic | kvshift-opt | FileCheck %s

// The internal forms created by --kvshift-share-attention-stats round-trip
// in custom and generic form, with static and dynamic shapes.

// CHECK-LABEL: func.func @with_lse
// CHECK: %{{.*}}, %{{.*}} = kvshift.kv_shift_attention_with_lse %arg0, %arg1, %arg2 mix(%arg3, %arg4) causal scale = 1.250000e-01 : (tensor<1x4x16x8xbf16>, tensor<1x2x16x8xbf16>, tensor<1x2x16x8xbf16>, tensor<2x2xf32>, tensor<2x2xf32>) -> (tensor<1x4x16x8xbf16>, tensor<1x4x16xf32>)
func.func @with_lse(%q: tensor<1x4x16x8xbf16>, %k: tensor<1x2x16x8xbf16>, %v: tensor<1x2x16x8xbf16>, %kw: tensor<2x2xf32>, %vw: tensor<2x2xf32>) -> tensor<1x4x16xf32> {
  %o, %l = kvshift.kv_shift_attention_with_lse %q, %k, %v mix(%kw, %vw) causal scale = 0.125 : (tensor<1x4x16x8xbf16>, tensor<1x2x16x8xbf16>, tensor<1x2x16x8xbf16>, tensor<2x2xf32>, tensor<2x2xf32>) -> (tensor<1x4x16x8xbf16>, tensor<1x4x16xf32>)
  return %l : tensor<1x4x16xf32>
}

// CHECK-LABEL: func.func @grad_with_lse_dynamic
// CHECK: kvshift.kv_shift_attention_grad_with_lse %arg0, %arg1, %arg1 mix(%arg2, %arg2) dout(%arg3) stats(%arg3, %arg4) : (tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>, tensor<?x2xf32>, tensor<?x2xf32>, tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>, tensor<?x?x?xf32>) -> (tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>, tensor<?x2xf32>, tensor<?x2xf32>)
func.func @grad_with_lse_dynamic(%q: tensor<?x?x?x?xf32>, %k: tensor<?x?x?x?xf32>, %w: tensor<?x2xf32>, %do: tensor<?x?x?x?xf32>, %lse: tensor<?x?x?xf32>) -> tensor<?x2xf32> {
  %g:5 = kvshift.kv_shift_attention_grad_with_lse %q, %k, %k mix(%w, %w) dout(%do) stats(%do, %lse) : (tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>, tensor<?x2xf32>, tensor<?x2xf32>, tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>, tensor<?x?x?xf32>) -> (tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>, tensor<?x2xf32>, tensor<?x2xf32>)
  return %g#3 : tensor<?x2xf32>
}

// CHECK-LABEL: func.func @rope_internal
// CHECK: kvshift.kv_shift_attention_with_lse %arg0, %arg1, %arg1 mix(%arg2, %arg2) causal rope_theta = 1.000000e+04 :
// CHECK: kvshift.kv_shift_attention_grad_with_lse %arg0, %arg1, %arg1 mix(%arg2, %arg2) dout(%arg0) stats(%{{.*}}, %{{.*}}) causal rope_theta = 1.000000e+04 :
func.func @rope_internal(%q: tensor<1x2x4x8xf32>, %k: tensor<1x2x4x8xf32>, %w: tensor<2x2xf32>) -> tensor<2x2xf32> {
  %o, %l = kvshift.kv_shift_attention_with_lse %q, %k, %k mix(%w, %w) causal rope_theta = 10000.0 : (tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32>, tensor<2x2xf32>, tensor<2x2xf32>) -> (tensor<1x2x4x8xf32>, tensor<1x2x4xf32>)
  %g:5 = kvshift.kv_shift_attention_grad_with_lse %q, %k, %k mix(%w, %w) dout(%q) stats(%o, %l) causal rope_theta = 10000.0 : (tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32>, tensor<2x2xf32>, tensor<2x2xf32>, tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32>, tensor<1x2x4xf32>) -> (tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32>, tensor<2x2xf32>, tensor<2x2xf32>)
  return %g#3 : tensor<2x2xf32>
}
