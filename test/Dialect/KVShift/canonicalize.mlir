// RUN: kvshift-opt %s --canonicalize --split-input-file | FileCheck %s

// kvshift.kv_shift folds to its input when the weights are the constant
// [1, 0] in every head (and only then).

// CHECK-LABEL: func.func @fold_identity_mix
// CHECK-SAME: (%[[X:.*]]: tensor<2x3x16x8xf32>)
// CHECK-NOT: kvshift.kv_shift
// CHECK-NOT: arith.constant
// CHECK: return %[[X]] : tensor<2x3x16x8xf32>
func.func @fold_identity_mix(%x: tensor<2x3x16x8xf32>) -> tensor<2x3x16x8xf32> {
  %w = arith.constant dense<[[1.0, 0.0], [1.0, 0.0], [1.0, 0.0]]> : tensor<3x2xf32>
  %0 = kvshift.kv_shift %x, %w : tensor<2x3x16x8xf32>, tensor<3x2xf32> -> tensor<2x3x16x8xf32>
  return %0 : tensor<2x3x16x8xf32>
}

// -----

// A negative zero is a zero.
// CHECK-LABEL: func.func @fold_identity_mix_negative_zero_bf16
// CHECK-SAME: (%[[X:.*]]: tensor<1x2x4x8xbf16>)
// CHECK-NOT: kvshift.kv_shift
// CHECK: return %[[X]] : tensor<1x2x4x8xbf16>
func.func @fold_identity_mix_negative_zero_bf16(%x: tensor<1x2x4x8xbf16>) -> tensor<1x2x4x8xbf16> {
  %w = arith.constant dense<[[1.0, -0.0], [1.0, 0.0]]> : tensor<2x2xf32>
  %0 = kvshift.kv_shift %x, %w : tensor<1x2x4x8xbf16>, tensor<2x2xf32> -> tensor<1x2x4x8xbf16>
  return %0 : tensor<1x2x4x8xbf16>
}

// -----

// Dynamic shapes fold too, as long as the result type is the type of x.
// CHECK-LABEL: func.func @fold_identity_mix_dynamic
// CHECK-SAME: (%[[X:.*]]: tensor<?x1x?x?xf16>)
// CHECK-NOT: kvshift.kv_shift
// CHECK: return %[[X]] : tensor<?x1x?x?xf16>
func.func @fold_identity_mix_dynamic(%x: tensor<?x1x?x?xf16>) -> tensor<?x1x?x?xf16> {
  %w = arith.constant dense<[[1.0, 0.0]]> : tensor<1x2xf32>
  %0 = kvshift.kv_shift %x, %w : tensor<?x1x?x?xf16>, tensor<1x2xf32> -> tensor<?x1x?x?xf16>
  return %0 : tensor<?x1x?x?xf16>
}

// -----

// Two identity mixes in a row both fold.
// CHECK-LABEL: func.func @fold_identity_mix_twice
// CHECK-SAME: (%[[X:.*]]: tensor<1x1x4x4xf32>)
// CHECK-NOT: kvshift.kv_shift
// CHECK: return %[[X]], %[[X]]
func.func @fold_identity_mix_twice(%x: tensor<1x1x4x4xf32>) -> (tensor<1x1x4x4xf32>, tensor<1x1x4x4xf32>) {
  %w = arith.constant dense<[[1.0, 0.0]]> : tensor<1x2xf32>
  %0 = kvshift.kv_shift %x, %w : tensor<1x1x4x4xf32>, tensor<1x2xf32> -> tensor<1x1x4x4xf32>
  %1 = kvshift.kv_shift %0, %w : tensor<1x1x4x4xf32>, tensor<1x2xf32> -> tensor<1x1x4x4xf32>
  return %0, %1 : tensor<1x1x4x4xf32>, tensor<1x1x4x4xf32>
}

// -----

// [1, 0] in one head only: no fold.
// CHECK-LABEL: func.func @no_fold_one_head_only
// CHECK-SAME: (%[[X:.*]]: tensor<2x3x16x8xf32>)
// CHECK: %[[W:.*]] = arith.constant dense<{{\[\[}}1.000000e+00, 0.000000e+00], [1.000000e+00, 5.000000e-01], [1.000000e+00, 0.000000e+00]]> : tensor<3x2xf32>
// CHECK: %[[R:.*]] = kvshift.kv_shift %[[X]], %[[W]] : tensor<2x3x16x8xf32>, tensor<3x2xf32> -> tensor<2x3x16x8xf32>
// CHECK: return %[[R]]
func.func @no_fold_one_head_only(%x: tensor<2x3x16x8xf32>) -> tensor<2x3x16x8xf32> {
  %w = arith.constant dense<[[1.0, 0.0], [1.0, 0.5], [1.0, 0.0]]> : tensor<3x2xf32>
  %0 = kvshift.kv_shift %x, %w : tensor<2x3x16x8xf32>, tensor<3x2xf32> -> tensor<2x3x16x8xf32>
  return %0 : tensor<2x3x16x8xf32>
}

// -----

// [1, 0] in the first head only, the other head scaled.
// CHECK-LABEL: func.func @no_fold_first_head_only
// CHECK-SAME: (%[[X:.*]]: tensor<1x2x4x8xf32>)
// CHECK: %[[R:.*]] = kvshift.kv_shift %[[X]], %{{.*}} : tensor<1x2x4x8xf32>, tensor<2x2xf32> -> tensor<1x2x4x8xf32>
// CHECK: return %[[R]]
func.func @no_fold_first_head_only(%x: tensor<1x2x4x8xf32>) -> tensor<1x2x4x8xf32> {
  %w = arith.constant dense<[[1.0, 0.0], [2.0, 0.0]]> : tensor<2x2xf32>
  %0 = kvshift.kv_shift %x, %w : tensor<1x2x4x8xf32>, tensor<2x2xf32> -> tensor<1x2x4x8xf32>
  return %0 : tensor<1x2x4x8xf32>
}

// -----

// The paper's typical mix [0.5, 0.5] is not the identity.
// CHECK-LABEL: func.func @no_fold_half_half
// CHECK-SAME: (%[[X:.*]]: tensor<1x2x4x8xf32>)
// CHECK: %[[W:.*]] = arith.constant dense<5.000000e-01> : tensor<2x2xf32>
// CHECK: %[[R:.*]] = kvshift.kv_shift %[[X]], %[[W]]
// CHECK: return %[[R]]
func.func @no_fold_half_half(%x: tensor<1x2x4x8xf32>) -> tensor<1x2x4x8xf32> {
  %w = arith.constant dense<[[0.5, 0.5], [0.5, 0.5]]> : tensor<2x2xf32>
  %0 = kvshift.kv_shift %x, %w : tensor<1x2x4x8xf32>, tensor<2x2xf32> -> tensor<1x2x4x8xf32>
  return %0 : tensor<1x2x4x8xf32>
}

// -----

// [0, 1] (pure shift) is not the identity either.
// CHECK-LABEL: func.func @no_fold_pure_shift
// CHECK: %[[R:.*]] = kvshift.kv_shift
// CHECK: return %[[R]]
func.func @no_fold_pure_shift(%x: tensor<1x1x4x8xf32>) -> tensor<1x1x4x8xf32> {
  %w = arith.constant dense<[[0.0, 1.0]]> : tensor<1x2xf32>
  %0 = kvshift.kv_shift %x, %w : tensor<1x1x4x8xf32>, tensor<1x2xf32> -> tensor<1x1x4x8xf32>
  return %0 : tensor<1x1x4x8xf32>
}

// -----

// Weights that are not a constant: no fold.
// CHECK-LABEL: func.func @no_fold_non_constant
// CHECK-SAME: (%[[X:.*]]: tensor<1x2x4x8xf32>, %[[W:.*]]: tensor<2x2xf32>)
// CHECK: %[[R:.*]] = kvshift.kv_shift %[[X]], %[[W]] : tensor<1x2x4x8xf32>, tensor<2x2xf32> -> tensor<1x2x4x8xf32>
// CHECK: return %[[R]]
func.func @no_fold_non_constant(%x: tensor<1x2x4x8xf32>, %w: tensor<2x2xf32>) -> tensor<1x2x4x8xf32> {
  %0 = kvshift.kv_shift %x, %w : tensor<1x2x4x8xf32>, tensor<2x2xf32> -> tensor<1x2x4x8xf32>
  return %0 : tensor<1x2x4x8xf32>
}

// -----

// The result type differs from the type of x (it is more static): replacing
// the result by x would change a type, so no fold.
// CHECK-LABEL: func.func @no_fold_result_type_differs
// CHECK-SAME: (%[[X:.*]]: tensor<?x2x?x8xf32>)
// CHECK: %[[R:.*]] = kvshift.kv_shift %[[X]], %{{.*}} : tensor<?x2x?x8xf32>, tensor<2x2xf32> -> tensor<1x2x4x8xf32>
// CHECK: return %[[R]] : tensor<1x2x4x8xf32>
func.func @no_fold_result_type_differs(%x: tensor<?x2x?x8xf32>) -> tensor<1x2x4x8xf32> {
  %w = arith.constant dense<[[1.0, 0.0], [1.0, 0.0]]> : tensor<2x2xf32>
  %0 = kvshift.kv_shift %x, %w : tensor<?x2x?x8xf32>, tensor<2x2xf32> -> tensor<1x2x4x8xf32>
  return %0 : tensor<1x2x4x8xf32>
}

// -----

// The result is less static than x: no fold either.
// CHECK-LABEL: func.func @no_fold_result_less_static
// CHECK-SAME: (%[[X:.*]]: tensor<1x2x4x8xf32>)
// CHECK: %[[R:.*]] = kvshift.kv_shift %[[X]], %{{.*}} : tensor<1x2x4x8xf32>, tensor<2x2xf32> -> tensor<?x2x4x8xf32>
// CHECK: return %[[R]] : tensor<?x2x4x8xf32>
func.func @no_fold_result_less_static(%x: tensor<1x2x4x8xf32>) -> tensor<?x2x4x8xf32> {
  %w = arith.constant dense<[[1.0, 0.0], [1.0, 0.0]]> : tensor<2x2xf32>
  %0 = kvshift.kv_shift %x, %w : tensor<1x2x4x8xf32>, tensor<2x2xf32> -> tensor<?x2x4x8xf32>
  return %0 : tensor<?x2x4x8xf32>
}

// -----

// The attention ops are not folded away even with identity weights.
// CHECK-LABEL: func.func @attention_not_folded
// CHECK: kvshift.kv_shift_attention
func.func @attention_not_folded(%q: tensor<1x2x4x8xf32>, %k: tensor<1x2x4x8xf32>, %v: tensor<1x2x4x8xf32>) -> tensor<1x2x4x8xf32> {
  %w = arith.constant dense<[[1.0, 0.0], [1.0, 0.0]]> : tensor<2x2xf32>
  %0 = kvshift.kv_shift_attention %q, %k, %v mix(%w, %w) : (tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32>, tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<1x2x4x8xf32>
  return %0 : tensor<1x2x4x8xf32>
}

// -----

// A tensor.cast from a more static type is folded into the op; the result
// type is kept. Casting only k (not v) stays valid.
// CHECK-LABEL: func.func @fold_static_cast
// CHECK-SAME: (%[[Q:.*]]: tensor<1x2x8x16xf32>, %[[K:.*]]: tensor<1x2x8x16xf32>, %[[V:.*]]: tensor<?x2x8x16xf32>
// CHECK-NOT: tensor.cast
// CHECK: kvshift.kv_shift_attention %[[Q]], %[[K]], %[[V]] mix
// CHECK-SAME: (tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>, tensor<?x2x8x16xf32>, tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<?x2x8x16xf32>
func.func @fold_static_cast(%q0: tensor<1x2x8x16xf32>, %k0: tensor<1x2x8x16xf32>, %v: tensor<?x2x8x16xf32>, %w: tensor<2x2xf32>) -> tensor<?x2x8x16xf32> {
  %q = tensor.cast %q0 : tensor<1x2x8x16xf32> to tensor<?x2x8x16xf32>
  %k = tensor.cast %k0 : tensor<1x2x8x16xf32> to tensor<?x2x8x16xf32>
  %0 = kvshift.kv_shift_attention %q, %k, %v mix(%w, %w) : (tensor<?x2x8x16xf32>, tensor<?x2x8x16xf32>, tensor<?x2x8x16xf32>, tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<?x2x8x16xf32>
  return %0 : tensor<?x2x8x16xf32>
}

// -----

// A cast to a more static type is not folded (it carries a shape check).
// CHECK-LABEL: func.func @keep_refining_cast
// CHECK: tensor.cast
// CHECK: kvshift.kv_shift
func.func @keep_refining_cast(%x0: tensor<?x2x8x16xf32>, %w: tensor<2x2xf32>) -> tensor<1x2x8x16xf32> {
  %x = tensor.cast %x0 : tensor<?x2x8x16xf32> to tensor<1x2x8x16xf32>
  %0 = kvshift.kv_shift %x, %w : tensor<1x2x8x16xf32>, tensor<2x2xf32> -> tensor<1x2x8x16xf32>
  return %0 : tensor<1x2x8x16xf32>
}
