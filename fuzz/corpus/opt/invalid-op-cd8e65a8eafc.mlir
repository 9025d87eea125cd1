func.func @f(%q: tensor<1x3x4x8xf32>, %k: tensor<1x2x4x8xf32>, %v: tensor<1x2x4x8xf32>,
             %kw: tensor<2x2xf32>, %vw: tensor<2x2xf32>) -> tensor<1x3x4x8xf32> {
  %o = kvshift.kv_shift_attention %q, %k, %v mix(%kw, %vw)
      : (tensor<1x3x4x8xf32>, tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32>,
         tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<1x3x4x8xf32>
  return %o : tensor<1x3x4x8xf32>
}
