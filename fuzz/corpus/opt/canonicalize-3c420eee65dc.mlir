func.func @fold_identity_mix(%x: tensor<2x3x16x8xf32>) -> tensor<2x3x16x8xf32> {
  %w = arith.constant dense<[[1.0, 0.0], [1.0, 0.0], [1.0, 0.0]]> : tensor<3x2xf32>
  %0 = kvshift.kv_shift %x, %w : tensor<2x3x16x8xf32>, tensor<3x2xf32> -> tensor<2x3x16x8xf32>
  return %0 : tensor<2x3x16x8xf32>
}
