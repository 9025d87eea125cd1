// RUN: kvshift-opt %s --kvshift-vectorize-elementwise --split-input-file | FileCheck %s

// SiLU as the importer writes it: 16-lane chunks along the innermost
// dimension (688 = 43 x 16: no tail), the body cloned with vector types,
// the constant splat; the unit batch dimension is dropped.
// CHECK-LABEL: func.func @silu
// CHECK-SAME: (%[[X:.*]]: tensor<1x32x688xf32>)
// CHECK-NOT: linalg.generic
// CHECK-DAG: %[[ONE:.*]] = arith.constant dense<1.000000e+00> : vector<16xf32>
// CHECK: %[[R0:.*]] = kvshift.kernel ins(%[[X]] : tensor<1x32x688xf32>) -> tensor<1x32x688xf32> {
// CHECK-NEXT: ^bb0(%[[XB:[a-z0-9]+]]: memref<1x32x688xf32>):
// CHECK: %[[XV:.*]] = memref.collapse_shape %[[XB]] {{\[}}[0, 1], [2]] : memref<1x32x688xf32> into memref<32x688xf32>
// CHECK: %[[OUT:.*]] = memref.alloc() : memref<1x32x688xf32>
// CHECK: %[[OV:.*]] = memref.collapse_shape %[[OUT]]
// CHECK: scf.for %[[I:.*]] = %c0 to %c32 step %c1 {
// CHECK: scf.for %[[J:.*]] = %c0 to %c688 step %c16 {
// CHECK: %[[V:.*]] = vector.load %[[XV]][%[[I]], %[[J]]] : memref<32x688xf32>, vector<16xf32>
// CHECK: %[[N:.*]] = arith.negf %[[V]] : vector<16xf32>
// CHECK: %[[E:.*]] = math.exp %[[N]] : vector<16xf32>
// CHECK: %[[D:.*]] = arith.addf %[[ONE]], %[[E]] : vector<16xf32>
// CHECK: %[[R:.*]] = arith.divf %[[ONE]], %[[D]] : vector<16xf32>
// CHECK: %[[Y:.*]] = arith.mulf %[[V]], %[[R]] : vector<16xf32>
// CHECK: vector.store %[[Y]], %[[OV]][%[[I]], %[[J]]] : memref<32x688xf32>, vector<16xf32>
// CHECK-NOT: vector.maskedstore
// CHECK: kvshift.kernel_yield %[[OUT]] : memref<1x32x688xf32>
// CHECK: return %[[R0]]
func.func @silu(%x: tensor<1x32x688xf32>) -> tensor<1x32x688xf32> {
  %e = tensor.empty() : tensor<1x32x688xf32>
  %y = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2) -> (d0, d1, d2)>, affine_map<(d0, d1, d2) -> (d0, d1, d2)>], iterator_types = ["parallel", "parallel", "parallel"]} ins(%x : tensor<1x32x688xf32>) outs(%e : tensor<1x32x688xf32>) {
  ^bb0(%in: f32, %out: f32):
    %one = arith.constant 1.000000e+00 : f32
    %n = arith.negf %in : f32
    %ex = math.exp %n : f32
    %d = arith.addf %one, %ex : f32
    %r = arith.divf %one, %d : f32
    %s = arith.mulf %in, %r : f32
    linalg.yield %s : f32
  } -> tensor<1x32x688xf32>
  return %y : tensor<1x32x688xf32>
}

// -----

// Broadcasts: a per-row statistic [S, 1] and a [D] weight against [S, D]
// (loaded as a scalar and splat / contiguously), a [H, 1, 1] weight read
// through a map with constant zeros; D = 37 = 2 x 16 + 5: a masked chunk.
// CHECK-LABEL: func.func @norm
// CHECK-DAG: %[[M5:.*]] = arith.constant dense<[true, true, true, true, true, false, false, false, false, false, false, false, false, false, false, false]> : vector<16xi1>
// CHECK: scf.for %[[I:.*]] = %c0 to %c9 step %c1 {
// CHECK: scf.for %[[J:.*]] = %c0 to %c32 step %c16 {
// CHECK: vector.load {{.*}}[%[[I]], %[[J]]] : memref<9x37xf32>, vector<16xf32>
// CHECK: %[[S:.*]] = memref.load {{.*}}[%[[I]]] : memref<9xf32>
// CHECK: vector.broadcast %[[S]] : f32 to vector<16xf32>
// CHECK: vector.load {{.*}}[%[[J]]] : memref<37xf32>, vector<16xf32>
// CHECK: math.rsqrt {{.*}} : vector<16xf32>
// CHECK: vector.store
// CHECK: vector.maskedload {{.*}}[%[[I]], %c32], %[[M5]]
// CHECK: vector.maskedstore {{.*}}[%[[I]], %c32], %[[M5]]
// CHECK-LABEL: func.func @head_weights
// CHECK: scf.for %[[H:.*]] = %c0 to %c4 step %c1 {
// CHECK: scf.for %[[S:.*]] = %c0 to %c8 step %c1 {
// CHECK: scf.for %[[D:.*]] = %c0 to %c32 step %c16 {
// CHECK: %[[W:.*]] = memref.load %{{.*}}[%[[H]]] : memref<4xf32>
// CHECK: vector.broadcast %[[W]]
func.func @norm(%x: tensor<9x37xf32>, %ss: tensor<9x1xf32>, %w: tensor<37xf32>) -> tensor<9x37xf32> {
  %e = tensor.empty() : tensor<9x37xf32>
  %y = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, 0)>, affine_map<(d0, d1) -> (d1)>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]} ins(%x, %ss, %w : tensor<9x37xf32>, tensor<9x1xf32>, tensor<37xf32>) outs(%e : tensor<9x37xf32>) {
  ^bb0(%a: f32, %s: f32, %ww: f32, %out: f32):
    %eps = arith.constant 1.0e-05 : f32
    %m = arith.addf %s, %eps : f32
    %r = math.rsqrt %m : f32
    %t = arith.mulf %a, %r : f32
    %u = arith.mulf %t, %ww : f32
    linalg.yield %u : f32
  } -> tensor<9x37xf32>
  return %y : tensor<9x37xf32>
}
func.func @head_weights(%x: tensor<1x4x8x32xf32>, %w: tensor<4x1x1xf32>) -> tensor<1x4x8x32xf32> {
  %e = tensor.empty() : tensor<1x4x8x32xf32>
  %y = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d1, 0, 0)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%x, %w : tensor<1x4x8x32xf32>, tensor<4x1x1xf32>) outs(%e : tensor<1x4x8x32xf32>) {
  ^bb0(%a: f32, %b: f32, %out: f32):
    %m = arith.mulf %a, %b : f32
    linalg.yield %m : f32
  } -> tensor<1x4x8x32xf32>
  return %y : tensor<1x4x8x32xf32>
}

// -----

// Reductions along the innermost dimension: a 16-lane accumulator from
// the identity (-0.0 for a sum, -inf for a max), the masked last chunk
// blended with the identity, one vector.reduction (reassociated for the
// sum), then the init combined as the body does.
// CHECK-LABEL: func.func @row_sum
// CHECK-DAG: %[[NZ:.*]] = arith.constant dense<-0.000000e+00> : vector<16xf32>
// CHECK: scf.for %[[I:.*]] = %c0 to %c5 step %c1 {
// CHECK: %[[ACC:.*]] = scf.for %{{.*}} = %c0 to %c64 step %c16 iter_args(%[[A:.*]] = %[[NZ]]) -> (vector<16xf32>) {
// CHECK: %[[SQ:.*]] = arith.mulf
// CHECK: %[[NEXT:.*]] = arith.addf %[[SQ]], %[[A]] : vector<16xf32>
// CHECK: scf.yield %[[NEXT]]
// CHECK: vector.maskedload
// CHECK: %[[T:.*]] = arith.select %{{.*}}, %{{.*}}, %[[NZ]] : vector<16xi1>, vector<16xf32>
// CHECK: %[[ALL:.*]] = arith.addf %[[T]], %[[ACC]] : vector<16xf32>
// CHECK: %[[SUM:.*]] = vector.reduction <add>, %[[ALL]] fastmath<reassoc> : vector<16xf32> into f32
// CHECK: %[[INIT:.*]] = memref.load %{{.*}}[%[[I]]] : memref<5xf32>
// CHECK: %[[R:.*]] = arith.addf %[[SUM]], %[[INIT]] : f32
// CHECK: memref.store %[[R]], %{{.*}}[%[[I]]] : memref<5xf32>
// CHECK-LABEL: func.func @row_max
// CHECK-DAG: %[[NINF:.*]] = arith.constant dense<0xFF800000> : vector<16xf32>
// CHECK: arith.maximumf {{.*}} : vector<16xf32>
// CHECK: vector.reduction <maximumf>, %{{.*}} : vector<16xf32> into f32
// CHECK: arith.maximumf {{.*}} : f32
func.func @row_sum(%x: tensor<5x70xf32>, %init: tensor<5xf32>) -> tensor<5xf32> {
  // The init through a copy: computed into the argument %init itself, the
  // result would be tied to it and the op left alone.
  %e0 = tensor.empty() : tensor<5xf32>
  %i = linalg.copy ins(%init : tensor<5xf32>) outs(%e0 : tensor<5xf32>) -> tensor<5xf32>
  %y = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0)>], iterator_types = ["parallel", "reduction"]} ins(%x : tensor<5x70xf32>) outs(%i : tensor<5xf32>) {
  ^bb0(%a: f32, %out: f32):
    %sq = arith.mulf %a, %a : f32
    %s = arith.addf %sq, %out : f32
    linalg.yield %s : f32
  } -> tensor<5xf32>
  return %y : tensor<5xf32>
}
func.func @row_max(%x: tensor<5x70xf32>, %init: tensor<5xf32>) -> tensor<5xf32> {
  // The init through a copy: computed into the argument %init itself, the
  // result would be tied to it and the op left alone.
  %e0 = tensor.empty() : tensor<5xf32>
  %i = linalg.copy ins(%init : tensor<5xf32>) outs(%e0 : tensor<5xf32>) -> tensor<5xf32>
  %y = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0)>], iterator_types = ["parallel", "reduction"]} ins(%x : tensor<5x70xf32>) outs(%i : tensor<5xf32>) {
  ^bb0(%a: f32, %out: f32):
    %s = arith.maximumf %out, %a : f32
    linalg.yield %s : f32
  } -> tensor<5xf32>
  return %y : tensor<5xf32>
}

// -----

// Left alone: a gather (tensor.extract, linalg.index), a transposed read,
// an i1 operand, two outputs, a reduction over an outer dimension, a
// non-associative reduction body, and a vector dimension shorter than
// min-length (8).
// CHECK-LABEL: func.func @not_handled
// CHECK-NOT: vector.
// CHECK-COUNT-7: linalg.generic
// CHECK-NOT: vector.
func.func @not_handled(%t: tensor<64x32xf32>, %idx: tensor<4xi64>, %x: tensor<16x32xf32>, %m: tensor<16x32xi1>, %sm: tensor<16x4xf32>) -> (tensor<4x32xf32>, tensor<32x16xf32>, tensor<16x32xf32>, tensor<16x32xf32>, tensor<16x32xf32>, tensor<32xf32>, tensor<16xf32>, tensor<16x4xf32>) {
  %e0 = tensor.empty() : tensor<4x32xf32>
  %g = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0)>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]} ins(%idx : tensor<4xi64>) outs(%e0 : tensor<4x32xf32>) {
  ^bb0(%i: i64, %out: f32):
    %j = linalg.index 1 : index
    %ii = arith.index_cast %i : i64 to index
    %v = tensor.extract %t[%ii, %j] : tensor<64x32xf32>
    linalg.yield %v : f32
  } -> tensor<4x32xf32>
  %e1 = tensor.empty() : tensor<32x16xf32>
  %tr = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d1, d0)>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]} ins(%x : tensor<16x32xf32>) outs(%e1 : tensor<32x16xf32>) {
  ^bb0(%a: f32, %out: f32):
    linalg.yield %a : f32
  } -> tensor<32x16xf32>
  %e2 = tensor.empty() : tensor<16x32xf32>
  %z = arith.constant 0.0 : f32
  %sel = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]} ins(%m, %x : tensor<16x32xi1>, tensor<16x32xf32>) outs(%e2 : tensor<16x32xf32>) {
  ^bb0(%b: i1, %a: f32, %out: f32):
    %r = arith.select %b, %a, %z : f32
    linalg.yield %r : f32
  } -> tensor<16x32xf32>
  %two:2 = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]} ins(%x : tensor<16x32xf32>) outs(%e2, %e2 : tensor<16x32xf32>, tensor<16x32xf32>) {
  ^bb0(%a: f32, %o1: f32, %o2: f32):
    %n = arith.negf %a : f32
    linalg.yield %a, %n : f32, f32
  } -> (tensor<16x32xf32>, tensor<16x32xf32>)
  %e3 = tensor.empty() : tensor<32xf32>
  %cols = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d1)>], iterator_types = ["reduction", "parallel"]} ins(%x : tensor<16x32xf32>) outs(%e3 : tensor<32xf32>) {
  ^bb0(%a: f32, %out: f32):
    %s = arith.addf %a, %out : f32
    linalg.yield %s : f32
  } -> tensor<32xf32>
  %e4 = tensor.empty() : tensor<16xf32>
  %sub = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0)>], iterator_types = ["parallel", "reduction"]} ins(%x : tensor<16x32xf32>) outs(%e4 : tensor<16xf32>) {
  ^bb0(%a: f32, %out: f32):
    %s = arith.subf %out, %a : f32
    linalg.yield %s : f32
  } -> tensor<16xf32>
  %e5 = tensor.empty() : tensor<16x4xf32>
  %short = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]} ins(%sm : tensor<16x4xf32>) outs(%e5 : tensor<16x4xf32>) {
  ^bb0(%a: f32, %out: f32):
    %n = arith.negf %a : f32
    linalg.yield %n : f32
  } -> tensor<16x4xf32>
  return %g, %tr, %sel, %two#0, %two#1, %cols, %sub, %short : tensor<4x32xf32>, tensor<32x16xf32>, tensor<16x32xf32>, tensor<16x32xf32>, tensor<16x32xf32>, tensor<32xf32>, tensor<16xf32>, tensor<16x4xf32>
}

// -----

// math.fpowi (AdamW's bias correction beta^step, written per element by
// the importer) is left alone: llvm.intr.powi takes a scalar exponent.
// CHECK-LABEL: func.func @powi_left_alone
// CHECK: linalg.generic
// CHECK: math.fpowi %{{.*}}, %{{.*}} : f32, i32
// CHECK-NOT: vector<16xi32>
func.func @powi_left_alone(%x: tensor<4x32xf32>, %n: i32) -> tensor<4x32xf32> {
  %e = tensor.empty() : tensor<4x32xf32>
  %y = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]} ins(%x : tensor<4x32xf32>) outs(%e : tensor<4x32xf32>) {
  ^bb0(%a: f32, %out: f32):
    %p = math.fpowi %a, %n : f32, i32
    linalg.yield %p : f32
  } -> tensor<4x32xf32>
  return %y : tensor<4x32xf32>
}

// -----

// An op whose destination is a function argument (an optimizer update of a
// parameter, a cache write) is left alone: kernels write new buffers, and
// kvshift-tie-results ties the result to the argument through the
// destination. The same op on a fresh destination is vectorised.
// CHECK-LABEL: func.func @update_of_argument
// CHECK: linalg.generic {{.*}} outs(%arg1 : tensor<4x32xf32>)
// CHECK: kvshift.kernel
// CHECK-NOT: linalg.generic
func.func @update_of_argument(%x: tensor<4x32xf32>, %p: tensor<4x32xf32>) -> (tensor<4x32xf32>, tensor<4x32xf32>) {
  %u = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]} ins(%x : tensor<4x32xf32>) outs(%p : tensor<4x32xf32>) {
  ^bb0(%a: f32, %out: f32):
    %s = arith.subf %out, %a : f32
    linalg.yield %s : f32
  } -> tensor<4x32xf32>
  %e = tensor.empty() : tensor<4x32xf32>
  %v = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]} ins(%x : tensor<4x32xf32>) outs(%e : tensor<4x32xf32>) {
  ^bb0(%a: f32, %out: f32):
    %s = arith.negf %a : f32
    linalg.yield %s : f32
  } -> tensor<4x32xf32>
  return %u, %v : tensor<4x32xf32>, tensor<4x32xf32>
}
