#map = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
#map1 = affine_map<(d0, d1, d2, d3) -> (d2, d3)>
#map2 = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2)>
module {
  func.func @plain(%arg0: tensor<1x2x4x4xf32>, %arg1: tensor<1x2x4x4xf32>, %arg2: tensor<1x2x4x4xf32>) -> tensor<1x2x4x4xf32> {
    %0 = tensor.empty() : tensor<1x2x4x4xf32>
    %transposed = linalg.transpose ins(%arg1 : tensor<1x2x4x4xf32>) outs(%0 : tensor<1x2x4x4xf32>) permutation = [0, 1, 3, 2] 
    %collapsed = tensor.collapse_shape %arg0 [[0, 1], [2], [3]] : tensor<1x2x4x4xf32> into tensor<2x4x4xf32>
    %collapsed_0 = tensor.collapse_shape %transposed [[0, 1], [2], [3]] : tensor<1x2x4x4xf32> into tensor<2x4x4xf32>
    %1 = tensor.empty() : tensor<2x4x4xf32>
    %cst = arith.constant 0.000000e+00 : f32
    %2 = linalg.fill ins(%cst : f32) outs(%1 : tensor<2x4x4xf32>) -> tensor<2x4x4xf32>
    %3 = linalg.batch_matmul ins(%collapsed, %collapsed_0 : tensor<2x4x4xf32>, tensor<2x4x4xf32>) outs(%2 : tensor<2x4x4xf32>) -> tensor<2x4x4xf32>
    %expanded = tensor.expand_shape %3 [[0, 1], [2], [3]] output_shape [1, 2, 4, 4] : tensor<2x4x4xf32> into tensor<1x2x4x4xf32>
    %4 = tensor.empty() : tensor<1x2x4x4xf32>
    %5 = linalg.generic {indexing_maps = [#map, #map], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%expanded : tensor<1x2x4x4xf32>) outs(%4 : tensor<1x2x4x4xf32>) {
    ^bb0(%in: f32, %out: f32):
      %cst_8 = arith.constant 5.000000e-01 : f32
      %21 = arith.mulf %in, %cst_8 : f32
      linalg.yield %21 : f32
    } -> tensor<1x2x4x4xf32>
    %cst_1 = arith.constant dense<[[false, true, true, true], [false, false, true, true], [false, false, false, true], [false, false, false, false]]> : tensor<4x4xi1>
    %6 = tensor.empty() : tensor<1x2x4x4xf32>
    %7 = linalg.generic {indexing_maps = [#map, #map1, #map], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%5, %cst_1 : tensor<1x2x4x4xf32>, tensor<4x4xi1>) outs(%6 : tensor<1x2x4x4xf32>) {
    ^bb0(%in: f32, %in_8: i1, %out: f32):
      %cst_9 = arith.constant 0xFF800000 : f32
      %21 = arith.select %in_8, %cst_9, %in : f32
      linalg.yield %21 : f32
    } -> tensor<1x2x4x4xf32>
    %8 = tensor.empty() : tensor<1x2x4xf32>
    %cst_2 = arith.constant 0xFF800000 : f32
    %9 = linalg.fill ins(%cst_2 : f32) outs(%8 : tensor<1x2x4xf32>) -> tensor<1x2x4xf32>
    %10 = linalg.generic {indexing_maps = [#map, #map2], iterator_types = ["parallel", "parallel", "parallel", "reduction"]} ins(%7 : tensor<1x2x4x4xf32>) outs(%9 : tensor<1x2x4xf32>) {
    ^bb0(%in: f32, %out: f32):
      %21 = arith.maximumf %in, %out : f32
      linalg.yield %21 : f32
    } -> tensor<1x2x4xf32>
    %11 = tensor.empty() : tensor<1x2x4x4xf32>
    %12 = linalg.generic {indexing_maps = [#map, #map2, #map], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%7, %10 : tensor<1x2x4x4xf32>, tensor<1x2x4xf32>) outs(%11 : tensor<1x2x4x4xf32>) {
    ^bb0(%in: f32, %in_8: f32, %out: f32):
      %21 = arith.subf %in, %in_8 : f32
      %22 = math.exp %21 : f32
      linalg.yield %22 : f32
    } -> tensor<1x2x4x4xf32>
    %13 = tensor.empty() : tensor<1x2x4xf32>
    %cst_3 = arith.constant 0.000000e+00 : f32
    %14 = linalg.fill ins(%cst_3 : f32) outs(%13 : tensor<1x2x4xf32>) -> tensor<1x2x4xf32>
    %15 = linalg.generic {indexing_maps = [#map, #map2], iterator_types = ["parallel", "parallel", "parallel", "reduction"]} ins(%12 : tensor<1x2x4x4xf32>) outs(%14 : tensor<1x2x4xf32>) {
    ^bb0(%in: f32, %out: f32):
      %21 = arith.addf %in, %out : f32
      linalg.yield %21 : f32
    } -> tensor<1x2x4xf32>
    %16 = tensor.empty() : tensor<1x2x4x4xf32>
    %17 = linalg.generic {indexing_maps = [#map, #map2, #map], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%12, %15 : tensor<1x2x4x4xf32>, tensor<1x2x4xf32>) outs(%16 : tensor<1x2x4x4xf32>) {
    ^bb0(%in: f32, %in_8: f32, %out: f32):
      %21 = arith.divf %in, %in_8 : f32
      linalg.yield %21 : f32
    } -> tensor<1x2x4x4xf32>
    %collapsed_4 = tensor.collapse_shape %17 [[0, 1], [2], [3]] : tensor<1x2x4x4xf32> into tensor<2x4x4xf32>
    %collapsed_5 = tensor.collapse_shape %arg2 [[0, 1], [2], [3]] : tensor<1x2x4x4xf32> into tensor<2x4x4xf32>
    %18 = tensor.empty() : tensor<2x4x4xf32>
    %cst_6 = arith.constant 0.000000e+00 : f32
    %19 = linalg.fill ins(%cst_6 : f32) outs(%18 : tensor<2x4x4xf32>) -> tensor<2x4x4xf32>
    %20 = linalg.batch_matmul ins(%collapsed_4, %collapsed_5 : tensor<2x4x4xf32>, tensor<2x4x4xf32>) outs(%19 : tensor<2x4x4xf32>) -> tensor<2x4x4xf32>
    %expanded_7 = tensor.expand_shape %20 [[0, 1], [2], [3]] output_shape [1, 2, 4, 4] : tensor<2x4x4xf32> into tensor<1x2x4x4xf32>
    return %expanded_7 : tensor<1x2x4x4xf32>
  }
}

