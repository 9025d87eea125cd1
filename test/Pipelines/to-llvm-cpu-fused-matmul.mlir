// RUN: kvshift-opt %s --kvshift-to-llvm-cpu-fused | FileCheck %s
// RUN: kvshift-opt %s --kvshift-to-llvm-cpu-fused | FileCheck %s --check-prefix=NONE
// RUN: kvshift-opt %s --kvshift-to-llvm-cpu-fused="vectorize-contractions=false vectorize-elementwise=false" \
// RUN:   | FileCheck %s --check-prefix=SCALAR
// RUN: kvshift-opt %s --kvshift-to-llvm-cpu-fused="contraction-min-parallel-work=1" \
// RUN:   | FileCheck %s --check-prefix=PAR

// An imported MLP block: x @ W^T (nn.Linear: the weight's transpose and a
// zero fill), then SiLU. Through the fused pipeline both become 16-lane
// vector code in the LLVM dialect: FMAs (the matmul's dot kernel, K = 40:
// a masked chunk), the shuffle tree, the SiLU with its exp as a
// polynomial (no libm call); no linalg, vector, scf or memref op is left.
// The matmul is too small to run in parallel unless the threshold is
// lowered (then an OpenMP loop, the PAR prefix).
// CHECK-LABEL: llvm.func @mlp
// CHECK-DAG: llvm.intr.fma{{.*}}vector<16xf32>
// CHECK-DAG: llvm.intr.masked.load
// CHECK-DAG: llvm.shufflevector
// CHECK-DAG: llvm.fdiv{{.*}}vector<16xf32>
// NONE-NOT: linalg.
// NONE-NOT: scf.
// NONE-NOT: omp.parallel
// NONE-NOT: memref.
// NONE-NOT: vector.
// NONE-NOT: expf

// SCALAR-LABEL: llvm.func @mlp
// SCALAR-NOT: vector<16xf32>

// PAR-LABEL: llvm.func @mlp
// PAR: omp.parallel
// PAR: llvm.intr.fma{{.*}}vector<16xf32>
func.func @mlp(%x: tensor<3x40xf32>, %w: tensor<50x40xf32>) -> tensor<3x50xf32> {
  %zero = arith.constant 0.0 : f32
  %et = tensor.empty() : tensor<40x50xf32>
  %t = linalg.transpose ins(%w : tensor<50x40xf32>) outs(%et : tensor<40x50xf32>) permutation = [1, 0]
  %e = tensor.empty() : tensor<3x50xf32>
  %z = linalg.fill ins(%zero : f32) outs(%e : tensor<3x50xf32>) -> tensor<3x50xf32>
  %h = linalg.matmul ins(%x, %t : tensor<3x40xf32>, tensor<40x50xf32>) outs(%z : tensor<3x50xf32>) -> tensor<3x50xf32>
  %e2 = tensor.empty() : tensor<3x50xf32>
  %y = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]} ins(%h : tensor<3x50xf32>) outs(%e2 : tensor<3x50xf32>) {
  ^bb0(%in: f32, %out: f32):
    %one = arith.constant 1.0 : f32
    %n = arith.negf %in : f32
    %ex = math.exp %n : f32
    %d = arith.addf %one, %ex : f32
    %r = arith.divf %one, %d : f32
    %s = arith.mulf %in, %r : f32
    linalg.yield %s : f32
  } -> tensor<3x50xf32>
  return %y : tensor<3x50xf32>
}
