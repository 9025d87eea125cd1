func.func @attn_rope(%q: tensor<1x2x4x8xf32>, %k: tensor<1x2x4x8xf32>, %w: tensor<2x2xf32>) -> tensor<1x2x4x8xf32> {
  %0 = kvshift.kv_shift_attention %q, %k, %k mix(%w, %w) {rope_theta = 10000.0 : f32} : (tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32>, tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<1x2x4x8xf32>
  return %0 : tensor<1x2x4x8xf32>
}
