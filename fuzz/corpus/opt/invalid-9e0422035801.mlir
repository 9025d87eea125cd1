func.func @shift_result_shape_dyn(%x: tensor<?x4x?x8xf32>, %w: tensor<4x2xf32>) {
  %0 = kvshift.kv_shift %x, %w : tensor<?x4x?x8xf32>, tensor<4x2xf32> -> tensor<3x4x16x9xf32>
  return
}
