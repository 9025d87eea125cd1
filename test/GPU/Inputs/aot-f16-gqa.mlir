// Input of aot.test: f16, GQA (4 query heads over 2 KV heads), causal with
// Sq < Sk (bottom-right aligned), odd S, static shapes.
func.func @attn(%q: tensor<1x4x77x64xf16>, %k: tensor<1x2x99x64xf16>, %v: tensor<1x2x99x64xf16>, %kw: tensor<2x2xf32>, %vw: tensor<2x2xf32>) -> tensor<1x4x77x64xf16> {
  %o = kvshift.kv_shift_attention %q, %k, %v mix(%kw, %vw) causal
      : (tensor<1x4x77x64xf16>, tensor<1x2x99x64xf16>, tensor<1x2x99x64xf16>, tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<1x4x77x64xf16>
  return %o : tensor<1x4x77x64xf16>
}
