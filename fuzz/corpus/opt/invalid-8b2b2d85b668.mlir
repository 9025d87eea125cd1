func.func @grad_kw_not_tensor(%q: tensor<2x4x16x8xf32>, %k: tensor<2x2x16x8xf32>, %v: tensor<2x2x16x8xf32>, %kw: f32, %vw: f32, %do: tensor<2x4x16x8xf32>) {
  %0:5 = kvshift.kv_shift_attention_grad %q, %k, %v mix(%kw, %vw) dout(%do) : (tensor<2x4x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2x16x8xf32>, f32, f32, tensor<2x4x16x8xf32>) -> (tensor<2x4x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2x16x8xf32>, f32, f32)
  return
}
