func.func @kv_shift_bf16(%x: tensor<1x?x?x8xbf16>, %w: tensor<?x2xf32>) -> tensor<1x?x?x8xbf16> {
  %0 = kvshift.kv_shift %x, %w : tensor<1x?x?x8xbf16>, tensor<?x2xf32> -> tensor<1x?x?x8xbf16>
  return %0 : tensor<1x?x?x8xbf16>
}
