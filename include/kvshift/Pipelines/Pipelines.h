//===- Pipelines.h - kvshift named pass pipelines ---------------*- C++ -*-===//
#ifndef KVSHIFT_PIPELINES_PIPELINES_H
#define KVSHIFT_PIPELINES_PIPELINES_H

#include "mlir/Pass/PassManager.h"

namespace mlir::kvshift {

/// Name of the CPU pipeline kvshift-run uses when --pipeline is not given.
constexpr llvm::StringLiteral kDefaultCPUPipeline = "kvshift-to-llvm-cpu";

/// kvshift/linalg on tensors -> LLVM dialect, through the reference
/// decomposition (--kvshift-decompose), bufferization and scalar loops.
void buildKVShiftToLLVMCPUPipeline(OpPassManager &pm);

/// Registers the named pipelines with the global pass registry.
void registerKVShiftPipelines();

} // namespace mlir::kvshift

#endif // KVSHIFT_PIPELINES_PIPELINES_H
