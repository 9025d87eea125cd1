func.func @shift_x_f64(%x: tensor<2x4x16x8xf64>, %w: tensor<4x2xf32>) {
  %0 = kvshift.kv_shift %x, %w : tensor<2x4x16x8xf64>, tensor<4x2xf32> -> tensor<2x4x16x8xf64>
  return
}
