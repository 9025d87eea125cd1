// RUN: kvshift-opt %s --split-input-file --kvshift-fuse-attention-gpu="wgmma=true chip=sm_90a" | FileCheck %s
// RUN: kvshift-opt %s --split-input-file --kvshift-fuse-attention-gpu="chip=sm_90a" | FileCheck %s --check-prefix=SYNC
// RUN: kvshift-opt %S/Inputs/train-bf16-d128-causal.mlir --kvshift-share-attention-stats --kvshift-fuse-attention-gpu="wgmma=true chip=sm_90a" | FileCheck %s --check-prefix=TRAIN
// grad_kv of the first function has no mma.sync and no ldmatrix left.
// RUN: kvshift-opt %s --split-input-file --kvshift-fuse-attention-gpu="wgmma=true chip=sm_90a" | awk '/gpu.func @kv_shift_attention_d128_bf16_causal_grad_kv/,/gpu.return/' | grep -c -E "nvvm.mma.sync|nvvm.ldmatrix|wgmma.mma_async" | FileCheck %s --check-prefix=COUNT
// COUNT: {{^4$}}

// wgmma=true on the backward: grad_kv's four products as warpgroup MMAs.
// Its raw key and value tiles (each warp's 16 rows from its halo row) and
// the q and dO tiles are [rows * D/8, 8] buffers of core matrices filled by
// cp.async (48 KiB at D = 128); S^T = K Q^T and dP^T = V dO^T read A and B
// from shared memory and are issued together, then waited for (32
// accumulators); dV^ += P^T dO is issued before dS^T is formed, dK^ += dS^T
// Q after it, and one wait retires both (128 accumulators, with the 16 A
// registers of P^T and dS^T tied). grad_q keeps mma.sync.
// CHECK-LABEL: gpu.func @kv_shift_attention_d128_bf16_causal_grad_q
// CHECK: nvvm.mma.sync
// CHECK-NOT: wgmma
// CHECK-LABEL: gpu.func @kv_shift_attention_d128_bf16_causal_grad_kv
// CHECK-SAME: workgroup(%[[K:.*]] : memref<1024x8xbf16, #gpu.address_space<workgroup>> {llvm.align = 128 : i64}, %[[Q:.*]] : memref<512x8xbf16, #gpu.address_space<workgroup>> {llvm.align = 128 : i64}, %[[DO:.*]] : memref<512x8xbf16, #gpu.address_space<workgroup>> {llvm.align = 128 : i64}, %[[V:.*]] : memref<1024x8xbf16, #gpu.address_space<workgroup>> {llvm.align = 128 : i64})
// K-major (LBO 128, SBO 2048 bytes) for the tiles read as A and as B of
// S^T, dP^T; MN-major (LBO 2048, SBO 128) for q and dO as B of dK^, dV^.
// CHECK-DAG: arith.constant 549756338176 : i64
// CHECK-DAG: arith.constant 34368126976 : i64
// The key and value tiles by cp.async, one group.
// CHECK: nvgpu.device_async_copy {{.*}}, %[[K]]
// CHECK: nvgpu.device_async_copy {{.*}}, %[[V]]
// CHECK: %[[KV:.*]] = nvgpu.device_async_create_group
// CHECK: scf.for
// CHECK: scf.for
// CHECK: gpu.barrier
// CHECK: nvgpu.device_async_copy {{.*}}, %[[Q]]
// CHECK: nvgpu.device_async_copy {{.*}}, %[[DO]]
// CHECK: nvgpu.device_async_wait %{{.*}} {numGroups = 0 : i32}
// CHECK-NEXT: llvm.inline_asm has_side_effects "fence.proxy.async.shared::cta;"
// CHECK-NEXT: gpu.barrier
// Eight k-steps of 16 along D, N = 32 query rows, A and B descriptors both
// stepping 256 bytes; issued without a wait.
// CHECK: llvm.inline_asm has_side_effects "{{.*}}.reg .b64 %wga;{{.*}}wgmma.mma_async.sync.aligned.m64n32k16.f32.bf16.bf16 {{.*}}, $16, $17, %wgz, 1, 1, 0, 0;\0Aadd.s64 %wga, $16, 16;\0Aadd.s64 %wgd, $17, 16;{{.*}}add.s64 %wga, $16, 112;{{.*}}wgmma.commit_group.sync.aligned;\0A\09}", "{{(=&f,){15}=&f}},l,l,r"
// CHECK: llvm.inline_asm has_side_effects "{{.*}}m64n32k16{{.*}}, 1, 1, 0, 0;{{.*}}wgmma.commit_group.sync.aligned;\0A\09}", "{{(=&f,){15}=&f}},l,l,r"
// CHECK: llvm.inline_asm has_side_effects "wgmma.wait_group.sync.aligned 0;", "{{(=f,){31}=f}}{{(,[0-9]+){32}"}}
// Two k-steps of 16 query rows (2 x 2048 bytes apart), N = D, B MN-major.
// CHECK: llvm.inline_asm has_side_effects "{{.*}}wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16 {{.*}}, %wgo, 1, 1, 1;\0Aadd.s64 %wgd, $72, 256;{{.*}}wgmma.commit_group.sync.aligned;\0A\09}", "{{(=f,){63}=f}}{{(,r){7},r}},l,r,0,1,2,
// CHECK: llvm.inline_asm has_side_effects "{{.*}}m64n128k16{{.*}}, 1, 1, 1;{{.*}}wgmma.commit_group.sync.aligned;\0A\09}"
// CHECK: llvm.inline_asm has_side_effects "wgmma.wait_group.sync.aligned 0;", "{{(=f,){128}(=r,){15}=r}}{{(,[0-9]+){144}"}}
// CHECK: scf.yield
// CHECK: scf.yield
// No query tile: the key and value copies are waited for.
// CHECK: nvgpu.device_async_wait %[[KV]] {numGroups = 0 : i32}
// CHECK: gpu.return
// The training step (the forward hands its statistics to the backward):
// grad_q's pass runs on warpgroup MMAs too. Its tiles: the key tile, then
// the value tile and the key window [j0 - 1, j0 + BN - 1) in one buffer
// (48 KiB); S = Q K^T and dP = dO V^T (A: the q and dO fragments; N = 64
// keys) issued together and waited for (64 accumulators); dq += dS' K^
// over the key window (MN-major, its descriptor 1024 16-byte rows into the
// buffer; N = D), then the last key row's a1 dS term after the loop.
// TRAIN-LABEL: gpu.func @kv_shift_attention_d128_bf16_causal_lse_grad_q
// TRAIN-SAME: workgroup(%[[K:.*]] : memref<1024x8xbf16, #gpu.address_space<workgroup>> {llvm.align = 128 : i64}, %[[VW:.*]] : memref<2048x8xbf16, #gpu.address_space<workgroup>> {llvm.align = 128 : i64})
// TRAIN-DAG: arith.constant 549756338176 : i64
// TRAIN-DAG: arith.constant 34368126976 : i64
// TRAIN-DAG: %[[HALF:.*]] = arith.constant 1024 : i64
// TRAIN: arith.addi %{{.*}}, %[[HALF]] : i64
// TRAIN: scf.for
// TRAIN: gpu.barrier
// TRAIN: nvgpu.device_async_copy {{.*}}, %[[K]]
// TRAIN: nvgpu.device_async_copy {{.*}}, %[[VW]]
// TRAIN: nvgpu.device_async_copy {{.*}}, %[[VW]]
// TRAIN: nvgpu.device_async_wait %{{.*}} {numGroups = 0 : i32}
// TRAIN-NEXT: llvm.inline_asm has_side_effects "fence.proxy.async.shared::cta;"
// TRAIN-NEXT: gpu.barrier
// TRAIN-NEXT: llvm.inline_asm has_side_effects "{{.*}}wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 {{.*}}, %wgz, 1, 1, 0;{{.*}}wgmma.commit_group.sync.aligned;\0A\09}"
// TRAIN: llvm.inline_asm has_side_effects "{{.*}}wgmma.mma_async.sync.aligned.m64n64k16{{.*}}wgmma.commit_group.sync.aligned;\0A\09}"
// TRAIN: llvm.inline_asm has_side_effects "wgmma.wait_group.sync.aligned 0;", "{{(=f,){63}=f}}{{(,[0-9]+){64}"}}
// TRAIN: llvm.inline_asm has_side_effects "{{.*}}wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16 {{.*}}, %wgo, 1, 1, 1;{{.*}}add.s64 %wgd, ${{[0-9]+}}, 256;{{.*}}wgmma.wait_group.sync.aligned 0;\0A\09}"
// TRAIN: scf.yield
// TRAIN: memref.load %arg1
// TRAIN: gpu.return
// TRAIN-LABEL: gpu.func @kv_shift_attention_d128_bf16_causal_lse_grad_kv
// TRAIN: wgmma.mma_async.sync.aligned.m64n32k16
// Without wgmma=true grad_kv stays on mma.sync and ldmatrix.
// SYNC-LABEL: gpu.func @kv_shift_attention_d128_bf16_causal_grad_kv
// SYNC-SAME: workgroup(%{{.*}} : memref<64x136xbf16, #gpu.address_space<workgroup>> {llvm.align = 16 : i64}, %{{.*}} : memref<32x136xbf16, #gpu.address_space<workgroup>> {llvm.align = 16 : i64}, %{{.*}} : memref<32x136xbf16, #gpu.address_space<workgroup>> {llvm.align = 16 : i64})
// SYNC-NOT: wgmma
// SYNC: nvvm.mma.sync
// SYNC-NOT: wgmma
// SYNC: gpu.return
func.func @grad(%q: tensor<?x?x?x128xbf16>, %k: tensor<?x?x?x128xbf16>, %v: tensor<?x?x?x128xbf16>, %kw: tensor<?x2xf32>, %vw: tensor<?x2xf32>, %do: tensor<?x?x?x128xbf16>) -> (tensor<?x?x?x128xbf16>, tensor<?x?x?x128xbf16>, tensor<?x?x?x128xbf16>, tensor<?x2xf32>, tensor<?x2xf32>) {
  %dq, %dk, %dv, %dkw, %dvw = kvshift.kv_shift_attention_grad %q, %k, %v mix(%kw, %vw) dout(%do) causal
      : (tensor<?x?x?x128xbf16>, tensor<?x?x?x128xbf16>, tensor<?x?x?x128xbf16>, tensor<?x2xf32>, tensor<?x2xf32>, tensor<?x?x?x128xbf16>) -> (tensor<?x?x?x128xbf16>, tensor<?x?x?x128xbf16>, tensor<?x?x?x128xbf16>, tensor<?x2xf32>, tensor<?x2xf32>)
  return %dq, %dk, %dv, %dkw, %dvw : tensor<?x?x?x128xbf16>, tensor<?x?x?x128xbf16>, tensor<?x?x?x128xbf16>, tensor<?x2xf32>, tensor<?x2xf32>
}

// -----

// f16, D = 48: three k-steps of S^T and dP^T, N = 48 for dK^ and dV^ (the
// core-matrix groups 768 bytes apart: K-major SBO 768, MN-major LBO 768).
// CHECK-LABEL: gpu.func @kv_shift_attention_d48_f16_grad_kv
// CHECK-SAME: workgroup(%{{.*}} : memref<384x8xf16
// CHECK-DAG: arith.constant 206158954496 : i64
// CHECK-DAG: arith.constant 34362884096 : i64
// CHECK: wgmma.mma_async.sync.aligned.m64n32k16.f32.f16.f16 {{.*}}add.s64 %wga, $16, 32;\0Aadd.s64 %wgd, $17, 32;\0Awgmma.mma_async{{.*}}wgmma.commit_group
// CHECK: wgmma.mma_async.sync.aligned.m64n48k16.f32.f16.f16 {{.*}}add.s64 %wgd, $32, 96;
func.func @d48(%q: tensor<1x2x70x48xf16>, %k: tensor<1x2x70x48xf16>, %v: tensor<1x2x70x48xf16>, %kw: tensor<2x2xf32>, %vw: tensor<2x2xf32>, %do: tensor<1x2x70x48xf16>) -> (tensor<1x2x70x48xf16>, tensor<1x2x70x48xf16>, tensor<1x2x70x48xf16>, tensor<2x2xf32>, tensor<2x2xf32>) {
  %dq, %dk, %dv, %dkw, %dvw = kvshift.kv_shift_attention_grad %q, %k, %v mix(%kw, %vw) dout(%do)
      : (tensor<1x2x70x48xf16>, tensor<1x2x70x48xf16>, tensor<1x2x70x48xf16>, tensor<2x2xf32>, tensor<2x2xf32>, tensor<1x2x70x48xf16>) -> (tensor<1x2x70x48xf16>, tensor<1x2x70x48xf16>, tensor<1x2x70x48xf16>, tensor<2x2xf32>, tensor<2x2xf32>)
  return %dq, %dk, %dv, %dkw, %dvw : tensor<1x2x70x48xf16>, tensor<1x2x70x48xf16>, tensor<1x2x70x48xf16>, tensor<2x2xf32>, tensor<2x2xf32>
}

// -----

// D = 40 (not a multiple of 16): grad_kv keeps mma.sync under wgmma=true.
// CHECK-LABEL: gpu.func @kv_shift_attention_d40_bf16_grad_kv
// CHECK-NOT: wgmma
// CHECK: nvvm.mma.sync
// CHECK-NOT: wgmma
// CHECK: gpu.return
func.func @d40(%q: tensor<1x2x33x40xbf16>, %k: tensor<1x2x33x40xbf16>, %v: tensor<1x2x33x40xbf16>, %kw: tensor<2x2xf32>, %vw: tensor<2x2xf32>, %do: tensor<1x2x33x40xbf16>) -> (tensor<1x2x33x40xbf16>, tensor<1x2x33x40xbf16>, tensor<1x2x33x40xbf16>, tensor<2x2xf32>, tensor<2x2xf32>) {
  %dq, %dk, %dv, %dkw, %dvw = kvshift.kv_shift_attention_grad %q, %k, %v mix(%kw, %vw) dout(%do)
      : (tensor<1x2x33x40xbf16>, tensor<1x2x33x40xbf16>, tensor<1x2x33x40xbf16>, tensor<2x2xf32>, tensor<2x2xf32>, tensor<1x2x33x40xbf16>) -> (tensor<1x2x33x40xbf16>, tensor<1x2x33x40xbf16>, tensor<1x2x33x40xbf16>, tensor<2x2xf32>, tensor<2x2xf32>)
  return %dq, %dk, %dv, %dkw, %dvw : tensor<1x2x33x40xbf16>, tensor<1x2x33x40xbf16>, tensor<1x2x33x40xbf16>, tensor<2x2xf32>, tensor<2x2xf32>
}

// -----

// D = 144: wgmma's unpadded tiles would need 55296 bytes of shared memory;
// grad_kv keeps mma.sync (38912 bytes) under wgmma=true.
// CHECK-LABEL: gpu.func @kv_shift_attention_d144_bf16_grad_kv
// CHECK-SAME: workgroup(%{{.*}} : memref<64x152xbf16
// CHECK-NOT: wgmma
// CHECK: nvvm.mma.sync
// CHECK-NOT: wgmma
// CHECK: gpu.return
func.func @d144(%q: tensor<1x2x33x144xbf16>, %k: tensor<1x2x33x144xbf16>, %v: tensor<1x2x33x144xbf16>, %kw: tensor<2x2xf32>, %vw: tensor<2x2xf32>, %do: tensor<1x2x33x144xbf16>) -> (tensor<1x2x33x144xbf16>, tensor<1x2x33x144xbf16>, tensor<1x2x33x144xbf16>, tensor<2x2xf32>, tensor<2x2xf32>) {
  %dq, %dk, %dv, %dkw, %dvw = kvshift.kv_shift_attention_grad %q, %k, %v mix(%kw, %vw) dout(%do)
      : (tensor<1x2x33x144xbf16>, tensor<1x2x33x144xbf16>, tensor<1x2x33x144xbf16>, tensor<2x2xf32>, tensor<2x2xf32>, tensor<1x2x33x144xbf16>) -> (tensor<1x2x33x144xbf16>, tensor<1x2x33x144xbf16>, tensor<1x2x33x144xbf16>, tensor<2x2xf32>, tensor<2x2xf32>)
  return %dq, %dk, %dv, %dkw, %dvw : tensor<1x2x33x144xbf16>, tensor<1x2x33x144xbf16>, tensor<1x2x33x144xbf16>, tensor<2x2xf32>, tensor<2x2xf32>
}
