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

// kvshift.kernel (made by the fused lowerings): inputs as buffers, results
// as yielded buffers; none, one and several results.
// CHECK-LABEL: func.func @kernel
// CHECK: %[[R:.*]]:2 = kvshift.kernel ins(%arg0, %arg1 : tensor<4x?xf32>, tensor<2xf32>) -> tensor<4x?xf32>, tensor<f32> {
// CHECK-NEXT: ^bb0(%[[A:.*]]: memref<4x?xf32>, %[[B:.*]]: memref<2xf32>):
// CHECK: kvshift.kernel_yield %{{.*}}, %{{.*}} : memref<4x?xf32>, memref<f32>
// CHECK: kvshift.kernel {
// CHECK-NEXT: kvshift.kernel_yield
// CHECK-NEXT: }
func.func @kernel(%x: tensor<4x?xf32>, %w: tensor<2xf32>) -> (tensor<4x?xf32>, tensor<f32>) {
  %r:2 = kvshift.kernel ins(%x, %w : tensor<4x?xf32>, tensor<2xf32>) -> tensor<4x?xf32>, tensor<f32> {
  ^bb0(%a: memref<4x?xf32>, %b: memref<2xf32>):
    %c1 = arith.constant 1 : index
    %n = memref.dim %a, %c1 : memref<4x?xf32>
    %o = memref.alloc(%n) : memref<4x?xf32>
    memref.copy %a, %o : memref<4x?xf32> to memref<4x?xf32>
    %s = memref.alloc() : memref<f32>
    %e = memref.load %b[%c1] : memref<2xf32>
    memref.store %e, %s[] : memref<f32>
    kvshift.kernel_yield %o, %s : memref<4x?xf32>, memref<f32>
  }
  kvshift.kernel {
    kvshift.kernel_yield
  }
  return %r#0, %r#1 : tensor<4x?xf32>, tensor<f32>
}
