func.func @shift_w_f16(%x: tensor<2x4x16x8xf32>, %w: tensor<4x2xf16>) {
  %0 = kvshift.kv_shift %x, %w : tensor<2x4x16x8xf32>, tensor<4x2xf16> -> tensor<2x4x16x8xf32>
  return
}
