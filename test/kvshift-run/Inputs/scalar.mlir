// Scalars and every supported element type.
func.func @scale(%x: f64, %n: i32, %h: tensor<3xf16>, %i: tensor<2x2xi64>)
    -> (f64, tensor<3xf16>, tensor<2x2xi64>, i32) {
  %two = arith.constant 2.0 : f64
  %y = arith.mulf %x, %two : f64
  %hh = arith.addf %h, %h : tensor<3xf16>
  %ii = arith.muli %i, %i : tensor<2x2xi64>
  return %y, %hh, %ii, %n : f64, tensor<3xf16>, tensor<2x2xi64>, i32
}

func.func @unsupported(%b: tensor<4xi1>) -> tensor<4xi1> {
  return %b : tensor<4xi1>
}
