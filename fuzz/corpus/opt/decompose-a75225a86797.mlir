func.func @attention_dynamic_kv_heads(%q: tensor<1x4x8x16xf16>, %k: tensor<1x?x8x16xf16>, %v: tensor<1x?x8x16xf16>, %kw: tensor<?x2xf32>, %vw: tensor<?x2xf32>) -> tensor<1x4x8x16xf16> {
  %o = kvshift.kv_shift_attention %q, %k, %v mix(%kw, %vw)
       : (tensor<1x4x8x16xf16>, tensor<1x?x8x16xf16>, tensor<1x?x8x16xf16>, tensor<?x2xf32>, tensor<?x2xf32>) -> tensor<1x4x8x16xf16>
  return %o : tensor<1x4x8x16xf16>
}
