// RUN: kvshift-opt %s --verify-diagnostics --kvshift-fuse-attention-gpu="warps=8" -o /dev/null

// With 8 warps grad_kv takes 128 key rows a block: its staging tile and the
// q and dO tiles no longer fit static shared memory at D = 128.
func.func @grad_warps8(%q: tensor<1x2x8x128xbf16>, %k: tensor<1x2x8x128xbf16>, %v: tensor<1x2x8x128xbf16>, %kw: tensor<2x2xf32>, %vw: tensor<2x2xf32>, %do: tensor<1x2x8x128xbf16>)
    -> (tensor<1x2x8x128xbf16>, tensor<1x2x8x128xbf16>, tensor<1x2x8x128xbf16>, tensor<2x2xf32>, tensor<2x2xf32>) {
  // expected-error @+1 {{kvshift-fuse-attention-gpu: the backward kernel grad_kv with D = 128 and warps = 8 needs 52224 bytes of shared memory, above the 49152 bytes of static shared memory}}
  %dq, %dk, %dv, %dkw, %dvw = kvshift.kv_shift_attention_grad %q, %k, %v mix(%kw, %vw) dout(%do)
      : (tensor<1x2x8x128xbf16>, tensor<1x2x8x128xbf16>, tensor<1x2x8x128xbf16>, tensor<2x2xf32>, tensor<2x2xf32>, tensor<1x2x8x128xbf16>)
      -> (tensor<1x2x8x128xbf16>, tensor<1x2x8x128xbf16>, tensor<1x2x8x128xbf16>, tensor<2x2xf32>, tensor<2x2xf32>)
  return %dq, %dk, %dv, %dkw, %dvw : tensor<1x2x8x128xbf16>, tensor<1x2x8x128xbf16>, tensor<1x2x8x128xbf16>, tensor<2x2xf32>, tensor<2x2xf32>
}
