// RUN: kvshift-opt %s --split-input-file --kvshift-gpu-launchers --canonicalize --cse | FileCheck %s

// CHECK-LABEL: func.func private @launch
// CHECK-SAME: (%[[Q:.*]]: memref<?x4x?x64xbf16>, %[[K:.*]]: memref<?x2x?x64xbf16>, %[[V:.*]]: memref<?x2x?x64xbf16>, %[[KW:.*]]: memref<2x2xf32>, %[[VW:.*]]: memref<2x2xf32>, %[[O:.*]]: memref<?x4x?x64xbf16>)
// CHECK-NOT: kvshift.gpu_kernel
// CHECK-DAG: %[[B:.*]] = memref.dim %[[Q]], %c0
// CHECK-DAG: %[[SQ:.*]] = memref.dim %[[Q]], %c2
// CHECK-DAG: %[[SK:.*]] = memref.dim %[[K]], %c2
// CHECK: %[[QF:.*]] = memref.collapse_shape %[[Q]] {{\[}}[0, 1, 2, 3]] : memref<?x4x?x64xbf16> into memref<?xbf16>
// CHECK: %[[KWF:.*]] = memref.collapse_shape %[[KW]] {{\[}}[0, 1]] : memref<2x2xf32> into memref<4xf32>
// Copies in on one stream.
// CHECK: %[[T0:.*]] = gpu.wait async
// CHECK: %[[DQ:.*]], %[[T1:.*]] = gpu.alloc async [%[[T0]]] (%{{.*}}) : memref<?xbf16>
// CHECK: %[[T2:.*]] = gpu.memcpy async [%[[T1]]] %[[DQ]], %[[QF]]
// CHECK: gpu.alloc async
// CHECK: gpu.memcpy async
// CHECK: gpu.alloc async
// CHECK: gpu.memcpy async
// CHECK: %[[DKW:.*]], %{{.*}} = gpu.alloc async [%{{.*}}] () : memref<4xf32>
// CHECK: gpu.memcpy async
// CHECK: gpu.alloc async
// CHECK: gpu.memcpy async
// CHECK: %[[DO:.*]], %[[TO:.*]] = gpu.alloc async [%{{.*}}] (%{{.*}}) : memref<?xbf16>
// CHECK: gpu.wait [%[[TO]]]
// The launch on ceil(Sq / 64) x Hq x B blocks of 128 threads, skipped for
// an empty grid.
// CHECK: %[[QT:.*]] = arith.divui %{{.*}}, %c64
// CHECK: scf.if
// CHECK: %[[S:.*]] = gpu.wait async
// CHECK: %[[DKWC:.*]] = memref.cast %[[DKW]] : memref<4xf32> to memref<?xf32>
// CHECK: %[[L:.*]] = gpu.launch_func async [%[[S]]] @kvshift_kernels::@k blocks in (%[[QT]], %c4, %[[B]]) threads in (%c128, %c1, %c1) args(%[[DQ]] : memref<?xbf16>, %{{.*}} : memref<?xbf16>, %{{.*}} : memref<?xbf16>, %[[DKWC]] : memref<?xf32>, %{{.*}} : memref<?xf32>, %[[DO]] : memref<?xbf16>, %[[B]] : index, %c4 : index, %[[SQ]] : index, %c2 : index, %[[SK]] : index)
// CHECK: gpu.wait [%[[L]]]
// Copy out, free everything.
// CHECK: %[[T3:.*]] = gpu.wait async
// CHECK: %[[T4:.*]] = gpu.memcpy async [%[[T3]]] %{{.*}}, %[[DO]]
// CHECK-COUNT-6: gpu.dealloc async
// CHECK: gpu.wait [%{{.*}}]
// CHECK: return
module attributes {gpu.container_module} {
  func.func private @launch(memref<?x4x?x64xbf16>, memref<?x2x?x64xbf16>, memref<?x2x?x64xbf16>, memref<2x2xf32>, memref<2x2xf32>, memref<?x4x?x64xbf16>)
      attributes {kvshift.gpu_kernel = @kvshift_kernels::@k, kvshift.gpu_block_m = 64 : i64, kvshift.gpu_threads = 128 : i64}
  gpu.module @kvshift_kernels {
    gpu.func @k(%q: memref<?xbf16>, %k: memref<?xbf16>, %v: memref<?xbf16>, %kw: memref<?xf32>, %vw: memref<?xf32>, %o: memref<?xbf16>, %b: index, %hq: index, %sq: index, %hkv: index, %sk: index) kernel {
      gpu.return
    }
  }
}
