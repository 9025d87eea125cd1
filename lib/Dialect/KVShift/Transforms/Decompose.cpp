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

struct DecomposeAttention : OpRewritePattern<KVShiftAttentionOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(KVShiftAttentionOp op,
                                PatternRewriter &rewriter) const override {
    OpBuilder &b = rewriter;
    Location loc = op.getLoc();
    MLIRContext *ctx = b.getContext();
    Type f32 = b.getF32Type();
    Value q = op.getQ();
    auto qt = cast<RankedTensorType>(q.getType());
    auto kt = cast<RankedTensorType>(op.getK().getType());
    auto outType = cast<RankedTensorType>(op.getOut().getType());

    // Mixed keys and values, materialised in f32.
    Value kh = buildMix(b, loc, op.getK(), op.getKw(), f32);
    Value vh = buildMix(b, loc, op.getV(), op.getVw(), f32);

    // Sizes, static where the types say so.
    OpFoldResult bSz = tensor::getMixedSize(b, loc, q, 0);
    OpFoldResult hq = tensor::getMixedSize(b, loc, q, 1);
    OpFoldResult sq = tensor::getMixedSize(b, loc, q, 2);
    OpFoldResult d = tensor::getMixedSize(b, loc, q, 3);
    OpFoldResult hkv = tensor::getMixedSize(b, loc, op.getK(), 1);
    OpFoldResult sk = tensor::getMixedSize(b, loc, op.getK(), 2);

    // GQA: q as [B, Hkv, G, Sq, D].
    int64_t hqS = qt.getDimSize(1), hkvS = kt.getDimSize(1);
    int64_t gS = ShapedType::kDynamic;
    OpFoldResult g;
    if (!ShapedType::isDynamic(hqS) && !ShapedType::isDynamic(hkvS)) {
      gS = hqS / hkvS;
      g = b.getIndexAttr(gS);
    } else {
      g = arith::DivUIOp::create(
                b, loc, getValueOrCreateConstantIndexOp(b, loc, hq),
                getValueOrCreateConstantIndexOp(b, loc, hkv))
              .getResult();
    }
    auto q5Type = RankedTensorType::get(
        {qt.getDimSize(0), hkvS, gS, qt.getDimSize(2), qt.getDimSize(3)},
        qt.getElementType());
    SmallVector<ReassociationIndices> reassoc = {{0}, {1, 2}, {3}, {4}};
    Value q5;
    if (!ShapedType::isDynamic(gS)) {
      q5 = tensor::ExpandShapeOp::create(
          b, loc, q5Type, q, reassoc,
          SmallVector<OpFoldResult>{bSz, hkv, g, sq, d});
    } else {
      // Hq / Hkv unknown at compile time: expand_shape would have two
      // dynamic sizes in one group, which expand-strided-metadata (MLIR 22)
      // cannot lower; a reshape by a shape tensor lowers fine.
      SmallVector<Value> dims;
      for (OpFoldResult ofr : {bSz, hkv, g, sq, d})
        dims.push_back(getValueOrCreateConstantIndexOp(b, loc, ofr));
      Value shape = tensor::FromElementsOp::create(b, loc, dims);
      q5 = tensor::ReshapeOp::create(b, loc, q5Type, q, shape);
    }

    // Logit scale.
    Value scale;
    if (auto s = op.getStaticScale()) {
      scale = arith::ConstantOp::create(b, loc, f32,
                                        b.getF32FloatAttr((float)*s));
    } else {
      Value dIdx = getValueOrCreateConstantIndexOp(b, loc, d);
      Value dInt = arith::IndexCastOp::create(b, loc, b.getI64Type(), dIdx);
      Value dF = arith::SIToFPOp::create(b, loc, f32, dInt);
      Value root = math::SqrtOp::create(b, loc, dF);
      Value one = arith::ConstantOp::create(b, loc, f32, b.getF32FloatAttr(1));
      scale = arith::DivFOp::create(b, loc, one, root);
    }

    // Loop dims of the score computation: (b, h, g, i, j, d).
    SmallVector<OpFoldResult> scoreSizes = {bSz, hkv, g, sq, sk};
    Value scoresInit = filledTensor(b, loc, scoreSizes, f32, 0.0);
    Value scores =
        linalg::GenericOp::create(
            b, loc, scoresInit.getType(), ValueRange{q5, kh},
            ValueRange{scoresInit},
            ArrayRef<AffineMap>{dimsMap(ctx, 6, {0, 1, 2, 3, 5}),
                                dimsMap(ctx, 6, {0, 1, 4, 5}),
                                dimsMap(ctx, 6, {0, 1, 2, 3, 4})},
            iterators(5, 1),
            [&](OpBuilder &nb, Location nl, ValueRange args) {
              Value qv = convertFloat(nb, nl, args[0], f32);
              Value prod = arith::MulFOp::create(nb, nl, qv, args[1]);
              linalg::YieldOp::create(
                  nb, nl,
                  ValueRange{arith::AddFOp::create(nb, nl, args[2], prod)});
            })
            .getResult(0);

    // Scale and mask: key j is visible to query i iff j <= i + (Sk - Sq).
    Value offset;
    if (op.getCausal())
      offset = arith::SubIOp::create(
          b, loc, getValueOrCreateConstantIndexOp(b, loc, sk),
          getValueOrCreateConstantIndexOp(b, loc, sq));
    AffineMap id5 = AffineMap::getMultiDimIdentityMap(5, ctx);
    Value negInf = arith::ConstantOp::create(
        b, loc, f32,
        b.getF32FloatAttr(-std::numeric_limits<float>::infinity()));
    Value logits =
        linalg::GenericOp::create(
            b, loc, scoresInit.getType(), ValueRange{scores},
            ValueRange{emptyTensor(b, loc, scoreSizes, f32)},
            ArrayRef<AffineMap>{id5, id5}, iterators(5),
            [&](OpBuilder &nb, Location nl, ValueRange args) {
              Value v = arith::MulFOp::create(nb, nl, args[0], scale);
              if (offset) {
                Value i = linalg::IndexOp::create(nb, nl, 3);
                Value j = linalg::IndexOp::create(nb, nl, 4);
                Value last = arith::AddIOp::create(nb, nl, i, offset);
                Value masked = arith::CmpIOp::create(
                    nb, nl, arith::CmpIPredicate::sgt, j, last);
                v = arith::SelectOp::create(nb, nl, masked, negInf, v);
              }
              linalg::YieldOp::create(nb, nl, v);
            })
            .getResult(0);

    // Row max, with -inf (a row that sees no key) replaced by 0 so that the
    // exponentials below are 0 rather than NaN.
    SmallVector<OpFoldResult> rowSizes = {bSz, hkv, g, sq};
    AffineMap rowMap = dimsMap(ctx, 5, {0, 1, 2, 3});
    Value maxInit = filledTensor(b, loc, rowSizes, f32,
                                 -std::numeric_limits<double>::infinity());
    Value rowMax =
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

    // exp(logit - max).
    Value zeroF = arith::ConstantOp::create(b, loc, f32, b.getF32FloatAttr(0));
    Value expd =
        linalg::GenericOp::create(
            b, loc, scoresInit.getType(), ValueRange{logits, rowMax},
            ValueRange{emptyTensor(b, loc, scoreSizes, f32)},
            ArrayRef<AffineMap>{id5, rowMap, id5}, iterators(5),
            [&](OpBuilder &nb, Location nl, ValueRange args) {
              Value isNegInf = arith::CmpFOp::create(
                  nb, nl, arith::CmpFPredicate::OEQ, args[1], negInf);
              Value m = arith::SelectOp::create(nb, nl, isNegInf, zeroF,
                                                args[1]);
              Value diff = arith::SubFOp::create(nb, nl, args[0], m);
              linalg::YieldOp::create(nb, nl,
                                      ValueRange{math::ExpOp::create(nb, nl,
                                                                     diff)});
            })
            .getResult(0);

    // Row sum.
    Value sumInit = filledTensor(b, loc, rowSizes, f32, 0.0);
    Value rowSum =
        linalg::GenericOp::create(
            b, loc, sumInit.getType(), ValueRange{expd}, ValueRange{sumInit},
            ArrayRef<AffineMap>{id5, rowMap}, iterators(4, 1),
            [&](OpBuilder &nb, Location nl, ValueRange args) {
              linalg::YieldOp::create(
                  nb, nl,
                  ValueRange{arith::AddFOp::create(nb, nl, args[0], args[1])});
            })
            .getResult(0);

    // Probabilities; a row with a zero sum (no visible key) becomes zeros.
    Value probs =
        linalg::GenericOp::create(
            b, loc, scoresInit.getType(), ValueRange{expd, rowSum},
            ValueRange{emptyTensor(b, loc, scoreSizes, f32)},
            ArrayRef<AffineMap>{id5, rowMap, id5}, iterators(5),
            [&](OpBuilder &nb, Location nl, ValueRange args) {
              Value p = arith::DivFOp::create(nb, nl, args[0], args[1]);
              Value empty = arith::CmpFOp::create(
                  nb, nl, arith::CmpFPredicate::OEQ, args[1], zeroF);
              linalg::YieldOp::create(
                  nb, nl,
                  ValueRange{arith::SelectOp::create(nb, nl, empty, zeroF, p)});
            })
            .getResult(0);

    // out5[b,h,g,i,d] = sum_j P[b,h,g,i,j] * V^[b,h,j,d]; dims (b,h,g,i,d,j).
    SmallVector<OpFoldResult> out5Sizes = {bSz, hkv, g, sq, d};
    Value accInit = filledTensor(b, loc, out5Sizes, f32, 0.0);
    Value acc =
        linalg::GenericOp::create(
            b, loc, accInit.getType(), ValueRange{probs, vh},
            ValueRange{accInit},
            ArrayRef<AffineMap>{dimsMap(ctx, 6, {0, 1, 2, 3, 5}),
                                dimsMap(ctx, 6, {0, 1, 5, 4}),
                                dimsMap(ctx, 6, {0, 1, 2, 3, 4})},
            iterators(5, 1),
            [&](OpBuilder &nb, Location nl, ValueRange args) {
              Value prod = arith::MulFOp::create(nb, nl, args[0], args[1]);
              linalg::YieldOp::create(
                  nb, nl,
                  ValueRange{arith::AddFOp::create(nb, nl, args[2], prod)});
            })
            .getResult(0);

    // Round to the output element type and collapse the heads back.
    Type outElt = outType.getElementType();
    Value out5 = acc;
    if (outElt != f32) {
      out5 = linalg::GenericOp::create(
                 b, loc,
                 RankedTensorType::get(
                     cast<RankedTensorType>(acc.getType()).getShape(), outElt),
                 ValueRange{acc},
                 ValueRange{emptyTensor(b, loc, out5Sizes, outElt)},
                 ArrayRef<AffineMap>{id5, id5}, iterators(5),
                 [&](OpBuilder &nb, Location nl, ValueRange args) {
                   linalg::YieldOp::create(
                       nb, nl, convertFloat(nb, nl, args[0], outElt));
                 })
                 .getResult(0);
    }
    Value out = tensor::CollapseShapeOp::create(b, loc, out5, reassoc);
    if (out.getType() != outType)
      out = tensor::CastOp::create(b, loc, outType, out);
    rewriter.replaceOp(op, out);
    return success();
  }
};

struct KVShiftDecomposePass
    : kvshift::impl::KVShiftDecomposeBase<KVShiftDecomposePass> {
  void runOnOperation() override {
    // The gradient has no lowering yet: say so instead of leaving an op that
    // bufferization would later reject with a less helpful message.
    WalkResult grad = getOperation()->walk([](KVShiftAttentionGradOp op) {
      op.emitOpError()
          << "has no lowering yet (only its verifier is implemented); "
             "compute gradients outside kvshift for now";
      return WalkResult::interrupt();
    });
    if (grad.wasInterrupted())
      return signalPassFailure();

    RewritePatternSet patterns(&getContext());
    populateKVShiftDecomposePatterns(patterns);
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      return signalPassFailure();
  }
};

} // namespace

void mlir::kvshift::populateKVShiftDecomposePatterns(
    RewritePatternSet &patterns) {
  patterns.add<DecomposeKVShift, DecomposeAttention>(patterns.getContext());
}
