func.func @no_match(%q: tensor<1x2x8x4xf32>, %k: tensor<1x2x8x4xf32>, %k2: tensor<1x2x8x4xf32>, %w: tensor<2x2xf32>, %d: tensor<1x2x8x4xf32>) -> (tensor<1x2x8x4xf32>, tensor<1x2x8x4xf32>, tensor<1x2x8x4xf32>, tensor<1x2x8x4xf32>) {
  %o = kvshift.kv_shift_attention %q, %k, %k mix(%w, %w) causal : (tensor<1x2x8x4xf32>, tensor<1x2x8x4xf32>, tensor<1x2x8x4xf32>, tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<1x2x8x4xf32>
  %a:5 = kvshift.kv_shift_attention_grad %q, %k, %k mix(%w, %w) dout(%d) : (tensor<1x2x8x4xf32>, tensor<1x2x8x4xf32>, tensor<1x2x8x4xf32>, tensor<2x2xf32>, tensor<2x2xf32>, tensor<1x2x8x4xf32>) -> (tensor<1x2x8x4xf32>, tensor<1x2x8x4xf32>, tensor<1x2x8x4xf32>, tensor<2x2xf32>, tensor<2x2xf32>)
  %b:5 = kvshift.kv_shift_attention_grad %q, %k2, %k mix(%w, %w) dout(%d) causal : (tensor<1x2x8x4xf32>, tensor<1x2x8x4xf32>, tensor<1x2x8x4xf32>, tensor<2x2xf32>, tensor<2x2xf32>, tensor<1x2x8x4xf32>) -> (tensor<1x2x8x4xf32>, tensor<1x2x8x4xf32>, tensor<1x2x8x4xf32>, tensor<2x2xf32>, tensor<2x2xf32>)
  %o2 = kvshift.kv_shift_attention %q, %k2, %k mix(%w, %w) causal : (tensor<1x2x8x4xf32>, tensor<1x2x8x4xf32>, tensor<1x2x8x4xf32>, tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<1x2x8x4xf32>
  return %o, %a#0, %b#0, %o2 : tensor<1x2x8x4xf32>, tensor<1x2x8x4xf32>, tensor<1x2x8x4xf32>, tensor<1x2x8x4xf32>
}
