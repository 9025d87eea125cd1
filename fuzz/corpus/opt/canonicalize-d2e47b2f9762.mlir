func.func @no_fold_result_type_differs(%x: tensor<?x2x?x8xf32>) -> tensor<1x2x4x8xf32> {
  %w = arith.constant dense<[[1.0, 0.0], [1.0, 0.0]]> : tensor<2x2xf32>
  %0 = kvshift.kv_shift %x, %w : tensor<?x2x?x8xf32>, tensor<2x2xf32> -> tensor<1x2x4x8xf32>
  return %0 : tensor<1x2x4x8xf32>
}
