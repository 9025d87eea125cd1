// Input of ptxas.test and gpu-check: a forward and its gradient on the same
// operands (bf16, GQA, causal, D = 128, dynamic B/H/S). The pipeline's
// --kvshift-share-attention-stats makes them kv_shift_attention_with_lse and
// kv_shift_attention_grad_with_lse: the backward reads the forward's row
// log-sum-exp instead of recomputing it.
func.func @train(%q: tensor<?x?x?x128xbf16>, %k: tensor<?x?x?x128xbf16>, %v: tensor<?x?x?x128xbf16>,
                 %kw: tensor<?x2xf32>, %vw: tensor<?x2xf32>, %do: tensor<?x?x?x128xbf16>)
    -> (tensor<?x?x?x128xbf16>, tensor<?x?x?x128xbf16>, tensor<?x?x?x128xbf16>, tensor<?x?x?x128xbf16>, tensor<?x2xf32>, tensor<?x2xf32>) {
  %o = kvshift.kv_shift_attention %q, %k, %v mix(%kw, %vw) causal
      : (tensor<?x?x?x128xbf16>, tensor<?x?x?x128xbf16>, tensor<?x?x?x128xbf16>, tensor<?x2xf32>, tensor<?x2xf32>)
      -> tensor<?x?x?x128xbf16>
  %dq, %dk, %dv, %dkw, %dvw = kvshift.kv_shift_attention_grad %q, %k, %v mix(%kw, %vw) dout(%do) causal
      : (tensor<?x?x?x128xbf16>, tensor<?x?x?x128xbf16>, tensor<?x?x?x128xbf16>, tensor<?x2xf32>, tensor<?x2xf32>, tensor<?x?x?x128xbf16>)
      -> (tensor<?x?x?x128xbf16>, tensor<?x?x?x128xbf16>, tensor<?x?x?x128xbf16>, tensor<?x2xf32>, tensor<?x2xf32>)
  return %o, %dq, %dk, %dv, %dkw, %dvw : tensor<?x?x?x128xbf16>, tensor<?x?x?x128xbf16>, tensor<?x?x?x128xbf16>, tensor<?x?x?x128xbf16>, tensor<?x2xf32>, tensor<?x2xf32>
}
