// A function whose result (100000 x 100000 x 100 f32, 3.7 TiB) cannot be allocated.
func.func @big(%x: tensor<4xf32>) -> tensor<100000x100000x100xf32> {
  %c = arith.constant 1.0 : f32
  %e = tensor.empty() : tensor<100000x100000x100xf32>
  %f = linalg.fill ins(%c : f32) outs(%e : tensor<100000x100000x100xf32>) -> tensor<100000x100000x100xf32>
  return %f : tensor<100000x100000x100xf32>
}
