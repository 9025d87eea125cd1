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
// CHECK: %[[DKWC:.*]] = memref.cast %[[DKW]] : memref<4xf32> to memref<?xf32>
// CHECK: scf.if
// CHECK: %[[S:.*]] = gpu.wait async
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

// -----

// With RoPE: q is rotated, and k mixed (by kw, per KV head) then rotated,
// by the pre-pass kernel into device buffers of their own (rows = numel / D;
// query rows at Sk - Sq + i, key rows at j), and the attention kernel reads
// those instead of q and k.
// CHECK-LABEL: func.func private @launch_rope
// CHECK-NOT: kvshift.gpu_rope
// CHECK-DAG: %[[SQ:.*]] = memref.dim %{{.*}}, %c2 : memref<?x4x?x64xbf16>
// CHECK-DAG: %[[SK:.*]] = memref.dim %{{.*}}, %c2 : memref<?x2x?x64xbf16>
// CHECK: %[[DQ:.*]], %{{.*}} = gpu.alloc async [%{{.*}}] (%[[NQ:.*]]) : memref<?xbf16>
// CHECK: %[[DK:.*]], %{{.*}} = gpu.alloc async [%{{.*}}] (%[[NK:.*]]) : memref<?xbf16>
// CHECK: %[[DV:.*]], %{{.*}} = gpu.alloc async
// CHECK: %[[DKW:.*]], %{{.*}} = gpu.alloc async [%{{.*}}] () : memref<4xf32>
// CHECK: gpu.alloc async [%{{.*}}] () : memref<4xf32>
// CHECK: %[[DO:.*]], %{{.*}} = gpu.alloc async
// CHECK: %[[RQ:.*]], %{{.*}} = gpu.alloc async [%{{.*}}] (%[[NQ]]) : memref<?xbf16>
// CHECK: %[[RK:.*]], %[[TR:.*]] = gpu.alloc async [%{{.*}}] (%[[NK]]) : memref<?xbf16>
// CHECK: gpu.wait [%[[TR]]]
// CHECK: %[[OFF:.*]] = arith.subi %[[SK]], %[[SQ]] : index
// CHECK: %[[QROWS:.*]] = arith.divui %[[NQ]], %c64 : index
// CHECK: %[[QITEMS:.*]] = arith.muli %[[QROWS]], %c4 : index
// CHECK: %[[QBLOCKS:.*]] = arith.divui %{{.*}}, %c256 : index
// CHECK: %[[KW:.*]] = memref.cast %[[DKW]] : memref<4xf32> to memref<?xf32>
// CHECK: scf.if
// CHECK: gpu.launch_func async [%{{.*}}] @kvshift_kernels::@r blocks in (%[[QBLOCKS]], %c1, %c1) threads in (%c256, %c1, %c1) args(%[[DQ]] : memref<?xbf16>, %[[KW]] : memref<?xf32>, %[[RQ]] : memref<?xbf16>, %[[QROWS]] : index, %[[SQ]] : index, %[[OFF]] : index, %c2 : index, %c0 : index)
// CHECK: %[[KROWS:.*]] = arith.divui %[[NK]], %c64 : index
// CHECK: scf.if
// CHECK: gpu.launch_func async [%{{.*}}] @kvshift_kernels::@r blocks in (%{{.*}}, %c1, %c1) threads in (%c256, %c1, %c1) args(%[[DK]] : memref<?xbf16>, %[[KW]] : memref<?xf32>, %[[RK]] : memref<?xbf16>, %[[KROWS]] : index, %[[SK]] : index, %c0 : index, %c2 : index, %c1 : index)
// CHECK: scf.if
// CHECK: gpu.launch_func async [%{{.*}}] @kvshift_kernels::@k {{.*}} args(%[[RQ]] : memref<?xbf16>, %[[RK]] : memref<?xbf16>, %[[DV]] : memref<?xbf16>,
// CHECK: gpu.memcpy async [%{{.*}}] %{{.*}}, %[[DO]]
// CHECK-COUNT-8: gpu.dealloc async
// CHECK: return
module attributes {gpu.container_module} {
  func.func private @launch_rope(memref<?x4x?x64xbf16>, memref<?x2x?x64xbf16>, memref<?x2x?x64xbf16>, memref<2x2xf32>, memref<2x2xf32>, memref<?x4x?x64xbf16>)
      attributes {kvshift.gpu_kernel = @kvshift_kernels::@k, kvshift.gpu_block_m = 64 : i64, kvshift.gpu_threads = 128 : i64,
                  kvshift.gpu_rope_kernel = @kvshift_kernels::@r, kvshift.gpu_rope_items_per_row = 4 : i64}
  gpu.module @kvshift_kernels {
    gpu.func @k(%q: memref<?xbf16>, %k: memref<?xbf16>, %v: memref<?xbf16>, %kw: memref<?xf32>, %vw: memref<?xf32>, %o: memref<?xbf16>, %b: index, %hq: index, %sq: index, %hkv: index, %sk: index) kernel {
      gpu.return
    }
    gpu.func @r(%x: memref<?xbf16>, %w: memref<?xf32>, %y: memref<?xbf16>, %rows: index, %seq: index, %off: index, %heads: index, %mix: index) kernel {
      gpu.return
    }
  }
}

// -----

// kv_cache_attention: q and the caches copied in, a workspace of
// ceil(length / 512) partial states per query row (m, l, and o of D values),
// the decode kernel on (Hkv * ceil(G Sq / 4), ceil(length / 512), B) blocks
// (the splits in y, whose limit is 65535), then the merge kernel on one
// block per query row.
// CHECK-LABEL: func.func private @launch_decode
// CHECK-SAME: %[[LENARG:[a-z0-9]+]]: index, %{{.*}}: memref<?x8x1x64xbf16>)
// CHECK-NOT: kvshift.gpu_decode
// CHECK-DAG: %[[B:.*]] = memref.dim %{{.*}}, %c0 : memref<?x8x1x64xbf16>
// CHECK-DAG: %[[SMAX:.*]] = memref.dim %{{.*}}, %c2 : memref<?x2x?x64xbf16>
// CHECK: %[[LEN:.*]] = arith.minsi %[[LENARG]], %[[SMAX]] : index
// CHECK: %[[ROWS:.*]] = arith.muli %[[B]], %c8 : index
// CHECK: %[[L511:.*]] = arith.addi %[[LEN]], %c511 : index
// CHECK: %[[SPLITS:.*]] = arith.divui %[[L511]], %c512 : index
// CHECK: %[[ATLEAST1:.*]] = arith.maxui %[[SPLITS]], %c1 : index
// CHECK: %[[STATES:.*]] = arith.muli %[[ROWS]], %[[ATLEAST1]] : index
// CHECK: %[[DQ:.*]], %{{.*}} = gpu.alloc async
// CHECK: %[[DK:.*]], %{{.*}} = gpu.alloc async
// CHECK: %[[DV:.*]], %{{.*}} = gpu.alloc async
// CHECK: %[[DO:.*]], %{{.*}} = gpu.alloc async
// CHECK: %[[WM:.*]], %{{.*}} = gpu.alloc async [%{{.*}}] (%[[STATES]]) : memref<?xf32>
// CHECK: %[[WL:.*]], %{{.*}} = gpu.alloc async [%{{.*}}] (%[[STATES]]) : memref<?xf32>
// CHECK: %[[NO:.*]] = arith.muli %[[STATES]], %c64 : index
// CHECK: %[[WO:.*]], %{{.*}} = gpu.alloc async [%{{.*}}] (%[[NO]]) : memref<?xf32>
// CHECK: scf.if
// CHECK: gpu.launch_func async [%{{.*}}] @kvshift_kernels::@d blocks in (%c2, %[[SPLITS]], %[[B]]) threads in (%c128, %c1, %c1) args(%[[DQ]] : memref<?xbf16>, %[[DK]] : memref<?xbf16>, %[[DV]] : memref<?xbf16>, %[[WM]] : memref<?xf32>, %[[WL]] : memref<?xf32>, %[[WO]] : memref<?xf32>, %[[B]] : index, %c8 : index, %c1 : index, %c2 : index, %[[SMAX]] : index, %[[LEN]] : index)
// CHECK: scf.if
// CHECK: gpu.launch_func async [%{{.*}}] @kvshift_kernels::@m blocks in (%[[ROWS]], %c1, %c1) threads in (%c128, %c1, %c1) args(%[[WM]] : memref<?xf32>, %[[WL]] : memref<?xf32>, %[[WO]] : memref<?xf32>, %[[DO]] : memref<?xbf16>, %[[LEN]] : index, %[[SMAX]] : index)
// CHECK: gpu.memcpy async [%{{.*}}] %{{.*}}, %[[DO]]
// CHECK-COUNT-7: gpu.dealloc async
// CHECK: return
module attributes {gpu.container_module} {
  func.func private @launch_decode(memref<?x8x1x64xbf16>, memref<?x2x?x64xbf16>, memref<?x2x?x64xbf16>, index, memref<?x8x1x64xbf16>)
      attributes {kvshift.gpu_decode_kernel = @kvshift_kernels::@d, kvshift.gpu_merge_kernel = @kvshift_kernels::@m,
                  kvshift.gpu_decode_split = 512 : i64, kvshift.gpu_decode_rows = 4 : i64, kvshift.gpu_threads = 128 : i64}
  gpu.module @kvshift_kernels {
    gpu.func @d(%q: memref<?xbf16>, %k: memref<?xbf16>, %v: memref<?xbf16>, %wm: memref<?xf32>, %wl: memref<?xf32>, %wo: memref<?xf32>, %b: index, %hq: index, %sq: index, %hkv: index, %smax: index, %len: index) kernel {
      gpu.return
    }
    gpu.func @m(%wm: memref<?xf32>, %wl: memref<?xf32>, %wo: memref<?xf32>, %o: memref<?xbf16>, %len: index, %smax: index) kernel {
      gpu.return
    }
  }
}

// -----

// Dynamic KV heads: the group size is Hq / max(Hkv, 1) (no division by zero
// on the host) and neither kernel runs without KV heads.
// CHECK-LABEL: func.func private @launch_decode_dynamic_heads
// CHECK: %[[HKV:.*]] = memref.dim %{{.*}}, %c1 : memref<1x?x16x32xf32>
// CHECK: %[[HAS:.*]] = arith.cmpi ugt, %[[HKV]], %c0 : index
// CHECK: %[[DIV:.*]] = arith.select %[[HAS]], %[[HKV]], %c1 : index
// CHECK: arith.divui %{{.*}}, %[[DIV]] : index
// CHECK: gpu.launch_func {{.*}}@kvshift_kernels::@d
// CHECK: %[[MERGE:.*]] = arith.andi %[[HAS]], %{{.*}} : i1
// CHECK: scf.if %[[MERGE]]
// CHECK: gpu.launch_func {{.*}}@kvshift_kernels::@m
module attributes {gpu.container_module} {
  func.func private @launch_decode_dynamic_heads(memref<1x?x1x32xf32>, memref<1x?x16x32xf32>, memref<1x?x16x32xf32>, index, memref<1x?x1x32xf32>)
      attributes {kvshift.gpu_decode_kernel = @kvshift_kernels::@d, kvshift.gpu_merge_kernel = @kvshift_kernels::@m,
                  kvshift.gpu_decode_split = 512 : i64, kvshift.gpu_decode_rows = 4 : i64, kvshift.gpu_threads = 128 : i64}
  gpu.module @kvshift_kernels {
    gpu.func @d(%q: memref<?xf32>, %k: memref<?xf32>, %v: memref<?xf32>, %wm: memref<?xf32>, %wl: memref<?xf32>, %wo: memref<?xf32>, %b: index, %hq: index, %sq: index, %hkv: index, %smax: index, %len: index) kernel {
      gpu.return
    }
    gpu.func @m(%wm: memref<?xf32>, %wl: memref<?xf32>, %wo: memref<?xf32>, %o: memref<?xf32>, %len: index, %smax: index) kernel {
      gpu.return
    }
  }
}

// -----

// kv_shift_attention_grad: device copies of the six inputs, the five
// outputs, f32 scratch (lse and delta per query row, dk^ and dv^ of the key
// rows' size times D, four weight terms per key row), then grad_q on
// (ceil(Sq / 4), Hq, B) blocks, grad_kv on (ceil(Sk / 4), Hkv, B), grad_mix
// on ceil(B Hkv Sk / 4), grad_w on one block per KV head; five copies out;
// 16 frees.
// CHECK-LABEL: func.func private @launch_grad
// CHECK-NOT: kvshift.gpu_grad_kernels
// CHECK-DAG: %[[B:.*]] = memref.dim %{{.*}}, %c0 : memref<?x4x?x64xf32>
// CHECK-DAG: %[[SQ:.*]] = memref.dim %{{.*}}, %c2 : memref<?x4x?x64xf32>
// CHECK-DAG: %[[SK:.*]] = memref.dim %{{.*}}, %c2 : memref<?x2x?x64xf32>
// CHECK-DAG: %[[QR0:.*]] = arith.muli %[[B]], %c4 : index
// CHECK-DAG: %[[QROWS:.*]] = arith.muli %[[QR0]], %[[SQ]] : index
// CHECK-DAG: %[[KR0:.*]] = arith.muli %[[B]], %c2 : index
// CHECK-DAG: %[[KROWS:.*]] = arith.muli %[[KR0]], %[[SK]] : index
// CHECK-COUNT-6: gpu.memcpy async
// CHECK: %[[DQ:.*]], %{{.*}} = gpu.alloc async [%{{.*}}] (%{{.*}}) : memref<?xf32>
// CHECK: %[[DK:.*]], %{{.*}} = gpu.alloc async [%{{.*}}] (%{{.*}}) : memref<?xf32>
// CHECK: %[[DV:.*]], %{{.*}} = gpu.alloc async [%{{.*}}] (%{{.*}}) : memref<?xf32>
// CHECK: %[[DKW:.*]], %{{.*}} = gpu.alloc async [%{{.*}}] () : memref<4xf32>
// CHECK: %[[DVW:.*]], %{{.*}} = gpu.alloc async [%{{.*}}] () : memref<4xf32>
// CHECK: %[[LSE:.*]], %{{.*}} = gpu.alloc async [%{{.*}}] (%[[QROWS]]) : memref<?xf32>
// CHECK: %[[DELTA:.*]], %{{.*}} = gpu.alloc async [%{{.*}}] (%[[QROWS]]) : memref<?xf32>
// CHECK: %[[KD:.*]] = arith.muli %[[KROWS]], %c64 : index
// CHECK: %[[DKH:.*]], %{{.*}} = gpu.alloc async [%{{.*}}] (%[[KD]]) : memref<?xf32>
// CHECK: %[[DVH:.*]], %{{.*}} = gpu.alloc async [%{{.*}}] (%[[KD]]) : memref<?xf32>
// CHECK: %[[K4:.*]] = arith.muli %[[KROWS]], %c4 : index
// CHECK: %[[PART:.*]], %{{.*}} = gpu.alloc async [%{{.*}}] (%[[K4]]) : memref<?xf32>
// CHECK: gpu.launch_func async [%{{.*}}] @kvshift_kernels::@gq blocks in (%{{.*}}, %c4, %[[B]]) threads in (%c128, %c1, %c1) args({{.*}}%[[LSE]] : memref<?xf32>, %[[DELTA]] : memref<?xf32>, %[[DQ]] : memref<?xf32>, %[[B]] : index, %c4 : index, %[[SQ]] : index, %c2 : index, %[[SK]] : index)
// CHECK: gpu.launch_func async [%{{.*}}] @kvshift_kernels::@gkv blocks in (%{{.*}}, %c2, %[[B]]) threads in (%c128, %c1, %c1) args({{.*}}%[[LSE]] : memref<?xf32>, %[[DELTA]] : memref<?xf32>, %[[DKH]] : memref<?xf32>, %[[DVH]] : memref<?xf32>, %[[B]] : index, %c4 : index, %[[SQ]] : index, %c2 : index, %[[SK]] : index)
// CHECK: %[[KB:.*]] = arith.divui %{{.*}}, %c4 : index
// CHECK: gpu.launch_func async [%{{.*}}] @kvshift_kernels::@gmix blocks in (%[[KB]], %c1, %c1) threads in (%c128, %c1, %c1) args({{.*}}%[[DKH]] : memref<?xf32>, %[[DVH]] : memref<?xf32>, %[[DK]] : memref<?xf32>, %[[DV]] : memref<?xf32>, %[[PART]] : memref<?xf32>, %[[B]] : index, %c2 : index, %[[SK]] : index)
// CHECK: gpu.launch_func async [%{{.*}}] @kvshift_kernels::@gw blocks in (%c2, %c1, %c1) threads in (%c128, %c1, %c1) args(%[[PART]] : memref<?xf32>, %{{.*}} : memref<?xf32>, %{{.*}} : memref<?xf32>, %[[B]] : index, %c2 : index, %[[SK]] : index)
// CHECK: gpu.memcpy async [%{{.*}}] %{{.*}}, %[[DQ]]
// CHECK: gpu.memcpy async [%{{.*}}] %{{.*}}, %[[DK]]
// CHECK: gpu.memcpy async [%{{.*}}] %{{.*}}, %[[DV]]
// CHECK: gpu.memcpy async [%{{.*}}] %{{.*}}, %[[DKW]]
// CHECK: gpu.memcpy async [%{{.*}}] %{{.*}}, %[[DVW]]
// CHECK-COUNT-16: gpu.dealloc async
// CHECK: return
module attributes {gpu.container_module} {
  func.func private @launch_grad(memref<?x4x?x64xf32>, memref<?x2x?x64xf32>, memref<?x2x?x64xf32>, memref<2x2xf32>, memref<2x2xf32>, memref<?x4x?x64xf32>,
                                 memref<?x4x?x64xf32>, memref<?x2x?x64xf32>, memref<?x2x?x64xf32>, memref<2x2xf32>, memref<2x2xf32>)
      attributes {kvshift.gpu_grad_kernels = [@kvshift_kernels::@gq, @kvshift_kernels::@gkv, @kvshift_kernels::@gmix, @kvshift_kernels::@gw],
                  kvshift.gpu_grad_q_rows = 4 : i64, kvshift.gpu_grad_kv_rows = 4 : i64, kvshift.gpu_threads = 128 : i64}
  gpu.module @kvshift_kernels {
    gpu.func @gq(%q: memref<?xf32>, %k: memref<?xf32>, %v: memref<?xf32>, %kw: memref<?xf32>, %vw: memref<?xf32>, %do: memref<?xf32>, %lse: memref<?xf32>, %delta: memref<?xf32>, %dq: memref<?xf32>, %b: index, %hq: index, %sq: index, %hkv: index, %sk: index) kernel {
      gpu.return
    }
    gpu.func @gkv(%q: memref<?xf32>, %k: memref<?xf32>, %v: memref<?xf32>, %kw: memref<?xf32>, %vw: memref<?xf32>, %do: memref<?xf32>, %lse: memref<?xf32>, %delta: memref<?xf32>, %dkh: memref<?xf32>, %dvh: memref<?xf32>, %b: index, %hq: index, %sq: index, %hkv: index, %sk: index) kernel {
      gpu.return
    }
    gpu.func @gmix(%k: memref<?xf32>, %v: memref<?xf32>, %kw: memref<?xf32>, %vw: memref<?xf32>, %dkh: memref<?xf32>, %dvh: memref<?xf32>, %dk: memref<?xf32>, %dv: memref<?xf32>, %part: memref<?xf32>, %b: index, %hkv: index, %sk: index) kernel {
      gpu.return
    }
    gpu.func @gw(%part: memref<?xf32>, %dkw: memref<?xf32>, %dvw: memref<?xf32>, %b: index, %hkv: index, %sk: index) kernel {
      gpu.return
    }
  }
}
