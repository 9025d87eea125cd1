// Input of ptxas.test.
func.func @attn(%q: tensor<2x8x333x64xf16>, %k: tensor<2x8x333x64xf16>, %v: tensor<2x8x333x64xf16>, %kw: tensor<?x2xf32>, %vw: tensor<?x2xf32>) -> tensor<2x8x333x64xf16> {
  %o = kvshift.kv_shift_attention %q, %k, %v mix(%kw, %vw) 
      : (tensor<2x8x333x64xf16>, tensor<2x8x333x64xf16>, tensor<2x8x333x64xf16>, tensor<?x2xf32>, tensor<?x2xf32>) -> tensor<2x8x333x64xf16>
  return %o : tensor<2x8x333x64xf16>
}
