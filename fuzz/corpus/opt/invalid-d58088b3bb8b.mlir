func.func @att_scale_inf_generic(%q: tensor<2x4x16x8xf32>, %k: tensor<2x2x16x8xf32>, %v: tensor<2x2x16x8xf32>, %kw: tensor<2x2xf32>, %vw: tensor<2x2xf32>) {
  %0 = "kvshift.kv_shift_attention"(%q, %k, %v, %kw, %vw) {causal, scale = 0x7F800000 : f32} : (tensor<2x4x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<2x4x16x8xf32>
  return
}
