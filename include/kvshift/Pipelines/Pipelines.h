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
  Option<bool> vectorizeContractions{
      *this, "vectorize-contractions",
      llvm::cl::desc("Lower matmuls and other f32 contractions to vectorised "
                     "micro-kernels (kvshift-vectorize-contractions); false "
                     "leaves them to scalar loops"),
      llvm::cl::init(true)};
  Option<bool> vectorizeElementwise{
      *this, "vectorize-elementwise",
      llvm::cl::desc("Lower elementwise linalg.generic ops to loops over "
                     "16-lane vectors (kvshift-vectorize-elementwise); false "
                     "leaves them to scalar loops"),
      llvm::cl::init(true)};
  Option<int64_t> contractionMinParallelWork{
      *this, "contraction-min-parallel-work",
      llvm::cl::desc("Multiply-adds from which a vectorised contraction's "
                     "tile loop runs in parallel (kvshift-vectorize-"
                     "contractions' min-parallel-work)"),
      llvm::cl::init(-1)};
};

/// kvshift/linalg on tensors -> LLVM dialect with kv_shift_attention lowered
/// by --kvshift-fuse-attention and scf.parallel loops run by OpenMP.
void buildKVShiftToLLVMCPUFusedPipeline(OpPassManager &pm,
                                        const FusedCPUPipelineOptions &options);

/// Name of the NVIDIA GPU pipeline.
constexpr llvm::StringLiteral kNVVMPipeline = "kvshift-to-nvvm";

/// Options of kvshift-to-nvvm.
struct NVVMPipelineOptions : public PassPipelineOptions<NVVMPipelineOptions> {
  Option<std::string> chip{*this, "chip",
                           llvm::cl::desc("Target SM (sm_80, sm_90a, ...)"),
                           llvm::cl::init("sm_80")};
  Option<std::string> features{
      *this, "features",
      llvm::cl::desc("PTX features (+ptx80 is needed for sm_90a)"),
      llvm::cl::init("+ptx80")};
  Option<std::string> format{
      *this, "format",
      llvm::cl::desc("Kernel binary format: isa (PTX, JIT-compiled by the "
                     "driver at load; needs no toolkit), bin (cubin, runs "
                     "ptxas), fatbin (runs ptxas and fatbinary)"),
      llvm::cl::init("isa")};
  Option<int64_t> warps{*this, "warps",
                        llvm::cl::desc("Warps per thread block"),
                        llvm::cl::init(4)};
  Option<int64_t> blockK{
      *this, "block-k",
      llvm::cl::desc("Keys per key tile on tensor cores (multiple of 16)"),
      llvm::cl::init(64)};
  Option<int64_t> simtBlockK{*this, "simt-block-k",
                             llvm::cl::desc("Keys per key tile, f32 path"),
                             llvm::cl::init(16)};
  Option<int64_t> minBlocksPerSM{
      *this, "min-blocks-per-sm",
      llvm::cl::desc("Attention kernels: thread blocks per SM that ptxas "
                     "must fit (0: no bound)"),
      llvm::cl::init(0)};
  Option<int64_t> decodeSplit{
      *this, "decode-split",
      llvm::cl::desc("kv_cache_attention: cache rows per thread block"),
      llvm::cl::init(512)};
  Option<int64_t> decodeRows{
      *this, "decode-rows",
      llvm::cl::desc("kv_cache_attention: query rows per thread block"),
      llvm::cl::init(4)};
  Option<bool> decodePrefetch{
      *this, "decode-prefetch",
      llvm::cl::desc("kv_cache_attention: load the next step's keys and "
                     "values before computing with the current ones"),
      llvm::cl::init(true)};
  Option<bool> shiftedValues{
      *this, "shifted-values",
      llvm::cl::desc("Forward on tensor cores: value windows [j0 - 1, j0 + "
                     "BN - 1) with the value mix on P, no per-tile halo row"),
      llvm::cl::init(false)};
  Option<bool> lazyRescale{
      *this, "lazy-rescale",
      llvm::cl::desc("Forward on tensor cores: rescale O only when a row "
                     "max grows by more than 8 (log2 units)"),
      llvm::cl::init(false)};
  Option<bool> appendKernel{
      *this, "append-kernel",
      llvm::cl::desc("kv_cache_append: a GPU kernel and launcher (copies "
                     "the caches to the device and back) instead of the "
                     "host's append"),
      llvm::cl::init(false)};
  Option<bool> decodeMma{
      *this, "decode-mma",
      llvm::cl::desc("kv_cache_attention, f16/bf16: the tensor-core decode "
                     "kernel (mma.sync) instead of the SIMT one"),
      llvm::cl::init(false)};
  Option<bool> wgmma{
      *this, "wgmma",
      llvm::cl::desc("f16/bf16, chip=sm_90a: the forward's S = Q K^T and "
                     "O += P V, the backward grad_kv's four products and "
                     "(training step) grad_q's three as warpgroup MMAs "
                     "(wgmma.mma_async) instead of mma.sync; implies "
                     "shifted-values"),
      llvm::cl::init(false)};
  Option<bool> wgmmaOverlap{
      *this, "wgmma-overlap",
      llvm::cl::desc("With wgmma=true: a software-pipelined key loop whose "
                     "softmax overlaps the asynchronous MMAs (value windows "
                     "double-buffered)"),
      llvm::cl::init(false)};
  Option<bool> kvPrefetch{
      *this, "kv-prefetch",
      llvm::cl::desc("The forward on mma.sync double-buffers its key and "
                     "value tiles, copying the next tile's during this "
                     "one's products (one barrier per key tile; dynamic "
                     "shared memory at D = 128)"),
      llvm::cl::init(false)};
  Option<bool> gradPrefetch{
      *this, "grad-prefetch",
      llvm::cl::desc("The backward double-buffers its tiles: grad_kv its "
                     "q and dO tiles, grad_q its second pass's tiles, "
                     "copying the next tile's while this one's products run "
                     "(mma.sync or, with wgmma=true, warpgroup MMAs; dynamic "
                     "shared memory at D = 128)"),
      llvm::cl::init(false)};
};

/// kvshift/linalg on tensors -> LLVM dialect host code with the kernels
/// embedded as a gpu.binary (PTX by default): kv_shift_attention by
/// --kvshift-fuse-attention-gpu, bufferization, gpu-kernel-outlining,
/// convert-gpu-to-nvvm, nvvm-attach-target, gpu-to-llvm and
/// gpu-module-to-binary.
void buildKVShiftToNVVMPipeline(OpPassManager &pm,
                                const NVVMPipelineOptions &options);

/// Registers the named pipelines with the global pass registry.
void registerKVShiftPipelines();

} // namespace mlir::kvshift

#endif // KVSHIFT_PIPELINES_PIPELINES_H
