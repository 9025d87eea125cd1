// RUN: kvshift-opt %s -split-input-file -verify-diagnostics

// Every diagnostic of the KV-cache ops' verifiers (kv_cache_append,
// kv_cache_attention in lib/Dialect/KVShift/IR/KVShiftOps.cpp), one case
// per split, each matched with its full text.

func.func @append_k_new_rank3(%a0: tensor<2x3x8xf32>, %a1: tensor<2x3x8xf32>, %a2: tensor<1x2x1x8xf32>, %a3: tensor<1x2x1x8xf32>, %a4: tensor<2x2xf32>, %a5: tensor<2x2xf32>, %a6: tensor<1x2x16x8xf32>, %a7: tensor<1x2x16x8xf32>, %a8: index) {
  // expected-error @+1 {{'kvshift.kv_cache_append' op operand 'k_new' must be a ranked tensor of rank 4 ([batch, heads, seq, head_dim]), found 'tensor<2x3x8xf32>'}}
  %r:4 = kvshift.kv_cache_append %a0, %a1 last(%a2, %a3) mix(%a4, %a5) into(%a6, %a7) at %a8 : (tensor<2x3x8xf32>, tensor<2x3x8xf32>, tensor<1x2x1x8xf32>, tensor<1x2x1x8xf32>, tensor<2x2xf32>, tensor<2x2xf32>, tensor<1x2x16x8xf32>, tensor<1x2x16x8xf32>, index) -> (tensor<1x2x16x8xf32>, tensor<1x2x16x8xf32>, tensor<1x2x1x8xf32>, tensor<1x2x1x8xf32>)
  return
}

// -----

func.func @append_v_new_type(%a0: tensor<1x2x3x8xf32>, %a1: tensor<1x2x4x8xf32>, %a2: tensor<1x2x1x8xf32>, %a3: tensor<1x2x1x8xf32>, %a4: tensor<2x2xf32>, %a5: tensor<2x2xf32>, %a6: tensor<1x2x16x8xf32>, %a7: tensor<1x2x16x8xf32>, %a8: index) {
  // expected-error @+1 {{'kvshift.kv_cache_append' op operands 'k_new' and 'v_new' must have the same type, found 'tensor<1x2x3x8xf32>' and 'tensor<1x2x4x8xf32>'}}
  %r:4 = kvshift.kv_cache_append %a0, %a1 last(%a2, %a3) mix(%a4, %a5) into(%a6, %a7) at %a8 : (tensor<1x2x3x8xf32>, tensor<1x2x4x8xf32>, tensor<1x2x1x8xf32>, tensor<1x2x1x8xf32>, tensor<2x2xf32>, tensor<2x2xf32>, tensor<1x2x16x8xf32>, tensor<1x2x16x8xf32>, index) -> (tensor<1x2x16x8xf32>, tensor<1x2x16x8xf32>, tensor<1x2x1x8xf32>, tensor<1x2x1x8xf32>)
  return
}

// -----

func.func @append_no_rows(%a0: tensor<1x2x0x8xf32>, %a1: tensor<1x2x0x8xf32>, %a2: tensor<1x2x1x8xf32>, %a3: tensor<1x2x1x8xf32>, %a4: tensor<2x2xf32>, %a5: tensor<2x2xf32>, %a6: tensor<1x2x16x8xf32>, %a7: tensor<1x2x16x8xf32>, %a8: index) {
  // expected-error @+1 {{'kvshift.kv_cache_append' op operand 'k_new' must have a non-zero number of new rows (T) (dim 2), found 0}}
  %r:4 = kvshift.kv_cache_append %a0, %a1 last(%a2, %a3) mix(%a4, %a5) into(%a6, %a7) at %a8 : (tensor<1x2x0x8xf32>, tensor<1x2x0x8xf32>, tensor<1x2x1x8xf32>, tensor<1x2x1x8xf32>, tensor<2x2xf32>, tensor<2x2xf32>, tensor<1x2x16x8xf32>, tensor<1x2x16x8xf32>, index) -> (tensor<1x2x16x8xf32>, tensor<1x2x16x8xf32>, tensor<1x2x1x8xf32>, tensor<1x2x1x8xf32>)
  return
}

// -----

func.func @append_head_dim_zero(%a0: tensor<1x2x3x0xf32>, %a1: tensor<1x2x3x0xf32>, %a2: tensor<1x2x1x0xf32>, %a3: tensor<1x2x1x0xf32>, %a4: tensor<2x2xf32>, %a5: tensor<2x2xf32>, %a6: tensor<1x2x16x0xf32>, %a7: tensor<1x2x16x0xf32>, %a8: index) {
  // expected-error @+1 {{'kvshift.kv_cache_append' op operand 'k_new' must have a non-zero head_dim (dim 3), found 0}}
  %r:4 = kvshift.kv_cache_append %a0, %a1 last(%a2, %a3) mix(%a4, %a5) into(%a6, %a7) at %a8 : (tensor<1x2x3x0xf32>, tensor<1x2x3x0xf32>, tensor<1x2x1x0xf32>, tensor<1x2x1x0xf32>, tensor<2x2xf32>, tensor<2x2xf32>, tensor<1x2x16x0xf32>, tensor<1x2x16x0xf32>, index) -> (tensor<1x2x16x0xf32>, tensor<1x2x16x0xf32>, tensor<1x2x1x0xf32>, tensor<1x2x1x0xf32>)
  return
}

// -----

func.func @append_last_elt(%a0: tensor<1x2x3x8xf32>, %a1: tensor<1x2x3x8xf32>, %a2: tensor<1x2x1x8xf16>, %a3: tensor<1x2x1x8xf16>, %a4: tensor<2x2xf32>, %a5: tensor<2x2xf32>, %a6: tensor<1x2x16x8xf32>, %a7: tensor<1x2x16x8xf32>, %a8: index) {
  // expected-error @+1 {{'kvshift.kv_cache_append' op operand 'k_last' must have the element type of 'k_new' ('f32'), found 'f16'}}
  %r:4 = kvshift.kv_cache_append %a0, %a1 last(%a2, %a3) mix(%a4, %a5) into(%a6, %a7) at %a8 : (tensor<1x2x3x8xf32>, tensor<1x2x3x8xf32>, tensor<1x2x1x8xf16>, tensor<1x2x1x8xf16>, tensor<2x2xf32>, tensor<2x2xf32>, tensor<1x2x16x8xf32>, tensor<1x2x16x8xf32>, index) -> (tensor<1x2x16x8xf32>, tensor<1x2x16x8xf32>, tensor<1x2x1x8xf16>, tensor<1x2x1x8xf16>)
  return
}

// -----

func.func @append_last_batch(%a0: tensor<1x2x3x8xf32>, %a1: tensor<1x2x3x8xf32>, %a2: tensor<2x2x1x8xf32>, %a3: tensor<2x2x1x8xf32>, %a4: tensor<2x2xf32>, %a5: tensor<2x2xf32>, %a6: tensor<1x2x16x8xf32>, %a7: tensor<1x2x16x8xf32>, %a8: index) {
  // expected-error @+1 {{'kvshift.kv_cache_append' op batch size of 'k_last' (dim 0) must equal that of 'k_new' (dim 0): expected 1, found 2}}
  %r:4 = kvshift.kv_cache_append %a0, %a1 last(%a2, %a3) mix(%a4, %a5) into(%a6, %a7) at %a8 : (tensor<1x2x3x8xf32>, tensor<1x2x3x8xf32>, tensor<2x2x1x8xf32>, tensor<2x2x1x8xf32>, tensor<2x2xf32>, tensor<2x2xf32>, tensor<1x2x16x8xf32>, tensor<1x2x16x8xf32>, index) -> (tensor<1x2x16x8xf32>, tensor<1x2x16x8xf32>, tensor<2x2x1x8xf32>, tensor<2x2x1x8xf32>)
  return
}

// -----

func.func @append_last_heads(%a0: tensor<1x2x3x8xf32>, %a1: tensor<1x2x3x8xf32>, %a2: tensor<1x3x1x8xf32>, %a3: tensor<1x3x1x8xf32>, %a4: tensor<2x2xf32>, %a5: tensor<2x2xf32>, %a6: tensor<1x2x16x8xf32>, %a7: tensor<1x2x16x8xf32>, %a8: index) {
  // expected-error @+1 {{'kvshift.kv_cache_append' op KV heads of 'k_last' (dim 1) must equal that of 'k_new' (dim 1): expected 2, found 3}}
  %r:4 = kvshift.kv_cache_append %a0, %a1 last(%a2, %a3) mix(%a4, %a5) into(%a6, %a7) at %a8 : (tensor<1x2x3x8xf32>, tensor<1x2x3x8xf32>, tensor<1x3x1x8xf32>, tensor<1x3x1x8xf32>, tensor<2x2xf32>, tensor<2x2xf32>, tensor<1x2x16x8xf32>, tensor<1x2x16x8xf32>, index) -> (tensor<1x2x16x8xf32>, tensor<1x2x16x8xf32>, tensor<1x3x1x8xf32>, tensor<1x3x1x8xf32>)
  return
}

// -----

func.func @append_last_dim(%a0: tensor<1x2x3x8xf32>, %a1: tensor<1x2x3x8xf32>, %a2: tensor<1x2x1x4xf32>, %a3: tensor<1x2x1x4xf32>, %a4: tensor<2x2xf32>, %a5: tensor<2x2xf32>, %a6: tensor<1x2x16x8xf32>, %a7: tensor<1x2x16x8xf32>, %a8: index) {
  // expected-error @+1 {{'kvshift.kv_cache_append' op head_dim of 'k_last' (dim 3) must equal that of 'k_new' (dim 3): expected 8, found 4}}
  %r:4 = kvshift.kv_cache_append %a0, %a1 last(%a2, %a3) mix(%a4, %a5) into(%a6, %a7) at %a8 : (tensor<1x2x3x8xf32>, tensor<1x2x3x8xf32>, tensor<1x2x1x4xf32>, tensor<1x2x1x4xf32>, tensor<2x2xf32>, tensor<2x2xf32>, tensor<1x2x16x8xf32>, tensor<1x2x16x8xf32>, index) -> (tensor<1x2x16x8xf32>, tensor<1x2x16x8xf32>, tensor<1x2x1x4xf32>, tensor<1x2x1x4xf32>)
  return
}

// -----

func.func @append_last_two_rows(%a0: tensor<1x2x3x8xf32>, %a1: tensor<1x2x3x8xf32>, %a2: tensor<1x2x2x8xf32>, %a3: tensor<1x2x2x8xf32>, %a4: tensor<2x2xf32>, %a5: tensor<2x2xf32>, %a6: tensor<1x2x16x8xf32>, %a7: tensor<1x2x16x8xf32>, %a8: index) {
  // expected-error @+1 {{'kvshift.kv_cache_append' op operand 'k_last' must hold one row (dim 2 = 1: the raw row of the token before 'pos'), found 2}}
  %r:4 = kvshift.kv_cache_append %a0, %a1 last(%a2, %a3) mix(%a4, %a5) into(%a6, %a7) at %a8 : (tensor<1x2x3x8xf32>, tensor<1x2x3x8xf32>, tensor<1x2x2x8xf32>, tensor<1x2x2x8xf32>, tensor<2x2xf32>, tensor<2x2xf32>, tensor<1x2x16x8xf32>, tensor<1x2x16x8xf32>, index) -> (tensor<1x2x16x8xf32>, tensor<1x2x16x8xf32>, tensor<1x2x2x8xf32>, tensor<1x2x2x8xf32>)
  return
}

// -----

func.func @append_v_last_type(%a0: tensor<1x2x3x8xf32>, %a1: tensor<1x2x3x8xf32>, %a2: tensor<1x2x1x8xf32>, %a3: tensor<1x2x1x4xf32>, %a4: tensor<2x2xf32>, %a5: tensor<2x2xf32>, %a6: tensor<1x2x16x8xf32>, %a7: tensor<1x2x16x8xf32>, %a8: index) {
  // expected-error @+1 {{'kvshift.kv_cache_append' op operands 'k_last' and 'v_last' must have the same type, found 'tensor<1x2x1x8xf32>' and 'tensor<1x2x1x4xf32>'}}
  %r:4 = kvshift.kv_cache_append %a0, %a1 last(%a2, %a3) mix(%a4, %a5) into(%a6, %a7) at %a8 : (tensor<1x2x3x8xf32>, tensor<1x2x3x8xf32>, tensor<1x2x1x8xf32>, tensor<1x2x1x4xf32>, tensor<2x2xf32>, tensor<2x2xf32>, tensor<1x2x16x8xf32>, tensor<1x2x16x8xf32>, index) -> (tensor<1x2x16x8xf32>, tensor<1x2x16x8xf32>, tensor<1x2x1x8xf32>, tensor<1x2x1x4xf32>)
  return
}

// -----

func.func @append_kw_shape(%a0: tensor<1x2x3x8xf32>, %a1: tensor<1x2x3x8xf32>, %a2: tensor<1x2x1x8xf32>, %a3: tensor<1x2x1x8xf32>, %a4: tensor<3x2xf32>, %a5: tensor<3x2xf32>, %a6: tensor<1x2x16x8xf32>, %a7: tensor<1x2x16x8xf32>, %a8: index) {
  // expected-error @+1 {{'kvshift.kv_cache_append' op operand 'kw' must have shape [Hkv, 2] = [2, 2], found [3, 2]}}
  %r:4 = kvshift.kv_cache_append %a0, %a1 last(%a2, %a3) mix(%a4, %a5) into(%a6, %a7) at %a8 : (tensor<1x2x3x8xf32>, tensor<1x2x3x8xf32>, tensor<1x2x1x8xf32>, tensor<1x2x1x8xf32>, tensor<3x2xf32>, tensor<3x2xf32>, tensor<1x2x16x8xf32>, tensor<1x2x16x8xf32>, index) -> (tensor<1x2x16x8xf32>, tensor<1x2x16x8xf32>, tensor<1x2x1x8xf32>, tensor<1x2x1x8xf32>)
  return
}

// -----

func.func @append_vw_shape(%a0: tensor<1x2x3x8xf32>, %a1: tensor<1x2x3x8xf32>, %a2: tensor<1x2x1x8xf32>, %a3: tensor<1x2x1x8xf32>, %a4: tensor<2x2xf32>, %a5: tensor<2x3xf32>, %a6: tensor<1x2x16x8xf32>, %a7: tensor<1x2x16x8xf32>, %a8: index) {
  // expected-error @+1 {{'kvshift.kv_cache_append' op operand 'vw' must have shape [Hkv, 2] = [2, 2], found [2, 3]}}
  %r:4 = kvshift.kv_cache_append %a0, %a1 last(%a2, %a3) mix(%a4, %a5) into(%a6, %a7) at %a8 : (tensor<1x2x3x8xf32>, tensor<1x2x3x8xf32>, tensor<1x2x1x8xf32>, tensor<1x2x1x8xf32>, tensor<2x2xf32>, tensor<2x3xf32>, tensor<1x2x16x8xf32>, tensor<1x2x16x8xf32>, index) -> (tensor<1x2x16x8xf32>, tensor<1x2x16x8xf32>, tensor<1x2x1x8xf32>, tensor<1x2x1x8xf32>)
  return
}

// -----

func.func @append_cache_elt(%a0: tensor<1x2x3x8xf32>, %a1: tensor<1x2x3x8xf32>, %a2: tensor<1x2x1x8xf32>, %a3: tensor<1x2x1x8xf32>, %a4: tensor<2x2xf32>, %a5: tensor<2x2xf32>, %a6: tensor<1x2x16x8xbf16>, %a7: tensor<1x2x16x8xbf16>, %a8: index) {
  // expected-error @+1 {{'kvshift.kv_cache_append' op operand 'k_cache' must have the element type of 'k_new' ('f32'), found 'bf16'}}
  %r:4 = kvshift.kv_cache_append %a0, %a1 last(%a2, %a3) mix(%a4, %a5) into(%a6, %a7) at %a8 : (tensor<1x2x3x8xf32>, tensor<1x2x3x8xf32>, tensor<1x2x1x8xf32>, tensor<1x2x1x8xf32>, tensor<2x2xf32>, tensor<2x2xf32>, tensor<1x2x16x8xbf16>, tensor<1x2x16x8xbf16>, index) -> (tensor<1x2x16x8xbf16>, tensor<1x2x16x8xbf16>, tensor<1x2x1x8xf32>, tensor<1x2x1x8xf32>)
  return
}

// -----

func.func @append_cache_heads(%a0: tensor<1x2x3x8xf32>, %a1: tensor<1x2x3x8xf32>, %a2: tensor<1x2x1x8xf32>, %a3: tensor<1x2x1x8xf32>, %a4: tensor<2x2xf32>, %a5: tensor<2x2xf32>, %a6: tensor<1x4x16x8xf32>, %a7: tensor<1x4x16x8xf32>, %a8: index) {
  // expected-error @+1 {{'kvshift.kv_cache_append' op KV heads of 'k_cache' (dim 1) must equal that of 'k_new' (dim 1): expected 2, found 4}}
  %r:4 = kvshift.kv_cache_append %a0, %a1 last(%a2, %a3) mix(%a4, %a5) into(%a6, %a7) at %a8 : (tensor<1x2x3x8xf32>, tensor<1x2x3x8xf32>, tensor<1x2x1x8xf32>, tensor<1x2x1x8xf32>, tensor<2x2xf32>, tensor<2x2xf32>, tensor<1x4x16x8xf32>, tensor<1x4x16x8xf32>, index) -> (tensor<1x4x16x8xf32>, tensor<1x4x16x8xf32>, tensor<1x2x1x8xf32>, tensor<1x2x1x8xf32>)
  return
}

// -----

func.func @append_v_cache_type(%a0: tensor<1x2x3x8xf32>, %a1: tensor<1x2x3x8xf32>, %a2: tensor<1x2x1x8xf32>, %a3: tensor<1x2x1x8xf32>, %a4: tensor<2x2xf32>, %a5: tensor<2x2xf32>, %a6: tensor<1x2x16x8xf32>, %a7: tensor<1x2x17x8xf32>, %a8: index) {
  // expected-error @+1 {{'kvshift.kv_cache_append' op operands 'k_cache' and 'v_cache' must have the same type, found 'tensor<1x2x16x8xf32>' and 'tensor<1x2x17x8xf32>'}}
  %r:4 = kvshift.kv_cache_append %a0, %a1 last(%a2, %a3) mix(%a4, %a5) into(%a6, %a7) at %a8 : (tensor<1x2x3x8xf32>, tensor<1x2x3x8xf32>, tensor<1x2x1x8xf32>, tensor<1x2x1x8xf32>, tensor<2x2xf32>, tensor<2x2xf32>, tensor<1x2x16x8xf32>, tensor<1x2x17x8xf32>, index) -> (tensor<1x2x16x8xf32>, tensor<1x2x17x8xf32>, tensor<1x2x1x8xf32>, tensor<1x2x1x8xf32>)
  return
}

// -----

func.func @append_too_many_rows(%a0: tensor<1x2x20x8xf32>, %a1: tensor<1x2x20x8xf32>, %a2: tensor<1x2x1x8xf32>, %a3: tensor<1x2x1x8xf32>, %a4: tensor<2x2xf32>, %a5: tensor<2x2xf32>, %a6: tensor<1x2x16x8xf32>, %a7: tensor<1x2x16x8xf32>, %a8: index) {
  // expected-error @+1 {{'kvshift.kv_cache_append' op cannot append 20 rows (dim 2 of 'k_new') to a cache of 16 rows (dim 2 of 'k_cache')}}
  %r:4 = kvshift.kv_cache_append %a0, %a1 last(%a2, %a3) mix(%a4, %a5) into(%a6, %a7) at %a8 : (tensor<1x2x20x8xf32>, tensor<1x2x20x8xf32>, tensor<1x2x1x8xf32>, tensor<1x2x1x8xf32>, tensor<2x2xf32>, tensor<2x2xf32>, tensor<1x2x16x8xf32>, tensor<1x2x16x8xf32>, index) -> (tensor<1x2x16x8xf32>, tensor<1x2x16x8xf32>, tensor<1x2x1x8xf32>, tensor<1x2x1x8xf32>)
  return
}

// -----

func.func @append_rope_odd(%a0: tensor<1x2x3x7xf32>, %a1: tensor<1x2x3x7xf32>, %a2: tensor<1x2x1x7xf32>, %a3: tensor<1x2x1x7xf32>, %a4: tensor<2x2xf32>, %a5: tensor<2x2xf32>, %a6: tensor<1x2x16x7xf32>, %a7: tensor<1x2x16x7xf32>, %a8: index) {
  // expected-error @+1 {{'kvshift.kv_cache_append' op attribute 'rope_theta' requires an even head_dim (dim 3 of 'k_new'), found D = 7}}
  %r:4 = kvshift.kv_cache_append %a0, %a1 last(%a2, %a3) mix(%a4, %a5) into(%a6, %a7) at %a8 rope_theta = 1.0e4 : (tensor<1x2x3x7xf32>, tensor<1x2x3x7xf32>, tensor<1x2x1x7xf32>, tensor<1x2x1x7xf32>, tensor<2x2xf32>, tensor<2x2xf32>, tensor<1x2x16x7xf32>, tensor<1x2x16x7xf32>, index) -> (tensor<1x2x16x7xf32>, tensor<1x2x16x7xf32>, tensor<1x2x1x7xf32>, tensor<1x2x1x7xf32>)
  return
}

// -----

func.func @append_rope_negative(%a0: tensor<1x2x3x8xf32>, %a1: tensor<1x2x3x8xf32>, %a2: tensor<1x2x1x8xf32>, %a3: tensor<1x2x1x8xf32>, %a4: tensor<2x2xf32>, %a5: tensor<2x2xf32>, %a6: tensor<1x2x16x8xf32>, %a7: tensor<1x2x16x8xf32>, %a8: index) {
  // expected-error @+1 {{'kvshift.kv_cache_append' op attribute 'rope_theta' must be finite and > 0, found -1.000000e+00}}
  %r:4 = kvshift.kv_cache_append %a0, %a1 last(%a2, %a3) mix(%a4, %a5) into(%a6, %a7) at %a8 rope_theta = -1.0 : (tensor<1x2x3x8xf32>, tensor<1x2x3x8xf32>, tensor<1x2x1x8xf32>, tensor<1x2x1x8xf32>, tensor<2x2xf32>, tensor<2x2xf32>, tensor<1x2x16x8xf32>, tensor<1x2x16x8xf32>, index) -> (tensor<1x2x16x8xf32>, tensor<1x2x16x8xf32>, tensor<1x2x1x8xf32>, tensor<1x2x1x8xf32>)
  return
}

// -----

func.func @append_result_cache(%a0: tensor<1x2x3x8xf32>, %a1: tensor<1x2x3x8xf32>, %a2: tensor<1x2x1x8xf32>, %a3: tensor<1x2x1x8xf32>, %a4: tensor<2x2xf32>, %a5: tensor<2x2xf32>, %a6: tensor<1x2x16x8xf32>, %a7: tensor<1x2x16x8xf32>, %a8: index) {
  // expected-error @+1 {{'kvshift.kv_cache_append' op result 'new_k_cache' must have the shape of 'k_cache' [1, 2, 16, 8], found [1, 2, 17, 8]}}
  %r:4 = kvshift.kv_cache_append %a0, %a1 last(%a2, %a3) mix(%a4, %a5) into(%a6, %a7) at %a8 : (tensor<1x2x3x8xf32>, tensor<1x2x3x8xf32>, tensor<1x2x1x8xf32>, tensor<1x2x1x8xf32>, tensor<2x2xf32>, tensor<2x2xf32>, tensor<1x2x16x8xf32>, tensor<1x2x16x8xf32>, index) -> (tensor<1x2x17x8xf32>, tensor<1x2x16x8xf32>, tensor<1x2x1x8xf32>, tensor<1x2x1x8xf32>)
  return
}

// -----

func.func @append_result_last(%a0: tensor<1x2x3x8xf32>, %a1: tensor<1x2x3x8xf32>, %a2: tensor<1x2x1x8xf32>, %a3: tensor<1x2x1x8xf32>, %a4: tensor<2x2xf32>, %a5: tensor<2x2xf32>, %a6: tensor<1x2x16x8xf32>, %a7: tensor<1x2x16x8xf32>, %a8: index) {
  // expected-error @+1 {{'kvshift.kv_cache_append' op result 'new_k_last' must have the element type of 'k_last' ('f32'), found 'f16'}}
  %r:4 = kvshift.kv_cache_append %a0, %a1 last(%a2, %a3) mix(%a4, %a5) into(%a6, %a7) at %a8 : (tensor<1x2x3x8xf32>, tensor<1x2x3x8xf32>, tensor<1x2x1x8xf32>, tensor<1x2x1x8xf32>, tensor<2x2xf32>, tensor<2x2xf32>, tensor<1x2x16x8xf32>, tensor<1x2x16x8xf32>, index) -> (tensor<1x2x16x8xf32>, tensor<1x2x16x8xf32>, tensor<1x2x1x8xf16>, tensor<1x2x1x8xf32>)
  return
}

// -----

func.func @append_f64(%a0: tensor<1x2x3x8xf64>, %a1: tensor<1x2x3x8xf64>, %a2: tensor<1x2x1x8xf64>, %a3: tensor<1x2x1x8xf64>, %a4: tensor<2x2xf32>, %a5: tensor<2x2xf32>, %a6: tensor<1x2x16x8xf64>, %a7: tensor<1x2x16x8xf64>, %a8: index) {
  // expected-error @+1 {{'kvshift.kv_cache_append' op operand 'k_new' must have element type f32, f16 or bf16, found 'f64'}}
  %r:4 = kvshift.kv_cache_append %a0, %a1 last(%a2, %a3) mix(%a4, %a5) into(%a6, %a7) at %a8 : (tensor<1x2x3x8xf64>, tensor<1x2x3x8xf64>, tensor<1x2x1x8xf64>, tensor<1x2x1x8xf64>, tensor<2x2xf32>, tensor<2x2xf32>, tensor<1x2x16x8xf64>, tensor<1x2x16x8xf64>, index) -> (tensor<1x2x16x8xf64>, tensor<1x2x16x8xf64>, tensor<1x2x1x8xf64>, tensor<1x2x1x8xf64>)
  return
}

// -----

func.func @attn_q_rank3(%a0: tensor<4x1x8xf32>, %a1: tensor<1x2x16x8xf32>, %a2: tensor<1x2x16x8xf32>, %a3: index) {
  // expected-error @+1 {{'kvshift.kv_cache_attention' op operand 'q' must be a ranked tensor of rank 4 ([batch, heads, seq, head_dim]), found 'tensor<4x1x8xf32>'}}
  %r = kvshift.kv_cache_attention %a0, %a1, %a2 length %a3 : (tensor<4x1x8xf32>, tensor<1x2x16x8xf32>, tensor<1x2x16x8xf32>, index) -> tensor<4x1x8xf32>
  return
}

// -----

func.func @attn_q_head_dim_zero(%a0: tensor<1x4x1x0xf32>, %a1: tensor<1x2x16x0xf32>, %a2: tensor<1x2x16x0xf32>, %a3: index) {
  // expected-error @+1 {{'kvshift.kv_cache_attention' op operand 'q' must have a non-zero head_dim (dim 3), found 0}}
  %r = kvshift.kv_cache_attention %a0, %a1, %a2 length %a3 : (tensor<1x4x1x0xf32>, tensor<1x2x16x0xf32>, tensor<1x2x16x0xf32>, index) -> tensor<1x4x1x0xf32>
  return
}

// -----

func.func @attn_cache_elt(%a0: tensor<1x4x1x8xf32>, %a1: tensor<1x2x16x8xf16>, %a2: tensor<1x2x16x8xf16>, %a3: index) {
  // expected-error @+1 {{'kvshift.kv_cache_attention' op operand 'k_cache' must have the element type of 'q' ('f32'), found 'f16'}}
  %r = kvshift.kv_cache_attention %a0, %a1, %a2 length %a3 : (tensor<1x4x1x8xf32>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>, index) -> tensor<1x4x1x8xf32>
  return
}

// -----

func.func @attn_cache_batch(%a0: tensor<1x4x1x8xf32>, %a1: tensor<2x2x16x8xf32>, %a2: tensor<2x2x16x8xf32>, %a3: index) {
  // expected-error @+1 {{'kvshift.kv_cache_attention' op batch size of 'k_cache' (dim 0) must equal that of 'q' (dim 0): expected 1, found 2}}
  %r = kvshift.kv_cache_attention %a0, %a1, %a2 length %a3 : (tensor<1x4x1x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2x16x8xf32>, index) -> tensor<1x4x1x8xf32>
  return
}

// -----

func.func @attn_cache_dim(%a0: tensor<1x4x1x8xf32>, %a1: tensor<1x2x16x4xf32>, %a2: tensor<1x2x16x4xf32>, %a3: index) {
  // expected-error @+1 {{'kvshift.kv_cache_attention' op head_dim of 'k_cache' (dim 3) must equal that of 'q' (dim 3): expected 8, found 4}}
  %r = kvshift.kv_cache_attention %a0, %a1, %a2 length %a3 : (tensor<1x4x1x8xf32>, tensor<1x2x16x4xf32>, tensor<1x2x16x4xf32>, index) -> tensor<1x4x1x8xf32>
  return
}

// -----

func.func @attn_no_kv_heads(%a0: tensor<1x4x1x8xf32>, %a1: tensor<1x0x16x8xf32>, %a2: tensor<1x0x16x8xf32>, %a3: index) {
  // expected-error @+1 {{'kvshift.kv_cache_attention' op operand 'k_cache' must have at least one KV head (dim 1), found 0}}
  %r = kvshift.kv_cache_attention %a0, %a1, %a2 length %a3 : (tensor<1x4x1x8xf32>, tensor<1x0x16x8xf32>, tensor<1x0x16x8xf32>, index) -> tensor<1x4x1x8xf32>
  return
}

// -----

func.func @attn_heads_multiple(%a0: tensor<1x4x1x8xf32>, %a1: tensor<1x3x16x8xf32>, %a2: tensor<1x3x16x8xf32>, %a3: index) {
  // expected-error @+1 {{'kvshift.kv_cache_attention' op query heads (Hq = 4, dim 1 of 'q') must be a multiple of KV heads (Hkv = 3, dim 1 of 'k_cache')}}
  %r = kvshift.kv_cache_attention %a0, %a1, %a2 length %a3 : (tensor<1x4x1x8xf32>, tensor<1x3x16x8xf32>, tensor<1x3x16x8xf32>, index) -> tensor<1x4x1x8xf32>
  return
}

// -----

func.func @attn_v_cache_type(%a0: tensor<1x4x1x8xf32>, %a1: tensor<1x2x16x8xf32>, %a2: tensor<1x2x15x8xf32>, %a3: index) {
  // expected-error @+1 {{'kvshift.kv_cache_attention' op operands 'k_cache' and 'v_cache' must have the same type, found 'tensor<1x2x16x8xf32>' and 'tensor<1x2x15x8xf32>'}}
  %r = kvshift.kv_cache_attention %a0, %a1, %a2 length %a3 : (tensor<1x4x1x8xf32>, tensor<1x2x16x8xf32>, tensor<1x2x15x8xf32>, index) -> tensor<1x4x1x8xf32>
  return
}

// -----

func.func @attn_causal_too_many_queries(%a0: tensor<1x4x20x8xf32>, %a1: tensor<1x2x16x8xf32>, %a2: tensor<1x2x16x8xf32>, %a3: index) {
  // expected-error @+1 {{'kvshift.kv_cache_attention' op causal attention of 20 queries (dim 2 of 'q') needs at least as many valid cache rows, but the cache holds only 16 (dim 2 of 'k_cache')}}
  %r = kvshift.kv_cache_attention %a0, %a1, %a2 length %a3 causal : (tensor<1x4x20x8xf32>, tensor<1x2x16x8xf32>, tensor<1x2x16x8xf32>, index) -> tensor<1x4x20x8xf32>
  return
}

// -----

func.func @attn_rope_odd(%a0: tensor<1x4x1x7xf32>, %a1: tensor<1x2x16x7xf32>, %a2: tensor<1x2x16x7xf32>, %a3: index) {
  // expected-error @+1 {{'kvshift.kv_cache_attention' op attribute 'rope_theta' requires an even head_dim (dim 3 of 'q'), found D = 7}}
  %r = kvshift.kv_cache_attention %a0, %a1, %a2 length %a3 rope_theta = 1.0e4 : (tensor<1x4x1x7xf32>, tensor<1x2x16x7xf32>, tensor<1x2x16x7xf32>, index) -> tensor<1x4x1x7xf32>
  return
}

// -----

func.func @attn_scale_zero(%a0: tensor<1x4x1x8xf32>, %a1: tensor<1x2x16x8xf32>, %a2: tensor<1x2x16x8xf32>, %a3: index) {
  // expected-error @+1 {{'kvshift.kv_cache_attention' op attribute 'scale' must be finite and non-zero, found 0.000000e+00}}
  %r = kvshift.kv_cache_attention %a0, %a1, %a2 length %a3 scale = 0.0 : (tensor<1x4x1x8xf32>, tensor<1x2x16x8xf32>, tensor<1x2x16x8xf32>, index) -> tensor<1x4x1x8xf32>
  return
}

// -----

func.func @attn_rope_inf(%a0: tensor<1x4x1x8xf32>, %a1: tensor<1x2x16x8xf32>, %a2: tensor<1x2x16x8xf32>, %a3: index) {
  // expected-error @+1 {{'kvshift.kv_cache_attention' op attribute 'rope_theta' must be finite and > 0, found INF}}
  %r = kvshift.kv_cache_attention %a0, %a1, %a2 length %a3 rope_theta = 0x7F800000 : (tensor<1x4x1x8xf32>, tensor<1x2x16x8xf32>, tensor<1x2x16x8xf32>, index) -> tensor<1x4x1x8xf32>
  return
}

// -----

func.func @attn_out_type(%a0: tensor<1x4x1x8xf32>, %a1: tensor<1x2x16x8xf32>, %a2: tensor<1x2x16x8xf32>, %a3: index) {
  // expected-error @+1 {{'kvshift.kv_cache_attention' op result 'out' must have the shape of 'q' [1, 4, 1, 8], found [1, 4, 2, 8]}}
  %r = kvshift.kv_cache_attention %a0, %a1, %a2 length %a3 : (tensor<1x4x1x8xf32>, tensor<1x2x16x8xf32>, tensor<1x2x16x8xf32>, index) -> tensor<1x4x2x8xf32>
  return
}

// -----

// pos and length are index values (ODS type constraint).
func.func @append_pos_i64(%k: tensor<1x2x3x8xf32>, %kl: tensor<1x2x1x8xf32>, %w: tensor<2x2xf32>, %kc: tensor<1x2x16x8xf32>, %pos: i64) {
  // expected-error @+1 {{'kvshift.kv_cache_append' op operand #8 must be index, but got 'i64'}}
  %r:4 = "kvshift.kv_cache_append"(%k, %k, %kl, %kl, %w, %w, %kc, %kc, %pos) : (tensor<1x2x3x8xf32>, tensor<1x2x3x8xf32>, tensor<1x2x1x8xf32>, tensor<1x2x1x8xf32>, tensor<2x2xf32>, tensor<2x2xf32>, tensor<1x2x16x8xf32>, tensor<1x2x16x8xf32>, i64) -> (tensor<1x2x16x8xf32>, tensor<1x2x16x8xf32>, tensor<1x2x1x8xf32>, tensor<1x2x1x8xf32>)
  return
}

// -----

func.func @attn_length_i32(%q: tensor<1x4x1x8xf32>, %kc: tensor<1x2x16x8xf32>, %len: i32) {
  // expected-error @+1 {{'kvshift.kv_cache_attention' op operand #3 must be index, but got 'i32'}}
  %o = "kvshift.kv_cache_attention"(%q, %kc, %kc, %len) : (tensor<1x4x1x8xf32>, tensor<1x2x16x8xf32>, tensor<1x2x16x8xf32>, i32) -> tensor<1x4x1x8xf32>
  return
}
