// Input of ptxas.test and gpu-check: kv_shift_attention_grad, bf16, GQA,
// causal, D = 128, dynamic B/H/S.
func.func @grad(%q: tensor<?x?x?x128xbf16>, %k: tensor<?x?x?x128xbf16>, %v: tensor<?x?x?x128xbf16>,
                %kw: tensor<?x2xf32>, %vw: tensor<?x2xf32>, %do: tensor<?x?x?x128xbf16>)
    -> (tensor<?x?x?x128xbf16>, tensor<?x?x?x128xbf16>, tensor<?x?x?x128xbf16>, tensor<?x2xf32>, tensor<?x2xf32>) {
  %dq, %dk, %dv, %dkw, %dvw = kvshift.kv_shift_attention_grad %q, %k, %v mix(%kw, %vw) dout(%do) causal
      : (tensor<?x?x?x128xbf16>, tensor<?x?x?x128xbf16>, tensor<?x?x?x128xbf16>, tensor<?x2xf32>, tensor<?x2xf32>, tensor<?x?x?x128xbf16>)
      -> (tensor<?x?x?x128xbf16>, tensor<?x?x?x128xbf16>, tensor<?x?x?x128xbf16>, tensor<?x2xf32>, tensor<?x2xf32>)
  return %dq, %dk, %dv, %dkw, %dvw : tensor<?x?x?x128xbf16>, tensor<?x?x?x128xbf16>, tensor<?x?x?x128xbf16>, tensor<?x2xf32>, tensor<?x2xf32>
}
