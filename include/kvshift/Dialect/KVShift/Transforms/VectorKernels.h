//===- VectorKernels.h - shared pieces of the 16-lane CPU kernels ---------===//
//
// What kvshift-vectorize-contractions and kvshift-vectorize-elementwise
// both need: an operand read as a buffer without its unit dimensions, and
// the constants of the emitted loop nest, created once at the start of the
// enclosing function.
//
//===----------------------------------------------------------------------===//

#ifndef KVSHIFT_DIALECT_KVSHIFT_TRANSFORMS_VECTORKERNELS_H
#define KVSHIFT_DIALECT_KVSHIFT_TRANSFORMS_VECTORKERNELS_H

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/IR/ImplicitLocOpBuilder.h"
#include "mlir/Interfaces/FunctionInterfaces.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/STLExtras.h"

namespace mlir::kvshift {

/// Lanes of one AVX-512 f32 vector.
constexpr int64_t kVectorLanes = 16;

/// An operand of a loop nest as the kernel reads it: the buffer of `tensor`
/// with its unit dimensions dropped, whose dimensions follow the loop
/// dimensions `dims`, in order.
struct LoopOperand {
  Value tensor;
  SmallVector<int64_t> dims;
  /// Reassociation that drops the unit dimensions of `tensor`.
  SmallVector<ReassociationIndices> collapse;
  Type elt;

  int64_t innermost() const { return dims.empty() ? -1 : dims.back(); }
  bool has(int64_t d) const { return llvm::is_contained(dims, d); }
  /// Indices into the collapsed buffer, given one value per loop dimension.
  SmallVector<Value> indices(ArrayRef<Value> iv) const {
    SmallVector<Value> r;
    for (int64_t d : dims)
      r.push_back(iv[d]);
    return r;
  }
  /// `buf` (a buffer of `tensor`'s shape) with the unit dimensions dropped.
  Value collapsed(ImplicitLocOpBuilder &b, Value buf) const {
    if (static_cast<int64_t>(dims.size()) ==
        cast<MemRefType>(buf.getType()).getRank())
      return buf;
    return memref::CollapseShapeOp::create(b, buf, collapse);
  }
};

/// The constants of an emitted loop nest, each created once, at the start of
/// the function enclosing `anchor` (else of `anchor`'s block), where they
/// dominate every use.
class ConstantPool {
public:
  explicit ConstantPool(Operation *anchor)
      : b(anchor->getLoc(), anchor->getContext()) {
    block = anchor->getBlock();
    if (auto func = anchor->getParentOfType<FunctionOpInterface>())
      block = &func.getFunctionBody().front();
  }
  /// The index constant `v`.
  Value index(int64_t v) {
    Value &c = indices[v];
    if (!c)
      c = arith::ConstantIndexOp::create(at(), v);
    return c;
  }
  /// A vector<16xi1> with the first `lanes` lanes set.
  Value mask(int64_t lanes) {
    Value &m = masks[lanes];
    if (m)
      return m;
    auto type = VectorType::get({kVectorLanes}, b.getI1Type());
    SmallVector<bool> bits(kVectorLanes, false);
    for (int64_t i = 0; i < lanes; ++i)
      bits[i] = true;
    m = arith::ConstantOp::create(at(), type,
                                  DenseElementsAttr::get(type, bits));
    return m;
  }
  /// A vector<16 x elt> of zeros (elt a float or integer type).
  Value zeros(Type elt) {
    Value &z = zeroVectors[elt];
    if (z)
      return z;
    auto type = VectorType::get({kVectorLanes}, elt);
    Attribute zero = isa<FloatType>(elt)
                         ? Attribute(FloatAttr::get(elt, 0.0))
                         : Attribute(IntegerAttr::get(elt, 0));
    z = arith::ConstantOp::create(at(), type,
                                  DenseElementsAttr::get(type, zero));
    return z;
  }
  /// A builder at the start of the constants' block, for other constants.
  ImplicitLocOpBuilder &at() {
    b.setInsertionPointToStart(block);
    return b;
  }

private:
  ImplicitLocOpBuilder b;
  Block *block;
  llvm::DenseMap<int64_t, Value> indices, masks;
  llvm::DenseMap<Type, Value> zeroVectors;
};

} // namespace mlir::kvshift

#endif // KVSHIFT_DIALECT_KVSHIFT_TRANSFORMS_VECTORKERNELS_H
