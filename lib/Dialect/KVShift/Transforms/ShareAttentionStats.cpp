//===- ShareAttentionStats.cpp - forward statistics for the backward ------===//

#include "kvshift/Dialect/KVShift/IR/KVShiftOps.h"
#include "kvshift/Dialect/KVShift/Transforms/Passes.h"

#include "mlir/IR/PatternMatch.h"

namespace mlir::kvshift {
#define GEN_PASS_DEF_KVSHIFTSHAREATTENTIONSTATS
#include "kvshift/Dialect/KVShift/Transforms/Passes.h.inc"
} // namespace mlir::kvshift

using namespace mlir;
using namespace mlir::kvshift;

namespace {

/// True when `fwd` (a forward op) computes the forward of `grad`: same
/// operands, same attributes, earlier in the same block.
bool matches(Operation *fwd, KVShiftAttentionGradOp grad) {
  if (fwd->getBlock() != grad->getBlock() || !fwd->isBeforeInBlock(grad))
    return false;
  ValueRange gradIn = grad->getOperands().take_front(5);
  if (fwd->getNumOperands() != 5 ||
      !llvm::equal(fwd->getOperands(), gradIn))
    return false;
  return fwd->getAttr("scale") == grad->getAttr("scale") &&
         fwd->hasAttr("causal") == grad->hasAttr("causal") &&
         fwd->getAttr("rope_theta") == grad->getAttr("rope_theta");
}

struct KVShiftShareAttentionStatsPass
    : kvshift::impl::KVShiftShareAttentionStatsBase<
          KVShiftShareAttentionStatsPass> {
  void runOnOperation() override {
    SmallVector<KVShiftAttentionGradOp> grads;
    getOperation()->walk(
        [&](KVShiftAttentionGradOp op) { grads.push_back(op); });
    IRRewriter rewriter(&getContext());
    for (KVShiftAttentionGradOp grad : grads) {
      // A forward already given its statistics, or a plain forward.
      KVShiftAttentionWithLSEOp withLSE;
      KVShiftAttentionOp plain;
      for (Operation *user : grad.getQ().getUsers()) {
        if (auto w = dyn_cast<KVShiftAttentionWithLSEOp>(user);
            w && matches(w, grad)) {
          withLSE = w;
          break;
        }
        if (auto f = dyn_cast<KVShiftAttentionOp>(user);
            f && matches(f, grad) && !plain)
          plain = f;
      }
      if (!withLSE && !plain)
        continue;
      if (!withLSE) {
        rewriter.setInsertionPoint(plain);
        auto qType = cast<RankedTensorType>(plain.getQ().getType());
        auto lseType = RankedTensorType::get(qType.getShape().take_front(3),
                                             rewriter.getF32Type());
        withLSE = KVShiftAttentionWithLSEOp::create(
            rewriter, plain.getLoc(), plain.getOut().getType(), lseType,
            plain.getQ(), plain.getK(), plain.getV(), plain.getKw(),
            plain.getVw(), plain.getScaleAttr(), plain.getCausalAttr(),
            plain.getRopeThetaAttr());
        rewriter.replaceOp(plain, withLSE.getOut());
      }
      rewriter.setInsertionPoint(grad);
      auto newGrad = KVShiftAttentionGradWithLSEOp::create(
          rewriter, grad.getLoc(), grad->getResultTypes(), grad.getQ(),
          grad.getK(), grad.getV(), grad.getKw(), grad.getVw(),
          grad.getDout(), withLSE.getOut(), withLSE.getLse(),
          grad.getScaleAttr(), grad.getCausalAttr(), grad.getRopeThetaAttr());
      rewriter.replaceOp(grad, newGrad->getResults());
    }
  }
};

} // namespace
