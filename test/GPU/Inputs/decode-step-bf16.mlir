// Input of ptxas.test and gpu-check: one decode step of one layer, the
// append on the host, the attention over the cache on the GPU (GQA 32/8,
// D = 128, RoPE, dynamic batch and cache rows).
func.func @step(%q: tensor<?x32x1x128xbf16>, %k: tensor<?x8x1x128xbf16>, %v: tensor<?x8x1x128xbf16>,
                %kl: tensor<?x8x1x128xbf16>, %vl: tensor<?x8x1x128xbf16>,
                %kw: tensor<8x2xf32>, %vw: tensor<8x2xf32>,
                %kc: tensor<?x8x?x128xbf16>, %vc: tensor<?x8x?x128xbf16>, %pos: index)
    -> (tensor<?x32x1x128xbf16>, tensor<?x8x?x128xbf16>, tensor<?x8x?x128xbf16>, tensor<?x8x1x128xbf16>, tensor<?x8x1x128xbf16>) {
  %kc1, %vc1, %kl1, %vl1 = kvshift.kv_cache_append %k, %v last(%kl, %vl) mix(%kw, %vw) into(%kc, %vc) at %pos rope_theta = 1.0e4
      : (tensor<?x8x1x128xbf16>, tensor<?x8x1x128xbf16>, tensor<?x8x1x128xbf16>, tensor<?x8x1x128xbf16>, tensor<8x2xf32>, tensor<8x2xf32>, tensor<?x8x?x128xbf16>, tensor<?x8x?x128xbf16>, index)
      -> (tensor<?x8x?x128xbf16>, tensor<?x8x?x128xbf16>, tensor<?x8x1x128xbf16>, tensor<?x8x1x128xbf16>)
  %c1 = arith.constant 1 : index
  %len = arith.addi %pos, %c1 : index
  %o = kvshift.kv_cache_attention %q, %kc1, %vc1 length %len causal rope_theta = 1.0e4
      : (tensor<?x32x1x128xbf16>, tensor<?x8x?x128xbf16>, tensor<?x8x?x128xbf16>, index) -> tensor<?x32x1x128xbf16>
  return %o, %kc1, %vc1, %kl1, %vl1 : tensor<?x32x1x128xbf16>, tensor<?x8x?x128xbf16>, tensor<?x8x?x128xbf16>, tensor<?x8x1x128xbf16>, tensor<?x8x1x128xbf16>
}
