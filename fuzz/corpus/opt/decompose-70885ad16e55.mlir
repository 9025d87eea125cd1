func.func @attention_causal_decode(%q: tensor<1x4x4x64xf32>, %k: tensor<1x1x16x64xf32>, %v: tensor<1x1x16x64xf32>, %kw: tensor<1x2xf32>, %vw: tensor<1x2xf32>) -> tensor<1x4x4x64xf32> {
  %o = kvshift.kv_shift_attention %q, %k, %v mix(%kw, %vw) causal
       : (tensor<1x4x4x64xf32>, tensor<1x1x16x64xf32>, tensor<1x1x16x64xf32>, tensor<1x2xf32>, tensor<1x2xf32>) -> tensor<1x4x4x64xf32>
  return %o : tensor<1x4x4x64xf32>
}
