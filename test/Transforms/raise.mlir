// RUN: kvshift-opt %s --split-input-file --kvshift-raise --canonicalize | FileCheck %s
//
// Attention written in plain PyTorch, as kvshift.import_module emits it
// (generated from small torch modules, source comments removed), raised to
// kvshift.kv_shift_attention; and look-alikes that must be left alone.
// Numerical equivalence of every case is checked by
// test/Python/raise_numerics.py.

// The paper's code: per-head weights [H,1,1], pad + slice shift of k and v,
// q k^T * D^-0.5, triu(1) causal mask, softmax, P v^.
// CHECK-LABEL: func.func @paper(
// CHECK-SAME: %[[Q:[^:]+]]: tensor<1x2x4x4xf32>, %[[K:[^:]+]]: tensor<1x2x4x4xf32>, %[[V:[^:]+]]: tensor<1x2x4x4xf32>, %[[A1:[^:]+]]: tensor<2x1x1xf32>, %[[A2:[^:]+]]: tensor<2x1x1xf32>, %[[B1:[^:]+]]: tensor<2x1x1xf32>, %[[B2:[^:]+]]: tensor<2x1x1xf32>)
// CHECK: %[[KW:.+]] = linalg.generic {{.*}} ins(%[[A1]], %[[A2]] : tensor<2x1x1xf32>, tensor<2x1x1xf32>) outs({{.*}} : tensor<2x2xf32>)
// CHECK: linalg.index 1
// CHECK: %[[VW:.+]] = linalg.generic {{.*}} ins(%[[B1]], %[[B2]] : tensor<2x1x1xf32>, tensor<2x1x1xf32>) outs({{.*}} : tensor<2x2xf32>)
// CHECK: %[[O:.+]] = kvshift.kv_shift_attention %[[Q]], %[[K]], %[[V]] mix(%[[KW]], %[[VW]]) causal scale = 5.000000e-01
// CHECK-NOT: linalg.batch_matmul
// CHECK-NOT: tensor.pad
// CHECK: return %[[O]]
module {
  func.func @paper(%q: tensor<1x2x4x4xf32>, %k: tensor<1x2x4x4xf32>, %v: tensor<1x2x4x4xf32>, %a1: tensor<2x1x1xf32>, %a2: tensor<2x1x1xf32>, %b1: tensor<2x1x1xf32>, %b2: tensor<2x1x1xf32>) -> (tensor<1x2x4x4xf32>) {
    %mul.0 = tensor.empty() : tensor<1x2x4x4xf32>
    %mul = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d1, 0, 0)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%a1, %k : tensor<2x1x1xf32>, tensor<1x2x4x4xf32>) outs(%mul.0 : tensor<1x2x4x4xf32>) {
    ^bb0(%in0: f32, %in1: f32, %out: f32):
      %e0 = arith.mulf %in0, %in1 : f32
      linalg.yield %e0 : f32
    } -> tensor<1x2x4x4xf32>
    %constant_pad_nd.0 = arith.constant 0.00000000e+00 : f32
    %constant_pad_nd = tensor.pad %k low[0, 0, 1, 0] high[0, 0, 0, 0] {
    ^bb0(%i0: index, %i1: index, %i2: index, %i3: index):
      tensor.yield %constant_pad_nd.0 : f32
    } : tensor<1x2x4x4xf32> to tensor<1x2x5x4xf32>
    %slice_3 = tensor.extract_slice %constant_pad_nd[0, 0, 0, 0] [1, 2, 4, 4] [1, 1, 1, 1] : tensor<1x2x5x4xf32> to tensor<1x2x4x4xf32>
    %mul_1.0 = tensor.empty() : tensor<1x2x4x4xf32>
    %mul_1 = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d1, 0, 0)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%a2, %slice_3 : tensor<2x1x1xf32>, tensor<1x2x4x4xf32>) outs(%mul_1.0 : tensor<1x2x4x4xf32>) {
    ^bb0(%in0: f32, %in1: f32, %out: f32):
      %e0 = arith.mulf %in0, %in1 : f32
      linalg.yield %e0 : f32
    } -> tensor<1x2x4x4xf32>
    %add.0 = tensor.empty() : tensor<1x2x4x4xf32>
    %add = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%mul, %mul_1 : tensor<1x2x4x4xf32>, tensor<1x2x4x4xf32>) outs(%add.0 : tensor<1x2x4x4xf32>) {
    ^bb0(%in0: f32, %in1: f32, %out: f32):
      %e0 = arith.addf %in0, %in1 : f32
      linalg.yield %e0 : f32
    } -> tensor<1x2x4x4xf32>
    %mul_2.0 = tensor.empty() : tensor<1x2x4x4xf32>
    %mul_2 = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d1, 0, 0)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%b1, %v : tensor<2x1x1xf32>, tensor<1x2x4x4xf32>) outs(%mul_2.0 : tensor<1x2x4x4xf32>) {
    ^bb0(%in0: f32, %in1: f32, %out: f32):
      %e0 = arith.mulf %in0, %in1 : f32
      linalg.yield %e0 : f32
    } -> tensor<1x2x4x4xf32>
    %constant_pad_nd_1.0 = arith.constant 0.00000000e+00 : f32
    %constant_pad_nd_1 = tensor.pad %v low[0, 0, 1, 0] high[0, 0, 0, 0] {
    ^bb0(%i0: index, %i1: index, %i2: index, %i3: index):
      tensor.yield %constant_pad_nd_1.0 : f32
    } : tensor<1x2x4x4xf32> to tensor<1x2x5x4xf32>
    %slice_6 = tensor.extract_slice %constant_pad_nd_1[0, 0, 0, 0] [1, 2, 4, 4] [1, 1, 1, 1] : tensor<1x2x5x4xf32> to tensor<1x2x4x4xf32>
    %mul_3.0 = tensor.empty() : tensor<1x2x4x4xf32>
    %mul_3 = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d1, 0, 0)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%b2, %slice_6 : tensor<2x1x1xf32>, tensor<1x2x4x4xf32>) outs(%mul_3.0 : tensor<1x2x4x4xf32>) {
    ^bb0(%in0: f32, %in1: f32, %out: f32):
      %e0 = arith.mulf %in0, %in1 : f32
      linalg.yield %e0 : f32
    } -> tensor<1x2x4x4xf32>
    %add_1.0 = tensor.empty() : tensor<1x2x4x4xf32>
    %add_1 = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%mul_2, %mul_3 : tensor<1x2x4x4xf32>, tensor<1x2x4x4xf32>) outs(%add_1.0 : tensor<1x2x4x4xf32>) {
    ^bb0(%in0: f32, %in1: f32, %out: f32):
      %e0 = arith.addf %in0, %in1 : f32
      linalg.yield %e0 : f32
    } -> tensor<1x2x4x4xf32>
    %transpose.0 = tensor.empty() : tensor<1x2x4x4xf32>
    %transpose = linalg.transpose ins(%add : tensor<1x2x4x4xf32>) outs(%transpose.0 : tensor<1x2x4x4xf32>) permutation = [0, 1, 3, 2]
    %_reshape_alias = tensor.collapse_shape %q [[0, 1], [2], [3]] : tensor<1x2x4x4xf32> into tensor<2x4x4xf32>
    %_reshape_alias_1 = tensor.collapse_shape %transpose [[0, 1], [2], [3]] : tensor<1x2x4x4xf32> into tensor<2x4x4xf32>
    %bmm.0 = tensor.empty() : tensor<2x4x4xf32>
    %bmm.1 = arith.constant 0.00000000e+00 : f32
    %bmm.2 = linalg.fill ins(%bmm.1 : f32) outs(%bmm.0 : tensor<2x4x4xf32>) -> tensor<2x4x4xf32>
    %bmm = linalg.batch_matmul ins(%_reshape_alias, %_reshape_alias_1 : tensor<2x4x4xf32>, tensor<2x4x4xf32>) outs(%bmm.2 : tensor<2x4x4xf32>) -> tensor<2x4x4xf32>
    %_unsafe_view = tensor.expand_shape %bmm [[0, 1], [2], [3]] output_shape [1, 2, 4, 4] : tensor<2x4x4xf32> into tensor<1x2x4x4xf32>
    %mul_4.0 = tensor.empty() : tensor<1x2x4x4xf32>
    %mul_4 = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%_unsafe_view : tensor<1x2x4x4xf32>) outs(%mul_4.0 : tensor<1x2x4x4xf32>) {
    ^bb0(%in0: f32, %out: f32):
      %e0 = arith.constant 5.00000000e-01 : f32
      %e1 = arith.mulf %in0, %e0 : f32
      linalg.yield %e1 : f32
    } -> tensor<1x2x4x4xf32>
    %cst0 = arith.constant dense<[[false, true, true, true], [false, false, true, true], [false, false, false, true], [false, false, false, false]]> : tensor<4x4xi1>
    %masked_fill.0 = tensor.empty() : tensor<1x2x4x4xf32>
    %masked_fill = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%mul_4, %cst0 : tensor<1x2x4x4xf32>, tensor<4x4xi1>) outs(%masked_fill.0 : tensor<1x2x4x4xf32>) {
    ^bb0(%in0: f32, %in1: i1, %out: f32):
      %e0 = arith.constant 0xFF800000 : f32
      %e1 = arith.select %in1, %e0, %in0 : f32
      linalg.yield %e1 : f32
    } -> tensor<1x2x4x4xf32>
    %_softmax.0 = tensor.empty() : tensor<1x2x4xf32>
    %_softmax.1 = arith.constant 0xFF800000 : f32
    %_softmax.2 = linalg.fill ins(%_softmax.1 : f32) outs(%_softmax.0 : tensor<1x2x4xf32>) -> tensor<1x2x4xf32>
    %_softmax.3 = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2)>], iterator_types = ["parallel", "parallel", "parallel", "reduction"]} ins(%masked_fill : tensor<1x2x4x4xf32>) outs(%_softmax.2 : tensor<1x2x4xf32>) {
    ^bb0(%in0: f32, %out: f32):
      %e0 = arith.maximumf %in0, %out : f32
      linalg.yield %e0 : f32
    } -> tensor<1x2x4xf32>
    %_softmax.4 = tensor.empty() : tensor<1x2x4x4xf32>
    %_softmax.5 = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%masked_fill, %_softmax.3 : tensor<1x2x4x4xf32>, tensor<1x2x4xf32>) outs(%_softmax.4 : tensor<1x2x4x4xf32>) {
    ^bb0(%in0: f32, %in1: f32, %out: f32):
      %e0 = arith.subf %in0, %in1 : f32
      %e1 = math.exp %e0 : f32
      linalg.yield %e1 : f32
    } -> tensor<1x2x4x4xf32>
    %_softmax.6 = tensor.empty() : tensor<1x2x4xf32>
    %_softmax.7 = arith.constant 0.00000000e+00 : f32
    %_softmax.8 = linalg.fill ins(%_softmax.7 : f32) outs(%_softmax.6 : tensor<1x2x4xf32>) -> tensor<1x2x4xf32>
    %_softmax.9 = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2)>], iterator_types = ["parallel", "parallel", "parallel", "reduction"]} ins(%_softmax.5 : tensor<1x2x4x4xf32>) outs(%_softmax.8 : tensor<1x2x4xf32>) {
    ^bb0(%in0: f32, %out: f32):
      %e0 = arith.addf %in0, %out : f32
      linalg.yield %e0 : f32
    } -> tensor<1x2x4xf32>
    %_softmax.10 = tensor.empty() : tensor<1x2x4x4xf32>
    %_softmax = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%_softmax.5, %_softmax.9 : tensor<1x2x4x4xf32>, tensor<1x2x4xf32>) outs(%_softmax.10 : tensor<1x2x4x4xf32>) {
    ^bb0(%in0: f32, %in1: f32, %out: f32):
      %e0 = arith.divf %in0, %in1 : f32
      linalg.yield %e0 : f32
    } -> tensor<1x2x4x4xf32>
    %_reshape_alias_2 = tensor.collapse_shape %_softmax [[0, 1], [2], [3]] : tensor<1x2x4x4xf32> into tensor<2x4x4xf32>
    %_reshape_alias_3 = tensor.collapse_shape %add_1 [[0, 1], [2], [3]] : tensor<1x2x4x4xf32> into tensor<2x4x4xf32>
    %bmm_1.0 = tensor.empty() : tensor<2x4x4xf32>
    %bmm_1.1 = arith.constant 0.00000000e+00 : f32
    %bmm_1.2 = linalg.fill ins(%bmm_1.1 : f32) outs(%bmm_1.0 : tensor<2x4x4xf32>) -> tensor<2x4x4xf32>
    %bmm_1 = linalg.batch_matmul ins(%_reshape_alias_2, %_reshape_alias_3 : tensor<2x4x4xf32>, tensor<2x4x4xf32>) outs(%bmm_1.2 : tensor<2x4x4xf32>) -> tensor<2x4x4xf32>
    %_unsafe_view_1 = tensor.expand_shape %bmm_1 [[0, 1], [2], [3]] output_shape [1, 2, 4, 4] : tensor<2x4x4xf32> into tensor<1x2x4x4xf32>
    return %_unsafe_view_1 : tensor<1x2x4x4xf32>
  }
}

// -----

// Plain causal attention, no shift: weights [1, 0].
// CHECK-LABEL: func.func @plain(
// CHECK-SAME: %[[Q:[^:]+]]: tensor<1x2x4x4xf32>, %[[K:[^:]+]]: tensor<1x2x4x4xf32>, %[[V:[^:]+]]: tensor<1x2x4x4xf32>)
// CHECK: %[[W:.+]] = arith.constant dense<{{\[\[}}1.000000e+00, 0.000000e+00], [1.000000e+00, 0.000000e+00]]> : tensor<2x2xf32>
// CHECK: kvshift.kv_shift_attention %[[Q]], %[[K]], %[[V]] mix(%[[W]], %[[W]]) causal scale = 5.000000e-01
// CHECK-NOT: linalg.batch_matmul
module {
  func.func @plain(%q: tensor<1x2x4x4xf32>, %k: tensor<1x2x4x4xf32>, %v: tensor<1x2x4x4xf32>) -> (tensor<1x2x4x4xf32>) {
    %transpose.0 = tensor.empty() : tensor<1x2x4x4xf32>
    %transpose = linalg.transpose ins(%k : tensor<1x2x4x4xf32>) outs(%transpose.0 : tensor<1x2x4x4xf32>) permutation = [0, 1, 3, 2]
    %_reshape_alias = tensor.collapse_shape %q [[0, 1], [2], [3]] : tensor<1x2x4x4xf32> into tensor<2x4x4xf32>
    %_reshape_alias_1 = tensor.collapse_shape %transpose [[0, 1], [2], [3]] : tensor<1x2x4x4xf32> into tensor<2x4x4xf32>
    %bmm.0 = tensor.empty() : tensor<2x4x4xf32>
    %bmm.1 = arith.constant 0.00000000e+00 : f32
    %bmm.2 = linalg.fill ins(%bmm.1 : f32) outs(%bmm.0 : tensor<2x4x4xf32>) -> tensor<2x4x4xf32>
    %bmm = linalg.batch_matmul ins(%_reshape_alias, %_reshape_alias_1 : tensor<2x4x4xf32>, tensor<2x4x4xf32>) outs(%bmm.2 : tensor<2x4x4xf32>) -> tensor<2x4x4xf32>
    %_unsafe_view = tensor.expand_shape %bmm [[0, 1], [2], [3]] output_shape [1, 2, 4, 4] : tensor<2x4x4xf32> into tensor<1x2x4x4xf32>
    %mul.0 = tensor.empty() : tensor<1x2x4x4xf32>
    %mul = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%_unsafe_view : tensor<1x2x4x4xf32>) outs(%mul.0 : tensor<1x2x4x4xf32>) {
    ^bb0(%in0: f32, %out: f32):
      %e0 = arith.constant 5.00000000e-01 : f32
      %e1 = arith.mulf %in0, %e0 : f32
      linalg.yield %e1 : f32
    } -> tensor<1x2x4x4xf32>
    %cst0 = arith.constant dense<[[false, true, true, true], [false, false, true, true], [false, false, false, true], [false, false, false, false]]> : tensor<4x4xi1>
    %masked_fill.0 = tensor.empty() : tensor<1x2x4x4xf32>
    %masked_fill = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%mul, %cst0 : tensor<1x2x4x4xf32>, tensor<4x4xi1>) outs(%masked_fill.0 : tensor<1x2x4x4xf32>) {
    ^bb0(%in0: f32, %in1: i1, %out: f32):
      %e0 = arith.constant 0xFF800000 : f32
      %e1 = arith.select %in1, %e0, %in0 : f32
      linalg.yield %e1 : f32
    } -> tensor<1x2x4x4xf32>
    %_softmax.0 = tensor.empty() : tensor<1x2x4xf32>
    %_softmax.1 = arith.constant 0xFF800000 : f32
    %_softmax.2 = linalg.fill ins(%_softmax.1 : f32) outs(%_softmax.0 : tensor<1x2x4xf32>) -> tensor<1x2x4xf32>
    %_softmax.3 = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2)>], iterator_types = ["parallel", "parallel", "parallel", "reduction"]} ins(%masked_fill : tensor<1x2x4x4xf32>) outs(%_softmax.2 : tensor<1x2x4xf32>) {
    ^bb0(%in0: f32, %out: f32):
      %e0 = arith.maximumf %in0, %out : f32
      linalg.yield %e0 : f32
    } -> tensor<1x2x4xf32>
    %_softmax.4 = tensor.empty() : tensor<1x2x4x4xf32>
    %_softmax.5 = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%masked_fill, %_softmax.3 : tensor<1x2x4x4xf32>, tensor<1x2x4xf32>) outs(%_softmax.4 : tensor<1x2x4x4xf32>) {
    ^bb0(%in0: f32, %in1: f32, %out: f32):
      %e0 = arith.subf %in0, %in1 : f32
      %e1 = math.exp %e0 : f32
      linalg.yield %e1 : f32
    } -> tensor<1x2x4x4xf32>
    %_softmax.6 = tensor.empty() : tensor<1x2x4xf32>
    %_softmax.7 = arith.constant 0.00000000e+00 : f32
    %_softmax.8 = linalg.fill ins(%_softmax.7 : f32) outs(%_softmax.6 : tensor<1x2x4xf32>) -> tensor<1x2x4xf32>
    %_softmax.9 = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2)>], iterator_types = ["parallel", "parallel", "parallel", "reduction"]} ins(%_softmax.5 : tensor<1x2x4x4xf32>) outs(%_softmax.8 : tensor<1x2x4xf32>) {
    ^bb0(%in0: f32, %out: f32):
      %e0 = arith.addf %in0, %out : f32
      linalg.yield %e0 : f32
    } -> tensor<1x2x4xf32>
    %_softmax.10 = tensor.empty() : tensor<1x2x4x4xf32>
    %_softmax = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%_softmax.5, %_softmax.9 : tensor<1x2x4x4xf32>, tensor<1x2x4xf32>) outs(%_softmax.10 : tensor<1x2x4x4xf32>) {
    ^bb0(%in0: f32, %in1: f32, %out: f32):
      %e0 = arith.divf %in0, %in1 : f32
      linalg.yield %e0 : f32
    } -> tensor<1x2x4x4xf32>
    %_reshape_alias_2 = tensor.collapse_shape %_softmax [[0, 1], [2], [3]] : tensor<1x2x4x4xf32> into tensor<2x4x4xf32>
    %_reshape_alias_3 = tensor.collapse_shape %v [[0, 1], [2], [3]] : tensor<1x2x4x4xf32> into tensor<2x4x4xf32>
    %bmm_1.0 = tensor.empty() : tensor<2x4x4xf32>
    %bmm_1.1 = arith.constant 0.00000000e+00 : f32
    %bmm_1.2 = linalg.fill ins(%bmm_1.1 : f32) outs(%bmm_1.0 : tensor<2x4x4xf32>) -> tensor<2x4x4xf32>
    %bmm_1 = linalg.batch_matmul ins(%_reshape_alias_2, %_reshape_alias_3 : tensor<2x4x4xf32>, tensor<2x4x4xf32>) outs(%bmm_1.2 : tensor<2x4x4xf32>) -> tensor<2x4x4xf32>
    %_unsafe_view_1 = tensor.expand_shape %bmm_1 [[0, 1], [2], [3]] output_shape [1, 2, 4, 4] : tensor<2x4x4xf32> into tensor<1x2x4x4xf32>
    return %_unsafe_view_1 : tensor<1x2x4x4xf32>
  }
}

// -----

// Neither mask nor scale: not causal, scale 1.
// CHECK-LABEL: func.func @plain_nomask_noscale(
// CHECK: kvshift.kv_shift_attention %{{.*}}, %{{.*}}, %{{.*}} mix(%{{.*}}, %{{.*}}) scale = 1.000000e+00 :
// CHECK-NOT: linalg.batch_matmul
module {
  func.func @plain_nomask_noscale(%q: tensor<1x2x4x4xf32>, %k: tensor<1x2x4x4xf32>, %v: tensor<1x2x4x4xf32>) -> (tensor<1x2x4x4xf32>) {
    %transpose.0 = tensor.empty() : tensor<1x2x4x4xf32>
    %transpose = linalg.transpose ins(%k : tensor<1x2x4x4xf32>) outs(%transpose.0 : tensor<1x2x4x4xf32>) permutation = [0, 1, 3, 2]
    %_reshape_alias = tensor.collapse_shape %q [[0, 1], [2], [3]] : tensor<1x2x4x4xf32> into tensor<2x4x4xf32>
    %_reshape_alias_1 = tensor.collapse_shape %transpose [[0, 1], [2], [3]] : tensor<1x2x4x4xf32> into tensor<2x4x4xf32>
    %bmm.0 = tensor.empty() : tensor<2x4x4xf32>
    %bmm.1 = arith.constant 0.00000000e+00 : f32
    %bmm.2 = linalg.fill ins(%bmm.1 : f32) outs(%bmm.0 : tensor<2x4x4xf32>) -> tensor<2x4x4xf32>
    %bmm = linalg.batch_matmul ins(%_reshape_alias, %_reshape_alias_1 : tensor<2x4x4xf32>, tensor<2x4x4xf32>) outs(%bmm.2 : tensor<2x4x4xf32>) -> tensor<2x4x4xf32>
    %_unsafe_view = tensor.expand_shape %bmm [[0, 1], [2], [3]] output_shape [1, 2, 4, 4] : tensor<2x4x4xf32> into tensor<1x2x4x4xf32>
    %_softmax.0 = tensor.empty() : tensor<1x2x4xf32>
    %_softmax.1 = arith.constant 0xFF800000 : f32
    %_softmax.2 = linalg.fill ins(%_softmax.1 : f32) outs(%_softmax.0 : tensor<1x2x4xf32>) -> tensor<1x2x4xf32>
    %_softmax.3 = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2)>], iterator_types = ["parallel", "parallel", "parallel", "reduction"]} ins(%_unsafe_view : tensor<1x2x4x4xf32>) outs(%_softmax.2 : tensor<1x2x4xf32>) {
    ^bb0(%in0: f32, %out: f32):
      %e0 = arith.maximumf %in0, %out : f32
      linalg.yield %e0 : f32
    } -> tensor<1x2x4xf32>
    %_softmax.4 = tensor.empty() : tensor<1x2x4x4xf32>
    %_softmax.5 = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%_unsafe_view, %_softmax.3 : tensor<1x2x4x4xf32>, tensor<1x2x4xf32>) outs(%_softmax.4 : tensor<1x2x4x4xf32>) {
    ^bb0(%in0: f32, %in1: f32, %out: f32):
      %e0 = arith.subf %in0, %in1 : f32
      %e1 = math.exp %e0 : f32
      linalg.yield %e1 : f32
    } -> tensor<1x2x4x4xf32>
    %_softmax.6 = tensor.empty() : tensor<1x2x4xf32>
    %_softmax.7 = arith.constant 0.00000000e+00 : f32
    %_softmax.8 = linalg.fill ins(%_softmax.7 : f32) outs(%_softmax.6 : tensor<1x2x4xf32>) -> tensor<1x2x4xf32>
    %_softmax.9 = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2)>], iterator_types = ["parallel", "parallel", "parallel", "reduction"]} ins(%_softmax.5 : tensor<1x2x4x4xf32>) outs(%_softmax.8 : tensor<1x2x4xf32>) {
    ^bb0(%in0: f32, %out: f32):
      %e0 = arith.addf %in0, %out : f32
      linalg.yield %e0 : f32
    } -> tensor<1x2x4xf32>
    %_softmax.10 = tensor.empty() : tensor<1x2x4x4xf32>
    %_softmax = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%_softmax.5, %_softmax.9 : tensor<1x2x4x4xf32>, tensor<1x2x4xf32>) outs(%_softmax.10 : tensor<1x2x4x4xf32>) {
    ^bb0(%in0: f32, %in1: f32, %out: f32):
      %e0 = arith.divf %in0, %in1 : f32
      linalg.yield %e0 : f32
    } -> tensor<1x2x4x4xf32>
    %_reshape_alias_2 = tensor.collapse_shape %_softmax [[0, 1], [2], [3]] : tensor<1x2x4x4xf32> into tensor<2x4x4xf32>
    %_reshape_alias_3 = tensor.collapse_shape %v [[0, 1], [2], [3]] : tensor<1x2x4x4xf32> into tensor<2x4x4xf32>
    %bmm_1.0 = tensor.empty() : tensor<2x4x4xf32>
    %bmm_1.1 = arith.constant 0.00000000e+00 : f32
    %bmm_1.2 = linalg.fill ins(%bmm_1.1 : f32) outs(%bmm_1.0 : tensor<2x4x4xf32>) -> tensor<2x4x4xf32>
    %bmm_1 = linalg.batch_matmul ins(%_reshape_alias_2, %_reshape_alias_3 : tensor<2x4x4xf32>, tensor<2x4x4xf32>) outs(%bmm_1.2 : tensor<2x4x4xf32>) -> tensor<2x4x4xf32>
    %_unsafe_view_1 = tensor.expand_shape %bmm_1 [[0, 1], [2], [3]] output_shape [1, 2, 4, 4] : tensor<2x4x4xf32> into tensor<1x2x4x4xf32>
    return %_unsafe_view_1 : tensor<1x2x4x4xf32>
  }
}

// -----

// Mask first, then divide by sqrt(D): still the op, scale = 1/2.
// CHECK-LABEL: func.func @mask_then_div(
// CHECK: kvshift.kv_shift_attention {{.*}} causal scale = 5.000000e-01
// CHECK-NOT: linalg.batch_matmul
module {
  func.func @mask_then_div(%q: tensor<1x2x4x4xf32>, %k: tensor<1x2x4x4xf32>, %v: tensor<1x2x4x4xf32>, %a1: tensor<2x1x1xf32>, %a2: tensor<2x1x1xf32>, %b1: tensor<2x1x1xf32>, %b2: tensor<2x1x1xf32>) -> (tensor<1x2x4x4xf32>) {
    %mul.0 = tensor.empty() : tensor<1x2x4x4xf32>
    %mul = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d1, 0, 0)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%a1, %k : tensor<2x1x1xf32>, tensor<1x2x4x4xf32>) outs(%mul.0 : tensor<1x2x4x4xf32>) {
    ^bb0(%in0: f32, %in1: f32, %out: f32):
      %e0 = arith.mulf %in0, %in1 : f32
      linalg.yield %e0 : f32
    } -> tensor<1x2x4x4xf32>
    %constant_pad_nd.0 = arith.constant 0.00000000e+00 : f32
    %constant_pad_nd = tensor.pad %k low[0, 0, 1, 0] high[0, 0, 0, 0] {
    ^bb0(%i0: index, %i1: index, %i2: index, %i3: index):
      tensor.yield %constant_pad_nd.0 : f32
    } : tensor<1x2x4x4xf32> to tensor<1x2x5x4xf32>
    %slice_3 = tensor.extract_slice %constant_pad_nd[0, 0, 0, 0] [1, 2, 4, 4] [1, 1, 1, 1] : tensor<1x2x5x4xf32> to tensor<1x2x4x4xf32>
    %mul_1.0 = tensor.empty() : tensor<1x2x4x4xf32>
    %mul_1 = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d1, 0, 0)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%a2, %slice_3 : tensor<2x1x1xf32>, tensor<1x2x4x4xf32>) outs(%mul_1.0 : tensor<1x2x4x4xf32>) {
    ^bb0(%in0: f32, %in1: f32, %out: f32):
      %e0 = arith.mulf %in0, %in1 : f32
      linalg.yield %e0 : f32
    } -> tensor<1x2x4x4xf32>
    %add.0 = tensor.empty() : tensor<1x2x4x4xf32>
    %add = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%mul, %mul_1 : tensor<1x2x4x4xf32>, tensor<1x2x4x4xf32>) outs(%add.0 : tensor<1x2x4x4xf32>) {
    ^bb0(%in0: f32, %in1: f32, %out: f32):
      %e0 = arith.addf %in0, %in1 : f32
      linalg.yield %e0 : f32
    } -> tensor<1x2x4x4xf32>
    %mul_2.0 = tensor.empty() : tensor<1x2x4x4xf32>
    %mul_2 = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d1, 0, 0)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%b1, %v : tensor<2x1x1xf32>, tensor<1x2x4x4xf32>) outs(%mul_2.0 : tensor<1x2x4x4xf32>) {
    ^bb0(%in0: f32, %in1: f32, %out: f32):
      %e0 = arith.mulf %in0, %in1 : f32
      linalg.yield %e0 : f32
    } -> tensor<1x2x4x4xf32>
    %constant_pad_nd_1.0 = arith.constant 0.00000000e+00 : f32
    %constant_pad_nd_1 = tensor.pad %v low[0, 0, 1, 0] high[0, 0, 0, 0] {
    ^bb0(%i0: index, %i1: index, %i2: index, %i3: index):
      tensor.yield %constant_pad_nd_1.0 : f32
    } : tensor<1x2x4x4xf32> to tensor<1x2x5x4xf32>
    %slice_6 = tensor.extract_slice %constant_pad_nd_1[0, 0, 0, 0] [1, 2, 4, 4] [1, 1, 1, 1] : tensor<1x2x5x4xf32> to tensor<1x2x4x4xf32>
    %mul_3.0 = tensor.empty() : tensor<1x2x4x4xf32>
    %mul_3 = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d1, 0, 0)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%b2, %slice_6 : tensor<2x1x1xf32>, tensor<1x2x4x4xf32>) outs(%mul_3.0 : tensor<1x2x4x4xf32>) {
    ^bb0(%in0: f32, %in1: f32, %out: f32):
      %e0 = arith.mulf %in0, %in1 : f32
      linalg.yield %e0 : f32
    } -> tensor<1x2x4x4xf32>
    %add_1.0 = tensor.empty() : tensor<1x2x4x4xf32>
    %add_1 = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%mul_2, %mul_3 : tensor<1x2x4x4xf32>, tensor<1x2x4x4xf32>) outs(%add_1.0 : tensor<1x2x4x4xf32>) {
    ^bb0(%in0: f32, %in1: f32, %out: f32):
      %e0 = arith.addf %in0, %in1 : f32
      linalg.yield %e0 : f32
    } -> tensor<1x2x4x4xf32>
    %transpose.0 = tensor.empty() : tensor<1x2x4x4xf32>
    %transpose = linalg.transpose ins(%add : tensor<1x2x4x4xf32>) outs(%transpose.0 : tensor<1x2x4x4xf32>) permutation = [0, 1, 3, 2]
    %_reshape_alias = tensor.collapse_shape %q [[0, 1], [2], [3]] : tensor<1x2x4x4xf32> into tensor<2x4x4xf32>
    %_reshape_alias_1 = tensor.collapse_shape %transpose [[0, 1], [2], [3]] : tensor<1x2x4x4xf32> into tensor<2x4x4xf32>
    %bmm.0 = tensor.empty() : tensor<2x4x4xf32>
    %bmm.1 = arith.constant 0.00000000e+00 : f32
    %bmm.2 = linalg.fill ins(%bmm.1 : f32) outs(%bmm.0 : tensor<2x4x4xf32>) -> tensor<2x4x4xf32>
    %bmm = linalg.batch_matmul ins(%_reshape_alias, %_reshape_alias_1 : tensor<2x4x4xf32>, tensor<2x4x4xf32>) outs(%bmm.2 : tensor<2x4x4xf32>) -> tensor<2x4x4xf32>
    %_unsafe_view = tensor.expand_shape %bmm [[0, 1], [2], [3]] output_shape [1, 2, 4, 4] : tensor<2x4x4xf32> into tensor<1x2x4x4xf32>
    %cst0 = arith.constant dense<[[false, true, true, true], [false, false, true, true], [false, false, false, true], [false, false, false, false]]> : tensor<4x4xi1>
    %masked_fill.0 = tensor.empty() : tensor<1x2x4x4xf32>
    %masked_fill = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%_unsafe_view, %cst0 : tensor<1x2x4x4xf32>, tensor<4x4xi1>) outs(%masked_fill.0 : tensor<1x2x4x4xf32>) {
    ^bb0(%in0: f32, %in1: i1, %out: f32):
      %e0 = arith.constant 0xFF800000 : f32
      %e1 = arith.select %in1, %e0, %in0 : f32
      linalg.yield %e1 : f32
    } -> tensor<1x2x4x4xf32>
    %div.0 = tensor.empty() : tensor<1x2x4x4xf32>
    %div = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%masked_fill : tensor<1x2x4x4xf32>) outs(%div.0 : tensor<1x2x4x4xf32>) {
    ^bb0(%in0: f32, %out: f32):
      %e0 = arith.constant 2.00000000e+00 : f32
      %e1 = arith.divf %in0, %e0 : f32
      linalg.yield %e1 : f32
    } -> tensor<1x2x4x4xf32>
    %_softmax.0 = tensor.empty() : tensor<1x2x4xf32>
    %_softmax.1 = arith.constant 0xFF800000 : f32
    %_softmax.2 = linalg.fill ins(%_softmax.1 : f32) outs(%_softmax.0 : tensor<1x2x4xf32>) -> tensor<1x2x4xf32>
    %_softmax.3 = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2)>], iterator_types = ["parallel", "parallel", "parallel", "reduction"]} ins(%div : tensor<1x2x4x4xf32>) outs(%_softmax.2 : tensor<1x2x4xf32>) {
    ^bb0(%in0: f32, %out: f32):
      %e0 = arith.maximumf %in0, %out : f32
      linalg.yield %e0 : f32
    } -> tensor<1x2x4xf32>
    %_softmax.4 = tensor.empty() : tensor<1x2x4x4xf32>
    %_softmax.5 = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%div, %_softmax.3 : tensor<1x2x4x4xf32>, tensor<1x2x4xf32>) outs(%_softmax.4 : tensor<1x2x4x4xf32>) {
    ^bb0(%in0: f32, %in1: f32, %out: f32):
      %e0 = arith.subf %in0, %in1 : f32
      %e1 = math.exp %e0 : f32
      linalg.yield %e1 : f32
    } -> tensor<1x2x4x4xf32>
    %_softmax.6 = tensor.empty() : tensor<1x2x4xf32>
    %_softmax.7 = arith.constant 0.00000000e+00 : f32
    %_softmax.8 = linalg.fill ins(%_softmax.7 : f32) outs(%_softmax.6 : tensor<1x2x4xf32>) -> tensor<1x2x4xf32>
    %_softmax.9 = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2)>], iterator_types = ["parallel", "parallel", "parallel", "reduction"]} ins(%_softmax.5 : tensor<1x2x4x4xf32>) outs(%_softmax.8 : tensor<1x2x4xf32>) {
    ^bb0(%in0: f32, %out: f32):
      %e0 = arith.addf %in0, %out : f32
      linalg.yield %e0 : f32
    } -> tensor<1x2x4xf32>
    %_softmax.10 = tensor.empty() : tensor<1x2x4x4xf32>
    %_softmax = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%_softmax.5, %_softmax.9 : tensor<1x2x4x4xf32>, tensor<1x2x4xf32>) outs(%_softmax.10 : tensor<1x2x4x4xf32>) {
    ^bb0(%in0: f32, %in1: f32, %out: f32):
      %e0 = arith.divf %in0, %in1 : f32
      linalg.yield %e0 : f32
    } -> tensor<1x2x4x4xf32>
    %_reshape_alias_2 = tensor.collapse_shape %_softmax [[0, 1], [2], [3]] : tensor<1x2x4x4xf32> into tensor<2x4x4xf32>
    %_reshape_alias_3 = tensor.collapse_shape %add_1 [[0, 1], [2], [3]] : tensor<1x2x4x4xf32> into tensor<2x4x4xf32>
    %bmm_1.0 = tensor.empty() : tensor<2x4x4xf32>
    %bmm_1.1 = arith.constant 0.00000000e+00 : f32
    %bmm_1.2 = linalg.fill ins(%bmm_1.1 : f32) outs(%bmm_1.0 : tensor<2x4x4xf32>) -> tensor<2x4x4xf32>
    %bmm_1 = linalg.batch_matmul ins(%_reshape_alias_2, %_reshape_alias_3 : tensor<2x4x4xf32>, tensor<2x4x4xf32>) outs(%bmm_1.2 : tensor<2x4x4xf32>) -> tensor<2x4x4xf32>
    %_unsafe_view_1 = tensor.expand_shape %bmm_1 [[0, 1], [2], [3]] output_shape [1, 2, 4, 4] : tensor<2x4x4xf32> into tensor<1x2x4x4xf32>
    return %_unsafe_view_1 : tensor<1x2x4x4xf32>
  }
}

// -----

// Sq = 3 < Sk = 5 with the bottom-right aligned mask (triu(Sk - Sq + 1)).
// CHECK-LABEL: func.func @bottom_right(
// CHECK: kvshift.kv_shift_attention {{.*}} causal scale = 5.000000e-01 : (tensor<1x2x3x4xf32>, tensor<1x2x5x4xf32>
// CHECK-NOT: linalg.batch_matmul
module {
  func.func @bottom_right(%q: tensor<1x2x3x4xf32>, %k: tensor<1x2x5x4xf32>, %v: tensor<1x2x5x4xf32>, %a1: tensor<2x1x1xf32>, %a2: tensor<2x1x1xf32>, %b1: tensor<2x1x1xf32>, %b2: tensor<2x1x1xf32>) -> (tensor<1x2x3x4xf32>) {
    %mul.0 = tensor.empty() : tensor<1x2x5x4xf32>
    %mul = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d1, 0, 0)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%a1, %k : tensor<2x1x1xf32>, tensor<1x2x5x4xf32>) outs(%mul.0 : tensor<1x2x5x4xf32>) {
    ^bb0(%in0: f32, %in1: f32, %out: f32):
      %e0 = arith.mulf %in0, %in1 : f32
      linalg.yield %e0 : f32
    } -> tensor<1x2x5x4xf32>
    %constant_pad_nd.0 = arith.constant 0.00000000e+00 : f32
    %constant_pad_nd = tensor.pad %k low[0, 0, 1, 0] high[0, 0, 0, 0] {
    ^bb0(%i0: index, %i1: index, %i2: index, %i3: index):
      tensor.yield %constant_pad_nd.0 : f32
    } : tensor<1x2x5x4xf32> to tensor<1x2x6x4xf32>
    %slice_3 = tensor.extract_slice %constant_pad_nd[0, 0, 0, 0] [1, 2, 5, 4] [1, 1, 1, 1] : tensor<1x2x6x4xf32> to tensor<1x2x5x4xf32>
    %mul_1.0 = tensor.empty() : tensor<1x2x5x4xf32>
    %mul_1 = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d1, 0, 0)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%a2, %slice_3 : tensor<2x1x1xf32>, tensor<1x2x5x4xf32>) outs(%mul_1.0 : tensor<1x2x5x4xf32>) {
    ^bb0(%in0: f32, %in1: f32, %out: f32):
      %e0 = arith.mulf %in0, %in1 : f32
      linalg.yield %e0 : f32
    } -> tensor<1x2x5x4xf32>
    %add.0 = tensor.empty() : tensor<1x2x5x4xf32>
    %add = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%mul, %mul_1 : tensor<1x2x5x4xf32>, tensor<1x2x5x4xf32>) outs(%add.0 : tensor<1x2x5x4xf32>) {
    ^bb0(%in0: f32, %in1: f32, %out: f32):
      %e0 = arith.addf %in0, %in1 : f32
      linalg.yield %e0 : f32
    } -> tensor<1x2x5x4xf32>
    %mul_2.0 = tensor.empty() : tensor<1x2x5x4xf32>
    %mul_2 = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d1, 0, 0)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%b1, %v : tensor<2x1x1xf32>, tensor<1x2x5x4xf32>) outs(%mul_2.0 : tensor<1x2x5x4xf32>) {
    ^bb0(%in0: f32, %in1: f32, %out: f32):
      %e0 = arith.mulf %in0, %in1 : f32
      linalg.yield %e0 : f32
    } -> tensor<1x2x5x4xf32>
    %constant_pad_nd_1.0 = arith.constant 0.00000000e+00 : f32
    %constant_pad_nd_1 = tensor.pad %v low[0, 0, 1, 0] high[0, 0, 0, 0] {
    ^bb0(%i0: index, %i1: index, %i2: index, %i3: index):
      tensor.yield %constant_pad_nd_1.0 : f32
    } : tensor<1x2x5x4xf32> to tensor<1x2x6x4xf32>
    %slice_6 = tensor.extract_slice %constant_pad_nd_1[0, 0, 0, 0] [1, 2, 5, 4] [1, 1, 1, 1] : tensor<1x2x6x4xf32> to tensor<1x2x5x4xf32>
    %mul_3.0 = tensor.empty() : tensor<1x2x5x4xf32>
    %mul_3 = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d1, 0, 0)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%b2, %slice_6 : tensor<2x1x1xf32>, tensor<1x2x5x4xf32>) outs(%mul_3.0 : tensor<1x2x5x4xf32>) {
    ^bb0(%in0: f32, %in1: f32, %out: f32):
      %e0 = arith.mulf %in0, %in1 : f32
      linalg.yield %e0 : f32
    } -> tensor<1x2x5x4xf32>
    %add_1.0 = tensor.empty() : tensor<1x2x5x4xf32>
    %add_1 = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%mul_2, %mul_3 : tensor<1x2x5x4xf32>, tensor<1x2x5x4xf32>) outs(%add_1.0 : tensor<1x2x5x4xf32>) {
    ^bb0(%in0: f32, %in1: f32, %out: f32):
      %e0 = arith.addf %in0, %in1 : f32
      linalg.yield %e0 : f32
    } -> tensor<1x2x5x4xf32>
    %transpose.0 = tensor.empty() : tensor<1x2x4x5xf32>
    %transpose = linalg.transpose ins(%add : tensor<1x2x5x4xf32>) outs(%transpose.0 : tensor<1x2x4x5xf32>) permutation = [0, 1, 3, 2]
    %_reshape_alias = tensor.collapse_shape %q [[0, 1], [2], [3]] : tensor<1x2x3x4xf32> into tensor<2x3x4xf32>
    %_reshape_alias_1 = tensor.collapse_shape %transpose [[0, 1], [2], [3]] : tensor<1x2x4x5xf32> into tensor<2x4x5xf32>
    %bmm.0 = tensor.empty() : tensor<2x3x5xf32>
    %bmm.1 = arith.constant 0.00000000e+00 : f32
    %bmm.2 = linalg.fill ins(%bmm.1 : f32) outs(%bmm.0 : tensor<2x3x5xf32>) -> tensor<2x3x5xf32>
    %bmm = linalg.batch_matmul ins(%_reshape_alias, %_reshape_alias_1 : tensor<2x3x4xf32>, tensor<2x4x5xf32>) outs(%bmm.2 : tensor<2x3x5xf32>) -> tensor<2x3x5xf32>
    %_unsafe_view = tensor.expand_shape %bmm [[0, 1], [2], [3]] output_shape [1, 2, 3, 5] : tensor<2x3x5xf32> into tensor<1x2x3x5xf32>
    %mul_4.0 = tensor.empty() : tensor<1x2x3x5xf32>
    %mul_4 = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%_unsafe_view : tensor<1x2x3x5xf32>) outs(%mul_4.0 : tensor<1x2x3x5xf32>) {
    ^bb0(%in0: f32, %out: f32):
      %e0 = arith.constant 5.00000000e-01 : f32
      %e1 = arith.mulf %in0, %e0 : f32
      linalg.yield %e1 : f32
    } -> tensor<1x2x3x5xf32>
    %cst0 = arith.constant dense<[[false, false, false, true, true], [false, false, false, false, true], [false, false, false, false, false]]> : tensor<3x5xi1>
    %masked_fill.0 = tensor.empty() : tensor<1x2x3x5xf32>
    %masked_fill = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%mul_4, %cst0 : tensor<1x2x3x5xf32>, tensor<3x5xi1>) outs(%masked_fill.0 : tensor<1x2x3x5xf32>) {
    ^bb0(%in0: f32, %in1: i1, %out: f32):
      %e0 = arith.constant 0xFF800000 : f32
      %e1 = arith.select %in1, %e0, %in0 : f32
      linalg.yield %e1 : f32
    } -> tensor<1x2x3x5xf32>
    %_softmax.0 = tensor.empty() : tensor<1x2x3xf32>
    %_softmax.1 = arith.constant 0xFF800000 : f32
    %_softmax.2 = linalg.fill ins(%_softmax.1 : f32) outs(%_softmax.0 : tensor<1x2x3xf32>) -> tensor<1x2x3xf32>
    %_softmax.3 = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2)>], iterator_types = ["parallel", "parallel", "parallel", "reduction"]} ins(%masked_fill : tensor<1x2x3x5xf32>) outs(%_softmax.2 : tensor<1x2x3xf32>) {
    ^bb0(%in0: f32, %out: f32):
      %e0 = arith.maximumf %in0, %out : f32
      linalg.yield %e0 : f32
    } -> tensor<1x2x3xf32>
    %_softmax.4 = tensor.empty() : tensor<1x2x3x5xf32>
    %_softmax.5 = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%masked_fill, %_softmax.3 : tensor<1x2x3x5xf32>, tensor<1x2x3xf32>) outs(%_softmax.4 : tensor<1x2x3x5xf32>) {
    ^bb0(%in0: f32, %in1: f32, %out: f32):
      %e0 = arith.subf %in0, %in1 : f32
      %e1 = math.exp %e0 : f32
      linalg.yield %e1 : f32
    } -> tensor<1x2x3x5xf32>
    %_softmax.6 = tensor.empty() : tensor<1x2x3xf32>
    %_softmax.7 = arith.constant 0.00000000e+00 : f32
    %_softmax.8 = linalg.fill ins(%_softmax.7 : f32) outs(%_softmax.6 : tensor<1x2x3xf32>) -> tensor<1x2x3xf32>
    %_softmax.9 = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2)>], iterator_types = ["parallel", "parallel", "parallel", "reduction"]} ins(%_softmax.5 : tensor<1x2x3x5xf32>) outs(%_softmax.8 : tensor<1x2x3xf32>) {
    ^bb0(%in0: f32, %out: f32):
      %e0 = arith.addf %in0, %out : f32
      linalg.yield %e0 : f32
    } -> tensor<1x2x3xf32>
    %_softmax.10 = tensor.empty() : tensor<1x2x3x5xf32>
    %_softmax = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%_softmax.5, %_softmax.9 : tensor<1x2x3x5xf32>, tensor<1x2x3xf32>) outs(%_softmax.10 : tensor<1x2x3x5xf32>) {
    ^bb0(%in0: f32, %in1: f32, %out: f32):
      %e0 = arith.divf %in0, %in1 : f32
      linalg.yield %e0 : f32
    } -> tensor<1x2x3x5xf32>
    %_reshape_alias_2 = tensor.collapse_shape %_softmax [[0, 1], [2], [3]] : tensor<1x2x3x5xf32> into tensor<2x3x5xf32>
    %_reshape_alias_3 = tensor.collapse_shape %add_1 [[0, 1], [2], [3]] : tensor<1x2x5x4xf32> into tensor<2x5x4xf32>
    %bmm_1.0 = tensor.empty() : tensor<2x3x4xf32>
    %bmm_1.1 = arith.constant 0.00000000e+00 : f32
    %bmm_1.2 = linalg.fill ins(%bmm_1.1 : f32) outs(%bmm_1.0 : tensor<2x3x4xf32>) -> tensor<2x3x4xf32>
    %bmm_1 = linalg.batch_matmul ins(%_reshape_alias_2, %_reshape_alias_3 : tensor<2x3x5xf32>, tensor<2x5x4xf32>) outs(%bmm_1.2 : tensor<2x3x4xf32>) -> tensor<2x3x4xf32>
    %_unsafe_view_1 = tensor.expand_shape %bmm_1 [[0, 1], [2], [3]] output_shape [1, 2, 3, 4] : tensor<2x3x4xf32> into tensor<1x2x3x4xf32>
    return %_unsafe_view_1 : tensor<1x2x3x4xf32>
  }
}

// -----

// k^ = 0.75 k + 0.25 shift(k) (a weight shared by all heads), v unmixed.
// CHECK-LABEL: func.func @scalar_weight(
// CHECK-SAME: %[[Q:[^:]+]]: tensor<1x2x4x4xf32>, %[[K:[^:]+]]: tensor<1x2x4x4xf32>, %[[V:[^:]+]]: tensor<1x2x4x4xf32>)
// CHECK-DAG: %[[KW:.+]] = arith.constant dense<{{\[\[}}7.500000e-01, 2.500000e-01], [7.500000e-01, 2.500000e-01]]> : tensor<2x2xf32>
// CHECK-DAG: %[[VW:.+]] = arith.constant dense<{{\[\[}}1.000000e+00, 0.000000e+00], [1.000000e+00, 0.000000e+00]]> : tensor<2x2xf32>
// CHECK: kvshift.kv_shift_attention %[[Q]], %[[K]], %[[V]] mix(%[[KW]], %[[VW]]) causal
// CHECK-NOT: tensor.pad
module {
  func.func @scalar_weight(%q: tensor<1x2x4x4xf32>, %k: tensor<1x2x4x4xf32>, %v: tensor<1x2x4x4xf32>) -> (tensor<1x2x4x4xf32>) {
    %mul.0 = tensor.empty() : tensor<1x2x4x4xf32>
    %mul = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%k : tensor<1x2x4x4xf32>) outs(%mul.0 : tensor<1x2x4x4xf32>) {
    ^bb0(%in0: f32, %out: f32):
      %e0 = arith.constant 7.50000000e-01 : f32
      %e1 = arith.mulf %in0, %e0 : f32
      linalg.yield %e1 : f32
    } -> tensor<1x2x4x4xf32>
    %constant_pad_nd.0 = arith.constant 0.00000000e+00 : f32
    %constant_pad_nd = tensor.pad %k low[0, 0, 1, 0] high[0, 0, 0, 0] {
    ^bb0(%i0: index, %i1: index, %i2: index, %i3: index):
      tensor.yield %constant_pad_nd.0 : f32
    } : tensor<1x2x4x4xf32> to tensor<1x2x5x4xf32>
    %slice_3 = tensor.extract_slice %constant_pad_nd[0, 0, 0, 0] [1, 2, 4, 4] [1, 1, 1, 1] : tensor<1x2x5x4xf32> to tensor<1x2x4x4xf32>
    %mul_1.0 = tensor.empty() : tensor<1x2x4x4xf32>
    %mul_1 = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%slice_3 : tensor<1x2x4x4xf32>) outs(%mul_1.0 : tensor<1x2x4x4xf32>) {
    ^bb0(%in0: f32, %out: f32):
      %e0 = arith.constant 2.50000000e-01 : f32
      %e1 = arith.mulf %in0, %e0 : f32
      linalg.yield %e1 : f32
    } -> tensor<1x2x4x4xf32>
    %add.0 = tensor.empty() : tensor<1x2x4x4xf32>
    %add = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%mul, %mul_1 : tensor<1x2x4x4xf32>, tensor<1x2x4x4xf32>) outs(%add.0 : tensor<1x2x4x4xf32>) {
    ^bb0(%in0: f32, %in1: f32, %out: f32):
      %e0 = arith.addf %in0, %in1 : f32
      linalg.yield %e0 : f32
    } -> tensor<1x2x4x4xf32>
    %transpose.0 = tensor.empty() : tensor<1x2x4x4xf32>
    %transpose = linalg.transpose ins(%add : tensor<1x2x4x4xf32>) outs(%transpose.0 : tensor<1x2x4x4xf32>) permutation = [0, 1, 3, 2]
    %_reshape_alias = tensor.collapse_shape %q [[0, 1], [2], [3]] : tensor<1x2x4x4xf32> into tensor<2x4x4xf32>
    %_reshape_alias_1 = tensor.collapse_shape %transpose [[0, 1], [2], [3]] : tensor<1x2x4x4xf32> into tensor<2x4x4xf32>
    %bmm.0 = tensor.empty() : tensor<2x4x4xf32>
    %bmm.1 = arith.constant 0.00000000e+00 : f32
    %bmm.2 = linalg.fill ins(%bmm.1 : f32) outs(%bmm.0 : tensor<2x4x4xf32>) -> tensor<2x4x4xf32>
    %bmm = linalg.batch_matmul ins(%_reshape_alias, %_reshape_alias_1 : tensor<2x4x4xf32>, tensor<2x4x4xf32>) outs(%bmm.2 : tensor<2x4x4xf32>) -> tensor<2x4x4xf32>
    %_unsafe_view = tensor.expand_shape %bmm [[0, 1], [2], [3]] output_shape [1, 2, 4, 4] : tensor<2x4x4xf32> into tensor<1x2x4x4xf32>
    %mul_2.0 = tensor.empty() : tensor<1x2x4x4xf32>
    %mul_2 = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%_unsafe_view : tensor<1x2x4x4xf32>) outs(%mul_2.0 : tensor<1x2x4x4xf32>) {
    ^bb0(%in0: f32, %out: f32):
      %e0 = arith.constant 5.00000000e-01 : f32
      %e1 = arith.mulf %in0, %e0 : f32
      linalg.yield %e1 : f32
    } -> tensor<1x2x4x4xf32>
    %cst0 = arith.constant dense<[[false, true, true, true], [false, false, true, true], [false, false, false, true], [false, false, false, false]]> : tensor<4x4xi1>
    %masked_fill.0 = tensor.empty() : tensor<1x2x4x4xf32>
    %masked_fill = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%mul_2, %cst0 : tensor<1x2x4x4xf32>, tensor<4x4xi1>) outs(%masked_fill.0 : tensor<1x2x4x4xf32>) {
    ^bb0(%in0: f32, %in1: i1, %out: f32):
      %e0 = arith.constant 0xFF800000 : f32
      %e1 = arith.select %in1, %e0, %in0 : f32
      linalg.yield %e1 : f32
    } -> tensor<1x2x4x4xf32>
    %_softmax.0 = tensor.empty() : tensor<1x2x4xf32>
    %_softmax.1 = arith.constant 0xFF800000 : f32
    %_softmax.2 = linalg.fill ins(%_softmax.1 : f32) outs(%_softmax.0 : tensor<1x2x4xf32>) -> tensor<1x2x4xf32>
    %_softmax.3 = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2)>], iterator_types = ["parallel", "parallel", "parallel", "reduction"]} ins(%masked_fill : tensor<1x2x4x4xf32>) outs(%_softmax.2 : tensor<1x2x4xf32>) {
    ^bb0(%in0: f32, %out: f32):
      %e0 = arith.maximumf %in0, %out : f32
      linalg.yield %e0 : f32
    } -> tensor<1x2x4xf32>
    %_softmax.4 = tensor.empty() : tensor<1x2x4x4xf32>
    %_softmax.5 = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%masked_fill, %_softmax.3 : tensor<1x2x4x4xf32>, tensor<1x2x4xf32>) outs(%_softmax.4 : tensor<1x2x4x4xf32>) {
    ^bb0(%in0: f32, %in1: f32, %out: f32):
      %e0 = arith.subf %in0, %in1 : f32
      %e1 = math.exp %e0 : f32
      linalg.yield %e1 : f32
    } -> tensor<1x2x4x4xf32>
    %_softmax.6 = tensor.empty() : tensor<1x2x4xf32>
    %_softmax.7 = arith.constant 0.00000000e+00 : f32
    %_softmax.8 = linalg.fill ins(%_softmax.7 : f32) outs(%_softmax.6 : tensor<1x2x4xf32>) -> tensor<1x2x4xf32>
    %_softmax.9 = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2)>], iterator_types = ["parallel", "parallel", "parallel", "reduction"]} ins(%_softmax.5 : tensor<1x2x4x4xf32>) outs(%_softmax.8 : tensor<1x2x4xf32>) {
    ^bb0(%in0: f32, %out: f32):
      %e0 = arith.addf %in0, %out : f32
      linalg.yield %e0 : f32
    } -> tensor<1x2x4xf32>
    %_softmax.10 = tensor.empty() : tensor<1x2x4x4xf32>
    %_softmax = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%_softmax.5, %_softmax.9 : tensor<1x2x4x4xf32>, tensor<1x2x4xf32>) outs(%_softmax.10 : tensor<1x2x4x4xf32>) {
    ^bb0(%in0: f32, %in1: f32, %out: f32):
      %e0 = arith.divf %in0, %in1 : f32
      linalg.yield %e0 : f32
    } -> tensor<1x2x4x4xf32>
    %_reshape_alias_2 = tensor.collapse_shape %_softmax [[0, 1], [2], [3]] : tensor<1x2x4x4xf32> into tensor<2x4x4xf32>
    %_reshape_alias_3 = tensor.collapse_shape %v [[0, 1], [2], [3]] : tensor<1x2x4x4xf32> into tensor<2x4x4xf32>
    %bmm_1.0 = tensor.empty() : tensor<2x4x4xf32>
    %bmm_1.1 = arith.constant 0.00000000e+00 : f32
    %bmm_1.2 = linalg.fill ins(%bmm_1.1 : f32) outs(%bmm_1.0 : tensor<2x4x4xf32>) -> tensor<2x4x4xf32>
    %bmm_1 = linalg.batch_matmul ins(%_reshape_alias_2, %_reshape_alias_3 : tensor<2x4x4xf32>, tensor<2x4x4xf32>) outs(%bmm_1.2 : tensor<2x4x4xf32>) -> tensor<2x4x4xf32>
    %_unsafe_view_1 = tensor.expand_shape %bmm_1 [[0, 1], [2], [3]] output_shape [1, 2, 4, 4] : tensor<2x4x4xf32> into tensor<1x2x4x4xf32>
    return %_unsafe_view_1 : tensor<1x2x4x4xf32>
  }
}

// -----

// A negative scale applied before the mask is still exactly the op.
// CHECK-LABEL: func.func @pos_neg_scale_before_mask(
// CHECK: kvshift.kv_shift_attention {{.*}} causal scale = -5.000000e-01
module {
  func.func @pos_neg_scale_before_mask(%q: tensor<1x2x4x4xf32>, %k: tensor<1x2x4x4xf32>, %v: tensor<1x2x4x4xf32>, %a1: tensor<2x1x1xf32>, %a2: tensor<2x1x1xf32>, %b1: tensor<2x1x1xf32>, %b2: tensor<2x1x1xf32>) -> (tensor<1x2x4x4xf32>) {
    %mul.0 = tensor.empty() : tensor<1x2x4x4xf32>
    %mul = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d1, 0, 0)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%a1, %k : tensor<2x1x1xf32>, tensor<1x2x4x4xf32>) outs(%mul.0 : tensor<1x2x4x4xf32>) {
    ^bb0(%in0: f32, %in1: f32, %out: f32):
      %e0 = arith.mulf %in0, %in1 : f32
      linalg.yield %e0 : f32
    } -> tensor<1x2x4x4xf32>
    %constant_pad_nd.0 = arith.constant 0.00000000e+00 : f32
    %constant_pad_nd = tensor.pad %k low[0, 0, 1, 0] high[0, 0, 0, 0] {
    ^bb0(%i0: index, %i1: index, %i2: index, %i3: index):
      tensor.yield %constant_pad_nd.0 : f32
    } : tensor<1x2x4x4xf32> to tensor<1x2x5x4xf32>
    %slice_3 = tensor.extract_slice %constant_pad_nd[0, 0, 0, 0] [1, 2, 4, 4] [1, 1, 1, 1] : tensor<1x2x5x4xf32> to tensor<1x2x4x4xf32>
    %mul_1.0 = tensor.empty() : tensor<1x2x4x4xf32>
    %mul_1 = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d1, 0, 0)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%a2, %slice_3 : tensor<2x1x1xf32>, tensor<1x2x4x4xf32>) outs(%mul_1.0 : tensor<1x2x4x4xf32>) {
    ^bb0(%in0: f32, %in1: f32, %out: f32):
      %e0 = arith.mulf %in0, %in1 : f32
      linalg.yield %e0 : f32
    } -> tensor<1x2x4x4xf32>
    %add.0 = tensor.empty() : tensor<1x2x4x4xf32>
    %add = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%mul, %mul_1 : tensor<1x2x4x4xf32>, tensor<1x2x4x4xf32>) outs(%add.0 : tensor<1x2x4x4xf32>) {
    ^bb0(%in0: f32, %in1: f32, %out: f32):
      %e0 = arith.addf %in0, %in1 : f32
      linalg.yield %e0 : f32
    } -> tensor<1x2x4x4xf32>
    %mul_2.0 = tensor.empty() : tensor<1x2x4x4xf32>
    %mul_2 = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d1, 0, 0)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%b1, %v : tensor<2x1x1xf32>, tensor<1x2x4x4xf32>) outs(%mul_2.0 : tensor<1x2x4x4xf32>) {
    ^bb0(%in0: f32, %in1: f32, %out: f32):
      %e0 = arith.mulf %in0, %in1 : f32
      linalg.yield %e0 : f32
    } -> tensor<1x2x4x4xf32>
    %constant_pad_nd_1.0 = arith.constant 0.00000000e+00 : f32
    %constant_pad_nd_1 = tensor.pad %v low[0, 0, 1, 0] high[0, 0, 0, 0] {
    ^bb0(%i0: index, %i1: index, %i2: index, %i3: index):
      tensor.yield %constant_pad_nd_1.0 : f32
    } : tensor<1x2x4x4xf32> to tensor<1x2x5x4xf32>
    %slice_6 = tensor.extract_slice %constant_pad_nd_1[0, 0, 0, 0] [1, 2, 4, 4] [1, 1, 1, 1] : tensor<1x2x5x4xf32> to tensor<1x2x4x4xf32>
    %mul_3.0 = tensor.empty() : tensor<1x2x4x4xf32>
    %mul_3 = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d1, 0, 0)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%b2, %slice_6 : tensor<2x1x1xf32>, tensor<1x2x4x4xf32>) outs(%mul_3.0 : tensor<1x2x4x4xf32>) {
    ^bb0(%in0: f32, %in1: f32, %out: f32):
      %e0 = arith.mulf %in0, %in1 : f32
      linalg.yield %e0 : f32
    } -> tensor<1x2x4x4xf32>
    %add_1.0 = tensor.empty() : tensor<1x2x4x4xf32>
    %add_1 = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%mul_2, %mul_3 : tensor<1x2x4x4xf32>, tensor<1x2x4x4xf32>) outs(%add_1.0 : tensor<1x2x4x4xf32>) {
    ^bb0(%in0: f32, %in1: f32, %out: f32):
      %e0 = arith.addf %in0, %in1 : f32
      linalg.yield %e0 : f32
    } -> tensor<1x2x4x4xf32>
    %transpose.0 = tensor.empty() : tensor<1x2x4x4xf32>
    %transpose = linalg.transpose ins(%add : tensor<1x2x4x4xf32>) outs(%transpose.0 : tensor<1x2x4x4xf32>) permutation = [0, 1, 3, 2]
    %_reshape_alias = tensor.collapse_shape %q [[0, 1], [2], [3]] : tensor<1x2x4x4xf32> into tensor<2x4x4xf32>
    %_reshape_alias_1 = tensor.collapse_shape %transpose [[0, 1], [2], [3]] : tensor<1x2x4x4xf32> into tensor<2x4x4xf32>
    %bmm.0 = tensor.empty() : tensor<2x4x4xf32>
    %bmm.1 = arith.constant 0.00000000e+00 : f32
    %bmm.2 = linalg.fill ins(%bmm.1 : f32) outs(%bmm.0 : tensor<2x4x4xf32>) -> tensor<2x4x4xf32>
    %bmm = linalg.batch_matmul ins(%_reshape_alias, %_reshape_alias_1 : tensor<2x4x4xf32>, tensor<2x4x4xf32>) outs(%bmm.2 : tensor<2x4x4xf32>) -> tensor<2x4x4xf32>
    %_unsafe_view = tensor.expand_shape %bmm [[0, 1], [2], [3]] output_shape [1, 2, 4, 4] : tensor<2x4x4xf32> into tensor<1x2x4x4xf32>
    %mul_4.0 = tensor.empty() : tensor<1x2x4x4xf32>
    %mul_4 = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%_unsafe_view : tensor<1x2x4x4xf32>) outs(%mul_4.0 : tensor<1x2x4x4xf32>) {
    ^bb0(%in0: f32, %out: f32):
      %e0 = arith.constant -5.00000000e-01 : f32
      %e1 = arith.mulf %in0, %e0 : f32
      linalg.yield %e1 : f32
    } -> tensor<1x2x4x4xf32>
    %cst0 = arith.constant dense<[[false, true, true, true], [false, false, true, true], [false, false, false, true], [false, false, false, false]]> : tensor<4x4xi1>
    %masked_fill.0 = tensor.empty() : tensor<1x2x4x4xf32>
    %masked_fill = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%mul_4, %cst0 : tensor<1x2x4x4xf32>, tensor<4x4xi1>) outs(%masked_fill.0 : tensor<1x2x4x4xf32>) {
    ^bb0(%in0: f32, %in1: i1, %out: f32):
      %e0 = arith.constant 0xFF800000 : f32
      %e1 = arith.select %in1, %e0, %in0 : f32
      linalg.yield %e1 : f32
    } -> tensor<1x2x4x4xf32>
    %_softmax.0 = tensor.empty() : tensor<1x2x4xf32>
    %_softmax.1 = arith.constant 0xFF800000 : f32
    %_softmax.2 = linalg.fill ins(%_softmax.1 : f32) outs(%_softmax.0 : tensor<1x2x4xf32>) -> tensor<1x2x4xf32>
    %_softmax.3 = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2)>], iterator_types = ["parallel", "parallel", "parallel", "reduction"]} ins(%masked_fill : tensor<1x2x4x4xf32>) outs(%_softmax.2 : tensor<1x2x4xf32>) {
    ^bb0(%in0: f32, %out: f32):
      %e0 = arith.maximumf %in0, %out : f32
      linalg.yield %e0 : f32
    } -> tensor<1x2x4xf32>
    %_softmax.4 = tensor.empty() : tensor<1x2x4x4xf32>
    %_softmax.5 = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%masked_fill, %_softmax.3 : tensor<1x2x4x4xf32>, tensor<1x2x4xf32>) outs(%_softmax.4 : tensor<1x2x4x4xf32>) {
    ^bb0(%in0: f32, %in1: f32, %out: f32):
      %e0 = arith.subf %in0, %in1 : f32
      %e1 = math.exp %e0 : f32
      linalg.yield %e1 : f32
    } -> tensor<1x2x4x4xf32>
    %_softmax.6 = tensor.empty() : tensor<1x2x4xf32>
    %_softmax.7 = arith.constant 0.00000000e+00 : f32
    %_softmax.8 = linalg.fill ins(%_softmax.7 : f32) outs(%_softmax.6 : tensor<1x2x4xf32>) -> tensor<1x2x4xf32>
    %_softmax.9 = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2)>], iterator_types = ["parallel", "parallel", "parallel", "reduction"]} ins(%_softmax.5 : tensor<1x2x4x4xf32>) outs(%_softmax.8 : tensor<1x2x4xf32>) {
    ^bb0(%in0: f32, %out: f32):
      %e0 = arith.addf %in0, %out : f32
      linalg.yield %e0 : f32
    } -> tensor<1x2x4xf32>
    %_softmax.10 = tensor.empty() : tensor<1x2x4x4xf32>
    %_softmax = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%_softmax.5, %_softmax.9 : tensor<1x2x4x4xf32>, tensor<1x2x4xf32>) outs(%_softmax.10 : tensor<1x2x4x4xf32>) {
    ^bb0(%in0: f32, %in1: f32, %out: f32):
      %e0 = arith.divf %in0, %in1 : f32
      linalg.yield %e0 : f32
    } -> tensor<1x2x4x4xf32>
    %_reshape_alias_2 = tensor.collapse_shape %_softmax [[0, 1], [2], [3]] : tensor<1x2x4x4xf32> into tensor<2x4x4xf32>
    %_reshape_alias_3 = tensor.collapse_shape %add_1 [[0, 1], [2], [3]] : tensor<1x2x4x4xf32> into tensor<2x4x4xf32>
    %bmm_1.0 = tensor.empty() : tensor<2x4x4xf32>
    %bmm_1.1 = arith.constant 0.00000000e+00 : f32
    %bmm_1.2 = linalg.fill ins(%bmm_1.1 : f32) outs(%bmm_1.0 : tensor<2x4x4xf32>) -> tensor<2x4x4xf32>
    %bmm_1 = linalg.batch_matmul ins(%_reshape_alias_2, %_reshape_alias_3 : tensor<2x4x4xf32>, tensor<2x4x4xf32>) outs(%bmm_1.2 : tensor<2x4x4xf32>) -> tensor<2x4x4xf32>
    %_unsafe_view_1 = tensor.expand_shape %bmm_1 [[0, 1], [2], [3]] output_shape [1, 2, 4, 4] : tensor<2x4x4xf32> into tensor<1x2x4x4xf32>
    return %_unsafe_view_1 : tensor<1x2x4x4xf32>
  }
}

// -----

// A shift by two rows is not the op's mix: it stays as computed, and only the
// attention over its result is raised (weights [1, 0] for k).
// CHECK-LABEL: func.func @shift_two(
// CHECK-SAME: %[[Q:[^:]+]]: tensor<1x2x4x4xf32>, %[[K:[^:]+]]: tensor<1x2x4x4xf32>, %[[V:[^:]+]]: tensor<1x2x4x4xf32>
// CHECK-DAG: %[[KW:.+]] = arith.constant dense<{{\[\[}}1.000000e+00, 0.000000e+00]
// CHECK-DAG: tensor.pad %[[K]] low[0, 0, 2, 0]
// CHECK: %[[KHAT:.+]] = linalg.generic {{.*}}ins(%{{.*}}, %{{.*}} : tensor<1x2x4x4xf32>, tensor<1x2x4x4xf32>)
// CHECK: kvshift.kv_shift_attention %[[Q]], %[[KHAT]], %[[V]] mix(%[[KW]], %{{.*}}) causal
module {
  func.func @shift_two(%q: tensor<1x2x4x4xf32>, %k: tensor<1x2x4x4xf32>, %v: tensor<1x2x4x4xf32>, %a1: tensor<2x1x1xf32>, %a2: tensor<2x1x1xf32>, %b1: tensor<2x1x1xf32>, %b2: tensor<2x1x1xf32>) -> (tensor<1x2x4x4xf32>) {
    %mul.0 = tensor.empty() : tensor<1x2x4x4xf32>
    %mul = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d1, 0, 0)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%a1, %k : tensor<2x1x1xf32>, tensor<1x2x4x4xf32>) outs(%mul.0 : tensor<1x2x4x4xf32>) {
    ^bb0(%in0: f32, %in1: f32, %out: f32):
      %e0 = arith.mulf %in0, %in1 : f32
      linalg.yield %e0 : f32
    } -> tensor<1x2x4x4xf32>
    %constant_pad_nd.0 = arith.constant 0.00000000e+00 : f32
    %constant_pad_nd = tensor.pad %k low[0, 0, 2, 0] high[0, 0, 0, 0] {
    ^bb0(%i0: index, %i1: index, %i2: index, %i3: index):
      tensor.yield %constant_pad_nd.0 : f32
    } : tensor<1x2x4x4xf32> to tensor<1x2x6x4xf32>
    %slice_3 = tensor.extract_slice %constant_pad_nd[0, 0, 0, 0] [1, 2, 4, 4] [1, 1, 1, 1] : tensor<1x2x6x4xf32> to tensor<1x2x4x4xf32>
    %mul_1.0 = tensor.empty() : tensor<1x2x4x4xf32>
    %mul_1 = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d1, 0, 0)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%a2, %slice_3 : tensor<2x1x1xf32>, tensor<1x2x4x4xf32>) outs(%mul_1.0 : tensor<1x2x4x4xf32>) {
    ^bb0(%in0: f32, %in1: f32, %out: f32):
      %e0 = arith.mulf %in0, %in1 : f32
      linalg.yield %e0 : f32
    } -> tensor<1x2x4x4xf32>
    %add.0 = tensor.empty() : tensor<1x2x4x4xf32>
    %add = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%mul, %mul_1 : tensor<1x2x4x4xf32>, tensor<1x2x4x4xf32>) outs(%add.0 : tensor<1x2x4x4xf32>) {
    ^bb0(%in0: f32, %in1: f32, %out: f32):
      %e0 = arith.addf %in0, %in1 : f32
      linalg.yield %e0 : f32
    } -> tensor<1x2x4x4xf32>
    %mul_2.0 = tensor.empty() : tensor<1x2x4x4xf32>
    %mul_2 = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d1, 0, 0)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%b1, %v : tensor<2x1x1xf32>, tensor<1x2x4x4xf32>) outs(%mul_2.0 : tensor<1x2x4x4xf32>) {
    ^bb0(%in0: f32, %in1: f32, %out: f32):
      %e0 = arith.mulf %in0, %in1 : f32
      linalg.yield %e0 : f32
    } -> tensor<1x2x4x4xf32>
    %constant_pad_nd_1.0 = arith.constant 0.00000000e+00 : f32
    %constant_pad_nd_1 = tensor.pad %v low[0, 0, 1, 0] high[0, 0, 0, 0] {
    ^bb0(%i0: index, %i1: index, %i2: index, %i3: index):
      tensor.yield %constant_pad_nd_1.0 : f32
    } : tensor<1x2x4x4xf32> to tensor<1x2x5x4xf32>
    %slice_6 = tensor.extract_slice %constant_pad_nd_1[0, 0, 0, 0] [1, 2, 4, 4] [1, 1, 1, 1] : tensor<1x2x5x4xf32> to tensor<1x2x4x4xf32>
    %mul_3.0 = tensor.empty() : tensor<1x2x4x4xf32>
    %mul_3 = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d1, 0, 0)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%b2, %slice_6 : tensor<2x1x1xf32>, tensor<1x2x4x4xf32>) outs(%mul_3.0 : tensor<1x2x4x4xf32>) {
    ^bb0(%in0: f32, %in1: f32, %out: f32):
      %e0 = arith.mulf %in0, %in1 : f32
      linalg.yield %e0 : f32
    } -> tensor<1x2x4x4xf32>
    %add_1.0 = tensor.empty() : tensor<1x2x4x4xf32>
    %add_1 = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%mul_2, %mul_3 : tensor<1x2x4x4xf32>, tensor<1x2x4x4xf32>) outs(%add_1.0 : tensor<1x2x4x4xf32>) {
    ^bb0(%in0: f32, %in1: f32, %out: f32):
      %e0 = arith.addf %in0, %in1 : f32
      linalg.yield %e0 : f32
    } -> tensor<1x2x4x4xf32>
    %transpose.0 = tensor.empty() : tensor<1x2x4x4xf32>
    %transpose = linalg.transpose ins(%add : tensor<1x2x4x4xf32>) outs(%transpose.0 : tensor<1x2x4x4xf32>) permutation = [0, 1, 3, 2]
    %_reshape_alias = tensor.collapse_shape %q [[0, 1], [2], [3]] : tensor<1x2x4x4xf32> into tensor<2x4x4xf32>
    %_reshape_alias_1 = tensor.collapse_shape %transpose [[0, 1], [2], [3]] : tensor<1x2x4x4xf32> into tensor<2x4x4xf32>
    %bmm.0 = tensor.empty() : tensor<2x4x4xf32>
    %bmm.1 = arith.constant 0.00000000e+00 : f32
    %bmm.2 = linalg.fill ins(%bmm.1 : f32) outs(%bmm.0 : tensor<2x4x4xf32>) -> tensor<2x4x4xf32>
    %bmm = linalg.batch_matmul ins(%_reshape_alias, %_reshape_alias_1 : tensor<2x4x4xf32>, tensor<2x4x4xf32>) outs(%bmm.2 : tensor<2x4x4xf32>) -> tensor<2x4x4xf32>
    %_unsafe_view = tensor.expand_shape %bmm [[0, 1], [2], [3]] output_shape [1, 2, 4, 4] : tensor<2x4x4xf32> into tensor<1x2x4x4xf32>
    %mul_4.0 = tensor.empty() : tensor<1x2x4x4xf32>
    %mul_4 = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%_unsafe_view : tensor<1x2x4x4xf32>) outs(%mul_4.0 : tensor<1x2x4x4xf32>) {
    ^bb0(%in0: f32, %out: f32):
      %e0 = arith.constant 5.00000000e-01 : f32
      %e1 = arith.mulf %in0, %e0 : f32
      linalg.yield %e1 : f32
    } -> tensor<1x2x4x4xf32>
    %cst0 = arith.constant dense<[[false, true, true, true], [false, false, true, true], [false, false, false, true], [false, false, false, false]]> : tensor<4x4xi1>
    %masked_fill.0 = tensor.empty() : tensor<1x2x4x4xf32>
    %masked_fill = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%mul_4, %cst0 : tensor<1x2x4x4xf32>, tensor<4x4xi1>) outs(%masked_fill.0 : tensor<1x2x4x4xf32>) {
    ^bb0(%in0: f32, %in1: i1, %out: f32):
      %e0 = arith.constant 0xFF800000 : f32
      %e1 = arith.select %in1, %e0, %in0 : f32
      linalg.yield %e1 : f32
    } -> tensor<1x2x4x4xf32>
    %_softmax.0 = tensor.empty() : tensor<1x2x4xf32>
    %_softmax.1 = arith.constant 0xFF800000 : f32
    %_softmax.2 = linalg.fill ins(%_softmax.1 : f32) outs(%_softmax.0 : tensor<1x2x4xf32>) -> tensor<1x2x4xf32>
    %_softmax.3 = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2)>], iterator_types = ["parallel", "parallel", "parallel", "reduction"]} ins(%masked_fill : tensor<1x2x4x4xf32>) outs(%_softmax.2 : tensor<1x2x4xf32>) {
    ^bb0(%in0: f32, %out: f32):
      %e0 = arith.maximumf %in0, %out : f32
      linalg.yield %e0 : f32
    } -> tensor<1x2x4xf32>
    %_softmax.4 = tensor.empty() : tensor<1x2x4x4xf32>
    %_softmax.5 = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%masked_fill, %_softmax.3 : tensor<1x2x4x4xf32>, tensor<1x2x4xf32>) outs(%_softmax.4 : tensor<1x2x4x4xf32>) {
    ^bb0(%in0: f32, %in1: f32, %out: f32):
      %e0 = arith.subf %in0, %in1 : f32
      %e1 = math.exp %e0 : f32
      linalg.yield %e1 : f32
    } -> tensor<1x2x4x4xf32>
    %_softmax.6 = tensor.empty() : tensor<1x2x4xf32>
    %_softmax.7 = arith.constant 0.00000000e+00 : f32
    %_softmax.8 = linalg.fill ins(%_softmax.7 : f32) outs(%_softmax.6 : tensor<1x2x4xf32>) -> tensor<1x2x4xf32>
    %_softmax.9 = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2)>], iterator_types = ["parallel", "parallel", "parallel", "reduction"]} ins(%_softmax.5 : tensor<1x2x4x4xf32>) outs(%_softmax.8 : tensor<1x2x4xf32>) {
    ^bb0(%in0: f32, %out: f32):
      %e0 = arith.addf %in0, %out : f32
      linalg.yield %e0 : f32
    } -> tensor<1x2x4xf32>
    %_softmax.10 = tensor.empty() : tensor<1x2x4x4xf32>
    %_softmax = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%_softmax.5, %_softmax.9 : tensor<1x2x4x4xf32>, tensor<1x2x4xf32>) outs(%_softmax.10 : tensor<1x2x4x4xf32>) {
    ^bb0(%in0: f32, %in1: f32, %out: f32):
      %e0 = arith.divf %in0, %in1 : f32
      linalg.yield %e0 : f32
    } -> tensor<1x2x4x4xf32>
    %_reshape_alias_2 = tensor.collapse_shape %_softmax [[0, 1], [2], [3]] : tensor<1x2x4x4xf32> into tensor<2x4x4xf32>
    %_reshape_alias_3 = tensor.collapse_shape %add_1 [[0, 1], [2], [3]] : tensor<1x2x4x4xf32> into tensor<2x4x4xf32>
    %bmm_1.0 = tensor.empty() : tensor<2x4x4xf32>
    %bmm_1.1 = arith.constant 0.00000000e+00 : f32
    %bmm_1.2 = linalg.fill ins(%bmm_1.1 : f32) outs(%bmm_1.0 : tensor<2x4x4xf32>) -> tensor<2x4x4xf32>
    %bmm_1 = linalg.batch_matmul ins(%_reshape_alias_2, %_reshape_alias_3 : tensor<2x4x4xf32>, tensor<2x4x4xf32>) outs(%bmm_1.2 : tensor<2x4x4xf32>) -> tensor<2x4x4xf32>
    %_unsafe_view_1 = tensor.expand_shape %bmm_1 [[0, 1], [2], [3]] output_shape [1, 2, 4, 4] : tensor<2x4x4xf32> into tensor<1x2x4x4xf32>
    return %_unsafe_view_1 : tensor<1x2x4x4xf32>
  }
}

// -----

// Weights [1, H, 1, D] vary along head_dim, which the op cannot express: the
// mixes stay as computed, the attention over them is raised with [1, 0].
// CHECK-LABEL: func.func @wide_weights(
// CHECK-SAME: %[[Q:[^:]+]]: tensor<1x2x4x4xf32>
// CHECK: %[[KHAT:.+]] = linalg.generic {{.*}}ins(%{{.*}}, %{{.*}} : tensor<1x2x4x4xf32>, tensor<1x2x4x4xf32>)
// CHECK: %[[VHAT:.+]] = linalg.generic {{.*}}ins(%{{.*}}, %{{.*}} : tensor<1x2x4x4xf32>, tensor<1x2x4x4xf32>)
// CHECK: kvshift.kv_shift_attention %[[Q]], %[[KHAT]], %[[VHAT]] mix(
module {
  func.func @wide_weights(%q: tensor<1x2x4x4xf32>, %k: tensor<1x2x4x4xf32>, %v: tensor<1x2x4x4xf32>, %a1: tensor<1x2x1x4xf32>, %a2: tensor<1x2x1x4xf32>, %b1: tensor<1x2x1x4xf32>, %b2: tensor<1x2x1x4xf32>) -> (tensor<1x2x4x4xf32>) {
    %mul.0 = tensor.empty() : tensor<1x2x4x4xf32>
    %mul = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, d1, 0, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%a1, %k : tensor<1x2x1x4xf32>, tensor<1x2x4x4xf32>) outs(%mul.0 : tensor<1x2x4x4xf32>) {
    ^bb0(%in0: f32, %in1: f32, %out: f32):
      %e0 = arith.mulf %in0, %in1 : f32
      linalg.yield %e0 : f32
    } -> tensor<1x2x4x4xf32>
    %constant_pad_nd.0 = arith.constant 0.00000000e+00 : f32
    %constant_pad_nd = tensor.pad %k low[0, 0, 1, 0] high[0, 0, 0, 0] {
    ^bb0(%i0: index, %i1: index, %i2: index, %i3: index):
      tensor.yield %constant_pad_nd.0 : f32
    } : tensor<1x2x4x4xf32> to tensor<1x2x5x4xf32>
    %slice_3 = tensor.extract_slice %constant_pad_nd[0, 0, 0, 0] [1, 2, 4, 4] [1, 1, 1, 1] : tensor<1x2x5x4xf32> to tensor<1x2x4x4xf32>
    %mul_1.0 = tensor.empty() : tensor<1x2x4x4xf32>
    %mul_1 = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, d1, 0, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%a2, %slice_3 : tensor<1x2x1x4xf32>, tensor<1x2x4x4xf32>) outs(%mul_1.0 : tensor<1x2x4x4xf32>) {
    ^bb0(%in0: f32, %in1: f32, %out: f32):
      %e0 = arith.mulf %in0, %in1 : f32
      linalg.yield %e0 : f32
    } -> tensor<1x2x4x4xf32>
    %add.0 = tensor.empty() : tensor<1x2x4x4xf32>
    %add = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%mul, %mul_1 : tensor<1x2x4x4xf32>, tensor<1x2x4x4xf32>) outs(%add.0 : tensor<1x2x4x4xf32>) {
    ^bb0(%in0: f32, %in1: f32, %out: f32):
      %e0 = arith.addf %in0, %in1 : f32
      linalg.yield %e0 : f32
    } -> tensor<1x2x4x4xf32>
    %mul_2.0 = tensor.empty() : tensor<1x2x4x4xf32>
    %mul_2 = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, d1, 0, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%b1, %v : tensor<1x2x1x4xf32>, tensor<1x2x4x4xf32>) outs(%mul_2.0 : tensor<1x2x4x4xf32>) {
    ^bb0(%in0: f32, %in1: f32, %out: f32):
      %e0 = arith.mulf %in0, %in1 : f32
      linalg.yield %e0 : f32
    } -> tensor<1x2x4x4xf32>
    %constant_pad_nd_1.0 = arith.constant 0.00000000e+00 : f32
    %constant_pad_nd_1 = tensor.pad %v low[0, 0, 1, 0] high[0, 0, 0, 0] {
    ^bb0(%i0: index, %i1: index, %i2: index, %i3: index):
      tensor.yield %constant_pad_nd_1.0 : f32
    } : tensor<1x2x4x4xf32> to tensor<1x2x5x4xf32>
    %slice_6 = tensor.extract_slice %constant_pad_nd_1[0, 0, 0, 0] [1, 2, 4, 4] [1, 1, 1, 1] : tensor<1x2x5x4xf32> to tensor<1x2x4x4xf32>
    %mul_3.0 = tensor.empty() : tensor<1x2x4x4xf32>
    %mul_3 = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, d1, 0, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%b2, %slice_6 : tensor<1x2x1x4xf32>, tensor<1x2x4x4xf32>) outs(%mul_3.0 : tensor<1x2x4x4xf32>) {
    ^bb0(%in0: f32, %in1: f32, %out: f32):
      %e0 = arith.mulf %in0, %in1 : f32
      linalg.yield %e0 : f32
    } -> tensor<1x2x4x4xf32>
    %add_1.0 = tensor.empty() : tensor<1x2x4x4xf32>
    %add_1 = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%mul_2, %mul_3 : tensor<1x2x4x4xf32>, tensor<1x2x4x4xf32>) outs(%add_1.0 : tensor<1x2x4x4xf32>) {
    ^bb0(%in0: f32, %in1: f32, %out: f32):
      %e0 = arith.addf %in0, %in1 : f32
      linalg.yield %e0 : f32
    } -> tensor<1x2x4x4xf32>
    %transpose.0 = tensor.empty() : tensor<1x2x4x4xf32>
    %transpose = linalg.transpose ins(%add : tensor<1x2x4x4xf32>) outs(%transpose.0 : tensor<1x2x4x4xf32>) permutation = [0, 1, 3, 2]
    %_reshape_alias = tensor.collapse_shape %q [[0, 1], [2], [3]] : tensor<1x2x4x4xf32> into tensor<2x4x4xf32>
    %_reshape_alias_1 = tensor.collapse_shape %transpose [[0, 1], [2], [3]] : tensor<1x2x4x4xf32> into tensor<2x4x4xf32>
    %bmm.0 = tensor.empty() : tensor<2x4x4xf32>
    %bmm.1 = arith.constant 0.00000000e+00 : f32
    %bmm.2 = linalg.fill ins(%bmm.1 : f32) outs(%bmm.0 : tensor<2x4x4xf32>) -> tensor<2x4x4xf32>
    %bmm = linalg.batch_matmul ins(%_reshape_alias, %_reshape_alias_1 : tensor<2x4x4xf32>, tensor<2x4x4xf32>) outs(%bmm.2 : tensor<2x4x4xf32>) -> tensor<2x4x4xf32>
    %_unsafe_view = tensor.expand_shape %bmm [[0, 1], [2], [3]] output_shape [1, 2, 4, 4] : tensor<2x4x4xf32> into tensor<1x2x4x4xf32>
    %mul_4.0 = tensor.empty() : tensor<1x2x4x4xf32>
    %mul_4 = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%_unsafe_view : tensor<1x2x4x4xf32>) outs(%mul_4.0 : tensor<1x2x4x4xf32>) {
    ^bb0(%in0: f32, %out: f32):
      %e0 = arith.constant 5.00000000e-01 : f32
      %e1 = arith.mulf %in0, %e0 : f32
      linalg.yield %e1 : f32
    } -> tensor<1x2x4x4xf32>
    %cst0 = arith.constant dense<[[false, true, true, true], [false, false, true, true], [false, false, false, true], [false, false, false, false]]> : tensor<4x4xi1>
    %masked_fill.0 = tensor.empty() : tensor<1x2x4x4xf32>
    %masked_fill = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%mul_4, %cst0 : tensor<1x2x4x4xf32>, tensor<4x4xi1>) outs(%masked_fill.0 : tensor<1x2x4x4xf32>) {
    ^bb0(%in0: f32, %in1: i1, %out: f32):
      %e0 = arith.constant 0xFF800000 : f32
      %e1 = arith.select %in1, %e0, %in0 : f32
      linalg.yield %e1 : f32
    } -> tensor<1x2x4x4xf32>
    %_softmax.0 = tensor.empty() : tensor<1x2x4xf32>
    %_softmax.1 = arith.constant 0xFF800000 : f32
    %_softmax.2 = linalg.fill ins(%_softmax.1 : f32) outs(%_softmax.0 : tensor<1x2x4xf32>) -> tensor<1x2x4xf32>
    %_softmax.3 = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2)>], iterator_types = ["parallel", "parallel", "parallel", "reduction"]} ins(%masked_fill : tensor<1x2x4x4xf32>) outs(%_softmax.2 : tensor<1x2x4xf32>) {
    ^bb0(%in0: f32, %out: f32):
      %e0 = arith.maximumf %in0, %out : f32
      linalg.yield %e0 : f32
    } -> tensor<1x2x4xf32>
    %_softmax.4 = tensor.empty() : tensor<1x2x4x4xf32>
    %_softmax.5 = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%masked_fill, %_softmax.3 : tensor<1x2x4x4xf32>, tensor<1x2x4xf32>) outs(%_softmax.4 : tensor<1x2x4x4xf32>) {
    ^bb0(%in0: f32, %in1: f32, %out: f32):
      %e0 = arith.subf %in0, %in1 : f32
      %e1 = math.exp %e0 : f32
      linalg.yield %e1 : f32
    } -> tensor<1x2x4x4xf32>
    %_softmax.6 = tensor.empty() : tensor<1x2x4xf32>
    %_softmax.7 = arith.constant 0.00000000e+00 : f32
    %_softmax.8 = linalg.fill ins(%_softmax.7 : f32) outs(%_softmax.6 : tensor<1x2x4xf32>) -> tensor<1x2x4xf32>
    %_softmax.9 = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2)>], iterator_types = ["parallel", "parallel", "parallel", "reduction"]} ins(%_softmax.5 : tensor<1x2x4x4xf32>) outs(%_softmax.8 : tensor<1x2x4xf32>) {
    ^bb0(%in0: f32, %out: f32):
      %e0 = arith.addf %in0, %out : f32
      linalg.yield %e0 : f32
    } -> tensor<1x2x4xf32>
    %_softmax.10 = tensor.empty() : tensor<1x2x4x4xf32>
    %_softmax = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%_softmax.5, %_softmax.9 : tensor<1x2x4x4xf32>, tensor<1x2x4xf32>) outs(%_softmax.10 : tensor<1x2x4x4xf32>) {
    ^bb0(%in0: f32, %in1: f32, %out: f32):
      %e0 = arith.divf %in0, %in1 : f32
      linalg.yield %e0 : f32
    } -> tensor<1x2x4x4xf32>
    %_reshape_alias_2 = tensor.collapse_shape %_softmax [[0, 1], [2], [3]] : tensor<1x2x4x4xf32> into tensor<2x4x4xf32>
    %_reshape_alias_3 = tensor.collapse_shape %add_1 [[0, 1], [2], [3]] : tensor<1x2x4x4xf32> into tensor<2x4x4xf32>
    %bmm_1.0 = tensor.empty() : tensor<2x4x4xf32>
    %bmm_1.1 = arith.constant 0.00000000e+00 : f32
    %bmm_1.2 = linalg.fill ins(%bmm_1.1 : f32) outs(%bmm_1.0 : tensor<2x4x4xf32>) -> tensor<2x4x4xf32>
    %bmm_1 = linalg.batch_matmul ins(%_reshape_alias_2, %_reshape_alias_3 : tensor<2x4x4xf32>, tensor<2x4x4xf32>) outs(%bmm_1.2 : tensor<2x4x4xf32>) -> tensor<2x4x4xf32>
    %_unsafe_view_1 = tensor.expand_shape %bmm_1 [[0, 1], [2], [3]] output_shape [1, 2, 4, 4] : tensor<2x4x4xf32> into tensor<1x2x4x4xf32>
    return %_unsafe_view_1 : tensor<1x2x4x4xf32>
  }
}

// -----

// GQA written with repeat_interleave after the mix: the op gets the 2 KV
// heads themselves (query head h reads KV head h / 2, as repeat_interleave).
// CHECK-LABEL: func.func @gqa_repeat_interleave(
// CHECK-SAME: %[[Q:[^:]+]]: tensor<1x4x4x4xf32>, %[[K:[^:]+]]: tensor<1x2x4x4xf32>, %[[V:[^:]+]]: tensor<1x2x4x4xf32>
// CHECK: kvshift.kv_shift_attention %[[Q]], %[[K]], %[[V]] mix(%{{.*}}, %{{.*}}) causal scale = 5.000000e-01 : (tensor<1x4x4x4xf32>, tensor<1x2x4x4xf32>, tensor<1x2x4x4xf32>, tensor<2x2xf32>, tensor<2x2xf32>)
// CHECK-NOT: tensor.extract
module {
  func.func @gqa_repeat_interleave(%q: tensor<1x4x4x4xf32>, %k: tensor<1x2x4x4xf32>, %v: tensor<1x2x4x4xf32>, %a1: tensor<2x1x1xf32>, %a2: tensor<2x1x1xf32>, %b1: tensor<2x1x1xf32>, %b2: tensor<2x1x1xf32>) -> (tensor<1x4x4x4xf32>) {
    %mul.0 = tensor.empty() : tensor<1x2x4x4xf32>
    %mul = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d1, 0, 0)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%a1, %k : tensor<2x1x1xf32>, tensor<1x2x4x4xf32>) outs(%mul.0 : tensor<1x2x4x4xf32>) {
    ^bb0(%in0: f32, %in1: f32, %out: f32):
      %e0 = arith.mulf %in0, %in1 : f32
      linalg.yield %e0 : f32
    } -> tensor<1x2x4x4xf32>
    %constant_pad_nd.0 = arith.constant 0.00000000e+00 : f32
    %constant_pad_nd = tensor.pad %k low[0, 0, 1, 0] high[0, 0, 0, 0] {
    ^bb0(%i0: index, %i1: index, %i2: index, %i3: index):
      tensor.yield %constant_pad_nd.0 : f32
    } : tensor<1x2x4x4xf32> to tensor<1x2x5x4xf32>
    %slice_3 = tensor.extract_slice %constant_pad_nd[0, 0, 0, 0] [1, 2, 4, 4] [1, 1, 1, 1] : tensor<1x2x5x4xf32> to tensor<1x2x4x4xf32>
    %mul_1.0 = tensor.empty() : tensor<1x2x4x4xf32>
    %mul_1 = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d1, 0, 0)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%a2, %slice_3 : tensor<2x1x1xf32>, tensor<1x2x4x4xf32>) outs(%mul_1.0 : tensor<1x2x4x4xf32>) {
    ^bb0(%in0: f32, %in1: f32, %out: f32):
      %e0 = arith.mulf %in0, %in1 : f32
      linalg.yield %e0 : f32
    } -> tensor<1x2x4x4xf32>
    %add.0 = tensor.empty() : tensor<1x2x4x4xf32>
    %add = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%mul, %mul_1 : tensor<1x2x4x4xf32>, tensor<1x2x4x4xf32>) outs(%add.0 : tensor<1x2x4x4xf32>) {
    ^bb0(%in0: f32, %in1: f32, %out: f32):
      %e0 = arith.addf %in0, %in1 : f32
      linalg.yield %e0 : f32
    } -> tensor<1x2x4x4xf32>
    %mul_2.0 = tensor.empty() : tensor<1x2x4x4xf32>
    %mul_2 = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d1, 0, 0)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%b1, %v : tensor<2x1x1xf32>, tensor<1x2x4x4xf32>) outs(%mul_2.0 : tensor<1x2x4x4xf32>) {
    ^bb0(%in0: f32, %in1: f32, %out: f32):
      %e0 = arith.mulf %in0, %in1 : f32
      linalg.yield %e0 : f32
    } -> tensor<1x2x4x4xf32>
    %constant_pad_nd_1.0 = arith.constant 0.00000000e+00 : f32
    %constant_pad_nd_1 = tensor.pad %v low[0, 0, 1, 0] high[0, 0, 0, 0] {
    ^bb0(%i0: index, %i1: index, %i2: index, %i3: index):
      tensor.yield %constant_pad_nd_1.0 : f32
    } : tensor<1x2x4x4xf32> to tensor<1x2x5x4xf32>
    %slice_6 = tensor.extract_slice %constant_pad_nd_1[0, 0, 0, 0] [1, 2, 4, 4] [1, 1, 1, 1] : tensor<1x2x5x4xf32> to tensor<1x2x4x4xf32>
    %mul_3.0 = tensor.empty() : tensor<1x2x4x4xf32>
    %mul_3 = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d1, 0, 0)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%b2, %slice_6 : tensor<2x1x1xf32>, tensor<1x2x4x4xf32>) outs(%mul_3.0 : tensor<1x2x4x4xf32>) {
    ^bb0(%in0: f32, %in1: f32, %out: f32):
      %e0 = arith.mulf %in0, %in1 : f32
      linalg.yield %e0 : f32
    } -> tensor<1x2x4x4xf32>
    %add_1.0 = tensor.empty() : tensor<1x2x4x4xf32>
    %add_1 = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%mul_2, %mul_3 : tensor<1x2x4x4xf32>, tensor<1x2x4x4xf32>) outs(%add_1.0 : tensor<1x2x4x4xf32>) {
    ^bb0(%in0: f32, %in1: f32, %out: f32):
      %e0 = arith.addf %in0, %in1 : f32
      linalg.yield %e0 : f32
    } -> tensor<1x2x4x4xf32>
    %cst0 = arith.constant dense<[0, 0, 1, 1]> : tensor<4xi64>
    %index_select.0 = tensor.empty() : tensor<1x4x4x4xf32>
    %index_select = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d1)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%cst0 : tensor<4xi64>) outs(%index_select.0 : tensor<1x4x4x4xf32>) {
    ^bb0(%in0: i64, %out: f32):
      %e0 = linalg.index 0 : index
      %e1 = linalg.index 1 : index
      %e2 = linalg.index 2 : index
      %e3 = linalg.index 3 : index
      %e4 = arith.index_cast %in0 : i64 to index
      %e5 = tensor.extract %add[%e0, %e4, %e2, %e3] : tensor<1x2x4x4xf32>
      linalg.yield %e5 : f32
    } -> tensor<1x4x4x4xf32>
    %cst1 = arith.constant dense<[0, 0, 1, 1]> : tensor<4xi64>
    %index_select_1.0 = tensor.empty() : tensor<1x4x4x4xf32>
    %index_select_1 = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d1)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%cst1 : tensor<4xi64>) outs(%index_select_1.0 : tensor<1x4x4x4xf32>) {
    ^bb0(%in0: i64, %out: f32):
      %e0 = linalg.index 0 : index
      %e1 = linalg.index 1 : index
      %e2 = linalg.index 2 : index
      %e3 = linalg.index 3 : index
      %e4 = arith.index_cast %in0 : i64 to index
      %e5 = tensor.extract %add_1[%e0, %e4, %e2, %e3] : tensor<1x2x4x4xf32>
      linalg.yield %e5 : f32
    } -> tensor<1x4x4x4xf32>
    %transpose.0 = tensor.empty() : tensor<1x4x4x4xf32>
    %transpose = linalg.transpose ins(%index_select : tensor<1x4x4x4xf32>) outs(%transpose.0 : tensor<1x4x4x4xf32>) permutation = [0, 1, 3, 2]
    %_reshape_alias_2 = tensor.collapse_shape %q [[0, 1], [2], [3]] : tensor<1x4x4x4xf32> into tensor<4x4x4xf32>
    %_reshape_alias_3 = tensor.collapse_shape %transpose [[0, 1], [2], [3]] : tensor<1x4x4x4xf32> into tensor<4x4x4xf32>
    %bmm.0 = tensor.empty() : tensor<4x4x4xf32>
    %bmm.1 = arith.constant 0.00000000e+00 : f32
    %bmm.2 = linalg.fill ins(%bmm.1 : f32) outs(%bmm.0 : tensor<4x4x4xf32>) -> tensor<4x4x4xf32>
    %bmm = linalg.batch_matmul ins(%_reshape_alias_2, %_reshape_alias_3 : tensor<4x4x4xf32>, tensor<4x4x4xf32>) outs(%bmm.2 : tensor<4x4x4xf32>) -> tensor<4x4x4xf32>
    %_unsafe_view = tensor.expand_shape %bmm [[0, 1], [2], [3]] output_shape [1, 4, 4, 4] : tensor<4x4x4xf32> into tensor<1x4x4x4xf32>
    %mul_4.0 = tensor.empty() : tensor<1x4x4x4xf32>
    %mul_4 = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%_unsafe_view : tensor<1x4x4x4xf32>) outs(%mul_4.0 : tensor<1x4x4x4xf32>) {
    ^bb0(%in0: f32, %out: f32):
      %e0 = arith.constant 5.00000000e-01 : f32
      %e1 = arith.mulf %in0, %e0 : f32
      linalg.yield %e1 : f32
    } -> tensor<1x4x4x4xf32>
    %cst2 = arith.constant dense<[[false, true, true, true], [false, false, true, true], [false, false, false, true], [false, false, false, false]]> : tensor<4x4xi1>
    %masked_fill.0 = tensor.empty() : tensor<1x4x4x4xf32>
    %masked_fill = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%mul_4, %cst2 : tensor<1x4x4x4xf32>, tensor<4x4xi1>) outs(%masked_fill.0 : tensor<1x4x4x4xf32>) {
    ^bb0(%in0: f32, %in1: i1, %out: f32):
      %e0 = arith.constant 0xFF800000 : f32
      %e1 = arith.select %in1, %e0, %in0 : f32
      linalg.yield %e1 : f32
    } -> tensor<1x4x4x4xf32>
    %_softmax.0 = tensor.empty() : tensor<1x4x4xf32>
    %_softmax.1 = arith.constant 0xFF800000 : f32
    %_softmax.2 = linalg.fill ins(%_softmax.1 : f32) outs(%_softmax.0 : tensor<1x4x4xf32>) -> tensor<1x4x4xf32>
    %_softmax.3 = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2)>], iterator_types = ["parallel", "parallel", "parallel", "reduction"]} ins(%masked_fill : tensor<1x4x4x4xf32>) outs(%_softmax.2 : tensor<1x4x4xf32>) {
    ^bb0(%in0: f32, %out: f32):
      %e0 = arith.maximumf %in0, %out : f32
      linalg.yield %e0 : f32
    } -> tensor<1x4x4xf32>
    %_softmax.4 = tensor.empty() : tensor<1x4x4x4xf32>
    %_softmax.5 = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%masked_fill, %_softmax.3 : tensor<1x4x4x4xf32>, tensor<1x4x4xf32>) outs(%_softmax.4 : tensor<1x4x4x4xf32>) {
    ^bb0(%in0: f32, %in1: f32, %out: f32):
      %e0 = arith.subf %in0, %in1 : f32
      %e1 = math.exp %e0 : f32
      linalg.yield %e1 : f32
    } -> tensor<1x4x4x4xf32>
    %_softmax.6 = tensor.empty() : tensor<1x4x4xf32>
    %_softmax.7 = arith.constant 0.00000000e+00 : f32
    %_softmax.8 = linalg.fill ins(%_softmax.7 : f32) outs(%_softmax.6 : tensor<1x4x4xf32>) -> tensor<1x4x4xf32>
    %_softmax.9 = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2)>], iterator_types = ["parallel", "parallel", "parallel", "reduction"]} ins(%_softmax.5 : tensor<1x4x4x4xf32>) outs(%_softmax.8 : tensor<1x4x4xf32>) {
    ^bb0(%in0: f32, %out: f32):
      %e0 = arith.addf %in0, %out : f32
      linalg.yield %e0 : f32
    } -> tensor<1x4x4xf32>
    %_softmax.10 = tensor.empty() : tensor<1x4x4x4xf32>
    %_softmax = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%_softmax.5, %_softmax.9 : tensor<1x4x4x4xf32>, tensor<1x4x4xf32>) outs(%_softmax.10 : tensor<1x4x4x4xf32>) {
    ^bb0(%in0: f32, %in1: f32, %out: f32):
      %e0 = arith.divf %in0, %in1 : f32
      linalg.yield %e0 : f32
    } -> tensor<1x4x4x4xf32>
    %_reshape_alias_4 = tensor.collapse_shape %_softmax [[0, 1], [2], [3]] : tensor<1x4x4x4xf32> into tensor<4x4x4xf32>
    %_reshape_alias_5 = tensor.collapse_shape %index_select_1 [[0, 1], [2], [3]] : tensor<1x4x4x4xf32> into tensor<4x4x4xf32>
    %bmm_1.0 = tensor.empty() : tensor<4x4x4xf32>
    %bmm_1.1 = arith.constant 0.00000000e+00 : f32
    %bmm_1.2 = linalg.fill ins(%bmm_1.1 : f32) outs(%bmm_1.0 : tensor<4x4x4xf32>) -> tensor<4x4x4xf32>
    %bmm_1 = linalg.batch_matmul ins(%_reshape_alias_4, %_reshape_alias_5 : tensor<4x4x4xf32>, tensor<4x4x4xf32>) outs(%bmm_1.2 : tensor<4x4x4xf32>) -> tensor<4x4x4xf32>
    %_unsafe_view_1 = tensor.expand_shape %bmm_1 [[0, 1], [2], [3]] output_shape [1, 4, 4, 4] : tensor<4x4x4xf32> into tensor<1x4x4x4xf32>
    return %_unsafe_view_1 : tensor<1x4x4x4xf32>
  }
}

// -----

// GQA written as Llama's repeat_kv (expand + reshape).
// CHECK-LABEL: func.func @gqa_repeat_kv(
// CHECK-SAME: %[[Q:[^:]+]]: tensor<1x4x4x4xf32>, %[[K:[^:]+]]: tensor<1x2x4x4xf32>, %[[V:[^:]+]]: tensor<1x2x4x4xf32>
// CHECK: kvshift.kv_shift_attention %[[Q]], %[[K]], %[[V]] mix(%{{.*}}, %{{.*}}) causal scale = 5.000000e-01 : (tensor<1x4x4x4xf32>, tensor<1x2x4x4xf32>, tensor<1x2x4x4xf32>, tensor<2x2xf32>, tensor<2x2xf32>)
// CHECK-NOT: tensor.collapse_shape
module {
  func.func @gqa_repeat_kv(%q: tensor<1x4x4x4xf32>, %k: tensor<1x2x4x4xf32>, %v: tensor<1x2x4x4xf32>, %a1: tensor<2x1x1xf32>, %a2: tensor<2x1x1xf32>, %b1: tensor<2x1x1xf32>, %b2: tensor<2x1x1xf32>) -> (tensor<1x4x4x4xf32>) {
    %mul.0 = tensor.empty() : tensor<1x2x4x4xf32>
    %mul = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d1, 0, 0)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%a1, %k : tensor<2x1x1xf32>, tensor<1x2x4x4xf32>) outs(%mul.0 : tensor<1x2x4x4xf32>) {
    ^bb0(%in0: f32, %in1: f32, %out: f32):
      %e0 = arith.mulf %in0, %in1 : f32
      linalg.yield %e0 : f32
    } -> tensor<1x2x4x4xf32>
    %constant_pad_nd.0 = arith.constant 0.00000000e+00 : f32
    %constant_pad_nd = tensor.pad %k low[0, 0, 1, 0] high[0, 0, 0, 0] {
    ^bb0(%i0: index, %i1: index, %i2: index, %i3: index):
      tensor.yield %constant_pad_nd.0 : f32
    } : tensor<1x2x4x4xf32> to tensor<1x2x5x4xf32>
    %slice_3 = tensor.extract_slice %constant_pad_nd[0, 0, 0, 0] [1, 2, 4, 4] [1, 1, 1, 1] : tensor<1x2x5x4xf32> to tensor<1x2x4x4xf32>
    %mul_1.0 = tensor.empty() : tensor<1x2x4x4xf32>
    %mul_1 = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d1, 0, 0)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%a2, %slice_3 : tensor<2x1x1xf32>, tensor<1x2x4x4xf32>) outs(%mul_1.0 : tensor<1x2x4x4xf32>) {
    ^bb0(%in0: f32, %in1: f32, %out: f32):
      %e0 = arith.mulf %in0, %in1 : f32
      linalg.yield %e0 : f32
    } -> tensor<1x2x4x4xf32>
    %add.0 = tensor.empty() : tensor<1x2x4x4xf32>
    %add = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%mul, %mul_1 : tensor<1x2x4x4xf32>, tensor<1x2x4x4xf32>) outs(%add.0 : tensor<1x2x4x4xf32>) {
    ^bb0(%in0: f32, %in1: f32, %out: f32):
      %e0 = arith.addf %in0, %in1 : f32
      linalg.yield %e0 : f32
    } -> tensor<1x2x4x4xf32>
    %mul_2.0 = tensor.empty() : tensor<1x2x4x4xf32>
    %mul_2 = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d1, 0, 0)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%b1, %v : tensor<2x1x1xf32>, tensor<1x2x4x4xf32>) outs(%mul_2.0 : tensor<1x2x4x4xf32>) {
    ^bb0(%in0: f32, %in1: f32, %out: f32):
      %e0 = arith.mulf %in0, %in1 : f32
      linalg.yield %e0 : f32
    } -> tensor<1x2x4x4xf32>
    %constant_pad_nd_1.0 = arith.constant 0.00000000e+00 : f32
    %constant_pad_nd_1 = tensor.pad %v low[0, 0, 1, 0] high[0, 0, 0, 0] {
    ^bb0(%i0: index, %i1: index, %i2: index, %i3: index):
      tensor.yield %constant_pad_nd_1.0 : f32
    } : tensor<1x2x4x4xf32> to tensor<1x2x5x4xf32>
    %slice_6 = tensor.extract_slice %constant_pad_nd_1[0, 0, 0, 0] [1, 2, 4, 4] [1, 1, 1, 1] : tensor<1x2x5x4xf32> to tensor<1x2x4x4xf32>
    %mul_3.0 = tensor.empty() : tensor<1x2x4x4xf32>
    %mul_3 = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d1, 0, 0)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%b2, %slice_6 : tensor<2x1x1xf32>, tensor<1x2x4x4xf32>) outs(%mul_3.0 : tensor<1x2x4x4xf32>) {
    ^bb0(%in0: f32, %in1: f32, %out: f32):
      %e0 = arith.mulf %in0, %in1 : f32
      linalg.yield %e0 : f32
    } -> tensor<1x2x4x4xf32>
    %add_1.0 = tensor.empty() : tensor<1x2x4x4xf32>
    %add_1 = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%mul_2, %mul_3 : tensor<1x2x4x4xf32>, tensor<1x2x4x4xf32>) outs(%add_1.0 : tensor<1x2x4x4xf32>) {
    ^bb0(%in0: f32, %in1: f32, %out: f32):
      %e0 = arith.addf %in0, %in1 : f32
      linalg.yield %e0 : f32
    } -> tensor<1x2x4x4xf32>
    %unsqueeze = tensor.expand_shape %add [[0], [1], [2, 3], [4]] output_shape [1, 2, 1, 4, 4] : tensor<1x2x4x4xf32> into tensor<1x2x1x4x4xf32>
    %expand.0 = tensor.empty() : tensor<1x2x2x4x4xf32>
    %expand = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3, d4) -> (d0, d1, 0, d3, d4)>, affine_map<(d0, d1, d2, d3, d4) -> (d0, d1, d2, d3, d4)>], iterator_types = ["parallel", "parallel", "parallel", "parallel", "parallel"]} ins(%unsqueeze : tensor<1x2x1x4x4xf32>) outs(%expand.0 : tensor<1x2x2x4x4xf32>) {
    ^bb0(%in0: f32, %out: f32):
      linalg.yield %in0 : f32
    } -> tensor<1x2x2x4x4xf32>
    %_unsafe_view = tensor.collapse_shape %expand [[0], [1, 2], [3], [4]] : tensor<1x2x2x4x4xf32> into tensor<1x4x4x4xf32>
    %unsqueeze_1 = tensor.expand_shape %add_1 [[0], [1], [2, 3], [4]] output_shape [1, 2, 1, 4, 4] : tensor<1x2x4x4xf32> into tensor<1x2x1x4x4xf32>
    %expand_1.0 = tensor.empty() : tensor<1x2x2x4x4xf32>
    %expand_1 = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3, d4) -> (d0, d1, 0, d3, d4)>, affine_map<(d0, d1, d2, d3, d4) -> (d0, d1, d2, d3, d4)>], iterator_types = ["parallel", "parallel", "parallel", "parallel", "parallel"]} ins(%unsqueeze_1 : tensor<1x2x1x4x4xf32>) outs(%expand_1.0 : tensor<1x2x2x4x4xf32>) {
    ^bb0(%in0: f32, %out: f32):
      linalg.yield %in0 : f32
    } -> tensor<1x2x2x4x4xf32>
    %_unsafe_view_1 = tensor.collapse_shape %expand_1 [[0], [1, 2], [3], [4]] : tensor<1x2x2x4x4xf32> into tensor<1x4x4x4xf32>
    %transpose.0 = tensor.empty() : tensor<1x4x4x4xf32>
    %transpose = linalg.transpose ins(%_unsafe_view : tensor<1x4x4x4xf32>) outs(%transpose.0 : tensor<1x4x4x4xf32>) permutation = [0, 1, 3, 2]
    %_reshape_alias = tensor.collapse_shape %q [[0, 1], [2], [3]] : tensor<1x4x4x4xf32> into tensor<4x4x4xf32>
    %_reshape_alias_1 = tensor.collapse_shape %transpose [[0, 1], [2], [3]] : tensor<1x4x4x4xf32> into tensor<4x4x4xf32>
    %bmm.0 = tensor.empty() : tensor<4x4x4xf32>
    %bmm.1 = arith.constant 0.00000000e+00 : f32
    %bmm.2 = linalg.fill ins(%bmm.1 : f32) outs(%bmm.0 : tensor<4x4x4xf32>) -> tensor<4x4x4xf32>
    %bmm = linalg.batch_matmul ins(%_reshape_alias, %_reshape_alias_1 : tensor<4x4x4xf32>, tensor<4x4x4xf32>) outs(%bmm.2 : tensor<4x4x4xf32>) -> tensor<4x4x4xf32>
    %_unsafe_view_2 = tensor.expand_shape %bmm [[0, 1], [2], [3]] output_shape [1, 4, 4, 4] : tensor<4x4x4xf32> into tensor<1x4x4x4xf32>
    %mul_4.0 = tensor.empty() : tensor<1x4x4x4xf32>
    %mul_4 = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%_unsafe_view_2 : tensor<1x4x4x4xf32>) outs(%mul_4.0 : tensor<1x4x4x4xf32>) {
    ^bb0(%in0: f32, %out: f32):
      %e0 = arith.constant 5.00000000e-01 : f32
      %e1 = arith.mulf %in0, %e0 : f32
      linalg.yield %e1 : f32
    } -> tensor<1x4x4x4xf32>
    %cst0 = arith.constant dense<[[false, true, true, true], [false, false, true, true], [false, false, false, true], [false, false, false, false]]> : tensor<4x4xi1>
    %masked_fill.0 = tensor.empty() : tensor<1x4x4x4xf32>
    %masked_fill = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%mul_4, %cst0 : tensor<1x4x4x4xf32>, tensor<4x4xi1>) outs(%masked_fill.0 : tensor<1x4x4x4xf32>) {
    ^bb0(%in0: f32, %in1: i1, %out: f32):
      %e0 = arith.constant 0xFF800000 : f32
      %e1 = arith.select %in1, %e0, %in0 : f32
      linalg.yield %e1 : f32
    } -> tensor<1x4x4x4xf32>
    %_softmax.0 = tensor.empty() : tensor<1x4x4xf32>
    %_softmax.1 = arith.constant 0xFF800000 : f32
    %_softmax.2 = linalg.fill ins(%_softmax.1 : f32) outs(%_softmax.0 : tensor<1x4x4xf32>) -> tensor<1x4x4xf32>
    %_softmax.3 = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2)>], iterator_types = ["parallel", "parallel", "parallel", "reduction"]} ins(%masked_fill : tensor<1x4x4x4xf32>) outs(%_softmax.2 : tensor<1x4x4xf32>) {
    ^bb0(%in0: f32, %out: f32):
      %e0 = arith.maximumf %in0, %out : f32
      linalg.yield %e0 : f32
    } -> tensor<1x4x4xf32>
    %_softmax.4 = tensor.empty() : tensor<1x4x4x4xf32>
    %_softmax.5 = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%masked_fill, %_softmax.3 : tensor<1x4x4x4xf32>, tensor<1x4x4xf32>) outs(%_softmax.4 : tensor<1x4x4x4xf32>) {
    ^bb0(%in0: f32, %in1: f32, %out: f32):
      %e0 = arith.subf %in0, %in1 : f32
      %e1 = math.exp %e0 : f32
      linalg.yield %e1 : f32
    } -> tensor<1x4x4x4xf32>
    %_softmax.6 = tensor.empty() : tensor<1x4x4xf32>
    %_softmax.7 = arith.constant 0.00000000e+00 : f32
    %_softmax.8 = linalg.fill ins(%_softmax.7 : f32) outs(%_softmax.6 : tensor<1x4x4xf32>) -> tensor<1x4x4xf32>
    %_softmax.9 = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2)>], iterator_types = ["parallel", "parallel", "parallel", "reduction"]} ins(%_softmax.5 : tensor<1x4x4x4xf32>) outs(%_softmax.8 : tensor<1x4x4xf32>) {
    ^bb0(%in0: f32, %out: f32):
      %e0 = arith.addf %in0, %out : f32
      linalg.yield %e0 : f32
    } -> tensor<1x4x4xf32>
    %_softmax.10 = tensor.empty() : tensor<1x4x4x4xf32>
    %_softmax = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%_softmax.5, %_softmax.9 : tensor<1x4x4x4xf32>, tensor<1x4x4xf32>) outs(%_softmax.10 : tensor<1x4x4x4xf32>) {
    ^bb0(%in0: f32, %in1: f32, %out: f32):
      %e0 = arith.divf %in0, %in1 : f32
      linalg.yield %e0 : f32
    } -> tensor<1x4x4x4xf32>
    %_reshape_alias_2 = tensor.collapse_shape %_softmax [[0, 1], [2], [3]] : tensor<1x4x4x4xf32> into tensor<4x4x4xf32>
    %_reshape_alias_3 = tensor.collapse_shape %_unsafe_view_1 [[0, 1], [2], [3]] : tensor<1x4x4x4xf32> into tensor<4x4x4xf32>
    %bmm_1.0 = tensor.empty() : tensor<4x4x4xf32>
    %bmm_1.1 = arith.constant 0.00000000e+00 : f32
    %bmm_1.2 = linalg.fill ins(%bmm_1.1 : f32) outs(%bmm_1.0 : tensor<4x4x4xf32>) -> tensor<4x4x4xf32>
    %bmm_1 = linalg.batch_matmul ins(%_reshape_alias_2, %_reshape_alias_3 : tensor<4x4x4xf32>, tensor<4x4x4xf32>) outs(%bmm_1.2 : tensor<4x4x4xf32>) -> tensor<4x4x4xf32>
    %_unsafe_view_3 = tensor.expand_shape %bmm_1 [[0, 1], [2], [3]] output_shape [1, 4, 4, 4] : tensor<4x4x4xf32> into tensor<1x4x4x4xf32>
    return %_unsafe_view_3 : tensor<1x4x4x4xf32>
  }
}

// -----

// k.repeat(1, 2, 1, 1) tiles the heads (head h reads h % 2): not the op's
// grouping, so the tiled tensors stay and the attention over them is raised
// with 4 KV heads and weights [1, 0].
// CHECK-LABEL: func.func @gqa_tiled(
// CHECK: %[[KT:.+]] = linalg.generic {indexing_maps = [#map{{[0-9]*}}], {{.*}} outs(%{{.*}} : tensor<1x4x4x4xf32>)
// CHECK: %[[VT:.+]] = linalg.generic {indexing_maps = [#map{{[0-9]*}}], {{.*}} outs(%{{.*}} : tensor<1x4x4x4xf32>)
// CHECK: kvshift.kv_shift_attention %{{.*}}, %[[KT]], %[[VT]] mix(%{{.*}}, %{{.*}}) causal scale = 5.000000e-01 : (tensor<1x4x4x4xf32>, tensor<1x4x4x4xf32>, tensor<1x4x4x4xf32>, tensor<4x2xf32>, tensor<4x2xf32>)
module {
  func.func @gqa_tiled(%q: tensor<1x4x4x4xf32>, %k: tensor<1x2x4x4xf32>, %v: tensor<1x2x4x4xf32>, %a1: tensor<2x1x1xf32>, %a2: tensor<2x1x1xf32>, %b1: tensor<2x1x1xf32>, %b2: tensor<2x1x1xf32>) -> (tensor<1x4x4x4xf32>) {
    %mul.0 = tensor.empty() : tensor<1x2x4x4xf32>
    %mul = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d1, 0, 0)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%a1, %k : tensor<2x1x1xf32>, tensor<1x2x4x4xf32>) outs(%mul.0 : tensor<1x2x4x4xf32>) {
    ^bb0(%in0: f32, %in1: f32, %out: f32):
      %e0 = arith.mulf %in0, %in1 : f32
      linalg.yield %e0 : f32
    } -> tensor<1x2x4x4xf32>
    %constant_pad_nd.0 = arith.constant 0.00000000e+00 : f32
    %constant_pad_nd = tensor.pad %k low[0, 0, 1, 0] high[0, 0, 0, 0] {
    ^bb0(%i0: index, %i1: index, %i2: index, %i3: index):
      tensor.yield %constant_pad_nd.0 : f32
    } : tensor<1x2x4x4xf32> to tensor<1x2x5x4xf32>
    %slice_3 = tensor.extract_slice %constant_pad_nd[0, 0, 0, 0] [1, 2, 4, 4] [1, 1, 1, 1] : tensor<1x2x5x4xf32> to tensor<1x2x4x4xf32>
    %mul_1.0 = tensor.empty() : tensor<1x2x4x4xf32>
    %mul_1 = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d1, 0, 0)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%a2, %slice_3 : tensor<2x1x1xf32>, tensor<1x2x4x4xf32>) outs(%mul_1.0 : tensor<1x2x4x4xf32>) {
    ^bb0(%in0: f32, %in1: f32, %out: f32):
      %e0 = arith.mulf %in0, %in1 : f32
      linalg.yield %e0 : f32
    } -> tensor<1x2x4x4xf32>
    %add.0 = tensor.empty() : tensor<1x2x4x4xf32>
    %add = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%mul, %mul_1 : tensor<1x2x4x4xf32>, tensor<1x2x4x4xf32>) outs(%add.0 : tensor<1x2x4x4xf32>) {
    ^bb0(%in0: f32, %in1: f32, %out: f32):
      %e0 = arith.addf %in0, %in1 : f32
      linalg.yield %e0 : f32
    } -> tensor<1x2x4x4xf32>
    %mul_2.0 = tensor.empty() : tensor<1x2x4x4xf32>
    %mul_2 = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d1, 0, 0)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%b1, %v : tensor<2x1x1xf32>, tensor<1x2x4x4xf32>) outs(%mul_2.0 : tensor<1x2x4x4xf32>) {
    ^bb0(%in0: f32, %in1: f32, %out: f32):
      %e0 = arith.mulf %in0, %in1 : f32
      linalg.yield %e0 : f32
    } -> tensor<1x2x4x4xf32>
    %constant_pad_nd_1.0 = arith.constant 0.00000000e+00 : f32
    %constant_pad_nd_1 = tensor.pad %v low[0, 0, 1, 0] high[0, 0, 0, 0] {
    ^bb0(%i0: index, %i1: index, %i2: index, %i3: index):
      tensor.yield %constant_pad_nd_1.0 : f32
    } : tensor<1x2x4x4xf32> to tensor<1x2x5x4xf32>
    %slice_6 = tensor.extract_slice %constant_pad_nd_1[0, 0, 0, 0] [1, 2, 4, 4] [1, 1, 1, 1] : tensor<1x2x5x4xf32> to tensor<1x2x4x4xf32>
    %mul_3.0 = tensor.empty() : tensor<1x2x4x4xf32>
    %mul_3 = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d1, 0, 0)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%b2, %slice_6 : tensor<2x1x1xf32>, tensor<1x2x4x4xf32>) outs(%mul_3.0 : tensor<1x2x4x4xf32>) {
    ^bb0(%in0: f32, %in1: f32, %out: f32):
      %e0 = arith.mulf %in0, %in1 : f32
      linalg.yield %e0 : f32
    } -> tensor<1x2x4x4xf32>
    %add_1.0 = tensor.empty() : tensor<1x2x4x4xf32>
    %add_1 = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%mul_2, %mul_3 : tensor<1x2x4x4xf32>, tensor<1x2x4x4xf32>) outs(%add_1.0 : tensor<1x2x4x4xf32>) {
    ^bb0(%in0: f32, %in1: f32, %out: f32):
      %e0 = arith.addf %in0, %in1 : f32
      linalg.yield %e0 : f32
    } -> tensor<1x2x4x4xf32>
    %repeat.0 = tensor.empty() : tensor<1x4x4x4xf32>
    %repeat = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} outs(%repeat.0 : tensor<1x4x4x4xf32>) {
    ^bb0(%out: f32):
      %e0 = linalg.index 0 : index
      %e1 = linalg.index 1 : index
      %e2 = linalg.index 2 : index
      %e3 = linalg.index 3 : index
      %e4 = arith.constant 1 : index
      %e5 = arith.remui %e0, %e4 : index
      %e6 = arith.constant 2 : index
      %e7 = arith.remui %e1, %e6 : index
      %e8 = arith.constant 4 : index
      %e9 = arith.remui %e2, %e8 : index
      %e10 = arith.constant 4 : index
      %e11 = arith.remui %e3, %e10 : index
      %e12 = tensor.extract %add[%e5, %e7, %e9, %e11] : tensor<1x2x4x4xf32>
      linalg.yield %e12 : f32
    } -> tensor<1x4x4x4xf32>
    %repeat_1.0 = tensor.empty() : tensor<1x4x4x4xf32>
    %repeat_1 = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} outs(%repeat_1.0 : tensor<1x4x4x4xf32>) {
    ^bb0(%out: f32):
      %e0 = linalg.index 0 : index
      %e1 = linalg.index 1 : index
      %e2 = linalg.index 2 : index
      %e3 = linalg.index 3 : index
      %e4 = arith.constant 1 : index
      %e5 = arith.remui %e0, %e4 : index
      %e6 = arith.constant 2 : index
      %e7 = arith.remui %e1, %e6 : index
      %e8 = arith.constant 4 : index
      %e9 = arith.remui %e2, %e8 : index
      %e10 = arith.constant 4 : index
      %e11 = arith.remui %e3, %e10 : index
      %e12 = tensor.extract %add_1[%e5, %e7, %e9, %e11] : tensor<1x2x4x4xf32>
      linalg.yield %e12 : f32
    } -> tensor<1x4x4x4xf32>
    %transpose.0 = tensor.empty() : tensor<1x4x4x4xf32>
    %transpose = linalg.transpose ins(%repeat : tensor<1x4x4x4xf32>) outs(%transpose.0 : tensor<1x4x4x4xf32>) permutation = [0, 1, 3, 2]
    %_reshape_alias = tensor.collapse_shape %q [[0, 1], [2], [3]] : tensor<1x4x4x4xf32> into tensor<4x4x4xf32>
    %_reshape_alias_1 = tensor.collapse_shape %transpose [[0, 1], [2], [3]] : tensor<1x4x4x4xf32> into tensor<4x4x4xf32>
    %bmm.0 = tensor.empty() : tensor<4x4x4xf32>
    %bmm.1 = arith.constant 0.00000000e+00 : f32
    %bmm.2 = linalg.fill ins(%bmm.1 : f32) outs(%bmm.0 : tensor<4x4x4xf32>) -> tensor<4x4x4xf32>
    %bmm = linalg.batch_matmul ins(%_reshape_alias, %_reshape_alias_1 : tensor<4x4x4xf32>, tensor<4x4x4xf32>) outs(%bmm.2 : tensor<4x4x4xf32>) -> tensor<4x4x4xf32>
    %_unsafe_view = tensor.expand_shape %bmm [[0, 1], [2], [3]] output_shape [1, 4, 4, 4] : tensor<4x4x4xf32> into tensor<1x4x4x4xf32>
    %mul_4.0 = tensor.empty() : tensor<1x4x4x4xf32>
    %mul_4 = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%_unsafe_view : tensor<1x4x4x4xf32>) outs(%mul_4.0 : tensor<1x4x4x4xf32>) {
    ^bb0(%in0: f32, %out: f32):
      %e0 = arith.constant 5.00000000e-01 : f32
      %e1 = arith.mulf %in0, %e0 : f32
      linalg.yield %e1 : f32
    } -> tensor<1x4x4x4xf32>
    %cst0 = arith.constant dense<[[false, true, true, true], [false, false, true, true], [false, false, false, true], [false, false, false, false]]> : tensor<4x4xi1>
    %masked_fill.0 = tensor.empty() : tensor<1x4x4x4xf32>
    %masked_fill = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%mul_4, %cst0 : tensor<1x4x4x4xf32>, tensor<4x4xi1>) outs(%masked_fill.0 : tensor<1x4x4x4xf32>) {
    ^bb0(%in0: f32, %in1: i1, %out: f32):
      %e0 = arith.constant 0xFF800000 : f32
      %e1 = arith.select %in1, %e0, %in0 : f32
      linalg.yield %e1 : f32
    } -> tensor<1x4x4x4xf32>
    %_softmax.0 = tensor.empty() : tensor<1x4x4xf32>
    %_softmax.1 = arith.constant 0xFF800000 : f32
    %_softmax.2 = linalg.fill ins(%_softmax.1 : f32) outs(%_softmax.0 : tensor<1x4x4xf32>) -> tensor<1x4x4xf32>
    %_softmax.3 = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2)>], iterator_types = ["parallel", "parallel", "parallel", "reduction"]} ins(%masked_fill : tensor<1x4x4x4xf32>) outs(%_softmax.2 : tensor<1x4x4xf32>) {
    ^bb0(%in0: f32, %out: f32):
      %e0 = arith.maximumf %in0, %out : f32
      linalg.yield %e0 : f32
    } -> tensor<1x4x4xf32>
    %_softmax.4 = tensor.empty() : tensor<1x4x4x4xf32>
    %_softmax.5 = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%masked_fill, %_softmax.3 : tensor<1x4x4x4xf32>, tensor<1x4x4xf32>) outs(%_softmax.4 : tensor<1x4x4x4xf32>) {
    ^bb0(%in0: f32, %in1: f32, %out: f32):
      %e0 = arith.subf %in0, %in1 : f32
      %e1 = math.exp %e0 : f32
      linalg.yield %e1 : f32
    } -> tensor<1x4x4x4xf32>
    %_softmax.6 = tensor.empty() : tensor<1x4x4xf32>
    %_softmax.7 = arith.constant 0.00000000e+00 : f32
    %_softmax.8 = linalg.fill ins(%_softmax.7 : f32) outs(%_softmax.6 : tensor<1x4x4xf32>) -> tensor<1x4x4xf32>
    %_softmax.9 = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2)>], iterator_types = ["parallel", "parallel", "parallel", "reduction"]} ins(%_softmax.5 : tensor<1x4x4x4xf32>) outs(%_softmax.8 : tensor<1x4x4xf32>) {
    ^bb0(%in0: f32, %out: f32):
      %e0 = arith.addf %in0, %out : f32
      linalg.yield %e0 : f32
    } -> tensor<1x4x4xf32>
    %_softmax.10 = tensor.empty() : tensor<1x4x4x4xf32>
    %_softmax = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%_softmax.5, %_softmax.9 : tensor<1x4x4x4xf32>, tensor<1x4x4xf32>) outs(%_softmax.10 : tensor<1x4x4x4xf32>) {
    ^bb0(%in0: f32, %in1: f32, %out: f32):
      %e0 = arith.divf %in0, %in1 : f32
      linalg.yield %e0 : f32
    } -> tensor<1x4x4x4xf32>
    %_reshape_alias_2 = tensor.collapse_shape %_softmax [[0, 1], [2], [3]] : tensor<1x4x4x4xf32> into tensor<4x4x4xf32>
    %_reshape_alias_3 = tensor.collapse_shape %repeat_1 [[0, 1], [2], [3]] : tensor<1x4x4x4xf32> into tensor<4x4x4xf32>
    %bmm_1.0 = tensor.empty() : tensor<4x4x4xf32>
    %bmm_1.1 = arith.constant 0.00000000e+00 : f32
    %bmm_1.2 = linalg.fill ins(%bmm_1.1 : f32) outs(%bmm_1.0 : tensor<4x4x4xf32>) -> tensor<4x4x4xf32>
    %bmm_1 = linalg.batch_matmul ins(%_reshape_alias_2, %_reshape_alias_3 : tensor<4x4x4xf32>, tensor<4x4x4xf32>) outs(%bmm_1.2 : tensor<4x4x4xf32>) -> tensor<4x4x4xf32>
    %_unsafe_view_1 = tensor.expand_shape %bmm_1 [[0, 1], [2], [3]] output_shape [1, 4, 4, 4] : tensor<4x4x4xf32> into tensor<1x4x4x4xf32>
    return %_unsafe_view_1 : tensor<1x4x4x4xf32>
  }
}

// -----

// A triu(2) mask (one extra visible key) is not causal: nothing is raised.
// CHECK-LABEL: func.func @neg_not_causal(
// CHECK-NOT: kvshift.kv_shift_attention
// CHECK: linalg.batch_matmul
// CHECK: arith.select
// CHECK: math.exp
// CHECK: linalg.batch_matmul
module {
  func.func @neg_not_causal(%q: tensor<1x2x4x4xf32>, %k: tensor<1x2x4x4xf32>, %v: tensor<1x2x4x4xf32>, %a1: tensor<2x1x1xf32>, %a2: tensor<2x1x1xf32>, %b1: tensor<2x1x1xf32>, %b2: tensor<2x1x1xf32>) -> (tensor<1x2x4x4xf32>) {
    %mul.0 = tensor.empty() : tensor<1x2x4x4xf32>
    %mul = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d1, 0, 0)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%a1, %k : tensor<2x1x1xf32>, tensor<1x2x4x4xf32>) outs(%mul.0 : tensor<1x2x4x4xf32>) {
    ^bb0(%in0: f32, %in1: f32, %out: f32):
      %e0 = arith.mulf %in0, %in1 : f32
      linalg.yield %e0 : f32
    } -> tensor<1x2x4x4xf32>
    %constant_pad_nd.0 = arith.constant 0.00000000e+00 : f32
    %constant_pad_nd = tensor.pad %k low[0, 0, 1, 0] high[0, 0, 0, 0] {
    ^bb0(%i0: index, %i1: index, %i2: index, %i3: index):
      tensor.yield %constant_pad_nd.0 : f32
    } : tensor<1x2x4x4xf32> to tensor<1x2x5x4xf32>
    %slice_3 = tensor.extract_slice %constant_pad_nd[0, 0, 0, 0] [1, 2, 4, 4] [1, 1, 1, 1] : tensor<1x2x5x4xf32> to tensor<1x2x4x4xf32>
    %mul_1.0 = tensor.empty() : tensor<1x2x4x4xf32>
    %mul_1 = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d1, 0, 0)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%a2, %slice_3 : tensor<2x1x1xf32>, tensor<1x2x4x4xf32>) outs(%mul_1.0 : tensor<1x2x4x4xf32>) {
    ^bb0(%in0: f32, %in1: f32, %out: f32):
      %e0 = arith.mulf %in0, %in1 : f32
      linalg.yield %e0 : f32
    } -> tensor<1x2x4x4xf32>
    %add.0 = tensor.empty() : tensor<1x2x4x4xf32>
    %add = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%mul, %mul_1 : tensor<1x2x4x4xf32>, tensor<1x2x4x4xf32>) outs(%add.0 : tensor<1x2x4x4xf32>) {
    ^bb0(%in0: f32, %in1: f32, %out: f32):
      %e0 = arith.addf %in0, %in1 : f32
      linalg.yield %e0 : f32
    } -> tensor<1x2x4x4xf32>
    %mul_2.0 = tensor.empty() : tensor<1x2x4x4xf32>
    %mul_2 = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d1, 0, 0)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%b1, %v : tensor<2x1x1xf32>, tensor<1x2x4x4xf32>) outs(%mul_2.0 : tensor<1x2x4x4xf32>) {
    ^bb0(%in0: f32, %in1: f32, %out: f32):
      %e0 = arith.mulf %in0, %in1 : f32
      linalg.yield %e0 : f32
    } -> tensor<1x2x4x4xf32>
    %constant_pad_nd_1.0 = arith.constant 0.00000000e+00 : f32
    %constant_pad_nd_1 = tensor.pad %v low[0, 0, 1, 0] high[0, 0, 0, 0] {
    ^bb0(%i0: index, %i1: index, %i2: index, %i3: index):
      tensor.yield %constant_pad_nd_1.0 : f32
    } : tensor<1x2x4x4xf32> to tensor<1x2x5x4xf32>
    %slice_6 = tensor.extract_slice %constant_pad_nd_1[0, 0, 0, 0] [1, 2, 4, 4] [1, 1, 1, 1] : tensor<1x2x5x4xf32> to tensor<1x2x4x4xf32>
    %mul_3.0 = tensor.empty() : tensor<1x2x4x4xf32>
    %mul_3 = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d1, 0, 0)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%b2, %slice_6 : tensor<2x1x1xf32>, tensor<1x2x4x4xf32>) outs(%mul_3.0 : tensor<1x2x4x4xf32>) {
    ^bb0(%in0: f32, %in1: f32, %out: f32):
      %e0 = arith.mulf %in0, %in1 : f32
      linalg.yield %e0 : f32
    } -> tensor<1x2x4x4xf32>
    %add_1.0 = tensor.empty() : tensor<1x2x4x4xf32>
    %add_1 = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%mul_2, %mul_3 : tensor<1x2x4x4xf32>, tensor<1x2x4x4xf32>) outs(%add_1.0 : tensor<1x2x4x4xf32>) {
    ^bb0(%in0: f32, %in1: f32, %out: f32):
      %e0 = arith.addf %in0, %in1 : f32
      linalg.yield %e0 : f32
    } -> tensor<1x2x4x4xf32>
    %transpose.0 = tensor.empty() : tensor<1x2x4x4xf32>
    %transpose = linalg.transpose ins(%add : tensor<1x2x4x4xf32>) outs(%transpose.0 : tensor<1x2x4x4xf32>) permutation = [0, 1, 3, 2]
    %_reshape_alias = tensor.collapse_shape %q [[0, 1], [2], [3]] : tensor<1x2x4x4xf32> into tensor<2x4x4xf32>
    %_reshape_alias_1 = tensor.collapse_shape %transpose [[0, 1], [2], [3]] : tensor<1x2x4x4xf32> into tensor<2x4x4xf32>
    %bmm.0 = tensor.empty() : tensor<2x4x4xf32>
    %bmm.1 = arith.constant 0.00000000e+00 : f32
    %bmm.2 = linalg.fill ins(%bmm.1 : f32) outs(%bmm.0 : tensor<2x4x4xf32>) -> tensor<2x4x4xf32>
    %bmm = linalg.batch_matmul ins(%_reshape_alias, %_reshape_alias_1 : tensor<2x4x4xf32>, tensor<2x4x4xf32>) outs(%bmm.2 : tensor<2x4x4xf32>) -> tensor<2x4x4xf32>
    %_unsafe_view = tensor.expand_shape %bmm [[0, 1], [2], [3]] output_shape [1, 2, 4, 4] : tensor<2x4x4xf32> into tensor<1x2x4x4xf32>
    %mul_4.0 = tensor.empty() : tensor<1x2x4x4xf32>
    %mul_4 = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%_unsafe_view : tensor<1x2x4x4xf32>) outs(%mul_4.0 : tensor<1x2x4x4xf32>) {
    ^bb0(%in0: f32, %out: f32):
      %e0 = arith.constant 5.00000000e-01 : f32
      %e1 = arith.mulf %in0, %e0 : f32
      linalg.yield %e1 : f32
    } -> tensor<1x2x4x4xf32>
    %cst0 = arith.constant dense<[[false, false, true, true], [false, false, false, true], [false, false, false, false], [false, false, false, false]]> : tensor<4x4xi1>
    %masked_fill.0 = tensor.empty() : tensor<1x2x4x4xf32>
    %masked_fill = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%mul_4, %cst0 : tensor<1x2x4x4xf32>, tensor<4x4xi1>) outs(%masked_fill.0 : tensor<1x2x4x4xf32>) {
    ^bb0(%in0: f32, %in1: i1, %out: f32):
      %e0 = arith.constant 0xFF800000 : f32
      %e1 = arith.select %in1, %e0, %in0 : f32
      linalg.yield %e1 : f32
    } -> tensor<1x2x4x4xf32>
    %_softmax.0 = tensor.empty() : tensor<1x2x4xf32>
    %_softmax.1 = arith.constant 0xFF800000 : f32
    %_softmax.2 = linalg.fill ins(%_softmax.1 : f32) outs(%_softmax.0 : tensor<1x2x4xf32>) -> tensor<1x2x4xf32>
    %_softmax.3 = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2)>], iterator_types = ["parallel", "parallel", "parallel", "reduction"]} ins(%masked_fill : tensor<1x2x4x4xf32>) outs(%_softmax.2 : tensor<1x2x4xf32>) {
    ^bb0(%in0: f32, %out: f32):
      %e0 = arith.maximumf %in0, %out : f32
      linalg.yield %e0 : f32
    } -> tensor<1x2x4xf32>
    %_softmax.4 = tensor.empty() : tensor<1x2x4x4xf32>
    %_softmax.5 = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%masked_fill, %_softmax.3 : tensor<1x2x4x4xf32>, tensor<1x2x4xf32>) outs(%_softmax.4 : tensor<1x2x4x4xf32>) {
    ^bb0(%in0: f32, %in1: f32, %out: f32):
      %e0 = arith.subf %in0, %in1 : f32
      %e1 = math.exp %e0 : f32
      linalg.yield %e1 : f32
    } -> tensor<1x2x4x4xf32>
    %_softmax.6 = tensor.empty() : tensor<1x2x4xf32>
    %_softmax.7 = arith.constant 0.00000000e+00 : f32
    %_softmax.8 = linalg.fill ins(%_softmax.7 : f32) outs(%_softmax.6 : tensor<1x2x4xf32>) -> tensor<1x2x4xf32>
    %_softmax.9 = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2)>], iterator_types = ["parallel", "parallel", "parallel", "reduction"]} ins(%_softmax.5 : tensor<1x2x4x4xf32>) outs(%_softmax.8 : tensor<1x2x4xf32>) {
    ^bb0(%in0: f32, %out: f32):
      %e0 = arith.addf %in0, %out : f32
      linalg.yield %e0 : f32
    } -> tensor<1x2x4xf32>
    %_softmax.10 = tensor.empty() : tensor<1x2x4x4xf32>
    %_softmax = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%_softmax.5, %_softmax.9 : tensor<1x2x4x4xf32>, tensor<1x2x4xf32>) outs(%_softmax.10 : tensor<1x2x4x4xf32>) {
    ^bb0(%in0: f32, %in1: f32, %out: f32):
      %e0 = arith.divf %in0, %in1 : f32
      linalg.yield %e0 : f32
    } -> tensor<1x2x4x4xf32>
    %_reshape_alias_2 = tensor.collapse_shape %_softmax [[0, 1], [2], [3]] : tensor<1x2x4x4xf32> into tensor<2x4x4xf32>
    %_reshape_alias_3 = tensor.collapse_shape %add_1 [[0, 1], [2], [3]] : tensor<1x2x4x4xf32> into tensor<2x4x4xf32>
    %bmm_1.0 = tensor.empty() : tensor<2x4x4xf32>
    %bmm_1.1 = arith.constant 0.00000000e+00 : f32
    %bmm_1.2 = linalg.fill ins(%bmm_1.1 : f32) outs(%bmm_1.0 : tensor<2x4x4xf32>) -> tensor<2x4x4xf32>
    %bmm_1 = linalg.batch_matmul ins(%_reshape_alias_2, %_reshape_alias_3 : tensor<2x4x4xf32>, tensor<2x4x4xf32>) outs(%bmm_1.2 : tensor<2x4x4xf32>) -> tensor<2x4x4xf32>
    %_unsafe_view_1 = tensor.expand_shape %bmm_1 [[0, 1], [2], [3]] output_shape [1, 2, 4, 4] : tensor<2x4x4xf32> into tensor<1x2x4x4xf32>
    return %_unsafe_view_1 : tensor<1x2x4x4xf32>
  }
}

// -----

// Sq = 3 < Sk = 5 with triu(1): top-left aligned, not the op's causal rule.
// CHECK-LABEL: func.func @neg_top_left(
// CHECK-NOT: kvshift.kv_shift_attention
// CHECK: linalg.batch_matmul
// CHECK: linalg.batch_matmul
module {
  func.func @neg_top_left(%q: tensor<1x2x3x4xf32>, %k: tensor<1x2x5x4xf32>, %v: tensor<1x2x5x4xf32>, %a1: tensor<2x1x1xf32>, %a2: tensor<2x1x1xf32>, %b1: tensor<2x1x1xf32>, %b2: tensor<2x1x1xf32>) -> (tensor<1x2x3x4xf32>) {
    %mul.0 = tensor.empty() : tensor<1x2x5x4xf32>
    %mul = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d1, 0, 0)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%a1, %k : tensor<2x1x1xf32>, tensor<1x2x5x4xf32>) outs(%mul.0 : tensor<1x2x5x4xf32>) {
    ^bb0(%in0: f32, %in1: f32, %out: f32):
      %e0 = arith.mulf %in0, %in1 : f32
      linalg.yield %e0 : f32
    } -> tensor<1x2x5x4xf32>
    %constant_pad_nd.0 = arith.constant 0.00000000e+00 : f32
    %constant_pad_nd = tensor.pad %k low[0, 0, 1, 0] high[0, 0, 0, 0] {
    ^bb0(%i0: index, %i1: index, %i2: index, %i3: index):
      tensor.yield %constant_pad_nd.0 : f32
    } : tensor<1x2x5x4xf32> to tensor<1x2x6x4xf32>
    %slice_3 = tensor.extract_slice %constant_pad_nd[0, 0, 0, 0] [1, 2, 5, 4] [1, 1, 1, 1] : tensor<1x2x6x4xf32> to tensor<1x2x5x4xf32>
    %mul_1.0 = tensor.empty() : tensor<1x2x5x4xf32>
    %mul_1 = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d1, 0, 0)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%a2, %slice_3 : tensor<2x1x1xf32>, tensor<1x2x5x4xf32>) outs(%mul_1.0 : tensor<1x2x5x4xf32>) {
    ^bb0(%in0: f32, %in1: f32, %out: f32):
      %e0 = arith.mulf %in0, %in1 : f32
      linalg.yield %e0 : f32
    } -> tensor<1x2x5x4xf32>
    %add.0 = tensor.empty() : tensor<1x2x5x4xf32>
    %add = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%mul, %mul_1 : tensor<1x2x5x4xf32>, tensor<1x2x5x4xf32>) outs(%add.0 : tensor<1x2x5x4xf32>) {
    ^bb0(%in0: f32, %in1: f32, %out: f32):
      %e0 = arith.addf %in0, %in1 : f32
      linalg.yield %e0 : f32
    } -> tensor<1x2x5x4xf32>
    %mul_2.0 = tensor.empty() : tensor<1x2x5x4xf32>
    %mul_2 = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d1, 0, 0)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%b1, %v : tensor<2x1x1xf32>, tensor<1x2x5x4xf32>) outs(%mul_2.0 : tensor<1x2x5x4xf32>) {
    ^bb0(%in0: f32, %in1: f32, %out: f32):
      %e0 = arith.mulf %in0, %in1 : f32
      linalg.yield %e0 : f32
    } -> tensor<1x2x5x4xf32>
    %constant_pad_nd_1.0 = arith.constant 0.00000000e+00 : f32
    %constant_pad_nd_1 = tensor.pad %v low[0, 0, 1, 0] high[0, 0, 0, 0] {
    ^bb0(%i0: index, %i1: index, %i2: index, %i3: index):
      tensor.yield %constant_pad_nd_1.0 : f32
    } : tensor<1x2x5x4xf32> to tensor<1x2x6x4xf32>
    %slice_6 = tensor.extract_slice %constant_pad_nd_1[0, 0, 0, 0] [1, 2, 5, 4] [1, 1, 1, 1] : tensor<1x2x6x4xf32> to tensor<1x2x5x4xf32>
    %mul_3.0 = tensor.empty() : tensor<1x2x5x4xf32>
    %mul_3 = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d1, 0, 0)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%b2, %slice_6 : tensor<2x1x1xf32>, tensor<1x2x5x4xf32>) outs(%mul_3.0 : tensor<1x2x5x4xf32>) {
    ^bb0(%in0: f32, %in1: f32, %out: f32):
      %e0 = arith.mulf %in0, %in1 : f32
      linalg.yield %e0 : f32
    } -> tensor<1x2x5x4xf32>
    %add_1.0 = tensor.empty() : tensor<1x2x5x4xf32>
    %add_1 = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%mul_2, %mul_3 : tensor<1x2x5x4xf32>, tensor<1x2x5x4xf32>) outs(%add_1.0 : tensor<1x2x5x4xf32>) {
    ^bb0(%in0: f32, %in1: f32, %out: f32):
      %e0 = arith.addf %in0, %in1 : f32
      linalg.yield %e0 : f32
    } -> tensor<1x2x5x4xf32>
    %transpose.0 = tensor.empty() : tensor<1x2x4x5xf32>
    %transpose = linalg.transpose ins(%add : tensor<1x2x5x4xf32>) outs(%transpose.0 : tensor<1x2x4x5xf32>) permutation = [0, 1, 3, 2]
    %_reshape_alias = tensor.collapse_shape %q [[0, 1], [2], [3]] : tensor<1x2x3x4xf32> into tensor<2x3x4xf32>
    %_reshape_alias_1 = tensor.collapse_shape %transpose [[0, 1], [2], [3]] : tensor<1x2x4x5xf32> into tensor<2x4x5xf32>
    %bmm.0 = tensor.empty() : tensor<2x3x5xf32>
    %bmm.1 = arith.constant 0.00000000e+00 : f32
    %bmm.2 = linalg.fill ins(%bmm.1 : f32) outs(%bmm.0 : tensor<2x3x5xf32>) -> tensor<2x3x5xf32>
    %bmm = linalg.batch_matmul ins(%_reshape_alias, %_reshape_alias_1 : tensor<2x3x4xf32>, tensor<2x4x5xf32>) outs(%bmm.2 : tensor<2x3x5xf32>) -> tensor<2x3x5xf32>
    %_unsafe_view = tensor.expand_shape %bmm [[0, 1], [2], [3]] output_shape [1, 2, 3, 5] : tensor<2x3x5xf32> into tensor<1x2x3x5xf32>
    %mul_4.0 = tensor.empty() : tensor<1x2x3x5xf32>
    %mul_4 = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%_unsafe_view : tensor<1x2x3x5xf32>) outs(%mul_4.0 : tensor<1x2x3x5xf32>) {
    ^bb0(%in0: f32, %out: f32):
      %e0 = arith.constant 5.00000000e-01 : f32
      %e1 = arith.mulf %in0, %e0 : f32
      linalg.yield %e1 : f32
    } -> tensor<1x2x3x5xf32>
    %cst0 = arith.constant dense<[[false, true, true, true, true], [false, false, true, true, true], [false, false, false, true, true]]> : tensor<3x5xi1>
    %masked_fill.0 = tensor.empty() : tensor<1x2x3x5xf32>
    %masked_fill = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%mul_4, %cst0 : tensor<1x2x3x5xf32>, tensor<3x5xi1>) outs(%masked_fill.0 : tensor<1x2x3x5xf32>) {
    ^bb0(%in0: f32, %in1: i1, %out: f32):
      %e0 = arith.constant 0xFF800000 : f32
      %e1 = arith.select %in1, %e0, %in0 : f32
      linalg.yield %e1 : f32
    } -> tensor<1x2x3x5xf32>
    %_softmax.0 = tensor.empty() : tensor<1x2x3xf32>
    %_softmax.1 = arith.constant 0xFF800000 : f32
    %_softmax.2 = linalg.fill ins(%_softmax.1 : f32) outs(%_softmax.0 : tensor<1x2x3xf32>) -> tensor<1x2x3xf32>
    %_softmax.3 = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2)>], iterator_types = ["parallel", "parallel", "parallel", "reduction"]} ins(%masked_fill : tensor<1x2x3x5xf32>) outs(%_softmax.2 : tensor<1x2x3xf32>) {
    ^bb0(%in0: f32, %out: f32):
      %e0 = arith.maximumf %in0, %out : f32
      linalg.yield %e0 : f32
    } -> tensor<1x2x3xf32>
    %_softmax.4 = tensor.empty() : tensor<1x2x3x5xf32>
    %_softmax.5 = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%masked_fill, %_softmax.3 : tensor<1x2x3x5xf32>, tensor<1x2x3xf32>) outs(%_softmax.4 : tensor<1x2x3x5xf32>) {
    ^bb0(%in0: f32, %in1: f32, %out: f32):
      %e0 = arith.subf %in0, %in1 : f32
      %e1 = math.exp %e0 : f32
      linalg.yield %e1 : f32
    } -> tensor<1x2x3x5xf32>
    %_softmax.6 = tensor.empty() : tensor<1x2x3xf32>
    %_softmax.7 = arith.constant 0.00000000e+00 : f32
    %_softmax.8 = linalg.fill ins(%_softmax.7 : f32) outs(%_softmax.6 : tensor<1x2x3xf32>) -> tensor<1x2x3xf32>
    %_softmax.9 = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2)>], iterator_types = ["parallel", "parallel", "parallel", "reduction"]} ins(%_softmax.5 : tensor<1x2x3x5xf32>) outs(%_softmax.8 : tensor<1x2x3xf32>) {
    ^bb0(%in0: f32, %out: f32):
      %e0 = arith.addf %in0, %out : f32
      linalg.yield %e0 : f32
    } -> tensor<1x2x3xf32>
    %_softmax.10 = tensor.empty() : tensor<1x2x3x5xf32>
    %_softmax = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%_softmax.5, %_softmax.9 : tensor<1x2x3x5xf32>, tensor<1x2x3xf32>) outs(%_softmax.10 : tensor<1x2x3x5xf32>) {
    ^bb0(%in0: f32, %in1: f32, %out: f32):
      %e0 = arith.divf %in0, %in1 : f32
      linalg.yield %e0 : f32
    } -> tensor<1x2x3x5xf32>
    %_reshape_alias_2 = tensor.collapse_shape %_softmax [[0, 1], [2], [3]] : tensor<1x2x3x5xf32> into tensor<2x3x5xf32>
    %_reshape_alias_3 = tensor.collapse_shape %add_1 [[0, 1], [2], [3]] : tensor<1x2x5x4xf32> into tensor<2x5x4xf32>
    %bmm_1.0 = tensor.empty() : tensor<2x3x4xf32>
    %bmm_1.1 = arith.constant 0.00000000e+00 : f32
    %bmm_1.2 = linalg.fill ins(%bmm_1.1 : f32) outs(%bmm_1.0 : tensor<2x3x4xf32>) -> tensor<2x3x4xf32>
    %bmm_1 = linalg.batch_matmul ins(%_reshape_alias_2, %_reshape_alias_3 : tensor<2x3x5xf32>, tensor<2x5x4xf32>) outs(%bmm_1.2 : tensor<2x3x4xf32>) -> tensor<2x3x4xf32>
    %_unsafe_view_1 = tensor.expand_shape %bmm_1 [[0, 1], [2], [3]] output_shape [1, 2, 3, 4] : tensor<2x3x4xf32> into tensor<1x2x3x4xf32>
    return %_unsafe_view_1 : tensor<1x2x3x4xf32>
  }
}

// -----

// Masked with -inf, then multiplied by -0.5: +inf logits, not the op.
// CHECK-LABEL: func.func @neg_scale_after_mask(
// CHECK-NOT: kvshift.kv_shift_attention
// CHECK: linalg.batch_matmul
// CHECK: linalg.batch_matmul
module {
  func.func @neg_scale_after_mask(%q: tensor<1x2x4x4xf32>, %k: tensor<1x2x4x4xf32>, %v: tensor<1x2x4x4xf32>, %a1: tensor<2x1x1xf32>, %a2: tensor<2x1x1xf32>, %b1: tensor<2x1x1xf32>, %b2: tensor<2x1x1xf32>) -> (tensor<1x2x4x4xf32>) {
    %mul.0 = tensor.empty() : tensor<1x2x4x4xf32>
    %mul = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d1, 0, 0)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%a1, %k : tensor<2x1x1xf32>, tensor<1x2x4x4xf32>) outs(%mul.0 : tensor<1x2x4x4xf32>) {
    ^bb0(%in0: f32, %in1: f32, %out: f32):
      %e0 = arith.mulf %in0, %in1 : f32
      linalg.yield %e0 : f32
    } -> tensor<1x2x4x4xf32>
    %constant_pad_nd.0 = arith.constant 0.00000000e+00 : f32
    %constant_pad_nd = tensor.pad %k low[0, 0, 1, 0] high[0, 0, 0, 0] {
    ^bb0(%i0: index, %i1: index, %i2: index, %i3: index):
      tensor.yield %constant_pad_nd.0 : f32
    } : tensor<1x2x4x4xf32> to tensor<1x2x5x4xf32>
    %slice_3 = tensor.extract_slice %constant_pad_nd[0, 0, 0, 0] [1, 2, 4, 4] [1, 1, 1, 1] : tensor<1x2x5x4xf32> to tensor<1x2x4x4xf32>
    %mul_1.0 = tensor.empty() : tensor<1x2x4x4xf32>
    %mul_1 = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d1, 0, 0)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%a2, %slice_3 : tensor<2x1x1xf32>, tensor<1x2x4x4xf32>) outs(%mul_1.0 : tensor<1x2x4x4xf32>) {
    ^bb0(%in0: f32, %in1: f32, %out: f32):
      %e0 = arith.mulf %in0, %in1 : f32
      linalg.yield %e0 : f32
    } -> tensor<1x2x4x4xf32>
    %add.0 = tensor.empty() : tensor<1x2x4x4xf32>
    %add = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%mul, %mul_1 : tensor<1x2x4x4xf32>, tensor<1x2x4x4xf32>) outs(%add.0 : tensor<1x2x4x4xf32>) {
    ^bb0(%in0: f32, %in1: f32, %out: f32):
      %e0 = arith.addf %in0, %in1 : f32
      linalg.yield %e0 : f32
    } -> tensor<1x2x4x4xf32>
    %mul_2.0 = tensor.empty() : tensor<1x2x4x4xf32>
    %mul_2 = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d1, 0, 0)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%b1, %v : tensor<2x1x1xf32>, tensor<1x2x4x4xf32>) outs(%mul_2.0 : tensor<1x2x4x4xf32>) {
    ^bb0(%in0: f32, %in1: f32, %out: f32):
      %e0 = arith.mulf %in0, %in1 : f32
      linalg.yield %e0 : f32
    } -> tensor<1x2x4x4xf32>
    %constant_pad_nd_1.0 = arith.constant 0.00000000e+00 : f32
    %constant_pad_nd_1 = tensor.pad %v low[0, 0, 1, 0] high[0, 0, 0, 0] {
    ^bb0(%i0: index, %i1: index, %i2: index, %i3: index):
      tensor.yield %constant_pad_nd_1.0 : f32
    } : tensor<1x2x4x4xf32> to tensor<1x2x5x4xf32>
    %slice_6 = tensor.extract_slice %constant_pad_nd_1[0, 0, 0, 0] [1, 2, 4, 4] [1, 1, 1, 1] : tensor<1x2x5x4xf32> to tensor<1x2x4x4xf32>
    %mul_3.0 = tensor.empty() : tensor<1x2x4x4xf32>
    %mul_3 = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d1, 0, 0)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%b2, %slice_6 : tensor<2x1x1xf32>, tensor<1x2x4x4xf32>) outs(%mul_3.0 : tensor<1x2x4x4xf32>) {
    ^bb0(%in0: f32, %in1: f32, %out: f32):
      %e0 = arith.mulf %in0, %in1 : f32
      linalg.yield %e0 : f32
    } -> tensor<1x2x4x4xf32>
    %add_1.0 = tensor.empty() : tensor<1x2x4x4xf32>
    %add_1 = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%mul_2, %mul_3 : tensor<1x2x4x4xf32>, tensor<1x2x4x4xf32>) outs(%add_1.0 : tensor<1x2x4x4xf32>) {
    ^bb0(%in0: f32, %in1: f32, %out: f32):
      %e0 = arith.addf %in0, %in1 : f32
      linalg.yield %e0 : f32
    } -> tensor<1x2x4x4xf32>
    %transpose.0 = tensor.empty() : tensor<1x2x4x4xf32>
    %transpose = linalg.transpose ins(%add : tensor<1x2x4x4xf32>) outs(%transpose.0 : tensor<1x2x4x4xf32>) permutation = [0, 1, 3, 2]
    %_reshape_alias = tensor.collapse_shape %q [[0, 1], [2], [3]] : tensor<1x2x4x4xf32> into tensor<2x4x4xf32>
    %_reshape_alias_1 = tensor.collapse_shape %transpose [[0, 1], [2], [3]] : tensor<1x2x4x4xf32> into tensor<2x4x4xf32>
    %bmm.0 = tensor.empty() : tensor<2x4x4xf32>
    %bmm.1 = arith.constant 0.00000000e+00 : f32
    %bmm.2 = linalg.fill ins(%bmm.1 : f32) outs(%bmm.0 : tensor<2x4x4xf32>) -> tensor<2x4x4xf32>
    %bmm = linalg.batch_matmul ins(%_reshape_alias, %_reshape_alias_1 : tensor<2x4x4xf32>, tensor<2x4x4xf32>) outs(%bmm.2 : tensor<2x4x4xf32>) -> tensor<2x4x4xf32>
    %_unsafe_view = tensor.expand_shape %bmm [[0, 1], [2], [3]] output_shape [1, 2, 4, 4] : tensor<2x4x4xf32> into tensor<1x2x4x4xf32>
    %cst0 = arith.constant dense<[[false, true, true, true], [false, false, true, true], [false, false, false, true], [false, false, false, false]]> : tensor<4x4xi1>
    %masked_fill.0 = tensor.empty() : tensor<1x2x4x4xf32>
    %masked_fill = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%_unsafe_view, %cst0 : tensor<1x2x4x4xf32>, tensor<4x4xi1>) outs(%masked_fill.0 : tensor<1x2x4x4xf32>) {
    ^bb0(%in0: f32, %in1: i1, %out: f32):
      %e0 = arith.constant 0xFF800000 : f32
      %e1 = arith.select %in1, %e0, %in0 : f32
      linalg.yield %e1 : f32
    } -> tensor<1x2x4x4xf32>
    %mul_4.0 = tensor.empty() : tensor<1x2x4x4xf32>
    %mul_4 = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%masked_fill : tensor<1x2x4x4xf32>) outs(%mul_4.0 : tensor<1x2x4x4xf32>) {
    ^bb0(%in0: f32, %out: f32):
      %e0 = arith.constant -5.00000000e-01 : f32
      %e1 = arith.mulf %in0, %e0 : f32
      linalg.yield %e1 : f32
    } -> tensor<1x2x4x4xf32>
    %_softmax.0 = tensor.empty() : tensor<1x2x4xf32>
    %_softmax.1 = arith.constant 0xFF800000 : f32
    %_softmax.2 = linalg.fill ins(%_softmax.1 : f32) outs(%_softmax.0 : tensor<1x2x4xf32>) -> tensor<1x2x4xf32>
    %_softmax.3 = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2)>], iterator_types = ["parallel", "parallel", "parallel", "reduction"]} ins(%mul_4 : tensor<1x2x4x4xf32>) outs(%_softmax.2 : tensor<1x2x4xf32>) {
    ^bb0(%in0: f32, %out: f32):
      %e0 = arith.maximumf %in0, %out : f32
      linalg.yield %e0 : f32
    } -> tensor<1x2x4xf32>
    %_softmax.4 = tensor.empty() : tensor<1x2x4x4xf32>
    %_softmax.5 = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%mul_4, %_softmax.3 : tensor<1x2x4x4xf32>, tensor<1x2x4xf32>) outs(%_softmax.4 : tensor<1x2x4x4xf32>) {
    ^bb0(%in0: f32, %in1: f32, %out: f32):
      %e0 = arith.subf %in0, %in1 : f32
      %e1 = math.exp %e0 : f32
      linalg.yield %e1 : f32
    } -> tensor<1x2x4x4xf32>
    %_softmax.6 = tensor.empty() : tensor<1x2x4xf32>
    %_softmax.7 = arith.constant 0.00000000e+00 : f32
    %_softmax.8 = linalg.fill ins(%_softmax.7 : f32) outs(%_softmax.6 : tensor<1x2x4xf32>) -> tensor<1x2x4xf32>
    %_softmax.9 = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2)>], iterator_types = ["parallel", "parallel", "parallel", "reduction"]} ins(%_softmax.5 : tensor<1x2x4x4xf32>) outs(%_softmax.8 : tensor<1x2x4xf32>) {
    ^bb0(%in0: f32, %out: f32):
      %e0 = arith.addf %in0, %out : f32
      linalg.yield %e0 : f32
    } -> tensor<1x2x4xf32>
    %_softmax.10 = tensor.empty() : tensor<1x2x4x4xf32>
    %_softmax = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%_softmax.5, %_softmax.9 : tensor<1x2x4x4xf32>, tensor<1x2x4xf32>) outs(%_softmax.10 : tensor<1x2x4x4xf32>) {
    ^bb0(%in0: f32, %in1: f32, %out: f32):
      %e0 = arith.divf %in0, %in1 : f32
      linalg.yield %e0 : f32
    } -> tensor<1x2x4x4xf32>
    %_reshape_alias_2 = tensor.collapse_shape %_softmax [[0, 1], [2], [3]] : tensor<1x2x4x4xf32> into tensor<2x4x4xf32>
    %_reshape_alias_3 = tensor.collapse_shape %add_1 [[0, 1], [2], [3]] : tensor<1x2x4x4xf32> into tensor<2x4x4xf32>
    %bmm_1.0 = tensor.empty() : tensor<2x4x4xf32>
    %bmm_1.1 = arith.constant 0.00000000e+00 : f32
    %bmm_1.2 = linalg.fill ins(%bmm_1.1 : f32) outs(%bmm_1.0 : tensor<2x4x4xf32>) -> tensor<2x4x4xf32>
    %bmm_1 = linalg.batch_matmul ins(%_reshape_alias_2, %_reshape_alias_3 : tensor<2x4x4xf32>, tensor<2x4x4xf32>) outs(%bmm_1.2 : tensor<2x4x4xf32>) -> tensor<2x4x4xf32>
    %_unsafe_view_1 = tensor.expand_shape %bmm_1 [[0, 1], [2], [3]] output_shape [1, 2, 4, 4] : tensor<2x4x4xf32> into tensor<1x2x4x4xf32>
    return %_unsafe_view_1 : tensor<1x2x4x4xf32>
  }
}

// -----

// The row max starts at 0 instead of -inf: not the softmax pattern.
// CHECK-LABEL: func.func @neg_max_init_zero(
// CHECK-NOT: kvshift.kv_shift_attention
// CHECK: linalg.batch_matmul
// CHECK: linalg.batch_matmul
module {
  func.func @neg_max_init_zero(%q: tensor<1x2x4x4xf32>, %k: tensor<1x2x4x4xf32>, %v: tensor<1x2x4x4xf32>, %a1: tensor<2x1x1xf32>, %a2: tensor<2x1x1xf32>, %b1: tensor<2x1x1xf32>, %b2: tensor<2x1x1xf32>) -> (tensor<1x2x4x4xf32>) {
    %mul.0 = tensor.empty() : tensor<1x2x4x4xf32>
    %mul = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d1, 0, 0)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%a1, %k : tensor<2x1x1xf32>, tensor<1x2x4x4xf32>) outs(%mul.0 : tensor<1x2x4x4xf32>) {
    ^bb0(%in0: f32, %in1: f32, %out: f32):
      %e0 = arith.mulf %in0, %in1 : f32
      linalg.yield %e0 : f32
    } -> tensor<1x2x4x4xf32>
    %constant_pad_nd.0 = arith.constant 0.00000000e+00 : f32
    %constant_pad_nd = tensor.pad %k low[0, 0, 1, 0] high[0, 0, 0, 0] {
    ^bb0(%i0: index, %i1: index, %i2: index, %i3: index):
      tensor.yield %constant_pad_nd.0 : f32
    } : tensor<1x2x4x4xf32> to tensor<1x2x5x4xf32>
    %slice_3 = tensor.extract_slice %constant_pad_nd[0, 0, 0, 0] [1, 2, 4, 4] [1, 1, 1, 1] : tensor<1x2x5x4xf32> to tensor<1x2x4x4xf32>
    %mul_1.0 = tensor.empty() : tensor<1x2x4x4xf32>
    %mul_1 = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d1, 0, 0)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%a2, %slice_3 : tensor<2x1x1xf32>, tensor<1x2x4x4xf32>) outs(%mul_1.0 : tensor<1x2x4x4xf32>) {
    ^bb0(%in0: f32, %in1: f32, %out: f32):
      %e0 = arith.mulf %in0, %in1 : f32
      linalg.yield %e0 : f32
    } -> tensor<1x2x4x4xf32>
    %add.0 = tensor.empty() : tensor<1x2x4x4xf32>
    %add = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%mul, %mul_1 : tensor<1x2x4x4xf32>, tensor<1x2x4x4xf32>) outs(%add.0 : tensor<1x2x4x4xf32>) {
    ^bb0(%in0: f32, %in1: f32, %out: f32):
      %e0 = arith.addf %in0, %in1 : f32
      linalg.yield %e0 : f32
    } -> tensor<1x2x4x4xf32>
    %mul_2.0 = tensor.empty() : tensor<1x2x4x4xf32>
    %mul_2 = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d1, 0, 0)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%b1, %v : tensor<2x1x1xf32>, tensor<1x2x4x4xf32>) outs(%mul_2.0 : tensor<1x2x4x4xf32>) {
    ^bb0(%in0: f32, %in1: f32, %out: f32):
      %e0 = arith.mulf %in0, %in1 : f32
      linalg.yield %e0 : f32
    } -> tensor<1x2x4x4xf32>
    %constant_pad_nd_1.0 = arith.constant 0.00000000e+00 : f32
    %constant_pad_nd_1 = tensor.pad %v low[0, 0, 1, 0] high[0, 0, 0, 0] {
    ^bb0(%i0: index, %i1: index, %i2: index, %i3: index):
      tensor.yield %constant_pad_nd_1.0 : f32
    } : tensor<1x2x4x4xf32> to tensor<1x2x5x4xf32>
    %slice_6 = tensor.extract_slice %constant_pad_nd_1[0, 0, 0, 0] [1, 2, 4, 4] [1, 1, 1, 1] : tensor<1x2x5x4xf32> to tensor<1x2x4x4xf32>
    %mul_3.0 = tensor.empty() : tensor<1x2x4x4xf32>
    %mul_3 = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d1, 0, 0)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%b2, %slice_6 : tensor<2x1x1xf32>, tensor<1x2x4x4xf32>) outs(%mul_3.0 : tensor<1x2x4x4xf32>) {
    ^bb0(%in0: f32, %in1: f32, %out: f32):
      %e0 = arith.mulf %in0, %in1 : f32
      linalg.yield %e0 : f32
    } -> tensor<1x2x4x4xf32>
    %add_1.0 = tensor.empty() : tensor<1x2x4x4xf32>
    %add_1 = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%mul_2, %mul_3 : tensor<1x2x4x4xf32>, tensor<1x2x4x4xf32>) outs(%add_1.0 : tensor<1x2x4x4xf32>) {
    ^bb0(%in0: f32, %in1: f32, %out: f32):
      %e0 = arith.addf %in0, %in1 : f32
      linalg.yield %e0 : f32
    } -> tensor<1x2x4x4xf32>
    %transpose.0 = tensor.empty() : tensor<1x2x4x4xf32>
    %transpose = linalg.transpose ins(%add : tensor<1x2x4x4xf32>) outs(%transpose.0 : tensor<1x2x4x4xf32>) permutation = [0, 1, 3, 2]
    %_reshape_alias = tensor.collapse_shape %q [[0, 1], [2], [3]] : tensor<1x2x4x4xf32> into tensor<2x4x4xf32>
    %_reshape_alias_1 = tensor.collapse_shape %transpose [[0, 1], [2], [3]] : tensor<1x2x4x4xf32> into tensor<2x4x4xf32>
    %bmm.0 = tensor.empty() : tensor<2x4x4xf32>
    %bmm.1 = arith.constant 0.00000000e+00 : f32
    %bmm.2 = linalg.fill ins(%bmm.1 : f32) outs(%bmm.0 : tensor<2x4x4xf32>) -> tensor<2x4x4xf32>
    %bmm = linalg.batch_matmul ins(%_reshape_alias, %_reshape_alias_1 : tensor<2x4x4xf32>, tensor<2x4x4xf32>) outs(%bmm.2 : tensor<2x4x4xf32>) -> tensor<2x4x4xf32>
    %_unsafe_view = tensor.expand_shape %bmm [[0, 1], [2], [3]] output_shape [1, 2, 4, 4] : tensor<2x4x4xf32> into tensor<1x2x4x4xf32>
    %mul_4.0 = tensor.empty() : tensor<1x2x4x4xf32>
    %mul_4 = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%_unsafe_view : tensor<1x2x4x4xf32>) outs(%mul_4.0 : tensor<1x2x4x4xf32>) {
    ^bb0(%in0: f32, %out: f32):
      %e0 = arith.constant 5.00000000e-01 : f32
      %e1 = arith.mulf %in0, %e0 : f32
      linalg.yield %e1 : f32
    } -> tensor<1x2x4x4xf32>
    %cst0 = arith.constant dense<[[false, true, true, true], [false, false, true, true], [false, false, false, true], [false, false, false, false]]> : tensor<4x4xi1>
    %masked_fill.0 = tensor.empty() : tensor<1x2x4x4xf32>
    %masked_fill = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%mul_4, %cst0 : tensor<1x2x4x4xf32>, tensor<4x4xi1>) outs(%masked_fill.0 : tensor<1x2x4x4xf32>) {
    ^bb0(%in0: f32, %in1: i1, %out: f32):
      %e0 = arith.constant 0xFF800000 : f32
      %e1 = arith.select %in1, %e0, %in0 : f32
      linalg.yield %e1 : f32
    } -> tensor<1x2x4x4xf32>
    %_softmax.0 = tensor.empty() : tensor<1x2x4xf32>
    %_softmax.1 = arith.constant 0.000000e+00 : f32
    %_softmax.2 = linalg.fill ins(%_softmax.1 : f32) outs(%_softmax.0 : tensor<1x2x4xf32>) -> tensor<1x2x4xf32>
    %_softmax.3 = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2)>], iterator_types = ["parallel", "parallel", "parallel", "reduction"]} ins(%masked_fill : tensor<1x2x4x4xf32>) outs(%_softmax.2 : tensor<1x2x4xf32>) {
    ^bb0(%in0: f32, %out: f32):
      %e0 = arith.maximumf %in0, %out : f32
      linalg.yield %e0 : f32
    } -> tensor<1x2x4xf32>
    %_softmax.4 = tensor.empty() : tensor<1x2x4x4xf32>
    %_softmax.5 = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%masked_fill, %_softmax.3 : tensor<1x2x4x4xf32>, tensor<1x2x4xf32>) outs(%_softmax.4 : tensor<1x2x4x4xf32>) {
    ^bb0(%in0: f32, %in1: f32, %out: f32):
      %e0 = arith.subf %in0, %in1 : f32
      %e1 = math.exp %e0 : f32
      linalg.yield %e1 : f32
    } -> tensor<1x2x4x4xf32>
    %_softmax.6 = tensor.empty() : tensor<1x2x4xf32>
    %_softmax.7 = arith.constant 0.00000000e+00 : f32
    %_softmax.8 = linalg.fill ins(%_softmax.7 : f32) outs(%_softmax.6 : tensor<1x2x4xf32>) -> tensor<1x2x4xf32>
    %_softmax.9 = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2)>], iterator_types = ["parallel", "parallel", "parallel", "reduction"]} ins(%_softmax.5 : tensor<1x2x4x4xf32>) outs(%_softmax.8 : tensor<1x2x4xf32>) {
    ^bb0(%in0: f32, %out: f32):
      %e0 = arith.addf %in0, %out : f32
      linalg.yield %e0 : f32
    } -> tensor<1x2x4xf32>
    %_softmax.10 = tensor.empty() : tensor<1x2x4x4xf32>
    %_softmax = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%_softmax.5, %_softmax.9 : tensor<1x2x4x4xf32>, tensor<1x2x4xf32>) outs(%_softmax.10 : tensor<1x2x4x4xf32>) {
    ^bb0(%in0: f32, %in1: f32, %out: f32):
      %e0 = arith.divf %in0, %in1 : f32
      linalg.yield %e0 : f32
    } -> tensor<1x2x4x4xf32>
    %_reshape_alias_2 = tensor.collapse_shape %_softmax [[0, 1], [2], [3]] : tensor<1x2x4x4xf32> into tensor<2x4x4xf32>
    %_reshape_alias_3 = tensor.collapse_shape %add_1 [[0, 1], [2], [3]] : tensor<1x2x4x4xf32> into tensor<2x4x4xf32>
    %bmm_1.0 = tensor.empty() : tensor<2x4x4xf32>
    %bmm_1.1 = arith.constant 0.00000000e+00 : f32
    %bmm_1.2 = linalg.fill ins(%bmm_1.1 : f32) outs(%bmm_1.0 : tensor<2x4x4xf32>) -> tensor<2x4x4xf32>
    %bmm_1 = linalg.batch_matmul ins(%_reshape_alias_2, %_reshape_alias_3 : tensor<2x4x4xf32>, tensor<2x4x4xf32>) outs(%bmm_1.2 : tensor<2x4x4xf32>) -> tensor<2x4x4xf32>
    %_unsafe_view_1 = tensor.expand_shape %bmm_1 [[0, 1], [2], [3]] output_shape [1, 2, 4, 4] : tensor<2x4x4xf32> into tensor<1x2x4x4xf32>
    return %_unsafe_view_1 : tensor<1x2x4x4xf32>
  }
}
