//===- FuseAttention.cpp - fused KV-shift flash attention for the CPU -----===//
//
// Lowers kvshift.kv_shift_attention to a parallel, tiled, vectorised
// online-softmax loop nest in which the mix is applied to each K/V tile as it
// is loaded. K^, V^ and the score matrix never exist as whole tensors. See the
// pass description in Passes.td for the design.
//
// Layout of the scratch buffers of one work item (R rows = G query heads x Bq
// query rows, padded to Rp, a multiple of 16; Dp = D padded to 16):
//   QT [Dp, Rp]  queries, transposed and pre-multiplied by the scale
//   OT [Dp, Rp]  the running output accumulator, transposed
//   ST [Bc, Rp]  scores of one key tile, transposed; then probabilities
//   KH [Bc, Dp]  mixed keys of one key tile
//   VH [Bc, Dp]  mixed values of one key tile
//   M, L [Rp]    running max and running sum; LIM [Rp] causal limit per row
// Vectors (16 x f32) run along the rows, so the softmax needs no horizontal
// reduction and both products are broadcast-FMA micro-kernels.
//
//===----------------------------------------------------------------------===//

#include "kvshift/Dialect/KVShift/IR/KVShiftOps.h"
#include "kvshift/Dialect/KVShift/Transforms/KernelScope.h"
#include "kvshift/Dialect/KVShift/Transforms/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/ImplicitLocOpBuilder.h"
#include "mlir/IR/PatternMatch.h"

#include <cmath>
#include <limits>

namespace mlir::kvshift {
#define GEN_PASS_DEF_KVSHIFTFUSEATTENTION
#include "kvshift/Dialect/KVShift/Transforms/Passes.h.inc"
} // namespace mlir::kvshift

using namespace mlir;
using namespace mlir::kvshift;

namespace {

constexpr int64_t kLanes = 16;   // f32 lanes of one AVX-512 vector
constexpr int64_t kTileVecs = 4; // row vectors of the register tile (64 rows)
constexpr int64_t kTileCols = 4; // keys (QK) or head dims (PV) of the tile

using BodyFn = function_ref<void(ImplicitLocOpBuilder &, Value)>;
using IterBodyFn =
    function_ref<SmallVector<Value>(ImplicitLocOpBuilder &, Value, ValueRange)>;

/// Emits the fused loop nest for one op.
class FusedAttentionEmitter {
public:
  FusedAttentionEmitter(ImplicitLocOpBuilder &b, int64_t blockRows,
                        int64_t blockK)
      : b(b), cb(b.getLoc(), b.getContext()), blockRows(blockRows),
        blockK(blockK), f32(b.getF32Type()),
        vecType(VectorType::get({kLanes}, f32)),
        limType(VectorType::get({kLanes}, b.getI32Type())) {}

  /// Reads the operands' buffers, sizes and scale. Must come first.
  void setup(Operation *op, Value q, Value k, Value v, Value kw, Value vw,
             std::optional<double> staticScale, bool causal,
             std::optional<double> ropeTheta);
  /// The fused forward; returns the output buffer (type of `outType`) and,
  /// when `withLSE`, the row log-sum-exp buffer [B, Hq, Sq] f32.
  std::pair<Value, Value> emitForward(RankedTensorType outType, bool withLSE);
  /// The fused backward given dout (tensor), the forward's output and lse
  /// (buffers); returns the buffers of dq, dk, dv, dkw, dvw (of the shapes
  /// and element types of `resultTypes`).
  SmallVector<Value> emitBackward(Value dout, Value fwdOut, Value lse,
                                  TypeRange resultTypes);
  /// The kernel the code is emitted into (set before setup()).
  KernelScope *scope = nullptr;
  /// The kernel's buffer of input tensor `t`.
  Value toBuffer(Value t) { return scope->buffer(t); }

private:
  ImplicitLocOpBuilder &b;
  /// Creates constants at the start of the op's block, where they dominate
  /// every use in the loop nest.
  ImplicitLocOpBuilder cb;
  Block *constBlock = nullptr;
  int64_t blockRows, blockK;
  /// The constant builder, positioned at the start of the op's block (every
  /// constant goes there, so it dominates all uses in the emitted code).
  ImplicitLocOpBuilder &consts() {
    cb.setInsertionPointToStart(constBlock);
    return cb;
  }
  Type f32, elt;
  VectorType vecType, limType;

  // --- small builders -----------------------------------------------------
  Value idx(int64_t v) { return arith::ConstantIndexOp::create(consts(), v); }
  Value f32c(ImplicitLocOpBuilder &, double v) {
    return arith::ConstantOp::create(consts(), f32, cb.getF32FloatAttr(v));
  }
  Value splat(ImplicitLocOpBuilder &bb, Value scalar) {
    return vector::BroadcastOp::create(bb, vecType, scalar);
  }
  Value zeroVec(ImplicitLocOpBuilder &) {
    return arith::ConstantOp::create(
        consts(), vecType,
        DenseElementsAttr::get(vecType, cb.getF32FloatAttr(0)));
  }
  static Value add(ImplicitLocOpBuilder &bb, Value x, Value y) {
    return arith::AddIOp::create(bb, x, y);
  }
  static Value sub(ImplicitLocOpBuilder &bb, Value x, Value y) {
    return arith::SubIOp::create(bb, x, y);
  }
  static Value mul(ImplicitLocOpBuilder &bb, Value x, Value y) {
    return arith::MulIOp::create(bb, x, y);
  }
  static Value divu(ImplicitLocOpBuilder &bb, Value x, Value y) {
    return arith::DivUIOp::create(bb, x, y);
  }
  static Value remu(ImplicitLocOpBuilder &bb, Value x, Value y) {
    return arith::RemUIOp::create(bb, x, y);
  }
  static Value minu(ImplicitLocOpBuilder &bb, Value x, Value y) {
    return arith::MinUIOp::create(bb, x, y);
  }
  static Value maxu(ImplicitLocOpBuilder &bb, Value x, Value y) {
    return arith::MaxUIOp::create(bb, x, y);
  }
  static Value ult(ImplicitLocOpBuilder &bb, Value x, Value y) {
    return arith::CmpIOp::create(bb, arith::CmpIPredicate::ult, x, y);
  }
  Value ceilDiv(ImplicitLocOpBuilder &bb, Value x, int64_t c) {
    return divu(bb, add(bb, x, idx(c - 1)), idx(c));
  }
  Value roundUp(ImplicitLocOpBuilder &bb, Value x, int64_t c) {
    return mul(bb, ceilDiv(bb, x, c), idx(c));
  }
  Value toF32(ImplicitLocOpBuilder &bb, Value v) {
    Type t = v.getType();
    Type target = isa<VectorType>(t) ? Type(vecType) : f32;
    Type et = getElementTypeOrSelf(t);
    if (et == f32)
      return v;
    return arith::ExtFOp::create(bb, target, v);
  }
  Value fromF32(ImplicitLocOpBuilder &bb, Value v) {
    if (elt == f32)
      return v;
    return arith::TruncFOp::create(bb, elt, v);
  }
  Value vmax(ImplicitLocOpBuilder &bb, Value x, Value y) {
    Value gt = arith::CmpFOp::create(bb, arith::CmpFPredicate::OGT, x, y);
    return arith::SelectOp::create(bb, gt, x, y);
  }

  /// scf.for lb..ub step `step` without loop-carried values.
  void loop(ImplicitLocOpBuilder &bb, Value lb, Value ub, Value step,
            BodyFn body) {
    auto forOp = scf::ForOp::create(bb, lb, ub, step);
    ImplicitLocOpBuilder nb(bb.getLoc(), forOp.getBody(),
                            forOp.getBody()->getTerminator()->getIterator());
    body(nb, forOp.getInductionVar());
  }
  /// scf.for with loop-carried values; returns the final values.
  SmallVector<Value> loopIter(ImplicitLocOpBuilder &bb, Value lb, Value ub,
                              Value step, ValueRange init, IterBodyFn body) {
    auto forOp = scf::ForOp::create(
        bb, lb, ub, step, init,
        [&](OpBuilder &ob, Location loc, Value iv, ValueRange args) {
          ImplicitLocOpBuilder nb(loc, ob);
          SmallVector<Value> next = body(nb, iv, args);
          scf::YieldOp::create(nb, next);
        });
    return SmallVector<Value>(forOp.getResults().begin(),
                              forOp.getResults().end());
  }
  void ifThen(ImplicitLocOpBuilder &bb, Value cond,
              function_ref<void(ImplicitLocOpBuilder &)> then) {
    auto ifOp = scf::IfOp::create(bb, cond, /*withElseRegion=*/false);
    ImplicitLocOpBuilder nb(bb.getLoc(), ifOp.thenBlock(),
                            ifOp.thenBlock()->getTerminator()->getIterator());
    then(nb);
  }
  void ifThenElse(ImplicitLocOpBuilder &bb, Value cond,
                  function_ref<void(ImplicitLocOpBuilder &)> then,
                  function_ref<void(ImplicitLocOpBuilder &)> otherwise) {
    auto ifOp = scf::IfOp::create(bb, cond, /*withElseRegion=*/true);
    ImplicitLocOpBuilder tb(bb.getLoc(), ifOp.thenBlock(),
                            ifOp.thenBlock()->getTerminator()->getIterator());
    then(tb);
    ImplicitLocOpBuilder eb(bb.getLoc(), ifOp.elseBlock(),
                            ifOp.elseBlock()->getTerminator()->getIterator());
    otherwise(eb);
  }

  /// Runs `tile(rv, nvec)` over row vectors [0, rp): groups of kTileVecs
  /// vectors, then single vectors for the remainder.
  void overRowVectors(ImplicitLocOpBuilder &bb, Value rp,
                      function_ref<void(ImplicitLocOpBuilder &, Value, int64_t)>
                          tile) {
    int64_t group = kTileVecs * kLanes;
    Value full = mul(bb, divu(bb, rp, idx(group)), idx(group));
    loop(bb, idx(0), full, idx(group),
         [&](ImplicitLocOpBuilder &nb, Value rv) { tile(nb, rv, kTileVecs); });
    loop(bb, full, rp, idx(kLanes),
         [&](ImplicitLocOpBuilder &nb, Value rv) { tile(nb, rv, 1); });
  }

  // --- state of the op being emitted -------------------------------------
  bool causal = false;
  Type outElt; // element type of the forward's output buffer
  Value qBuf, kBuf, vBuf, kwBuf, vwBuf, outBuf, lseBuf;
  Value dimB, dimHq, dimHkv, dimD, dimSq, dimSk, groupSize, rowsPerHead, rows,
      rowsPadded, dimDPadded, offset, scale;

  /// Loads keys or values rows [j0, j0 + jn) of (batch, kvHead), mixes them
  /// with (w1, w2) (splatted f32 weights) and stores the f32 rows into the
  /// [Bc, Dp] tile `dst`.
  /// With `rope`, the mixed rows are also rotated (RoPE, key j at position
  /// j): in the same pass over the pair of halves when D is static and D/2 a
  /// multiple of 16, else by emitRopeRows after the mix.
  void emitMixTile(ImplicitLocOpBuilder &bb, Value raw, Value batch,
                   Value kvHead, Value j0, Value jn, Value w1, Value w2,
                   Value dst, bool rope = false);
  /// C[c0 + x, 16v + ...] (+)= sum_{red < redN} A(x, red) * B[b0 + red, ...]
  /// over all Dp columns of C and B (row-major, vectors along the columns),
  /// for C rows c0 in [0, cN) step 4. A(x, red) reads `a[c0 + x, red]`, or
  /// `a[red, c0 + x]` when `aTransposed`.
  void emitRowUpdate(ImplicitLocOpBuilder &bb, Value c, Value cRowBase,
                     Value cN, Value a, bool aTransposed, Value bMat,
                     Value bRowBase, Value redN);
  /// C[jq + x, 16 v] = sum_{d < D} A[jq + x, d] * BT[d, col0 + 16 v] for
  /// v < 4 (64 columns), jq in [0, jN) step 4.
  void emitColumnBlock(ImplicitLocOpBuilder &bb, Value c, Value a, Value bt,
                       Value col0, Value jN);

  void emitWorkItem(ImplicitLocOpBuilder &bb, Value batch, Value kvHead,
                    Value q0, Value qn);

  // --- RoPE (rope_theta) ---------------------------------------------------
  /// The rotation angle table: cos and sin [tabRows, D/2] f32 of the
  /// positions min(0, Sk - Sq) .. Sk - 1 (row = position + keyRowShift),
  /// computed in f64 (inv_freq = theta^(-2i/D), angle addition over blocks
  /// of 64 positions) and rounded to f32, filled by a parallel loop before
  /// the main loop nest.
  std::optional<double> ropeTheta;
  Value ropeCos, ropeSin, dimHalf, keyRowShift, queryRowShift;
  int64_t staticHalf = 0; // D / 2 when D is static, else 0
  void emitRopeTable();
  /// Rotates rows [row0, row0 + n) of the f32 matrix `mat` (row-major, head
  /// dims along the columns) in place; row row0 + x is at position pos0 + x
  /// (a key or a query). `inverse` rotates by -p (the transpose, for
  /// gradients). 16-lane vectors along the head dims: full when D is static
  /// and D/2 a multiple of 16, masked otherwise.
  void emitRopeRows(ImplicitLocOpBuilder &bb, Value mat, Value row0,
                    Value pos0, Value n, bool inverse);
  /// The rotation of one pair (x1, x2) = (x[i], x[i + half]) by the angle of
  /// table row `tabRow`, column `i` (scalars).
  std::pair<Value, Value> ropePair(ImplicitLocOpBuilder &bb, Value x1,
                                   Value x2, Value tabRow, Value i,
                                   bool inverse);
};

void FusedAttentionEmitter::setup(Operation *op, Value q, Value k, Value v,
                                  Value kw, Value vw,
                                  std::optional<double> staticScale,
                                  bool isCausal,
                                  std::optional<double> theta) {
  causal = isCausal;
  ropeTheta = theta;
  int64_t staticD = cast<RankedTensorType>(q.getType()).getDimSize(3);
  staticHalf = ShapedType::isDynamic(staticD) ? 0 : staticD / 2;
  constBlock = op->getBlock();
  elt = cast<RankedTensorType>(q.getType()).getElementType();
  qBuf = toBuffer(q);
  kBuf = toBuffer(k);
  vBuf = toBuffer(v);
  kwBuf = toBuffer(kw);
  vwBuf = toBuffer(vw);
  auto dim = [&](Value buf, int64_t i) -> Value {
    return memref::DimOp::create(b, buf, i);
  };
  dimB = dim(qBuf, 0);
  dimHq = dim(qBuf, 1);
  dimSq = dim(qBuf, 2);
  dimD = dim(qBuf, 3);
  dimHkv = dim(kBuf, 1);
  dimSk = dim(kBuf, 2);
  groupSize = divu(b, dimHq, dimHkv);
  dimDPadded = roundUp(b, dimD, kLanes);
  offset = sub(b, dimSk, dimSq);
  if (staticScale) {
    scale = f32c(b, *staticScale);
  } else {
    Value dI = arith::IndexCastOp::create(b, b.getI64Type(), dimD);
    Value dF = arith::SIToFPOp::create(b, f32, dI);
    scale = arith::DivFOp::create(b, f32c(b, 1.0), math::SqrtOp::create(b, dF));
  }
  if (ropeTheta)
    emitRopeTable();
}

void FusedAttentionEmitter::emitRopeTable() {
  Type f64 = b.getF64Type();
  dimHalf = divu(b, dimD, idx(2));
  // Positions min(0, Sk - Sq) .. Sk - 1: keys 0 .. Sk - 1 and queries
  // Sk - Sq + i (negative only without causal when Sq > Sk).
  Value tabRows = maxu(b, dimSk, dimSq);
  keyRowShift = sub(b, tabRows, dimSk);   // row of key j: j + keyRowShift
  queryRowShift = sub(b, tabRows, dimSq); // row of query i: i + queryRowShift
  int64_t dyn = ShapedType::kDynamic;
  auto tabType = MemRefType::get({dyn, dyn}, f32);
  ropeCos = memref::AllocOp::create(b, tabType, ValueRange{tabRows, dimHalf},
                                    b.getI64IntegerAttr(64));
  ropeSin = memref::AllocOp::create(b, tabType, ValueRange{tabRows, dimHalf},
                                    b.getI64IntegerAttr(64));
  // inv_freq[i] = theta^(-2i/D) in f64, once.
  Value invFreq = memref::AllocOp::create(
      b, MemRefType::get({dyn}, f64), ValueRange{dimHalf},
      b.getI64IntegerAttr(64));
  auto toF64 = [&](ImplicitLocOpBuilder &bb, Value index) -> Value {
    return arith::SIToFPOp::create(
        bb, f64, arith::IndexCastOp::create(bb, bb.getI64Type(), index));
  };
  Value thetaC = arith::ConstantOp::create(consts(), f64,
                                           cb.getF64FloatAttr(*ropeTheta));
  Value minusTwo =
      arith::ConstantOp::create(consts(), f64, cb.getF64FloatAttr(-2.0));
  Value dF = toF64(b, dimD);
  loop(b, idx(0), dimHalf, idx(1), [&](ImplicitLocOpBuilder &lb, Value i) {
    Value expo = arith::DivFOp::create(
        lb, arith::MulFOp::create(lb, minusTwo, toF64(lb, i)), dF);
    memref::StoreOp::create(lb, math::PowFOp::create(lb, thetaC, expo),
                            invFreq, ValueRange{i});
  });
  // cos and sin of p * inv_freq by angle addition, in f64: for the blocks
  // of kRopeBlock positions p = p0 + t, (p0 * f) once per block and
  // (t * f) once per op from libm, then
  //   cos(p f) = cos(p0 f) cos(t f) - sin(p0 f) sin(t f)
  //   sin(p f) = sin(p0 f) cos(t f) + cos(p0 f) sin(t f),
  // which is within a few f64 ulps of cos/sin(p * f) and costs
  // (Sk / kRopeBlock + kRopeBlock) * D/2 libm calls instead of Sk * D/2.
  constexpr int64_t kRopeBlock = 64;
  Value cBlk = idx(kRopeBlock);
  auto stepType = MemRefType::get({kRopeBlock, dyn}, f64);
  Value stepCos = memref::AllocOp::create(b, stepType, ValueRange{dimHalf},
                                          b.getI64IntegerAttr(64));
  Value stepSin = memref::AllocOp::create(b, stepType, ValueRange{dimHalf},
                                          b.getI64IntegerAttr(64));
  loop(b, idx(0), cBlk, idx(1), [&](ImplicitLocOpBuilder &tb, Value t) {
    Value tF = toF64(tb, t);
    loop(tb, idx(0), dimHalf, idx(1), [&](ImplicitLocOpBuilder &lb, Value i) {
      Value angle = arith::MulFOp::create(
          lb, tF, memref::LoadOp::create(lb, invFreq, ValueRange{i}));
      memref::StoreOp::create(lb, math::CosOp::create(lb, angle), stepCos,
                              ValueRange{t, i});
      memref::StoreOp::create(lb, math::SinOp::create(lb, angle), stepSin,
                              ValueRange{t, i});
    });
  });
  Value numBlocks = ceilDiv(b, tabRows, kRopeBlock);
  scf::ParallelOp::create(
      b, ValueRange{idx(0)}, ValueRange{numBlocks}, ValueRange{idx(1)},
      [&](OpBuilder &ob, Location loc, ValueRange ivs) {
        ImplicitLocOpBuilder pb(loc, ob);
        Value r0 = mul(pb, ivs[0], cBlk);
        Value rn = minu(pb, cBlk, sub(pb, tabRows, r0));
        // The position of row r0, exact in f64 (negative for queries
        // before key 0).
        Value p0 = arith::SubIOp::create(
            pb, arith::IndexCastOp::create(pb, pb.getI64Type(), r0),
            arith::IndexCastOp::create(pb, pb.getI64Type(), keyRowShift));
        Value p0F = arith::SIToFPOp::create(pb, f64, p0);
        loop(pb, idx(0), dimHalf, idx(1),
             [&](ImplicitLocOpBuilder &ib, Value i) {
               Value angle = arith::MulFOp::create(
                   ib, p0F,
                   memref::LoadOp::create(ib, invFreq, ValueRange{i}));
               Value bc = math::CosOp::create(ib, angle);
               Value bs = math::SinOp::create(ib, angle);
               loop(ib, idx(0), rn, idx(1),
                    [&](ImplicitLocOpBuilder &lb, Value t) {
                      Value sc = memref::LoadOp::create(lb, stepCos,
                                                        ValueRange{t, i});
                      Value ss = memref::LoadOp::create(lb, stepSin,
                                                        ValueRange{t, i});
                      Value c = arith::SubFOp::create(
                          lb, arith::MulFOp::create(lb, bc, sc),
                          arith::MulFOp::create(lb, bs, ss));
                      Value sn = arith::AddFOp::create(
                          lb, arith::MulFOp::create(lb, bs, sc),
                          arith::MulFOp::create(lb, bc, ss));
                      Value row = add(lb, r0, t);
                      memref::StoreOp::create(
                          lb, arith::TruncFOp::create(lb, f32, c), ropeCos,
                          ValueRange{row, i});
                      memref::StoreOp::create(
                          lb, arith::TruncFOp::create(lb, f32, sn), ropeSin,
                          ValueRange{row, i});
                    });
             });
      });
  // The buffers are freed by the pipeline's ownership-based deallocation.
}

std::pair<Value, Value>
FusedAttentionEmitter::ropePair(ImplicitLocOpBuilder &bb, Value x1, Value x2,
                                Value tabRow, Value i, bool inverse) {
  Value c = memref::LoadOp::create(bb, ropeCos, ValueRange{tabRow, i});
  Value sn = memref::LoadOp::create(bb, ropeSin, ValueRange{tabRow, i});
  if (inverse)
    sn = arith::NegFOp::create(bb, sn);
  Value o1 = arith::SubFOp::create(bb, arith::MulFOp::create(bb, x1, c),
                                   arith::MulFOp::create(bb, x2, sn));
  Value o2 = arith::AddFOp::create(bb, arith::MulFOp::create(bb, x2, c),
                                   arith::MulFOp::create(bb, x1, sn));
  return {o1, o2};
}

void FusedAttentionEmitter::emitRopeRows(ImplicitLocOpBuilder &bb, Value mat,
                                         Value row0, Value pos0, Value n,
                                         bool inverse) {
  VectorType maskType = VectorType::get({kLanes}, bb.getI1Type());
  Value c0 = idx(0), c1 = idx(1), cL = idx(kLanes);
  Value zv = zeroVec(bb);
  // With a static D whose half is a multiple of 16 (D = 32, 64, 128, ...)
  // every vector is full: plain loads and stores, no masks.
  bool full = staticHalf > 0 && staticHalf % kLanes == 0;
  loop(bb, c0, n, c1, [&](ImplicitLocOpBuilder &lb, Value x) {
    Value row = add(lb, row0, x);
    Value tabRow = add(lb, add(lb, pos0, x), keyRowShift);
    loop(lb, c0, dimHalf, cL, [&](ImplicitLocOpBuilder &db, Value dc) {
      Value mask;
      if (!full) {
        Value count = minu(db, cL, sub(db, dimHalf, dc));
        mask = vector::CreateMaskOp::create(db, maskType, ValueRange{count});
      }
      Value dh = add(db, dc, dimHalf);
      auto load = [&](Value m, Value r, Value col) -> Value {
        if (full)
          return vector::LoadOp::create(db, vecType, m, ValueRange{r, col});
        return vector::MaskedLoadOp::create(db, vecType, m, ValueRange{r, col},
                                            mask, zv);
      };
      auto store = [&](Value v, Value m, Value r, Value col) {
        if (full)
          vector::StoreOp::create(db, v, m, ValueRange{r, col});
        else
          vector::MaskedStoreOp::create(db, m, ValueRange{r, col}, mask, v);
      };
      Value x1 = load(mat, row, dc), x2 = load(mat, row, dh);
      Value c = load(ropeCos, tabRow, dc), sn = load(ropeSin, tabRow, dc);
      if (inverse)
        sn = arith::NegFOp::create(db, sn);
      Value o1 = vector::FMAOp::create(
          db, arith::NegFOp::create(db, x2), sn,
          arith::MulFOp::create(db, x1, c));
      Value o2 = vector::FMAOp::create(db, x1, sn,
                                       arith::MulFOp::create(db, x2, c));
      store(o1, mat, row, dc);
      store(o2, mat, row, dh);
    });
  });
}

std::pair<Value, Value>
FusedAttentionEmitter::emitForward(RankedTensorType outType, bool withLSE) {
  // The result, written by the loop nest.
  SmallVector<Value> dynSizes;
  for (int64_t i = 0; i < 4; ++i)
    if (outType.isDynamicDim(i))
      dynSizes.push_back(memref::DimOp::create(b, qBuf, i));
  outElt = outType.getElementType();
  auto outMemType = MemRefType::get(outType.getShape(), outElt);
  outBuf = memref::AllocOp::create(b, outMemType, dynSizes,
                                   b.getI64IntegerAttr(64));
  lseBuf = Value();
  if (withLSE) {
    auto qShape = cast<MemRefType>(qBuf.getType()).getShape();
    SmallVector<Value> lseDyn;
    for (int64_t i = 0; i < 3; ++i)
      if (ShapedType::isDynamic(qShape[i]))
        lseDyn.push_back(memref::DimOp::create(b, qBuf, i));
    lseBuf = memref::AllocOp::create(
        b, MemRefType::get(qShape.take_front(3), f32), lseDyn,
        b.getI64IntegerAttr(64));
  }

  // Work decomposition.
  rowsPerHead =
      maxu(b, idx(1), divu(b, idx(blockRows), maxu(b, groupSize, idx(1))));
  // Never more rows per head than the sequence has (decoding: Sq = 1).
  rowsPerHead = maxu(b, idx(1), minu(b, rowsPerHead, dimSq));
  rows = mul(b, groupSize, rowsPerHead);
  rowsPadded = roundUp(b, rows, kLanes);

  Value numQTiles =
      divu(b, add(b, dimSq, sub(b, rowsPerHead, idx(1))), rowsPerHead);
  Value numItems = mul(b, mul(b, dimB, dimHkv), numQTiles);

  scf::ParallelOp::create(
      b, ValueRange{idx(0)}, ValueRange{numItems}, ValueRange{idx(1)},
      [&](OpBuilder &ob, Location loc, ValueRange ivs) {
        ImplicitLocOpBuilder pb(loc, ob);
        Value item = ivs[0];
        Value t = remu(pb, item, numQTiles);
        Value bh = divu(pb, item, numQTiles);
        Value batch = divu(pb, bh, dimHkv);
        Value kvHead = remu(pb, bh, dimHkv);
        Value qTile = t;
        if (causal) {
          // 0, n-1, 1, n-2, ...: consecutive pairs of items carry equal work.
          Value half = divu(pb, t, idx(2));
          Value even =
              arith::CmpIOp::create(pb, arith::CmpIPredicate::eq,
                                    remu(pb, t, idx(2)), idx(0));
          Value mirrored = sub(pb, sub(pb, numQTiles, idx(1)), half);
          qTile = arith::SelectOp::create(pb, even, half, mirrored);
        }
        Value q0 = mul(pb, qTile, rowsPerHead);
        Value qn = minu(pb, rowsPerHead, sub(pb, dimSq, q0));
        auto scope = memref::AllocaScopeOp::create(pb, TypeRange{});
        Block *body = new Block();
        scope.getBodyRegion().push_back(body);
        ImplicitLocOpBuilder sb(loc, body, body->end());
        emitWorkItem(sb, batch, kvHead, q0, qn);
        memref::AllocaScopeReturnOp::create(sb, ValueRange{});
      });

  return {outBuf, lseBuf};
}

void FusedAttentionEmitter::emitMixTile(ImplicitLocOpBuilder &bb, Value raw,
                                        Value batch, Value kvHead, Value j0,
                                        Value jn, Value w1, Value w2,
                                        Value dst, bool rope) {
  VectorType rawVecType = VectorType::get({kLanes}, elt);
  VectorType maskType = VectorType::get({kLanes}, bb.getI1Type());
  Value rawZero = arith::ConstantOp::create(
      consts(), rawVecType,
      DenseElementsAttr::get(rawVecType, cb.getZeroAttr(elt)));
  Value c0 = idx(0), c1 = idx(1), cL = idx(kLanes);
  if (rope && staticHalf > 0 && staticHalf % kLanes == 0) {
    // Mix and rotate in one pass: columns dc and dc + half together, full
    // vectors (D = 32, 64, 128, ...).
    loop(bb, c0, jn, c1, [&](ImplicitLocOpBuilder &lb, Value jj) {
      Value j = add(lb, j0, jj);
      Value hasPrev = ult(lb, c0, j);
      Value tabRow = add(lb, j, keyRowShift);
      loop(lb, c0, dimHalf, cL, [&](ImplicitLocOpBuilder &db, Value dc) {
        Value dh = add(db, dc, dimHalf);
        auto rawAt = [&](ImplicitLocOpBuilder &ib, Value row, Value col) {
          return toF32(ib, vector::LoadOp::create(
                               ib, rawVecType, raw,
                               ValueRange{batch, kvHead, row, col}));
        };
        auto prevIf = scf::IfOp::create(db, db.getLoc(),
                                        TypeRange{vecType, vecType}, hasPrev,
                                        /*withElseRegion=*/true);
        {
          ImplicitLocOpBuilder ib(db.getLoc(), prevIf.thenBlock(),
                                  prevIf.thenBlock()->end());
          Value jm1 = sub(ib, j, idx(1));
          scf::YieldOp::create(
              ib, ValueRange{rawAt(ib, jm1, dc), rawAt(ib, jm1, dh)});
          ImplicitLocOpBuilder eb(db.getLoc(), prevIf.elseBlock(),
                                  prevIf.elseBlock()->end());
          Value z = zeroVec(eb);
          scf::YieldOp::create(eb, ValueRange{z, z});
        }
        Value m1 = vector::FMAOp::create(
            db, w2, prevIf.getResult(0),
            arith::MulFOp::create(db, w1, rawAt(db, j, dc)));
        Value m2 = vector::FMAOp::create(
            db, w2, prevIf.getResult(1),
            arith::MulFOp::create(db, w1, rawAt(db, j, dh)));
        Value c = vector::LoadOp::create(db, vecType, ropeCos,
                                         ValueRange{tabRow, dc});
        Value sn = vector::LoadOp::create(db, vecType, ropeSin,
                                          ValueRange{tabRow, dc});
        Value o1 = vector::FMAOp::create(db, arith::NegFOp::create(db, m2), sn,
                                         arith::MulFOp::create(db, m1, c));
        Value o2 = vector::FMAOp::create(db, m1, sn,
                                         arith::MulFOp::create(db, m2, c));
        vector::StoreOp::create(db, o1, dst, ValueRange{jj, dc});
        vector::StoreOp::create(db, o2, dst, ValueRange{jj, dh});
      });
    });
    return;
  }
  loop(bb, c0, jn, c1, [&](ImplicitLocOpBuilder &lb, Value jj) {
    Value j = add(lb, j0, jj);
    Value hasPrev = ult(lb, c0, j);
    loop(lb, c0, dimDPadded, cL, [&](ImplicitLocOpBuilder &db, Value dc) {
      Value count = minu(db, cL, sub(db, dimD, dc));
      Value mask =
          vector::CreateMaskOp::create(db, maskType, ValueRange{count});
      Value cur = vector::MaskedLoadOp::create(
          db, rawVecType, raw, ValueRange{batch, kvHead, j, dc}, mask,
          rawZero);
      // The halo row j - 1 (zero before the first row).
      auto prevIf = scf::IfOp::create(db, db.getLoc(), TypeRange{vecType},
                                      hasPrev, /*withElseRegion=*/true);
      {
        ImplicitLocOpBuilder ib(db.getLoc(), prevIf.thenBlock(),
                                prevIf.thenBlock()->end());
        Value jm1 = sub(ib, j, idx(1));
        Value p = vector::MaskedLoadOp::create(
            ib, rawVecType, raw, ValueRange{batch, kvHead, jm1, dc}, mask,
            rawZero);
        scf::YieldOp::create(ib, toF32(ib, p));
        ImplicitLocOpBuilder eb(db.getLoc(), prevIf.elseBlock(),
                                prevIf.elseBlock()->end());
        scf::YieldOp::create(eb, zeroVec(eb));
      }
      Value scaled = arith::MulFOp::create(db, w1, toF32(db, cur));
      Value mixed = vector::FMAOp::create(db, w2, prevIf.getResult(0), scaled);
      vector::StoreOp::create(db, mixed, dst, ValueRange{jj, dc});
    });
  });
  if (rope)
    emitRopeRows(bb, dst, c0, j0, jn, /*inverse=*/false);
}

void FusedAttentionEmitter::emitWorkItem(ImplicitLocOpBuilder &bb,
                                         Value batch, Value kvHead, Value q0,
                                         Value qn) {
  int64_t bc = blockK;
  Value cBc = idx(bc);
  auto scratch = [&](ArrayRef<int64_t> shape, ValueRange dyn, Type et) {
    return memref::AllocaOp::create(bb, MemRefType::get(shape, et), dyn,
                                    bb.getI64IntegerAttr(64));
  };
  int64_t dyn = ShapedType::kDynamic;
  Value qt = scratch({dyn, dyn}, {dimDPadded, rowsPadded}, f32);
  Value ot = scratch({dyn, dyn}, {dimDPadded, rowsPadded}, f32);
  Value st = scratch({bc, dyn}, {rowsPadded}, f32);
  Value kh = scratch({bc, dyn}, {dimDPadded}, f32);
  Value vh = scratch({bc, dyn}, {dimDPadded}, f32);
  Value mBuf = scratch({dyn}, {rowsPadded}, f32);
  Value lBuf = scratch({dyn}, {rowsPadded}, f32);
  Value limBuf = scratch({dyn}, {rowsPadded}, bb.getI32Type());

  Value c0 = idx(0), c1 = idx(1), cL = idx(kLanes);
  Value zv = zeroVec(bb);
  Value negInf = f32c(bb, -std::numeric_limits<double>::infinity());

  // Zero QT, OT, KH, VH (padding rows and columns must hold finite values).
  loop(bb, c0, dimDPadded, c1, [&](ImplicitLocOpBuilder &nb, Value d) {
    loop(nb, c0, rowsPadded, cL, [&](ImplicitLocOpBuilder &ib, Value r) {
      vector::StoreOp::create(ib, zv, qt, ValueRange{d, r});
      vector::StoreOp::create(ib, zv, ot, ValueRange{d, r});
    });
  });
  loop(bb, c0, cBc, c1, [&](ImplicitLocOpBuilder &nb, Value j) {
    loop(nb, c0, dimDPadded, cL, [&](ImplicitLocOpBuilder &ib, Value d) {
      vector::StoreOp::create(ib, zv, kh, ValueRange{j, d});
      vector::StoreOp::create(ib, zv, vh, ValueRange{j, d});
    });
  });

  // Rows: load the queries (scaled, transposed), initialise M, L, LIM.
  loop(bb, c0, rowsPadded, c1, [&](ImplicitLocOpBuilder &nb, Value r) {
    Value gi = divu(nb, r, rowsPerHead);
    Value i = remu(nb, r, rowsPerHead);
    memref::StoreOp::create(nb, negInf, mBuf, ValueRange{r});
    memref::StoreOp::create(nb, f32c(nb, 0.0), lBuf, ValueRange{r});
    Value lim = add(nb, add(nb, q0, i), offset);
    memref::StoreOp::create(
        nb, arith::IndexCastOp::create(nb, nb.getI32Type(), lim), limBuf,
        ValueRange{r});
    Value valid = arith::AndIOp::create(nb, ult(nb, r, rows), ult(nb, i, qn));
    ifThen(nb, valid, [&](ImplicitLocOpBuilder &tb) {
      Value head = add(tb, mul(tb, kvHead, groupSize), gi);
      Value qi = add(tb, q0, i);
      if (!ropeTheta) {
        loop(tb, c0, dimD, c1, [&](ImplicitLocOpBuilder &lb, Value d) {
          Value x =
              memref::LoadOp::create(lb, qBuf, ValueRange{batch, head, qi, d});
          memref::StoreOp::create(lb, toF32(lb, x), qt, ValueRange{d, r});
        });
        return;
      }
      // RoPE: query row qi at position Sk - Sq + qi.
      Value tabRow = add(tb, qi, queryRowShift);
      loop(tb, c0, dimHalf, c1, [&](ImplicitLocOpBuilder &lb, Value d) {
        Value dh = add(lb, d, dimHalf);
        Value x1 = toF32(
            lb, memref::LoadOp::create(lb, qBuf, ValueRange{batch, head, qi, d}));
        Value x2 = toF32(lb, memref::LoadOp::create(
                                 lb, qBuf, ValueRange{batch, head, qi, dh}));
        auto [o1, o2] = ropePair(lb, x1, x2, tabRow, d, /*inverse=*/false);
        memref::StoreOp::create(lb, o1, qt, ValueRange{d, r});
        memref::StoreOp::create(lb, o2, qt, ValueRange{dh, r});
      });
    });
  });

  // Mixing weights of this KV head.
  auto weight = [&](Value buf, int64_t col) {
    return memref::LoadOp::create(bb, buf, ValueRange{kvHead, idx(col)});
  };
  Value a1 = splat(bb, weight(kwBuf, 0)), a2 = splat(bb, weight(kwBuf, 1));
  Value b1 = splat(bb, weight(vwBuf, 0)), b2 = splat(bb, weight(vwBuf, 1));

  // Key range: with causal, keys past the last row's limit are never seen.
  Value keyEnd = dimSk;
  if (causal)
    keyEnd = minu(bb, dimSk, add(bb, add(bb, q0, qn), offset));
  Value numKTiles = ceilDiv(bb, keyEnd, bc);
  // The smallest limit of the item's rows: tiles beyond it need the mask.
  Value minLimit = add(bb, q0, offset);

  loop(bb, c0, numKTiles, c1, [&](ImplicitLocOpBuilder &tb, Value kt) {
    Value j0 = mul(tb, kt, cBc);
    Value jn = minu(tb, cBc, sub(tb, keyEnd, j0));

    // 1. Load and mix the K and V tile: rows j0-1 .. j0+jn-1 of the raw
    //    keys and values give jn mixed rows.
    emitMixTile(tb, kBuf, batch, kvHead, j0, jn, a1, a2, kh,
                ropeTheta.has_value());
    emitMixTile(tb, vBuf, batch, kvHead, j0, jn, b1, b2, vh);

    // 2. S^T[jj, r] = sum_d K^[jj, d] * Q^T[d, r], 4 keys x nvec vectors.
    Value jn4 = roundUp(tb, jn, kTileCols);
    overRowVectors(tb, rowsPadded, [&](ImplicitLocOpBuilder &rb, Value rv,
                                       int64_t nvec) {
      loop(rb, c0, jn4, idx(kTileCols), [&](ImplicitLocOpBuilder &jb,
                                            Value jq) {
        SmallVector<Value> init(kTileCols * nvec, zeroVec(jb));
        SmallVector<Value> acc = loopIter(
            jb, c0, dimD, c1, init,
            [&](ImplicitLocOpBuilder &db, Value d, ValueRange accs) {
              SmallVector<Value> qv, next(accs.begin(), accs.end());
              for (int64_t v = 0; v < nvec; ++v)
                qv.push_back(vector::LoadOp::create(
                    db, vecType, qt,
                    ValueRange{d, add(db, rv, idx(v * kLanes))}));
              for (int64_t x = 0; x < kTileCols; ++x) {
                Value kx = memref::LoadOp::create(
                    db, kh, ValueRange{add(db, jq, idx(x)), d});
                Value kb = splat(db, kx);
                for (int64_t v = 0; v < nvec; ++v)
                  next[x * nvec + v] =
                      vector::FMAOp::create(db, kb, qv[v], next[x * nvec + v]);
              }
              return next;
            });
        for (int64_t x = 0; x < kTileCols; ++x)
          for (int64_t v = 0; v < nvec; ++v)
            vector::StoreOp::create(
                jb, acc[x * nvec + v], st,
                ValueRange{add(jb, jq, idx(x)), add(jb, rv, idx(v * kLanes))});
      });
    });

    // 3. Online softmax on the tile, one row vector at a time.
    auto softmax = [&](ImplicitLocOpBuilder &sb, bool masked) {
      loop(sb, c0, rowsPadded, cL, [&](ImplicitLocOpBuilder &rb, Value rv) {
        Value scaleVec = splat(rb, scale);
        Value mOld = vector::LoadOp::create(rb, vecType, mBuf, ValueRange{rv});
        Value lim;
        if (masked)
          lim = vector::LoadOp::create(rb, limType, limBuf, ValueRange{rv});
        // Returns the (masked) score of key jj and whether it is masked.
        auto score = [&](ImplicitLocOpBuilder &ib, Value jj,
                         Value &isMasked) -> Value {
          // The scale multiplies the finished dot product (scaling q first
          // could overflow where the logit itself is finite).
          Value s = arith::MulFOp::create(
              ib, vector::LoadOp::create(ib, vecType, st, ValueRange{jj, rv}),
              scaleVec);
          if (!masked)
            return s;
          Value j = arith::IndexCastOp::create(ib, ib.getI32Type(),
                                               add(ib, j0, jj));
          Value jv = vector::BroadcastOp::create(ib, limType, j);
          isMasked =
              arith::CmpIOp::create(ib, arith::CmpIPredicate::sgt, jv, lim);
          return arith::SelectOp::create(ib, isMasked, splat(ib, negInf), s);
        };
        Value mNew =
            loopIter(rb, c0, jn, c1, ValueRange{mOld},
                     [&](ImplicitLocOpBuilder &ib, Value jj, ValueRange m) {
                       Value isMasked;
                       Value s = score(ib, jj, isMasked);
                       return SmallVector<Value>{vmax(ib, m[0], s)};
                     })[0];
        Value alpha = math::ExpOp::create(
            rb, arith::SubFOp::create(rb, mOld, mNew));
        Value lSum =
            loopIter(rb, c0, jn, c1, ValueRange{zeroVec(rb)},
                     [&](ImplicitLocOpBuilder &ib, Value jj, ValueRange l) {
                       Value isMasked;
                       Value s = score(ib, jj, isMasked);
                       Value p = math::ExpOp::create(
                           ib, arith::SubFOp::create(ib, s, mNew));
                       if (masked)
                         p = arith::SelectOp::create(ib, isMasked, zeroVec(ib),
                                                     p);
                       vector::StoreOp::create(ib, p, st, ValueRange{jj, rv});
                       return SmallVector<Value>{
                           arith::AddFOp::create(ib, l[0], p)};
                     })[0];
        Value lOld = vector::LoadOp::create(rb, vecType, lBuf, ValueRange{rv});
        Value lNew = vector::FMAOp::create(rb, lOld, alpha, lSum);
        vector::StoreOp::create(rb, lNew, lBuf, ValueRange{rv});
        vector::StoreOp::create(rb, mNew, mBuf, ValueRange{rv});
        // O^T is kept normalised (a convex combination of V^ rows), so it
        // never overflows where the result itself is finite: old rows are
        // rescaled by alpha * l_old / l_new and this tile's probabilities
        // are divided by l_new.
        Value invL = arith::DivFOp::create(rb, splat(rb, f32c(rb, 1.0)), lNew);
        Value keep = arith::MulFOp::create(
            rb, arith::MulFOp::create(rb, alpha, lOld), invL);
        loop(rb, c0, jn, c1, [&](ImplicitLocOpBuilder &ib, Value jj) {
          Value p = vector::LoadOp::create(ib, vecType, st, ValueRange{jj, rv});
          vector::StoreOp::create(ib, arith::MulFOp::create(ib, p, invL), st,
                                  ValueRange{jj, rv});
        });
        loop(rb, c0, dimDPadded, c1, [&](ImplicitLocOpBuilder &ib, Value d) {
          Value o = vector::LoadOp::create(ib, vecType, ot, ValueRange{d, rv});
          vector::StoreOp::create(ib, arith::MulFOp::create(ib, o, keep), ot,
                                  ValueRange{d, rv});
        });
      });
    };
    if (causal) {
      // Only tiles whose last key lies beyond the smallest row limit cross
      // the diagonal and need the mask.
      Value lastKey = sub(tb, add(tb, j0, jn), c1);
      Value crosses = arith::CmpIOp::create(tb, arith::CmpIPredicate::sgt,
                                            lastKey, minLimit);
      ifThenElse(
          tb, crosses,
          [&](ImplicitLocOpBuilder &ib) { softmax(ib, /*masked=*/true); },
          [&](ImplicitLocOpBuilder &ib) { softmax(ib, /*masked=*/false); });
    } else {
      softmax(tb, /*masked=*/false);
    }

    // 4. O^T[d, r] += sum_jj V^[jj, d] * P^T[jj, r], 4 dims x nvec vectors.
    overRowVectors(tb, rowsPadded, [&](ImplicitLocOpBuilder &rb, Value rv,
                                       int64_t nvec) {
      loop(rb, c0, dimDPadded, idx(kTileCols), [&](ImplicitLocOpBuilder &db,
                                                   Value dd) {
        SmallVector<Value> init;
        for (int64_t x = 0; x < kTileCols; ++x)
          for (int64_t v = 0; v < nvec; ++v)
            init.push_back(vector::LoadOp::create(
                db, vecType, ot,
                ValueRange{add(db, dd, idx(x)), add(db, rv, idx(v * kLanes))}));
        SmallVector<Value> acc = loopIter(
            db, c0, jn, c1, init,
            [&](ImplicitLocOpBuilder &jb, Value jj, ValueRange accs) {
              SmallVector<Value> pv, next(accs.begin(), accs.end());
              for (int64_t v = 0; v < nvec; ++v)
                pv.push_back(vector::LoadOp::create(
                    jb, vecType, st,
                    ValueRange{jj, add(jb, rv, idx(v * kLanes))}));
              for (int64_t x = 0; x < kTileCols; ++x) {
                Value vx = memref::LoadOp::create(
                    jb, vh, ValueRange{jj, add(jb, dd, idx(x))});
                Value vb = splat(jb, vx);
                for (int64_t v = 0; v < nvec; ++v)
                  next[x * nvec + v] =
                      vector::FMAOp::create(jb, vb, pv[v], next[x * nvec + v]);
              }
              return next;
            });
        for (int64_t x = 0; x < kTileCols; ++x)
          for (int64_t v = 0; v < nvec; ++v)
            vector::StoreOp::create(
                db, acc[x * nvec + v], ot,
                ValueRange{add(db, dd, idx(x)), add(db, rv, idx(v * kLanes))});
      });
    });
  });

  // Normalise and store the rows of this item.
  loop(bb, c0, rows, c1, [&](ImplicitLocOpBuilder &nb, Value r) {
    Value gi = divu(nb, r, rowsPerHead);
    Value i = remu(nb, r, rowsPerHead);
    ifThen(nb, ult(nb, i, qn), [&](ImplicitLocOpBuilder &tb) {
      Value head = add(tb, mul(tb, kvHead, groupSize), gi);
      Value qi = add(tb, q0, i);
      Value l = memref::LoadOp::create(tb, lBuf, ValueRange{r});
      if (lseBuf) {
        // Scores were exponentiated as exp(s - m): lse = m + log(l).
        Value m = memref::LoadOp::create(tb, mBuf, ValueRange{r});
        Value lse = arith::AddFOp::create(tb, m, math::LogOp::create(tb, l));
        memref::StoreOp::create(tb, lse, lseBuf, ValueRange{batch, head, qi});
      }
      loop(tb, c0, dimD, c1, [&](ImplicitLocOpBuilder &lb, Value d) {
        Value o = memref::LoadOp::create(lb, ot, ValueRange{d, r});
        Value y = o;
        if (outElt != f32)
          y = arith::TruncFOp::create(lb, outElt, y);
        memref::StoreOp::create(lb, y, outBuf, ValueRange{batch, head, qi, d});
      });
    });
  });
}

void FusedAttentionEmitter::emitColumnBlock(ImplicitLocOpBuilder &bb, Value c,
                                            Value a, Value bt, Value col0,
                                            Value jN) {
  Value c0 = idx(0), c1 = idx(1);
  loop(bb, c0, jN, idx(kTileCols), [&](ImplicitLocOpBuilder &jb, Value jq) {
    SmallVector<Value> init(kTileCols * kTileVecs, zeroVec(jb));
    SmallVector<Value> acc = loopIter(
        jb, c0, dimD, c1, init,
        [&](ImplicitLocOpBuilder &db, Value d, ValueRange accs) {
          SmallVector<Value> bv, next(accs.begin(), accs.end());
          for (int64_t v = 0; v < kTileVecs; ++v)
            bv.push_back(vector::LoadOp::create(
                db, vecType, bt, ValueRange{d, add(db, col0, idx(v * kLanes))}));
          for (int64_t x = 0; x < kTileCols; ++x) {
            Value ax = memref::LoadOp::create(
                db, a, ValueRange{add(db, jq, idx(x)), d});
            Value ab = splat(db, ax);
            for (int64_t v = 0; v < kTileVecs; ++v)
              next[x * kTileVecs + v] = vector::FMAOp::create(
                  db, ab, bv[v], next[x * kTileVecs + v]);
          }
          return next;
        });
    for (int64_t x = 0; x < kTileCols; ++x)
      for (int64_t v = 0; v < kTileVecs; ++v)
        vector::StoreOp::create(jb, acc[x * kTileVecs + v], c,
                                ValueRange{add(jb, jq, idx(x)),
                                           idx(v * kLanes)});
  });
}

void FusedAttentionEmitter::emitRowUpdate(ImplicitLocOpBuilder &bb, Value c,
                                          Value cRowBase, Value cN, Value a,
                                          bool aTransposed, Value bMat,
                                          Value bRowBase, Value redN) {
  Value c0 = idx(0), c1 = idx(1);
  overRowVectors(bb, dimDPadded, [&](ImplicitLocOpBuilder &vb, Value dv,
                                     int64_t nvec) {
    loop(vb, c0, cN, idx(kTileCols), [&](ImplicitLocOpBuilder &rb, Value cr) {
      SmallVector<Value> init;
      for (int64_t x = 0; x < kTileCols; ++x)
        for (int64_t v = 0; v < nvec; ++v)
          init.push_back(vector::LoadOp::create(
              rb, vecType, c,
              ValueRange{add(rb, cRowBase, add(rb, cr, idx(x))),
                         add(rb, dv, idx(v * kLanes))}));
      SmallVector<Value> acc = loopIter(
          rb, c0, redN, c1, init,
          [&](ImplicitLocOpBuilder &eb, Value red, ValueRange accs) {
            SmallVector<Value> bv, next(accs.begin(), accs.end());
            for (int64_t v = 0; v < nvec; ++v)
              bv.push_back(vector::LoadOp::create(
                  eb, vecType, bMat,
                  ValueRange{add(eb, bRowBase, red),
                             add(eb, dv, idx(v * kLanes))}));
            for (int64_t x = 0; x < kTileCols; ++x) {
              Value row = add(eb, cr, idx(x));
              Value ax = aTransposed
                             ? memref::LoadOp::create(eb, a, ValueRange{red, row})
                             : memref::LoadOp::create(eb, a, ValueRange{row, red});
              Value ab = splat(eb, ax);
              for (int64_t v = 0; v < nvec; ++v)
                next[x * nvec + v] =
                    vector::FMAOp::create(eb, ab, bv[v], next[x * nvec + v]);
            }
            return next;
          });
      for (int64_t x = 0; x < kTileCols; ++x)
        for (int64_t v = 0; v < nvec; ++v)
          vector::StoreOp::create(
              rb, acc[x * nvec + v], c,
              ValueRange{add(rb, cRowBase, add(rb, cr, idx(x))),
                         add(rb, dv, idx(v * kLanes))});
    });
  });
}

SmallVector<Value>
FusedAttentionEmitter::emitBackward(Value dout, Value fwdOut, Value lse,
                                    TypeRange resultTypes) {
  int64_t bc = blockK;
  int64_t block = kTileVecs * kLanes; // query rows per block (64)
  Value c0 = idx(0), c1 = idx(1), cL = idx(kLanes), cBc = idx(bc),
        cBlock = idx(block);
  Value doBuf = toBuffer(dout);
  int64_t dyn = ShapedType::kDynamic;
  auto alloc = [&](ImplicitLocOpBuilder &bb, ArrayRef<int64_t> shape,
                   ValueRange dynSizes, Type et) -> Value {
    return memref::AllocOp::create(bb, MemRefType::get(shape, et), dynSizes,
                                   bb.getI64IntegerAttr(64));
  };
  auto allocLike = [&](Type resultType, Value like) -> Value {
    auto rt = cast<RankedTensorType>(resultType);
    SmallVector<Value> dynSizes;
    for (int64_t i = 0; i < rt.getRank(); ++i)
      if (rt.isDynamicDim(i))
        dynSizes.push_back(memref::DimOp::create(b, like, i));
    return alloc(b, rt.getShape(), dynSizes, rt.getElementType());
  };
  Value dqBuf = allocLike(resultTypes[0], qBuf);
  Value dkBuf = allocLike(resultTypes[1], kBuf);
  Value dvBuf = allocLike(resultTypes[2], vBuf);
  Value dkwBuf = allocLike(resultTypes[3], kwBuf);
  Value dvwBuf = allocLike(resultTypes[4], vwBuf);

  Value numItems = mul(b, dimB, dimHkv);
  Value rowsAll = mul(b, groupSize, dimSq);
  // Room for a 64-row block that starts at the last row.
  Value rowsAlloc = add(b, roundUp(b, rowsAll, kLanes), cBlock);
  Value keysAlloc = add(b, roundUp(b, dimSk, kTileCols), idx(kTileCols));
  Value partials = alloc(b, {dyn, 4}, {numItems}, f32);

  scf::ParallelOp::create(
      b, ValueRange{c0}, ValueRange{numItems}, ValueRange{c1},
      [&](OpBuilder &ob, Location loc, ValueRange ivs) {
        ImplicitLocOpBuilder pb(loc, ob);
        Value item = ivs[0];
        Value batch = divu(pb, item, dimHkv);
        Value kvHead = remu(pb, item, dimHkv);

        // Per (batch, KV head): queries and output gradients of the whole
        // group in both layouts, the dq accumulator, lse and D = rowsum(dO O),
        // and dK^ / dV^ for every key: O(S * D), never O(S^2).
        Value qt = alloc(pb, {dyn, dyn}, {dimDPadded, rowsAlloc}, f32);
        Value qs = alloc(pb, {dyn, dyn}, {rowsAlloc, dimDPadded}, f32);
        Value dot = alloc(pb, {dyn, dyn}, {dimDPadded, rowsAlloc}, f32);
        Value dor = alloc(pb, {dyn, dyn}, {rowsAlloc, dimDPadded}, f32);
        Value dqAcc = alloc(pb, {dyn, dyn}, {rowsAlloc, dimDPadded}, f32);
        Value lseRow = alloc(pb, {dyn}, {rowsAlloc}, f32);
        Value dRow = alloc(pb, {dyn}, {rowsAlloc}, f32);
        Value dkh = alloc(pb, {dyn, dyn}, {keysAlloc, dimDPadded}, f32);
        Value dvh = alloc(pb, {dyn, dyn}, {keysAlloc, dimDPadded}, f32);
        // Tiles.
        auto tile = [&](ArrayRef<int64_t> shape, ValueRange dynSizes) {
          return memref::AllocaOp::create(pb, MemRefType::get(shape, f32),
                                          dynSizes, pb.getI64IntegerAttr(64));
        };
        Value kh = tile({bc, dyn}, {dimDPadded});
        Value vh = tile({bc, dyn}, {dimDPadded});
        Value st = tile({bc, block}, {});
        Value dpt = tile({bc, block}, {});

        Value zv = zeroVec(pb);
        auto zero2d = [&](Value m, Value rowsN, Value colsN) {
          loop(pb, c0, rowsN, c1, [&](ImplicitLocOpBuilder &lb, Value r) {
            loop(lb, c0, colsN, cL, [&](ImplicitLocOpBuilder &ib, Value cc) {
              vector::StoreOp::create(ib, zv, m, ValueRange{r, cc});
            });
          });
        };
        zero2d(qt, dimDPadded, rowsAlloc);
        zero2d(dot, dimDPadded, rowsAlloc);
        zero2d(qs, rowsAlloc, dimDPadded);
        zero2d(dor, rowsAlloc, dimDPadded);
        zero2d(dqAcc, rowsAlloc, dimDPadded);
        zero2d(dkh, keysAlloc, dimDPadded);
        zero2d(dvh, keysAlloc, dimDPadded);
        zero2d(kh, cBc, dimDPadded);
        zero2d(vh, cBc, dimDPadded);
        loop(pb, c0, rowsAlloc, cL, [&](ImplicitLocOpBuilder &ib, Value r) {
          vector::StoreOp::create(ib, zv, lseRow, ValueRange{r});
          vector::StoreOp::create(ib, zv, dRow, ValueRange{r});
        });

        // Rows r = gi * Sq + i of the group.
        loop(pb, c0, rowsAll, c1, [&](ImplicitLocOpBuilder &lb, Value r) {
          Value gi = divu(lb, r, dimSq);
          Value i = remu(lb, r, dimSq);
          Value head = add(lb, mul(lb, kvHead, groupSize), gi);
          Value dsum = loopIter(
              lb, c0, dimD, c1, ValueRange{f32c(lb, 0.0)},
              [&](ImplicitLocOpBuilder &db, Value d, ValueRange acc) {
                SmallVector<Value> at = {batch, head, i, d};
                // Unscaled: the scale multiplies finished dot products.
                Value qv = toF32(db, memref::LoadOp::create(db, qBuf, at));
                memref::StoreOp::create(db, qv, qt, ValueRange{d, r});
                memref::StoreOp::create(db, qv, qs, ValueRange{r, d});
                Value dov = toF32(db, memref::LoadOp::create(db, doBuf, at));
                memref::StoreOp::create(db, dov, dot, ValueRange{d, r});
                memref::StoreOp::create(db, dov, dor, ValueRange{r, d});
                Value ov = toF32(db, memref::LoadOp::create(db, fwdOut, at));
                return SmallVector<Value>{arith::AddFOp::create(
                    db, acc[0], arith::MulFOp::create(db, dov, ov))};
              })[0];
          memref::StoreOp::create(lb, dsum, dRow, ValueRange{r});
          Value l = memref::LoadOp::create(lb, lse, ValueRange{batch, head, i});
          memref::StoreOp::create(lb, l, lseRow, ValueRange{r});
        });

        // RoPE: the rows of each query head at positions Sk - Sq + i,
        // rotated in qs, then copied into Q^T.
        Value qPos0;
        if (ropeTheta) {
          qPos0 = sub(pb, dimSk, dimSq);
          loop(pb, c0, groupSize, c1, [&](ImplicitLocOpBuilder &gb, Value gi) {
            emitRopeRows(gb, qs, mul(gb, gi, dimSq), qPos0, dimSq,
                         /*inverse=*/false);
          });
          loop(pb, c0, rowsAll, c1, [&](ImplicitLocOpBuilder &lb, Value r) {
            loop(lb, c0, dimD, c1, [&](ImplicitLocOpBuilder &db, Value d) {
              Value x = memref::LoadOp::create(db, qs, ValueRange{r, d});
              memref::StoreOp::create(db, x, qt, ValueRange{d, r});
            });
          });
        }

        auto weight = [&](Value buf, int64_t col) -> Value {
          return memref::LoadOp::create(pb, buf, ValueRange{kvHead, idx(col)});
        };
        Value a1s = weight(kwBuf, 0), a2s = weight(kwBuf, 1);
        Value b1s = weight(vwBuf, 0), b2s = weight(vwBuf, 1);
        Value a1 = splat(pb, a1s), a2 = splat(pb, a2s);
        Value b1 = splat(pb, b1s), b2 = splat(pb, b2s);

        // Row lane offsets 0..15 of a vector.
        auto laneType = VectorType::get({kLanes}, pb.getI32Type());
        SmallVector<int32_t> lanes;
        for (int32_t l = 0; l < kLanes; ++l)
          lanes.push_back(l);
        Value laneIds = arith::ConstantOp::create(
            consts(), laneType, DenseElementsAttr::get(laneType, ArrayRef(lanes)));
        auto i32 = [&](ImplicitLocOpBuilder &ib, Value v) -> Value {
          return arith::IndexCastOp::create(ib, ib.getI32Type(), v);
        };

        Value numKTiles = ceilDiv(pb, dimSk, bc);
        loop(pb, c0, numKTiles, c1, [&](ImplicitLocOpBuilder &tb, Value kt) {
          Value j0 = mul(tb, kt, cBc);
          Value jn = minu(tb, cBc, sub(tb, dimSk, j0));
          Value jn4 = roundUp(tb, jn, kTileCols);
          emitMixTile(tb, kBuf, batch, kvHead, j0, jn, a1, a2, kh,
                      ropeTheta.has_value());
          emitMixTile(tb, vBuf, batch, kvHead, j0, jn, b1, b2, vh);

          loop(tb, c0, groupSize, c1, [&](ImplicitLocOpBuilder &gb, Value gi) {
            loop(gb, c0, dimSq, cBlock, [&](ImplicitLocOpBuilder &qb,
                                            Value q0) {
              Value qn = minu(qb, cBlock, sub(qb, dimSq, q0));
              auto body = [&](ImplicitLocOpBuilder &vb) {
                Value r0 = add(vb, mul(vb, gi, dimSq), q0);
                // S^T = K^ Q^T and dP^T = V^ dO^T for 64 rows.
                emitColumnBlock(vb, st, kh, qt, r0, jn4);
                emitColumnBlock(vb, dpt, vh, dot, r0, jn4);
                // Visibility limit of each row: the last key it sees, or -1
                // for rows past the block's valid rows.
                SmallVector<Value> lims, lseV, dV;
                for (int64_t v = 0; v < kTileVecs; ++v) {
                  Value rowIds = arith::AddIOp::create(
                      vb, laneIds,
                      vector::BroadcastOp::create(vb, laneType,
                                                  i32(vb, idx(v * kLanes))));
                  Value base = causal ? i32(vb, add(vb, q0, offset))
                                      : i32(vb, sub(vb, dimSk, c1));
                  Value lim = vector::BroadcastOp::create(vb, laneType, base);
                  if (causal)
                    lim = arith::AddIOp::create(vb, lim, rowIds);
                  Value valid = arith::CmpIOp::create(
                      vb, arith::CmpIPredicate::slt, rowIds,
                      vector::BroadcastOp::create(vb, laneType, i32(vb, qn)));
                  Value none = arith::ConstantOp::create(
                      consts(), laneType,
                      DenseElementsAttr::get(laneType, cb.getI32IntegerAttr(-1)));
                  lims.push_back(arith::SelectOp::create(vb, valid, lim, none));
                  Value rv = add(vb, r0, idx(v * kLanes));
                  lseV.push_back(
                      vector::LoadOp::create(vb, vecType, lseRow, ValueRange{rv}));
                  dV.push_back(
                      vector::LoadOp::create(vb, vecType, dRow, ValueRange{rv}));
                }
                // P = exp(scale S - lse) (0 where masked), dS = P (dP - D).
                Value scaleV = splat(vb, scale);
                loop(vb, c0, jn4, c1, [&](ImplicitLocOpBuilder &jb, Value jj) {
                  Value jg = vector::BroadcastOp::create(
                      jb, laneType, i32(jb, add(jb, j0, jj)));
                  for (int64_t v = 0; v < kTileVecs; ++v) {
                    SmallVector<Value> at = {jj, idx(v * kLanes)};
                    Value sv = arith::MulFOp::create(
                        jb, vector::LoadOp::create(jb, vecType, st, at),
                        scaleV);
                    Value p = math::ExpOp::create(
                        jb, arith::SubFOp::create(jb, sv, lseV[v]));
                    Value masked = arith::CmpIOp::create(
                        jb, arith::CmpIPredicate::sgt, jg, lims[v]);
                    p = arith::SelectOp::create(jb, masked, zeroVec(jb), p);
                    Value dp = vector::LoadOp::create(jb, vecType, dpt, at);
                    Value ds = arith::MulFOp::create(
                        jb, p, arith::SubFOp::create(jb, dp, dV[v]));
                    vector::StoreOp::create(jb, p, st, at);
                    vector::StoreOp::create(jb, ds, dpt, at);
                  }
                });
                // dV^ += P^T dO, dK^ += dS^T q, dq += dS K^ (the scale is
                // applied to dK^ and dq at the end).
                emitRowUpdate(vb, dvh, j0, jn4, st, /*aTransposed=*/false, dor,
                              r0, cBlock);
                emitRowUpdate(vb, dkh, j0, jn4, dpt, /*aTransposed=*/false, qs,
                              r0, cBlock);
                emitRowUpdate(vb, dqAcc, r0, cBlock, dpt, /*aTransposed=*/true,
                              kh, c0, jn4);
              };
              if (causal) {
                // Skip blocks whose rows all lie above this key tile.
                Value lastLimit =
                    add(qb, add(qb, q0, sub(qb, qn, c1)), offset);
                Value sees = arith::CmpIOp::create(
                    qb, arith::CmpIPredicate::sge, lastLimit, j0);
                ifThen(qb, sees, body);
              } else {
                body(qb);
              }
            });
          });
        });

        // With RoPE, dS K~ is the gradient with respect to the rotated
        // queries: rotate it back (by -p) before scaling and storing it.
        if (ropeTheta)
          loop(pb, c0, groupSize, c1, [&](ImplicitLocOpBuilder &gb, Value gi) {
            emitRopeRows(gb, dqAcc, mul(gb, gi, dimSq), qPos0, dimSq,
                         /*inverse=*/true);
          });
        // dq = scale * accumulated dS K^.
        loop(pb, c0, rowsAll, c1, [&](ImplicitLocOpBuilder &lb, Value r) {
          Value gi = divu(lb, r, dimSq);
          Value i = remu(lb, r, dimSq);
          Value head = add(lb, mul(lb, kvHead, groupSize), gi);
          loop(lb, c0, dimD, c1, [&](ImplicitLocOpBuilder &db, Value d) {
            Value x = memref::LoadOp::create(db, dqAcc, ValueRange{r, d});
            Value y = fromF32(db, arith::MulFOp::create(db, x, scale));
            memref::StoreOp::create(db, y, dqBuf,
                                    ValueRange{batch, head, i, d});
          });
        });

        // The transpose of the mix and the weight gradients of this item.
        auto mixBack = [&](Value dh, Value raw, Value w0, Value w1,
                           Value dst, Value gradScale) -> std::pair<Value, Value> {
          SmallVector<Value> sums = loopIter(
              pb, c0, dimSk, c1, ValueRange{f32c(pb, 0.0), f32c(pb, 0.0)},
              [&](ImplicitLocOpBuilder &tb, Value t, ValueRange acc) {
                Value hasPrev = ult(tb, c0, t);
                Value tm1 = arith::SelectOp::create(tb, hasPrev,
                                                    sub(tb, t, c1), c0);
                Value tp1 = add(tb, t, c1);
                return loopIter(
                    tb, c0, dimD, c1, acc,
                    [&](ImplicitLocOpBuilder &db, Value d, ValueRange a2) {
                      Value g = memref::LoadOp::create(db, dh, ValueRange{t, d});
                      Value gn =
                          memref::LoadOp::create(db, dh, ValueRange{tp1, d});
                      if (gradScale) {
                        g = arith::MulFOp::create(db, g, gradScale);
                        gn = arith::MulFOp::create(db, gn, gradScale);
                      }
                      Value dx = arith::AddFOp::create(
                          db, arith::MulFOp::create(db, w0, g),
                          arith::MulFOp::create(db, w1, gn));
                      memref::StoreOp::create(db, fromF32(db, dx), dst,
                                              ValueRange{batch, kvHead, t, d});
                      Value x = toF32(db, memref::LoadOp::create(
                                              db, raw,
                                              ValueRange{batch, kvHead, t, d}));
                      Value xp = toF32(db, memref::LoadOp::create(
                                               db, raw,
                                               ValueRange{batch, kvHead, tm1, d}));
                      xp = arith::SelectOp::create(db, hasPrev, xp,
                                                   f32c(db, 0.0));
                      Value s0 = arith::AddFOp::create(
                          db, a2[0], arith::MulFOp::create(db, g, x));
                      Value s1 = arith::AddFOp::create(
                          db, a2[1], arith::MulFOp::create(db, g, xp));
                      return SmallVector<Value>{s0, s1};
                    });
              });
          return {sums[0], sums[1]};
        };
        // With RoPE, dkh holds the gradient with respect to the rotated
        // mixed keys: rotate it back (by -j) before the transpose of the
        // mix, which also gives dkw.
        if (ropeTheta)
          emitRopeRows(pb, dkh, c0, c0, dimSk, /*inverse=*/true);
        // dK^ was accumulated from unscaled q: dK^ = scale * dS^T q.
        auto [da1, da2] = mixBack(dkh, kBuf, a1s, a2s, dkBuf, scale);
        auto [db1, db2] = mixBack(dvh, vBuf, b1s, b2s, dvBuf, Value());
        for (auto [col, value] : llvm::enumerate(
                 SmallVector<Value>{da1, da2, db1, db2}))
          memref::StoreOp::create(pb, value, partials,
                                  ValueRange{item, idx(col)});
      });

  // Weight gradients: sum the items' partials over the batch.
  loop(b, c0, dimHkv, c1, [&](ImplicitLocOpBuilder &hb, Value h) {
    SmallVector<Value> init(4, f32c(hb, 0.0));
    SmallVector<Value> sums = loopIter(
        hb, c0, dimB, c1, init,
        [&](ImplicitLocOpBuilder &bb2, Value bi, ValueRange acc) {
          Value it = add(bb2, mul(bb2, bi, dimHkv), h);
          SmallVector<Value> next;
          for (int64_t col = 0; col < 4; ++col)
            next.push_back(arith::AddFOp::create(
                bb2, acc[col],
                memref::LoadOp::create(bb2, partials,
                                       ValueRange{it, idx(col)})));
          return next;
        });
    memref::StoreOp::create(hb, sums[0], dkwBuf, ValueRange{h, idx(0)});
    memref::StoreOp::create(hb, sums[1], dkwBuf, ValueRange{h, idx(1)});
    memref::StoreOp::create(hb, sums[2], dvwBuf, ValueRange{h, idx(0)});
    memref::StoreOp::create(hb, sums[3], dvwBuf, ValueRange{h, idx(1)});
  });

  return {dqBuf, dkBuf, dvBuf, dkwBuf, dvwBuf};
}

struct KVShiftFuseAttentionPass
    : kvshift::impl::KVShiftFuseAttentionBase<KVShiftFuseAttentionPass> {
  using Base::Base;
  void runOnOperation() override {
    if (blockRows < 1) {
      getOperation()->emitError()
          << "kvshift-fuse-attention: block-rows must be at least 1, found "
          << blockRows.getValue();
      return signalPassFailure();
    }
    if (blockK < kTileCols || blockK % kTileCols != 0) {
      getOperation()->emitError()
          << "kvshift-fuse-attention: block-k must be a positive multiple of "
          << kTileCols << ", found " << blockK.getValue();
      return signalPassFailure();
    }
    if (decodeChunk < 16 || decodeChunk % 16 != 0) {
      getOperation()->emitError()
          << "kvshift-fuse-attention: decode-chunk must be a positive "
             "multiple of 16, found "
          << decodeChunk.getValue();
      return signalPassFailure();
    }
    SmallVector<Operation *> ops;
    getOperation()->walk([&](Operation *op) {
      if (isa<KVShiftAttentionOp, KVShiftAttentionWithLSEOp,
              KVShiftAttentionGradOp, KVShiftAttentionGradWithLSEOp,
              KVCacheAttentionOp>(op))
        ops.push_back(op);
    });
    IRRewriter rewriter(&getContext());
    for (Operation *op : ops) {
      if (auto cacheOp = dyn_cast<KVCacheAttentionOp>(op)) {
        rewriter.setInsertionPoint(op);
        ImplicitLocOpBuilder b(op->getLoc(), rewriter);
        rewriter.replaceOp(op, emitFusedCacheAttention(b, cacheOp,
                                                       decodeChunk));
        continue;
      }
      rewriter.setInsertionPoint(op);
      ImplicitLocOpBuilder b(op->getLoc(), rewriter);
      ValueRange in = op->getOperands();
      KernelScope scope(b, SmallVector<Value>(in), op->getResultTypes());
      FusedAttentionEmitter emitter(b, blockRows, blockK);
      emitter.scope = &scope;
      bool causal = op->hasAttr("causal");
      std::optional<double> ropeTheta;
      if (auto theta = op->getAttrOfType<FloatAttr>("rope_theta"))
        ropeTheta = theta.getValueAsDouble();
      emitter.setup(op, in[0], in[1], in[2], in[3], in[4],
                    getStaticAttentionScale(op), causal, ropeTheta);
      auto qType = cast<RankedTensorType>(in[0].getType());
      SmallVector<Value> buffers;
      if (auto fwd = dyn_cast<KVShiftAttentionOp>(op)) {
        auto outType = cast<RankedTensorType>(fwd.getOut().getType());
        auto [out, lse] = emitter.emitForward(outType, /*withLSE=*/false);
        buffers.push_back(out);
      } else if (auto fwd = dyn_cast<KVShiftAttentionWithLSEOp>(op)) {
        auto outType = cast<RankedTensorType>(fwd.getOut().getType());
        auto [out, lse] = emitter.emitForward(outType, /*withLSE=*/true);
        buffers.push_back(out);
        buffers.push_back(lse);
      } else if (auto grad = dyn_cast<KVShiftAttentionGradOp>(op)) {
        // No forward to share statistics with: run the fused forward for
        // its output (kept in f32, so that D = rowsum(dO * O) is not
        // computed from a rounded output) and row log-sum-exp, then the
        // backward.
        auto outType =
            RankedTensorType::get(qType.getShape(), rewriter.getF32Type());
        auto [out, lse] = emitter.emitForward(outType, /*withLSE=*/true);
        buffers = emitter.emitBackward(grad.getDout(), out, lse,
                                       grad->getResultTypes());
      } else {
        auto gradLSE = cast<KVShiftAttentionGradWithLSEOp>(op);
        buffers = emitter.emitBackward(gradLSE.getDout(),
                                       emitter.toBuffer(gradLSE.getFwdOut()),
                                       emitter.toBuffer(gradLSE.getLse()),
                                       gradLSE->getResultTypes());
      }
      ValueRange results = scope.finish(buffers);
      rewriter.replaceOp(op, results);
    }
  }
};

} // namespace
