func.func @shift_result_shape(%x: tensor<2x4x16x8xf32>, %w: tensor<4x2xf32>) {
  %0 = kvshift.kv_shift %x, %w : tensor<2x4x16x8xf32>, tensor<4x2xf32> -> tensor<2x4x15x8xf32>
  return
}
