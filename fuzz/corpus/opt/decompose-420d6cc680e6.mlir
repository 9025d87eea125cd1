func.func @attention_f16_static_d(%q: tensor<1x8x?x64xf16>, %k: tensor<1x8x?x64xf16>, %v: tensor<1x8x?x64xf16>, %kw: tensor<8x2xf32>, %vw: tensor<8x2xf32>) -> tensor<1x8x?x64xf16> {
  %o = kvshift.kv_shift_attention %q, %k, %v mix(%kw, %vw) causal
       : (tensor<1x8x?x64xf16>, tensor<1x8x?x64xf16>, tensor<1x8x?x64xf16>, tensor<8x2xf32>, tensor<8x2xf32>) -> tensor<1x8x?x64xf16>
  return %o : tensor<1x8x?x64xf16>
}
