func.func @att_gqa_not_multiple(%q: tensor<2x4x16x8xf32>, %k: tensor<2x3x16x8xf32>, %v: tensor<2x3x16x8xf32>, %kw: tensor<3x2xf32>, %vw: tensor<3x2xf32>) {
  %0 = kvshift.kv_shift_attention %q, %k, %v mix(%kw, %vw) : (tensor<2x4x16x8xf32>, tensor<2x3x16x8xf32>, tensor<2x3x16x8xf32>, tensor<3x2xf32>, tensor<3x2xf32>) -> tensor<2x4x16x8xf32>
  return
}
