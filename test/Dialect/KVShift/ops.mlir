// RUN: kvshift-opt %s | kvshift-opt | FileCheck %s
// RUN: kvshift-opt %s --mlir-print-op-generic | kvshift-opt | FileCheck %s

// Round trips of the three kvshift ops, in custom and generic form, with
// static and dynamic dimensions, every data element type, with and without
// `causal` and `scale`, and grouped-query shapes.

//===----------------------------------------------------------------------===//
// kv_shift
//===----------------------------------------------------------------------===//

// CHECK-LABEL: func.func @kv_shift_f32
// CHECK-SAME: (%[[X:.*]]: tensor<2x4x16x8xf32>, %[[W:.*]]: tensor<4x2xf32>)
// CHECK: %[[R:.*]] = kvshift.kv_shift %[[X]], %[[W]] : tensor<2x4x16x8xf32>, tensor<4x2xf32> -> tensor<2x4x16x8xf32>
// CHECK: return %[[R]]
func.func @kv_shift_f32(%x: tensor<2x4x16x8xf32>, %w: tensor<4x2xf32>) -> tensor<2x4x16x8xf32> {
  %0 = kvshift.kv_shift %x, %w : tensor<2x4x16x8xf32>, tensor<4x2xf32> -> tensor<2x4x16x8xf32>
  return %0 : tensor<2x4x16x8xf32>
}

// CHECK-LABEL: func.func @kv_shift_f16
// CHECK: kvshift.kv_shift %{{.*}}, %{{.*}} : tensor<1x2x5x3xf16>, tensor<2x2xf32> -> tensor<1x2x5x3xf16>
func.func @kv_shift_f16(%x: tensor<1x2x5x3xf16>, %w: tensor<2x2xf32>) -> tensor<1x2x5x3xf16> {
  %0 = kvshift.kv_shift %x, %w : tensor<1x2x5x3xf16>, tensor<2x2xf32> -> tensor<1x2x5x3xf16>
  return %0 : tensor<1x2x5x3xf16>
}

// CHECK-LABEL: func.func @kv_shift_bf16_dynamic
// CHECK: kvshift.kv_shift %{{.*}}, %{{.*}} : tensor<?x?x?x?xbf16>, tensor<?x2xf32> -> tensor<?x?x?x?xbf16>
func.func @kv_shift_bf16_dynamic(%x: tensor<?x?x?x?xbf16>, %w: tensor<?x2xf32>) -> tensor<?x?x?x?xbf16> {
  %0 = kvshift.kv_shift %x, %w : tensor<?x?x?x?xbf16>, tensor<?x2xf32> -> tensor<?x?x?x?xbf16>
  return %0 : tensor<?x?x?x?xbf16>
}

// Static and dynamic sizes may be mixed between x, w and the result.
// CHECK-LABEL: func.func @kv_shift_mixed_static_dynamic
// CHECK: kvshift.kv_shift %{{.*}}, %{{.*}} : tensor<2x?x16x?xf32>, tensor<4x?xf32> -> tensor<?x4x?x8xf32>
func.func @kv_shift_mixed_static_dynamic(%x: tensor<2x?x16x?xf32>, %w: tensor<4x?xf32>) -> tensor<?x4x?x8xf32> {
  %0 = kvshift.kv_shift %x, %w : tensor<2x?x16x?xf32>, tensor<4x?xf32> -> tensor<?x4x?x8xf32>
  return %0 : tensor<?x4x?x8xf32>
}

// CHECK-LABEL: func.func @kv_shift_generic
// CHECK: kvshift.kv_shift %{{.*}}, %{{.*}} : tensor<1x1x4x2xf32>, tensor<1x2xf32> -> tensor<1x1x4x2xf32>
func.func @kv_shift_generic(%x: tensor<1x1x4x2xf32>, %w: tensor<1x2xf32>) -> tensor<1x1x4x2xf32> {
  %0 = "kvshift.kv_shift"(%x, %w) : (tensor<1x1x4x2xf32>, tensor<1x2xf32>) -> tensor<1x1x4x2xf32>
  return %0 : tensor<1x1x4x2xf32>
}

//===----------------------------------------------------------------------===//
// kv_shift_attention
//===----------------------------------------------------------------------===//

// The example of SPEC.md, in generic form: GQA (4 query heads, 2 KV heads),
// causal, explicit scale.
// CHECK-LABEL: func.func @attention_spec_generic
// CHECK-SAME: (%[[Q:.*]]: tensor<2x4x16x8xf32>, %[[K:.*]]: tensor<2x2x16x8xf32>, %[[V:.*]]: tensor<2x2x16x8xf32>, %[[KW:.*]]: tensor<2x2xf32>, %[[VW:.*]]: tensor<2x2xf32>)
// CHECK: %[[O:.*]] = kvshift.kv_shift_attention %[[Q]], %[[K]], %[[V]] mix(%[[KW]], %[[VW]]) causal scale = 1.250000e-01 : (tensor<2x4x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<2x4x16x8xf32>
// CHECK: return %[[O]]
func.func @attention_spec_generic(%q: tensor<2x4x16x8xf32>, %k: tensor<2x2x16x8xf32>, %v: tensor<2x2x16x8xf32>, %kw: tensor<2x2xf32>, %vw: tensor<2x2xf32>) -> tensor<2x4x16x8xf32> {
  %o = "kvshift.kv_shift_attention"(%q, %k, %v, %kw, %vw) {causal, scale = 0.125 : f32}
       : (tensor<2x4x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2x16x8xf32>,
          tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<2x4x16x8xf32>
  return %o : tensor<2x4x16x8xf32>
}

// The same in custom form.
// CHECK-LABEL: func.func @attention_custom_causal_scale
// CHECK: kvshift.kv_shift_attention %{{.*}}, %{{.*}}, %{{.*}} mix(%{{.*}}, %{{.*}}) causal scale = 1.250000e-01 : (tensor<2x4x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<2x4x16x8xf32>
func.func @attention_custom_causal_scale(%q: tensor<2x4x16x8xf32>, %k: tensor<2x2x16x8xf32>, %v: tensor<2x2x16x8xf32>, %kw: tensor<2x2xf32>, %vw: tensor<2x2xf32>) -> tensor<2x4x16x8xf32> {
  %o = kvshift.kv_shift_attention %q, %k, %v mix(%kw, %vw) causal scale = 0.125
       : (tensor<2x4x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2x16x8xf32>,
          tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<2x4x16x8xf32>
  return %o : tensor<2x4x16x8xf32>
}

// Neither causal nor scale: nothing is printed between mix(...) and the type.
// CHECK-LABEL: func.func @attention_plain
// CHECK: kvshift.kv_shift_attention %{{.*}}, %{{.*}}, %{{.*}} mix(%{{.*}}, %{{.*}}) : (tensor<1x2x4x16xf32>, tensor<1x2x4x16xf32>, tensor<1x2x4x16xf32>, tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<1x2x4x16xf32>
func.func @attention_plain(%q: tensor<1x2x4x16xf32>, %k: tensor<1x2x4x16xf32>, %v: tensor<1x2x4x16xf32>, %kw: tensor<2x2xf32>, %vw: tensor<2x2xf32>) -> tensor<1x2x4x16xf32> {
  %o = kvshift.kv_shift_attention %q, %k, %v mix(%kw, %vw)
       : (tensor<1x2x4x16xf32>, tensor<1x2x4x16xf32>, tensor<1x2x4x16xf32>,
          tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<1x2x4x16xf32>
  return %o : tensor<1x2x4x16xf32>
}

// Causal without scale.
// CHECK-LABEL: func.func @attention_causal_only
// CHECK: kvshift.kv_shift_attention %{{.*}}, %{{.*}}, %{{.*}} mix(%{{.*}}, %{{.*}}) causal : (tensor<1x2x4x16xf16>
// CHECK-SAME: -> tensor<1x2x4x16xf16>
func.func @attention_causal_only(%q: tensor<1x2x4x16xf16>, %k: tensor<1x2x4x16xf16>, %v: tensor<1x2x4x16xf16>, %kw: tensor<2x2xf32>, %vw: tensor<2x2xf32>) -> tensor<1x2x4x16xf16> {
  %o = kvshift.kv_shift_attention %q, %k, %v mix(%kw, %vw) causal
       : (tensor<1x2x4x16xf16>, tensor<1x2x4x16xf16>, tensor<1x2x4x16xf16>,
          tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<1x2x4x16xf16>
  return %o : tensor<1x2x4x16xf16>
}

// Scale without causal; a negative scale is allowed.
// CHECK-LABEL: func.func @attention_scale_only
// CHECK: kvshift.kv_shift_attention %{{.*}}, %{{.*}}, %{{.*}} mix(%{{.*}}, %{{.*}}) scale = -2.000000e+00 : (tensor<1x2x4x16xbf16>
// CHECK-SAME: -> tensor<1x2x4x16xbf16>
func.func @attention_scale_only(%q: tensor<1x2x4x16xbf16>, %k: tensor<1x2x4x16xbf16>, %v: tensor<1x2x4x16xbf16>, %kw: tensor<2x2xf32>, %vw: tensor<2x2xf32>) -> tensor<1x2x4x16xbf16> {
  %o = kvshift.kv_shift_attention %q, %k, %v mix(%kw, %vw) scale = -2.0
       : (tensor<1x2x4x16xbf16>, tensor<1x2x4x16xbf16>, tensor<1x2x4x16xbf16>,
          tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<1x2x4x16xbf16>
  return %o : tensor<1x2x4x16xbf16>
}

// Generic form without attributes, f16.
// CHECK-LABEL: func.func @attention_generic_no_attrs_f16
// CHECK: kvshift.kv_shift_attention %{{.*}}, %{{.*}}, %{{.*}} mix(%{{.*}}, %{{.*}}) : (tensor<1x1x3x4xf16>, tensor<1x1x3x4xf16>, tensor<1x1x3x4xf16>, tensor<1x2xf32>, tensor<1x2xf32>) -> tensor<1x1x3x4xf16>
func.func @attention_generic_no_attrs_f16(%q: tensor<1x1x3x4xf16>, %k: tensor<1x1x3x4xf16>, %v: tensor<1x1x3x4xf16>, %kw: tensor<1x2xf32>, %vw: tensor<1x2xf32>) -> tensor<1x1x3x4xf16> {
  %o = "kvshift.kv_shift_attention"(%q, %k, %v, %kw, %vw)
       : (tensor<1x1x3x4xf16>, tensor<1x1x3x4xf16>, tensor<1x1x3x4xf16>,
          tensor<1x2xf32>, tensor<1x2xf32>) -> tensor<1x1x3x4xf16>
  return %o : tensor<1x1x3x4xf16>
}

// Generic form, bf16, scale only.
// CHECK-LABEL: func.func @attention_generic_scale_bf16
// CHECK: kvshift.kv_shift_attention %{{.*}}, %{{.*}}, %{{.*}} mix(%{{.*}}, %{{.*}}) scale = 3.000000e+00 : (tensor<1x1x3x4xbf16>
func.func @attention_generic_scale_bf16(%q: tensor<1x1x3x4xbf16>, %k: tensor<1x1x3x4xbf16>, %v: tensor<1x1x3x4xbf16>, %kw: tensor<1x2xf32>, %vw: tensor<1x2xf32>) -> tensor<1x1x3x4xbf16> {
  %o = "kvshift.kv_shift_attention"(%q, %k, %v, %kw, %vw) {scale = 3.0 : f32}
       : (tensor<1x1x3x4xbf16>, tensor<1x1x3x4xbf16>, tensor<1x1x3x4xbf16>,
          tensor<1x2xf32>, tensor<1x2xf32>) -> tensor<1x1x3x4xbf16>
  return %o : tensor<1x1x3x4xbf16>
}

// Decoding against a longer context (Sq < Sk), causal, GQA with 8 query heads
// on 2 KV heads.
// CHECK-LABEL: func.func @attention_decode_gqa
// CHECK: kvshift.kv_shift_attention %{{.*}}, %{{.*}}, %{{.*}} mix(%{{.*}}, %{{.*}}) causal : (tensor<1x8x1x32xf32>, tensor<1x2x64x32xf32>, tensor<1x2x64x32xf32>, tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<1x8x1x32xf32>
func.func @attention_decode_gqa(%q: tensor<1x8x1x32xf32>, %k: tensor<1x2x64x32xf32>, %v: tensor<1x2x64x32xf32>, %kw: tensor<2x2xf32>, %vw: tensor<2x2xf32>) -> tensor<1x8x1x32xf32> {
  %o = kvshift.kv_shift_attention %q, %k, %v mix(%kw, %vw) causal
       : (tensor<1x8x1x32xf32>, tensor<1x2x64x32xf32>, tensor<1x2x64x32xf32>,
          tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<1x8x1x32xf32>
  return %o : tensor<1x8x1x32xf32>
}

// Non-causal attention may have Sq > Sk.
// CHECK-LABEL: func.func @attention_sq_gt_sk_noncausal
// CHECK: kvshift.kv_shift_attention %{{.*}}, %{{.*}}, %{{.*}} mix(%{{.*}}, %{{.*}}) : (tensor<1x1x8x4xf32>, tensor<1x1x2x4xf32>
func.func @attention_sq_gt_sk_noncausal(%q: tensor<1x1x8x4xf32>, %k: tensor<1x1x2x4xf32>, %v: tensor<1x1x2x4xf32>, %kw: tensor<1x2xf32>, %vw: tensor<1x2xf32>) -> tensor<1x1x8x4xf32> {
  %o = kvshift.kv_shift_attention %q, %k, %v mix(%kw, %vw)
       : (tensor<1x1x8x4xf32>, tensor<1x1x2x4xf32>, tensor<1x1x2x4xf32>,
          tensor<1x2xf32>, tensor<1x2xf32>) -> tensor<1x1x8x4xf32>
  return %o : tensor<1x1x8x4xf32>
}

// Fully dynamic shapes, causal (the verifier cannot check Sq <= Sk).
// CHECK-LABEL: func.func @attention_dynamic
// CHECK: kvshift.kv_shift_attention %{{.*}}, %{{.*}}, %{{.*}} mix(%{{.*}}, %{{.*}}) causal : (tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>, tensor<?x2xf32>, tensor<?x2xf32>) -> tensor<?x?x?x?xf32>
func.func @attention_dynamic(%q: tensor<?x?x?x?xf32>, %k: tensor<?x?x?x?xf32>, %v: tensor<?x?x?x?xf32>, %kw: tensor<?x2xf32>, %vw: tensor<?x2xf32>) -> tensor<?x?x?x?xf32> {
  %o = kvshift.kv_shift_attention %q, %k, %v mix(%kw, %vw) causal
       : (tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>,
          tensor<?x2xf32>, tensor<?x2xf32>) -> tensor<?x?x?x?xf32>
  return %o : tensor<?x?x?x?xf32>
}

// Dynamic batch and sequence, static heads (GQA 6 on 3) and head_dim; the
// result may be more or less static than q.
// CHECK-LABEL: func.func @attention_partly_dynamic
// CHECK: kvshift.kv_shift_attention %{{.*}}, %{{.*}}, %{{.*}} mix(%{{.*}}, %{{.*}}) causal scale = 5.000000e-01 : (tensor<?x6x?x16xbf16>, tensor<?x3x?x16xbf16>, tensor<?x3x?x16xbf16>, tensor<3x2xf32>, tensor<3x2xf32>) -> tensor<2x6x?x?xbf16>
func.func @attention_partly_dynamic(%q: tensor<?x6x?x16xbf16>, %k: tensor<?x3x?x16xbf16>, %v: tensor<?x3x?x16xbf16>, %kw: tensor<3x2xf32>, %vw: tensor<3x2xf32>) -> tensor<2x6x?x?xbf16> {
  %o = kvshift.kv_shift_attention %q, %k, %v mix(%kw, %vw) causal scale = 0.5
       : (tensor<?x6x?x16xbf16>, tensor<?x3x?x16xbf16>, tensor<?x3x?x16xbf16>,
          tensor<3x2xf32>, tensor<3x2xf32>) -> tensor<2x6x?x?xbf16>
  return %o : tensor<2x6x?x?xbf16>
}

// Dynamic head counts: the GQA ratio is only known at run time.
// CHECK-LABEL: func.func @attention_dynamic_heads_generic
// CHECK: kvshift.kv_shift_attention %{{.*}}, %{{.*}}, %{{.*}} mix(%{{.*}}, %{{.*}}) causal : (tensor<2x?x16x8xf16>, tensor<2x?x16x8xf16>, tensor<2x?x16x8xf16>, tensor<?x2xf32>, tensor<?x2xf32>) -> tensor<2x?x16x8xf16>
func.func @attention_dynamic_heads_generic(%q: tensor<2x?x16x8xf16>, %k: tensor<2x?x16x8xf16>, %v: tensor<2x?x16x8xf16>, %kw: tensor<?x2xf32>, %vw: tensor<?x2xf32>) -> tensor<2x?x16x8xf16> {
  %o = "kvshift.kv_shift_attention"(%q, %k, %v, %kw, %vw) {causal}
       : (tensor<2x?x16x8xf16>, tensor<2x?x16x8xf16>, tensor<2x?x16x8xf16>,
          tensor<?x2xf32>, tensor<?x2xf32>) -> tensor<2x?x16x8xf16>
  return %o : tensor<2x?x16x8xf16>
}

//===----------------------------------------------------------------------===//
// kv_shift_attention_grad
//===----------------------------------------------------------------------===//

// The example of the op's documentation: GQA 8 on 2, causal.
// CHECK-LABEL: func.func @grad_causal_gqa
// CHECK-SAME: (%[[Q:.*]]: tensor<1x8x64x32xf32>, %[[K:.*]]: tensor<1x2x64x32xf32>, %[[V:.*]]: tensor<1x2x64x32xf32>, %[[KW:.*]]: tensor<2x2xf32>, %[[VW:.*]]: tensor<2x2xf32>, %[[DO:.*]]: tensor<1x8x64x32xf32>)
// CHECK: %[[DQ:.*]], %[[DK:.*]], %[[DV:.*]], %[[DKW:.*]], %[[DVW:.*]] = kvshift.kv_shift_attention_grad %[[Q]], %[[K]], %[[V]] mix(%[[KW]], %[[VW]]) dout(%[[DO]]) causal : (tensor<1x8x64x32xf32>, tensor<1x2x64x32xf32>, tensor<1x2x64x32xf32>, tensor<2x2xf32>, tensor<2x2xf32>, tensor<1x8x64x32xf32>) -> (tensor<1x8x64x32xf32>, tensor<1x2x64x32xf32>, tensor<1x2x64x32xf32>, tensor<2x2xf32>, tensor<2x2xf32>)
// CHECK: return %[[DQ]], %[[DK]], %[[DV]], %[[DKW]], %[[DVW]]
func.func @grad_causal_gqa(%q: tensor<1x8x64x32xf32>, %k: tensor<1x2x64x32xf32>, %v: tensor<1x2x64x32xf32>, %kw: tensor<2x2xf32>, %vw: tensor<2x2xf32>, %do: tensor<1x8x64x32xf32>)
    -> (tensor<1x8x64x32xf32>, tensor<1x2x64x32xf32>, tensor<1x2x64x32xf32>, tensor<2x2xf32>, tensor<2x2xf32>) {
  %dq, %dk, %dv, %dkw, %dvw = kvshift.kv_shift_attention_grad
      %q, %k, %v mix(%kw, %vw) dout(%do) causal
      : (tensor<1x8x64x32xf32>, tensor<1x2x64x32xf32>, tensor<1x2x64x32xf32>,
         tensor<2x2xf32>, tensor<2x2xf32>, tensor<1x8x64x32xf32>)
      -> (tensor<1x8x64x32xf32>, tensor<1x2x64x32xf32>, tensor<1x2x64x32xf32>,
          tensor<2x2xf32>, tensor<2x2xf32>)
  return %dq, %dk, %dv, %dkw, %dvw : tensor<1x8x64x32xf32>, tensor<1x2x64x32xf32>, tensor<1x2x64x32xf32>, tensor<2x2xf32>, tensor<2x2xf32>
}

// Scale without causal, bf16.
// CHECK-LABEL: func.func @grad_scale_bf16
// CHECK: kvshift.kv_shift_attention_grad %{{.*}}, %{{.*}}, %{{.*}} mix(%{{.*}}, %{{.*}}) dout(%{{.*}}) scale = 2.500000e-01 : (tensor<2x2x4x8xbf16>
// CHECK-SAME: -> (tensor<2x2x4x8xbf16>, tensor<2x1x4x8xbf16>, tensor<2x1x4x8xbf16>, tensor<1x2xf32>, tensor<1x2xf32>)
func.func @grad_scale_bf16(%q: tensor<2x2x4x8xbf16>, %k: tensor<2x1x4x8xbf16>, %v: tensor<2x1x4x8xbf16>, %kw: tensor<1x2xf32>, %vw: tensor<1x2xf32>, %do: tensor<2x2x4x8xbf16>) -> tensor<1x2xf32> {
  %dq, %dk, %dv, %dkw, %dvw = kvshift.kv_shift_attention_grad
      %q, %k, %v mix(%kw, %vw) dout(%do) scale = 0.25
      : (tensor<2x2x4x8xbf16>, tensor<2x1x4x8xbf16>, tensor<2x1x4x8xbf16>,
         tensor<1x2xf32>, tensor<1x2xf32>, tensor<2x2x4x8xbf16>)
      -> (tensor<2x2x4x8xbf16>, tensor<2x1x4x8xbf16>, tensor<2x1x4x8xbf16>,
          tensor<1x2xf32>, tensor<1x2xf32>)
  return %dkw : tensor<1x2xf32>
}

// Generic form with both attributes, f16.
// CHECK-LABEL: func.func @grad_generic_f16
// CHECK: kvshift.kv_shift_attention_grad %{{.*}}, %{{.*}}, %{{.*}} mix(%{{.*}}, %{{.*}}) dout(%{{.*}}) causal scale = 1.250000e-01 : (tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>, tensor<2x2xf32>, tensor<2x2xf32>, tensor<1x4x16x8xf16>) -> (tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>, tensor<2x2xf32>, tensor<2x2xf32>)
func.func @grad_generic_f16(%q: tensor<1x4x16x8xf16>, %k: tensor<1x2x16x8xf16>, %v: tensor<1x2x16x8xf16>, %kw: tensor<2x2xf32>, %vw: tensor<2x2xf32>, %do: tensor<1x4x16x8xf16>) -> tensor<1x4x16x8xf16> {
  %r:5 = "kvshift.kv_shift_attention_grad"(%q, %k, %v, %kw, %vw, %do) {causal, scale = 0.125 : f32}
      : (tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>,
         tensor<2x2xf32>, tensor<2x2xf32>, tensor<1x4x16x8xf16>)
      -> (tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>,
          tensor<2x2xf32>, tensor<2x2xf32>)
  return %r#0 : tensor<1x4x16x8xf16>
}

// Dynamic everything, no attributes.
// CHECK-LABEL: func.func @grad_dynamic
// CHECK: kvshift.kv_shift_attention_grad %{{.*}}, %{{.*}}, %{{.*}} mix(%{{.*}}, %{{.*}}) dout(%{{.*}}) : (tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>, tensor<?x2xf32>, tensor<?x2xf32>, tensor<?x?x?x?xf32>) -> (tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>, tensor<?x?xf32>, tensor<?x2xf32>)
func.func @grad_dynamic(%q: tensor<?x?x?x?xf32>, %k: tensor<?x?x?x?xf32>, %v: tensor<?x?x?x?xf32>, %kw: tensor<?x2xf32>, %vw: tensor<?x2xf32>, %do: tensor<?x?x?x?xf32>) -> tensor<?x?xf32> {
  %dq, %dk, %dv, %dkw, %dvw = kvshift.kv_shift_attention_grad
      %q, %k, %v mix(%kw, %vw) dout(%do)
      : (tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>,
         tensor<?x2xf32>, tensor<?x2xf32>, tensor<?x?x?x?xf32>)
      -> (tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>,
          tensor<?x?xf32>, tensor<?x2xf32>)
  return %dkw : tensor<?x?xf32>
}

//===----------------------------------------------------------------------===//
// rope_theta
//===----------------------------------------------------------------------===//

// Custom form with every attribute; the op's documentation example.
// CHECK-LABEL: func.func @attention_rope
// CHECK: kvshift.kv_shift_attention %{{.*}}, %{{.*}}, %{{.*}} mix(%{{.*}}, %{{.*}}) causal scale = 1.250000e-01 rope_theta = 1.000000e+04 : (tensor<2x4x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<2x4x16x8xf32>
// CHECK: kvshift.kv_shift_attention %{{.*}}, %{{.*}}, %{{.*}} mix(%{{.*}}, %{{.*}}) causal rope_theta = 1.000000e+04 : (tensor<2x4x16x8xf32>
// CHECK: kvshift.kv_shift_attention %{{.*}}, %{{.*}}, %{{.*}} mix(%{{.*}}, %{{.*}}) rope_theta = 5.000000e+05 : (tensor<?x?x?x?xbf16>
func.func @attention_rope(%q: tensor<2x4x16x8xf32>, %k: tensor<2x2x16x8xf32>, %v: tensor<2x2x16x8xf32>, %kw: tensor<2x2xf32>, %vw: tensor<2x2xf32>,
                          %qd: tensor<?x?x?x?xbf16>, %wd: tensor<?x2xf32>) -> (tensor<2x4x16x8xf32>, tensor<2x4x16x8xf32>, tensor<?x?x?x?xbf16>) {
  %o = kvshift.kv_shift_attention %q, %k, %v mix(%kw, %vw) causal scale = 0.125 rope_theta = 10000.0
      : (tensor<2x4x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2x16x8xf32>,
         tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<2x4x16x8xf32>
  %o2 = "kvshift.kv_shift_attention"(%q, %k, %v, %kw, %vw) {causal, rope_theta = 1.0e4 : f32}
      : (tensor<2x4x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2x16x8xf32>,
         tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<2x4x16x8xf32>
  // Dynamic D: the even-D rule is checked where D is static.
  %o3 = kvshift.kv_shift_attention %qd, %qd, %qd mix(%wd, %wd) rope_theta = 500000.0
      : (tensor<?x?x?x?xbf16>, tensor<?x?x?x?xbf16>, tensor<?x?x?x?xbf16>,
         tensor<?x2xf32>, tensor<?x2xf32>) -> tensor<?x?x?x?xbf16>
  return %o, %o2, %o3 : tensor<2x4x16x8xf32>, tensor<2x4x16x8xf32>, tensor<?x?x?x?xbf16>
}

// CHECK-LABEL: func.func @grad_rope
// CHECK: kvshift.kv_shift_attention_grad %{{.*}}, %{{.*}}, %{{.*}} mix(%{{.*}}, %{{.*}}) dout(%{{.*}}) causal rope_theta = 5.000000e+05 : (tensor<1x4x16x8xf16>
// CHECK: kvshift.kv_shift_attention_grad %{{.*}}, %{{.*}}, %{{.*}} mix(%{{.*}}, %{{.*}}) dout(%{{.*}}) scale = 2.500000e-01 rope_theta = 1.000000e+04 : (tensor<1x4x16x8xf16>
func.func @grad_rope(%q: tensor<1x4x16x8xf16>, %k: tensor<1x2x16x8xf16>, %v: tensor<1x2x16x8xf16>, %kw: tensor<2x2xf32>, %vw: tensor<2x2xf32>, %do: tensor<1x4x16x8xf16>) -> (tensor<2x2xf32>, tensor<2x2xf32>) {
  %r:5 = kvshift.kv_shift_attention_grad %q, %k, %v mix(%kw, %vw) dout(%do) causal rope_theta = 500000.0
      : (tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>,
         tensor<2x2xf32>, tensor<2x2xf32>, tensor<1x4x16x8xf16>)
      -> (tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>,
          tensor<2x2xf32>, tensor<2x2xf32>)
  %s:5 = "kvshift.kv_shift_attention_grad"(%q, %k, %v, %kw, %vw, %do) {rope_theta = 1.0e4 : f32, scale = 0.25 : f32}
      : (tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>,
         tensor<2x2xf32>, tensor<2x2xf32>, tensor<1x4x16x8xf16>)
      -> (tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>,
          tensor<2x2xf32>, tensor<2x2xf32>)
  return %r#3, %s#4 : tensor<2x2xf32>, tensor<2x2xf32>
}
