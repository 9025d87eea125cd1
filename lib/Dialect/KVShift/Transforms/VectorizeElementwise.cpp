//===- VectorizeElementwise.cpp - 16-lane elementwise generics for the CPU ===//
//
// Lowers elementwise linalg.generic ops on static tensors (all iterators
// parallel, arith/math bodies) to loops over 16-lane vectors on buffers:
// the body is cloned once with vector types. See the pass description in
// Passes.td.
//
//===----------------------------------------------------------------------===//

#include "kvshift/Dialect/KVShift/Transforms/KernelScope.h"
#include "kvshift/Dialect/KVShift/Transforms/Passes.h"
#include "kvshift/Dialect/KVShift/Transforms/VectorKernels.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/ImplicitLocOpBuilder.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/IR/PatternMatch.h"

#include <limits>

namespace mlir::kvshift {
#define GEN_PASS_DEF_KVSHIFTVECTORIZEELEMENTWISE
#include "kvshift/Dialect/KVShift/Transforms/Passes.h.inc"
} // namespace mlir::kvshift

using namespace mlir;
using mlir::kvshift::KernelScope;

namespace {

constexpr int64_t kLanes = kvshift::kVectorLanes;

/// An operand as the loop nest reads it: a buffer without its unit
/// dimensions, whose dimensions follow the loop dimensions `dims`.
using Operand = kvshift::LoopOperand;

/// Element types the loop nest loads and stores as vectors (i1 is stored
/// one byte per element but an i1 vector is bit-packed: excluded).
static bool isVectorElement(Type t) {
  if (isa<FloatType>(t))
    return true;
  auto it = dyn_cast<IntegerType>(t);
  return it && it.getWidth() >= 8;
}

static std::optional<Operand> makeOperand(Value tensor, AffineMap map) {
  auto type = dyn_cast<RankedTensorType>(tensor.getType());
  if (!type || !type.hasStaticShape() ||
      map.getNumResults() != type.getRank() ||
      !isVectorElement(type.getElementType()))
    return std::nullopt;
  Operand o;
  o.tensor = tensor;
  o.elt = type.getElementType();
  ReassociationIndices group;
  for (auto [i, expr] : llvm::enumerate(map.getResults())) {
    group.push_back(i);
    if (type.getDimSize(i) == 1) {
      // A unit dimension: any loop dimension of size 1, or the constant 0
      // of a broadcast map.
      auto cst = dyn_cast<AffineConstantExpr>(expr);
      if (!isa<AffineDimExpr>(expr) && !(cst && cst.getValue() == 0))
        return std::nullopt;
      continue;
    }
    auto dim = dyn_cast<AffineDimExpr>(expr);
    if (!dim)
      return std::nullopt;
    o.dims.push_back(dim.getPosition());
    o.collapse.push_back(group);
    group.clear();
  }
  if (!group.empty() && !o.collapse.empty())
    o.collapse.back().append(group.begin(), group.end());
  // A loop dimension may appear only once.
  SmallVector<int64_t> sorted(o.dims);
  llvm::sort(sorted);
  if (std::adjacent_find(sorted.begin(), sorted.end()) != sorted.end())
    return std::nullopt;
  return o;
}

/// True if every op of the body can be cloned with vector types.
static bool isVectorizableBody(linalg::GenericOp op) {
  for (Operation &o : op.getBody()->without_terminator()) {
    if (!isa<arith::ArithDialect, math::MathDialect>(o.getDialect()))
      return false;
    if (o.getNumRegions() != 0 || o.getNumResults() != 1)
      return false;
    if (isa<arith::ConstantOp>(o)) {
      if (!isa<FloatAttr, IntegerAttr>(cast<arith::ConstantOp>(o).getValue()))
        return false;
      continue;
    }
    if (!OpTrait::hasElementwiseMappableTraits(&o))
      return false;
    // llvm.intr.powi takes a scalar exponent: a vector one does not lower.
    if (isa<math::FPowIOp, math::IPowIOp>(o))
      return false;
    for (Type t : llvm::concat<Type>(o.getOperandTypes(), o.getResultTypes()))
      if (!isa<FloatType, IntegerType>(t))
        return false;
  }
  return true;
}

struct Plan {
  linalg::GenericOp op;
  SmallVector<Operand> ins;
  Operand out;
  SmallVector<int64_t> sizes;
  /// The loop dimension along the vectors: the output's innermost one, or
  /// the reduction dimension.
  int64_t v;
  /// For a reduction: the op combining the output with the reduced value
  /// (yielded by the body), its vector.reduction kind and identity.
  Operation *combine = nullptr;
  vector::CombiningKind kind = vector::CombiningKind::ADD;
  double identity = 0;
};

/// The body of a reduction along one dimension: yield(op(x, out)) (either
/// order) with op associative and commutative, `out` used only there.
static bool matchReduction(linalg::GenericOp op, Plan &p) {
  Block *body = op.getBody();
  BlockArgument out = body->getArgument(op.getNumDpsInputs());
  Operation *c = body->getTerminator()->getOperand(0).getDefiningOp();
  if (!c || c->getBlock() != body || c->getNumOperands() != 2 ||
      !out.hasOneUse() || out.getUses().begin()->getOwner() != c ||
      c->getOperand(0) == c->getOperand(1))
    return false;
  double inf = std::numeric_limits<double>::infinity();
  if (isa<arith::AddFOp>(c)) {
    p.kind = vector::CombiningKind::ADD;
    p.identity = -0.0;
  } else if (isa<arith::MulFOp>(c)) {
    p.kind = vector::CombiningKind::MUL;
    p.identity = 1.0;
  } else if (isa<arith::MaxNumFOp>(c)) {
    p.kind = vector::CombiningKind::MAXNUMF;
    p.identity = -inf;
  } else if (isa<arith::MaximumFOp>(c)) {
    p.kind = vector::CombiningKind::MAXIMUMF;
    p.identity = -inf;
  } else if (isa<arith::MinNumFOp>(c)) {
    p.kind = vector::CombiningKind::MINNUMF;
    p.identity = inf;
  } else if (isa<arith::MinimumFOp>(c)) {
    p.kind = vector::CombiningKind::MINIMUMF;
    p.identity = inf;
  } else {
    return false;
  }
  p.combine = c;
  return true;
}

static std::optional<Plan> analyse(linalg::GenericOp op, int64_t minLength) {
  if (!op.hasPureTensorSemantics() || op.getNumDpsInits() != 1 ||
      op->getNumResults() != 1)
    return std::nullopt;
  Plan p;
  p.op = op;
  p.sizes = op.getStaticLoopRanges();
  if (llvm::any_of(p.sizes, ShapedType::isDynamic))
    return std::nullopt;
  // All parallel, or one (non-unit) reduction dimension.
  int64_t reduction = -1;
  for (auto [d, t] : llvm::enumerate(op.getIteratorTypesArray())) {
    if (t == utils::IteratorType::parallel || p.sizes[d] == 1)
      continue;
    if (reduction >= 0)
      return std::nullopt;
    reduction = d;
  }
  SmallVector<AffineMap> maps = op.getIndexingMapsArray();
  for (AffineMap map : maps)
    if (!map.isProjectedPermutation(/*allowZeroInResults=*/true))
      return std::nullopt;
  auto out = makeOperand(op.getDpsInitOperand(0)->get(), maps.back());
  if (!out || (out->dims.empty() && reduction < 0))
    return std::nullopt;
  p.out = *out;
  if (reduction >= 0) {
    if (p.out.has(reduction) || !isa<FloatType>(p.out.elt) ||
        !matchReduction(op, p))
      return std::nullopt;
    p.v = reduction;
  } else {
    p.v = p.out.dims.back();
  }
  if (p.sizes[p.v] < minLength)
    return std::nullopt;
  // Every other non-unit loop dimension indexes the output.
  for (int64_t d = 0, e = p.sizes.size(); d < e; ++d)
    if (d != reduction && p.sizes[d] != 1 && !p.out.has(d))
      return std::nullopt;
  for (OpOperand *in : op.getDpsInputOperands()) {
    auto o = makeOperand(in->get(), maps[in->getOperandNumber()]);
    // Read along the vectors contiguously, or not at all (broadcast).
    if (!o || (o->has(p.v) && o->dims.back() != p.v))
      return std::nullopt;
    p.ins.push_back(*o);
  }
  if (!isVectorizableBody(op))
    return std::nullopt;
  return p;
}

class ElementwiseEmitter {
public:
  ElementwiseEmitter(ImplicitLocOpBuilder &b, const Plan &p)
      : b(b), pool(p.op), p(p) {}
  Value emit();

private:
  ImplicitLocOpBuilder &b;
  /// Constants, at the start of the function body.
  kvshift::ConstantPool pool;
  const Plan &p;
  SmallVector<Value> inBufs;
  Value outBuf, initBuf;

  ImplicitLocOpBuilder &consts() { return pool.at(); }
  Value idx(int64_t v) { return pool.index(v); }
  VectorType vec(Type elt) { return VectorType::get({kLanes}, elt); }
  Value mask(int64_t lanes) { return pool.mask(lanes); }
  /// The kernel's buffer of `tensor` with `o`'s unit dimensions dropped.
  Value buffer(KernelScope &scope, Value tensor, const Operand &o) {
    return o.collapsed(b, scope.buffer(tensor));
  }
  Value load(ImplicitLocOpBuilder &bb, Value buf, const Operand &o,
             ArrayRef<Value> iv, int64_t lanes) {
    SmallVector<Value> ix = o.indices(iv);
    if (lanes >= kLanes)
      return vector::LoadOp::create(bb, vec(o.elt), buf, ix);
    return vector::MaskedLoadOp::create(bb, vec(o.elt), buf, ix, mask(lanes),
                                        pool.zeros(o.elt));
  }
  /// One chunk of `lanes` (<= 16) elements along the vector dimension:
  /// the value the body yields (for a reduction, the value it combines with
  /// the output), as a vector.
  Value emitChunk(ImplicitLocOpBuilder &bb, ArrayRef<Value> iv, int64_t lanes);
  void emitElementwise(ImplicitLocOpBuilder &bb, ArrayRef<Value> iv);
  void emitReduction(ImplicitLocOpBuilder &bb, ArrayRef<Value> iv);
};

Value ElementwiseEmitter::emitChunk(ImplicitLocOpBuilder &bb,
                                    ArrayRef<Value> iv, int64_t lanes) {
  Block *body = linalg::GenericOp(p.op).getBody();
  IRMapping map;
  for (auto [i, o] : llvm::enumerate(p.ins)) {
    BlockArgument arg = body->getArgument(i);
    if (arg.use_empty())
      continue;
    Value x;
    if (o.has(p.v)) {
      x = load(bb, inBufs[i], o, iv, lanes);
    } else {
      SmallVector<Value> ix = o.indices(iv);
      x = vector::BroadcastOp::create(
          bb, vec(o.elt), memref::LoadOp::create(bb, inBufs[i], ix));
    }
    map.map(arg, x);
  }
  BlockArgument outArg = body->getArgument(p.ins.size());
  if (!outArg.use_empty() && !p.combine)
    map.map(outArg, load(bb, initBuf, p.out, iv, lanes));
  for (Operation &o : body->without_terminator()) {
    if (&o == p.combine)
      continue;
    if (auto c = dyn_cast<arith::ConstantOp>(o)) {
      auto type = vec(c.getType());
      map.map(c.getResult(),
              arith::ConstantOp::create(
                  consts(), type,
                  DenseElementsAttr::get(type, cast<TypedAttr>(c.getValue()))));
      continue;
    }
    // Scalars defined outside the op are broadcast.
    for (Value operand : o.getOperands())
      if (!map.contains(operand))
        map.map(operand,
                vector::BroadcastOp::create(bb, vec(operand.getType()), operand));
    Operation *clone = bb.clone(o, map);
    clone->getResult(0).setType(vec(o.getResult(0).getType()));
  }
  Value yielded = body->getTerminator()->getOperand(0);
  if (p.combine) {
    BlockArgument outArg = body->getArgument(p.ins.size());
    yielded = p.combine->getOperand(0) == outArg ? p.combine->getOperand(1)
                                                 : p.combine->getOperand(0);
  }
  Value result = map.lookupOrDefault(yielded);
  // A block argument that was not loaded, or a value from outside the op.
  if (!isa<VectorType>(result.getType()))
    result = vector::BroadcastOp::create(bb, vec(result.getType()), result);
  return result;
}

void ElementwiseEmitter::emitElementwise(ImplicitLocOpBuilder &bb,
                                         ArrayRef<Value> iv) {
  int64_t len = p.sizes[p.v], full = len / kLanes * kLanes;
  auto store = [&](ImplicitLocOpBuilder &sb, ArrayRef<Value> x,
                   int64_t lanes) {
    Value result = emitChunk(sb, x, lanes);
    SmallVector<Value> ix = p.out.indices(x);
    if (lanes >= kLanes)
      vector::StoreOp::create(sb, result, outBuf, ix);
    else
      vector::MaskedStoreOp::create(sb, outBuf, ix, mask(lanes), result);
  };
  if (full > 0)
    scf::ForOp::create(bb, idx(0), idx(full), idx(kLanes), ValueRange(),
                       [&](OpBuilder &ob, Location loc, Value j, ValueRange) {
                         ImplicitLocOpBuilder fb(loc, ob);
                         SmallVector<Value> x(iv);
                         x[p.v] = j;
                         store(fb, x, kLanes);
                         scf::YieldOp::create(fb);
                       });
  if (len > full) {
    SmallVector<Value> x(iv);
    x[p.v] = idx(full);
    store(bb, x, len - full);
  }
}

void ElementwiseEmitter::emitReduction(ImplicitLocOpBuilder &bb,
                                       ArrayRef<Value> iv) {
  int64_t len = p.sizes[p.v], full = len / kLanes * kLanes;
  Type elt = p.out.elt;
  VectorType type = vec(elt);
  Value identity = arith::ConstantOp::create(
      consts(), type,
      DenseElementsAttr::get(type, FloatAttr::get(elt, p.identity)));
  BlockArgument outArg =
      linalg::GenericOp(p.op).getBody()->getArgument(p.ins.size());
  // acc = op(x, acc) lane by lane, as the body combines x with the output.
  auto combine = [&](ImplicitLocOpBuilder &cbld, Value x, Value acc) {
    IRMapping map;
    map.map(outArg, acc);
    Value other = p.combine->getOperand(0) == outArg
                      ? p.combine->getOperand(1)
                      : p.combine->getOperand(0);
    map.map(other, x);
    Operation *clone = cbld.clone(*p.combine, map);
    clone->getResult(0).setType(acc.getType());
    return clone->getResult(0);
  };
  Value acc = identity;
  if (full > 0) {
    auto loop = scf::ForOp::create(
        bb, idx(0), idx(full), idx(kLanes), ValueRange{identity},
        [&](OpBuilder &ob, Location loc, Value j, ValueRange in) {
          ImplicitLocOpBuilder fb(loc, ob);
          SmallVector<Value> x(iv);
          x[p.v] = j;
          Value next = combine(fb, emitChunk(fb, x, kLanes), in[0]);
          scf::YieldOp::create(fb, next);
        });
    acc = loop.getResult(0);
  }
  if (len > full) {
    SmallVector<Value> x(iv);
    x[p.v] = idx(full);
    Value chunk = emitChunk(bb, x, len - full);
    chunk = arith::SelectOp::create(bb, mask(len - full), chunk, identity);
    acc = combine(bb, chunk, acc);
  }
  // Lanes combined in any order (reassoc): sums are not bit-identical to
  // the sequential loop's.
  arith::FastMathFlags fm = p.kind == vector::CombiningKind::ADD ||
                                    p.kind == vector::CombiningKind::MUL
                                ? arith::FastMathFlags::reassoc
                                : arith::FastMathFlags::none;
  Value total = vector::ReductionOp::create(bb, p.kind, acc, fm);
  SmallVector<Value> ix = p.out.indices(iv);
  Value init = memref::LoadOp::create(bb, initBuf, ix);
  memref::StoreOp::create(bb, combine(bb, total, init), outBuf, ix);
}

Value ElementwiseEmitter::emit() {
  auto ct = cast<RankedTensorType>(p.op->getResult(0).getType());
  Block *body = linalg::GenericOp(p.op).getBody();
  bool readsInit = !body->getArgument(p.ins.size()).use_empty();
  SmallVector<Value> inputs;
  for (const Operand &o : p.ins)
    inputs.push_back(o.tensor);
  if (readsInit)
    inputs.push_back(p.out.tensor);
  KernelScope scope(b, inputs, SmallVector<Type>{ct});
  for (const Operand &o : p.ins)
    inBufs.push_back(buffer(scope, o.tensor, o));
  if (readsInit)
    initBuf = buffer(scope, p.out.tensor, p.out);
  auto outType = MemRefType::get(ct.getShape(), ct.getElementType());
  Value out = memref::AllocOp::create(b, outType);
  outBuf = p.out.collapsed(b, out);

  // Loops over the output's dimensions, except the vector one.
  SmallVector<int64_t> outer(p.out.dims.begin(), p.out.dims.end());
  if (!p.combine)
    outer.pop_back();
  std::function<void(ImplicitLocOpBuilder &, size_t, SmallVector<Value>)>
      nest = [&](ImplicitLocOpBuilder &nb, size_t level,
                 SmallVector<Value> iv) {
        if (level == outer.size())
          return p.combine ? emitReduction(nb, iv) : emitElementwise(nb, iv);
        scf::ForOp::create(
            nb, idx(0), idx(p.sizes[outer[level]]), idx(1), ValueRange(),
            [&](OpBuilder &ob, Location loc, Value i, ValueRange) {
              ImplicitLocOpBuilder fb(loc, ob);
              SmallVector<Value> x = iv;
              x[outer[level]] = i;
              nest(fb, level + 1, x);
              scf::YieldOp::create(fb);
            });
      };
  nest(b, 0, SmallVector<Value>(p.sizes.size(), Value()));
  return scope.finish(out)[0];
}

struct KVShiftVectorizeElementwisePass
    : kvshift::impl::KVShiftVectorizeElementwiseBase<
          KVShiftVectorizeElementwisePass> {
  using Base::Base;
  void runOnOperation() override {
    SmallVector<linalg::GenericOp> ops;
    getOperation()->walk([&](linalg::GenericOp op) { ops.push_back(op); });
    IRRewriter rewriter(&getContext());
    // Ops that update a function argument in place are left alone.
    llvm::DenseSet<Operation *> updates;
    getOperation()->walk([&](FunctionOpInterface func) {
      llvm::DenseSet<Operation *> ops = kvshift::opsUpdatingArguments(func);
      updates.insert(ops.begin(), ops.end());
    });
    for (linalg::GenericOp op : ops) {
      std::optional<Plan> plan = analyse(op, minLength);
      if (!plan || updates.contains(op))
        continue;
      rewriter.setInsertionPoint(op);
      ImplicitLocOpBuilder b(op->getLoc(), rewriter);
      ElementwiseEmitter emitter(b, *plan);
      rewriter.replaceOp(op, emitter.emit());
    }
  }
};

} // namespace
