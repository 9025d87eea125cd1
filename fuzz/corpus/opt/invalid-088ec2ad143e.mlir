func.func @shift_x_memref(%x: memref<2x4x16x8xf32>, %w: tensor<4x2xf32>) {
  %0 = kvshift.kv_shift %x, %w : memref<2x4x16x8xf32>, tensor<4x2xf32> -> tensor<2x4x16x8xf32>
  return
}
