//===- FuseAttentionGPU.cpp - fused KV-shift flash attention for NVIDIA ---===//
//
// --kvshift-fuse-attention-gpu lowers kvshift.kv_shift_attention (forward,
// on tensors) to one fused flash-attention kernel (a gpu.func in the
// gpu.module @kvshift_kernels) and a call to a launcher declaration;
// --kvshift-gpu-launchers writes the launchers' host code (device buffers,
// copies, launch) after bufferization. See the pass descriptions in
// Passes.td and docs/GPU.md for the design.
//
// Tensor-core kernel (f16, bf16), one thread block per (batch, query head,
// query tile of BM = 16 * warps rows), warp w owning query rows
// [16 w, 16 w + 16) of the tile:
//   shared KS [BN, DS]      the query tile (BN rows at a time, once), then
//                           raw key tiles (cp.async)
//   shared VS [BN + 1, DS]  raw value tiles with the row before the tile
//   (the key mix is applied to the scores, the value mix to the
//   probabilities; see emitTensorCoreBody)
//   DS = Dp + 8 (Dp = D rounded up to 16; 16 bytes of padding per row keep
//   ldmatrix free of bank conflicts).
// Registers per thread (lane = 4 g + t):
//   Q  [Dp/16][4]  A fragments of the warp's 16 query rows (ldmatrix)
//   S  [BN/8][4]   scores of one key tile (mma.sync m16n8k16 accumulators)
//   O  [Dp/8][4]   output accumulator, rows g and g + 8, f32
//   m, l [2]       running max (log2 units) and partial running sum of rows
//                  g and g + 8
// Each accumulator quad (c0, c1, c2, c3) holds (row g, col 2t), (g, 2t+1),
// (g+8, 2t), (g+8, 2t+1) of a 16x8 block.
//
// SIMT kernel (f32), one thread block per (batch, query head, query tile of
// 8 * warps rows), four consecutive lanes sharing a query row, each owning
// columns {16 i + 4 p + e}: the query row and the output accumulator are in
// registers, scores of one key tile in registers, mixed K/V tiles in shared
// memory ([BN, Dp] f32 each).
//
//===----------------------------------------------------------------------===//

#include "kvshift/Dialect/KVShift/IR/KVShiftOps.h"
#include "kvshift/Dialect/KVShift/Transforms/KernelScope.h"
#include "kvshift/Dialect/KVShift/Transforms/Passes.h"
#include "kvshift/Dialect/KVShift/Transforms/SharedMemory.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/NVGPU/IR/NVGPUDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/ImplicitLocOpBuilder.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/IR/SymbolTable.h"

#include <cmath>
#include <limits>

namespace mlir::kvshift {
#define GEN_PASS_DEF_KVSHIFTFUSEATTENTIONGPU
#define GEN_PASS_DEF_KVSHIFTGPULAUNCHERS
#include "kvshift/Dialect/KVShift/Transforms/Passes.h.inc"
} // namespace mlir::kvshift

using namespace mlir;
using namespace mlir::kvshift;

namespace {

constexpr llvm::StringLiteral kKernelModuleName = "kvshift_kernels";
// Attributes of a launcher declaration, consumed by --kvshift-gpu-launchers.
constexpr llvm::StringLiteral kLauncherKernelAttr = "kvshift.gpu_kernel";
constexpr llvm::StringLiteral kLauncherBlockMAttr = "kvshift.gpu_block_m";
constexpr llvm::StringLiteral kLauncherThreadsAttr = "kvshift.gpu_threads";
// With RoPE: the pre-pass kernel and its work items per row.
constexpr llvm::StringLiteral kLauncherRopeKernelAttr =
    "kvshift.gpu_rope_kernel";
constexpr llvm::StringLiteral kLauncherRopeItemsAttr =
    "kvshift.gpu_rope_items_per_row";
// kv_cache_attention: the decode and merge kernels, cache rows per split,
// query rows per block.
constexpr llvm::StringLiteral kLauncherDecodeKernelAttr =
    "kvshift.gpu_decode_kernel";
constexpr llvm::StringLiteral kLauncherMergeKernelAttr =
    "kvshift.gpu_merge_kernel";
constexpr llvm::StringLiteral kLauncherDecodeSplitAttr =
    "kvshift.gpu_decode_split";
constexpr llvm::StringLiteral kLauncherDecodeRowsAttr =
    "kvshift.gpu_decode_rows";
// kv_cache_append (append-kernel): its kernel.
constexpr llvm::StringLiteral kLauncherAppendKernelAttr =
    "kvshift.gpu_append_kernel";
// Its threads per new row (columns, or pairs of columns with RoPE).
constexpr llvm::StringLiteral kLauncherAppendItemsAttr =
    "kvshift.gpu_append_items_per_row";
// kv_shift_attention_grad: its four kernels, in launch order (grad_q,
// grad_kv, grad_mix, grad_w), and the query / key rows of a grad_q /
// grad_kv block.
constexpr llvm::StringLiteral kLauncherGradKernelsAttr =
    "kvshift.gpu_grad_kernels";
constexpr llvm::StringLiteral kLauncherGradQRowsAttr =
    "kvshift.gpu_grad_q_rows";
constexpr llvm::StringLiteral kLauncherGradKVRowsAttr =
    "kvshift.gpu_grad_kv_rows";
// kv_shift_attention_grad_with_lse: the kernel that turns the forward's
// statistics into grad_q's and grad_kv's (launched first).
constexpr llvm::StringLiteral kLauncherGradStatsKernelAttr =
    "kvshift.gpu_grad_stats_kernel";
constexpr int64_t kSIMTLanesPerRow = 4;
constexpr double kLog2E = 1.4426950408889634;
// lazy-rescale: the growth of a row max (log2 units) that makes a warp
// rescale its accumulators; below it, P stays under 2^8.
constexpr double kLazyRescaleLog2 = 8.0;

/// Kernel parameters fixed at compile time.
struct KernelConfig {
  Type elt;           // f16, bf16 or f32
  bool tensorCores;   // f16/bf16: mma.sync; f32: SIMT
  bool causal;
  double scaleLog2;   // scale * log2(e), folded into exp2
  int64_t warps;
  int64_t blockM;     // query rows per block
  int64_t blockN;     // keys per key tile
  int64_t d, dPadded; // head dimension, rounded up to 16
  int64_t rowStride;  // shared-memory row stride in elements
  int64_t vecWidth;   // elements per 16-byte global access
  /// RoPE after the mix: the pre-pass kernel (RopeKernelEmitter) rotates q
  /// and mixes, then rotates k; the attention kernel reads those keys as
  /// they are.
  std::optional<double> ropeTheta;
  /// Forward: the kernel also writes each query row's natural-log
  /// log-sum-exp (kv_shift_attention_with_lse; -inf for a row that sees no
  /// key) to an f32 buffer after the sizes.
  bool withLse = false;
  /// Backward: the forward's statistics are given
  /// (kv_shift_attention_grad_with_lse). A stats kernel writes lse (log2
  /// units) and delta = rowsum(dO * O) from them, and grad_q reads those
  /// instead of recomputing the forward.
  bool statsGiven = false;
  /// Forward on tensor cores (`shifted-values`): the value tile of key tile
  /// [j0, j0 + BN) holds rows [j0 - 1, j0 + BN - 1), and P' = b2 p_j +
  /// b1 p_{j-1} against it (the previous tile's last p carried); the last
  /// key's row is added once after the loop. Otherwise the tile holds rows
  /// [j0 - 1, j0 + BN) and its halo row is added by FMAs every tile.
  bool shiftedValues = false;
  /// Forward on tensor cores (`lazy-rescale`): a warp rescales O only when
  /// some row's max grows by more than kLazyRescaleLog2.
  bool lazyRescale = false;
  /// Forward on tensor cores for sm_90a (`wgmma`): S = Q K^T and O += P V
  /// as warpgroup MMAs (wgmma.mma_async m64nNk16, A from registers, B from
  /// shared memory by descriptor). The key and value tiles are stored as
  /// 8 x 16-byte core matrices (no swizzle); implies shifted value windows.
  bool wgmma = false;
  /// wgmma (`wgmma-overlap`): the key loop is software-pipelined. Iteration
  /// j issues S = Q K^T of tile j + 1 and O += P'_j V_j asynchronously,
  /// waits for S only, runs tile j + 1's softmax while O's MMAs are in
  /// flight, then waits for O and rescales it. The value windows alternate
  /// between the two halves of a double-sized buffer.
  bool wgmmaOverlap = false;
  /// grad_q with wgmma (given the forward's statistics): a third tile, the
  /// key window [j0 - 1, j0 + BN - 1) that dq += dS' K reads (MN-major).
  bool wgmmaKeyWindow = false;
  /// The backward's tiles double-buffered (`grad-prefetch`): grad_kv has
  /// two q and two dO tiles; grad_q two sets of its second pass's tiles
  /// (with wgmmaKeyWindow its three, on mma.sync the value tile and the
  /// key window); tile t's copies are issued before tile t - 1's products
  /// and waited for at tile t.
  bool gradPrefetch = false;
  /// The forward on mma.sync (`kv-prefetch`): two slots of its key and
  /// value tiles, BN + 1 rows apart in both buffers; tile t's copies are
  /// issued at the start of tile t - 1 and waited for at tile t.
  bool kvPrefetch = false;
  int64_t threads() const { return 32 * warps; }
  /// wgmma: 16-byte chunks per row (D / 8 for f16/bf16).
  int64_t chunksPerRow() const { return d / vecWidth; }
  /// Pairs of 16-byte chunks (columns [c, c + vecWidth) and the same
  /// columns + D/2) per row: the unit of work of the rotation.
  int64_t ropePairChunks() const { return d / 2 / vecWidth; }
  /// The shared memory of the forward's and grad_q's tiles (of a forward
  /// or qConfig configuration; grad_kv's tiles are sized in configureGrad).
  int64_t sharedBytes() const {
    int64_t bytes = elt.getIntOrFloatBitWidth() / 8;
    // wgmma: the key tile and the value window, BN rows each, unpadded
    // (wgmma-overlap: two value windows).
    if (wgmma)
      return (wgmmaOverlap || wgmmaKeyWindow ? 3 : 2) * blockN * d * bytes *
             (wgmmaKeyWindow && gradPrefetch ? 2 : 1);
    // Tensor cores: the key tile, and the raw value tile with its halo row
    // (the query tile is staged through the key tile's buffer); grad_q
    // with grad-prefetch and the forward with kv-prefetch: two of each,
    // BN + 1 rows apart in both buffers.
    if (tensorCores)
      return (gradPrefetch || kvPrefetch ? 4 * (blockN + 1)
                                         : blockN + blockN + 1) *
             rowStride * bytes;
    return 2 * blockN * rowStride * bytes;
  }
};

/// Builders shared by the kernels' emitters: constants (at the start of the
/// entry block), integer and float arithmetic, structured control flow,
/// 16-byte global loads, and the RoPE angles.
class EmitterBase {
protected:
  EmitterBase(gpu::GPUFuncOp func, const KernelConfig &cfg)
      : cfg(cfg), ctx(func.getContext()),
        b(func.getLoc(), &func.getBody().front(),
          func.getBody().front().end()),
        cb(func.getLoc(), ctx), entry(&func.getBody().front()),
        f32(Float32Type::get(ctx)), f64(Float64Type::get(ctx)),
        i32(IntegerType::get(ctx, 32)) {}

  const KernelConfig &cfg;
  MLIRContext *ctx;
  ImplicitLocOpBuilder b;  // the current insertion point
  ImplicitLocOpBuilder cb; // constants, at the start of the entry block
  Block *entry;
  Type f32, f64, i32;

  // --- constants and small builders --------------------------------------
  ImplicitLocOpBuilder &consts() {
    cb.setInsertionPointToStart(entry);
    return cb;
  }
  Value idx(int64_t c) { return arith::ConstantIndexOp::create(consts(), c); }
  Value i32c(int64_t c) {
    return arith::ConstantIntOp::create(consts(), i32, c);
  }
  Value f32c(double c) {
    return arith::ConstantOp::create(consts(), f32,
                                     consts().getF32FloatAttr(c));
  }
  Value f64c(double c) {
    return arith::ConstantOp::create(consts(), f64,
                                     consts().getF64FloatAttr(c));
  }
  Value zeroVec(VectorType t) {
    return arith::ConstantOp::create(
        consts(), t,
        DenseElementsAttr::get(t, consts().getFloatAttr(t.getElementType(),
                                                        0.0)));
  }
  Value add(Value x, Value y) { return arith::AddIOp::create(b, x, y); }
  Value sub(Value x, Value y) { return arith::SubIOp::create(b, x, y); }
  Value mul(Value x, Value y) { return arith::MulIOp::create(b, x, y); }
  Value divu(Value x, Value y) { return arith::DivUIOp::create(b, x, y); }
  Value remu(Value x, Value y) { return arith::RemUIOp::create(b, x, y); }
  Value cmpi(arith::CmpIPredicate p, Value x, Value y) {
    return arith::CmpIOp::create(b, p, x, y);
  }
  Value andi(Value x, Value y) { return arith::AndIOp::create(b, x, y); }
  Value ori(Value x, Value y) { return arith::OrIOp::create(b, x, y); }
  Value select(Value c, Value x, Value y) {
    return arith::SelectOp::create(b, c, x, y);
  }
  Value fadd(Value x, Value y) { return arith::AddFOp::create(b, x, y); }
  Value fsub(Value x, Value y) { return arith::SubFOp::create(b, x, y); }
  Value fmul(Value x, Value y) { return arith::MulFOp::create(b, x, y); }
  /// x * y + z as one fma.rn (llvm.intr.fma: no libdevice call).
  Value fma(Value x, Value y, Value z) {
    return LLVM::FMAOp::create(b, x, y, z);
  }
  Value fmax(Value x, Value y) { return arith::MaximumFOp::create(b, x, y); }
  Value fmin(Value x, Value y) { return arith::MinimumFOp::create(b, x, y); }
  Value intrinsic(StringRef name, Value x) {
    return LLVM::CallIntrinsicOp::create(b, x.getType(),
                                         b.getStringAttr(name), ValueRange{x})
        ->getResult(0);
  }
  Value exp2(Value x) { return intrinsic("llvm.nvvm.ex2.approx.ftz.f", x); }
  /// `x` (an index below 2^31) through a `mov` that LLVM may not move or
  /// fold: addresses derived from it are formed where they are used.
  /// Without it, LLVM hoists the loop-invariant shared-memory addresses of
  /// every cp.async of a tile out of the key loop, one 64-bit register each.
  Value opaque(Value x) {
    Value x32 = arith::IndexCastOp::create(b, i32, x);
    Value y = LLVM::InlineAsmOp::create(
                  b, i32, ValueRange{x32}, "mov.b32 $0, $1;", "=r,r",
                  /*has_side_effects=*/true, /*is_align_stack=*/false,
                  LLVM::tailcallkind::TailCallKind::None,
                  LLVM::AsmDialectAttr(), ArrayAttr())
                  .getRes();
    return arith::IndexCastOp::create(b, b.getIndexType(), y);
  }

  /// scf.if with results; both builders return the yielded values.
  SmallVector<Value> ifElse(Value cond, TypeRange types,
                            function_ref<SmallVector<Value>()> then,
                            function_ref<SmallVector<Value>()> otherwise) {
    auto ifOp = scf::IfOp::create(b, types, cond, /*withElseRegion=*/true);
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(ifOp.thenBlock());
    SmallVector<Value> t = then();
    scf::YieldOp::create(b, t);
    b.setInsertionPointToStart(ifOp.elseBlock());
    SmallVector<Value> e = otherwise();
    scf::YieldOp::create(b, e);
    return SmallVector<Value>(ifOp.getResults().begin(),
                              ifOp.getResults().end());
  }
  void ifThen(Value cond, function_ref<void()> then) {
    auto ifOp = scf::IfOp::create(b, cond, /*withElseRegion=*/false);
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPoint(ifOp.thenBlock()->getTerminator());
    then();
  }

  // --- global loads --------------------------------------------------------
  VectorType chunkType(Type et) const {
    return VectorType::get({cfg.vecWidth}, et);
  }

  /// Loads elements [col0, col0 + vecWidth) of the row starting at flat
  /// offset `rowBase` of `mem`; columns >= D read as zero. With D a
  /// multiple of vecWidth this is one aligned 16-byte load (guarded only
  /// when D is not a multiple of 16); otherwise element by element.
  Value loadChunk(Value mem, Value rowBase, Value col0) {
    VectorType vt = chunkType(cfg.elt);
    if (cfg.d % cfg.vecWidth == 0) {
      auto load = [&]() -> SmallVector<Value> {
        return {vector::LoadOp::create(b, vt, mem,
                                       ValueRange{add(rowBase, col0)},
                                       /*nontemporal=*/false,
                                       llvm::MaybeAlign(16))};
      };
      if (cfg.d == cfg.dPadded)
        return load()[0];
      Value inb = cmpi(arith::CmpIPredicate::ult, col0, idx(cfg.d));
      return ifElse(inb, vt, load, [&]() -> SmallVector<Value> {
        return {zeroVec(vt)};
      })[0];
    }
    Value vec = zeroVec(vt);
    for (int64_t e = 0; e < cfg.vecWidth; ++e) {
      Value col = add(col0, idx(e));
      Value inb = cmpi(arith::CmpIPredicate::ult, col, idx(cfg.d));
      Value x = ifElse(
          inb, cfg.elt,
          [&]() -> SmallVector<Value> {
            return {memref::LoadOp::create(b, mem,
                                           ValueRange{add(rowBase, col)})};
          },
          [&]() -> SmallVector<Value> {
            return {arith::ConstantOp::create(
                b, cfg.elt, b.getFloatAttr(cfg.elt, 0.0))};
          })[0];
      vec = vector::InsertOp::create(b, x, vec, ArrayRef<int64_t>{e});
    }
    return vec;
  }
  /// Elements of a vector, and a vector of elements.
  SmallVector<Value> elements(Value vec) {
    SmallVector<Value> xs;
    int64_t n = cast<VectorType>(vec.getType()).getNumElements();
    for (int64_t e = 0; e < n; ++e)
      xs.push_back(vector::ExtractOp::create(b, vec, ArrayRef<int64_t>{e}));
    return xs;
  }
  Value vectorOf(ArrayRef<Value> xs) {
    return vector::FromElementsOp::create(
        b, VectorType::get({(int64_t)xs.size()}, xs[0].getType()), xs);
  }

  // --- warp shuffles and tensor cores --------------------------------------
  Value shuffleXor(Value x, int32_t offset) {
    return gpu::ShuffleOp::create(b, x, offset, 32, gpu::ShuffleMode::XOR)
        .getShuffleResult();
  }
  bool isBF16() const { return cfg.elt.isBF16(); }
  VectorType pairType() const { return VectorType::get({2}, cfg.elt); }
  /// A vector<2xT> as an mma.sync operand: i32 for bf16, itself for f16.
  Value mmaOperand(Value pair) {
    if (!isBF16())
      return pair;
    Value asInt = vector::BitCastOp::create(b, VectorType::get({1}, i32), pair);
    return vector::ExtractOp::create(b, asInt, ArrayRef<int64_t>{0});
  }
  /// D = A B + C for one m16n8k16 block.
  SmallVector<Value> mma(ArrayRef<Value> a, ArrayRef<Value> bOps,
                         ArrayRef<Value> c) {
    auto resType = LLVM::LLVMStructType::getLiteral(ctx, {f32, f32, f32, f32});
    NVVM::MMATypes t = isBF16() ? NVVM::MMATypes::bf16 : NVVM::MMATypes::f16;
    Value res = NVVM::MmaOp::create(
        b, resType, a, bOps, c, ArrayRef<int64_t>{16, 8, 16},
        /*b1Op=*/std::nullopt, /*intOverflow=*/std::nullopt,
        std::array<NVVM::MMATypes, 2>{t, t},
        std::array<NVVM::MMALayout, 2>{NVVM::MMALayout::row,
                                       NVVM::MMALayout::col});
    SmallVector<Value> d;
    for (int64_t i = 0; i < 4; ++i)
      d.push_back(LLVM::ExtractValueOp::create(b, res, ArrayRef<int64_t>{i}));
    return d;
  }
  /// Packs two f32 into one mma.sync operand of type T.
  Value packPair(Value x, Value y) {
    Value v2 = vector::FromElementsOp::create(b, VectorType::get({2}, f32),
                                              ValueRange{x, y});
    return mmaOperand(arith::TruncFOp::create(b, pairType(), v2));
  }

  // --- RoPE ----------------------------------------------------------------
  /// theta^(-2 i / D) in f64 for rotation pair i < D/2 (a dynamic index):
  /// the product of the constants theta^(-2^(b+1) / D) over the bits b set
  /// in i, within a few f64 ulps of pow (no libdevice).
  Value invFreq(Value i) {
    double theta = *cfg.ropeTheta;
    Value acc = f64c(1.0);
    for (int64_t bit = 0; (int64_t(1) << bit) < cfg.d / 2; ++bit) {
      int64_t m = int64_t(1) << bit;
      Value set = cmpi(arith::CmpIPredicate::ne, andi(i, idx(m)), idx(0));
      acc = fmul(acc, select(set, f64c(std::pow(theta, -2.0 * m / cfg.d)),
                             f64c(1.0)));
    }
    return acc;
  }
  /// theta^(-2 (i0 + e) / D) for e = 0 .. n - 1 (n: vecWidth by default).
  SmallVector<Value> invFreqs(Value i0, int64_t n = 0) {
    Value base = invFreq(i0);
    SmallVector<Value> fs;
    for (int64_t e = 0; e < (n ? n : cfg.vecWidth); ++e)
      fs.push_back(e == 0 ? base
                          : fmul(base, f64c(std::pow(*cfg.ropeTheta,
                                                     -2.0 * e / cfg.d))));
    return fs;
  }
  /// cos and sin (f32) of an f64 angle: reduced to [-pi, pi] in f64 (two
  /// FMAs with 2 pi split in two), then cos/sin.approx.ftz.f32 (absolute
  /// error about 2^-21 on [-pi, pi]).
  std::pair<Value, Value> cosSin(Value angle) {
    constexpr double kTwoPiHi = 6.283185307179586;
    constexpr double kTwoPiLo = 2.4492935982947064e-16;
    Value n = LLVM::RintOp::create(b, fmul(angle, f64c(1.0 / kTwoPiHi)));
    Value negN = arith::NegFOp::create(b, n);
    Value r = fma(negN, f64c(kTwoPiHi), angle);
    r = fma(negN, f64c(kTwoPiLo), r);
    Value rf = arith::TruncFOp::create(b, f32, r);
    return {intrinsic("llvm.nvvm.cos.approx.ftz.f", rf),
            intrinsic("llvm.nvvm.sin.approx.ftz.f", rf)};
  }
  /// An index as f64 (signed: positions before the first key are < 0).
  Value indexToF64(Value x) {
    Value i64v = arith::IndexCastOp::create(b, b.getI64Type(), x);
    return arith::SIToFPOp::create(b, f64, i64v);
  }
};

/// The RoPE pre-pass: out = rot(x) row by row, row r of the flattened
/// [rows, D] matrix at position (r mod seq) + posOffset, all in f32 with
/// the angle reduced in f64. With `mix` != 0 (the keys) the row is first
/// mixed with the row before it, w[h, 0] x_r + w[h, 1] x_{r-1} (none for
/// the first row of a sequence), h = (r / seq) mod heads: the attention
/// kernel then reads rot(k^_j, j), mixed and rotated once per key instead of
/// once per query tile. One thread per (row, pair of 16-byte chunks
/// [c, c + vecWidth) and [c + D/2, c + D/2 + vecWidth)). Arguments:
///   x : memref<?xT>, w : memref<?xf32>, out : memref<?xT>,
///   rows, seq, posOffset, heads, mix : index.
class RopeKernelEmitter : EmitterBase {
public:
  static constexpr int64_t kThreads = 256;
  RopeKernelEmitter(gpu::GPUFuncOp func, const KernelConfig &cfg)
      : EmitterBase(func, cfg) {}

  void emit() {
    gpu::GPUFuncOp func = cast<gpu::GPUFuncOp>(entry->getParentOp());
    auto args = func.getArguments();
    Value x = args[0], w = args[1], out = args[2], rows = args[3],
          seq = args[4], posOffset = args[5], heads = args[6], mix = args[7];
    int64_t half = cfg.d / 2, pairs = cfg.ropePairChunks();
    Value tid = gpu::ThreadIdOp::create(b, gpu::Dimension::x);
    Value blk = gpu::BlockIdOp::create(b, gpu::Dimension::x);
    Value item = add(mul(blk, idx(kThreads)), tid);
    Value row = divu(item, idx(pairs));
    Value col0 = mul(remu(item, idx(pairs)), idx(cfg.vecWidth));
    ifThen(cmpi(arith::CmpIPredicate::ult, row, rows), [&]() {
      Value posInSeq = remu(row, seq);
      Value pos = indexToF64(add(posInSeq, posOffset));
      Value rowBase = mul(row, idx(cfg.d));
      Value colHi = add(col0, idx(half));
      VectorType vf = chunkType(f32);
      auto loadF32 = [&](Value base, Value col) {
        Value v = loadChunk(x, base, col);
        return cfg.elt != f32 ? arith::ExtFOp::create(b, vf, v).getResult()
                              : v;
      };
      Value lo = loadF32(rowBase, col0);
      Value hi = loadF32(rowBase, colHi);
      SmallVector<Value> mixed = ifElse(
          cmpi(arith::CmpIPredicate::ne, mix, idx(0)), TypeRange{vf, vf},
          [&]() -> SmallVector<Value> {
            Value h = remu(divu(row, seq), heads);
            Value w0 = mul(h, idx(2));
            Value a1 = memref::LoadOp::create(b, w, ValueRange{w0});
            Value a2 =
                memref::LoadOp::create(b, w, ValueRange{add(w0, idx(1))});
            Value a1v = vector::BroadcastOp::create(b, vf, a1);
            Value a2v = vector::BroadcastOp::create(b, vf, a2);
            SmallVector<Value> prev = ifElse(
                cmpi(arith::CmpIPredicate::ugt, posInSeq, idx(0)),
                TypeRange{vf, vf},
                [&]() -> SmallVector<Value> {
                  Value prevBase = sub(rowBase, idx(cfg.d));
                  return {loadF32(prevBase, col0), loadF32(prevBase, colHi)};
                },
                [&]() -> SmallVector<Value> {
                  return {zeroVec(vf), zeroVec(vf)};
                });
            return {vector::FMAOp::create(
                        b, a1v, lo, arith::MulFOp::create(b, a2v, prev[0])),
                    vector::FMAOp::create(
                        b, a1v, hi, arith::MulFOp::create(b, a2v, prev[1]))};
          },
          [&]() -> SmallVector<Value> { return {lo, hi}; });
      SmallVector<Value> a = elements(mixed[0]), c = elements(mixed[1]),
                         outLo, outHi;
      SmallVector<Value> fs = invFreqs(col0);
      for (int64_t e = 0; e < cfg.vecWidth; ++e) {
        auto [cs, sn] = cosSin(fmul(pos, fs[e]));
        // (a, c) rotated by the angle: (a cos - c sin, c cos + a sin).
        outLo.push_back(fma(a[e], cs, arith::NegFOp::create(b, fmul(c[e], sn))));
        outHi.push_back(fma(c[e], cs, fmul(a[e], sn)));
      }
      Value vLo = vectorOf(outLo), vHi = vectorOf(outHi);
      if (cfg.elt != f32) {
        vLo = arith::TruncFOp::create(b, chunkType(cfg.elt), vLo);
        vHi = arith::TruncFOp::create(b, chunkType(cfg.elt), vHi);
      }
      vector::StoreOp::create(b, vLo, out, ValueRange{add(rowBase, col0)},
                              /*nontemporal=*/false, llvm::MaybeAlign(16));
      vector::StoreOp::create(b, vHi, out, ValueRange{add(rowBase, colHi)},
                              /*nontemporal=*/false, llvm::MaybeAlign(16));
    });
    gpu::ReturnOp::create(b);
  }
};

/// The kernel of kv_cache_append (`append-kernel`): one thread per (row of
/// [B, Hkv, T] new rows, column i < D, or with RoPE pair of columns (i,
/// i + D/2)), scalar loads (the op touches T rows). For new row t at cache
/// row p + t (p = pos clamped to [0, Smax - T]):
///   k_cache[p + t] = rot(a1 k_new[t] + a2 prev_t, p + t)   (rot with RoPE)
///   v_cache[p + t] = b1 v_new[t] + b2 vprev_t
/// prev_0 = pos > 0 ? k_last : 0, prev_t = k_new[t - 1], in f32 (the mix
/// as a product and a sum, like the reference lowering); the thread of row
/// T - 1 writes the raw row to k_last_out / v_last_out, which must not be
/// k_last / v_last unless T = 1 (then the one thread that reads a column of
/// k_last writes it afterwards). Arguments:
///   k_new, v_new, k_last, v_last : memref<?xT>, kw, vw : memref<?xf32>,
///   k_cache, v_cache, k_last_out, v_last_out : memref<?xT>,
///   B, Hkv, T, Smax, pos : index.
class AppendKernelEmitter : EmitterBase {
public:
  static constexpr int64_t kThreads = 128;
  AppendKernelEmitter(gpu::GPUFuncOp func, const KernelConfig &cfg)
      : EmitterBase(func, cfg) {}
  /// Threads per new row.
  static int64_t items(const KernelConfig &cfg) {
    return cfg.ropeTheta ? cfg.d / 2 : cfg.d;
  }

  void emit() {
    gpu::GPUFuncOp func = cast<gpu::GPUFuncOp>(entry->getParentOp());
    auto args = func.getArguments();
    Value kNew = args[0], vNew = args[1], kLast = args[2], vLast = args[3],
          kw = args[4], vw = args[5], kCache = args[6], vCache = args[7],
          kLastOut = args[8], vLastOut = args[9];
    Value dimB = args[10], dimHkv = args[11], dimT = args[12],
          dimSmax = args[13], pos = args[14];
    const int64_t n = items(cfg), d = cfg.d;
    Value tid = gpu::ThreadIdOp::create(b, gpu::Dimension::x);
    Value blk = gpu::BlockIdOp::create(b, gpu::Dimension::x);
    Value item = add(mul(blk, idx(kThreads)), tid);
    Value rows = mul(mul(dimB, dimHkv), dimT);
    ifThen(cmpi(arith::CmpIPredicate::ult, item, mul(rows, idx(n))), [&]() {
      Value row = divu(item, idx(n));
      Value col = remu(item, idx(n));
      Value t = remu(row, dimT);
      Value bh = divu(row, dimT);
      Value head = remu(bh, dimHkv);
      // The position clamped into the cache (a run-time check reports an
      // overflow before this runs; the clamp keeps the writes in bounds).
      Value p = arith::MaxSIOp::create(
          b, idx(0), arith::MinSIOp::create(b, pos, sub(dimSmax, dimT)));
      Value cacheRow = add(mul(bh, dimSmax), add(p, t));
      SmallVector<Value> cols = {col};
      if (cfg.ropeTheta)
        cols.push_back(add(col, idx(d / 2)));
      Value isLast = cmpi(arith::CmpIPredicate::eq, t, sub(dimT, idx(1)));
      Value first = cmpi(arith::CmpIPredicate::eq, t, idx(0));
      Value hasLast = cmpi(arith::CmpIPredicate::sgt, pos, idx(0));
      auto toF32 = [&](Value x) -> Value {
        return cfg.elt == f32 ? x : arith::ExtFOp::create(b, f32, x);
      };
      auto mixRow = [&](Value x, Value last, Value w) {
        Value w0 = mul(head, idx(2));
        Value w1 = memref::LoadOp::create(b, w, ValueRange{w0});
        Value w2 = memref::LoadOp::create(b, w, ValueRange{add(w0, idx(1))});
        SmallVector<Value> out;
        for (Value c : cols) {
          Value cur = memref::LoadOp::create(
              b, x, ValueRange{add(mul(row, idx(d)), c)});
          // prev_t: the row before (t > 0), the last raw row (t = 0 and
          // pos > 0) or zero.
          Value prev = ifElse(
              first, cfg.elt,
              [&]() -> SmallVector<Value> {
                return ifElse(
                    hasLast, cfg.elt,
                    [&]() -> SmallVector<Value> {
                      return {memref::LoadOp::create(
                          b, last, ValueRange{add(mul(bh, idx(d)), c)})};
                    },
                    [&]() -> SmallVector<Value> {
                      return {arith::ConstantOp::create(
                          b, cfg.elt, b.getFloatAttr(cfg.elt, 0.0))};
                    });
              },
              [&]() -> SmallVector<Value> {
                return {memref::LoadOp::create(
                    b, x, ValueRange{add(mul(sub(row, idx(1)), idx(d)), c)})};
              })[0];
          out.push_back(fadd(fmul(w1, toF32(cur)), fmul(w2, toF32(prev))));
          // The new last row (raw), after every read of the old one.
          ifThen(isLast, [&]() {
            Value dst = last == kLast ? kLastOut : vLastOut;
            memref::StoreOp::create(b, cur, dst,
                                    ValueRange{add(mul(bh, idx(d)), c)});
          });
        }
        return out;
      };
      SmallVector<Value> km = mixRow(kNew, kLast, kw);
      SmallVector<Value> vm = mixRow(vNew, vLast, vw);
      if (cfg.ropeTheta) {
        // (x, y) = (k[i], k[i + D/2]) rotated by (p + t) theta^(-2i/D).
        Value angle = fmul(indexToF64(add(p, t)), invFreq(col));
        auto [cs, sn] = cosSin(angle);
        Value x = km[0], y = km[1];
        km[0] = fma(x, cs, arith::NegFOp::create(b, fmul(y, sn)));
        km[1] = fma(y, cs, fmul(x, sn));
      }
      for (auto [cache, vals] :
           {std::make_pair(kCache, km), std::make_pair(vCache, vm)})
        for (auto [c, v] : llvm::zip(cols, vals)) {
          Value x = v;
          if (cfg.elt != f32)
            x = arith::TruncFOp::create(b, cfg.elt, x);
          memref::StoreOp::create(b, x, cache,
                                  ValueRange{add(mul(cacheRow, idx(d)), c)});
        }
    });
    gpu::ReturnOp::create(b);
  }
};

/// Emits the body of one attention kernel. Kernel arguments, in order:
///   q, k, v : memref<?xT>   (row-major [B, H, S, D], flattened; with RoPE,
///                            q and k already rotated by the pre-pass)
///   kw, vw  : memref<?xf32> ([Hkv, 2], flattened)
///   out     : memref<?xT>   ([B, Hq, Sq, D], flattened)
///   B, Hq, Sq, Hkv, Sk : index
class KernelEmitter : protected EmitterBase {
public:
  /// `dimsAt`: the position of the size arguments (B, Hq, Sq, Hkv, Sk);
  /// the backward kernels, which derive from this one, have more buffers.
  KernelEmitter(gpu::GPUFuncOp func, const KernelConfig &cfg,
                unsigned dimsAt = 6)
      : EmitterBase(func, cfg) {
    auto args = func.getArguments();
    q = args[0];
    k = args[1];
    v = args[2];
    kw = args[3];
    vw = args[4];
    out = args[5];
    dimB = args[dimsAt];
    dimHq = args[dimsAt + 1];
    dimSq = args[dimsAt + 2];
    dimHkv = args[dimsAt + 3];
    dimSk = args[dimsAt + 4];
    kSmem = func.getWorkgroupAttributions()[0];
    vSmem = func.getWorkgroupAttributions()[1];
    if (cfg.withLse)
      lseOut = args[dimsAt + 5];
  }

  void emit() {
    emitPrologue();
    if (cfg.tensorCores)
      emitTensorCoreBody();
    else
      emitSIMTBody();
    gpu::ReturnOp::create(b);
  }

protected:
  Value q, k, v, kw, vw, out, dimB, dimHq, dimSq, dimHkv, dimSk;
  Value lseOut; // withLse: the rows' log-sum-exp (natural log)
  Value kSmem, vSmem;
  // Per-block values.
  Value tid, lane, warp, batch, head, kvHead, qStart, qBase, kvBase, offset;
  Value ka1, ka2, vb1, vb2;
  /// grad_q (GradQTensorCoreEmitter): the forward pass gives the row
  /// statistics instead of the output, then a second pass gives dq.
  bool gradQ = false;
  Value gradLse, gradDelta, gradDq; // grad_q's outputs
  Value gradRowLse[2], gradRowDelta[2];

  /// The row reduction used for the running max: with a negative scale the
  /// largest scaled logit comes from the smallest raw score.
  Value fred(Value x, Value y) {
    return cfg.scaleLog2 > 0 ? fmax(x, y) : fmin(x, y);
  }
  /// Raw-score value of a masked logit: scaled by scaleLog2 it is -inf.
  double maskValue() const {
    return cfg.scaleLog2 > 0 ? -std::numeric_limits<double>::infinity()
                             : std::numeric_limits<double>::infinity();
  }
  /// The value of `x` in lane `srcLane` (an i32).
  Value shuffleIdx(Value x, Value srcLane) {
    return gpu::ShuffleOp::create(b, x, srcLane, i32c(32),
                                  gpu::ShuffleMode::IDX)
        .getShuffleResult();
  }

  /// Runs `body(it)` for each round `it` in which the block's threads take
  /// `total` items (thread tid takes item tid + it * threads); the last
  /// round, when partial, only in the threads that have an item.
  void forEachRound(int64_t total, function_ref<void(int64_t)> body) {
    for (int64_t it = 0; it * cfg.threads() < total; ++it) {
      if ((it + 1) * cfg.threads() <= total)
        body(it);
      else
        ifThen(cmpi(arith::CmpIPredicate::ult,
                    add(tid, idx(it * cfg.threads())), idx(total)),
               [&]() { body(it); });
    }
  }

  /// Copies rows [row0, row0 + rows) of a [*, D] matrix at flat offset
  /// `base` into shared memory `dst`, unmixed; rows outside [0, limit)
  /// (row0 may be -1: the halo row of the first tile) and columns >= D
  /// become zero. With 16-byte aligned rows (D a multiple of the chunk) the
  /// copies are asynchronous (cp.async.cg, zero-filled by the source size)
  /// and go into a group the caller commits; otherwise they are plain loads
  /// and stores.
  /// With `rowChecks` false the caller guarantees that all the rows lie in
  /// [0, limit): no compare, no clamp, no source size. With `keyOrder`,
  /// buffer row n holds tile row tileRowAt(n, rows) (16-byte aligned rows
  /// only). `dstRow0`: the buffer row that tile row 0 goes to (0 if null).
  void copyRows(Value dst, Value src, Value base, Value row0, int64_t rows,
                Value limit, bool rowChecks = true, bool keyOrder = false,
                Value dstRow0 = Value()) {
    if (cfg.d % cfg.vecWidth != 0) {
      stageRows(dst, src, base, row0, rows, limit, Value(), Value(), dstRow0);
      return;
    }
    int64_t chunksPerRow = cfg.dPadded / cfg.vecWidth;
    int64_t total = rows * chunksPerRow;
    // When the threads cover whole rows, a thread copies the same columns
    // of rows r0, r0 + threads / chunksPerRow, ...: one column and one row
    // index per thread, constant offsets between its copies.
    bool wholeRows = cfg.threads() % chunksPerRow == 0;
    Value t = opaque(tid);
    Value r0 = divu(t, idx(chunksPerRow));
    Value c0 = mul(remu(t, idx(chunksPerRow)), idx(cfg.vecWidth));
    // keyOrder with whole rows a multiple of 8 apart: a thread's buffer rows
    // r0 + k it keep r0 % 8, so their tile rows are tileRowAt(r0) + 2 (k / 8)
    // it (constant offsets again).
    const int64_t k = cfg.threads() / chunksPerRow;
    bool linearOrder = keyOrder && wholeRows && k % 8 == 0;
    Value src0 = linearOrder ? tileRowAt(r0, rows) : Value();
    forEachRound(total, [&](int64_t it) {
      Value c = add(t, idx(it * cfg.threads()));
      Value r = wholeRows ? add(r0, idx(it * cfg.threads() / chunksPerRow))
                          : divu(c, idx(chunksPerRow));
      Value col0 =
          wholeRows ? c0 : mul(remu(c, idx(chunksPerRow)), idx(cfg.vecWidth));
      Value tileRow = !keyOrder     ? r
                      : linearOrder ? add(src0, idx(2 * (k / 8) * it))
                                    : tileRowAt(r, rows);
      Value j = add(row0, tileRow);
      Value rowIn = rowChecks ? andi(cmpi(arith::CmpIPredicate::sge, j, idx(0)),
                                     cmpi(arith::CmpIPredicate::slt, j, limit))
                              : Value();
      Value in = rowIn;
      Value colc = col0;
      if (cfg.d != cfg.dPadded) {
        Value colIn = cmpi(arith::CmpIPredicate::ult, col0, idx(cfg.d));
        in = in ? andi(in, colIn) : colIn;
        colc = select(colIn, col0, idx(0));
      }
      // Out-of-range chunks read nothing (source size 0) from a clamped,
      // in-bounds address.
      Value jc = rowChecks ? select(rowIn, j, idx(0)) : j;
      Value srcIdx = add(base, add(mul(jc, idx(cfg.d)), colc));
      Value n = in ? select(in, idx(cfg.vecWidth), idx(0)) : Value();
      nvgpu::DeviceAsyncCopyOp::create(
          b, nvgpu::DeviceAsyncTokenType::get(ctx), dst,
          ValueRange{dstRow0 ? add(dstRow0, r) : r, col0}, src,
          ValueRange{srcIdx}, b.getIndexAttr(cfg.vecWidth), n, b.getUnitAttr());
    });
  }
  /// copyRows (or, with `cm`, copyRowsCM), with a second, unchecked copy of
  /// the copies for tiles whose rows all lie in [0, limit), chosen by one
  /// uniform branch: interior tiles skip the compare, clamp and source size
  /// of every 16-byte chunk.
  void copyRowsFast(Value dst, Value src, Value base, Value row0, int64_t rows,
                    Value limit, bool keyOrder = false, bool cm = false,
                    Value dstRow0 = Value()) {
    auto emit = [&](bool checks) {
      if (cm)
        copyRowsCM(dst, src, base, row0, rows, limit, checks, keyOrder,
                   dstRow0);
      else
        copyRows(dst, src, base, row0, rows, limit, checks, keyOrder, dstRow0);
    };
    if (cfg.d % cfg.vecWidth != 0) {
      emit(true);
      return;
    }
    Value inside =
        andi(cmpi(arith::CmpIPredicate::sge, row0, idx(0)),
             cmpi(arith::CmpIPredicate::sle, add(row0, idx(rows)), limit));
    auto ifOp = scf::IfOp::create(b, TypeRange{}, inside,
                                  /*withElseRegion=*/true);
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(ifOp.thenBlock());
    emit(false);
    b.setInsertionPointToStart(ifOp.elseBlock());
    emit(true);
  }

  // --- wgmma (sm_90a) --------------------------------------------------------
  /// wgmma tiles: the row of the [rows * D/8, 8] shared buffer that holds
  /// 16-byte chunk `chunk` of tile row `row`. Rows go in groups of eight;
  /// a group's chunk c is one 128-byte core matrix (its eight rows' chunk c,
  /// 16 bytes apart), and the core matrices of a group follow each other:
  ///   byte offset = ((row / 8) * D/8 + chunk) * 128 + (row % 8) * 16.
  /// For S = Q K^T this is K^T "K-major" (d contiguous) with core matrices
  /// 128 bytes apart along d (LBO) and D/8 * 128 along the keys (SBO); for
  /// O += P V it is V "MN-major" (d contiguous) with core matrices D/8 * 128
  /// apart along the keys (LBO) and 128 along d (SBO).
  Value cmRow(Value row, Value chunk) {
    return add(mul(add(mul(divu(row, idx(8)), idx(cfg.chunksPerRow())), chunk),
                   idx(8)),
               remu(row, idx(8)));
  }

  /// copyRows for wgmma tiles (cmRow's layout; D a multiple of 16, `rows` a
  /// multiple of 8): the 16-byte chunks are numbered in the buffer's order,
  /// so the eight lanes of a quarter-warp fill one 128-byte core matrix
  /// (no bank conflicts) from eight rows of the source.
  ///
  /// With `keyOrder` the tile's rows are stored in wgmma's B order of a
  /// key tile whose scores each thread holds as consecutive keys: buffer
  /// position n = 8 nb + 2 t + e (S column n, held by quad lane t in block
  /// nb) holds tile row (rows / 4) t + 2 nb + e (tileRowAt).
  /// `dstRow0`: the buffer row where the tile starts (0 if null).
  /// `warpHalo` (grad_kv): buffer rows [16 w, 16 w + 16) hold tile rows
  /// [15 w, 15 w + 16), so that each warp's 16 rows of a wgmma A operand
  /// start with the row before its 15 own ones.
  void copyRowsCM(Value dst, Value src, Value base, Value row0, int64_t rows,
                  Value limit, bool rowChecks = true, bool keyOrder = false,
                  Value dstRow0 = Value(), bool warpHalo = false) {
    const int64_t chunks = cfg.chunksPerRow();
    const int64_t total = rows * chunks;
    const int64_t step = cfg.threads() / 8; // chunk columns per iteration
    Value t = opaque(tid);
    Value dstT = dstRow0 ? add(dstRow0, t) : t;
    Value r8 = remu(t, idx(8));
    Value q0 = divu(t, idx(8));
    // When the threads cover whole row groups, a thread keeps its chunk
    // column and moves down by step / chunks row groups per copy.
    bool whole = step % chunks == 0;
    Value ch0 = remu(q0, idx(chunks));
    Value rg0 = divu(q0, idx(chunks));
    // A buffer row 8 rg + r8 holds tile row 8 rg + r8, or with keyOrder
    // tileRowAt(8 rg + r8) = tileRowAt(r8) + 2 rg: a per-thread base and the
    // row group, as without.
    Value rowInGroup = keyOrder ? tileRowAt(r8, rows) : r8;
    const int64_t groupRows = keyOrder ? 2 : 8;
    forEachRound(total, [&](int64_t it) {
      Value q = add(q0, idx(it * step));
      Value ch = whole ? ch0 : remu(q, idx(chunks));
      Value rg =
          whole ? add(rg0, idx(it * step / chunks)) : divu(q, idx(chunks));
      Value r = add(mul(rg, idx(groupRows)), rowInGroup);
      if (warpHalo)
        r = sub(r, divu(rg, idx(2)));
      Value j = add(row0, r);
      Value in = rowChecks ? andi(cmpi(arith::CmpIPredicate::sge, j, idx(0)),
                                  cmpi(arith::CmpIPredicate::slt, j, limit))
                           : Value();
      Value jc = rowChecks ? select(in, j, idx(0)) : j;
      Value srcIdx =
          add(base, add(mul(jc, idx(cfg.d)), mul(ch, idx(cfg.vecWidth))));
      Value n = rowChecks ? select(in, idx(cfg.vecWidth), idx(0)) : Value();
      nvgpu::DeviceAsyncCopyOp::create(
          b, nvgpu::DeviceAsyncTokenType::get(ctx), dst,
          ValueRange{add(dstT, idx(it * cfg.threads())), idx(0)}, src,
          ValueRange{srcIdx}, b.getIndexAttr(cfg.vecWidth), n, b.getUnitAttr());
    });
  }

  /// The tile row at S column (buffer position) n of a key tile of `rows`
  /// keys in thread-consecutive order: n = 8 nb + 2 t + e -> (rows / 4) t +
  /// 2 nb + e. Quad lane t then holds keys [(rows / 4) t, (rows / 4) (t +
  /// 1)) of each of its rows, in register order.
  Value tileRowAt(Value n, int64_t rows) {
    Value j = remu(n, idx(8));
    return add(add(mul(divu(j, idx(2)), idx(rows / 4)),
                   mul(divu(n, idx(8)), idx(2))),
               remu(j, idx(2)));
  }

  /// Inline PTX without operands or results.
  void ptx(StringRef text) {
    LLVM::InlineAsmOp::create(b, TypeRange{}, ValueRange{}, text, "",
                              /*has_side_effects=*/true,
                              /*is_align_stack=*/false,
                              LLVM::tailcallkind::TailCallKind::None,
                              LLVM::AsmDialectAttr(), ArrayAttr());
  }
  /// Makes this thread's completed writes to shared memory (cp.async
  /// included) visible to the async proxy that wgmma reads through; a
  /// barrier after it covers the other threads' writes.
  void proxyFence() { ptx("fence.proxy.async.shared::cta;"); }

  /// grad-prefetch, at the start of tile `t` of `count`: waits for tile t's
  /// copies (the only group in flight; `token` only satisfies the op),
  /// fences them for wgmma (with wgmma=true) and makes them visible to the
  /// block with one barrier; then issues tile t + 1's copies (`copyTile`)
  /// into the other slot, whose readers (tile t - 1's MMAs or ldmatrix,
  /// done before the barrier) are done, so that they run during tile t's
  /// products. Returns tile t's slot, t mod 2.
  Value beginPrefetchedTile(Value token, Value t, Value count,
                            function_ref<void(Value)> copyTile) {
    waitCopies(token, 0);
    if (cfg.wgmma)
      proxyFence();
    gpu::BarrierOp::create(b);
    Value next = add(t, idx(1));
    ifThen(cmpi(arith::CmpIPredicate::ult, next, count),
           [&]() { copyTile(next); });
    return remu(t, idx(2));
  }
  /// What a wgmma descriptor adds to reach `slot` of a buffer whose slots
  /// are `rows` 16-byte rows apart (the descriptor's address unit).
  Value slotOffset(Value slot, int64_t rows) {
    return arith::IndexCastOp::create(b, b.getI64Type(), mul(slot, idx(rows)));
  }

  /// The wgmma matrix descriptor of a tile in cmRow's layout at the start of
  /// `smem` (no swizzle): bits 0-13 the shared address / 16, 16-29 the
  /// leading (K-direction) byte offset / 16, 32-45 the stride (M/N
  /// direction) byte offset / 16.
  Value smemDescriptor(Value smem, int64_t lbo, int64_t sbo) {
    Type i64 = b.getI64Type();
    Value addr = arith::IndexCastOp::create(
        b, i64, memref::ExtractAlignedPointerAsIndexOp::create(b, smem));
    auto c64 = [&](int64_t v) {
      return arith::ConstantOp::create(consts(), b.getI64IntegerAttr(v));
    };
    Value field = arith::ShRUIOp::create(
        b, arith::AndIOp::create(b, addr, c64(0x3FFFF)), c64(4));
    int64_t rest = ((lbo >> 4) << 16) | ((sbo >> 4) << 32);
    return arith::OrIOp::create(b, field, c64(rest));
  }

  /// An i32 mma operand (f16 pairs are vector<2xf16>).
  Value asI32(Value x) {
    if (x.getType() == i32)
      return x;
    Value asInt = vector::BitCastOp::create(b, VectorType::get({1}, i32), x);
    return vector::ExtractOp::create(b, asInt, ArrayRef<int64_t>{0});
  }

  /// acc (+)= A B over a.size() k-steps of wgmma.mma_async m64nNk16 (f32
  /// accumulators, A from registers: a[s] is k-step s's four mma.sync-style
  /// A registers of this warp's 16 rows; B from shared memory, k-step s at
  /// descriptor `desc` + s * descStep), issued by the warpgroup as one
  /// synchronous chain: fence, the MMAs, commit, wait. Returns the N/2
  /// accumulators of this thread in mma.sync's C order (block n of 8
  /// columns: registers 4n .. 4n + 3). With `acc` empty the chain starts
  /// from zero (scale-d false on the first k-step). `transB`: B is
  /// MN-major (O += P V) rather than K-major (S = Q K^T).
  ///
  /// With `wait` false the chain is only issued (fence, MMAs, commit): the
  /// results are the accumulators in flight, which nothing may read (nor
  /// may A's registers or B's shared memory change) until wgmmaWait
  /// retires the group and returns them.
  SmallVector<Value> wgmmaChain(ArrayRef<SmallVector<Value>> a, Value desc,
                                int64_t descStep, int64_t n, bool transB,
                                ArrayRef<Value> acc, bool wait = true) {
    return wgmmaChainImpl(a, Value(), a.size(), desc, descStep, n, transB, acc,
                          wait);
  }
  /// wgmmaChain with A from shared memory as well (K-major, cmRow's layout
  /// at `aDesc`; k-step s at `aDesc` + s * descStep, like B).
  SmallVector<Value> wgmmaChainSS(Value aDesc, int64_t steps, Value desc,
                                  int64_t descStep, int64_t n, bool transB,
                                  ArrayRef<Value> acc, bool wait = true) {
    return wgmmaChainImpl({}, aDesc, steps, desc, descStep, n, transB, acc,
                          wait);
  }
  SmallVector<Value> wgmmaChainImpl(ArrayRef<SmallVector<Value>> a, Value aDesc,
                                    int64_t steps, Value desc, int64_t descStep,
                                    int64_t n, bool transB, ArrayRef<Value> acc,
                                    bool wait) {
    const int64_t nAcc = n / 2;
    const bool zero = acc.empty();
    const bool ss = static_cast<bool>(aDesc);
    std::string t = isBF16() ? "bf16" : "f16";
    std::string text, cons;
    llvm::raw_string_ostream os(text), cs(cons);
    // Operands: $0 .. nAcc-1 the accumulators, then A's registers (or A's
    // descriptor), B's descriptor, a zero (for the predicates), then
    // (accumulating) the accumulators' inputs, tied to $0 ...
    int64_t aAt = nAcc, descAt = ss ? nAcc + 1 : nAcc + 4 * steps,
            zeroAt = descAt + 1;
    os << "{\n.reg .pred %wgz, %wgo;\n.reg .b64 %wgd;\n";
    if (ss)
      os << ".reg .b64 %wga;\n";
    os << "setp.ne.b32 %wgz, $" << zeroAt << ", 0;\n"
       << "setp.eq.b32 %wgo, $" << zeroAt << ", 0;\n"
       << "wgmma.fence.sync.aligned;\n";
    for (int64_t st = 0; st < steps; ++st) {
      if (st > 0) {
        if (ss)
          os << "add.s64 %wga, $" << aAt << ", " << st * descStep << ";\n";
        os << "add.s64 %wgd, $" << descAt << ", " << st * descStep << ";\n";
      }
      os << "wgmma.mma_async.sync.aligned.m64n" << n << "k16.f32." << t << "."
         << t << " {";
      for (int64_t i = 0; i < nAcc; ++i)
        os << (i ? ", " : "") << "$" << i;
      os << "}, ";
      if (ss) {
        os << (st == 0 ? "$" + std::to_string(aAt) : std::string("%wga"));
      } else {
        os << "{";
        for (int64_t i = 0; i < 4; ++i)
          os << (i ? ", " : "") << "$" << aAt + 4 * st + i;
        os << "}";
      }
      os << ", " << (st == 0 ? "$" + std::to_string(descAt) : "%wgd") << ", "
         << (zero && st == 0 ? "%wgz" : "%wgo") << ", 1, 1, "
         << (ss ? "0, " : "") << (transB ? 1 : 0) << ";\n";
    }
    os << "wgmma.commit_group.sync.aligned;\n";
    if (wait)
      os << "wgmma.wait_group.sync.aligned 0;\n";
    os << "\t}";
    SmallVector<Value> operands;
    for (int64_t i = 0; i < nAcc; ++i)
      cs << (i ? "," : "") << (zero ? "=&f" : "=f");
    if (ss) {
      operands.push_back(aDesc);
      cs << ",l";
    }
    for (int64_t st = 0; st < static_cast<int64_t>(a.size()); ++st)
      for (int64_t i = 0; i < 4; ++i) {
        operands.push_back(asI32(a[st][i]));
        cs << ",r";
      }
    operands.push_back(desc);
    cs << ",l";
    operands.push_back(i32c(0));
    cs << ",r";
    if (!zero)
      for (int64_t i = 0; i < nAcc; ++i) {
        operands.push_back(acc[i]);
        cs << "," << i;
      }
    SmallVector<Type> types(nAcc, f32);
    auto resType = LLVM::LLVMStructType::getLiteral(ctx, types);
    Value res = LLVM::InlineAsmOp::create(
                    b, resType, operands, os.str(), cs.str(),
                    /*has_side_effects=*/true, /*is_align_stack=*/false,
                    LLVM::tailcallkind::TailCallKind::None,
                    LLVM::AsmDialectAttr(), ArrayAttr())
                    .getRes();
    SmallVector<Value> d;
    for (int64_t i = 0; i < nAcc; ++i)
      d.push_back(LLVM::ExtractValueOp::create(b, res, ArrayRef<int64_t>{i}));
    return d;
  }

  /// wgmma.wait_group `pending`: waits until at most `pending` of this
  /// warp's most recently committed wgmma groups are in flight. `acc`: the
  /// accumulators of a group this retires, returned as the values to read
  /// from now on (tied operands: the same registers, and a point the
  /// compiler cannot move their reads above). `aRegs`: the A registers
  /// (i32) of a group this retires, tied as well so that they stay live,
  /// and unchanged, while the MMAs read them (ptxas serialises the MMAs
  /// of a group whose A registers another instruction writes in flight).
  SmallVector<Value> wgmmaWait(int64_t pending, ArrayRef<Value> acc,
                               ArrayRef<Value> aRegs = {}) {
    std::string cons;
    llvm::raw_string_ostream cs(cons);
    const size_t n = acc.size() + aRegs.size();
    for (size_t i = 0; i < n; ++i)
      cs << (i ? "," : "") << (i < acc.size() ? "=f" : "=r");
    for (size_t i = 0; i < n; ++i)
      cs << "," << i;
    SmallVector<Type> types(acc.size(), f32);
    SmallVector<Value> operands(acc);
    for (Value a : aRegs) {
      types.push_back(i32);
      operands.push_back(asI32(a));
    }
    auto resType = LLVM::LLVMStructType::getLiteral(ctx, types);
    Value res =
        LLVM::InlineAsmOp::create(
            b, resType, operands,
            "wgmma.wait_group.sync.aligned " + std::to_string(pending) + ";",
            cs.str(), /*has_side_effects=*/true,
            /*is_align_stack=*/false, LLVM::tailcallkind::TailCallKind::None,
            LLVM::AsmDialectAttr(), ArrayAttr())
            .getRes();
    SmallVector<Value> d;
    for (size_t i = 0; i < acc.size(); ++i)
      d.push_back(LLVM::ExtractValueOp::create(
          b, res, ArrayRef<int64_t>{static_cast<int64_t>(i)}));
    return d;
  }

  /// Closes the group of the asynchronous copies issued since the last one;
  /// returns its token.
  Value commitCopies() {
    return nvgpu::DeviceAsyncCreateGroupOp::create(
        b, nvgpu::DeviceAsyncTokenType::get(ctx), ValueRange{});
  }
  /// Waits until at most `pending` committed groups are still in flight
  /// (cp.async.wait_group; `token` only satisfies the op's operand).
  void waitCopies(Value token, int32_t pending) {
    nvgpu::DeviceAsyncWaitOp::create(b, token,
                                     b.getI32IntegerAttr(pending));
  }

  /// Stages rows [row0, row0 + rows) of a [*, D] matrix at flat offset
  /// `base` into shared memory `dst` (rows >= `limit` become zero). With
  /// `w1, w2` the rows are mixed on the way in: dst[r] = w1 x[j] + w2 x[j-1]
  /// for j = row0 + r (x[-1] = 0): the tile reads one halo row, x[row0 - 1].
  /// `dstRow0`: the buffer row that tile row 0 goes to (0 if null).
  void stageRows(Value dst, Value src, Value base, Value row0, int64_t rows,
                 Value limit, Value w1, Value w2, Value dstRow0 = Value()) {
    int64_t chunksPerRow = cfg.dPadded / cfg.vecWidth;
    int64_t total = rows * chunksPerRow;
    VectorType vt = chunkType(cfg.elt);
    VectorType vf = chunkType(f32);
    forEachRound(total, [&](int64_t it) {
      Value c = add(tid, idx(it * cfg.threads()));
      Value r = divu(c, idx(chunksPerRow));
      Value col0 = mul(remu(c, idx(chunksPerRow)), idx(cfg.vecWidth));
      Value j = add(row0, r);
      Value inb = cmpi(arith::CmpIPredicate::ult, j, limit);
      Value vec = ifElse(
          inb, vt,
          [&]() -> SmallVector<Value> {
            Value cur = loadChunk(src, add(base, mul(j, idx(cfg.d))), col0);
            if (!w1)
              return {cur};
            Value hasPrev = cmpi(arith::CmpIPredicate::ugt, j, idx(0));
            Value prev = ifElse(
                hasPrev, vt,
                [&]() -> SmallVector<Value> {
                  Value jp = sub(j, idx(1));
                  return {loadChunk(src, add(base, mul(jp, idx(cfg.d))), col0)};
                },
                [&]() -> SmallVector<Value> { return {zeroVec(vt)}; })[0];
            Value cf = cur, pf = prev;
            if (cfg.elt != f32) {
              cf = arith::ExtFOp::create(b, vf, cur);
              pf = arith::ExtFOp::create(b, vf, prev);
            }
            Value w1v = vector::BroadcastOp::create(b, vf, w1);
            Value w2v = vector::BroadcastOp::create(b, vf, w2);
            Value mixed = vector::FMAOp::create(
                b, w1v, cf, arith::MulFOp::create(b, w2v, pf));
            if (cfg.elt != f32)
              mixed = arith::TruncFOp::create(b, vt, mixed);
            return {mixed};
          },
          [&]() -> SmallVector<Value> { return {zeroVec(vt)}; })[0];
      vector::StoreOp::create(b, vec, dst,
                              ValueRange{dstRow0 ? add(dstRow0, r) : r, col0},
                              /*nontemporal=*/false, llvm::MaybeAlign(16));
    });
  }

  /// Stages key tile [j0, j0 + BN) for the SIMT kernel: mixed on the way
  /// in, or (RoPE) as it is, the pre-pass having mixed and rotated it.
  void stageKeys(Value j0) {
    if (cfg.ropeTheta)
      stageRows(kSmem, k, kvBase, j0, cfg.blockN, dimSk, Value(), Value());
    else
      stageRows(kSmem, k, kvBase, j0, cfg.blockN, dimSk, ka1, ka2);
  }

  void emitPrologue() {
    tid = gpu::ThreadIdOp::create(b, gpu::Dimension::x);
    lane = remu(tid, idx(32));
    warp = divu(tid, idx(32));
    Value qTile = gpu::BlockIdOp::create(b, gpu::Dimension::x);
    head = gpu::BlockIdOp::create(b, gpu::Dimension::y);
    batch = gpu::BlockIdOp::create(b, gpu::Dimension::z);
    Value group = divu(dimHq, dimHkv);
    kvHead = divu(head, group);
    qStart = mul(qTile, idx(cfg.blockM));
    qBase = mul(mul(add(mul(batch, dimHq), head), dimSq), idx(cfg.d));
    kvBase = mul(mul(add(mul(batch, dimHkv), kvHead), dimSk), idx(cfg.d));
    // Bottom-right alignment: query row i sits at position Sk - Sq + i.
    offset = sub(dimSk, dimSq);
    Value w0 = mul(kvHead, idx(2));
    Value w1 = add(w0, idx(1));
    ka1 = memref::LoadOp::create(b, kw, ValueRange{w0});
    ka2 = memref::LoadOp::create(b, kw, ValueRange{w1});
    vb1 = memref::LoadOp::create(b, vw, ValueRange{w0});
    vb2 = memref::LoadOp::create(b, vw, ValueRange{w1});
  }

  /// Number of key tiles the block visits: with `causal`, keys beyond the
  /// last visible one of the block's last row are never loaded.
  Value numKeyTiles() {
    Value kvEnd = dimSk;
    if (cfg.causal) {
      Value last = add(add(offset, qStart), idx(cfg.blockM));
      kvEnd = arith::MaxSIOp::create(
          b, idx(0), arith::MinSIOp::create(b, dimSk, last));
    }
    return divu(add(kvEnd, idx(cfg.blockN - 1)), idx(cfg.blockN));
  }

  /// Whether key tile [j0, j0 + BN) needs masking for rows
  /// [rowLo, rowLo + rowsSpan): it is partial, or (causal) its last key lies
  /// above the diagonal of the first row.
  Value tileNeedsMask(Value j0, Value rowLo) {
    Value end = add(j0, idx(cfg.blockN));
    Value partial = cmpi(arith::CmpIPredicate::sgt, end, dimSk);
    if (!cfg.causal)
      return partial;
    Value lastKey = sub(end, idx(1));
    Value diag = cmpi(arith::CmpIPredicate::sgt, lastKey, add(offset, rowLo));
    return ori(partial, diag);
  }

  /// Whether key `j` is masked for query row `row` (absolute indices).
  Value isMasked(Value j, Value row) {
    Value oob = cmpi(arith::CmpIPredicate::sge, j, dimSk);
    if (!cfg.causal)
      return oob;
    Value above = cmpi(arith::CmpIPredicate::sgt, j, add(offset, row));
    return ori(oob, above);
  }

  // --- tensor-core path ----------------------------------------------------
  /// ldmatrix x4 at (row, col) of `smem`; returns the four 8x8 fragments as
  /// mma.sync operands.
  SmallVector<Value> ldmatrix(Value smem, Value row, Value col,
                              bool transpose) {
    auto fragType = VectorType::get({4, 2}, cfg.elt);
    Value frag = nvgpu::LdMatrixOp::create(b, fragType, smem,
                                           ValueRange{row, col}, transpose, 4);
    SmallVector<Value> regs;
    for (int64_t i = 0; i < 4; ++i)
      regs.push_back(mmaOperand(
          vector::ExtractOp::create(b, frag, ArrayRef<int64_t>{i})));
    return regs;
  }
  /// With RoPE: an O-shaped accumulator (rows g and g + 8 of the warp's 16,
  /// at positions pos[0], pos[1]) that holds gradients with respect to
  /// rotated rows, rotated back (R^T: by -pos). Column c = nb * 8 + 2 t4 + e
  /// pairs with c + D/2, which this thread holds in block nb + D/16 (D a
  /// multiple of 16).
  void unrotate(MutableArrayRef<Value> acc, ArrayRef<Value> pos) {
    if (!cfg.ropeTheta)
      return;
    int64_t halfBlocks = cfg.dPadded / 16;
    Value t4 = remu(lane, idx(4));
    for (int64_t nb = 0; nb < halfBlocks; ++nb)
      for (int64_t e = 0; e < 2; ++e) {
        Value freq = invFreq(add(idx(nb * 8 + e), mul(t4, idx(2))));
        for (int64_t r = 0; r < 2; ++r) {
          auto [cs, sn] = cosSin(fmul(indexToF64(pos[r]), freq));
          Value &x1 = acc[nb * 4 + 2 * r + e];
          Value &x2 = acc[(nb + halfBlocks) * 4 + 2 * r + e];
          Value a = x1, c = x2;
          x1 = fma(a, cs, fmul(c, sn));
          x2 = fma(c, cs, arith::NegFOp::create(b, fmul(a, sn)));
        }
      }
  }

  /// Shifted values, after the key loop over `nTiles` tiles: the last key
  /// row jEnd = nTiles BN - 1 (left out of every value window) with its
  /// coefficient b1 p_jEnd: O += b1 p_jEnd v_jEnd, p_jEnd the last carried
  /// p of each row (res[6], res[7], held by the row's first lane: `quad`)
  /// and zero past Sk. `res`: the loop's results (O from res[8]).
  void addLastValueRow(MutableArrayRef<Value> res, Value nTiles, Value quad,
                       Value haloCol) {
    addLastRow(res.drop_front(8), {res[6], res[7]}, vb1, v, nTiles, quad,
               haloCol);
  }
  /// acc += w c[r] src_j for the last key row visited, j = nTiles BN - 1,
  /// if 0 <= j < Sk: `c` the rows' carried last column (in the t4 = 0
  /// lanes), `src` the raw K or V rows, `acc` an O-shaped accumulator.
  void addLastRow(MutableArrayRef<Value> acc, ArrayRef<Value> carried, Value w,
                  Value src, Value nTiles, Value quad, Value haloCol) {
    const int64_t oBlocks = cfg.dPadded / 8;
    Value weight[2];
    for (int64_t r = 0; r < 2; ++r)
      weight[r] = fmul(w, shuffleIdx(carried[r], quad));
    Value jEnd = sub(mul(nTiles, idx(cfg.blockN)), idx(1));
    Value valid = andi(cmpi(arith::CmpIPredicate::sge, jEnd, idx(0)),
                       cmpi(arith::CmpIPredicate::slt, jEnd, dimSk));
    Value rowBase = add(kvBase, mul(select(valid, jEnd, idx(0)), idx(cfg.d)));
    for (int64_t nb = 0; nb < oBlocks; ++nb)
      for (int64_t e = 0; e < 2; ++e) {
        Value col = add(idx(nb * 8 + e), haloCol);
        Value in =
            andi(valid, cmpi(arith::CmpIPredicate::ult, col, idx(cfg.d)));
        Value x = ifElse(
            in, f32,
            [&]() -> SmallVector<Value> {
              Value raw =
                  memref::LoadOp::create(b, src, ValueRange{add(rowBase, col)});
              return {cfg.elt == f32 ? raw
                                     : arith::ExtFOp::create(b, f32, raw)};
            },
            [&]() -> SmallVector<Value> { return {f32c(0)}; })[0];
        for (int64_t r = 0; r < 2; ++r) {
          Value &a = acc[nb * 4 + 2 * r + e];
          a = fma(weight[r], x, a);
        }
      }
  }

  /// The tensor-core kernel. Without RoPE neither mixed tile is formed: the
  /// key mix is applied to the scores and the value mix to the
  /// probabilities, both in registers (f32), so that K and V tiles are raw
  /// copies that cp.async brings in while the previous stage computes:
  ///   q_i . k^_j = a1 (q_i . k_j) + a2 (q_i . k_{j-1}): S^ = a1 S + a2 S
  ///     shifted by one column; the score of column j0 - 1 comes from the
  ///     previous tile (0 before the first key).
  ///   sum_j p_j v^_j = sum_j (b1 p_j + b2 p_{j+1}) v_j: P' = b1 P + b2 P
  ///     shifted by one column within the tile, plus b2 p_{j0} v_{j0-1} for
  ///     the row before the tile (the value tile holds that halo row first).
  /// With RoPE the keys come mixed and rotated from the pre-pass
  /// (RopeKernelEmitter): the scores are not mixed again.
  void emitTensorCoreBody() {
    const int64_t kSteps = cfg.dPadded / 16; // k-steps of S = Q K^T
    const int64_t sBlocks = cfg.blockN / 8;  // n-blocks of S
    const int64_t oBlocks = cfg.dPadded / 8; // n-blocks of O
    const bool scoreMix = !cfg.ropeTheta;
    // wgmma: the forward, and grad_q given the forward's statistics (its
    // second pass; the recomputing grad_q keeps mma.sync).
    const bool wg = cfg.wgmma && (!gradQ || cfg.statsGiven);
    // Keys in thread order (copyRowsCM's keyOrder) where the value window
    // has no halo row: wgmma, and shifted values with 16-byte aligned rows.
    const bool ko = wg || (cfg.shiftedValues && !gradQ &&
                           cfg.d % cfg.vecWidth == 0);
    Value g = divu(lane, idx(4));
    Value t4 = remu(lane, idx(4));
    Value l8 = remu(lane, idx(8));
    Value l16 = remu(lane, idx(16));
    Value hi = divu(lane, idx(16));           // 0 or 1
    Value mid = remu(divu(lane, idx(8)), idx(2)); // (lane / 8) % 2
    Value warpRow = mul(warp, idx(16));
    // Lanes of the same accumulator row: column pair t4 - 1, t4 + 1 (mod 4),
    // and the row's first lane.
    Value laneI32 = arith::IndexCastOp::create(b, i32, lane);
    Value quad = arith::AndIOp::create(b, laneI32, i32c(~3));
    Value t4I32 = arith::AndIOp::create(b, laneI32, i32c(3));
    Value lanePrev = arith::OrIOp::create(
        b, quad, arith::AndIOp::create(
                     b, arith::AddIOp::create(b, t4I32, i32c(3)), i32c(3)));
    Value laneNext = arith::OrIOp::create(
        b, quad, arith::AndIOp::create(
                     b, arith::AddIOp::create(b, t4I32, i32c(1)), i32c(3)));
    Value isT0 = cmpi(arith::CmpIPredicate::eq, t4, idx(0));
    Value isT3 = cmpi(arith::CmpIPredicate::eq, t4, idx(3));
    Value kLaneRow = add(l8, mul(hi, idx(8)));
    Value kLaneCol = mul(mid, idx(8));
    Value vLaneRow = add(l8, mul(mid, idx(8)));
    Value vLaneCol = mul(hi, idx(8));
    Value haloCol = mul(t4, idx(2));

    // x^_j = w1 x_j + w2 x_{j-1} over the columns of an S-shaped
    // accumulator. Thread (g, t4) holds columns 2 t4 and 2 t4 + 1 of each
    // 8-column block; column 2 t4 - 1 is the odd column of lane t4 - 1, or
    // for t4 = 0 of lane 3 in the block before (for the first block, the
    // previous tile's last column: `halo`, one per row). Returns the mixed
    // values and this tile's last column (the next tile's halo).
    auto shiftMixPrev = [&](ArrayRef<Value> x, Value w1, Value w2,
                            ArrayRef<Value> halo) {
      SmallVector<Value> odd(sBlocks * 2);
      for (int64_t nb = 0; nb < sBlocks; ++nb)
        for (int64_t r = 0; r < 2; ++r)
          odd[nb * 2 + r] = shuffleIdx(x[nb * 4 + 2 * r + 1], lanePrev);
      SmallVector<Value> mixed(x.size());
      for (int64_t nb = 0; nb < sBlocks; ++nb)
        for (int64_t r = 0; r < 2; ++r) {
          Value before = nb == 0 ? halo[r] : odd[(nb - 1) * 2 + r];
          Value prevEven = select(isT0, before, odd[nb * 2 + r]);
          Value even = x[nb * 4 + 2 * r], oddOwn = x[nb * 4 + 2 * r + 1];
          mixed[nb * 4 + 2 * r] = fma(w1, even, fmul(w2, prevEven));
          mixed[nb * 4 + 2 * r + 1] = fma(w1, oddOwn, fmul(w2, even));
        }
      SmallVector<Value> last = {odd[(sBlocks - 1) * 2],
                                 odd[(sBlocks - 1) * 2 + 1]};
      return std::make_pair(mixed, last);
    };
    // The same mix for the thread-consecutive key order of the wgmma
    // kernel (copyRowsCM's keyOrder): quad lane t4 holds keys [q t4, q (t4 +
    // 1)) of its rows (q = BN / 4; block nb, element e: key q t4 + 2 nb +
    // e), so the key before each one is in the same thread but for the
    // lane's first, the last key of lane t4 - 1 (for t4 = 0: `halo`): one
    // shuffle per row instead of one per block. Returns the mixed values and
    // this tile's last column in the t4 = 0 lanes (the next tile's halo).
    auto shiftMixThread = [&](ArrayRef<Value> x, Value w1, Value w2,
                              ArrayRef<Value> halo) {
      SmallVector<Value> mixed(x.size()), last(2);
      for (int64_t r = 0; r < 2; ++r) {
        Value sh = shuffleIdx(x[(sBlocks - 1) * 4 + 2 * r + 1], lanePrev);
        last[r] = sh;
        Value first = select(isT0, halo[r], sh);
        for (int64_t nb = 0; nb < sBlocks; ++nb)
          for (int64_t e = 0; e < 2; ++e) {
            int64_t at = nb * 4 + 2 * r + e;
            Value before = e == 1    ? x[nb * 4 + 2 * r]
                           : nb == 0 ? first
                                     : x[(nb - 1) * 4 + 2 * r + 1];
            mixed[at] = fma(w1, x[at], fmul(w2, before));
          }
      }
      return std::make_pair(mixed, last);
    };
    // x'_j = w1 x_j + w2 x_{j+1} within the tile (column 2 t4 + 2 is the
    // even column of lane t4 + 1, or for t4 = 3 of lane 0 in the next block;
    // none after the tile's last column: that term is the next tile's halo
    // product), packed for the tensor cores as formed: a[nb * 2 + r] holds
    // columns 2 t4, 2 t4 + 1 of block nb, row r. Also returns w2 x_{j0} of
    // each row (from the row's first lane): the weight of the halo row.
    auto shiftMixNext = [&](ArrayRef<Value> x, Value w1, Value w2) {
      SmallVector<Value> even(sBlocks * 2);
      for (int64_t nb = 0; nb < sBlocks; ++nb)
        for (int64_t r = 0; r < 2; ++r)
          even[nb * 2 + r] = shuffleIdx(x[nb * 4 + 2 * r], laneNext);
      SmallVector<Value> pm(sBlocks * 2);
      for (int64_t nb = 0; nb < sBlocks; ++nb)
        for (int64_t r = 0; r < 2; ++r) {
          Value after = nb + 1 < sBlocks ? even[(nb + 1) * 2 + r] : f32c(0);
          Value nextOdd = select(isT3, after, even[nb * 2 + r]);
          Value pe = x[nb * 4 + 2 * r], po = x[nb * 4 + 2 * r + 1];
          pm[nb * 2 + r] = packPair(fma(w1, pe, fmul(w2, po)),
                                    fma(w1, po, fmul(w2, nextOdd)));
        }
      SmallVector<Value> haloWeight(2);
      for (int64_t r = 0; r < 2; ++r)
        haloWeight[r] = fmul(w2, shuffleIdx(x[2 * r], quad));
      return std::make_pair(pm, haloWeight);
    };
    // acc += A T[1 ..] + haloWeight T[0] on tensor cores, T the tile in
    // `tileSmem` whose row 0 is the halo row (rows 1 .. BN: the tile's
    // rows, the k side of the product), A the packed pm. `base`: the
    // buffer row of T's row 0 (0 if null; grad-prefetch's slots).
    auto accumulateTile = [&](ArrayRef<Value> pm, ArrayRef<Value> haloWeight,
                              Value tileSmem, MutableArrayRef<Value> acc,
                              Value base = Value()) {
      Value laneRow = base ? add(base, vLaneRow) : vLaneRow;
      for (int64_t kk = 0; kk < cfg.blockN / 16; ++kk) {
        SmallVector<Value> a = {pm[(2 * kk) * 2 + 0], pm[(2 * kk) * 2 + 1],
                                pm[(2 * kk + 1) * 2 + 0],
                                pm[(2 * kk + 1) * 2 + 1]};
        // The tile's first row: 1 after the halo row, 0 without one.
        int64_t first = haloWeight.empty() ? 0 : 1;
        for (int64_t nb2 = 0; nb2 < oBlocks / 2; ++nb2) {
          SmallVector<Value> vf =
              ldmatrix(tileSmem, add(idx(kk * 16 + first), laneRow),
                       add(idx(nb2 * 16), vLaneCol), /*transpose=*/true);
          for (int64_t h = 0; h < 2; ++h) {
            int64_t nb = 2 * nb2 + h;
            SmallVector<Value> c(acc.begin() + nb * 4,
                                 acc.begin() + nb * 4 + 4);
            SmallVector<Value> d = mma(a, {vf[2 * h], vf[2 * h + 1]}, c);
            std::copy(d.begin(), d.end(), acc.begin() + nb * 4);
          }
        }
      }
      if (haloWeight.empty())
        return;
      VectorType f32x2 = VectorType::get({2}, f32);
      for (int64_t nb = 0; nb < oBlocks; ++nb) {
        Value col = add(idx(nb * 8), haloCol);
        Value pair = vector::LoadOp::create(
            b, pairType(), tileSmem, ValueRange{base ? base : idx(0), col});
        Value pf = arith::ExtFOp::create(b, f32x2, pair);
        SmallVector<Value> hv = elements(pf);
        for (int64_t i = 0; i < 4; ++i)
          acc[nb * 4 + i] = fma(haloWeight[i / 2], hv[i % 2], acc[nb * 4 + i]);
      }
    };

    // A fragments times the rows of a tile in shared memory (the n side),
    // the tile's first row at `rowOffset` (plus `base` if not null:
    // grad-prefetch's slots): S = Q K^T and, for grad_q, dP = dO V^T.
    auto product = [&](ArrayRef<SmallVector<Value>> a, Value tileSmem,
                       int64_t rowOffset, Value base = Value()) {
      SmallVector<Value> r(sBlocks * 4, f32c(0));
      Value laneRow = base ? add(base, kLaneRow) : kLaneRow;
      for (int64_t ks = 0; ks < kSteps; ++ks) {
        for (int64_t nb2 = 0; nb2 < sBlocks / 2; ++nb2) {
          SmallVector<Value> kf =
              ldmatrix(tileSmem, add(idx(nb2 * 16 + rowOffset), laneRow),
                       add(idx(ks * 16), kLaneCol), /*transpose=*/false);
          for (int64_t h = 0; h < 2; ++h) {
            int64_t nb = 2 * nb2 + h;
            SmallVector<Value> c(r.begin() + nb * 4, r.begin() + nb * 4 + 4);
            SmallVector<Value> d = mma(a[ks], {kf[2 * h], kf[2 * h + 1]}, c);
            std::copy(d.begin(), d.end(), r.begin() + nb * 4);
          }
        }
      }
      return r;
    };

    // The query tile goes through the key buffer, BN rows at a time; its
    // fragments stay in registers (likewise dO's for grad_q).
    auto stageFragments = [&](Value src, bool lastBarrier = true) {
    SmallVector<SmallVector<Value>> qFrag(kSteps);
    for (int64_t h = 0; h * cfg.blockN < cfg.blockM; ++h) {
      int64_t rows = std::min(cfg.blockN, cfg.blockM - h * cfg.blockN);
      if (h > 0)
        gpu::BarrierOp::create(b);
      if (wg) {
        copyRowsCM(kSmem, src, qBase, add(qStart, idx(h * cfg.blockN)), rows,
                   dimSq);
        waitCopies(commitCopies(), 0);
      } else {
        stageRows(kSmem, src, qBase, add(qStart, idx(h * cfg.blockN)), rows,
                  dimSq, Value(), Value());
      }
      gpu::BarrierOp::create(b);
      bool single = cfg.blockM <= cfg.blockN;
      Value inChunk, rowInChunk = warpRow;
      if (!single) {
        Value lo = idx(h * cfg.blockN);
        inChunk = andi(cmpi(arith::CmpIPredicate::uge, warpRow, lo),
                       cmpi(arith::CmpIPredicate::ult, warpRow,
                            idx(h * cfg.blockN + rows)));
        rowInChunk = select(inChunk, sub(warpRow, lo), idx(0));
      }
      for (int64_t ks = 0; ks < kSteps; ++ks) {
        SmallVector<Value> f =
            wg ? ldmatrix(kSmem,
                          cmRow(add(rowInChunk, l16), add(idx(2 * ks), hi)),
                          idx(0), /*transpose=*/false)
               : ldmatrix(kSmem, add(rowInChunk, l16),
                          add(idx(ks * 16), mul(hi, idx(8))),
                          /*transpose=*/false);
        if (h == 0) {
          qFrag[ks] = f;
          continue;
        }
        for (int64_t i = 0; i < 4; ++i)
          qFrag[ks][i] = select(inChunk, f[i], qFrag[ks][i]);
      }
    }
    // Every warp has its fragments before the key buffer is reused.
    if (lastBarrier)
      gpu::BarrierOp::create(b);
    return qFrag;
    };
    SmallVector<SmallVector<Value>> qFrag = stageFragments(q);
    SmallVector<SmallVector<Value>> doFrag;
    // dO (grad_q). Given the statistics, the second pass's first barrier
    // orders the fragments' reads before the key buffer is reused.
    if (gradQ)
      doFrag = stageFragments(out, /*lastBarrier=*/!cfg.statsGiven);

    // Absolute query rows of this thread's two accumulator rows.
    Value row0 = add(add(qStart, warpRow), g);
    Value row1 = add(row0, idx(8));
    Value warpRowLo = add(qStart, warpRow);

    // Scores masked (the raw score that scales to -inf) only on key tiles
    // [j0, j0 + BN) that are partial or cross the diagonal.
    auto maskTile = [&](ArrayRef<Value> x, Value j0) {
      SmallVector<Type> types(x.size(), f32);
      return ifElse(
          tileNeedsMask(j0, warpRowLo), types,
          [&]() -> SmallVector<Value> {
            SmallVector<Value> masked;
            Value maskVal = f32c(maskValue());
            for (int64_t nb = 0; nb < sBlocks; ++nb)
              for (int64_t i = 0; i < 4; ++i) {
                // Key of column nb * 8 + 2 t4 + i % 2 (wgmma: of element
                // nb, i % 2 of lane t4's consecutive keys).
                Value j =
                    ko ? add(add(j0, idx(2 * nb + (i % 2))),
                             mul(t4, idx(cfg.blockN / 4)))
                       : add(add(j0, idx(nb * 8 + (i % 2))), mul(t4, idx(2)));
                Value row = i < 2 ? row0 : row1;
                masked.push_back(
                    select(isMasked(j, row), maskVal, x[nb * 4 + i]));
              }
            return masked;
          },
          [&]() -> SmallVector<Value> { return SmallVector<Value>(x); });
    };

    // Rows < Sq, columns < D of an O-shaped accumulator, times mult[r], to
    // `dst` (rows of D elements from qBase).
    auto storeRows = [&](ArrayRef<Value> acc, ArrayRef<Value> mult, Value dst) {
      for (int64_t r = 0; r < 2; ++r) {
        Value row = r == 0 ? row0 : row1;
        ifThen(cmpi(arith::CmpIPredicate::ult, row, dimSq), [&]() {
          Value rowBase = add(qBase, mul(row, idx(cfg.d)));
          for (int64_t nb = 0; nb < oBlocks; ++nb) {
            Value col = add(idx(nb * 8), mul(t4, idx(2)));
            Value x = fmul(acc[nb * 4 + 2 * r], mult[r]);
            Value y = fmul(acc[nb * 4 + 2 * r + 1], mult[r]);
            auto store = [&]() {
              if (cfg.d % 2 == 0) {
                Value v2 = vector::FromElementsOp::create(
                    b, VectorType::get({2}, f32), ValueRange{x, y});
                // Even D and even column: 4-byte aligned pairs.
                vector::StoreOp::create(
                    b, arith::TruncFOp::create(b, pairType(), v2), dst,
                    ValueRange{add(rowBase, col)}, /*nontemporal=*/false,
                    llvm::MaybeAlign(4));
                return;
              }
              memref::StoreOp::create(b, arith::TruncFOp::create(b, cfg.elt, x),
                                      dst, ValueRange{add(rowBase, col)});
              Value col1 = add(col, idx(1));
              ifThen(cmpi(arith::CmpIPredicate::ult, col1, idx(cfg.d)), [&]() {
                memref::StoreOp::create(b,
                                        arith::TruncFOp::create(b, cfg.elt, y),
                                        dst, ValueRange{add(rowBase, col1)});
              });
            };
            // Only the last column block can hold columns >= D.
            if ((nb + 1) * 8 <= cfg.d)
              store();
            else
              ifThen(cmpi(arith::CmpIPredicate::ult, col, idx(cfg.d)), store);
          }
        });
      }
    };
    double inf = std::numeric_limits<double>::infinity();
    Value nTiles; // key tiles the block visits (computed where the forward
                  // has always computed it: its IR stays the same)
    // The flat index (b * Hq + h) * Sq + row of a query row.
    auto flatRowOf = [&](Value row) {
      return add(divu(qBase, idx(cfg.d)), row);
    };
    if (gradQ && cfg.statsGiven) {
      nTiles = numKeyTiles();
      // The stats kernel wrote lse (log2 units) and delta of every row.
      for (int64_t r = 0; r < 2; ++r) {
        Value row = r == 0 ? row0 : row1;
        Value in = cmpi(arith::CmpIPredicate::ult, row, dimSq);
        Value at = flatRowOf(select(in, row, idx(0)));
        gradRowLse[r] = memref::LoadOp::create(b, gradLse, ValueRange{at});
        gradRowDelta[r] = memref::LoadOp::create(b, gradDelta, ValueRange{at});
      }
    } else {
      const bool shifted = cfg.shiftedValues && !gradQ;
      const bool lazy = cfg.lazyRescale && !gradQ;
      const int64_t state = shifted ? 8 : 6;
      // The first tiles' copies: keys [0, BN), values [-1, BN) (shifted
      // values: [-1, BN - 1)).
      // Tiles whose rows all lie in [0, Sk) (all but the first and the last)
      // are copied without per-chunk bounds checks.
      // `dstRow0`: where the tile starts in `dst` (wgmma-overlap's second
      // value window).
      auto copy = [&](Value dst, Value src, Value row0, int64_t rows,
                      Value dstRow0 = Value()) {
        copyRowsFast(dst, src, kvBase, row0, rows, dimSk, /*keyOrder=*/ko,
                     /*cm=*/wg, dstRow0);
      };
      // kv-prefetch (mma.sync forward): key tile t and its value window in
      // slot t % 2 of their buffers (BN + 1 rows apart), one group.
      const bool prefetch = cfg.kvPrefetch && !gradQ && !wg;
      auto copyTile = [&](Value t) {
        Value j0 = mul(t, idx(cfg.blockN));
        Value row0 = mul(remu(t, idx(2)), idx(cfg.blockN + 1));
        copy(kSmem, k, j0, cfg.blockN, row0);
        copy(vSmem, v, sub(j0, idx(1)), cfg.blockN + (shifted ? 0 : 1), row0);
        return commitCopies();
      };
      Value token;
      if (prefetch) {
        token = copyTile(idx(0));
      } else {
        copy(kSmem, k, idx(0), cfg.blockN);
        commitCopies();
        copy(vSmem, v, idx(-1), cfg.blockN + (shifted ? 0 : 1));
        token = commitCopies();
      }
      // wgmma: the tiles' descriptors (K^T K-major, V MN-major; k-steps of
      // 16 along d, resp. 16 keys).
      Value kDesc, vDesc;
      const int64_t groupBytes = cfg.chunksPerRow() * 128;
      if (wg) {
        kDesc = smemDescriptor(kSmem, /*lbo=*/128, /*sbo=*/groupBytes);
        vDesc = smemDescriptor(vSmem, /*lbo=*/groupBytes, /*sbo=*/128);
      }

      // m[2], l[2], the raw scores of the column before the tile [2], O;
      // with shifted values, then the last p of the tile before [2].
      SmallVector<Value> init = {f32c(-inf), f32c(-inf), f32c(0),
                                 f32c(0),    f32c(0),    f32c(0)};
      if (shifted)
        init.append({f32c(0), f32c(0)});
      for (int64_t i = 0; i < oBlocks * 4; ++i)
        init.push_back(f32c(0));

      nTiles = numKeyTiles();

      // One key tile's raw scores (this warp's rows) to the packed
      // probabilities of O += P' V: the key mix (with the carried `halo`),
      // `afterKeyMix` (the synchronous loop brings in the next key tile
      // there), masking, the online softmax against m and l, and the value
      // mix (with the carried last p, `pHalo`). O is rescaled here when `o`
      // is given; otherwise the caller rescales it by alpha (lazy: only
      // where `any`) once its MMAs are done.
      struct TileProbs {
        Value m[2], l[2], alpha[2], any, halo[2], pHalo[2];
        SmallVector<Value> pm, haloWeight;
      };
      auto rescaleBy = [&](ArrayRef<Value> o,
                           const Value alpha[2]) -> SmallVector<Value> {
        SmallVector<Value> scaled(o);
        for (int64_t nb = 0; nb < oBlocks; ++nb)
          for (int64_t i = 0; i < 4; ++i)
            scaled[nb * 4 + i] = fmul(o[nb * 4 + i], alpha[i / 2]);
        return scaled;
      };
      // O *= alpha once this tile's maxima are known (lazy: only where
      // some row's max grew by more than kLazyRescaleLog2, a branch uniform
      // over the warp).
      auto rescaleO = [&](ArrayRef<Value> o,
                          const TileProbs &tp) -> SmallVector<Value> {
        if (!lazy)
          return rescaleBy(o, tp.alpha);
        SmallVector<Type> types(o.size(), f32);
        return ifElse(
            tp.any, types,
            [&]() -> SmallVector<Value> { return rescaleBy(o, tp.alpha); },
            [&]() -> SmallVector<Value> { return SmallVector<Value>(o); });
      };
      auto probabilities = [&](SmallVector<Value> s, Value j0,
                               ArrayRef<Value> m, ArrayRef<Value> l,
                               ArrayRef<Value> halo, ArrayRef<Value> pHalo,
                               SmallVector<Value> *o,
                               llvm::function_ref<void()> afterKeyMix) {
        TileProbs tp;
        // The key mix on the scores.
        tp.halo[0] = halo[0];
        tp.halo[1] = halo[1];
        if (scoreMix) {
          auto [mixed, last] =
              ko ? shiftMixThread(s, ka1, ka2, {halo[0], halo[1]})
                 : shiftMixPrev(s, ka1, ka2, {halo[0], halo[1]});
          tp.halo[0] = last[0];
          tp.halo[1] = last[1];
          s = mixed;
        }
        afterKeyMix();

        // Masking only on partial tiles and tiles crossing the diagonal.
        s = maskTile(s, j0);

        // Online softmax in log2 units, rows g (r = 0) and g + 8 (r = 1).
        Value c = f32c(cfg.scaleLog2);
        SmallVector<Value> p(s.size());
        // The row's running max with this tile's scores (log2 units).
        auto rowMax = [&](int64_t r) {
          Value red = s[2 * r];
          for (int64_t nb = 0; nb < sBlocks; ++nb)
            for (int64_t i = 2 * r; i < 2 * r + 2; ++i)
              if (nb != 0 || i != 2 * r)
                red = fred(red, s[nb * 4 + i]);
          red = fred(red, shuffleXor(red, 1));
          red = fred(red, shuffleXor(red, 2));
          return fmax(m[r], fmul(red, c));
        };
        // P, alpha and the row sum against the max `mNew`.
        auto rowExp = [&](int64_t r, Value mNew) {
          tp.m[r] = mNew;
          // A row that has seen only masked keys keeps m = -inf; subtract 0
          // then, so that exp2 gives 0 rather than NaN.
          Value isInf = arith::CmpFOp::create(b, arith::CmpFPredicate::OEQ,
                                              tp.m[r], f32c(-inf));
          Value mUse = select(isInf, f32c(0), tp.m[r]);
          Value negM = arith::NegFOp::create(b, mUse);
          tp.alpha[r] = exp2(fadd(m[r], negM));
          Value sum = f32c(0);
          for (int64_t nb = 0; nb < sBlocks; ++nb)
            for (int64_t i = 2 * r; i < 2 * r + 2; ++i) {
              Value e = exp2(fma(s[nb * 4 + i], c, negM));
              p[nb * 4 + i] = e;
              sum = fadd(sum, e);
            }
          tp.l[r] = fma(l[r], tp.alpha[r], sum);
        };
        if (!lazy) {
          for (int64_t r = 0; r < 2; ++r)
            rowExp(r, rowMax(r));
        } else {
          // The warp keeps its rows' maxima unless one of them grows by
          // more than kLazyRescaleLog2 (P then stays below 2^8): most tiles
          // skip O's rescaling, a branch uniform over the warp.
          Value mx[2] = {rowMax(0), rowMax(1)};
          Value need;
          for (int64_t r = 0; r < 2; ++r) {
            Value grows =
                arith::CmpFOp::create(b, arith::CmpFPredicate::OGT, mx[r],
                                      fadd(m[r], f32c(kLazyRescaleLog2)));
            need = need ? ori(need, grows) : grows;
          }
          tp.any = NVVM::VoteSyncOp::create(b, b.getI1Type(), i32c(-1), need,
                                            NVVM::VoteSyncKind::any);
          for (int64_t r = 0; r < 2; ++r)
            rowExp(r, select(tp.any, mx[r], m[r]));
        }
        if (o)
          *o = rescaleO(*o, tp);

        // The value mix on the probabilities: P'_j = b1 p_j + b2 p_{j+1};
        // the halo row's weight b2 p_{j0}. With shifted values, the
        // coefficient of value row j0 - 1 + c is b2 p_{j0 + c} + b1 p_{j0 -
        // 1 + c}, p_{j0 - 1} the previous tile's last p rescaled to this
        // tile's max.
        if (shifted) {
          Value carried[2] = {fmul(pHalo[0], tp.alpha[0]),
                              fmul(pHalo[1], tp.alpha[1])};
          auto [mixed, last] =
              ko ? shiftMixThread(p, vb2, vb1, {carried[0], carried[1]})
                 : shiftMixPrev(p, vb2, vb1, {carried[0], carried[1]});
          for (int64_t nb = 0; nb < sBlocks; ++nb)
            for (int64_t r = 0; r < 2; ++r)
              tp.pm.push_back(
                  packPair(mixed[nb * 4 + 2 * r], mixed[nb * 4 + 2 * r + 1]));
          tp.pHalo[0] = last[0];
          tp.pHalo[1] = last[1];
        } else {
          std::tie(tp.pm, tp.haloWeight) = shiftMixNext(p, vb1, vb2);
        }
        return tp;
      };
      // wgmma: O += P' V as k-steps of 16 keys (A: mma.sync's fragments
      // of P'; B: the value window at `desc`, a k-step two row groups of
      // groupBytes further).
      auto wgmmaPV = [&](ArrayRef<Value> pm, Value desc, ArrayRef<Value> o,
                         bool wait) {
        SmallVector<SmallVector<Value>> pa;
        for (int64_t kk = 0; kk < cfg.blockN / 16; ++kk)
          pa.push_back({pm[(2 * kk) * 2 + 0], pm[(2 * kk) * 2 + 1],
                        pm[(2 * kk + 1) * 2 + 0], pm[(2 * kk + 1) * 2 + 1]});
        return wgmmaChain(pa, desc, 2 * groupBytes / 16, cfg.dPadded,
                          /*transB=*/true, o, wait);
      };
      auto wgmmaQK = [&](bool wait) {
        // A k-step is 16 columns of d: two core matrices of 128 bytes
        // further along the descriptor's /16 address field.
        return wgmmaChain(qFrag, kDesc, /*descStep=*/2 * 128 / 16, cfg.blockN,
                          /*transB=*/false, {}, wait);
      };

      SmallVector<Value> res;
      // (wgmma-overlap implies wgmma, and with it shifted values.)
      if (!(wg && cfg.wgmmaOverlap)) {
        auto loop = scf::ForOp::create(b, idx(0), nTiles, idx(1), init);
        {
          OpBuilder::InsertionGuard guard(b);
          b.setInsertionPointToStart(loop.getBody());
          Value tile = loop.getInductionVar();
          SmallVector<Value> it(loop.getRegionIterArgs().begin(),
                                loop.getRegionIterArgs().end());
          SmallVector<Value> o(it.begin() + state, it.end());
          Value j0 = mul(tile, idx(cfg.blockN));

          // kv-prefetch: this tile's keys and values (its slot's first
          // row), the next tile's copies in flight from here on.
          Value slotRow;
          if (prefetch) {
            slotRow = mul(beginPrefetchedTile(token, tile, nTiles,
                                              [&](Value t) { copyTile(t); }),
                          idx(cfg.blockN + 1));
          } else {
            // In flight: this tile's keys, then its values.
            waitCopies(token, 1);
            if (wg)
              proxyFence();
            gpu::BarrierOp::create(b);
          }

          // S = Q K^T on tensor cores.
          SmallVector<Value> s =
              wg ? wgmmaQK(/*wait=*/true) : product(qFrag, kSmem, 0, slotRow);
          SmallVector<Value> pHalo;
          if (shifted)
            pHalo = {it[6], it[7]};
          TileProbs tp = probabilities(
              s, j0, {it[0], it[1]}, {it[2], it[3]}, {it[4], it[5]}, pHalo, &o,
              [&]() {
                if (prefetch)
                  return;
                // Every warp is done with the key tile: bring in the next.
                gpu::BarrierOp::create(b);
                copy(kSmem, k, add(j0, idx(cfg.blockN)), cfg.blockN);
                commitCopies();
              });

          if (!prefetch) {
            // In flight: this tile's values (and the next tile's keys).
            waitCopies(token, 1);
            if (wg)
              proxyFence();
            gpu::BarrierOp::create(b);
          }

          // O += P' V on tensor cores (value rows 1 .. BN of the buffer),
          // then the halo row: O += b2 p_{j0} v_{j0 - 1}. With shifted
          // values, rows 0 .. BN - 1 and no halo row.
          if (wg)
            o = wgmmaPV(tp.pm, vDesc, o, /*wait=*/true);
          else
            accumulateTile(tp.pm, tp.haloWeight, vSmem, o, slotRow);

          // Every warp is done with the value tile: bring in the next one,
          // rows [j0 + BN - 1, j0 + 2 BN) (shifted values: to j0 + 2 BN -
          // 1).
          if (!prefetch) {
            gpu::BarrierOp::create(b);
            copy(vSmem, v, add(j0, idx(cfg.blockN - 1)),
                 cfg.blockN + (shifted ? 0 : 1));
            commitCopies();
          }

          SmallVector<Value> next = {tp.m[0], tp.m[1],    tp.l[0],
                                     tp.l[1], tp.halo[0], tp.halo[1]};
          if (shifted)
            next.append({tp.pHalo[0], tp.pHalo[1]});
          next.append(o.begin(), o.end());
          scf::YieldOp::create(b, next);
        }
        // No copy is left in flight when the block ends.
        waitCopies(token, 0);
        res.assign(loop.getResults().begin(), loop.getResults().end());
      } else {
        // wgmma-overlap: software pipelining over tiles 0 .. T - 1, T =
        // max(nTiles, 1) (a block without keys runs tile 0 fully masked).
        // Tile t's value window is in half t % 2 of vSmem.
        //   prologue: S_0 (synchronous), tile 0's probabilities P'_0;
        //   iteration j < T - 1: issue S_{j+1} = Q K_{j+1}^T and O += P'_j
        //     V_j; wait for S_{j+1}; bring in K_{j+2}; tile j + 1's
        //     probabilities (O's MMAs in flight); wait for O; rescale it;
        //   epilogue: O += P'_{T-1} V_{T-1} (synchronous).
        // Copies: V_{j+1} starts after iteration j's top barrier, which every
        // warp passes after its MMAs of V_{j-1} are done (its half), once
        // this iteration's MMAs are issued; K_{j+2} after the barrier that
        // follows every warp's wait for S_{j+1}.
        // A half is halfRows 16-byte rows: halfRows in the descriptor's
        // address field (bytes / 16).
        const int64_t halfRows = cfg.blockN * cfg.chunksPerRow();
        auto halfDescOf = [&](Value half) {
          Value off = arith::IndexCastOp::create(b, b.getI64Type(),
                                                 mul(half, idx(halfRows)));
          return arith::AddIOp::create(b, vDesc, off).getResult();
        };
        Value last = sub(arith::MaxSIOp::create(b, nTiles, idx(1)), idx(1));

        // Prologue. In flight: K_0, V_0 (half 0), in that order.
        waitCopies(token, 1);
        proxyFence();
        gpu::BarrierOp::create(b);
        SmallVector<Value> s0 = wgmmaQK(/*wait=*/true);
        TileProbs tp0 = probabilities(
            s0, idx(0), {init[0], init[1]}, {init[2], init[3]},
            {init[4], init[5]}, {init[6], init[7]}, /*o=*/nullptr, [&]() {
              gpu::BarrierOp::create(b);
              copy(kSmem, k, idx(cfg.blockN), cfg.blockN);
              commitCopies();
            });
        // O is zero: nothing to rescale.
        SmallVector<Value> pinit = {tp0.m[0],     tp0.m[1],    tp0.l[0],
                                    tp0.l[1],     tp0.halo[0], tp0.halo[1],
                                    tp0.pHalo[0], tp0.pHalo[1]};
        const int64_t pmAt = pinit.size();
        pinit.append(tp0.pm.begin(), tp0.pm.end());
        const int64_t oAt = pinit.size();
        pinit.append(init.begin() + state, init.end());

        auto loop = scf::ForOp::create(b, idx(0), last, idx(1), pinit);
        {
          OpBuilder::InsertionGuard guard(b);
          b.setInsertionPointToStart(loop.getBody());
          Value tile = loop.getInductionVar();
          SmallVector<Value> it(loop.getRegionIterArgs().begin(),
                                loop.getRegionIterArgs().end());
          SmallVector<Value> pm(it.begin() + pmAt, it.begin() + oAt);
          SmallVector<Value> o(it.begin() + oAt, it.end());
          Value jn0 = mul(add(tile, idx(1)), idx(cfg.blockN));
          Value half = remu(tile, idx(2));

          // Landed: V_j and K_{j+1}.
          waitCopies(token, 0);
          proxyFence();
          gpu::BarrierOp::create(b);

          SmallVector<Value> sPending = wgmmaQK(/*wait=*/false);
          SmallVector<Value> oPending =
              wgmmaPV(pm, halfDescOf(half), o, /*wait=*/false);
          // V_{j+1} into the other half while the MMAs run.
          copy(vSmem, v, sub(jn0, idx(1)), cfg.blockN,
               mul(sub(idx(1), half), idx(halfRows)));
          commitCopies();
          SmallVector<Value> s = wgmmaWait(1, sPending);
          TileProbs tp = probabilities(
              s, jn0, {it[0], it[1]}, {it[2], it[3]}, {it[4], it[5]},
              {it[6], it[7]}, /*o=*/nullptr, [&]() {
                // Every warp's S_{j+1} is done: bring in K_{j+2}.
                gpu::BarrierOp::create(b);
                copy(kSmem, k, add(jn0, idx(cfg.blockN)), cfg.blockN);
                commitCopies();
              });
          o = rescaleO(wgmmaWait(0, oPending, pm), tp);
          SmallVector<Value> next = {tp.m[0],     tp.m[1],    tp.l[0],
                                     tp.l[1],     tp.halo[0], tp.halo[1],
                                     tp.pHalo[0], tp.pHalo[1]};
          next.append(tp.pm.begin(), tp.pm.end());
          next.append(o.begin(), o.end());
          scf::YieldOp::create(b, next);
        }
        // Epilogue: the last tile's values (every copy has landed after
        // this wait; the last one, a key tile past the end, is unused).
        SmallVector<Value> out(loop.getResults().begin(),
                               loop.getResults().end());
        waitCopies(token, 0);
        proxyFence();
        gpu::BarrierOp::create(b);
        SmallVector<Value> o =
            wgmmaPV(ArrayRef<Value>(out).slice(pmAt, oAt - pmAt),
                    halfDescOf(remu(last, idx(2))),
                    ArrayRef<Value>(out).drop_front(oAt), /*wait=*/true);
        res.assign(out.begin(), out.begin() + pmAt);
        res.append(o.begin(), o.end());
      }

      // Epilogue: complete the row sums across the four lanes of a row,
      // normalise, store rows < Sq and columns < D.
      if (shifted)
        addLastValueRow(res, nTiles, quad, haloCol);
      res.erase(res.begin() + 4, res.begin() + state);
      Value inv[2];
      for (int64_t r = 0; r < 2; ++r) {
        Value sum = res[2 + r];
        sum = fadd(sum, shuffleXor(sum, 1));
        sum = fadd(sum, shuffleXor(sum, 2));
        Value pos =
            arith::CmpFOp::create(b, arith::CmpFPredicate::OGT, sum, f32c(0));
        inv[r] = select(pos, arith::DivFOp::create(b, f32c(1), sum), f32c(0));
        if (gradQ) {
          // lse in log2 units; +inf for a row that sees no key (P = 0).
          Value lse = fadd(res[r], intrinsic("llvm.nvvm.lg2.approx.ftz.f",
                                             select(pos, sum, f32c(1))));
          gradRowLse[r] = select(pos, lse, f32c(inf));
        }
        if (lseOut) {
          // Natural log; -inf for a row that sees no key.
          Value row = r == 0 ? row0 : row1;
          Value lse2 = fadd(res[r], intrinsic("llvm.nvvm.lg2.approx.ftz.f",
                                              select(pos, sum, f32c(1))));
          Value lse = select(pos, fmul(lse2, f32c(1.0 / kLog2E)), f32c(-inf));
          ifThen(andi(cmpi(arith::CmpIPredicate::ult, row, dimSq), isT0),
                 [&]() {
                   memref::StoreOp::create(b, lse, lseOut,
                                           ValueRange{flatRowOf(row)});
                 });
        }
      }
      if (!gradQ) {
        storeRows(ArrayRef<Value>(res).drop_front(4), {inv[0], inv[1]}, out);
        return;
      }

      // grad_q. delta = rowsum(dO * O) (O = acc / l; dO read at this thread's
      // accumulator positions), then lse and delta of rows < Sq out (the
      // row's first lane) for grad_kv.
      for (int64_t r = 0; r < 2; ++r) {
        Value row = r == 0 ? row0 : row1;
        Value in = cmpi(arith::CmpIPredicate::ult, row, dimSq);
        Value rowBase = add(qBase, mul(select(in, row, idx(0)), idx(cfg.d)));
        Value part = f32c(0);
        for (int64_t nb = 0; nb < oBlocks; ++nb)
          for (int64_t e = 0; e < 2; ++e) {
            Value col = add(idx(nb * 8 + e), mul(t4, idx(2)));
            Value inCol = cmpi(arith::CmpIPredicate::ult, col, idx(cfg.d));
            Value x = memref::LoadOp::create(
                b, out, ValueRange{add(rowBase, select(inCol, col, idx(0)))});
            x = select(inCol, arith::ExtFOp::create(b, f32, x).getResult(),
                       f32c(0));
            part = fma(x, res[4 + nb * 4 + 2 * r + e], part);
          }
        part = fadd(part, shuffleXor(part, 1));
        part = fadd(part, shuffleXor(part, 2));
        gradRowDelta[r] = fmul(part, inv[r]);
        Value flatRow = flatRowOf(row);
        ifThen(andi(in, isT0), [&]() {
          memref::StoreOp::create(b, gradRowLse[r], gradLse,
                                  ValueRange{flatRow});
          memref::StoreOp::create(b, gradRowDelta[r], gradDelta,
                                  ValueRange{flatRow});
        });
      }
    } // the first pass

    // Second pass over the same key tiles: the key tile with its halo row
    // (rows [j0 - 1, j0 + BN)) in the value buffer, the value tile (rows
    // [j0, j0 + BN)) in the key buffer.
    //   S^ = a1 S + a2 S shifted (S = Q K^T), P = exp2(S^ c - lse),
    //   dP^ = b1 dP + b2 dP shifted (dP = dO V^T; the column before the
    //   tile carried like the scores'), dS = P (dP^ - delta),
    //   dq += (a1 dS + a2 dS shifted the other way) K + a2 dS_{j0} k_{j0-1}.
    if (wg) {
      // wgmma (given the statistics): S = Q K^T and dP = dO V^T from the
      // key and value tiles (keys in thread order, K-major), issued
      // together; then dq += dS' K^ over the key window [j0 - 1, j0 + BN -
      // 1) (MN-major), the coefficient of window row j0 - 1 + c being
      // a2 dS_{j0 + c} + a1 dS_{j0 - 1 + c} (dS_{j0 - 1}: the previous
      // tile's last column, carried) as the forward's shifted values mix
      // P; the last key row's a1 dS term is added after the loop.
      // vSmem: the value tile, then the key window.
      const int64_t groupBytes = cfg.chunksPerRow() * 128;
      const int64_t halfRows = cfg.blockN * cfg.chunksPerRow();
      Value kDesc = smemDescriptor(kSmem, /*lbo=*/128, /*sbo=*/groupBytes);
      Value vDesc = smemDescriptor(vSmem, /*lbo=*/128, /*sbo=*/groupBytes);
      Value wDesc = arith::AddIOp::create(
          b, smemDescriptor(vSmem, /*lbo=*/groupBytes, /*sbo=*/128),
          arith::ConstantOp::create(consts(), b.getI64IntegerAttr(halfRows)));
      // Key tile t's three copies; with grad-prefetch into slot t % 2
      // (the key buffer's rows t % 2 * halfRows on, the value buffer's
      // t % 2 * 2 halfRows on).
      auto copyKeyTile = [&](Value t) {
        Value j0 = mul(t, idx(cfg.blockN));
        Value slot = cfg.gradPrefetch ? remu(t, idx(2)) : idx(0);
        Value kRow0 = mul(slot, idx(halfRows));
        Value vRow0 = mul(slot, idx(2 * halfRows));
        auto copy = [&](Value dst, Value src, Value first, Value dstRow0) {
          copyRowsFast(dst, src, kvBase, first, cfg.blockN, dimSk,
                       /*keyOrder=*/true, /*cm=*/true, dstRow0);
        };
        copy(kSmem, k, j0, cfg.gradPrefetch ? kRow0 : Value());
        copy(vSmem, v, j0, cfg.gradPrefetch ? vRow0 : Value());
        copy(vSmem, k, sub(j0, idx(1)), add(vRow0, idx(halfRows)));
        return commitCopies();
      };
      Value firstCopies;
      if (cfg.gradPrefetch) {
        // The first tile's copies, once every warp has its q and dO
        // fragments (staged through the key buffer). Rows past Sk are
        // zero-filled, so a block without key tiles copies zeros.
        gpu::BarrierOp::create(b);
        firstCopies = copyKeyTile(idx(0));
      }
      Value kDesc0 = kDesc, vDesc0 = vDesc, wDesc0 = wDesc;
      // dq, then the scores', dP's and dS's last columns (t4 = 0 lanes).
      SmallVector<Value> init2(oBlocks * 4, f32c(0));
      init2.append(6, f32c(0));
      auto loop2 = scf::ForOp::create(b, idx(0), nTiles, idx(1), init2);
      {
        OpBuilder::InsertionGuard guard(b);
        b.setInsertionPointToStart(loop2.getBody());
        SmallVector<Value> it(loop2.getRegionIterArgs().begin(),
                              loop2.getRegionIterArgs().end());
        SmallVector<Value> dq(it.begin(), it.begin() + oBlocks * 4);
        Value *halo = it.data() + oBlocks * 4;
        Value j0 = mul(loop2.getInductionVar(), idx(cfg.blockN));
        if (cfg.gradPrefetch) {
          Value slot =
              beginPrefetchedTile(firstCopies, loop2.getInductionVar(), nTiles,
                                  [&](Value next) { copyKeyTile(next); });
          // This tile's slot in the descriptors.
          Value kOff = slotOffset(slot, halfRows);
          Value vOff = slotOffset(slot, 2 * halfRows);
          kDesc = arith::AddIOp::create(b, kDesc0, kOff);
          vDesc = arith::AddIOp::create(b, vDesc0, vOff);
          wDesc = arith::AddIOp::create(b, wDesc0, vOff);
        } else {
          gpu::BarrierOp::create(b);
          waitCopies(copyKeyTile(loop2.getInductionVar()), 0);
          proxyFence();
          gpu::BarrierOp::create(b);
        }
        SmallVector<Value> both =
            wgmmaChain(qFrag, kDesc, /*descStep=*/2 * 128 / 16, cfg.blockN,
                       /*transB=*/false, {}, /*wait=*/false);
        SmallVector<Value> dpPending =
            wgmmaChain(doFrag, vDesc, /*descStep=*/2 * 128 / 16, cfg.blockN,
                       /*transB=*/false, {}, /*wait=*/false);
        both.append(dpPending);
        both = wgmmaWait(0, both);
        ArrayRef<Value> sRaw = ArrayRef<Value>(both).take_front(sBlocks * 4);
        ArrayRef<Value> dpRaw = ArrayRef<Value>(both).drop_front(sBlocks * 4);
        auto [dpm, dpLast] =
            shiftMixThread(dpRaw, vb1, vb2, {halo[2], halo[3]});
        auto [sm, sLast] = shiftMixThread(sRaw, ka1, ka2, {halo[0], halo[1]});
        // P: masked scores give exp2(-inf) = 0.
        sm = maskTile(sm, j0);
        Value c = f32c(cfg.scaleLog2);
        Value negLse[2] = {arith::NegFOp::create(b, gradRowLse[0]),
                           arith::NegFOp::create(b, gradRowLse[1])};
        SmallVector<Value> ds(sm.size());
        for (int64_t i = 0; i < (int64_t)sm.size(); ++i) {
          Value p = exp2(fma(sm[i], c, negLse[(i % 4) / 2]));
          ds[i] = fmul(p, fsub(dpm[i], gradRowDelta[(i % 4) / 2]));
        }
        auto dsMixed = shiftMixThread(ds, ka2, ka1, {halo[4], halo[5]});
        SmallVector<Value> dsw = dsMixed.first, dsLast = dsMixed.second;
        SmallVector<SmallVector<Value>> pa;
        for (int64_t kk = 0; kk < cfg.blockN / 16; ++kk) {
          auto pk = [&](int64_t nb, int64_t r) {
            return packPair(dsw[nb * 4 + 2 * r], dsw[nb * 4 + 2 * r + 1]);
          };
          pa.push_back({pk(2 * kk, 0), pk(2 * kk, 1), pk(2 * kk + 1, 0),
                        pk(2 * kk + 1, 1)});
        }
        dq = wgmmaChain(pa, wDesc, 2 * groupBytes / 16, cfg.dPadded,
                        /*transB=*/true, dq, /*wait=*/true);
        SmallVector<Value> next(dq);
        next.append(
            {sLast[0], sLast[1], dpLast[0], dpLast[1], dsLast[0], dsLast[1]});
        scf::YieldOp::create(b, next);
      }
      if (cfg.gradPrefetch) // no key tile: the first tile's copies
        waitCopies(firstCopies, 0);
      // The last key row visited, j = nTiles BN - 1 (if < Sk): a1 dS_j
      // (the carried last column) times k_j.
      SmallVector<Value> dqRes(loop2.getResults().begin(),
                               loop2.getResults().begin() + oBlocks * 4);
      addLastRow(
          dqRes,
          {loop2.getResult(oBlocks * 4 + 4), loop2.getResult(oBlocks * 4 + 5)},
          ka1, k, nTiles, quad, haloCol);
      Value sc = f32c(cfg.scaleLog2 / kLog2E);
      unrotate(dqRes, {add(offset, row0), add(offset, row1)});
      storeRows(dqRes, {sc, sc}, gradDq);
      return;
    }
    // Key tile t's copies: the key window [j0 - 1, j0 + BN) into the value
    // buffer, the value tile into the key buffer; with grad-prefetch into
    // slot t % 2 (rows t % 2 * (BN + 1) on, in both buffers).
    auto copyKeyTile = [&](Value t) {
      Value j0 = mul(t, idx(cfg.blockN));
      Value row0 = cfg.gradPrefetch ? mul(remu(t, idx(2)), idx(cfg.blockN + 1))
                                    : Value();
      copyRowsFast(vSmem, k, kvBase, sub(j0, idx(1)), cfg.blockN + 1, dimSk,
                   false, false, row0);
      copyRowsFast(kSmem, v, kvBase, j0, cfg.blockN, dimSk, false, false, row0);
      return commitCopies();
    };
    Value firstCopies;
    if (cfg.gradPrefetch) {
      // The first tile's copies into slot 0. Given the statistics, once
      // every warp has its dO fragments (staged through the key buffer).
      // After the first pass no barrier is needed: its last tile's reads of
      // both buffers end with the loop's barrier, and what follows it, the
      // copy of a key tile past the end, writes the addresses that the same
      // thread's copy of the value tile writes here (the emulator's mutants
      // check both). Rows past Sk are zero-filled, so a block without key
      // tiles copies zeros.
      if (cfg.statsGiven)
        gpu::BarrierOp::create(b);
      firstCopies = copyKeyTile(idx(0));
    }
    SmallVector<Value> init2(oBlocks * 4, f32c(0));
    init2.append(4, f32c(0)); // the scores' and dP's column before the tile
    auto loop2 = scf::ForOp::create(b, idx(0), nTiles, idx(1), init2);
    {
      OpBuilder::InsertionGuard guard(b);
      b.setInsertionPointToStart(loop2.getBody());
      SmallVector<Value> it(loop2.getRegionIterArgs().begin(),
                            loop2.getRegionIterArgs().end());
      SmallVector<Value> dq(it.begin(), it.begin() + oBlocks * 4);
      SmallVector<Value> sHalo = {it[oBlocks * 4], it[oBlocks * 4 + 1]};
      SmallVector<Value> pHalo = {it[oBlocks * 4 + 2], it[oBlocks * 4 + 3]};
      Value j0 = mul(loop2.getInductionVar(), idx(cfg.blockN));
      // The buffer row of this tile's value tile and key window (slot
      // t % 2 with grad-prefetch).
      Value slotRow;
      if (cfg.gradPrefetch) {
        Value slot =
            beginPrefetchedTile(firstCopies, loop2.getInductionVar(), nTiles,
                                [&](Value next) { copyKeyTile(next); });
        slotRow = mul(slot, idx(cfg.blockN + 1));
      } else {
        gpu::BarrierOp::create(b);
        waitCopies(copyKeyTile(loop2.getInductionVar()), 0);
        gpu::BarrierOp::create(b);
      }

      // dP^ first: then P and dS are formed together, element by element.
      auto [dpm, pLast] =
          shiftMixPrev(product(doFrag, kSmem, 0, slotRow), vb1, vb2, pHalo);
      auto sMixed =
          shiftMixPrev(product(qFrag, vSmem, 1, slotRow), ka1, ka2, sHalo);
      SmallVector<Value> sm = sMixed.first, sLast = sMixed.second;
      // P: masked scores give exp2(-inf) = 0.
      sm = maskTile(sm, j0);
      Value c = f32c(cfg.scaleLog2);
      Value negLse[2] = {arith::NegFOp::create(b, gradRowLse[0]),
                         arith::NegFOp::create(b, gradRowLse[1])};
      SmallVector<Value> p(sm.size());
      for (int64_t i = 0; i < (int64_t)sm.size(); ++i)
        p[i] = exp2(fma(sm[i], c, negLse[(i % 4) / 2]));
      SmallVector<Value> ds(p.size());
      for (int64_t i = 0; i < (int64_t)p.size(); ++i)
        ds[i] = fmul(p[i], fsub(dpm[i], gradRowDelta[(i % 4) / 2]));
      auto [dsm, dsHalo] = shiftMixNext(ds, ka1, ka2);
      accumulateTile(dsm, dsHalo, vSmem, dq, slotRow);
      SmallVector<Value> next(dq);
      next.append({sLast[0], sLast[1], pLast[0], pLast[1]});
      scf::YieldOp::create(b, next);
    }
    if (cfg.gradPrefetch) // no key tile: the first tile's copies
      waitCopies(firstCopies, 0);
    SmallVector<Value> dqRes(loop2.getResults().begin(),
                             loop2.getResults().begin() + oBlocks * 4);
    Value sc = f32c(cfg.scaleLog2 / kLog2E);
    unrotate(dqRes, {add(offset, row0), add(offset, row1)});
    storeRows(dqRes, {sc, sc}, gradDq);
  }

  // --- SIMT path (f32) -----------------------------------------------------
  void emitSIMTBody() {
    const int64_t colVecs = cfg.dPadded / 16; // vector<4xf32> per thread
    VectorType v4 = VectorType::get({4}, f32);
    Value part = remu(tid, idx(kSIMTLanesPerRow));
    Value rowInTile = divu(tid, idx(kSIMTLanesPerRow));
    Value row = add(qStart, rowInTile);
    Value rowValid = cmpi(arith::CmpIPredicate::ult, row, dimSq);
    Value rowBase = add(qBase, mul(row, idx(cfg.d)));
    auto colOf = [&](int64_t i) {
      return add(idx(16 * i), mul(part, idx(4)));
    };

    // The query row slice, in registers (zero beyond Sq and D).
    SmallVector<Value> qv;
    for (int64_t i = 0; i < colVecs; ++i) {
      Value col = colOf(i);
      Value valid = rowValid;
      if ((i + 1) * 16 > cfg.d)
        valid = andi(valid, cmpi(arith::CmpIPredicate::ult, col, idx(cfg.d)));
      qv.push_back(ifElse(
          valid, v4,
          [&]() -> SmallVector<Value> { return {loadChunk(q, rowBase, col)}; },
          [&]() -> SmallVector<Value> { return {zeroVec(v4)}; })[0]);
    }

    double inf = std::numeric_limits<double>::infinity();
    SmallVector<Value> init = {f32c(-inf), f32c(0)};
    for (int64_t i = 0; i < colVecs; ++i)
      init.push_back(zeroVec(v4));
    Value nTiles = numKeyTiles();
    auto loop = scf::ForOp::create(b, idx(0), nTiles, idx(1), init);
    {
      OpBuilder::InsertionGuard guard(b);
      b.setInsertionPointToStart(loop.getBody());
      Value tile = loop.getInductionVar();
      SmallVector<Value> it(loop.getRegionIterArgs().begin(),
                            loop.getRegionIterArgs().end());
      Value m = it[0], l = it[1];
      SmallVector<Value> o(it.begin() + 2, it.end());
      Value j0 = mul(tile, idx(cfg.blockN));

      gpu::BarrierOp::create(b);
      stageKeys(j0);
      stageRows(vSmem, v, kvBase, j0, cfg.blockN, dimSk, vb1, vb2);
      gpu::BarrierOp::create(b);

      // Scores of the tile: partial dot products, completed across the
      // four lanes of the row.
      SmallVector<Value> s;
      for (int64_t j = 0; j < cfg.blockN; ++j) {
        Value acc = zeroVec(v4);
        for (int64_t i = 0; i < colVecs; ++i) {
          Value kv = vector::LoadOp::create(b, v4, kSmem,
                                            ValueRange{idx(j), colOf(i)},
                                            false, llvm::MaybeAlign(16));
          acc = vector::FMAOp::create(b, qv[i], kv, acc);
        }
        Value dot = vector::ReductionOp::create(b, vector::CombiningKind::ADD,
                                                acc);
        dot = fadd(dot, shuffleXor(dot, 1));
        dot = fadd(dot, shuffleXor(dot, 2));
        s.push_back(dot);
      }
      SmallVector<Type> sTypes(s.size(), f32);
      s = ifElse(
          tileNeedsMask(j0, qStart), sTypes,
          [&]() -> SmallVector<Value> {
            SmallVector<Value> masked;
            Value maskVal = f32c(maskValue());
            for (int64_t j = 0; j < cfg.blockN; ++j)
              masked.push_back(
                  select(isMasked(add(j0, idx(j)), row), maskVal, s[j]));
            return masked;
          },
          [&]() -> SmallVector<Value> { return s; });

      Value c = f32c(cfg.scaleLog2);
      Value red = s[0];
      for (int64_t j = 1; j < cfg.blockN; ++j)
        red = fred(red, s[j]);
      Value newM = fmax(m, fmul(red, c));
      Value isInf = arith::CmpFOp::create(b, arith::CmpFPredicate::OEQ, newM,
                                          f32c(-inf));
      Value negM = arith::NegFOp::create(b, select(isInf, f32c(0), newM));
      Value alpha = exp2(fadd(m, negM));
      Value sum = f32c(0);
      for (int64_t i = 0; i < colVecs; ++i)
        o[i] = arith::MulFOp::create(b, o[i],
                                     vector::BroadcastOp::create(b, v4, alpha));
      for (int64_t j = 0; j < cfg.blockN; ++j) {
        Value pj = exp2(fma(s[j], c, negM));
        sum = fadd(sum, pj);
        Value pv = vector::BroadcastOp::create(b, v4, pj);
        for (int64_t i = 0; i < colVecs; ++i) {
          Value vv = vector::LoadOp::create(b, v4, vSmem,
                                            ValueRange{idx(j), colOf(i)},
                                            false, llvm::MaybeAlign(16));
          o[i] = vector::FMAOp::create(b, pv, vv, o[i]);
        }
      }
      Value newL = fma(l, alpha, sum);
      SmallVector<Value> next = {newM, newL};
      next.append(o.begin(), o.end());
      scf::YieldOp::create(b, next);
    }

    SmallVector<Value> res(loop.getResults().begin(), loop.getResults().end());
    Value sum = res[1];
    Value pos =
        arith::CmpFOp::create(b, arith::CmpFPredicate::OGT, sum, f32c(0));
    Value inv = select(pos, arith::DivFOp::create(b, f32c(1), sum), f32c(0));
    Value invV = vector::BroadcastOp::create(b, v4, inv);
    if (lseOut) {
      // Natural log; -inf for a row that sees no key. The row's first lane.
      Value lse2 = fadd(res[0], intrinsic("llvm.nvvm.lg2.approx.ftz.f",
                                          select(pos, sum, f32c(1))));
      Value lse = select(pos, fmul(lse2, f32c(1.0 / kLog2E)), f32c(-inf));
      ifThen(andi(rowValid, cmpi(arith::CmpIPredicate::eq, part, idx(0))),
             [&]() {
               memref::StoreOp::create(
                   b, lse, lseOut,
                   ValueRange{add(divu(qBase, idx(cfg.d)), row)});
             });
    }
    ifThen(rowValid, [&]() {
      for (int64_t i = 0; i < colVecs; ++i) {
        Value col = colOf(i);
        Value val = arith::MulFOp::create(b, res[2 + i], invV);
        auto store = [&]() {
          if (cfg.d % 4 == 0) {
            vector::StoreOp::create(b, val, out, ValueRange{add(rowBase, col)},
                                    /*nontemporal=*/false,
                                    llvm::MaybeAlign(16));
            return;
          }
          for (int64_t e = 0; e < 4; ++e) {
            Value ce = add(col, idx(e));
            ifThen(cmpi(arith::CmpIPredicate::ult, ce, idx(cfg.d)), [&]() {
              memref::StoreOp::create(
                  b, vector::ExtractOp::create(b, val, ArrayRef<int64_t>{e}),
                  out, ValueRange{add(rowBase, ce)});
            });
          }
        };
        if ((i + 1) * 16 <= cfg.d)
          store();
        else
          ifThen(cmpi(arith::CmpIPredicate::ult, col, idx(cfg.d)), store);
      }
    });
  }
};

/// Parameters of the decode kernels (kv_cache_attention), fixed at compile
/// time.
struct DecodeConfig {
  KernelConfig base;  // elt, causal, scaleLog2, d, vecWidth, ropeTheta
  int64_t threads;    // per block
  int64_t lanes;      // lanes per key: D / vecWidth rounded up to a power of 2
  int64_t split;      // cache rows per split (one block each)
  int64_t rows;       // query rows per block (RB)
  bool prefetch;      // the next step's keys loaded before this step's math
  bool mma;           // tensor-core kernel (DecodeMmaKernelEmitter)
  static constexpr int64_t kKeysPerIter = 4; // keys per lane group per step
  static constexpr int64_t kMergeThreads = 128;
  static constexpr int64_t kMmaKeys = 16; // keys per warp per step (mma)
  /// Groups whose states the block merges: lane groups (SIMT) or warps.
  int64_t keyGroups() const { return mma ? threads / 32 : threads / lanes; }
  int64_t chunks() const { return base.d / base.vecWidth; }
};

/// What the decode kernels (SIMT and tensor-core) share: their arguments,
/// the block's place in the grid (KV head and rows of its group, split of
/// the valid cache rows, batch), and the end of the kernel: the states of
/// the block's key groups (one per lane group or warp) in shared memory
/// merged per (row, column) into the block's partial state, written to the
/// workspace. Arguments:
///   q, kc, vc : memref<?xT>, wsM, wsL, wsO : memref<?xf32>,
///   B, Hq, Sq, Hkv, Smax, length : index.
/// Workspace layout: state (row, split) at row * splits + split, rows in
/// [B, Hq, Sq] order, splits = ceil(length / split); o has D values each.
class DecodeEmitterBase : protected EmitterBase {
protected:
  DecodeEmitterBase(gpu::GPUFuncOp func, const DecodeConfig &dc)
      : EmitterBase(func, dc.base), dc(dc), func(func) {}

  const DecodeConfig &dc;
  gpu::GPUFuncOp func;
  Value q, kc, vc, wsM, wsL, wsO, dimHq, dimSq, dimHkv, dimSmax;
  Value oSmem, mSmem, lSmem; // [KG, RB, D], [KG, RB], [KG, RB] f32
  Value len, tid, split, rowsTotal, kvHead, r0, splits, j0, j1, kvBase,
      rowFlat0, qOffset;

  void emitPrologue() {
    auto args = func.getArguments();
    q = args[0];
    kc = args[1];
    vc = args[2];
    wsM = args[3];
    wsL = args[4];
    wsO = args[5];
    // args[6] is B (the grid's z dimension covers it).
    dimHq = args[7];
    dimSq = args[8];
    dimHkv = args[9];
    dimSmax = args[10];
    oSmem = func.getWorkgroupAttributions()[0];
    mSmem = func.getWorkgroupAttributions()[1];
    lSmem = func.getWorkgroupAttributions()[2];
    len = arith::MinSIOp::create(b, args[11], dimSmax);
    tid = gpu::ThreadIdOp::create(b, gpu::Dimension::x);
    // Grid (Hkv * row blocks, splits, B): x has no practical limit, y is
    // limited to 65535 (splits <= ceil(Smax / split)).
    Value yid = gpu::BlockIdOp::create(b, gpu::Dimension::x);
    split = gpu::BlockIdOp::create(b, gpu::Dimension::y);
    Value batch = gpu::BlockIdOp::create(b, gpu::Dimension::z);
    Value group = divu(dimHq, dimHkv);
    rowsTotal = mul(group, dimSq);
    Value rowBlocks = divu(add(rowsTotal, idx(dc.rows - 1)), idx(dc.rows));
    kvHead = divu(yid, rowBlocks);
    r0 = mul(remu(yid, rowBlocks), idx(dc.rows));
    splits = divu(add(len, idx(dc.split - 1)), idx(dc.split));
    j0 = mul(split, idx(dc.split));
    j1 = arith::MinSIOp::create(b, add(j0, idx(dc.split)), len);
    kvBase = mul(mul(add(mul(batch, dimHkv), kvHead), dimSmax), idx(cfg.d));
    // Flat query row of the group's row r: heads kvHead*G .. are adjacent.
    rowFlat0 = mul(add(mul(batch, dimHq), mul(kvHead, group)), dimSq);
    qOffset = sub(len, dimSq); // query i at position len - Sq + i
  }

  /// After the key groups have stored their states: merges them per (row,
  /// column) and writes the block's state for its split to the workspace.
  void mergeGroupsToWorkspace() {
    const int64_t RB = dc.rows, KG = dc.keyGroups();
    double inf = std::numeric_limits<double>::infinity();
    gpu::BarrierOp::create(b);
    int64_t items = RB * cfg.d;
    for (int64_t it = 0; it * dc.threads < items; ++it) {
      auto body = [&]() {
        Value item = add(tid, idx(it * dc.threads));
        Value rr = divu(item, idx(cfg.d));
        Value c = remu(item, idx(cfg.d));
        Value r = add(r0, rr);
        ifThen(cmpi(arith::CmpIPredicate::ult, r, rowsTotal), [&]() {
          Value mMax = f32c(-inf);
          SmallVector<Value> ms;
          for (int64_t g = 0; g < KG; ++g) {
            ms.push_back(
                memref::LoadOp::create(b, mSmem, ValueRange{idx(g), rr}));
            mMax = fmax(mMax, ms.back());
          }
          Value isInf = arith::CmpFOp::create(b, arith::CmpFPredicate::OEQ,
                                              mMax, f32c(-inf));
          Value negM = arith::NegFOp::create(b, select(isInf, f32c(0), mMax));
          Value lSum = f32c(0), oSum = f32c(0);
          for (int64_t g = 0; g < KG; ++g) {
            Value wgt = exp2(fadd(ms[g], negM));
            lSum = fma(wgt,
                       memref::LoadOp::create(b, lSmem, ValueRange{idx(g), rr}),
                       lSum);
            oSum =
                fma(wgt,
                    memref::LoadOp::create(b, oSmem, ValueRange{idx(g), rr, c}),
                    oSum);
          }
          Value state = add(mul(add(rowFlat0, r), splits), split);
          memref::StoreOp::create(b, oSum, wsO,
                                  ValueRange{add(mul(state, idx(cfg.d)), c)});
          ifThen(cmpi(arith::CmpIPredicate::eq, c, idx(0)), [&]() {
            memref::StoreOp::create(b, mMax, wsM, ValueRange{state});
            memref::StoreOp::create(b, lSum, wsL, ValueRange{state});
          });
        });
      };
      if ((it + 1) * dc.threads <= items)
        body();
      else
        ifThen(cmpi(arith::CmpIPredicate::ult, add(tid, idx(it * dc.threads)),
                    idx(items)),
               body);
    }
  }
};

/// The flash-decoding kernel of kv_cache_attention (SIMT): one block per
/// (KV head and block of RB query rows of its group, split of the valid
/// cache rows, batch). A group of `lanes` lanes reads one cache row with
/// 16-byte loads (lane p owns columns [p w, p w + w)) and scores it against
/// all the block's query rows, held in registers (scaled into log2 units,
/// rotated with RoPE); each group keeps an online-softmax state per row
/// over the keys it visits (kKeysPerIter keys per step, their loads issued
/// first). The groups' states are merged through shared memory and the
/// block writes one partial state (m, l, o) per row to the workspace; the
/// merge kernel combines the splits. Every cache row of the split is read
/// once for all query heads of the group.
class DecodeKernelEmitter : DecodeEmitterBase {
public:
  DecodeKernelEmitter(gpu::GPUFuncOp func, const DecodeConfig &dc)
      : DecodeEmitterBase(func, dc) {}

  void emit() {
    DecodeEmitterBase::emitPrologue();
    const int64_t w = cfg.vecWidth, RB = dc.rows, U = DecodeConfig::kKeysPerIter;
    const int64_t KG = dc.keyGroups();
    double inf = std::numeric_limits<double>::infinity();
    VectorType vf = chunkType(f32);

    Value kg = divu(tid, idx(dc.lanes));
    Value part = remu(tid, idx(dc.lanes));
    Value col0 = mul(part, idx(w));
    // Lanes beyond D / w (D / w not a power of two) hold zeros.
    Value active = dc.chunks() == dc.lanes
                       ? Value()
                       : cmpi(arith::CmpIPredicate::ult, part,
                              idx(dc.chunks()));

    auto guarded = [&](Value cond, function_ref<Value()> load) -> Value {
      return ifElse(
          cond, vf, [&]() -> SmallVector<Value> { return {load()}; },
          [&]() -> SmallVector<Value> { return {zeroVec(vf)}; })[0];
    };
    auto toF32 = [&](Value x) -> Value {
      return cfg.elt == f32 ? x : arith::ExtFOp::create(b, vf, x);
    };

    // The block's query rows in registers, scaled by scale * log2(e) and,
    // with RoPE, rotated at their positions.
    SmallVector<Value> qv, rowValid, rowPos;
    Value scaleV = vector::BroadcastOp::create(b, vf, f32c(cfg.scaleLog2));
    // With RoPE: the lane's partner chunk (columns +- D/2), the frequencies
    // of its pairs and the sign of the sine, the same for every row.
    Value low, pcol, sign;
    SmallVector<Value> fs;
    if (cfg.ropeTheta) {
      int64_t half = cfg.d / 2;
      low = cmpi(arith::CmpIPredicate::ult, col0, idx(half));
      pcol = select(low, add(col0, idx(half)), sub(col0, idx(half)));
      fs = invFreqs(select(low, col0, pcol));
      // own in the low half: own c - partner s; in the high half:
      // own c + partner s.
      sign = vector::BroadcastOp::create(
          b, vf, select(low, f32c(-1.0), f32c(1.0)));
    }
    for (int64_t rr = 0; rr < RB; ++rr) {
      Value r = add(r0, idx(rr));
      Value valid = cmpi(arith::CmpIPredicate::ult, r, rowsTotal);
      rowValid.push_back(valid);
      rowPos.push_back(add(qOffset, remu(r, dimSq)));
      Value rowBase = mul(add(rowFlat0, r), idx(cfg.d));
      Value cond = active ? andi(valid, active) : valid;
      Value x = guarded(cond, [&]() -> Value {
        Value own = toF32(loadChunk(q, rowBase, col0));
        if (!cfg.ropeTheta)
          return own;
        Value partner = toF32(loadChunk(q, rowBase, pcol));
        Value pos = indexToF64(rowPos.back());
        SmallVector<Value> cs, sn;
        for (Value f : fs) {
          auto [c, s] = cosSin(fmul(pos, f));
          cs.push_back(c);
          sn.push_back(s);
        }
        Value cv = vectorOf(cs);
        Value ss = arith::MulFOp::create(b, vectorOf(sn), sign);
        return vector::FMAOp::create(b, own, cv,
                                     arith::MulFOp::create(b, partner, ss));
      });
      qv.push_back(arith::MulFOp::create(b, x, scaleV));
    }

    // The U keys of the step at `jt` (row jt + kg + u KG for lane group kg),
    // loaded as T (half the registers of f32 for 16-bit T); rows >= j1 and
    // idle lanes read nothing and give zeros.
    VectorType vt = chunkType(cfg.elt);
    auto loadStep = [&](Value jt) {
      SmallVector<Value> kv;
      for (int64_t u = 0; u < U; ++u) {
        Value j = add(add(jt, kg), idx(u * KG));
        Value in = cmpi(arith::CmpIPredicate::slt, j, j1);
        Value cond = active ? andi(in, active) : in;
        Value rowBase = add(kvBase, mul(j, idx(cfg.d)));
        for (Value mem : {kc, vc})
          kv.push_back(ifElse(
              cond, vt,
              [&]() -> SmallVector<Value> {
                return {loadChunk(mem, rowBase, col0)};
              },
              [&]() -> SmallVector<Value> { return {zeroVec(vt)}; })[0]);
      }
      return kv;
    };

    // Per row: running max m (log2 units), sum l, output o (vector of w);
    // then the keys and values of the step (2 U chunks): each step loads
    // the next step's before it computes with its own, so that the loads of
    // a warp are in flight while it computes.
    SmallVector<Value> init;
    for (int64_t rr = 0; rr < RB; ++rr)
      init.append({f32c(-inf), f32c(0)});
    for (int64_t rr = 0; rr < RB; ++rr)
      init.push_back(zeroVec(vf));
    if (dc.prefetch) {
      SmallVector<Value> first = loadStep(j0);
      init.append(first.begin(), first.end());
    }
    // The same trip count for every thread: the score reduction shuffles
    // across the whole warp, so no lane may leave the loop early.
    auto loop = scf::ForOp::create(b, j0, j1, idx(KG * U), init);
    {
      OpBuilder::InsertionGuard guard(b);
      b.setInsertionPointToStart(loop.getBody());
      Value jt = loop.getInductionVar();
      SmallVector<Value> it(loop.getRegionIterArgs().begin(),
                            loop.getRegionIterArgs().end());
      SmallVector<Value> prefetched;
      SmallVector<Value> current(it.begin() + 3 * RB, it.end());
      if (dc.prefetch)
        prefetched = loadStep(add(jt, idx(KG * U)));
      else
        current = loadStep(jt);
      SmallVector<Value> keys, inb, kvec, vvec;
      for (int64_t u = 0; u < U; ++u) {
        Value j = add(add(jt, kg), idx(u * KG));
        keys.push_back(j);
        inb.push_back(cmpi(arith::CmpIPredicate::slt, j, j1));
        kvec.push_back(current[2 * u]);
        vvec.push_back(current[2 * u + 1]);
      }
      for (int64_t u = 0; u < U; ++u) {
        kvec[u] = toF32(kvec[u]);
        vvec[u] = toF32(vvec[u]);
      }
      SmallVector<Value> next(2 * RB + RB);
      for (int64_t rr = 0; rr < RB; ++rr) {
        Value m = it[2 * rr], l = it[2 * rr + 1], o = it[2 * RB + rr];
        SmallVector<Value> sc;
        for (int64_t u = 0; u < U; ++u) {
          Value dot = vector::ReductionOp::create(
              b, vector::CombiningKind::ADD,
              arith::MulFOp::create(b, qv[rr], kvec[u]));
          for (int64_t off = dc.lanes / 2; off >= 1; off /= 2)
            dot = fadd(dot, gpu::ShuffleOp::create(b, dot, off, 32,
                                                   gpu::ShuffleMode::XOR)
                                .getShuffleResult());
          Value visible = andi(inb[u], rowValid[rr]);
          if (cfg.causal)
            visible = andi(visible, cmpi(arith::CmpIPredicate::sle, keys[u],
                                         rowPos[rr]));
          sc.push_back(select(visible, dot, f32c(-inf)));
        }
        Value newM = m;
        for (Value x : sc)
          newM = fmax(newM, x);
        Value isInf = arith::CmpFOp::create(b, arith::CmpFPredicate::OEQ,
                                            newM, f32c(-inf));
        Value negM = arith::NegFOp::create(b, select(isInf, f32c(0), newM));
        Value alpha = exp2(fadd(m, negM));
        Value sum = f32c(0);
        o = arith::MulFOp::create(b, o,
                                  vector::BroadcastOp::create(b, vf, alpha));
        for (int64_t u = 0; u < U; ++u) {
          Value p = exp2(fadd(sc[u], negM));
          sum = fadd(sum, p);
          o = vector::FMAOp::create(
              b, vector::BroadcastOp::create(b, vf, p), vvec[u], o);
        }
        next[2 * rr] = newM;
        next[2 * rr + 1] = fma(l, alpha, sum);
        next[2 * RB + rr] = o;
      }
      next.append(prefetched.begin(), prefetched.end());
      scf::YieldOp::create(b, next);
    }
    SmallVector<Value> res(loop.getResults().begin(), loop.getResults().end());

    // The key groups' states into shared memory, then merged per (row,
    // column) and written to the workspace.
    for (int64_t rr = 0; rr < RB; ++rr) {
      auto storeO = [&]() {
        vector::StoreOp::create(b, res[2 * RB + rr], oSmem,
                                ValueRange{kg, idx(rr), col0},
                                /*nontemporal=*/false, llvm::MaybeAlign(16));
      };
      if (active)
        ifThen(active, storeO);
      else
        storeO();
      ifThen(cmpi(arith::CmpIPredicate::eq, part, idx(0)), [&]() {
        memref::StoreOp::create(b, res[2 * rr], mSmem, ValueRange{kg, idx(rr)});
        memref::StoreOp::create(b, res[2 * rr + 1], lSmem,
                                ValueRange{kg, idx(rr)});
      });
    }
    mergeGroupsToWorkspace();
    gpu::ReturnOp::create(b);
  }
};

/// The tensor-core decode kernel of kv_cache_attention (`decode-mma`,
/// f16/bf16, D a multiple of 16): the same grid, workspace and merge as the
/// SIMT kernel, but each warp scores 16 cache rows at a time on mma.sync
/// (m16n8k16) with the block's query rows as the rows of the tiles (rows
/// g and g + 8 of a fragment belong to lane g * 4 + c; with RB <= 8 the
/// upper eight are zero and discarded):
///   S (rows x 16 keys) = Q K^T: the head dimension is permuted so that lane
///     (g, c) holds columns [c D/4, (c + 1) D/4) of key g of each 8-key
///     block, read with 16-byte loads straight into B fragments (k-step s,
///     its positions 2c, 2c+1, 2c+8, 2c+9 are columns c D/4 + 4 s + 0..3);
///     Q's A fragments use the same order.
///   O (rows x D) += P V: P is S's accumulator rounded to T (the layouts
///     match); V's B fragment for output block t pairs keys (2c, 2c+1) and
///     (2c+8, 2c+9) at column g D/8 + t, so lane (g, c) reads columns
///     [g D/8, (g + 1) D/8) of those four keys and pairs them in registers;
///     O's column 2c + e of block t is column (2c + e) D/8 + t.
/// Each warp keeps an online-softmax state per row (max in log2 units,
/// lane-partial sums, O in f32; O rescaled only when a vote finds a row
/// whose max grew by more than kLazyRescaleLog2) over its 16-key chunks:
/// chunk i of the split
/// goes to warp i mod W, and the next chunk's loads are issued before the
/// current one is used (`decode-prefetch`). Keys beyond the split's end are
/// read from its last row and masked; masking runs only for chunks that
/// need it (partial, or causal and past the first query's position).
class DecodeMmaKernelEmitter : DecodeEmitterBase {
public:
  DecodeMmaKernelEmitter(gpu::GPUFuncOp func, const DecodeConfig &dc)
      : DecodeEmitterBase(func, dc) {}

  void emit() {
    DecodeEmitterBase::emitPrologue();
    const int64_t D = cfg.d, RB = dc.rows, W = dc.threads / 32;
    const int64_t KC = DecodeConfig::kMmaKeys;
    const bool upper = RB > 8; // fragment rows 8..15 in use
    const int64_t halves = upper ? 2 : 1;
    const int64_t kSteps = D / 16, oBlocks = D / 8;
    const int64_t kRun = D / 4, vRun = D / 8; // contiguous columns per lane
    const int64_t kLoad = loadWidth(kRun), vLoad = loadWidth(vRun);
    double inf = std::numeric_limits<double>::infinity();

    Value lane = remu(tid, idx(32)), warp = divu(tid, idx(32));
    Value g = divu(lane, idx(4)), c = remu(lane, idx(4));
    Value kCol0 = mul(c, idx(kRun)), vCol0 = mul(g, idx(vRun));
    Value zeroOp = zeroOperand();

    // Q's A fragments (rows g and g + 8 of the block's rows; rows outside
    // the block or the group are zero): operands [half][k-step][lo, hi].
    SmallVector<Value> rowPos(halves);
    SmallVector<SmallVector<Value>> qOps(halves);
    for (int64_t h = 0; h < halves; ++h) {
      Value rr = add(g, idx(8 * h));
      Value r = add(r0, rr);
      Value valid = andi(cmpi(arith::CmpIPredicate::ult, rr, idx(RB)),
                         cmpi(arith::CmpIPredicate::ult, r, rowsTotal));
      rowPos[h] = add(qOffset, remu(r, dimSq));
      Value rowBase = mul(add(rowFlat0, r), idx(D));
      for (int64_t ch = 0; ch < kRun / kLoad; ++ch) {
        Value col = add(kCol0, idx(ch * kLoad));
        VectorType vt = VectorType::get({kLoad}, cfg.elt);
        Value x = ifElse(
            valid, vt,
            [&]() -> SmallVector<Value> {
              Value own = load(q, rowBase, col, kLoad);
              if (!cfg.ropeTheta)
                return {own};
              return {rotate(own, load(q, rowBase, partnerCol(col), kLoad), col,
                             rowPos[h], kLoad)};
            },
            [&]() -> SmallVector<Value> { return {zeroVec(vt)}; })[0];
        for (Value op : operands(x))
          qOps[h].push_back(op);
      }
    }

    // The loads of the chunk at `key0`: K rows key0 + nb * 8 + g (columns
    // [c D/4, ...)), then V rows key0 + {2c, 2c+1, 2c+8, 2c+9} (columns
    // [g D/8, ...)); rows at or past j1 read row j1 - 1.
    Value last = sub(j1, idx(1));
    auto loadChunk = [&](Value key0) {
      SmallVector<Value> xs;
      for (int64_t nb = 0; nb < 2; ++nb) {
        Value j =
            arith::MinSIOp::create(b, add(key0, add(g, idx(nb * 8))), last);
        Value rowBase = add(kvBase, mul(j, idx(D)));
        for (int64_t ch = 0; ch < kRun / kLoad; ++ch)
          xs.push_back(load(kc, rowBase, add(kCol0, idx(ch * kLoad)), kLoad));
      }
      for (int64_t kk = 0; kk < 4; ++kk) {
        Value rel = add(mul(c, idx(2)), idx((kk % 2) + (kk / 2) * 8));
        Value j = arith::MinSIOp::create(b, add(key0, rel), last);
        Value rowBase = add(kvBase, mul(j, idx(D)));
        for (int64_t ch = 0; ch < vRun / vLoad; ++ch)
          xs.push_back(load(vc, rowBase, add(vCol0, idx(ch * vLoad)), vLoad));
      }
      return xs;
    };
    const int64_t kLoads = 2 * (kRun / kLoad), vLoads = vRun / vLoad;

    // Loop state: per half m (log2 units) and l (this lane's part), O's
    // accumulators [block][row g: 0, 1 | row g + 8: 2, 3], then (prefetch)
    // the next chunk's loads.
    SmallVector<Value> init;
    for (int64_t h = 0; h < halves; ++h)
      init.append({f32c(-inf), f32c(0)});
    init.append(oBlocks * 2 * halves, f32c(0));
    Value stride = idx(KC * W);
    Value myFirst = add(j0, mul(warp, idx(KC)));
    if (dc.prefetch) {
      SmallVector<Value> first = loadChunk(myFirst);
      init.append(first.begin(), first.end());
    }
    // One trip count for the whole block: a warp whose chunk lies past j1
    // reads row j1 - 1 and masks every key.
    auto loop = scf::ForOp::create(b, j0, j1, stride, init);
    {
      OpBuilder::InsertionGuard guard(b);
      b.setInsertionPointToStart(loop.getBody());
      Value key0 = add(loop.getInductionVar(), mul(warp, idx(KC)));
      SmallVector<Value> it(loop.getRegionIterArgs().begin(),
                            loop.getRegionIterArgs().end());
      const int64_t stateSize = 2 * halves + oBlocks * 2 * halves;
      SmallVector<Value> cur, next;
      if (dc.prefetch) {
        cur.assign(it.begin() + stateSize, it.end());
        next = loadChunk(add(key0, stride));
      } else {
        cur = loadChunk(key0);
      }

      // S = Q K^T for the two 8-key blocks.
      SmallVector<Value> sc(8); // [block][0, 1: row g | 2, 3: row g + 8]
      for (int64_t nb = 0; nb < 2; ++nb) {
        SmallVector<Value> kOps;
        for (int64_t ch = 0; ch < kRun / kLoad; ++ch)
          for (Value op : operands(cur[nb * (kRun / kLoad) + ch]))
            kOps.push_back(op);
        SmallVector<Value> acc(4, f32c(0));
        for (int64_t s = 0; s < kSteps; ++s) {
          Value a1 = upper ? qOps[1][2 * s] : zeroOp;
          Value a3 = upper ? qOps[1][2 * s + 1] : zeroOp;
          acc = mma({qOps[0][2 * s], a1, qOps[0][2 * s + 1], a3},
                    {kOps[2 * s], kOps[2 * s + 1]}, acc);
        }
        for (int64_t e = 0; e < 4; ++e)
          sc[nb * 4 + e] = fmul(acc[e], f32c(cfg.scaleLog2));
      }
      // Masking, only where the chunk needs it.
      Value chunkLast = add(key0, idx(KC - 1));
      Value needMask = cmpi(arith::CmpIPredicate::sgt, chunkLast, last);
      if (cfg.causal)
        needMask =
            ori(needMask, cmpi(arith::CmpIPredicate::sgt, chunkLast, qOffset));
      SmallVector<Type> scTypes(sc.size(), f32);
      sc = ifElse(
          needMask, scTypes,
          [&]() -> SmallVector<Value> {
            SmallVector<Value> masked(sc);
            for (int64_t nb = 0; nb < 2; ++nb)
              for (int64_t e = 0; e < 4; ++e) {
                int64_t h = e / 2;
                if (h >= halves)
                  continue;
                Value j = add(key0, add(mul(c, idx(2)), idx(nb * 8 + e % 2)));
                Value visible = cmpi(arith::CmpIPredicate::sle, j, last);
                if (cfg.causal)
                  visible = andi(visible,
                                 cmpi(arith::CmpIPredicate::sle, j, rowPos[h]));
                masked[nb * 4 + e] =
                    select(visible, sc[nb * 4 + e], f32c(-inf));
              }
            return masked;
          },
          [&]() -> SmallVector<Value> { return sc; });

      // Online softmax per row: the row's 16 scores lie in the 4 lanes of
      // its group (2 per block each). A warp keeps its rows' maxima, and
      // skips rescaling O, unless one of them grows by more than
      // kLazyRescaleLog2 (P stays below 2^8): one vote per chunk.
      SmallVector<Value> nextState(stateSize);
      SmallVector<Value> p(8, f32c(0));
      SmallVector<Value> o(it.begin() + 2 * halves, it.begin() + stateSize);
      SmallVector<Value> mx(halves), alpha(halves);
      Value need;
      for (int64_t h = 0; h < halves; ++h) {
        Value x = fmax(fmax(sc[2 * h], sc[2 * h + 1]),
                       fmax(sc[4 + 2 * h], sc[4 + 2 * h + 1]));
        x = fmax(x, shuffleXor(x, 1));
        x = fmax(x, shuffleXor(x, 2));
        mx[h] = fmax(it[2 * h], x);
        Value grows =
            arith::CmpFOp::create(b, arith::CmpFPredicate::OGT, mx[h],
                                  fadd(it[2 * h], f32c(kLazyRescaleLog2)));
        need = need ? ori(need, grows) : grows;
      }
      Value any = NVVM::VoteSyncOp::create(b, b.getI1Type(), i32c(-1), need,
                                           NVVM::VoteSyncKind::any);
      for (int64_t h = 0; h < halves; ++h) {
        Value m = it[2 * h], l = it[2 * h + 1];
        Value newM = select(any, mx[h], m);
        Value isInf = arith::CmpFOp::create(b, arith::CmpFPredicate::OEQ, newM,
                                            f32c(-inf));
        Value negM = arith::NegFOp::create(b, select(isInf, f32c(0), newM));
        alpha[h] = exp2(fadd(m, negM));
        Value sum = f32c(0);
        for (int64_t nb = 0; nb < 2; ++nb)
          for (int64_t e = 0; e < 2; ++e) {
            Value &x = p[nb * 4 + 2 * h + e];
            x = exp2(fadd(sc[nb * 4 + 2 * h + e], negM));
            sum = fadd(sum, x);
          }
        nextState[2 * h] = newM;
        nextState[2 * h + 1] = fma(l, alpha[h], sum);
      }
      SmallVector<Type> oTypes(o.size(), f32);
      o = ifElse(
          any, oTypes,
          [&]() -> SmallVector<Value> {
            SmallVector<Value> scaled(o);
            for (int64_t ob = 0; ob < oBlocks; ++ob)
              for (int64_t h = 0; h < halves; ++h)
                for (int64_t e = 0; e < 2; ++e) {
                  Value &x = scaled[ob * 2 * halves + 2 * h + e];
                  x = fmul(x, alpha[h]);
                }
            return scaled;
          },
          [&]() -> SmallVector<Value> { return o; });
      // O += P V: P's A fragment is S's accumulator layout.
      SmallVector<Value> pOps = {
          packPair(p[0], p[1]), upper ? packPair(p[2], p[3]) : zeroOp,
          packPair(p[4], p[5]), upper ? packPair(p[6], p[7]) : zeroOp};
      SmallVector<Value> vs(cur.begin() + kLoads, cur.end());
      for (int64_t ob = 0; ob < oBlocks; ++ob) {
        int64_t ch = ob / vLoad, pos = ob % vLoad;
        SmallVector<Value> bOps;
        for (int64_t pair = 0; pair < 2; ++pair)
          bOps.push_back(mmaOperand(vector::ShuffleOp::create(
              b, vs[(2 * pair) * vLoads + ch], vs[(2 * pair + 1) * vLoads + ch],
              ArrayRef<int64_t>{pos, vLoad + pos})));
        SmallVector<Value> acc = {o[ob * 2 * halves], o[ob * 2 * halves + 1],
                                  upper ? o[ob * 4 + 2] : f32c(0),
                                  upper ? o[ob * 4 + 3] : f32c(0)};
        acc = mma(pOps, bOps, acc);
        for (int64_t e = 0; e < 2 * halves; ++e)
          o[ob * 2 * halves + e] = acc[e];
      }
      for (int64_t e = 0; e < (int64_t)o.size(); ++e)
        nextState[2 * halves + e] = o[e];
      nextState.append(next.begin(), next.end());
      scf::YieldOp::create(b, nextState);
    }
    SmallVector<Value> res(loop.getResults().begin(), loop.getResults().end());

    // The warp's states into shared memory: the sums of a row's four lanes,
    // and O's columns in their true order.
    for (int64_t h = 0; h < halves; ++h) {
      Value l = res[2 * h + 1];
      l = fadd(l, shuffleXor(l, 1));
      l = fadd(l, shuffleXor(l, 2));
      Value rr = add(g, idx(8 * h));
      ifThen(cmpi(arith::CmpIPredicate::ult, rr, idx(RB)), [&]() {
        for (int64_t ob = 0; ob < oBlocks; ++ob)
          for (int64_t e = 0; e < 2; ++e) {
            Value col =
                add(mul(add(mul(c, idx(2)), idx(e)), idx(vRun)), idx(ob));
            memref::StoreOp::create(
                b, res[2 * halves + ob * 2 * halves + 2 * h + e], oSmem,
                ValueRange{warp, rr, col});
          }
        ifThen(cmpi(arith::CmpIPredicate::eq, c, idx(0)), [&]() {
          memref::StoreOp::create(b, res[2 * h], mSmem, ValueRange{warp, rr});
          memref::StoreOp::create(b, l, lSmem, ValueRange{warp, rr});
        });
      });
    }
    mergeGroupsToWorkspace();
    gpu::ReturnOp::create(b);
  }

private:
  /// Elements per global load of a run of `n` contiguous columns: 16, 8 or
  /// 4 bytes (n is even: D is a multiple of 16).
  int64_t loadWidth(int64_t n) const {
    int64_t w = cfg.vecWidth;
    while (n % w != 0)
      w /= 2;
    return w;
  }
  Value load(Value mem, Value rowBase, Value col, int64_t n) {
    VectorType vt = VectorType::get({n}, cfg.elt);
    return vector::LoadOp::create(b, vt, mem, ValueRange{add(rowBase, col)},
                                  /*nontemporal=*/false,
                                  llvm::MaybeAlign(n * 2));
  }
  /// The mma.sync operands (pairs of T) of a vector of T, in order.
  SmallVector<Value> operands(Value x) {
    int64_t n = cast<VectorType>(x.getType()).getNumElements();
    Value words =
        vector::BitCastOp::create(b, VectorType::get({n / 2}, i32), x);
    SmallVector<Value> ops;
    for (int64_t e = 0; e < n / 2; ++e) {
      Value w = vector::ExtractOp::create(b, words, ArrayRef<int64_t>{e});
      if (!isBF16()) // f16 operands are vector<2xf16>
        w = vector::BitCastOp::create(
            b, pairType(),
            vector::FromElementsOp::create(b, VectorType::get({1}, i32),
                                           ValueRange{w}));
      ops.push_back(w);
    }
    return ops;
  }
  Value zeroOperand() { return mmaOperand(zeroVec(pairType())); }
  /// Columns [col, col + n) pair with [col +- D/2, ...) (n divides D/2).
  Value partnerCol(Value col) {
    int64_t half = cfg.d / 2;
    Value low = cmpi(arith::CmpIPredicate::ult, col, idx(half));
    return select(low, add(col, idx(half)), sub(col, idx(half)));
  }
  /// RoPE at `pos` of columns [col, col + n) given their partners, in f32,
  /// rounded back to T.
  Value rotate(Value own, Value partner, Value col, Value pos, int64_t n) {
    int64_t half = cfg.d / 2;
    VectorType vf = VectorType::get({n}, f32);
    Value low = cmpi(arith::CmpIPredicate::ult, col, idx(half));
    SmallVector<Value> fs = invFreqs(select(low, col, sub(col, idx(half))), n);
    Value posF = indexToF64(pos);
    SmallVector<Value> cs, sn;
    for (Value f : fs) {
      auto [cv, sv] = cosSin(fmul(posF, f));
      cs.push_back(cv);
      sn.push_back(sv);
    }
    // low half: x c - partner s; high half: x c + partner s.
    Value sign =
        vector::BroadcastOp::create(b, vf, select(low, f32c(-1.0), f32c(1.0)));
    Value x = arith::ExtFOp::create(b, vf, own);
    Value y = arith::ExtFOp::create(b, vf, partner);
    Value r = vector::FMAOp::create(
        b, x, vectorOf(cs),
        arith::MulFOp::create(b, y,
                              arith::MulFOp::create(b, vectorOf(sn), sign)));
    return arith::TruncFOp::create(b, VectorType::get({n}, cfg.elt), r);
  }
};

/// The merge of the decode kernel's partial states: one block per query row
/// ([B, Hq, Sq] order), thread c owning columns c, c + 128, ...:
///   out = sum_s 2^(m_s - M) o_s / sum_s 2^(m_s - M) l_s,  M = max_s m_s
/// (zero when no split saw a visible key). Arguments:
///   wsM, wsL, wsO : memref<?xf32>, out : memref<?xT>, length, Smax : index.
class DecodeMergeEmitter : EmitterBase {
public:
  DecodeMergeEmitter(gpu::GPUFuncOp func, const DecodeConfig &dc)
      : EmitterBase(func, dc.base), dc(dc), func(func) {}

  void emit() {
    auto args = func.getArguments();
    Value wsM = args[0], wsL = args[1], wsO = args[2], out = args[3];
    Value len = arith::MinSIOp::create(b, args[4], args[5]);
    double inf = std::numeric_limits<double>::infinity();
    Value row = gpu::BlockIdOp::create(b, gpu::Dimension::x);
    Value tid = gpu::ThreadIdOp::create(b, gpu::Dimension::x);
    Value splits = divu(add(len, idx(dc.split - 1)), idx(dc.split));
    Value base = mul(row, splits);
    auto maxLoop = scf::ForOp::create(b, idx(0), splits, idx(1),
                                      ValueRange{f32c(-inf)});
    {
      OpBuilder::InsertionGuard guard(b);
      b.setInsertionPointToStart(maxLoop.getBody());
      Value m = memref::LoadOp::create(
          b, wsM, ValueRange{add(base, maxLoop.getInductionVar())});
      scf::YieldOp::create(b, ValueRange{fmax(maxLoop.getRegionIterArgs()[0], m)});
    }
    Value mMax = maxLoop.getResult(0);
    Value isInf = arith::CmpFOp::create(b, arith::CmpFPredicate::OEQ, mMax,
                                        f32c(-inf));
    Value negM = arith::NegFOp::create(b, select(isInf, f32c(0), mMax));
    int64_t perThread =
        (cfg.d + DecodeConfig::kMergeThreads - 1) / DecodeConfig::kMergeThreads;
    SmallVector<Value> init(perThread + 1, f32c(0));
    SmallVector<Value> cols;
    for (int64_t e = 0; e < perThread; ++e)
      cols.push_back(add(tid, idx(e * DecodeConfig::kMergeThreads)));
    auto loop = scf::ForOp::create(b, idx(0), splits, idx(1), init);
    {
      OpBuilder::InsertionGuard guard(b);
      b.setInsertionPointToStart(loop.getBody());
      Value state = add(base, loop.getInductionVar());
      Value wgt = exp2(fadd(memref::LoadOp::create(b, wsM, ValueRange{state}),
                            negM));
      SmallVector<Value> acc(loop.getRegionIterArgs().begin(),
                             loop.getRegionIterArgs().end());
      acc[0] = fma(wgt, memref::LoadOp::create(b, wsL, ValueRange{state}),
                   acc[0]);
      for (int64_t e = 0; e < perThread; ++e) {
        Value c = cols[e];
        Value in = cmpi(arith::CmpIPredicate::ult, c, idx(cfg.d));
        Value o = ifElse(
            in, f32,
            [&]() -> SmallVector<Value> {
              return {memref::LoadOp::create(
                  b, wsO, ValueRange{add(mul(state, idx(cfg.d)), c)})};
            },
            [&]() -> SmallVector<Value> { return {f32c(0)}; })[0];
        acc[1 + e] = fma(wgt, o, acc[1 + e]);
      }
      scf::YieldOp::create(b, acc);
    }
    Value lSum = loop.getResult(0);
    Value pos = arith::CmpFOp::create(b, arith::CmpFPredicate::OGT, lSum,
                                      f32c(0));
    Value inv = select(pos, arith::DivFOp::create(b, f32c(1), lSum), f32c(0));
    for (int64_t e = 0; e < perThread; ++e) {
      Value c = cols[e];
      ifThen(cmpi(arith::CmpIPredicate::ult, c, idx(cfg.d)), [&]() {
        Value x = fmul(loop.getResult(1 + e), inv);
        if (cfg.elt != f32)
          x = arith::TruncFOp::create(b, cfg.elt, x);
        memref::StoreOp::create(b, x, out,
                                ValueRange{add(mul(row, idx(cfg.d)), c)});
      });
    }
    gpu::ReturnOp::create(b);
  }

private:
  const DecodeConfig &dc;
  gpu::GPUFuncOp func;
};

/// The backward kernels of kv_shift_attention_grad (SIMT, f32 arithmetic
/// for every element type; one warp per row, lane l owning the columns
/// l, l + 32, ... of it; no S x S tensor and no mixed K^/V^ tensor in
/// memory: each kernel mixes the raw key/value rows it reads, carrying the
/// previous raw row in registers). In the order the launcher runs them:
///
///   grad_q   one warp per query row i: a first pass over its keys gives the
///            row's log-sum-exp (log2 units) lse_i and, from the normalised
///            output O_i, delta_i = dO_i . O_i (both written, f32); a second
///            pass gives dq_i = scale sum_j p_ij (dO_i . v^_j - delta_i) k^_j.
///   grad_kv  one warp per key row j of a KV head: over the query heads of
///            its group and the query rows that see it, p_ij recomputed from
///            lse_i, dv^_j = sum_i p_ij dO_i, dk^_j = scale sum_i ds_ij q_i;
///            written in f32 (the only O(S D) intermediates).
///   grad_mix one warp per key row t: the shift's transpose dk_t = a1 dk^_t
///            + a2 dk^_{t+1} (likewise dv), and the row's terms of the weight
///            gradients dk^_t . k_t, dk^_t . k_{t-1}, dv^_t . v_t,
///            dv^_t . v_{t-1} (f32 [rows, 4]).
///   grad_w   one block per KV head: the sum of those terms over batch and
///            sequence (per thread, per warp by shuffles, then over the warps
///            in a fixed order: deterministic).
///
/// Grids: grad_q (ceil(Sq / warps), Hq, B), grad_kv (ceil(Sk / warps), Hkv,
/// B), grad_mix (ceil(B Hkv Sk / warps)), grad_w (Hkv); 32 * warps threads
/// (grad_w: 128).
/// Arguments (flat memrefs, then index sizes):
///   grad_q   q, k, v, kw, vw, dout, lse, delta, dq, B, Hq, Sq, Hkv, Sk
///   grad_kv  q, k, v, kw, vw, dout, lse, delta, dkh, dvh, B, Hq, Sq, Hkv, Sk
///   grad_mix k, v, kw, vw, dkh, dvh, dk, dv, part, B, Hkv, Sk
///   grad_w   part, dkw, dvw, B, Hkv, Sk
class GradKernelEmitter : EmitterBase {
public:
  enum Kind { Q, KV, Mix, Weights, Stats };
  static constexpr int64_t kWeightThreads = 128;

  GradKernelEmitter(gpu::GPUFuncOp func, const KernelConfig &cfg, Kind kind)
      : EmitterBase(func, cfg), kind(kind), func(func) {}

  void emit() {
    switch (kind) {
    case Q:
      emitQ();
      break;
    case KV:
      emitKV();
      break;
    case Mix:
      emitMix();
      break;
    case Weights:
      emitWeights();
      break;
    case Stats:
      emitStats();
      break;
    }
    gpu::ReturnOp::create(b);
  }

private:
  Kind kind;
  gpu::GPUFuncOp func;
  Value lane;

  int64_t cols() const { return (cfg.d + 31) / 32; }
  Value arg(unsigned i) { return func.getArgument(i); }

  /// scf.for with iteration arguments; `body` returns the yielded values.
  SmallVector<Value>
  loop(Value lb, Value ub, ValueRange inits,
       function_ref<SmallVector<Value>(Value, ValueRange)> body) {
    auto forOp = scf::ForOp::create(b, lb, ub, idx(1), inits);
    {
      OpBuilder::InsertionGuard guard(b);
      b.setInsertionPointToStart(forOp.getBody());
      SmallVector<Value> y =
          body(forOp.getInductionVar(), forOp.getRegionIterArgs());
      scf::YieldOp::create(b, y);
    }
    return SmallVector<Value>(forOp.getResults().begin(),
                              forOp.getResults().end());
  }

  /// The sum over the warp (butterfly: every lane gets it).
  Value warpSum(Value x) {
    for (int64_t off = 16; off >= 1; off /= 2) {
      Value y = gpu::ShuffleOp::create(b, x, i32c(off), i32c(32),
                                       gpu::ShuffleMode::XOR)
                    .getShuffleResult();
      x = fadd(x, y);
    }
    return x;
  }

  /// This lane's columns of the row at flat element offset `rowBase` of
  /// `mem`, as f32 (zero past D).
  SmallVector<Value> loadRow(Value mem, Value rowBase) {
    SmallVector<Value> xs;
    for (int64_t e = 0; e < cols(); ++e) {
      Value c = add(lane, idx(32 * e));
      bool partial = (e + 1) * 32 > cfg.d;
      Value cc = partial ? arith::MinUIOp::create(b, c, idx(cfg.d - 1)) : c;
      Value x = memref::LoadOp::create(b, mem, ValueRange{add(rowBase, cc)});
      if (x.getType() != f32)
        x = arith::ExtFOp::create(b, f32, x);
      if (partial)
        x = select(cmpi(arith::CmpIPredicate::ult, c, idx(cfg.d)), x,
                   f32c(0));
      xs.push_back(x);
    }
    return xs;
  }
  /// Stores this lane's columns (scaled by `s` when given) as `mem`'s type.
  void storeRow(Value mem, Value rowBase, ArrayRef<Value> xs, Value s = {}) {
    Type et = cast<MemRefType>(mem.getType()).getElementType();
    for (int64_t e = 0; e < cols(); ++e) {
      Value c = add(lane, idx(32 * e));
      auto store = [&]() {
        Value x = s ? fmul(xs[e], s) : xs[e];
        if (et != f32)
          x = arith::TruncFOp::create(b, et, x);
        memref::StoreOp::create(b, x, mem, ValueRange{add(rowBase, c)});
      };
      if ((e + 1) * 32 > cfg.d)
        ifThen(cmpi(arith::CmpIPredicate::ult, c, idx(cfg.d)), store);
      else
        store();
    }
  }
  Value dot(ArrayRef<Value> x, ArrayRef<Value> y) {
    Value acc = fmul(x[0], y[0]);
    for (size_t e = 1; e < x.size(); ++e)
      acc = fma(x[e], y[e], acc);
    return warpSum(acc);
  }
  /// w1 x + w2 y, column by column.
  SmallVector<Value> mixRows(Value w1, ArrayRef<Value> x, Value w2,
                             ArrayRef<Value> y) {
    SmallVector<Value> r;
    for (size_t e = 0; e < x.size(); ++e)
      r.push_back(fma(w1, x[e], fmul(w2, y[e])));
    return r;
  }
  Value weight(Value w, Value head, int64_t which) {
    return memref::LoadOp::create(b, w,
                                  ValueRange{add(mul(head, idx(2)), idx(which))});
  }
  /// The key mix's weights; with RoPE the keys come mixed (and rotated)
  /// from the pre-pass, so the mix is the identity.
  Value keyWeight(Value kw, Value head, int64_t which) {
    if (cfg.ropeTheta)
      return f32c(which == 0 ? 1.0 : 0.0);
    return weight(kw, head, which);
  }
  /// With RoPE: a gradient row with respect to rotated values (dq of rot(q),
  /// dk^ of rot(k^)) rotated back, R^T x = rotation by -pos; column c pairs
  /// with c + D/2, which the same lane owns (D a multiple of 64).
  void unrotateRow(MutableArrayRef<Value> xs, Value pos) {
    if (!cfg.ropeTheta)
      return;
    int64_t half = cols() / 2;
    Value posF = indexToF64(pos);
    for (int64_t e = 0; e < half; ++e) {
      Value c = add(lane, idx(32 * e));
      auto [cs, sn] = cosSin(fmul(posF, invFreq(c)));
      Value x1 = xs[e], x2 = xs[e + half];
      xs[e] = fma(x1, cs, fmul(x2, sn));
      xs[e + half] = fma(x2, cs, arith::NegFOp::create(b, fmul(x1, sn)));
    }
  }
  /// The warp's row (block x * warps + warp) and whether it is below `rows`.
  std::pair<Value, Value> warpRow(Value rows) {
    Value tid = gpu::ThreadIdOp::create(b, gpu::Dimension::x);
    Value blk = gpu::BlockIdOp::create(b, gpu::Dimension::x);
    lane = remu(tid, idx(32));
    Value row = add(mul(blk, idx(cfg.warps)), divu(tid, idx(32)));
    return {row, cmpi(arith::CmpIPredicate::ult, row, rows)};
  }
  /// Grid (row tiles, heads, batch), `warps` rows a block: the warp's row
  /// within its sequence, the flat row (b * heads + h) * seq + i, and
  /// whether the row is below `seq`.
  std::tuple<Value, Value, Value, Value, Value>
  tileRow(Value heads, Value seq) {
    Value tid = gpu::ThreadIdOp::create(b, gpu::Dimension::x);
    Value tile = gpu::BlockIdOp::create(b, gpu::Dimension::x);
    Value head = gpu::BlockIdOp::create(b, gpu::Dimension::y);
    Value batch = gpu::BlockIdOp::create(b, gpu::Dimension::z);
    lane = remu(tid, idx(32));
    Value i = add(mul(tile, idx(cfg.warps)), divu(tid, idx(32)));
    Value flat = add(mul(add(mul(batch, heads), head), seq), i);
    return {i, flat, head, batch, cmpi(arith::CmpIPredicate::ult, i, seq)};
  }
  /// The number of keys query row i sees: Sk, or max(0, min(Sk, Sk - Sq +
  /// i + 1)) under (bottom-right) causal masking (signed: with a dynamic
  /// Sq > Sk the first rows see no key, as in the forward).
  Value keyEnd(Value i, Value sq, Value sk) {
    if (!cfg.causal)
      return sk;
    Value end =
        arith::MinSIOp::create(b, sk, add(sub(sk, sq), add(i, idx(1))));
    return arith::MaxSIOp::create(b, end, idx(0));
  }
  void storeLane0(Value mem, Value at, Value x) {
    ifThen(cmpi(arith::CmpIPredicate::eq, lane, idx(0)), [&]() {
      memref::StoreOp::create(b, x, mem, ValueRange{at});
    });
  }

  /// One pass over the keys of query row `qRow` (KV rows at `kvBase`):
  /// `step(kh, vh, carried)` returns the new carried values.
  SmallVector<Value>
  overKeys(Value end, Value kvBase, Value a1, Value a2, Value b1, Value b2,
           SmallVector<Value> carried,
           function_ref<SmallVector<Value>(ArrayRef<Value>, ArrayRef<Value>,
                                           ValueRange)>
               step) {
    int64_t n = cols();
    SmallVector<Value> inits(carried);
    for (int64_t e = 0; e < 2 * n; ++e)
      inits.push_back(f32c(0)); // raw k_{j-1}, v_{j-1}: zero before key 0
    SmallVector<Value> res = loop(
        idx(0), end, inits, [&](Value j, ValueRange it) -> SmallVector<Value> {
          Value rowBase = add(kvBase, mul(j, idx(cfg.d)));
          SmallVector<Value> kj = loadRow(arg(1), rowBase);
          SmallVector<Value> vj = loadRow(arg(2), rowBase);
          size_t c = carried.size();
          SmallVector<Value> kPrev(it.begin() + c, it.begin() + c + n);
          SmallVector<Value> vPrev(it.begin() + c + n, it.end());
          SmallVector<Value> kh = mixRows(a1, kj, a2, kPrev);
          SmallVector<Value> vh = mixRows(b1, vj, b2, vPrev);
          SmallVector<Value> y = step(kh, vh, it.take_front(c));
          y.append(kj);
          y.append(vj);
          return y;
        });
    res.resize(carried.size());
    return res;
  }

  void emitQ() {
    Value q = arg(0), kw = arg(3), vw = arg(4), dout = arg(5), lseOut = arg(6),
          deltaOut = arg(7), dq = arg(8);
    Value dimHq = arg(10), dimSq = arg(11), dimHkv = arg(12), dimSk = arg(13);
    auto [iV, rowV, hqV, bV, inRange] = tileRow(dimHq, dimSq);
    Value i = iV, row = rowV, hq = hqV, bIdx = bV;
    ifThen(inRange, [&]() {
      double inf = std::numeric_limits<double>::infinity();
      Value hk = divu(hq, divu(dimHq, dimHkv));
      Value kvBase = mul(mul(add(mul(bIdx, dimHkv), hk), dimSk), idx(cfg.d));
      Value qBase = mul(row, idx(cfg.d));
      Value a1 = keyWeight(kw, hk, 0), a2 = keyWeight(kw, hk, 1);
      Value b1 = weight(vw, hk, 0), b2 = weight(vw, hk, 1);
      SmallVector<Value> qi = loadRow(q, qBase), doi = loadRow(dout, qBase);
      Value end = keyEnd(i, dimSq, dimSk);
      int64_t n = cols();
      Value lse, delta;
      if (cfg.statsGiven) {
        // The stats kernel wrote them from the forward's lse and output.
        lse = memref::LoadOp::create(b, lseOut, ValueRange{row});
        delta = memref::LoadOp::create(b, deltaOut, ValueRange{row});
      } else {
        // Pass 1: online softmax (log2 units) and the unnormalised output.
        SmallVector<Value> init = {f32c(-inf), f32c(0)};
        for (int64_t e = 0; e < n; ++e)
          init.push_back(f32c(0));
        SmallVector<Value> st = overKeys(
            end, kvBase, a1, a2, b1, b2, init,
            [&](ArrayRef<Value> kh, ArrayRef<Value> vh,
                ValueRange it) -> SmallVector<Value> {
              Value s = fmul(dot(qi, kh), f32c(cfg.scaleLog2));
              Value m = fmax(it[0], s);
              Value corr = exp2(fsub(it[0], m));
              Value p = exp2(fsub(s, m));
              SmallVector<Value> y = {m, fma(it[1], corr, p)};
              for (int64_t e = 0; e < n; ++e)
                y.push_back(fma(p, vh[e], fmul(it[2 + e], corr)));
              return y;
            });
        Value l = st[1];
        Value some = arith::CmpFOp::create(b, arith::CmpFPredicate::OGT, l,
                                           f32c(0));
        Value invL =
            select(some, arith::DivFOp::create(b, f32c(1), l), f32c(0));
        // lse in log2 units (+inf for a row that sees no key: P = 0, as the
        // tensor-core grad_q writes).
        lse = fadd(st[0], intrinsic("llvm.nvvm.lg2.approx.ftz.f",
                                          select(some, l, f32c(1))));
        lse = select(some, lse, f32c(inf));
        SmallVector<Value> o;
        for (int64_t e = 0; e < n; ++e)
          o.push_back(fmul(st[2 + e], invL));
        delta = dot(doi, o);
        storeLane0(lseOut, row, lse);
        storeLane0(deltaOut, row, delta);
      }
      // Pass 2: dq_i = scale sum_j p_ij (dO_i . v^_j - delta_i) k^_j.
      SmallVector<Value> zeros(n, f32c(0));
      SmallVector<Value> acc = overKeys(
          end, kvBase, a1, a2, b1, b2, zeros,
          [&](ArrayRef<Value> kh, ArrayRef<Value> vh,
              ValueRange it) -> SmallVector<Value> {
            Value p = exp2(fsub(fmul(dot(qi, kh), f32c(cfg.scaleLog2)), lse));
            Value ds = fmul(p, fsub(dot(doi, vh), delta));
            SmallVector<Value> y;
            for (int64_t e = 0; e < n; ++e)
              y.push_back(fma(ds, kh[e], it[e]));
            return y;
          });
      unrotateRow(acc, add(sub(dimSk, dimSq), i));
      storeRow(dq, qBase, acc, f32c(scale()));
    });
  }

  void emitKV() {
    Value q = arg(0), k = arg(1), v = arg(2), kw = arg(3), vw = arg(4),
          dout = arg(5), lseIn = arg(6), deltaIn = arg(7), dkh = arg(8),
          dvh = arg(9);
    Value dimHq = arg(11), dimSq = arg(12), dimHkv = arg(13), dimSk = arg(14);
    auto [jV, rowV, hkV, bV, inRange] = tileRow(dimHkv, dimSk);
    Value j = jV, row = rowV, hk = hkV, bIdx = bV;
    ifThen(inRange, [&]() {
      int64_t n = cols();
      Value rowBase = mul(row, idx(cfg.d));
      // k^_j and v^_j (row j - 1 weighted 0 at j = 0).
      Value hasPrev = cmpi(arith::CmpIPredicate::ugt, j, idx(0));
      Value prevBase = sub(rowBase, select(hasPrev, idx(cfg.d), idx(0)));
      Value a2 = select(hasPrev, keyWeight(kw, hk, 1), f32c(0));
      Value b2 = select(hasPrev, weight(vw, hk, 1), f32c(0));
      SmallVector<Value> kh = mixRows(keyWeight(kw, hk, 0), loadRow(k, rowBase),
                                      a2, loadRow(k, prevBase));
      SmallVector<Value> vh = mixRows(weight(vw, hk, 0), loadRow(v, rowBase),
                                      b2, loadRow(v, prevBase));
      Value group = divu(dimHq, dimHkv);
      // Query rows that see key j: i >= j - (Sk - Sq) under causal.
      Value iStart = idx(0);
      if (cfg.causal) {
        Value off = sub(dimSk, dimSq);
        iStart = select(cmpi(arith::CmpIPredicate::sgt, j, off), sub(j, off),
                        idx(0));
      }
      SmallVector<Value> zeros(2 * n, f32c(0));
      SmallVector<Value> acc = loop(
          idx(0), group, zeros,
          [&](Value g, ValueRange it0) -> SmallVector<Value> {
            Value hq = add(mul(hk, group), g);
            Value qRow0 = mul(add(mul(bIdx, dimHq), hq), dimSq);
            return loop(
                iStart, dimSq, it0,
                [&](Value i, ValueRange it) -> SmallVector<Value> {
                  Value qRow = add(qRow0, i);
                  Value qBase = mul(qRow, idx(cfg.d));
                  SmallVector<Value> qi = loadRow(q, qBase);
                  SmallVector<Value> doi = loadRow(dout, qBase);
                  Value lse = memref::LoadOp::create(b, lseIn, ValueRange{qRow});
                  Value delta =
                      memref::LoadOp::create(b, deltaIn, ValueRange{qRow});
                  Value p = exp2(
                      fsub(fmul(dot(qi, kh), f32c(cfg.scaleLog2)), lse));
                  Value ds = fmul(p, fsub(dot(doi, vh), delta));
                  SmallVector<Value> y;
                  for (int64_t e = 0; e < n; ++e)
                    y.push_back(fma(ds, qi[e], it[e]));
                  for (int64_t e = 0; e < n; ++e)
                    y.push_back(fma(p, doi[e], it[n + e]));
                  return y;
                });
          });
      unrotateRow(MutableArrayRef<Value>(acc).take_front(n), j);
      storeRow(dkh, rowBase, ArrayRef<Value>(acc).take_front(n),
               f32c(scale()));
      storeRow(dvh, rowBase, ArrayRef<Value>(acc).drop_front(n));
    });
  }

  void emitMix() {
    Value k = arg(0), v = arg(1), kw = arg(2), vw = arg(3), dkh = arg(4),
          dvh = arg(5), dk = arg(6), dv = arg(7), part = arg(8);
    Value dimB = arg(9), dimHkv = arg(10), dimSk = arg(11);
    Value rows = mul(mul(dimB, dimHkv), dimSk);
    auto [rowV, inRange] = warpRow(rows);
    Value row = rowV;
    ifThen(inRange, [&]() {
      Value t = remu(row, dimSk);
      Value hk = remu(divu(row, dimSk), dimHkv);
      Value rowBase = mul(row, idx(cfg.d));
      Value hasPrev = cmpi(arith::CmpIPredicate::ugt, t, idx(0));
      Value hasNext =
          cmpi(arith::CmpIPredicate::ult, add(t, idx(1)), dimSk);
      Value prevBase = sub(rowBase, select(hasPrev, idx(cfg.d), idx(0)));
      Value nextBase = add(rowBase, select(hasNext, idx(cfg.d), idx(0)));
      for (int which = 0; which < 2; ++which) {
        Value x = which ? v : k, w = which ? vw : kw;
        Value gh = which ? dvh : dkh, out = which ? dv : dk;
        SmallVector<Value> g = loadRow(gh, rowBase);
        SmallVector<Value> gNext = loadRow(gh, nextBase);
        Value w2 = select(hasNext, weight(w, hk, 1), f32c(0));
        storeRow(out, rowBase, mixRows(weight(w, hk, 0), g, w2, gNext));
        Value d1 = dot(g, loadRow(x, rowBase));
        Value d2 = select(hasPrev, dot(g, loadRow(x, prevBase)), f32c(0));
        Value at = mul(row, idx(4));
        storeLane0(part, add(at, idx(2 * which)), d1);
        storeLane0(part, add(at, idx(2 * which + 1)), d2);
      }
    });
  }

  void emitWeights() {
    Value part = arg(0), dkw = arg(1), dvw = arg(2);
    Value dimB = arg(3), dimHkv = arg(4), dimSk = arg(5);
    Value smem = func.getWorkgroupAttributions()[0]; // [4, threads]
    Value tid = gpu::ThreadIdOp::create(b, gpu::Dimension::x);
    Value hk = gpu::BlockIdOp::create(b, gpu::Dimension::x);
    Value count = mul(dimB, dimSk);
    auto forOp = scf::ForOp::create(
        b, tid, count, idx(kWeightThreads),
        ValueRange{f32c(0), f32c(0), f32c(0), f32c(0)});
    {
      OpBuilder::InsertionGuard guard(b);
      b.setInsertionPointToStart(forOp.getBody());
      Value r = forOp.getInductionVar();
      Value bIdx = divu(r, dimSk), t = remu(r, dimSk);
      Value row = add(mul(add(mul(bIdx, dimHkv), hk), dimSk), t);
      SmallVector<Value> y;
      for (int64_t c = 0; c < 4; ++c)
        y.push_back(fadd(forOp.getRegionIterArgs()[c],
                         memref::LoadOp::create(
                             b, part, ValueRange{add(mul(row, idx(4)), idx(c))})));
      scf::YieldOp::create(b, y);
    }
    // Each warp's sums (shuffles), then the warps' sums in warp order by
    // thread 0: a fixed order, so the result does not vary between runs.
    lane = remu(tid, idx(32));
    Value warp = divu(tid, idx(32));
    SmallVector<Value> sums;
    for (int64_t c = 0; c < 4; ++c)
      sums.push_back(warpSum(forOp.getResult(c)));
    ifThen(cmpi(arith::CmpIPredicate::eq, lane, idx(0)), [&]() {
      for (int64_t c = 0; c < 4; ++c)
        memref::StoreOp::create(b, sums[c], smem, ValueRange{idx(c), warp});
    });
    gpu::BarrierOp::create(b);
    ifThen(cmpi(arith::CmpIPredicate::eq, tid, idx(0)), [&]() {
      for (int64_t c = 0; c < 4; ++c) {
        Value x = memref::LoadOp::create(b, smem, ValueRange{idx(c), idx(0)});
        for (int64_t w = 1; w < kWeightThreads / 32; ++w)
          x = fadd(x, memref::LoadOp::create(b, smem, ValueRange{idx(c), idx(w)}));
        memref::StoreOp::create(b, x, c < 2 ? dkw : dvw,
                                ValueRange{add(mul(hk, idx(2)), idx(c % 2))});
      }
    });
  }

  /// Given the forward's statistics (kv_shift_attention_grad_with_lse): one
  /// warp per query row writes grad_q's and grad_kv's lse, in log2 units
  /// (+inf for a row that sees no key, whose lse is -inf: P = 0), and delta
  /// = rowsum(dO * O) with the forward's (rounded) output O.
  void emitStats() {
    Value dout = arg(0), fwdOut = arg(1), fwdLse = arg(2), lseOut = arg(3),
          deltaOut = arg(4);
    auto [rowV, inRange] = warpRow(arg(5));
    Value row = rowV;
    ifThen(inRange, [&]() {
      double inf = std::numeric_limits<double>::infinity();
      Value rowBase = mul(row, idx(cfg.d));
      Value delta = dot(loadRow(dout, rowBase), loadRow(fwdOut, rowBase));
      Value lse = memref::LoadOp::create(b, fwdLse, ValueRange{row});
      Value noKey = arith::CmpFOp::create(b, arith::CmpFPredicate::OEQ, lse,
                                          f32c(-inf));
      storeLane0(lseOut, row,
                 select(noKey, f32c(inf), fmul(lse, f32c(kLog2E))));
      storeLane0(deltaOut, row, delta);
    });
  }

  double scale() const { return cfg.scaleLog2 / kLog2E; }
};

/// grad_q on tensor cores (f16/bf16): the forward kernel's blocks, tiles
/// and first pass (KernelEmitter::emitTensorCoreBody with gradQ), which
/// yields each row's lse and, from the output and dO, delta; a second pass
/// over the key tiles yields dq. Arguments as the SIMT grad_q's; shared
/// memory as the forward kernel's.
class GradQTensorCoreEmitter : KernelEmitter {
public:
  GradQTensorCoreEmitter(gpu::GPUFuncOp func, const KernelConfig &cfg)
      : KernelEmitter(func, cfg, /*dimsAt=*/9) {
    gradQ = true;
    gradLse = func.getArgument(6);
    gradDelta = func.getArgument(7);
    gradDq = func.getArgument(8);
  }
  void emit() {
    emitPrologue();
    if (cfg.ropeTheta) { // keys mixed (and rotated) by the pre-pass
      ka1 = f32c(1);
      ka2 = f32c(0);
    }
    emitTensorCoreBody();
    gpu::ReturnOp::create(b);
  }
};

/// grad_kv on tensor cores (f16/bf16): one block per (key tile of
/// kRowsPerWarp * warps rows, KV head, batch). Warp w's 16 fragment rows are
/// the key rows j0 - 1 + 15 w + r, r = 0 .. 15: row 0 is the halo (the row
/// before its first own row; its results are discarded), rows 1 .. 15 its
/// own. The block stages its raw key rows (from j0 - 1) through shared
/// memory into A fragments that stay in registers, and its raw value rows
/// into shared memory, then walks the query heads of its group and their
/// query tiles of kGradQRows rows that can see its keys (causal: from the
/// diagonal on), bringing q and dO in by cp.async, and on
/// mma.sync.m16n8k16:
///   S^T = a1 (K Q^T)_r + a2 (K Q^T)_{r-1} (the key mix on the f32 scores,
///        row r - 1 from the lane 4 below by shuffles, as the forward and
///        grad_q mix the scores' columns: the same probabilities as theirs),
///   P^T = exp2(S^T scale log2(e) - lse_i) (masked, and the halo row: 0),
///   dV^ += P^T dO, dP^T = b1 (V dO^T)_r + b2 (V dO^T)_{r-1} (likewise),
///   dS^T = P^T (dP^T - delta_i), dK^ += dS^T Q,
/// with f32 accumulators; dK^ (times the scale) and dV^ of the own rows go
/// out as f32 rows for grad_mix. Arguments as the SIMT grad_kv's; shared
/// memory: the K/V^ staging tile, then the q and dO tiles.
class GradKVTensorCoreEmitter : KernelEmitter {
public:
  static constexpr int64_t kGradQRows = 32; // query rows per step
  static constexpr int64_t kRowsPerWarp = 15; // own key rows of a warp

  GradKVTensorCoreEmitter(gpu::GPUFuncOp func, const KernelConfig &cfg)
      : KernelEmitter(func, cfg, /*dimsAt=*/10), func(func) {
    doSmem = func.getWorkgroupAttributions()[2];
    if (cfg.wgmma)
      vTile = func.getWorkgroupAttributions()[3];
  }

  void emit() {
    auto args = func.getArguments();
    Value lseIn = args[6], deltaIn = args[7], dkh = args[8], dvh = args[9];
    const int64_t kSteps = cfg.dPadded / 16;
    const int64_t sBlocks = kGradQRows / 8;   // n-blocks of S^T
    const int64_t oBlocks = cfg.dPadded / 8;  // n-blocks of dK^, dV^
    tid = gpu::ThreadIdOp::create(b, gpu::Dimension::x);
    lane = remu(tid, idx(32));
    warp = divu(tid, idx(32));
    Value tile = gpu::BlockIdOp::create(b, gpu::Dimension::x);
    kvHead = gpu::BlockIdOp::create(b, gpu::Dimension::y);
    batch = gpu::BlockIdOp::create(b, gpu::Dimension::z);
    // The block's first own key row; the staged rows start one before it.
    Value j0 = mul(tile, idx(kRowsPerWarp * cfg.warps));
    Value stage0 = sub(j0, idx(1));
    kvBase = mul(mul(add(mul(batch, dimHkv), kvHead), dimSk), idx(cfg.d));
    offset = sub(dimSk, dimSq);
    Value w0 = mul(kvHead, idx(2)), w1 = add(w0, idx(1));
    if (cfg.ropeTheta) { // keys mixed (and rotated) by the pre-pass
      ka1 = f32c(1);
      ka2 = f32c(0);
    } else {
      ka1 = memref::LoadOp::create(b, kw, ValueRange{w0});
      ka2 = memref::LoadOp::create(b, kw, ValueRange{w1});
    }
    vb1 = memref::LoadOp::create(b, vw, ValueRange{w0});
    vb2 = memref::LoadOp::create(b, vw, ValueRange{w1});
    Value g = divu(lane, idx(4));
    Value t4 = remu(lane, idx(4));
    Value l8 = remu(lane, idx(8));
    Value l16 = remu(lane, idx(16));
    Value hi = divu(lane, idx(16));
    Value mid = remu(divu(lane, idx(8)), idx(2));
    Value kLaneRow = add(l8, mul(hi, idx(8)));
    Value kLaneCol = mul(mid, idx(8));
    Value vLaneRow = add(l8, mul(mid, idx(8)));
    Value vLaneCol = mul(hi, idx(8));
    // Fragment rows of warp w start at staged row 15 w.
    Value fragRow = mul(warp, idx(kRowsPerWarp));

    // The warp's 16 fragment rows of the staged tile (raw K, then V^), as
    // A fragments.
    auto aFragment = [&](int64_t ks) {
      return ldmatrix(kSmem, add(fragRow, l16),
                      add(idx(ks * 16), mul(hi, idx(8))), /*transpose=*/false);
    };
    const bool wg = cfg.wgmma;
    SmallVector<SmallVector<Value>> kA(kSteps);
    // wgmma: descriptors of the key and value tiles (A, K-major) and of
    // the q and dO tiles (B: K-major for S^T and dP^T, MN-major for dV^
    // and dK^); a k-step is 16 columns of d (two core matrices) or 16
    // query rows (two row groups).
    Value kDesc, vDesc, qDesc, doDesc, qDescT, doDescT, kvToken;
    // grad-prefetch: the descriptors of the buffers' first slots.
    Value qDesc0, doDesc0, qDescT0, doDescT0;
    const int64_t groupBytes = cfg.chunksPerRow() * 128;
    const int64_t dStep = 2 * 128 / 16, rowStep = 2 * groupBytes / 16;
    if (wg) {
      // Raw K and V, each warp's 16 rows from its halo row, by cp.async
      // (waited for with the first query tile's copies).
      for (auto [dst, src] : {std::pair{kSmem, k}, std::pair{vTile, v}})
        copyRowsCM(dst, src, kvBase, stage0, cfg.blockN, dimSk,
                   /*rowChecks=*/true, /*keyOrder=*/false, Value(),
                   /*warpHalo=*/true);
      kvToken = commitCopies();
      // Warpgroup w's A rows start 64 w rows (8 row groups) into the key
      // and value tiles.
      Value wgRows = arith::IndexCastOp::create(
          b, b.getI64Type(), mul(divu(warp, idx(4)), idx(8 * groupBytes / 16)));
      kDesc = arith::AddIOp::create(
          b, smemDescriptor(kSmem, /*lbo=*/128, /*sbo=*/groupBytes), wgRows);
      vDesc = arith::AddIOp::create(
          b, smemDescriptor(vTile, /*lbo=*/128, /*sbo=*/groupBytes), wgRows);
      qDesc = smemDescriptor(vSmem, /*lbo=*/128, /*sbo=*/groupBytes);
      doDesc = smemDescriptor(doSmem, /*lbo=*/128, /*sbo=*/groupBytes);
      qDescT = smemDescriptor(vSmem, /*lbo=*/groupBytes, /*sbo=*/128);
      doDescT = smemDescriptor(doSmem, /*lbo=*/groupBytes, /*sbo=*/128);
      qDesc0 = qDesc, doDesc0 = doDesc, qDescT0 = qDescT, doDescT0 = doDescT;
    } else {
      // The staged tile holds 16 * warps rows from stage0; the warps read
      // the first 15 * warps + 1.
      stageRows(kSmem, k, kvBase, stage0, cfg.blockN, dimSk, Value(), Value());
      gpu::BarrierOp::create(b);
      for (int64_t ks = 0; ks < kSteps; ++ks)
        kA[ks] = aFragment(ks);
      // Every warp has its K fragments before V replaces the tile. V stays
      // in shared memory: its fragments are loaded for each query tile (in
      // registers next to K's and the dK^, dV^ accumulators they would
      // make ptxas spill at D = 128).
      gpu::BarrierOp::create(b);
      stageRows(kSmem, v, kvBase, stage0, cfg.blockN, dimSk, Value(), Value());
      // grad-prefetch: an empty group, the token beginPrefetchedTile's wait
      // names (the wait is for the query tiles' groups).
      if (cfg.gradPrefetch)
        kvToken = commitCopies();
    }

    // Key rows of this thread's accumulator rows (fragment rows g, g + 8);
    // fragment row 0 (g = 0, first row) is the halo.
    Value key0 = add(add(stage0, fragRow), g);
    Value key1 = add(key0, idx(8));
    // Fragment row 0 (the halo) and row 7's lanes, and the lane 4 below
    // (mod 32): rows g - 1 and, for g = 0, row 7. Formed in the loop without
    // RoPE, before it with RoPE: ptxas 13.0 at D = 128 then spills nothing
    // without RoPE and 8 bytes with RoPE for sm_80 (formed the other way
    // round: 8 bytes, and 28-32 bytes).
    Value isHalo, sendsFirst, laneBelow;
    auto laneValues = [&](Value l) {
      Value gl = divu(l, idx(4));
      isHalo = cmpi(arith::CmpIPredicate::eq, gl, idx(0));
      sendsFirst = cmpi(arith::CmpIPredicate::eq, gl, idx(7));
      Value laneI32 = arith::IndexCastOp::create(b, i32, l);
      laneBelow = arith::AndIOp::create(
          b, arith::AddIOp::create(b, laneI32, i32c(28)), i32c(31));
    };
    if (cfg.ropeTheta)
      laneValues(lane);
    Value group = divu(dimHq, dimHkv);
    // Causal: query row i sees key j iff j <= Sk - Sq + i; the block's first
    // key is seen from row j0 - (Sk - Sq) on.
    Value firstTile = idx(0);
    if (cfg.causal) {
      Value startRow = select(cmpi(arith::CmpIPredicate::sgt, j0, offset),
                              sub(j0, offset), idx(0));
      firstTile = divu(startRow, idx(kGradQRows));
    }
    Value qTiles = divu(add(dimSq, idx(kGradQRows - 1)), idx(kGradQRows));

    SmallVector<Value> init(2 * oBlocks * 4, f32c(0)); // dK^, dV^
    auto headLoop = scf::ForOp::create(b, idx(0), group, idx(1), init);
    {
      OpBuilder::InsertionGuard guard(b);
      b.setInsertionPointToStart(headLoop.getBody());
      Value hq = add(mul(kvHead, group), headLoop.getInductionVar());
      Value qRow0 = mul(add(mul(batch, dimHq), hq), dimSq); // flat row of i = 0
      Value qBase = mul(qRow0, idx(cfg.d));
      // grad-prefetch: query tile t's q and dO rows go to slot t % 2 of
      // their buffers (wgmma: buffer rows of 16 bytes, a tile is kGradQRows
      // * chunks of them; mma.sync: kGradQRows padded rows).
      const int64_t slotRows =
          wg ? kGradQRows * cfg.chunksPerRow() : kGradQRows;
      auto copyQueryTile = [&](Value t) {
        Value i0 = mul(t, idx(kGradQRows));
        Value dstRow0 =
            cfg.gradPrefetch ? mul(remu(t, idx(2)), idx(slotRows)) : Value();
        copyRowsFast(vSmem, q, qBase, i0, kGradQRows, dimSq, false,
                     /*cm=*/wg, dstRow0);
        copyRowsFast(doSmem, out, qBase, i0, kGradQRows, dimSq, false,
                     /*cm=*/wg, dstRow0);
        return commitCopies();
      };
      if (cfg.gradPrefetch) {
        // The first tile's copies, once every warp is done with the
        // previous head's last tile (which may have used the same slot).
        gpu::BarrierOp::create(b);
        ifThen(cmpi(arith::CmpIPredicate::ult, firstTile, qTiles),
               [&]() { copyQueryTile(firstTile); });
      }
      auto loop = scf::ForOp::create(b, firstTile, qTiles, idx(1),
                                     headLoop.getRegionIterArgs());
      {
        OpBuilder::InsertionGuard guard2(b);
        b.setInsertionPointToStart(loop.getBody());
        SmallVector<Value> acc(loop.getRegionIterArgs().begin(),
                               loop.getRegionIterArgs().end());
        Value i0 = mul(loop.getInductionVar(), idx(kGradQRows));
        // mma.sync with grad-prefetch: the buffer row of this tile's slot.
        Value qSlotRow;
        if (cfg.gradPrefetch) {
          Value slot =
              beginPrefetchedTile(kvToken, loop.getInductionVar(), qTiles,
                                  [&](Value next) { copyQueryTile(next); });
          if (wg) {
            // This tile's slot in the q and dO descriptors.
            Value off = slotOffset(slot, slotRows);
            qDesc = arith::AddIOp::create(b, qDesc0, off);
            doDesc = arith::AddIOp::create(b, doDesc0, off);
            qDescT = arith::AddIOp::create(b, qDescT0, off);
            doDescT = arith::AddIOp::create(b, doDescT0, off);
          } else {
            qSlotRow = mul(slot, idx(slotRows));
          }
        } else {
          // The q and dO tiles (the previous step's readers are done).
          gpu::BarrierOp::create(b);
          Value token = copyQueryTile(loop.getInductionVar());
          waitCopies(token, 0);
          if (wg)
            proxyFence();
          gpu::BarrierOp::create(b);
        }

        // Query row of this thread's column (nb, e), and its lse / delta
        // (loaded where used, to keep them out of the registers of the
        // products); rows past Sq get lse = +inf (P = 0) and delta = 0.
        auto queryRow = [&](int64_t nb, int64_t e) {
          return add(add(i0, idx(nb * 8 + e)), mul(t4, idx(2)));
        };
        auto rowStat = [&](Value mem, int64_t nb, int64_t e, double outside) {
          Value i = queryRow(nb, e);
          Value in = cmpi(arith::CmpIPredicate::ult, i, dimSq);
          Value at = add(qRow0, select(in, i, idx(0)));
          return select(in, memref::LoadOp::create(b, mem, ValueRange{at}),
                        f32c(outside));
        };
        // S^T = K^ Q^T and dP^T = V^ dO^T: the q / dO rows are the n side.
        auto rowsTimesTile = [&](function_ref<SmallVector<Value>(int64_t)> a,
                                 Value tileSmem) {
          SmallVector<Value> r(sBlocks * 4, f32c(0));
          Value laneRow = qSlotRow ? add(qSlotRow, kLaneRow) : kLaneRow;
          for (int64_t ks = 0; ks < kSteps; ++ks)
            for (int64_t nb2 = 0; nb2 < sBlocks / 2; ++nb2) {
              SmallVector<Value> bf =
                  ldmatrix(tileSmem, add(idx(nb2 * 16), laneRow),
                           add(idx(ks * 16), kLaneCol), /*transpose=*/false);
              for (int64_t h = 0; h < 2; ++h) {
                int64_t nb = 2 * nb2 + h;
                SmallVector<Value> c(r.begin() + nb * 4, r.begin() + nb * 4 + 4);
                SmallVector<Value> d = mma(a(ks), {bf[2 * h], bf[2 * h + 1]}, c);
                std::copy(d.begin(), d.end(), r.begin() + nb * 4);
              }
            }
          return r;
        };
        if (!cfg.ropeTheta)
          laneValues(remu(opaque(tid), idx(32)));
        // A mix on the rows of an S^T-shaped accumulator: x_r = w1 x_r +
        // w2 x_{r-1}. Thread (g, t4) holds rows g (c0, c1) and g + 8 (c2,
        // c3); row g - 1 is the first row of lane - 4, row g + 7 its second
        // row, or for g = 0 the first row of lane + 28 (row 7): lanes with
        // g = 7 send their first row there (they send only to g = 0). Row
        // 0's (the halo's) result is garbage; its P is masked below.
        auto mixRows = [&](MutableArrayRef<Value> x, Value w1v, Value w2v) {
          for (int64_t nb = 0; nb < sBlocks; ++nb)
            for (int64_t e = 0; e < 2; ++e) {
              Value first = x[nb * 4 + e], second = x[nb * 4 + 2 + e];
              Value prevFirst = shuffleIdx(first, laneBelow);
              Value prevSecond =
                  shuffleIdx(select(sendsFirst, first, second), laneBelow);
              x[nb * 4 + e] = fma(w1v, first, fmul(w2v, prevFirst));
              x[nb * 4 + 2 + e] = fma(w1v, second, fmul(w2v, prevSecond));
            }
        };
        // S^T = a1 (K Q^T)_r + a2 (K Q^T)_{r-1} (with RoPE the keys come
        // mixed). wgmma: K Q^T and V dO^T issued together, both read from
        // shared memory.
        SmallVector<Value> s, dp;
        if (wg) {
          SmallVector<Value> both = wgmmaChainSS(
              kDesc, kSteps, qDesc, dStep, kGradQRows, /*transB=*/false, {},
              /*wait=*/false);
          SmallVector<Value> dpPending = wgmmaChainSS(
              vDesc, kSteps, doDesc, dStep, kGradQRows, /*transB=*/false, {},
              /*wait=*/false);
          both.append(dpPending);
          both = wgmmaWait(0, both);
          s.assign(both.begin(), both.begin() + sBlocks * 4);
          dp.assign(both.begin() + sBlocks * 4, both.end());
        } else {
          s = rowsTimesTile([&](int64_t ks) { return kA[ks]; }, vSmem);
        }
        if (!cfg.ropeTheta)
          mixRows(s, ka1, ka2);
        // P^T, masked: the halo row, key beyond Sk, query beyond Sq (lse =
        // inf), or (causal) key after the query's diagonal. Only tiles that
        // reach past Sk or (causal) cross the diagonal test each element;
        // on the others only the halo row is zero.
        SmallVector<Value> x(s.size());
        Value c = f32c(cfg.scaleLog2);
        for (int64_t nb = 0; nb < sBlocks; ++nb)
          for (int64_t e = 0; e < 2; ++e) {
            Value lse = rowStat(lseIn, nb, e,
                                std::numeric_limits<double>::infinity());
            for (int64_t r = 0; r < 2; ++r) {
              int64_t i = 2 * r + e;
              x[nb * 4 + i] = exp2(fsub(fmul(s[nb * 4 + i], c), lse));
            }
          }
        Value lastKey = add(j0, idx(kRowsPerWarp * cfg.warps - 1));
        Value needMask = cmpi(arith::CmpIPredicate::sge, lastKey, dimSk);
        if (cfg.causal)
          needMask = ori(needMask, cmpi(arith::CmpIPredicate::sgt, lastKey,
                                        add(offset, i0)));
        SmallVector<Value> p = ifElse(
            needMask, SmallVector<Type>(x.size(), f32),
            [&]() -> SmallVector<Value> {
              SmallVector<Value> m(x.size());
              for (int64_t nb = 0; nb < sBlocks; ++nb)
                for (int64_t i = 0; i < 4; ++i) {
                  int64_t r = i / 2, e = i % 2;
                  Value key = r == 0 ? key0 : key1;
                  Value masked = cmpi(arith::CmpIPredicate::uge, key, dimSk);
                  if (r == 0)
                    masked = ori(masked, isHalo);
                  if (cfg.causal)
                    masked = ori(masked, cmpi(arith::CmpIPredicate::sgt, key,
                                              add(offset, queryRow(nb, e))));
                  m[nb * 4 + i] = select(masked, f32c(0), x[nb * 4 + i]);
                }
              return m;
            },
            [&]() -> SmallVector<Value> {
              SmallVector<Value> m(x);
              for (int64_t nb = 0; nb < sBlocks; ++nb)
                for (int64_t e = 0; e < 2; ++e)
                  m[nb * 4 + e] = select(isHalo, f32c(0), x[nb * 4 + e]);
              return m;
            });
        // (A x tile^T-free) products with the tile on the k side: rows of
        // `tileSmem` are the k dimension (ldmatrix.trans).
        auto timesTile = [&](ArrayRef<Value> m, Value tileSmem,
                             MutableArrayRef<Value> dst) {
          Value laneRow = qSlotRow ? add(qSlotRow, vLaneRow) : vLaneRow;
          for (int64_t kk = 0; kk < kGradQRows / 16; ++kk) {
            auto pk = [&](int64_t nb, int64_t r) {
              return packPair(m[nb * 4 + 2 * r], m[nb * 4 + 2 * r + 1]);
            };
            SmallVector<Value> a = {pk(2 * kk, 0), pk(2 * kk, 1),
                                    pk(2 * kk + 1, 0), pk(2 * kk + 1, 1)};
            for (int64_t nb2 = 0; nb2 < oBlocks / 2; ++nb2) {
              SmallVector<Value> bf =
                  ldmatrix(tileSmem, add(idx(kk * 16), laneRow),
                           add(idx(nb2 * 16), vLaneCol), /*transpose=*/true);
              for (int64_t h = 0; h < 2; ++h) {
                int64_t nb = 2 * nb2 + h;
                SmallVector<Value> cc(dst.begin() + nb * 4,
                                      dst.begin() + nb * 4 + 4);
                SmallVector<Value> d = mma(a, {bf[2 * h], bf[2 * h + 1]}, cc);
                std::copy(d.begin(), d.end(), dst.begin() + nb * 4);
              }
            }
          }
        };
        MutableArrayRef<Value> dK(acc.data(), oBlocks * 4);
        MutableArrayRef<Value> dV(acc.data() + oBlocks * 4, oBlocks * 4);
        // wgmma: an S^T-shaped accumulator as A operands (k-steps of 16
        // query rows, mma.sync's A layout); dV^ += P^T dO is issued here
        // and runs while dS^T is formed.
        auto packA = [&](ArrayRef<Value> m) {
          SmallVector<SmallVector<Value>> a;
          for (int64_t kk = 0; kk < kGradQRows / 16; ++kk)
            a.push_back(
                {packPair(m[2 * kk * 4], m[2 * kk * 4 + 1]),
                 packPair(m[2 * kk * 4 + 2], m[2 * kk * 4 + 3]),
                 packPair(m[(2 * kk + 1) * 4], m[(2 * kk + 1) * 4 + 1]),
                 packPair(m[(2 * kk + 1) * 4 + 2], m[(2 * kk + 1) * 4 + 3])});
          return a;
        };
        SmallVector<SmallVector<Value>> pa;
        SmallVector<Value> dvPending;
        if (wg) {
          pa = packA(p);
          dvPending = wgmmaChain(pa, doDescT, rowStep, cfg.dPadded,
                                 /*transB=*/true, dV, /*wait=*/false);
        } else {
          timesTile(p, doSmem, dV);
          dp = rowsTimesTile(aFragment, doSmem);
        }
        // dP^T = b1 (V dO^T)_r + b2 (V dO^T)_{r-1}: the value mix in f32,
        // as the forward's O (and so delta) has it.
        mixRows(dp, vb1, vb2);
        SmallVector<Value> ds(p.size());
        for (int64_t nb = 0; nb < sBlocks; ++nb)
          for (int64_t e = 0; e < 2; ++e) {
            Value delta = rowStat(deltaIn, nb, e, 0.0);
            for (int64_t r = 0; r < 2; ++r) {
              int64_t i = 2 * r + e;
              ds[nb * 4 + i] = fmul(p[nb * 4 + i], fsub(dp[nb * 4 + i], delta));
            }
          }
        if (wg) {
          // dK^ += dS^T Q, then both products retired (P^T's and dS^T's
          // registers tied to the wait: they stay unchanged while the MMAs
          // read them).
          SmallVector<SmallVector<Value>> dsa = packA(ds);
          SmallVector<Value> pending =
              wgmmaChain(dsa, qDescT, rowStep, cfg.dPadded, /*transB=*/true, dK,
                         /*wait=*/false);
          pending.append(dvPending);
          SmallVector<Value> aRegs;
          for (const auto &ks : llvm::concat<const SmallVector<Value>>(pa, dsa))
            aRegs.append(ks.begin(), ks.end());
          pending = wgmmaWait(0, pending, aRegs);
          std::copy(pending.begin(), pending.end(), acc.begin());
        } else {
          timesTile(ds, vSmem, dK);
        }
        scf::YieldOp::create(b, acc);
      }
      scf::YieldOp::create(b, loop.getResults());
    }
    if (wg) // no query tile: the key and value copies still in flight
      waitCopies(kvToken, 0);
    SmallVector<Value> res(headLoop.getResults().begin(),
                           headLoop.getResults().end());
    unrotate(MutableArrayRef<Value>(res).take_front(oBlocks * 4), {key0, key1});

    // dK^ (times the scale) and dV^ of the own rows < Sk, f32, columns < D.
    Value sc = f32c(cfg.scaleLog2 / kLog2E);
    for (int64_t r = 0; r < 2; ++r) {
      Value key = r == 0 ? key0 : key1;
      Value own = cmpi(arith::CmpIPredicate::ult, key, dimSk);
      if (r == 0)
        own = andi(own, cmpi(arith::CmpIPredicate::ne, g, idx(0)));
      ifThen(own, [&]() {
        Value rowBase =
            mul(add(mul(add(mul(batch, dimHkv), kvHead), dimSk), key),
                idx(cfg.d));
        for (int64_t which = 0; which < 2; ++which)
          for (int64_t nb = 0; nb < oBlocks; ++nb) {
            Value col = add(idx(nb * 8), mul(t4, idx(2)));
            Value x = res[which * oBlocks * 4 + nb * 4 + 2 * r];
            Value y = res[which * oBlocks * 4 + nb * 4 + 2 * r + 1];
            if (which == 0) {
              x = fmul(x, sc);
              y = fmul(y, sc);
            }
            Value dst = which == 0 ? dkh : dvh;
            auto store = [&]() {
              memref::StoreOp::create(b, x, dst, ValueRange{add(rowBase, col)});
              Value col1 = add(col, idx(1));
              auto second = [&]() {
                memref::StoreOp::create(b, y, dst,
                                        ValueRange{add(rowBase, col1)});
              };
              if (cfg.d % 2 == 0)
                second();
              else
                ifThen(cmpi(arith::CmpIPredicate::ult, col1, idx(cfg.d)),
                       second);
            };
            if ((nb + 1) * 8 <= cfg.d)
              store();
            else
              ifThen(cmpi(arith::CmpIPredicate::ult, col, idx(cfg.d)), store);
          }
      });
    }
    gpu::ReturnOp::create(b);
  }

private:
  gpu::GPUFuncOp func;
  Value doSmem;
  Value vTile; // wgmma: the value tile (K's stays in kSmem)
};

/// A host buffer for a result of type `outType` (64-byte aligned), its
/// dynamic sizes those of `like` (a buffer of the same shape).
static Value allocHostResult(ImplicitLocOpBuilder &b,
                             RankedTensorType outType, Value like) {
  SmallVector<Value> dyn;
  for (int64_t i = 0; i < outType.getRank(); ++i)
    if (outType.isDynamicDim(i))
      dyn.push_back(memref::DimOp::create(b, like, i));
  return memref::AllocOp::create(
      b, MemRefType::get(outType.getShape(), outType.getElementType()), dyn,
      b.getI64IntegerAttr(64));
}

/// `@module::@kernel` for a kernel of the gpu.module.
static SymbolRefAttr kernelRef(gpu::GPUFuncOp kernel) {
  auto kernelModule = kernel->getParentOfType<gpu::GPUModuleOp>();
  return SymbolRefAttr::get(kernelModule.getNameAttr(),
                            {FlatSymbolRefAttr::get(kernel.getNameAttr())});
}

/// A private launcher declaration `@kvshift_launch_<kernel>` taking `args`'
/// types, its body written by --kvshift-gpu-launchers (after buffer
/// deallocation, which does not accept gpu ops).
static func::FuncOp declareLauncher(ModuleOp module, Location loc,
                                    StringRef kernelName, ValueRange args) {
  OpBuilder mb = OpBuilder::atBlockEnd(module.getBody());
  SmallVector<Type> argTypes;
  for (Value a : args)
    argTypes.push_back(a.getType());
  auto launcher = func::FuncOp::create(
      mb, loc, ("kvshift_launch_" + kernelName).str(),
      mb.getFunctionType(argTypes, {}));
  launcher.setPrivate();
  SymbolTable(module).insert(launcher); // renames on a clash
  return launcher;
}

struct KVShiftFuseAttentionGPUPass
    : kvshift::impl::KVShiftFuseAttentionGPUBase<KVShiftFuseAttentionGPUPass> {
  using Base::Base;

  /// Checks a kv_shift_attention or kv_shift_attention_with_lse against
  /// what the kernels support; fills `cfg`.
  LogicalResult configure(Operation *op, KernelConfig &cfg) {
    auto qType = cast<RankedTensorType>(op->getOperand(0).getType());
    cfg.elt = qType.getElementType();
    cfg.tensorCores = !cfg.elt.isF32();
    cfg.causal = op->hasAttr("causal");
    cfg.withLse = isa<KVShiftAttentionWithLSEOp>(op);
    int64_t d = qType.getDimSize(3);
    if (ShapedType::isDynamic(d))
      return op->emitOpError()
             << "kvshift-fuse-attention-gpu: the head dimension (dim 3 of "
                "q) must be static, found ?";
    if (auto theta = op->getAttrOfType<FloatAttr>("rope_theta")) {
      // The rotation pairs column i with i + D/2; the kernels move both as
      // aligned 16-byte chunks.
      if (d % 16 != 0)
        return op->emitOpError()
               << "kvshift-fuse-attention-gpu: rope_theta needs the head "
                  "dimension to be a multiple of 16 on the GPU (the rotation "
                  "pairs 16-byte chunks of the two halves of a row), found "
                  "D = "
               << d;
      cfg.ropeTheta = theta.getValueAsDouble();
    }
    std::optional<double> scale = getStaticAttentionScale(op);
    if (!scale)
      return op->emitOpError()
             << "kvshift-fuse-attention-gpu: the scale must be static";
    cfg.scaleLog2 = *scale * kLog2E;
    cfg.d = d;
    cfg.dPadded = (d + 15) / 16 * 16;
    cfg.vecWidth = 16 / (cfg.elt.getIntOrFloatBitWidth() / 8);
    cfg.warps = warps;
    cfg.shiftedValues = shiftedValues;
    cfg.lazyRescale = lazyRescale;
    if (wgmma) {
      if (failed(checkWgmmaTarget(op, "whole warpgroups of 64 query rows")))
        return failure();
      // f32 has no tensor-core kernel; D that is not a multiple of 16 or
      // above 256, or key tiles above 256, keep mma.sync (wgmma's N is D
      // for O += P V and the key tile for S = Q K^T, at most 256).
      cfg.wgmma = cfg.tensorCores && d % 16 == 0 && d <= 256 && blockK <= 256;
      cfg.shiftedValues |= cfg.wgmma;
      cfg.wgmmaOverlap = cfg.wgmma && wgmmaOverlap;
    } else if (wgmmaOverlap) {
      return op->emitOpError()
             << "kvshift-fuse-attention-gpu: wgmma-overlap=true pipelines "
                "the warpgroup MMAs of wgmma=true, found wgmma=false";
    }
    if (cfg.tensorCores) {
      cfg.blockM = 16 * warps;
      cfg.blockN = blockK;
      cfg.rowStride = cfg.dPadded + 8;
    } else {
      cfg.blockM = (32 / kSIMTLanesPerRow) * warps;
      cfg.blockN = simtBlockK;
      cfg.rowStride = cfg.dPadded;
    }
    if (cfg.sharedBytes() > sharedLimit())
      return op->emitOpError()
             << "kvshift-fuse-attention-gpu: D = " << d << " with "
             << (cfg.tensorCores ? "block-k = " : "simt-block-k = ")
             << cfg.blockN << " and warps = " << cfg.warps << " needs "
             << cfg.sharedBytes() << " bytes of shared memory, above the "
             << sharedLimitText();
    // kv-prefetch: the mma.sync kernel's tiles twice, when they fit (the
    // wgmma kernels have their own pipelining, wgmma-overlap; f32 has no
    // cp.async tiles).
    if (kvPrefetch && cfg.tensorCores && !cfg.wgmma) {
      KernelConfig twice = cfg;
      twice.kvPrefetch = true;
      cfg.kvPrefetch = twice.sharedBytes() <= sharedLimit();
    }
    return success();
  }

  gpu::GPUFuncOp buildKernel(gpu::GPUModuleOp module, StringRef name,
                             const KernelConfig &cfg) {
    MLIRContext *ctx = module.getContext();
    OpBuilder mb = OpBuilder::atBlockEnd(module.getBody());
    Type index = mb.getIndexType();
    auto flat = MemRefType::get({ShapedType::kDynamic}, cfg.elt);
    auto flatW = MemRefType::get({ShapedType::kDynamic}, mb.getF32Type());
    SmallVector<Type> argTypes = {flat,  flat,  flat,  flatW, flatW, flat,
                                  index, index, index, index, index};
    if (cfg.withLse)
      argTypes.push_back(flatW);
    auto fnType = mb.getFunctionType(argTypes, {});
    auto wg = gpu::AddressSpaceAttr::get(ctx, gpu::AddressSpace::Workgroup);
    // kv-prefetch: two slots of BN + 1 rows in both buffers.
    auto kSmemType = MemRefType::get(
        {cfg.kvPrefetch ? 2 * (cfg.blockN + 1) : cfg.blockN, cfg.rowStride},
        cfg.elt, MemRefLayoutAttrInterface(), wg);
    int64_t vRows = cfg.kvPrefetch    ? 2 * (cfg.blockN + 1)
                    : cfg.tensorCores ? cfg.blockN + 1
                                      : cfg.blockN;
    auto vSmemType = MemRefType::get({vRows, cfg.rowStride}, cfg.elt,
                                     MemRefLayoutAttrInterface(), wg);
    if (cfg.wgmma) {
      // One row per 16-byte chunk: tiles of BN rows as core matrices
      // (KernelEmitter::cmRow).
      kSmemType = MemRefType::get({cfg.blockN * cfg.chunksPerRow(), 8},
                                  cfg.elt, MemRefLayoutAttrInterface(), wg);
      vSmemType = MemRefType::get(
          {(cfg.wgmmaOverlap ? 2 : 1) * cfg.blockN * cfg.chunksPerRow(), 8},
          cfg.elt, MemRefLayoutAttrInterface(), wg);
    }
    auto func = gpu::GPUFuncOp::create(mb, module.getLoc(), name, fnType,
                                       TypeRange{kSmemType, vSmemType});
    func->setAttr(gpu::GPUDialect::getKernelFuncAttrName(), mb.getUnitAttr());
    // 16-byte accesses (st.shared.v4, ldmatrix rows) need 16-byte alignment;
    // wgmma's core matrices are 128 bytes.
    for (unsigned i = 0; i < 2; ++i)
      func.setWorkgroupAttributionAttr(i, LLVM::LLVMDialect::getAlignAttrName(),
                                       mb.getI64IntegerAttr(cfg.wgmma ? 128
                                                                      : 16));
    func.setKnownBlockSizeAttr(mb.getDenseI32ArrayAttr(
        {static_cast<int32_t>(cfg.threads()), 1, 1}));
    // .minnctapersm: ptxas caps the registers so that this many blocks fit
    // an SM (spilling what does not fit).
    if (minBlocksPerSM > 0)
      func->setAttr(NVVM::NVVMDialect::getMinctasmAttrName(),
                    mb.getI32IntegerAttr(minBlocksPerSM));
    KernelEmitter(func, cfg).emit();
    markDynamicSharedMemory(func);
    return func;
  }

  /// The RoPE pre-pass kernel (RopeKernelEmitter) for `cfg`'s element type,
  /// D and theta.
  gpu::GPUFuncOp buildRopeKernel(gpu::GPUModuleOp module, StringRef name,
                                 const KernelConfig &cfg) {
    OpBuilder mb = OpBuilder::atBlockEnd(module.getBody());
    Type index = mb.getIndexType();
    auto flat = MemRefType::get({ShapedType::kDynamic}, cfg.elt);
    auto flatW = MemRefType::get({ShapedType::kDynamic}, mb.getF32Type());
    auto func = gpu::GPUFuncOp::create(
        mb, module.getLoc(), name,
        mb.getFunctionType(
            {flat, flatW, flat, index, index, index, index, index}, {}));
    func->setAttr(gpu::GPUDialect::getKernelFuncAttrName(), mb.getUnitAttr());
    func.setKnownBlockSizeAttr(mb.getDenseI32ArrayAttr(
        {static_cast<int32_t>(RopeKernelEmitter::kThreads), 1, 1}));
    RopeKernelEmitter(func, cfg).emit();
    return func;
  }

  void runOnOperation() override {
    ModuleOp module = getOperation();
    if (warps < 1 || warps > 16) {
      module.emitError() << "kvshift-fuse-attention-gpu: warps must be in "
                            "[1, 16], found "
                         << warps.getValue();
      return signalPassFailure();
    }
    if (minBlocksPerSM < 0 || minBlocksPerSM > 32) {
      module.emitError() << "kvshift-fuse-attention-gpu: min-blocks-per-sm "
                            "must be in [0, 32] (0: no bound), found "
                         << minBlocksPerSM.getValue();
      return signalPassFailure();
    }
    if (blockK < 16 || blockK % 16 != 0) {
      module.emitError() << "kvshift-fuse-attention-gpu: block-k must be a "
                            "positive multiple of 16, found "
                         << blockK.getValue();
      return signalPassFailure();
    }
    if (simtBlockK < 1) {
      module.emitError() << "kvshift-fuse-attention-gpu: simt-block-k must "
                            "be positive, found "
                         << simtBlockK.getValue();
      return signalPassFailure();
    }
    if (decodeSplit < 1 || decodeRows < 1 || decodeRows > 16) {
      module.emitError() << "kvshift-fuse-attention-gpu: decode-split must "
                            "be positive and decode-rows in [1, 16], found "
                         << decodeSplit.getValue() << " and "
                         << decodeRows.getValue();
      return signalPassFailure();
    }
    SmallVector<Operation *> ops;
    module.walk([&](Operation *op) {
      if (isa<KVShiftAttentionOp, KVShiftAttentionWithLSEOp>(op))
        ops.push_back(op);
    });
    SmallVector<KVCacheAttentionOp> cacheOps;
    module.walk([&](KVCacheAttentionOp op) { cacheOps.push_back(op); });
    SmallVector<Operation *> gradOps;
    module.walk([&](Operation *op) {
      if (isa<KVShiftAttentionGradOp, KVShiftAttentionGradWithLSEOp>(op))
        gradOps.push_back(op);
    });
    SmallVector<KVCacheAppendOp> appendOps;
    if (appendKernel)
      module.walk([&](KVCacheAppendOp op) { appendOps.push_back(op); });
    if (ops.empty() && cacheOps.empty() && gradOps.empty() && appendOps.empty())
      return;

    // Check everything before changing anything.
    SmallVector<KernelConfig> cfgs(ops.size());
    for (auto [op, cfg] : llvm::zip(ops, cfgs))
      if (failed(configure(op, cfg)))
        return signalPassFailure();
    SmallVector<DecodeConfig> dcfgs(cacheOps.size());
    for (auto [op, dc] : llvm::zip(cacheOps, dcfgs))
      if (failed(configureDecode(op, dc)))
        return signalPassFailure();
    SmallVector<KernelConfig> gcfgs(gradOps.size());
    for (auto [op, gc] : llvm::zip(gradOps, gcfgs))
      if (failed(configureGrad(op, gc)))
        return signalPassFailure();
    SmallVector<KernelConfig> acfgs(appendOps.size());
    for (auto [op, ac] : llvm::zip(appendOps, acfgs))
      if (failed(configureAppend(op, ac)))
        return signalPassFailure();

    MLIRContext *ctx = &getContext();
    OpBuilder mb = OpBuilder::atBlockEnd(module.getBody());
    auto kernels = dyn_cast_or_null<gpu::GPUModuleOp>(
        SymbolTable::lookupSymbolIn(module, kKernelModuleName));
    if (!kernels)
      kernels = gpu::GPUModuleOp::create(mb, module.getLoc(),
                                         kKernelModuleName);
    module->setAttr(gpu::GPUDialect::getContainerModuleAttrName(),
                    mb.getUnitAttr());
    SymbolTable kernelSymbols(kernels);

    IRRewriter rewriter(ctx);
    for (auto [op, cfg] : llvm::zip(ops, cfgs)) {
      std::string name;
      llvm::raw_string_ostream os(name);
      os << "kv_shift_attention_d" << cfg.d << "_";
      cfg.elt.print(os);
      if (cfg.causal)
        os << "_causal";
      if (cfg.ropeTheta)
        os << "_rope";
      if (cfg.withLse)
        os << "_lse";
      gpu::GPUFuncOp kernel = buildKernel(kernels, name, cfg);
      kernelSymbols.insert(kernel); // renames on a clash
      gpu::GPUFuncOp ropeKernel;
      if (cfg.ropeTheta) {
        std::string ropeName;
        llvm::raw_string_ostream ros(ropeName);
        ros << "kv_shift_rope_d" << cfg.d << "_";
        cfg.elt.print(ros);
        ropeKernel = buildRopeKernel(kernels, ropeName, cfg);
        kernelSymbols.insert(ropeKernel);
      }

      rewriter.setInsertionPoint(op);
      ImplicitLocOpBuilder b(op->getLoc(), rewriter);
      emitCall(b, module, op, kernel, ropeKernel, cfg);
    }
    for (auto [op, dc] : llvm::zip(cacheOps, dcfgs)) {
      std::string name;
      llvm::raw_string_ostream os(name);
      os << "kv_cache_decode_d" << dc.base.d << "_";
      dc.base.elt.print(os);
      if (dc.base.causal)
        os << "_causal";
      if (dc.base.ropeTheta)
        os << "_rope";
      gpu::GPUFuncOp kernel = buildDecodeKernel(kernels, name, dc);
      kernelSymbols.insert(kernel);
      gpu::GPUFuncOp merge = buildMergeKernel(kernels, name + "_merge", dc);
      kernelSymbols.insert(merge);
      rewriter.setInsertionPoint(op);
      ImplicitLocOpBuilder b(op.getLoc(), rewriter);
      emitDecodeCall(b, module, op, kernel, merge, dc);
    }
    for (auto [op, ac] : llvm::zip(appendOps, acfgs)) {
      std::string name;
      llvm::raw_string_ostream os(name);
      os << "kv_cache_append_d" << ac.d << "_";
      ac.elt.print(os);
      if (ac.ropeTheta)
        os << "_rope";
      gpu::GPUFuncOp kernel = buildAppendKernel(kernels, name, ac);
      kernelSymbols.insert(kernel);
      rewriter.setInsertionPoint(op);
      ImplicitLocOpBuilder b(op.getLoc(), rewriter);
      emitAppendCall(b, module, op, kernel, ac);
    }
    for (auto [op, gc] : llvm::zip(gradOps, gcfgs)) {
      std::string name;
      llvm::raw_string_ostream os(name);
      os << "kv_shift_attention_d" << gc.d << "_";
      gc.elt.print(os);
      if (gc.causal)
        os << "_causal";
      if (gc.ropeTheta)
        os << "_rope";
      if (gc.statsGiven)
        os << "_lse";
      SmallVector<gpu::GPUFuncOp> kernels4;
      for (auto [kind, suffix] :
           {std::pair{GradKernelEmitter::Q, "_grad_q"},
            std::pair{GradKernelEmitter::KV, "_grad_kv"},
            std::pair{GradKernelEmitter::Mix, "_grad_mix"},
            std::pair{GradKernelEmitter::Weights, "_grad_w"}}) {
        gpu::GPUFuncOp kernel = buildGradKernel(kernels, name + suffix, gc, kind);
        kernelSymbols.insert(kernel);
        kernels4.push_back(kernel);
      }
      gpu::GPUFuncOp statsKernel;
      if (gc.statsGiven) {
        statsKernel = buildGradKernel(kernels, name + "_grad_stats", gc,
                                      GradKernelEmitter::Stats);
        kernelSymbols.insert(statsKernel);
      }
      gpu::GPUFuncOp ropeKernel;
      if (gc.ropeTheta) {
        // The forward's pre-pass: q rotated, k mixed then rotated.
        KernelConfig rc = gc;
        rc.vecWidth = 16 / (gc.elt.getIntOrFloatBitWidth() / 8);
        std::string ropeName;
        llvm::raw_string_ostream ros(ropeName);
        ros << "kv_shift_rope_d" << gc.d << "_";
        gc.elt.print(ros);
        ropeKernel = buildRopeKernel(kernels, ropeName, rc);
        kernelSymbols.insert(ropeKernel);
      }
      rewriter.setInsertionPoint(op);
      ImplicitLocOpBuilder b(op->getLoc(), rewriter);
      emitGradCall(b, module, op, kernels4, statsKernel, ropeKernel, gc);
    }
  }

  /// The shared memory a block may use on `chip`; kernels above 48 KiB
  /// take it as dynamic shared memory (kvshift-gpu-dynamic-shared-memory).
  int64_t sharedLimit() const { return maxSharedBytesPerBlock(chip); }
  std::string sharedLimitText() const {
    return std::to_string(sharedLimit()) + " bytes a thread block may use on " +
           std::string(chip);
  }

  /// What wgmma=true needs of the target: chip sm_90a and a multiple of 4
  /// warps (`unit`: what one warpgroup covers, for the message).
  LogicalResult checkWgmmaTarget(Operation *op, StringRef unit) {
    if (chip != "sm_90a")
      return op->emitOpError()
             << "kvshift-fuse-attention-gpu: wgmma=true needs chip = sm_90a "
                "(warpgroup MMAs), found chip = "
             << chip;
    if (warps % 4 != 0)
      return op->emitOpError()
             << "kvshift-fuse-attention-gpu: wgmma=true needs warps to be a "
                "multiple of 4 ("
             << unit << "), found warps = " << static_cast<int64_t>(warps);
    return success();
  }

  /// Checks a kv_shift_attention_grad or kv_shift_attention_grad_with_lse
  /// against what the backward kernels support; fills `cfg`.
  LogicalResult configureGrad(Operation *op, KernelConfig &cfg) {
    auto qType = cast<RankedTensorType>(op->getOperand(0).getType());
    cfg.elt = qType.getElementType();
    cfg.tensorCores = !cfg.elt.isF32();
    cfg.causal = op->hasAttr("causal");
    cfg.statsGiven = isa<KVShiftAttentionGradWithLSEOp>(op);
    int64_t d = qType.getDimSize(3);
    if (ShapedType::isDynamic(d))
      return op->emitOpError()
             << "kvshift-fuse-attention-gpu: the head dimension (dim 3 of "
                "q) must be static, found ?";
    if (auto theta = op->getAttrOfType<FloatAttr>("rope_theta")) {
      // The kernels rotate gradient rows back in registers, pairing column
      // c with c + D/2 in the same thread: 16-byte chunks on tensor cores,
      // a lane's columns l, l + 32, ... in the f32 kernels.
      int64_t multiple = cfg.tensorCores ? 16 : 64;
      if (d % multiple != 0)
        return op->emitOpError()
               << "kvshift-fuse-attention-gpu: rope_theta on "
                  "kv_shift_attention_grad needs the head dimension to be a "
                  "multiple of "
               << multiple << " on the GPU for " << cfg.elt << ", found D = "
               << d;
      cfg.ropeTheta = theta.getValueAsDouble();
    }
    std::optional<double> scale = getStaticAttentionScale(op);
    if (!scale)
      return op->emitOpError()
             << "kvshift-fuse-attention-gpu: the scale must be static";
    cfg.scaleLog2 = *scale * kLog2E;
    cfg.d = cfg.dPadded = d;
    cfg.vecWidth = 1;
    cfg.warps = warps;
    // Rows of a grad_q / grad_kv block: one per warp (SIMT); on tensor
    // cores 16 query rows per warp (grad_q, which takes the forward's key
    // tiles: qConfig) and, for grad_kv, a staging tile of 16 key rows per
    // warp (each warp owns 15 of them and reads one halo row before).
    cfg.blockM = cfg.blockN = warps;
    if (cfg.tensorCores) {
      cfg.dPadded = (d + 15) / 16 * 16;
      cfg.vecWidth = 8;
      cfg.rowStride = cfg.dPadded + 8;
      cfg.blockM = 16 * warps;
      cfg.blockN = 16 * warps;
      KernelConfig qc = qConfig(cfg);
      if (qc.sharedBytes() > sharedLimit())
        return op->emitOpError()
               << "kvshift-fuse-attention-gpu: the backward kernel grad_q with "
                  "D = "
               << d << ", block-k = " << qc.blockN
               << " and warps = " << cfg.warps << " needs " << qc.sharedBytes()
               << " bytes of shared memory, above the " << sharedLimitText();
      if (wgmma) {
        if (failed(checkWgmmaTarget(
                op, "grad_kv: whole warpgroups of 64 key rows")))
          return failure();
        // grad_kv's four products as warpgroup MMAs, on unpadded key,
        // value, q and dO tiles, for D a multiple of 16 and at most 128
        // (dK^'s and dV^'s accumulators take D / 2 registers a thread each)
        // whose tiles fit the chip (with 8 warps at D = 128, 80 KiB of
        // dynamic shared memory). Other D keep mma.sync.
        int64_t wgBytes =
            (2 * cfg.blockN + 2 * GradKVTensorCoreEmitter::kGradQRows) * d * 2;
        cfg.wgmma = d % 16 == 0 && d <= 128 && wgBytes <= sharedLimit();
        // grad-prefetch: a second q and dO tile, when they fit.
        cfg.gradPrefetch =
            cfg.wgmma && gradPrefetch &&
            wgBytes + 2 * GradKVTensorCoreEmitter::kGradQRows * d * 2 <=
                sharedLimit();
      }
      // grad_kv on mma.sync: the key tile (then the value tile), the q and
      // dO tiles, padded rows; grad-prefetch: a second q and dO tile, when
      // they fit.
      const int64_t qTileBytes =
          GradKVTensorCoreEmitter::kGradQRows * cfg.rowStride * 2;
      int64_t bytes =
          cfg.wgmma ? 0 : cfg.blockN * cfg.rowStride * 2 + 2 * qTileBytes;
      if (!cfg.wgmma)
        cfg.gradPrefetch =
            gradPrefetch && bytes + 2 * qTileBytes <= sharedLimit();
      if (bytes > sharedLimit())
        return op->emitOpError()
               << "kvshift-fuse-attention-gpu: the backward kernel grad_kv "
                  "with "
                  "D = "
               << d << " and warps = " << cfg.warps << " needs " << bytes
               << " bytes of shared memory, above the " << sharedLimitText();
    }
    return success();
  }

  /// grad_q's configuration on tensor cores: the forward kernel's tiles.
  KernelConfig qConfig(const KernelConfig &cfg) {
    KernelConfig qc = cfg;
    qc.blockM = 16 * cfg.warps;
    qc.blockN = blockK;
    // wgmma: grad_q given the forward's statistics (its second pass) when
    // grad_kv has it, its key tile is at most 256 (wgmma's N) and its three
    // tiles fit 48 KiB (larger tiles, such as 128 keys at D = 128, would
    // hold S's and dP's accumulators in more registers than there are);
    // the recomputing grad_q keeps mma.sync.
    qc.wgmmaOverlap = qc.shiftedValues = qc.lazyRescale = qc.kvPrefetch = false;
    qc.wgmma = qc.wgmmaKeyWindow =
        cfg.wgmma && cfg.statsGiven && qc.blockN <= 256 &&
        3 * qc.blockN * qc.d * 2 <= kStaticSharedBytes;
    // grad-prefetch: the three tiles (wgmma) or the value tile and the key
    // window (mma.sync, padded rows) twice, when they fit.
    int64_t twice = qc.wgmma ? 6 * qc.blockN * qc.d * 2
                             : 4 * (qc.blockN + 1) * qc.rowStride * 2;
    qc.gradPrefetch = gradPrefetch && twice <= sharedLimit();
    return qc;
  }

  gpu::GPUFuncOp buildGradKernel(gpu::GPUModuleOp module, StringRef name,
                                 const KernelConfig &cfg,
                                 GradKernelEmitter::Kind kind) {
    MLIRContext *ctx = module.getContext();
    OpBuilder mb = OpBuilder::atBlockEnd(module.getBody());
    Type index = mb.getIndexType(), f32 = mb.getF32Type();
    auto flat = MemRefType::get({ShapedType::kDynamic}, cfg.elt);
    auto flatF = MemRefType::get({ShapedType::kDynamic}, f32);
    SmallVector<Type> args;
    SmallVector<Type> workgroup;
    int64_t threads = cfg.threads();
    switch (kind) {
    case GradKernelEmitter::Q:
    case GradKernelEmitter::KV:
      args = {flat, flat, flat, flatF, flatF, flat, flatF, flatF};
      if (kind == GradKernelEmitter::Q)
        args.push_back(flat);
      else
        args.append({flatF, flatF});
      args.append(5, index);
      if (kind == GradKernelEmitter::Q && cfg.tensorCores) {
        auto wg = gpu::AddressSpaceAttr::get(ctx, gpu::AddressSpace::Workgroup);
        KernelConfig qc = qConfig(cfg);
        int64_t bn = qc.blockN;
        if (qc.wgmma) {
          // Core-matrix tiles: the key tile; the value tile and the key
          // window.
          // grad-prefetch: two slots of each.
          int64_t slots = qc.gradPrefetch ? 2 : 1;
          for (int64_t tiles : {1, 2})
            workgroup.push_back(
                MemRefType::get({slots * tiles * bn * qc.chunksPerRow(), 8},
                                cfg.elt, MemRefLayoutAttrInterface(), wg));
        } else {
          // The key tile (the value tile in the second pass) and the value
          // tile with its halo row (the key window); grad-prefetch: two
          // slots of each, BN + 1 rows apart in both (one offset for both).
          int64_t rows = qc.gradPrefetch ? 2 * (bn + 1) : bn;
          workgroup.push_back(MemRefType::get({rows, cfg.rowStride}, cfg.elt,
                                              MemRefLayoutAttrInterface(), wg));
          workgroup.push_back(
              MemRefType::get({rows == bn ? bn + 1 : rows, cfg.rowStride},
                              cfg.elt, MemRefLayoutAttrInterface(), wg));
        }
      }
      if (kind == GradKernelEmitter::KV && cfg.tensorCores) {
        auto wg = gpu::AddressSpaceAttr::get(ctx, gpu::AddressSpace::Workgroup);
        // The key tile, the q and dO tiles; wgmma: one row per 16-byte
        // chunk (core matrices, KernelEmitter::cmRow), and a value tile.
        auto tile = [&](int64_t rows) {
          if (cfg.wgmma)
            return MemRefType::get({rows * cfg.chunksPerRow(), 8}, cfg.elt,
                                   MemRefLayoutAttrInterface(), wg);
          return MemRefType::get({rows, cfg.rowStride}, cfg.elt,
                                 MemRefLayoutAttrInterface(), wg);
        };
        workgroup.push_back(tile(cfg.blockN));
        for (int i = 0; i < 2; ++i)
          workgroup.push_back(tile((cfg.gradPrefetch ? 2 : 1) *
                                   GradKVTensorCoreEmitter::kGradQRows));
        if (cfg.wgmma)
          workgroup.push_back(tile(cfg.blockN));
      }
      break;
    case GradKernelEmitter::Mix:
      args = {flat, flat, flatF, flatF, flatF, flatF, flat, flat, flatF};
      args.append(3, index);
      break;
    case GradKernelEmitter::Stats:
      args = {flat, flat, flatF, flatF, flatF, index};
      break;
    case GradKernelEmitter::Weights: {
      args = {flatF, flatF, flatF};
      args.append(3, index);
      threads = GradKernelEmitter::kWeightThreads;
      auto wg = gpu::AddressSpaceAttr::get(ctx, gpu::AddressSpace::Workgroup);
      workgroup.push_back(MemRefType::get({4, threads / 32}, f32,
                                          MemRefLayoutAttrInterface(), wg));
      break;
    }
    }
    auto func = gpu::GPUFuncOp::create(mb, module.getLoc(), name,
                                       mb.getFunctionType(args, {}), workgroup);
    func->setAttr(gpu::GPUDialect::getKernelFuncAttrName(), mb.getUnitAttr());
    func.setKnownBlockSizeAttr(
        mb.getDenseI32ArrayAttr({static_cast<int32_t>(threads), 1, 1}));
    // wgmma's core matrices are 128 bytes.
    bool cm =
        (kind == GradKernelEmitter::KV && cfg.wgmma) ||
        (kind == GradKernelEmitter::Q && cfg.tensorCores && qConfig(cfg).wgmma);
    for (unsigned i = 0; i < workgroup.size(); ++i)
      func.setWorkgroupAttributionAttr(i, LLVM::LLVMDialect::getAlignAttrName(),
                                       mb.getI64IntegerAttr(cm ? 128 : 16));
    if (kind == GradKernelEmitter::KV && cfg.tensorCores)
      GradKVTensorCoreEmitter(func, cfg).emit();
    else if (kind == GradKernelEmitter::Q && cfg.tensorCores)
      GradQTensorCoreEmitter(func, qConfig(cfg)).emit();
    else
      GradKernelEmitter(func, cfg, kind).emit();
    markDynamicSharedMemory(func);
    return func;
  }

  /// Replaces a kv_shift_attention_grad by a call to a launcher declaration
  /// `(q, k, v, kw, vw, dout, dq, dk, dv, dkw, dvw)`, and a
  /// kv_shift_attention_grad_with_lse by one of `(q, k, v, kw, vw, dout,
  /// fwd_out, lse, dq, dk, dv, dkw, dvw)` naming the stats kernel.
  void emitGradCall(ImplicitLocOpBuilder &b, ModuleOp module, Operation *op,
                    ArrayRef<gpu::GPUFuncOp> kernels,
                    gpu::GPUFuncOp statsKernel, gpu::GPUFuncOp ropeKernel,
                    const KernelConfig &cfg) {
    SmallVector<Value> operands(op->getOperands());
    SmallVector<Type> resultTypes(op->getResultTypes());
    KernelScope scope(b, operands, resultTypes);
    SmallVector<Value> args;
    for (Value t : operands)
      args.push_back(scope.buffer(t));
    // dq like q, dk and dv like k, dkw and dvw like kw.
    int likes[5] = {0, 1, 1, 3, 3};
    SmallVector<Value> outs;
    for (auto [i, t] : llvm::enumerate(resultTypes))
      outs.push_back(
          allocHostResult(b, cast<RankedTensorType>(t), args[likes[i]]));
    args.append(outs);
    func::FuncOp launcher =
        declareLauncher(module, op->getLoc(),
                        gpu::GPUFuncOp(kernels[0]).getName().drop_back(2),
                        args); // without "_q"
    Builder ab(module.getContext());
    SmallVector<Attribute> refs;
    for (gpu::GPUFuncOp k : kernels)
      refs.push_back(kernelRef(k));
    launcher->setAttr(kLauncherGradKernelsAttr, ab.getArrayAttr(refs));
    launcher->setAttr(kLauncherGradQRowsAttr, ab.getI64IntegerAttr(cfg.blockM));
    // grad_kv's own key rows per block (tensor cores: 15 a warp, see
    // GradKVTensorCoreEmitter).
    int64_t kvRows =
        cfg.tensorCores ? GradKVTensorCoreEmitter::kRowsPerWarp * cfg.warps
                        : cfg.blockN;
    launcher->setAttr(kLauncherGradKVRowsAttr, ab.getI64IntegerAttr(kvRows));
    if (statsKernel)
      launcher->setAttr(kLauncherGradStatsKernelAttr, kernelRef(statsKernel));
    launcher->setAttr(kLauncherThreadsAttr,
                      ab.getI64IntegerAttr(cfg.threads()));
    if (ropeKernel) {
      launcher->setAttr(kLauncherRopeKernelAttr, kernelRef(ropeKernel));
      launcher->setAttr(
          kLauncherRopeItemsAttr,
          ab.getI64IntegerAttr(cfg.d / 2 /
                               (16 / (cfg.elt.getIntOrFloatBitWidth() / 8))));
    }
    func::CallOp::create(b, launcher, args);
    ValueRange results = scope.finish(outs);
    for (auto [r, n] : llvm::zip(op->getResults(), results))
      r.replaceAllUsesWith(n);
    op->erase();
  }

  /// Checks a kv_cache_attention against what the decode kernel supports.
  LogicalResult configureDecode(KVCacheAttentionOp op, DecodeConfig &dc) {
    KernelConfig &cfg = dc.base;
    auto qType = cast<RankedTensorType>(op.getQ().getType());
    cfg.elt = qType.getElementType();
    cfg.causal = op.getCausal();
    int64_t d = qType.getDimSize(3);
    auto fail = [&]() {
      return op.emitOpError() << "kvshift-fuse-attention-gpu: ";
    };
    if (ShapedType::isDynamic(d))
      return fail() << "the head dimension (dim 3 of q) must be static, "
                       "found ?";
    cfg.d = cfg.dPadded = d;
    cfg.vecWidth = 16 / (cfg.elt.getIntOrFloatBitWidth() / 8);
    if (d % cfg.vecWidth != 0)
      return fail() << "the decode kernel reads cache rows as 16-byte "
                       "chunks: D must be a multiple of "
                    << cfg.vecWidth << " for " << cfg.elt << ", found D = "
                    << d;
    dc.lanes = int64_t(llvm::PowerOf2Ceil(d / cfg.vecWidth));
    if (dc.lanes > 32)
      return fail() << "the decode kernel reads a cache row with at most 32 "
                       "lanes of 16 bytes: D must be at most "
                    << 32 * cfg.vecWidth << " for " << cfg.elt
                    << ", found D = " << d;
    if (std::optional<APFloat> theta = op.getRopeTheta()) {
      if (d % 16 != 0)
        return fail() << "rope_theta needs the head dimension to be a "
                         "multiple of 16 on the GPU, found D = "
                      << d;
      cfg.ropeTheta = theta->convertToDouble();
    }
    // D is static here, so the scale is (an attribute or 1/sqrt(D)).
    cfg.scaleLog2 = *getStaticAttentionScale(op) * kLog2E;
    cfg.warps = warps;
    dc.threads = 32 * warps;
    dc.split = decodeSplit;
    dc.rows = decodeRows;
    dc.prefetch = decodePrefetch;
    // The tensor-core kernel takes f16/bf16 with D a multiple of 16 (the
    // k-steps of S = Q K^T); anything else keeps the SIMT kernel.
    dc.mma = decodeMma && cfg.elt != Float32Type::get(op.getContext()) &&
             d % 16 == 0;
    int64_t bytes = dc.keyGroups() * dc.rows * (d + 2) * 4;
    if (bytes > sharedLimit())
      return fail() << "D = " << d << " with decode-rows = " << dc.rows
                    << " and warps = " << cfg.warps << " needs " << bytes
                    << " bytes of shared memory, above the "
                    << sharedLimitText();
    return success();
  }

  /// Checks a kv_cache_append against what the append kernel supports.
  LogicalResult configureAppend(KVCacheAppendOp op, KernelConfig &cfg) {
    auto type = cast<RankedTensorType>(op.getKNew().getType());
    cfg.elt = type.getElementType();
    int64_t d = type.getDimSize(3);
    if (ShapedType::isDynamic(d))
      return op.emitOpError() << "kvshift-fuse-attention-gpu: the head "
                                 "dimension (dim 3 of k_new) must be static, "
                                 "found ?";
    cfg.d = cfg.dPadded = d;
    cfg.vecWidth = 1;
    if (std::optional<APFloat> theta = op.getRopeTheta())
      cfg.ropeTheta = theta->convertToDouble(); // D even: the verifier
    return success();
  }

  gpu::GPUFuncOp buildAppendKernel(gpu::GPUModuleOp module, StringRef name,
                                   const KernelConfig &cfg) {
    OpBuilder mb = OpBuilder::atBlockEnd(module.getBody());
    Type index = mb.getIndexType();
    auto flat = MemRefType::get({ShapedType::kDynamic}, cfg.elt);
    auto flatF = MemRefType::get({ShapedType::kDynamic}, mb.getF32Type());
    auto func = gpu::GPUFuncOp::create(
        mb, module.getLoc(), name,
        mb.getFunctionType({flat, flat, flat, flat, flatF, flatF, flat, flat,
                            flat, flat, index, index, index, index, index},
                           {}));
    func->setAttr(gpu::GPUDialect::getKernelFuncAttrName(), mb.getUnitAttr());
    func.setKnownBlockSizeAttr(mb.getDenseI32ArrayAttr(
        {static_cast<int32_t>(AppendKernelEmitter::kThreads), 1, 1}));
    AppendKernelEmitter(func, cfg).emit();
    return func;
  }

  /// Replaces a kv_cache_append by a call to a launcher declaration
  /// `(k_new, v_new, k_last, v_last, kw, vw, k_cache, v_cache, pos,
  /// new_k_cache, new_v_cache, new_k_last, new_v_last)`.
  void emitAppendCall(ImplicitLocOpBuilder &b, ModuleOp module,
                      KVCacheAppendOp op, gpu::GPUFuncOp kernel,
                      const KernelConfig &cfg) {
    SmallVector<Value> tensors = {op.getKNew(),   op.getVNew(),  op.getKLast(),
                                  op.getVLast(),  op.getKw(),    op.getVw(),
                                  op.getKCache(), op.getVCache()};
    KernelScope scope(b, tensors, op->getResultTypes());
    SmallVector<Value> args;
    for (Value t : tensors)
      args.push_back(scope.buffer(t));
    args.push_back(op.getPos());
    SmallVector<Value> outs;
    SmallVector<Value> likes = {args[6], args[7], args[2], args[3]};
    for (auto [r, like] : llvm::zip(op->getResults(), likes))
      outs.push_back(
          allocHostResult(b, cast<RankedTensorType>(r.getType()), like));
    args.append(outs.begin(), outs.end());
    func::FuncOp launcher =
        declareLauncher(module, op.getLoc(), kernel.getName(), args);
    Builder ab(module.getContext());
    launcher->setAttr(kLauncherAppendKernelAttr, kernelRef(kernel));
    launcher->setAttr(kLauncherAppendItemsAttr,
                      ab.getI64IntegerAttr(AppendKernelEmitter::items(cfg)));
    launcher->setAttr(kLauncherThreadsAttr,
                      ab.getI64IntegerAttr(AppendKernelEmitter::kThreads));
    func::CallOp::create(b, launcher, args);
    ValueRange results = scope.finish(outs);
    for (auto [r, n] : llvm::zip(op->getResults(), results))
      r.replaceAllUsesWith(n);
    op.erase();
  }

  gpu::GPUFuncOp buildDecodeKernel(gpu::GPUModuleOp module, StringRef name,
                                   const DecodeConfig &dc) {
    MLIRContext *ctx = module.getContext();
    OpBuilder mb = OpBuilder::atBlockEnd(module.getBody());
    Type index = mb.getIndexType(), f32 = mb.getF32Type();
    auto flat = MemRefType::get({ShapedType::kDynamic}, dc.base.elt);
    auto flatF = MemRefType::get({ShapedType::kDynamic}, f32);
    auto wg = gpu::AddressSpaceAttr::get(ctx, gpu::AddressSpace::Workgroup);
    int64_t kg = dc.keyGroups();
    auto oType = MemRefType::get({kg, dc.rows, dc.base.d}, f32,
                                 MemRefLayoutAttrInterface(), wg);
    auto mType =
        MemRefType::get({kg, dc.rows}, f32, MemRefLayoutAttrInterface(), wg);
    auto func = gpu::GPUFuncOp::create(
        mb, module.getLoc(), name,
        mb.getFunctionType({flat, flat, flat, flatF, flatF, flatF, index,
                            index, index, index, index, index},
                           {}),
        TypeRange{oType, mType, mType});
    func->setAttr(gpu::GPUDialect::getKernelFuncAttrName(), mb.getUnitAttr());
    func.setWorkgroupAttributionAttr(0, LLVM::LLVMDialect::getAlignAttrName(),
                                     mb.getI64IntegerAttr(16));
    func.setKnownBlockSizeAttr(
        mb.getDenseI32ArrayAttr({static_cast<int32_t>(dc.threads), 1, 1}));
    if (dc.mma)
      DecodeMmaKernelEmitter(func, dc).emit();
    else
      DecodeKernelEmitter(func, dc).emit();
    markDynamicSharedMemory(func);
    return func;
  }

  gpu::GPUFuncOp buildMergeKernel(gpu::GPUModuleOp module, StringRef name,
                                  const DecodeConfig &dc) {
    OpBuilder mb = OpBuilder::atBlockEnd(module.getBody());
    Type index = mb.getIndexType();
    auto flat = MemRefType::get({ShapedType::kDynamic}, dc.base.elt);
    auto flatF = MemRefType::get({ShapedType::kDynamic}, mb.getF32Type());
    auto func = gpu::GPUFuncOp::create(
        mb, module.getLoc(), name,
        mb.getFunctionType({flatF, flatF, flatF, flat, index, index}, {}));
    func->setAttr(gpu::GPUDialect::getKernelFuncAttrName(), mb.getUnitAttr());
    func.setKnownBlockSizeAttr(mb.getDenseI32ArrayAttr(
        {static_cast<int32_t>(DecodeConfig::kMergeThreads), 1, 1}));
    DecodeMergeEmitter(func, dc).emit();
    return func;
  }

  /// Replaces a kv_cache_attention by a call to a launcher declaration
  /// `(q, k_cache, v_cache, length, out)`, the length clamped as in the
  /// other lowerings (to [Sq under causal, else 1; Smax]).
  void emitDecodeCall(ImplicitLocOpBuilder &b, ModuleOp module,
                      KVCacheAttentionOp op, gpu::GPUFuncOp kernel,
                      gpu::GPUFuncOp merge, const DecodeConfig &dc) {
    auto outType = cast<RankedTensorType>(op.getOut().getType());
    SmallVector<Value> tensors = {op.getQ(), op.getKCache(), op.getVCache()};
    KernelScope scope(b, tensors, SmallVector<Type>{outType});
    SmallVector<Value> args;
    for (Value t : tensors)
      args.push_back(scope.buffer(t));
    Value dimSq = memref::DimOp::create(b, args[0], 2);
    Value dimSmax = memref::DimOp::create(b, args[1], 2);
    args.push_back(op.buildValidLength(b, b.getLoc(), dimSq, dimSmax));
    Value outHost = allocHostResult(b, outType, args[0]);
    args.push_back(outHost);

    func::FuncOp launcher = declareLauncher(module, op.getLoc(), kernel.getName(), args);
    Builder ab(module.getContext());
    launcher->setAttr(kLauncherDecodeKernelAttr, kernelRef(kernel));
    launcher->setAttr(kLauncherMergeKernelAttr, kernelRef(merge));
    launcher->setAttr(kLauncherDecodeSplitAttr, ab.getI64IntegerAttr(dc.split));
    launcher->setAttr(kLauncherDecodeRowsAttr, ab.getI64IntegerAttr(dc.rows));
    launcher->setAttr(kLauncherThreadsAttr, ab.getI64IntegerAttr(dc.threads));
    func::CallOp::create(b, launcher, args);
    Value result = scope.finish(outHost)[0];
    op.getOut().replaceAllUsesWith(result);
    op.erase();
  }

  /// Replaces `op` by a call to a launcher declaration (its body is
  /// written by --kvshift-gpu-launchers after buffer deallocation, which
  /// does not accept gpu ops) on the operands' buffers and a host output
  /// buffer.
  void emitCall(ImplicitLocOpBuilder &b, ModuleOp module, Operation *op,
                gpu::GPUFuncOp kernel, gpu::GPUFuncOp ropeKernel,
                const KernelConfig &cfg) {
    SmallVector<Value> operands(op->getOperands());
    SmallVector<Type> resultTypes(op->getResultTypes());
    KernelScope scope(b, operands, resultTypes);
    SmallVector<Value> args;
    for (Value t : operands)
      args.push_back(scope.buffer(t));
    // out like q; with_lse: lse like q's first three dimensions.
    SmallVector<Value> outs;
    for (Type t : resultTypes)
      outs.push_back(allocHostResult(b, cast<RankedTensorType>(t), args[0]));
    args.append(outs);

    func::FuncOp launcher =
        declareLauncher(module, op->getLoc(), kernel.getName(), args);
    Builder ab(module.getContext());
    launcher->setAttr(kLauncherKernelAttr, kernelRef(kernel));
    launcher->setAttr(kLauncherBlockMAttr, ab.getI64IntegerAttr(cfg.blockM));
    launcher->setAttr(kLauncherThreadsAttr,
                      ab.getI64IntegerAttr(cfg.threads()));
    if (ropeKernel) {
      launcher->setAttr(kLauncherRopeKernelAttr, kernelRef(ropeKernel));
      launcher->setAttr(kLauncherRopeItemsAttr,
                        ab.getI64IntegerAttr(cfg.ropePairChunks()));
    }
    func::CallOp::create(b, launcher, args);

    ValueRange results = scope.finish(outs);
    for (auto [r, n] : llvm::zip(op->getResults(), results))
      r.replaceAllUsesWith(n);
    op->erase();
  }
};

/// Builds the host body of a launcher: device copies of host buffers on
/// one stream, launches (each on its own stream, waited for), the copy of
/// the result back and the frees.
class HostLaunchBuilder {
public:
  explicit HostLaunchBuilder(func::FuncOp launcher)
      : body(launcher.addEntryBlock()),
        b(launcher.getLoc(), body, body->end()),
        tokenType(gpu::AsyncTokenType::get(launcher.getContext())) {
    c0 = cst(0);
    c1 = cst(1);
  }

  ImplicitLocOpBuilder &builder() { return b; }
  Value arg(unsigned i) { return body->getArgument(i); }
  Value cst(int64_t c) { return arith::ConstantIndexOp::create(b, c); }
  Value dim(Value buf, int64_t i) { return memref::DimOp::create(b, buf, i); }
  Value muli(Value x, Value y) { return arith::MulIOp::create(b, x, y); }
  Value ceilDiv(Value x, int64_t c) {
    return arith::DivUIOp::create(b, arith::AddIOp::create(b, x, cst(c - 1)),
                                  cst(c));
  }
  Value ugt(Value x, Value y) {
    return arith::CmpIOp::create(b, arith::CmpIPredicate::ugt, x, y);
  }
  /// A host buffer as one flat dimension.
  Value flatten(Value buf) {
    ReassociationIndices all;
    for (int64_t i = 0; i < cast<MemRefType>(buf.getType()).getRank(); ++i)
      all.push_back(i);
    return memref::CollapseShapeOp::create(b, buf,
                                           ArrayRef<ReassociationIndices>{all});
  }
  /// A flat device buffer as the kernels take it: memref<?xT>.
  Value flatArg(Value d) {
    auto mt = cast<MemRefType>(d.getType());
    if (mt.getRank() == 1 && mt.isDynamicDim(0))
      return d;
    return memref::CastOp::create(
        b, MemRefType::get({ShapedType::kDynamic}, mt.getElementType()), d);
  }

  /// Starts the copy-in phase.
  void beginCopies() {
    token = gpu::WaitOp::create(b, tokenType, ValueRange{}).getResult(0);
  }
  /// A device buffer of type `mt` (1-D), `size` elements when dynamic.
  Value deviceAlloc(MemRefType mt, Value size) {
    SmallVector<Value> dyn;
    if (mt.isDynamicDim(0))
      dyn.push_back(size);
    auto alloc = gpu::AllocOp::create(b, mt, tokenType, ValueRange{token}, dyn,
                                      ValueRange{}, /*hostShared=*/false);
    token = alloc.getAsyncToken();
    toFree.push_back(alloc.getMemref());
    return alloc.getMemref();
  }
  /// A device buffer like the flat host buffer `like`.
  Value deviceLike(Value like) {
    return deviceAlloc(cast<MemRefType>(like.getType()), dim(like, 0));
  }
  /// A device copy of the flat host buffer `host`.
  Value copyIn(Value host) {
    Value d = deviceLike(host);
    token = gpu::MemcpyOp::create(b, tokenType, ValueRange{token}, d, host)
                .getAsyncToken();
    return d;
  }
  void endCopies() { gpu::WaitOp::create(b, Type(), ValueRange{token}); }

  /// Launches `fn` when `cond` holds and waits for it.
  void launchIf(Value cond, gpu::GPUFuncOp fn, gpu::KernelDim3 grid,
                int64_t threads, ValueRange args) {
    auto ifOp = scf::IfOp::create(b, cond, /*withElseRegion=*/false);
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPoint(ifOp.thenBlock()->getTerminator());
    Value s = gpu::WaitOp::create(b, tokenType, ValueRange{}).getResult(0);
    auto launch = gpu::LaunchFuncOp::create(
        b, fn, grid, gpu::KernelDim3{cst(threads), c1, c1},
        /*dynamicSharedMemorySize=*/Value(), args, tokenType, ValueRange{s});
    gpu::WaitOp::create(b, Type(), ValueRange{launch.getAsyncToken()});
  }

  /// The RoPE pre-pass on the flat device buffer `src` of D-element rows
  /// into `dst`: rows = numel / D, one thread per row and pair of chunks
  /// (`items` per row), row r at position (r mod seq) + posOffset; with
  /// `mix` = 1 mixed first by the weights `w` of its head (of `heads`).
  void launchRope(gpu::GPUFuncOp kernel, int64_t items, int64_t d, Value src,
                  Value w, Value dst, Value seq, Value posOffset, Value heads,
                  Value mix) {
    Value rows = arith::DivUIOp::create(b, dim(src, 0), cst(d));
    Value work = muli(rows, cst(items));
    launchIf(ugt(work, c0), kernel,
             gpu::KernelDim3{ceilDiv(work, RopeKernelEmitter::kThreads), c1,
                             c1},
             RopeKernelEmitter::kThreads,
             {flatArg(src), flatArg(w), flatArg(dst), rows, seq, posOffset,
              heads, mix});
  }

  /// Copies `devOut` into the flat host buffer `hostOut`, frees every
  /// device buffer and returns.
  void finish(Value hostOut, Value devOut) {
    finish(ValueRange{hostOut}, ValueRange{devOut});
  }
  void finish(ValueRange hostOuts, ValueRange devOuts) {
    token = gpu::WaitOp::create(b, tokenType, ValueRange{}).getResult(0);
    for (auto [hostOut, devOut] : llvm::zip(hostOuts, devOuts))
      token = gpu::MemcpyOp::create(b, tokenType, ValueRange{token}, hostOut,
                                    devOut)
                  .getAsyncToken();
    for (Value d : toFree)
      token = gpu::DeallocOp::create(b, tokenType, ValueRange{token}, d)
                  .getAsyncToken();
    gpu::WaitOp::create(b, Type(), ValueRange{token});
    func::ReturnOp::create(b);
  }

  Value c0, c1;

private:
  Block *body;
  ImplicitLocOpBuilder b;
  Type tokenType;
  Value token;
  SmallVector<Value> toFree;
};

/// Host side of one launch, the body of a launcher: device buffers, copies
/// in, launch, copy out, free. Arguments: q, k, v, kw, vw, out and, for a
/// kernel that writes the rows' log-sum-exp, lse (host memrefs with
/// identity layout).
static void emitLauncherBody(func::FuncOp launcher, gpu::GPUFuncOp kernel,
                             int64_t blockM, int64_t threadCount,
                             gpu::GPUFuncOp ropeKernel, int64_t ropeItems) {
  HostLaunchBuilder h(launcher);
  ImplicitLocOpBuilder &b = h.builder();
  Value c0 = h.c0, c1 = h.c1;
  Value qBuf = h.arg(0), kBuf = h.arg(1);
  Value dimB = h.dim(qBuf, 0), dimHq = h.dim(qBuf, 1), dimSq = h.dim(qBuf, 2);
  Value dimHkv = h.dim(kBuf, 1), dimSk = h.dim(kBuf, 2);
  SmallVector<Value> hostIn;
  for (int64_t i = 0; i < 5; ++i)
    hostIn.push_back(h.flatten(h.arg(i)));
  SmallVector<Value> outFlat = {h.flatten(h.arg(5))};
  bool withLse = launcher.getNumArguments() == 7;
  if (withLse)
    outFlat.push_back(h.flatten(h.arg(6)));

  h.beginCopies();
  SmallVector<Value> dev;
  for (Value in : hostIn)
    dev.push_back(h.copyIn(in));
  SmallVector<Value> devOut;
  for (Value o : outFlat)
    devOut.push_back(h.deviceLike(o));
  dev.push_back(devOut[0]);
  // RoPE: q and k rotated at their positions into device buffers of their
  // own, which the attention kernel reads instead of q and k.
  SmallVector<Value> scratch;
  if (ropeKernel) {
    scratch.push_back(h.deviceLike(hostIn[0]));
    scratch.push_back(h.deviceLike(hostIn[1]));
  }
  h.endCopies();
  if (ropeKernel) {
    // rows = numel / D, one thread per row and pair of chunks; query rows
    // at Sk - Sq + i, key rows at j.
    int64_t d = cast<MemRefType>(qBuf.getType()).getShape()[3];
    // The keys are mixed too (kw, the KV heads of the key rows).
    h.launchRope(ropeKernel, ropeItems, d, dev[0], dev[3], scratch[0], dimSq,
                 arith::SubIOp::create(b, dimSk, dimSq), dimHkv, c0);
    h.launchRope(ropeKernel, ropeItems, d, dev[1], dev[3], scratch[1], dimSk,
                 c0, dimHkv, c1);
  }

  // The launch, skipped when the grid would be empty.
  Value qTiles = h.ceilDiv(dimSq, blockM);
  Value items = h.muli(h.muli(qTiles, dimHq), dimB);
  Value nonEmpty =
      arith::AndIOp::create(b, h.ugt(items, c0), h.ugt(dimHkv, c0));
  // The kernel takes flat buffers of dynamic size.
  SmallVector<Value> args;
  for (auto [i, d] : llvm::enumerate(dev))
    args.push_back(h.flatArg(i < scratch.size() ? scratch[i] : d));
  args.append({dimB, dimHq, dimSq, dimHkv, dimSk});
  if (withLse)
    args.push_back(h.flatArg(devOut[1]));
  h.launchIf(nonEmpty, kernel, gpu::KernelDim3{qTiles, dimHq, dimB},
             threadCount, args);
  h.finish(outFlat, devOut);
}

/// Host side of a kv_cache_attention: arguments (q, k_cache, v_cache,
/// length, out), length already clamped. Device copies of q and the caches,
/// a workspace of ceil(length / split) partial states per query row, the
/// decode kernel on (Hkv * ceil(G Sq / rows), ceil(length / split), B)
/// blocks, the merge kernel on one block per query row, copy out, free.
static void emitDecodeLauncherBody(func::FuncOp launcher,
                                   gpu::GPUFuncOp kernel, gpu::GPUFuncOp merge,
                                   int64_t split, int64_t rows,
                                   int64_t threadCount) {
  HostLaunchBuilder h(launcher);
  ImplicitLocOpBuilder &b = h.builder();
  Value c0 = h.c0, c1 = h.c1;
  Value qBuf = h.arg(0), kBuf = h.arg(1);
  Value dimB = h.dim(qBuf, 0), dimHq = h.dim(qBuf, 1), dimSq = h.dim(qBuf, 2);
  Value dimHkv = h.dim(kBuf, 1), dimSmax = h.dim(kBuf, 2);
  Value len = arith::MinSIOp::create(b, h.arg(3), dimSmax);
  int64_t d = cast<MemRefType>(qBuf.getType()).getShape()[3];
  SmallVector<Value> hostIn = {h.flatten(qBuf), h.flatten(kBuf),
                               h.flatten(h.arg(2))};
  Value outFlat = h.flatten(h.arg(4));
  Value qRows = h.muli(h.muli(dimB, dimHq), dimSq);
  Value splits = h.ceilDiv(len, split);
  Value states = h.muli(qRows, arith::MaxUIOp::create(b, splits, c1));

  h.beginCopies();
  SmallVector<Value> dev;
  for (Value in : hostIn)
    dev.push_back(h.copyIn(in));
  auto flatF = MemRefType::get({ShapedType::kDynamic}, b.getF32Type());
  Value devOut = h.deviceLike(outFlat);
  Value wsM = h.deviceAlloc(flatF, states);
  Value wsL = h.deviceAlloc(flatF, states);
  Value wsO = h.deviceAlloc(flatF, h.muli(states, h.cst(d)));
  h.endCopies();

  // No KV heads: nothing to launch (and no division by zero on the host).
  Value hasHeads = h.ugt(dimHkv, c0);
  Value group = arith::DivUIOp::create(
      b, dimHq, arith::SelectOp::create(b, hasHeads, dimHkv, c1));
  Value rowBlocks = h.ceilDiv(h.muli(group, dimSq), rows);
  Value gridX = h.muli(dimHkv, rowBlocks);
  Value blocks = h.muli(h.muli(splits, gridX), dimB);
  h.launchIf(h.ugt(blocks, c0), kernel,
             gpu::KernelDim3{gridX, splits, dimB}, threadCount,
             {h.flatArg(dev[0]), h.flatArg(dev[1]), h.flatArg(dev[2]), wsM,
              wsL, wsO, dimB, dimHq, dimSq, dimHkv, dimSmax, len});
  h.launchIf(arith::AndIOp::create(b, hasHeads, h.ugt(qRows, c0)), merge,
             gpu::KernelDim3{qRows, c1, c1}, DecodeConfig::kMergeThreads,
             {wsM, wsL, wsO, h.flatArg(devOut), len, dimSmax});
  h.finish(outFlat, devOut);
}

/// Host side of a kv_shift_attention_grad: arguments (q, k, v, kw, vw,
/// dout, dq, dk, dv, dkw, dvw), or with `statsKernel` (q, k, v, kw, vw,
/// dout, fwd_out, lse, dq, ...). Device copies of the inputs, the outputs,
/// and f32 scratch: lse and delta per query row, dk^ and dv^ ([B, Hkv, Sk,
/// D]) and four weight-gradient terms per key row; then the stats kernel
/// (one warp per query row) when given, grad_q on (ceil(Sq / qRows), Hq, B)
/// blocks, grad_kv on (ceil(Sk / kvRows), Hkv, B), grad_mix (one warp per
/// key row) and grad_w (one block per KV head), copy out, free.
static void emitGradLauncherBody(func::FuncOp launcher,
                                 ArrayRef<gpu::GPUFuncOp> kernels,
                                 gpu::GPUFuncOp statsKernel, int64_t qRows,
                                 int64_t kvRows, int64_t threadCount,
                                 gpu::GPUFuncOp ropeKernel, int64_t ropeItems) {
  HostLaunchBuilder h(launcher);
  ImplicitLocOpBuilder &b = h.builder();
  Value c0 = h.c0, c1 = h.c1;
  Value qBuf = h.arg(0), kBuf = h.arg(1);
  Value dimB = h.dim(qBuf, 0), dimHq = h.dim(qBuf, 1), dimSq = h.dim(qBuf, 2);
  Value dimHkv = h.dim(kBuf, 1), dimSk = h.dim(kBuf, 2);
  int64_t d = cast<MemRefType>(qBuf.getType()).getShape()[3];
  SmallVector<Value> hostIn, hostOut;
  int64_t numIn = statsKernel ? 8 : 6;
  for (int64_t i = 0; i < numIn; ++i)
    hostIn.push_back(h.flatten(h.arg(i)));
  for (int64_t i = numIn; i < numIn + 5; ++i)
    hostOut.push_back(h.flatten(h.arg(i)));
  Value qRowCount = h.muli(h.muli(dimB, dimHq), dimSq);
  Value kRowCount = h.muli(h.muli(dimB, dimHkv), dimSk);

  h.beginCopies();
  SmallVector<Value> in, out;
  for (Value x : hostIn)
    in.push_back(h.flatArg(h.copyIn(x)));
  for (Value x : hostOut)
    out.push_back(h.flatArg(h.deviceLike(x)));
  auto flatF = MemRefType::get({ShapedType::kDynamic}, b.getF32Type());
  Value lse = h.deviceAlloc(flatF, qRowCount);
  Value delta = h.deviceAlloc(flatF, qRowCount);
  Value dkh = h.deviceAlloc(flatF, h.muli(kRowCount, h.cst(d)));
  Value dvh = h.deviceAlloc(flatF, h.muli(kRowCount, h.cst(d)));
  Value part = h.deviceAlloc(flatF, h.muli(kRowCount, h.cst(4)));
  // RoPE: q rotated, and k mixed then rotated, into buffers of their own,
  // which grad_q and grad_kv read instead of q and k (grad_mix reads k).
  Value qIn = in[0], kIn = in[1];
  if (ropeKernel) {
    qIn = h.flatArg(h.deviceLike(hostIn[0]));
    kIn = h.flatArg(h.deviceLike(hostIn[1]));
  }
  h.endCopies();
  if (ropeKernel) {
    h.launchRope(ropeKernel, ropeItems, d, in[0], in[3], qIn, dimSq,
                 arith::SubIOp::create(b, dimSk, dimSq), dimHkv, c0);
    h.launchRope(ropeKernel, ropeItems, d, in[1], in[3], kIn, dimSk, c0,
                 dimHkv, c1);
  }

  // No KV heads: nothing to launch (and no division by zero in a kernel).
  Value hasHeads = h.ugt(dimHkv, c0);
  int64_t mixRows = threadCount / 32; // grad_mix: one warp per key row
  if (statsKernel)
    h.launchIf(h.ugt(qRowCount, c0), statsKernel,
               gpu::KernelDim3{h.ceilDiv(qRowCount, mixRows), c1, c1},
               threadCount, {in[5], in[6], in[7], lse, delta, qRowCount});
  SmallVector<Value> attn = {qIn, kIn, in[2], in[3], in[4], in[5],
                             lse, delta};
  SmallVector<Value> sizes = {dimB, dimHq, dimSq, dimHkv, dimSk};
  SmallVector<Value> qArgs(attn);
  qArgs.push_back(out[0]);
  qArgs.append(sizes);
  h.launchIf(arith::AndIOp::create(b, hasHeads, h.ugt(qRowCount, c0)),
             kernels[0],
             gpu::KernelDim3{h.ceilDiv(dimSq, qRows), dimHq, dimB},
             threadCount, qArgs);
  Value anyKeys = arith::AndIOp::create(b, hasHeads, h.ugt(kRowCount, c0));
  SmallVector<Value> kvArgs(attn);
  kvArgs.append({dkh, dvh});
  kvArgs.append(sizes);
  h.launchIf(anyKeys, kernels[1],
             gpu::KernelDim3{h.ceilDiv(dimSk, kvRows), dimHkv, dimB},
             threadCount, kvArgs);
  h.launchIf(anyKeys, kernels[2],
             gpu::KernelDim3{h.ceilDiv(kRowCount, mixRows), c1, c1},
             threadCount,
             {in[1], in[2], in[3], in[4], dkh, dvh, out[1], out[2], part, dimB,
              dimHkv, dimSk});
  h.launchIf(hasHeads, kernels[3], gpu::KernelDim3{dimHkv, c1, c1},
             GradKernelEmitter::kWeightThreads,
             {part, out[3], out[4], dimB, dimHkv, dimSk});
  SmallVector<Value> devOut;
  for (Value o : out)
    devOut.push_back(o);
  h.finish(hostOut, devOut);
}

/// Host side of a kv_cache_append: arguments (k_new, v_new, k_last, v_last,
/// kw, vw, k_cache, v_cache, pos, new_k_cache, new_v_cache, new_k_last,
/// new_v_last). Device copies of the inputs (the caches whole: the kernel
/// writes its rows into them), new last rows, the kernel on one thread per
/// (new row, column or pair of columns), the caches and last rows copied
/// into the results, free.
static void emitAppendLauncherBody(func::FuncOp launcher, gpu::GPUFuncOp kernel,
                                   int64_t items, int64_t threadCount) {
  HostLaunchBuilder h(launcher);
  Value c1 = h.c1;
  Value kNew = h.arg(0), kCache = h.arg(6);
  Value dimB = h.dim(kNew, 0), dimHkv = h.dim(kNew, 1), dimT = h.dim(kNew, 2);
  Value dimSmax = h.dim(kCache, 2);
  SmallVector<Value> hostIn, hostOut;
  for (unsigned i = 0; i < 8; ++i)
    hostIn.push_back(h.flatten(h.arg(i)));
  for (unsigned i = 9; i < 13; ++i)
    hostOut.push_back(h.flatten(h.arg(i)));
  h.beginCopies();
  SmallVector<Value> dev;
  for (Value in : hostIn)
    dev.push_back(h.copyIn(in));
  Value kLastOut = h.deviceLike(hostOut[2]);
  Value vLastOut = h.deviceLike(hostOut[3]);
  h.endCopies();
  Value work = h.muli(h.muli(h.muli(dimB, dimHkv), dimT), h.cst(items));
  h.launchIf(h.ugt(work, h.c0), kernel,
             gpu::KernelDim3{h.ceilDiv(work, threadCount), c1, c1}, threadCount,
             {h.flatArg(dev[0]), h.flatArg(dev[1]), h.flatArg(dev[2]),
              h.flatArg(dev[3]), h.flatArg(dev[4]), h.flatArg(dev[5]),
              h.flatArg(dev[6]), h.flatArg(dev[7]), h.flatArg(kLastOut),
              h.flatArg(vLastOut), dimB, dimHkv, dimT, dimSmax, h.arg(8)});
  h.finish(hostOut, ValueRange{dev[6], dev[7], kLastOut, vLastOut});
}

struct KVShiftGPULaunchersPass
    : kvshift::impl::KVShiftGPULaunchersBase<KVShiftGPULaunchersPass> {
  using Base::Base;
  void runOnOperation() override {
    ModuleOp module = getOperation();
    SmallVector<func::FuncOp> launchers, decodeLaunchers, gradLaunchers,
        appendLaunchers;
    for (auto f : module.getOps<func::FuncOp>()) {
      if (f.isDeclaration() && f->hasAttr(kLauncherAppendKernelAttr))
        appendLaunchers.push_back(f);
      if (f.isDeclaration() && f->hasAttr(kLauncherKernelAttr))
        launchers.push_back(f);
      if (f.isDeclaration() && f->hasAttr(kLauncherDecodeKernelAttr))
        decodeLaunchers.push_back(f);
      if (f.isDeclaration() && f->hasAttr(kLauncherGradKernelsAttr))
        gradLaunchers.push_back(f);
    }
    for (func::FuncOp f : gradLaunchers) {
      auto refs = f->getAttrOfType<ArrayAttr>(kLauncherGradKernelsAttr);
      SmallVector<gpu::GPUFuncOp> kernels;
      for (Attribute a : refs ? refs.getValue() : ArrayRef<Attribute>()) {
        auto ref = dyn_cast<SymbolRefAttr>(a);
        kernels.push_back(dyn_cast_or_null<gpu::GPUFuncOp>(
            ref ? SymbolTable::lookupSymbolIn(module, ref) : nullptr));
      }
      auto qRows = f->getAttrOfType<IntegerAttr>(kLauncherGradQRowsAttr);
      auto kvRows = f->getAttrOfType<IntegerAttr>(kLauncherGradKVRowsAttr);
      auto threads = f->getAttrOfType<IntegerAttr>(kLauncherThreadsAttr);
      gpu::GPUFuncOp statsKernel;
      auto statsRef =
          f->getAttrOfType<SymbolRefAttr>(kLauncherGradStatsKernelAttr);
      if (statsRef)
        statsKernel = dyn_cast_or_null<gpu::GPUFuncOp>(
            SymbolTable::lookupSymbolIn(module, statsRef));
      if (f->hasAttr(kLauncherGradStatsKernelAttr) && !statsKernel) {
        f.emitError() << "kvshift-gpu-launchers: `"
                      << kLauncherGradStatsKernelAttr
                      << "` needs to name a gpu.func";
        return signalPassFailure();
      }
      unsigned numArgs = statsKernel ? 13 : 11;
      auto type = f.getFunctionType();
      bool sig = type.getNumInputs() == numArgs && type.getNumResults() == 0 &&
                 llvm::all_of(type.getInputs(), [](Type t) {
                   auto mt = dyn_cast<MemRefType>(t);
                   return mt && mt.getLayout().isIdentity();
                 }) &&
                 cast<MemRefType>(type.getInput(0)).getRank() == 4 &&
                 !cast<MemRefType>(type.getInput(0)).isDynamicDim(3);
      if (kernels.size() != 4 || llvm::is_contained(kernels, nullptr) ||
          !qRows || qRows.getInt() < 1 || !kvRows || kvRows.getInt() < 1 ||
          !threads || threads.getInt() < 32 || !sig) {
        f.emitError() << "kvshift-gpu-launchers: a gradient launcher needs `"
                      << kLauncherGradKernelsAttr
                      << "` naming four gpu.funcs, positive `"
                      << kLauncherGradQRowsAttr << "` and `"
                      << kLauncherGradKVRowsAttr << "`, `"
                      << kLauncherThreadsAttr
                      << "` (at least 32) and "
                      << (statsKernel ? "thirteen" : "eleven")
                      << " identity-layout memref arguments (q, k, v, kw, vw, "
                         "dout, "
                      << (statsKernel ? "fwd_out, lse, " : "")
                      << "dq, dk, dv, dkw, dvw; q of rank 4 with a static "
                         "head dimension)";
        return signalPassFailure();
      }
      gpu::GPUFuncOp ropeKernel;
      int64_t ropeItems = 0;
      if (auto ropeRef =
              f->getAttrOfType<SymbolRefAttr>(kLauncherRopeKernelAttr)) {
        ropeKernel = dyn_cast_or_null<gpu::GPUFuncOp>(
            SymbolTable::lookupSymbolIn(module, ropeRef));
        auto items = f->getAttrOfType<IntegerAttr>(kLauncherRopeItemsAttr);
        if (!ropeKernel || !items || items.getInt() < 1) {
          f.emitError() << "kvshift-gpu-launchers: `"
                        << kLauncherRopeKernelAttr
                        << "` needs to name a gpu.func, with a positive `"
                        << kLauncherRopeItemsAttr << "`";
          return signalPassFailure();
        }
        ropeItems = items.getInt();
      }
      emitGradLauncherBody(f, kernels, statsKernel, qRows.getInt(),
                           kvRows.getInt(), threads.getInt(), ropeKernel,
                           ropeItems);
      for (StringRef a :
           {kLauncherGradKernelsAttr, kLauncherGradQRowsAttr,
            kLauncherGradKVRowsAttr, kLauncherThreadsAttr,
            kLauncherRopeKernelAttr, kLauncherRopeItemsAttr,
            kLauncherGradStatsKernelAttr})
        f->removeAttr(a);
    }
    for (func::FuncOp f : appendLaunchers) {
      auto ref = f->getAttrOfType<SymbolRefAttr>(kLauncherAppendKernelAttr);
      auto kernel = dyn_cast_or_null<gpu::GPUFuncOp>(
          ref ? SymbolTable::lookupSymbolIn(module, ref) : nullptr);
      auto threads = f->getAttrOfType<IntegerAttr>(kLauncherThreadsAttr);
      auto items = f->getAttrOfType<IntegerAttr>(kLauncherAppendItemsAttr);
      auto type = f.getFunctionType();
      auto isMemRef = [](Type t, int64_t rank) {
        auto mt = dyn_cast<MemRefType>(t);
        return mt && mt.getLayout().isIdentity() && mt.getRank() == rank;
      };
      bool sig = type.getNumInputs() == 13 && type.getNumResults() == 0 &&
                 type.getInput(8).isIndex();
      for (unsigned i = 0; sig && i < 13; ++i)
        if (i != 8)
          sig = isMemRef(type.getInput(i), i == 4 || i == 5 ? 2 : 4);
      if (sig)
        sig = !cast<MemRefType>(type.getInput(0)).isDynamicDim(3);
      if (!kernel || !threads || threads.getInt() < 1 || !items ||
          items.getInt() < 1 || !sig) {
        f.emitError()
            << "kvshift-gpu-launchers: an append launcher needs `"
            << kLauncherAppendKernelAttr << "` naming a gpu.func, `"
            << kLauncherThreadsAttr << "` and `" << kLauncherAppendItemsAttr
            << "` (positive) and the arguments (k_new, v_new, k_last, v_last: "
               "identity-layout rank-4 memrefs with a static head "
               "dimension, kw, vw: rank 2, k_cache, v_cache: rank "
               "4, pos: index, then the four results)";
        return signalPassFailure();
      }
      emitAppendLauncherBody(f, kernel, items.getInt(), threads.getInt());
      for (StringRef a : {kLauncherAppendKernelAttr, kLauncherAppendItemsAttr,
                          kLauncherThreadsAttr})
        f->removeAttr(a);
    }
    for (func::FuncOp f : decodeLaunchers) {
      auto lookup = [&](StringRef attr) -> gpu::GPUFuncOp {
        auto ref = f->getAttrOfType<SymbolRefAttr>(attr);
        return dyn_cast_or_null<gpu::GPUFuncOp>(
            ref ? SymbolTable::lookupSymbolIn(module, ref) : nullptr);
      };
      gpu::GPUFuncOp kernel = lookup(kLauncherDecodeKernelAttr);
      gpu::GPUFuncOp merge = lookup(kLauncherMergeKernelAttr);
      auto split = f->getAttrOfType<IntegerAttr>(kLauncherDecodeSplitAttr);
      auto rows = f->getAttrOfType<IntegerAttr>(kLauncherDecodeRowsAttr);
      auto threads = f->getAttrOfType<IntegerAttr>(kLauncherThreadsAttr);
      auto type = f.getFunctionType();
      auto isMemRef4 = [](Type t) {
        auto mt = dyn_cast<MemRefType>(t);
        return mt && mt.getLayout().isIdentity() && mt.getRank() == 4;
      };
      bool sig = type.getNumInputs() == 5 && type.getNumResults() == 0 &&
                 isMemRef4(type.getInput(0)) && isMemRef4(type.getInput(1)) &&
                 isMemRef4(type.getInput(2)) &&
                 type.getInput(3).isIndex() && isMemRef4(type.getInput(4)) &&
                 !cast<MemRefType>(type.getInput(0)).isDynamicDim(3);
      if (!kernel || !merge || !split || split.getInt() < 1 || !rows ||
          rows.getInt() < 1 || !threads || !sig) {
        f.emitError() << "kvshift-gpu-launchers: a decode launcher needs `"
                      << kLauncherDecodeKernelAttr << "` and `"
                      << kLauncherMergeKernelAttr << "` naming gpu.funcs, `"
                      << kLauncherDecodeSplitAttr << "`, `"
                      << kLauncherDecodeRowsAttr << "`, `"
                      << kLauncherThreadsAttr
                      << "` and the arguments (q, k_cache, v_cache: "
                         "identity-layout rank-4 memrefs with a static head "
                         "dimension, length: index, out)";
        return signalPassFailure();
      }
      emitDecodeLauncherBody(f, kernel, merge, split.getInt(), rows.getInt(),
                             threads.getInt());
      for (StringRef a : {kLauncherDecodeKernelAttr, kLauncherMergeKernelAttr,
                          kLauncherDecodeSplitAttr, kLauncherDecodeRowsAttr,
                          kLauncherThreadsAttr})
        f->removeAttr(a);
    }
    for (func::FuncOp f : launchers) {
      auto kernelRef = f->getAttrOfType<SymbolRefAttr>(kLauncherKernelAttr);
      auto kernel = dyn_cast_or_null<gpu::GPUFuncOp>(
          kernelRef ? SymbolTable::lookupSymbolIn(module, kernelRef)
                    : nullptr);
      auto blockM = f->getAttrOfType<IntegerAttr>(kLauncherBlockMAttr);
      auto threads = f->getAttrOfType<IntegerAttr>(kLauncherThreadsAttr);
      auto type = f.getFunctionType();
      bool memrefs = (type.getNumInputs() == 6 || type.getNumInputs() == 7) &&
                     type.getNumResults() == 0 &&
                     llvm::all_of(type.getInputs(), [](Type t) {
                       auto mt = dyn_cast<MemRefType>(t);
                       return mt && mt.getLayout().isIdentity();
                     });
      if (!kernel || !blockM || !threads || !memrefs) {
        f.emitError() << "kvshift-gpu-launchers: a launcher needs `"
                      << kLauncherKernelAttr << "` naming a gpu.func, `"
                      << kLauncherBlockMAttr << "`, `" << kLauncherThreadsAttr
                      << "` and six identity-layout memref arguments (q, k, "
                         "v, kw, vw, out), or seven (and lse)";
        return signalPassFailure();
      }
      gpu::GPUFuncOp ropeKernel;
      int64_t ropeItems = 0;
      if (auto ropeRef =
              f->getAttrOfType<SymbolRefAttr>(kLauncherRopeKernelAttr)) {
        ropeKernel = dyn_cast_or_null<gpu::GPUFuncOp>(
            SymbolTable::lookupSymbolIn(module, ropeRef));
        auto items = f->getAttrOfType<IntegerAttr>(kLauncherRopeItemsAttr);
        auto qType = cast<MemRefType>(type.getInput(0));
        if (!ropeKernel || !items || items.getInt() < 1 ||
            qType.getRank() != 4 || qType.isDynamicDim(3)) {
          f.emitError() << "kvshift-gpu-launchers: `"
                        << kLauncherRopeKernelAttr
                        << "` needs to name a gpu.func, with a positive `"
                        << kLauncherRopeItemsAttr
                        << "` and a static head dimension";
          return signalPassFailure();
        }
        ropeItems = items.getInt();
      }
      emitLauncherBody(f, kernel, blockM.getInt(), threads.getInt(),
                       ropeKernel, ropeItems);
      f->removeAttr(kLauncherRopeKernelAttr);
      f->removeAttr(kLauncherRopeItemsAttr);
      f->removeAttr(kLauncherKernelAttr);
      f->removeAttr(kLauncherBlockMAttr);
      f->removeAttr(kLauncherThreadsAttr);
    }
  }
};

} // namespace
