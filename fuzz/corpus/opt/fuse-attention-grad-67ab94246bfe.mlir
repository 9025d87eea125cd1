func.func @grad_alone(%q: tensor<2x2x37x24xbf16>, %k: tensor<2x1x37x24xbf16>, %w: tensor<1x2xf32>, %do: tensor<2x2x37x24xbf16>) -> (tensor<2x2x37x24xbf16>, tensor<2x1x37x24xbf16>, tensor<1x2xf32>) {
  %dq, %dk, %dv, %dkw, %dvw = kvshift.kv_shift_attention_grad %q, %k, %k mix(%w, %w) dout(%do)
      : (tensor<2x2x37x24xbf16>, tensor<2x1x37x24xbf16>, tensor<2x1x37x24xbf16>, tensor<1x2xf32>, tensor<1x2xf32>, tensor<2x2x37x24xbf16>)
      -> (tensor<2x2x37x24xbf16>, tensor<2x1x37x24xbf16>, tensor<2x1x37x24xbf16>, tensor<1x2xf32>, tensor<1x2xf32>)
  return %dq, %dk, %dkw : tensor<2x2x37x24xbf16>, tensor<2x1x37x24xbf16>, tensor<1x2xf32>
}
