//===- StridedCopyToLinalg.cpp - memref.copy without a runtime library ----===//

#include "kvshift/Dialect/KVShift/Transforms/Passes.h"

#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/IR/PatternMatch.h"

namespace mlir::kvshift {
#define GEN_PASS_DEF_KVSHIFTSTRIDEDCOPYTOLINALG
#include "kvshift/Dialect/KVShift/Transforms/Passes.h.inc"
} // namespace mlir::kvshift

using namespace mlir;

namespace {
bool hasIdentityLayout(Value v) {
  auto type = dyn_cast<MemRefType>(v.getType());
  return type && type.getLayout().isIdentity();
}

struct KVShiftStridedCopyToLinalgPass
    : kvshift::impl::KVShiftStridedCopyToLinalgBase<
          KVShiftStridedCopyToLinalgPass> {
  void runOnOperation() override {
    SmallVector<memref::CopyOp> copies;
    getOperation()->walk([&](memref::CopyOp copy) {
      if (!isa<MemRefType>(copy.getSource().getType()) ||
          !isa<MemRefType>(copy.getTarget().getType()))
        return;
      if (hasIdentityLayout(copy.getSource()) &&
          hasIdentityLayout(copy.getTarget()))
        return;
      copies.push_back(copy);
    });
    IRRewriter rewriter(&getContext());
    for (memref::CopyOp copy : copies) {
      rewriter.setInsertionPoint(copy);
      linalg::CopyOp::create(rewriter, copy.getLoc(), copy.getSource(),
                             copy.getTarget());
      rewriter.eraseOp(copy);
    }
  }
};
} // namespace
