// RUN: kvshift-opt %s --kvshift-share-attention-stats --split-input-file | FileCheck %s

// A forward and a gradient on the same operands and attributes: the forward
// also returns lse, and the gradient reads the forward's out and lse.
// CHECK-LABEL: func.func @pair
// CHECK-SAME: (%[[Q:.*]]: tensor<1x4x16x8xf32>, %[[K:.*]]: tensor<1x2x16x8xf32>, %[[V:.*]]: tensor<1x2x16x8xf32>, %[[KW:.*]]: tensor<2x2xf32>, %[[VW:.*]]: tensor<2x2xf32>, %[[DO:.*]]: tensor<1x4x16x8xf32>)
// CHECK: %[[O:.*]], %[[LSE:.*]] = kvshift.kv_shift_attention_with_lse %[[Q]], %[[K]], %[[V]] mix(%[[KW]], %[[VW]]) causal scale = 2.500000e-01 : {{.*}} -> (tensor<1x4x16x8xf32>, tensor<1x4x16xf32>)
// CHECK-NOT: kvshift.kv_shift_attention_grad %
// CHECK: %[[DQ:.*]], %{{.*}}, %{{.*}}, %{{.*}}, %[[DVW:.*]] = kvshift.kv_shift_attention_grad_with_lse %[[Q]], %[[K]], %[[V]] mix(%[[KW]], %[[VW]]) dout(%[[DO]]) stats(%[[O]], %[[LSE]]) causal scale = 2.500000e-01
// CHECK: return %[[O]], %[[DQ]], %[[DVW]]
func.func @pair(%q: tensor<1x4x16x8xf32>, %k: tensor<1x2x16x8xf32>, %v: tensor<1x2x16x8xf32>, %kw: tensor<2x2xf32>, %vw: tensor<2x2xf32>, %do: tensor<1x4x16x8xf32>) -> (tensor<1x4x16x8xf32>, tensor<1x4x16x8xf32>, tensor<2x2xf32>) {
  %o = kvshift.kv_shift_attention %q, %k, %v mix(%kw, %vw) causal scale = 0.25 : (tensor<1x4x16x8xf32>, tensor<1x2x16x8xf32>, tensor<1x2x16x8xf32>, tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<1x4x16x8xf32>
  %g:5 = kvshift.kv_shift_attention_grad %q, %k, %v mix(%kw, %vw) dout(%do) causal scale = 0.25 : (tensor<1x4x16x8xf32>, tensor<1x2x16x8xf32>, tensor<1x2x16x8xf32>, tensor<2x2xf32>, tensor<2x2xf32>, tensor<1x4x16x8xf32>) -> (tensor<1x4x16x8xf32>, tensor<1x2x16x8xf32>, tensor<1x2x16x8xf32>, tensor<2x2xf32>, tensor<2x2xf32>)
  return %o, %g#0, %g#4 : tensor<1x4x16x8xf32>, tensor<1x4x16x8xf32>, tensor<2x2xf32>
}

// -----

// Two gradients (two output gradients) share one forward's statistics.
// CHECK-LABEL: func.func @two_grads
// CHECK: %[[O:.*]], %[[LSE:.*]] = kvshift.kv_shift_attention_with_lse
// CHECK-NOT: kvshift.kv_shift_attention_with_lse
// CHECK: kvshift.kv_shift_attention_grad_with_lse {{.*}} stats(%[[O]], %[[LSE]])
// CHECK-NOT: kvshift.kv_shift_attention_with_lse
// CHECK: kvshift.kv_shift_attention_grad_with_lse {{.*}} stats(%[[O]], %[[LSE]])
func.func @two_grads(%q: tensor<1x2x8x4xf32>, %k: tensor<1x2x8x4xf32>, %w: tensor<2x2xf32>, %d1: tensor<1x2x8x4xf32>, %d2: tensor<1x2x8x4xf32>) -> (tensor<1x2x8x4xf32>, tensor<1x2x8x4xf32>, tensor<1x2x8x4xf32>) {
  %o = kvshift.kv_shift_attention %q, %k, %k mix(%w, %w) : (tensor<1x2x8x4xf32>, tensor<1x2x8x4xf32>, tensor<1x2x8x4xf32>, tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<1x2x8x4xf32>
  %a:5 = kvshift.kv_shift_attention_grad %q, %k, %k mix(%w, %w) dout(%d1) : (tensor<1x2x8x4xf32>, tensor<1x2x8x4xf32>, tensor<1x2x8x4xf32>, tensor<2x2xf32>, tensor<2x2xf32>, tensor<1x2x8x4xf32>) -> (tensor<1x2x8x4xf32>, tensor<1x2x8x4xf32>, tensor<1x2x8x4xf32>, tensor<2x2xf32>, tensor<2x2xf32>)
  %b:5 = kvshift.kv_shift_attention_grad %q, %k, %k mix(%w, %w) dout(%d2) : (tensor<1x2x8x4xf32>, tensor<1x2x8x4xf32>, tensor<1x2x8x4xf32>, tensor<2x2xf32>, tensor<2x2xf32>, tensor<1x2x8x4xf32>) -> (tensor<1x2x8x4xf32>, tensor<1x2x8x4xf32>, tensor<1x2x8x4xf32>, tensor<2x2xf32>, tensor<2x2xf32>)
  return %o, %a#0, %b#0 : tensor<1x2x8x4xf32>, tensor<1x2x8x4xf32>, tensor<1x2x8x4xf32>
}

// -----

// No sharing when the attributes differ (causal vs not), when the operands
// differ, or when the forward comes after the gradient.
// CHECK-LABEL: func.func @no_match
// CHECK-NOT: with_lse
// CHECK: kvshift.kv_shift_attention %
// CHECK: kvshift.kv_shift_attention_grad %
// CHECK: kvshift.kv_shift_attention_grad %
// CHECK: kvshift.kv_shift_attention %
// CHECK-NOT: with_lse
func.func @no_match(%q: tensor<1x2x8x4xf32>, %k: tensor<1x2x8x4xf32>, %k2: tensor<1x2x8x4xf32>, %w: tensor<2x2xf32>, %d: tensor<1x2x8x4xf32>) -> (tensor<1x2x8x4xf32>, tensor<1x2x8x4xf32>, tensor<1x2x8x4xf32>, tensor<1x2x8x4xf32>) {
  %o = kvshift.kv_shift_attention %q, %k, %k mix(%w, %w) causal : (tensor<1x2x8x4xf32>, tensor<1x2x8x4xf32>, tensor<1x2x8x4xf32>, tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<1x2x8x4xf32>
  %a:5 = kvshift.kv_shift_attention_grad %q, %k, %k mix(%w, %w) dout(%d) : (tensor<1x2x8x4xf32>, tensor<1x2x8x4xf32>, tensor<1x2x8x4xf32>, tensor<2x2xf32>, tensor<2x2xf32>, tensor<1x2x8x4xf32>) -> (tensor<1x2x8x4xf32>, tensor<1x2x8x4xf32>, tensor<1x2x8x4xf32>, tensor<2x2xf32>, tensor<2x2xf32>)
  %b:5 = kvshift.kv_shift_attention_grad %q, %k2, %k mix(%w, %w) dout(%d) causal : (tensor<1x2x8x4xf32>, tensor<1x2x8x4xf32>, tensor<1x2x8x4xf32>, tensor<2x2xf32>, tensor<2x2xf32>, tensor<1x2x8x4xf32>) -> (tensor<1x2x8x4xf32>, tensor<1x2x8x4xf32>, tensor<1x2x8x4xf32>, tensor<2x2xf32>, tensor<2x2xf32>)
  %o2 = kvshift.kv_shift_attention %q, %k2, %k mix(%w, %w) causal : (tensor<1x2x8x4xf32>, tensor<1x2x8x4xf32>, tensor<1x2x8x4xf32>, tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<1x2x8x4xf32>
  return %o, %a#0, %b#0, %o2 : tensor<1x2x8x4xf32>, tensor<1x2x8x4xf32>, tensor<1x2x8x4xf32>, tensor<1x2x8x4xf32>
}

// -----

// rope_theta is carried to both internal forms; a forward with another
// rope_theta (or none) is not the gradient's forward.
// CHECK-LABEL: func.func @rope
// CHECK: %[[O:.*]], %[[LSE:.*]] = kvshift.kv_shift_attention_with_lse %arg0, %arg1, %arg1 mix(%arg2, %arg2) causal rope_theta = 1.000000e+04
// CHECK: kvshift.kv_shift_attention %arg0, %arg1, %arg1 mix(%arg2, %arg2) causal rope_theta = 5.000000e+05
// CHECK: kvshift.kv_shift_attention %arg0, %arg1, %arg1 mix(%arg2, %arg2) causal :
// CHECK: kvshift.kv_shift_attention_grad_with_lse %arg0, %arg1, %arg1 mix(%arg2, %arg2) dout(%arg3) stats(%[[O]], %[[LSE]]) causal rope_theta = 1.000000e+04
func.func @rope(%q: tensor<1x2x8x4xf32>, %k: tensor<1x2x8x4xf32>, %w: tensor<2x2xf32>, %d: tensor<1x2x8x4xf32>) -> (tensor<1x2x8x4xf32>, tensor<1x2x8x4xf32>, tensor<1x2x8x4xf32>, tensor<1x2x8x4xf32>) {
  %o = kvshift.kv_shift_attention %q, %k, %k mix(%w, %w) causal rope_theta = 10000.0 : (tensor<1x2x8x4xf32>, tensor<1x2x8x4xf32>, tensor<1x2x8x4xf32>, tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<1x2x8x4xf32>
  %o2 = kvshift.kv_shift_attention %q, %k, %k mix(%w, %w) causal rope_theta = 500000.0 : (tensor<1x2x8x4xf32>, tensor<1x2x8x4xf32>, tensor<1x2x8x4xf32>, tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<1x2x8x4xf32>
  %o3 = kvshift.kv_shift_attention %q, %k, %k mix(%w, %w) causal : (tensor<1x2x8x4xf32>, tensor<1x2x8x4xf32>, tensor<1x2x8x4xf32>, tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<1x2x8x4xf32>
  %a:5 = kvshift.kv_shift_attention_grad %q, %k, %k mix(%w, %w) dout(%d) causal rope_theta = 10000.0 : (tensor<1x2x8x4xf32>, tensor<1x2x8x4xf32>, tensor<1x2x8x4xf32>, tensor<2x2xf32>, tensor<2x2xf32>, tensor<1x2x8x4xf32>) -> (tensor<1x2x8x4xf32>, tensor<1x2x8x4xf32>, tensor<1x2x8x4xf32>, tensor<2x2xf32>, tensor<2x2xf32>)
  return %o, %o2, %o3, %a#0 : tensor<1x2x8x4xf32>, tensor<1x2x8x4xf32>, tensor<1x2x8x4xf32>, tensor<1x2x8x4xf32>
}
