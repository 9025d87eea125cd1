//===- Decompose.cpp - reference lowering of kvshift ops ------------------===//
//
// Rewrites kvshift.kv_shift and kvshift.kv_shift_attention into
// linalg/tensor/arith/math ops on tensors. Everything is materialised; this is
// the ground truth the fused lowerings are compared with.
//
//===----------------------------------------------------------------------===//

#include "kvshift/Dialect/KVShift/IR/KVShiftOps.h"
#include "kvshift/Dialect/KVShift/Transforms/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Arith/Utils/Utils.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/AffineMap.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

#include <cmath>
#include <limits>

namespace mlir::kvshift {
#define GEN_PASS_DEF_KVSHIFTDECOMPOSE
#include "kvshift/Dialect/KVShift/Transforms/Passes.h.inc"
} // namespace mlir::kvshift

using namespace mlir;
using namespace mlir::kvshift;

namespace {

/// Converts a float scalar to `to` (extf, truncf or nothing).
Value convertFloat(OpBuilder &b, Location loc, Value v, Type to) {
  Type from = v.getType();
  if (from == to)
    return v;
  if (from.getIntOrFloatBitWidth() < to.getIntOrFloatBitWidth())
    return arith::ExtFOp::create(b, loc, to, v);
  return arith::TruncFOp::create(b, loc, to, v);
}

SmallVector<utils::IteratorType> iterators(int64_t parallel,
                                           int64_t reduction = 0) {
  SmallVector<utils::IteratorType> its(parallel,
                                       utils::IteratorType::parallel);
  its.append(reduction, utils::IteratorType::reduction);
  return its;
}

/// A map from `numDims` loop dims to the listed dims.
AffineMap dimsMap(MLIRContext *ctx, unsigned numDims,
                  ArrayRef<unsigned> dims) {
  SmallVector<AffineExpr> exprs;
  for (unsigned d : dims)
    exprs.push_back(getAffineDimExpr(d, ctx));
  return AffineMap::get(numDims, 0, exprs, ctx);
}

/// tensor.empty of the given sizes and element type.
Value emptyTensor(OpBuilder &b, Location loc, ArrayRef<OpFoldResult> sizes,
                  Type elementType) {
  return tensor::EmptyOp::create(b, loc, sizes, elementType);
}

/// tensor.empty filled with `value`.
Value filledTensor(OpBuilder &b, Location loc, ArrayRef<OpFoldResult> sizes,
                   Type elementType, double value) {
  Value empty = emptyTensor(b, loc, sizes, elementType);
  Value cst = arith::ConstantOp::create(
      b, loc, elementType, b.getFloatAttr(elementType, value));
  return linalg::FillOp::create(b, loc, ValueRange{cst}, ValueRange{empty})
      .getResult(0);
}

/// Column `col` of a [H, 2] weight tensor as a rank-1 tensor<H x f32>.
Value weightColumn(OpBuilder &b, Location loc, Value w, int64_t col) {
  auto wt = cast<RankedTensorType>(w.getType());
  OpFoldResult h = tensor::getMixedSize(b, loc, w, 0);
  auto resultType =
      RankedTensorType::get({wt.getDimSize(0)}, wt.getElementType());
  SmallVector<OpFoldResult> offsets = {b.getIndexAttr(0), b.getIndexAttr(col)};
  SmallVector<OpFoldResult> sizes = {h, b.getIndexAttr(1)};
  SmallVector<OpFoldResult> strides = {b.getIndexAttr(1), b.getIndexAttr(1)};
  return tensor::ExtractSliceOp::create(b, loc, resultType, w, offsets, sizes,
                                        strides);
}

/// The mix: result[b,h,t,d] = w[h,0] * x[b,h,t,d] + w[h,1] * x[b,h,t-1,d],
/// computed in f32 and converted to `resultElementType`.
Value buildMix(OpBuilder &b, Location loc, Value x, Value w,
               Type resultElementType) {
  MLIRContext *ctx = b.getContext();
  auto xt = cast<RankedTensorType>(x.getType());
  Type elt = xt.getElementType();
  Type f32 = b.getF32Type();
  SmallVector<OpFoldResult> sizes = tensor::getMixedSizes(b, loc, x);

  // x shifted one row down the sequence: pad one zero row in front and keep
  // the first S rows.
  Value zero =
      arith::ConstantOp::create(b, loc, elt, b.getFloatAttr(elt, 0.0));
  SmallVector<OpFoldResult> low = {b.getIndexAttr(0), b.getIndexAttr(0),
                                   b.getIndexAttr(1), b.getIndexAttr(0)};
  SmallVector<OpFoldResult> high(4, b.getIndexAttr(0));
  Value padded = tensor::PadOp::create(b, loc, Type(), x, low, high, zero);
  SmallVector<OpFoldResult> offsets(4, b.getIndexAttr(0));
  SmallVector<OpFoldResult> strides(4, b.getIndexAttr(1));
  Value prev = tensor::ExtractSliceOp::create(b, loc, xt, padded, offsets,
                                              sizes, strides);

  Value w0 = weightColumn(b, loc, w, 0);
  Value w1 = weightColumn(b, loc, w, 1);
  Value init = emptyTensor(b, loc, sizes, resultElementType);

  AffineMap id = AffineMap::getMultiDimIdentityMap(4, ctx);
  AffineMap head = dimsMap(ctx, 4, {1});
  auto generic = linalg::GenericOp::create(
      b, loc, init.getType(), ValueRange{x, prev, w0, w1}, ValueRange{init},
      ArrayRef<AffineMap>{id, id, head, head, id}, iterators(4),
      [&](OpBuilder &nb, Location nl, ValueRange args) {
        Value cur = convertFloat(nb, nl, args[0], f32);
        Value old = convertFloat(nb, nl, args[1], f32);
        Value a = arith::MulFOp::create(nb, nl, args[2], cur);
        Value c = arith::MulFOp::create(nb, nl, args[3], old);
        Value sum = arith::AddFOp::create(nb, nl, a, c);
        linalg::YieldOp::create(
            nb, nl, convertFloat(nb, nl, sum, resultElementType));
      });
  return generic.getResult(0);
}

/// RoPE ("rotate half") on the last dimension of `x` (rank R, any float
/// element type), for rows whose position is their index along `seqDim` plus
/// `posOffset` (an index value): with half = D/2 and
/// inv_freq[i] = theta^(-2i/D), the angle p * inv_freq[i] and its cosine and
/// sine are computed in f64 and rounded to f32, then
///   out[i]        = x[i] c - x[i + half] s
///   out[i + half] = x[i + half] c + x[i] s
/// in f32. `inverse` rotates by -p (the transpose, for gradients). Returns
/// an f32 tensor of x's shape.
Value buildRope(OpBuilder &b, Location loc, Value x, unsigned seqDim,
                Value posOffset, double theta, bool inverse) {
  MLIRContext *ctx = b.getContext();
  auto xt = cast<RankedTensorType>(x.getType());
  int64_t rank = xt.getRank();
  Type f32 = b.getF32Type(), f64 = b.getF64Type();
  SmallVector<OpFoldResult> sizes = tensor::getMixedSizes(b, loc, x);
  Value dVal = getValueOrCreateConstantIndexOp(b, loc, sizes.back());
  Value halfVal = arith::DivUIOp::create(
      b, loc, dVal, arith::ConstantIndexOp::create(b, loc, 2));
  int64_t dS = xt.getDimSize(rank - 1);
  int64_t halfS = ShapedType::isDynamic(dS) ? ShapedType::kDynamic : dS / 2;
  OpFoldResult half = ShapedType::isDynamic(dS) ? OpFoldResult(halfVal)
                                                : b.getIndexAttr(halfS);
  SmallVector<int64_t> halfShape(xt.getShape());
  halfShape.back() = halfS;
  SmallVector<OpFoldResult> halfSizes(sizes);
  halfSizes.back() = half;
  SmallVector<OpFoldResult> off0(rank, b.getIndexAttr(0));
  SmallVector<OpFoldResult> offH(rank, b.getIndexAttr(0));
  offH.back() = half;
  SmallVector<OpFoldResult> strides(rank, b.getIndexAttr(1));
  auto sliceType = RankedTensorType::get(halfShape, xt.getElementType());
  Value x1 = tensor::ExtractSliceOp::create(b, loc, sliceType, x, off0,
                                            halfSizes, strides);
  Value x2 = tensor::ExtractSliceOp::create(b, loc, sliceType, x, offH,
                                            halfSizes, strides);

  Value dF = arith::SIToFPOp::create(
      b, loc, f64, arith::IndexCastOp::create(b, loc, b.getI64Type(), dVal));
  Value thetaC =
      arith::ConstantOp::create(b, loc, f64, b.getF64FloatAttr(theta));
  Value minusTwo =
      arith::ConstantOp::create(b, loc, f64, b.getF64FloatAttr(-2.0));
  Value e1 = emptyTensor(b, loc, halfSizes, f32);
  Value e2 = emptyTensor(b, loc, halfSizes, f32);
  AffineMap id = AffineMap::getMultiDimIdentityMap(rank, ctx);
  auto halfType = RankedTensorType::get(halfShape, f32);
  auto generic = linalg::GenericOp::create(
      b, loc, TypeRange{halfType, halfType}, ValueRange{x1, x2},
      ValueRange{e1, e2}, ArrayRef<AffineMap>{id, id, id, id}, iterators(rank),
      [&](OpBuilder &nb, Location nl, ValueRange args) {
        auto toF64 = [&](Value index) -> Value {
          return arith::SIToFPOp::create(
              nb, nl, f64,
              arith::IndexCastOp::create(nb, nl, nb.getI64Type(), index));
        };
        Value pos = arith::AddIOp::create(
            nb, nl, linalg::IndexOp::create(nb, nl, seqDim), posOffset);
        Value i = toF64(linalg::IndexOp::create(nb, nl, rank - 1));
        // inv_freq = theta^(-2i/D), angle = p * inv_freq, in f64.
        Value expo = arith::DivFOp::create(
            nb, nl, arith::MulFOp::create(nb, nl, minusTwo, i), dF);
        Value invFreq = math::PowFOp::create(nb, nl, thetaC, expo);
        Value angle = arith::MulFOp::create(nb, nl, toF64(pos), invFreq);
        Value c = arith::TruncFOp::create(nb, nl, f32,
                                          math::CosOp::create(nb, nl, angle));
        Value sn = arith::TruncFOp::create(nb, nl, f32,
                                           math::SinOp::create(nb, nl, angle));
        if (inverse)
          sn = arith::NegFOp::create(nb, nl, sn);
        Value a = convertFloat(nb, nl, args[0], f32);
        Value h = convertFloat(nb, nl, args[1], f32);
        Value o1 = arith::SubFOp::create(
            nb, nl, arith::MulFOp::create(nb, nl, a, c),
            arith::MulFOp::create(nb, nl, h, sn));
        Value o2 = arith::AddFOp::create(
            nb, nl, arith::MulFOp::create(nb, nl, h, c),
            arith::MulFOp::create(nb, nl, a, sn));
        linalg::YieldOp::create(nb, nl, ValueRange{o1, o2});
      });
  Value out = emptyTensor(b, loc, sizes, f32);
  out = tensor::InsertSliceOp::create(b, loc, generic.getResult(0), out, off0,
                                      halfSizes, strides);
  out = tensor::InsertSliceOp::create(b, loc, generic.getResult(1), out, offH,
                                      halfSizes, strides);
  return out;
}

struct DecomposeKVShift : OpRewritePattern<KVShiftOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(KVShiftOp op,
                                PatternRewriter &rewriter) const override {
    auto resultType = cast<RankedTensorType>(op.getResult().getType());
    Value mixed = buildMix(rewriter, op.getLoc(), op.getX(), op.getW(),
                           resultType.getElementType());
    if (mixed.getType() != resultType)
      mixed = tensor::CastOp::create(rewriter, op.getLoc(), resultType, mixed);
    rewriter.replaceOp(op, mixed);
    return success();
  }
};

/// The rope_theta attribute of an attention op, if any.
std::optional<double> ropeThetaOf(Operation *op) {
  if (auto theta = op->getAttrOfType<FloatAttr>("rope_theta"))
    return theta.getValueAsDouble();
  return std::nullopt;
}

/// The materialised forward graph of kv_shift_attention, shared by the
/// forward and the gradient decompositions: mixed K^/V^ (f32), q viewed as
/// [B, Hkv, G, Sq, D] and the probabilities P [B, Hkv, G, Sq, Sk] (f32).
struct AttentionGraph {
  AttentionGraph(OpBuilder &b, Location loc)
      : b(b), loc(loc), ctx(b.getContext()), f32(b.getF32Type()) {}

  OpBuilder &b;
  Location loc;
  MLIRContext *ctx;
  Type f32;
  OpFoldResult bSz, hq, sq, d, hkv, sk, g;
  int64_t gS = ShapedType::kDynamic;
  SmallVector<ReassociationIndices> reassoc = {{0}, {1, 2}, {3}, {4}};
  Value kh, vh, q5, scale, probs, rowMax, rowSum;
  /// With RoPE: the position of query row i is i + qPosOffset (Sk - Sq).
  std::optional<double> ropeTheta;
  Value qPosOffset;

  Value idx(OpFoldResult ofr) {
    return getValueOrCreateConstantIndexOp(b, loc, ofr);
  }
  Value cst(double v) {
    return arith::ConstantOp::create(b, loc, f32, b.getF32FloatAttr(v));
  }

  /// [B, Hq, Sq, D] (q, or dout of q's shape) -> [B, Hkv, G, Sq, D]
  /// (element type kept).
  Value expandHeads(Value x) {
    auto xt = cast<RankedTensorType>(x.getType());
    OpFoldResult s = sq;
    auto type = RankedTensorType::get({xt.getDimSize(0), hkvS(), gS,
                                       xt.getDimSize(2), xt.getDimSize(3)},
                                      xt.getElementType());
    if (!ShapedType::isDynamic(gS))
      return tensor::ExpandShapeOp::create(
          b, loc, type, x, reassoc,
          SmallVector<OpFoldResult>{bSz, hkv, g, s, d});
    // Hq / Hkv unknown at compile time: expand_shape would have two dynamic
    // sizes in one group, which expand-strided-metadata (MLIR 22) cannot
    // lower; a reshape by a shape tensor lowers fine.
    SmallVector<Value> dims;
    for (OpFoldResult ofr : {bSz, hkv, g, s, d})
      dims.push_back(idx(ofr));
    Value shape = tensor::FromElementsOp::create(b, loc, dims);
    return tensor::ReshapeOp::create(b, loc, type, x, shape);
  }

  /// Converts an f32 [B, Hkv, G, S, D] tensor to `resultType`
  /// ([B, Hq, S, D], element type converted, heads collapsed).
  Value collapseHeads(Value x5, RankedTensorType resultType) {
    Type elt = resultType.getElementType();
    if (elt != f32)
      x5 = convertTensor(x5, elt);
    Value out = tensor::CollapseShapeOp::create(b, loc, x5, reassoc);
    if (out.getType() != resultType)
      out = tensor::CastOp::create(b, loc, resultType, out);
    return out;
  }

  /// Elementwise float conversion of a tensor.
  Value convertTensor(Value x, Type elt) {
    auto xt = cast<RankedTensorType>(x.getType());
    int64_t rank = xt.getRank();
    AffineMap id = AffineMap::getMultiDimIdentityMap(rank, ctx);
    return linalg::GenericOp::create(
               b, loc, RankedTensorType::get(xt.getShape(), elt),
               ValueRange{x},
               ValueRange{emptyTensor(b, loc,
                                      tensor::getMixedSizes(b, loc, x), elt)},
               ArrayRef<AffineMap>{id, id}, iterators(rank),
               [&](OpBuilder &nb, Location nl, ValueRange args) {
                 linalg::YieldOp::create(nb, nl,
                                         convertFloat(nb, nl, args[0], elt));
               })
        .getResult(0);
  }

  int64_t hkvS() const { return hkvStatic; }
  int64_t hkvStatic = ShapedType::kDynamic;

  /// A contraction C = sum over `red` of A * B (f32), as one linalg.generic
  /// over `numDims` loops; `scaleBy` multiplies each product when given.
  Value contract(unsigned numDims, ArrayRef<unsigned> aDims,
                 ArrayRef<unsigned> bDims, ArrayRef<unsigned> cDims,
                 ArrayRef<OpFoldResult> cSizes, Value a, Value bv,
                 Value scaleBy = Value()) {
    Value init = filledTensor(b, loc, cSizes, f32, 0.0);
    SmallVector<utils::IteratorType> its;
    for (unsigned i = 0; i < numDims; ++i)
      its.push_back(llvm::is_contained(cDims, i)
                        ? utils::IteratorType::parallel
                        : utils::IteratorType::reduction);
    return linalg::GenericOp::create(
               b, loc, init.getType(), ValueRange{a, bv}, ValueRange{init},
               ArrayRef<AffineMap>{dimsMap(ctx, numDims, aDims),
                                   dimsMap(ctx, numDims, bDims),
                                   dimsMap(ctx, numDims, cDims)},
               its,
               [&](OpBuilder &nb, Location nl, ValueRange args) {
                 Value x = convertFloat(nb, nl, args[0], f32);
                 Value y = convertFloat(nb, nl, args[1], f32);
                 Value prod = arith::MulFOp::create(nb, nl, x, y);
                 if (scaleBy)
                   prod = arith::MulFOp::create(nb, nl, prod, scaleBy);
                 linalg::YieldOp::create(
                     nb, nl,
                     ValueRange{arith::AddFOp::create(nb, nl, args[2], prod)});
               })
        .getResult(0);
  }

  void build(Value q, Value k, Value v, Value kw, Value vw,
             std::optional<double> staticScale, bool causal,
             std::optional<double> theta) {
    auto qt = cast<RankedTensorType>(q.getType());
    auto kt = cast<RankedTensorType>(k.getType());

    // Mixed keys and values, materialised in f32.
    kh = buildMix(b, loc, k, kw, f32);
    vh = buildMix(b, loc, v, vw, f32);

    bSz = tensor::getMixedSize(b, loc, q, 0);
    hq = tensor::getMixedSize(b, loc, q, 1);
    sq = tensor::getMixedSize(b, loc, q, 2);
    d = tensor::getMixedSize(b, loc, q, 3);
    hkv = tensor::getMixedSize(b, loc, k, 1);
    sk = tensor::getMixedSize(b, loc, k, 2);

    // GQA: query head h meets KV head h / G.
    int64_t hqS = qt.getDimSize(1);
    hkvStatic = kt.getDimSize(1);
    if (!ShapedType::isDynamic(hqS) && !ShapedType::isDynamic(hkvStatic)) {
      gS = hqS / hkvStatic;
      g = b.getIndexAttr(gS);
    } else {
      g = arith::DivUIOp::create(b, loc, idx(hq), idx(hkv)).getResult();
    }
    q5 = expandHeads(q);

    // RoPE after the mix: rotate the mixed keys (position j) and the
    // queries (position Sk - Sq + i), both in f32.
    ropeTheta = theta;
    if (ropeTheta) {
      Value zero = arith::ConstantIndexOp::create(b, loc, 0);
      qPosOffset = arith::SubIOp::create(b, loc, idx(sk), idx(sq));
      kh = buildRope(b, loc, kh, 2, zero, *ropeTheta, /*inverse=*/false);
      q5 = buildRope(b, loc, q5, 3, qPosOffset, *ropeTheta, /*inverse=*/false);
    }

    // Logit scale.
    if (staticScale) {
      scale = cst(*staticScale);
    } else {
      Value dInt = arith::IndexCastOp::create(b, loc, b.getI64Type(), idx(d));
      Value dF = arith::SIToFPOp::create(b, loc, f32, dInt);
      scale = arith::DivFOp::create(b, loc, cst(1.0),
                                    math::SqrtOp::create(b, loc, dF));
    }

    // Scores, dims (b, h, g, i, j, d).
    SmallVector<OpFoldResult> scoreSizes = {bSz, hkv, g, sq, sk};
    Value scores = contract(6, {0, 1, 2, 3, 5}, {0, 1, 4, 5}, {0, 1, 2, 3, 4},
                            scoreSizes, q5, kh);

    // Scale and mask: key j is visible to query i iff j <= i + (Sk - Sq).
    Value offset;
    if (causal)
      offset = arith::SubIOp::create(b, loc, idx(sk), idx(sq));
    AffineMap id5 = AffineMap::getMultiDimIdentityMap(5, ctx);
    Value negInf = cst(-std::numeric_limits<double>::infinity());
    Value logits =
        linalg::GenericOp::create(
            b, loc, scores.getType(), ValueRange{scores},
            ValueRange{emptyTensor(b, loc, scoreSizes, f32)},
            ArrayRef<AffineMap>{id5, id5}, iterators(5),
            [&](OpBuilder &nb, Location nl, ValueRange args) {
              Value s = arith::MulFOp::create(nb, nl, args[0], scale);
              if (offset) {
                Value i = linalg::IndexOp::create(nb, nl, 3);
                Value j = linalg::IndexOp::create(nb, nl, 4);
                Value last = arith::AddIOp::create(nb, nl, i, offset);
                Value masked = arith::CmpIOp::create(
                    nb, nl, arith::CmpIPredicate::sgt, j, last);
                s = arith::SelectOp::create(nb, nl, masked, negInf, s);
              }
              linalg::YieldOp::create(nb, nl, s);
            })
            .getResult(0);

    // Row max, with -inf (a row that sees no key) replaced by 0 so that the
    // exponentials below are 0 rather than NaN.
    SmallVector<OpFoldResult> rowSizes = {bSz, hkv, g, sq};
    AffineMap rowMap = dimsMap(ctx, 5, {0, 1, 2, 3});
    Value maxInit = filledTensor(b, loc, rowSizes, f32,
                                 -std::numeric_limits<double>::infinity());
    rowMax =
        linalg::GenericOp::create(
            b, loc, maxInit.getType(), ValueRange{logits}, ValueRange{maxInit},
            ArrayRef<AffineMap>{id5, rowMap}, iterators(4, 1),
            [&](OpBuilder &nb, Location nl, ValueRange args) {
              linalg::YieldOp::create(
                  nb, nl,
                  ValueRange{arith::MaximumFOp::create(nb, nl, args[0],
                                                       args[1])});
            })
            .getResult(0);

    // exp(logit - max). A row that sees no key at all (causal with
    // i + Sk - Sq < 0, only possible when dynamic shapes give Sq > Sk at run
    // time) is defined as zeros; every other row follows IEEE arithmetic, so
    // a row whose logits are all -inf because an input holds an infinity
    // stays NaN.
    Value zeroF = cst(0.0);
    auto rowSeesNoKey = [&](OpBuilder &nb, Location nl) -> Value {
      if (!offset)
        return Value();
      Value i = linalg::IndexOp::create(nb, nl, 3);
      Value last = arith::AddIOp::create(nb, nl, i, offset);
      Value zeroIdx = arith::ConstantIndexOp::create(nb, nl, 0);
      return arith::CmpIOp::create(nb, nl, arith::CmpIPredicate::slt, last,
                                   zeroIdx);
    };
    Value expd =
        linalg::GenericOp::create(
            b, loc, scores.getType(), ValueRange{logits, rowMax},
            ValueRange{emptyTensor(b, loc, scoreSizes, f32)},
            ArrayRef<AffineMap>{id5, rowMap, id5}, iterators(5),
            [&](OpBuilder &nb, Location nl, ValueRange args) {
              Value m = args[1];
              if (Value none = rowSeesNoKey(nb, nl))
                m = arith::SelectOp::create(nb, nl, none, zeroF, m);
              Value diff = arith::SubFOp::create(nb, nl, args[0], m);
              linalg::YieldOp::create(
                  nb, nl, ValueRange{math::ExpOp::create(nb, nl, diff)});
            })
            .getResult(0);

    // Row sum.
    Value sumInit = filledTensor(b, loc, rowSizes, f32, 0.0);
    rowSum =
        linalg::GenericOp::create(
            b, loc, sumInit.getType(), ValueRange{expd}, ValueRange{sumInit},
            ArrayRef<AffineMap>{id5, rowMap}, iterators(4, 1),
            [&](OpBuilder &nb, Location nl, ValueRange args) {
              linalg::YieldOp::create(
                  nb, nl,
                  ValueRange{arith::AddFOp::create(nb, nl, args[0], args[1])});
            })
            .getResult(0);

    // Probabilities; a row that sees no key becomes zeros.
    probs =
        linalg::GenericOp::create(
            b, loc, scores.getType(), ValueRange{expd, rowSum},
            ValueRange{emptyTensor(b, loc, scoreSizes, f32)},
            ArrayRef<AffineMap>{id5, rowMap, id5}, iterators(5),
            [&](OpBuilder &nb, Location nl, ValueRange args) {
              Value p = arith::DivFOp::create(nb, nl, args[0], args[1]);
              if (Value none = rowSeesNoKey(nb, nl))
                p = arith::SelectOp::create(nb, nl, none, zeroF, p);
              linalg::YieldOp::create(nb, nl, ValueRange{p});
            })
            .getResult(0);
  }

  /// out5[b,h,g,i,d] = sum_j P[b,h,g,i,j] * V^[b,h,j,d]; dims (b,h,g,i,d,j).
  Value output5() {
    return contract(6, {0, 1, 2, 3, 5}, {0, 1, 5, 4}, {0, 1, 2, 3, 4},
                    {bSz, hkv, g, sq, d}, probs, vh);
  }
};

struct DecomposeAttention : OpRewritePattern<KVShiftAttentionOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(KVShiftAttentionOp op,
                                PatternRewriter &rewriter) const override {
    AttentionGraph graph(rewriter, op.getLoc());
    graph.build(op.getQ(), op.getK(), op.getV(), op.getKw(), op.getVw(),
                op.getStaticScale(), op.getCausal(), ropeThetaOf(op));
    Value out = graph.collapseHeads(
        graph.output5(), cast<RankedTensorType>(op.getOut().getType()));
    rewriter.replaceOp(op, out);
    return success();
  }
};

/// x shifted by one row along the sequence (dim 2): `down` gives
/// x[t-1] (zero at t = 0), otherwise x[t+1] (zero at t = S-1).
Value shiftRows(OpBuilder &b, Location loc, Value x, bool down) {
  auto xt = cast<RankedTensorType>(x.getType());
  Type elt = xt.getElementType();
  SmallVector<OpFoldResult> sizes = tensor::getMixedSizes(b, loc, x);
  Value zero =
      arith::ConstantOp::create(b, loc, elt, b.getFloatAttr(elt, 0.0));
  SmallVector<OpFoldResult> low(4, b.getIndexAttr(0)), high(4, b.getIndexAttr(0));
  (down ? low : high)[2] = b.getIndexAttr(1);
  Value padded = tensor::PadOp::create(b, loc, Type(), x, low, high, zero);
  SmallVector<OpFoldResult> offsets(4, b.getIndexAttr(0));
  if (!down)
    offsets[2] = b.getIndexAttr(1);
  SmallVector<OpFoldResult> strides(4, b.getIndexAttr(1));
  return tensor::ExtractSliceOp::create(b, loc, xt, padded, offsets, sizes,
                                        strides);
}

/// The gradients through the mix x^_t = w0 x_t + w1 x_{t-1}, given dx^ (f32):
/// dx_t = w0 dx^_t + w1 dx^_{t+1} (converted to the type of `x`), and
/// dw = [sum dx^_t . x_t, sum dx^_t . x_{t-1}] per head (tensor<H x 2 x f32>).
std::pair<Value, Value> mixGradients(OpBuilder &b, Location loc, Value x,
                                     Value w, Value dxh,
                                     RankedTensorType dxType,
                                     RankedTensorType dwType) {
  MLIRContext *ctx = b.getContext();
  Type f32 = b.getF32Type();
  Value next = shiftRows(b, loc, dxh, /*down=*/false);
  Value prev = shiftRows(b, loc, x, /*down=*/true);
  Value w0 = weightColumn(b, loc, w, 0);
  Value w1 = weightColumn(b, loc, w, 1);
  SmallVector<OpFoldResult> sizes = tensor::getMixedSizes(b, loc, x);
  Type elt = dxType.getElementType();
  AffineMap id = AffineMap::getMultiDimIdentityMap(4, ctx);
  AffineMap head = dimsMap(ctx, 4, {1});
  Value dx =
      linalg::GenericOp::create(
          b, loc, RankedTensorType::get(cast<RankedTensorType>(x.getType()).getShape(), elt),
          ValueRange{dxh, next, w0, w1},
          ValueRange{emptyTensor(b, loc, sizes, elt)},
          ArrayRef<AffineMap>{id, id, head, head, id}, iterators(4),
          [&](OpBuilder &nb, Location nl, ValueRange args) {
            Value a = arith::MulFOp::create(nb, nl, args[2], args[0]);
            Value c = arith::MulFOp::create(nb, nl, args[3], args[1]);
            Value sum = arith::AddFOp::create(nb, nl, a, c);
            linalg::YieldOp::create(nb, nl, convertFloat(nb, nl, sum, elt));
          })
          .getResult(0);
  if (dx.getType() != dxType)
    dx = tensor::CastOp::create(b, loc, dxType, dx);

  // dw[h, c] over dims (h, b, t, d): column 0 pairs dx^ with x, column 1
  // with x shifted down.
  OpFoldResult h = tensor::getMixedSize(b, loc, x, 1);
  auto reduceWith = [&](Value other) {
    Value init = filledTensor(b, loc, {h}, f32, 0.0);
    AffineMap in = dimsMap(ctx, 4, {1, 0, 2, 3});
    return linalg::GenericOp::create(
               b, loc, init.getType(), ValueRange{dxh, other},
               ValueRange{init},
               ArrayRef<AffineMap>{in, in, dimsMap(ctx, 4, {0})},
               {utils::IteratorType::parallel, utils::IteratorType::reduction,
                utils::IteratorType::reduction,
                utils::IteratorType::reduction},
               [&](OpBuilder &nb, Location nl, ValueRange args) {
                 Value y = convertFloat(nb, nl, args[1], f32);
                 Value prod = arith::MulFOp::create(nb, nl, args[0], y);
                 linalg::YieldOp::create(
                     nb, nl,
                     ValueRange{arith::AddFOp::create(nb, nl, args[2], prod)});
               })
        .getResult(0);
  };
  Value col0 = reduceWith(x);
  Value col1 = reduceWith(prev);
  Value dw = emptyTensor(b, loc, tensor::getMixedSizes(b, loc, w), f32);
  SmallVector<OpFoldResult> strides = {b.getIndexAttr(1), b.getIndexAttr(1)};
  SmallVector<Value> cols = {col0, col1};
  for (auto [c, col] : llvm::enumerate(cols)) {
    SmallVector<OpFoldResult> offsets = {b.getIndexAttr(0),
                                         b.getIndexAttr(c)};
    SmallVector<OpFoldResult> sz = {h, b.getIndexAttr(1)};
    dw = tensor::InsertSliceOp::create(b, loc, col, dw, offsets, sz, strides);
  }
  if (dw.getType() != dwType)
    dw = tensor::CastOp::create(b, loc, dwType, dw);
  return {dx, dw};
}

/// kv_shift_attention_grad, and its form with the forward's statistics
/// (which the reference recomputes rather than reads).
template <typename GradOp>
struct DecomposeAttentionGrad : OpRewritePattern<GradOp> {
  using OpRewritePattern<GradOp>::OpRewritePattern;
  LogicalResult matchAndRewrite(GradOp op,
                                PatternRewriter &rewriter) const override {
    OpBuilder &b = rewriter;
    Location loc = op.getLoc();
    AttentionGraph gr(rewriter, loc);
    gr.build(op.getQ(), op.getK(), op.getV(), op.getKw(), op.getVw(),
             getStaticAttentionScale(op), op.getCausal(), ropeThetaOf(op));
    Value do5 = gr.expandHeads(op.getDout());
    Value out5 = gr.output5();
    OpFoldResult bSz = gr.bSz, hkv = gr.hkv, g = gr.g, sq = gr.sq,
                 sk = gr.sk, d = gr.d;
    MLIRContext *ctx = b.getContext();
    Type f32 = b.getF32Type();

    // dP[b,h,g,i,j] = sum_d dO[i,d] V^[j,d]; dims (b,h,g,i,j,d).
    Value dP = gr.contract(6, {0, 1, 2, 3, 5}, {0, 1, 4, 5}, {0, 1, 2, 3, 4},
                           {bSz, hkv, g, sq, sk}, do5, gr.vh);
    // Drow[b,h,g,i] = sum_d dO[i,d] O[i,d]; dims (b,h,g,i,d).
    Value dRow = gr.contract(5, {0, 1, 2, 3, 4}, {0, 1, 2, 3, 4},
                             {0, 1, 2, 3}, {bSz, hkv, g, sq}, do5, out5);
    // dS = P * (dP - Drow).
    AffineMap id5 = AffineMap::getMultiDimIdentityMap(5, ctx);
    Value dS =
        linalg::GenericOp::create(
            b, loc, gr.probs.getType(), ValueRange{gr.probs, dP, dRow},
            ValueRange{emptyTensor(b, loc, {bSz, hkv, g, sq, sk}, f32)},
            ArrayRef<AffineMap>{id5, id5, dimsMap(ctx, 5, {0, 1, 2, 3}), id5},
            iterators(5),
            [&](OpBuilder &nb, Location nl, ValueRange args) {
              Value diff = arith::SubFOp::create(nb, nl, args[1], args[2]);
              linalg::YieldOp::create(
                  nb, nl,
                  ValueRange{arith::MulFOp::create(nb, nl, args[0], diff)});
            })
            .getResult(0);

    // dq5[b,h,g,i,d] = scale * sum_j dS[i,j] K^[j,d]; dims (b,h,g,i,d,j).
    Value dq5 = gr.contract(6, {0, 1, 2, 3, 5}, {0, 1, 5, 4}, {0, 1, 2, 3, 4},
                            {bSz, hkv, g, sq, d}, dS, gr.kh, gr.scale);
    // dK^[b,h,j,d] = scale * sum_{g,i} dS[g,i,j] q[g,i,d];
    // dims (b,h,j,d,g,i).
    Value dkh = gr.contract(6, {0, 1, 4, 5, 2}, {0, 1, 4, 5, 3}, {0, 1, 2, 3},
                            {bSz, hkv, sk, d}, dS, gr.q5, gr.scale);
    // dV^[b,h,j,d] = sum_{g,i} P[g,i,j] dO[g,i,d]; dims (b,h,j,d,g,i).
    Value dvh = gr.contract(6, {0, 1, 4, 5, 2}, {0, 1, 4, 5, 3}, {0, 1, 2, 3},
                            {bSz, hkv, sk, d}, gr.probs, do5);

    // With RoPE, dq5 and dK^ are gradients with respect to the rotated
    // queries and keys: rotate them back (the transpose of the rotation).
    if (gr.ropeTheta) {
      dq5 = buildRope(b, loc, dq5, 3, gr.qPosOffset, *gr.ropeTheta,
                      /*inverse=*/true);
      dkh = buildRope(b, loc, dkh, 2, arith::ConstantIndexOp::create(b, loc, 0),
                      *gr.ropeTheta, /*inverse=*/true);
    }
    Value dq = gr.collapseHeads(dq5,
                                cast<RankedTensorType>(op.getDq().getType()));
    auto [dk, dkw] = mixGradients(
        b, loc, op.getK(), op.getKw(), dkh,
        cast<RankedTensorType>(op.getDk().getType()),
        cast<RankedTensorType>(op.getDkw().getType()));
    auto [dv, dvw] = mixGradients(
        b, loc, op.getV(), op.getVw(), dvh,
        cast<RankedTensorType>(op.getDv().getType()),
        cast<RankedTensorType>(op.getDvw().getType()));
    rewriter.replaceOp(op, ValueRange{dq, dk, dv, dkw, dvw});
    return success();
  }
};

/// kv_shift_attention_with_lse: the forward plus lse = max + log(sum) of the
/// scaled logits of each row.
struct DecomposeAttentionWithLSE
    : OpRewritePattern<KVShiftAttentionWithLSEOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(KVShiftAttentionWithLSEOp op,
                                PatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    AttentionGraph gr(rewriter, loc);
    gr.build(op.getQ(), op.getK(), op.getV(), op.getKw(), op.getVw(),
             getStaticAttentionScale(op), op.getCausal(), ropeThetaOf(op));
    Value out = gr.collapseHeads(
        gr.output5(), cast<RankedTensorType>(op.getOut().getType()));
    MLIRContext *ctx = rewriter.getContext();
    AffineMap id4 = AffineMap::getMultiDimIdentityMap(4, ctx);
    Value lse4 =
        linalg::GenericOp::create(
            rewriter, loc, gr.rowMax.getType(),
            ValueRange{gr.rowMax, gr.rowSum},
            ValueRange{emptyTensor(rewriter, loc,
                                   {gr.bSz, gr.hkv, gr.g, gr.sq},
                                   rewriter.getF32Type())},
            ArrayRef<AffineMap>{id4, id4, id4}, iterators(4),
            [&](OpBuilder &nb, Location nl, ValueRange args) {
              Value lg = math::LogOp::create(nb, nl, args[1]);
              linalg::YieldOp::create(
                  nb, nl,
                  ValueRange{arith::AddFOp::create(nb, nl, args[0], lg)});
            })
            .getResult(0);
    SmallVector<ReassociationIndices> reassoc = {{0}, {1, 2}, {3}};
    Value lse = tensor::CollapseShapeOp::create(rewriter, loc, lse4, reassoc);
    if (lse.getType() != op.getLse().getType())
      lse = tensor::CastOp::create(rewriter, loc, op.getLse().getType(), lse);
    rewriter.replaceOp(op, ValueRange{out, lse});
    return success();
  }
};

//===----------------------------------------------------------------------===//
// KV cache ops
//===----------------------------------------------------------------------===//

/// A tensor of `x`'s shape converted elementwise to `elt`.
Value convertElements(OpBuilder &b, Location loc, Value x, Type elt) {
  auto xt = cast<RankedTensorType>(x.getType());
  if (xt.getElementType() == elt)
    return x;
  int64_t rank = xt.getRank();
  Value init = emptyTensor(b, loc, tensor::getMixedSizes(b, loc, x), elt);
  AffineMap id = AffineMap::getMultiDimIdentityMap(rank, b.getContext());
  return linalg::GenericOp::create(
             b, loc, init.getType(), ValueRange{x}, ValueRange{init},
             ArrayRef<AffineMap>{id, id}, iterators(rank),
             [&](OpBuilder &nb, Location nl, ValueRange args) {
               linalg::YieldOp::create(nb, nl,
                                       convertFloat(nb, nl, args[0], elt));
             })
      .getResult(0);
}

/// max(lo, min(v, hi)) on index values (signed).
Value clampIndex(OpBuilder &b, Location loc, Value v, Value lo, Value hi) {
  return arith::MaxSIOp::create(b, loc, lo,
                                arith::MinSIOp::create(b, loc, v, hi));
}

/// x[:, :, offset : offset + size, :] for a rank-4 tensor.
Value sliceRows(OpBuilder &b, Location loc, Value x, OpFoldResult offset,
                OpFoldResult size) {
  auto xt = cast<RankedTensorType>(x.getType());
  SmallVector<OpFoldResult> offsets = {b.getIndexAttr(0), b.getIndexAttr(0),
                                       offset, b.getIndexAttr(0)};
  SmallVector<OpFoldResult> sizes = tensor::getMixedSizes(b, loc, x);
  sizes[2] = size;
  SmallVector<OpFoldResult> strides(4, b.getIndexAttr(1));
  std::optional<int64_t> staticSize = getConstantIntValue(size);
  auto type = RankedTensorType::get(
      {xt.getDimSize(0), xt.getDimSize(1),
       staticSize ? *staticSize : ShapedType::kDynamic, xt.getDimSize(3)},
      xt.getElementType());
  return tensor::ExtractSliceOp::create(b, loc, type, x, offsets, sizes,
                                        strides);
}

/// The rows of `cache` with `rows` inserted at row `offset`.
Value insertRows(OpBuilder &b, Location loc, Value rows, Value cache,
                 Value offset) {
  SmallVector<OpFoldResult> offsets = {b.getIndexAttr(0), b.getIndexAttr(0),
                                       offset, b.getIndexAttr(0)};
  SmallVector<OpFoldResult> sizes = tensor::getMixedSizes(b, loc, rows);
  SmallVector<OpFoldResult> strides(4, b.getIndexAttr(1));
  return tensor::InsertSliceOp::create(b, loc, rows, cache, offsets, sizes,
                                       strides);
}

/// The [B, Hkv, T, D] rows the mix pairs with k_new: row t - 1 of k_new for
/// t > 0; for t = 0 the last row, or zeros when pos == 0.
Value previousRows(OpBuilder &b, Location loc, Value kNew, Value kLast,
                   Value pos) {
  auto nt = cast<RankedTensorType>(kNew.getType());
  Type elt = nt.getElementType();
  // The first row: k_last, or zeros at pos 0.
  Value zero = arith::ConstantOp::create(b, loc, elt, b.getFloatAttr(elt, 0));
  Value atStart = arith::CmpIOp::create(
      b, loc, arith::CmpIPredicate::eq, pos,
      arith::ConstantIndexOp::create(b, loc, 0));
  Value first = arith::SelectOp::create(
      b, loc, atStart,
      linalg::FillOp::create(
          b, loc, ValueRange{zero},
          ValueRange{emptyTensor(b, loc, tensor::getMixedSizes(b, loc, kLast),
                                 elt)})
          .getResult(0),
      kLast);
  SmallVector<OpFoldResult> sizes = tensor::getMixedSizes(b, loc, kNew);
  Value prev = emptyTensor(b, loc, sizes, elt);
  prev = insertRows(b, loc, first, prev,
                    arith::ConstantIndexOp::create(b, loc, 0));
  // Rows 0 .. T-2 of k_new at rows 1 .. T-1.
  Value t = getValueOrCreateConstantIndexOp(b, loc, sizes[2]);
  Value one = arith::ConstantIndexOp::create(b, loc, 1);
  OpFoldResult tm1 =
      nt.isDynamicDim(2)
          ? OpFoldResult(arith::SubIOp::create(b, loc, t, one).getResult())
          : OpFoldResult(b.getIndexAttr(nt.getDimSize(2) - 1));
  Value head = sliceRows(b, loc, kNew, b.getIndexAttr(0), tm1);
  return insertRows(b, loc, head, prev, one);
}

/// k_new mixed with its previous rows: w[h,0] * cur + w[h,1] * prev, in f32.
Value mixRows(OpBuilder &b, Location loc, Value cur, Value prev, Value w) {
  MLIRContext *ctx = b.getContext();
  Type f32 = b.getF32Type();
  Value w0 = weightColumn(b, loc, w, 0);
  Value w1 = weightColumn(b, loc, w, 1);
  Value init =
      emptyTensor(b, loc, tensor::getMixedSizes(b, loc, cur), f32);
  AffineMap id = AffineMap::getMultiDimIdentityMap(4, ctx);
  AffineMap head = dimsMap(ctx, 4, {1});
  return linalg::GenericOp::create(
             b, loc, init.getType(), ValueRange{cur, prev, w0, w1},
             ValueRange{init}, ArrayRef<AffineMap>{id, id, head, head, id},
             iterators(4),
             [&](OpBuilder &nb, Location nl, ValueRange args) {
               Value c = convertFloat(nb, nl, args[0], f32);
               Value p = convertFloat(nb, nl, args[1], f32);
               Value sum = arith::AddFOp::create(
                   nb, nl, arith::MulFOp::create(nb, nl, args[2], c),
                   arith::MulFOp::create(nb, nl, args[3], p));
               linalg::YieldOp::create(nb, nl, sum);
             })
      .getResult(0);
}

struct DecomposeCacheAppend : OpRewritePattern<KVCacheAppendOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(KVCacheAppendOp op,
                                PatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    OpBuilder &b = rewriter;
    auto cacheType = cast<RankedTensorType>(op.getKCache().getType());
    Type elt = cacheType.getElementType();
    // Rows pos .. pos + T - 1; the run-time check (kvshift-insert-runtime-
    // checks) reports an overflow, the clamp keeps the write in bounds.
    Value t = getValueOrCreateConstantIndexOp(
        b, loc, tensor::getMixedSize(b, loc, op.getKNew(), 2));
    Value smax = getValueOrCreateConstantIndexOp(
        b, loc, tensor::getMixedSize(b, loc, op.getKCache(), 2));
    Value zero = arith::ConstantIndexOp::create(b, loc, 0);
    Value pos = clampIndex(b, loc, op.getPos(), zero,
                           arith::SubIOp::create(b, loc, smax, t));

    SmallVector<Value> results;
    for (auto [x, last, w, cache, rotate] :
         {std::make_tuple(op.getKNew(), op.getKLast(), op.getKw(),
                          op.getKCache(), true),
          std::make_tuple(op.getVNew(), op.getVLast(), op.getVw(),
                          op.getVCache(), false)}) {
      // The mix pairs row 0 with the raw last row (at the unclamped pos:
      // the clamp only matters after a reported error).
      Value prev = previousRows(b, loc, x, last, op.getPos());
      Value mixed = mixRows(b, loc, x, prev, w);
      if (rotate && op.getRopeTheta())
        mixed = buildRope(b, loc, mixed, /*seqDim=*/2, pos,
                          op.getRopeTheta()->convertToDouble(),
                          /*inverse=*/false);
      mixed = convertElements(b, loc, mixed, elt);
      results.push_back(insertRows(b, loc, mixed, cache, pos));
    }
    // The new last rows are written over the old ones (a linalg.generic
    // with k_last / v_last as its destination, reading row T - 1 of the new
    // rows), so that a function that passes them in and returns them updates
    // them in place (kvshift-tie-results), like the caches.
    Value tm1 =
        arith::SubIOp::create(b, loc, t, arith::ConstantIndexOp::create(b, loc, 1));
    AffineMap id = AffineMap::getMultiDimIdentityMap(4, b.getContext());
    for (auto [x, last] : {std::make_pair(op.getKNew(), op.getKLast()),
                           std::make_pair(op.getVNew(), op.getVLast())}) {
      Value src = x;
      results.push_back(
          linalg::GenericOp::create(
              b, loc, last.getType(), ValueRange{}, ValueRange{last},
              ArrayRef<AffineMap>{id}, iterators(4),
              [&](OpBuilder &nb, Location nl, ValueRange) {
                SmallVector<Value> at = {linalg::IndexOp::create(nb, nl, 0),
                                         linalg::IndexOp::create(nb, nl, 1),
                                         tm1,
                                         linalg::IndexOp::create(nb, nl, 3)};
                linalg::YieldOp::create(
                    nb, nl,
                    tensor::ExtractOp::create(nb, nl, src, at).getResult());
              })
              .getResult(0));
    }
    for (auto [i, r] : llvm::enumerate(results))
      if (r.getType() != op->getResult(i).getType())
        results[i] =
            tensor::CastOp::create(b, loc, op->getResult(i).getType(), r);
    rewriter.replaceOp(op, results);
    return success();
  }
};

/// The [Hkv, 2] f32 weights [1, 0] per head (no mix).
Value identityMixWeights(OpBuilder &b, Location loc, OpFoldResult hkv) {
  Type f32 = b.getF32Type();
  Value init = emptyTensor(b, loc, {hkv, b.getIndexAttr(2)}, f32);
  AffineMap id = AffineMap::getMultiDimIdentityMap(2, b.getContext());
  Value w = linalg::GenericOp::create(
                b, loc, init.getType(), ValueRange{}, ValueRange{init},
                ArrayRef<AffineMap>{id}, iterators(2),
                [&](OpBuilder &nb, Location nl, ValueRange) {
                  Value col = linalg::IndexOp::create(nb, nl, 1);
                  Value isFirst = arith::CmpIOp::create(
                      nb, nl, arith::CmpIPredicate::eq, col,
                      arith::ConstantIndexOp::create(nb, nl, 0));
                  Value one = arith::ConstantOp::create(
                      nb, nl, f32, nb.getF32FloatAttr(1.0));
                  Value zero = arith::ConstantOp::create(
                      nb, nl, f32, nb.getF32FloatAttr(0.0));
                  linalg::YieldOp::create(
                      nb, nl,
                      arith::SelectOp::create(nb, nl, isFirst, one, zero)
                          .getResult());
                })
                .getResult(0);
  return w;
}

struct DecomposeCacheAttention : OpRewritePattern<KVCacheAttentionOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(KVCacheAttentionOp op,
                                PatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    OpBuilder &b = rewriter;
    auto qType = cast<RankedTensorType>(op.getQ().getType());
    auto outType = cast<RankedTensorType>(op.getOut().getType());
    Value sq = getValueOrCreateConstantIndexOp(
        b, loc, tensor::getMixedSize(b, loc, op.getQ(), 2));
    Value smax = getValueOrCreateConstantIndexOp(
        b, loc, tensor::getMixedSize(b, loc, op.getKCache(), 2));
    Value len = op.buildValidLength(b, loc, sq, smax);
    Value k = sliceRows(b, loc, op.getKCache(), b.getIndexAttr(0), len);
    Value v = sliceRows(b, loc, op.getVCache(), b.getIndexAttr(0), len);
    Value q = op.getQ();
    if (auto theta = op.getRopeTheta()) {
      // Query i at position len - Sq + i, rotated here in f32; the cache's
      // keys are rotated already, so the attention runs in f32 without RoPE.
      Value offset = arith::SubIOp::create(b, loc, len, sq);
      q = buildRope(b, loc, q, /*seqDim=*/2, offset, theta->convertToDouble(),
                    /*inverse=*/false);
      k = convertElements(b, loc, k, b.getF32Type());
      v = convertElements(b, loc, v, b.getF32Type());
    }
    Value w = identityMixWeights(b, loc,
                                 tensor::getMixedSize(b, loc, op.getKCache(),
                                                      1));
    auto attnType = RankedTensorType::get(
        qType.getShape(), cast<RankedTensorType>(q.getType()).getElementType());
    Value out = KVShiftAttentionOp::create(
        b, loc, attnType, q, k, v, w, w,
        op.getScaleAttr() ? op.getScaleAttr()
                          : (qType.isDynamicDim(3)
                                 ? FloatAttr()
                                 : b.getF32FloatAttr(
                                       1.0 / std::sqrt(static_cast<double>(
                                                 qType.getDimSize(3))))),
        op.getCausal(), FloatAttr());
    out = convertElements(b, loc, out, outType.getElementType());
    if (out.getType() != outType)
      out = tensor::CastOp::create(b, loc, outType, out);
    rewriter.replaceOp(op, out);
    return success();
  }
};

struct KVShiftDecomposePass
    : kvshift::impl::KVShiftDecomposeBase<KVShiftDecomposePass> {
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    populateKVShiftDecomposePatterns(patterns);
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      return signalPassFailure();
  }
};

} // namespace

void mlir::kvshift::populateKVShiftDecomposePatterns(
    RewritePatternSet &patterns) {
  patterns.add<DecomposeKVShift, DecomposeAttention,
               DecomposeAttentionGrad<KVShiftAttentionGradOp>,
               DecomposeAttentionGrad<KVShiftAttentionGradWithLSEOp>,
               DecomposeAttentionWithLSE, DecomposeCacheAppend,
               DecomposeCacheAttention>(patterns.getContext());
}
