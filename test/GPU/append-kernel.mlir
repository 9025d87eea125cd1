// kv_cache_append on the GPU (append-kernel=true): a kernel with one thread
// per new row and column (pair of columns with RoPE) and a launcher; without
// the option the op stays for the host's lowering.
// RUN: kvshift-opt %s --split-input-file --kvshift-fuse-attention-gpu="append-kernel=true" --canonicalize --cse | FileCheck %s
// RUN: kvshift-opt %s --split-input-file --kvshift-fuse-attention-gpu | FileCheck %s --check-prefix=HOST
// RUN: kvshift-opt %s --split-input-file --kvshift-fuse-attention-gpu="append-kernel=true" --kvshift-gpu-launchers | FileCheck %s --check-prefix=LAUNCH
// RUN: kvshift-opt %s --split-input-file --kvshift-to-nvvm="append-kernel=true" | FileCheck %s --check-prefix=NVVM

// HOST-LABEL: func.func @append_rope
// HOST: kvshift.kv_cache_append
// HOST-NOT: gpu.func @kv_cache_append

// CHECK-LABEL: func.func @append_rope
// CHECK: call @kvshift_launch_kv_cache_append_d64_bf16_rope(%{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %[[POS:arg[0-9]+]], %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}})
// CHECK: gpu.func @kv_cache_append_d64_bf16_rope(%[[KN:.*]]: memref<?xbf16>, %[[VN:.*]]: memref<?xbf16>, %[[KL:.*]]: memref<?xbf16>, %[[VL:.*]]: memref<?xbf16>, %{{.*}}: memref<?xf32>, %{{.*}}: memref<?xf32>, %[[KC:.*]]: memref<?xbf16>, %[[VC:.*]]: memref<?xbf16>, %[[KLO:.*]]: memref<?xbf16>, %[[VLO:.*]]: memref<?xbf16>, %{{.*}}: index, %{{.*}}: index, %{{.*}}: index, %{{.*}}: index, %{{.*}}: index)
// CHECK-SAME: known_block_size = array<i32: 128, 1, 1>
// The position clamped into the cache.
// CHECK: arith.minsi
// CHECK: arith.maxsi
// The raw last row, then the mixed rows rotated and stored into both caches.
// CHECK: memref.store %{{.*}}, %[[KLO]]
// CHECK: memref.store %{{.*}}, %[[VLO]]
// CHECK: llvm.call_intrinsic "llvm.nvvm.sin.approx.ftz.f"
// CHECK: memref.store %{{.*}}, %[[KC]]
// CHECK: memref.store %{{.*}}, %[[KC]]
// CHECK: memref.store %{{.*}}, %[[VC]]
// CHECK: memref.store %{{.*}}, %[[VC]]
// CHECK: func.func private @kvshift_launch_kv_cache_append_d64_bf16_rope(
// CHECK-SAME: kvshift.gpu_append_items_per_row = 32 : i64, kvshift.gpu_append_kernel = @kvshift_kernels::@kv_cache_append_d64_bf16_rope, kvshift.gpu_threads = 128 : i64

// The launcher: the inputs copied in (the caches whole), the kernel on
// ceil(B Hkv T 32 / 128) blocks, the caches and last rows copied out.
// LAUNCH-LABEL: func.func private @kvshift_launch_kv_cache_append_d64_bf16_rope(
// LAUNCH-COUNT-8: gpu.memcpy async
// LAUNCH: gpu.launch_func async [%{{.*}}] @kvshift_kernels::@kv_cache_append_d64_bf16_rope
// LAUNCH-COUNT-4: gpu.memcpy async

// The whole pipeline: LLVM host code launching the kernel, PTX embedded.
// NVVM-DAG: llvm.func @append_rope(
// NVVM-DAG: gpu.launch_func <%{{.*}} : !llvm.ptr> @kvshift_kernels::@kv_cache_append_d64_bf16_rope
// NVVM-DAG: gpu.binary @kvshift_kernels
func.func @append_rope(%k: tensor<?x2x?x64xbf16>, %v: tensor<?x2x?x64xbf16>, %kl: tensor<?x2x1x64xbf16>, %vl: tensor<?x2x1x64xbf16>, %kw: tensor<2x2xf32>, %vw: tensor<2x2xf32>, %kc: tensor<?x2x?x64xbf16>, %vc: tensor<?x2x?x64xbf16>, %pos: index)
    -> (tensor<?x2x?x64xbf16>, tensor<?x2x?x64xbf16>, tensor<?x2x1x64xbf16>, tensor<?x2x1x64xbf16>) {
  %kc1, %vc1, %kl1, %vl1 = kvshift.kv_cache_append %k, %v last(%kl, %vl) mix(%kw, %vw) into(%kc, %vc) at %pos rope_theta = 1.0e4
      : (tensor<?x2x?x64xbf16>, tensor<?x2x?x64xbf16>, tensor<?x2x1x64xbf16>, tensor<?x2x1x64xbf16>, tensor<2x2xf32>, tensor<2x2xf32>, tensor<?x2x?x64xbf16>, tensor<?x2x?x64xbf16>, index)
      -> (tensor<?x2x?x64xbf16>, tensor<?x2x?x64xbf16>, tensor<?x2x1x64xbf16>, tensor<?x2x1x64xbf16>)
  return %kc1, %vc1, %kl1, %vl1 : tensor<?x2x?x64xbf16>, tensor<?x2x?x64xbf16>, tensor<?x2x1x64xbf16>, tensor<?x2x1x64xbf16>
}

// -----

// Without RoPE: one thread per column (37 of them for D = 37, f32).
// CHECK-LABEL: func.func @append_f32
// CHECK: gpu.func @kv_cache_append_d37_f32(
// CHECK-NOT: sin.approx
// CHECK: func.func private @kvshift_launch_kv_cache_append_d37_f32(
// CHECK-SAME: kvshift.gpu_append_items_per_row = 37 : i64
func.func @append_f32(%k: tensor<1x2x3x37xf32>, %v: tensor<1x2x3x37xf32>, %kl: tensor<1x2x1x37xf32>, %vl: tensor<1x2x1x37xf32>, %kw: tensor<2x2xf32>, %vw: tensor<2x2xf32>, %kc: tensor<1x2x16x37xf32>, %vc: tensor<1x2x16x37xf32>, %pos: index)
    -> (tensor<1x2x16x37xf32>, tensor<1x2x16x37xf32>, tensor<1x2x1x37xf32>, tensor<1x2x1x37xf32>) {
  %kc1, %vc1, %kl1, %vl1 = kvshift.kv_cache_append %k, %v last(%kl, %vl) mix(%kw, %vw) into(%kc, %vc) at %pos
      : (tensor<1x2x3x37xf32>, tensor<1x2x3x37xf32>, tensor<1x2x1x37xf32>, tensor<1x2x1x37xf32>, tensor<2x2xf32>, tensor<2x2xf32>, tensor<1x2x16x37xf32>, tensor<1x2x16x37xf32>, index)
      -> (tensor<1x2x16x37xf32>, tensor<1x2x16x37xf32>, tensor<1x2x1x37xf32>, tensor<1x2x1x37xf32>)
  return %kc1, %vc1, %kl1, %vl1 : tensor<1x2x16x37xf32>, tensor<1x2x16x37xf32>, tensor<1x2x1x37xf32>, tensor<1x2x1x37xf32>
}

