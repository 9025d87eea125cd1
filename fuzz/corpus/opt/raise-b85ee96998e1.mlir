#map = affine_map<(d0, d1, d2, d3) -> (d1, 0, 0)>
#map1 = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
#map2 = affine_map<(d0, d1, d2, d3) -> (d1)>
#map3 = affine_map<(d0, d1, d2, d3) -> (d2, d3)>
#map4 = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2)>
module {
  func.func @gqa_repeat_interleave(%arg0: tensor<1x4x4x4xf32>, %arg1: tensor<1x2x4x4xf32>, %arg2: tensor<1x2x4x4xf32>, %arg3: tensor<2x1x1xf32>, %arg4: tensor<2x1x1xf32>, %arg5: tensor<2x1x1xf32>, %arg6: tensor<2x1x1xf32>) -> tensor<1x4x4x4xf32> {
    %0 = tensor.empty() : tensor<1x2x4x4xf32>
    %1 = linalg.generic {indexing_maps = [#map, #map1, #map1], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%arg3, %arg1 : tensor<2x1x1xf32>, tensor<1x2x4x4xf32>) outs(%0 : tensor<1x2x4x4xf32>) {
    ^bb0(%in: f32, %in_14: f32, %out: f32):
      %37 = arith.mulf %in, %in_14 : f32
      linalg.yield %37 : f32
    } -> tensor<1x2x4x4xf32>
    %cst = arith.constant 0.000000e+00 : f32
    %padded = tensor.pad %arg1 low[0, 0, 1, 0] high[0, 0, 0, 0] {
    ^bb0(%arg7: index, %arg8: index, %arg9: index, %arg10: index):
      tensor.yield %cst : f32
    } : tensor<1x2x4x4xf32> to tensor<1x2x5x4xf32>
    %extracted_slice = tensor.extract_slice %padded[0, 0, 0, 0] [1, 2, 4, 4] [1, 1, 1, 1] : tensor<1x2x5x4xf32> to tensor<1x2x4x4xf32>
    %2 = tensor.empty() : tensor<1x2x4x4xf32>
    %3 = linalg.generic {indexing_maps = [#map, #map1, #map1], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%arg4, %extracted_slice : tensor<2x1x1xf32>, tensor<1x2x4x4xf32>) outs(%2 : tensor<1x2x4x4xf32>) {
    ^bb0(%in: f32, %in_14: f32, %out: f32):
      %37 = arith.mulf %in, %in_14 : f32
      linalg.yield %37 : f32
    } -> tensor<1x2x4x4xf32>
    %4 = tensor.empty() : tensor<1x2x4x4xf32>
    %5 = linalg.generic {indexing_maps = [#map1, #map1, #map1], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%1, %3 : tensor<1x2x4x4xf32>, tensor<1x2x4x4xf32>) outs(%4 : tensor<1x2x4x4xf32>) {
    ^bb0(%in: f32, %in_14: f32, %out: f32):
      %37 = arith.addf %in, %in_14 : f32
      linalg.yield %37 : f32
    } -> tensor<1x2x4x4xf32>
    %6 = tensor.empty() : tensor<1x2x4x4xf32>
    %7 = linalg.generic {indexing_maps = [#map, #map1, #map1], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%arg5, %arg2 : tensor<2x1x1xf32>, tensor<1x2x4x4xf32>) outs(%6 : tensor<1x2x4x4xf32>) {
    ^bb0(%in: f32, %in_14: f32, %out: f32):
      %37 = arith.mulf %in, %in_14 : f32
      linalg.yield %37 : f32
    } -> tensor<1x2x4x4xf32>
    %cst_0 = arith.constant 0.000000e+00 : f32
    %padded_1 = tensor.pad %arg2 low[0, 0, 1, 0] high[0, 0, 0, 0] {
    ^bb0(%arg7: index, %arg8: index, %arg9: index, %arg10: index):
      tensor.yield %cst_0 : f32
    } : tensor<1x2x4x4xf32> to tensor<1x2x5x4xf32>
    %extracted_slice_2 = tensor.extract_slice %padded_1[0, 0, 0, 0] [1, 2, 4, 4] [1, 1, 1, 1] : tensor<1x2x5x4xf32> to tensor<1x2x4x4xf32>
    %8 = tensor.empty() : tensor<1x2x4x4xf32>
    %9 = linalg.generic {indexing_maps = [#map, #map1, #map1], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%arg6, %extracted_slice_2 : tensor<2x1x1xf32>, tensor<1x2x4x4xf32>) outs(%8 : tensor<1x2x4x4xf32>) {
    ^bb0(%in: f32, %in_14: f32, %out: f32):
      %37 = arith.mulf %in, %in_14 : f32
      linalg.yield %37 : f32
    } -> tensor<1x2x4x4xf32>
    %10 = tensor.empty() : tensor<1x2x4x4xf32>
    %11 = linalg.generic {indexing_maps = [#map1, #map1, #map1], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%7, %9 : tensor<1x2x4x4xf32>, tensor<1x2x4x4xf32>) outs(%10 : tensor<1x2x4x4xf32>) {
    ^bb0(%in: f32, %in_14: f32, %out: f32):
      %37 = arith.addf %in, %in_14 : f32
      linalg.yield %37 : f32
    } -> tensor<1x2x4x4xf32>
    %cst_3 = arith.constant dense<[0, 0, 1, 1]> : tensor<4xi64>
    %12 = tensor.empty() : tensor<1x4x4x4xf32>
    %13 = linalg.generic {indexing_maps = [#map2, #map1], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%cst_3 : tensor<4xi64>) outs(%12 : tensor<1x4x4x4xf32>) {
    ^bb0(%in: i64, %out: f32):
      %37 = linalg.index 0 : index
      %38 = linalg.index 1 : index
      %39 = linalg.index 2 : index
      %40 = linalg.index 3 : index
      %41 = arith.index_cast %in : i64 to index
      %extracted = tensor.extract %5[%37, %41, %39, %40] : tensor<1x2x4x4xf32>
      linalg.yield %extracted : f32
    } -> tensor<1x4x4x4xf32>
    %cst_4 = arith.constant dense<[0, 0, 1, 1]> : tensor<4xi64>
    %14 = tensor.empty() : tensor<1x4x4x4xf32>
    %15 = linalg.generic {indexing_maps = [#map2, #map1], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%cst_4 : tensor<4xi64>) outs(%14 : tensor<1x4x4x4xf32>) {
    ^bb0(%in: i64, %out: f32):
      %37 = linalg.index 0 : index
      %38 = linalg.index 1 : index
      %39 = linalg.index 2 : index
      %40 = linalg.index 3 : index
      %41 = arith.index_cast %in : i64 to index
      %extracted = tensor.extract %11[%37, %41, %39, %40] : tensor<1x2x4x4xf32>
      linalg.yield %extracted : f32
    } -> tensor<1x4x4x4xf32>
    %16 = tensor.empty() : tensor<1x4x4x4xf32>
    %transposed = linalg.transpose ins(%13 : tensor<1x4x4x4xf32>) outs(%16 : tensor<1x4x4x4xf32>) permutation = [0, 1, 3, 2] 
    %collapsed = tensor.collapse_shape %arg0 [[0, 1], [2], [3]] : tensor<1x4x4x4xf32> into tensor<4x4x4xf32>
    %collapsed_5 = tensor.collapse_shape %transposed [[0, 1], [2], [3]] : tensor<1x4x4x4xf32> into tensor<4x4x4xf32>
    %17 = tensor.empty() : tensor<4x4x4xf32>
    %cst_6 = arith.constant 0.000000e+00 : f32
    %18 = linalg.fill ins(%cst_6 : f32) outs(%17 : tensor<4x4x4xf32>) -> tensor<4x4x4xf32>
    %19 = linalg.batch_matmul ins(%collapsed, %collapsed_5 : tensor<4x4x4xf32>, tensor<4x4x4xf32>) outs(%18 : tensor<4x4x4xf32>) -> tensor<4x4x4xf32>
    %expanded = tensor.expand_shape %19 [[0, 1], [2], [3]] output_shape [1, 4, 4, 4] : tensor<4x4x4xf32> into tensor<1x4x4x4xf32>
    %20 = tensor.empty() : tensor<1x4x4x4xf32>
    %21 = linalg.generic {indexing_maps = [#map1, #map1], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%expanded : tensor<1x4x4x4xf32>) outs(%20 : tensor<1x4x4x4xf32>) {
    ^bb0(%in: f32, %out: f32):
      %cst_14 = arith.constant 5.000000e-01 : f32
      %37 = arith.mulf %in, %cst_14 : f32
      linalg.yield %37 : f32
    } -> tensor<1x4x4x4xf32>
    %cst_7 = arith.constant dense<[[false, true, true, true], [false, false, true, true], [false, false, false, true], [false, false, false, false]]> : tensor<4x4xi1>
    %22 = tensor.empty() : tensor<1x4x4x4xf32>
    %23 = linalg.generic {indexing_maps = [#map1, #map3, #map1], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%21, %cst_7 : tensor<1x4x4x4xf32>, tensor<4x4xi1>) outs(%22 : tensor<1x4x4x4xf32>) {
    ^bb0(%in: f32, %in_14: i1, %out: f32):
      %cst_15 = arith.constant 0xFF800000 : f32
      %37 = arith.select %in_14, %cst_15, %in : f32
      linalg.yield %37 : f32
    } -> tensor<1x4x4x4xf32>
    %24 = tensor.empty() : tensor<1x4x4xf32>
    %cst_8 = arith.constant 0xFF800000 : f32
    %25 = linalg.fill ins(%cst_8 : f32) outs(%24 : tensor<1x4x4xf32>) -> tensor<1x4x4xf32>
    %26 = linalg.generic {indexing_maps = [#map1, #map4], iterator_types = ["parallel", "parallel", "parallel", "reduction"]} ins(%23 : tensor<1x4x4x4xf32>) outs(%25 : tensor<1x4x4xf32>) {
    ^bb0(%in: f32, %out: f32):
      %37 = arith.maximumf %in, %out : f32
      linalg.yield %37 : f32
    } -> tensor<1x4x4xf32>
    %27 = tensor.empty() : tensor<1x4x4x4xf32>
    %28 = linalg.generic {indexing_maps = [#map1, #map4, #map1], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%23, %26 : tensor<1x4x4x4xf32>, tensor<1x4x4xf32>) outs(%27 : tensor<1x4x4x4xf32>) {
    ^bb0(%in: f32, %in_14: f32, %out: f32):
      %37 = arith.subf %in, %in_14 : f32
      %38 = math.exp %37 : f32
      linalg.yield %38 : f32
    } -> tensor<1x4x4x4xf32>
    %29 = tensor.empty() : tensor<1x4x4xf32>
    %cst_9 = arith.constant 0.000000e+00 : f32
    %30 = linalg.fill ins(%cst_9 : f32) outs(%29 : tensor<1x4x4xf32>) -> tensor<1x4x4xf32>
    %31 = linalg.generic {indexing_maps = [#map1, #map4], iterator_types = ["parallel", "parallel", "parallel", "reduction"]} ins(%28 : tensor<1x4x4x4xf32>) outs(%30 : tensor<1x4x4xf32>) {
    ^bb0(%in: f32, %out: f32):
      %37 = arith.addf %in, %out : f32
      linalg.yield %37 : f32
    } -> tensor<1x4x4xf32>
    %32 = tensor.empty() : tensor<1x4x4x4xf32>
    %33 = linalg.generic {indexing_maps = [#map1, #map4, #map1], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%28, %31 : tensor<1x4x4x4xf32>, tensor<1x4x4xf32>) outs(%32 : tensor<1x4x4x4xf32>) {
    ^bb0(%in: f32, %in_14: f32, %out: f32):
      %37 = arith.divf %in, %in_14 : f32
      linalg.yield %37 : f32
    } -> tensor<1x4x4x4xf32>
    %collapsed_10 = tensor.collapse_shape %33 [[0, 1], [2], [3]] : tensor<1x4x4x4xf32> into tensor<4x4x4xf32>
    %collapsed_11 = tensor.collapse_shape %15 [[0, 1], [2], [3]] : tensor<1x4x4x4xf32> into tensor<4x4x4xf32>
    %34 = tensor.empty() : tensor<4x4x4xf32>
    %cst_12 = arith.constant 0.000000e+00 : f32
    %35 = linalg.fill ins(%cst_12 : f32) outs(%34 : tensor<4x4x4xf32>) -> tensor<4x4x4xf32>
    %36 = linalg.batch_matmul ins(%collapsed_10, %collapsed_11 : tensor<4x4x4xf32>, tensor<4x4x4xf32>) outs(%35 : tensor<4x4x4xf32>) -> tensor<4x4x4xf32>
    %expanded_13 = tensor.expand_shape %36 [[0, 1], [2], [3]] output_shape [1, 4, 4, 4] : tensor<4x4x4xf32> into tensor<1x4x4x4xf32>
    return %expanded_13 : tensor<1x4x4x4xf32>
  }
}

