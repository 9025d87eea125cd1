func.func @attention_bf16(%q: tensor<?x6x?x?xbf16>, %k: tensor<?x2x?x?xbf16>, %v: tensor<?x2x?x?xbf16>, %kw: tensor<2x2xf32>, %vw: tensor<2x2xf32>) -> tensor<?x6x?x?xbf16> {
  %o = kvshift.kv_shift_attention %q, %k, %v mix(%kw, %vw)
       : (tensor<?x6x?x?xbf16>, tensor<?x2x?x?xbf16>, tensor<?x2x?x?xbf16>, tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<?x6x?x?xbf16>
  return %o : tensor<?x6x?x?xbf16>
}
