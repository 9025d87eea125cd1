func.func @att_q_not_tensor(%q: f32, %k: tensor<2x2x16x8xf32>, %v: tensor<2x2x16x8xf32>, %kw: tensor<2x2xf32>, %vw: tensor<2x2xf32>) {
  %0 = kvshift.kv_shift_attention %q, %k, %v mix(%kw, %vw) : (f32, tensor<2x2x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<2x4x16x8xf32>
  return
}
