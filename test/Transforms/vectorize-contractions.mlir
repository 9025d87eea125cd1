// RUN: kvshift-opt %s --kvshift-vectorize-contractions="min-parallel-work=65536" | FileCheck %s
// RUN: not kvshift-opt %s --kvshift-vectorize-contractions="row-tile-rows=8 row-tile-vectors=4" 2>&1 | FileCheck %s --check-prefix=BADROW
// RUN: not kvshift-opt %s --kvshift-vectorize-contractions="dot-tile-cols=0" 2>&1 | FileCheck %s --check-prefix=BADDOT

// BADROW: kvshift-vectorize-contractions: row-tile-rows x row-tile-vectors must be between 1 and 24 (accumulator registers), found 8 x 4
// BADDOT: kvshift-vectorize-contractions: dot-tile-rows x dot-tile-cols must be between 1 and 16, found 4 x 0

// nn.Linear at decode time: x [1, 37] @ W^T with W [20, 37]. The transpose
// is folded (W is read in place) and so is the zero fill; M = 1 is dropped,
// so x is a vector along k, and both operands are contiguous along k: the
// dot kernel. Tiles of 8 outputs (2 full, then a tail tile of 4), 16-lane
// accumulators along k, a masked last chunk (37 = 2 x 16 + 5), one shuffle
// tree per tile, scalar stores.
// CHECK-LABEL: func.func @linear_decode
// CHECK-SAME: (%[[X:.*]]: tensor<1x37xf32>, %[[W:.*]]: tensor<20x37xf32>)
// CHECK-NOT: linalg.
// CHECK-DAG: %[[MASK5:.*]] = arith.constant dense<[true, true, true, true, true, false, false, false, false, false, false, false, false, false, false, false]> : vector<16xi1>
// The loops work on buffers inside a kvshift.kernel that reads the tensors.
// CHECK: %[[Y:.*]] = kvshift.kernel ins(%[[X]], %[[W]] : tensor<1x37xf32>, tensor<20x37xf32>) -> tensor<1x20xf32> {
// CHECK-NEXT: ^bb0(%[[XB:[a-z0-9]+]]: memref<1x37xf32>, %[[WB:[a-z0-9]+]]: memref<20x37xf32>):
// CHECK: %[[XV:.*]] = memref.collapse_shape %[[XB]] {{\[}}[0, 1]] : memref<1x37xf32> into memref<37xf32>
// CHECK: %[[OUT:.*]] = memref.alloc() : memref<1x20xf32>
// CHECK: %[[OUTV:.*]] = memref.collapse_shape %[[OUT]]
// CHECK: scf.for %[[NT:.*]] = %{{.*}} to %c3 step %c1 {
// CHECK: %[[N0:.*]] = arith.muli %[[NT]], %c8
// CHECK: %[[FULL:.*]] = arith.cmpi ult, %[[NT]], %c2
// CHECK: scf.if %[[FULL]] {
// CHECK: scf.for %[[K:.*]] = %c0 to %c32 step %c16 iter_args({{.*}}) -> (vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>)
// CHECK: vector.load %[[XV]][%[[K]]] : memref<37xf32>, vector<16xf32>
// CHECK: vector.load %[[WB]][%[[N0]], %[[K]]] : memref<20x37xf32>, vector<16xf32>
// CHECK: vector.fma
// CHECK: vector.maskedload %[[XV]][%c32], %[[MASK5]]
// CHECK: vector.maskedload %[[WB]][%[[N0]], %c32], %[[MASK5]]
// CHECK: vector.shuffle {{.*}} [0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23]
// CHECK: vector.shuffle {{.*}} [1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31]
// CHECK: vector.extract %{{.*}}[7] : f32 from vector<16xf32>
// CHECK: memref.store %{{.*}}, %[[OUTV]]
// CHECK: } else {
// CHECK: scf.for {{.*}} -> (vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>) {
// CHECK: vector.extract %{{.*}}[3] : f32 from vector<16xf32>
// CHECK-NOT: vector.extract %{{.*}}[4]
// CHECK: kvshift.kernel_yield %[[OUT]] : memref<1x20xf32>
// CHECK: return %[[Y]]
func.func @linear_decode(%x: tensor<1x37xf32>, %w: tensor<20x37xf32>) -> tensor<1x20xf32> {
  %zero = arith.constant 0.0 : f32
  %et = tensor.empty() : tensor<37x20xf32>
  %t = linalg.transpose ins(%w : tensor<20x37xf32>) outs(%et : tensor<37x20xf32>) permutation = [1, 0]
  %e = tensor.empty() : tensor<1x20xf32>
  %z = linalg.fill ins(%zero : f32) outs(%e : tensor<1x20xf32>) -> tensor<1x20xf32>
  %y = linalg.matmul ins(%x, %t : tensor<1x37xf32>, tensor<37x20xf32>) outs(%z : tensor<1x20xf32>) -> tensor<1x20xf32>
  return %y : tensor<1x20xf32>
}

// B and C contiguous along n: the row (outer-product) kernel, 6 rows x 4
// vectors. M = 7: one full row tile and a tail of 1 row (scf.if); N = 50:
// one column tile of 3 full vectors and a masked one (2 lanes). The init is
// an argument: read (masked where partial), never written.
// CHECK-LABEL: func.func @row_tails
// CHECK-SAME: (%[[A:.*]]: tensor<7x33xf32>, %[[B:.*]]: tensor<33x50xf32>, %{{.*}}: tensor<7x50xf32>)
// CHECK-NOT: linalg.matmul
// CHECK-DAG: %[[C:.*]] = linalg.copy
// CHECK-DAG: %[[MASK2:.*]] = arith.constant dense<[true, true, false, false, false, false, false, false, false, false, false, false, false, false, false, false]> : vector<16xi1>
// CHECK: kvshift.kernel ins(%[[A]], %[[B]], %[[C]] : tensor<7x33xf32>, tensor<33x50xf32>, tensor<7x50xf32>)
// CHECK-NEXT: ^bb0(%[[AB:[a-z0-9]+]]: memref<7x33xf32>, %[[BB:[a-z0-9]+]]: memref<33x50xf32>, %[[CB:[a-z0-9]+]]: memref<7x50xf32>):
// CHECK: %[[OUT:.*]] = memref.alloc() : memref<7x50xf32>
// CHECK: scf.for %[[MT:.*]] = %c0 to %c2 step %c1 {
// CHECK: %[[M0:.*]] = arith.muli %[[MT]], %c6
// CHECK: %[[FULL:.*]] = arith.cmpi ult, %[[MT]], %c1
// CHECK: scf.if %[[FULL]] {
// CHECK: vector.load %[[CB]][%[[M0]], %c0]
// CHECK: vector.maskedload %[[CB]][%[[M0]], %c48], %[[MASK2]]
// CHECK: scf.for %[[K:.*]] = %c0 to %c33 step %c1 iter_args({{.*}}) -> ({{(vector<16xf32>, ){23} ?}}vector<16xf32>) {
// CHECK: vector.load %[[BB]][%[[K]], %c0] : memref<33x50xf32>, vector<16xf32>
// CHECK: vector.maskedload %[[BB]][%[[K]], %c48], %[[MASK2]]
// CHECK: %[[S:.*]] = memref.load %[[AB]][%[[M0]], %[[K]]] : memref<7x33xf32>
// CHECK: %[[SV:.*]] = vector.broadcast %[[S]] : f32 to vector<16xf32>
// CHECK: vector.fma %[[SV]]
// CHECK: vector.store %{{.*}}, %[[OUT]][%[[M0]], %c0]
// CHECK: vector.maskedstore %[[OUT]][%[[M0]], %c48], %[[MASK2]]
// CHECK: } else {
// The tail: 1 row x 4 vectors.
// CHECK: scf.for {{.*}} -> (vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>) {
func.func @row_tails(%a: tensor<7x33xf32>, %b: tensor<33x50xf32>, %c: tensor<7x50xf32>) -> tensor<7x50xf32> {
  // The init through a copy: computed into the argument %c itself, the
  // result would be tied to it and the op left alone (@accumulate_into_arg).
  %e = tensor.empty() : tensor<7x50xf32>
  %ci = linalg.copy ins(%c : tensor<7x50xf32>) outs(%e : tensor<7x50xf32>) -> tensor<7x50xf32>
  %y = linalg.matmul ins(%a, %b : tensor<7x33xf32>, tensor<33x50xf32>) outs(%ci : tensor<7x50xf32>) -> tensor<7x50xf32>
  return %y : tensor<7x50xf32>
}

// bf16 batch_matmul with enough work (min-parallel-work=65536 in the RUN
// line): an scf.parallel over (batch, m tiles: 64 = 10 x 6 + 4);
// operands widened with arith.extf, accumulators start at the fill value.
// CHECK-LABEL: func.func @bmm_parallel
// CHECK-NOT: linalg.
// CHECK: %[[OUT:.*]] = memref.alloc() : memref<4x64x64xf32>
// CHECK: scf.parallel (%[[BI:.*]], %[[MT:.*]]) = (%c0, %c0) to (%c4, %c11) step (%c1, %c1) {
// CHECK: vector.broadcast %{{.*}} : f32 to vector<16xf32>
// CHECK: scf.for
// CHECK: vector.load {{.*}} : memref<4x64x64xbf16>, vector<16xbf16>
// CHECK: arith.extf {{.*}} : vector<16xbf16> to vector<16xf32>
// CHECK: memref.load {{.*}} : memref<4x64x64xbf16>
// CHECK: arith.extf {{.*}} : bf16 to f32
// CHECK: vector.fma
// CHECK: vector.store %{{.*}}, %[[OUT]][%[[BI]], %{{.*}}, %c48]
// CHECK: scf.reduce
func.func @bmm_parallel(%a: tensor<4x64x64xbf16>, %b: tensor<4x64x64xbf16>) -> tensor<4x64x64xf32> {
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<4x64x64xf32>
  %z = linalg.fill ins(%zero : f32) outs(%e : tensor<4x64x64xf32>) -> tensor<4x64x64xf32>
  %y = linalg.batch_matmul ins(%a, %b : tensor<4x64x64xbf16>, tensor<4x64x64xbf16>) outs(%z : tensor<4x64x64xf32>) -> tensor<4x64x64xf32>
  return %y : tensor<4x64x64xf32>
}

// A linalg.generic contraction with the product written b * a and the sum
// acc + p, and x^T as A (a transposed A: folded, read by scalar broadcasts
// along m, so the row kernel still applies).
// CHECK-LABEL: func.func @generic_tn
// CHECK-SAME: (%[[XT:.*]]: tensor<9x5xf32>, %[[B:.*]]: tensor<9x16xf32>)
// CHECK-NOT: linalg.
// CHECK: kvshift.kernel ins(%[[XT]], %[[B]] : tensor<9x5xf32>, tensor<9x16xf32>) -> tensor<5x16xf32> {
// CHECK-NEXT: ^bb0(%[[AB:[a-z0-9]+]]: memref<9x5xf32>,
// CHECK: scf.for %[[K:.*]] = %c0 to %c9 step %c1
// CHECK: memref.load %[[AB]][%[[K]], %{{.*}}] : memref<9x5xf32>
// CHECK: vector.fma
func.func @generic_tn(%xt: tensor<9x5xf32>, %b: tensor<9x16xf32>) -> tensor<5x16xf32> {
  %zero = arith.constant 0.0 : f32
  %et = tensor.empty() : tensor<5x9xf32>
  %x = linalg.transpose ins(%xt : tensor<9x5xf32>) outs(%et : tensor<5x9xf32>) permutation = [1, 0]
  %e = tensor.empty() : tensor<5x16xf32>
  %z = linalg.fill ins(%zero : f32) outs(%e : tensor<5x16xf32>) -> tensor<5x16xf32>
  %y = linalg.generic {indexing_maps = [affine_map<(m, n, k) -> (m, k)>, affine_map<(m, n, k) -> (k, n)>, affine_map<(m, n, k) -> (m, n)>], iterator_types = ["parallel", "parallel", "reduction"]} ins(%x, %b : tensor<5x9xf32>, tensor<9x16xf32>) outs(%z : tensor<5x16xf32>) {
  ^bb0(%u: f32, %v: f32, %acc: f32):
    %p = arith.mulf %v, %u : f32
    %s = arith.addf %acc, %p : f32
    linalg.yield %s : f32
  } -> tensor<5x16xf32>
  return %y : tensor<5x16xf32>
}

// Left alone: dynamic shapes, integers, f64, a body that is not a
// multiply-add, and a plain elementwise generic.
// CHECK-LABEL: func.func @not_handled
// CHECK: linalg.matmul {{.*}} tensor<?x8xf32>
// CHECK: linalg.matmul {{.*}} tensor<4x8xi32>
// CHECK: linalg.matmul {{.*}} tensor<4x8xf64>
// CHECK: linalg.generic
// CHECK: arith.maximumf
// CHECK: linalg.generic
// CHECK-NOT: vector.
func.func @not_handled(%a: tensor<?x8xf32>, %b: tensor<8x8xf32>, %c: tensor<?x8xf32>,
                       %ai: tensor<4x8xi32>, %bi: tensor<8x8xi32>, %ci: tensor<4x8xi32>,
                       %ad: tensor<4x8xf64>, %bd: tensor<8x8xf64>, %cd: tensor<4x8xf64>,
                       %af: tensor<4x8xf32>, %bf: tensor<8x8xf32>, %cf: tensor<4x8xf32>)
    -> (tensor<?x8xf32>, tensor<4x8xi32>, tensor<4x8xf64>, tensor<4x8xf32>, tensor<4x8xf32>) {
  %0 = linalg.matmul ins(%a, %b : tensor<?x8xf32>, tensor<8x8xf32>) outs(%c : tensor<?x8xf32>) -> tensor<?x8xf32>
  %1 = linalg.matmul ins(%ai, %bi : tensor<4x8xi32>, tensor<8x8xi32>) outs(%ci : tensor<4x8xi32>) -> tensor<4x8xi32>
  %2 = linalg.matmul ins(%ad, %bd : tensor<4x8xf64>, tensor<8x8xf64>) outs(%cd : tensor<4x8xf64>) -> tensor<4x8xf64>
  %3 = linalg.generic {indexing_maps = [affine_map<(m, n, k) -> (m, k)>, affine_map<(m, n, k) -> (k, n)>, affine_map<(m, n, k) -> (m, n)>], iterator_types = ["parallel", "parallel", "reduction"]} ins(%af, %bf : tensor<4x8xf32>, tensor<8x8xf32>) outs(%cf : tensor<4x8xf32>) {
  ^bb0(%u: f32, %v: f32, %acc: f32):
    %p = arith.mulf %u, %v : f32
    %s = arith.maximumf %acc, %p : f32
    linalg.yield %s : f32
  } -> tensor<4x8xf32>
  %4 = linalg.generic {indexing_maps = [affine_map<(m, n) -> (m, n)>, affine_map<(m, n) -> (m, n)>], iterator_types = ["parallel", "parallel"]} ins(%af : tensor<4x8xf32>) outs(%cf : tensor<4x8xf32>) {
  ^bb0(%u: f32, %acc: f32):
    %s = arith.addf %acc, %u : f32
    linalg.yield %s : f32
  } -> tensor<4x8xf32>
  return %0, %1, %2, %3, %4 : tensor<?x8xf32>, tensor<4x8xi32>, tensor<4x8xf64>, tensor<4x8xf32>, tensor<4x8xf32>
}

// kvshift ops are not linalg ops: attention stays for kvshift-fuse-attention
// (which runs before this pass in the fused pipeline; see
// vectorize-contractions-attention.mlir for the fused kernels).
// CHECK-LABEL: func.func @attention_untouched
// CHECK: kvshift.kv_shift_attention
// CHECK-NOT: vector.
func.func @attention_untouched(%q: tensor<1x2x16x8xf32>, %k: tensor<1x2x16x8xf32>, %v: tensor<1x2x16x8xf32>, %kw: tensor<2x2xf32>, %vw: tensor<2x2xf32>) -> tensor<1x2x16x8xf32> {
  %o = kvshift.kv_shift_attention %q, %k, %v mix(%kw, %vw) causal : (tensor<1x2x16x8xf32>, tensor<1x2x16x8xf32>, tensor<1x2x16x8xf32>, tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<1x2x16x8xf32>
  return %o : tensor<1x2x16x8xf32>
}

// A matmul accumulating into an argument that the function returns updates
// the argument in place (kvshift-tie-results ties the result to it): left
// to bufferization, since kernels write new buffers.
// CHECK-LABEL: func.func @accumulate_into_arg
// CHECK: linalg.matmul
// CHECK-NOT: kvshift.kernel
func.func @accumulate_into_arg(%a: tensor<7x33xf32>, %b: tensor<33x50xf32>, %c: tensor<7x50xf32>) -> tensor<7x50xf32> {
  %y = linalg.matmul ins(%a, %b : tensor<7x33xf32>, tensor<33x50xf32>) outs(%c : tensor<7x50xf32>) -> tensor<7x50xf32>
  return %y : tensor<7x50xf32>
}
