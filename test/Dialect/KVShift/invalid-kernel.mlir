// RUN: kvshift-opt %s -split-input-file -verify-diagnostics

// Every diagnostic of kvshift.kernel's verifier (KernelOp::verifyRegions in
// lib/Dialect/KVShift/IR/KVShiftOps.cpp), one case per split.

func.func @too_few_block_args(%x: tensor<4xf32>, %y: tensor<4xf32>) -> tensor<4xf32> {
  // expected-error @+1 {{'kvshift.kernel' op expects one block argument per input (2), found 1}}
  %r = kvshift.kernel ins(%x, %y : tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32> {
  ^bb0(%a: memref<4xf32>):
    %o = memref.alloc() : memref<4xf32>
    kvshift.kernel_yield %o : memref<4xf32>
  }
  return %r : tensor<4xf32>
}

// -----

func.func @block_arg_type(%x: tensor<4xf32>) -> tensor<4xf32> {
  // expected-error @+1 {{'kvshift.kernel' op expects block argument 0 of type 'memref<4xf32>' (input 0's buffer), found 'memref<4xf16>'}}
  %r = kvshift.kernel ins(%x : tensor<4xf32>) -> tensor<4xf32> {
  ^bb0(%a: memref<4xf16>):
    %o = memref.alloc() : memref<4xf32>
    kvshift.kernel_yield %o : memref<4xf32>
  }
  return %r : tensor<4xf32>
}

// -----

func.func @block_arg_layout(%x: tensor<4x4xf32>) -> tensor<4xf32> {
  // expected-error @+1 {{'kvshift.kernel' op expects block argument 0 of type 'memref<4x4xf32>' (input 0's buffer), found 'memref<4x4xf32, strided<[8, 1]>>'}}
  %r = kvshift.kernel ins(%x : tensor<4x4xf32>) -> tensor<4xf32> {
  ^bb0(%a: memref<4x4xf32, strided<[8, 1]>>):
    %o = memref.alloc() : memref<4xf32>
    kvshift.kernel_yield %o : memref<4xf32>
  }
  return %r : tensor<4xf32>
}

// -----

func.func @yield_count(%x: tensor<4xf32>) -> (tensor<4xf32>, tensor<4xf32>) {
  // expected-error @+1 {{'kvshift.kernel' op expects kvshift.kernel_yield to give one buffer per result (2), found 1}}
  %r:2 = kvshift.kernel ins(%x : tensor<4xf32>) -> tensor<4xf32>, tensor<4xf32> {
  ^bb0(%a: memref<4xf32>):
    %o = memref.alloc() : memref<4xf32>
    kvshift.kernel_yield %o : memref<4xf32>
  }
  return %r#0, %r#1 : tensor<4xf32>, tensor<4xf32>
}

// -----

func.func @yield_type(%x: tensor<4xf32>) -> tensor<?xf32> {
  // expected-error @+1 {{'kvshift.kernel' op expects yielded buffer 0 of type 'memref<?xf32>' (result 0's buffer), found 'memref<4xf32>'}}
  %r = kvshift.kernel ins(%x : tensor<4xf32>) -> tensor<?xf32> {
  ^bb0(%a: memref<4xf32>):
    %o = memref.alloc() : memref<4xf32>
    kvshift.kernel_yield %o : memref<4xf32>
  }
  return %r : tensor<?xf32>
}

// -----

func.func @tensor_from_above(%x: tensor<4xf32>, %y: tensor<4xf32>) -> tensor<4xf32> {
  %c0 = arith.constant 0 : index
  %r = kvshift.kernel ins(%x : tensor<4xf32>) -> tensor<4xf32> {
  ^bb0(%a: memref<4xf32>):
    // expected-error @+1 {{'tensor.extract' op inside kvshift.kernel has a tensor operand or result; the body works on buffers (pass tensors as inputs)}}
    %e = tensor.extract %y[%c0] : tensor<4xf32>
    %o = memref.alloc() : memref<4xf32>
    memref.store %e, %o[%c0] : memref<4xf32>
    kvshift.kernel_yield %o : memref<4xf32>
  }
  return %r : tensor<4xf32>
}

// -----

func.func @tensor_inside(%x: tensor<4xf32>) -> tensor<4xf32> {
  %r = kvshift.kernel ins(%x : tensor<4xf32>) -> tensor<4xf32> {
  ^bb0(%a: memref<4xf32>):
    // expected-error @+1 {{'tensor.empty' op inside kvshift.kernel has a tensor operand or result; the body works on buffers (pass tensors as inputs)}}
    %t = tensor.empty() : tensor<4xf32>
    %o = memref.alloc() : memref<4xf32>
    kvshift.kernel_yield %o : memref<4xf32>
  }
  return %r : tensor<4xf32>
}

// -----

func.func @yield_input(%x: tensor<4xf32>) -> tensor<4xf32> {
  // expected-error @+1 {{'kvshift.kernel' op expects yielded buffer 0 to be a memref.alloc of its body}}
  %r = kvshift.kernel ins(%x : tensor<4xf32>) -> tensor<4xf32> {
  ^bb0(%a: memref<4xf32>):
    kvshift.kernel_yield %a : memref<4xf32>
  }
  return %r : tensor<4xf32>
}

// -----

func.func @yield_twice(%x: tensor<4xf32>) -> (tensor<4xf32>, tensor<4xf32>) {
  // expected-error @+1 {{'kvshift.kernel' op expects distinct yielded buffers, found 0 and 1 the same}}
  %r:2 = kvshift.kernel ins(%x : tensor<4xf32>) -> tensor<4xf32>, tensor<4xf32> {
  ^bb0(%a: memref<4xf32>):
    %o = memref.alloc() : memref<4xf32>
    kvshift.kernel_yield %o, %o : memref<4xf32>, memref<4xf32>
  }
  return %r#0, %r#1 : tensor<4xf32>, tensor<4xf32>
}

// -----

func.func @no_yield(%x: tensor<4xf32>) {
  // expected-error @+1 {{'kvshift.kernel' op expects its body to end with kvshift.kernel_yield}}
  kvshift.kernel ins(%x : tensor<4xf32>) {
  ^bb0(%a: memref<4xf32>):
    llvm.unreachable
  }
  return
}

// -----

func.func @yield_outside() {
  // expected-error @+1 {{'kvshift.kernel_yield' op expects parent op 'kvshift.kernel'}}
  kvshift.kernel_yield
}
