//===- Passes.h - kvshift passes --------------------------------*- C++ -*-===//
#ifndef KVSHIFT_DIALECT_KVSHIFT_TRANSFORMS_PASSES_H
#define KVSHIFT_DIALECT_KVSHIFT_TRANSFORMS_PASSES_H

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/NVGPU/IR/NVGPUDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/Pass/Pass.h"

namespace mlir {
class RewritePatternSet;
class ImplicitLocOpBuilder;
namespace kvshift {
class KVCacheAttentionOp;
} // namespace kvshift
namespace kvshift {

/// Name of the function attribute written by --kvshift-record-signature.
constexpr llvm::StringLiteral kSignatureAttrName = "kvshift.signature";
/// Per result, the index of the argument it updates in place, or -1
/// (written by --kvshift-tie-results, read by the kvshift runtime).
constexpr llvm::StringLiteral kTiedResultsAttrName = "kvshift.tied_results";
/// The run-time error hook the KV-cache checks call (provided by the kvshift
/// runtime): kvshift_runtime_error(code, a, b, c).
constexpr llvm::StringLiteral kRuntimeErrorFn = "kvshift_runtime_error";

#define GEN_PASS_DECL
#include "kvshift/Dialect/KVShift/Transforms/Passes.h.inc"

/// The flash-decoding lowering of one kv_cache_attention at the builder's
/// insertion point (kvshift-fuse-attention): returns the output tensor.
/// `chunk`: cache rows per work item.
Value emitFusedCacheAttention(ImplicitLocOpBuilder &b, KVCacheAttentionOp op,
                              int64_t chunk);

/// Patterns rewriting kv_shift and kv_shift_attention into linalg on tensors.
void populateKVShiftDecomposePatterns(RewritePatternSet &patterns);

#define GEN_PASS_REGISTRATION
#include "kvshift/Dialect/KVShift/Transforms/Passes.h.inc"

} // namespace kvshift
} // namespace mlir

#endif // KVSHIFT_DIALECT_KVSHIFT_TRANSFORMS_PASSES_H
