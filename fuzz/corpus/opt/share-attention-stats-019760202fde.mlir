func.func @pair(%q: tensor<1x4x16x8xf32>, %k: tensor<1x2x16x8xf32>, %v: tensor<1x2x16x8xf32>, %kw: tensor<2x2xf32>, %vw: tensor<2x2xf32>, %do: tensor<1x4x16x8xf32>) -> (tensor<1x4x16x8xf32>, tensor<1x4x16x8xf32>, tensor<2x2xf32>) {
  %o = kvshift.kv_shift_attention %q, %k, %v mix(%kw, %vw) causal scale = 0.25 : (tensor<1x4x16x8xf32>, tensor<1x2x16x8xf32>, tensor<1x2x16x8xf32>, tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<1x4x16x8xf32>
  %g:5 = kvshift.kv_shift_attention_grad %q, %k, %v mix(%kw, %vw) dout(%do) causal scale = 0.25 : (tensor<1x4x16x8xf32>, tensor<1x2x16x8xf32>, tensor<1x2x16x8xf32>, tensor<2x2xf32>, tensor<2x2xf32>, tensor<1x4x16x8xf32>) -> (tensor<1x4x16x8xf32>, tensor<1x2x16x8xf32>, tensor<1x2x16x8xf32>, tensor<2x2xf32>, tensor<2x2xf32>)
  return %o, %g#0, %g#4 : tensor<1x4x16x8xf32>, tensor<1x4x16x8xf32>, tensor<2x2xf32>
}
