//===- RuntimeErrors.h - messages of kvshift's run-time checks -*- C++ -*-===//
//
// The compiled code of a module with KV-cache ops calls
//   void kvshift_runtime_error(int64_t code, int64_t a, int64_t b, int64_t c)
// when a position or length is out of range (kvshift-insert-runtime-checks).
// The CPU runtime (JIT) and the CUDA runtime library (ahead-of-time modules)
// both provide it and word the error the same way, with this function.
//
//===----------------------------------------------------------------------===//
#ifndef KVSHIFT_RUNTIME_RUNTIMEERRORS_H
#define KVSHIFT_RUNTIME_RUNTIMEERRORS_H

#include <cstddef>
#include <cstdint>
#include <cstdio>

namespace mlir {
namespace kvshift {
namespace runtime {

/// Writes the one-line message of a failed run-time check into `buf`.
inline void formatRuntimeError(int64_t code, int64_t a, int64_t b, int64_t c,
                               char *buf, size_t size) {
  if (code == 1)
    std::snprintf(buf, size,
                  "kvshift.kv_cache_append: cannot write rows [%lld, %lld) "
                  "into a cache of %lld rows",
                  (long long)a, (long long)b, (long long)c);
  else if (code == 2)
    std::snprintf(buf, size,
                  "kvshift.kv_cache_attention: length %lld is outside [%lld, "
                  "%lld] (at least 1, or the number of queries with causal; "
                  "at most the cache's rows)",
                  (long long)a, (long long)b, (long long)c);
  else
    std::snprintf(buf, size, "run-time check %lld failed (%lld, %lld, %lld)",
                  (long long)code, (long long)a, (long long)b, (long long)c);
}

} // namespace runtime
} // namespace kvshift
} // namespace mlir

#endif // KVSHIFT_RUNTIME_RUNTIMEERRORS_H
