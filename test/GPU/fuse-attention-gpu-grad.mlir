// RUN: kvshift-opt %s --split-input-file --kvshift-fuse-attention-gpu --canonicalize --cse | FileCheck %s

// kv_shift_attention_grad on the GPU: four kernels (grad_q, grad_kv,
// grad_mix, grad_w) and a call to a launcher declaration that names them in
// launch order and gives the rows of a grad_q block (one per warp) and of a
// grad_kv block (one per warp; on tensor cores 15 own key rows per warp).

// CHECK-LABEL: func.func @grad
// CHECK-SAME: (%[[Q:.*]]: tensor<?x8x?x64xbf16>, %[[K:.*]]: tensor<?x2x?x64xbf16>
// CHECK: %{{.*}}:5 = kvshift.kernel
// CHECK: %[[DQ:.*]] = memref.alloc(%{{.*}}, %{{.*}}) {alignment = 64 : i64} : memref<?x8x?x64xbf16>
// CHECK: %[[DK:.*]] = memref.alloc(%{{.*}}, %{{.*}}) {alignment = 64 : i64} : memref<?x2x?x64xbf16>
// CHECK: %[[DV:.*]] = memref.alloc(%{{.*}}, %{{.*}}) {alignment = 64 : i64} : memref<?x2x?x64xbf16>
// CHECK: %[[DKW:.*]] = memref.alloc() {alignment = 64 : i64} : memref<2x2xf32>
// CHECK: %[[DVW:.*]] = memref.alloc() {alignment = 64 : i64} : memref<2x2xf32>
// CHECK: call @kvshift_launch_kv_shift_attention_d64_bf16_causal_grad(%{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %[[DQ]], %[[DK]], %[[DV]], %[[DKW]], %[[DVW]])
// CHECK: kvshift.kernel_yield %[[DQ]], %[[DK]], %[[DV]], %[[DKW]], %[[DVW]]

// grad_q on tensor cores: the forward kernel's tiles (64 query rows, key
// tiles of 64 with the value tile's halo row); its first pass (mma.sync)
// ends with lse (lg2) and delta stored per row, the second (cp.async of the
// key tile with its halo row and of the value tile, S, dP and dq on
// mma.sync) with dq.
// CHECK: gpu.func @kv_shift_attention_d64_bf16_causal_grad_q(%{{.*}}: memref<?xbf16>, %{{.*}}: memref<?xbf16>, %{{.*}}: memref<?xbf16>, %{{.*}}: memref<?xf32>, %{{.*}}: memref<?xf32>, %{{.*}}: memref<?xbf16>, %[[LSE:.*]]: memref<?xf32>, %[[DELTA:.*]]: memref<?xf32>, %[[DQ:.*]]: memref<?xbf16>, %{{.*}}: index, %{{.*}}: index, %{{.*}}: index, %{{.*}}: index, %{{.*}}: index) workgroup(%{{.*}} : memref<64x72xbf16, #gpu.address_space<workgroup>> {llvm.align = 16 : i64}, %{{.*}} : memref<65x72xbf16, #gpu.address_space<workgroup>> {llvm.align = 16 : i64}) kernel attributes {known_block_size = array<i32: 128, 1, 1>}
// CHECK: scf.for
// CHECK: nvvm.mma.sync
// CHECK: llvm.nvvm.lg2.approx.ftz.f
// CHECK: memref.store %{{.*}}, %[[LSE]]
// CHECK: memref.store %{{.*}}, %[[DELTA]]
// CHECK: scf.for
// CHECK: nvgpu.device_async_copy
// CHECK: nvgpu.device_async_wait %{{.*}} {numGroups = 0 : i32}
// CHECK: nvvm.mma.sync
// CHECK: scf.yield
// CHECK: vector.store %{{.*}}, %[[DQ]]
// CHECK: gpu.return
// grad_kv on tensor cores: the K/V staging tile (64 rows from the block's
// first key row - 1, D + 8 columns) and the q and dO tiles (32 rows); raw K
// kept as ldmatrix fragments (warp w: rows 15 w .. 15 w + 15, its halo row
// and 15 own rows), raw V kept in shared memory; over the query heads of
// the group and their query tiles: cp.async of q and dO, then K Q^T on
// mma.sync with the key mix across its rows by shuffles (the row before
// from the lane 4 below: lane + 28 mod 32, formed in the loop), dV^ +=
// P^T dO, V dO^T mixed
// likewise, dK^ += dS^T Q.
// CHECK: gpu.func @kv_shift_attention_d64_bf16_causal_grad_kv(
// CHECK-SAME: %{{.*}}: memref<?xf32>, %{{.*}}: memref<?xf32>, %{{.*}}: index, %{{.*}}: index, %{{.*}}: index, %{{.*}}: index, %{{.*}}: index) workgroup(%[[KV:.*]] : memref<64x72xbf16, #gpu.address_space<workgroup>> {llvm.align = 16 : i64}, %[[QT:.*]] : memref<32x72xbf16, #gpu.address_space<workgroup>> {llvm.align = 16 : i64}, %[[DOT:.*]] : memref<32x72xbf16, #gpu.address_space<workgroup>> {llvm.align = 16 : i64}) kernel
// CHECK-DAG: %[[C15:.*]] = arith.constant 15 : index
// CHECK-DAG: %[[C60:.*]] = arith.constant 60 : index
// CHECK-DAG: %[[C28:.*]] = arith.constant 28 : i32
// CHECK: %[[BLOCK:.*]] = gpu.block_id  x
// CHECK: %[[J0:.*]] = arith.muli %[[BLOCK]], %[[C60]] : index
// CHECK: %[[STAGE0:.*]] = arith.subi %[[J0]], %c1 : index
// CHECK: %[[FRAGROW:.*]] = arith.muli %{{.*}}, %[[C15]] : index
// CHECK: vector.store %{{.*}}, %[[KV]]
// CHECK: gpu.barrier
// CHECK: nvgpu.ldmatrix %[[KV]]
// CHECK: gpu.barrier
// CHECK: vector.store %{{.*}}, %[[KV]]
// CHECK: scf.for
// CHECK: scf.for
// CHECK: gpu.barrier
// CHECK: nvgpu.device_async_copy
// CHECK: nvgpu.device_async_wait %{{.*}} {numGroups = 0 : i32}
// CHECK: gpu.barrier
// CHECK: %[[ADD28:.*]] = arith.addi %{{.*}}, %[[C28]] : i32
// CHECK: %[[BELOW:.*]] = arith.andi %[[ADD28]], %{{.*}} : i32
// CHECK: nvgpu.ldmatrix %[[QT]]{{.*}} {numTiles = 4 : i32, transpose = false}
// CHECK: nvvm.mma.sync
// CHECK: gpu.shuffle  idx %{{.*}}, %[[BELOW]]
// CHECK: llvm.nvvm.ex2.approx.ftz.f
// CHECK: nvgpu.ldmatrix %[[DOT]]{{.*}} {numTiles = 4 : i32, transpose = true}
// CHECK: nvgpu.ldmatrix %[[KV]]
// CHECK: nvgpu.ldmatrix %[[DOT]]{{.*}} {numTiles = 4 : i32, transpose = false}
// CHECK: gpu.shuffle  idx %{{.*}}, %[[BELOW]]
// CHECK: nvgpu.ldmatrix %[[QT]]{{.*}} {numTiles = 4 : i32, transpose = true}
// CHECK: scf.yield
// CHECK: gpu.return
// CHECK: gpu.func @kv_shift_attention_d64_bf16_causal_grad_mix(
// CHECK: gpu.func @kv_shift_attention_d64_bf16_causal_grad_w(%{{.*}}: memref<?xf32>, %{{.*}}: memref<?xf32>, %{{.*}}: memref<?xf32>, %{{.*}}: index, %{{.*}}: index, %{{.*}}: index) workgroup(%{{.*}} : memref<4x4xf32, #gpu.address_space<workgroup>> {llvm.align = 16 : i64}) kernel
// CHECK: gpu.barrier
// CHECK-NOT: gpu.barrier
// CHECK: gpu.return
// CHECK: func.func private @kvshift_launch_kv_shift_attention_d64_bf16_causal_grad(
// CHECK-SAME: kvshift.gpu_grad_kernels = [@kvshift_kernels::@kv_shift_attention_d64_bf16_causal_grad_q, @kvshift_kernels::@kv_shift_attention_d64_bf16_causal_grad_kv, @kvshift_kernels::@kv_shift_attention_d64_bf16_causal_grad_mix, @kvshift_kernels::@kv_shift_attention_d64_bf16_causal_grad_w]
// CHECK-SAME: kvshift.gpu_grad_kv_rows = 60 : i64, kvshift.gpu_grad_q_rows = 64 : i64, kvshift.gpu_threads = 128 : i64
func.func @grad(%q: tensor<?x8x?x64xbf16>, %k: tensor<?x2x?x64xbf16>, %v: tensor<?x2x?x64xbf16>,
                %kw: tensor<2x2xf32>, %vw: tensor<2x2xf32>, %do: tensor<?x8x?x64xbf16>)
    -> (tensor<?x8x?x64xbf16>, tensor<?x2x?x64xbf16>, tensor<?x2x?x64xbf16>, tensor<2x2xf32>, tensor<2x2xf32>) {
  %dq, %dk, %dv, %dkw, %dvw = kvshift.kv_shift_attention_grad %q, %k, %v mix(%kw, %vw) dout(%do) causal
      : (tensor<?x8x?x64xbf16>, tensor<?x2x?x64xbf16>, tensor<?x2x?x64xbf16>, tensor<2x2xf32>, tensor<2x2xf32>, tensor<?x8x?x64xbf16>)
      -> (tensor<?x8x?x64xbf16>, tensor<?x2x?x64xbf16>, tensor<?x2x?x64xbf16>, tensor<2x2xf32>, tensor<2x2xf32>)
  return %dq, %dk, %dv, %dkw, %dvw : tensor<?x8x?x64xbf16>, tensor<?x2x?x64xbf16>, tensor<?x2x?x64xbf16>, tensor<2x2xf32>, tensor<2x2xf32>
}

// -----

// D = 37 (not a multiple of 32): the last column group of a lane is
// clamped on load and guarded on store; non-causal, f32 (no conversions);
// f32 takes the SIMT grad_kv, one key row per warp.
// grad_q (SIMT): two passes over the keys (statistics, then dq), each dot
// product summed over the warp by five xor shuffles; lse and delta stored
// by lane 0.
// CHECK-LABEL: func.func @grad_odd
// CHECK: gpu.func @kv_shift_attention_d37_f32_grad_q(%{{.*}}: memref<?xf32>, %{{.*}}: memref<?xf32>, %{{.*}}: memref<?xf32>, %{{.*}}: memref<?xf32>, %{{.*}}: memref<?xf32>, %{{.*}}: memref<?xf32>, %[[SLSE:.*]]: memref<?xf32>, %[[SDELTA:.*]]: memref<?xf32>, %{{.*}}: memref<?xf32>, %{{.*}}: index, %{{.*}}: index, %{{.*}}: index, %{{.*}}: index, %{{.*}}: index) kernel attributes {known_block_size = array<i32: 128, 1, 1>}
// CHECK: arith.minui %{{.*}}, %c36 : index
// CHECK: scf.for
// CHECK: gpu.shuffle  xor %{{.*}}, %c16_i32, %c32_i32 : f32
// CHECK: gpu.shuffle  xor %{{.*}}, %c1_i32, %c32_i32 : f32
// CHECK: llvm.nvvm.ex2.approx.ftz.f
// CHECK: llvm.nvvm.lg2.approx.ftz.f
// CHECK: memref.store %{{.*}}, %[[SLSE]]
// CHECK: memref.store %{{.*}}, %[[SDELTA]]
// CHECK: scf.for
// CHECK-NOT: arith.truncf
// CHECK: gpu.return
// CHECK: gpu.func @kv_shift_attention_d37_f32_grad_kv({{.*}}) kernel
// CHECK-NOT: nvvm.mma.sync
// CHECK: gpu.return
// CHECK: kvshift.gpu_grad_kv_rows = 4 : i64, kvshift.gpu_grad_q_rows = 4 : i64
func.func @grad_odd(%q: tensor<1x2x5x37xf32>, %k: tensor<1x1x5x37xf32>, %v: tensor<1x1x5x37xf32>,
                    %kw: tensor<1x2xf32>, %vw: tensor<1x2xf32>, %do: tensor<1x2x5x37xf32>)
    -> (tensor<1x2x5x37xf32>, tensor<1x1x5x37xf32>, tensor<1x1x5x37xf32>, tensor<1x2xf32>, tensor<1x2xf32>) {
  %dq, %dk, %dv, %dkw, %dvw = kvshift.kv_shift_attention_grad %q, %k, %v mix(%kw, %vw) dout(%do)
      : (tensor<1x2x5x37xf32>, tensor<1x1x5x37xf32>, tensor<1x1x5x37xf32>, tensor<1x2xf32>, tensor<1x2xf32>, tensor<1x2x5x37xf32>)
      -> (tensor<1x2x5x37xf32>, tensor<1x1x5x37xf32>, tensor<1x1x5x37xf32>, tensor<1x2xf32>, tensor<1x2xf32>)
  return %dq, %dk, %dv, %dkw, %dvw : tensor<1x2x5x37xf32>, tensor<1x1x5x37xf32>, tensor<1x1x5x37xf32>, tensor<1x2xf32>, tensor<1x2xf32>
}

// -----

// With RoPE: the forward's pre-pass kernel (q rotated, k mixed then rotated)
// in the same module and named on the launcher; grad_q and grad_kv rotate
// dq and dk^ back (cos/sin of the row's angle) before storing them.
// CHECK-LABEL: func.func @grad_rope
// CHECK: gpu.func @kv_shift_attention_d64_bf16_causal_rope_grad_q(
// CHECK: llvm.nvvm.sin.approx.ftz.f
// CHECK: gpu.return
// CHECK: gpu.func @kv_shift_attention_d64_bf16_causal_rope_grad_kv(
// CHECK: llvm.nvvm.cos.approx.ftz.f
// CHECK: gpu.return
// CHECK: gpu.func @kv_shift_rope_d64_bf16(
// CHECK: func.func private @kvshift_launch_kv_shift_attention_d64_bf16_causal_rope_grad(
// CHECK-SAME: kvshift.gpu_rope_items_per_row = 4 : i64, kvshift.gpu_rope_kernel = @kvshift_kernels::@kv_shift_rope_d64_bf16
func.func @grad_rope(%q: tensor<1x2x16x64xbf16>, %k: tensor<1x1x16x64xbf16>, %v: tensor<1x1x16x64xbf16>,
                     %kw: tensor<1x2xf32>, %vw: tensor<1x2xf32>, %do: tensor<1x2x16x64xbf16>)
    -> (tensor<1x2x16x64xbf16>, tensor<1x1x16x64xbf16>, tensor<1x1x16x64xbf16>, tensor<1x2xf32>, tensor<1x2xf32>) {
  %dq, %dk, %dv, %dkw, %dvw = kvshift.kv_shift_attention_grad %q, %k, %v mix(%kw, %vw) dout(%do) causal rope_theta = 10000.0
      : (tensor<1x2x16x64xbf16>, tensor<1x1x16x64xbf16>, tensor<1x1x16x64xbf16>, tensor<1x2xf32>, tensor<1x2xf32>, tensor<1x2x16x64xbf16>)
      -> (tensor<1x2x16x64xbf16>, tensor<1x1x16x64xbf16>, tensor<1x1x16x64xbf16>, tensor<1x2xf32>, tensor<1x2xf32>)
  return %dq, %dk, %dv, %dkw, %dvw : tensor<1x2x16x64xbf16>, tensor<1x1x16x64xbf16>, tensor<1x1x16x64xbf16>, tensor<1x2xf32>, tensor<1x2xf32>
}
