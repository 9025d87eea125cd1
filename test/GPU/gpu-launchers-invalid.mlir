// RUN: kvshift-opt %s --split-input-file --verify-diagnostics --kvshift-gpu-launchers -o /dev/null


module attributes {gpu.container_module} {
  // expected-error @+1 {{kvshift-gpu-launchers: a launcher needs `kvshift.gpu_kernel` naming a gpu.func, `kvshift.gpu_block_m`, `kvshift.gpu_threads` and six identity-layout memref arguments}}
  func.func private @missing_kernel(memref<4xf32>, memref<4xf32>, memref<4xf32>, memref<2x2xf32>, memref<2x2xf32>, memref<4xf32>)
      attributes {kvshift.gpu_kernel = @kvshift_kernels::@nope, kvshift.gpu_block_m = 64 : i64, kvshift.gpu_threads = 128 : i64}
}

// -----

module attributes {gpu.container_module} {
  // expected-error @+1 {{kvshift-gpu-launchers: `kvshift.gpu_rope_kernel` needs to name a gpu.func, with a positive `kvshift.gpu_rope_items_per_row` and a static head dimension}}
  func.func private @rope_without_items(memref<1x2x4x64xf32>, memref<1x2x4x64xf32>, memref<1x2x4x64xf32>, memref<2x2xf32>, memref<2x2xf32>, memref<1x2x4x64xf32>)
      attributes {kvshift.gpu_kernel = @kvshift_kernels::@k, kvshift.gpu_block_m = 64 : i64, kvshift.gpu_threads = 128 : i64,
                  kvshift.gpu_rope_kernel = @kvshift_kernels::@k}
  gpu.module @kvshift_kernels {
    gpu.func @k(%q: memref<?xf32>, %k: memref<?xf32>, %v: memref<?xf32>, %kw: memref<?xf32>, %vw: memref<?xf32>, %o: memref<?xf32>, %b: index, %hq: index, %sq: index, %hkv: index, %sk: index) kernel {
      gpu.return
    }
  }
}

// -----

module attributes {gpu.container_module} {
  // expected-error @+1 {{kvshift-gpu-launchers: a decode launcher needs `kvshift.gpu_decode_kernel` and `kvshift.gpu_merge_kernel` naming gpu.funcs, `kvshift.gpu_decode_split`, `kvshift.gpu_decode_rows`, `kvshift.gpu_threads` and the arguments (q, k_cache, v_cache: identity-layout rank-4 memrefs with a static head dimension, length: index, out)}}
  func.func private @decode_without_merge(memref<1x2x1x64xf32>, memref<1x2x8x64xf32>, memref<1x2x8x64xf32>, index, memref<1x2x1x64xf32>)
      attributes {kvshift.gpu_decode_kernel = @kvshift_kernels::@d, kvshift.gpu_decode_split = 512 : i64,
                  kvshift.gpu_decode_rows = 4 : i64, kvshift.gpu_threads = 128 : i64}
  gpu.module @kvshift_kernels {
    gpu.func @d(%q: memref<?xf32>) kernel {
      gpu.return
    }
  }
}

// -----

module attributes {gpu.container_module} {
  // expected-error @+1 {{kvshift-gpu-launchers: a gradient launcher needs `kvshift.gpu_grad_kernels` naming four gpu.funcs, positive `kvshift.gpu_grad_q_rows` and `kvshift.gpu_grad_kv_rows`, `kvshift.gpu_threads` (at least 32) and eleven identity-layout memref arguments (q, k, v, kw, vw, dout, dq, dk, dv, dkw, dvw; q of rank 4 with a static head dimension)}}
  func.func private @grad_three_kernels(memref<1x2x4x64xf32>, memref<1x2x4x64xf32>, memref<1x2x4x64xf32>, memref<2x2xf32>, memref<2x2xf32>, memref<1x2x4x64xf32>,
                                        memref<1x2x4x64xf32>, memref<1x2x4x64xf32>, memref<1x2x4x64xf32>, memref<2x2xf32>, memref<2x2xf32>)
      attributes {kvshift.gpu_grad_kernels = [@kvshift_kernels::@k, @kvshift_kernels::@k, @kvshift_kernels::@k],
                  kvshift.gpu_grad_q_rows = 4 : i64, kvshift.gpu_grad_kv_rows = 4 : i64, kvshift.gpu_threads = 128 : i64}
  gpu.module @kvshift_kernels {
    gpu.func @k() kernel {
      gpu.return
    }
  }
}

// -----

module attributes {gpu.container_module} {
  // expected-error @+1 {{kvshift-gpu-launchers: `kvshift.gpu_rope_kernel` needs to name a gpu.func, with a positive `kvshift.gpu_rope_items_per_row`}}
  func.func private @grad_rope_without_items(memref<1x2x4x64xf32>, memref<1x2x4x64xf32>, memref<1x2x4x64xf32>, memref<2x2xf32>, memref<2x2xf32>, memref<1x2x4x64xf32>,
                                             memref<1x2x4x64xf32>, memref<1x2x4x64xf32>, memref<1x2x4x64xf32>, memref<2x2xf32>, memref<2x2xf32>)
      attributes {kvshift.gpu_grad_kernels = [@kvshift_kernels::@k, @kvshift_kernels::@k, @kvshift_kernels::@k, @kvshift_kernels::@k],
                  kvshift.gpu_grad_q_rows = 4 : i64, kvshift.gpu_grad_kv_rows = 4 : i64, kvshift.gpu_threads = 128 : i64,
                  kvshift.gpu_rope_kernel = @kvshift_kernels::@k}
  gpu.module @kvshift_kernels {
    gpu.func @k() kernel {
      gpu.return
    }
  }
}

// -----

module attributes {gpu.container_module} {
  // expected-error @+1 {{kvshift-gpu-launchers: `kvshift.gpu_grad_stats_kernel` needs to name a gpu.func}}
  func.func private @grad_stats_not_a_kernel(memref<1x2x4x64xf32>, memref<1x2x4x64xf32>, memref<1x2x4x64xf32>, memref<2x2xf32>, memref<2x2xf32>, memref<1x2x4x64xf32>,
                                             memref<1x2x4x64xf32>, memref<1x2x4xf32>,
                                             memref<1x2x4x64xf32>, memref<1x2x4x64xf32>, memref<1x2x4x64xf32>, memref<2x2xf32>, memref<2x2xf32>)
      attributes {kvshift.gpu_grad_kernels = [@kvshift_kernels::@k, @kvshift_kernels::@k, @kvshift_kernels::@k, @kvshift_kernels::@k],
                  kvshift.gpu_grad_q_rows = 4 : i64, kvshift.gpu_grad_kv_rows = 4 : i64, kvshift.gpu_threads = 128 : i64,
                  kvshift.gpu_grad_stats_kernel = @kvshift_kernels::@missing}
  gpu.module @kvshift_kernels {
    gpu.func @k() kernel {
      gpu.return
    }
  }
}

// -----

module attributes {gpu.container_module} {
  // A stats kernel makes it a launcher of the gradient given the forward's
  // statistics: thirteen arguments, not eleven.
  // expected-error @+1 {{kvshift-gpu-launchers: a gradient launcher needs `kvshift.gpu_grad_kernels` naming four gpu.funcs, positive `kvshift.gpu_grad_q_rows` and `kvshift.gpu_grad_kv_rows`, `kvshift.gpu_threads` (at least 32) and thirteen identity-layout memref arguments (q, k, v, kw, vw, dout, fwd_out, lse, dq, dk, dv, dkw, dvw; q of rank 4 with a static head dimension)}}
  func.func private @grad_stats_eleven_args(memref<1x2x4x64xf32>, memref<1x2x4x64xf32>, memref<1x2x4x64xf32>, memref<2x2xf32>, memref<2x2xf32>, memref<1x2x4x64xf32>,
                                            memref<1x2x4x64xf32>, memref<1x2x4x64xf32>, memref<1x2x4x64xf32>, memref<2x2xf32>, memref<2x2xf32>)
      attributes {kvshift.gpu_grad_kernels = [@kvshift_kernels::@k, @kvshift_kernels::@k, @kvshift_kernels::@k, @kvshift_kernels::@k],
                  kvshift.gpu_grad_q_rows = 4 : i64, kvshift.gpu_grad_kv_rows = 4 : i64, kvshift.gpu_threads = 128 : i64,
                  kvshift.gpu_grad_stats_kernel = @kvshift_kernels::@k}
  gpu.module @kvshift_kernels {
    gpu.func @k() kernel {
      gpu.return
    }
  }
}

// -----

module attributes {gpu.container_module} {
  // expected-error @+1 {{kvshift-gpu-launchers: an append launcher needs `kvshift.gpu_append_kernel` naming a gpu.func, `kvshift.gpu_threads` and `kvshift.gpu_append_items_per_row` (positive) and the arguments (k_new, v_new, k_last, v_last: identity-layout rank-4 memrefs with a static head dimension, kw, vw: rank 2, k_cache, v_cache: rank 4, pos: index, then the four results)}}
  func.func private @append_without_items(memref<1x2x1x64xf32>, memref<1x2x1x64xf32>, memref<1x2x1x64xf32>, memref<1x2x1x64xf32>, memref<2x2xf32>, memref<2x2xf32>, memref<1x2x8x64xf32>, memref<1x2x8x64xf32>, index, memref<1x2x8x64xf32>, memref<1x2x8x64xf32>, memref<1x2x1x64xf32>, memref<1x2x1x64xf32>)
      attributes {kvshift.gpu_append_kernel = @kvshift_kernels::@a, kvshift.gpu_threads = 128 : i64}
  gpu.module @kvshift_kernels {
    gpu.func @a(%x: memref<?xf32>) kernel {
      gpu.return
    }
  }
}
