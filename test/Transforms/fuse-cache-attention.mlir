// RUN: kvshift-opt %s --kvshift-fuse-attention="decode-chunk=32" --canonicalize --cse | FileCheck %s
// RUN: not kvshift-opt %s --kvshift-fuse-attention="decode-chunk=24" 2>&1 | FileCheck %s --check-prefix=BADCHUNK

// BADCHUNK: kvshift-fuse-attention: decode-chunk must be a positive multiple of 16, found 24

// kv_cache_attention -> the flash-decoding kernel: three loop nests
// (queries; partial states per (batch, KV head, chunk); merge), no
// materialised scores, no mix. Each nest is an scf.parallel when its work
// (multiply-adds) reaches 2^16, else sequential scf.for loops on the calling
// thread; with static sizes the choice folds.
// CHECK-LABEL: func.func @decode
// CHECK-SAME: (%[[Q:.*]]: tensor<1x4x1x8xf32>, %[[KC:.*]]: tensor<1x2x64x8xf32>, %[[VC:.*]]: tensor<1x2x64x8xf32>, %[[LEN:.*]]: index)
// CHECK-DAG: %[[C32:.*]] = arith.constant 32 : index
// CHECK-DAG: %[[SCALE:.*]] = arith.constant 0.353553{{[0-9]*}} : f32
// CHECK: %[[R:.*]] = kvshift.kernel ins(%[[Q]], %[[KC]], %[[VC]] : {{.*}}) -> tensor<1x4x1x8xf32> {
// CHECK-NEXT: ^bb0(%{{[a-z0-9]+}}: memref<1x4x1x8xf32>, %[[K:[a-z0-9]+]]: memref<1x2x64x8xf32>, %[[V:[a-z0-9]+]]: memref<1x2x64x8xf32>):
// The valid length, clamped to [Sq, Smax] (causal).
// CHECK: %[[MIN:.*]] = arith.minsi %[[LEN]], %c64 : index
// CHECK: %[[N:.*]] = arith.maxsi %[[MIN]], %c1 : index
// 1. Scaled queries, padded to 16 lanes: [B * Hkv * G * Sq * 16] f32; 64
// multiply-adds here: sequential.
// CHECK: %[[QS:.*]] = memref.alloc() : memref<64xf32>
// CHECK-NOT: scf.parallel
// CHECK: arith.mulf %{{.*}}, %[[SCALE]] : f32
// 2. One work item per (batch, KV head, chunk of 32 rows); parallel only
// for at least 2^16 multiply-adds (length x rows x 16 here).
// CHECK: %[[SPLITS:.*]] = arith.ceildivui %[[N]], %[[C32]] : index
// CHECK: %[[O:.*]] = memref.alloc(%{{.*}}) : memref<?xf32>
// CHECK: %[[M:.*]] = memref.alloc(%{{.*}}) : memref<?xf32>
// CHECK: %[[L:.*]] = memref.alloc(%{{.*}}) : memref<?xf32>
// CHECK: %[[BIG:.*]] = arith.cmpi uge, %{{.*}}, %c65536 : index
// CHECK: scf.if %[[BIG]] {
// CHECK: scf.parallel (%[[B:.*]], %[[H:.*]]) = (%c0, %c0) to (%c2, %[[SPLITS]])
// Blocks of 16 keys; one score per key: a 16-lane dot product along D
// (D = 8: masked loads) reduced once.
// CHECK: scf.for %{{.*}} = %{{.*}} to %{{.*}} step %c16 {
// CHECK: scf.for {{.*}} iter_args(%{{.*}} = %{{.*}}) -> (vector<16xf32>) {
// CHECK: vector.load %[[QS]]
// CHECK: vector.maskedload %[[K]][%c0, %[[B]], %{{.*}}, %c0]
// CHECK: vector.fma
// CHECK: vector.reduction <add>
// Causal: key j visible to query i iff j <= length - Sq + i.
// CHECK: arith.cmpi sle
// CHECK: vector.insert
// One vector exp per row and block; running max and sum.
// CHECK: vector.reduction <maxnumf>
// CHECK: memref.load %[[M]]
// CHECK: math.exp %{{.*}} : vector<16xf32>
// CHECK: math.exp %{{.*}} : f32
// CHECK: memref.store %{{.*}}, %[[L]]
// CHECK: memref.store %{{.*}}, %[[M]]
// P V: broadcast FMAs into the row's accumulator.
// CHECK: vector.load %[[O]]
// CHECK: vector.maskedload %[[V]][%c0, %[[B]], %{{.*}}, %c0]
// CHECK: vector.fma
// CHECK: vector.store %{{.*}}, %[[O]]
// The same nest, sequential.
// CHECK: } else {
// CHECK: scf.for %{{.*}} = %c0 to %c2 step %c1 {
// CHECK: scf.for %{{.*}} = %c0 to %[[SPLITS]] step %c1 {
// CHECK: vector.reduction <maxnumf>
// 3. Merge of the chunks' states into the output.
// CHECK: %[[OUT:.*]] = memref.alloc() : memref<1x4x1x8xf32>
// CHECK: scf.if
// CHECK: arith.maxnumf
// CHECK: math.exp
// CHECK: vector.maskedstore %[[OUT]]
// CHECK: kvshift.kernel_yield %[[OUT]] : memref<1x4x1x8xf32>
// CHECK: return %[[R]]
// CHECK-NOT: kvshift.kv_
func.func @decode(%q: tensor<1x4x1x8xf32>, %kc: tensor<1x2x64x8xf32>, %vc: tensor<1x2x64x8xf32>, %len: index) -> tensor<1x4x1x8xf32> {
  %o = kvshift.kv_cache_attention %q, %kc, %vc length %len causal : (tensor<1x4x1x8xf32>, tensor<1x2x64x8xf32>, tensor<1x2x64x8xf32>, index) -> tensor<1x4x1x8xf32>
  return %o : tensor<1x4x1x8xf32>
}

// RoPE: the queries are rotated (f64 angles) while they are scaled; the
// cache's keys are not touched. bf16: widened on load, rounded on store;
// D = 64: full vectors, no masks.
// CHECK-LABEL: func.func @decode_rope_bf16
// CHECK: math.powf %{{.*}} : f64
// CHECK: math.cos %{{.*}} : f64
// CHECK: math.sin %{{.*}} : f64
// CHECK: arith.ceildivui
// CHECK-NOT: math.cos
// CHECK: vector.load %{{.*}} : memref<2x2x512x64xbf16>, vector<16xbf16>
// CHECK: arith.extf %{{.*}} : vector<16xbf16> to vector<16xf32>
// CHECK-NOT: maskedload
// CHECK: arith.truncf %{{.*}} : vector<16xf32> to vector<16xbf16>
// CHECK: vector.store %{{.*}} : memref<2x8x1x64xbf16>, vector<16xbf16>
func.func @decode_rope_bf16(%q: tensor<2x8x1x64xbf16>, %kc: tensor<2x2x512x64xbf16>, %vc: tensor<2x2x512x64xbf16>, %len: index) -> tensor<2x8x1x64xbf16> {
  %o = kvshift.kv_cache_attention %q, %kc, %vc length %len causal rope_theta = 1.0e4 : (tensor<2x8x1x64xbf16>, tensor<2x2x512x64xbf16>, tensor<2x2x512x64xbf16>, index) -> tensor<2x8x1x64xbf16>
  return %o : tensor<2x8x1x64xbf16>
}
