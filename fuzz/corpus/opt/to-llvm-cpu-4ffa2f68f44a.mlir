func.func @shift_needs_no_runtime(%x: tensor<?x?x?x?xf32>, %w: tensor<?x2xf32>) -> tensor<?x?x?x?xf32> {
  %0 = kvshift.kv_shift %x, %w : tensor<?x?x?x?xf32>, tensor<?x2xf32> -> tensor<?x?x?x?xf32>
  return %0 : tensor<?x?x?x?xf32>
}
