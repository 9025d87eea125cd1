// RUN: kvshift-opt %s --kvshift-emit-c-interface | FileCheck %s

// Public functions with a body get llvm.emit_c_interface (the C entry points
// of ahead-of-time libraries); private ones and declarations do not.

// CHECK-LABEL: func.func @attention(
// CHECK-SAME: attributes {llvm.emit_c_interface}
func.func @attention(%x: tensor<4xf32>) -> tensor<4xf32> {
  return %x : tensor<4xf32>
}

// CHECK: func.func private @helper(%{{.*}}: tensor<4xf32>) -> tensor<4xf32> {{[{]$}}
func.func private @helper(%x: tensor<4xf32>) -> tensor<4xf32> {
  return %x : tensor<4xf32>
}

// CHECK: func.func private @external(tensor<4xf32>) -> tensor<4xf32>{{$}}
func.func private @external(tensor<4xf32>) -> tensor<4xf32>
