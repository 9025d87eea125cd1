//===- KVShiftOps.h - kvshift operations ------------------------*- C++ -*-===//
#ifndef KVSHIFT_DIALECT_KVSHIFT_IR_KVSHIFTOPS_H
#define KVSHIFT_DIALECT_KVSHIFT_IR_KVSHIFTOPS_H

#include "kvshift/Dialect/KVShift/IR/KVShiftDialect.h"
#include "mlir/Bytecode/BytecodeOpInterface.h"
#include "mlir/Dialect/Bufferization/IR/BufferizableOpInterface.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/OpDefinition.h"
#include "mlir/Interfaces/InferTypeOpInterface.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

#define GET_OP_CLASSES
#include "kvshift/Dialect/KVShift/IR/KVShiftOps.h.inc"

namespace mlir::kvshift {
/// The logit scale of any attention op of the dialect (operand 0 is q): its
/// `scale` attribute, or 1/sqrt(D) when absent; std::nullopt when absent and
/// D is dynamic.
std::optional<double> getStaticAttentionScale(Operation *op);
} // namespace mlir::kvshift

#endif // KVSHIFT_DIALECT_KVSHIFT_IR_KVSHIFTOPS_H
