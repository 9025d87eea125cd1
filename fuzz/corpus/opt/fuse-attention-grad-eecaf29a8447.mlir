func.func @bwd(%q: tensor<1x8x2048x64xf32>, %k: tensor<1x2x2048x64xf32>, %v: tensor<1x2x2048x64xf32>, %kw: tensor<2x2xf32>, %vw: tensor<2x2xf32>, %do: tensor<1x8x2048x64xf32>, %o: tensor<1x8x2048x64xf32>, %lse: tensor<1x8x2048xf32>)
    -> (tensor<1x8x2048x64xf32>, tensor<1x2x2048x64xf32>, tensor<1x2x2048x64xf32>, tensor<2x2xf32>, tensor<2x2xf32>) {
  %dq, %dk, %dv, %dkw, %dvw = kvshift.kv_shift_attention_grad_with_lse %q, %k, %v mix(%kw, %vw) dout(%do) stats(%o, %lse) causal
      : (tensor<1x8x2048x64xf32>, tensor<1x2x2048x64xf32>, tensor<1x2x2048x64xf32>, tensor<2x2xf32>, tensor<2x2xf32>, tensor<1x8x2048x64xf32>, tensor<1x8x2048x64xf32>, tensor<1x8x2048xf32>)
      -> (tensor<1x8x2048x64xf32>, tensor<1x2x2048x64xf32>, tensor<1x2x2048x64xf32>, tensor<2x2xf32>, tensor<2x2xf32>)
  return %dq, %dk, %dv, %dkw, %dvw : tensor<1x8x2048x64xf32>, tensor<1x2x2048x64xf32>, tensor<1x2x2048x64xf32>, tensor<2x2xf32>, tensor<2x2xf32>
}
