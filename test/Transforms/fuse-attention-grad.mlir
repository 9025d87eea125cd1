// RUN: kvshift-opt %s --kvshift-fuse-attention --canonicalize --cse --split-input-file | FileCheck %s

// The fused backward (GQA: 8 query heads over 2 KV heads, causal, S = 2048,
// D = 64), given the forward's out and lse: one parallel loop over
// (batch, KV head); per item O(S * D) buffers (q and dO in both layouts,
// the dq accumulator: 4 x 2048 rows + 64 rows of slack; dK^ and dV^ for
// every key plus a halo row), tile-sized scratch, no S x S buffer and no
// mixed K^/V^ of full size.
// CHECK-LABEL: func.func @bwd
// CHECK-NOT: 2048x2048
// CHECK-NOT: 8192x8192
// CHECK: kvshift.kernel ins(%arg0, %arg1, %arg2, %arg3, %arg4, %arg5, %arg6, %arg7 : {{.*}}) -> tensor<1x8x2048x64xf32>, tensor<1x2x2048x64xf32>, tensor<1x2x2048x64xf32>, tensor<2x2xf32>, tensor<2x2xf32> {
// CHECK-NEXT: ^bb0(%{{.*}}: memref<1x8x2048x64xf32>, %[[KB:[a-z0-9]+]]: memref<1x2x2048x64xf32>,
// CHECK-DAG: %[[DQ:.*]] = memref.alloc() {alignment = 64 : i64} : memref<1x8x2048x64xf32>
// CHECK-DAG: %[[DK:.*]] = memref.alloc() {alignment = 64 : i64} : memref<1x2x2048x64xf32>
// CHECK-DAG: %[[DKW:.*]] = memref.alloc() {alignment = 64 : i64} : memref<2x2xf32>
// CHECK-DAG: %[[PART:.*]] = memref.alloc() {alignment = 64 : i64} : memref<2x4xf32>
// CHECK: scf.parallel (%{{.*}}) = (%c0) to (%c2) step (%c1) {
// CHECK-COUNT-2: memref.alloc() {alignment = 64 : i64} : memref<64x8256xf32>
// CHECK: memref.alloc() {alignment = 64 : i64} : memref<2052x64xf32>
// CHECK: memref.alloc() {alignment = 64 : i64} : memref<2052x64xf32>
// CHECK-COUNT-4: memref.alloca() {alignment = 64 : i64} : memref<64x64xf32>
// The loop over key tiles: the tile is mixed on load (row j and halo j-1).
// CHECK: scf.for %[[KT:.*]] = %c0 to %c32 step %c1 {
// CHECK: vector.maskedload %[[KB]]
// CHECK: arith.subi %{{.*}}, %c1 : index
// CHECK: vector.maskedload %[[KB]]
// Causal: query blocks that lie wholly above the key tile are skipped.
// CHECK: arith.cmpi sge
// CHECK: scf.if
// Recomputed S^T and dP^T: 16-accumulator micro-kernels.
// CHECK-COUNT-16: vector.fma
// CHECK-COUNT-16: vector.fma
// P = exp(S - lse), masked, and dS = P (dP - D).
// CHECK: arith.cmpi sgt, {{.*}} : vector<16xi32>
// CHECK: math.exp
// CHECK: arith.select
// CHECK: arith.subf
// CHECK: arith.mulf
// dV^ += P^T dO, dK^ += dS^T q, dq += dS K^.
// CHECK-COUNT-16: vector.fma
// CHECK-COUNT-16: vector.fma
// CHECK-COUNT-16: vector.fma
// The transposed mix writes dk; the weight partials are summed over the batch.
// CHECK: memref.store %{{.*}}, %[[DK]]
// CHECK: memref.store %{{.*}}, %[[PART]]
// CHECK: memref.store %{{.*}}, %[[DKW]]
// CHECK: kvshift.kernel_yield %[[DQ]], %[[DK]], %{{.*}}, %[[DKW]], %{{.*}} :
func.func @bwd(%q: tensor<1x8x2048x64xf32>, %k: tensor<1x2x2048x64xf32>, %v: tensor<1x2x2048x64xf32>, %kw: tensor<2x2xf32>, %vw: tensor<2x2xf32>, %do: tensor<1x8x2048x64xf32>, %o: tensor<1x8x2048x64xf32>, %lse: tensor<1x8x2048xf32>)
    -> (tensor<1x8x2048x64xf32>, tensor<1x2x2048x64xf32>, tensor<1x2x2048x64xf32>, tensor<2x2xf32>, tensor<2x2xf32>) {
  %dq, %dk, %dv, %dkw, %dvw = kvshift.kv_shift_attention_grad_with_lse %q, %k, %v mix(%kw, %vw) dout(%do) stats(%o, %lse) causal
      : (tensor<1x8x2048x64xf32>, tensor<1x2x2048x64xf32>, tensor<1x2x2048x64xf32>, tensor<2x2xf32>, tensor<2x2xf32>, tensor<1x8x2048x64xf32>, tensor<1x8x2048x64xf32>, tensor<1x8x2048xf32>)
      -> (tensor<1x8x2048x64xf32>, tensor<1x2x2048x64xf32>, tensor<1x2x2048x64xf32>, tensor<2x2xf32>, tensor<2x2xf32>)
  return %dq, %dk, %dv, %dkw, %dvw : tensor<1x8x2048x64xf32>, tensor<1x2x2048x64xf32>, tensor<1x2x2048x64xf32>, tensor<2x2xf32>, tensor<2x2xf32>
}

// -----

// A gradient without a forward next to it runs the fused forward first (for
// out and lse: two parallel loops in all), then the backward.
// CHECK-LABEL: func.func @grad_alone
// CHECK: memref.alloc() {alignment = 64 : i64} : memref<2x2x37xf32>
// CHECK: scf.parallel
// CHECK: math.log
// CHECK: scf.parallel
// CHECK-NOT: kvshift.kv_
func.func @grad_alone(%q: tensor<2x2x37x24xbf16>, %k: tensor<2x1x37x24xbf16>, %w: tensor<1x2xf32>, %do: tensor<2x2x37x24xbf16>) -> (tensor<2x2x37x24xbf16>, tensor<2x1x37x24xbf16>, tensor<1x2xf32>) {
  %dq, %dk, %dv, %dkw, %dvw = kvshift.kv_shift_attention_grad %q, %k, %k mix(%w, %w) dout(%do)
      : (tensor<2x2x37x24xbf16>, tensor<2x1x37x24xbf16>, tensor<2x1x37x24xbf16>, tensor<1x2xf32>, tensor<1x2xf32>, tensor<2x2x37x24xbf16>)
      -> (tensor<2x2x37x24xbf16>, tensor<2x1x37x24xbf16>, tensor<2x1x37x24xbf16>, tensor<1x2xf32>, tensor<1x2xf32>)
  return %dq, %dk, %dkw : tensor<2x2x37x24xbf16>, tensor<2x1x37x24xbf16>, tensor<1x2xf32>
}
