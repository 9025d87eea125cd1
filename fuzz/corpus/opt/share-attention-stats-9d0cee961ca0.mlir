func.func @two_grads(%q: tensor<1x2x8x4xf32>, %k: tensor<1x2x8x4xf32>, %w: tensor<2x2xf32>, %d1: tensor<1x2x8x4xf32>, %d2: tensor<1x2x8x4xf32>) -> (tensor<1x2x8x4xf32>, tensor<1x2x8x4xf32>, tensor<1x2x8x4xf32>) {
  %o = kvshift.kv_shift_attention %q, %k, %k mix(%w, %w) : (tensor<1x2x8x4xf32>, tensor<1x2x8x4xf32>, tensor<1x2x8x4xf32>, tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<1x2x8x4xf32>
  %a:5 = kvshift.kv_shift_attention_grad %q, %k, %k mix(%w, %w) dout(%d1) : (tensor<1x2x8x4xf32>, tensor<1x2x8x4xf32>, tensor<1x2x8x4xf32>, tensor<2x2xf32>, tensor<2x2xf32>, tensor<1x2x8x4xf32>) -> (tensor<1x2x8x4xf32>, tensor<1x2x8x4xf32>, tensor<1x2x8x4xf32>, tensor<2x2xf32>, tensor<2x2xf32>)
  %b:5 = kvshift.kv_shift_attention_grad %q, %k, %k mix(%w, %w) dout(%d2) : (tensor<1x2x8x4xf32>, tensor<1x2x8x4xf32>, tensor<1x2x8x4xf32>, tensor<2x2xf32>, tensor<2x2xf32>, tensor<1x2x8x4xf32>) -> (tensor<1x2x8x4xf32>, tensor<1x2x8x4xf32>, tensor<1x2x8x4xf32>, tensor<2x2xf32>, tensor<2x2xf32>)
  return %o, %a#0, %b#0 : tensor<1x2x8x4xf32>, tensor<1x2x8x4xf32>, tensor<1x2x8x4xf32>
}
