//===- KVShiftDialect.h - kvshift dialect -----------------------*- C++ -*-===//
#ifndef KVSHIFT_DIALECT_KVSHIFT_IR_KVSHIFTDIALECT_H
#define KVSHIFT_DIALECT_KVSHIFT_IR_KVSHIFTDIALECT_H

#include "mlir/IR/Dialect.h"

#include "kvshift/Dialect/KVShift/IR/KVShiftOpsDialect.h.inc"

#endif // KVSHIFT_DIALECT_KVSHIFT_IR_KVSHIFTDIALECT_H
