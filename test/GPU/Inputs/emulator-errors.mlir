// Kernels with one bug each, for emulator-errors.test.
gpu.module @k {
  // Thread t writes out[t + 1]: the last thread stores past the end.
  gpu.func @oob(%out: memref<?xf32>) kernel {
    %t = gpu.thread_id x
    %c1 = arith.constant 1 : index
    %i = arith.addi %t, %c1 : index
    %x = arith.constant 1.0 : f32
    memref.store %x, %out[%i] : memref<?xf32>
    gpu.return
  }
  // Only the first half of the block reaches the barrier.
  gpu.func @divergent(%out: memref<?xf32>) kernel {
    %t = gpu.thread_id x
    %c32 = arith.constant 32 : index
    %lt = arith.cmpi ult, %t, %c32 : index
    scf.if %lt {
      gpu.barrier
    }
    gpu.return
  }
  // Thread t writes s[t] and reads s[t + 32] (another warp's) without a barrier.
  gpu.func @race(%out: memref<?xf32>) workgroup(%s: memref<64xf32, #gpu.address_space<workgroup>>) kernel {
    %t = gpu.thread_id x
    %c32 = arith.constant 32 : index
    %c64 = arith.constant 64 : index
    %x = arith.constant 2.0 : f32
    memref.store %x, %s[%t] : memref<64xf32, #gpu.address_space<workgroup>>
    %j0 = arith.addi %t, %c32 : index
    %j = arith.remui %j0, %c64 : index
    %y = memref.load %s[%j] : memref<64xf32, #gpu.address_space<workgroup>>
    memref.store %y, %out[%t] : memref<?xf32>
    gpu.return
  }
  // The same with the barrier: correct.
  gpu.func @norace(%out: memref<?xf32>) workgroup(%s: memref<64xf32, #gpu.address_space<workgroup>>) kernel {
    %t = gpu.thread_id x
    %c32 = arith.constant 32 : index
    %c64 = arith.constant 64 : index
    %tf = arith.index_cast %t : index to i32
    %x = arith.sitofp %tf : i32 to f32
    memref.store %x, %s[%t] : memref<64xf32, #gpu.address_space<workgroup>>
    gpu.barrier
    %j0 = arith.addi %t, %c32 : index
    %j = arith.remui %j0, %c64 : index
    %y = memref.load %s[%j] : memref<64xf32, #gpu.address_space<workgroup>>
    memref.store %y, %out[%t] : memref<?xf32>
    gpu.return
  }
}
