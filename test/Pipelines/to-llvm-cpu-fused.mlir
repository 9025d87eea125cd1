// RUN: kvshift-opt %s --kvshift-to-llvm-cpu-fused | FileCheck %s
// RUN: kvshift-opt %s --kvshift-to-llvm-cpu-fused \
// RUN:   | mlir-translate --mlir-to-llvmir | FileCheck %s --check-prefix=LLVMIR
// RUN: kvshift-opt %s --kvshift-to-llvm-cpu-fused="block-rows=16 block-k=8" \
// RUN:   | FileCheck %s --check-prefix=OPTS

// The fused CPU pipeline ends in the LLVM dialect plus the omp dialect (one
// parallel loop over work items), with 16-wide FMAs, masked loads for the
// mix, the exponential as a polynomial (no libm call) and no kvshift,
// linalg, tensor, memref, vector or scf op left.
// CHECK-LABEL: llvm.func @attn
// CHECK-SAME: kvshift.signature = (tensor<1x2x37x24xf32>, tensor<1x1x37x24xf32>, tensor<1x1x37x24xf32>, tensor<1x2xf32>, tensor<1x2xf32>) -> tensor<1x2x37x24xf32>
// CHECK-NOT: kvshift.kv_shift_attention
// CHECK-NOT: linalg.
// CHECK-NOT: vector.
// CHECK-NOT: scf.
// CHECK-NOT: expf
// CHECK: omp.parallel
// CHECK: omp.wsloop
// CHECK: llvm.intr.masked.load
// CHECK: llvm.intr.fma{{.*}}vector<16xf32>
// CHECK-NOT: expf
// CHECK-NOT: tensor.
// CHECK-NOT: memref.

// LLVMIR: define { ptr, ptr, i64, [4 x i64], [4 x i64] } @attn(
// LLVMIR: call void (ptr, i32, ptr, ...) @__kmpc_fork_call(
// LLVMIR: call <16 x float> @llvm.fma.v16f32(
// LLVMIR-NOT: @expf

// Pipeline options reach the fused pass: 8-key tiles.
// OPTS-LABEL: llvm.func @attn
// OPTS: llvm.mlir.constant(8 : index)
func.func @attn(%q: tensor<1x2x37x24xf32>, %k: tensor<1x1x37x24xf32>, %v: tensor<1x1x37x24xf32>, %kw: tensor<1x2xf32>, %vw: tensor<1x2xf32>) -> tensor<1x2x37x24xf32> {
  %o = kvshift.kv_shift_attention %q, %k, %v mix(%kw, %vw) causal : (tensor<1x2x37x24xf32>, tensor<1x1x37x24xf32>, tensor<1x1x37x24xf32>, tensor<1x2xf32>, tensor<1x2xf32>) -> tensor<1x2x37x24xf32>
  return %o : tensor<1x2x37x24xf32>
}
