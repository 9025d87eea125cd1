// RUN: kvshift-opt %s --split-input-file --verify-diagnostics --kvshift-fuse-attention-gpu="append-kernel=true"

func.func @dynamic_head_dim(%q: tensor<1x2x16x?xbf16>, %k: tensor<1x2x16x?xbf16>, %v: tensor<1x2x16x?xbf16>, %kw: tensor<2x2xf32>, %vw: tensor<2x2xf32>) -> tensor<1x2x16x?xbf16> {
  // expected-error @+1 {{kvshift-fuse-attention-gpu: the head dimension (dim 3 of q) must be static, found ?}}
  %o = kvshift.kv_shift_attention %q, %k, %v mix(%kw, %vw) scale = 0.125
      : (tensor<1x2x16x?xbf16>, tensor<1x2x16x?xbf16>, tensor<1x2x16x?xbf16>, tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<1x2x16x?xbf16>
  return %o : tensor<1x2x16x?xbf16>
}

// -----

// Tiles above 48 KiB take dynamic shared memory, up to what a block may
// use on the chip (163 KiB on sm_80).
func.func @tiles_too_large(%q: tensor<1x2x16x1024xbf16>, %k: tensor<1x2x16x1024xbf16>, %v: tensor<1x2x16x1024xbf16>, %kw: tensor<2x2xf32>, %vw: tensor<2x2xf32>) -> tensor<1x2x16x1024xbf16> {
  // expected-error @+1 {{kvshift-fuse-attention-gpu: D = 1024 with block-k = 64 and warps = 4 needs 266256 bytes of shared memory, above the 166912 bytes a thread block may use on sm_80}}
  %o = kvshift.kv_shift_attention %q, %k, %v mix(%kw, %vw)
      : (tensor<1x2x16x1024xbf16>, tensor<1x2x16x1024xbf16>, tensor<1x2x16x1024xbf16>, tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<1x2x16x1024xbf16>
  return %o : tensor<1x2x16x1024xbf16>
}

// -----

func.func @rope_head_dim(%q: tensor<1x2x16x72xbf16>, %k: tensor<1x2x16x72xbf16>, %v: tensor<1x2x16x72xbf16>, %kw: tensor<2x2xf32>, %vw: tensor<2x2xf32>) -> tensor<1x2x16x72xbf16> {
  // expected-error @+1 {{kvshift-fuse-attention-gpu: rope_theta needs the head dimension to be a multiple of 16 on the GPU (the rotation pairs 16-byte chunks of the two halves of a row), found D = 72}}
  %o = kvshift.kv_shift_attention %q, %k, %v mix(%kw, %vw) causal rope_theta = 10000.0
      : (tensor<1x2x16x72xbf16>, tensor<1x2x16x72xbf16>, tensor<1x2x16x72xbf16>, tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<1x2x16x72xbf16>
  return %o : tensor<1x2x16x72xbf16>
}

// -----

func.func @decode_head_dim_not_chunked(%q: tensor<1x2x1x20xbf16>, %kc: tensor<1x2x8x20xbf16>, %vc: tensor<1x2x8x20xbf16>, %len: index) -> tensor<1x2x1x20xbf16> {
  // expected-error @+1 {{kvshift-fuse-attention-gpu: the decode kernel reads cache rows as 16-byte chunks: D must be a multiple of 8 for 'bf16', found D = 20}}
  %o = kvshift.kv_cache_attention %q, %kc, %vc length %len
      : (tensor<1x2x1x20xbf16>, tensor<1x2x8x20xbf16>, tensor<1x2x8x20xbf16>, index) -> tensor<1x2x1x20xbf16>
  return %o : tensor<1x2x1x20xbf16>
}

// -----

func.func @decode_head_dim_too_large(%q: tensor<1x2x1x256xf32>, %kc: tensor<1x2x8x256xf32>, %vc: tensor<1x2x8x256xf32>, %len: index) -> tensor<1x2x1x256xf32> {
  // expected-error @+1 {{kvshift-fuse-attention-gpu: the decode kernel reads a cache row with at most 32 lanes of 16 bytes: D must be at most 128 for 'f32', found D = 256}}
  %o = kvshift.kv_cache_attention %q, %kc, %vc length %len
      : (tensor<1x2x1x256xf32>, tensor<1x2x8x256xf32>, tensor<1x2x8x256xf32>, index) -> tensor<1x2x1x256xf32>
  return %o : tensor<1x2x1x256xf32>
}

// -----

func.func @decode_rope_head_dim(%q: tensor<1x2x1x40xf16>, %kc: tensor<1x2x8x40xf16>, %vc: tensor<1x2x8x40xf16>, %len: index) -> tensor<1x2x1x40xf16> {
  // expected-error @+1 {{kvshift-fuse-attention-gpu: rope_theta needs the head dimension to be a multiple of 16 on the GPU, found D = 40}}
  %o = kvshift.kv_cache_attention %q, %kc, %vc length %len rope_theta = 10000.0
      : (tensor<1x2x1x40xf16>, tensor<1x2x8x40xf16>, tensor<1x2x8x40xf16>, index) -> tensor<1x2x1x40xf16>
  return %o : tensor<1x2x1x40xf16>
}

// -----

func.func @decode_dynamic_head_dim(%q: tensor<1x2x1x?xf16>, %kc: tensor<1x2x8x?xf16>, %vc: tensor<1x2x8x?xf16>, %len: index) -> tensor<1x2x1x?xf16> {
  // expected-error @+1 {{kvshift-fuse-attention-gpu: the head dimension (dim 3 of q) must be static, found ?}}
  %o = kvshift.kv_cache_attention %q, %kc, %vc length %len
      : (tensor<1x2x1x?xf16>, tensor<1x2x8x?xf16>, tensor<1x2x8x?xf16>, index) -> tensor<1x2x1x?xf16>
  return %o : tensor<1x2x1x?xf16>
}

// -----

func.func @grad_dynamic_head_dim(%q: tensor<1x2x8x?xf32>, %k: tensor<1x2x8x?xf32>, %v: tensor<1x2x8x?xf32>, %kw: tensor<2x2xf32>, %vw: tensor<2x2xf32>, %do: tensor<1x2x8x?xf32>)
    -> (tensor<1x2x8x?xf32>, tensor<1x2x8x?xf32>, tensor<1x2x8x?xf32>, tensor<2x2xf32>, tensor<2x2xf32>) {
  // expected-error @+1 {{kvshift-fuse-attention-gpu: the head dimension (dim 3 of q) must be static, found ?}}
  %dq, %dk, %dv, %dkw, %dvw = kvshift.kv_shift_attention_grad %q, %k, %v mix(%kw, %vw) dout(%do)
      : (tensor<1x2x8x?xf32>, tensor<1x2x8x?xf32>, tensor<1x2x8x?xf32>, tensor<2x2xf32>, tensor<2x2xf32>, tensor<1x2x8x?xf32>)
      -> (tensor<1x2x8x?xf32>, tensor<1x2x8x?xf32>, tensor<1x2x8x?xf32>, tensor<2x2xf32>, tensor<2x2xf32>)
  return %dq, %dk, %dv, %dkw, %dvw : tensor<1x2x8x?xf32>, tensor<1x2x8x?xf32>, tensor<1x2x8x?xf32>, tensor<2x2xf32>, tensor<2x2xf32>
}

// -----

func.func @grad_rope(%q: tensor<1x2x8x16xf32>, %k: tensor<1x2x8x16xf32>, %v: tensor<1x2x8x16xf32>, %kw: tensor<2x2xf32>, %vw: tensor<2x2xf32>, %do: tensor<1x2x8x16xf32>)
    -> (tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>, tensor<2x2xf32>, tensor<2x2xf32>) {
  // expected-error @+1 {{kvshift-fuse-attention-gpu: rope_theta on kv_shift_attention_grad needs the head dimension to be a multiple of 64 on the GPU for 'f32', found D = 16}}
  %dq, %dk, %dv, %dkw, %dvw = kvshift.kv_shift_attention_grad %q, %k, %v mix(%kw, %vw) dout(%do) rope_theta = 10000.0
      : (tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>, tensor<2x2xf32>, tensor<2x2xf32>, tensor<1x2x8x16xf32>)
      -> (tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>, tensor<2x2xf32>, tensor<2x2xf32>)
  return %dq, %dk, %dv, %dkw, %dvw : tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>, tensor<2x2xf32>, tensor<2x2xf32>
}

// -----

func.func @grad_tiles_too_large(%q: tensor<1x2x8x1024xbf16>, %k: tensor<1x2x8x1024xbf16>, %v: tensor<1x2x8x1024xbf16>, %kw: tensor<2x2xf32>, %vw: tensor<2x2xf32>, %do: tensor<1x2x8x1024xbf16>)
    -> (tensor<1x2x8x1024xbf16>, tensor<1x2x8x1024xbf16>, tensor<1x2x8x1024xbf16>, tensor<2x2xf32>, tensor<2x2xf32>) {
  // expected-error @+1 {{kvshift-fuse-attention-gpu: the backward kernel grad_q with D = 1024, block-k = 64 and warps = 4 needs 266256 bytes of shared memory, above the 166912 bytes a thread block may use on sm_80}}
  %dq, %dk, %dv, %dkw, %dvw = kvshift.kv_shift_attention_grad %q, %k, %v mix(%kw, %vw) dout(%do)
      : (tensor<1x2x8x1024xbf16>, tensor<1x2x8x1024xbf16>, tensor<1x2x8x1024xbf16>, tensor<2x2xf32>, tensor<2x2xf32>, tensor<1x2x8x1024xbf16>)
      -> (tensor<1x2x8x1024xbf16>, tensor<1x2x8x1024xbf16>, tensor<1x2x8x1024xbf16>, tensor<2x2xf32>, tensor<2x2xf32>)
  return %dq, %dk, %dv, %dkw, %dvw : tensor<1x2x8x1024xbf16>, tensor<1x2x8x1024xbf16>, tensor<1x2x8x1024xbf16>, tensor<2x2xf32>, tensor<2x2xf32>
}

// -----

func.func @append_dynamic_d(%k: tensor<1x2x1x?xf32>, %v: tensor<1x2x1x?xf32>, %kl: tensor<1x2x1x?xf32>, %vl: tensor<1x2x1x?xf32>, %kw: tensor<2x2xf32>, %vw: tensor<2x2xf32>, %kc: tensor<1x2x16x?xf32>, %vc: tensor<1x2x16x?xf32>, %pos: index)
    -> (tensor<1x2x16x?xf32>, tensor<1x2x16x?xf32>, tensor<1x2x1x?xf32>, tensor<1x2x1x?xf32>) {
  // expected-error @+1 {{kvshift-fuse-attention-gpu: the head dimension (dim 3 of k_new) must be static, found ?}}
  %kc1, %vc1, %kl1, %vl1 = kvshift.kv_cache_append %k, %v last(%kl, %vl) mix(%kw, %vw) into(%kc, %vc) at %pos
      : (tensor<1x2x1x?xf32>, tensor<1x2x1x?xf32>, tensor<1x2x1x?xf32>, tensor<1x2x1x?xf32>, tensor<2x2xf32>, tensor<2x2xf32>, tensor<1x2x16x?xf32>, tensor<1x2x16x?xf32>, index)
      -> (tensor<1x2x16x?xf32>, tensor<1x2x16x?xf32>, tensor<1x2x1x?xf32>, tensor<1x2x1x?xf32>)
  return %kc1, %vc1, %kl1, %vl1 : tensor<1x2x16x?xf32>, tensor<1x2x16x?xf32>, tensor<1x2x1x?xf32>, tensor<1x2x1x?xf32>
}
