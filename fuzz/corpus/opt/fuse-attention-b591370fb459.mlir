func.func @not_causal(%q: tensor<2x4x100x32xf32>, %k: tensor<2x4x100x32xf32>, %w: tensor<4x2xf32>) -> tensor<2x4x100x32xf32> {
  %o = kvshift.kv_shift_attention %q, %k, %k mix(%w, %w) : (tensor<2x4x100x32xf32>, tensor<2x4x100x32xf32>, tensor<2x4x100x32xf32>, tensor<4x2xf32>, tensor<4x2xf32>) -> tensor<2x4x100x32xf32>
  return %o : tensor<2x4x100x32xf32>
}
