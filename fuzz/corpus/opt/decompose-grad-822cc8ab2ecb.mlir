func.func @grad(%q: tensor<2x4x37x24xf32>, %k: tensor<2x2x37x24xf32>, %v: tensor<2x2x37x24xf32>, %kw: tensor<2x2xf32>, %vw: tensor<2x2xf32>, %do: tensor<2x4x37x24xf32>)
    -> (tensor<2x4x37x24xf32>, tensor<2x2x37x24xf32>, tensor<2x2x37x24xf32>, tensor<2x2xf32>, tensor<2x2xf32>) {
  %dq, %dk, %dv, %dkw, %dvw = kvshift.kv_shift_attention_grad %q, %k, %v mix(%kw, %vw) dout(%do) causal
      : (tensor<2x4x37x24xf32>, tensor<2x2x37x24xf32>, tensor<2x2x37x24xf32>, tensor<2x2xf32>, tensor<2x2xf32>, tensor<2x4x37x24xf32>)
      -> (tensor<2x4x37x24xf32>, tensor<2x2x37x24xf32>, tensor<2x2x37x24xf32>, tensor<2x2xf32>, tensor<2x2xf32>)
  return %dq, %dk, %dv, %dkw, %dvw : tensor<2x4x37x24xf32>, tensor<2x2x37x24xf32>, tensor<2x2x37x24xf32>, tensor<2x2xf32>, tensor<2x2xf32>
}
