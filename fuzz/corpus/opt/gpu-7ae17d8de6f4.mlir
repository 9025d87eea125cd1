func.func @f16_dynamic(%q: tensor<?x?x?x128xf16>, %k: tensor<?x?x?x128xf16>, %v: tensor<?x?x?x128xf16>, %kw: tensor<?x2xf32>, %vw: tensor<?x2xf32>) -> tensor<?x?x?x128xf16> {
  %o = kvshift.kv_shift_attention %q, %k, %v mix(%kw, %vw) scale = 0.5
      : (tensor<?x?x?x128xf16>, tensor<?x?x?x128xf16>, tensor<?x?x?x128xf16>, tensor<?x2xf32>, tensor<?x2xf32>) -> tensor<?x?x?x128xf16>
  return %o : tensor<?x?x?x128xf16>
}
