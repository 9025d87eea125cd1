func.func @shift_generic_no_result(%x: tensor<2x4x16x8xf32>, %w: tensor<4x2xf32>) {
  "kvshift.kv_shift"(%x, %w) : (tensor<2x4x16x8xf32>, tensor<4x2xf32>) -> ()
  return
}
