// RUN: kvshift-opt %s --kvshift-insert-runtime-checks --canonicalize | FileCheck %s

// One declaration of the runtime hook, one check before each cache op.
// CHECK: func.func private @kvshift_runtime_error(i64, i64, i64, i64)
// CHECK-NOT: func.func private @kvshift_runtime_error

// kv_cache_append: pos + T <= Smax, and pos + T does not wrap (a negative
// pos); code 1 with (pos, pos + T, Smax).
// CHECK-LABEL: func.func @append
// CHECK-SAME: %[[POS:[a-z0-9]+]]: index)
// CHECK-DAG: %[[C1:.*]] = arith.constant 1 : i64
// CHECK-DAG: %[[SMAX:.*]] = arith.constant 64 : i64
// CHECK-DAG: %[[C3:.*]] = arith.constant 3 : index
// CHECK-DAG: %[[C64:.*]] = arith.constant 64 : index
// CHECK: %[[END:.*]] = arith.addi %[[POS]], %[[C3]] : index
// CHECK: %[[OVER:.*]] = arith.cmpi ugt, %[[END]], %[[C64]] : index
// CHECK: %[[WRAP:.*]] = arith.cmpi ugt, %[[POS]], %[[END]] : index
// CHECK: %[[BAD:.*]] = arith.ori %[[OVER]], %[[WRAP]] : i1
// CHECK: scf.if %[[BAD]] {
// CHECK: %[[P:.*]] = arith.index_cast %[[POS]] : index to i64
// CHECK: %[[E:.*]] = arith.index_cast %[[END]] : index to i64
// CHECK: func.call @kvshift_runtime_error(%[[C1]], %[[P]], %[[E]], %[[SMAX]])
// CHECK: }
// CHECK: kvshift.kv_cache_append
func.func @append(%k: tensor<1x2x3x8xf32>, %kl: tensor<1x2x1x8xf32>, %w: tensor<2x2xf32>, %kc: tensor<1x2x64x8xf32>, %pos: index) -> tensor<1x2x64x8xf32> {
  %r:4 = kvshift.kv_cache_append %k, %k last(%kl, %kl) mix(%w, %w) into(%kc, %kc) at %pos : (tensor<1x2x3x8xf32>, tensor<1x2x3x8xf32>, tensor<1x2x1x8xf32>, tensor<1x2x1x8xf32>, tensor<2x2xf32>, tensor<2x2xf32>, tensor<1x2x64x8xf32>, tensor<1x2x64x8xf32>, index) -> (tensor<1x2x64x8xf32>, tensor<1x2x64x8xf32>, tensor<1x2x1x8xf32>, tensor<1x2x1x8xf32>)
  return %r#0 : tensor<1x2x64x8xf32>
}

// kv_cache_attention, causal: Sq <= length <= Smax (code 2 with
// (length, Sq, Smax)); without causal the lower bound is 1.
// CHECK-LABEL: func.func @attention
// CHECK-SAME: %[[LEN:[a-z0-9]+]]: index)
// CHECK: %[[OVER:.*]] = arith.cmpi ugt, %[[LEN]], %{{.*}} : index
// CHECK: %[[UNDER:.*]] = arith.cmpi slt, %[[LEN]], %[[SQ:.*]] : index
// CHECK: %[[BAD:.*]] = arith.ori %[[OVER]], %[[UNDER]] : i1
// CHECK: scf.if %[[BAD]] {
// CHECK: func.call @kvshift_runtime_error(%{{.*}}, %{{.*}}, %{{.*}}, %{{.*}})
// CHECK: kvshift.kv_cache_attention
// CHECK: arith.cmpi slt, %{{.*}}, %c1 : index
// CHECK: kvshift.kv_cache_attention
func.func @attention(%q: tensor<1x4x?x8xf32>, %kc: tensor<1x2x64x8xf32>, %len: index) -> (tensor<1x4x?x8xf32>, tensor<1x4x?x8xf32>) {
  %o = kvshift.kv_cache_attention %q, %kc, %kc length %len causal : (tensor<1x4x?x8xf32>, tensor<1x2x64x8xf32>, tensor<1x2x64x8xf32>, index) -> tensor<1x4x?x8xf32>
  %o2 = kvshift.kv_cache_attention %q, %kc, %kc length %len : (tensor<1x4x?x8xf32>, tensor<1x2x64x8xf32>, tensor<1x2x64x8xf32>, index) -> tensor<1x4x?x8xf32>
  return %o, %o2 : tensor<1x4x?x8xf32>, tensor<1x4x?x8xf32>
}
