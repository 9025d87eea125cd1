//===- Pipelines.h - kvshift named pass pipelines ---------------*- C++ -*-===//
#ifndef KVSHIFT_PIPELINES_PIPELINES_H
#define KVSHIFT_PIPELINES_PIPELINES_H

#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassOptions.h"

namespace mlir::kvshift {

/// Name of the reference CPU pipeline.
constexpr llvm::StringLiteral kReferenceCPUPipeline = "kvshift-to-llvm-cpu";

/// kvshift/linalg on tensors -> LLVM dialect, through the reference
/// decomposition (--kvshift-decompose), bufferization and scalar loops.
void buildKVShiftToLLVMCPUPipeline(OpPassManager &pm);

/// Name of the fused CPU pipeline, the one kvshift-run uses when --pipeline
/// is not given.
constexpr llvm::StringLiteral kFusedCPUPipeline = "kvshift-to-llvm-cpu-fused";

/// Options of kvshift-to-llvm-cpu-fused.
struct FusedCPUPipelineOptions
    : public PassPipelineOptions<FusedCPUPipelineOptions> {
  Option<int64_t> blockRows{
      *this, "block-rows",
      llvm::cl::desc("Query rows per work item, summed over the query heads "
                     "of a KV-head group"),
      llvm::cl::init(64)};
  Option<int64_t> blockK{*this, "block-k",
                         llvm::cl::desc("Keys per key tile (multiple of 4)"),
                         llvm::cl::init(64)};
};

/// kvshift/linalg on tensors -> LLVM dialect with kv_shift_attention lowered
/// by --kvshift-fuse-attention and scf.parallel loops run by OpenMP.
void buildKVShiftToLLVMCPUFusedPipeline(OpPassManager &pm,
                                        const FusedCPUPipelineOptions &options);

/// Registers the named pipelines with the global pass registry.
void registerKVShiftPipelines();

} // namespace mlir::kvshift

#endif // KVSHIFT_PIPELINES_PIPELINES_H
