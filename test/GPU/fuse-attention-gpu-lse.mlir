// RUN: kvshift-opt %s --split-input-file --kvshift-share-attention-stats --kvshift-fuse-attention-gpu --canonicalize --cse | FileCheck %s
// RUN: kvshift-opt %s --split-input-file --kvshift-share-attention-stats --kvshift-fuse-attention-gpu --kvshift-gpu-launchers --canonicalize --cse | FileCheck %s --check-prefix=HOST
// RUN: kvshift-opt %s --split-input-file --kvshift-to-nvvm="chip=sm_80 format=isa" | FileCheck %s --check-prefix=PIPE

// A forward and its gradient on the same operands: the forward becomes
// kv_shift_attention_with_lse and its kernel also writes each query row's
// log-sum-exp (natural log: log2 units times ln 2; -inf for a row that sees
// no key); the gradient becomes kv_shift_attention_grad_with_lse, whose
// launcher takes the forward's output and lse and names a stats kernel
// besides the four backward kernels.

// CHECK-LABEL: func.func @train
// CHECK: %[[FWD:.*]]:2 = kvshift.kernel ins(%{{.*}}) -> tensor<2x4x?x64xbf16>, tensor<2x4x?xf32>
// CHECK: %[[LSE:.*]] = memref.alloc(%{{.*}}) {alignment = 64 : i64} : memref<2x4x?xf32>
// CHECK: call @kvshift_launch_kv_shift_attention_d64_bf16_causal_lse(%{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %[[LSE]])
// CHECK: kvshift.kernel ins(%{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %[[FWD]]#0, %[[FWD]]#1 :
// CHECK: call @kvshift_launch_kv_shift_attention_d64_bf16_causal_lse_grad(
// CHECK-SAME: memref<2x4x?x64xbf16>, memref<2x4x?xf32>, memref<2x4x?x64xbf16>, memref<2x2x?x64xbf16>, memref<2x2x?x64xbf16>, memref<2x2xf32>, memref<2x2xf32>) -> ()

// The forward kernel: the sizes, then the lse buffer; lse stored by the
// first lane of each accumulator row below Sq.
// CHECK-LABEL: gpu.func @kv_shift_attention_d64_bf16_causal_lse(
// CHECK-SAME: %{{.*}}: index, %[[SQ:arg[0-9]+]]: index, %{{.*}}: index, %{{.*}}: index, %[[LSEOUT:arg[0-9]+]]: memref<?xf32>)
// CHECK-DAG: %[[NEGINF:.*]] = arith.constant 0xFF800000 : f32
// CHECK-DAG: %[[LN2:.*]] = arith.constant 0.693147182 : f32
// CHECK: %[[LG2:.*]] = llvm.call_intrinsic "llvm.nvvm.lg2.approx.ftz.f"
// CHECK: %[[ADD:.*]] = arith.addf %{{.*}}, %[[LG2]] : f32
// CHECK: %[[LN:.*]] = arith.mulf %[[ADD]], %[[LN2]] : f32
// CHECK: %[[V:.*]] = arith.select %{{.*}}, %[[LN]], %[[NEGINF]] : f32
// CHECK: arith.cmpi ult, %{{.*}}, %[[SQ]] : index
// CHECK: scf.if
// CHECK: memref.store %[[V]], %[[LSEOUT]][%{{.*}}] : memref<?xf32>
// CHECK: gpu.return

// grad_q given the statistics: it loads lse and delta and runs only the
// second pass (one loop over the key tiles, no lg2).
// CHECK-LABEL: gpu.func @kv_shift_attention_d64_bf16_causal_lse_grad_q(
// CHECK-SAME: %arg5: memref<?xbf16>, %[[QLSE:arg6]]: memref<?xf32>, %[[QDELTA:arg7]]: memref<?xf32>, %arg8: memref<?xbf16>, %arg9: index
// CHECK-NOT: lg2
// CHECK: memref.load %[[QLSE]]
// CHECK: memref.load %[[QDELTA]]
// CHECK-NOT: lg2
// CHECK: scf.for
// CHECK-NOT: scf.for
// CHECK-NOT: lg2
// CHECK: gpu.return

// The stats kernel, one warp per query row: delta = rowsum(dO * O) (a
// butterfly over the warp), lse in log2 units (+inf where the forward's
// is -inf), stored by lane 0.
// CHECK-LABEL: gpu.func @kv_shift_attention_d64_bf16_causal_lse_grad_stats(
// CHECK-SAME: %[[DO:arg[0-9]+]]: memref<?xbf16>, %[[O:arg[0-9]+]]: memref<?xbf16>, %[[FLSE:arg[0-9]+]]: memref<?xf32>, %[[LSE2:arg[0-9]+]]: memref<?xf32>, %[[DELTA:arg[0-9]+]]: memref<?xf32>, %[[ROWS:arg[0-9]+]]: index)
// CHECK-DAG: %[[LOG2E:.*]] = arith.constant 1.44269502 : f32
// CHECK-DAG: %[[INF:.*]] = arith.constant 0x7F800000 : f32
// CHECK-DAG: %[[NINF:.*]] = arith.constant 0xFF800000 : f32
// CHECK: arith.cmpi ult, %{{.*}}, %[[ROWS]] : index
// CHECK: memref.load %[[DO]]
// CHECK: memref.load %[[O]]
// CHECK: gpu.shuffle  xor
// CHECK: %[[L:.*]] = memref.load %[[FLSE]]
// CHECK: %[[NOKEY:.*]] = arith.cmpf oeq, %[[L]], %[[NINF]] : f32
// CHECK: %[[L2:.*]] = arith.mulf %[[L]], %[[LOG2E]] : f32
// CHECK: %[[SEL:.*]] = arith.select %[[NOKEY]], %[[INF]], %[[L2]] : f32
// CHECK: memref.store %[[SEL]], %[[LSE2]]
// CHECK: memref.store %{{.*}}, %[[DELTA]]

// CHECK: func.func private @kvshift_launch_kv_shift_attention_d64_bf16_causal_lse(memref<2x4x?x64xbf16>, memref<2x2x?x64xbf16>, memref<2x2x?x64xbf16>, memref<2x2xf32>, memref<2x2xf32>, memref<2x4x?x64xbf16>, memref<2x4x?xf32>) attributes {kvshift.gpu_block_m = 64 : i64, kvshift.gpu_kernel = @kvshift_kernels::@kv_shift_attention_d64_bf16_causal_lse, kvshift.gpu_threads = 128 : i64}
// CHECK: func.func private @kvshift_launch_kv_shift_attention_d64_bf16_causal_lse_grad(
// CHECK-SAME: kvshift.gpu_grad_kernels = [@kvshift_kernels::@kv_shift_attention_d64_bf16_causal_lse_grad_q, @kvshift_kernels::@kv_shift_attention_d64_bf16_causal_lse_grad_kv, @kvshift_kernels::@kv_shift_attention_d64_bf16_causal_lse_grad_mix, @kvshift_kernels::@kv_shift_attention_d64_bf16_causal_lse_grad_w]
// CHECK-SAME: kvshift.gpu_grad_stats_kernel = @kvshift_kernels::@kv_shift_attention_d64_bf16_causal_lse_grad_stats

// The launchers: the forward copies out and lse back; the backward copies
// in the forward's output and lse and launches the stats kernel (one warp
// per query row: B * Hq * Sq / 4 blocks of 128 threads, rounded up) before
// grad_q.
// HOST-LABEL: func.func private @kvshift_launch_kv_shift_attention_d64_bf16_causal_lse(
// HOST: gpu.launch_func {{.*}} @kvshift_kernels::@kv_shift_attention_d64_bf16_causal_lse blocks
// HOST-SAME: %{{.*}} : memref<?xbf16>, %{{.*}} : index, %{{.*}} : index, %{{.*}} : index, %{{.*}} : index, %{{.*}} : index, %[[DLSE:.*]] : memref<?xf32>)
// HOST: gpu.memcpy
// HOST: gpu.memcpy async [%{{.*}}] %{{.*}}, %[[DLSE]] : memref<?xf32>, memref<?xf32>
// HOST-LABEL: func.func private @kvshift_launch_kv_shift_attention_d64_bf16_causal_lse_grad(
// HOST-SAME: %arg5: memref<2x4x?x64xbf16>, %arg6: memref<2x4x?x64xbf16>, %arg7: memref<2x4x?xf32>, %arg8: memref<2x4x?x64xbf16>,
// HOST: %[[ROWS:.*]] = arith.muli %{{.*}}, %{{.*}} : index
// HOST: gpu.launch_func {{.*}} @kvshift_kernels::@kv_shift_attention_d64_bf16_causal_lse_grad_stats blocks in (%{{.*}}, %c1, %c1) threads in (%c128, %c1, %c1)
// HOST-SAME: %[[ROWS]] : index)
// HOST: gpu.launch_func {{.*}} @kvshift_kernels::@kv_shift_attention_d64_bf16_causal_lse_grad_q
// HOST: gpu.launch_func {{.*}} @kvshift_kernels::@kv_shift_attention_d64_bf16_causal_lse_grad_kv
// HOST: gpu.launch_func {{.*}} @kvshift_kernels::@kv_shift_attention_d64_bf16_causal_lse_grad_mix
// HOST: gpu.launch_func {{.*}} @kvshift_kernels::@kv_shift_attention_d64_bf16_causal_lse_grad_w

// The NVVM pipeline runs --kvshift-share-attention-stats: the binary holds
// the _lse kernels and no plain forward.
// PIPE: gpu.binary @kvshift_kernels
// PIPE-SAME: kv_shift_attention_d64_bf16_causal_lse_grad_stats
// PIPE-NOT: .entry kv_shift_attention_d64_bf16_causal(
func.func @train(%q: tensor<2x4x?x64xbf16>, %k: tensor<2x2x?x64xbf16>, %v: tensor<2x2x?x64xbf16>,
                 %kw: tensor<2x2xf32>, %vw: tensor<2x2xf32>, %do: tensor<2x4x?x64xbf16>)
    -> (tensor<2x4x?x64xbf16>, tensor<2x4x?x64xbf16>, tensor<2x2x?x64xbf16>, tensor<2x2x?x64xbf16>, tensor<2x2xf32>, tensor<2x2xf32>) {
  %o = kvshift.kv_shift_attention %q, %k, %v mix(%kw, %vw) causal
      : (tensor<2x4x?x64xbf16>, tensor<2x2x?x64xbf16>, tensor<2x2x?x64xbf16>, tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<2x4x?x64xbf16>
  %dq, %dk, %dv, %dkw, %dvw = kvshift.kv_shift_attention_grad %q, %k, %v mix(%kw, %vw) dout(%do) causal
      : (tensor<2x4x?x64xbf16>, tensor<2x2x?x64xbf16>, tensor<2x2x?x64xbf16>, tensor<2x2xf32>, tensor<2x2xf32>, tensor<2x4x?x64xbf16>)
      -> (tensor<2x4x?x64xbf16>, tensor<2x2x?x64xbf16>, tensor<2x2x?x64xbf16>, tensor<2x2xf32>, tensor<2x2xf32>)
  return %o, %dq, %dk, %dv, %dkw, %dvw : tensor<2x4x?x64xbf16>, tensor<2x4x?x64xbf16>, tensor<2x2x?x64xbf16>, tensor<2x2x?x64xbf16>, tensor<2x2xf32>, tensor<2x2xf32>
}

// -----

// f32 (SIMT): the forward's lse stored by the first of the four lanes of a
// row; grad_q given the statistics loads them instead of its first pass
// over the keys (one loop left).

// CHECK-LABEL: gpu.func @kv_shift_attention_d32_f32_lse(
// CHECK-SAME: %[[LSEOUT:arg[0-9]+]]: memref<?xf32>)
// CHECK: llvm.call_intrinsic "llvm.nvvm.lg2.approx.ftz.f"
// CHECK: memref.store %{{.*}}, %[[LSEOUT]][%{{.*}}] : memref<?xf32>
// CHECK-LABEL: gpu.func @kv_shift_attention_d32_f32_lse_grad_q(
// CHECK-SAME: %arg5: memref<?xf32>, %[[QLSE:arg6]]: memref<?xf32>, %[[QDELTA:arg7]]: memref<?xf32>, %arg8: memref<?xf32>, %arg9: index
// CHECK-NOT: lg2
// CHECK: memref.load %[[QLSE]]
// CHECK: memref.load %[[QDELTA]]
// CHECK: scf.for
// CHECK-NOT: scf.for
// CHECK: gpu.return
func.func @train_f32(%q: tensor<1x2x16x32xf32>, %k: tensor<1x1x16x32xf32>, %v: tensor<1x1x16x32xf32>,
                     %kw: tensor<1x2xf32>, %vw: tensor<1x2xf32>, %do: tensor<1x2x16x32xf32>)
    -> (tensor<1x2x16x32xf32>, tensor<1x2x16x32xf32>, tensor<1x1x16x32xf32>, tensor<1x1x16x32xf32>, tensor<1x2xf32>, tensor<1x2xf32>) {
  %o = kvshift.kv_shift_attention %q, %k, %v mix(%kw, %vw)
      : (tensor<1x2x16x32xf32>, tensor<1x1x16x32xf32>, tensor<1x1x16x32xf32>, tensor<1x2xf32>, tensor<1x2xf32>) -> tensor<1x2x16x32xf32>
  %dq, %dk, %dv, %dkw, %dvw = kvshift.kv_shift_attention_grad %q, %k, %v mix(%kw, %vw) dout(%do)
      : (tensor<1x2x16x32xf32>, tensor<1x1x16x32xf32>, tensor<1x1x16x32xf32>, tensor<1x2xf32>, tensor<1x2xf32>, tensor<1x2x16x32xf32>)
      -> (tensor<1x2x16x32xf32>, tensor<1x1x16x32xf32>, tensor<1x1x16x32xf32>, tensor<1x2xf32>, tensor<1x2xf32>)
  return %o, %dq, %dk, %dv, %dkw, %dvw : tensor<1x2x16x32xf32>, tensor<1x2x16x32xf32>, tensor<1x1x16x32xf32>, tensor<1x1x16x32xf32>, tensor<1x2xf32>, tensor<1x2xf32>
}
