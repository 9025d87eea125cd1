func.func @keep_refining_cast(%x0: tensor<?x2x8x16xf32>, %w: tensor<2x2xf32>) -> tensor<1x2x8x16xf32> {
  %x = tensor.cast %x0 : tensor<?x2x8x16xf32> to tensor<1x2x8x16xf32>
  %0 = kvshift.kv_shift %x, %w : tensor<1x2x8x16xf32>, tensor<2x2xf32> -> tensor<1x2x8x16xf32>
  return %0 : tensor<1x2x8x16xf32>
}
