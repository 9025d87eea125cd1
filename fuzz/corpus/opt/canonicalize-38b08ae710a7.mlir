func.func @fold_identity_mix_twice(%x: tensor<1x1x4x4xf32>) -> (tensor<1x1x4x4xf32>, tensor<1x1x4x4xf32>) {
  %w = arith.constant dense<[[1.0, 0.0]]> : tensor<1x2xf32>
  %0 = kvshift.kv_shift %x, %w : tensor<1x1x4x4xf32>, tensor<1x2xf32> -> tensor<1x1x4x4xf32>
  %1 = kvshift.kv_shift %0, %w : tensor<1x1x4x4xf32>, tensor<1x2xf32> -> tensor<1x1x4x4xf32>
  return %0, %1 : tensor<1x1x4x4xf32>, tensor<1x1x4x4xf32>
}
