// KV-shift attention with RoPE and a dynamic head dim: D must be even.
func.func @attn_rope(%q: tensor<1x1x4x?xf32>, %k: tensor<1x1x4x?xf32>,
                     %w: tensor<1x2xf32>) -> tensor<1x1x4x?xf32> {
  %o = kvshift.kv_shift_attention %q, %k, %k mix(%w, %w) causal rope_theta = 10000.0
      : (tensor<1x1x4x?xf32>, tensor<1x1x4x?xf32>, tensor<1x1x4x?xf32>,
         tensor<1x2xf32>, tensor<1x2xf32>) -> tensor<1x1x4x?xf32>
  return %o : tensor<1x1x4x?xf32>
}
