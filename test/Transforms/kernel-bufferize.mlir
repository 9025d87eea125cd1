// RUN: kvshift-opt %s --split-input-file --canonicalize --cse \
// RUN:   --one-shot-bufferize="bufferize-function-boundaries function-boundary-type-conversion=identity-layout-map" \
// RUN:   | FileCheck %s

// One-shot bufferization of kvshift.kernel: every input is read at the
// kernel, every result is a new buffer, the body is inlined on the inputs'
// buffers.

// Two kernels read %t, and an elementwise op between them would like to
// write its result into %t's buffer. The second kernel still reads %t, so
// the write goes to a new buffer. (With bufferization.to_buffer around the
// loops instead, CSE merged the two to_buffer ops, the second read became
// invisible and the write was made in place: the second kernel read the
// updated values.)
// CHECK-LABEL: func.func @read_after_candidate_in_place_write
// CHECK-SAME: (%[[X:.*]]: memref<16xf32>)
// CHECK: %[[T:.*]] = memref.alloc() {{.*}} : memref<16xf32>
// CHECK: linalg.generic {{.*}} ins(%[[X]] : memref<16xf32>) outs(%[[T]] : memref<16xf32>)
// CHECK: %[[A:.*]] = memref.alloc() : memref<16xf32>
// CHECK: memref.copy %[[T]], %[[A]]
// CHECK: %[[U:.*]] = memref.alloc() {{.*}} : memref<16xf32>
// CHECK: linalg.generic {{.*}} ins(%[[T]] : memref<16xf32>) outs(%[[U]] : memref<16xf32>)
// CHECK: %[[B:.*]] = memref.alloc() : memref<16xf32>
// CHECK: memref.copy %[[T]], %[[B]]
// CHECK: return %[[A]], %[[U]], %[[B]]
#id = affine_map<(i) -> (i)>
func.func @read_after_candidate_in_place_write(%x: tensor<16xf32>)
    -> (tensor<16xf32>, tensor<16xf32>, tensor<16xf32>) {
  %e = tensor.empty() : tensor<16xf32>
  %t = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel"]}
      ins(%x : tensor<16xf32>) outs(%e : tensor<16xf32>) {
  ^bb0(%in: f32, %out: f32):
    %n = arith.negf %in : f32
    linalg.yield %n : f32
  } -> tensor<16xf32>
  %a = kvshift.kernel ins(%t : tensor<16xf32>) -> tensor<16xf32> {
  ^bb0(%m: memref<16xf32>):
    %o = memref.alloc() : memref<16xf32>
    memref.copy %m, %o : memref<16xf32> to memref<16xf32>
    kvshift.kernel_yield %o : memref<16xf32>
  }
  // outs(%t): in place unless %t is read later.
  %u = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel"]}
      ins(%t : tensor<16xf32>) outs(%t : tensor<16xf32>) {
  ^bb0(%in: f32, %out: f32):
    %s = arith.mulf %in, %in : f32
    linalg.yield %s : f32
  } -> tensor<16xf32>
  %b = kvshift.kernel ins(%t : tensor<16xf32>) -> tensor<16xf32> {
  ^bb0(%m: memref<16xf32>):
    %o = memref.alloc() : memref<16xf32>
    memref.copy %m, %o : memref<16xf32> to memref<16xf32>
    kvshift.kernel_yield %o : memref<16xf32>
  }
  return %a, %u, %b : tensor<16xf32>, tensor<16xf32>, tensor<16xf32>
}

// -----

// Without a later reader the same write is in place.
// CHECK-LABEL: func.func @in_place_when_no_later_read
// CHECK: %[[T:.*]] = memref.alloc() {{.*}} : memref<16xf32>
// CHECK: memref.copy %[[T]], %{{.*}}
// CHECK-NOT: memref.alloc() {alignment
// CHECK: linalg.generic {{.*}} ins(%[[T]] : memref<16xf32>) outs(%[[T]] : memref<16xf32>)
#id = affine_map<(i) -> (i)>
func.func @in_place_when_no_later_read(%x: tensor<16xf32>)
    -> (tensor<16xf32>, tensor<16xf32>) {
  %e = tensor.empty() : tensor<16xf32>
  %t = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel"]}
      ins(%x : tensor<16xf32>) outs(%e : tensor<16xf32>) {
  ^bb0(%in: f32, %out: f32):
    %n = arith.negf %in : f32
    linalg.yield %n : f32
  } -> tensor<16xf32>
  %a = kvshift.kernel ins(%t : tensor<16xf32>) -> tensor<16xf32> {
  ^bb0(%m: memref<16xf32>):
    %o = memref.alloc() : memref<16xf32>
    memref.copy %m, %o : memref<16xf32> to memref<16xf32>
    kvshift.kernel_yield %o : memref<16xf32>
  }
  %u = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel"]}
      ins(%t : tensor<16xf32>) outs(%t : tensor<16xf32>) {
  ^bb0(%in: f32, %out: f32):
    %s = arith.mulf %in, %in : f32
    linalg.yield %s : f32
  } -> tensor<16xf32>
  return %a, %u : tensor<16xf32>, tensor<16xf32>
}

// -----

// An input whose buffer is a strided view (a slice of the rows' columns) is
// copied into an identity-layout buffer for the kernel.
// CHECK-LABEL: func.func @strided_input
// CHECK-SAME: (%[[X:.*]]: memref<4x8xf32>)
// CHECK: %[[V:.*]] = memref.subview %[[X]][0, 2] [4, 4] [1, 1] : memref<4x8xf32> to memref<4x4xf32, strided<[8, 1], offset: 2>>
// CHECK: %[[C:.*]] = memref.alloc() {{.*}} : memref<4x4xf32>
// CHECK: memref.copy %[[V]], %[[C]]
// CHECK: memref.load %[[C]]
func.func @strided_input(%x: tensor<4x8xf32>) -> tensor<f32> {
  %s = tensor.extract_slice %x[0, 2] [4, 4] [1, 1] : tensor<4x8xf32> to tensor<4x4xf32>
  %r = kvshift.kernel ins(%s : tensor<4x4xf32>) -> tensor<f32> {
  ^bb0(%m: memref<4x4xf32>):
    %c1 = arith.constant 1 : index
    %v = memref.load %m[%c1, %c1] : memref<4x4xf32>
    %o = memref.alloc() : memref<f32>
    memref.store %v, %o[] : memref<f32>
    kvshift.kernel_yield %o : memref<f32>
  }
  return %r : tensor<f32>
}
