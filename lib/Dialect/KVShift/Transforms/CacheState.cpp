//===- CacheState.cpp - run-time checks and in-place state ----------------===//
//
// Passes that make KV-cache state safe and cheap to carry between calls:
// run-time checks of cache positions (kvshift-insert-runtime-checks), and
// results that update an argument in place (kvshift-tie-results before
// bufferization, kvshift-drop-tied-results after it).
//
//===----------------------------------------------------------------------===//

#include "kvshift/Dialect/KVShift/IR/KVShiftOps.h"
#include "kvshift/Dialect/KVShift/Transforms/KernelScope.h"
#include "kvshift/Dialect/KVShift/Transforms/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Interfaces/DestinationStyleOpInterface.h"
#include "mlir/IR/ImplicitLocOpBuilder.h"
#include "llvm/ADT/BitVector.h"

namespace mlir::kvshift {
#define GEN_PASS_DEF_KVSHIFTINSERTRUNTIMECHECKS
#define GEN_PASS_DEF_KVSHIFTTIERESULTS
#define GEN_PASS_DEF_KVSHIFTDROPTIEDRESULTS
#include "kvshift/Dialect/KVShift/Transforms/Passes.h.inc"
} // namespace mlir::kvshift

using namespace mlir;
using namespace mlir::kvshift;

namespace {

//===----------------------------------------------------------------------===//
// kvshift-insert-runtime-checks
//===----------------------------------------------------------------------===//

struct InsertRuntimeChecksPass
    : kvshift::impl::KVShiftInsertRuntimeChecksBase<InsertRuntimeChecksPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    SmallVector<Operation *> ops;
    module.walk([&](Operation *op) {
      if (isa<KVCacheAppendOp, KVCacheAttentionOp>(op))
        ops.push_back(op);
    });
    if (ops.empty())
      return;
    MLIRContext *ctx = &getContext();
    Type i64 = IntegerType::get(ctx, 64);
    auto fnType = FunctionType::get(ctx, {i64, i64, i64, i64}, {});
    auto callee = module.lookupSymbol<func::FuncOp>(kRuntimeErrorFn);
    if (!callee) {
      OpBuilder mb = OpBuilder::atBlockBegin(module.getBody());
      callee = func::FuncOp::create(mb, module.getLoc(), kRuntimeErrorFn,
                                    fnType);
      callee.setPrivate();
    } else if (callee.getFunctionType() != fnType) {
      callee.emitError() << "@" << kRuntimeErrorFn << " must have type "
                         << fnType << ", found " << callee.getFunctionType();
      return signalPassFailure();
    }

    for (Operation *op : ops) {
      ImplicitLocOpBuilder b(op->getLoc(), op);
      auto dim = [&](Value t, int64_t d) -> Value {
        return tensor::DimOp::create(b, t, d);
      };
      auto fail = [&](Value bad, int64_t code, Value a, Value x, Value y) {
        auto ifOp = scf::IfOp::create(b, bad, /*withElseRegion=*/false);
        OpBuilder tb = ifOp.getThenBodyBuilder();
        Value c = arith::ConstantIntOp::create(tb, op->getLoc(), i64, code);
        func::CallOp::create(
            tb, op->getLoc(), callee,
            ValueRange{c, toI64InBlock(tb, op->getLoc(), a),
                       toI64InBlock(tb, op->getLoc(), x),
                       toI64InBlock(tb, op->getLoc(), y)});
      };
      if (auto append = dyn_cast<KVCacheAppendOp>(op)) {
        Value pos = append.getPos();
        Value end = arith::AddIOp::create(b, pos, dim(append.getKNew(), 2));
        Value smax = dim(append.getKCache(), 2);
        // Unsigned compares: a negative position is reported too.
        Value bad = arith::OrIOp::create(
            b, arith::CmpIOp::create(b, arith::CmpIPredicate::ugt, end, smax),
            arith::CmpIOp::create(b, arith::CmpIPredicate::ugt, pos, end));
        fail(bad, 1, pos, end, smax);
      } else {
        auto attn = cast<KVCacheAttentionOp>(op);
        Value len = attn.getLength();
        Value lo = attn.getCausal()
                       ? dim(attn.getQ(), 2)
                       : arith::ConstantIndexOp::create(b, 1).getResult();
        Value smax = dim(attn.getKCache(), 2);
        Value bad = arith::OrIOp::create(
            b, arith::CmpIOp::create(b, arith::CmpIPredicate::ugt, len, smax),
            arith::CmpIOp::create(b, arith::CmpIPredicate::slt, len, lo));
        fail(bad, 2, len, lo, smax);
      }
    }
  }

  static Value toI64InBlock(OpBuilder &b, Location loc, Value v) {
    return arith::IndexCastOp::create(b, loc, b.getI64Type(), v);
  }
};

//===----------------------------------------------------------------------===//
// kvshift-tie-results
//===----------------------------------------------------------------------===//

struct TieResultsPass
    : kvshift::impl::KVShiftTieResultsBase<TieResultsPass> {
  void runOnOperation() override {
    MLIRContext *ctx = &getContext();
    getOperation().walk([&](func::FuncOp func) {
      if (func.isExternal() || !func.getBody().hasOneBlock())
        return;
      Block &entry = func.getBody().front();
      auto ret = dyn_cast<func::ReturnOp>(entry.getTerminator());
      if (!ret)
        return;
      SmallVector<int64_t> tied(ret.getNumOperands(), -1);
      llvm::BitVector used(func.getNumArguments());
      for (auto [i, operand] : llvm::enumerate(ret.getOperands())) {
        if (!isa<RankedTensorType>(operand.getType()))
          continue;
        BlockArgument arg = updatedArgument(operand, entry);
        if (!arg || used.test(arg.getArgNumber()) ||
            arg.getType() != func.getResultTypes()[i])
          continue;
        used.set(arg.getArgNumber());
        tied[i] = arg.getArgNumber();
      }
      func->setAttr(kTiedResultsAttrName, DenseI64ArrayAttr::get(ctx, tied));
      for (BlockArgument arg : func.getArguments())
        if (isa<TensorType>(arg.getType()) && !used.test(arg.getArgNumber()))
          func.setArgAttr(arg.getArgNumber(),
                          bufferization::BufferizationDialect::
                              kWritableAttrName,
                          BoolAttr::get(ctx, false));
    });
  }
};

//===----------------------------------------------------------------------===//
// kvshift-drop-tied-results
//===----------------------------------------------------------------------===//

struct DropTiedResultsPass
    : kvshift::impl::KVShiftDropTiedResultsBase<DropTiedResultsPass> {
  void runOnOperation() override {
    getOperation().walk([&](func::FuncOp func) {
      auto tied = func->getAttrOfType<DenseI64ArrayAttr>(kTiedResultsAttrName);
      if (func.isExternal() || !tied)
        return;
      // The writability marks have done their job in bufferization.
      for (unsigned i = 0; i < func.getNumArguments(); ++i)
        func.removeArgAttr(
            i, bufferization::BufferizationDialect::kWritableAttrName);
      if (!func.getBody().hasOneBlock() ||
          static_cast<int64_t>(func.getNumResults()) != tied.size()) {
        func->removeAttr(kTiedResultsAttrName);
        return;
      }
      Block &entry = func.getBody().front();
      auto ret = cast<func::ReturnOp>(entry.getTerminator());
      llvm::BitVector drop(func.getNumResults());
      OpBuilder b(ret);
      for (auto [i, argIndex] : llvm::enumerate(tied.asArrayRef())) {
        if (argIndex < 0)
          continue;
        Value returned = ret.getOperand(i);
        Value stripped = returned;
        while (auto cast = stripped.getDefiningOp<memref::CastOp>())
          stripped = cast.getSource();
        Value arg = func.getArgument(argIndex);
        if (stripped != arg)
          memref::CopyOp::create(b, ret.getLoc(), returned, arg);
        drop.set(i);
      }
      SmallVector<Value> kept;
      for (auto [i, v] : llvm::enumerate(ret.getOperands()))
        if (!drop.test(i))
          kept.push_back(v);
      ret->setOperands(kept);
      if (failed(func.eraseResults(drop))) {
        func.emitError() << "cannot remove the tied results";
        return signalPassFailure();
      }
    });
  }
};

} // namespace
