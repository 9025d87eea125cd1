//===- FuseCacheAttention.cpp - flash-decoding of kv_cache_attention ------===//
//
// Lowers kvshift.kv_cache_attention to a memory-bound, split-K
// ("flash-decoding") loop nest on buffers for the CPU:
//
//   1. Queries: one parallel loop over (batch, KV head, row) writes each query
//      row in f32, rotated at its position (rope_theta) and pre-multiplied by
//      the scale, into Q [B, Hkv, R, Dp] (R = G * Sq rows: the G query heads
//      of a KV-head group times Sq queries; Dp = D padded to 16).
//   2. Partial states: one parallel loop over (batch, KV head, split) where a
//      split is a chunk of `chunk` cache rows of [0, length). Each work item
//      reads its rows once for all R rows of the group, 16 keys at a time:
//      16 scores per row (16-lane dot products along D), one vector exp per
//      row and block, and the running max m, sum l and accumulator O of every
//      row, kept in O [B, Hkv, splits, R, Dp], M and L [B, Hkv, splits, R].
//   3. Merge: one parallel loop over (batch, KV head, row) combines the
//      splits' states (rescaled by exp(m_s - max m)) and writes the output.
//
// K^ and V^ are the cache itself: no mix and no key rotation here (the
// cache holds mixed, rotated rows). Length is clamped to [lo, Smax] as in
// the reference lowering (the run-time check reports a bad length).
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

#include <cmath>
#include <functional>
#include <limits>

using namespace mlir;
using namespace mlir::kvshift;

namespace {

constexpr int64_t kLanes = 16; // f32 lanes of one vector
constexpr int64_t kBlock = 16; // keys per block (one score vector per row)
/// Loop nests with fewer multiply-adds than this run on the calling thread.
constexpr int64_t kParallelWork = 1 << 16;

class CacheAttentionEmitter {
public:
  CacheAttentionEmitter(ImplicitLocOpBuilder &b, KVCacheAttentionOp op,
                        int64_t chunk)
      : b(b), op(op), chunk(chunk), f32(b.getF32Type()),
        vecType(VectorType::get({kLanes}, f32)) {}

  Value emit();

private:
  ImplicitLocOpBuilder &b;
  KVCacheAttentionOp op;
  int64_t chunk;
  Type f32, elt;
  VectorType vecType, eltVecType;
  bool fullVectors = false; // D is static and a multiple of 16
  Value qBuf, kBuf, vBuf;
  Value dimB, dimHq, dimSq, dimD, dimHkv, dimSmax, group, rows, dimDp, len;
  Value scale;

  // --- small builders (at the current insertion point of `bb`) ------------
  static Value idx(ImplicitLocOpBuilder &bb, int64_t v) {
    return arith::ConstantIndexOp::create(bb, v);
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
  Value f32c(ImplicitLocOpBuilder &bb, double v) {
    return arith::ConstantOp::create(bb, f32, bb.getF32FloatAttr(v));
  }
  Value splat(ImplicitLocOpBuilder &bb, Value s) {
    return vector::BroadcastOp::create(bb, vecType, s);
  }
  Value zeroVec(ImplicitLocOpBuilder &bb) {
    return arith::ConstantOp::create(
        bb, vecType, DenseElementsAttr::get(vecType, bb.getF32FloatAttr(0)));
  }
  Value negInf(ImplicitLocOpBuilder &bb) {
    return f32c(bb, -std::numeric_limits<double>::infinity());
  }
  /// 16 elements of row (b, h, j) of a cache or q buffer from column c, in
  /// f32 (zeros past D).
  Value loadRow(ImplicitLocOpBuilder &bb, Value buf, Value bi, Value h,
                Value j, Value c) {
    SmallVector<Value, 4> indices{bi, h, j, c};
    Value v;
    if (fullVectors) {
      v = vector::LoadOp::create(bb, eltVecType, buf, indices);
    } else {
      Value n = arith::MinSIOp::create(bb, idx(bb, kLanes), sub(bb, dimD, c));
      Value mask = vector::CreateMaskOp::create(
          bb, VectorType::get({kLanes}, bb.getI1Type()), ValueRange{n});
      Value pass = arith::ConstantOp::create(
          bb, eltVecType,
          DenseElementsAttr::get(eltVecType, bb.getFloatAttr(elt, 0)));
      v = vector::MaskedLoadOp::create(bb, eltVecType, buf, indices, mask,
                                       pass);
    }
    if (elt != f32)
      v = arith::ExtFOp::create(bb, vecType, v);
    return v;
  }
  /// A loop nest over [0, ub_i) with the body given the induction vars:
  /// parallel (scf.parallel, OpenMP after the pipeline) when `work` (an
  /// estimate of the multiply-adds of the whole nest) is at least
  /// kParallelWork, else sequential scf.for loops. A decode step of a small
  /// model is a few thousand multiply-adds per loop: forking and joining a
  /// thread team would cost more than the loop itself.
  void parallel(ArrayRef<Value> ubs, Value work,
                function_ref<void(ImplicitLocOpBuilder &, ValueRange)> body) {
    Value big = arith::CmpIOp::create(b, arith::CmpIPredicate::uge, work,
                                      idx(b, kParallelWork));
    auto ifOp = scf::IfOp::create(b, big, /*withElseRegion=*/true);
    {
      OpBuilder::InsertionGuard guard(b);
      b.setInsertionPointToStart(&ifOp.getThenRegion().front());
      SmallVector<Value> lbs(ubs.size(), idx(b, 0)),
          steps(ubs.size(), idx(b, 1));
      scf::ParallelOp::create(
          b, lbs, ubs, steps,
          [&](OpBuilder &nb, Location loc, ValueRange ivs) {
            ImplicitLocOpBuilder ib(loc, nb);
            body(ib, ivs);
          });
      b.setInsertionPointToStart(&ifOp.getElseRegion().front());
      SmallVector<Value> ivs;
      std::function<void(ImplicitLocOpBuilder &, size_t)> nest =
          [&](ImplicitLocOpBuilder &nb, size_t d) {
            if (d == ubs.size()) {
              body(nb, ivs);
              return;
            }
            forLoop(nb, idx(nb, 0), ubs[d], idx(nb, 1), {},
                    [&](ImplicitLocOpBuilder &lb, Value iv, ValueRange) {
                      ivs.push_back(iv);
                      nest(lb, d + 1);
                      ivs.pop_back();
                      return SmallVector<Value>{};
                    });
          };
      nest(b, 0);
    }
  }
  /// scf.for [lb, ub) step `step` with iteration values.
  static SmallVector<Value>
  forLoop(ImplicitLocOpBuilder &bb, Value lb, Value ub, Value step,
          ValueRange inits,
          function_ref<SmallVector<Value>(ImplicitLocOpBuilder &, Value,
                                          ValueRange)>
              body) {
    auto loop = scf::ForOp::create(
        bb, lb, ub, step, inits,
        [&](OpBuilder &nb, Location loc, Value iv, ValueRange args) {
          ImplicitLocOpBuilder ib(loc, nb);
          SmallVector<Value> next = body(ib, iv, args);
          scf::YieldOp::create(ib, next);
        });
    return SmallVector<Value>(loop.getResults());
  }

  void emitQueries(Value qRot);
  void emitSplits(Value qRot, Value oPart, Value mPart, Value lPart,
                  Value splits);
  void emitMerge(Value oPart, Value mPart, Value lPart, Value splits,
                 Value out);
};

Value CacheAttentionEmitter::emit() {
  auto qType = cast<RankedTensorType>(op.getQ().getType());
  auto outType = cast<RankedTensorType>(op.getOut().getType());
  elt = qType.getElementType();
  eltVecType = VectorType::get({kLanes}, elt);
  int64_t staticD = qType.getDimSize(3);
  fullVectors = !ShapedType::isDynamic(staticD) && staticD % kLanes == 0;
  KernelScope scope(b, {op.getQ(), op.getKCache(), op.getVCache()},
                    SmallVector<Type>{outType});
  qBuf = scope.buffer(op.getQ());
  kBuf = scope.buffer(op.getKCache());
  vBuf = scope.buffer(op.getVCache());
  auto dim = [&](Value buf, int64_t i) -> Value {
    return memref::DimOp::create(b, buf, i);
  };
  dimB = dim(qBuf, 0);
  dimHq = dim(qBuf, 1);
  dimSq = dim(qBuf, 2);
  dimD = dim(qBuf, 3);
  dimHkv = dim(kBuf, 1);
  dimSmax = dim(kBuf, 2);
  group = arith::DivUIOp::create(b, dimHq, dimHkv);
  rows = mul(b, group, dimSq);
  dimDp = mul(b, arith::CeilDivUIOp::create(b, dimD, idx(b, kLanes)),
              idx(b, kLanes));
  len = op.buildValidLength(b, b.getLoc(), dimSq, dimSmax);
  if (std::optional<double> s = getStaticAttentionScale(op)) {
    scale = f32c(b, *s);
  } else {
    Value dF = arith::SIToFPOp::create(
        b, f32, arith::IndexCastOp::create(b, b.getI64Type(), dimD));
    scale = arith::DivFOp::create(b, f32c(b, 1.0), math::SqrtOp::create(b, dF));
  }

  auto flat = MemRefType::get({ShapedType::kDynamic}, f32);
  Value bh = mul(b, dimB, dimHkv);
  Value qRot = memref::AllocOp::create(b, flat,
                                       ValueRange{mul(b, mul(b, bh, rows),
                                                      dimDp)});
  emitQueries(qRot);

  Value splits = arith::CeilDivUIOp::create(b, len, idx(b, chunk));
  Value states = mul(b, mul(b, bh, splits), rows);
  Value oPart =
      memref::AllocOp::create(b, flat, ValueRange{mul(b, states, dimDp)});
  Value mPart = memref::AllocOp::create(b, flat, ValueRange{states});
  Value lPart = memref::AllocOp::create(b, flat, ValueRange{states});
  emitSplits(qRot, oPart, mPart, lPart, splits);

  SmallVector<Value> dynSizes;
  for (int64_t i = 0; i < 4; ++i)
    if (outType.isDynamicDim(i))
      dynSizes.push_back(dim(qBuf, i));
  Value out = memref::AllocOp::create(
      b, MemRefType::get(outType.getShape(), elt), dynSizes);
  emitMerge(oPart, mPart, lPart, splits, out);
  return scope.finish(out)[0];
}

void CacheAttentionEmitter::emitQueries(Value qRot) {
  std::optional<APFloat> theta = op.getRopeTheta();
  Value work = mul(b, mul(b, mul(b, dimB, dimHkv), rows), dimDp);
  parallel({dimB, dimHkv, rows}, work,
           [&](ImplicitLocOpBuilder &pb, ValueRange iv) {
    Value bi = iv[0], hk = iv[1], r = iv[2];
    Value g = arith::DivUIOp::create(pb, r, dimSq);
    Value i = arith::RemUIOp::create(pb, r, dimSq);
    Value h = add(pb, mul(pb, hk, group), g);
    Value base =
        mul(pb, add(pb, mul(pb, add(pb, mul(pb, bi, dimHkv), hk), rows), r),
            dimDp);
    Value zero = idx(pb, 0), one = idx(pb, 1);
    auto load = [&](ImplicitLocOpBuilder &lb, Value d) -> Value {
      Value x = memref::LoadOp::create(lb, qBuf, ValueRange{bi, h, i, d});
      return elt == f32 ? x : arith::ExtFOp::create(lb, f32, x).getResult();
    };
    auto store = [&](ImplicitLocOpBuilder &sb, Value x, Value d) {
      memref::StoreOp::create(sb, arith::MulFOp::create(sb, x, scale), qRot,
                              ValueRange{add(sb, base, d)});
    };
    if (theta) {
      // Query i at position length - Sq + i; cos and sin of the angle in f64
      // rounded to f32, as the reference lowering does.
      Type f64 = pb.getF64Type();
      auto toF64 = [&](ImplicitLocOpBuilder &cb, Value index) -> Value {
        return arith::SIToFPOp::create(
            cb, f64, arith::IndexCastOp::create(cb, cb.getI64Type(), index));
      };
      Value pos = toF64(pb, add(pb, sub(pb, len, dimSq), i));
      Value half = arith::DivUIOp::create(pb, dimD, idx(pb, 2));
      Value dF = toF64(pb, dimD);
      Value thetaC = arith::ConstantOp::create(
          pb, f64, pb.getF64FloatAttr(theta->convertToDouble()));
      Value minusTwo =
          arith::ConstantOp::create(pb, f64, pb.getF64FloatAttr(-2.0));
      forLoop(pb, zero, half, one, {},
              [&](ImplicitLocOpBuilder &lb, Value d, ValueRange) {
                Value expo = arith::DivFOp::create(
                    lb, arith::MulFOp::create(lb, minusTwo, toF64(lb, d)), dF);
                Value angle = arith::MulFOp::create(
                    lb, pos, math::PowFOp::create(lb, thetaC, expo));
                Value c = arith::TruncFOp::create(
                    lb, f32, math::CosOp::create(lb, angle));
                Value s = arith::TruncFOp::create(
                    lb, f32, math::SinOp::create(lb, angle));
                Value d2 = add(lb, d, half);
                Value x1 = load(lb, d), x2 = load(lb, d2);
                store(lb,
                      arith::SubFOp::create(lb, arith::MulFOp::create(lb, x1, c),
                                            arith::MulFOp::create(lb, x2, s)),
                      d);
                store(lb,
                      arith::AddFOp::create(lb, arith::MulFOp::create(lb, x2, c),
                                            arith::MulFOp::create(lb, x1, s)),
                      d2);
                return SmallVector<Value>{};
              });
    } else {
      forLoop(pb, zero, dimD, one, {},
              [&](ImplicitLocOpBuilder &lb, Value d, ValueRange) {
                store(lb, load(lb, d), d);
                return SmallVector<Value>{};
              });
    }
    // Zero padding up to Dp (no scale needed).
    forLoop(pb, dimD, dimDp, one, {},
            [&](ImplicitLocOpBuilder &lb, Value d, ValueRange) {
              memref::StoreOp::create(lb, f32c(lb, 0.0), qRot,
                                      ValueRange{add(lb, base, d)});
              return SmallVector<Value>{};
            });
  });
}

void CacheAttentionEmitter::emitSplits(Value qRot, Value oPart, Value mPart,
                                       Value lPart, Value splits) {
  bool causal = op.getCausal();
  Value work = mul(b, mul(b, mul(b, mul(b, dimB, dimHkv), rows), len),
                   dimDp);
  parallel({dimB, dimHkv, splits}, work, [&](ImplicitLocOpBuilder &pb,
                                             ValueRange iv) {
    Value bi = iv[0], hk = iv[1], s = iv[2];
    Value zero = idx(pb, 0), one = idx(pb, 1), lanes = idx(pb, kLanes);
    Value j0 = mul(pb, s, idx(pb, chunk));
    Value j1 = arith::MinSIOp::create(pb, len, add(pb, j0, idx(pb, chunk)));
    Value bh = add(pb, mul(pb, bi, dimHkv), hk);
    // State index of row r: ((bh * splits + s) * rows + r).
    Value stateBase = mul(pb, add(pb, mul(pb, bh, splits), s), rows);
    Value qBase = mul(pb, bh, rows);
    Value ninf = negInf(pb);
    forLoop(pb, zero, rows, one, {},
            [&](ImplicitLocOpBuilder &lb, Value r, ValueRange) {
              Value st = add(lb, stateBase, r);
              memref::StoreOp::create(lb, ninf, mPart, ValueRange{st});
              memref::StoreOp::create(lb, f32c(lb, 0.0), lPart, ValueRange{st});
              Value ob = mul(lb, st, dimDp);
              forLoop(lb, zero, dimDp, lanes, {},
                      [&](ImplicitLocOpBuilder &cb, Value c, ValueRange) {
                        vector::StoreOp::create(cb, zeroVec(cb), oPart,
                                                ValueRange{add(cb, ob, c)});
                        return SmallVector<Value>{};
                      });
              return SmallVector<Value>{};
            });
    forLoop(pb, j0, j1, idx(pb, kBlock), {}, [&](ImplicitLocOpBuilder &kb,
                                                 Value jb, ValueRange) {
      Value nb = arith::MinSIOp::create(kb, idx(kb, kBlock), sub(kb, j1, jb));
      forLoop(kb, zero, rows, one, {}, [&](ImplicitLocOpBuilder &rb, Value r,
                                           ValueRange) {
        Value st = add(rb, stateBase, r);
        Value qRow = mul(rb, add(rb, qBase, r), dimDp);
        Value limit;
        if (causal) {
          Value i = arith::RemUIOp::create(rb, r, dimSq);
          limit = add(rb, sub(rb, len, dimSq), i); // visible: j <= limit
        }
        // Scores of the block's keys (-inf where absent or masked).
        Value init = splat(rb, negInf(rb));
        Value scores =
            forLoop(rb, zero, nb, one, {init},
                    [&](ImplicitLocOpBuilder &jb2, Value jj, ValueRange acc) {
                      Value j = add(jb2, jb, jj);
                      Value dot =
                          forLoop(jb2, zero, dimDp, lanes, {zeroVec(jb2)},
                                  [&](ImplicitLocOpBuilder &cb, Value c,
                                      ValueRange a) {
                                    Value qv = vector::LoadOp::create(
                                        cb, vecType, qRot,
                                        ValueRange{add(cb, qRow, c)});
                                    Value kv = loadRow(cb, kBuf, bi, hk, j, c);
                                    return SmallVector<Value>{
                                        vector::FMAOp::create(cb, qv, kv, a[0])};
                                  })[0];
                      Value sc = vector::ReductionOp::create(
                          jb2, vector::CombiningKind::ADD, dot);
                      if (causal) {
                        Value visible = arith::CmpIOp::create(
                            jb2, arith::CmpIPredicate::sle, j, limit);
                        sc = arith::SelectOp::create(jb2, visible, sc,
                                                     negInf(jb2));
                      }
                      return SmallVector<Value>{
                          vector::InsertOp::create(jb2, sc, acc[0], jj)};
                    })[0];
        Value blockMax = vector::ReductionOp::create(
            rb, vector::CombiningKind::MAXNUMF, scores);
        Value mOld = memref::LoadOp::create(rb, mPart, ValueRange{st});
        Value mNew = arith::MaxNumFOp::create(rb, mOld, blockMax);
        // No visible key yet: keep exponents finite (all p and alpha are 0).
        Value none = arith::CmpFOp::create(rb, arith::CmpFPredicate::OEQ, mNew,
                                           negInf(rb));
        Value mRef = arith::SelectOp::create(rb, none, f32c(rb, 0.0), mNew);
        Value p = math::ExpOp::create(
            rb, arith::SubFOp::create(rb, scores, splat(rb, mRef)));
        Value alpha =
            math::ExpOp::create(rb, arith::SubFOp::create(rb, mOld, mRef));
        Value lOld = memref::LoadOp::create(rb, lPart, ValueRange{st});
        Value lNew = arith::AddFOp::create(
            rb, arith::MulFOp::create(rb, lOld, alpha),
            vector::ReductionOp::create(rb, vector::CombiningKind::ADD, p));
        memref::StoreOp::create(rb, lNew, lPart, ValueRange{st});
        memref::StoreOp::create(rb, mNew, mPart, ValueRange{st});
        Value ob = mul(rb, st, dimDp);
        Value alphaV = splat(rb, alpha);
        forLoop(rb, zero, dimDp, lanes, {}, [&](ImplicitLocOpBuilder &cb,
                                                Value c, ValueRange) {
          Value at = add(cb, ob, c);
          Value acc = arith::MulFOp::create(
              cb, vector::LoadOp::create(cb, vecType, oPart, ValueRange{at}),
              alphaV);
          acc = forLoop(cb, zero, nb, one, {acc},
                        [&](ImplicitLocOpBuilder &vb, Value jj, ValueRange a) {
                          Value pj = vector::ExtractOp::create(vb, p, jj);
                          Value vv =
                              loadRow(vb, vBuf, bi, hk, add(vb, jb, jj), c);
                          return SmallVector<Value>{vector::FMAOp::create(
                              vb, splat(vb, pj), vv, a[0])};
                        })[0];
          vector::StoreOp::create(cb, acc, oPart, ValueRange{at});
          return SmallVector<Value>{};
        });
        return SmallVector<Value>{};
      });
      return SmallVector<Value>{};
    });
  });
}

void CacheAttentionEmitter::emitMerge(Value oPart, Value mPart, Value lPart,
                                      Value splits, Value out) {
  Value work =
      mul(b, mul(b, mul(b, mul(b, dimB, dimHkv), rows), splits), dimDp);
  parallel({dimB, dimHkv, rows}, work,
           [&](ImplicitLocOpBuilder &pb, ValueRange iv) {
    Value bi = iv[0], hk = iv[1], r = iv[2];
    Value zero = idx(pb, 0), one = idx(pb, 1), lanes = idx(pb, kLanes);
    Value g = arith::DivUIOp::create(pb, r, dimSq);
    Value i = arith::RemUIOp::create(pb, r, dimSq);
    Value h = add(pb, mul(pb, hk, group), g);
    Value bh = add(pb, mul(pb, bi, dimHkv), hk);
    auto state = [&](ImplicitLocOpBuilder &sb, Value s) -> Value {
      return add(sb, mul(sb, add(sb, mul(sb, bh, splits), s), rows), r);
    };
    Value m = forLoop(pb, zero, splits, one, {negInf(pb)},
                      [&](ImplicitLocOpBuilder &sb, Value s, ValueRange a) {
                        Value ms = memref::LoadOp::create(
                            sb, mPart, ValueRange{state(sb, s)});
                        return SmallVector<Value>{
                            arith::MaxNumFOp::create(sb, a[0], ms)};
                      })[0];
    Value none =
        arith::CmpFOp::create(pb, arith::CmpFPredicate::OEQ, m, negInf(pb));
    Value mRef = arith::SelectOp::create(pb, none, f32c(pb, 0.0), m);
    auto weight = [&](ImplicitLocOpBuilder &sb, Value s) -> Value {
      Value ms = memref::LoadOp::create(sb, mPart, ValueRange{state(sb, s)});
      return math::ExpOp::create(sb, arith::SubFOp::create(sb, ms, mRef));
    };
    Value l = forLoop(pb, zero, splits, one, {f32c(pb, 0.0)},
                      [&](ImplicitLocOpBuilder &sb, Value s, ValueRange a) {
                        Value ls = memref::LoadOp::create(
                            sb, lPart, ValueRange{state(sb, s)});
                        return SmallVector<Value>{arith::AddFOp::create(
                            sb, a[0],
                            arith::MulFOp::create(sb, ls, weight(sb, s)))};
                      })[0];
    Value positive =
        arith::CmpFOp::create(pb, arith::CmpFPredicate::OGT, l, f32c(pb, 0.0));
    Value inv = arith::SelectOp::create(
        pb, positive, arith::DivFOp::create(pb, f32c(pb, 1.0), l),
        f32c(pb, 0.0));
    forLoop(pb, zero, dimDp, lanes, {}, [&](ImplicitLocOpBuilder &cb, Value c,
                                            ValueRange) {
      Value o =
          forLoop(cb, zero, splits, one, {zeroVec(cb)},
                  [&](ImplicitLocOpBuilder &sb, Value s, ValueRange a) {
                    Value at = add(sb, mul(sb, state(sb, s), dimDp), c);
                    Value os =
                        vector::LoadOp::create(sb, vecType, oPart, ValueRange{at});
                    return SmallVector<Value>{vector::FMAOp::create(
                        sb, splat(sb, weight(sb, s)), os, a[0])};
                  })[0];
      o = arith::MulFOp::create(cb, o, splat(cb, inv));
      if (elt != f32)
        o = arith::TruncFOp::create(cb, eltVecType, o);
      SmallVector<Value, 4> indices{bi, h, i, c};
      if (fullVectors) {
        vector::StoreOp::create(cb, o, out, indices);
      } else {
        Value n = arith::MinSIOp::create(cb, lanes, sub(cb, dimD, c));
        Value mask = vector::CreateMaskOp::create(
            cb, VectorType::get({kLanes}, cb.getI1Type()), ValueRange{n});
        vector::MaskedStoreOp::create(cb, out, indices, mask, o);
      }
      return SmallVector<Value>{};
    });
  });
}

} // namespace

Value mlir::kvshift::emitFusedCacheAttention(ImplicitLocOpBuilder &b,
                                             KVCacheAttentionOp op,
                                             int64_t chunk) {
  CacheAttentionEmitter emitter(b, op, chunk);
  return emitter.emit();
}
