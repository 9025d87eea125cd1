// RUN: kvshift-opt %s --split-input-file --kvshift-fuse-attention-gpu --canonicalize --cse | FileCheck %s
// RUN: not kvshift-opt %s --split-input-file \
// RUN:   --kvshift-fuse-attention-gpu="block-k=24" 2>&1 | FileCheck %s --check-prefix=BADK
// RUN: not kvshift-opt %s --split-input-file \
// RUN:   --kvshift-fuse-attention-gpu="warps=0" 2>&1 | FileCheck %s --check-prefix=BADWARPS
// RUN: not kvshift-opt %s --split-input-file \
// RUN:   --kvshift-fuse-attention-gpu="simt-block-k=0" 2>&1 | FileCheck %s --check-prefix=BADSIMTK

// RUN: not kvshift-opt %s --split-input-file \
// RUN:   --kvshift-fuse-attention-gpu="decode-rows=17" 2>&1 | FileCheck %s --check-prefix=BADROWS
// RUN: kvshift-opt %s --split-input-file --kvshift-fuse-attention-gpu="decode-rows=2 decode-split=128" | FileCheck %s --check-prefix=OPTS
// RUN: not kvshift-opt %s --split-input-file \
// RUN:   --kvshift-fuse-attention-gpu="decode-rows=16 warps=16" 2>&1 | FileCheck %s --check-prefix=BIGROWS
// RUN: not kvshift-opt %s --split-input-file \
// RUN:   --kvshift-fuse-attention-gpu="decode-split=0" 2>&1 | FileCheck %s --check-prefix=BADSPLIT

// BADROWS: kvshift-fuse-attention-gpu: decode-split must be positive and decode-rows in [1, 16], found 512 and 17
// BIGROWS: 'kvshift.kv_cache_attention' op kvshift-fuse-attention-gpu: D = 64 with decode-rows = 16 and warps = 16 needs 270336 bytes of shared memory, above the 166912 bytes a thread block may use on sm_80
// BADSPLIT: kvshift-fuse-attention-gpu: decode-split must be positive and decode-rows in [1, 16], found 0 and 4
// RUN: kvshift-opt %s --split-input-file --kvshift-fuse-attention-gpu="decode-prefetch=false" | FileCheck %s --check-prefix=NOPREFETCH
// RUN: kvshift-opt %s --split-input-file --kvshift-fuse-attention-gpu="min-blocks-per-sm=3" | FileCheck %s --check-prefix=MINBLOCKS
// RUN: not kvshift-opt %s --split-input-file --kvshift-fuse-attention-gpu="min-blocks-per-sm=33" 2>&1 | FileCheck %s --check-prefix=BADMINBLOCKS
// MINBLOCKS: gpu.func @kv_shift_attention_d64_bf16_causal(
// MINBLOCKS-SAME: nvvm.minctasm = 3 : i32
// BADMINBLOCKS: kvshift-fuse-attention-gpu: min-blocks-per-sm must be in [0, 32] (0: no bound), found 33
// OPTS: workgroup(%{{.*}} : memref<16x2x64xf32, #gpu.address_space<workgroup>>
// OPTS: kvshift.gpu_decode_rows = 2 : i64, kvshift.gpu_decode_split = 128 : i64
// Without the prefetch the loop carries only the softmax state and loads
// its own step's keys.
// NOPREFETCH-LABEL: gpu.func @kv_cache_decode_d64_bf16_causal(
// NOPREFETCH: scf.for %{{.*}} -> (f32, f32, f32, f32, f32, f32, f32, f32, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>) {
// NOPREFETCH: vector.load
// RUN: kvshift-opt %s --split-input-file --kvshift-fuse-attention-gpu="shifted-values=true" | FileCheck %s --check-prefix=SV
// shifted-values: the key loop also carries each row's last probability (2
// more values: 6 + 2 + 8 x 4 accumulators), the value tile is read from its
// row 0 (no halo row, no FMAs with it), and after the loop the last key's
// value row comes from global memory (16 columns of this thread's, D = 64).
// SV-LABEL: gpu.func @kv_shift_attention_d64_bf16_causal(
// SV-SAME: %{{.*}}: memref<?xbf16>, %{{.*}}: memref<?xbf16>, %[[SVV:[a-z0-9]+]]: memref<?xbf16>,
// SV: scf.for %{{.*}} -> ({{(f32, ){39}f32}})
// SV: nvgpu.ldmatrix %{{.*}} {numTiles = 4 : i32, transpose = true}
// SV-NOT: vector.load %{{.*}} : memref<65x72xbf16, #gpu.address_space<workgroup>>, vector<2xbf16>
// SV: scf.yield
// SV-COUNT-16: memref.load %[[SVV]]
// SV: gpu.return
// RUN: kvshift-opt %s --split-input-file --kvshift-fuse-attention-gpu="lazy-rescale=true" | FileCheck %s --check-prefix=LAZY
// lazy-rescale: a warp-wide vote on whether some row's max grew by more than
// 8 (log2 units); O's 32 accumulators (D = 64) are rescaled only then.
// LAZY-LABEL: gpu.func @kv_shift_attention_d64_bf16_causal(
// LAZY: %[[EIGHT:.*]] = arith.constant 8.000000e+00 : f32
// LAZY: scf.for
// LAZY: arith.addf %{{.*}}, %[[EIGHT]] : f32
// LAZY: nvvm.vote.sync any %{{.*}}, %{{.*}} -> i1
// LAZY: scf.if %{{.*}} -> ({{(f32, ){31}f32}})
// LAZY: scf.yield
// LAZY: gpu.return
// RUN: kvshift-opt %s --split-input-file --kvshift-fuse-attention-gpu="decode-mma=true" | FileCheck %s --check-prefix=MMA
// decode-mma: one state per warp in shared memory (4 x 4 rows x D); the
// loop steps over 16 keys per warp (64 per block) and carries m, l, O's 16
// accumulators (D / 8 blocks x row g) and the next chunk's 8 loads (K: two
// 8-key blocks x 2 loads of 8 columns, V: 4 keys x 8 columns).
// MMA-LABEL: gpu.func @kv_cache_decode_d64_bf16_causal(
// MMA-SAME: workgroup(%{{.*}} : memref<4x4x64xf32, #gpu.address_space<workgroup>>
// MMA: scf.for %{{.*}} = %{{.*}} to %{{.*}} step %c64{{.*}} -> ({{(f32, ){18}(vector<8xbf16>, ){7}vector<8xbf16>}})
// S = Q K^T: 4 k-steps for each 8-key block; query rows 8..15 are zero.
// MMA-COUNT-8: nvvm.mma.sync A[%{{.*}}, %[[ZERO:.*]], %{{.*}}, %[[ZERO]]]
// Masking only where the chunk needs it, then the row max over the four
// lanes of a row.
// MMA: scf.if %{{.*}} -> (f32, f32, f32, f32, f32, f32, f32, f32)
// MMA: gpu.shuffle  xor %{{.*}}, %c1_i32{{.*}}, %c32_i32{{.*}} : f32
// MMA: gpu.shuffle  xor %{{.*}}, %c2_i32{{.*}}, %c32_i32{{.*}} : f32
// O is rescaled only when a vote finds a row whose max grew by more than 8.
// MMA: nvvm.vote.sync any
// MMA: scf.if %{{.*}} -> ({{(f32, ){15}f32}})
// O += P V: V's B operand pairs keys 2c and 2c + 1 at one column.
// MMA: vector.shuffle %{{.*}}, %{{.*}} [0, 8] : vector<8xbf16>, vector<8xbf16>
// MMA-COUNT-8: nvvm.mma.sync
// MMA: scf.yield
// MMA: gpu.barrier
// MMA: memref.store %{{.*}}, %{{.*}}[%{{.*}}] : memref<?xf32>
// MMA: gpu.return
// f32 keeps the SIMT kernel (lane groups; 8 of them for D = 48).
// MMA-LABEL: gpu.func @kv_cache_decode_d48_f32_rope(
// MMA-SAME: workgroup(%{{.*}} : memref<8x4x48xf32, #gpu.address_space<workgroup>>
// MMA-NOT: nvvm.mma.sync
// MMA: gpu.func @kv_cache_decode_d48_f32_rope_merge(
// BADK: kvshift-fuse-attention-gpu: block-k must be a positive multiple of 16, found 24
// BADWARPS: kvshift-fuse-attention-gpu: warps must be in [1, 16], found 0
// BADSIMTK: kvshift-fuse-attention-gpu: simt-block-k must be positive, found 0

// bf16, GQA (8 query heads over 2 KV heads), causal, D = 64, default tiles:
// 4 warps, 64 query rows and 64 keys per tile.
// CHECK-LABEL: module attributes {gpu.container_module}
// CHECK-LABEL: func.func @bf16_gqa_causal
// CHECK-SAME: (%[[Q:.*]]: tensor<2x8x100x64xbf16>, %[[K:.*]]: tensor<2x2x100x64xbf16>, %[[V:.*]]: tensor<2x2x100x64xbf16>, %[[KW:.*]]: tensor<2x2xf32>, %[[VW:.*]]: tensor<2x2xf32>)
// CHECK: %[[T:.*]] = kvshift.kernel ins(%[[Q]], %[[K]], %[[V]], %[[KW]], %[[VW]] : {{.*}}) -> tensor<2x8x100x64xbf16> {
// CHECK-NEXT: ^bb0(%[[QB:[a-z0-9]+]]: memref<2x8x100x64xbf16>, %[[KB:[a-z0-9]+]]: memref<2x2x100x64xbf16>,
// CHECK: %[[OUT:.*]] = memref.alloc() {alignment = 64 : i64} : memref<2x8x100x64xbf16>
// CHECK: call @[[LAUNCH:kvshift_launch_kv_shift_attention_d64_bf16_causal]](%[[QB]], %[[KB]], %{{.*}}, %{{.*}}, %{{.*}}, %[[OUT]])
// CHECK: kvshift.kernel_yield %[[OUT]] : memref<2x8x100x64xbf16>
// CHECK: return %[[T]]
// CHECK: gpu.module @kvshift_kernels
// Flat buffers and sizes as arguments; K and V tiles in shared memory, rows
// padded from 64 to 72 elements.
// CHECK: gpu.func @kv_shift_attention_d64_bf16_causal(%[[GQ:.*]]: memref<?xbf16>, %[[GK:.*]]: memref<?xbf16>, %[[GV:.*]]: memref<?xbf16>, %[[GKW:.*]]: memref<?xf32>, %[[GVW:.*]]: memref<?xf32>, %[[GO:.*]]: memref<?xbf16>, %{{.*}}: index, %{{.*}}: index, %{{.*}}: index, %{{.*}}: index, %{{.*}}: index)
// CHECK-SAME: workgroup(%[[KS:.*]] : memref<64x72xbf16, #gpu.address_space<workgroup>> {llvm.align = 16 : i64}, %[[VS:.*]] : memref<65x72xbf16, #gpu.address_space<workgroup>> {llvm.align = 16 : i64})
// CHECK-SAME: kernel attributes {known_block_size = array<i32: 128, 1, 1>}
// scale * log2(e) = 0.125 * 1.4427 = 0.180336878, folded into exp2.
// CHECK: %[[SCALE:.*]] = arith.constant 0.180336878 : f32
// The mixing weights of the block's KV head.
// CHECK: memref.load %[[GKW]]
// CHECK: memref.load %[[GVW]]
// The query tile goes through shared memory once, into ldmatrix fragments.
// CHECK: vector.load %[[GQ]][%{{.*}}] {alignment = 16 : i64} : memref<?xbf16>, vector<8xbf16>
// CHECK: vector.store %{{.*}}, %[[KS]][%{{.*}}, %{{.*}}] {alignment = 16 : i64}
// CHECK: gpu.barrier
// CHECK-COUNT-4: nvgpu.ldmatrix %[[KS]]{{.*}}transpose = false
// CHECK: gpu.barrier
// The first tiles, raw, by cp.async (zero-filled outside the sequence
// through the source size): keys [0, 64), then values [-1, 64), the halo
// row first.
// CHECK: nvgpu.device_async_copy %[[GK]][%{{.*}}], %[[KS]][%{{.*}}, %{{.*}}], 8, %{{.*}} {bypassL1} : memref<?xbf16> to memref<64x72xbf16, #gpu.address_space<workgroup>>
// CHECK: nvgpu.device_async_create_group
// CHECK: nvgpu.device_async_copy %[[GV]][%{{.*}}], %[[VS]][%{{.*}}, %{{.*}}], 8, %{{.*}} {bypassL1} : memref<?xbf16> to memref<65x72xbf16, #gpu.address_space<workgroup>>
// CHECK: %[[TOK:.*]] = nvgpu.device_async_create_group
// The loop over key tiles: this tile's keys have arrived (its values may
// still be in flight).
// CHECK: scf.for
// CHECK: nvgpu.device_async_wait %[[TOK]] {numGroups = 1 : i32}
// CHECK-NEXT: gpu.barrier
// S = Q K^T: 4 k-steps x 8 n-blocks of bf16 mma.sync m16n8k16.
// CHECK: nvgpu.ldmatrix %[[KS]]{{.*}}transpose = false
// CHECK-COUNT-32: nvvm.mma.sync {{.*}}multiplicandAPtxType = #nvvm.mma_type<bf16>, multiplicandBPtxType = #nvvm.mma_type<bf16>, shape = #nvvm.shape<m = 16, n = 8, k = 16>} : (i32, i32, f32) -> !llvm.struct<(f32, f32, f32, f32)>
// The key mix on the scores, a1 s_j + a2 s_{j-1}: column j - 1 from the
// lane before (8 blocks x 2 rows of shuffles).
// CHECK-COUNT-16: gpu.shuffle  idx
// CHECK: llvm.intr.fma
// The next key tile, once every warp is done with this one.
// CHECK: gpu.barrier
// CHECK-NEXT: arith.addi
// CHECK: nvgpu.device_async_copy %[[GK]]
// CHECK: nvgpu.device_async_create_group
// Masking only on partial or diagonal tiles.
// CHECK: scf.if %{{.*}} -> (f32,
// CHECK: arith.select
// CHECK: } else {
// Row max across the 4 lanes of a row, exp2 with the scale folded in.
// CHECK: gpu.shuffle  xor %{{.*}}, %c1_i32, %c32_i32 : f32
// CHECK: gpu.shuffle  xor %{{.*}}, %c2_i32, %c32_i32 : f32
// CHECK: arith.mulf %{{.*}}, %[[SCALE]] : f32
// CHECK: llvm.call_intrinsic "llvm.nvvm.ex2.approx.ftz.f"
// The value mix on the probabilities, b1 p_j + b2 p_{j+1}: column j + 1
// from the lane after (16 shuffles), then the halo row's weight b2 p_{j0}
// from the row's first lane (2).
// CHECK-COUNT-18: gpu.shuffle  idx
// CHECK: nvgpu.device_async_wait %[[TOK]] {numGroups = 1 : i32}
// CHECK-NEXT: gpu.barrier
// O += P' V: V fragments of buffer rows 1 .. 64 by transposed ldmatrix,
// 4 k-steps x 8 n-blocks; then the halo row (row 0) times b2 p_{j0}.
// CHECK: nvgpu.ldmatrix %[[VS]]{{.*}}transpose = true
// CHECK: nvvm.mma.sync
// CHECK: vector.load %[[VS]][%{{.*}}, %{{.*}}] : memref<65x72xbf16, #gpu.address_space<workgroup>>, vector<2xbf16>
// The next value tile, rows [j0 + 63, j0 + 128).
// CHECK: gpu.barrier
// CHECK: nvgpu.device_async_copy %[[GV]]
// CHECK: nvgpu.device_async_create_group
// CHECK: scf.yield
// No copy is in flight when the block ends.
// CHECK: nvgpu.device_async_wait %[[TOK]] {numGroups = 0 : i32}
// Epilogue: row sums across lanes, bf16 pairs stored for rows < Sq.
// CHECK: gpu.shuffle  xor
// CHECK: vector.store %{{.*}}, %[[GO]][%{{.*}}] {alignment = 4 : i64} : memref<?xbf16>, vector<2xbf16>
// CHECK: gpu.return
// The launcher is a declaration; kvshift-gpu-launchers writes its body.
// CHECK: func.func private @[[LAUNCH]](memref<2x8x100x64xbf16>, memref<2x2x100x64xbf16>, memref<2x2x100x64xbf16>, memref<2x2xf32>, memref<2x2xf32>, memref<2x8x100x64xbf16>)
// CHECK-SAME: kvshift.gpu_block_m = 64 : i64, kvshift.gpu_kernel = @kvshift_kernels::@kv_shift_attention_d64_bf16_causal, kvshift.gpu_threads = 128 : i64
func.func @bf16_gqa_causal(%q: tensor<2x8x100x64xbf16>, %k: tensor<2x2x100x64xbf16>, %v: tensor<2x2x100x64xbf16>, %kw: tensor<2x2xf32>, %vw: tensor<2x2xf32>) -> tensor<2x8x100x64xbf16> {
  %o = kvshift.kv_shift_attention %q, %k, %v mix(%kw, %vw) causal
      : (tensor<2x8x100x64xbf16>, tensor<2x2x100x64xbf16>, tensor<2x2x100x64xbf16>, tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<2x8x100x64xbf16>
  return %o : tensor<2x8x100x64xbf16>
}

// -----

// f16, dynamic B/H/S, not causal: no masking of the diagonal, f16 mma.sync
// on vector<2xf16> operands.
// CHECK-LABEL: func.func @f16_dynamic
// CHECK: call @kvshift_launch_kv_shift_attention_d128_f16
// CHECK: gpu.func @kv_shift_attention_d128_f16(
// CHECK-SAME: workgroup(%{{.*}} : memref<64x136xf16, #gpu.address_space<workgroup>>
// CHECK: nvvm.mma.sync {{.*}}shape = #nvvm.shape<m = 16, n = 8, k = 16>} : (vector<2xf16>, vector<2xf16>, f32) -> !llvm.struct<(f32, f32, f32, f32)>
// CHECK: func.func private @kvshift_launch_kv_shift_attention_d128_f16(memref<?x?x?x128xf16>
func.func @f16_dynamic(%q: tensor<?x?x?x128xf16>, %k: tensor<?x?x?x128xf16>, %v: tensor<?x?x?x128xf16>, %kw: tensor<?x2xf32>, %vw: tensor<?x2xf32>) -> tensor<?x?x?x128xf16> {
  %o = kvshift.kv_shift_attention %q, %k, %v mix(%kw, %vw) scale = 0.5
      : (tensor<?x?x?x128xf16>, tensor<?x?x?x128xf16>, tensor<?x?x?x128xf16>, tensor<?x2xf32>, tensor<?x2xf32>) -> tensor<?x?x?x128xf16>
  return %o : tensor<?x?x?x128xf16>
}

// -----

// f32: the SIMT kernel, no tensor cores. 32 query rows (4 lanes per row),
// key tiles of 16 mixed f32 rows, D = 40 padded to 48.
// CHECK-LABEL: func.func @f32_simt
// CHECK: gpu.func @kv_shift_attention_d40_f32_causal(
// CHECK-SAME: workgroup(%{{.*}} : memref<16x48xf32, #gpu.address_space<workgroup>> {llvm.align = 16 : i64}, %{{.*}} : memref<16x48xf32, #gpu.address_space<workgroup>> {llvm.align = 16 : i64})
// CHECK-NOT: nvvm.mma.sync
// CHECK-NOT: nvgpu.ldmatrix
// CHECK: vector.fma {{.*}} : vector<4xf32>
// CHECK: vector.reduction <add>
// CHECK: gpu.shuffle  xor
// CHECK: llvm.call_intrinsic "llvm.nvvm.ex2.approx.ftz.f"
// CHECK: gpu.return
func.func @f32_simt(%q: tensor<1x2x33x40xf32>, %k: tensor<1x2x33x40xf32>, %v: tensor<1x2x33x40xf32>, %kw: tensor<2x2xf32>, %vw: tensor<2x2xf32>) -> tensor<1x2x33x40xf32> {
  %o = kvshift.kv_shift_attention %q, %k, %v mix(%kw, %vw) causal
      : (tensor<1x2x33x40xf32>, tensor<1x2x33x40xf32>, tensor<1x2x33x40xf32>, tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<1x2x33x40xf32>
  return %o : tensor<1x2x33x40xf32>
}

// -----

// RoPE after the mix (rope_theta): a pre-pass kernel rotates q, and mixes
// then rotates k, at their positions, into buffers of their own; the
// attention kernel reads those keys as they are (no key mix on the scores)
// and mixes the values as without RoPE. inv_freq is a product over the bits
// of the pair index of the constants theta^(-2^(b+1)/D): 10000^(-1/32) =
// 0.7499, 10000^(-1/16) = 0.5623, ..., then times theta^(-2e/D) for the
// chunk's elements.
// CHECK-LABEL: func.func @bf16_rope
// CHECK: call @kvshift_launch_kv_shift_attention_d64_bf16_causal_rope(
// CHECK: gpu.func @kv_shift_attention_d64_bf16_causal_rope(
// CHECK-NOT: sin.approx
// CHECK: scf.for
// CHECK-COUNT-32: nvvm.mma.sync
// CHECK-NOT: gpu.shuffle  idx
// CHECK: nvgpu.device_async_copy
// CHECK-COUNT-18: gpu.shuffle  idx
// CHECK-NOT: sin.approx
// CHECK: gpu.return
// The pre-pass: one thread per (row, pair of chunks), 4 pairs per row of 64.
// CHECK: gpu.func @kv_shift_rope_d64_bf16(%[[X:.*]]: memref<?xbf16>, %[[W:.*]]: memref<?xf32>, %[[Y:.*]]: memref<?xbf16>, %[[ROWS:.*]]: index, %[[SEQ:.*]]: index, %[[OFF:.*]]: index, %[[HEADS:.*]]: index, %[[MIX:.*]]: index) kernel attributes {known_block_size = array<i32: 256, 1, 1>}
// CHECK-DAG: arith.constant 0.74989420933245587 : f64
// CHECK-DAG: arith.constant 0.56234132519034907 : f64
// CHECK-DAG: arith.constant 1.000000e-02 : f64
// CHECK: %[[ROW:.*]] = arith.divui %{{.*}}, %c4 : index
// CHECK: scf.if
// CHECK: %[[P:.*]] = arith.remui %[[ROW]], %[[SEQ]] : index
// CHECK: arith.addi %[[P]], %[[OFF]] : index
// CHECK: arith.sitofp %{{.*}} : i64 to f64
// The keys (mix != 0): the weights of the row's head, w[h, 0] x_r +
// w[h, 1] x_{r-1}, no row before position 0.
// CHECK: arith.cmpi ne, %[[MIX]], %c0 : index
// CHECK: arith.divui %[[ROW]], %[[SEQ]] : index
// CHECK: arith.remui %{{.*}}, %[[HEADS]] : index
// CHECK: memref.load %[[W]]
// CHECK: memref.load %[[W]]
// CHECK: arith.cmpi ugt, %[[P]], %c0 : index
// CHECK-COUNT-2: vector.fma
// The angle reduced by 2 pi in f64, then cos/sin.approx in f32.
// CHECK: llvm.intr.rint
// CHECK: llvm.intr.fma(%{{.*}}, %{{.*}}, %{{.*}}) : (f64, f64, f64) -> f64
// CHECK: llvm.intr.fma(%{{.*}}, %{{.*}}, %{{.*}}) : (f64, f64, f64) -> f64
// CHECK: arith.truncf %{{.*}} : f64 to f32
// CHECK: llvm.call_intrinsic "llvm.nvvm.cos.approx.ftz.f"
// CHECK: llvm.call_intrinsic "llvm.nvvm.sin.approx.ftz.f"
// CHECK-COUNT-2: vector.store %{{.*}}, %[[Y]][%{{.*}}] {alignment = 16 : i64} : memref<?xbf16>, vector<8xbf16>
// CHECK: func.func private @kvshift_launch_kv_shift_attention_d64_bf16_causal_rope(
// CHECK-SAME: kvshift.gpu_rope_items_per_row = 4 : i64, kvshift.gpu_rope_kernel = @kvshift_kernels::@kv_shift_rope_d64_bf16
func.func @bf16_rope(%q: tensor<2x8x100x64xbf16>, %k: tensor<2x2x100x64xbf16>, %v: tensor<2x2x100x64xbf16>, %kw: tensor<2x2xf32>, %vw: tensor<2x2xf32>) -> tensor<2x8x100x64xbf16> {
  %o = kvshift.kv_shift_attention %q, %k, %v mix(%kw, %vw) causal rope_theta = 10000.0
      : (tensor<2x8x100x64xbf16>, tensor<2x2x100x64xbf16>, tensor<2x2x100x64xbf16>, tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<2x8x100x64xbf16>
  return %o : tensor<2x8x100x64xbf16>
}

// -----

// f32 with RoPE: the SIMT kernel stages the pre-pass's keys as they are
// (no mix: no f32 multiply before the store) and mixes the values.
// CHECK-LABEL: func.func @f32_rope
// CHECK: gpu.func @kv_shift_attention_d32_f32_rope(
// CHECK-NOT: sin.approx
// CHECK: scf.for
// CHECK: %[[KEY:.*]] = scf.if %{{.*}} -> (vector<4xf32>) {
// CHECK-NEXT: arith.muli
// CHECK-NEXT: arith.addi
// CHECK-NEXT: arith.addi
// CHECK-NEXT: %[[RAW:.*]] = vector.load
// CHECK-NEXT: scf.yield %[[RAW]]
// CHECK: vector.store %[[KEY]], %{{.*}} : memref<16x32xf32, #gpu.address_space<workgroup>>, vector<4xf32>
// CHECK: vector.fma
// CHECK: vector.store %{{.*}} : memref<16x32xf32, #gpu.address_space<workgroup>>, vector<4xf32>
// CHECK: gpu.func @kv_shift_rope_d32_f32(
func.func @f32_rope(%q: tensor<1x2x33x32xf32>, %k: tensor<1x2x33x32xf32>, %v: tensor<1x2x33x32xf32>, %kw: tensor<2x2xf32>, %vw: tensor<2x2xf32>) -> tensor<1x2x33x32xf32> {
  %o = kvshift.kv_shift_attention %q, %k, %v mix(%kw, %vw) rope_theta = 500000.0
      : (tensor<1x2x33x32xf32>, tensor<1x2x33x32xf32>, tensor<1x2x33x32xf32>, tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<1x2x33x32xf32>
  return %o : tensor<1x2x33x32xf32>
}

// -----

// kv_cache_attention: the flash-decoding kernel and its merge kernel. The
// length is clamped on the host ([1 or Sq under causal, Smax]). D = 64 bf16:
// 8 lanes of 16 bytes per cache row, 16 lane groups per 128-thread block,
// 4 keys per lane group and step (the loop steps by 64 rows, the same trip
// count for every thread), query rows scaled into log2 units in registers;
// shared memory holds the lane groups' states (o [16 x 4 x 64] f32, m, l).
// The first step's 4 keys and values are loaded before the loop, and each
// step loads the next step's (carried as bf16 chunks) before its arithmetic.
// CHECK-LABEL: func.func @decode_gqa
// CHECK: %[[LEN:.*]] = arith.maxsi %{{.*}}, %c1 : index
// CHECK: call @kvshift_launch_kv_cache_decode_d64_bf16_causal(%{{.*}}, %{{.*}}, %{{.*}}, %[[LEN]], %{{.*}})
// CHECK: gpu.func @kv_cache_decode_d64_bf16_causal(%{{.*}}: memref<?xbf16>, %[[KC:.*]]: memref<?xbf16>, %[[VC:.*]]: memref<?xbf16>, %[[WM:.*]]: memref<?xf32>, %[[WL:.*]]: memref<?xf32>, %[[WO:.*]]: memref<?xf32>, %{{.*}}: index, %{{.*}}: index, %{{.*}}: index, %{{.*}}: index, %{{.*}}: index, %{{.*}}: index)
// CHECK-SAME: workgroup(%[[OS:.*]] : memref<16x4x64xf32, #gpu.address_space<workgroup>> {llvm.align = 16 : i64}, %[[MS:.*]] : memref<16x4xf32, #gpu.address_space<workgroup>>, %[[LS:.*]] : memref<16x4xf32, #gpu.address_space<workgroup>>)
// CHECK: arith.constant dense<0.180336878> : vector<8xf32>
// CHECK-COUNT-4: vector.load %[[VC]]
// CHECK: scf.for %{{.*}} = %{{.*}} to %{{.*}} step %c64 iter_args({{.*}}) -> (f32, f32, f32, f32, f32, f32, f32, f32, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xbf16>, vector<8xbf16>, vector<8xbf16>, vector<8xbf16>, vector<8xbf16>, vector<8xbf16>, vector<8xbf16>, vector<8xbf16>)
// CHECK-COUNT-4: vector.load %[[VC]]
// Lane-group reduction of a score: xor-shuffles 4, 2, 1 (8 lanes).
// CHECK: gpu.shuffle  xor %{{.*}}, %c4_i32, %c32_i32 : f32
// CHECK: gpu.shuffle  xor %{{.*}}, %c2_i32, %c32_i32 : f32
// CHECK: gpu.shuffle  xor %{{.*}}, %c1_i32, %c32_i32 : f32
// CHECK: llvm.call_intrinsic "llvm.nvvm.ex2.approx.ftz.f"
// CHECK: scf.yield
// CHECK: vector.store %{{.*}}, %[[OS]]
// CHECK: memref.store %{{.*}}, %[[MS]]
// CHECK: memref.store %{{.*}}, %[[LS]]
// CHECK: gpu.barrier
// CHECK: memref.store %{{.*}}, %[[WO]]
// CHECK: memref.store %{{.*}}, %[[WM]]
// CHECK: memref.store %{{.*}}, %[[WL]]
// CHECK: gpu.return
// CHECK: gpu.func @kv_cache_decode_d64_bf16_causal_merge(%{{.*}}: memref<?xf32>, %{{.*}}: memref<?xf32>, %{{.*}}: memref<?xf32>, %{{.*}}: memref<?xbf16>, %{{.*}}: index, %{{.*}}: index) kernel attributes {known_block_size = array<i32: 128, 1, 1>}
// CHECK: func.func private @kvshift_launch_kv_cache_decode_d64_bf16_causal(memref<2x8x1x64xbf16>, memref<2x2x300x64xbf16>, memref<2x2x300x64xbf16>, index, memref<2x8x1x64xbf16>)
// CHECK-SAME: kvshift.gpu_decode_kernel = @kvshift_kernels::@kv_cache_decode_d64_bf16_causal
// CHECK-SAME: kvshift.gpu_decode_rows = 4 : i64, kvshift.gpu_decode_split = 512 : i64
// CHECK-SAME: kvshift.gpu_merge_kernel = @kvshift_kernels::@kv_cache_decode_d64_bf16_causal_merge
func.func @decode_gqa(%q: tensor<2x8x1x64xbf16>, %kc: tensor<2x2x300x64xbf16>, %vc: tensor<2x2x300x64xbf16>, %len: index) -> tensor<2x8x1x64xbf16> {
  %o = kvshift.kv_cache_attention %q, %kc, %vc length %len causal
      : (tensor<2x8x1x64xbf16>, tensor<2x2x300x64xbf16>, tensor<2x2x300x64xbf16>, index) -> tensor<2x8x1x64xbf16>
  return %o : tensor<2x8x1x64xbf16>
}

// -----

// With RoPE the queries are rotated when loaded (the partner chunk, angle
// reduced in f64); D = 48 f32: 12 lanes of 4 rounded up to 16 (4 idle).
// CHECK-LABEL: func.func @decode_rope_f32
// CHECK: gpu.func @kv_cache_decode_d48_f32_rope(
// CHECK-SAME: workgroup(%{{.*}} : memref<8x4x48xf32, #gpu.address_space<workgroup>>
// CHECK: arith.cmpi ult, %{{.*}}, %c12 : index
// CHECK: llvm.intr.rint
// CHECK: llvm.call_intrinsic "llvm.nvvm.sin.approx.ftz.f"
// CHECK: scf.for
// CHECK: gpu.shuffle  xor %{{.*}}, %c8_i32, %c32_i32 : f32
// CHECK: gpu.func @kv_cache_decode_d48_f32_rope_merge(
func.func @decode_rope_f32(%q: tensor<1x4x2x48xf32>, %kc: tensor<1x2x64x48xf32>, %vc: tensor<1x2x64x48xf32>, %len: index) -> tensor<1x4x2x48xf32> {
  %o = kvshift.kv_cache_attention %q, %kc, %vc length %len rope_theta = 10000.0
      : (tensor<1x4x2x48xf32>, tensor<1x2x64x48xf32>, tensor<1x2x64x48xf32>, index) -> tensor<1x4x2x48xf32>
  return %o : tensor<1x4x2x48xf32>
}
