// wgmma=true needs sm_90a and whole warpgroups (forward and backward), and wgmma-overlap=true
// needs wgmma=true; tiles above what a block may use on sm_90a (227 KiB)
// are refused as without it.
// RUN: not kvshift-opt %s --split-input-file --kvshift-fuse-attention-gpu="wgmma=true" 2>&1 | FileCheck %s --check-prefix=CHIP
// RUN: not kvshift-opt %s --split-input-file --kvshift-to-nvvm="chip=sm_80 wgmma=true" 2>&1 | FileCheck %s --check-prefix=CHIP
// RUN: not kvshift-opt %s --split-input-file --kvshift-fuse-attention-gpu="wgmma=true chip=sm_90a warps=6" 2>&1 | FileCheck %s --check-prefix=WARPS
// RUN: not kvshift-opt %s --split-input-file --kvshift-fuse-attention-gpu="wgmma-overlap=true chip=sm_90a" 2>&1 | FileCheck %s --check-prefix=OVERLAP
// RUN: kvshift-opt %s --split-input-file --verify-diagnostics --kvshift-fuse-attention-gpu="wgmma=true chip=sm_90a"

// CHIP: error: 'kvshift.kv_shift_attention' op kvshift-fuse-attention-gpu: wgmma=true needs chip = sm_90a (warpgroup MMAs), found chip = sm_80
// OVERLAP: error: 'kvshift.kv_shift_attention' op kvshift-fuse-attention-gpu: wgmma-overlap=true pipelines the warpgroup MMAs of wgmma=true, found wgmma=false
// WARPS: error: 'kvshift.kv_shift_attention' op kvshift-fuse-attention-gpu: wgmma=true needs warps to be a multiple of 4 (whole warpgroups of 64 query rows), found warps = 6
// The backward (grad_kv on warpgroup MMAs) checks the same.
// CHIP: error: 'kvshift.kv_shift_attention_grad' op kvshift-fuse-attention-gpu: wgmma=true needs chip = sm_90a (warpgroup MMAs), found chip = sm_80
// WARPS: error: 'kvshift.kv_shift_attention_grad' op kvshift-fuse-attention-gpu: wgmma=true needs warps to be a multiple of 4 (grad_kv: whole warpgroups of 64 key rows), found warps = 6
func.func @f(%q: tensor<1x2x16x64xbf16>, %k: tensor<1x2x16x64xbf16>, %v: tensor<1x2x16x64xbf16>, %kw: tensor<2x2xf32>, %vw: tensor<2x2xf32>) -> tensor<1x2x16x64xbf16> {
  %o = kvshift.kv_shift_attention %q, %k, %v mix(%kw, %vw) causal
      : (tensor<1x2x16x64xbf16>, tensor<1x2x16x64xbf16>, tensor<1x2x16x64xbf16>, tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<1x2x16x64xbf16>
  return %o : tensor<1x2x16x64xbf16>
}

// -----

// D = 1024 (above wgmma's 256, so mma.sync's padded tiles): 266256 bytes.
// D = 256 takes 65536 bytes of dynamic shared memory (dynamic-shared-memory.mlir).
func.func @d1024(%q: tensor<1x2x16x1024xbf16>, %k: tensor<1x2x16x1024xbf16>, %v: tensor<1x2x16x1024xbf16>, %kw: tensor<2x2xf32>, %vw: tensor<2x2xf32>) -> tensor<1x2x16x1024xbf16> {
  // expected-error @+1 {{kvshift-fuse-attention-gpu: D = 1024 with block-k = 64 and warps = 4 needs 266256 bytes of shared memory, above the 232448 bytes a thread block may use on sm_90a}}
  %o = kvshift.kv_shift_attention %q, %k, %v mix(%kw, %vw) causal
      : (tensor<1x2x16x1024xbf16>, tensor<1x2x16x1024xbf16>, tensor<1x2x16x1024xbf16>, tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<1x2x16x1024xbf16>
  return %o : tensor<1x2x16x1024xbf16>
}

// -----

func.func @grad(%q: tensor<1x2x16x64xbf16>, %k: tensor<1x2x16x64xbf16>, %v: tensor<1x2x16x64xbf16>, %kw: tensor<2x2xf32>, %vw: tensor<2x2xf32>, %do: tensor<1x2x16x64xbf16>) -> (tensor<1x2x16x64xbf16>, tensor<1x2x16x64xbf16>, tensor<1x2x16x64xbf16>, tensor<2x2xf32>, tensor<2x2xf32>) {
  %dq, %dk, %dv, %dkw, %dvw = kvshift.kv_shift_attention_grad %q, %k, %v mix(%kw, %vw) dout(%do) causal
      : (tensor<1x2x16x64xbf16>, tensor<1x2x16x64xbf16>, tensor<1x2x16x64xbf16>, tensor<2x2xf32>, tensor<2x2xf32>, tensor<1x2x16x64xbf16>) -> (tensor<1x2x16x64xbf16>, tensor<1x2x16x64xbf16>, tensor<1x2x16x64xbf16>, tensor<2x2xf32>, tensor<2x2xf32>)
  return %dq, %dk, %dv, %dkw, %dvw : tensor<1x2x16x64xbf16>, tensor<1x2x16x64xbf16>, tensor<1x2x16x64xbf16>, tensor<2x2xf32>, tensor<2x2xf32>
}
