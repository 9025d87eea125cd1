func.func @attention_gqa_causal(%q: tensor<2x4x16x16xf32>, %k: tensor<2x2x16x16xf32>, %v: tensor<2x2x16x16xf32>, %kw: tensor<2x2xf32>, %vw: tensor<2x2xf32>) -> tensor<2x4x16x16xf32> {
  %o = kvshift.kv_shift_attention %q, %k, %v mix(%kw, %vw) causal
       : (tensor<2x4x16x16xf32>, tensor<2x2x16x16xf32>, tensor<2x2x16x16xf32>, tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<2x4x16x16xf32>
  return %o : tensor<2x4x16x16xf32>
}
