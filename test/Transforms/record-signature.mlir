// RUN: kvshift-opt %s --kvshift-record-signature | FileCheck %s
// RUN: kvshift-opt %s --kvshift-record-signature --kvshift-record-signature | FileCheck %s

// kvshift-record-signature attaches `kvshift.signature = <function type>` to
// every func.func with a body that does not carry one yet. Running it twice
// changes nothing.

// A bf16 signature, recorded as written.
// CHECK-LABEL: func.func @bf16(
// CHECK-SAME: %{{.*}}: tensor<4xbf16>) -> tensor<4xbf16> attributes {kvshift.signature = (tensor<4xbf16>) -> tensor<4xbf16>}
func.func @bf16(%a: tensor<4xbf16>) -> tensor<4xbf16> {
  return %a : tensor<4xbf16>
}

// Several arguments and results, dynamic dimensions, the attention operand
// order.
// CHECK-LABEL: func.func @attention(
// CHECK-SAME: attributes {kvshift.signature = (tensor<?x4x?x16xf16>, tensor<?x2x?x16xf16>, tensor<?x2x?x16xf16>, tensor<2x2xf32>, tensor<2x2xf32>) -> (tensor<?x4x?x16xf16>, tensor<2x2xf32>)}
// CHECK: kvshift.kv_shift_attention
func.func @attention(%q: tensor<?x4x?x16xf16>, %k: tensor<?x2x?x16xf16>, %v: tensor<?x2x?x16xf16>, %kw: tensor<2x2xf32>, %vw: tensor<2x2xf32>) -> (tensor<?x4x?x16xf16>, tensor<2x2xf32>) {
  %o = kvshift.kv_shift_attention %q, %k, %v mix(%kw, %vw) causal
       : (tensor<?x4x?x16xf16>, tensor<?x2x?x16xf16>, tensor<?x2x?x16xf16>, tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<?x4x?x16xf16>
  return %o, %kw : tensor<?x4x?x16xf16>, tensor<2x2xf32>
}

// No arguments, no results.
// CHECK-LABEL: func.func @empty()
// CHECK-SAME: attributes {kvshift.signature = () -> ()}
func.func @empty() {
  return
}

// Other attributes are kept.
// CHECK-LABEL: func.func @other_attrs(
// CHECK-SAME: attributes {kvshift.signature = (f32) -> f32, llvm.emit_c_interface}
func.func @other_attrs(%a: f32) -> f32 attributes {llvm.emit_c_interface} {
  return %a : f32
}

// An existing signature is not overwritten.
// CHECK-LABEL: func.func @already_recorded(
// CHECK-SAME: attributes {kvshift.signature = (tensor<2xbf16>) -> tensor<2xbf16>}
func.func @already_recorded(%a: tensor<2xf32>) -> tensor<2xf32> attributes {kvshift.signature = (tensor<2xbf16>) -> tensor<2xbf16>} {
  return %a : tensor<2xf32>
}

// Declarations have no body and get no signature.
// CHECK-LABEL: func.func private @declaration(
// CHECK-SAME: tensor<4xf32>) -> tensor<4xf32>{{$}}
func.func private @declaration(tensor<4xf32>) -> tensor<4xf32>

// Functions in nested modules are recorded too.
// CHECK-LABEL: module @inner
// CHECK: func.func @nested(
// CHECK-SAME: attributes {kvshift.signature = (index, memref<4xf32>) -> i1}
module @inner {
  func.func @nested(%i: index, %m: memref<4xf32>) -> i1 {
    %t = arith.constant true
    return %t : i1
  }
}
