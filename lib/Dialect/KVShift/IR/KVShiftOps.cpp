//===- KVShiftOps.cpp - kvshift operations --------------------------------===//
//
// Verifiers, folders and shape reification of the kvshift ops. Every
// diagnostic names the operand it is about and says what was expected and
// what was found.
//
//===----------------------------------------------------------------------===//

#include "kvshift/Dialect/KVShift/IR/KVShiftOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/Matchers.h"
#include "mlir/IR/TypeUtilities.h"
#include "mlir/IR/OpImplementation.h"
#include "mlir/IR/PatternMatch.h"
#include "llvm/ADT/STLExtras.h"
#include "llvm/Support/raw_ostream.h"

#include <cmath>

using namespace mlir;
using namespace mlir::kvshift;

//===----------------------------------------------------------------------===//
// Verification helpers
//===----------------------------------------------------------------------===//

namespace {

/// Prints a shape as [2, ?, 16, 8].
std::string shapeStr(ArrayRef<int64_t> shape) {
  std::string s;
  llvm::raw_string_ostream os(s);
  os << "[";
  llvm::interleaveComma(shape, os, [&](int64_t d) {
    if (ShapedType::isDynamic(d))
      os << "?";
    else
      os << d;
  });
  os << "]";
  return s;
}

std::string dimStr(int64_t d) {
  return ShapedType::isDynamic(d) ? std::string("?") : std::to_string(d);
}

bool isDataElementType(Type t) { return t.isF32() || t.isF16() || t.isBF16(); }

/// Checks shared by every op of the dialect, bound to one operation.
class Checker {
public:
  explicit Checker(Operation *op) : op(op) {}

  /// `value` (called `name`) must be a ranked tensor of rank 4 with a data
  /// element type (f32, f16, bf16).
  FailureOr<RankedTensorType> dataTensor(Value value, StringRef name,
                                         StringRef what = "operand") {
    auto type = dyn_cast<RankedTensorType>(value.getType());
    if (!type || type.getRank() != 4)
      return op->emitOpError()
             << what << " '" << name
             << "' must be a ranked tensor of rank 4 "
                "([batch, heads, seq, head_dim]), found "
             << value.getType();
    if (!isDataElementType(type.getElementType()))
      return op->emitOpError()
             << what << " '" << name
             << "' must have element type f32, f16 or bf16, found "
             << type.getElementType();
    return type;
  }

  /// `value` must be tensor<heads x 2 x f32>.
  FailureOr<RankedTensorType> weightTensor(Value value, StringRef name,
                                           int64_t heads, StringRef headsWhat,
                                           StringRef what = "operand") {
    auto type = dyn_cast<RankedTensorType>(value.getType());
    if (!type || type.getRank() != 2)
      return op->emitOpError()
             << what << " '" << name
             << "' must be a ranked tensor of rank 2 ([heads, 2]), found "
             << value.getType();
    if (!type.getElementType().isF32())
      return op->emitOpError() << what << " '" << name
                               << "' must have element type f32, found "
                               << type.getElementType();
    int64_t h = type.getDimSize(0), two = type.getDimSize(1);
    bool headsBad = !ShapedType::isDynamic(h) &&
                    !ShapedType::isDynamic(heads) && h != heads;
    bool twoBad = !ShapedType::isDynamic(two) && two != 2;
    if (headsBad || twoBad)
      return op->emitOpError()
             << what << " '" << name << "' must have shape [" << headsWhat
             << ", 2] = [" << dimStr(heads) << ", 2], found "
             << shapeStr(type.getShape());
    return type;
  }

  /// Dimension `dim` of `name` must equal dimension `refDim` of `refName`
  /// where both are static.
  LogicalResult sameDim(RankedTensorType type, StringRef name, int64_t dim,
                        RankedTensorType refType, StringRef refName,
                        int64_t refDim, StringRef dimName) {
    int64_t a = type.getDimSize(dim), b = refType.getDimSize(refDim);
    if (ShapedType::isDynamic(a) || ShapedType::isDynamic(b) || a == b)
      return success();
    return op->emitOpError()
           << dimName << " of '" << name << "' (dim " << dim
           << ") must equal that of '" << refName << "' (dim " << refDim
           << "): expected " << b << ", found " << a;
  }

  /// Dimension `dim` of `name` must not be statically zero.
  LogicalResult nonEmpty(RankedTensorType type, StringRef name, int64_t dim,
                         StringRef dimName) {
    if (type.getDimSize(dim) != 0)
      return success();
    return op->emitOpError() << "operand '" << name << "' must have a non-zero "
                             << dimName << " (dim " << dim << "), found 0";
  }

  /// `type` (a result or operand) must have the element type of `refType`
  /// and a shape compatible with it.
  LogicalResult sameTensorType(RankedTensorType type, StringRef name,
                               RankedTensorType refType, StringRef refName,
                               StringRef what) {
    if (type.getElementType() != refType.getElementType())
      return op->emitOpError()
             << what << " '" << name << "' must have the element type of '"
             << refName << "' (" << refType.getElementType() << "), found "
             << type.getElementType();
    for (int64_t i = 0; i < 4; ++i) {
      int64_t a = type.getDimSize(i), b = refType.getDimSize(i);
      if (!ShapedType::isDynamic(a) && !ShapedType::isDynamic(b) && a != b)
        return op->emitOpError()
               << what << " '" << name << "' must have the shape of '"
               << refName << "' " << shapeStr(refType.getShape())
               << ", found " << shapeStr(type.getShape());
    }
    return success();
  }

private:
  Operation *op;
};

/// RoPE after the mix: theta finite and > 0, an even head dim (`d`, dim 3
/// of `dName`); a scale finite and non-zero.
LogicalResult verifyRopeAndScale(Operation *op, int64_t d, StringRef dName,
                                 std::optional<APFloat> scale) {
  if (auto theta = op->getAttrOfType<FloatAttr>("rope_theta")) {
    double t = theta.getValueAsDouble();
    if (!std::isfinite(t) || !(t > 0.0)) {
      std::string str;
      llvm::raw_string_ostream os(str);
      os << t;
      return op->emitOpError()
             << "attribute 'rope_theta' must be finite and > 0, found " << str;
    }
    if (!ShapedType::isDynamic(d) && d % 2 != 0)
      return op->emitOpError()
             << "attribute 'rope_theta' requires an even head_dim (dim 3 of '"
             << dName << "'), found D = " << d;
  }
  if (scale) {
    double s = scale->convertToDouble();
    if (!std::isfinite(s) || s == 0.0) {
      std::string str;
      llvm::raw_string_ostream os(str);
      os << s;
      return op->emitOpError()
             << "attribute 'scale' must be finite and non-zero, found "
             << str;
    }
  }
  return success();
}

/// The checks shared by kv_shift_attention and kv_shift_attention_grad:
/// q, k, v, kw, vw and the attributes.
struct AttentionTypes {
  RankedTensorType q, k, v;
};

FailureOr<AttentionTypes> verifyAttentionOperands(Operation *op, Value q,
                                                  Value k, Value v, Value kw,
                                                  Value vw,
                                                  std::optional<APFloat> scale,
                                                  bool causal) {
  Checker c(op);
  auto qt = c.dataTensor(q, "q");
  if (failed(qt))
    return failure();
  auto kt = c.dataTensor(k, "k");
  if (failed(kt))
    return failure();
  auto vt = c.dataTensor(v, "v");
  if (failed(vt))
    return failure();

  if (kt->getElementType() != qt->getElementType())
    return op->emitOpError()
           << "operand 'k' must have the element type of 'q' ("
           << qt->getElementType() << "), found " << kt->getElementType();
  if (kt->getElementType() != vt->getElementType() ||
      failed(verifyCompatibleShape(*kt, *vt)))
    return op->emitOpError()
           << "operands 'k' and 'v' must have the same type, found "
           << *kt << " and " << *vt;
  if (failed(c.nonEmpty(*qt, "q", 3, "head_dim")) ||
      failed(c.nonEmpty(*kt, "k", 2, "sequence length (Sk)")))
    return failure();

  if (failed(c.sameDim(*kt, "k", 0, *qt, "q", 0, "batch size")) ||
      failed(c.sameDim(*kt, "k", 3, *qt, "q", 3, "head_dim")))
    return failure();

  int64_t hq = qt->getDimSize(1), hkv = kt->getDimSize(1);
  if (!ShapedType::isDynamic(hkv) && hkv == 0)
    return op->emitOpError()
           << "operand 'k' must have at least one KV head (dim 1), found 0";
  if (!ShapedType::isDynamic(hq) && !ShapedType::isDynamic(hkv) &&
      hq % hkv != 0)
    return op->emitOpError()
           << "query heads (Hq = " << hq
           << ", dim 1 of 'q') must be a multiple of KV heads (Hkv = " << hkv
           << ", dim 1 of 'k')";

  if (failed(c.weightTensor(kw, "kw", hkv, "Hkv")) ||
      failed(c.weightTensor(vw, "vw", hkv, "Hkv")))
    return failure();

  int64_t sq = qt->getDimSize(2), sk = kt->getDimSize(2);
  if (causal && !ShapedType::isDynamic(sq) && !ShapedType::isDynamic(sk) &&
      sq > sk)
    return op->emitOpError()
           << "causal attention requires Sq <= Sk, found Sq = " << sq
           << " (dim 2 of 'q') and Sk = " << sk << " (dim 2 of 'k')";

  if (failed(verifyRopeAndScale(op, qt->getDimSize(3), "q", scale)))
    return failure();
  return AttentionTypes{*qt, *kt, *vt};
}

/// Mixed sizes of `source` for a result of type `resultType`: static sizes of
/// the result where it has them, tensor.dim of `source` elsewhere.
SmallVector<OpFoldResult> mixedSizesLike(OpBuilder &b, Location loc,
                                         Value source, ShapedType resultType) {
  SmallVector<OpFoldResult> sizes;
  for (int64_t i = 0, e = resultType.getRank(); i < e; ++i) {
    if (!resultType.isDynamicDim(i))
      sizes.push_back(b.getIndexAttr(resultType.getDimSize(i)));
    else
      sizes.push_back(tensor::getMixedSize(b, loc, source, i));
  }
  return sizes;
}

/// Replaces operands produced by a tensor.cast from a more static type with
/// the cast's source. Result types are left as they are (they stay
/// compatible), so no cast back is needed.
struct FoldStaticCastOperands : RewritePattern {
  FoldStaticCastOperands(StringRef opName, MLIRContext *ctx)
      : RewritePattern(opName, /*benefit=*/1, ctx) {}
  LogicalResult matchAndRewrite(Operation *op,
                                PatternRewriter &rewriter) const override {
    auto foldable = [](OpOperand &operand) {
      auto cast = operand.get().getDefiningOp<tensor::CastOp>();
      return cast && tensor::canFoldIntoConsumerOp(cast);
    };
    if (llvm::none_of(op->getOpOperands(), foldable))
      return failure();
    rewriter.modifyOpInPlace(op, [&] {
      for (OpOperand &operand : op->getOpOperands())
        if (foldable(operand))
          operand.set(operand.get().getDefiningOp<tensor::CastOp>().getSource());
    });
    return success();
  }
};

/// The results of the gradient ops: dq, dk, dv of the types of q, k, v and
/// dkw, dvw of shape [Hkv, 2].
LogicalResult verifyGradResults(Operation *op, const AttentionTypes &types,
                                Value dq, Value dk, Value dv, Value dkw,
                                Value dvw) {
  Checker c(op);
  struct Expected {
    Value result;
    StringRef name;
    RankedTensorType ref;
    StringRef refName;
  };
  for (const Expected &e : {Expected{dq, "dq", types.q, "q"},
                            Expected{dk, "dk", types.k, "k"},
                            Expected{dv, "dv", types.v, "v"}}) {
    auto rt = c.dataTensor(e.result, e.name, "result");
    if (failed(rt) ||
        failed(c.sameTensorType(*rt, e.name, e.ref, e.refName, "result")))
      return failure();
  }
  int64_t hkv = types.k.getDimSize(1);
  if (failed(c.weightTensor(dkw, "dkw", hkv, "Hkv", "result")) ||
      failed(c.weightTensor(dvw, "dvw", hkv, "Hkv", "result")))
    return failure();
  return success();
}

} // namespace

//===----------------------------------------------------------------------===//
// KVShiftOp
//===----------------------------------------------------------------------===//

LogicalResult KVShiftOp::verify() {
  Checker c(*this);
  auto xt = c.dataTensor(getX(), "x");
  if (failed(xt))
    return failure();
  if (failed(c.nonEmpty(*xt, "x", 2, "sequence length")) ||
      failed(c.nonEmpty(*xt, "x", 3, "head_dim")) ||
      failed(c.weightTensor(getW(), "w", xt->getDimSize(1), "H")))
    return failure();
  auto rt = c.dataTensor(getResult(), "result", "result");
  if (failed(rt))
    return failure();
  return c.sameTensorType(*rt, "result", *xt, "x", "result");
}

/// True when `attr` holds [1, 0] in every row (±0 accepted for the 0).
static bool isIdentityMix(Attribute attr) {
  auto dense = dyn_cast_or_null<DenseFPElementsAttr>(attr);
  if (!dense || dense.getType().getRank() != 2 ||
      dense.getType().getDimSize(1) != 2)
    return false;
  int64_t i = 0;
  for (APFloat value : dense.getValues<APFloat>()) {
    bool ok = (i % 2 == 0) ? value.isExactlyValue(1.0) : value.isZero();
    if (!ok)
      return false;
    ++i;
  }
  return true;
}

OpFoldResult KVShiftOp::fold(FoldAdaptor adaptor) {
  if (getX().getType() == getResult().getType() &&
      isIdentityMix(adaptor.getW()))
    return getX();
  return {};
}

void KVShiftOp::getCanonicalizationPatterns(RewritePatternSet &results,
                                            MLIRContext *ctx) {
  results.add<FoldStaticCastOperands>(getOperationName(), ctx);
}

LogicalResult KVShiftOp::reifyResultShapes(
    OpBuilder &b, ReifiedRankedShapedTypeDims &reified) {
  reified.push_back(mixedSizesLike(b, getLoc(), getX(),
                                   cast<ShapedType>(getResult().getType())));
  return success();
}

//===----------------------------------------------------------------------===//
// KVShiftAttentionOp
//===----------------------------------------------------------------------===//

LogicalResult KVShiftAttentionOp::verify() {
  auto types = verifyAttentionOperands(*this, getQ(), getK(), getV(), getKw(),
                                       getVw(), getScale(), getCausal());
  if (failed(types))
    return failure();
  Checker c(*this);
  auto ot = c.dataTensor(getOut(), "out", "result");
  if (failed(ot))
    return failure();
  return c.sameTensorType(*ot, "out", types->q, "q", "result");
}

std::optional<double> mlir::kvshift::getStaticAttentionScale(Operation *op) {
  if (auto scale = op->getAttrOfType<FloatAttr>("scale"))
    return scale.getValueAsDouble();
  int64_t d = cast<RankedTensorType>(op->getOperand(0).getType()).getDimSize(3);
  if (ShapedType::isDynamic(d))
    return std::nullopt;
  return 1.0 / std::sqrt(static_cast<double>(d));
}

Value KVCacheAttentionOp::buildValidLength(OpBuilder &b, Location loc,
                                           Value sq, Value smax) {
  Value lo = getCausal() ? sq : arith::ConstantIndexOp::create(b, loc, 1);
  return arith::MaxSIOp::create(
      b, loc, lo, arith::MinSIOp::create(b, loc, getLength(), smax));
}

std::optional<double> KVShiftAttentionOp::getStaticScale() {
  return getStaticAttentionScale(*this);
}

void KVShiftAttentionOp::getCanonicalizationPatterns(
    RewritePatternSet &results, MLIRContext *ctx) {
  results.add<FoldStaticCastOperands>(getOperationName(), ctx);
}

LogicalResult KVShiftAttentionOp::reifyResultShapes(
    OpBuilder &b, ReifiedRankedShapedTypeDims &reified) {
  reified.push_back(mixedSizesLike(b, getLoc(), getQ(),
                                   cast<ShapedType>(getOut().getType())));
  return success();
}

//===----------------------------------------------------------------------===//
// KVShiftAttentionGradOp
//===----------------------------------------------------------------------===//

LogicalResult KVShiftAttentionGradOp::verify() {
  auto types = verifyAttentionOperands(*this, getQ(), getK(), getV(), getKw(),
                                       getVw(), getScale(), getCausal());
  if (failed(types))
    return failure();
  Checker c(*this);
  auto dout = c.dataTensor(getDout(), "dout");
  if (failed(dout) ||
      failed(c.sameTensorType(*dout, "dout", types->q, "q", "operand")))
    return failure();

  return verifyGradResults(*this, *types, getDq(), getDk(), getDv(), getDkw(),
                           getDvw());
}

void KVShiftAttentionGradOp::getCanonicalizationPatterns(
    RewritePatternSet &results, MLIRContext *ctx) {
  results.add<FoldStaticCastOperands>(getOperationName(), ctx);
}

LogicalResult KVShiftAttentionGradOp::reifyResultShapes(
    OpBuilder &b, ReifiedRankedShapedTypeDims &reified) {
  Location loc = getLoc();
  reified.push_back(mixedSizesLike(b, loc, getQ(),
                                   cast<ShapedType>(getDq().getType())));
  reified.push_back(mixedSizesLike(b, loc, getK(),
                                   cast<ShapedType>(getDk().getType())));
  reified.push_back(mixedSizesLike(b, loc, getV(),
                                   cast<ShapedType>(getDv().getType())));
  reified.push_back(mixedSizesLike(b, loc, getKw(),
                                   cast<ShapedType>(getDkw().getType())));
  reified.push_back(mixedSizesLike(b, loc, getVw(),
                                   cast<ShapedType>(getDvw().getType())));
  return success();
}

//===----------------------------------------------------------------------===//
// Internal forms with statistics
//===----------------------------------------------------------------------===//

/// lse must be tensor<B x Hq x Sq x f32> for q of shape [B, Hq, Sq, D].
static LogicalResult verifyLSE(Operation *op, Value lse, RankedTensorType q,
                               StringRef what) {
  auto t = dyn_cast<RankedTensorType>(lse.getType());
  if (!t || t.getRank() != 3 || !t.getElementType().isF32() ||
      failed(verifyCompatibleShape(t.getShape(), q.getShape().take_front(3))))
    return op->emitOpError()
           << what << " 'lse' must be tensor<B x Hq x Sq x f32> matching 'q' "
           << shapeStr(q.getShape()) << ", found " << lse.getType();
  return success();
}

LogicalResult KVShiftAttentionWithLSEOp::verify() {
  auto types = verifyAttentionOperands(*this, getQ(), getK(), getV(), getKw(),
                                       getVw(), getScale(), getCausal());
  if (failed(types))
    return failure();
  Checker c(*this);
  auto ot = c.dataTensor(getOut(), "out", "result");
  if (failed(ot) ||
      failed(c.sameTensorType(*ot, "out", types->q, "q", "result")))
    return failure();
  return verifyLSE(*this, getLse(), types->q, "result");
}

LogicalResult KVShiftAttentionGradWithLSEOp::verify() {
  auto types = verifyAttentionOperands(*this, getQ(), getK(), getV(), getKw(),
                                       getVw(), getScale(), getCausal());
  if (failed(types))
    return failure();
  Checker c(*this);
  for (auto [value, name] : {std::pair<Value, StringRef>{getDout(), "dout"},
                             {getFwdOut(), "fwd_out"}}) {
    auto t = c.dataTensor(value, name);
    if (failed(t) || failed(c.sameTensorType(*t, name, types->q, "q",
                                             "operand")))
      return failure();
  }
  if (failed(verifyLSE(*this, getLse(), types->q, "operand")))
    return failure();
  return verifyGradResults(*this, *types, getDq(), getDk(), getDv(), getDkw(),
                           getDvw());
}

//===----------------------------------------------------------------------===//
// KV cache ops
//===----------------------------------------------------------------------===//

/// `type` (operand `name`) must have the element type of `ref` (operand
/// `refName`) and its batch, heads and head_dim (dims 0, 1, 3) where static.
static LogicalResult sameRowsAs(Checker &c, Operation *op,
                                RankedTensorType type, StringRef name,
                                RankedTensorType ref, StringRef refName,
                                StringRef headsName) {
  if (type.getElementType() != ref.getElementType())
    return op->emitOpError()
           << "operand '" << name << "' must have the element type of '"
           << refName << "' (" << ref.getElementType() << "), found "
           << type.getElementType();
  if (failed(c.sameDim(type, name, 0, ref, refName, 0, "batch size")) ||
      failed(c.sameDim(type, name, 1, ref, refName, 1, headsName)) ||
      failed(c.sameDim(type, name, 3, ref, refName, 3, "head_dim")))
    return failure();
  return success();
}

/// Operands `a` and `b` (names `an`, `bn`) must have the same type.
static LogicalResult samePair(Operation *op, RankedTensorType a, StringRef an,
                              RankedTensorType b, StringRef bn) {
  if (a.getElementType() != b.getElementType() ||
      failed(verifyCompatibleShape(a, b)))
    return op->emitOpError() << "operands '" << an << "' and '" << bn
                             << "' must have the same type, found " << a
                             << " and " << b;
  return success();
}

LogicalResult KVCacheAppendOp::verify() {
  Operation *op = *this;
  Checker c(op);
  auto kn = c.dataTensor(getKNew(), "k_new");
  if (failed(kn))
    return failure();
  auto vn = c.dataTensor(getVNew(), "v_new");
  if (failed(vn) || failed(samePair(op, *kn, "k_new", *vn, "v_new")))
    return failure();
  if (failed(c.nonEmpty(*kn, "k_new", 2, "number of new rows (T)")) ||
      failed(c.nonEmpty(*kn, "k_new", 3, "head_dim")))
    return failure();

  auto kl = c.dataTensor(getKLast(), "k_last");
  if (failed(kl) ||
      failed(sameRowsAs(c, op, *kl, "k_last", *kn, "k_new", "KV heads")))
    return failure();
  int64_t one = kl->getDimSize(2);
  if (!ShapedType::isDynamic(one) && one != 1)
    return emitOpError() << "operand 'k_last' must hold one row (dim 2 = 1: "
                            "the raw row of the token before 'pos'), found "
                         << one;
  auto vl = c.dataTensor(getVLast(), "v_last");
  if (failed(vl) || failed(samePair(op, *kl, "k_last", *vl, "v_last")))
    return failure();

  int64_t hkv = kn->getDimSize(1);
  if (failed(c.weightTensor(getKw(), "kw", hkv, "Hkv")) ||
      failed(c.weightTensor(getVw(), "vw", hkv, "Hkv")))
    return failure();

  auto kc = c.dataTensor(getKCache(), "k_cache");
  if (failed(kc) ||
      failed(sameRowsAs(c, op, *kc, "k_cache", *kn, "k_new", "KV heads")))
    return failure();
  auto vc = c.dataTensor(getVCache(), "v_cache");
  if (failed(vc) || failed(samePair(op, *kc, "k_cache", *vc, "v_cache")))
    return failure();
  int64_t t = kn->getDimSize(2), smax = kc->getDimSize(2);
  if (!ShapedType::isDynamic(t) && !ShapedType::isDynamic(smax) && t > smax)
    return emitOpError() << "cannot append " << t
                         << " rows (dim 2 of 'k_new') to a cache of " << smax
                         << " rows (dim 2 of 'k_cache')";
  if (failed(verifyRopeAndScale(op, kn->getDimSize(3), "k_new",
                                std::nullopt)))
    return failure();

  struct Expected {
    Value result;
    StringRef name;
    RankedTensorType ref;
    StringRef refName;
  };
  for (const Expected &e :
       {Expected{getNewKCache(), "new_k_cache", *kc, "k_cache"},
        Expected{getNewVCache(), "new_v_cache", *kc, "k_cache"},
        Expected{getNewKLast(), "new_k_last", *kl, "k_last"},
        Expected{getNewVLast(), "new_v_last", *kl, "k_last"}}) {
    auto rt = c.dataTensor(e.result, e.name, "result");
    if (failed(rt) ||
        failed(c.sameTensorType(*rt, e.name, e.ref, e.refName, "result")))
      return failure();
  }
  return success();
}

LogicalResult KVCacheAttentionOp::verify() {
  Operation *op = *this;
  Checker c(op);
  auto qt = c.dataTensor(getQ(), "q");
  if (failed(qt) || failed(c.nonEmpty(*qt, "q", 3, "head_dim")))
    return failure();
  auto kc = c.dataTensor(getKCache(), "k_cache");
  if (failed(kc))
    return failure();
  if (kc->getElementType() != qt->getElementType())
    return emitOpError() << "operand 'k_cache' must have the element type of "
                            "'q' ("
                         << qt->getElementType() << "), found "
                         << kc->getElementType();
  if (failed(c.sameDim(*kc, "k_cache", 0, *qt, "q", 0, "batch size")) ||
      failed(c.sameDim(*kc, "k_cache", 3, *qt, "q", 3, "head_dim")))
    return failure();
  int64_t hq = qt->getDimSize(1), hkv = kc->getDimSize(1);
  if (!ShapedType::isDynamic(hkv) && hkv == 0)
    return emitOpError() << "operand 'k_cache' must have at least one KV "
                            "head (dim 1), found 0";
  if (!ShapedType::isDynamic(hq) && !ShapedType::isDynamic(hkv) &&
      hq % hkv != 0)
    return emitOpError() << "query heads (Hq = " << hq
                         << ", dim 1 of 'q') must be a multiple of KV heads "
                            "(Hkv = "
                         << hkv << ", dim 1 of 'k_cache')";
  auto vc = c.dataTensor(getVCache(), "v_cache");
  if (failed(vc) || failed(samePair(op, *kc, "k_cache", *vc, "v_cache")))
    return failure();
  int64_t sq = qt->getDimSize(2), smax = kc->getDimSize(2);
  if (getCausal() && !ShapedType::isDynamic(sq) &&
      !ShapedType::isDynamic(smax) && sq > smax)
    return emitOpError() << "causal attention of " << sq
                         << " queries (dim 2 of 'q') needs at least as many "
                            "valid cache rows, but the cache holds only "
                         << smax << " (dim 2 of 'k_cache')";
  if (failed(verifyRopeAndScale(op, qt->getDimSize(3), "q", getScale())))
    return failure();
  auto ot = c.dataTensor(getOut(), "out", "result");
  if (failed(ot))
    return failure();
  return c.sameTensorType(*ot, "out", *qt, "q", "result");
}

#define GET_OP_CLASSES
#include "kvshift/Dialect/KVShift/IR/KVShiftOps.cpp.inc"

//===----------------------------------------------------------------------===//
// kernel
//===----------------------------------------------------------------------===//

MemRefType KernelOp::bufferTypeOf(Type tensorType) {
  auto t = cast<RankedTensorType>(tensorType);
  return MemRefType::get(t.getShape(), t.getElementType());
}

void KernelOp::build(OpBuilder &builder, OperationState &state,
                     TypeRange resultTypes, ValueRange inputs) {
  state.addOperands(inputs);
  state.addTypes(resultTypes);
  Region *body = state.addRegion();
  Block *block = new Block();
  body->push_back(block);
  for (Value in : inputs)
    block->addArgument(bufferTypeOf(in.getType()), state.location);
}

LogicalResult KernelOp::verifyRegions() {
  Block &block = getBody().front();
  if (block.getNumArguments() != getInputs().size())
    return emitOpError() << "expects one block argument per input ("
                         << getInputs().size() << "), found "
                         << block.getNumArguments();
  for (auto [i, in, arg] : llvm::enumerate(getInputs(), block.getArguments())) {
    MemRefType expected = bufferTypeOf(in.getType());
    if (arg.getType() != expected)
      return emitOpError() << "expects block argument " << i << " of type "
                           << expected << " (input " << i << "'s buffer), found "
                           << arg.getType();
  }
  auto yield = dyn_cast<KernelYieldOp>(block.getTerminator());
  if (!yield)
    return emitOpError() << "expects its body to end with kvshift.kernel_yield";
  if (yield.getBuffers().size() != getNumResults())
    return emitOpError() << "expects kvshift.kernel_yield to give one buffer "
                            "per result ("
                         << getNumResults() << "), found "
                         << yield.getBuffers().size();
  for (auto [i, res, buf] :
       llvm::enumerate(getResults(), yield.getBuffers())) {
    MemRefType expected = bufferTypeOf(res.getType());
    if (buf.getType() != expected)
      return emitOpError() << "expects yielded buffer " << i << " of type "
                           << expected << " (result " << i
                           << "'s buffer), found " << buf.getType();
    // Results are new allocations for the bufferization: each must be a
    // buffer the body allocated, and no two the same.
    auto alloc = buf.getDefiningOp<memref::AllocOp>();
    if (!alloc || !getBody().isAncestor(alloc->getParentRegion()))
      return emitOpError() << "expects yielded buffer " << i
                           << " to be a memref.alloc of its body";
    for (unsigned j = 0; j < i; ++j)
      if (yield.getBuffers()[j] == buf)
        return emitOpError() << "expects distinct yielded buffers, found "
                             << j << " and " << i << " the same";
  }
  // The body works on buffers: tensors come in as inputs. (A tensor read
  // inside would not be ordered with respect to in-place writes by the
  // bufferization, and tensor ops inside are not bufferized with the body.)
  WalkResult walk = getBody().walk([&](Operation *op) {
    auto isTensor = [](Type t) { return isa<TensorType>(t); };
    if (llvm::any_of(op->getOperandTypes(), isTensor) ||
        llvm::any_of(op->getResultTypes(), isTensor)) {
      op->emitOpError() << "inside kvshift.kernel has a tensor operand or "
                           "result; the body works on buffers (pass tensors "
                           "as inputs)";
      return WalkResult::interrupt();
    }
    return WalkResult::advance();
  });
  return failure(walk.wasInterrupted());
}

bool KernelOp::bufferizesToAllocation(Value value) { return true; }

bool KernelOp::bufferizesToMemoryRead(
    OpOperand &operand, const bufferization::AnalysisState &state) {
  return true;
}

bool KernelOp::bufferizesToMemoryWrite(
    OpOperand &operand, const bufferization::AnalysisState &state) {
  return false;
}

bufferization::AliasingValueList
KernelOp::getAliasingValues(OpOperand &operand,
                            const bufferization::AnalysisState &state) {
  return {};
}

FailureOr<bufferization::BufferLikeType>
KernelOp::getBufferType(Value value,
                        const bufferization::BufferizationOptions &options,
                        const bufferization::BufferizationState &state,
                        SmallVector<Value> &invocationStack) {
  return cast<bufferization::BufferLikeType>(bufferTypeOf(value.getType()));
}

LogicalResult
KernelOp::bufferize(RewriterBase &rewriter,
                    const bufferization::BufferizationOptions &options,
                    bufferization::BufferizationState &state) {
  SmallVector<Value> buffers;
  for (Value in : getInputs()) {
    FailureOr<Value> buf = bufferization::getBuffer(rewriter, in, options,
                                                    state);
    if (failed(buf))
      return failure();
    MemRefType want = bufferTypeOf(in.getType());
    if (buf->getType() != want) {
      // Another layout (a strided view): cast where that is valid, else copy
      // into an identity-layout buffer.
      rewriter.setInsertionPoint(*this);
      FailureOr<Value> cast =
          bufferization::castOrReallocMemRefValue(rewriter, *buf, want,
                                                  options);
      if (failed(cast))
        return emitOpError() << "cannot pass input of buffer type "
                             << buf->getType() << " as " << want;
      buf = cast;
    }
    buffers.push_back(*buf);
  }
  Block &block = getBody().front();
  auto yield = cast<KernelYieldOp>(block.getTerminator());
  SmallVector<Value> results(yield.getBuffers());
  rewriter.eraseOp(yield);
  rewriter.inlineBlockBefore(&block, *this, buffers);
  bufferization::replaceOpWithBufferizedValues(rewriter, *this, results);
  return success();
}
