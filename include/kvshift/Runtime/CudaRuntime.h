//===- CudaRuntime.h - kvshift's CUDA driver wrappers, C interface -------===//
//
// libkvshift_cuda_runtime implements the mgpu* functions that host code
// lowered by --kvshift-to-nvvm (gpu-to-llvm) calls, on the CUDA driver API.
// libcuda.so.1 is opened at run time (dlopen), so the library loads on a
// machine without a driver; every CUresult is checked.
//
// Errors are sticky: the first failure is recorded (with the driver's error
// name and text) and every later mgpu* call does nothing and returns null,
// so a failed step never cascades into a crash. A caller runs the lowered
// function, then asks kvshift_cuda_take_error() whether it worked. Nothing
// is printed and nothing aborts.
//
//===----------------------------------------------------------------------===//

#ifndef KVSHIFT_RUNTIME_CUDARUNTIME_H
#define KVSHIFT_RUNTIME_CUDARUNTIME_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Returns 0 when libcuda loads, initialises and reports at least one
/// device; then writes "CUDA device 0: <name>" to `msg` (`n` bytes with the
/// terminating zero; `msg` may be null). Otherwise returns 1 and writes a
/// one-line message that starts with "no CUDA device" and says why.
int kvshift_cuda_probe(char *msg, size_t n);

/// Returns 1 and copies the first recorded error (one line) into `msg`,
/// then clears it, so that the runtime can be used again; returns 0 when no
/// error was recorded since the last call.
int kvshift_cuda_take_error(char *msg, size_t n);

#ifdef __cplusplus
}
#endif

#endif // KVSHIFT_RUNTIME_CUDARUNTIME_H
