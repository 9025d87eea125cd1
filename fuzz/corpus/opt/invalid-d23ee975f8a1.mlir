func.func @shift_w_not_tensor(%x: tensor<2x4x16x8xf32>, %w: f32) {
  %0 = kvshift.kv_shift %x, %w : tensor<2x4x16x8xf32>, f32 -> tensor<2x4x16x8xf32>
  return
}
