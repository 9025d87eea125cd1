// RUN: kvshift-opt %s --kvshift-fuse-attention --canonicalize --cse --split-input-file | FileCheck %s
// RUN: not kvshift-opt %s --split-input-file \
// RUN:   --kvshift-fuse-attention="block-k=6" 2>&1 | FileCheck %s --check-prefix=BADK
// RUN: not kvshift-opt %s --split-input-file \
// RUN:   --kvshift-fuse-attention="block-rows=0" 2>&1 | FileCheck %s --check-prefix=BADROWS

// BADK: kvshift-fuse-attention: block-k must be a positive multiple of 4, found 6
// BADROWS: kvshift-fuse-attention: block-rows must be at least 1, found 0

// GQA (8 query heads over 2 KV heads: groups of 4), causal, S = 2048,
// D = 64, default tiles: 64 rows per work item (4 query heads x 16 rows),
// 64 keys per tile.
// CHECK-LABEL: func.func @gqa_causal
// CHECK-SAME: (%[[Q:.*]]: tensor<1x8x2048x64xf32>, %[[K:.*]]: tensor<1x2x2048x64xf32>, %[[V:.*]]: tensor<1x2x2048x64xf32>
// No score matrix, no mixed K^/V^ of full size, at any point.
// CHECK-NOT: 2048x2048
// CHECK-NOT: memref.alloc{{.*}}1x2x2048x64
// The loops work on buffers inside a kvshift.kernel that reads the tensors.
// CHECK: %[[T:.*]] = kvshift.kernel ins(%[[Q]], %[[K]], %[[V]], %{{.*}}, %{{.*}} : {{.*}}) -> tensor<1x8x2048x64xf32> {
// CHECK-NEXT: ^bb0(%{{.*}}: memref<1x8x2048x64xf32>, %[[KB:[a-z0-9]+]]: memref<1x2x2048x64xf32>, %[[VB:[a-z0-9]+]]: memref<1x2x2048x64xf32>, %{{.*}}: memref<2x2xf32>, %{{.*}}: memref<2x2xf32>):
// CHECK: %[[OUT:.*]] = memref.alloc() {alignment = 64 : i64} : memref<1x8x2048x64xf32>
// One parallel loop over B x Hkv x (2048 / 16) work items.
// CHECK: scf.parallel (%{{.*}}) = (%{{.*}}) to (%c256) step
// Tile-sized scratch only: Q^T, O^T, S^T, K^ and V^ tiles, M, L, limits.
// CHECK-COUNT-5: memref.alloca() {alignment = 64 : i64} : memref<64x64xf32>
// CHECK-COUNT-2: memref.alloca() {alignment = 64 : i64} : memref<64xf32>
// CHECK: memref.alloca() {alignment = 64 : i64} : memref<64xi32>
// The loop over key tiles, then the mix on load: row j and the halo row j-1.
// CHECK: scf.for %[[KT:.*]] = %c0 to %{{.*}} step %c1 {
// CHECK: %[[CUR:.*]] = vector.maskedload %[[KB]][%{{.*}}, %{{.*}}, %[[J:.*]], %{{.*}}]
// CHECK: scf.if %{{.*}} -> (vector<16xf32>) {
// CHECK:   %[[JM1:.*]] = arith.subi %[[J]], %c1 : index
// CHECK:   vector.maskedload %[[KB]][%{{.*}}, %{{.*}}, %[[JM1]], %{{.*}}]
// CHECK: vector.fma
// CHECK: vector.maskedload %[[VB]]
// S^T = K^ Q^T: a register tile of 4 keys x 4 vectors of 16 rows.
// CHECK: scf.for {{.*}} iter_args({{.*}}) -> (vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>)
// CHECK-COUNT-16: vector.fma
// Masking only on tiles whose last key passes the smallest row limit.
// CHECK: %[[CROSS:.*]] = arith.cmpi sgt, %{{.*}}, %{{.*}} : index
// CHECK: scf.if %[[CROSS]] {
// CHECK:   arith.cmpi sgt, %{{.*}}, %{{.*}} : vector<16xi32>
// CHECK:   math.exp
// CHECK: } else {
// CHECK-NOT: vector<16xi32>
// CHECK:   math.exp
// CHECK-NOT: vector<16xi32>
// P V^ into O^T: again 16 accumulators.
// CHECK: scf.for {{.*}} iter_args({{.*}}) -> (vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>)
// CHECK-COUNT-16: vector.fma
// The normalised rows are stored into the result.
// CHECK: memref.store %{{.*}}, %[[OUT]]
// CHECK: kvshift.kernel_yield %[[OUT]] : memref<1x8x2048x64xf32>
// CHECK: return %[[T]]
func.func @gqa_causal(%q: tensor<1x8x2048x64xf32>, %k: tensor<1x2x2048x64xf32>, %v: tensor<1x2x2048x64xf32>, %kw: tensor<2x2xf32>, %vw: tensor<2x2xf32>) -> tensor<1x8x2048x64xf32> {
  %o = kvshift.kv_shift_attention %q, %k, %v mix(%kw, %vw) causal : (tensor<1x8x2048x64xf32>, tensor<1x2x2048x64xf32>, tensor<1x2x2048x64xf32>, tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<1x8x2048x64xf32>
  return %o : tensor<1x8x2048x64xf32>
}

// -----

// Not causal: every key tile is visited, nothing is masked.
// CHECK-LABEL: func.func @not_causal
// CHECK-NOT: vector<16xi32>
// CHECK-NOT: arith.cmpi sgt
// CHECK: math.exp
// CHECK-NOT: vector<16xi32>
// CHECK: return
func.func @not_causal(%q: tensor<2x4x100x32xf32>, %k: tensor<2x4x100x32xf32>, %w: tensor<4x2xf32>) -> tensor<2x4x100x32xf32> {
  %o = kvshift.kv_shift_attention %q, %k, %k mix(%w, %w) : (tensor<2x4x100x32xf32>, tensor<2x4x100x32xf32>, tensor<2x4x100x32xf32>, tensor<4x2xf32>, tensor<4x2xf32>) -> tensor<2x4x100x32xf32>
  return %o : tensor<2x4x100x32xf32>
}

// -----

// bf16 and dynamic shapes: raw rows are widened on load, the result rounded
// once; the scale is computed from the dynamic head dim.
// CHECK-LABEL: func.func @bf16_dynamic
// CHECK-DAG: math.sqrt
// CHECK-DAG: memref.alloc({{.*}}) {alignment = 64 : i64} : memref<?x?x?x?xbf16>
// CHECK: scf.parallel
// CHECK: vector.maskedload {{.*}} : memref<?x?x?x?xbf16>, vector<16xi1>, vector<16xbf16> into vector<16xbf16>
// CHECK: arith.extf {{.*}} : vector<16xbf16> to vector<16xf32>
// CHECK: arith.truncf {{.*}} : f32 to bf16
// CHECK: kvshift.kernel_yield %{{.*}} : memref<?x?x?x?xbf16>
func.func @bf16_dynamic(%q: tensor<?x?x?x?xbf16>, %k: tensor<?x?x?x?xbf16>, %w: tensor<?x2xf32>) -> tensor<?x?x?x?xbf16> {
  %o = kvshift.kv_shift_attention %q, %k, %k mix(%w, %w) causal : (tensor<?x?x?x?xbf16>, tensor<?x?x?x?xbf16>, tensor<?x?x?x?xbf16>, tensor<?x2xf32>, tensor<?x2xf32>) -> tensor<?x?x?x?xbf16>
  return %o : tensor<?x?x?x?xbf16>
}

// -----

// kv_shift alone is left to --kvshift-decompose.
// CHECK-LABEL: func.func @shift_untouched
// CHECK: kvshift.kv_shift
func.func @shift_untouched(%x: tensor<1x2x8x4xf32>, %w: tensor<2x2xf32>) -> tensor<1x2x8x4xf32> {
  %0 = kvshift.kv_shift %x, %w : tensor<1x2x8x4xf32>, tensor<2x2xf32> -> tensor<1x2x8x4xf32>
  return %0 : tensor<1x2x8x4xf32>
}
