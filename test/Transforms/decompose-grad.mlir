// RUN: kvshift-opt %s --kvshift-decompose --canonicalize --cse | FileCheck %s

// The reference gradient: the forward recomputed and materialised (K^, V^,
// scores, P), then dP = dO V^T, D = rowsum(dO * O), dS = P (dP - D),
// dq = scale dS K^, dK^ = scale dS^T q and dV^ = P^T dO summed over the
// query heads of a group, and the transpose of the mix:
// dk_t = a1 dK^_t + a2 dK^_{t+1} (dK^ padded by one row at the end), with
// dkw = [sum dK^ . k, sum dK^ . k_{t-1}] per KV head.

// CHECK-LABEL: func.func @grad
// CHECK-SAME: (%[[Q:.*]]: tensor<2x4x37x24xf32>, %[[K:.*]]: tensor<2x2x37x24xf32>, %[[V:.*]]: tensor<2x2x37x24xf32>, %[[KW:.*]]: tensor<2x2xf32>, %[[VW:.*]]: tensor<2x2xf32>, %[[DO:.*]]: tensor<2x4x37x24xf32>)
// CHECK-NOT: kvshift.
// Forward: the mixes, GQA view of q, scores with the causal mask, softmax.
// CHECK: tensor.pad %[[K]] low[0, 0, 1, 0] high[0, 0, 0, 0]
// CHECK: %[[KH:.*]] = linalg.generic
// CHECK: tensor.pad %[[V]] low[0, 0, 1, 0] high[0, 0, 0, 0]
// CHECK: %[[VH:.*]] = linalg.generic
// CHECK: %[[Q5:.*]] = tensor.expand_shape %[[Q]] {{\[\[}}0], [1, 2], [3], [4]] output_shape [2, 2, 2, 37, 24]
// CHECK: arith.cmpi sgt
// CHECK: math.exp
// CHECK: %[[P:.*]] = linalg.generic {{.*}} ins(%{{.*}}, %{{.*}} : tensor<2x2x2x37x37xf32>, tensor<2x2x2x37xf32>)
// CHECK: arith.divf
// CHECK: %[[DO5:.*]] = tensor.expand_shape %[[DO]]
// O = P V^, dP = dO V^T, D = rowsum(dO O), dS = P (dP - D).
// CHECK: %[[O5:.*]] = linalg.generic {{.*}} ins(%[[P]], %[[VH]] : {{.*}}) outs(%{{.*}} : tensor<2x2x2x37x24xf32>)
// CHECK: %[[DP:.*]] = linalg.generic {{.*}} ins(%[[DO5]], %[[VH]] : {{.*}}) outs(%{{.*}} : tensor<2x2x2x37x37xf32>)
// CHECK: %[[D:.*]] = linalg.generic {{.*}} ins(%[[DO5]], %[[O5]] : {{.*}}) outs(%{{.*}} : tensor<2x2x2x37xf32>)
// CHECK: %[[DS:.*]] = linalg.generic {{.*}} ins(%[[P]], %[[DP]], %[[D]] : {{.*}})
// CHECK: arith.subf
// CHECK: arith.mulf
// dq (reduction over keys), dK^ and dV^ (reductions over the group's query
// heads and the queries: two reduction loops).
// CHECK: linalg.generic {{.*}} ins(%[[DS]], %[[KH]] : {{.*}}) outs(%{{.*}} : tensor<2x2x2x37x24xf32>)
// CHECK: %[[DKH:.*]] = linalg.generic {{.*}}iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction", "reduction"]} ins(%[[DS]], %[[Q5]] : {{.*}}) outs(%{{.*}} : tensor<2x2x37x24xf32>)
// CHECK: %[[DVH:.*]] = linalg.generic {{.*}}iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction", "reduction"]} ins(%[[P]], %[[DO5]] : {{.*}}) outs(%{{.*}} : tensor<2x2x37x24xf32>)
// The transpose of the mix and the weight gradients.
// CHECK: tensor.pad %[[DKH]] low[0, 0, 0, 0] high[0, 0, 1, 0]
// CHECK: %[[DK:.*]] = linalg.generic
// CHECK: %[[DA1:.*]] = linalg.generic {{.*}}iterator_types = ["parallel", "reduction", "reduction", "reduction"]} ins(%[[DKH]], %[[K]] :
// CHECK: %[[DA2:.*]] = linalg.generic {{.*}}iterator_types = ["parallel", "reduction", "reduction", "reduction"]} ins(%[[DKH]], %{{.*}} :
// CHECK: %[[W0:.*]] = tensor.insert_slice %[[DA1]] into %{{.*}}[0, 0] [2, 1] [1, 1] : tensor<2xf32> into tensor<2x2xf32>
// CHECK: %[[DKW:.*]] = tensor.insert_slice %[[DA2]] into %[[W0]][0, 1] [2, 1] [1, 1] : tensor<2xf32> into tensor<2x2xf32>
// CHECK: tensor.pad %[[DVH]] low[0, 0, 0, 0] high[0, 0, 1, 0]
// CHECK: %[[DV:.*]] = linalg.generic
// CHECK: return %{{.*}}, %[[DK]], %[[DV]], %[[DKW]], %{{.*}} :
func.func @grad(%q: tensor<2x4x37x24xf32>, %k: tensor<2x2x37x24xf32>, %v: tensor<2x2x37x24xf32>, %kw: tensor<2x2xf32>, %vw: tensor<2x2xf32>, %do: tensor<2x4x37x24xf32>)
    -> (tensor<2x4x37x24xf32>, tensor<2x2x37x24xf32>, tensor<2x2x37x24xf32>, tensor<2x2xf32>, tensor<2x2xf32>) {
  %dq, %dk, %dv, %dkw, %dvw = kvshift.kv_shift_attention_grad %q, %k, %v mix(%kw, %vw) dout(%do) causal
      : (tensor<2x4x37x24xf32>, tensor<2x2x37x24xf32>, tensor<2x2x37x24xf32>, tensor<2x2xf32>, tensor<2x2xf32>, tensor<2x4x37x24xf32>)
      -> (tensor<2x4x37x24xf32>, tensor<2x2x37x24xf32>, tensor<2x2x37x24xf32>, tensor<2x2xf32>, tensor<2x2xf32>)
  return %dq, %dk, %dv, %dkw, %dvw : tensor<2x4x37x24xf32>, tensor<2x2x37x24xf32>, tensor<2x2x37x24xf32>, tensor<2x2xf32>, tensor<2x2xf32>
}
