func.func @kv_shift_bf16(%x: tensor<1x2x8x4xbf16>, %w: tensor<2x2xf32>) -> tensor<1x2x8x4xbf16> {
  %0 = kvshift.kv_shift %x, %w : tensor<1x2x8x4xbf16>, tensor<2x2xf32> -> tensor<1x2x8x4xbf16>
  return %0 : tensor<1x2x8x4xbf16>
}
