// RUN: kvshift-opt %s --verify-diagnostics --kvshift-fuse-attention-gpu="warps=16" -o /dev/null

// With 16 warps grad_kv takes 256 key rows a block: at D = 256 its staging
// tile and the q and dO tiles exceed the 163 KiB a block may use on sm_80
// (8 warps at D = 128, 52224 bytes, take dynamic shared memory:
// dynamic-shared-memory.mlir).
func.func @grad_warps8(%q: tensor<1x2x8x256xbf16>, %k: tensor<1x2x8x256xbf16>, %v: tensor<1x2x8x256xbf16>, %kw: tensor<2x2xf32>, %vw: tensor<2x2xf32>, %do: tensor<1x2x8x256xbf16>)
    -> (tensor<1x2x8x256xbf16>, tensor<1x2x8x256xbf16>, tensor<1x2x8x256xbf16>, tensor<2x2xf32>, tensor<2x2xf32>) {
  // expected-error @+1 {{kvshift-fuse-attention-gpu: the backward kernel grad_kv with D = 256 and warps = 16 needs 168960 bytes of shared memory, above the 166912 bytes a thread block may use on sm_80}}
  %dq, %dk, %dv, %dkw, %dvw = kvshift.kv_shift_attention_grad %q, %k, %v mix(%kw, %vw) dout(%do)
      : (tensor<1x2x8x256xbf16>, tensor<1x2x8x256xbf16>, tensor<1x2x8x256xbf16>, tensor<2x2xf32>, tensor<2x2xf32>, tensor<1x2x8x256xbf16>)
      -> (tensor<1x2x8x256xbf16>, tensor<1x2x8x256xbf16>, tensor<1x2x8x256xbf16>, tensor<2x2xf32>, tensor<2x2xf32>)
  return %dq, %dk, %dv, %dkw, %dvw : tensor<1x2x8x256xbf16>, tensor<1x2x8x256xbf16>, tensor<1x2x8x256xbf16>, tensor<2x2xf32>, tensor<2x2xf32>
}
