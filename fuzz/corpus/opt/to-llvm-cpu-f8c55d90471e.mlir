func.func @attention_gqa_f16(%q: tensor<?x6x?x32xf16>, %k: tensor<?x2x?x32xf16>, %v: tensor<?x2x?x32xf16>, %kw: tensor<2x2xf32>, %vw: tensor<2x2xf32>) -> tensor<?x6x?x32xf16> {
  %o = kvshift.kv_shift_attention %q, %k, %v mix(%kw, %vw) scale = 0.5
       : (tensor<?x6x?x32xf16>, tensor<?x2x?x32xf16>, tensor<?x2x?x32xf16>, tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<?x6x?x32xf16>
  return %o : tensor<?x6x?x32xf16>
}
