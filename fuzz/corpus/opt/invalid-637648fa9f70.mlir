func.func @grad_zero_keys(%q: tensor<1x2x4x8xf32>, %k: tensor<1x2x0x8xf32>, %w: tensor<2x2xf32>) {
  %0:5 = kvshift.kv_shift_attention_grad %q, %k, %k mix(%w, %w) dout(%q) : (tensor<1x2x4x8xf32>, tensor<1x2x0x8xf32>, tensor<1x2x0x8xf32>, tensor<2x2xf32>, tensor<2x2xf32>, tensor<1x2x4x8xf32>) -> (tensor<1x2x4x8xf32>, tensor<1x2x0x8xf32>, tensor<1x2x0x8xf32>, tensor<2x2xf32>, tensor<2x2xf32>)
  return
}
