#map = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
#map1 = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2)>
module {
  func.func @plain_nomask_noscale(%arg0: tensor<1x2x4x4xf32>, %arg1: tensor<1x2x4x4xf32>, %arg2: tensor<1x2x4x4xf32>) -> tensor<1x2x4x4xf32> {
    %0 = tensor.empty() : tensor<1x2x4x4xf32>
    %transposed = linalg.transpose ins(%arg1 : tensor<1x2x4x4xf32>) outs(%0 : tensor<1x2x4x4xf32>) permutation = [0, 1, 3, 2] 
    %collapsed = tensor.collapse_shape %arg0 [[0, 1], [2], [3]] : tensor<1x2x4x4xf32> into tensor<2x4x4xf32>
    %collapsed_0 = tensor.collapse_shape %transposed [[0, 1], [2], [3]] : tensor<1x2x4x4xf32> into tensor<2x4x4xf32>
    %1 = tensor.empty() : tensor<2x4x4xf32>
    %cst = arith.constant 0.000000e+00 : f32
    %2 = linalg.fill ins(%cst : f32) outs(%1 : tensor<2x4x4xf32>) -> tensor<2x4x4xf32>
    %3 = linalg.batch_matmul ins(%collapsed, %collapsed_0 : tensor<2x4x4xf32>, tensor<2x4x4xf32>) outs(%2 : tensor<2x4x4xf32>) -> tensor<2x4x4xf32>
    %expanded = tensor.expand_shape %3 [[0, 1], [2], [3]] output_shape [1, 2, 4, 4] : tensor<2x4x4xf32> into tensor<1x2x4x4xf32>
    %4 = tensor.empty() : tensor<1x2x4xf32>
    %cst_1 = arith.constant 0xFF800000 : f32
    %5 = linalg.fill ins(%cst_1 : f32) outs(%4 : tensor<1x2x4xf32>) -> tensor<1x2x4xf32>
    %6 = linalg.generic {indexing_maps = [#map, #map1], iterator_types = ["parallel", "parallel", "parallel", "reduction"]} ins(%expanded : tensor<1x2x4x4xf32>) outs(%5 : tensor<1x2x4xf32>) {
    ^bb0(%in: f32, %out: f32):
      %17 = arith.maximumf %in, %out : f32
      linalg.yield %17 : f32
    } -> tensor<1x2x4xf32>
    %7 = tensor.empty() : tensor<1x2x4x4xf32>
    %8 = linalg.generic {indexing_maps = [#map, #map1, #map], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%expanded, %6 : tensor<1x2x4x4xf32>, tensor<1x2x4xf32>) outs(%7 : tensor<1x2x4x4xf32>) {
    ^bb0(%in: f32, %in_7: f32, %out: f32):
      %17 = arith.subf %in, %in_7 : f32
      %18 = math.exp %17 : f32
      linalg.yield %18 : f32
    } -> tensor<1x2x4x4xf32>
    %9 = tensor.empty() : tensor<1x2x4xf32>
    %cst_2 = arith.constant 0.000000e+00 : f32
    %10 = linalg.fill ins(%cst_2 : f32) outs(%9 : tensor<1x2x4xf32>) -> tensor<1x2x4xf32>
    %11 = linalg.generic {indexing_maps = [#map, #map1], iterator_types = ["parallel", "parallel", "parallel", "reduction"]} ins(%8 : tensor<1x2x4x4xf32>) outs(%10 : tensor<1x2x4xf32>) {
    ^bb0(%in: f32, %out: f32):
      %17 = arith.addf %in, %out : f32
      linalg.yield %17 : f32
    } -> tensor<1x2x4xf32>
    %12 = tensor.empty() : tensor<1x2x4x4xf32>
    %13 = linalg.generic {indexing_maps = [#map, #map1, #map], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%8, %11 : tensor<1x2x4x4xf32>, tensor<1x2x4xf32>) outs(%12 : tensor<1x2x4x4xf32>) {
    ^bb0(%in: f32, %in_7: f32, %out: f32):
      %17 = arith.divf %in, %in_7 : f32
      linalg.yield %17 : f32
    } -> tensor<1x2x4x4xf32>
    %collapsed_3 = tensor.collapse_shape %13 [[0, 1], [2], [3]] : tensor<1x2x4x4xf32> into tensor<2x4x4xf32>
    %collapsed_4 = tensor.collapse_shape %arg2 [[0, 1], [2], [3]] : tensor<1x2x4x4xf32> into tensor<2x4x4xf32>
    %14 = tensor.empty() : tensor<2x4x4xf32>
    %cst_5 = arith.constant 0.000000e+00 : f32
    %15 = linalg.fill ins(%cst_5 : f32) outs(%14 : tensor<2x4x4xf32>) -> tensor<2x4x4xf32>
    %16 = linalg.batch_matmul ins(%collapsed_3, %collapsed_4 : tensor<2x4x4xf32>, tensor<2x4x4xf32>) outs(%15 : tensor<2x4x4xf32>) -> tensor<2x4x4xf32>
    %expanded_6 = tensor.expand_shape %16 [[0, 1], [2], [3]] output_shape [1, 2, 4, 4] : tensor<2x4x4xf32> into tensor<1x2x4x4xf32>
    return %expanded_6 : tensor<1x2x4x4xf32>
  }
}

