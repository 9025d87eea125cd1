func.func @attn_zero_head_dim(%q: tensor<1x2x4x0xf32>, %k: tensor<1x2x4x0xf32>, %v: tensor<1x2x4x0xf32>, %w: tensor<2x2xf32>) -> tensor<1x2x4x0xf32> {
  %0 = kvshift.kv_shift_attention %q, %k, %v mix(%w, %w) : (tensor<1x2x4x0xf32>, tensor<1x2x4x0xf32>, tensor<1x2x4x0xf32>, tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<1x2x4x0xf32>
  return %0 : tensor<1x2x4x0xf32>
}
