func.func @with_lse(%q: tensor<1x4x16x8xbf16>, %k: tensor<1x2x16x8xbf16>, %v: tensor<1x2x16x8xbf16>, %kw: tensor<2x2xf32>, %vw: tensor<2x2xf32>) -> tensor<1x4x16xf32> {
  %o, %l = kvshift.kv_shift_attention_with_lse %q, %k, %v mix(%kw, %vw) causal scale = 0.125 : (tensor<1x4x16x8xbf16>, tensor<1x2x16x8xbf16>, tensor<1x2x16x8xbf16>, tensor<2x2xf32>, tensor<2x2xf32>) -> (tensor<1x4x16x8xbf16>, tensor<1x4x16xf32>)
  return %l : tensor<1x4x16xf32>
}

func.func @grad_with_lse_dynamic(%q: tensor<?x?x?x?xf32>, %k: tensor<?x?x?x?xf32>, %w: tensor<?x2xf32>, %do: tensor<?x?x?x?xf32>, %lse: tensor<?x?x?xf32>) -> tensor<?x2xf32> {
  %g:5 = kvshift.kv_shift_attention_grad_with_lse %q, %k, %k mix(%w, %w) dout(%do) stats(%do, %lse) : (tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>, tensor<?x2xf32>, tensor<?x2xf32>, tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>, tensor<?x?x?xf32>) -> (tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>, tensor<?x2xf32>, tensor<?x2xf32>)
  return %g#3 : tensor<?x2xf32>
}
