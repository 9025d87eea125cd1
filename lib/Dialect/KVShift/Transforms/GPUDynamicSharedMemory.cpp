//===- GPUDynamicSharedMemory.cpp - tiles above 48 KiB --------------------===//
//
// kvshift-gpu-dynamic-shared-memory: the workgroup attributions of a kernel
// marked with kDynamicSharedMemoryAttr become views of the block's dynamic
// shared memory, and its launches give that many bytes.
//
//===----------------------------------------------------------------------===//

#include "kvshift/Dialect/KVShift/Transforms/Passes.h"
#include "kvshift/Dialect/KVShift/Transforms/SharedMemory.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/SymbolTable.h"

namespace mlir::kvshift {
#define GEN_PASS_DEF_KVSHIFTGPUDYNAMICSHAREDMEMORY
#define GEN_PASS_DEF_KVSHIFTGPUEXTERNSHAREDMEMORY
#include "kvshift/Dialect/KVShift/Transforms/Passes.h.inc"
} // namespace mlir::kvshift

using namespace mlir;
using namespace mlir::kvshift;

int64_t mlir::kvshift::maxSharedBytesPerBlock(StringRef chip) {
  unsigned sm = 0;
  StringRef digits = chip;
  if (!digits.consume_front("sm_"))
    return kStaticSharedBytes;
  digits = digits.take_while([](char c) { return llvm::isDigit(c); });
  if (digits.getAsInteger(10, sm))
    return kStaticSharedBytes;
  // The CUDA programming guide's "maximum amount of shared memory per
  // thread block" by compute capability.
  switch (sm) {
  case 70:
  case 72:
    return 96 * 1024;
  case 75:
    return 64 * 1024;
  case 80:
  case 87:
    return 163 * 1024;
  case 86:
  case 88:
  case 89:
  case 120:
  case 121:
    return 99 * 1024;
  case 90:
  case 100:
  case 101:
  case 103:
  case 110:
    return 227 * 1024;
  default:
    return kStaticSharedBytes;
  }
}

int64_t
mlir::kvshift::layoutWorkgroupAttributions(gpu::GPUFuncOp func,
                                           SmallVectorImpl<int64_t> *offsets) {
  int64_t end = 0;
  for (auto [i, arg] : llvm::enumerate(func.getWorkgroupAttributions())) {
    auto type = cast<MemRefType>(arg.getType());
    int64_t align = 16;
    if (auto a = dyn_cast_or_null<IntegerAttr>(func.getWorkgroupAttributionAttr(
            i, LLVM::LLVMDialect::getAlignAttrName())))
      align = std::max<int64_t>(a.getInt(), 1);
    int64_t at = llvm::alignTo(end, align);
    if (offsets)
      offsets->push_back(at);
    end = at + type.getNumElements() *
                   llvm::divideCeil(type.getElementTypeBitWidth(), 8);
  }
  return end;
}

void mlir::kvshift::markDynamicSharedMemory(gpu::GPUFuncOp func) {
  int64_t bytes = layoutWorkgroupAttributions(func);
  if (bytes > kStaticSharedBytes)
    func->setAttr(kDynamicSharedMemoryAttr,
                  Builder(func.getContext()).getI64IntegerAttr(bytes));
}

namespace {

/// The alignment of the dynamic shared memory: that of kvshift's static
/// tiles (wgmma's 128-byte core matrices).
constexpr uint64_t kDynamicSharedAlignBytes = 128;

struct KVShiftGPUDynamicSharedMemoryPass
    : kvshift::impl::KVShiftGPUDynamicSharedMemoryBase<
          KVShiftGPUDynamicSharedMemoryPass> {
  /// Replaces `func`'s workgroup attributions by views of its dynamic
  /// shared memory at layoutWorkgroupAttributions' offsets.
  LogicalResult moveAttributions(gpu::GPUFuncOp func, int64_t bytes) {
    for (auto [i, arg] : llvm::enumerate(func.getWorkgroupAttributions())) {
      auto type = cast<MemRefType>(arg.getType());
      if (!type.hasStaticShape() || !type.getElementType().isIntOrFloat())
        return func.emitOpError()
               << "kvshift-gpu-dynamic-shared-memory: workgroup attribution "
               << i
               << " must have a static shape and an integer or float "
                  "element type to be placed in dynamic shared memory, "
                  "found "
               << type;
    }
    SmallVector<int64_t> offsets;
    int64_t need = layoutWorkgroupAttributions(func, &offsets);
    if (need > bytes)
      return func.emitOpError()
             << "kvshift-gpu-dynamic-shared-memory: "
             << kDynamicSharedMemoryAttr << " gives " << bytes
             << " bytes, but the workgroup attributions take " << need;
    MLIRContext *ctx = func.getContext();
    Block &entry = func.getBody().front();
    OpBuilder b = OpBuilder::atBlockBegin(&entry);
    Location loc = func.getLoc();
    auto wg = gpu::AddressSpaceAttr::get(ctx, gpu::AddressSpace::Workgroup);
    auto bytesType = MemRefType::get({ShapedType::kDynamic}, b.getI8Type(),
                                     MemRefLayoutAttrInterface(), wg);
    Value base = gpu::DynamicSharedMemoryOp::create(b, loc, bytesType);
    SmallVector<BlockArgument> attributions(func.getWorkgroupAttributions());
    unsigned first = func.getFirstWorkgroupAttributionIndex();
    unsigned count = attributions.size();
    for (auto [arg, offset] : llvm::zip(attributions, offsets)) {
      Value at = arith::ConstantIndexOp::create(b, loc, offset);
      Value view =
          memref::ViewOp::create(b, loc, arg.getType(), base, at, ValueRange{});
      arg.replaceAllUsesWith(view);
    }
    entry.eraseArguments(first, count);
    func->setAttr(gpu::GPUFuncOp::getNumWorkgroupAttributionsAttrName(),
                  b.getI64IntegerAttr(0));
    func.removeWorkgroupAttribAttrsAttr();
    return success();
  }

  void runOnOperation() override {
    ModuleOp module = getOperation();
    // Kernel -> bytes of dynamic shared memory.
    DenseMap<Operation *, int64_t> sizes;
    WalkResult result = module.walk([&](gpu::GPUFuncOp func) {
      auto attr = func->getAttrOfType<IntegerAttr>(kDynamicSharedMemoryAttr);
      if (!attr)
        return WalkResult::advance();
      if (!func.isKernel() || attr.getInt() <= 0 ||
          attr.getInt() > std::numeric_limits<int32_t>::max()) {
        func.emitOpError() << "kvshift-gpu-dynamic-shared-memory: "
                           << kDynamicSharedMemoryAttr
                           << " must be on a kernel and a positive i32, "
                              "found "
                           << attr.getValue().getSExtValue() << " on "
                           << (func.isKernel() ? "a kernel" : "a function");
        return WalkResult::interrupt();
      }
      if (failed(moveAttributions(func, attr.getInt())))
        return WalkResult::interrupt();
      sizes[func] = attr.getInt();
      return WalkResult::advance();
    });
    if (result.wasInterrupted())
      return signalPassFailure();
    if (sizes.empty())
      return;
    SymbolTableCollection symbols;
    result = module.walk([&](gpu::LaunchFuncOp launch) {
      Operation *callee =
          symbols.lookupNearestSymbolFrom(launch, launch.getKernel());
      auto it = sizes.find(callee);
      if (it == sizes.end())
        return WalkResult::advance();
      if (launch.getDynamicSharedMemorySize()) {
        launch.emitOpError()
            << "kvshift-gpu-dynamic-shared-memory: the launch of a kernel "
               "marked with "
            << kDynamicSharedMemoryAttr
            << " already gives dynamic shared memory";
        return WalkResult::interrupt();
      }
      OpBuilder b(launch);
      Value size = arith::ConstantIntOp::create(b, launch.getLoc(),
                                                b.getI32Type(), it->second);
      launch.getDynamicSharedMemorySizeMutable().assign(size);
      return WalkResult::advance();
    });
    if (result.wasInterrupted())
      return signalPassFailure();
  }
};

struct KVShiftGPUExternSharedMemoryPass
    : kvshift::impl::KVShiftGPUExternSharedMemoryBase<
          KVShiftGPUExternSharedMemoryPass> {
  void runOnOperation() override {
    for (auto global : getOperation().getOps<LLVM::GlobalOp>()) {
      auto array = dyn_cast<LLVM::LLVMArrayType>(global.getGlobalType());
      if (global.getAddrSpace() != 3 || !array || array.getNumElements() != 0 ||
          global.getValueAttr() || global.getInitializerBlock())
        continue;
      global.setLinkage(LLVM::Linkage::External);
      global.setAlignment(std::max<uint64_t>(global.getAlignment().value_or(1),
                                             kDynamicSharedAlignBytes));
    }
  }
};

} // namespace
