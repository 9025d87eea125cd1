func.func @no_fold_pure_shift(%x: tensor<1x1x4x8xf32>) -> tensor<1x1x4x8xf32> {
  %w = arith.constant dense<[[0.0, 1.0]]> : tensor<1x2xf32>
  %0 = kvshift.kv_shift %x, %w : tensor<1x1x4x8xf32>, tensor<1x2xf32> -> tensor<1x1x4x8xf32>
  return %0 : tensor<1x1x4x8xf32>
}
