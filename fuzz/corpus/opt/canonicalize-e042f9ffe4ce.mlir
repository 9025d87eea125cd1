func.func @fold_static_cast(%q0: tensor<1x2x8x16xf32>, %k0: tensor<1x2x8x16xf32>, %v: tensor<?x2x8x16xf32>, %w: tensor<2x2xf32>) -> tensor<?x2x8x16xf32> {
  %q = tensor.cast %q0 : tensor<1x2x8x16xf32> to tensor<?x2x8x16xf32>
  %k = tensor.cast %k0 : tensor<1x2x8x16xf32> to tensor<?x2x8x16xf32>
  %0 = kvshift.kv_shift_attention %q, %k, %v mix(%w, %w) : (tensor<?x2x8x16xf32>, tensor<?x2x8x16xf32>, tensor<?x2x8x16xf32>, tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<?x2x8x16xf32>
  return %0 : tensor<?x2x8x16xf32>
}
