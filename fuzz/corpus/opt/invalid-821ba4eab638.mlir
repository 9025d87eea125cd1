func.func @shift_w_bf16(%x: tensor<2x4x16x8xbf16>, %w: tensor<4x2xbf16>) {
  %0 = kvshift.kv_shift %x, %w : tensor<2x4x16x8xbf16>, tensor<4x2xbf16> -> tensor<2x4x16x8xbf16>
  return
}
