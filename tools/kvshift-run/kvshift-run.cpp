//===- kvshift-run.cpp - run one function of an MLIR file on .npy data ----===//
//
//   kvshift-run FILE.mlir --entry=NAME [--input=A.npy ...] [--output=R.npy ...]
//               [--pipeline=NAME] [--repeat=N] [--target=cpu|cuda]
//
// Lowers the module with a named pipeline (unless the entry is already an
// llvm.func), JIT-compiles it with MLIR's ExecutionEngine, binds the .npy
// inputs to the entry's arguments in order, runs it and writes its results to
// the .npy outputs in order. Every user error is one line on stderr,
// "kvshift-run: error: ...", and exit status 1; outputs are written only when
// everything succeeded.
//
//===----------------------------------------------------------------------===//

#include "Npy.h"

#include "kvshift/Dialect/KVShift/Transforms/Passes.h"
#include "kvshift/InitAll.h"
#include "kvshift/Pipelines/Pipelines.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Transforms/Passes.h"
#include "mlir/ExecutionEngine/ExecutionEngine.h"
#include "mlir/ExecutionEngine/OptUtils.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"

#include "llvm/Support/CommandLine.h"
#include "llvm/Support/ErrorHandling.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/TargetSelect.h"
#include "llvm/Support/raw_ostream.h"

#include <algorithm>
#include <cstdio>
#include <unistd.h>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <vector>

using namespace mlir;
namespace cl = llvm::cl;
namespace npy = ::npyio;

static cl::OptionCategory runCategory("kvshift-run options");

static cl::opt<std::string> inputFile(cl::Positional, cl::Required,
                                      cl::desc("<input.mlir>"),
                                      cl::cat(runCategory));
static cl::opt<std::string> entryName("entry", cl::Required,
                                      cl::desc("Function to run"),
                                      cl::value_desc("name"),
                                      cl::cat(runCategory));
static cl::list<std::string>
    inputFiles("input",
               cl::desc(".npy file bound to the next argument (in order)"),
               cl::value_desc("file.npy"), cl::cat(runCategory));
static cl::list<std::string>
    outputFiles("output",
                cl::desc(".npy file receiving the next result (in order)"),
                cl::value_desc("file.npy"), cl::cat(runCategory));
static cl::opt<std::string> pipelineName(
    "pipeline",
    cl::desc("Registered pipeline or textual pass pipeline used to lower "
             "the module (default: kvshift-to-llvm-cpu-fused; the reference "
             "is kvshift-to-llvm-cpu)"),
    cl::init(kvshift::kFusedCPUPipeline.str()), cl::cat(runCategory));
static cl::opt<unsigned>
    repeatCount("repeat",
                cl::desc("Run N times and report the median time on stderr"),
                cl::init(1), cl::value_desc("N"), cl::cat(runCategory));
static cl::opt<uint64_t> memoryLimit(
    "memory-limit",
    cl::desc("Largest buffer, in bytes, the compiled function may allocate "
             "(default: the machine's physical memory)"),
    cl::init(0), cl::value_desc("bytes"), cl::cat(runCategory));
static cl::opt<std::string> targetName("target",
                                       cl::desc("Where to run: cpu or cuda"),
                                       cl::init("cpu"), cl::cat(runCategory));

//===----------------------------------------------------------------------===//
// Errors
//===----------------------------------------------------------------------===//

/// Prints one line and exits with status 1. No output file has been written
/// when this is called.
[[noreturn]] static void fail(const llvm::Twine &msg) {
  std::string text = msg.str();
  std::replace(text.begin(), text.end(), '\n', ' ');
  llvm::errs() << "kvshift-run: error: " << text << "\n";
  llvm::errs().flush();
  std::exit(1);
}

static std::string str(Type t) {
  std::string s;
  llvm::raw_string_ostream os(s);
  os << t;
  return s;
}

//===----------------------------------------------------------------------===//
// Allocation: every buffer the compiled code allocates goes through a checked
// malloc, so that a shape whose buffers cannot exist is a clear error instead
// of a null-pointer crash or the out-of-memory killer.
//===----------------------------------------------------------------------===//

static uint64_t gMemoryLimit = 0; // bytes: physical memory, or --memory-limit

static std::string formatBytes(uint64_t n) {
  char buf[64];
  if (n >= (1ull << 30))
    std::snprintf(buf, sizeof(buf), "%.1f GiB", n / double(1ull << 30));
  else
    std::snprintf(buf, sizeof(buf), "%.1f MiB", n / double(1ull << 20));
  return buf;
}

extern "C" void *kvshiftCheckedMalloc(size_t n) {
  if (n > gMemoryLimit) {
    std::string msg = "kvshift-run: error: the compiled function asked for a "
                      "buffer of " +
                      formatBytes(n) + ", more than the " +
                      formatBytes(gMemoryLimit) +
                      " allowed (physical memory, or --memory-limit); the "
                      "shapes are too large for this pipeline\n";
    std::fwrite(msg.data(), 1, msg.size(), stderr);
    std::_Exit(1);
  }
  void *p = std::malloc(n);
  if (!p && n) {
    std::string msg = "kvshift-run: error: cannot allocate a buffer of " +
                      formatBytes(n) + " (out of memory)\n";
    std::fwrite(msg.data(), 1, msg.size(), stderr);
    std::_Exit(1);
  }
  return p;
}

//===----------------------------------------------------------------------===//
// The calling convention: what an argument or result of the entry is.
//===----------------------------------------------------------------------===//

namespace {

enum class Elt { F16, BF16, F32, F64, I32, I64 };

size_t eltSize(Elt e) {
  switch (e) {
  case Elt::F16:
  case Elt::BF16:
    return 2;
  case Elt::F32:
  case Elt::I32:
    return 4;
  case Elt::F64:
  case Elt::I64:
    return 8;
  }
  return 0;
}

/// The .npy dtype that carries an element type (bf16 travels as float32).
npy::DType npyTypeOf(Elt e) {
  switch (e) {
  case Elt::F16:
    return npy::DType::F16;
  case Elt::BF16:
  case Elt::F32:
    return npy::DType::F32;
  case Elt::F64:
    return npy::DType::F64;
  case Elt::I32:
    return npy::DType::I32;
  case Elt::I64:
    return npy::DType::I64;
  }
  return npy::DType::F32;
}

std::optional<Elt> eltOf(Type t) {
  if (t.isF16())
    return Elt::F16;
  if (t.isBF16())
    return Elt::BF16;
  if (t.isF32())
    return Elt::F32;
  if (t.isF64())
    return Elt::F64;
  if (t.isSignlessInteger(32) || t.isSignedInteger(32))
    return Elt::I32;
  if (t.isSignlessInteger(64) || t.isSignedInteger(64))
    return Elt::I64;
  return std::nullopt;
}

/// One argument or result: a ranked buffer (tensor or memref) or a scalar.
struct Slot {
  Type type;
  Elt elt;
  bool isBuffer;
  SmallVector<int64_t> shape; // buffers only; kDynamic for '?'
  int64_t rank() const { return shape.size(); }
  /// Number of i64-sized words of the expanded memref descriptor.
  size_t descriptorWords() const { return 3 + 2 * shape.size(); }
};

std::optional<Slot> slotOf(Type type) {
  if (auto shaped = dyn_cast<ShapedType>(type)) {
    if (!isa<RankedTensorType, MemRefType>(type) || !shaped.hasRank())
      return std::nullopt;
    if (auto memref = dyn_cast<MemRefType>(type))
      if (!memref.getLayout().isIdentity())
        return std::nullopt;
    auto elt = eltOf(shaped.getElementType());
    if (!elt)
      return std::nullopt;
    return Slot{type, *elt, true, llvm::to_vector(shaped.getShape())};
  }
  auto elt = eltOf(type);
  if (!elt)
    return std::nullopt;
  return Slot{type, *elt, false, {}};
}

//===----------------------------------------------------------------------===//
// Element conversion
//===----------------------------------------------------------------------===//

uint16_t floatToBF16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) // NaN: keep it quiet and NaN
    return static_cast<uint16_t>((u >> 16) | 0x0040u);
  u += 0x7fffu + ((u >> 16) & 1u); // round to nearest even
  return static_cast<uint16_t>(u >> 16);
}

float bf16ToFloat(uint16_t h) {
  uint32_t u = static_cast<uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

/// A 64-byte aligned heap buffer.
struct AlignedBuffer {
  void *ptr = nullptr;
  size_t bytes = 0;
  AlignedBuffer() = default;
  explicit AlignedBuffer(size_t n) : bytes(n) {
    size_t rounded = std::max<size_t>(64, (n + 63) / 64 * 64);
    ptr = std::aligned_alloc(64, rounded);
    if (!ptr)
      fail("cannot allocate " + llvm::Twine(n) + " bytes for an argument");
  }
  AlignedBuffer(const AlignedBuffer &) = delete;
  AlignedBuffer &operator=(const AlignedBuffer &) = delete;
  AlignedBuffer(AlignedBuffer &&o) noexcept : ptr(o.ptr), bytes(o.bytes) {
    o.ptr = nullptr;
  }
  AlignedBuffer &operator=(AlignedBuffer &&o) noexcept {
    std::swap(ptr, o.ptr);
    std::swap(bytes, o.bytes);
    return *this;
  }
  ~AlignedBuffer() { std::free(ptr); }
};

/// An argument ready to be passed: its data in the element type of the
/// function (a pristine copy, restored before every run so that a function
/// that updates an argument in place sees the same input each time) and, for
/// buffers, its expanded memref descriptor.
struct BoundArg {
  Slot slot;
  std::vector<int64_t> shape;
  AlignedBuffer pristine, work;
  std::vector<int64_t> words; // descriptor or scalar bits
};

std::string describeArg(unsigned i, const Slot &slot) {
  return "--input #" + std::to_string(i + 1) + " ('" + inputFiles[i] +
         "') for argument #" + std::to_string(i) + " of @" + entryName +
         " (" + str(slot.type) + ")";
}

BoundArg bindInput(unsigned i, const Slot &slot) {
  std::string what = describeArg(i, slot);
  auto arrayOrErr = npy::read(inputFiles[i]);
  if (!arrayOrErr)
    fail(what + ": " + llvm::toString(arrayOrErr.takeError()));
  npy::Array &array = *arrayOrErr;

  npy::DType want = npyTypeOf(slot.elt);
  if (array.dtype != want)
    fail(what + ": expected dtype " + npy::dtypeName(want) +
         (slot.elt == Elt::BF16 ? " (bf16 is read from float32)" : "") +
         ", found " + npy::dtypeName(array.dtype));

  if (!slot.isBuffer) {
    if (!array.shape.empty())
      fail(what + ": expected a 0-d array for a scalar argument, found shape " +
           npy::shapeString(array.shape));
  } else {
    if ((int64_t)array.shape.size() != slot.rank())
      fail(what + ": expected rank " + llvm::Twine(slot.rank()) +
           ", found rank " + llvm::Twine(array.shape.size()) + " (shape " +
           npy::shapeString(array.shape) + ")");
    for (int64_t d = 0; d < slot.rank(); ++d)
      if (!ShapedType::isDynamic(slot.shape[d]) &&
          slot.shape[d] != array.shape[d])
        fail(what + ": dimension " + llvm::Twine(d) + " must be " +
             llvm::Twine(slot.shape[d]) + ", found shape " +
             npy::shapeString(array.shape));
  }

  BoundArg arg;
  arg.slot = slot;
  arg.shape = array.shape;
  int64_t n = array.numElements();
  size_t bytes = (size_t)n * eltSize(slot.elt);
  arg.pristine = AlignedBuffer(bytes);
  arg.work = AlignedBuffer(bytes);
  if (slot.elt == Elt::BF16) {
    auto *dst = static_cast<uint16_t *>(arg.pristine.ptr);
    const auto *src = reinterpret_cast<const float *>(array.data.data());
    for (int64_t k = 0; k < n; ++k)
      dst[k] = floatToBF16(src[k]);
  } else if (bytes) {
    std::memcpy(arg.pristine.ptr, array.data.data(), bytes);
  }
  return arg;
}

/// Fills `arg.words` for the current `arg.work` buffer.
void buildWords(BoundArg &arg) {
  arg.words.clear();
  if (!arg.slot.isBuffer) {
    int64_t bits = 0;
    std::memcpy(&bits, arg.work.ptr, eltSize(arg.slot.elt));
    arg.words.push_back(bits);
    return;
  }
  int64_t ptr = reinterpret_cast<int64_t>(arg.work.ptr);
  arg.words = {ptr, ptr, 0};
  for (int64_t d : arg.shape)
    arg.words.push_back(d);
  std::vector<int64_t> strides(arg.shape.size());
  int64_t stride = 1;
  for (size_t d = arg.shape.size(); d-- > 0;) {
    strides[d] = stride;
    stride *= arg.shape[d];
  }
  arg.words.insert(arg.words.end(), strides.begin(), strides.end());
}

//===----------------------------------------------------------------------===//
// Results: the struct the packed entry point writes.
//===----------------------------------------------------------------------===//

struct ResultLayout {
  std::vector<size_t> offsets;
  size_t size = 0;
};

ResultLayout layoutResults(ArrayRef<Slot> results) {
  ResultLayout layout;
  for (const Slot &r : results) {
    size_t sz = r.isBuffer ? 8 * r.descriptorWords() : eltSize(r.elt);
    size_t align = r.isBuffer ? 8 : eltSize(r.elt);
    layout.size = (layout.size + align - 1) / align * align;
    layout.offsets.push_back(layout.size);
    layout.size += sz;
  }
  layout.size = (layout.size + 7) / 8 * 8;
  return layout;
}

/// Reads the result at `base` (a memref descriptor or a scalar) into a
/// C-order array of the .npy dtype that carries it.
std::vector<char> readResult(const Slot &slot, const char *base,
                             std::vector<int64_t> &shape) {
  npy::DType dtype = npyTypeOf(slot.elt);
  size_t outElt = npy::dtypeSize(dtype), inElt = eltSize(slot.elt);
  auto convertOne = [&](const char *src, char *dst) {
    if (slot.elt == Elt::BF16) {
      uint16_t h;
      std::memcpy(&h, src, 2);
      float f = bf16ToFloat(h);
      std::memcpy(dst, &f, 4);
    } else {
      std::memcpy(dst, src, inElt);
    }
  };
  if (!slot.isBuffer) {
    shape.clear();
    std::vector<char> out(outElt);
    convertOne(base, out.data());
    return out;
  }
  int64_t rank = slot.rank();
  const int64_t *w = reinterpret_cast<const int64_t *>(base);
  const char *aligned = reinterpret_cast<const char *>(w[1]);
  int64_t offset = w[2];
  shape.assign(w + 3, w + 3 + rank);
  std::vector<int64_t> strides(w + 3 + rank, w + 3 + 2 * rank);
  int64_t n = 1;
  for (int64_t d : shape)
    n *= d;
  std::vector<char> out((size_t)n * outElt);
  std::vector<int64_t> index(rank, 0);
  for (int64_t linear = 0; linear < n; ++linear) {
    int64_t src = offset;
    for (int64_t d = 0; d < rank; ++d)
      src += index[d] * strides[d];
    convertOne(aligned + src * inElt, out.data() + linear * outElt);
    for (int64_t d = rank; d-- > 0;) {
      if (++index[d] < shape[d])
        break;
      index[d] = 0;
    }
  }
  return out;
}

/// Frees the buffers the entry returned (they are owned by the caller after
/// the ownership-based deallocation of the pipeline), never an input buffer
/// and never the same buffer twice.
void freeResults(ArrayRef<Slot> results, const ResultLayout &layout,
                 const char *storage, ArrayRef<BoundArg> args) {
  SmallVector<void *> freed;
  for (auto [slot, offset] : llvm::zip(results, layout.offsets)) {
    if (!slot.isBuffer)
      continue;
    void *allocated =
        reinterpret_cast<void *>(*reinterpret_cast<const int64_t *>(
            storage + offset));
    if (!allocated || llvm::is_contained(freed, allocated))
      continue;
    if (llvm::any_of(args, [&](const BoundArg &a) {
          return a.work.ptr == allocated;
        }))
      continue;
    freed.push_back(allocated);
    std::free(allocated);
  }
}

//===----------------------------------------------------------------------===//
// Module handling
//===----------------------------------------------------------------------===//

/// Collects the first error diagnostic as one line "loc: message".
struct FirstError {
  std::string text;
  void record(Diagnostic &diag) {
    if (diag.getSeverity() != DiagnosticSeverity::Error || !text.empty())
      return;
    std::string loc;
    llvm::raw_string_ostream os(loc);
    if (auto file = diag.getLocation()->findInstanceOf<FileLineColLoc>())
      os << file.getFilename().getValue() << ":" << file.getLine() << ":"
         << file.getColumn();
    else
      os << diag.getLocation();
    text = os.str() + ": " + diag.str();
  }
};

/// For an entry with dynamic tensor dimensions, checks that the concrete
/// input shapes fit the program: a copy of the module gets the static input
/// types on the entry (behind tensor.cast to the declared types), is
/// canonicalized so that the static shapes reach the ops, and verified. The
/// ops' verifiers then report mismatches (batch, heads, head_dim, ...) that
/// would otherwise make the compiled code read out of bounds. The compiled
/// program is still the dynamic one.
void checkShapesFit(ModuleOp module, ArrayRef<BoundArg> args,
                    FirstError &diag) {
  auto func = dyn_cast_or_null<func::FuncOp>(
      SymbolTable::lookupSymbolIn(module, entryName));
  if (!func)
    return;
  bool anyDynamic = llvm::any_of(func.getArgumentTypes(), [](Type t) {
    auto rt = dyn_cast<RankedTensorType>(t);
    return rt && !rt.hasStaticShape();
  });
  if (!anyDynamic)
    return;
  OwningOpRef<ModuleOp> probe = cast<ModuleOp>(module->clone());
  auto probeFunc =
      cast<func::FuncOp>(SymbolTable::lookupSymbolIn(*probe, entryName));
  Block &entryBlock = probeFunc.getBody().front();
  OpBuilder b = OpBuilder::atBlockBegin(&entryBlock);
  SmallVector<Type> newInputs;
  for (auto [i, arg] : llvm::enumerate(entryBlock.getArguments())) {
    auto rt = dyn_cast<RankedTensorType>(arg.getType());
    if (!rt || rt.hasStaticShape() || i >= args.size()) {
      newInputs.push_back(arg.getType());
      continue;
    }
    auto staticType =
        RankedTensorType::get(args[i].shape, rt.getElementType());
    arg.setType(staticType);
    auto cast = tensor::CastOp::create(b, arg.getLoc(), rt, arg);
    arg.replaceAllUsesExcept(cast.getResult(), cast);
    newInputs.push_back(staticType);
  }
  probeFunc.setFunctionType(FunctionType::get(
      module.getContext(), newInputs,
      probeFunc.getFunctionType().getResults()));
  PassManager pm(module.getContext());
  pm.addPass(createCanonicalizerPass());
  diag.text.clear();
  if (failed(pm.run(*probe)) || failed(verify(*probe)))
    fail("the input shapes do not fit @" + entryName + ": " +
         (diag.text.empty() ? std::string("verification failed")
                            : diag.text));
  diag.text.clear();
}

void runPipeline(ModuleOp module, MLIRContext &ctx, FirstError &diag) {
  PassManager pm(&ctx);
  std::string text = pipelineName;
  StringRef ref(text);
  // A full textual pipeline anchored on the module: strip the anchor, the
  // pass manager is already on builtin.module.
  if (ref.consume_front("builtin.module(") && ref.consume_back(")"))
    text = ref.str();
  std::string err;
  llvm::raw_string_ostream errStream(err);
  if (failed(parsePassPipeline(text, pm, errStream)))
    fail("--pipeline='" + pipelineName + "': " +
         StringRef(errStream.str()).trim() +
         " (registered pipelines: kvshift-to-llvm-cpu, kvshift-to-llvm-cpu-fused)");
  if (failed(pm.run(module)))
    fail("lowering with pipeline '" + pipelineName + "' failed: " +
         (diag.text.empty() ? std::string("unknown error") : diag.text));
}

} // namespace

int main(int argc, char **argv) {
  llvm::install_fatal_error_handler(
      [](void *, const char *reason, bool) {
        llvm::errs() << "kvshift-run: error: internal compiler error: "
                     << reason << "\n";
        llvm::errs().flush();
        std::_Exit(1);
      },
      nullptr);

  kvshift::registerAllPasses();
  cl::HideUnrelatedOptions(runCategory);
  cl::ParseCommandLineOptions(
      argc, argv,
      "kvshift-run: run one function of an MLIR file on .npy data\n");

  if (targetName == "cuda")
    fail("--target=cuda: this build of kvshift has no GPU lowering or CUDA "
         "runtime yet; use --target=cpu");
  if (targetName != "cpu")
    fail("--target='" + targetName + "': expected cpu or cuda");
  if (repeatCount == 0)
    fail("--repeat must be at least 1");

  // Parse and verify.
  DialectRegistry registry;
  kvshift::registerAllDialects(registry);
  MLIRContext ctx(registry);
  ctx.loadAllAvailableDialects();
  FirstError diag;
  ScopedDiagnosticHandler handler(&ctx, [&](Diagnostic &d) {
    diag.record(d);
    return success();
  });

  if (llvm::sys::fs::is_directory(inputFile))
    fail("'" + inputFile + "' is a directory, not an MLIR file");
  std::string parseError;
  llvm::SourceMgr sourceMgr;
  auto fileOrErr = llvm::MemoryBuffer::getFileOrSTDIN(inputFile);
  if (!fileOrErr)
    fail("cannot open '" + inputFile + "': " + fileOrErr.getError().message());
  sourceMgr.AddNewSourceBuffer(std::move(*fileOrErr), llvm::SMLoc());
  OwningOpRef<ModuleOp> module = parseSourceFile<ModuleOp>(sourceMgr, &ctx);
  if (!module)
    fail("cannot parse '" + inputFile + "': " +
         (diag.text.empty() ? std::string("invalid MLIR") : diag.text));

  // Find the entry and its signature.
  Operation *entry = SymbolTable::lookupSymbolIn(*module, entryName);
  FunctionType signature;
  bool lowered = false;
  if (auto func = dyn_cast_or_null<func::FuncOp>(entry)) {
    if (func.isExternal())
      fail("@" + entryName + " is only a declaration, it has no body");
    signature = func.getFunctionType();
    if (auto attr = func->getAttrOfType<TypeAttr>(kvshift::kSignatureAttrName))
      signature = dyn_cast<FunctionType>(attr.getValue());
  } else if (auto llvmFunc = dyn_cast_or_null<LLVM::LLVMFuncOp>(entry)) {
    lowered = true;
    auto attr =
        llvmFunc->getAttrOfType<TypeAttr>(kvshift::kSignatureAttrName);
    if (!attr || !isa<FunctionType>(attr.getValue()))
      fail("@" + entryName +
           " is already an llvm.func but carries no kvshift.signature "
           "attribute, so its arguments cannot be bound: lower it with "
           "kvshift-opt --kvshift-to-llvm-cpu or pass the unlowered file");
    signature = cast<FunctionType>(attr.getValue());
  } else {
    std::string names;
    module->walk([&](Operation *op) {
      if (isa<func::FuncOp, LLVM::LLVMFuncOp>(op)) {
        auto sym = op->getAttrOfType<StringAttr>(SymbolTable::getSymbolAttrName());
        if (sym && !(isa<func::FuncOp>(op) &&
                     cast<func::FuncOp>(op).isExternal()) &&
            !(isa<LLVM::LLVMFuncOp>(op) &&
              cast<LLVM::LLVMFuncOp>(op).isExternal()))
          names += (names.empty() ? "@" : ", @") + sym.getValue().str();
      }
    });
    fail("no function @" + entryName + " in '" + inputFile + "'" +
         (names.empty() ? std::string(" (it defines no function)")
                        : " (functions: " + names + ")"));
  }

  SmallVector<Slot> argSlots, resultSlots;
  for (auto [i, t] : llvm::enumerate(signature.getInputs())) {
    auto slot = slotOf(t);
    if (!slot)
      fail("argument #" + llvm::Twine(i) + " of @" + entryName + " has type " +
           str(t) +
           ", which kvshift-run cannot bind (supported: ranked tensors and "
           "identity-layout memrefs of f32, f16, bf16, f64, i32, i64, and "
           "scalars of those types)");
    argSlots.push_back(*slot);
  }
  for (auto [i, t] : llvm::enumerate(signature.getResults())) {
    auto slot = slotOf(t);
    if (!slot)
      fail("result #" + llvm::Twine(i) + " of @" + entryName + " has type " +
           str(t) +
           ", which kvshift-run cannot return (supported: ranked tensors "
           "and memrefs of f32, f16, bf16, f64, i32, i64, and scalars)");
    resultSlots.push_back(*slot);
  }
  if (inputFiles.size() != argSlots.size())
    fail("@" + entryName + " takes " + llvm::Twine(argSlots.size()) +
         " argument(s), got " + llvm::Twine(inputFiles.size()) +
         " --input file(s)");
  if (!outputFiles.empty() && outputFiles.size() != resultSlots.size())
    fail("@" + entryName + " returns " + llvm::Twine(resultSlots.size()) +
         " result(s), got " + llvm::Twine(outputFiles.size()) +
         " --output file(s) (give one per result, or none)");
  for (size_t i = 0; i < outputFiles.size(); ++i)
    for (size_t j = 0; j < i; ++j)
      if (outputFiles[i] == outputFiles[j])
        fail("--output '" + outputFiles[i] + "' is given twice");

  // Read and check every input before compiling anything.
  std::vector<BoundArg> args;
  for (unsigned i = 0; i < argSlots.size(); ++i)
    args.push_back(bindInput(i, argSlots[i]));

  // Lower.
  if (!lowered) {
    checkShapesFit(*module, args, diag);
    runPipeline(*module, ctx, diag);
  }
  Operation *loweredEntry = SymbolTable::lookupSymbolIn(*module, entryName);
  auto llvmEntry = dyn_cast_or_null<LLVM::LLVMFuncOp>(loweredEntry);
  if (!llvmEntry)
    fail("after pipeline '" + pipelineName + "', @" + entryName +
         " is not an llvm.func: the pipeline must lower to the LLVM dialect");
  Operation *notLLVM = nullptr;
  module->walk([&](Operation *op) {
    if (!notLLVM && op != module->getOperation() &&
        !isa<LLVM::LLVMDialect>(op->getDialect()) &&
        op->getDialect()->getNamespace() != "omp")
      notLLVM = op;
  });
  if (notLLVM)
    fail("after pipeline '" + pipelineName + "' the module still holds '" +
         notLLVM->getName().getStringRef() +
         "' ops, which cannot be compiled: the pipeline must lower "
         "everything to the LLVM dialect");
  size_t expectedParams = 0;
  for (const Slot &s : argSlots)
    expectedParams += s.isBuffer ? s.descriptorWords() : 1;
  if (llvmEntry.getNumArguments() != expectedParams)
    fail("lowered @" + entryName + " takes " +
         llvm::Twine(llvmEntry.getNumArguments()) +
         " parameters, but its signature " + str(signature) + " implies " +
         llvm::Twine(expectedParams) + " (expanded memref descriptors)");

  // JIT.
  llvm::InitializeNativeTarget();
  llvm::InitializeNativeTargetAsmPrinter();
  ExecutionEngineOptions engineOptions;
  auto transformer = makeOptimizingTransformer(/*optLevel=*/3,
                                               /*sizeLevel=*/0, nullptr);
  engineOptions.transformer = transformer;
  engineOptions.jitCodeGenOptLevel = llvm::CodeGenOptLevel::Aggressive;
  SmallVector<StringRef> libs;
  std::string runnerUtils =
      std::string(KVSHIFT_MLIR_LIB_DIR) + "/libmlir_c_runner_utils.so";
  if (llvm::sys::fs::exists(runnerUtils))
    libs.push_back(runnerUtils);
  // The OpenMP runtime, for modules with parallel loops (omp dialect).
  std::string openmp = std::string(KVSHIFT_MLIR_LIB_DIR) + "/libomp.so";
  bool usesOpenMP = false;
  module->walk([&](LLVM::LLVMFuncOp f) {
    if (f.isExternal() && f.getName().starts_with("__kmpc_"))
      usesOpenMP = true;
  });
  if (!usesOpenMP)
    module->walk([&](Operation *op) {
      if (op->getDialect() &&
          op->getDialect()->getNamespace() == "omp")
        usesOpenMP = true;
    });
  if (usesOpenMP) {
    if (!llvm::sys::fs::exists(openmp))
      fail("the module runs OpenMP parallel loops but the OpenMP runtime " +
           openmp + " is missing (apt-get install libomp-22-dev)");
    libs.push_back(openmp);
  }
  engineOptions.sharedLibPaths = libs;
  auto engineOrErr = ExecutionEngine::create(*module, engineOptions);
  if (!engineOrErr)
    fail("cannot JIT-compile the module: " +
         llvm::toString(engineOrErr.takeError()) +
         (diag.text.empty() ? std::string() : " (" + diag.text + ")"));
  std::unique_ptr<ExecutionEngine> engine = std::move(*engineOrErr);
  gMemoryLimit = memoryLimit;
  if (gMemoryLimit == 0) {
    long pages = sysconf(_SC_PHYS_PAGES), pageSize = sysconf(_SC_PAGESIZE);
    gMemoryLimit = pages > 0 && pageSize > 0
                       ? static_cast<uint64_t>(pages) * pageSize
                       : UINT64_MAX;
  }
  engine->registerSymbols([](llvm::orc::MangleAndInterner interner) {
    llvm::orc::SymbolMap map;
    map[interner("malloc")] = {
        llvm::orc::ExecutorAddr::fromPtr(&kvshiftCheckedMalloc),
        llvm::JITSymbolFlags::Exported};
    return map;
  });
  auto fnOrErr = engine->lookupPacked(entryName);
  if (!fnOrErr)
    fail("cannot find the compiled @" + entryName + ": " +
         llvm::toString(fnOrErr.takeError()));
  void (*fn)(void **) = *fnOrErr;

  // Run.
  ResultLayout layout = layoutResults(resultSlots);
  std::vector<int64_t> resultStorage(std::max<size_t>(1, layout.size / 8), 0);
  std::vector<double> times;
  for (unsigned run = 0; run < repeatCount; ++run) {
    if (run > 0)
      freeResults(resultSlots, layout,
                  reinterpret_cast<const char *>(resultStorage.data()), args);
    std::vector<void *> packed;
    for (BoundArg &a : args) {
      if (a.pristine.bytes)
        std::memcpy(a.work.ptr, a.pristine.ptr, a.pristine.bytes);
      buildWords(a);
      for (int64_t &w : a.words)
        packed.push_back(&w);
    }
    if (!resultSlots.empty())
      packed.push_back(resultStorage.data());
    auto start = std::chrono::steady_clock::now();
    fn(packed.data());
    auto stop = std::chrono::steady_clock::now();
    times.push_back(std::chrono::duration<double, std::milli>(stop - start)
                        .count());
  }
  if (repeatCount.getNumOccurrences()) {
    std::vector<double> sorted = times;
    std::sort(sorted.begin(), sorted.end());
    size_t n = sorted.size();
    double median = n % 2 ? sorted[n / 2]
                          : 0.5 * (sorted[n / 2 - 1] + sorted[n / 2]);
    llvm::errs() << llvm::format(
        "kvshift-run: @%s: median %.3f ms over %u run(s) (min %.3f ms, max "
        "%.3f ms)\n",
        entryName.c_str(), median, repeatCount.getValue(), sorted.front(),
        sorted.back());
  }

  // Write every output to a temporary file, then rename them all.
  const char *storage = reinterpret_cast<const char *>(resultStorage.data());
  std::vector<std::string> temps;
  auto removeTemps = [&] {
    for (const std::string &t : temps)
      llvm::sys::fs::remove(t);
  };
  for (size_t i = 0; i < outputFiles.size(); ++i) {
    std::vector<int64_t> shape;
    std::vector<char> data =
        readResult(resultSlots[i], storage + layout.offsets[i], shape);
    std::string temp = outputFiles[i] + ".kvshift-run.tmp";
    temps.push_back(temp);
    if (llvm::Error e = npy::write(temp, npyTypeOf(resultSlots[i].elt), shape,
                                   data.data())) {
      removeTemps();
      fail("--output #" + llvm::Twine(i + 1) + " ('" + outputFiles[i] +
           "'): " + llvm::toString(std::move(e)));
    }
  }
  for (size_t i = 0; i < outputFiles.size(); ++i) {
    if (std::error_code ec = llvm::sys::fs::rename(temps[i], outputFiles[i])) {
      removeTemps();
      fail("--output #" + llvm::Twine(i + 1) + " ('" + outputFiles[i] +
           "'): cannot write: " + ec.message());
    }
  }
  if (outputFiles.empty()) {
    // No output files: describe the results on stdout.
    for (size_t i = 0; i < resultSlots.size(); ++i) {
      std::vector<int64_t> shape;
      std::vector<char> data =
          readResult(resultSlots[i], storage + layout.offsets[i], shape);
      llvm::outs() << "result #" << i << ": " << str(resultSlots[i].type)
                   << " shape " << npy::shapeString(shape) << "\n";
    }
  }
  freeResults(resultSlots, layout, storage, args);
  return 0;
}
