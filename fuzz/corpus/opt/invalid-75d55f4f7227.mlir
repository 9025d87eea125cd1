func.func @shift_w_heads(%x: tensor<2x4x16x8xf32>, %w: tensor<2x2xf32>) {
  %0 = kvshift.kv_shift %x, %w : tensor<2x4x16x8xf32>, tensor<2x2xf32> -> tensor<2x4x16x8xf32>
  return
}
