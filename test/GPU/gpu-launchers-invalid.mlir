// RUN: kvshift-opt %s --verify-diagnostics --kvshift-gpu-launchers -o /dev/null


module attributes {gpu.container_module} {
  // expected-error @+1 {{kvshift-gpu-launchers: a launcher needs `kvshift.gpu_kernel` naming a gpu.func, `kvshift.gpu_block_m`, `kvshift.gpu_threads` and six identity-layout memref arguments}}
  func.func private @missing_kernel(memref<4xf32>, memref<4xf32>, memref<4xf32>, memref<2x2xf32>, memref<2x2xf32>, memref<4xf32>)
      attributes {kvshift.gpu_kernel = @kvshift_kernels::@nope, kvshift.gpu_block_m = 64 : i64, kvshift.gpu_threads = 128 : i64}
}
