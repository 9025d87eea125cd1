#map = affine_map<(d0, d1, d2, d3) -> (d1, 0, 0)>
#map1 = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
#map2 = affine_map<(d0, d1, d2, d3) -> (d2, d3)>
#map3 = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2)>
module {
  func.func @mask_then_div(%arg0: tensor<1x2x4x4xf32>, %arg1: tensor<1x2x4x4xf32>, %arg2: tensor<1x2x4x4xf32>, %arg3: tensor<2x1x1xf32>, %arg4: tensor<2x1x1xf32>, %arg5: tensor<2x1x1xf32>, %arg6: tensor<2x1x1xf32>) -> tensor<1x2x4x4xf32> {
    %0 = tensor.empty() : tensor<1x2x4x4xf32>
    %1 = linalg.generic {indexing_maps = [#map, #map1, #map1], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%arg3, %arg1 : tensor<2x1x1xf32>, tensor<1x2x4x4xf32>) outs(%0 : tensor<1x2x4x4xf32>) {
    ^bb0(%in: f32, %in_12: f32, %out: f32):
      %33 = arith.mulf %in, %in_12 : f32
      linalg.yield %33 : f32
    } -> tensor<1x2x4x4xf32>
    %cst = arith.constant 0.000000e+00 : f32
    %padded = tensor.pad %arg1 low[0, 0, 1, 0] high[0, 0, 0, 0] {
    ^bb0(%arg7: index, %arg8: index, %arg9: index, %arg10: index):
      tensor.yield %cst : f32
    } : tensor<1x2x4x4xf32> to tensor<1x2x5x4xf32>
    %extracted_slice = tensor.extract_slice %padded[0, 0, 0, 0] [1, 2, 4, 4] [1, 1, 1, 1] : tensor<1x2x5x4xf32> to tensor<1x2x4x4xf32>
    %2 = tensor.empty() : tensor<1x2x4x4xf32>
    %3 = linalg.generic {indexing_maps = [#map, #map1, #map1], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%arg4, %extracted_slice : tensor<2x1x1xf32>, tensor<1x2x4x4xf32>) outs(%2 : tensor<1x2x4x4xf32>) {
    ^bb0(%in: f32, %in_12: f32, %out: f32):
      %33 = arith.mulf %in, %in_12 : f32
      linalg.yield %33 : f32
    } -> tensor<1x2x4x4xf32>
    %4 = tensor.empty() : tensor<1x2x4x4xf32>
    %5 = linalg.generic {indexing_maps = [#map1, #map1, #map1], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%1, %3 : tensor<1x2x4x4xf32>, tensor<1x2x4x4xf32>) outs(%4 : tensor<1x2x4x4xf32>) {
    ^bb0(%in: f32, %in_12: f32, %out: f32):
      %33 = arith.addf %in, %in_12 : f32
      linalg.yield %33 : f32
    } -> tensor<1x2x4x4xf32>
    %6 = tensor.empty() : tensor<1x2x4x4xf32>
    %7 = linalg.generic {indexing_maps = [#map, #map1, #map1], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%arg5, %arg2 : tensor<2x1x1xf32>, tensor<1x2x4x4xf32>) outs(%6 : tensor<1x2x4x4xf32>) {
    ^bb0(%in: f32, %in_12: f32, %out: f32):
      %33 = arith.mulf %in, %in_12 : f32
      linalg.yield %33 : f32
    } -> tensor<1x2x4x4xf32>
    %cst_0 = arith.constant 0.000000e+00 : f32
    %padded_1 = tensor.pad %arg2 low[0, 0, 1, 0] high[0, 0, 0, 0] {
    ^bb0(%arg7: index, %arg8: index, %arg9: index, %arg10: index):
      tensor.yield %cst_0 : f32
    } : tensor<1x2x4x4xf32> to tensor<1x2x5x4xf32>
    %extracted_slice_2 = tensor.extract_slice %padded_1[0, 0, 0, 0] [1, 2, 4, 4] [1, 1, 1, 1] : tensor<1x2x5x4xf32> to tensor<1x2x4x4xf32>
    %8 = tensor.empty() : tensor<1x2x4x4xf32>
    %9 = linalg.generic {indexing_maps = [#map, #map1, #map1], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%arg6, %extracted_slice_2 : tensor<2x1x1xf32>, tensor<1x2x4x4xf32>) outs(%8 : tensor<1x2x4x4xf32>) {
    ^bb0(%in: f32, %in_12: f32, %out: f32):
      %33 = arith.mulf %in, %in_12 : f32
      linalg.yield %33 : f32
    } -> tensor<1x2x4x4xf32>
    %10 = tensor.empty() : tensor<1x2x4x4xf32>
    %11 = linalg.generic {indexing_maps = [#map1, #map1, #map1], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%7, %9 : tensor<1x2x4x4xf32>, tensor<1x2x4x4xf32>) outs(%10 : tensor<1x2x4x4xf32>) {
    ^bb0(%in: f32, %in_12: f32, %out: f32):
      %33 = arith.addf %in, %in_12 : f32
      linalg.yield %33 : f32
    } -> tensor<1x2x4x4xf32>
    %12 = tensor.empty() : tensor<1x2x4x4xf32>
    %transposed = linalg.transpose ins(%5 : tensor<1x2x4x4xf32>) outs(%12 : tensor<1x2x4x4xf32>) permutation = [0, 1, 3, 2] 
    %collapsed = tensor.collapse_shape %arg0 [[0, 1], [2], [3]] : tensor<1x2x4x4xf32> into tensor<2x4x4xf32>
    %collapsed_3 = tensor.collapse_shape %transposed [[0, 1], [2], [3]] : tensor<1x2x4x4xf32> into tensor<2x4x4xf32>
    %13 = tensor.empty() : tensor<2x4x4xf32>
    %cst_4 = arith.constant 0.000000e+00 : f32
    %14 = linalg.fill ins(%cst_4 : f32) outs(%13 : tensor<2x4x4xf32>) -> tensor<2x4x4xf32>
    %15 = linalg.batch_matmul ins(%collapsed, %collapsed_3 : tensor<2x4x4xf32>, tensor<2x4x4xf32>) outs(%14 : tensor<2x4x4xf32>) -> tensor<2x4x4xf32>
    %expanded = tensor.expand_shape %15 [[0, 1], [2], [3]] output_shape [1, 2, 4, 4] : tensor<2x4x4xf32> into tensor<1x2x4x4xf32>
    %cst_5 = arith.constant dense<[[false, true, true, true], [false, false, true, true], [false, false, false, true], [false, false, false, false]]> : tensor<4x4xi1>
    %16 = tensor.empty() : tensor<1x2x4x4xf32>
    %17 = linalg.generic {indexing_maps = [#map1, #map2, #map1], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%expanded, %cst_5 : tensor<1x2x4x4xf32>, tensor<4x4xi1>) outs(%16 : tensor<1x2x4x4xf32>) {
    ^bb0(%in: f32, %in_12: i1, %out: f32):
      %cst_13 = arith.constant 0xFF800000 : f32
      %33 = arith.select %in_12, %cst_13, %in : f32
      linalg.yield %33 : f32
    } -> tensor<1x2x4x4xf32>
    %18 = tensor.empty() : tensor<1x2x4x4xf32>
    %19 = linalg.generic {indexing_maps = [#map1, #map1], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%17 : tensor<1x2x4x4xf32>) outs(%18 : tensor<1x2x4x4xf32>) {
    ^bb0(%in: f32, %out: f32):
      %cst_12 = arith.constant 2.000000e+00 : f32
      %33 = arith.divf %in, %cst_12 : f32
      linalg.yield %33 : f32
    } -> tensor<1x2x4x4xf32>
    %20 = tensor.empty() : tensor<1x2x4xf32>
    %cst_6 = arith.constant 0xFF800000 : f32
    %21 = linalg.fill ins(%cst_6 : f32) outs(%20 : tensor<1x2x4xf32>) -> tensor<1x2x4xf32>
    %22 = linalg.generic {indexing_maps = [#map1, #map3], iterator_types = ["parallel", "parallel", "parallel", "reduction"]} ins(%19 : tensor<1x2x4x4xf32>) outs(%21 : tensor<1x2x4xf32>) {
    ^bb0(%in: f32, %out: f32):
      %33 = arith.maximumf %in, %out : f32
      linalg.yield %33 : f32
    } -> tensor<1x2x4xf32>
    %23 = tensor.empty() : tensor<1x2x4x4xf32>
    %24 = linalg.generic {indexing_maps = [#map1, #map3, #map1], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%19, %22 : tensor<1x2x4x4xf32>, tensor<1x2x4xf32>) outs(%23 : tensor<1x2x4x4xf32>) {
    ^bb0(%in: f32, %in_12: f32, %out: f32):
      %33 = arith.subf %in, %in_12 : f32
      %34 = math.exp %33 : f32
      linalg.yield %34 : f32
    } -> tensor<1x2x4x4xf32>
    %25 = tensor.empty() : tensor<1x2x4xf32>
    %cst_7 = arith.constant 0.000000e+00 : f32
    %26 = linalg.fill ins(%cst_7 : f32) outs(%25 : tensor<1x2x4xf32>) -> tensor<1x2x4xf32>
    %27 = linalg.generic {indexing_maps = [#map1, #map3], iterator_types = ["parallel", "parallel", "parallel", "reduction"]} ins(%24 : tensor<1x2x4x4xf32>) outs(%26 : tensor<1x2x4xf32>) {
    ^bb0(%in: f32, %out: f32):
      %33 = arith.addf %in, %out : f32
      linalg.yield %33 : f32
    } -> tensor<1x2x4xf32>
    %28 = tensor.empty() : tensor<1x2x4x4xf32>
    %29 = linalg.generic {indexing_maps = [#map1, #map3, #map1], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%24, %27 : tensor<1x2x4x4xf32>, tensor<1x2x4xf32>) outs(%28 : tensor<1x2x4x4xf32>) {
    ^bb0(%in: f32, %in_12: f32, %out: f32):
      %33 = arith.divf %in, %in_12 : f32
      linalg.yield %33 : f32
    } -> tensor<1x2x4x4xf32>
    %collapsed_8 = tensor.collapse_shape %29 [[0, 1], [2], [3]] : tensor<1x2x4x4xf32> into tensor<2x4x4xf32>
    %collapsed_9 = tensor.collapse_shape %11 [[0, 1], [2], [3]] : tensor<1x2x4x4xf32> into tensor<2x4x4xf32>
    %30 = tensor.empty() : tensor<2x4x4xf32>
    %cst_10 = arith.constant 0.000000e+00 : f32
    %31 = linalg.fill ins(%cst_10 : f32) outs(%30 : tensor<2x4x4xf32>) -> tensor<2x4x4xf32>
    %32 = linalg.batch_matmul ins(%collapsed_8, %collapsed_9 : tensor<2x4x4xf32>, tensor<2x4x4xf32>) outs(%31 : tensor<2x4x4xf32>) -> tensor<2x4x4xf32>
    %expanded_11 = tensor.expand_shape %32 [[0, 1], [2], [3]] output_shape [1, 2, 4, 4] : tensor<2x4x4xf32> into tensor<1x2x4x4xf32>
    return %expanded_11 : tensor<1x2x4x4xf32>
  }
}

