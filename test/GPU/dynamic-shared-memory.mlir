// Kernels whose tiles exceed the 48 KiB of static shared memory: marked by
// kvshift-fuse-attention-gpu, moved to dynamic shared memory by
// kvshift-gpu-dynamic-shared-memory (with the bytes given at their launches),
// and declared .extern in the PTX by kvshift-gpu-extern-shared-memory.
//
// The forward on wgmma with 128-key tiles at D = 128: two 32 KiB tiles.
// RUN: kvshift-opt %S/Inputs/bf16-d128-causal.mlir --kvshift-fuse-attention-gpu="chip=sm_90a wgmma=true block-k=128" | FileCheck %s --check-prefix=MARK
// MARK: gpu.func @kv_shift_attention_d128_bf16_causal(
// MARK-SAME: workgroup(%{{.*}} : memref<2048x8xbf16, #gpu.address_space<workgroup>> {llvm.align = 128 : i64}, %{{.*}} : memref<2048x8xbf16, #gpu.address_space<workgroup>> {llvm.align = 128 : i64})
// MARK-SAME: kvshift.dynamic_shared_memory = 65536 : i64
//
// kv-prefetch=true (mma.sync): two slots of 65 rows in both the key and the
// value buffer, 70720 bytes.
// RUN: kvshift-opt %S/Inputs/bf16-d128-causal.mlir --kvshift-fuse-attention-gpu="kv-prefetch=true" | FileCheck %s --check-prefix=KVPF
// KVPF: gpu.func @kv_shift_attention_d128_bf16_causal(
// KVPF-SAME: workgroup(%{{.*}} : memref<130x136xbf16, #gpu.address_space<workgroup>> {llvm.align = 16 : i64}, %{{.*}} : memref<130x136xbf16, #gpu.address_space<workgroup>> {llvm.align = 16 : i64})
// KVPF-SAME: kvshift.dynamic_shared_memory = 70720 : i64
// On sm_75 (64 KiB) the second slots do not fit: one slot, static.
// RUN: kvshift-opt %S/Inputs/bf16-d128-causal.mlir --kvshift-fuse-attention-gpu="chip=sm_75 kv-prefetch=true" | FileCheck %s --check-prefix=KVPF75
// KVPF75: gpu.func @kv_shift_attention_d128_bf16_causal(
// KVPF75-SAME: workgroup(%{{.*}} : memref<64x136xbf16, #gpu.address_space<workgroup>> {llvm.align = 16 : i64}, %{{.*}} : memref<65x136xbf16, #gpu.address_space<workgroup>> {llvm.align = 16 : i64})
// KVPF75-NOT: kvshift.dynamic_shared_memory
// KVPF75-SAME: known_block_size
// The wgmma kernels keep their tiles (wgmma-overlap pipelines them).
// RUN: kvshift-opt %S/Inputs/bf16-d128-causal.mlir --kvshift-fuse-attention-gpu="chip=sm_90a wgmma=true kv-prefetch=true" | FileCheck %s --check-prefix=KVPFWG
// KVPFWG: gpu.func @kv_shift_attention_d128_bf16_causal(
// KVPFWG-SAME: workgroup(%{{.*}} : memref<1024x8xbf16, #gpu.address_space<workgroup>> {llvm.align = 128 : i64}, %{{.*}} : memref<1024x8xbf16, #gpu.address_space<workgroup>> {llvm.align = 128 : i64})
//
// The default tiles (34.3 KiB) stay static: no mark.
// RUN: kvshift-opt %S/Inputs/bf16-d128-causal.mlir --kvshift-fuse-attention-gpu | FileCheck %s --check-prefix=STATIC
// STATIC: gpu.func @kv_shift_attention_d128_bf16_causal(
// STATIC-NOT: kvshift.dynamic_shared_memory
// STATIC-SAME: known_block_size
//
// The backward with 8 warps at D = 128: grad_kv's tiles take 52224 bytes,
// grad_q's (64-key tiles) 35088.
// RUN: kvshift-opt %S/Inputs/grad-bf16-d128-causal.mlir --kvshift-fuse-attention-gpu="warps=8" | FileCheck %s --check-prefix=GRAD8
// GRAD8: gpu.func @kv_shift_attention_d128_bf16_causal_grad_q(
// GRAD8-NOT: kvshift.dynamic_shared_memory
// GRAD8-SAME: known_block_size
// GRAD8: gpu.func @kv_shift_attention_d128_bf16_causal_grad_kv(
// GRAD8-SAME: kvshift.dynamic_shared_memory = 52224 : i64
// With wgmma=true (sm_90a) grad_kv keeps its warpgroup MMAs at D = 128 with
// 8 warps: four unpadded tiles, 81920 bytes.
// RUN: kvshift-opt %S/Inputs/grad-bf16-d128-causal.mlir --kvshift-fuse-attention-gpu="chip=sm_90a wgmma=true warps=8" | FileCheck %s --check-prefix=GRAD8WG
// GRAD8WG: gpu.func @kv_shift_attention_d128_bf16_causal_grad_kv(
// GRAD8WG-SAME: kvshift.dynamic_shared_memory = 81920 : i64
// GRAD8WG: wgmma.mma_async
// grad-prefetch=true: two q and two dO tiles, 65536 bytes at D = 128 with
// 4 warps.
// RUN: kvshift-opt %S/Inputs/grad-bf16-d128-causal.mlir --kvshift-fuse-attention-gpu="chip=sm_90a wgmma=true grad-prefetch=true" | FileCheck %s --check-prefix=GRADPF
// GRADPF: gpu.func @kv_shift_attention_d128_bf16_causal_grad_kv(
// GRADPF-SAME: kvshift.dynamic_shared_memory = 65536 : i64
// In the training step grad_q's three tiles (the key tile, the value tile
// and the key window) are double-buffered too: 98304 bytes.
// RUN: kvshift-opt %S/Inputs/train-bf16-d128-causal.mlir --kvshift-share-attention-stats --kvshift-fuse-attention-gpu="chip=sm_90a wgmma=true grad-prefetch=true" | FileCheck %s --check-prefix=TRAINPF
// TRAINPF: gpu.func @kv_shift_attention_d128_bf16_causal_lse_grad_q(
// TRAINPF-SAME: workgroup(%{{.*}} : memref<2048x8xbf16, #gpu.address_space<workgroup>> {llvm.align = 128 : i64}, %{{.*}} : memref<4096x8xbf16, #gpu.address_space<workgroup>> {llvm.align = 128 : i64})
// TRAINPF-SAME: kvshift.dynamic_shared_memory = 98304 : i64
// TRAINPF: gpu.func @kv_shift_attention_d128_bf16_causal_lse_grad_kv(
// TRAINPF-SAME: kvshift.dynamic_shared_memory = 65536 : i64
// On mma.sync (sm_80) too: grad_q's value tile and key window in two slots
// of 65 padded rows each (70720 bytes), grad_kv's q and dO tiles in two
// slots of 32 (52224 bytes with the key tile).
// RUN: kvshift-opt %S/Inputs/grad-bf16-d128-causal.mlir --kvshift-fuse-attention-gpu="grad-prefetch=true" | FileCheck %s --check-prefix=MMAPF
// MMAPF: gpu.func @kv_shift_attention_d128_bf16_causal_grad_q(
// MMAPF-SAME: workgroup(%{{.*}} : memref<130x136xbf16, #gpu.address_space<workgroup>> {llvm.align = 16 : i64}, %{{.*}} : memref<130x136xbf16, #gpu.address_space<workgroup>> {llvm.align = 16 : i64})
// MMAPF-SAME: kvshift.dynamic_shared_memory = 70720 : i64
// MMAPF: gpu.func @kv_shift_attention_d128_bf16_causal_grad_kv(
// MMAPF-SAME: workgroup(%{{.*}} : memref<64x136xbf16, #gpu.address_space<workgroup>> {llvm.align = 16 : i64}, %{{.*}} : memref<64x136xbf16, #gpu.address_space<workgroup>> {llvm.align = 16 : i64}, %{{.*}} : memref<64x136xbf16, #gpu.address_space<workgroup>> {llvm.align = 16 : i64})
// MMAPF-SAME: kvshift.dynamic_shared_memory = 52224 : i64
// Where the second slots do not fit the chip (sm_75: 64 KiB), grad_q keeps
// one slot in static shared memory.
// RUN: kvshift-opt %S/Inputs/grad-bf16-d128-causal.mlir --kvshift-fuse-attention-gpu="chip=sm_75 grad-prefetch=true" | FileCheck %s --check-prefix=MMAPF75
// MMAPF75: gpu.func @kv_shift_attention_d128_bf16_causal_grad_q(
// MMAPF75-SAME: workgroup(%{{.*}} : memref<64x136xbf16, #gpu.address_space<workgroup>> {llvm.align = 16 : i64}, %{{.*}} : memref<65x136xbf16, #gpu.address_space<workgroup>> {llvm.align = 16 : i64})
// MMAPF75-NOT: kvshift.dynamic_shared_memory
// MMAPF75: gpu.func @kv_shift_attention_d128_bf16_causal_grad_kv(
// MMAPF75-SAME: kvshift.dynamic_shared_memory = 52224 : i64
//
// The whole pipeline: the PTX declares dynamic shared memory, 128-byte
// aligned, and addresses the tiles from it.
// RUN: kvshift-opt %S/Inputs/bf16-d128-causal.mlir --kvshift-to-nvvm="chip=sm_90a wgmma=true block-k=128" | %extract_ptx - -o %t.ptx
// RUN: FileCheck %s --check-prefix=PTX < %t.ptx
// PTX: .extern .shared .align 128 .b8 __dynamic_shmem__0[];
// PTX-NOT: demoted
// PTX: mov.b64 {{.*}}, __dynamic_shmem__0;
// PTX: wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16
//
// The pass on hand-written kernels.
// RUN: kvshift-opt %s --split-input-file --verify-diagnostics --kvshift-gpu-dynamic-shared-memory | FileCheck %s
// RUN: kvshift-opt %s --split-input-file --pass-pipeline="builtin.module(gpu.module(kvshift-gpu-extern-shared-memory))" | FileCheck %s --check-prefix=EXTERN

// Attributions at their alignments: 100 f32 (400 bytes) at 0, then 4096
// bf16 at 512 (align 128), then 3 i32 at 8704 (align 16).
// CHECK-LABEL: gpu.module @m
// CHECK: gpu.func @k(%[[A:.*]]: memref<?xf32>) kernel attributes {kvshift.dynamic_shared_memory = 65536 : i64} {
// CHECK-NEXT: %[[S:.*]] = gpu.dynamic_shared_memory : memref<?xi8, #gpu.address_space<workgroup>>
// CHECK-NEXT: %[[C0:.*]] = arith.constant 0 : index
// CHECK-NEXT: %[[V0:.*]] = memref.view %[[S]][%[[C0]]][] : memref<?xi8, #gpu.address_space<workgroup>> to memref<100xf32, #gpu.address_space<workgroup>>
// CHECK-NEXT: %[[C512:.*]] = arith.constant 512 : index
// CHECK-NEXT: %[[V1:.*]] = memref.view %[[S]][%[[C512]]][] : memref<?xi8, #gpu.address_space<workgroup>> to memref<4096xbf16, #gpu.address_space<workgroup>>
// CHECK-NEXT: %[[C8704:.*]] = arith.constant 8704 : index
// CHECK-NEXT: %[[V2:.*]] = memref.view %[[S]][%[[C8704]]][] : memref<?xi8, #gpu.address_space<workgroup>> to memref<3xi32, #gpu.address_space<workgroup>>
// CHECK: memref.load %[[V0]]
// CHECK: memref.store %{{.*}}, %[[V1]]
// CHECK: memref.store %{{.*}}, %[[V2]]
// The unmarked kernel keeps its attribution.
// CHECK: gpu.func @small(%{{.*}}: memref<?xf32>) workgroup(%{{.*}} : memref<16xf32, #gpu.address_space<workgroup>>) kernel
// CHECK-LABEL: func.func @host
// CHECK: %[[N:.*]] = arith.constant 65536 : i32
// CHECK: gpu.launch_func @m::@k {{.*}} dynamic_shared_memory_size %[[N]] args
// CHECK: gpu.launch_func @m::@small blocks
// CHECK-NOT: dynamic_shared_memory_size
// CHECK-SAME: args
module attributes {gpu.container_module} {
  gpu.module @m {
    gpu.func @k(%a: memref<?xf32>)
        workgroup(%t0: memref<100xf32, #gpu.address_space<workgroup>>,
                  %t1: memref<4096xbf16, #gpu.address_space<workgroup>> {llvm.align = 128 : i64},
                  %t2: memref<3xi32, #gpu.address_space<workgroup>>)
        kernel attributes {kvshift.dynamic_shared_memory = 65536 : i64} {
      %c0 = arith.constant 0 : index
      %x = memref.load %t0[%c0] : memref<100xf32, #gpu.address_space<workgroup>>
      %y = arith.truncf %x : f32 to bf16
      memref.store %y, %t1[%c0] : memref<4096xbf16, #gpu.address_space<workgroup>>
      %z = arith.fptosi %x : f32 to i32
      memref.store %z, %t2[%c0] : memref<3xi32, #gpu.address_space<workgroup>>
      gpu.return
    }
    gpu.func @small(%a: memref<?xf32>)
        workgroup(%t0: memref<16xf32, #gpu.address_space<workgroup>>) kernel {
      gpu.return
    }
  }
  func.func @host(%a: memref<?xf32>) {
    %c1 = arith.constant 1 : index
    gpu.launch_func @m::@k blocks in (%c1, %c1, %c1) threads in (%c1, %c1, %c1) args(%a : memref<?xf32>)
    gpu.launch_func @m::@small blocks in (%c1, %c1, %c1) threads in (%c1, %c1, %c1) args(%a : memref<?xf32>)
    return
  }
}

// -----

module attributes {gpu.container_module} {
  gpu.module @m {
    // expected-error @+1 {{'gpu.func' op kvshift-gpu-dynamic-shared-memory: kvshift.dynamic_shared_memory gives 1024 bytes, but the workgroup attributions take 4096}}
    gpu.func @k() workgroup(%t0: memref<1024xf32, #gpu.address_space<workgroup>>)
        kernel attributes {kvshift.dynamic_shared_memory = 1024 : i64} {
      gpu.return
    }
  }
}

// -----

module attributes {gpu.container_module} {
  gpu.module @m {
    // expected-error @+1 {{'gpu.func' op kvshift-gpu-dynamic-shared-memory: kvshift.dynamic_shared_memory must be on a kernel and a positive i32, found 4096 on a function}}
    gpu.func @f() workgroup(%t0: memref<1024xf32, #gpu.address_space<workgroup>>)
        attributes {kvshift.dynamic_shared_memory = 4096 : i64} {
      gpu.return
    }
  }
}

// -----

module attributes {gpu.container_module} {
  gpu.module @m {
    // expected-error @+1 {{'gpu.func' op kvshift-gpu-dynamic-shared-memory: kvshift.dynamic_shared_memory must be on a kernel and a positive i32, found 0 on a kernel}}
    gpu.func @k() kernel attributes {kvshift.dynamic_shared_memory = 0 : i64} {
      gpu.return
    }
  }
}

// -----

module attributes {gpu.container_module} {
  gpu.module @m {
    gpu.func @k() workgroup(%t0: memref<1024xf32, #gpu.address_space<workgroup>>)
        kernel attributes {kvshift.dynamic_shared_memory = 4096 : i64} {
      gpu.return
    }
  }
  func.func @host() {
    %c1 = arith.constant 1 : index
    %n = arith.constant 128 : i32
    // expected-error @+1 {{'gpu.launch_func' op kvshift-gpu-dynamic-shared-memory: the launch of a kernel marked with kvshift.dynamic_shared_memory already gives dynamic shared memory}}
    gpu.launch_func @m::@k blocks in (%c1, %c1, %c1) threads in (%c1, %c1, %c1) dynamic_shared_memory_size %n
    return
  }
}

// -----

module attributes {gpu.container_module} {
  gpu.module @m {
    // expected-error @+1 {{'gpu.func' op kvshift-gpu-dynamic-shared-memory: workgroup attribution 1 must have a static shape and an integer or float element type to be placed in dynamic shared memory, found 'memref<?xf32, #gpu.address_space<workgroup>>'}}
    gpu.func @k() workgroup(%t0: memref<16xf32, #gpu.address_space<workgroup>>,
                            %t1: memref<?xf32, #gpu.address_space<workgroup>>)
        kernel attributes {kvshift.dynamic_shared_memory = 65536 : i64} {
      gpu.return
    }
  }
}

// -----

// EXTERN-LABEL: gpu.module @lowered
// EXTERN: llvm.mlir.global external @__dynamic_shmem__0() {addr_space = 3 : i32, alignment = 128 : i64} : !llvm.array<0 x i8>
// A global with a size, or in another address space, is left alone.
// EXTERN: llvm.mlir.global internal @table() {addr_space = 3 : i32, alignment = 16 : i64} : !llvm.array<4 x i8>
// EXTERN: llvm.mlir.global internal @other() {addr_space = 1 : i32, alignment = 16 : i64} : !llvm.array<0 x i8>
module attributes {gpu.container_module} {
  gpu.module @lowered {
    llvm.mlir.global internal @__dynamic_shmem__0() {addr_space = 3 : i32, alignment = 16 : i64} : !llvm.array<0 x i8>
    llvm.mlir.global internal @table() {addr_space = 3 : i32, alignment = 16 : i64} : !llvm.array<4 x i8>
    llvm.mlir.global internal @other() {addr_space = 1 : i32, alignment = 16 : i64} : !llvm.array<0 x i8>
  }
}
