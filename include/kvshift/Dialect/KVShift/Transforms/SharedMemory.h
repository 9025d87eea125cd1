//===- SharedMemory.h - shared memory of the GPU kernels --------*- C++ -*-===//
//
// A kernel's tiles are workgroup attributions of its gpu.func. Up to 48 KiB
// they lower to static `.shared` arrays; above that a block must take them
// from dynamic shared memory, which the launch sizes and the host opts into
// (cuFuncSetAttribute). kvshift-fuse-attention-gpu marks such kernels with
// kDynamicSharedMemoryAttr and kvshift-gpu-dynamic-shared-memory moves their
// attributions there.
//
//===----------------------------------------------------------------------===//
#ifndef KVSHIFT_DIALECT_KVSHIFT_TRANSFORMS_SHAREDMEMORY_H
#define KVSHIFT_DIALECT_KVSHIFT_TRANSFORMS_SHAREDMEMORY_H

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "llvm/ADT/SmallVector.h"
#include "llvm/ADT/StringRef.h"

namespace mlir::kvshift {

/// The shared memory a kernel may declare statically.
constexpr int64_t kStaticSharedBytes = 48 * 1024;

/// On a gpu.func: the bytes of dynamic shared memory its launches must give
/// (an i64), its workgroup attributions laid out by
/// layoutWorkgroupAttributions.
constexpr llvm::StringLiteral kDynamicSharedMemoryAttr =
    "kvshift.dynamic_shared_memory";

/// The most shared memory one thread block may use on `chip` (`sm_XY`,
/// optionally with an `a` or `f` suffix), static and dynamic together; for
/// a chip this table does not know, kStaticSharedBytes.
int64_t maxSharedBytesPerBlock(llvm::StringRef chip);

/// The byte offsets of `func`'s workgroup attributions placed one after the
/// other, each at its alignment (`llvm.align`, else 16 bytes); returns the
/// bytes they take. Attributions must have static shapes.
int64_t
layoutWorkgroupAttributions(gpu::GPUFuncOp func,
                            llvm::SmallVectorImpl<int64_t> *offsets = nullptr);

/// Sets kDynamicSharedMemoryAttr on `func` when its workgroup attributions
/// take more than kStaticSharedBytes.
void markDynamicSharedMemory(gpu::GPUFuncOp func);

} // namespace mlir::kvshift

#endif // KVSHIFT_DIALECT_KVSHIFT_TRANSFORMS_SHAREDMEMORY_H
