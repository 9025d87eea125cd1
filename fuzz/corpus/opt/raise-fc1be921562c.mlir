#map = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
#map1 = affine_map<(d0, d1, d2, d3) -> (d2, d3)>
#map2 = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2)>
module {
  func.func @scalar_weight(%arg0: tensor<1x2x4x4xf32>, %arg1: tensor<1x2x4x4xf32>, %arg2: tensor<1x2x4x4xf32>) -> tensor<1x2x4x4xf32> {
    %0 = tensor.empty() : tensor<1x2x4x4xf32>
    %1 = linalg.generic {indexing_maps = [#map, #map], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%arg1 : tensor<1x2x4x4xf32>) outs(%0 : tensor<1x2x4x4xf32>) {
    ^bb0(%in: f32, %out: f32):
      %cst_9 = arith.constant 7.500000e-01 : f32
      %27 = arith.mulf %in, %cst_9 : f32
      linalg.yield %27 : f32
    } -> tensor<1x2x4x4xf32>
    %cst = arith.constant 0.000000e+00 : f32
    %padded = tensor.pad %arg1 low[0, 0, 1, 0] high[0, 0, 0, 0] {
    ^bb0(%arg3: index, %arg4: index, %arg5: index, %arg6: index):
      tensor.yield %cst : f32
    } : tensor<1x2x4x4xf32> to tensor<1x2x5x4xf32>
    %extracted_slice = tensor.extract_slice %padded[0, 0, 0, 0] [1, 2, 4, 4] [1, 1, 1, 1] : tensor<1x2x5x4xf32> to tensor<1x2x4x4xf32>
    %2 = tensor.empty() : tensor<1x2x4x4xf32>
    %3 = linalg.generic {indexing_maps = [#map, #map], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%extracted_slice : tensor<1x2x4x4xf32>) outs(%2 : tensor<1x2x4x4xf32>) {
    ^bb0(%in: f32, %out: f32):
      %cst_9 = arith.constant 2.500000e-01 : f32
      %27 = arith.mulf %in, %cst_9 : f32
      linalg.yield %27 : f32
    } -> tensor<1x2x4x4xf32>
    %4 = tensor.empty() : tensor<1x2x4x4xf32>
    %5 = linalg.generic {indexing_maps = [#map, #map, #map], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%1, %3 : tensor<1x2x4x4xf32>, tensor<1x2x4x4xf32>) outs(%4 : tensor<1x2x4x4xf32>) {
    ^bb0(%in: f32, %in_9: f32, %out: f32):
      %27 = arith.addf %in, %in_9 : f32
      linalg.yield %27 : f32
    } -> tensor<1x2x4x4xf32>
    %6 = tensor.empty() : tensor<1x2x4x4xf32>
    %transposed = linalg.transpose ins(%5 : tensor<1x2x4x4xf32>) outs(%6 : tensor<1x2x4x4xf32>) permutation = [0, 1, 3, 2] 
    %collapsed = tensor.collapse_shape %arg0 [[0, 1], [2], [3]] : tensor<1x2x4x4xf32> into tensor<2x4x4xf32>
    %collapsed_0 = tensor.collapse_shape %transposed [[0, 1], [2], [3]] : tensor<1x2x4x4xf32> into tensor<2x4x4xf32>
    %7 = tensor.empty() : tensor<2x4x4xf32>
    %cst_1 = arith.constant 0.000000e+00 : f32
    %8 = linalg.fill ins(%cst_1 : f32) outs(%7 : tensor<2x4x4xf32>) -> tensor<2x4x4xf32>
    %9 = linalg.batch_matmul ins(%collapsed, %collapsed_0 : tensor<2x4x4xf32>, tensor<2x4x4xf32>) outs(%8 : tensor<2x4x4xf32>) -> tensor<2x4x4xf32>
    %expanded = tensor.expand_shape %9 [[0, 1], [2], [3]] output_shape [1, 2, 4, 4] : tensor<2x4x4xf32> into tensor<1x2x4x4xf32>
    %10 = tensor.empty() : tensor<1x2x4x4xf32>
    %11 = linalg.generic {indexing_maps = [#map, #map], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%expanded : tensor<1x2x4x4xf32>) outs(%10 : tensor<1x2x4x4xf32>) {
    ^bb0(%in: f32, %out: f32):
      %cst_9 = arith.constant 5.000000e-01 : f32
      %27 = arith.mulf %in, %cst_9 : f32
      linalg.yield %27 : f32
    } -> tensor<1x2x4x4xf32>
    %cst_2 = arith.constant dense<[[false, true, true, true], [false, false, true, true], [false, false, false, true], [false, false, false, false]]> : tensor<4x4xi1>
    %12 = tensor.empty() : tensor<1x2x4x4xf32>
    %13 = linalg.generic {indexing_maps = [#map, #map1, #map], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%11, %cst_2 : tensor<1x2x4x4xf32>, tensor<4x4xi1>) outs(%12 : tensor<1x2x4x4xf32>) {
    ^bb0(%in: f32, %in_9: i1, %out: f32):
      %cst_10 = arith.constant 0xFF800000 : f32
      %27 = arith.select %in_9, %cst_10, %in : f32
      linalg.yield %27 : f32
    } -> tensor<1x2x4x4xf32>
    %14 = tensor.empty() : tensor<1x2x4xf32>
    %cst_3 = arith.constant 0xFF800000 : f32
    %15 = linalg.fill ins(%cst_3 : f32) outs(%14 : tensor<1x2x4xf32>) -> tensor<1x2x4xf32>
    %16 = linalg.generic {indexing_maps = [#map, #map2], iterator_types = ["parallel", "parallel", "parallel", "reduction"]} ins(%13 : tensor<1x2x4x4xf32>) outs(%15 : tensor<1x2x4xf32>) {
    ^bb0(%in: f32, %out: f32):
      %27 = arith.maximumf %in, %out : f32
      linalg.yield %27 : f32
    } -> tensor<1x2x4xf32>
    %17 = tensor.empty() : tensor<1x2x4x4xf32>
    %18 = linalg.generic {indexing_maps = [#map, #map2, #map], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%13, %16 : tensor<1x2x4x4xf32>, tensor<1x2x4xf32>) outs(%17 : tensor<1x2x4x4xf32>) {
    ^bb0(%in: f32, %in_9: f32, %out: f32):
      %27 = arith.subf %in, %in_9 : f32
      %28 = math.exp %27 : f32
      linalg.yield %28 : f32
    } -> tensor<1x2x4x4xf32>
    %19 = tensor.empty() : tensor<1x2x4xf32>
    %cst_4 = arith.constant 0.000000e+00 : f32
    %20 = linalg.fill ins(%cst_4 : f32) outs(%19 : tensor<1x2x4xf32>) -> tensor<1x2x4xf32>
    %21 = linalg.generic {indexing_maps = [#map, #map2], iterator_types = ["parallel", "parallel", "parallel", "reduction"]} ins(%18 : tensor<1x2x4x4xf32>) outs(%20 : tensor<1x2x4xf32>) {
    ^bb0(%in: f32, %out: f32):
      %27 = arith.addf %in, %out : f32
      linalg.yield %27 : f32
    } -> tensor<1x2x4xf32>
    %22 = tensor.empty() : tensor<1x2x4x4xf32>
    %23 = linalg.generic {indexing_maps = [#map, #map2, #map], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%18, %21 : tensor<1x2x4x4xf32>, tensor<1x2x4xf32>) outs(%22 : tensor<1x2x4x4xf32>) {
    ^bb0(%in: f32, %in_9: f32, %out: f32):
      %27 = arith.divf %in, %in_9 : f32
      linalg.yield %27 : f32
    } -> tensor<1x2x4x4xf32>
    %collapsed_5 = tensor.collapse_shape %23 [[0, 1], [2], [3]] : tensor<1x2x4x4xf32> into tensor<2x4x4xf32>
    %collapsed_6 = tensor.collapse_shape %arg2 [[0, 1], [2], [3]] : tensor<1x2x4x4xf32> into tensor<2x4x4xf32>
    %24 = tensor.empty() : tensor<2x4x4xf32>
    %cst_7 = arith.constant 0.000000e+00 : f32
    %25 = linalg.fill ins(%cst_7 : f32) outs(%24 : tensor<2x4x4xf32>) -> tensor<2x4x4xf32>
    %26 = linalg.batch_matmul ins(%collapsed_5, %collapsed_6 : tensor<2x4x4xf32>, tensor<2x4x4xf32>) outs(%25 : tensor<2x4x4xf32>) -> tensor<2x4x4xf32>
    %expanded_8 = tensor.expand_shape %26 [[0, 1], [2], [3]] output_shape [1, 2, 4, 4] : tensor<2x4x4xf32> into tensor<1x2x4x4xf32>
    return %expanded_8 : tensor<1x2x4x4xf32>
  }
}

