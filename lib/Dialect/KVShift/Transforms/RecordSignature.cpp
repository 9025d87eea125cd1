//===- RecordSignature.cpp - keep tensor signatures across lowering -------===//

#include "kvshift/Dialect/KVShift/Transforms/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"

namespace mlir::kvshift {
#define GEN_PASS_DEF_KVSHIFTRECORDSIGNATURE
#include "kvshift/Dialect/KVShift/Transforms/Passes.h.inc"
} // namespace mlir::kvshift

using namespace mlir;

namespace {
struct KVShiftRecordSignaturePass
    : kvshift::impl::KVShiftRecordSignatureBase<KVShiftRecordSignaturePass> {
  void runOnOperation() override {
    getOperation().walk([](func::FuncOp func) {
      if (func.isExternal() || func->hasAttr(kvshift::kSignatureAttrName))
        return;
      func->setAttr(kvshift::kSignatureAttrName,
                    TypeAttr::get(func.getFunctionType()));
    });
  }
};
} // namespace
