func.func @shift_x_not_tensor(%x: f32, %w: tensor<4x2xf32>) {
  %0 = kvshift.kv_shift %x, %w : f32, tensor<4x2xf32> -> tensor<2x4x16x8xf32>
  return
}
