//===- Pipelines.cpp - kvshift named pass pipelines -----------------------===//

#include "kvshift/Pipelines/Pipelines.h"

#include "kvshift/Dialect/KVShift/Transforms/Passes.h"

#include "mlir/Conversion/ArithToLLVM/ArithToLLVM.h"
#include "mlir/Conversion/BufferizationToMemRef/BufferizationToMemRef.h"
#include "mlir/Conversion/ControlFlowToLLVM/ControlFlowToLLVM.h"
#include "mlir/Conversion/FuncToLLVM/ConvertFuncToLLVMPass.h"
#include "mlir/Conversion/IndexToLLVM/IndexToLLVM.h"
#include "mlir/Conversion/MathToLLVM/MathToLLVM.h"
#include "mlir/Conversion/MemRefToLLVM/MemRefToLLVM.h"
#include "mlir/Conversion/ReconcileUnrealizedCasts/ReconcileUnrealizedCasts.h"
#include "mlir/Conversion/SCFToControlFlow/SCFToControlFlow.h"
#include "mlir/Conversion/SCFToOpenMP/SCFToOpenMP.h"
#include "mlir/Conversion/OpenMPToLLVM/ConvertOpenMPToLLVM.h"
#include "mlir/Conversion/VectorToLLVM/ConvertVectorToLLVMPass.h"
#include "mlir/Conversion/AffineToStandard/AffineToStandard.h"
#include "mlir/Conversion/GPUCommon/GPUCommonPass.h"
#include "mlir/Conversion/GPUToNVVM/GPUToNVVMPass.h"
#include "mlir/Conversion/NVGPUToNVVM/NVGPUToNVVM.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/GPU/Transforms/Passes.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Bufferization/Pipelines/Passes.h"
#include "mlir/Dialect/Bufferization/Transforms/OneShotAnalysis.h"
#include "mlir/Dialect/Bufferization/Transforms/Passes.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Arith/Transforms/Passes.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Linalg/Passes.h"
#include "mlir/Dialect/MemRef/Transforms/Passes.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Transforms/Passes.h"

using namespace mlir;

/// Bufferization and the conversion to the LLVM dialect shared by the CPU
/// pipelines. `parallel` (the fused pipeline) converts scf.parallel loops to
/// OpenMP and approximates math.exp with a vectorisable polynomial.
static void buildCPUBackend(OpPassManager &pm, bool parallel);

void mlir::kvshift::buildKVShiftToLLVMCPUPipeline(OpPassManager &pm) {
  // Keep the tensor-level signature for runners of the lowered module.
  pm.addPass(createKVShiftRecordSignature());
  pm.addPass(createKVShiftInsertRuntimeChecks());
  // kvshift -> linalg on tensors.
  pm.addNestedPass<func::FuncOp>(createKVShiftDecompose());
  buildCPUBackend(pm, /*parallel=*/false);
}

void mlir::kvshift::buildKVShiftToLLVMCPUFusedPipeline(
    OpPassManager &pm, const FusedCPUPipelineOptions &options) {
  pm.addPass(createKVShiftRecordSignature());
  pm.addPass(createKVShiftInsertRuntimeChecks());
  // Attention written in plain linalg (imported models) -> kv_shift_attention.
  pm.addNestedPass<func::FuncOp>(createKVShiftRaise());
  pm.addNestedPass<func::FuncOp>(createCanonicalizerPass());
  // A gradient next to its forward reads the forward's row log-sum-exp.
  pm.addNestedPass<func::FuncOp>(createKVShiftShareAttentionStats());
  // kv_shift_attention and its gradient -> fused flash-attention loop
  // nests; any other kvshift op (kv_shift alone) -> linalg.
  KVShiftFuseAttentionOptions fuseOptions;
  fuseOptions.blockRows = options.blockRows;
  fuseOptions.blockK = options.blockK;
  pm.addNestedPass<func::FuncOp>(createKVShiftFuseAttention(fuseOptions));
  pm.addNestedPass<func::FuncOp>(createKVShiftDecompose());
  // Matmuls and the like (projections, MLPs of imported models) ->
  // register-tiled vector micro-kernels on buffers, parallel when large.
  if (options.vectorizeContractions) {
    KVShiftVectorizeContractionsOptions vecOptions;
    if (options.contractionMinParallelWork >= 0)
      vecOptions.minParallelWork = options.contractionMinParallelWork;
    pm.addNestedPass<func::FuncOp>(
        createKVShiftVectorizeContractions(vecOptions));
  }
  // Elementwise generics (norm scaling, SiLU, residual adds, RoPE on
  // imported tensors) -> loops over 16-lane vectors.
  if (options.vectorizeElementwise)
    pm.addNestedPass<func::FuncOp>(createKVShiftVectorizeElementwise());
  buildCPUBackend(pm, /*parallel=*/true);
}

/// Elementwise ops to linalg, one-shot bufferization with identity-layout
/// function boundaries, buffer deallocation. Results that update an argument
/// (a KV cache) are written into the argument's buffer and dropped from the
/// signature; every other argument is read-only.
static void buildBufferization(OpPassManager &pm) {
  pm.addNestedPass<func::FuncOp>(createConvertElementwiseToLinalgPass());
  pm.addPass(createCanonicalizerPass());
  pm.addPass(createCSEPass());
  bufferization::OneShotBufferizePassOptions bufOpts;
  bufOpts.bufferizeFunctionBoundaries = true;
  bufOpts.functionBoundaryTypeConversion =
      bufferization::LayoutMapOption::IdentityLayoutMap;
  pm.addPass(kvshift::createKVShiftTieResults());
  pm.addPass(bufferization::createOneShotBufferizePass(bufOpts));
  pm.addPass(kvshift::createKVShiftDropTiedResults());
  bufferization::BufferDeallocationPipelineOptions deallocOpts;
  bufferization::buildBufferDeallocationPipeline(pm, deallocOpts);
  pm.addPass(createConvertBufferizationToMemRefPass());
}

void mlir::kvshift::buildKVShiftToNVVMPipeline(
    OpPassManager &pm, const NVVMPipelineOptions &options) {
  pm.addPass(createKVShiftRecordSignature());
  pm.addPass(createKVShiftInsertRuntimeChecks());
  // A gradient next to its forward reads the forward's row log-sum-exp (the
  // backward's grad_q then skips its recomputation of the forward).
  pm.addNestedPass<func::FuncOp>(createKVShiftShareAttentionStats());
  // kv_shift_attention (and its _with_lse form), its gradient and
  // kv_cache_attention -> host code + fused kernels in a gpu.module; any
  // other kvshift op -> linalg (run on the host).
  KVShiftFuseAttentionGPUOptions fuseOptions;
  fuseOptions.warps = options.warps;
  fuseOptions.blockK = options.blockK;
  fuseOptions.simtBlockK = options.simtBlockK;
  fuseOptions.decodeSplit = options.decodeSplit;
  fuseOptions.decodeRows = options.decodeRows;
  fuseOptions.decodePrefetch = options.decodePrefetch;
  fuseOptions.decodeMma = options.decodeMma;
  fuseOptions.appendKernel = options.appendKernel;
  fuseOptions.shiftedValues = options.shiftedValues;
  fuseOptions.lazyRescale = options.lazyRescale;
  fuseOptions.wgmma = options.wgmma;
  fuseOptions.wgmmaOverlap = options.wgmmaOverlap;
  fuseOptions.gradPrefetch = options.gradPrefetch;
  fuseOptions.kvPrefetch = options.kvPrefetch;
  fuseOptions.chip = options.chip;
  fuseOptions.minBlocksPerSM = options.minBlocksPerSM;
  pm.addPass(createKVShiftFuseAttentionGPU(fuseOptions));
  pm.addNestedPass<func::FuncOp>(createKVShiftDecompose());
  buildBufferization(pm);
  // The launchers' host code (gpu ops, which buffer deallocation rejects).
  pm.addPass(createKVShiftGPULaunchers());
  // Kernels above 48 KiB of shared memory take their tiles from dynamic
  // shared memory, sized at their launches.
  pm.addPass(createKVShiftGPUDynamicSharedMemory());
  pm.addNestedPass<func::FuncOp>(createKVShiftStridedCopyToLinalg());
  pm.addNestedPass<func::FuncOp>(createConvertLinalgToLoopsPass());
  // Host code that rounds to bf16 (e.g. kv_cache_append of a bf16 cache)
  // would call compiler-rt's __truncsfbf2, which ahead-of-time libraries
  // are not linked with: expand it into integer arithmetic (host functions
  // only; the kernels keep cvt.rn.bf16).
  arith::ArithExpandOpsPassOptions expandOptions;
  expandOptions.includeBf16 = true;
  pm.addNestedPass<func::FuncOp>(arith::createArithExpandOpsPass(expandOptions));

  // Kernels: nvgpu -> nvvm, then the gpu.module to NVVM.
  pm.addPass(createConvertNVGPUToNVVMPass());
  // The fused kernels are already outlined; gpu.launch regions from other
  // sources are outlined here.
  pm.addPass(createGpuKernelOutliningPass());
  pm.addPass(createSCFToControlFlowPass());
  pm.addPass(memref::createExpandStridedMetadataPass());
  GpuNVVMAttachTargetOptions target;
  target.chip = options.chip;
  target.features = options.features;
  pm.addPass(createGpuNVVMAttachTarget(target));
  pm.addPass(createLowerAffinePass());
  pm.addPass(createArithToLLVMConversionPass());
  pm.addPass(createCanonicalizerPass());
  pm.addPass(createCSEPass());
  // Kernel memref arguments are passed as expanded descriptors (the bare
  // pointer convention needs static shapes; the kernels' flat buffers are
  // dynamic).
  pm.addNestedPass<gpu::GPUModuleOp>(createConvertGpuOpsToNVVMOps());
  // Dynamic shared memory as an .extern array (not a demoted variable).
  pm.addNestedPass<gpu::GPUModuleOp>(createKVShiftGPUExternSharedMemory());
  pm.addNestedPass<gpu::GPUModuleOp>(createCanonicalizerPass());
  pm.addNestedPass<gpu::GPUModuleOp>(createCSEPass());
  pm.addNestedPass<gpu::GPUModuleOp>(createReconcileUnrealizedCastsPass());

  // Host: gpu ops -> mgpu* runtime calls; everything else -> LLVM.
  pm.addPass(createGpuToLLVMConversionPass());
  GpuModuleToBinaryPassOptions toBinary;
  toBinary.compilationTarget = options.format;
  pm.addPass(createGpuModuleToBinaryPass(toBinary));
  pm.addPass(createConvertMathToLLVMPass());
  pm.addPass(createReconcileUnrealizedCastsPass());
  pm.addPass(createCanonicalizerPass());
  pm.addPass(createCSEPass());
}

static void buildCPUBackend(OpPassManager &pm, bool parallel) {
  using namespace mlir::kvshift;
  // Elementwise arith/math on tensors (common in imported graphs) -> linalg;
  // tensors -> buffers. Public functions take and return identity-layout
  // memrefs; the caller owns returned buffers.
  buildBufferization(pm);

  // Buffers -> loops -> LLVM. Strided copies become loops so that the
  // lowered module needs no MLIR runtime library.
  pm.addNestedPass<func::FuncOp>(createKVShiftStridedCopyToLinalg());
  pm.addNestedPass<func::FuncOp>(createConvertLinalgToLoopsPass());
  if (parallel) {
    // The fused kernel's vector exps stay in registers; the reference path
    // keeps libm's expf.
    pm.addNestedPass<func::FuncOp>(createKVShiftApproximateMath());
    pm.addPass(createConvertSCFToOpenMPPass());
  }
  pm.addPass(createCanonicalizerPass());
  pm.addPass(memref::createExpandStridedMetadataPass());
  pm.addPass(createLowerAffinePass());
  pm.addPass(createFinalizeMemRefToLLVMConversionPass());
  pm.addPass(createSCFToControlFlowPass());
  pm.addPass(createConvertVectorToLLVMPass());
  pm.addPass(createConvertMathToLLVMPass());
  pm.addPass(createArithToLLVMConversionPass());
  pm.addPass(createConvertIndexToLLVMPass());
  pm.addPass(createConvertControlFlowToLLVMPass());
  pm.addPass(createConvertFuncToLLVMPass());
  if (parallel)
    pm.addPass(createConvertOpenMPToLLVMPass());
  pm.addPass(createReconcileUnrealizedCastsPass());
  pm.addPass(createCanonicalizerPass());
}

void mlir::kvshift::registerKVShiftPipelines() {
  PassPipelineRegistration<NVVMPipelineOptions>(
      kNVVMPipeline,
      "Lower kvshift and linalg on tensors for NVIDIA GPUs: kv_shift_attention "
      "becomes a fused flash-attention kernel (tensor cores for f16/bf16, "
      "SIMT for f32; kvshift-fuse-attention-gpu) embedded as PTX (format=isa) "
      "or cubin/fatbin, launched from LLVM-dialect host code through the "
      "mgpu* runtime functions",
      buildKVShiftToNVVMPipeline);
  PassPipelineRegistration<FusedCPUPipelineOptions>(
      kFusedCPUPipeline,
      "Lower kvshift and linalg on tensors to the LLVM dialect for the host "
      "CPU with kv_shift_attention as a fused, vectorised, OpenMP-parallel "
      "flash-attention loop nest (kvshift-fuse-attention); the mix is applied "
      "to each K/V tile as it is loaded",
      buildKVShiftToLLVMCPUFusedPipeline);
  PassPipelineRegistration<>(
      kReferenceCPUPipeline,
      "Lower kvshift and linalg on tensors to the LLVM dialect for the host "
      "CPU through the reference decomposition (kvshift-decompose), "
      "one-shot bufferization and scalar loops",
      buildKVShiftToLLVMCPUPipeline);
}
