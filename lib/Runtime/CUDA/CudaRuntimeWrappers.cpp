//===- CudaRuntimeWrappers.cpp - mgpu* on the CUDA driver API -------------===//
//
// The runtime functions called by host code that gpu-to-llvm produced
// (mgpuModuleLoad, mgpuLaunchKernel, mgpuMemAlloc, ...), for kvshift. See
// include/kvshift/Runtime/CudaRuntime.h for the error contract. The driver
// is reached through dlopen("libcuda.so.1"), so that the library (and
// kvshift_cuda_probe) also works where no driver is installed.
//
// All work uses the primary context of device 0, made current on the
// calling thread before each driver call.
//
//===----------------------------------------------------------------------===//

#include "kvshift/Runtime/CudaRuntime.h"
#include "kvshift/Runtime/RuntimeErrors.h"

#include <cuda.h>
#include <dlfcn.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <string>

namespace {

// --- the driver, loaded at run time -------------------------------------

#define KVSHIFT_CUDA_FUNCTIONS(X)                                              \
  X(cuInit, "cuInit")                                                          \
  X(cuDeviceGetCount, "cuDeviceGetCount")                                      \
  X(cuDeviceGet, "cuDeviceGet")                                                \
  X(cuDeviceGetName, "cuDeviceGetName")                                        \
  X(cuDevicePrimaryCtxRetain, "cuDevicePrimaryCtxRetain")                      \
  X(cuCtxSetCurrent, "cuCtxSetCurrent")                                        \
  X(cuGetErrorName, "cuGetErrorName")                                          \
  X(cuGetErrorString, "cuGetErrorString")                                      \
  X(cuModuleLoadData, "cuModuleLoadData")                                      \
  X(cuModuleLoadDataEx, "cuModuleLoadDataEx")                                  \
  X(cuModuleUnload, "cuModuleUnload")                                          \
  X(cuModuleGetFunction, "cuModuleGetFunction")                                \
  X(cuFuncSetAttribute, "cuFuncSetAttribute")                                  \
  X(cuLaunchKernel, "cuLaunchKernel")                                          \
  X(cuStreamCreate, "cuStreamCreate")                                          \
  X(cuStreamDestroy, "cuStreamDestroy_v2")                                     \
  X(cuStreamSynchronize, "cuStreamSynchronize")                                \
  X(cuMemAlloc, "cuMemAlloc_v2")                                               \
  X(cuMemAllocManaged, "cuMemAllocManaged")                                    \
  X(cuMemFree, "cuMemFree_v2")                                                 \
  X(cuMemcpyAsync, "cuMemcpyAsync")

struct Driver {
#define KVSHIFT_DECLARE(fn, sym) decltype(&::fn) fn = nullptr;
  KVSHIFT_CUDA_FUNCTIONS(KVSHIFT_DECLARE)
#undef KVSHIFT_DECLARE
  CUcontext context = nullptr;
  CUdevice device = 0;
  char deviceName[256] = {0};
  bool ready = false;
  std::string failure; // why the driver or device is unusable
};

// The error state lives in function-local statics: host code produced by
// gpu-to-llvm loads its kernels from a global constructor (priority 123),
// which runs before this file's namespace-scope constructors would.
std::mutex &errorMutex() {
  static std::mutex m;
  return m;
}
/// The first error since the last kvshift_cuda_take_error.
std::string &errorText() {
  static std::string s;
  return s;
}

/// Records `message` unless an error is already recorded.
void record(const std::string &message) {
  std::lock_guard<std::mutex> lock(errorMutex());
  if (errorText().empty())
    errorText() = message;
}

bool failed() {
  std::lock_guard<std::mutex> lock(errorMutex());
  return !errorText().empty();
}

/// Loads libcuda, initialises it and retains device 0's primary context,
/// once. On failure `failure` says why (starting with "no CUDA device").
Driver &driver() {
  static Driver d;
  static std::once_flag once;
  std::call_once(once, [] {
    void *lib = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
      const char *why = dlerror();
      d.failure = std::string("no CUDA device: cannot load the CUDA driver "
                              "(libcuda.so.1): ") +
                  (why ? why : "unknown reason");
      return;
    }
#define KVSHIFT_LOAD(fn, sym)                                                  \
  d.fn = reinterpret_cast<decltype(d.fn)>(dlsym(lib, sym));                    \
  if (!d.fn) {                                                                 \
    d.failure = "no CUDA device: the CUDA driver lacks " sym;                  \
    return;                                                                    \
  }
    KVSHIFT_CUDA_FUNCTIONS(KVSHIFT_LOAD)
#undef KVSHIFT_LOAD
    auto describe = [&](CUresult r) {
      const char *name = nullptr, *text = nullptr;
      d.cuGetErrorName(r, &name);
      d.cuGetErrorString(r, &text);
      return std::string(name ? name : "CUDA_ERROR_UNKNOWN") + " (" +
             (text ? text : "no description") + ")";
    };
    CUresult r = d.cuInit(0);
    if (r != CUDA_SUCCESS) {
      d.failure = "no CUDA device: cuInit failed: " + describe(r);
      return;
    }
    int count = 0;
    r = d.cuDeviceGetCount(&count);
    if (r != CUDA_SUCCESS || count == 0) {
      d.failure = r != CUDA_SUCCESS
                      ? "no CUDA device: cuDeviceGetCount failed: " +
                            describe(r)
                      : std::string("no CUDA device: the driver reports 0 "
                                    "devices");
      return;
    }
    if ((r = d.cuDeviceGet(&d.device, 0)) != CUDA_SUCCESS ||
        (r = d.cuDevicePrimaryCtxRetain(&d.context, d.device)) !=
            CUDA_SUCCESS) {
      d.failure = "no CUDA device: cannot use device 0: " + describe(r);
      return;
    }
    d.cuDeviceGetName(d.deviceName, sizeof(d.deviceName) - 1, d.device);
    d.ready = true;
  });
  return d;
}

/// Checks `r` from the driver call `what`; records an error and returns
/// false on failure.
bool check(CUresult r, const char *what) {
  if (r == CUDA_SUCCESS)
    return true;
  Driver &d = driver();
  const char *name = nullptr, *text = nullptr;
  d.cuGetErrorName(r, &name);
  d.cuGetErrorString(r, &text);
  record(std::string("CUDA error: ") + what + " failed: " +
         (name ? name : "CUDA_ERROR_UNKNOWN") + " (" +
         (text ? text : "no description") + ")");
  return false;
}

/// Makes the primary context current on this thread. Returns false (with an
/// error recorded) when there is no usable device or an earlier call failed.
bool enter(const char *what) {
  if (failed())
    return false;
  Driver &d = driver();
  if (!d.ready) {
    record(d.failure + " (in " + what + ")");
    return false;
  }
  return check(d.cuCtxSetCurrent(d.context), "cuCtxSetCurrent");
}

void copyMessage(const std::string &s, char *msg, size_t n) {
  if (!msg || n == 0)
    return;
  size_t len = s.size() < n - 1 ? s.size() : n - 1;
  std::memcpy(msg, s.data(), len);
  msg[len] = 0;
}

} // namespace

// --- the C interface of kvshift -------------------------------------------

extern "C" int kvshift_cuda_probe(char *msg, size_t n) {
  Driver &d = driver();
  if (!d.ready) {
    copyMessage(d.failure, msg, n);
    return 1;
  }
  copyMessage(std::string("CUDA device 0: ") + d.deviceName, msg, n);
  return 0;
}

extern "C" int kvshift_cuda_take_error(char *msg, size_t n) {
  std::lock_guard<std::mutex> lock(errorMutex());
  if (errorText().empty())
    return 0;
  copyMessage(errorText(), msg, n);
  errorText().clear();
  return 1;
}

// --- the hook of kvshift-insert-runtime-checks ----------------------------

/// A KV-cache position or length out of range in host code compiled ahead
/// of time: recorded like a CUDA error (kvshift_cuda_take_error); the
/// lowering clamps the access, so the run goes on without touching memory
/// out of bounds. (Under the JIT, kvshift's CPU runtime provides its own
/// definition, which ends the run.)
extern "C" void kvshift_runtime_error(int64_t code, int64_t a, int64_t b,
                                      int64_t c) {
  char msg[256];
  mlir::kvshift::runtime::formatRuntimeError(code, a, b, c, msg, sizeof(msg));
  record(msg);
}

// --- the functions gpu-to-llvm calls ------------------------------------

extern "C" CUmodule mgpuModuleLoad(void *data, size_t /*gpuBlobSize*/) {
  if (!enter("mgpuModuleLoad"))
    return nullptr;
  CUmodule module = nullptr;
  if (!check(driver().cuModuleLoadData(&module, data), "cuModuleLoadData"))
    return nullptr;
  return module;
}

extern "C" CUmodule mgpuModuleLoadJIT(void *data, int optLevel) {
  if (!enter("mgpuModuleLoadJIT"))
    return nullptr;
  char log[8192] = {0};
  CUjit_option options[] = {CU_JIT_OPTIMIZATION_LEVEL, CU_JIT_ERROR_LOG_BUFFER,
                            CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES};
  void *values[] = {reinterpret_cast<void *>(static_cast<intptr_t>(optLevel)),
                    log, reinterpret_cast<void *>(sizeof(log) - 1)};
  CUmodule module = nullptr;
  CUresult r = driver().cuModuleLoadDataEx(&module, data, 3, options, values);
  if (r != CUDA_SUCCESS) {
    check(r, "cuModuleLoadDataEx (JIT compilation of the embedded PTX)");
    if (log[0]) {
      // Keep the message on one line.
      for (char *c = log; *c; ++c)
        if (*c == '\n')
          *c = ' ';
      std::lock_guard<std::mutex> lock(errorMutex());
      errorText() += std::string(": ") + log;
    }
    return nullptr;
  }
  return module;
}

extern "C" void mgpuModuleUnload(CUmodule module) {
  // Unloading runs from a global destructor: no error is recorded for a
  // module that never loaded.
  if (!module || !driver().ready)
    return;
  if (driver().cuCtxSetCurrent(driver().context) == CUDA_SUCCESS)
    check(driver().cuModuleUnload(module), "cuModuleUnload");
}

extern "C" CUfunction mgpuModuleGetFunction(CUmodule module, const char *name) {
  if (!enter("mgpuModuleGetFunction"))
    return nullptr;
  if (!module) {
    record(std::string("CUDA error: no module to look up kernel '") + name +
           "' in (loading it failed)");
    return nullptr;
  }
  CUfunction function = nullptr;
  if (!check(driver().cuModuleGetFunction(&function, module, name),
             "cuModuleGetFunction"))
    return nullptr;
  return function;
}

extern "C" void mgpuLaunchKernel(CUfunction function, intptr_t gridX,
                                 intptr_t gridY, intptr_t gridZ,
                                 intptr_t blockX, intptr_t blockY,
                                 intptr_t blockZ, int32_t smem,
                                 CUstream stream, void **params, void **extra,
                                 size_t /*paramsCount*/) {
  if (!enter("mgpuLaunchKernel"))
    return;
  if (!function) {
    record("CUDA error: launch of a kernel that was not found");
    return;
  }
  if (smem > 48 * 1024 &&
      !check(driver().cuFuncSetAttribute(
                 function, CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES,
                 smem),
             "cuFuncSetAttribute(MAX_DYNAMIC_SHARED_SIZE_BYTES)"))
    return;
  check(driver().cuLaunchKernel(function, gridX, gridY, gridZ, blockX, blockY,
                                blockZ, smem, stream, params, extra),
        "cuLaunchKernel");
}

extern "C" CUstream mgpuStreamCreate() {
  if (!enter("mgpuStreamCreate"))
    return nullptr;
  CUstream stream = nullptr;
  if (!check(driver().cuStreamCreate(&stream, CU_STREAM_NON_BLOCKING),
             "cuStreamCreate"))
    return nullptr;
  return stream;
}

extern "C" void mgpuStreamDestroy(CUstream stream) {
  if (!stream || !enter("mgpuStreamDestroy"))
    return;
  check(driver().cuStreamDestroy(stream), "cuStreamDestroy");
}

extern "C" void mgpuStreamSynchronize(CUstream stream) {
  if (!stream || !enter("mgpuStreamSynchronize"))
    return;
  // Errors of asynchronous work (a faulting kernel) surface here.
  check(driver().cuStreamSynchronize(stream), "cuStreamSynchronize");
}

extern "C" void *mgpuMemAlloc(uint64_t sizeBytes, CUstream /*stream*/,
                              bool isHostShared) {
  if (!enter("mgpuMemAlloc"))
    return nullptr;
  if (sizeBytes == 0)
    return nullptr; // cuMemAlloc rejects 0 bytes; nothing will be accessed
  CUdeviceptr ptr = 0;
  bool ok = isHostShared
                ? check(driver().cuMemAllocManaged(&ptr, sizeBytes,
                                                   CU_MEM_ATTACH_GLOBAL),
                        "cuMemAllocManaged")
                : check(driver().cuMemAlloc(&ptr, sizeBytes), "cuMemAlloc");
  if (!ok) {
    std::lock_guard<std::mutex> lock(errorMutex());
    errorText() += " for " + std::to_string(sizeBytes) + " bytes";
    return nullptr;
  }
  return reinterpret_cast<void *>(ptr);
}

extern "C" void mgpuMemFree(void *ptr, CUstream /*stream*/) {
  if (!ptr || !enter("mgpuMemFree"))
    return;
  check(driver().cuMemFree(reinterpret_cast<CUdeviceptr>(ptr)), "cuMemFree");
}

extern "C" void mgpuMemcpy(void *dst, void *src, size_t sizeBytes,
                           CUstream stream) {
  if (sizeBytes == 0 || !enter("mgpuMemcpy"))
    return;
  if (!dst || !src) {
    record("CUDA error: mgpuMemcpy of " + std::to_string(sizeBytes) +
           " bytes with a null pointer");
    return;
  }
  check(driver().cuMemcpyAsync(reinterpret_cast<CUdeviceptr>(dst),
                               reinterpret_cast<CUdeviceptr>(src), sizeBytes,
                               stream),
        "cuMemcpyAsync");
}
