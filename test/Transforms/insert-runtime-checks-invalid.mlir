// RUN: not kvshift-opt %s --kvshift-insert-runtime-checks 2>&1 | FileCheck %s


// A module that declares the hook with another type is refused.
// CHECK: error: @kvshift_runtime_error must have type '(i64, i64, i64, i64) -> ()', found '(i64) -> ()'
func.func private @kvshift_runtime_error(i64)
func.func @clash(%q: tensor<1x4x1x8xf32>, %kc: tensor<1x2x64x8xf32>, %len: index) -> tensor<1x4x1x8xf32> {
  %o = kvshift.kv_cache_attention %q, %kc, %kc length %len : (tensor<1x4x1x8xf32>, tensor<1x2x64x8xf32>, tensor<1x2x64x8xf32>, index) -> tensor<1x4x1x8xf32>
  return %o : tensor<1x4x1x8xf32>
}
