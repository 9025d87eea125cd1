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

#include "mlir/IR/ImplicitLocOpBuilder.h"
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

} // namespace mlir::kvshift

#endif // KVSHIFT_DIALECT_KVSHIFT_TRANSFORMS_KERNELSCOPE_H
