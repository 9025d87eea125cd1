// RUN: kvshift-opt %s --kvshift-approximate-math | FileCheck %s

// math.exp, on vectors and scalars, becomes a polynomial in arith/math.fma;
// other math ops are left alone.
// CHECK-LABEL: func.func @exp_vector
// CHECK-NOT: math.exp
// CHECK: math.fma {{.*}} : vector<16xf32>
// CHECK: return
func.func @exp_vector(%x: vector<16xf32>) -> vector<16xf32> {
  %0 = math.exp %x : vector<16xf32>
  return %0 : vector<16xf32>
}

// CHECK-LABEL: func.func @exp_scalar
// CHECK-NOT: math.exp
// CHECK: math.fma {{.*}} : f32
func.func @exp_scalar(%x: f32) -> f32 {
  %0 = math.exp %x : f32
  return %0 : f32
}

// CHECK-LABEL: func.func @others_untouched
// CHECK: math.log
// CHECK: math.tanh
func.func @others_untouched(%x: f32) -> f32 {
  %0 = math.log %x : f32
  %1 = math.tanh %0 : f32
  return %1 : f32
}
