// RUN: kvshift-opt %s --split-input-file --kvshift-fuse-attention-gpu="wgmma=true chip=sm_90a" | FileCheck %s
// RUN: kvshift-opt %s --split-input-file --kvshift-fuse-attention-gpu="wgmma=true chip=sm_90a block-k=32" | FileCheck %s --check-prefix=K32
// RUN: kvshift-opt %s --split-input-file --kvshift-fuse-attention-gpu="wgmma=true wgmma-overlap=true chip=sm_90a" | FileCheck %s --check-prefix=OVL

// wgmma=true: the forward's products as warpgroup MMAs. The key tile and
// the value window are [BN * D/8, 8] buffers of 16-byte rows (core
// matrices), filled by cp.async; the descriptors are formed from their
// shared addresses; a proxy fence precedes the barrier before each chain.
// CHECK-LABEL: gpu.func @kv_shift_attention_d128_bf16_causal
// CHECK-SAME: workgroup(%[[K:.*]] : memref<1024x8xbf16, #gpu.address_space<workgroup>> {llvm.align = 128 : i64}, %[[V:.*]] : memref<1024x8xbf16, #gpu.address_space<workgroup>> {llvm.align = 128 : i64})
// CHECK-NOT: nvvm.mma.sync
// The descriptors' strides: K^T K-major (LBO 128, SBO 2048 bytes), V
// MN-major (LBO 2048, SBO 128).
// CHECK-DAG: arith.constant 549756338176 : i64
// CHECK-DAG: arith.constant 34368126976 : i64
// CHECK: memref.extract_aligned_pointer_as_index %[[K]]
// CHECK: memref.extract_aligned_pointer_as_index %[[V]]
// CHECK: scf.for
// CHECK: nvgpu.device_async_wait
// CHECK-NEXT: llvm.inline_asm has_side_effects "fence.proxy.async.shared::cta;"
// CHECK-NEXT: gpu.barrier
// Eight k-steps of 16 along D = 128, 64 keys; the first starts from zero.
// CHECK-NEXT: llvm.inline_asm has_side_effects "{\0A.reg .pred %wgz, %wgo;{{.*}}wgmma.fence.sync.aligned;\0Awgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 {{.*}}, %wgz, 1, 1, 0;{{.*}}add.s64 %wgd, ${{[0-9]+}}, 112;\0Awgmma.mma_async{{.*}}%wgd, %wgo, 1, 1, 0;\0Awgmma.commit_group.sync.aligned;\0Awgmma.wait_group.sync.aligned 0;\0A\09}", "{{(=&f,){31}=&f}}{{(,r){31},r}},l,r"
// CHECK: nvgpu.device_async_wait
// CHECK-NEXT: llvm.inline_asm has_side_effects "fence.proxy.async.shared::cta;"
// CHECK-NEXT: gpu.barrier
// Four k-steps of 16 keys (2 x 2048 bytes apart), N = D, B MN-major.
// CHECK: llvm.inline_asm has_side_effects "{{.*}}wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16 {{.*}}, %wgo, 1, 1, 1;{{.*}}add.s64 %wgd, ${{[0-9]+}}, 768;{{.*}}wgmma.wait_group.sync.aligned 0;\0A\09}", "{{(=f,){63}=f}}{{(,r){15},r}},l,r,0,1,2,
// CHECK: scf.yield
// Shifted value windows: the last key row after the loop.
// CHECK: memref.load %{{.*}} : memref<?xbf16>
// K32-LABEL: gpu.func @kv_shift_attention_d128_bf16_causal
// K32-SAME: workgroup(%{{.*}} : memref<512x8xbf16, #gpu.address_space<workgroup>> {llvm.align = 128 : i64}, %{{.*}} : memref<512x8xbf16, #gpu.address_space<workgroup>> {llvm.align = 128 : i64})
// K32: wgmma.mma_async.sync.aligned.m64n32k16.f32.bf16.bf16
// K32: add.s64 %wgd, ${{[0-9]+}}, 256;\0Awgmma.mma_async.sync.aligned.m64n128k16
// wgmma-overlap=true: two value windows; the first tile's scores
// synchronously, then a loop that issues S of the next tile and O += P'V of
// this one without waiting, copies the next value window into the other
// half while they run, waits for S only (wait_group 1), brings in the
// next key tile after a barrier, and waits for O (with P's registers tied,
// live until then) before rescaling it; the last tile's O += P'V after the
// loop.
// OVL-LABEL: gpu.func @kv_shift_attention_d128_bf16_causal
// OVL-SAME: workgroup(%[[K:.*]] : memref<1024x8xbf16, #gpu.address_space<workgroup>> {llvm.align = 128 : i64}, %[[V:.*]] : memref<2048x8xbf16, #gpu.address_space<workgroup>> {llvm.align = 128 : i64})
// OVL: nvgpu.device_async_wait %{{.*}} {numGroups = 1 : i32}
// OVL-NEXT: llvm.inline_asm has_side_effects "fence.proxy.async.shared::cta;"
// OVL-NEXT: gpu.barrier
// OVL-NEXT: llvm.inline_asm has_side_effects "{{.*}}m64n64k16{{.*}}wgmma.commit_group.sync.aligned;\0Awgmma.wait_group.sync.aligned 0;\0A\09}"
// OVL: scf.for
// OVL: nvgpu.device_async_wait %{{.*}} {numGroups = 0 : i32}
// OVL-NEXT: llvm.inline_asm has_side_effects "fence.proxy.async.shared::cta;"
// OVL-NEXT: gpu.barrier
// OVL-NEXT: llvm.inline_asm has_side_effects "{{.*}}m64n64k16{{.*}}wgmma.commit_group.sync.aligned;\0A\09}"
// OVL-NEXT: llvm.extractvalue
// OVL: llvm.inline_asm has_side_effects "{{.*}}m64n128k16{{.*}}wgmma.commit_group.sync.aligned;\0A\09}"
// OVL: nvgpu.device_async_copy {{.*}}, %[[V]]
// OVL: llvm.inline_asm has_side_effects "wgmma.wait_group.sync.aligned 1;", "{{(=f,){31}=f}}{{(,[0-9]+){32}"}}
// OVL: gpu.barrier
// OVL: nvgpu.device_async_copy {{.*}}, %[[K]]
// OVL: llvm.inline_asm has_side_effects "wgmma.wait_group.sync.aligned 0;", "{{(=f,){64}(=r,){15}=r}}{{(,[0-9]+){80}"}}
// OVL: scf.yield
// OVL: nvgpu.device_async_wait %{{.*}} {numGroups = 0 : i32}
// OVL-NEXT: llvm.inline_asm has_side_effects "fence.proxy.async.shared::cta;"
// OVL-NEXT: gpu.barrier
// OVL: llvm.inline_asm has_side_effects "{{.*}}m64n128k16{{.*}}wgmma.commit_group.sync.aligned;\0Awgmma.wait_group.sync.aligned 0;\0A\09}"
// OVL-NOT: wgmma
// OVL: gpu.return
func.func @causal(%q: tensor<?x?x?x128xbf16>, %k: tensor<?x?x?x128xbf16>, %v: tensor<?x?x?x128xbf16>, %kw: tensor<?x2xf32>, %vw: tensor<?x2xf32>) -> tensor<?x?x?x128xbf16> {
  %o = kvshift.kv_shift_attention %q, %k, %v mix(%kw, %vw) causal
      : (tensor<?x?x?x128xbf16>, tensor<?x?x?x128xbf16>, tensor<?x?x?x128xbf16>, tensor<?x2xf32>, tensor<?x2xf32>) -> tensor<?x?x?x128xbf16>
  return %o : tensor<?x?x?x128xbf16>
}

// -----

// f16, D = 64: N = 64 for both products; the scores' descriptor steps 16
// (256 bytes), the values' 128 (2 x 1024 bytes).
// CHECK-LABEL: gpu.func @kv_shift_attention_d64_f16
// CHECK-SAME: workgroup(%{{.*}} : memref<512x8xf16
// CHECK: wgmma.mma_async.sync.aligned.m64n64k16.f32.f16.f16 {{.*}}, %wgz, 1, 1, 0;{{.*}}add.s64 %wgd, ${{[0-9]+}}, 16;
// CHECK: wgmma.mma_async.sync.aligned.m64n64k16.f32.f16.f16 {{.*}}, %wgo, 1, 1, 1;{{.*}}add.s64 %wgd, ${{[0-9]+}}, 128;
func.func @f16(%q: tensor<1x4x100x64xf16>, %k: tensor<1x2x100x64xf16>, %v: tensor<1x2x100x64xf16>, %kw: tensor<2x2xf32>, %vw: tensor<2x2xf32>) -> tensor<1x4x100x64xf16> {
  %o = kvshift.kv_shift_attention %q, %k, %v mix(%kw, %vw)
      : (tensor<1x4x100x64xf16>, tensor<1x2x100x64xf16>, tensor<1x2x100x64xf16>, tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<1x4x100x64xf16>
  return %o : tensor<1x4x100x64xf16>
}

// -----

// Shapes wgmma does not take keep their kernels: D = 72 (not a multiple of
// 16) keeps mma.sync, f32 the SIMT kernel.
// CHECK-LABEL: gpu.func @kv_shift_attention_d72_bf16
// CHECK-NOT: wgmma
// CHECK: nvvm.mma.sync
// CHECK-LABEL: gpu.func @kv_shift_attention_d64_f32
// CHECK-NOT: wgmma
// CHECK-NOT: nvvm.mma.sync
// CHECK: gpu.return
func.func @others(%q: tensor<1x2x20x72xbf16>, %k: tensor<1x2x20x72xbf16>, %v: tensor<1x2x20x72xbf16>, %kw: tensor<2x2xf32>, %vw: tensor<2x2xf32>,
                  %q2: tensor<1x2x20x64xf32>, %k2: tensor<1x2x20x64xf32>, %v2: tensor<1x2x20x64xf32>) -> (tensor<1x2x20x72xbf16>, tensor<1x2x20x64xf32>) {
  %o = kvshift.kv_shift_attention %q, %k, %v mix(%kw, %vw)
      : (tensor<1x2x20x72xbf16>, tensor<1x2x20x72xbf16>, tensor<1x2x20x72xbf16>, tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<1x2x20x72xbf16>
  %o2 = kvshift.kv_shift_attention %q2, %k2, %v2 mix(%kw, %vw)
      : (tensor<1x2x20x64xf32>, tensor<1x2x20x64xf32>, tensor<1x2x20x64xf32>, tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<1x2x20x64xf32>
  return %o, %o2 : tensor<1x2x20x72xbf16>, tensor<1x2x20x64xf32>
}
