func.func @shift_w_dyn_heads_not_two(%x: tensor<2x4x16x8xf32>, %w: tensor<?x1xf32>) {
  %0 = kvshift.kv_shift %x, %w : tensor<2x4x16x8xf32>, tensor<?x1xf32> -> tensor<2x4x16x8xf32>
  return
}
