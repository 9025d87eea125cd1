func.func @f32_simt(%q: tensor<1x2x33x40xf32>, %k: tensor<1x2x33x40xf32>, %v: tensor<1x2x33x40xf32>, %kw: tensor<2x2xf32>, %vw: tensor<2x2xf32>) -> tensor<1x2x33x40xf32> {
  %o = kvshift.kv_shift_attention %q, %k, %v mix(%kw, %vw) causal
      : (tensor<1x2x33x40xf32>, tensor<1x2x33x40xf32>, tensor<1x2x33x40xf32>, tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<1x2x33x40xf32>
  return %o : tensor<1x2x33x40xf32>
}
