func.func @grad_with_lse_bad_lse(%q: tensor<1x4x16x8xf32>, %k: tensor<1x2x16x8xf32>, %w: tensor<2x2xf32>, %lse: tensor<1x4x16xf16>) {
  %g:5 = kvshift.kv_shift_attention_grad_with_lse %q, %k, %k mix(%w, %w) dout(%q) stats(%q, %lse) : (tensor<1x4x16x8xf32>, tensor<1x2x16x8xf32>, tensor<1x2x16x8xf32>, tensor<2x2xf32>, tensor<2x2xf32>, tensor<1x4x16x8xf32>, tensor<1x4x16x8xf32>, tensor<1x4x16xf16>) -> (tensor<1x4x16x8xf32>, tensor<1x2x16x8xf32>, tensor<1x2x16x8xf32>, tensor<2x2xf32>, tensor<2x2xf32>)
  return
}
