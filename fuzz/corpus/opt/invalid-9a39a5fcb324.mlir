func.func @att_generic_operand_count(%q: tensor<2x4x16x8xf32>, %k: tensor<2x2x16x8xf32>) {
  %0 = "kvshift.kv_shift_attention"(%q, %k) : (tensor<2x4x16x8xf32>, tensor<2x2x16x8xf32>) -> tensor<2x4x16x8xf32>
  return
}
