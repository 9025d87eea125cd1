func.func @att_head_dim_partly_dynamic(%q: tensor<?x4x?x8xf32>, %k: tensor<2x?x16x4xf32>, %v: tensor<2x?x16x4xf32>, %kw: tensor<?x2xf32>, %vw: tensor<?x2xf32>) {
  %0 = kvshift.kv_shift_attention %q, %k, %v mix(%kw, %vw) : (tensor<?x4x?x8xf32>, tensor<2x?x16x4xf32>, tensor<2x?x16x4xf32>, tensor<?x2xf32>, tensor<?x2xf32>) -> tensor<?x4x?x8xf32>
  return
}
