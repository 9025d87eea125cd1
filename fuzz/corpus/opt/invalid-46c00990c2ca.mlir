func.func @att_zero_kv_heads(%q: tensor<2x4x16x8xf32>, %k: tensor<2x0x16x8xf32>, %v: tensor<2x0x16x8xf32>, %kw: tensor<0x2xf32>, %vw: tensor<0x2xf32>) {
  %0 = kvshift.kv_shift_attention %q, %k, %v mix(%kw, %vw) : (tensor<2x4x16x8xf32>, tensor<2x0x16x8xf32>, tensor<2x0x16x8xf32>, tensor<0x2xf32>, tensor<0x2xf32>) -> tensor<2x4x16x8xf32>
  return
}
