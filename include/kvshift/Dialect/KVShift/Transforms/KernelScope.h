//===- KernelScope.h - emitting a fused kernel inside kvshift.kernel -------===//
//
// The fused lowerings emit loop nests on buffers while the program around
// them is still on tensors. They emit them inside a kvshift.kernel op (see
// its description in KVShiftOps.td), which keeps the bufferization analysis
// aware of every read: KernelScope creates the op, gives the buffer of each
// input tensor and ends the op with the buffers of its results.
//
//===----------------------------------------------------------------------===//

#ifndef KVSHIFT_DIALECT_KVSHIFT_TRANSFORMS_KERNELSCOPE_H
#define KVSHIFT_DIALECT_KVSHIFT_TRANSFORMS_KERNELSCOPE_H

#include "kvshift/Dialect/KVShift/IR/KVShiftOps.h"

#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/ImplicitLocOpBuilder.h"
#include "mlir/Interfaces/DestinationStyleOpInterface.h"
#include "mlir/Interfaces/FunctionInterfaces.h"
#include "llvm/ADT/DenseSet.h"
#include "llvm/ADT/STLExtras.h"
#include "llvm/Support/ErrorHandling.h"

namespace mlir::kvshift {

/// Usage:
///   KernelScope scope(b, {q, k, v}, op->getResultTypes());
///   Value qBuf = scope.buffer(q);      // b now inserts inside the kernel
///   ... emit loops on buffers, allocate the outputs ...
///   ValueRange results = scope.finish({out}); // b is after the kernel again
class KernelScope {
public:
  /// Creates the kernel at `b`'s insertion point, reading `tensors` (each
  /// once, in order of first appearance), and moves `b` into its body.
  KernelScope(ImplicitLocOpBuilder &b, ArrayRef<Value> tensors,
              TypeRange resultTypes)
      : b(b) {
    SmallVector<Value> inputs;
    for (Value t : tensors)
      if (!llvm::is_contained(inputs, t))
        inputs.push_back(t);
    op = KernelOp::create(b, resultTypes, inputs);
    after = b.saveInsertionPoint();
    b.setInsertionPointToStart(&op.getBody().front());
  }
  KernelScope(const KernelScope &) = delete;
  KernelScope &operator=(const KernelScope &) = delete;

  /// The buffer of input tensor `t` (read-only).
  Value buffer(Value t) {
    for (auto [in, arg] :
         llvm::zip(op.getInputs(), op.getBody().front().getArguments()))
      if (in == t)
        return arg;
    llvm::report_fatal_error("KernelScope::buffer: not an input of the kernel");
  }

  /// Ends the kernel with `buffers` (one identity-layout memref per result),
  /// moves `b` after it and returns its results.
  ValueRange finish(ValueRange buffers) {
    KernelYieldOp::create(b, buffers);
    b.restoreInsertionPoint(after);
    return op.getResults();
  }

  KernelOp getOp() { return op; }

private:
  ImplicitLocOpBuilder &b;
  KernelOp op;
  OpBuilder::InsertPoint after;
};

/// The argument of `entry` that `v` is an update of, following destination
/// operands (DPS ops, tensor.insert/insert_slice, scf.for init args); null
/// if none. The ops passed on the way are appended to `chain` when given.
/// kvshift-tie-results ties a returned value to this argument, and
/// bufferization then writes the argument in place.
inline BlockArgument updatedArgument(Value v, Block &entry,
                                     SmallVectorImpl<Operation *> *chain =
                                         nullptr) {
  for (int steps = 0; steps < 10000; ++steps) {
    if (auto arg = dyn_cast<BlockArgument>(v))
      return arg.getOwner() == &entry ? arg : BlockArgument();
    auto result = cast<OpResult>(v);
    Operation *op = result.getOwner();
    if (chain)
      chain->push_back(op);
    if (auto insert = dyn_cast<tensor::InsertSliceOp>(op))
      v = insert.getDest();
    else if (auto insert = dyn_cast<tensor::InsertOp>(op))
      v = insert.getDest();
    else if (auto loop = dyn_cast<scf::ForOp>(op))
      v = loop.getInitArgs()[result.getResultNumber()];
    else if (auto dps = dyn_cast<DestinationStyleOpInterface>(op))
      v = dps.getTiedOpOperand(result)->get();
    else
      return BlockArgument();
  }
  return BlockArgument();
}

/// The ops through which a result of `func` updates one of its arguments
/// (the chains of updatedArgument from its returned values). Kernels write
/// new buffers, so the vectorizing passes leave these ops alone.
inline llvm::DenseSet<Operation *> opsUpdatingArguments(Operation *func) {
  llvm::DenseSet<Operation *> result;
  auto fn = dyn_cast<FunctionOpInterface>(func);
  if (!fn || fn.isExternal() || !fn.getFunctionBody().hasOneBlock())
    return result;
  Block &entry = fn.getFunctionBody().front();
  Operation *ret = entry.getTerminator();
  if (!ret || !ret->hasTrait<OpTrait::ReturnLike>())
    return result;
  for (Value v : ret->getOperands()) {
    SmallVector<Operation *> chain;
    if (isa<TensorType>(v.getType()) && updatedArgument(v, entry, &chain))
      result.insert(chain.begin(), chain.end());
  }
  return result;
}

} // namespace mlir::kvshift

#endif // KVSHIFT_DIALECT_KVSHIFT_TRANSFORMS_KERNELSCOPE_H
