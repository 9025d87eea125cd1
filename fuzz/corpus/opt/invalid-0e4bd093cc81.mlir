func.func @shift_x_i32(%x: tensor<2x4x16x8xi32>, %w: tensor<4x2xf32>) {
  %0 = kvshift.kv_shift %x, %w : tensor<2x4x16x8xi32>, tensor<4x2xf32> -> tensor<2x4x16x8xi32>
  return
}
