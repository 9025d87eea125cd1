// RUN: kvshift-opt %s --split-input-file --verify-diagnostics --kvshift-fuse-attention-gpu

func.func @dynamic_head_dim(%q: tensor<1x2x16x?xbf16>, %k: tensor<1x2x16x?xbf16>, %v: tensor<1x2x16x?xbf16>, %kw: tensor<2x2xf32>, %vw: tensor<2x2xf32>) -> tensor<1x2x16x?xbf16> {
  // expected-error @+1 {{kvshift-fuse-attention-gpu: the head dimension (dim 3 of q) must be static, found ?}}
  %o = kvshift.kv_shift_attention %q, %k, %v mix(%kw, %vw) scale = 0.125
      : (tensor<1x2x16x?xbf16>, tensor<1x2x16x?xbf16>, tensor<1x2x16x?xbf16>, tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<1x2x16x?xbf16>
  return %o : tensor<1x2x16x?xbf16>
}

// -----

func.func @head_dim_too_large(%q: tensor<1x2x16x256xbf16>, %k: tensor<1x2x16x256xbf16>, %v: tensor<1x2x16x256xbf16>, %kw: tensor<2x2xf32>, %vw: tensor<2x2xf32>) -> tensor<1x2x16x256xbf16> {
  // expected-error @+1 {{kvshift-fuse-attention-gpu: D = 256 with block-k = 64 and warps = 4 needs 67584 bytes of shared memory, above the 49152 bytes of static shared memory}}
  %o = kvshift.kv_shift_attention %q, %k, %v mix(%kw, %vw)
      : (tensor<1x2x16x256xbf16>, tensor<1x2x16x256xbf16>, tensor<1x2x16x256xbf16>, tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<1x2x16x256xbf16>
  return %o : tensor<1x2x16x256xbf16>
}

// -----

func.func @rope_head_dim(%q: tensor<1x2x16x72xbf16>, %k: tensor<1x2x16x72xbf16>, %v: tensor<1x2x16x72xbf16>, %kw: tensor<2x2xf32>, %vw: tensor<2x2xf32>) -> tensor<1x2x16x72xbf16> {
  // expected-error @+1 {{kvshift-fuse-attention-gpu: rope_theta needs the head dimension to be a multiple of 16 on the GPU (the rotation pairs 16-byte chunks of the two halves of a row), found D = 72}}
  %o = kvshift.kv_shift_attention %q, %k, %v mix(%kw, %vw) causal rope_theta = 10000.0
      : (tensor<1x2x16x72xbf16>, tensor<1x2x16x72xbf16>, tensor<1x2x16x72xbf16>, tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<1x2x16x72xbf16>
  return %o : tensor<1x2x16x72xbf16>
}
