func.func @bf16_dynamic(%q: tensor<?x?x?x?xbf16>, %k: tensor<?x?x?x?xbf16>, %w: tensor<?x2xf32>) -> tensor<?x?x?x?xbf16> {
  %o = kvshift.kv_shift_attention %q, %k, %k mix(%w, %w) causal : (tensor<?x?x?x?xbf16>, tensor<?x?x?x?xbf16>, tensor<?x?x?x?xbf16>, tensor<?x2xf32>, tensor<?x2xf32>) -> tensor<?x?x?x?xbf16>
  return %o : tensor<?x?x?x?xbf16>
}
