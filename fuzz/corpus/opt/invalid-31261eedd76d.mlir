func.func @grad_generic_result_count(%q: tensor<2x4x16x8xf32>, %k: tensor<2x2x16x8xf32>, %w: tensor<2x2xf32>) {
  %0:4 = "kvshift.kv_shift_attention_grad"(%q, %k, %k, %w, %w, %q) : (tensor<2x4x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2xf32>, tensor<2x2xf32>, tensor<2x4x16x8xf32>) -> (tensor<2x4x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2xf32>)
  return
}
