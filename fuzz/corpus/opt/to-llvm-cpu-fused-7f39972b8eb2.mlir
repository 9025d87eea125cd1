func.func @attn(%q: tensor<1x2x37x24xf32>, %k: tensor<1x1x37x24xf32>, %v: tensor<1x1x37x24xf32>, %kw: tensor<1x2xf32>, %vw: tensor<1x2xf32>) -> tensor<1x2x37x24xf32> {
  %o = kvshift.kv_shift_attention %q, %k, %v mix(%kw, %vw) causal : (tensor<1x2x37x24xf32>, tensor<1x1x37x24xf32>, tensor<1x1x37x24xf32>, tensor<1x2xf32>, tensor<1x2xf32>) -> tensor<1x2x37x24xf32>
  return %o : tensor<1x2x37x24xf32>
}
