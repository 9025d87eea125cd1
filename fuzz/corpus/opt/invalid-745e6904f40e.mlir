func.func @grad_dvw_heads(%q: tensor<2x4x16x8xf32>, %k: tensor<2x2x16x8xf32>, %v: tensor<2x2x16x8xf32>, %kw: tensor<2x2xf32>, %vw: tensor<2x2xf32>, %do: tensor<2x4x16x8xf32>) {
  %0:5 = kvshift.kv_shift_attention_grad %q, %k, %v mix(%kw, %vw) dout(%do) : (tensor<2x4x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2xf32>, tensor<2x2xf32>, tensor<2x4x16x8xf32>) -> (tensor<2x4x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2xf32>, tensor<4x2xf32>)
  return
}
