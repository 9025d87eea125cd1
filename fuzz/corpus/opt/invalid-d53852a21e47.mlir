func.func @grad_head_dim_partly_dynamic(%q: tensor<?x4x?x8xf32>, %k: tensor<2x?x16x4xf32>, %v: tensor<2x?x16x4xf32>, %kw: tensor<?x2xf32>, %vw: tensor<?x2xf32>, %do: tensor<?x4x?x8xf32>) {
  %0:5 = kvshift.kv_shift_attention_grad %q, %k, %v mix(%kw, %vw) dout(%do) : (tensor<?x4x?x8xf32>, tensor<2x?x16x4xf32>, tensor<2x?x16x4xf32>, tensor<?x2xf32>, tensor<?x2xf32>, tensor<?x4x?x8xf32>) -> (tensor<?x4x?x8xf32>, tensor<2x?x16x4xf32>, tensor<2x?x16x4xf32>, tensor<?x2xf32>, tensor<?x2xf32>)
  return
}
