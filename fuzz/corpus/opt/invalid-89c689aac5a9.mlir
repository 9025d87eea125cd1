func.func @shift_w_not_two(%x: tensor<2x?x16x8xf32>, %w: tensor<4x3xf32>) {
  %0 = kvshift.kv_shift %x, %w : tensor<2x?x16x8xf32>, tensor<4x3xf32> -> tensor<2x?x16x8xf32>
  return
}
