//===- Raise.cpp - recognise KV-shift attention in imported linalg IR -----===//
//
// Matches attention written the paper's way in PyTorch, as kvshift's importer
// emits it, and replaces it with kvshift.kv_shift_attention:
//
//   x^   = w0 * x + w1 * slice(pad(x, one row in front))   (x = k, v; optional)
//   S    = bmm(collapse(q), collapse(transpose(k^)))  -> expand to [B,H,Sq,Sk]
//   S'   = S * c  |  S / c                              (optional)
//   S''  = select(mask, -inf, S')                       (optional; mask must be
//                                                        the exact causal one)
//   P    = softmax(S'') along the last dimension (max, exp(x - max), sum, div)
//   out  = expand(bmm(collapse(P), collapse(v^)))
//
// and, optionally, RoPE after the mix on q and k^ written as
// x * cos + rotate_half(x) * sin with constant RoPE tables (-> rope_theta).
// The scale and the mask may come in either order. Every piece is checked
// exactly; anything that merely looks similar (a shift of two rows, a mask
// that is not the bottom-right causal one, weights that vary along anything
// but the head dimension, a negative scale applied before the mask) is left
// alone, so that raising never changes what the program computes.
//
//===----------------------------------------------------------------------===//

#include "kvshift/Dialect/KVShift/IR/KVShiftOps.h"
#include "kvshift/Dialect/KVShift/Transforms/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Matchers.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

#include <cmath>
#include <optional>

namespace mlir::kvshift {
#define GEN_PASS_DEF_KVSHIFTRAISE
#include "kvshift/Dialect/KVShift/Transforms/Passes.h.inc"
} // namespace mlir::kvshift

using namespace mlir;
using namespace mlir::kvshift;

namespace {

//===----------------------------------------------------------------------===//
// Small matchers on linalg.generic
//===----------------------------------------------------------------------===//

/// A linalg.generic on tensors with only parallel loops, one result, an
/// identity output map and a body of ops on the block arguments.
bool isElementwise(linalg::GenericOp g, unsigned numInputs) {
  return g && g.getNumDpsInputs() == numInputs && g.getNumDpsInits() == 1 &&
         g->getNumResults() == 1 &&
         g.getNumLoops() == g.getNumParallelLoops() &&
         g.getIndexingMapsArray().back().isIdentity();
}

/// The single non-yield op of a generic's body, if the body has exactly one.
Operation *singleBodyOp(linalg::GenericOp g) {
  Block &body = g.getRegion().front();
  Operation *found = nullptr;
  for (Operation &op : body.without_terminator()) {
    if (isa<arith::ConstantOp>(op))
      continue;
    if (found)
      return nullptr;
    found = &op;
  }
  auto yield = cast<linalg::YieldOp>(body.getTerminator());
  if (!found || yield.getNumOperands() != 1 ||
      yield.getOperand(0) != found->getResult(0))
    return nullptr;
  return found;
}

/// Index of the input that block argument `v` stands for, or -1.
int inputIndex(linalg::GenericOp g, Value v) {
  auto arg = dyn_cast<BlockArgument>(v);
  if (!arg || arg.getOwner() != &g.getRegion().front() ||
      arg.getArgNumber() >= g.getNumDpsInputs())
    return -1;
  return arg.getArgNumber();
}

/// A float constant (scalar or splat), wherever it is defined.
std::optional<double> constantFloat(Value v) {
  FloatAttr f;
  if (matchPattern(v, m_Constant(&f)))
    return f.getValueAsDouble();
  DenseFPElementsAttr dense;
  if (matchPattern(v, m_Constant(&dense)) && dense.isSplat())
    return dense.getSplatValue<APFloat>().convertToDouble();
  return std::nullopt;
}

/// `g` computes `binop(in_a, in_b)` of its two inputs (either order when the
/// op commutes); returns the generic's inputs as (a, b) and their maps.
template <typename BinOp>
bool matchBinary(Value v, Value &a, AffineMap &mapA, Value &b,
                 AffineMap &mapB, bool commutative) {
  auto g = v.getDefiningOp<linalg::GenericOp>();
  if (!isElementwise(g, 2))
    return false;
  auto op = dyn_cast_or_null<BinOp>(singleBodyOp(g));
  if (!op)
    return false;
  int i0 = inputIndex(g, op->getOperand(0)),
      i1 = inputIndex(g, op->getOperand(1));
  if (i0 < 0 || i1 < 0 || i0 == i1)
    return false;
  if (!commutative && i0 != 0)
    return false;
  auto maps = g.getIndexingMapsArray();
  a = g.getDpsInputs()[i0];
  mapA = maps[i0];
  b = g.getDpsInputs()[i1];
  mapB = maps[i1];
  return true;
}

/// `v` = expand_shape(bmm(collapse(x), collapse(y))) with x, y rank 4 and
/// the [[0, 1], [2], [3]] reassociation everywhere; a zero-filled init.
bool matchBatchedMatmul4D(Value v, Value &x, Value &y) {
  auto expand = v.getDefiningOp<tensor::ExpandShapeOp>();
  if (!expand || expand.getResultType().getRank() != 4)
    return false;
  auto reassocOK = [](ArrayRef<ReassociationIndices> r) {
    return r.size() == 3 && r[0] == ReassociationIndices{0, 1} &&
           r[1] == ReassociationIndices{2} && r[2] == ReassociationIndices{3};
  };
  if (!reassocOK(expand.getReassociationIndices()))
    return false;
  auto bmm = expand.getSrc().getDefiningOp<linalg::BatchMatmulOp>();
  if (!bmm || bmm.getNumDpsInputs() != 2 || !bmm.hasPureTensorSemantics())
    return false;
  // A default batch_matmul (no user indexing maps, no transposes).
  if (bmm->hasAttr("indexing_maps")) {
    auto defaults = linalg::BatchMatmulOp::getDefaultIndexingMaps(
        bmm.getContext());
    if (bmm.getIndexingMapsArray() != ArrayRef<AffineMap>(defaults))
      return false;
  }
  auto fill = bmm.getDpsInits()[0].getDefiningOp<linalg::FillOp>();
  auto zero = fill ? constantFloat(fill.getInputs()[0]) : std::nullopt;
  if (!zero || *zero != 0.0)
    return false;
  auto cx = bmm.getDpsInputs()[0].getDefiningOp<tensor::CollapseShapeOp>();
  auto cy = bmm.getDpsInputs()[1].getDefiningOp<tensor::CollapseShapeOp>();
  if (!cx || !cy || !reassocOK(cx.getReassociationIndices()) ||
      !reassocOK(cy.getReassociationIndices()))
    return false;
  x = cx.getSrc();
  y = cy.getSrc();
  // The leading [B, H] of both operands and of the result agree.
  auto tx = cast<RankedTensorType>(x.getType()),
       ty = cast<RankedTensorType>(y.getType()),
       tr = expand.getResultType();
  return tx.getShape().take_front(2) == tr.getShape().take_front(2) &&
         ty.getShape().take_front(2) == tr.getShape().take_front(2);
}

/// A row reduction over the last of four dimensions: generic(ins(x)) with maps
/// [id, (d0,d1,d2)], iterators [p,p,p,r], body `op(in, acc)`, and an init
/// filled with a constant. Returns the reduced input and the fill value.
template <typename CombineOp>
bool matchRowReduction(Value v, Value &input, double &init) {
  auto g = v.getDefiningOp<linalg::GenericOp>();
  if (!g || g.getNumDpsInputs() != 1 || g.getNumDpsInits() != 1 ||
      g.getNumLoops() != 4 || g.getNumReductionLoops() != 1)
    return false;
  auto iters = g.getIteratorTypesArray();
  if (iters[3] != utils::IteratorType::reduction)
    return false;
  auto maps = g.getIndexingMapsArray();
  MLIRContext *ctx = g.getContext();
  AffineMap rowMap = AffineMap::get(
      4, 0,
      {getAffineDimExpr(0, ctx), getAffineDimExpr(1, ctx),
       getAffineDimExpr(2, ctx)},
      ctx);
  if (!maps[0].isIdentity() || maps[1] != rowMap)
    return false;
  auto op = dyn_cast_or_null<CombineOp>(singleBodyOp(g));
  if (!op)
    return false;
  Block &body = g.getRegion().front();
  Value in = body.getArgument(0), acc = body.getArgument(1);
  if (!((op->getOperand(0) == in && op->getOperand(1) == acc) ||
        (op->getOperand(0) == acc && op->getOperand(1) == in)))
    return false;
  auto fill = g.getDpsInits()[0].getDefiningOp<linalg::FillOp>();
  auto value = fill ? constantFloat(fill.getInputs()[0]) : std::nullopt;
  if (!value)
    return false;
  input = g.getDpsInputs()[0];
  init = *value;
  return true;
}

AffineMap rowBroadcastMap(MLIRContext *ctx) {
  return AffineMap::get(4, 0,
                        {getAffineDimExpr(0, ctx), getAffineDimExpr(1, ctx),
                         getAffineDimExpr(2, ctx)},
                        ctx);
}

/// softmax(x) along the last dimension, in the four-generic form: the row
/// max, exp(x - max), the row sum, and the division.
bool matchSoftmax(Value v, Value &x) {
  MLIRContext *ctx = v.getContext();
  Value e, sum;
  AffineMap mapE, mapSum;
  if (!matchBinary<arith::DivFOp>(v, e, mapE, sum, mapSum,
                                  /*commutative=*/false) ||
      !mapE.isIdentity() || mapSum != rowBroadcastMap(ctx))
    return false;
  Value summed;
  double zero;
  if (!matchRowReduction<arith::AddFOp>(sum, summed, zero) || summed != e ||
      zero != 0.0)
    return false;
  // e = exp(x - max)
  auto g = e.getDefiningOp<linalg::GenericOp>();
  if (!isElementwise(g, 2))
    return false;
  Block &body = g.getRegion().front();
  auto yield = cast<linalg::YieldOp>(body.getTerminator());
  auto exp = yield.getOperand(0).getDefiningOp<math::ExpOp>();
  if (!exp || exp->getBlock() != &body)
    return false;
  auto sub = exp.getOperand().getDefiningOp<arith::SubFOp>();
  if (!sub || sub->getBlock() != &body || inputIndex(g, sub.getLhs()) != 0 ||
      inputIndex(g, sub.getRhs()) != 1)
    return false;
  if (llvm::range_size(body.without_terminator()) != 2)
    return false;
  auto maps = g.getIndexingMapsArray();
  if (!maps[0].isIdentity() || maps[1] != rowBroadcastMap(ctx))
    return false;
  Value xIn = g.getDpsInputs()[0], maxV = g.getDpsInputs()[1];
  Value maxed;
  double minusInf;
  bool isMax = matchRowReduction<arith::MaximumFOp>(maxV, maxed, minusInf) ||
               matchRowReduction<arith::MaxNumFOp>(maxV, maxed, minusInf);
  if (!isMax || maxed != xIn || !(std::isinf(minusInf) && minusInf < 0))
    return false;
  x = xIn;
  return true;
}

/// x * c or x / c with a constant c: returns x and the factor.
bool matchScale(Value v, Value &x, double &factor) {
  auto g = v.getDefiningOp<linalg::GenericOp>();
  if (!isElementwise(g, 1) || !g.getIndexingMapsArray()[0].isIdentity())
    return false;
  Operation *op = singleBodyOp(g);
  if (!op || op->getNumOperands() != 2)
    return false;
  if (isa<arith::MulFOp>(op)) {
    for (int i = 0; i < 2; ++i) {
      if (inputIndex(g, op->getOperand(i)) == 0)
        if (auto c = constantFloat(op->getOperand(1 - i))) {
          x = g.getDpsInputs()[0];
          factor = *c;
          return true;
        }
    }
    return false;
  }
  if (isa<arith::DivFOp>(op) && inputIndex(g, op->getOperand(0)) == 0)
    if (auto c = constantFloat(op->getOperand(1))) {
      if (*c == 0.0)
        return false;
      x = g.getDpsInputs()[0];
      factor = 1.0 / *c;
      return true;
    }
  return false;
}

/// select(mask, -inf, x) with a constant boolean mask broadcast over the
/// last two dimensions: returns x and the mask (as [Sq, Sk] of bools).
bool matchMaskedFill(Value v, Value &x, DenseElementsAttr &mask) {
  MLIRContext *ctx = v.getContext();
  auto g = v.getDefiningOp<linalg::GenericOp>();
  if (!isElementwise(g, 2))
    return false;
  auto sel = dyn_cast_or_null<arith::SelectOp>(singleBodyOp(g));
  if (!sel)
    return false;
  int mi = inputIndex(g, sel.getCondition());
  int xi = inputIndex(g, sel.getFalseValue());
  auto fillValue = constantFloat(sel.getTrueValue());
  if (mi < 0 || xi < 0 || !fillValue ||
      !(std::isinf(*fillValue) && *fillValue < 0))
    return false;
  auto maps = g.getIndexingMapsArray();
  AffineMap last2 = AffineMap::get(
      4, 0, {getAffineDimExpr(2, ctx), getAffineDimExpr(3, ctx)}, ctx);
  if (!maps[xi].isIdentity() || maps[mi] != last2)
    return false;
  if (!matchPattern(g.getDpsInputs()[mi], m_Constant(&mask)) ||
      !mask.getElementType().isInteger(1))
    return false;
  x = g.getDpsInputs()[xi];
  return true;
}

/// True when `mask` (true = masked) is exactly the bottom-right aligned
/// causal mask of kv_shift_attention: key j hidden from query i iff
/// j > Sk - Sq + i.
bool isCausalMask(DenseElementsAttr mask, int64_t sq, int64_t sk) {
  auto type = cast<ShapedType>(mask.getType());
  if (type.getRank() != 2 || type.getDimSize(0) != sq ||
      type.getDimSize(1) != sk)
    return false;
  if (mask.isSplat())
    return false; // all visible or all hidden: not causal for sq, sk >= 1
  auto values = mask.getValues<bool>();
  int64_t idx = 0;
  for (int64_t i = 0; i < sq; ++i)
    for (int64_t j = 0; j < sk; ++j, ++idx)
      if (values[idx] != (j > sk - sq + i))
        return false;
  return true;
}

/// A per-head weight: an f32 tensor read through a map that depends only on
/// the head dimension d1 of the 4-d iteration (other results constant 0), or
/// an f32 scalar constant.
struct Weight {
  Value tensor;     // null for a constant
  AffineMap map;    // (d0, d1, d2, d3) -> (... d1 ... 0 ...)
  double constant = 0.0;
};

bool matchWeight(Value v, AffineMap map, Weight &w) {
  auto type = dyn_cast<RankedTensorType>(v.getType());
  if (!type || !type.getElementType().isF32() || !type.hasStaticShape())
    return false;
  if (auto c = constantFloat(v)) {
    w = Weight{Value(), map, *c};
    return true;
  }
  for (auto [i, e] : llvm::enumerate(map.getResults())) {
    if (auto d = dyn_cast<AffineDimExpr>(e)) {
      if (d.getPosition() != 1)
        return false;
      continue;
    }
    auto c = dyn_cast<AffineConstantExpr>(e);
    if (!c || c.getValue() != 0 || type.getDimSize(i) != 1)
      return false;
  }
  w = Weight{v, map, 0.0};
  return true;
}

/// x^ = w0 * x + w1 * shift(x), in any operand order; shift(x) =
/// extract_slice(pad(x, low [0,0,1,0], high 0, value 0), offsets 0, sizes of x).
/// Without a mix, x itself with weights [1, 0].
struct Mix {
  Value raw;
  Weight w0, w1;
};

/// shift(x): returns x.
bool matchShift(Value v, Value &x) {
  auto slice = v.getDefiningOp<tensor::ExtractSliceOp>();
  if (!slice || !slice.hasUnitStride() ||
      !llvm::all_of(slice.getStaticOffsets(),
                    [](int64_t o) { return o == 0; }))
    return false;
  auto pad = slice.getSource().getDefiningOp<tensor::PadOp>();
  if (!pad || pad.getNofold())
    return false;
  auto zero = pad.getConstantPaddingValue();
  auto z = zero ? constantFloat(zero) : std::nullopt;
  if (!z || *z != 0.0)
    return false;
  if (pad.getStaticLow() != ArrayRef<int64_t>{0, 0, 1, 0} ||
      pad.getStaticHigh() != ArrayRef<int64_t>{0, 0, 0, 0})
    return false;
  auto srcType = cast<RankedTensorType>(pad.getSource().getType());
  if (!srcType.hasStaticShape() ||
      slice.getStaticSizes() != srcType.getShape() ||
      slice.getType() != srcType)
    return false;
  x = pad.getSource();
  return true;
}

/// One term of a mix: `w * x` or `w * shift(x)` with a per-head weight
/// tensor, `x * c` or `x / c` with a constant, or `x` / `shift(x)` alone
/// (weight 1).
bool matchMixTerm(Value v, Value &data, Weight &w, bool &shifted) {
  auto setData = [&](Value dv) {
    Value raw;
    shifted = matchShift(dv, raw);
    data = shifted ? raw : dv;
  };
  Value a, b;
  AffineMap ma, mb;
  if (matchBinary<arith::MulFOp>(v, a, ma, b, mb, /*commutative=*/true)) {
    for (int order = 0; order < 2; ++order) {
      Value wv = order ? b : a, dv = order ? a : b;
      AffineMap wm = order ? mb : ma, dm = order ? ma : mb;
      if (!dm.isIdentity() || !matchWeight(wv, wm, w))
        continue;
      setData(dv);
      return true;
    }
    return false;
  }
  Value x;
  double factor;
  if (matchScale(v, x, factor)) {
    w = Weight{Value(), AffineMap(), factor};
    setData(x);
    return true;
  }
  w = Weight{Value(), AffineMap(), 1.0};
  setData(v);
  return true;
}

bool matchMix(Value v, Mix &mix) {
  Value a, b;
  AffineMap ma, mb;
  if (matchBinary<arith::AddFOp>(v, a, ma, b, mb, /*commutative=*/true) &&
      ma.isIdentity() && mb.isIdentity()) {
    Value da, db;
    Weight wa, wb;
    bool sa, sb;
    if (matchMixTerm(a, da, wa, sa) && matchMixTerm(b, db, wb, sb) &&
        da == db && sa != sb) {
      mix.raw = da;
      mix.w0 = sa ? wb : wa;
      mix.w1 = sa ? wa : wb;
      return true;
    }
  }
  // No mix: weights [1, 0]. (A lone term w * x, or x + shift(x) without
  // weights, is not this pattern and falls through to "plain": the whole
  // value is then the keys/values as they are.)
  mix.raw = v;
  mix.w0 = Weight{Value(), AffineMap(), 1.0};
  mix.w1 = Weight{Value(), AffineMap(), 0.0};
  return true;
}


//===----------------------------------------------------------------------===//
// RoPE written out: x * cos + rotate_half(x) * sin
//===----------------------------------------------------------------------===//

/// A rotation recognised in the IR: `x` rotated with the cos/sin tables of
/// `theta`, row r of x at position `offset + r`.
struct Rope {
  Value x;
  double theta = 0.0;
  int64_t offset = 0;
};

/// rotate_half(x) = cat(-x[..., half:], x[..., :half]) as the importer emits
/// it: two insert_slices (the negated upper half at column 0, the lower half
/// at column half) into a tensor.empty. Returns x.
bool matchRotateHalf(Value v, Value &x) {
  auto upper = v.getDefiningOp<tensor::InsertSliceOp>();
  if (!upper)
    return false;
  auto lower = upper.getDest().getDefiningOp<tensor::InsertSliceOp>();
  if (!lower || !lower.getDest().getDefiningOp<tensor::EmptyOp>())
    return false;
  auto type = cast<RankedTensorType>(v.getType());
  if (type.getRank() != 4 || !type.hasStaticShape())
    return false;
  int64_t d = type.getDimSize(3);
  if (d % 2)
    return false;
  int64_t half = d / 2;
  SmallVector<int64_t> halfShape(type.getShape());
  halfShape[3] = half;
  auto isSlice = [&](tensor::InsertSliceOp ins, int64_t col) {
    return ins.hasUnitStride() &&
           ins.getStaticOffsets() == ArrayRef<int64_t>{0, 0, 0, col} &&
           ins.getStaticSizes() == ArrayRef<int64_t>(halfShape);
  };
  if (!isSlice(lower, 0) || !isSlice(upper, half))
    return false;
  // Column 0..half: -x[..., half:].
  auto neg = lower.getSource().getDefiningOp<linalg::GenericOp>();
  if (!isElementwise(neg, 1) || !neg.getIndexingMapsArray()[0].isIdentity())
    return false;
  auto negOp = dyn_cast_or_null<arith::NegFOp>(singleBodyOp(neg));
  if (!negOp || inputIndex(neg, negOp.getOperand()) != 0)
    return false;
  auto hi = neg.getDpsInputs()[0].getDefiningOp<tensor::ExtractSliceOp>();
  auto lo = upper.getSource().getDefiningOp<tensor::ExtractSliceOp>();
  auto isHalfOf = [&](tensor::ExtractSliceOp e, int64_t col) {
    return e && e.hasUnitStride() &&
           e.getStaticOffsets() == ArrayRef<int64_t>{0, 0, 0, col} &&
           e.getStaticSizes() == ArrayRef<int64_t>(halfShape) &&
           e.getSource().getType() == type;
  };
  if (!isHalfOf(hi, half) || !isHalfOf(lo, 0) || hi.getSource() != lo.getSource())
    return false;
  x = lo.getSource();
  return true;
}

/// A [S, D] f32 table broadcast along batch and heads (map (d0..d3) ->
/// (d2, d3)) that is a constant, or rows [offset, offset + S) of one.
/// Returns the whole constant and the row offset.
bool matchTable(Value v, AffineMap map, int64_t rows, int64_t d,
                DenseFPElementsAttr &table, int64_t &offset) {
  MLIRContext *ctx = v.getContext();
  if (map != AffineMap::get(4, 0,
                            {getAffineDimExpr(2, ctx), getAffineDimExpr(3, ctx)},
                            ctx))
    return false;
  offset = 0;
  Value src = v;
  if (auto slice = v.getDefiningOp<tensor::ExtractSliceOp>()) {
    if (!slice.hasUnitStride() || slice.getStaticOffsets().size() != 2 ||
        slice.getStaticOffsets()[1] != 0 ||
        ShapedType::isDynamic(slice.getStaticOffsets()[0]))
      return false;
    offset = slice.getStaticOffsets()[0];
    src = slice.getSource();
  }
  if (!matchPattern(src, m_Constant(&table)))
    return false;
  auto t = cast<RankedTensorType>(table.getType());
  auto vt = cast<RankedTensorType>(v.getType());
  return t.getRank() == 2 && t.getElementType().isF32() &&
         t.getDimSize(1) == d && vt.getDimSize(0) == rows &&
         vt.getDimSize(1) == d;
}

/// The RoPE table value at (p, col) for theta, as SPEC.md defines it.
double ropeTableValue(bool isSin, int64_t p, int64_t col, int64_t d,
                      double theta) {
  int64_t i = col % (d / 2);
  double angle = static_cast<double>(p) *
                 std::pow(theta, -2.0 * static_cast<double>(i) /
                                     static_cast<double>(d));
  return isSin ? std::sin(angle) : std::cos(angle);
}

/// Checks that `cos`/`sin` hold RoPE tables of `theta` (rows at positions 0,
/// 1, ...): every entry within what computing the angle in f32 can cost
/// (4 ulp of the angle, plus 4 ulp of the value).
bool tablesMatch(DenseFPElementsAttr cos, DenseFPElementsAttr sin,
                 double theta) {
  auto t = cast<RankedTensorType>(cos.getType());
  int64_t rows = t.getDimSize(0), d = t.getDimSize(1);
  auto c = cos.getValues<APFloat>(), s = sin.getValues<APFloat>();
  const double eps = std::ldexp(1.0, -23);
  for (int64_t p = 0; p < rows; ++p)
    for (int64_t col = 0; col < d; ++col) {
      int64_t i = col % (d / 2);
      double angle = static_cast<double>(p) *
                     std::pow(theta, -2.0 * static_cast<double>(i) /
                                         static_cast<double>(d));
      double tol = 4 * eps * (1.0 + std::fabs(angle));
      if (std::fabs(c[p * d + col].convertToDouble() -
                    ropeTableValue(false, p, col, d, theta)) > tol ||
          std::fabs(s[p * d + col].convertToDouble() -
                    ropeTableValue(true, p, col, d, theta)) > tol)
        return false;
    }
  return true;
}

/// theta from the tables' row at position 1 (angle_i = theta^(-2i/D) there,
/// below pi, so atan2 recovers it), snapped to an integer when that fits
/// the tables too; nullopt when the tables are not RoPE tables.
std::optional<double> inferTheta(DenseFPElementsAttr cos,
                                 DenseFPElementsAttr sin) {
  auto t = cast<RankedTensorType>(cos.getType());
  int64_t rows = t.getDimSize(0), d = t.getDimSize(1);
  if (rows < 2 || d < 4 || d % 2)
    return std::nullopt;
  auto c = cos.getValues<APFloat>(), s = sin.getValues<APFloat>();
  double inv1 = std::atan2(s[d + 1].convertToDouble(),
                           c[d + 1].convertToDouble()); // theta^(-2/D)
  if (!(inv1 > 0.0 && inv1 < 1.0))
    return std::nullopt;
  double theta = std::pow(inv1, -static_cast<double>(d) / 2.0);
  if (!std::isfinite(theta) || !std::isfinite(static_cast<float>(theta)))
    return std::nullopt;
  double snapped = std::round(theta);
  if (snapped > 0 && std::fabs(snapped - theta) <= 1e-3 * theta &&
      tablesMatch(cos, sin, snapped))
    return snapped;
  if (tablesMatch(cos, sin, theta))
    return theta;
  return std::nullopt;
}

/// v = x * cos + rotate_half(x) * sin with constant RoPE tables.
bool matchRope(Value v, Rope &rope) {
  auto type = dyn_cast<RankedTensorType>(v.getType());
  if (!type || type.getRank() != 4 || !type.hasStaticShape() ||
      !type.getElementType().isF32())
    return false;
  Value a, b;
  AffineMap ma, mb;
  if (!matchBinary<arith::AddFOp>(v, a, ma, b, mb, /*commutative=*/true) ||
      !ma.isIdentity() || !mb.isIdentity())
    return false;
  int64_t rows = type.getDimSize(2), d = type.getDimSize(3);
  for (int order = 0; order < 2; ++order) {
    Value cosTerm = order ? b : a, sinTerm = order ? a : b;
    Value c1, c2, s1, s2;
    AffineMap mc1, mc2, ms1, ms2;
    if (!matchBinary<arith::MulFOp>(cosTerm, c1, mc1, c2, mc2, true) ||
        !matchBinary<arith::MulFOp>(sinTerm, s1, ms1, s2, ms2, true))
      continue;
    for (int co = 0; co < 2; ++co)
      for (int so = 0; so < 2; ++so) {
        Value x = co ? c2 : c1, cosV = co ? c1 : c2;
        AffineMap xm = co ? mc2 : mc1, cm = co ? mc1 : mc2;
        Value rot = so ? s2 : s1, sinV = so ? s1 : s2;
        AffineMap rm = so ? ms2 : ms1, sm = so ? ms1 : ms2;
        Value rx;
        DenseFPElementsAttr cosT, sinT;
        int64_t cOff, sOff;
        if (!xm.isIdentity() || !rm.isIdentity() || !matchRotateHalf(rot, rx) ||
            rx != x || !matchTable(cosV, cm, rows, d, cosT, cOff) ||
            !matchTable(sinV, sm, rows, d, sinT, sOff) || cOff != sOff ||
            cosT.getType() != sinT.getType())
          continue;
        std::optional<double> theta = inferTheta(cosT, sinT);
        if (!theta)
          continue;
        rope = Rope{x, *theta, cOff};
        return true;
      }
  }
  return false;
}

/// Grouped-query attention written out: `x` with Hq heads made from `src`
/// with Hkv heads, head h reading head h / g (g = Hq / Hkv), as the op does.
/// Two forms: repeat_interleave (a gather generic reading
/// src[d0, idx[d1], d2, d3] with the constant idx = [h / g]) and the
/// expand-and-reshape of Llama's repeat_kv (collapse [[0], [1, 2], [3], [4]]
/// of a broadcast along a new unit dim 2 of src). Returns src and g, or x and
/// 1 when it is neither.
std::pair<Value, int64_t> peelHeadRepeat(Value x) {
  auto xType = dyn_cast<RankedTensorType>(x.getType());
  if (!xType || xType.getRank() != 4 || !xType.hasStaticShape())
    return {x, 1};
  int64_t hq = xType.getDimSize(1);
  MLIRContext *ctx = x.getContext();

  // repeat_kv: collapse(broadcast(expand(src))).
  if (auto collapse = x.getDefiningOp<tensor::CollapseShapeOp>()) {
    auto r = collapse.getReassociationIndices();
    if (r.size() == 4 && r[0] == ReassociationIndices{0} &&
        r[1] == ReassociationIndices{1, 2} && r[2] == ReassociationIndices{3} &&
        r[3] == ReassociationIndices{4}) {
      auto g = collapse.getSrc().getDefiningOp<linalg::GenericOp>();
      if (isElementwise(g, 1)) {
        auto yield = cast<linalg::YieldOp>(g.getRegion().front().getTerminator());
        AffineMap bcast = AffineMap::get(
            5, 0,
            {getAffineDimExpr(0, ctx), getAffineDimExpr(1, ctx),
             getAffineConstantExpr(0, ctx), getAffineDimExpr(3, ctx),
             getAffineDimExpr(4, ctx)},
            ctx);
        auto expand = g.getDpsInputs()[0].getDefiningOp<tensor::ExpandShapeOp>();
        if (yield.getNumOperands() == 1 &&
            inputIndex(g, yield.getOperand(0)) == 0 &&
            llvm::hasSingleElement(g.getRegion().front()) &&
            g.getIndexingMapsArray()[0] == bcast && expand) {
          auto er = expand.getReassociationIndices();
          auto src = expand.getSrc();
          auto srcType = cast<RankedTensorType>(src.getType());
          auto mid = cast<RankedTensorType>(g->getResult(0).getType());
          if (er.size() == 4 && er[0] == ReassociationIndices{0} &&
              er[1] == ReassociationIndices{1} &&
              er[2] == ReassociationIndices{2, 3} &&
              er[3] == ReassociationIndices{4} &&
              expand.getResultType().getDimSize(2) == 1 &&
              srcType.getRank() == 4 &&
              mid.getDimSize(1) == srcType.getDimSize(1))
            return {src, mid.getDimSize(2)};
        }
      }
    }
  }

  // repeat_interleave / index_select along dim 1.
  auto g = x.getDefiningOp<linalg::GenericOp>();
  if (!g || g.getNumDpsInputs() != 1 || g.getNumDpsInits() != 1 ||
      g.getNumLoops() != 4 || g.getNumParallelLoops() != 4 ||
      !g.getIndexingMapsArray()[1].isIdentity() ||
      g.getIndexingMapsArray()[0] !=
          AffineMap::get(4, 0, {getAffineDimExpr(1, ctx)}, ctx))
    return {x, 1};
  DenseIntElementsAttr indices;
  if (!matchPattern(g.getDpsInputs()[0], m_Constant(&indices)))
    return {x, 1};
  Block &body = g.getRegion().front();
  auto yield = cast<linalg::YieldOp>(body.getTerminator());
  auto extract = yield.getOperand(0).getDefiningOp<tensor::ExtractOp>();
  if (!extract || extract->getBlock() != &body || extract.getIndices().size() != 4)
    return {x, 1};
  auto isIndex = [&](Value v, int64_t dim) {
    auto i = v.getDefiningOp<linalg::IndexOp>();
    return i && static_cast<int64_t>(i.getDim()) == dim;
  };
  auto cast = extract.getIndices()[1].getDefiningOp<arith::IndexCastOp>();
  if (!isIndex(extract.getIndices()[0], 0) ||
      !isIndex(extract.getIndices()[2], 2) ||
      !isIndex(extract.getIndices()[3], 3) || !cast ||
      cast.getIn() != body.getArgument(0))
    return {x, 1};
  Value src = extract.getTensor();
  auto srcType = dyn_cast<RankedTensorType>(src.getType());
  if (!srcType || srcType.getRank() != 4 || !srcType.hasStaticShape() ||
      srcType.getDimSize(0) != xType.getDimSize(0) ||
      srcType.getDimSize(2) != xType.getDimSize(2) ||
      srcType.getDimSize(3) != xType.getDimSize(3))
    return {x, 1};
  int64_t hkv = srcType.getDimSize(1);
  if (hkv <= 0 || hq % hkv != 0 || indices.getNumElements() != hq)
    return {x, 1};
  int64_t group = hq / hkv;
  int64_t h = 0;
  for (const APInt &v : indices.getValues<APInt>())
    if (v.getSExtValue() != h++ / group)
      return {x, 1};
  return {src, group};
}

/// Builds the [H, 2] f32 weight tensor of a mix.
Value buildWeights(PatternRewriter &rewriter, Location loc, const Mix &mix,
                   int64_t heads) {
  MLIRContext *ctx = rewriter.getContext();
  auto f32 = rewriter.getF32Type();
  auto outType = RankedTensorType::get({heads, 2}, f32);
  if (!mix.w0.tensor && !mix.w1.tensor) {
    SmallVector<float> values;
    for (int64_t h = 0; h < heads; ++h) {
      values.push_back(static_cast<float>(mix.w0.constant));
      values.push_back(static_cast<float>(mix.w1.constant));
    }
    return arith::ConstantOp::create(
        rewriter, loc, outType,
        DenseElementsAttr::get(outType, ArrayRef<float>(values)));
  }
  // (h, j) -> (0, h, 0, 0): evaluates a weight's 4-d map at head h.
  AffineMap toIteration = AffineMap::get(
      2, 0,
      {getAffineConstantExpr(0, ctx), getAffineDimExpr(0, ctx),
       getAffineConstantExpr(0, ctx), getAffineConstantExpr(0, ctx)},
      ctx);
  SmallVector<Value> inputs;
  SmallVector<AffineMap> maps;
  for (const Weight *w : {&mix.w0, &mix.w1})
    if (w->tensor) {
      inputs.push_back(w->tensor);
      maps.push_back(w->map.compose(toIteration));
    }
  maps.push_back(rewriter.getMultiDimIdentityMap(2));
  Value init = tensor::EmptyOp::create(rewriter, loc, outType.getShape(), f32);
  auto generic = linalg::GenericOp::create(
      rewriter, loc, SmallVector<Type>{outType}, inputs, ValueRange{init}, maps,
      {utils::IteratorType::parallel, utils::IteratorType::parallel},
      [&](OpBuilder &b, Location l, ValueRange args) {
        unsigned next = 0;
        auto valueOf = [&](const Weight &w) -> Value {
          if (w.tensor)
            return args[next++];
          return arith::ConstantOp::create(
              b, l, b.getF32FloatAttr(static_cast<float>(w.constant)));
        };
        Value w0 = valueOf(mix.w0), w1 = valueOf(mix.w1);
        Value j = linalg::IndexOp::create(b, l, 1);
        Value zero = arith::ConstantIndexOp::create(b, l, 0);
        Value isFirst = arith::CmpIOp::create(b, l, arith::CmpIPredicate::eq,
                                              j, zero);
        Value r = arith::SelectOp::create(b, l, isFirst, w0, w1);
        linalg::YieldOp::create(b, l, r);
      });
  return generic.getResult(0);
}

//===----------------------------------------------------------------------===//
// The pattern
//===----------------------------------------------------------------------===//

struct RaiseAttention : OpRewritePattern<tensor::ExpandShapeOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(tensor::ExpandShapeOp root,
                                PatternRewriter &rewriter) const override {
    // out = P @ v^
    Value p, vhat;
    if (!matchBatchedMatmul4D(root.getResult(), p, vhat))
      return rewriter.notifyMatchFailure(root, "not expand(bmm(P, V))");
    Value scores;
    if (!matchSoftmax(p, scores))
      return rewriter.notifyMatchFailure(root, "P is not a softmax");

    // Scale and mask, in either order. Walking backwards from the softmax,
    // the first one found is the later one in program order.
    double scale = 1.0;
    bool causal = false;
    DenseElementsAttr mask;
    Value cur = scores, next;
    double factor;
    bool maskSeen = false, scaleSeen = false, scaleAfterMask = false;
    for (int step = 0; step < 2; ++step) {
      if (!maskSeen && matchMaskedFill(cur, next, mask)) {
        maskSeen = true;
        cur = next;
        continue;
      }
      if (!scaleSeen && matchScale(cur, next, factor)) {
        scaleSeen = true;
        scale = factor;
        scaleAfterMask = step == 0;
        cur = next;
        continue;
      }
      break;
    }
    // Masked with -inf, then scaled: the logits stay -inf only for c > 0.
    if (maskSeen && scaleAfterMask && !(scale > 0.0))
      return rewriter.notifyMatchFailure(root, "non-positive scale after mask");
    if (!(std::isfinite(scale) && scale != 0.0 &&
          std::isfinite(static_cast<float>(scale))))
      return rewriter.notifyMatchFailure(root, "scale is not finite non-zero");

    // S = q @ k^T
    Value q, kT;
    if (!matchBatchedMatmul4D(cur, q, kT))
      return rewriter.notifyMatchFailure(root, "scores are not bmm(q, k^T)");
    auto transpose = kT.getDefiningOp<linalg::TransposeOp>();
    if (!transpose || transpose.getPermutation() != ArrayRef<int64_t>{0, 1, 3, 2})
      return rewriter.notifyMatchFailure(root, "k^T is not a transpose");
    Value khat = transpose.getInput();

    // RoPE written out (x * cos + rotate_half(x) * sin with constant
    // tables), after the mix as the op defines it: keys at positions j,
    // queries at Sk - Sq + i, one theta for both. Otherwise the rotations
    // stay as they are and only the attention over their results is raised.
    std::optional<double> ropeTheta;
    auto matchBothRotated = [&](Value keys, Value &unrotated) {
      Rope kRope, qRope;
      int64_t sk = cast<RankedTensorType>(keys.getType()).getDimSize(2);
      int64_t sq = cast<RankedTensorType>(q.getType()).getDimSize(2);
      if (!matchRope(keys, kRope) || !matchRope(q, qRope) ||
          qRope.theta != kRope.theta || kRope.offset != 0 ||
          qRope.offset != sk - sq)
        return false;
      unrotated = kRope.x;
      q = qRope.x;
      ropeTheta = kRope.theta;
      return true;
    };
    // The rotation after the GQA repeat ...
    Value kIn = khat;
    matchBothRotated(khat, kIn);

    // GQA written out (repeat_interleave or repeat_kv) on k^ and v^.
    auto [kBase, kGroup] = peelHeadRepeat(kIn);
    auto [vBase, vGroup] = peelHeadRepeat(vhat);
    if (kGroup != vGroup) {
      kBase = kIn;
      vBase = vhat;
      kGroup = 1;
    }
    // ... or before it.
    if (!ropeTheta)
      matchBothRotated(kBase, kBase);

    Mix kmix, vmix;
    matchMix(kBase, kmix);
    matchMix(vBase, vmix);

    auto qType = cast<RankedTensorType>(q.getType());
    auto kType = cast<RankedTensorType>(kmix.raw.getType());
    auto vType = cast<RankedTensorType>(vmix.raw.getType());
    auto outType = cast<RankedTensorType>(root.getResultType());
    if (!qType.hasStaticShape() || !kType.hasStaticShape() ||
        !vType.hasStaticShape() || outType != qType || kType != vType ||
        !qType.getElementType().isF32())
      return rewriter.notifyMatchFailure(root, "unsupported types or shapes");
    int64_t heads = kType.getDimSize(1), sq = qType.getDimSize(2),
            sk = kType.getDimSize(2);
    if (qType.getDimSize(1) != heads * kGroup ||
        qType.getDimSize(0) != kType.getDimSize(0) ||
        qType.getDimSize(3) != kType.getDimSize(3))
      return rewriter.notifyMatchFailure(root, "q/k/v shapes disagree");
    if (maskSeen) {
      if (!isCausalMask(mask, sq, sk))
        return rewriter.notifyMatchFailure(root, "the mask is not causal");
      causal = true;
    }
    // Weight tensors must have the head count as their d1 extent.
    for (const Weight *w : {&kmix.w0, &kmix.w1, &vmix.w0, &vmix.w1}) {
      if (!w->tensor)
        continue;
      auto t = cast<RankedTensorType>(w->tensor.getType());
      for (auto [i, e] : llvm::enumerate(w->map.getResults()))
        if (isa<AffineDimExpr>(e) && t.getDimSize(i) != heads)
          return rewriter.notifyMatchFailure(root, "weight extent != heads");
    }

    Location loc = root.getLoc();
    rewriter.setInsertionPoint(root);
    Value kw = buildWeights(rewriter, loc, kmix, heads);
    Value vw = buildWeights(rewriter, loc, vmix, heads);
    auto op = KVShiftAttentionOp::create(
        rewriter, loc, outType, q, kmix.raw, vmix.raw, kw, vw,
        rewriter.getF32FloatAttr(static_cast<float>(scale)),
        causal ? rewriter.getUnitAttr() : UnitAttr(),
        ropeTheta ? rewriter.getF32FloatAttr(static_cast<float>(*ropeTheta))
                  : FloatAttr());
    rewriter.replaceOp(root, op.getResult());
    return success();
  }

};

struct KVShiftRaisePass
    : kvshift::impl::KVShiftRaiseBase<KVShiftRaisePass> {
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    patterns.add<RaiseAttention>(&getContext());
    GreedyRewriteConfig config;
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns),
                                     config)))
      signalPassFailure();
  }
};

} // namespace
