func.func @shift_untouched(%x: tensor<1x2x8x4xf32>, %w: tensor<2x2xf32>) -> tensor<1x2x8x4xf32> {
  %0 = kvshift.kv_shift %x, %w : tensor<1x2x8x4xf32>, tensor<2x2xf32> -> tensor<1x2x8x4xf32>
  return %0 : tensor<1x2x8x4xf32>
}
