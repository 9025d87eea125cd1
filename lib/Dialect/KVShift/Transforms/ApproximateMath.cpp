//===- ApproximateMath.cpp - vectorisable math.exp ------------------------===//

#include "kvshift/Dialect/KVShift/Transforms/Passes.h"

#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Math/Transforms/Passes.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace mlir::kvshift {
#define GEN_PASS_DEF_KVSHIFTAPPROXIMATEMATH
#include "kvshift/Dialect/KVShift/Transforms/Passes.h.inc"
} // namespace mlir::kvshift

using namespace mlir;

namespace {
struct KVShiftApproximateMathPass
    : kvshift::impl::KVShiftApproximateMathBase<KVShiftApproximateMathPass> {
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    populateMathPolynomialApproximationPatterns(
        patterns, [](StringRef name) { return name == "math.exp"; });
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      return signalPassFailure();
  }
};
} // namespace
