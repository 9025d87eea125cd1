// RUN: kvshift-opt %s --kvshift-fuse-attention --canonicalize --cse --split-input-file | FileCheck %s

// RoPE in the fused forward (rope_theta): one cos/sin table of [Sk, D/2]
// f32 per op, filled in parallel before the main loop from f64 angles; q
// rotated while it is loaded into Q^T; each mixed K tile rotated in the same
// pass as the mix (D = 64: half = 32, full 16-lane vectors).
// CHECK-LABEL: func.func @rope_gqa_causal
// CHECK-NOT: 2048x2048
// CHECK-DAG: %[[THETA:.*]] = arith.constant 1.000000e+04 : f64
// CHECK: kvshift.kernel ins(%arg0, %arg1,
// CHECK-NEXT: ^bb0(%{{[a-z0-9]+}}: memref<{{[^>]*}}>, %[[KB:[a-z0-9]+]]: memref<
// CHECK: %[[COS:.*]] = memref.alloc() {alignment = 64 : i64} : memref<2048x32xf32>
// CHECK: %[[SIN:.*]] = memref.alloc() {alignment = 64 : i64} : memref<2048x32xf32>
// inv_freq = theta^(-2i/D) in f64.
// CHECK: math.powf %[[THETA]], %{{.*}} : f64
// Angle steps t * inv_freq for t < 64, from libm in f64.
// CHECK: memref.alloc() {alignment = 64 : i64} : memref<64x32xf64>
// CHECK: math.cos %{{.*}} : f64
// CHECK: math.sin %{{.*}} : f64
// The table: blocks of 64 positions in parallel, angle addition in f64,
// rounded once to f32.
// CHECK: scf.parallel (%{{.*}}) = (%c0) to (%c32) step (%c1) {
// CHECK: math.cos %{{.*}} : f64
// CHECK: math.sin %{{.*}} : f64
// CHECK: arith.truncf %{{.*}} : f64 to f32
// CHECK: memref.store %{{.*}}, %[[COS]]
// CHECK: arith.truncf %{{.*}} : f64 to f32
// CHECK: memref.store %{{.*}}, %[[SIN]]
// The main loop nest.
// CHECK: scf.parallel (%{{.*}}) = (%c0) to (%c256) step (%c1) {
// CHECK: %[[QT:.*]] = memref.alloca() {alignment = 64 : i64} : memref<64x64xf32>
// q rows: pairs (d, d + 32) rotated by the table row of their position.
// CHECK: scf.for %[[D:.*]] = %c0 to %c32 step %c1 {
// CHECK: %[[DH:.*]] = arith.addi %[[D]], %c32 : index
// CHECK: memref.load %[[COS]][%{{.*}}, %[[D]]]
// CHECK: memref.load %[[SIN]][%{{.*}}, %[[D]]]
// CHECK: memref.store %{{.*}}, %[[QT]][%[[D]], %{{.*}}]
// CHECK: memref.store %{{.*}}, %[[QT]][%[[DH]], %{{.*}}]
// K tile: mix both halves, rotate with the table row of key j, store.
// CHECK: scf.for %{{.*}} = %c0 to %c32 step %c16 {
// CHECK: vector.load %[[KB]]
// CHECK: vector.load %[[KB]]
// CHECK: vector.load %[[COS]][%[[J:.*]], %{{.*}}] : memref<2048x32xf32>, vector<16xf32>
// CHECK: vector.load %[[SIN]][%[[J]], %{{.*}}] : memref<2048x32xf32>, vector<16xf32>
// CHECK: vector.fma
// CHECK: vector.fma
// CHECK: vector.store
// CHECK: vector.store
func.func @rope_gqa_causal(%q: tensor<1x8x2048x64xf32>, %k: tensor<1x2x2048x64xf32>, %v: tensor<1x2x2048x64xf32>, %kw: tensor<2x2xf32>, %vw: tensor<2x2xf32>) -> tensor<1x8x2048x64xf32> {
  %o = kvshift.kv_shift_attention %q, %k, %v mix(%kw, %vw) causal rope_theta = 10000.0
      : (tensor<1x8x2048x64xf32>, tensor<1x2x2048x64xf32>, tensor<1x2x2048x64xf32>, tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<1x8x2048x64xf32>
  return %o : tensor<1x8x2048x64xf32>
}

// -----

// D = 24 (half = 12, not a multiple of 16): the K tile is mixed, then
// rotated with masked 16-lane vectors. Sq > Sk (no causal): the table covers
// positions Sk - Sq .. Sk - 1, max(Sq, Sk) = 20 rows.
// CHECK-LABEL: func.func @rope_masked
// CHECK: %[[COS:.*]] = memref.alloc() {alignment = 64 : i64} : memref<20x12xf32>
// CHECK: vector.maskedload %{{.*}} : memref<1x1x9x24xf32>
// The 12 lanes of each half (the mask folds to a constant: one vector).
// CHECK: %[[MASK:.*]] = vector.constant_mask [12] : vector<16xi1>
// CHECK: %[[X1:.*]] = vector.maskedload %[[KH:.*]][%[[R:.*]], %c0], %[[MASK]], %{{.*}} : memref<64x32xf32>
// CHECK: %[[X2:.*]] = vector.maskedload %[[KH]][%[[R]], %c12], %[[MASK]], %{{.*}} : memref<64x32xf32>
// CHECK: vector.maskedload %[[COS]][%{{.*}}, %c0], %[[MASK]]
// CHECK: vector.maskedstore %[[KH]][%[[R]], %c0], %[[MASK]]
// CHECK: vector.maskedstore %[[KH]][%[[R]], %c12], %[[MASK]]
func.func @rope_masked(%q: tensor<1x2x20x24xf32>, %k: tensor<1x1x9x24xf32>, %w: tensor<1x2xf32>) -> tensor<1x2x20x24xf32> {
  %o = kvshift.kv_shift_attention %q, %k, %k mix(%w, %w) rope_theta = 500000.0
      : (tensor<1x2x20x24xf32>, tensor<1x1x9x24xf32>, tensor<1x1x9x24xf32>, tensor<1x2xf32>, tensor<1x2xf32>) -> tensor<1x2x20x24xf32>
  return %o : tensor<1x2x20x24xf32>
}

// -----

// The fused backward with RoPE (GQA 4 on 2, D = 32): q rotated in place in
// the row-major copy (then copied into Q^T), each K tile mixed and rotated
// on load, and the accumulated gradients with respect to the rotated q and
// K^ rotated back (sin negated) before dq is stored and before the mix
// transpose that gives dk and dkw.
// CHECK-LABEL: func.func @rope_grad
// CHECK: %[[COS:.*]] = memref.alloc() {alignment = 64 : i64} : memref<64x16xf32>
// CHECK: %[[SIN:.*]] = memref.alloc() {alignment = 64 : i64} : memref<64x16xf32>
// CHECK: scf.parallel (%{{.*}}) = (%c0) to (%c2) step (%c1) {
// CHECK: %[[QS:.*]] = memref.alloc() {alignment = 64 : i64} : memref<192x32xf32>
// CHECK: memref.alloc() {alignment = 64 : i64} : memref<192x32xf32>
// CHECK: %[[DQ:.*]] = memref.alloc() {alignment = 64 : i64} : memref<192x32xf32>
// CHECK: %[[DKH:.*]] = memref.alloc() {alignment = 64 : i64} : memref<68x32xf32>
// q: rotated by +p.
// CHECK: vector.load %[[QS]][%[[R:.*]], %c0]
// CHECK: %[[QX2:.*]] = vector.load %[[QS]][%[[R]], %c16]
// CHECK: vector.load %[[COS]]
// CHECK: %[[QSIN:.*]] = vector.load %[[SIN]]
// CHECK-NEXT: arith.negf %[[QX2]]
// CHECK: vector.store %{{.*}}, %[[QS]][%[[R]], %c0]
// CHECK: vector.store %{{.*}}, %[[QS]][%[[R]], %c16]
// K tiles, mixed and rotated.
// CHECK: vector.load %[[COS]][%{{.*}}, %{{.*}}] : memref<64x16xf32>, vector<16xf32>
// CHECK: vector.load %[[SIN]][%{{.*}}, %{{.*}}] : memref<64x16xf32>, vector<16xf32>
// dq: rotated back (-p) then scaled and stored.
// CHECK: vector.load %[[DQ]][%[[RD:.*]], %c0]
// CHECK: vector.load %[[DQ]][%[[RD]], %c16]
// CHECK: %[[DSIN:.*]] = vector.load %[[SIN]]
// CHECK-NEXT: arith.negf %[[DSIN]]
// CHECK: vector.store %{{.*}}, %[[DQ]][%[[RD]], %c0]
// CHECK: vector.store %{{.*}}, %[[DQ]][%[[RD]], %c16]
// CHECK: memref.load %[[DQ]]
// dK^: rotated back (-j), then the transpose of the mix reads it.
// CHECK: vector.load %[[DKH]][%[[T:.*]], %c0]
// CHECK: vector.load %[[DKH]][%[[T]], %c16]
// CHECK: %[[KSIN:.*]] = vector.load %[[SIN]][%[[T]], %c0]
// CHECK-NEXT: arith.negf %[[KSIN]]
// CHECK: vector.store %{{.*}}, %[[DKH]][%[[T]], %c0]
// CHECK: vector.store %{{.*}}, %[[DKH]][%[[T]], %c16]
// CHECK: memref.load %[[DKH]]
func.func @rope_grad(%q: tensor<1x4x64x32xf32>, %k: tensor<1x2x64x32xf32>, %v: tensor<1x2x64x32xf32>, %kw: tensor<2x2xf32>, %vw: tensor<2x2xf32>, %do: tensor<1x4x64x32xf32>, %o: tensor<1x4x64x32xf32>, %lse: tensor<1x4x64xf32>) -> (tensor<1x4x64x32xf32>, tensor<1x2x64x32xf32>, tensor<1x2x64x32xf32>, tensor<2x2xf32>, tensor<2x2xf32>) {
  %g:5 = kvshift.kv_shift_attention_grad_with_lse %q, %k, %v mix(%kw, %vw) dout(%do) stats(%o, %lse) causal rope_theta = 10000.0 : (tensor<1x4x64x32xf32>, tensor<1x2x64x32xf32>, tensor<1x2x64x32xf32>, tensor<2x2xf32>, tensor<2x2xf32>, tensor<1x4x64x32xf32>, tensor<1x4x64x32xf32>, tensor<1x4x64xf32>) -> (tensor<1x4x64x32xf32>, tensor<1x2x64x32xf32>, tensor<1x2x64x32xf32>, tensor<2x2xf32>, tensor<2x2xf32>)
  return %g#0, %g#1, %g#2, %g#3, %g#4 : tensor<1x4x64x32xf32>, tensor<1x2x64x32xf32>, tensor<1x2x64x32xf32>, tensor<2x2xf32>, tensor<2x2xf32>
}
