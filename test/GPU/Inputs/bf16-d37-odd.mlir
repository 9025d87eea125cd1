// Input of ptxas.test.
func.func @attn(%q: tensor<1x4x77x37xbf16>, %k: tensor<1x2x99x37xbf16>, %v: tensor<1x2x99x37xbf16>, %kw: tensor<?x2xf32>, %vw: tensor<?x2xf32>) -> tensor<1x4x77x37xbf16> {
  %o = kvshift.kv_shift_attention %q, %k, %v mix(%kw, %vw) causal
      : (tensor<1x4x77x37xbf16>, tensor<1x2x99x37xbf16>, tensor<1x2x99x37xbf16>, tensor<?x2xf32>, tensor<?x2xf32>) -> tensor<1x4x77x37xbf16>
  return %o : tensor<1x4x77x37xbf16>
}
