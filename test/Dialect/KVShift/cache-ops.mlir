// RUN: kvshift-opt %s | FileCheck %s
// RUN: kvshift-opt %s | kvshift-opt | FileCheck %s
// RUN: kvshift-opt %s -mlir-print-op-generic | kvshift-opt | FileCheck %s
// RUN: kvshift-opt %s -mlir-print-op-generic | FileCheck %s --check-prefix=GENERIC

// Round trips of the KV-cache ops: custom form, generic form, optional
// attributes, dynamic shapes, GQA, bf16.

// CHECK-LABEL: func.func @append
// CHECK: %new_k_cache, %new_v_cache, %new_k_last, %new_v_last = kvshift.kv_cache_append %{{.*}}, %{{.*}} last(%{{.*}}, %{{.*}}) mix(%{{.*}}, %{{.*}}) into(%{{.*}}, %{{.*}}) at %{{.*}} : (tensor<1x2x3x8xf32>, tensor<1x2x3x8xf32>, tensor<1x2x1x8xf32>, tensor<1x2x1x8xf32>, tensor<2x2xf32>, tensor<2x2xf32>, tensor<1x2x64x8xf32>, tensor<1x2x64x8xf32>, index) -> (tensor<1x2x64x8xf32>, tensor<1x2x64x8xf32>, tensor<1x2x1x8xf32>, tensor<1x2x1x8xf32>)
// GENERIC-LABEL: sym_name = "append"
// GENERIC: "kvshift.kv_cache_append"(%{{.*}}) : (
func.func @append(%k: tensor<1x2x3x8xf32>, %v: tensor<1x2x3x8xf32>,
                  %kl: tensor<1x2x1x8xf32>, %vl: tensor<1x2x1x8xf32>,
                  %kw: tensor<2x2xf32>, %vw: tensor<2x2xf32>,
                  %kc: tensor<1x2x64x8xf32>, %vc: tensor<1x2x64x8xf32>,
                  %pos: index) -> tensor<1x2x64x8xf32> {
  %r:4 = kvshift.kv_cache_append %k, %v last(%kl, %vl) mix(%kw, %vw) into(%kc, %vc) at %pos
      : (tensor<1x2x3x8xf32>, tensor<1x2x3x8xf32>, tensor<1x2x1x8xf32>, tensor<1x2x1x8xf32>,
         tensor<2x2xf32>, tensor<2x2xf32>, tensor<1x2x64x8xf32>, tensor<1x2x64x8xf32>, index)
      -> (tensor<1x2x64x8xf32>, tensor<1x2x64x8xf32>, tensor<1x2x1x8xf32>, tensor<1x2x1x8xf32>)
  return %r#0 : tensor<1x2x64x8xf32>
}

// CHECK-LABEL: func.func @append_rope_dynamic
// CHECK: kvshift.kv_cache_append {{.*}} at %{{.*}} rope_theta = 5.000000e+05 : (tensor<?x2x?x16xbf16>
// GENERIC-LABEL: sym_name = "append_rope_dynamic"
// GENERIC: "kvshift.kv_cache_append"({{.*}}) <{rope_theta = 5.000000e+05 : f32}>
func.func @append_rope_dynamic(%k: tensor<?x2x?x16xbf16>, %kl: tensor<?x2x1x16xbf16>,
                               %w: tensor<2x2xf32>, %kc: tensor<?x2x?x16xbf16>,
                               %pos: index) -> tensor<?x2x1x16xbf16> {
  %r:4 = kvshift.kv_cache_append %k, %k last(%kl, %kl) mix(%w, %w) into(%kc, %kc) at %pos rope_theta = 5.0e5
      : (tensor<?x2x?x16xbf16>, tensor<?x2x?x16xbf16>, tensor<?x2x1x16xbf16>, tensor<?x2x1x16xbf16>,
         tensor<2x2xf32>, tensor<2x2xf32>, tensor<?x2x?x16xbf16>, tensor<?x2x?x16xbf16>, index)
      -> (tensor<?x2x?x16xbf16>, tensor<?x2x?x16xbf16>, tensor<?x2x1x16xbf16>, tensor<?x2x1x16xbf16>)
  return %r#3 : tensor<?x2x1x16xbf16>
}

// CHECK-LABEL: func.func @attention
// CHECK: kvshift.kv_cache_attention %{{.*}}, %{{.*}}, %{{.*}} length %{{.*}} : (tensor<1x8x1x64xf32>, tensor<1x2x512x64xf32>, tensor<1x2x512x64xf32>, index) -> tensor<1x8x1x64xf32>
// CHECK: kvshift.kv_cache_attention %{{.*}}, %{{.*}}, %{{.*}} length %{{.*}} causal scale = 1.250000e-01 rope_theta = 1.000000e+04 : (
// GENERIC-LABEL: sym_name = "attention"
// GENERIC: "kvshift.kv_cache_attention"({{.*}}) <{causal, rope_theta = 1.000000e+04 : f32, scale = 1.250000e-01 : f32}>
func.func @attention(%q: tensor<1x8x1x64xf32>, %kc: tensor<1x2x512x64xf32>,
                     %vc: tensor<1x2x512x64xf32>, %len: index)
    -> (tensor<1x8x1x64xf32>, tensor<1x8x1x64xf32>) {
  %o = kvshift.kv_cache_attention %q, %kc, %vc length %len
      : (tensor<1x8x1x64xf32>, tensor<1x2x512x64xf32>, tensor<1x2x512x64xf32>, index)
      -> tensor<1x8x1x64xf32>
  %o2 = "kvshift.kv_cache_attention"(%q, %kc, %vc, %len) {causal, scale = 0.125 : f32, rope_theta = 1.0e4 : f32}
      : (tensor<1x8x1x64xf32>, tensor<1x2x512x64xf32>, tensor<1x2x512x64xf32>, index)
      -> tensor<1x8x1x64xf32>
  return %o, %o2 : tensor<1x8x1x64xf32>, tensor<1x8x1x64xf32>
}
