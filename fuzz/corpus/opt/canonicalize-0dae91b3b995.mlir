func.func @no_fold_first_head_only(%x: tensor<1x2x4x8xf32>) -> tensor<1x2x4x8xf32> {
  %w = arith.constant dense<[[1.0, 0.0], [2.0, 0.0]]> : tensor<2x2xf32>
  %0 = kvshift.kv_shift %x, %w : tensor<1x2x4x8xf32>, tensor<2x2xf32> -> tensor<1x2x4x8xf32>
  return %0 : tensor<1x2x4x8xf32>
}
