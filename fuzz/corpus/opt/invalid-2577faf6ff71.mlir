func.func @att_vw_dyn_hkv_not_two(%q: tensor<2x4x16x8xf32>, %k: tensor<2x?x16x8xf32>, %v: tensor<2x?x16x8xf32>, %kw: tensor<2x2xf32>, %vw: tensor<2x1xf32>) {
  %0 = kvshift.kv_shift_attention %q, %k, %v mix(%kw, %vw) : (tensor<2x4x16x8xf32>, tensor<2x?x16x8xf32>, tensor<2x?x16x8xf32>, tensor<2x2xf32>, tensor<2x1xf32>) -> tensor<2x4x16x8xf32>
  return
}
