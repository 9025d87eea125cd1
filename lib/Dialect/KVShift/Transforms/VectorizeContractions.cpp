//===- VectorizeContractions.cpp - register-tiled matmuls for the CPU -----===//
//
// Lowers f32-accumulating contractions on static tensors (linalg.matmul,
// linalg.batch_matmul, and linalg.generic/named ops with the same body and
// projected-permutation maps) to register-tiled AVX-512 micro-kernels on
// buffers, looking through linalg.transpose producers of the operands and a
// linalg.fill init. See the pass description in Passes.td for the design.
//
// Two kernels, picked by which loop dimension is contiguous in memory:
//   row (outer product): B and C contiguous along n. A tile of R rows x V
//     16-lane vectors of C lives in registers; per k, V vectors of B's row k
//     are loaded and each of the R scalars A[m, k] is broadcast and FMAed.
//   dot: A and B contiguous along k (C = A W^T, nn.Linear's layout). R x C
//     16-lane accumulators run along k (16 products per FMA); at the end one
//     shuffle tree sums all of them into one vector, lane i holding output i.
// Tails: the last partial 16-lane vector of the row kernel and the last
// partial k chunk of the dot kernel use masked loads/stores with constant
// masks; partial row/column tiles get their own statically sized kernel
// (shapes are static, so at most four kernels per op).
//
//===----------------------------------------------------------------------===//

#include "kvshift/Dialect/KVShift/Transforms/KernelScope.h"
#include "kvshift/Dialect/KVShift/Transforms/Passes.h"
#include "kvshift/Dialect/KVShift/Transforms/VectorKernels.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Utils/StaticValueUtils.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/ImplicitLocOpBuilder.h"
#include "mlir/IR/PatternMatch.h"

namespace mlir::kvshift {
#define GEN_PASS_DEF_KVSHIFTVECTORIZECONTRACTIONS
#include "kvshift/Dialect/KVShift/Transforms/Passes.h.inc"
} // namespace mlir::kvshift

using namespace mlir;
using mlir::kvshift::KernelScope;

namespace {

constexpr int64_t kLanes = kvshift::kVectorLanes;

/// One input or the output of the contraction as the kernel sees it.
using Operand = kvshift::LoopOperand;

enum class Kind { Row, Dot };

/// Everything the emitter needs about one contraction.
struct Plan {
  linalg::LinalgOp op;
  Kind kind;
  Operand a, b, c;
  /// Loop sizes; the batch, m, n and k loop dimensions (-1 if absent, i.e.
  /// of size 1).
  SmallVector<int64_t> sizes;
  SmallVector<int64_t> batch;
  int64_t m = -1, n = -1, k = -1;
  /// The init's scalar when it is a linalg.fill, else null (the init tensor
  /// is then read).
  Value fill;
  Value init;
  int64_t size(int64_t d) const { return d < 0 ? 1 : sizes[d]; }
};

/// True if `body` computes `acc + cvt(a) * cvt(b)` (either operand order),
/// where cvt is arith.extf or nothing, with an f32 accumulator.
static bool isMulAccBody(Block &body) {
  if (body.getNumArguments() != 3 ||
      !body.getArgument(2).getType().isF32())
    return false;
  auto yield = dyn_cast<linalg::YieldOp>(body.getTerminator());
  if (!yield || yield.getNumOperands() != 1)
    return false;
  auto add = yield.getOperand(0).getDefiningOp<arith::AddFOp>();
  if (!add)
    return false;
  Value acc = body.getArgument(2), prod;
  if (add.getLhs() == acc)
    prod = add.getRhs();
  else if (add.getRhs() == acc)
    prod = add.getLhs();
  else
    return false;
  auto mul = prod.getDefiningOp<arith::MulFOp>();
  if (!mul)
    return false;
  auto strip = [](Value v) {
    if (auto ext = v.getDefiningOp<arith::ExtFOp>())
      return ext.getIn();
    return v;
  };
  Value x = strip(mul.getLhs()), y = strip(mul.getRhs());
  Value a = body.getArgument(0), b = body.getArgument(1);
  if (!((x == a && y == b) || (x == b && y == a)))
    return false;
  for (Operation &o : body.without_terminator())
    if (!isa<arith::ExtFOp, arith::MulFOp, arith::AddFOp>(o))
      return false;
  return true;
}

static bool isSupportedInput(Type t) {
  return t.isF32() || t.isF16() || t.isBF16();
}

/// Builds an Operand from a tensor and the map of loop dims to its dims.
static std::optional<Operand> makeOperand(Value tensor, AffineMap map) {
  auto type = dyn_cast<RankedTensorType>(tensor.getType());
  if (!type || !type.hasStaticShape() ||
      map.getNumResults() != type.getRank())
    return std::nullopt;
  Operand o;
  o.tensor = tensor;
  o.elt = type.getElementType();
  ReassociationIndices group;
  for (auto [i, expr] : llvm::enumerate(map.getResults())) {
    auto dim = dyn_cast<AffineDimExpr>(expr);
    if (!dim)
      return std::nullopt;
    group.push_back(i);
    if (type.getDimSize(i) != 1) {
      o.dims.push_back(dim.getPosition());
      o.collapse.push_back(group);
      group.clear();
    }
  }
  // Trailing unit dimensions join the last group.
  if (!group.empty() && !o.collapse.empty())
    o.collapse.back().append(group.begin(), group.end());
  return o;
}

/// Looks through linalg.transpose producers of `tensor`, composing `map`.
static std::pair<Value, AffineMap> foldTransposes(Value tensor,
                                                  AffineMap map) {
  while (auto t = tensor.getDefiningOp<linalg::TransposeOp>()) {
    ArrayRef<int64_t> perm = t.getPermutation();
    // out[x] = in[y] with y[perm[i]] = x[i].
    SmallVector<AffineExpr> results(map.getNumResults());
    for (auto [i, p] : llvm::enumerate(perm))
      results[p] = map.getResult(i);
    map = AffineMap::get(map.getNumDims(), 0, results, map.getContext());
    tensor = t.getInput();
  }
  return {tensor, map};
}

/// Analyses `op` with or without folding transposes into its inputs.
static std::optional<Plan> analyse(linalg::LinalgOp op, bool foldA,
                                   bool foldB) {
  if (!op.hasPureTensorSemantics() || op.getNumDpsInputs() != 2 ||
      op.getNumDpsInits() != 1 || op->getNumResults() != 1)
    return std::nullopt;
  if (!isMulAccBody(*op.getBlock()))
    return std::nullopt;
  SmallVector<AffineMap> maps = op.getIndexingMapsArray();
  for (AffineMap map : maps)
    if (!map.isProjectedPermutation(/*allowZeroInResults=*/false))
      return std::nullopt;
  Plan p;
  p.op = op;
  p.sizes = op.getStaticLoopRanges();
  if (llvm::any_of(p.sizes, ShapedType::isDynamic))
    return std::nullopt;
  Value a = op.getDpsInputOperand(0)->get(), b = op.getDpsInputOperand(1)->get();
  AffineMap ma = maps[0], mb = maps[1];
  if (foldA)
    std::tie(a, ma) = foldTransposes(a, ma);
  if (foldB)
    std::tie(b, mb) = foldTransposes(b, mb);
  auto oa = makeOperand(a, ma), ob = makeOperand(b, mb),
       oc = makeOperand(op.getDpsInitOperand(0)->get(), maps[2]);
  if (!oa || !ob || !oc || !isSupportedInput(oa->elt) ||
      !isSupportedInput(ob->elt) || !oc->elt.isF32())
    return std::nullopt;
  p.a = *oa;
  p.b = *ob;
  p.c = *oc;
  SmallVector<utils::IteratorType> iters = op.getIteratorTypesArray();
  for (int64_t d = 0, e = p.sizes.size(); d < e; ++d) {
    if (p.sizes[d] == 1)
      continue;
    bool inA = p.a.has(d), inB = p.b.has(d), inC = p.c.has(d);
    bool parallel = iters[d] == utils::IteratorType::parallel;
    int64_t *slot = nullptr;
    if (inA && inB && inC && parallel)
      p.batch.push_back(d);
    else if (inA && inC && !inB && parallel)
      slot = &p.m;
    else if (inB && inC && !inA && parallel)
      slot = &p.n;
    else if (inA && inB && !inC && !parallel)
      slot = &p.k;
    else
      return std::nullopt;
    if (slot) {
      if (*slot >= 0)
        return std::nullopt; // two m, n or k dimensions
      *slot = d;
    }
  }
  bool row = p.n >= 0 && p.b.innermost() == p.n && p.c.innermost() == p.n;
  bool dot = p.k >= 0 && p.a.innermost() == p.k && p.b.innermost() == p.k;
  if (!row && !dot)
    return std::nullopt;
  p.kind = row ? Kind::Row : Kind::Dot;
  Value init = op.getDpsInitOperand(0)->get();
  auto fill = init.getDefiningOp<linalg::FillOp>();
  if (fill && fill.getInputs()[0].getType().isF32())
    p.fill = fill.getInputs()[0];
  else
    p.init = init;
  return p;
}

/// Register tile shapes and the parallel threshold (the pass options).
struct TileOptions {
  int64_t rowTileRows, rowTileVectors, dotTileRows, dotTileCols;
  int64_t minParallelWork;
};

/// Emits the kernel of one plan at the builder's insertion point.
class ContractionEmitter {
public:
  ContractionEmitter(ImplicitLocOpBuilder &b, const Plan &p,
                     const TileOptions &opts)
      : b(b), pool(p.op), p(p), opts(opts), f32(b.getF32Type()),
        vecType(VectorType::get({kLanes}, f32)) {}

  Value emit();

private:
  ImplicitLocOpBuilder &b;
  /// Constants, at the start of the function body.
  kvshift::ConstantPool pool;
  const Plan &p;
  const TileOptions &opts;
  Type f32;
  VectorType vecType;
  Value bufA, bufB, bufC, bufInit;
  /// Tile shape: rows of m and (row kernel) 16-lane vectors or (dot kernel)
  /// columns of n.
  int64_t tileRows = 1, tileCols = 1;

  Value idx(int64_t v) { return pool.index(v); }
  Value mask(int64_t lanes) { return pool.mask(lanes); }

  /// The kernel's buffer of `o` with its unit dimensions dropped.
  Value buffer(KernelScope &scope, const Operand &o) {
    return o.collapsed(b, scope.buffer(o.tensor));
  }
  Value toF32(ImplicitLocOpBuilder &bb, Value v) {
    Type t = v.getType();
    if (auto vt = dyn_cast<VectorType>(t)) {
      if (vt.getElementType().isF32())
        return v;
      return arith::ExtFOp::create(bb, vecType, v);
    }
    if (t.isF32())
      return v;
    return arith::ExtFOp::create(bb, f32, v);
  }
  /// A 16-lane vector of `o` along its innermost dimension, masked to
  /// `lanes` (< 16) lanes, zero-filled.
  Value loadVec(ImplicitLocOpBuilder &bb, Value buf, const Operand &o,
                ArrayRef<Value> iv, int64_t lanes) {
    auto type = VectorType::get({kLanes}, o.elt);
    SmallVector<Value> ix = o.indices(iv);
    Value v;
    if (lanes >= kLanes)
      v = vector::LoadOp::create(bb, type, buf, ix);
    else
      v = vector::MaskedLoadOp::create(bb, type, buf, ix, mask(lanes),
                                       pool.zeros(o.elt));
    return toF32(bb, v);
  }
  Value loadScalar(ImplicitLocOpBuilder &bb, Value buf, const Operand &o,
                   ArrayRef<Value> iv) {
    return toF32(bb, memref::LoadOp::create(bb, buf, o.indices(iv)));
  }
  Value plus(ImplicitLocOpBuilder &bb, Value x, int64_t c) {
    if (c == 0)
      return x;
    if (std::optional<int64_t> v = getConstantIntValue(x))
      return idx(*v + c);
    return arith::AddIOp::create(bb, x, idx(c));
  }
  Value times(ImplicitLocOpBuilder &bb, Value x, int64_t c) {
    if (std::optional<int64_t> v = getConstantIntValue(x))
      return idx(*v * c);
    return arith::MulIOp::create(bb, x, idx(c));
  }

  void emitRowTile(ImplicitLocOpBuilder &bb, SmallVector<Value> iv,
                   int64_t rows, int64_t cols);
  void emitDotTile(ImplicitLocOpBuilder &bb, SmallVector<Value> iv,
                   int64_t rows, int64_t cols);
  SmallVector<Value> sumLanes(ImplicitLocOpBuilder &bb,
                              SmallVector<Value> vs);
  /// The tile at (m0, n0) (in iv), choosing the full or partial kernel.
  void emitTile(ImplicitLocOpBuilder &bb, SmallVector<Value> iv, Value mt,
                Value nt);
};

void ContractionEmitter::emitRowTile(ImplicitLocOpBuilder &bb,
                                     SmallVector<Value> iv, int64_t rows,
                                     int64_t cols) {
  int64_t nv = llvm::divideCeil(cols, kLanes);
  int64_t lastLanes = cols - kLanes * (nv - 1);
  Value m0 = p.m >= 0 ? iv[p.m] : Value(), n0 = iv[p.n];
  auto at = [&](int64_t i, int64_t j) {
    SmallVector<Value> x = iv;
    if (p.m >= 0)
      x[p.m] = plus(bb, m0, i);
    x[p.n] = plus(bb, n0, j * kLanes);
    return x;
  };
  auto lanesOf = [&](int64_t j) { return j == nv - 1 ? lastLanes : kLanes; };
  SmallVector<Value> acc;
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t j = 0; j < nv; ++j)
      acc.push_back(p.fill ? vector::BroadcastOp::create(
                                 bb, vecType, toF32(bb, p.fill))
                                 .getResult()
                           : loadVec(bb, bufInit, p.c, at(i, j), lanesOf(j)));
  auto step = [&](ImplicitLocOpBuilder &lb, Value kv, ValueRange in) {
    SmallVector<Value> out(in.begin(), in.end());
    SmallVector<Value> bv;
    for (int64_t j = 0; j < nv; ++j) {
      SmallVector<Value> x = at(0, j);
      if (p.k >= 0)
        x[p.k] = kv;
      bv.push_back(loadVec(lb, bufB, p.b, x, lanesOf(j)));
    }
    for (int64_t i = 0; i < rows; ++i) {
      SmallVector<Value> x = at(i, 0);
      if (p.k >= 0)
        x[p.k] = kv;
      Value s = vector::BroadcastOp::create(lb, vecType,
                                            loadScalar(lb, bufA, p.a, x));
      for (int64_t j = 0; j < nv; ++j)
        out[i * nv + j] =
            vector::FMAOp::create(lb, s, bv[j], out[i * nv + j]);
    }
    return out;
  };
  if (p.k >= 0) {
    auto loop = scf::ForOp::create(
        bb, idx(0), idx(p.size(p.k)), idx(1), acc,
        [&](OpBuilder &ob, Location loc, Value kv, ValueRange in) {
          ImplicitLocOpBuilder lb(loc, ob);
          SmallVector<Value> out = step(lb, kv, in);
          scf::YieldOp::create(lb, out);
        });
    acc.assign(loop.getResults().begin(), loop.getResults().end());
  } else {
    acc = step(bb, Value(), acc);
  }
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t j = 0; j < nv; ++j) {
      SmallVector<Value> ix = p.c.indices(at(i, j));
      if (lanesOf(j) >= kLanes)
        vector::StoreOp::create(bb, acc[i * nv + j], bufC, ix);
      else
        vector::MaskedStoreOp::create(bb, bufC, ix, mask(lanesOf(j)),
                                      acc[i * nv + j]);
    }
}

SmallVector<Value> ContractionEmitter::sumLanes(ImplicitLocOpBuilder &bb,
                                                SmallVector<Value> vs) {
  // Each vector holds 16/g items of g lanes (initially one item of 16
  // lanes); a level pairs vectors and halves g with two shuffles and an
  // add, keeping the items in order. At the end lane i of vector v holds
  // the sum of input vector 16 v + i.
  for (int64_t g = kLanes; g > 1; g /= 2) {
    int64_t h = g / 2, items = kLanes / g;
    SmallVector<int64_t> lo, hi;
    for (int64_t src = 0; src < 2; ++src)
      for (int64_t t = 0; t < items; ++t)
        for (int64_t l = 0; l < h; ++l) {
          lo.push_back(src * kLanes + t * g + l);
          hi.push_back(src * kLanes + t * g + h + l);
        }
    SmallVector<Value> next;
    for (size_t i = 0; i < vs.size(); i += 2) {
      Value u = vs[i], w = i + 1 < vs.size() ? vs[i + 1] : vs[i];
      Value l = vector::ShuffleOp::create(bb, u, w, lo);
      Value r = vector::ShuffleOp::create(bb, u, w, hi);
      next.push_back(arith::AddFOp::create(bb, l, r));
    }
    vs = std::move(next);
  }
  return vs;
}

void ContractionEmitter::emitDotTile(ImplicitLocOpBuilder &bb,
                                     SmallVector<Value> iv, int64_t rows,
                                     int64_t cols) {
  int64_t kSize = p.size(p.k), kFull = kSize / kLanes * kLanes;
  Value m0 = p.m >= 0 ? iv[p.m] : Value(),
        n0 = p.n >= 0 ? iv[p.n] : Value();
  auto at = [&](int64_t i, int64_t j, Value kv) {
    SmallVector<Value> x = iv;
    if (p.m >= 0)
      x[p.m] = plus(bb, m0, i);
    if (p.n >= 0)
      x[p.n] = plus(bb, n0, j);
    x[p.k] = kv;
    return x;
  };
  auto step = [&](ImplicitLocOpBuilder &lb, Value kv, ValueRange in,
                  int64_t lanes) {
    SmallVector<Value> out(in.begin(), in.end());
    SmallVector<Value> av, bv;
    for (int64_t i = 0; i < rows; ++i)
      av.push_back(loadVec(lb, bufA, p.a, at(i, 0, kv), lanes));
    for (int64_t j = 0; j < cols; ++j)
      bv.push_back(loadVec(lb, bufB, p.b, at(0, j, kv), lanes));
    for (int64_t i = 0; i < rows; ++i)
      for (int64_t j = 0; j < cols; ++j)
        out[i * cols + j] =
            vector::FMAOp::create(lb, av[i], bv[j], out[i * cols + j]);
    return out;
  };
  SmallVector<Value> acc(rows * cols, pool.zeros(f32));
  if (kFull > 0) {
    auto loop = scf::ForOp::create(
        bb, idx(0), idx(kFull), idx(kLanes), acc,
        [&](OpBuilder &ob, Location loc, Value kv, ValueRange in) {
          ImplicitLocOpBuilder lb(loc, ob);
          SmallVector<Value> out = step(lb, kv, in, kLanes);
          scf::YieldOp::create(lb, out);
        });
    acc.assign(loop.getResults().begin(), loop.getResults().end());
  }
  if (kSize > kFull)
    acc = step(bb, idx(kFull), acc, kSize - kFull);
  SmallVector<Value> sums = sumLanes(bb, acc);
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t j = 0; j < cols; ++j) {
      int64_t e = i * cols + j;
      SmallVector<Value> x = at(i, j, Value());
      Value s = vector::ExtractOp::create(bb, sums[e / kLanes], e % kLanes);
      Value init = p.fill ? toF32(bb, p.fill) : loadScalar(bb, bufInit, p.c, x);
      s = arith::AddFOp::create(bb, init, s);
      SmallVector<Value> ix = p.c.indices(x);
      memref::StoreOp::create(bb, s, bufC, ix);
    }
}

void ContractionEmitter::emitTile(ImplicitLocOpBuilder &bb,
                                  SmallVector<Value> iv, Value mt, Value nt) {
  int64_t mSize = p.size(p.m), nSize = p.size(p.n);
  int64_t colElems = p.kind == Kind::Row ? tileCols * kLanes : tileCols;
  int64_t mFull = mSize / tileRows, nFull = nSize / colElems;
  int64_t mTail = mSize % tileRows, nTail = nSize % colElems;
  if (p.m >= 0)
    iv[p.m] = times(bb, mt, tileRows);
  if (p.n >= 0)
    iv[p.n] = times(bb, nt, colElems);
  auto kernel = [&](ImplicitLocOpBuilder &kb, int64_t rows, int64_t cols) {
    if (p.kind == Kind::Row)
      emitRowTile(kb, iv, rows, cols);
    else
      emitDotTile(kb, iv, rows, cols);
  };
  // Picks the full or the partial kernel along one dimension.
  auto choose = [&](ImplicitLocOpBuilder &cbld, Value t, int64_t full,
                    int64_t tail, function_ref<void(ImplicitLocOpBuilder &,
                                                    bool)> body) {
    if (tail == 0)
      return body(cbld, false);
    if (full == 0)
      return body(cbld, true);
    Value isFull = arith::CmpIOp::create(cbld, arith::CmpIPredicate::ult, t,
                                         idx(full));
    scf::IfOp::create(
        cbld, isFull,
        [&](OpBuilder &ob, Location loc) {
          ImplicitLocOpBuilder tb(loc, ob);
          body(tb, false);
          scf::YieldOp::create(tb);
        },
        [&](OpBuilder &ob, Location loc) {
          ImplicitLocOpBuilder eb(loc, ob);
          body(eb, true);
          scf::YieldOp::create(eb);
        });
  };
  choose(bb, mt, mFull, mTail, [&](ImplicitLocOpBuilder &rb, bool mPart) {
    int64_t rows = mPart ? mTail : tileRows;
    choose(rb, nt, nFull, nTail, [&](ImplicitLocOpBuilder &kb, bool nPart) {
      kernel(kb, rows, nPart ? nTail : colElems);
    });
  });
}

Value ContractionEmitter::emit() {
  int64_t mSize = p.size(p.m), nSize = p.size(p.n);
  if (p.kind == Kind::Row) {
    tileRows = std::min<int64_t>(mSize, opts.rowTileRows);
    tileCols = std::min<int64_t>(llvm::divideCeil(nSize, kLanes),
                                 opts.rowTileVectors);
    // Single rows (decode): wider tiles keep more FMA chains in flight.
    if (tileRows == 1)
      tileCols = std::min<int64_t>(llvm::divideCeil(nSize, kLanes), 4);
  } else {
    tileRows = std::min<int64_t>(mSize, opts.dotTileRows);
    tileCols = std::min<int64_t>(nSize, opts.dotTileCols);
    if (tileRows == 1)
      tileCols = std::min<int64_t>(nSize, 8);
    if (tileCols == 1)
      tileRows = std::min<int64_t>(mSize, 8);
  }
  int64_t colElems = p.kind == Kind::Row ? tileCols * kLanes : tileCols;

  auto ct = cast<RankedTensorType>(p.op->getResult(0).getType());
  SmallVector<Value> inputs{p.a.tensor, p.b.tensor};
  if (!p.fill)
    inputs.push_back(p.c.tensor);
  KernelScope scope(b, inputs, SmallVector<Type>{ct});
  bufA = buffer(scope, p.a);
  bufB = buffer(scope, p.b);
  if (!p.fill)
    bufInit = buffer(scope, p.c);
  Value out = memref::AllocOp::create(
      b, MemRefType::get(ct.getShape(), ct.getElementType()));
  bufC = p.c.collapsed(b, out);

  // Iteration space: the batch dimensions, then n tiles, then m tiles.
  SmallVector<int64_t> ubs;
  for (int64_t d : p.batch)
    ubs.push_back(p.sizes[d]);
  ubs.push_back(llvm::divideCeil(nSize, colElems));
  ubs.push_back(llvm::divideCeil(mSize, tileRows));
  int64_t work = 1;
  for (int64_t s : p.sizes)
    work *= s;
  int64_t tiles = 1;
  for (int64_t u : ubs)
    tiles *= u;
  bool parallel = work >= opts.minParallelWork && tiles > 1 &&
                  !p.op->getParentOfType<scf::ParallelOp>();

  // Loops only over the dimensions with more than one iteration; the
  // others are index 0.
  SmallVector<int64_t> looped;
  for (auto [i, u] : llvm::enumerate(ubs))
    if (u > 1)
      looped.push_back(i);
  auto body = [&](ImplicitLocOpBuilder &bb, ValueRange loopIvs) {
    SmallVector<Value> ivs(ubs.size(), idx(0));
    for (auto [i, l] : llvm::enumerate(looped))
      ivs[l] = loopIvs[i];
    SmallVector<Value> iv(p.sizes.size(), Value());
    for (auto [i, d] : llvm::enumerate(p.batch))
      iv[d] = ivs[i];
    emitTile(bb, iv, ivs[ivs.size() - 1], ivs[ivs.size() - 2]);
  };
  SmallVector<Value> lbs, ubv, steps;
  for (int64_t l : looped) {
    lbs.push_back(idx(0));
    ubv.push_back(idx(ubs[l]));
    steps.push_back(idx(1));
  }
  if (parallel) {
    scf::ParallelOp::create(
        b, lbs, ubv, steps,
        [&](OpBuilder &ob, Location loc, ValueRange ivs) {
          ImplicitLocOpBuilder pb(loc, ob);
          body(pb, ivs);
        });
  } else {
    // A nest of scf.for loops.
    std::function<void(ImplicitLocOpBuilder &, size_t, SmallVector<Value>)>
        nest = [&](ImplicitLocOpBuilder &nb, size_t level,
                   SmallVector<Value> ivs) {
          if (level == looped.size())
            return body(nb, ivs);
          scf::ForOp::create(
              nb, lbs[level], ubv[level], steps[level], ValueRange(),
              [&](OpBuilder &ob, Location loc, Value i, ValueRange) {
                ImplicitLocOpBuilder fb(loc, ob);
                SmallVector<Value> inner = ivs;
                inner.push_back(i);
                nest(fb, level + 1, inner);
                scf::YieldOp::create(fb);
              });
        };
    nest(b, 0, {});
  }
  return scope.finish(out)[0];
}

struct KVShiftVectorizeContractionsPass
    : kvshift::impl::KVShiftVectorizeContractionsBase<
          KVShiftVectorizeContractionsPass> {
  using Base::Base;
  void runOnOperation() override {
    if (rowTileRows < 1 || rowTileVectors < 1 ||
        rowTileRows * rowTileVectors > 24) {
      getOperation()->emitError()
          << "kvshift-vectorize-contractions: row-tile-rows x "
             "row-tile-vectors must be between 1 and 24 (accumulator "
             "registers), found "
          << rowTileRows.getValue() << " x " << rowTileVectors.getValue();
      return signalPassFailure();
    }
    if (dotTileRows < 1 || dotTileCols < 1 ||
        dotTileRows * dotTileCols > 16) {
      getOperation()->emitError()
          << "kvshift-vectorize-contractions: dot-tile-rows x dot-tile-cols "
             "must be between 1 and 16, found "
          << dotTileRows.getValue() << " x " << dotTileCols.getValue();
      return signalPassFailure();
    }
    TileOptions tiles{rowTileRows, rowTileVectors, dotTileRows, dotTileCols,
                      minParallelWork};
    SmallVector<linalg::LinalgOp> ops;
    getOperation()->walk([&](linalg::LinalgOp op) { ops.push_back(op); });
    IRRewriter rewriter(&getContext());
    // Ops that update a function argument in place are left alone.
    llvm::DenseSet<Operation *> updates;
    getOperation()->walk([&](FunctionOpInterface func) {
      llvm::DenseSet<Operation *> ops = kvshift::opsUpdatingArguments(func);
      updates.insert(ops.begin(), ops.end());
    });
    for (linalg::LinalgOp op : ops) {
      // Transposes of the inputs are folded when the kernels can read the
      // untransposed layout (both, else one, else neither).
      std::optional<Plan> plan;
      for (auto [foldA, foldB] : {std::pair{true, true}, {true, false},
                                  {false, true}, {false, false}})
        if (!plan)
          plan = analyse(op, foldA, foldB);
      if (!plan || updates.contains(op))
        continue;
      rewriter.setInsertionPoint(op);
      ImplicitLocOpBuilder b(op->getLoc(), rewriter);
      ContractionEmitter emitter(b, *plan, tiles);
      Value result = emitter.emit();
      rewriter.replaceOp(op, result);
    }
    // The folded transposes and fills, when nothing else uses them.
    SmallVector<Operation *> dead;
    getOperation()->walk([&](linalg::LinalgOp op) {
      if (op.hasPureTensorSemantics() && op->use_empty() &&
          isa<linalg::TransposeOp, linalg::FillOp>(op.getOperation()))
        dead.push_back(op);
    });
    // Erase in reverse walk order so that users go before producers.
    for (Operation *op : llvm::reverse(dead))
      if (op->use_empty())
        rewriter.eraseOp(op);
  }
};

} // namespace
