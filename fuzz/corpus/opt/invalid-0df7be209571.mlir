func.func @shift_w_transposed(%x: tensor<2x4x16x8xf32>, %w: tensor<2x4xf32>) {
  %0 = kvshift.kv_shift %x, %w : tensor<2x4x16x8xf32>, tensor<2x4xf32> -> tensor<2x4x16x8xf32>
  return
}
