func.func @main(%q: tensor<1x2x2x4xf32>, %kc: tensor<1x1x8x4xf32>, %len64: i64) -> tensor<1x2x2x4xf32> {
  %len = arith.index_cast %len64 : i64 to index
  %o = kvshift.kv_cache_attention %q, %kc, %kc length %len causal
      : (tensor<1x2x2x4xf32>, tensor<1x1x8x4xf32>, tensor<1x1x8x4xf32>, index) -> tensor<1x2x2x4xf32>
  return %o : tensor<1x2x2x4xf32>
}
