// RUN: kvshift-opt %s --kvshift-decompose --canonicalize --cse | FileCheck %s

// The reference lowering of the KV-cache ops.

// kv_cache_append: the rows the mix pairs with k_new are [k_last (zeros at
// pos 0); k_new rows 0 .. T-2]; the mixed rows go into the cache at pos
// (clamped to [0, Smax - T]); the new last rows overwrite k_last/v_last
// (a linalg.generic with k_last as destination, reading row T - 1).
// CHECK-LABEL: func.func @append
// CHECK-SAME: (%[[K:.*]]: tensor<1x2x3x8xf32>, %[[V:.*]]: tensor<1x2x3x8xf32>, %[[KL:.*]]: tensor<1x2x1x8xf32>, %[[VL:.*]]: tensor<1x2x1x8xf32>, %[[KW:.*]]: tensor<2x2xf32>, %[[VW:.*]]: tensor<2x2xf32>, %[[KC:.*]]: tensor<1x2x64x8xf32>, %[[VC:.*]]: tensor<1x2x64x8xf32>, %[[POS:.*]]: index)
// CHECK-DAG: %[[C0:.*]] = arith.constant 0 : index
// CHECK-DAG: %[[C61:.*]] = arith.constant 61 : index
// CHECK: %[[MIN:.*]] = arith.minsi %[[POS]], %[[C61]] : index
// CHECK: %[[AT:.*]] = arith.maxsi %[[MIN]], %[[C0]] : index
// CHECK: %[[START:.*]] = arith.cmpi eq, %[[POS]], %[[C0]] : index
// CHECK: %[[ZEROS:.*]] = linalg.fill
// CHECK: %[[FIRST:.*]] = arith.select %[[START]], %[[ZEROS]], %[[KL]] : tensor<1x2x1x8xf32>
// CHECK: %[[P0:.*]] = tensor.insert_slice %[[FIRST]] into %{{.*}}[0, 0, 0, 0] [1, 2, 1, 8]
// CHECK: %[[HEAD:.*]] = tensor.extract_slice %[[K]][0, 0, 0, 0] [1, 2, 2, 8]
// CHECK: %[[PREV:.*]] = tensor.insert_slice %[[HEAD]] into %[[P0]][0, 0, 1, 0] [1, 2, 2, 8]
// CHECK: %[[MIXED:.*]] = linalg.generic {{.*}} ins(%[[K]], %[[PREV]], %{{.*}}, %{{.*}} :
// CHECK: arith.mulf
// CHECK: arith.mulf
// CHECK: arith.addf
// CHECK: %[[NKC:.*]] = tensor.insert_slice %[[MIXED]] into %[[KC]][0, 0, %[[AT]], 0] [1, 2, 3, 8] [1, 1, 1, 1]
// CHECK: %[[NVC:.*]] = tensor.insert_slice %{{.*}} into %[[VC]][0, 0, %[[AT]], 0] [1, 2, 3, 8] [1, 1, 1, 1]
// CHECK: %[[NKL:.*]] = linalg.generic {{.*}} outs(%[[KL]] : tensor<1x2x1x8xf32>)
// CHECK: tensor.extract %[[K]][%{{.*}}, %{{.*}}, %c2, %{{.*}}]
// CHECK: %[[NVL:.*]] = linalg.generic {{.*}} outs(%[[VL]] : tensor<1x2x1x8xf32>)
// CHECK: tensor.extract %[[V]][%{{.*}}, %{{.*}}, %c2, %{{.*}}]
// CHECK: return %[[NKC]], %[[NVC]], %[[NKL]], %[[NVL]]
func.func @append(%k: tensor<1x2x3x8xf32>, %v: tensor<1x2x3x8xf32>, %kl: tensor<1x2x1x8xf32>, %vl: tensor<1x2x1x8xf32>, %kw: tensor<2x2xf32>, %vw: tensor<2x2xf32>, %kc: tensor<1x2x64x8xf32>, %vc: tensor<1x2x64x8xf32>, %pos: index) -> (tensor<1x2x64x8xf32>, tensor<1x2x64x8xf32>, tensor<1x2x1x8xf32>, tensor<1x2x1x8xf32>) {
  %r:4 = kvshift.kv_cache_append %k, %v last(%kl, %vl) mix(%kw, %vw) into(%kc, %vc) at %pos : (tensor<1x2x3x8xf32>, tensor<1x2x3x8xf32>, tensor<1x2x1x8xf32>, tensor<1x2x1x8xf32>, tensor<2x2xf32>, tensor<2x2xf32>, tensor<1x2x64x8xf32>, tensor<1x2x64x8xf32>, index) -> (tensor<1x2x64x8xf32>, tensor<1x2x64x8xf32>, tensor<1x2x1x8xf32>, tensor<1x2x1x8xf32>)
  return %r#0, %r#1, %r#2, %r#3 : tensor<1x2x64x8xf32>, tensor<1x2x64x8xf32>, tensor<1x2x1x8xf32>, tensor<1x2x1x8xf32>
}

// With rope_theta the mixed keys are rotated at positions pos + t (the
// clamped pos added to linalg.index 2), the values are not.
// CHECK-LABEL: func.func @append_rope
// CHECK: %[[AT:.*]] = arith.maxsi
// CHECK: linalg.generic
// CHECK: linalg.generic
// CHECK: %[[T:.*]] = linalg.index 2 : index
// CHECK: arith.addi %[[T]], %[[AT]] : index
// CHECK: math.cos
// CHECK: math.sin
// CHECK: %[[ROT:.*]] = tensor.insert_slice %{{.*}} into %{{.*}}[0, 0, 0, 4] [1, 2, 3, 4]
// CHECK: tensor.insert_slice %[[ROT]] into %{{.*}}[0, 0, %[[AT]], 0] [1, 2, 3, 8]
// CHECK-NOT: math.cos
// CHECK: return
func.func @append_rope(%k: tensor<1x2x3x8xf32>, %kl: tensor<1x2x1x8xf32>, %w: tensor<2x2xf32>, %kc: tensor<1x2x64x8xf32>, %pos: index) -> (tensor<1x2x64x8xf32>, tensor<1x2x64x8xf32>) {
  %r:4 = kvshift.kv_cache_append %k, %k last(%kl, %kl) mix(%w, %w) into(%kc, %kc) at %pos rope_theta = 1.0e4 : (tensor<1x2x3x8xf32>, tensor<1x2x3x8xf32>, tensor<1x2x1x8xf32>, tensor<1x2x1x8xf32>, tensor<2x2xf32>, tensor<2x2xf32>, tensor<1x2x64x8xf32>, tensor<1x2x64x8xf32>, index) -> (tensor<1x2x64x8xf32>, tensor<1x2x64x8xf32>, tensor<1x2x1x8xf32>, tensor<1x2x1x8xf32>)
  return %r#0, %r#1 : tensor<1x2x64x8xf32>, tensor<1x2x64x8xf32>
}

// kv_cache_attention: attention over the first `length` rows (clamped to
// [Sq, Smax] with causal) with weights [1, 0] (no mix: the cache holds mixed
// rows), decomposed like kv_shift_attention.
// CHECK-LABEL: func.func @attention
// CHECK-SAME: (%[[Q:.*]]: tensor<1x4x1x8xf32>, %[[KC:.*]]: tensor<1x2x64x8xf32>, %[[VC:.*]]: tensor<1x2x64x8xf32>, %[[LEN:.*]]: index)
// CHECK-DAG: %[[C1:.*]] = arith.constant 1 : index
// CHECK-DAG: %[[C64:.*]] = arith.constant 64 : index
// CHECK: %[[MIN:.*]] = arith.minsi %[[LEN]], %[[C64]] : index
// CHECK: %[[N:.*]] = arith.maxsi %[[MIN]], %[[C1]] : index
// CHECK: tensor.extract_slice %[[KC]][0, 0, 0, 0] [1, 2, %[[N]], 8] [1, 1, 1, 1] : tensor<1x2x64x8xf32> to tensor<1x2x?x8xf32>
// CHECK: tensor.extract_slice %[[VC]][0, 0, 0, 0] [1, 2, %[[N]], 8] [1, 1, 1, 1] : tensor<1x2x64x8xf32> to tensor<1x2x?x8xf32>
// CHECK: arith.select
// CHECK-NOT: kvshift.
// CHECK: return
func.func @attention(%q: tensor<1x4x1x8xf32>, %kc: tensor<1x2x64x8xf32>, %vc: tensor<1x2x64x8xf32>, %len: index) -> tensor<1x4x1x8xf32> {
  %o = kvshift.kv_cache_attention %q, %kc, %vc length %len causal : (tensor<1x4x1x8xf32>, tensor<1x2x64x8xf32>, tensor<1x2x64x8xf32>, index) -> tensor<1x4x1x8xf32>
  return %o : tensor<1x4x1x8xf32>
}
