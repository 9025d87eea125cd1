// The JIT path kvshift-run --target=cuda will use: the lowered module run by
// MLIR's ExecutionEngine (mlir-runner) with libkvshift_cuda_runtime as a
// shared library. The kernels' global constructor, the mgpu* calls and the
// host copies run; with no usable device (CUDA_VISIBLE_DEVICES="" hides any
// GPU) every failure is recorded, nothing crashes, and the caller reads one
// line through kvshift_cuda_take_error, once.
// REQUIRES: cuda-runtime
// RUN: kvshift-opt %s --kvshift-to-nvvm -o %t.mlir
// RUN: env CUDA_VISIBLE_DEVICES= mlir-runner %t.mlir -e main -entry-point-result=void --shared-libs=%cuda_runtime | FileCheck %s
// CHECK: no CUDA device{{.*}}(in mgpuModuleLoadJIT)
// CHECK-EMPTY:
func.func private @kvshift_cuda_take_error(!llvm.ptr, i64) -> i32
func.func private @puts(!llvm.ptr) -> i32
func.func @attn(%q: tensor<1x2x16x64xbf16>, %k: tensor<1x2x16x64xbf16>, %v: tensor<1x2x16x64xbf16>, %kw: tensor<2x2xf32>, %vw: tensor<2x2xf32>) -> tensor<1x2x16x64xbf16> {
  %o = kvshift.kv_shift_attention %q, %k, %v mix(%kw, %vw) causal
      : (tensor<1x2x16x64xbf16>, tensor<1x2x16x64xbf16>, tensor<1x2x16x64xbf16>, tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<1x2x16x64xbf16>
  return %o : tensor<1x2x16x64xbf16>
}
func.func @main() {
  %x = arith.constant dense<1.0> : tensor<1x2x16x64xbf16>
  %w = arith.constant dense<0.5> : tensor<2x2xf32>
  %o = func.call @attn(%x, %x, %x, %w, %w) : (tensor<1x2x16x64xbf16>, tensor<1x2x16x64xbf16>, tensor<1x2x16x64xbf16>, tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<1x2x16x64xbf16>
  %n = arith.constant 512 : i64
  %buf = llvm.alloca %n x i8 : (i64) -> !llvm.ptr
  %zero = arith.constant 0 : i8
  llvm.store %zero, %buf : i8, !llvm.ptr
  // The first take returns the error, the second finds none (the buffer is
  // emptied first, so an unchanged buffer prints as an empty line).
  %r0 = func.call @kvshift_cuda_take_error(%buf, %n) : (!llvm.ptr, i64) -> i32
  %p0 = func.call @puts(%buf) : (!llvm.ptr) -> i32
  llvm.store %zero, %buf : i8, !llvm.ptr
  %r1 = func.call @kvshift_cuda_take_error(%buf, %n) : (!llvm.ptr, i64) -> i32
  %p1 = func.call @puts(%buf) : (!llvm.ptr) -> i32
  return
}
