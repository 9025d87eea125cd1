func.func @kv_shift_f32(%x: tensor<2x3x16x8xf32>, %w: tensor<3x2xf32>) -> tensor<2x3x16x8xf32> {
  %0 = kvshift.kv_shift %x, %w : tensor<2x3x16x8xf32>, tensor<3x2xf32> -> tensor<2x3x16x8xf32>
  return %0 : tensor<2x3x16x8xf32>
}
