func.func @fold_identity_mix_negative_zero_bf16(%x: tensor<1x2x4x8xbf16>) -> tensor<1x2x4x8xbf16> {
  %w = arith.constant dense<[[1.0, -0.0], [1.0, 0.0]]> : tensor<2x2xf32>
  %0 = kvshift.kv_shift %x, %w : tensor<1x2x4x8xbf16>, tensor<2x2xf32> -> tensor<1x2x4x8xbf16>
  return %0 : tensor<1x2x4x8xbf16>
}
