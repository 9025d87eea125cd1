// RUN: kvshift-opt %s --kvshift-fuse-attention --canonicalize --cse --split-input-file | FileCheck %s

// RoPE in the fused forward (rope_theta): one cos/sin table of [Sk, D/2]
// f32 per op, filled in parallel before the main loop from f64 angles; q
// rotated while it is loaded into Q^T; each mixed K tile rotated in the same
// pass as the mix (D = 64: half = 32, full 16-lane vectors).
// CHECK-LABEL: func.func @rope_gqa_causal
// CHECK-NOT: 2048x2048
// CHECK-DAG: %[[THETA:.*]] = arith.constant 1.000000e+04 : f64
// CHECK-DAG: %[[KB:.*]] = bufferization.to_buffer %arg1 read_only
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
