/*===- CAPI.h - C interface of the kvshift CPU runtime -------------*- C -*-===
 *
 * A plain C interface over kvshift/Runtime/Runtime.h, exported by the shared
 * library libKVShiftRuntimeC.so, for callers that cannot use C++ (the Python
 * package reaches it with ctypes; Debian's MLIR has no Python bindings).
 *
 *   kvshift_executable *exe = NULL;
 *   char *err = NULL;
 *   if (kvshift_executable_create(text, len, "forward", "cpu", NULL, 0, &exe,
 *                                 &err))
 *     { puts(err); kvshift_string_free(err); }
 *   ... kvshift_executable_run(exe, inputs, n, 1, &results, &nresults, &ms, &err)
 *   kvshift_results_free(results, nresults);
 *   kvshift_executable_destroy(exe);
 *
 * Every function that can fail returns 0 on success and nonzero on failure,
 * with a one-line message in *error (free it with kvshift_string_free).
 * Arrays are C-order; dtype codes are those of kvshift_dtype (bf16 values
 * travel as float32). An executable may be run any number of times, from one
 * thread at a time.
 *
 *===----------------------------------------------------------------------===*/
#ifndef KVSHIFT_RUNTIME_CAPI_H
#define KVSHIFT_RUNTIME_CAPI_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define KVSHIFT_CAPI_VERSION 2

typedef enum kvshift_dtype {
  KVSHIFT_F16 = 0,
  KVSHIFT_F32 = 1,
  KVSHIFT_F64 = 2,
  KVSHIFT_I32 = 3,
  KVSHIFT_I64 = 4,
} kvshift_dtype;

/* Element types of the entry's arguments and results (BF16 travels as F32). */
typedef enum kvshift_element_type {
  KVSHIFT_ELT_F16 = 0,
  KVSHIFT_ELT_BF16 = 1,
  KVSHIFT_ELT_F32 = 2,
  KVSHIFT_ELT_F64 = 3,
  KVSHIFT_ELT_I32 = 4,
  KVSHIFT_ELT_I64 = 5,
} kvshift_element_type;

typedef struct kvshift_executable kvshift_executable;

/* An input: the caller owns shape and data. */
typedef struct kvshift_array {
  int32_t dtype; /* kvshift_dtype */
  int32_t rank;
  const int64_t *shape;
  const void *data;
} kvshift_array;

/* A result: owned by the runtime until kvshift_results_free. */
typedef struct kvshift_result {
  int32_t dtype;
  int32_t rank;
  int64_t *shape;
  void *data;
  int64_t nbytes;
} kvshift_result;

int kvshift_capi_version(void);

/* Parses the MLIR text and reads the signature of `entry`. `target` is
 * "cpu" (NULL or "" too) or "cuda" (fails with "no CUDA device ..." without
 * a usable GPU and driver). `pipeline` is a registered pipeline name or a
 * textual pass pipeline (NULL or "": the target's default,
 * kvshift-to-llvm-cpu-fused or kvshift-to-nvvm). `memory_limit` bounds each
 * host buffer the compiled code allocates (0: physical memory). Compilation
 * happens on the first run or on kvshift_executable_compile. */
int kvshift_executable_create(const char *source, size_t length,
                              const char *entry, const char *target,
                              const char *pipeline, uint64_t memory_limit,
                              kvshift_executable **out, char **error);
void kvshift_executable_destroy(kvshift_executable *exe);

/* Lowers and JIT-compiles (once). */
int kvshift_executable_compile(kvshift_executable *exe, char **error);

/* The signature. `which` is 0 for arguments, 1 for results. The pointers
 * returned stay valid as long as the executable. */
int32_t kvshift_executable_num_values(const kvshift_executable *exe,
                                      int32_t which);
int kvshift_executable_value(const kvshift_executable *exe, int32_t which,
                             int32_t index, const char **type,
                             int32_t *element_type, int32_t *is_buffer,
                             int32_t *rank, const int64_t **shape);

/* Runs the entry `repeat` times (each run sees the same inputs) and returns
 * the last run's results; `milliseconds` (may be NULL) receives the median
 * time of one run. */
int kvshift_executable_run(kvshift_executable *exe,
                           const kvshift_array *inputs, size_t num_inputs,
                           uint32_t repeat, kvshift_result **results,
                           size_t *num_results, double *milliseconds,
                           char **error);
void kvshift_results_free(kvshift_result *results, size_t num_results);

/* Like kvshift_executable_run without copies (Executable::runInPlace): the
 * arrays are passed as they are (dtypes must be the element types; no bf16);
 * results tied to an argument (e.g. a KV cache passed in and returned
 * updated) are written into that argument's array and not returned; other
 * arguments are never written. The array of a tied argument must be
 * writable. */
int kvshift_executable_run_in_place(kvshift_executable *exe,
                                    const kvshift_array *inputs,
                                    size_t num_inputs, uint32_t repeat,
                                    kvshift_result **results,
                                    size_t *num_results, double *milliseconds,
                                    char **error);

/* Per result (num_results of them), the index of the argument it is
 * written into by an in-place run, or -1. Compiles first. */
int kvshift_executable_tied_arguments(kvshift_executable *exe,
                                      int64_t *tied, size_t num_results,
                                      char **error);

/* Runs a pass pipeline on MLIR text and returns the printed result in
 * *output (free it with kvshift_string_free). */
int kvshift_run_pass_pipeline(const char *source, size_t length,
                              const char *pipeline, char **output,
                              char **error);

void kvshift_string_free(char *s);

#ifdef __cplusplus
}
#endif

#endif /* KVSHIFT_RUNTIME_CAPI_H */
