// RUN: kvshift-opt %s --kvshift-to-llvm-cpu --split-input-file | FileCheck %s
// RUN: kvshift-opt %s --kvshift-to-llvm-cpu --split-input-file | FileCheck %s --check-prefix=LOWERED
// RUN: kvshift-opt %s --kvshift-to-llvm-cpu --split-input-file \
// RUN:   | mlir-translate --mlir-to-llvmir --split-input-file \
// RUN:   | FileCheck %s --check-prefix=LLVMIR

// The named pipeline kvshift-to-llvm-cpu takes kvshift ops on tensors all the
// way down to the LLVM dialect, keeps each function's tensor signature in
// `kvshift.signature`, and produces a module that translates to LLVM IR.

// Nothing but the LLVM dialect is left, in any split: no kvshift op, no op of
// the intermediate dialects, no unresolved cast.
// LOWERED-NOT: kvshift.kv_shift
// LOWERED-NOT: {{ (func|linalg|tensor|memref|bufferization|scf|cf|arith|math|affine|index|vector)\.[a-z_]+}}
// LOWERED-NOT: unrealized_conversion_cast
// LOWERED-NOT: func.func

// Static shapes, GQA (4 query heads on 2 KV heads), causal, default scale
// 1/sqrt(16) = 0.25 as a constant.
// CHECK-LABEL: llvm.func @attention_static(
// CHECK-SAME: %{{.*}}: !llvm.ptr
// CHECK-SAME: -> !llvm.struct<(ptr, ptr, i64, array<4 x i64>, array<4 x i64>)>
// CHECK-SAME: attributes {kvshift.signature = (tensor<1x4x8x16xf32>, tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>, tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<1x4x8x16xf32>, kvshift.tied_results = array<i64: -1>}
// CHECK-DAG: llvm.mlir.constant(2.500000e-01 : f32) : f32
// CHECK-DAG: llvm.mlir.constant(0xFF800000 : f32) : f32
// CHECK: llvm.icmp "sgt"
// CHECK: llvm.intr.exp
// CHECK: llvm.return %{{.*}} : !llvm.struct<(ptr, ptr, i64, array<4 x i64>, array<4 x i64>)>

// LLVMIR-LABEL: define { ptr, ptr, i64, [4 x i64], [4 x i64] } @attention_static(ptr
// LLVMIR: icmp sgt i64
// LLVMIR: call float @llvm.exp.f32(float
// LLVMIR: ret { ptr, ptr, i64, [4 x i64], [4 x i64] }
func.func @attention_static(%q: tensor<1x4x8x16xf32>, %k: tensor<1x2x8x16xf32>, %v: tensor<1x2x8x16xf32>, %kw: tensor<2x2xf32>, %vw: tensor<2x2xf32>) -> tensor<1x4x8x16xf32> {
  %o = kvshift.kv_shift_attention %q, %k, %v mix(%kw, %vw) causal
       : (tensor<1x4x8x16xf32>, tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>, tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<1x4x8x16xf32>
  return %o : tensor<1x4x8x16xf32>
}

// -----

// Every dimension dynamic: the scale is 1/sqrt(D) at run time.
// CHECK-LABEL: llvm.func @attention_dynamic(
// CHECK-SAME: attributes {kvshift.signature = (tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>, tensor<?x2xf32>, tensor<?x2xf32>) -> tensor<?x?x?x?xf32>, kvshift.tied_results = array<i64: -1>}
// CHECK: llvm.intr.sqrt
// CHECK: llvm.icmp "sgt"
// CHECK: llvm.intr.exp
// CHECK: llvm.return

// LLVMIR-LABEL: define { ptr, ptr, i64, [4 x i64], [4 x i64] } @attention_dynamic(ptr
// LLVMIR: call float @llvm.sqrt.f32(float
// LLVMIR: call float @llvm.exp.f32(float
// LLVMIR: ret { ptr, ptr, i64, [4 x i64], [4 x i64] }
func.func @attention_dynamic(%q: tensor<?x?x?x?xf32>, %k: tensor<?x?x?x?xf32>, %v: tensor<?x?x?x?xf32>, %kw: tensor<?x2xf32>, %vw: tensor<?x2xf32>) -> tensor<?x?x?x?xf32> {
  %o = kvshift.kv_shift_attention %q, %k, %v mix(%kw, %vw) causal
       : (tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>, tensor<?x2xf32>, tensor<?x2xf32>) -> tensor<?x?x?x?xf32>
  return %o : tensor<?x?x?x?xf32>
}

// -----

// f16 with static heads (GQA 6 on 2) and dynamic batch and sequence, explicit
// scale: extended to f32 for the arithmetic, rounded back once.
// CHECK-LABEL: llvm.func @attention_gqa_f16(
// CHECK-SAME: attributes {kvshift.signature = (tensor<?x6x?x32xf16>, tensor<?x2x?x32xf16>, tensor<?x2x?x32xf16>, tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<?x6x?x32xf16>, kvshift.tied_results = array<i64: -1>}
// CHECK-DAG: llvm.mlir.constant(5.000000e-01 : f32) : f32
// CHECK: llvm.fpext %{{.*}} : f16 to f32
// CHECK: llvm.intr.exp
// CHECK: llvm.fptrunc %{{.*}} : f32 to f16
// CHECK: llvm.return

// LLVMIR-LABEL: define { ptr, ptr, i64, [4 x i64], [4 x i64] } @attention_gqa_f16(ptr
// LLVMIR: fpext half %{{.*}} to float
// LLVMIR: call float @llvm.exp.f32(float
// LLVMIR: fptrunc float %{{.*}} to half
// LLVMIR: ret { ptr, ptr, i64, [4 x i64], [4 x i64] }
func.func @attention_gqa_f16(%q: tensor<?x6x?x32xf16>, %k: tensor<?x2x?x32xf16>, %v: tensor<?x2x?x32xf16>, %kw: tensor<2x2xf32>, %vw: tensor<2x2xf32>) -> tensor<?x6x?x32xf16> {
  %o = kvshift.kv_shift_attention %q, %k, %v mix(%kw, %vw) scale = 0.5
       : (tensor<?x6x?x32xf16>, tensor<?x2x?x32xf16>, tensor<?x2x?x32xf16>, tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<?x6x?x32xf16>
  return %o : tensor<?x6x?x32xf16>
}

// -----

// The mix alone, bf16, partly dynamic.
// CHECK-LABEL: llvm.func @kv_shift_bf16(
// CHECK-SAME: attributes {kvshift.signature = (tensor<1x?x?x8xbf16>, tensor<?x2xf32>) -> tensor<1x?x?x8xbf16>, kvshift.tied_results = array<i64: -1>}
// CHECK: llvm.fpext %{{.*}} : bf16 to f32
// CHECK: llvm.fmul
// CHECK: llvm.fadd
// CHECK: llvm.fptrunc %{{.*}} : f32 to bf16
// CHECK: llvm.return

// LLVMIR-LABEL: define { ptr, ptr, i64, [4 x i64], [4 x i64] } @kv_shift_bf16(ptr
// LLVMIR: fpext bfloat %{{.*}} to float
// LLVMIR: fptrunc float %{{.*}} to bfloat
// LLVMIR: ret { ptr, ptr, i64, [4 x i64], [4 x i64] }
func.func @kv_shift_bf16(%x: tensor<1x?x?x8xbf16>, %w: tensor<?x2xf32>) -> tensor<1x?x?x8xbf16> {
  %0 = kvshift.kv_shift %x, %w : tensor<1x?x?x8xbf16>, tensor<?x2xf32> -> tensor<1x?x?x8xbf16>
  return %0 : tensor<1x?x?x8xbf16>
}

// -----

// Plain linalg on tensors (no kvshift op) goes through the same pipeline.
// CHECK-LABEL: llvm.func @plain_linalg(
// CHECK-SAME: attributes {kvshift.signature = (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32>, kvshift.tied_results = array<i64: -1>}
// CHECK: llvm.fadd
// CHECK: llvm.return

// LLVMIR-LABEL: define { ptr, ptr, i64, [2 x i64], [2 x i64] } @plain_linalg(ptr
// LLVMIR: fadd float
func.func @plain_linalg(%a: tensor<4x8xf32>, %b: tensor<4x8xf32>) -> tensor<4x8xf32> {
  %e = tensor.empty() : tensor<4x8xf32>
  %0 = linalg.add ins(%a, %b : tensor<4x8xf32>, tensor<4x8xf32>) outs(%e : tensor<4x8xf32>) -> tensor<4x8xf32>
  return %0 : tensor<4x8xf32>
}

// -----

// The mix writes through a strided view; the lowered module must not call
// memrefCopy from libmlir_c_runner_utils.
// LOWERED-LABEL: llvm.func @shift_needs_no_runtime
// LOWERED-NOT: memrefCopy
func.func @shift_needs_no_runtime(%x: tensor<?x?x?x?xf32>, %w: tensor<?x2xf32>) -> tensor<?x?x?x?xf32> {
  %0 = kvshift.kv_shift %x, %w : tensor<?x?x?x?xf32>, tensor<?x2xf32> -> tensor<?x?x?x?xf32>
  return %0 : tensor<?x?x?x?xf32>
}
