//===- EmitCInterface.cpp - request C entry points for public functions ---===//

#include "kvshift/Dialect/KVShift/Transforms/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"

namespace mlir::kvshift {
#define GEN_PASS_DEF_KVSHIFTEMITCINTERFACE
#include "kvshift/Dialect/KVShift/Transforms/Passes.h.inc"
} // namespace mlir::kvshift

using namespace mlir;

namespace {
struct KVShiftEmitCInterfacePass
    : kvshift::impl::KVShiftEmitCInterfaceBase<KVShiftEmitCInterfacePass> {
  void runOnOperation() override {
    for (auto f : getOperation().getOps<func::FuncOp>())
      if (f.isPublic() && !f.isDeclaration())
        f->setAttr(LLVM::LLVMDialect::getEmitCWrapperAttrName(),
                   UnitAttr::get(&getContext()));
  }
};
} // namespace
