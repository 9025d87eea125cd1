func.func @with_lse_bad_lse(%q: tensor<1x4x16x8xf32>, %k: tensor<1x2x16x8xf32>, %w: tensor<2x2xf32>) {
  %o, %l = kvshift.kv_shift_attention_with_lse %q, %k, %k mix(%w, %w) : (tensor<1x4x16x8xf32>, tensor<1x2x16x8xf32>, tensor<1x2x16x8xf32>, tensor<2x2xf32>, tensor<2x2xf32>) -> (tensor<1x4x16x8xf32>, tensor<1x4x8xf32>)
  return
}
