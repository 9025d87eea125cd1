// RUN: kvshift-opt %s --kvshift-decompose --canonicalize --cse | FileCheck %s

// The reference lowering of rope_theta: the mixed keys (position j) and the
// queries (position Sk - Sq + i = 2 + i here) are each rotated by one
// linalg.generic over their two half slices; inv_freq = theta^(-2i/D), the
// angle, its cosine and sine in f64, rounded to f32; the halves are
// reassembled with insert_slice and feed the QK^T contraction.
// CHECK-LABEL: func.func @rope
// CHECK-DAG: %[[M2:.*]] = arith.constant -2.000000e+00 : f64
// CHECK-DAG: %[[THETA:.*]] = arith.constant 1.000000e+04 : f64
// CHECK-DAG: %[[D:.*]] = arith.constant 8.000000e+00 : f64
// Keys: halves of K^ [1, 1, 6, 8].
// CHECK: %[[K1:.*]] = tensor.extract_slice %[[KH:.*]][0, 0, 0, 0] [1, 1, 6, 4] [1, 1, 1, 1]
// CHECK: %[[K2:.*]] = tensor.extract_slice %[[KH]][0, 0, 0, 4] [1, 1, 6, 4] [1, 1, 1, 1]
// CHECK: %[[KR:.*]]:2 = linalg.generic {{.*}} ins(%[[K1]], %[[K2]] : {{.*}}) outs(
// CHECK: ^bb0(%[[X1:.*]]: f32, %[[X2:.*]]: f32, %{{.*}}: f32, %{{.*}}: f32):
// CHECK: %[[J:.*]] = linalg.index 2 : index
// CHECK: %[[I:.*]] = linalg.index 3 : index
// CHECK: %[[IF:.*]] = arith.sitofp %{{.*}} : i64 to f64
// CHECK: %[[E:.*]] = arith.mulf %[[IF]], %[[M2]] : f64
// CHECK: %[[E2:.*]] = arith.divf %[[E]], %[[D]] : f64
// CHECK: %[[F:.*]] = math.powf %[[THETA]], %[[E2]] : f64
// CHECK: %[[A:.*]] = arith.mulf %{{.*}}, %[[F]] : f64
// CHECK: %[[C64:.*]] = math.cos %[[A]] : f64
// CHECK: %[[C:.*]] = arith.truncf %[[C64]] : f64 to f32
// CHECK: %[[S64:.*]] = math.sin %[[A]] : f64
// CHECK: %[[S:.*]] = arith.truncf %[[S64]] : f64 to f32
// CHECK-DAG: arith.mulf %[[X1]], %[[C]] : f32
// CHECK-DAG: arith.mulf %[[X2]], %[[S]] : f32
// CHECK-DAG: arith.mulf %[[X2]], %[[C]] : f32
// CHECK-DAG: arith.mulf %[[X1]], %[[S]] : f32
// CHECK: linalg.yield
// CHECK: %[[KA:.*]] = tensor.insert_slice %[[KR]]#0 into %{{.*}}[0, 0, 0, 0] [1, 1, 6, 4]
// CHECK: %[[KB:.*]] = tensor.insert_slice %[[KR]]#1 into %[[KA]][0, 0, 0, 4] [1, 1, 6, 4]
// Queries: halves of q [1, 1, 2, 4, 8], position i + 2.
// CHECK: tensor.extract_slice %{{.*}}[0, 0, 0, 0, 0] [1, 1, 2, 4, 4]
// CHECK: tensor.extract_slice %{{.*}}[0, 0, 0, 0, 4] [1, 1, 2, 4, 4]
// CHECK: %[[QR:.*]]:2 = linalg.generic
// CHECK: %[[QI:.*]] = linalg.index 3 : index
// CHECK: arith.addi %[[QI]], %c2 : index
// CHECK: math.cos
// CHECK: %[[QA:.*]] = tensor.insert_slice %[[QR]]#0
// CHECK: %[[QB:.*]] = tensor.insert_slice %[[QR]]#1 into %[[QA]]
// CHECK: linalg.generic {{.*}} ins(%[[QB]], %[[KB]] : tensor<1x1x2x4x8xf32>, tensor<1x1x6x8xf32>)
func.func @rope(%q: tensor<1x2x4x8xf32>, %k: tensor<1x1x6x8xf32>, %w: tensor<1x2xf32>) -> tensor<1x2x4x8xf32> {
  %o = kvshift.kv_shift_attention %q, %k, %k mix(%w, %w) causal rope_theta = 10000.0 : (tensor<1x2x4x8xf32>, tensor<1x1x6x8xf32>, tensor<1x1x6x8xf32>, tensor<1x2xf32>, tensor<1x2xf32>) -> tensor<1x2x4x8xf32>
  return %o : tensor<1x2x4x8xf32>
}

// The gradient: q and K^ rotated as in the forward, then dq (position
// i + 2) and dK^ (position j) rotated back: the same generic with the sine
// negated (the transpose of the rotation), before dq is returned and before
// the transpose of the mix.
// CHECK-LABEL: func.func @rope_grad
// CHECK: math.sin
// CHECK-NOT: arith.negf
// CHECK: math.sin
// CHECK-NOT: arith.negf
// CHECK: %[[S1:.*]] = math.sin %{{.*}} : f64
// CHECK-NEXT: %[[T1:.*]] = arith.truncf %[[S1]] : f64 to f32
// CHECK-NEXT: arith.negf %[[T1]] : f32
// CHECK: %[[S2:.*]] = math.sin %{{.*}} : f64
// CHECK-NEXT: %[[T2:.*]] = arith.truncf %[[S2]] : f64 to f32
// CHECK-NEXT: arith.negf %[[T2]] : f32
// CHECK-NOT: math.sin
func.func @rope_grad(%q: tensor<1x2x4x8xf32>, %k: tensor<1x1x6x8xf32>, %w: tensor<1x2xf32>, %do: tensor<1x2x4x8xf32>) -> (tensor<1x2x4x8xf32>, tensor<1x1x6x8xf32>, tensor<1x2xf32>) {
  %g:5 = kvshift.kv_shift_attention_grad %q, %k, %k mix(%w, %w) dout(%do) causal rope_theta = 10000.0 : (tensor<1x2x4x8xf32>, tensor<1x1x6x8xf32>, tensor<1x1x6x8xf32>, tensor<1x2xf32>, tensor<1x2xf32>, tensor<1x2x4x8xf32>) -> (tensor<1x2x4x8xf32>, tensor<1x1x6x8xf32>, tensor<1x1x6x8xf32>, tensor<1x2xf32>, tensor<1x2xf32>)
  return %g#0, %g#1, %g#3 : tensor<1x2x4x8xf32>, tensor<1x1x6x8xf32>, tensor<1x2xf32>
}
