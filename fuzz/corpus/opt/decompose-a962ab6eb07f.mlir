func.func @kv_shift_dynamic_f16(%x: tensor<?x?x?x?xf16>, %w: tensor<?x2xf32>) -> tensor<?x?x?x?xf16> {
  %0 = kvshift.kv_shift %x, %w : tensor<?x?x?x?xf16>, tensor<?x2xf32> -> tensor<?x?x?x?xf16>
  return %0 : tensor<?x?x?x?xf16>
}
