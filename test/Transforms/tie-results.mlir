// RUN: kvshift-opt %s --kvshift-tie-results | FileCheck %s
// RUN: kvshift-opt %s --kvshift-tie-results --one-shot-bufferize="bufferize-function-boundaries function-boundary-type-conversion=identity-layout-map" --kvshift-drop-tied-results | FileCheck %s --check-prefix=DROP

// A result that updates an argument through destination operands is tied to
// it; every other tensor argument becomes read-only.
// CHECK-LABEL: func.func @cache
// CHECK-SAME: (%{{.*}}: tensor<8xf32> {bufferization.writable = false}, %{{.*}}: tensor<64x8xf32>, %{{.*}}: index)
// CHECK-SAME: attributes {kvshift.tied_results = array<i64: 1, -1>}
// After bufferization the tied result is written through the argument's
// buffer and leaves the signature.
// DROP-LABEL: func.func @cache
// DROP-SAME: (%{{.*}}: memref<8xf32>, %[[C:.*]]: memref<64x8xf32>, %{{.*}}: index) -> memref<8xf32>
// DROP-SAME: attributes {kvshift.tied_results = array<i64: 1, -1>}
// DROP: memref.subview %[[C]]
// DROP-NOT: memref.copy %{{.*}}, %[[C]]
// DROP: return %{{.*}} : memref<8xf32>
func.func @cache(%w: tensor<8xf32>, %cache: tensor<64x8xf32>, %i: index) -> (tensor<64x8xf32>, tensor<8xf32>) {
  %r = tensor.insert_slice %w into %cache[%i, 0] [1, 8] [1, 1] : tensor<8xf32> into tensor<64x8xf32>
  %e = tensor.empty() : tensor<8xf32>
  %neg = linalg.generic {indexing_maps = [affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>], iterator_types = ["parallel"]} ins(%w : tensor<8xf32>) outs(%e : tensor<8xf32>) {
  ^bb0(%a: f32, %o: f32):
    %n = arith.negf %a : f32
    linalg.yield %n : f32
  } -> tensor<8xf32>
  return %r, %neg : tensor<64x8xf32>, tensor<8xf32>
}

// Chains through scf.for iteration arguments and destination-style ops;
// an argument is tied to one result at most (the second update of %a is
// not tied); an argument returned as it is is tied to its result.
// CHECK-LABEL: func.func @chains
// CHECK-SAME: (%{{.*}}: tensor<4xf32>, %{{.*}}: tensor<4xf32>, %{{.*}}: tensor<?xf32> {bufferization.writable = false})
// CHECK-SAME: attributes {kvshift.tied_results = array<i64: 0, -1, 1>}
func.func @chains(%a: tensor<4xf32>, %b: tensor<4xf32>, %c: tensor<?xf32>) -> (tensor<4xf32>, tensor<4xf32>, tensor<4xf32>) {
  %c0 = arith.constant 0 : index
  %c4 = arith.constant 4 : index
  %c1 = arith.constant 1 : index
  %x = arith.constant 1.0 : f32
  %r = scf.for %iv = %c0 to %c4 step %c1 iter_args(%acc = %a) -> tensor<4xf32> {
    %f = linalg.fill ins(%x : f32) outs(%acc : tensor<4xf32>) -> tensor<4xf32>
    scf.yield %f : tensor<4xf32>
  }
  %cast = tensor.cast %c : tensor<?xf32> to tensor<4xf32>
  %f2 = linalg.fill ins(%x : f32) outs(%a : tensor<4xf32>) -> tensor<4xf32>
  return %r, %f2, %b : tensor<4xf32>, tensor<4xf32>, tensor<4xf32>
}
