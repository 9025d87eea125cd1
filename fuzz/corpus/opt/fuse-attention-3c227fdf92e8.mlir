func.func @gqa_causal(%q: tensor<1x8x2048x64xf32>, %k: tensor<1x2x2048x64xf32>, %v: tensor<1x2x2048x64xf32>, %kw: tensor<2x2xf32>, %vw: tensor<2x2xf32>) -> tensor<1x8x2048x64xf32> {
  %o = kvshift.kv_shift_attention %q, %k, %v mix(%kw, %vw) causal : (tensor<1x8x2048x64xf32>, tensor<1x2x2048x64xf32>, tensor<1x2x2048x64xf32>, tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<1x8x2048x64xf32>
  return %o : tensor<1x8x2048x64xf32>
}
