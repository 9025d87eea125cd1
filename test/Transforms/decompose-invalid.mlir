// RUN: kvshift-opt %s --kvshift-decompose --split-input-file -verify-diagnostics

// kv_shift_attention_grad has no lowering yet: the pass says so on the op
// instead of leaving it for a later pass to reject.

func.func @grad(%q: tensor<1x4x16x8xf32>, %k: tensor<1x2x16x8xf32>, %v: tensor<1x2x16x8xf32>, %kw: tensor<2x2xf32>, %vw: tensor<2x2xf32>, %do: tensor<1x4x16x8xf32>) -> tensor<2x2xf32> {
  // expected-error @+1 {{'kvshift.kv_shift_attention_grad' op has no lowering yet (only its verifier is implemented); compute gradients outside kvshift for now}}
  %dq, %dk, %dv, %dkw, %dvw = kvshift.kv_shift_attention_grad %q, %k, %v mix(%kw, %vw) dout(%do) causal
      : (tensor<1x4x16x8xf32>, tensor<1x2x16x8xf32>, tensor<1x2x16x8xf32>, tensor<2x2xf32>, tensor<2x2xf32>, tensor<1x4x16x8xf32>)
      -> (tensor<1x4x16x8xf32>, tensor<1x2x16x8xf32>, tensor<1x2x16x8xf32>, tensor<2x2xf32>, tensor<2x2xf32>)
  return %dkw : tensor<2x2xf32>
}

// -----

// Also when it sits next to ops that do have a lowering.
func.func @grad_with_forward(%q: tensor<?x?x?x?xbf16>, %k: tensor<?x?x?x?xbf16>, %v: tensor<?x?x?x?xbf16>, %kw: tensor<?x2xf32>, %vw: tensor<?x2xf32>) -> tensor<?x?x?x?xbf16> {
  %o = kvshift.kv_shift_attention %q, %k, %v mix(%kw, %vw)
      : (tensor<?x?x?x?xbf16>, tensor<?x?x?x?xbf16>, tensor<?x?x?x?xbf16>, tensor<?x2xf32>, tensor<?x2xf32>) -> tensor<?x?x?x?xbf16>
  // expected-error @+1 {{'kvshift.kv_shift_attention_grad' op has no lowering yet (only its verifier is implemented); compute gradients outside kvshift for now}}
  %r:5 = "kvshift.kv_shift_attention_grad"(%q, %k, %v, %kw, %vw, %o) {scale = 0.5 : f32}
      : (tensor<?x?x?x?xbf16>, tensor<?x?x?x?xbf16>, tensor<?x?x?x?xbf16>, tensor<?x2xf32>, tensor<?x2xf32>, tensor<?x?x?x?xbf16>)
      -> (tensor<?x?x?x?xbf16>, tensor<?x?x?x?xbf16>, tensor<?x?x?x?xbf16>, tensor<?x2xf32>, tensor<?x2xf32>)
  return %r#0 : tensor<?x?x?x?xbf16>
}
