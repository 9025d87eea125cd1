func.func @att_scale_f64(%q: tensor<2x4x16x8xf32>, %k: tensor<2x2x16x8xf32>, %v: tensor<2x2x16x8xf32>, %kw: tensor<2x2xf32>, %vw: tensor<2x2xf32>) {
  %0 = "kvshift.kv_shift_attention"(%q, %k, %v, %kw, %vw) {scale = 0.5 : f64} : (tensor<2x4x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<2x4x16x8xf32>
  return
}
