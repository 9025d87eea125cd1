//===- KVShiftDialect.cpp - kvshift dialect -------------------------------===//

#include "kvshift/Dialect/KVShift/IR/KVShiftDialect.h"
#include "kvshift/Dialect/KVShift/IR/KVShiftOps.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

using namespace mlir;
using namespace mlir::kvshift;

#include "kvshift/Dialect/KVShift/IR/KVShiftOpsDialect.cpp.inc"

void KVShiftDialect::initialize() {
  addOperations<
#define GET_OP_LIST
#include "kvshift/Dialect/KVShift/IR/KVShiftOps.cpp.inc"
      >();
}
