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

  Value emit(KVShiftAttentionOp op);

private:
  ImplicitLocOpBuilder &b;
  /// Creates constants at the start of the op's block, where they dominate
  /// every use in the loop nest.
  ImplicitLocOpBuilder cb;
  int64_t blockRows, blockK;
  Type f32, elt;
  VectorType vecType, limType;

  // --- small builders -----------------------------------------------------
  Value idx(int64_t v) { return arith::ConstantIndexOp::create(cb, v); }
  Value f32c(ImplicitLocOpBuilder &, double v) {
    return arith::ConstantOp::create(cb, f32, cb.getF32FloatAttr(v));
  }
  Value splat(ImplicitLocOpBuilder &bb, Value scalar) {
    return vector::BroadcastOp::create(bb, vecType, scalar);
  }
  Value zeroVec(ImplicitLocOpBuilder &) {
    return arith::ConstantOp::create(
        cb, vecType, DenseElementsAttr::get(vecType, cb.getF32FloatAttr(0)));
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
  Value qBuf, kBuf, vBuf, kwBuf, vwBuf, outBuf;
  Value dimD, dimSq, dimSk, groupSize, rowsPerHead, rows, rowsPadded,
      dimDPadded, offset, scale;

  void emitWorkItem(ImplicitLocOpBuilder &bb, Value batch, Value kvHead,
                    Value q0, Value qn);
};

Value FusedAttentionEmitter::emit(KVShiftAttentionOp op) {
  causal = op.getCausal();
  cb.setInsertionPointToStart(op->getBlock());
  auto qType = cast<RankedTensorType>(op.getQ().getType());
  auto outType = cast<RankedTensorType>(op.getOut().getType());
  elt = qType.getElementType();

  auto toBuffer = [&](Value t) -> Value {
    auto tt = cast<RankedTensorType>(t.getType());
    auto mt = MemRefType::get(tt.getShape(), tt.getElementType());
    return bufferization::ToBufferOp::create(b, mt, t, /*read_only=*/true);
  };
  qBuf = toBuffer(op.getQ());
  kBuf = toBuffer(op.getK());
  vBuf = toBuffer(op.getV());
  kwBuf = toBuffer(op.getKw());
  vwBuf = toBuffer(op.getVw());

  auto dim = [&](Value buf, int64_t i) -> Value {
    return memref::DimOp::create(b, buf, i);
  };
  Value dimB = dim(qBuf, 0), dimHq = dim(qBuf, 1);
  dimSq = dim(qBuf, 2);
  dimD = dim(qBuf, 3);
  Value dimHkv = dim(kBuf, 1);
  dimSk = dim(kBuf, 2);

  // The result, written by the loop nest.
  SmallVector<Value> dynSizes;
  for (int64_t i = 0; i < 4; ++i)
    if (outType.isDynamicDim(i))
      dynSizes.push_back(dim(qBuf, i));
  auto outMemType = MemRefType::get(outType.getShape(), elt);
  outBuf = memref::AllocOp::create(b, outMemType, dynSizes,
                                   b.getI64IntegerAttr(64));

  // Work decomposition.
  groupSize = divu(b, dimHq, dimHkv);
  rowsPerHead =
      maxu(b, idx(1), divu(b, idx(blockRows), maxu(b, groupSize, idx(1))));
  // Never more rows per head than the sequence has (decoding: Sq = 1).
  rowsPerHead = maxu(b, idx(1), minu(b, rowsPerHead, dimSq));
  rows = mul(b, groupSize, rowsPerHead);
  rowsPadded = roundUp(b, rows, kLanes);
  dimDPadded = roundUp(b, dimD, kLanes);
  offset = sub(b, dimSk, dimSq);

  if (auto s = op.getStaticScale()) {
    scale = f32c(b, *s);
  } else {
    Value dI = arith::IndexCastOp::create(b, b.getI64Type(), dimD);
    Value dF = arith::SIToFPOp::create(b, f32, dI);
    scale = arith::DivFOp::create(b, f32c(b, 1.0), math::SqrtOp::create(b, dF));
  }

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

  return bufferization::ToTensorOp::create(b, outType, outBuf,
                                           /*restrict=*/true,
                                           /*writable=*/true);
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
      loop(tb, c0, dimD, c1, [&](ImplicitLocOpBuilder &lb, Value d) {
        Value x = memref::LoadOp::create(lb, qBuf, ValueRange{batch, head, qi, d});
        Value xs = arith::MulFOp::create(lb, toF32(lb, x), scale);
        memref::StoreOp::create(lb, xs, qt, ValueRange{d, r});
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

  VectorType rawVecType = VectorType::get({kLanes}, elt);
  VectorType maskType = VectorType::get({kLanes}, bb.getI1Type());
  Value rawZero = arith::ConstantOp::create(
      cb, rawVecType, DenseElementsAttr::get(rawVecType, cb.getZeroAttr(elt)));

  loop(bb, c0, numKTiles, c1, [&](ImplicitLocOpBuilder &tb, Value kt) {
    Value j0 = mul(tb, kt, cBc);
    Value jn = minu(tb, cBc, sub(tb, keyEnd, j0));

    // 1. Load and mix the K and V tile: rows j0-1 .. j0+jn-1 of the raw
    //    keys and values give jn mixed rows.
    loop(tb, c0, jn, c1, [&](ImplicitLocOpBuilder &lb, Value jj) {
      Value j = add(lb, j0, jj);
      Value hasPrev = ult(lb, c0, j);
      loop(lb, c0, dimDPadded, cL, [&](ImplicitLocOpBuilder &db, Value dc) {
        Value count = minu(db, cL, sub(db, dimD, dc));
        Value mask = vector::CreateMaskOp::create(db, maskType, ValueRange{count});
        auto mixRow = [&](Value raw, Value w1, Value w2, Value dst) {
          Value cur = vector::MaskedLoadOp::create(
              db, rawVecType, raw, ValueRange{batch, kvHead, j, dc}, mask,
              rawZero);
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
          Value mixed =
              vector::FMAOp::create(db, w2, prevIf.getResult(0), scaled);
          vector::StoreOp::create(db, mixed, dst, ValueRange{jj, dc});
        };
        mixRow(kBuf, a1, a2, kh);
        mixRow(vBuf, b1, b2, vh);
      });
    });

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
        Value mOld = vector::LoadOp::create(rb, vecType, mBuf, ValueRange{rv});
        Value lim;
        if (masked)
          lim = vector::LoadOp::create(rb, limType, limBuf, ValueRange{rv});
        // Returns the (masked) score of key jj and whether it is masked.
        auto score = [&](ImplicitLocOpBuilder &ib, Value jj,
                         Value &isMasked) -> Value {
          Value s = vector::LoadOp::create(ib, vecType, st, ValueRange{jj, rv});
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
        loop(rb, c0, dimDPadded, c1, [&](ImplicitLocOpBuilder &ib, Value d) {
          Value o = vector::LoadOp::create(ib, vecType, ot, ValueRange{d, rv});
          vector::StoreOp::create(ib, arith::MulFOp::create(ib, o, alpha), ot,
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
      Value inv = arith::DivFOp::create(tb, f32c(tb, 1.0), l);
      loop(tb, c0, dimD, c1, [&](ImplicitLocOpBuilder &lb, Value d) {
        Value o = memref::LoadOp::create(lb, ot, ValueRange{d, r});
        Value y = fromF32(lb, arith::MulFOp::create(lb, o, inv));
        memref::StoreOp::create(lb, y, outBuf, ValueRange{batch, head, qi, d});
      });
    });
  });
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
    SmallVector<KVShiftAttentionOp> ops;
    getOperation()->walk([&](KVShiftAttentionOp op) { ops.push_back(op); });
    IRRewriter rewriter(&getContext());
    for (KVShiftAttentionOp op : ops) {
      rewriter.setInsertionPoint(op);
      ImplicitLocOpBuilder b(op.getLoc(), rewriter);
      FusedAttentionEmitter emitter(b, blockRows, blockK);
      Value result = emitter.emit(op);
      rewriter.replaceOp(op, result);
    }
  }
};

} // namespace
