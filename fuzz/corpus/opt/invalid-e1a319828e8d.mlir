func.func @att_generic_causal_not_unit(%q: tensor<2x4x16x8xf32>, %k: tensor<2x2x16x8xf32>, %w: tensor<2x2xf32>) {
  %0 = "kvshift.kv_shift_attention"(%q, %k, %k, %w, %w) {causal = 1 : i32} : (tensor<2x4x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<2x4x16x8xf32>
  return
}
