func.func @bf16(%a: tensor<4xbf16>) -> tensor<4xbf16> {
  return %a : tensor<4xbf16>
}

func.func @attention(%q: tensor<?x4x?x16xf16>, %k: tensor<?x2x?x16xf16>, %v: tensor<?x2x?x16xf16>, %kw: tensor<2x2xf32>, %vw: tensor<2x2xf32>) -> (tensor<?x4x?x16xf16>, tensor<2x2xf32>) {
  %o = kvshift.kv_shift_attention %q, %k, %v mix(%kw, %vw) causal
       : (tensor<?x4x?x16xf16>, tensor<?x2x?x16xf16>, tensor<?x2x?x16xf16>, tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<?x4x?x16xf16>
  return %o, %kw : tensor<?x4x?x16xf16>, tensor<2x2xf32>
}

func.func @empty() {
  return
}

func.func @other_attrs(%a: f32) -> f32 attributes {llvm.emit_c_interface} {
  return %a : f32
}

func.func @already_recorded(%a: tensor<2xf32>) -> tensor<2xf32> attributes {kvshift.signature = (tensor<2xbf16>) -> tensor<2xbf16>} {
  return %a : tensor<2xf32>
}

func.func private @declaration(tensor<4xf32>) -> tensor<4xf32>

module @inner {
  func.func @nested(%i: index, %m: memref<4xf32>) -> i1 {
    %t = arith.constant true
    return %t : i1
  }
}
