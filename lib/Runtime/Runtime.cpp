//===- Runtime.cpp - compile an MLIR function and run it on host arrays ---===//
//
// See kvshift/Runtime/Runtime.h. The calling convention is MLIR's packed
// interface (ExecutionEngine::lookupPacked): one pointer per i64 word of each
// argument's expanded memref descriptor (or per scalar), then one pointer to
// the struct of results.
//
//===----------------------------------------------------------------------===//

#include "kvshift/Runtime/Runtime.h"
#include "kvshift/Runtime/RuntimeErrors.h"

#include "kvshift/Dialect/KVShift/Transforms/Passes.h"
#include "kvshift/InitAll.h"
#include "kvshift/Pipelines/Pipelines.h"
#include "kvshift/Support/ParserWorkarounds.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/ExecutionEngine/ExecutionEngine.h"
#include "mlir/ExecutionEngine/OptUtils.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Transforms/Passes.h"

#include "llvm/ADT/DenseSet.h"
#include "llvm/ExecutionEngine/Orc/JITTargetMachineBuilder.h"
#include "llvm/Target/TargetMachine.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/TargetSelect.h"
#include "llvm/Support/raw_ostream.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csetjmp>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <optional>
#include <dlfcn.h>
#include <unistd.h>

using namespace mlir;
using namespace mlir::kvshift::runtime;

static llvm::Error error(const llvm::Twine &msg) {
  std::string text = msg.str();
  std::replace(text.begin(), text.end(), '\n', ' ');
  return llvm::createStringError(llvm::inconvertibleErrorCode(), text);
}

static std::string str(Type t) {
  std::string s;
  llvm::raw_string_ostream os(s);
  os << t;
  return s;
}

//===----------------------------------------------------------------------===//
// Dtypes
//===----------------------------------------------------------------------===//



DType mlir::kvshift::runtime::carrierOf(ElementType elt) {
  switch (elt) {
  case ElementType::F16:
    return DType::F16;
  case ElementType::BF16:
  case ElementType::F32:
    return DType::F32;
  case ElementType::F64:
    return DType::F64;
  case ElementType::I32:
    return DType::I32;
  case ElementType::I64:
    return DType::I64;
  }
  return DType::F32;
}


static size_t elementSize(ElementType e) {
  switch (e) {
  case ElementType::F16:
  case ElementType::BF16:
    return 2;
  case ElementType::F32:
  case ElementType::I32:
    return 4;
  case ElementType::F64:
  case ElementType::I64:
    return 8;
  }
  return 0;
}

static std::optional<ElementType> elementTypeOf(Type t) {
  if (t.isF16())
    return ElementType::F16;
  if (t.isBF16())
    return ElementType::BF16;
  if (t.isF32())
    return ElementType::F32;
  if (t.isF64())
    return ElementType::F64;
  if (t.isSignlessInteger(32) || t.isSignedInteger(32))
    return ElementType::I32;
  if (t.isSignlessInteger(64) || t.isSignedInteger(64))
    return ElementType::I64;
  return std::nullopt;
}

static std::optional<ValueInfo> valueInfoOf(Type type) {
  if (auto shaped = dyn_cast<ShapedType>(type)) {
    if (!isa<RankedTensorType, MemRefType>(type) || !shaped.hasRank())
      return std::nullopt;
    if (auto memref = dyn_cast<MemRefType>(type))
      if (!memref.getLayout().isIdentity())
        return std::nullopt;
    auto elt = elementTypeOf(shaped.getElementType());
    if (!elt)
      return std::nullopt;
    std::vector<int64_t> shape;
    for (int64_t d : shaped.getShape())
      shape.push_back(ShapedType::isDynamic(d) ? -1 : d);
    return ValueInfo{str(type), *elt, true, shape};
  }
  // An index scalar travels as i64 (64-bit hosts).
  if (type.isIndex())
    return ValueInfo{str(type), ElementType::I64, false, {}};
  auto elt = elementTypeOf(type);
  if (!elt)
    return std::nullopt;
  return ValueInfo{str(type), *elt, false, {}};
}

static uint16_t floatToBF16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) // NaN: keep it quiet and NaN
    return static_cast<uint16_t>((u >> 16) | 0x0040u);
  u += 0x7fffu + ((u >> 16) & 1u); // round to nearest even
  return static_cast<uint16_t>(u >> 16);
}

static float bf16ToFloat(uint16_t h) {
  uint32_t u = static_cast<uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

//===----------------------------------------------------------------------===//
// Checked allocation. Every malloc of the compiled code goes through
// kvshiftCheckedMalloc: a buffer larger than the limit (physical memory, or
// Options::memoryLimit) or one the system refuses ends the run with an error.
// On the thread that called run(), the error unwinds to run() with longjmp
// (the compiled code holds no C++ objects; the buffers it allocated before
// are freed). Inside an OpenMP parallel region (on a worker or on the calling
// thread) there is nowhere to unwind to: the message is printed and the
// process exits with status 1.
//===----------------------------------------------------------------------===//

static std::atomic<uint64_t> gMemoryLimit{UINT64_MAX};
// One run at a time per process: the allocation registry below is global.
static std::mutex gRunMutex;
// The heap buffers the compiled code holds during a run (malloc'ed and not
// yet freed), so that a run that fails half-way frees them.
static std::mutex gAllocMutex;
static llvm::DenseSet<void *> *gLiveAllocs = nullptr;
static thread_local std::jmp_buf *tlsJump = nullptr;
static thread_local std::string *tlsError = nullptr;

/// Writes "3.5 GiB" / "12.0 MiB" / "4064 bytes" into buf.
static void formatBytes(char *buf, size_t size, uint64_t n) {
  if (n >= (1ull << 30))
    std::snprintf(buf, size, "%.1f GiB", n / double(1ull << 30));
  else if (n >= (1ull << 20))
    std::snprintf(buf, size, "%.1f MiB", n / double(1ull << 20));
  else
    std::snprintf(buf, size, "%llu bytes", (unsigned long long)n);
}

static std::string &fatalPrefix() {
  static std::string prefix = "kvshift runtime";
  return prefix;
}

void mlir::kvshift::runtime::setFatalErrorPrefix(StringRef prefix) {
  fatalPrefix() = prefix.str();
}

/// Reports a failed allocation. No object with a destructor may live in the
/// frames between run() and here (longjmp skips destructors): the message is
/// a plain character buffer.
/// True inside an OpenMP parallel region (libomp, when the JIT loaded it):
/// leaving one with longjmp would leave the other threads of the team at
/// its barrier.
static bool inOpenMPRegion() {
  using LevelFn = int (*)();
  static LevelFn level =
      reinterpret_cast<LevelFn>(dlsym(RTLD_DEFAULT, "omp_get_level"));
  return level && level() > 0;
}

/// Ends the run with `msg` (a failed allocation or run-time check).
[[noreturn]] static void allocationFailed(const char *msg) {
  if (tlsJump && tlsError && !inOpenMPRegion()) {
    *tlsError = msg;
    std::longjmp(*tlsJump, 1);
  }
  std::fprintf(stderr, "%s: error: %s\n", fatalPrefix().c_str(), msg);
  std::fflush(stderr);
  std::_Exit(1);
}

extern "C" void *kvshiftCheckedMalloc(size_t n) {
  uint64_t limit = gMemoryLimit.load(std::memory_order_relaxed);
  char asked[32], allowed[32], msg[256];
  if (n > limit) {
    formatBytes(asked, sizeof(asked), n);
    formatBytes(allowed, sizeof(allowed), limit);
    std::snprintf(msg, sizeof(msg),
                  "the compiled function asked for a buffer of %s, more than "
                  "the %s allowed (physical memory, or the memory limit); the "
                  "shapes are too large for this pipeline",
                  asked, allowed);
    allocationFailed(msg);
  }
  void *p = std::malloc(n);
  if (!p && n) {
    formatBytes(asked, sizeof(asked), n);
    std::snprintf(msg, sizeof(msg),
                  "cannot allocate a buffer of %s (out of memory)", asked);
    allocationFailed(msg);
  }
  if (p) {
    std::lock_guard<std::mutex> lock(gAllocMutex);
    if (gLiveAllocs)
      gLiveAllocs->insert(p);
  }
  return p;
}

/// The hook of kvshift-insert-runtime-checks: a KV-cache position or length
/// out of range ends the run with an error.
extern "C" void kvshiftRuntimeError(int64_t code, int64_t a, int64_t b,
                                    int64_t c) {
  char msg[256];
  mlir::kvshift::runtime::formatRuntimeError(code, a, b, c, msg, sizeof(msg));
  allocationFailed(msg);
}

extern "C" void kvshiftCheckedFree(void *p) {
  if (!p)
    return;
  {
    std::lock_guard<std::mutex> lock(gAllocMutex);
    if (gLiveAllocs)
      gLiveAllocs->erase(p);
  }
  std::free(p);
}

/// Calls `fn`; returns false (with `message` set) when an allocation failed.
/// No C++ object with a destructor lives in this frame across setjmp.
static bool callGuarded(void (*fn)(void **), void **packed,
                        std::string *message) {
  std::jmp_buf jump;
  std::jmp_buf *savedJump = tlsJump;
  std::string *savedError = tlsError;
  if (setjmp(jump)) {
    tlsJump = savedJump;
    tlsError = savedError;
    return false;
  }
  tlsJump = &jump;
  tlsError = message;
  fn(packed);
  tlsJump = savedJump;
  tlsError = savedError;
  return true;
}

//===----------------------------------------------------------------------===//
// Buffers and descriptors
//===----------------------------------------------------------------------===//

namespace {

/// A 64-byte aligned heap buffer.
struct AlignedBuffer {
  void *ptr = nullptr;
  size_t bytes = 0;
  AlignedBuffer() = default;
  AlignedBuffer(const AlignedBuffer &) = delete;
  AlignedBuffer &operator=(const AlignedBuffer &) = delete;
  AlignedBuffer(AlignedBuffer &&o) noexcept : ptr(o.ptr), bytes(o.bytes) {
    o.ptr = nullptr;
    o.bytes = 0;
  }
  AlignedBuffer &operator=(AlignedBuffer &&o) noexcept {
    std::swap(ptr, o.ptr);
    std::swap(bytes, o.bytes);
    return *this;
  }
  ~AlignedBuffer() { std::free(ptr); }

  llvm::Error allocate(size_t n) {
    size_t rounded = std::max<size_t>(64, (n + 63) / 64 * 64);
    ptr = std::aligned_alloc(64, rounded);
    bytes = n;
    if (!ptr)
      return error("cannot allocate " + llvm::Twine(n) +
                   " bytes for an argument");
    return llvm::Error::success();
  }
};

/// An argument ready to be passed: a pristine copy in the function's element
/// type, restored into `work` before every run (a function may update an
/// argument in place), and the words of its expanded memref descriptor.
struct BoundArg {
  const ValueInfo *info;
  std::vector<int64_t> shape;
  AlignedBuffer pristine, work;
  /// The buffer passed to the function: work.ptr, or the caller's array in
  /// an in-place run.
  void *data = nullptr;
  std::vector<int64_t> words;
};

void buildWords(BoundArg &arg) {
  arg.words.clear();
  if (!arg.info->isBuffer) {
    int64_t bits = 0;
    std::memcpy(&bits, arg.data, elementSize(arg.info->element));
    arg.words.push_back(bits);
    return;
  }
  int64_t ptr = reinterpret_cast<int64_t>(arg.data);
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

size_t descriptorWords(const ValueInfo &v) { return 3 + 2 * v.shape.size(); }

struct ResultLayout {
  std::vector<size_t> offsets;
  size_t size = 0;
};

ResultLayout layoutResults(ArrayRef<ValueInfo> results) {
  ResultLayout layout;
  for (const ValueInfo &r : results) {
    size_t sz = r.isBuffer ? 8 * descriptorWords(r) : elementSize(r.element);
    size_t align = r.isBuffer ? 8 : elementSize(r.element);
    layout.size = (layout.size + align - 1) / align * align;
    layout.offsets.push_back(layout.size);
    layout.size += sz;
  }
  layout.size = (layout.size + 7) / 8 * 8;
  return layout;
}

/// Reads the result at `base` (a memref descriptor or a scalar) into a
/// C-order array of its carrier dtype.
HostArray readResult(const ValueInfo &info, const char *base) {
  HostArray out;
  out.dtype = carrierOf(info.element);
  size_t outElt = dtypeSize(out.dtype), inElt = elementSize(info.element);
  auto convertOne = [&](const char *src, char *dst) {
    if (info.element == ElementType::BF16) {
      uint16_t h;
      std::memcpy(&h, src, 2);
      float f = bf16ToFloat(h);
      std::memcpy(dst, &f, 4);
    } else {
      std::memcpy(dst, src, inElt);
    }
  };
  if (!info.isBuffer) {
    out.data.resize(outElt);
    convertOne(base, out.data.data());
    return out;
  }
  int64_t rank = info.shape.size();
  const int64_t *w = reinterpret_cast<const int64_t *>(base);
  const char *aligned = reinterpret_cast<const char *>(w[1]);
  int64_t offset = w[2];
  out.shape.assign(w + 3, w + 3 + rank);
  std::vector<int64_t> strides(w + 3 + rank, w + 3 + 2 * rank);
  int64_t n = 1;
  for (int64_t d : out.shape)
    n *= d;
  out.data.resize((size_t)n * outElt);
  if (n == 0)
    return out;
  std::vector<int64_t> index(rank, 0);
  for (int64_t linear = 0; linear < n; ++linear) {
    int64_t src = offset;
    for (int64_t d = 0; d < rank; ++d)
      src += index[d] * strides[d];
    convertOne(aligned + src * inElt, out.data.data() + linear * outElt);
    for (int64_t d = rank; d-- > 0;) {
      if (++index[d] < out.shape[d])
        break;
      index[d] = 0;
    }
  }
  return out;
}

/// Frees the buffers the entry returned (owned by the caller after the
/// pipeline's ownership-based deallocation), never an input buffer and never
/// the same buffer twice.
void freeResults(ArrayRef<ValueInfo> results, const ResultLayout &layout,
                 const char *storage, ArrayRef<BoundArg> args) {
  SmallVector<void *> freed;
  for (auto [info, offset] : llvm::zip(results, layout.offsets)) {
    if (!info.isBuffer)
      continue;
    void *allocated = reinterpret_cast<void *>(
        *reinterpret_cast<const int64_t *>(storage + offset));
    if (!allocated || llvm::is_contained(freed, allocated))
      continue;
    if (llvm::any_of(args,
                     [&](const BoundArg &a) { return a.data == allocated; }))
      continue;
    freed.push_back(allocated);
    std::free(allocated);
  }
}

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

} // namespace

//===----------------------------------------------------------------------===//
// Executable
//===----------------------------------------------------------------------===//

/// libkvshift_cuda_runtime, opened for target "cuda".
struct CudaRuntime {
  std::string path;
  int (*probe)(char *, size_t) = nullptr;
  int (*takeError)(char *, size_t) = nullptr;

  /// Loads the library and checks for a device. The library stays loaded
  /// for the life of the process (the JIT-compiled code calls into it).
  llvm::Error load(const std::string &requested) {
    path = requested;
    if (path.empty())
      if (const char *env = std::getenv("KVSHIFT_CUDA_RUNTIME"))
        path = env;
#ifdef KVSHIFT_CUDA_RUNTIME_PATH
    if (path.empty())
      path = KVSHIFT_CUDA_RUNTIME_PATH;
#endif
    if (path.empty())
      return error("no CUDA device support in this build: it has no CUDA "
                   "runtime library (the CUDA toolkit was not found when it "
                   "was configured; see docs/GPU.md)");
    void *handle = dlopen(path.c_str(), RTLD_NOW | RTLD_GLOBAL);
    if (!handle)
      return error("target cuda: cannot load the CUDA runtime library " +
                   path + ": " + llvm::StringRef(dlerror()));
    probe = reinterpret_cast<int (*)(char *, size_t)>(
        dlsym(handle, "kvshift_cuda_probe"));
    takeError = reinterpret_cast<int (*)(char *, size_t)>(
        dlsym(handle, "kvshift_cuda_take_error"));
    if (!probe || !takeError)
      return error("target cuda: " + path +
                   " is not kvshift's CUDA runtime (kvshift_cuda_probe or "
                   "kvshift_cuda_take_error missing)");
    char msg[512] = {0};
    if (probe(msg, sizeof(msg)) != 0)
      return error(llvm::StringRef(msg).empty() ? "no CUDA device"
                                                : llvm::StringRef(msg));
    return llvm::Error::success();
  }

  /// The first CUDA error since the last call, as an llvm::Error.
  llvm::Error check(llvm::StringRef when) {
    char msg[512] = {0};
    if (takeError && takeError(msg, sizeof(msg)) != 0)
      return error("CUDA error " + when + ": " + llvm::StringRef(msg));
    return llvm::Error::success();
  }
};

struct Executable::Impl {
  Options options;
  std::optional<CudaRuntime> cuda;
  std::string pipeline;
  MLIRContext context;
  FirstError diag;
  std::optional<ScopedDiagnosticHandler> handler;
  OwningOpRef<ModuleOp> module;
  /// The unlowered module, kept for checkShapesFit when the entry has
  /// dynamic dimensions.
  OwningOpRef<ModuleOp> original;
  bool lowered = false; // the entry is already an llvm.func
  FunctionType signature;
  std::vector<ValueInfo> arguments, results;
  /// Per result: the argument whose buffer receives it (kvshift.tied_results
  /// of the lowered entry), or -1 when the lowered entry returns it.
  std::vector<int64_t> tied;
  /// The lowered entry said which results are tied (a kvshift pipeline
  /// lowered it): its other arguments are read-only.
  bool hasTieInfo = false;
  std::unique_ptr<ExecutionEngine> engine;
  void (*fn)(void **) = nullptr;

  explicit Impl(DialectRegistry &registry) : context(registry) {}
};

/// Registers kvshift's passes and initialises the native target, once per
/// process.
static void initializeOnce() {
  static std::once_flag once;
  std::call_once(once, [] {
    kvshift::registerAllPasses();
    llvm::InitializeNativeTarget();
    llvm::InitializeNativeTargetAsmPrinter();
  });
}

/// Parses `source` into a module of `context`; `diag` collects the first
/// error. Text that would crash MLIR 22's own parsers is refused first.
static llvm::Expected<OwningOpRef<ModuleOp>>
parseModule(StringRef source, StringRef bufferName, MLIRContext &context,
            FirstError &diag) {
  if (auto crash = kvshift::findKnownParserCrash(source))
    return error("cannot parse '" + bufferName + "': " + bufferName + ":" +
                 kvshift::lineColumnOf(source, crash->first) + ": " +
                 crash->second);
  llvm::SourceMgr sourceMgr;
  sourceMgr.AddNewSourceBuffer(
      llvm::MemoryBuffer::getMemBufferCopy(source, bufferName), llvm::SMLoc());
  OwningOpRef<ModuleOp> module = parseSourceFile<ModuleOp>(sourceMgr, &context);
  if (!module)
    return error("cannot parse '" + bufferName + "': " +
                 (diag.text.empty() ? std::string("invalid MLIR") : diag.text));
  return std::move(module);
}

/// Parses a registered pipeline name or a textual pipeline onto `pm`, which
/// is anchored on builtin.module (a `builtin.module(...)` wrapper is
/// stripped: nesting it again would silently run nothing).
static llvm::Error addPipeline(PassManager &pm, StringRef pipeline) {
  StringRef ref = pipeline;
  if (ref.consume_front("builtin.module(") && ref.consume_back(")"))
    pipeline = ref;
  std::string err;
  llvm::raw_string_ostream errStream(err);
  if (failed(parsePassPipeline(pipeline, pm, errStream)))
    return error(StringRef(errStream.str()).trim());
  return llvm::Error::success();
}

Executable::Executable() {
  initializeOnce();
  DialectRegistry registry;
  kvshift::registerAllDialects(registry);
  impl = std::make_unique<Impl>(registry);
  impl->context.loadAllAvailableDialects();
  impl->handler.emplace(&impl->context, [this](Diagnostic &d) {
    impl->diag.record(d);
    return success();
  });
}

Executable::~Executable() = default;

const std::string &Executable::entry() const { return impl->options.entry; }
ArrayRef<ValueInfo> Executable::arguments() const { return impl->arguments; }
ArrayRef<ValueInfo> Executable::results() const { return impl->results; }
const std::string &Executable::pipeline() const { return impl->pipeline; }

llvm::Expected<std::unique_ptr<Executable>>
Executable::parse(StringRef source, StringRef bufferName,
                  const Options &options) {
  std::unique_ptr<Executable> exe(new Executable());
  Impl &I = *exe->impl;
  I.options = options;
  bool cuda = options.target == "cuda";
  if (!cuda && options.target != "cpu")
    return error("target '" + options.target + "': expected cpu or cuda");
  I.pipeline = !options.pipeline.empty() ? options.pipeline
               : cuda                     ? kvshift::kNVVMPipeline.str()
                                          : kvshift::kFusedCPUPipeline.str();
  const std::string &entryName = options.entry;
  if (entryName.empty())
    return error("no entry function named");
  if (cuda) {
    I.cuda.emplace();
    if (llvm::Error e = I.cuda->load(options.cudaRuntime))
      return std::move(e);
  }

  auto moduleOrErr = parseModule(source, bufferName, I.context, I.diag);
  if (!moduleOrErr)
    return moduleOrErr.takeError();
  I.module = std::move(*moduleOrErr);

  Operation *entry = SymbolTable::lookupSymbolIn(*I.module, entryName);
  if (auto func = dyn_cast_or_null<func::FuncOp>(entry)) {
    if (func.isExternal())
      return error("@" + entryName + " is only a declaration, it has no body");
    I.signature = func.getFunctionType();
    if (auto attr = func->getAttrOfType<TypeAttr>(kvshift::kSignatureAttrName))
      I.signature = dyn_cast<FunctionType>(attr.getValue());
  } else if (auto llvmFunc = dyn_cast_or_null<LLVM::LLVMFuncOp>(entry)) {
    I.lowered = true;
    auto attr = llvmFunc->getAttrOfType<TypeAttr>(kvshift::kSignatureAttrName);
    if (!attr || !isa<FunctionType>(attr.getValue()))
      return error("@" + entryName +
                   " is already an llvm.func but carries no kvshift.signature "
                   "attribute, so its arguments cannot be bound: lower it "
                   "with kvshift-opt --kvshift-to-llvm-cpu or pass the "
                   "unlowered file");
    I.signature = cast<FunctionType>(attr.getValue());
  } else {
    std::string names;
    I.module->walk([&](Operation *op) {
      bool external = false;
      if (auto f = dyn_cast<func::FuncOp>(op))
        external = f.isExternal();
      else if (auto f = dyn_cast<LLVM::LLVMFuncOp>(op))
        external = f.isExternal();
      else
        return;
      auto sym =
          op->getAttrOfType<StringAttr>(SymbolTable::getSymbolAttrName());
      if (sym && !external)
        names += (names.empty() ? "@" : ", @") + sym.getValue().str();
    });
    return error("no function @" + entryName + " in '" + bufferName + "'" +
                 (names.empty() ? std::string(" (it defines no function)")
                                : " (functions: " + names + ")"));
  }

  for (auto [i, t] : llvm::enumerate(I.signature.getInputs())) {
    auto info = valueInfoOf(t);
    if (!info)
      return error("argument #" + llvm::Twine(i) + " of @" + entryName +
                   " has type " + str(t) +
                   ", which cannot be bound (supported: ranked tensors and "
                   "identity-layout memrefs of f32, f16, bf16, f64, i32, "
                   "i64, and scalars of those types)");
    I.arguments.push_back(*info);
  }
  for (auto [i, t] : llvm::enumerate(I.signature.getResults())) {
    auto info = valueInfoOf(t);
    if (!info)
      return error("result #" + llvm::Twine(i) + " of @" + entryName +
                   " has type " + str(t) +
                   ", which cannot be returned (supported: ranked tensors "
                   "and memrefs of f32, f16, bf16, f64, i32, i64, and "
                   "scalars)");
    I.results.push_back(*info);
  }
  bool anyDynamic = llvm::any_of(I.arguments, [](const ValueInfo &v) {
    return llvm::is_contained(v.shape, -1);
  });
  if (anyDynamic && !I.lowered)
    I.original = cast<ModuleOp>(I.module->getOperation()->clone());
  return std::move(exe);
}

llvm::Error Executable::checkInput(unsigned i, const HostArrayRef &array) const {
  if (i >= impl->arguments.size())
    return error("@" + entry() + " has no argument #" + llvm::Twine(i));
  const ValueInfo &info = impl->arguments[i];
  DType want = carrierOf(info.element);
  if (array.dtype != want)
    return error("expected dtype " + dtypeName(want) +
                 (info.element == ElementType::BF16
                      ? " (bf16 is read from float32)"
                      : "") +
                 ", found " + dtypeName(array.dtype));
  if (!info.isBuffer) {
    if (!array.shape.empty())
      return error("expected a 0-d array for a scalar argument, found shape " +
                   shapeString(array.shape));
    return llvm::Error::success();
  }
  if (array.shape.size() != info.shape.size())
    return error("expected rank " + llvm::Twine(info.shape.size()) +
                 ", found rank " + llvm::Twine(array.shape.size()) +
                 " (shape " + shapeString(array.shape) + ")");
  for (size_t d = 0; d < info.shape.size(); ++d) {
    if (array.shape[d] < 0)
      return error("dimension " + llvm::Twine(d) + " is negative in shape " +
                   shapeString(array.shape));
    if (info.shape[d] >= 0 && info.shape[d] != array.shape[d])
      return error("dimension " + llvm::Twine(d) + " must be " +
                   llvm::Twine(info.shape[d]) + ", found shape " +
                   shapeString(array.shape));
  }
  return llvm::Error::success();
}

llvm::Error
Executable::checkShapesFit(ArrayRef<HostArrayRef> inputs) const {
  Impl &I = *impl;
  if (!I.original)
    return llvm::Error::success();
  const std::string &entryName = I.options.entry;
  OwningOpRef<ModuleOp> probe =
      cast<ModuleOp>(I.original->getOperation()->clone());
  auto probeFunc =
      cast<func::FuncOp>(SymbolTable::lookupSymbolIn(*probe, entryName));
  Block &entryBlock = probeFunc.getBody().front();
  OpBuilder b = OpBuilder::atBlockBegin(&entryBlock);
  SmallVector<Type> newInputs;
  for (auto [i, arg] : llvm::enumerate(entryBlock.getArguments())) {
    auto rt = dyn_cast<RankedTensorType>(arg.getType());
    if (!rt || rt.hasStaticShape() || i >= inputs.size() ||
        inputs[i].shape.size() != (size_t)rt.getRank()) {
      newInputs.push_back(arg.getType());
      continue;
    }
    auto staticType = RankedTensorType::get(inputs[i].shape, rt.getElementType());
    arg.setType(staticType);
    auto cast = tensor::CastOp::create(b, arg.getLoc(), rt, arg);
    arg.replaceAllUsesExcept(cast.getResult(), cast);
    newInputs.push_back(staticType);
  }
  probeFunc.setFunctionType(
      FunctionType::get(&I.context, newInputs,
                        probeFunc.getFunctionType().getResults()));
  PassManager pm(&I.context);
  pm.addPass(createCanonicalizerPass());
  I.diag.text.clear();
  if (failed(pm.run(*probe)) || failed(verify(*probe))) {
    std::string why = I.diag.text.empty() ? std::string("verification failed")
                                          : I.diag.text;
    I.diag.text.clear();
    return error("the input shapes do not fit @" + entryName + ": " + why);
  }
  I.diag.text.clear();
  return llvm::Error::success();
}

llvm::Error Executable::compile() {
  Impl &I = *impl;
  if (I.fn)
    return llvm::Error::success();
  const std::string &entryName = I.options.entry;
  if (!I.lowered) {
    PassManager pm(&I.context);
    if (llvm::Error e = addPipeline(pm, I.pipeline))
      return error("pipeline '" + I.pipeline +
                   "': " + llvm::toString(std::move(e)) +
                   " (registered pipelines: kvshift-to-llvm-cpu, "
                   "kvshift-to-llvm-cpu-fused, kvshift-to-nvvm)");
    I.diag.text.clear();
    if (failed(pm.run(*I.module)))
      return error("lowering with pipeline '" + I.pipeline + "' failed: " +
                   (I.diag.text.empty() ? std::string("unknown error")
                                        : I.diag.text));
  }
  auto llvmEntry = dyn_cast_or_null<LLVM::LLVMFuncOp>(
      SymbolTable::lookupSymbolIn(*I.module, entryName));
  if (!llvmEntry)
    return error("after pipeline '" + I.pipeline + "', @" + entryName +
                 " is not an llvm.func: the pipeline must lower to the LLVM "
                 "dialect");
  Operation *notLLVM = nullptr;
  I.module->walk([&](Operation *op) {
    if (!notLLVM && op != I.module->getOperation() &&
        !isa<LLVM::LLVMDialect>(op->getDialect()) &&
        op->getDialect()->getNamespace() != "omp")
      notLLVM = op;
  });
  if (notLLVM)
    return error("after pipeline '" + I.pipeline +
                 "' the module still holds '" +
                 notLLVM->getName().getStringRef() +
                 "' ops, which cannot be compiled: the pipeline must lower "
                 "everything to the LLVM dialect");
  I.tied.assign(I.results.size(), -1);
  I.hasTieInfo = false;
  if (auto tied =
          llvmEntry->getAttrOfType<DenseI64ArrayAttr>(kvshift::kTiedResultsAttrName)) {
    if (tied.size() != static_cast<int64_t>(I.results.size()))
      return error("@" + entryName + ": kvshift.tied_results lists " +
                   llvm::Twine(tied.size()) + " results, the signature has " +
                   llvm::Twine(I.results.size()));
    for (auto [r, a] : llvm::enumerate(tied.asArrayRef())) {
      if (a < 0)
        continue;
      if (a >= static_cast<int64_t>(I.arguments.size()) ||
          I.arguments[a].type != I.results[r].type)
        return error("@" + entryName + ": kvshift.tied_results ties result #" +
                     llvm::Twine(r) + " to argument #" + llvm::Twine(a) +
                     ", which does not have its type");
      I.tied[r] = a;
    }
    I.hasTieInfo = true;
  }
  size_t expectedParams = 0;
  for (const ValueInfo &v : I.arguments)
    expectedParams += v.isBuffer ? descriptorWords(v) : 1;
  if (llvmEntry.getNumArguments() != expectedParams)
    return error("lowered @" + entryName + " takes " +
                 llvm::Twine(llvmEntry.getNumArguments()) +
                 " parameters, but its signature " + str(I.signature) +
                 " implies " + llvm::Twine(expectedParams) +
                 " (expanded memref descriptors)");

  ExecutionEngineOptions engineOptions;
  // The host target machine gives LLVM's optimizer the target's vector
  // registers (TargetTransformInfo): without it the loop vectorizer leaves
  // the scalar loops of the lowered module scalar. Null if the host cannot
  // be described (the optimizer then runs target-independent, as before).
  std::unique_ptr<llvm::TargetMachine> hostMachine;
  if (auto builder = llvm::orc::JITTargetMachineBuilder::detectHost()) {
    builder->setCodeGenOptLevel(llvm::CodeGenOptLevel::Aggressive);
    if (auto tm = builder->createTargetMachine())
      hostMachine = std::move(*tm);
    else
      llvm::consumeError(tm.takeError());
  } else {
    llvm::consumeError(builder.takeError());
  }
  auto transformer = makeOptimizingTransformer(/*optLevel=*/3,
                                               /*sizeLevel=*/0,
                                               hostMachine.get());
  engineOptions.transformer = transformer;
  engineOptions.jitCodeGenOptLevel = llvm::CodeGenOptLevel::Aggressive;
  SmallVector<StringRef> libs;
  std::string runnerUtils =
      std::string(KVSHIFT_MLIR_LIB_DIR) + "/libmlir_c_runner_utils.so";
  if (llvm::sys::fs::exists(runnerUtils))
    libs.push_back(runnerUtils);
  // The OpenMP runtime, for modules with parallel loops.
  std::string openmp = std::string(KVSHIFT_MLIR_LIB_DIR) + "/libomp.so";
  bool usesOpenMP = false;
  I.module->walk([&](Operation *op) {
    if (auto f = dyn_cast<LLVM::LLVMFuncOp>(op))
      usesOpenMP |= f.isExternal() && f.getName().starts_with("__kmpc_");
    else if (op->getDialect() && op->getDialect()->getNamespace() == "omp")
      usesOpenMP = true;
  });
  if (usesOpenMP) {
    if (!llvm::sys::fs::exists(openmp))
      return error("the module runs OpenMP parallel loops but the OpenMP "
                   "runtime " +
                   openmp + " is missing (apt-get install libomp-22-dev)");
    libs.push_back(openmp);
  }
  if (I.cuda)
    libs.push_back(I.cuda->path);
  engineOptions.sharedLibPaths = libs;
  I.diag.text.clear();
  auto engineOrErr = ExecutionEngine::create(*I.module, engineOptions);
  if (!engineOrErr)
    return error("cannot JIT-compile the module: " +
                 llvm::toString(engineOrErr.takeError()) +
                 (I.diag.text.empty() ? std::string()
                                      : " (" + I.diag.text + ")"));
  I.engine = std::move(*engineOrErr);
  I.engine->registerSymbols([](llvm::orc::MangleAndInterner interner) {
    llvm::orc::SymbolMap map;
    map[interner("malloc")] = {
        llvm::orc::ExecutorAddr::fromPtr(&kvshiftCheckedMalloc),
        llvm::JITSymbolFlags::Exported};
    map[interner("free")] = {
        llvm::orc::ExecutorAddr::fromPtr(&kvshiftCheckedFree),
        llvm::JITSymbolFlags::Exported};
    map[interner(kvshift::kRuntimeErrorFn)] = {
        llvm::orc::ExecutorAddr::fromPtr(&kvshiftRuntimeError),
        llvm::JITSymbolFlags::Exported};
    return map;
  });
  auto fnOrErr = I.engine->lookupPacked(entryName);
  if (!fnOrErr)
    return error("cannot find the compiled @" + entryName + ": " +
                 llvm::toString(fnOrErr.takeError()));
  if (I.cuda)
    if (llvm::Error e = I.cuda->check("while loading the module"))
      return e;
  I.fn = *fnOrErr;
  // The unlowered copy is still needed by checkShapesFit; the lowered module
  // is not needed any more once the engine holds the code.
  return llvm::Error::success();
}

llvm::Expected<std::vector<HostArray>>
Executable::run(ArrayRef<HostArrayRef> inputs, unsigned repeat,
                RunTimes *times) {
  return runImpl(inputs, repeat, times, /*inPlace=*/false);
}

llvm::Expected<std::vector<HostArray>>
Executable::runInPlace(ArrayRef<HostArrayRef> inputs, unsigned repeat,
                       RunTimes *times) {
  return runImpl(inputs, repeat, times, /*inPlace=*/true);
}

llvm::Expected<llvm::SmallVector<int64_t>> Executable::tiedArguments() {
  if (llvm::Error e = compile())
    return std::move(e);
  return llvm::SmallVector<int64_t>(impl->tied.begin(), impl->tied.end());
}

llvm::Expected<std::vector<HostArray>>
Executable::runImpl(ArrayRef<HostArrayRef> inputs, unsigned repeat,
                    RunTimes *times, bool inPlace) {
  Impl &I = *impl;
  if (repeat == 0)
    return error("the repeat count must be at least 1");
  if (inputs.size() != I.arguments.size())
    return error("@" + I.options.entry + " takes " +
                 llvm::Twine(I.arguments.size()) + " argument(s), got " +
                 llvm::Twine(inputs.size()));
  for (auto [i, array] : llvm::enumerate(inputs))
    if (llvm::Error e = checkInput(i, array))
      return error("argument #" + llvm::Twine(i) + " of @" + I.options.entry +
                   " (" + I.arguments[i].type +
                   "): " + llvm::toString(std::move(e)));
  if (llvm::Error e = checkShapesFit(inputs))
    return std::move(e);
  if (llvm::Error e = compile())
    return std::move(e);
  if (inPlace) {
    if (!I.hasTieInfo)
      return error("@" + I.options.entry +
                   " cannot run in place: it was not lowered by a kvshift "
                   "pipeline (no kvshift.tied_results), so the compiled code "
                   "may write into any argument");
    for (auto [i, info] : llvm::enumerate(I.arguments))
      if (info.element == ElementType::BF16)
        return error("argument #" + llvm::Twine(i) + " of @" +
                     I.options.entry + " (" + info.type +
                     "): an in-place run passes arrays as they are, and bf16 "
                     "values travel as float32; use a copying run");
  }

  std::vector<BoundArg> args(inputs.size());
  for (auto [i, array] : llvm::enumerate(inputs)) {
    BoundArg &arg = args[i];
    arg.info = &I.arguments[i];
    arg.shape.assign(array.shape.begin(), array.shape.end());
    if (inPlace) {
      // Read-only unless tied (kvshift-tie-results): the compiled code only
      // writes into the buffers of tied arguments.
      arg.data = const_cast<void *>(array.data);
      continue;
    }
    int64_t n = 1;
    for (int64_t d : arg.shape)
      n *= d;
    size_t bytes = (size_t)n * elementSize(arg.info->element);
    if (llvm::Error e = arg.pristine.allocate(bytes))
      return std::move(e);
    if (llvm::Error e = arg.work.allocate(bytes))
      return std::move(e);
    arg.data = arg.work.ptr;
    if (arg.info->element == ElementType::BF16) {
      auto *dst = static_cast<uint16_t *>(arg.pristine.ptr);
      const auto *src = static_cast<const float *>(array.data);
      for (int64_t k = 0; k < n; ++k)
        dst[k] = floatToBF16(src[k]);
    } else if (bytes) {
      std::memcpy(arg.pristine.ptr, array.data, bytes);
    }
  }

  uint64_t limit = I.options.memoryLimit;
  if (limit == 0) {
    long pages = sysconf(_SC_PHYS_PAGES), pageSize = sysconf(_SC_PAGESIZE);
    limit = pages > 0 && pageSize > 0
                ? static_cast<uint64_t>(pages) * pageSize
                : UINT64_MAX;
  }
  std::lock_guard<std::mutex> runLock(gRunMutex);
  gMemoryLimit.store(limit, std::memory_order_relaxed);
  llvm::DenseSet<void *> live;
  struct Registry {
    explicit Registry(llvm::DenseSet<void *> *set) {
      std::lock_guard<std::mutex> lock(gAllocMutex);
      gLiveAllocs = set;
    }
    ~Registry() {
      std::lock_guard<std::mutex> lock(gAllocMutex);
      gLiveAllocs = nullptr;
    }
  } registry(&live);

  // The lowered entry returns the results that are not tied to an argument.
  std::vector<ValueInfo> returned;
  for (auto [r, info] : llvm::enumerate(I.results))
    if (I.tied[r] < 0)
      returned.push_back(info);
  ResultLayout layout = layoutResults(returned);
  std::vector<int64_t> storage(std::max<size_t>(1, layout.size / 8), 0);
  const char *storageBytes = reinterpret_cast<const char *>(storage.data());
  for (unsigned run = 0; run < repeat; ++run) {
    if (run > 0)
      freeResults(returned, layout, storageBytes, args);
    std::vector<void *> packed;
    for (BoundArg &a : args) {
      if (!inPlace && a.pristine.bytes)
        std::memcpy(a.work.ptr, a.pristine.ptr, a.pristine.bytes);
      buildWords(a);
      for (int64_t &w : a.words)
        packed.push_back(&w);
    }
    if (!returned.empty())
      packed.push_back(storage.data());
    std::string message;
    {
      std::lock_guard<std::mutex> lock(gAllocMutex);
      live.clear();
    }
    auto start = std::chrono::steady_clock::now();
    if (!callGuarded(I.fn, packed.data(), &message)) {
      // Free what the failed run had allocated (no other thread of the
      // compiled code runs any more: the failure was on this thread).
      std::lock_guard<std::mutex> lock(gAllocMutex);
      for (void *p : live)
        std::free(p);
      live.clear();
      return error(message);
    }
    auto stop = std::chrono::steady_clock::now();
    if (I.cuda)
      if (llvm::Error e = I.cuda->check("while running @" + I.options.entry)) {
        freeResults(returned, layout, storageBytes, args);
        return std::move(e);
      }
    if (times)
      times->milliseconds.push_back(
          std::chrono::duration<double, std::milli>(stop - start).count());
  }

  // Results in signature order; an in-place run leaves tied results in the
  // caller's arrays and returns only the others.
  std::vector<HostArray> results;
  size_t k = 0;
  for (auto [r, info] : llvm::enumerate(I.results)) {
    if (I.tied[r] >= 0) {
      if (!inPlace)
        results.push_back(readResult(
            info, reinterpret_cast<const char *>(args[I.tied[r]].words.data())));
      continue;
    }
    results.push_back(readResult(info, storageBytes + layout.offsets[k++]));
  }
  freeResults(returned, layout, storageBytes, args);
  return results;
}

llvm::Expected<std::string>
mlir::kvshift::runtime::runPassPipeline(StringRef source, StringRef bufferName,
                                        StringRef pipeline) {
  initializeOnce();
  DialectRegistry registry;
  kvshift::registerAllDialects(registry);
  MLIRContext context(registry);
  context.loadAllAvailableDialects();
  FirstError diag;
  ScopedDiagnosticHandler handler(&context, [&](Diagnostic &d) {
    diag.record(d);
    return success();
  });
  auto moduleOrErr = parseModule(source, bufferName, context, diag);
  if (!moduleOrErr)
    return moduleOrErr.takeError();
  OwningOpRef<ModuleOp> module = std::move(*moduleOrErr);
  PassManager pm(&context);
  if (llvm::Error e = addPipeline(pm, pipeline))
    return error("pipeline '" + pipeline + "': " + llvm::toString(std::move(e)));
  diag.text.clear();
  if (failed(pm.run(*module)))
    return error("pipeline '" + pipeline + "' failed: " +
                 (diag.text.empty() ? std::string("unknown error")
                                    : diag.text));
  std::string out;
  llvm::raw_string_ostream os(out);
  module->print(os);
  return out;
}
