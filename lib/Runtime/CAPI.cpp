//===- CAPI.cpp - C interface of the kvshift CPU runtime ------------------===//

#include "kvshift/Runtime/CAPI.h"
#include "kvshift/Runtime/Runtime.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <new>

using namespace mlir::kvshift::runtime;

struct kvshift_executable {
  std::unique_ptr<Executable> exe;
  std::vector<std::vector<int64_t>> argShapes, resultShapes;
};

static int fail(char **error, const std::string &msg) {
  if (error) {
    *error = static_cast<char *>(std::malloc(msg.size() + 1));
    if (*error)
      std::memcpy(*error, msg.c_str(), msg.size() + 1);
  }
  return 1;
}

static int fail(char **error, llvm::Error e) {
  return fail(error, llvm::toString(std::move(e)));
}

extern "C" {

int kvshift_capi_version(void) { return KVSHIFT_CAPI_VERSION; }

int kvshift_executable_create(const char *source, size_t length,
                              const char *entry, const char *target,
                              const char *pipeline, uint64_t memory_limit,
                              kvshift_executable **out, char **error) {
  if (error)
    *error = nullptr;
  if (!out)
    return fail(error, "no place to return the executable");
  *out = nullptr;
  if (!source || !entry)
    return fail(error, "the source text and the entry name are required");
  Options options;
  options.entry = entry;
  options.pipeline = pipeline ? pipeline : "";
  options.target = target && *target ? target : "cpu";
  options.memoryLimit = memory_limit;
  auto exeOrErr = Executable::parse(llvm::StringRef(source, length),
                                    "<source>", options);
  if (!exeOrErr)
    return fail(error, exeOrErr.takeError());
  auto *handle = new (std::nothrow) kvshift_executable();
  if (!handle)
    return fail(error, "out of memory");
  handle->exe = std::move(*exeOrErr);
  for (const ValueInfo &v : handle->exe->arguments())
    handle->argShapes.push_back(v.shape);
  for (const ValueInfo &v : handle->exe->results())
    handle->resultShapes.push_back(v.shape);
  *out = handle;
  return 0;
}

void kvshift_executable_destroy(kvshift_executable *exe) { delete exe; }

int kvshift_executable_compile(kvshift_executable *exe, char **error) {
  if (error)
    *error = nullptr;
  if (!exe)
    return fail(error, "null executable");
  if (llvm::Error e = exe->exe->compile())
    return fail(error, std::move(e));
  return 0;
}

int32_t kvshift_executable_num_values(const kvshift_executable *exe,
                                      int32_t which) {
  if (!exe)
    return -1;
  return which == 0 ? (int32_t)exe->exe->arguments().size()
                    : (int32_t)exe->exe->results().size();
}

int kvshift_executable_value(const kvshift_executable *exe, int32_t which,
                             int32_t index, const char **type,
                             int32_t *element_type, int32_t *is_buffer,
                             int32_t *rank, const int64_t **shape) {
  if (!exe)
    return 1;
  llvm::ArrayRef<ValueInfo> values =
      which == 0 ? exe->exe->arguments() : exe->exe->results();
  const auto &shapes = which == 0 ? exe->argShapes : exe->resultShapes;
  if (index < 0 || (size_t)index >= values.size())
    return 1;
  const ValueInfo &v = values[index];
  if (type)
    *type = v.type.c_str();
  if (element_type)
    *element_type = static_cast<int32_t>(v.element);
  if (is_buffer)
    *is_buffer = v.isBuffer;
  if (rank)
    *rank = static_cast<int32_t>(v.shape.size());
  if (shape)
    *shape = shapes[index].data();
  return 0;
}

static int runCommon(kvshift_executable *exe, const kvshift_array *inputs,
                     size_t num_inputs, uint32_t repeat,
                     kvshift_result **results, size_t *num_results,
                     double *milliseconds, char **error, bool inPlace) {
  if (error)
    *error = nullptr;
  if (!exe || !results || !num_results)
    return fail(error, "null executable or result pointers");
  *results = nullptr;
  *num_results = 0;
  std::vector<HostArrayRef> arrays;
  for (size_t i = 0; i < num_inputs; ++i) {
    const kvshift_array &a = inputs[i];
    if (a.dtype < KVSHIFT_F16 || a.dtype > KVSHIFT_I64)
      return fail(error, "input #" + std::to_string(i) +
                             ": unknown dtype code " +
                             std::to_string(a.dtype));
    if (a.rank < 0 || (a.rank > 0 && !a.shape))
      return fail(error, "input #" + std::to_string(i) + ": bad rank/shape");
    arrays.push_back({static_cast<DType>(a.dtype),
                      llvm::ArrayRef<int64_t>(a.shape, a.rank), a.data});
  }
  RunTimes times;
  auto resultsOrErr = inPlace ? exe->exe->runInPlace(arrays, repeat, &times)
                              : exe->exe->run(arrays, repeat, &times);
  if (!resultsOrErr)
    return fail(error, resultsOrErr.takeError());
  std::vector<HostArray> &rs = *resultsOrErr;
  auto *out = static_cast<kvshift_result *>(
      std::calloc(std::max<size_t>(1, rs.size()), sizeof(kvshift_result)));
  if (!out)
    return fail(error, "out of memory");
  for (size_t i = 0; i < rs.size(); ++i) {
    out[i].dtype = static_cast<int32_t>(rs[i].dtype);
    out[i].rank = static_cast<int32_t>(rs[i].shape.size());
    out[i].shape = static_cast<int64_t *>(
        std::malloc(std::max<size_t>(1, rs[i].shape.size()) * 8));
    out[i].data = std::malloc(std::max<size_t>(1, rs[i].data.size()));
    out[i].nbytes = static_cast<int64_t>(rs[i].data.size());
    if (!out[i].shape || !out[i].data) {
      kvshift_results_free(out, i + 1);
      return fail(error, "out of memory");
    }
    std::copy(rs[i].shape.begin(), rs[i].shape.end(), out[i].shape);
    std::memcpy(out[i].data, rs[i].data.data(), rs[i].data.size());
  }
  *results = out;
  *num_results = rs.size();
  if (milliseconds) {
    std::vector<double> sorted = times.milliseconds;
    std::sort(sorted.begin(), sorted.end());
    size_t n = sorted.size();
    *milliseconds = n == 0 ? 0.0
                    : n % 2 ? sorted[n / 2]
                            : 0.5 * (sorted[n / 2 - 1] + sorted[n / 2]);
  }
  return 0;
}

int kvshift_executable_run(kvshift_executable *exe,
                           const kvshift_array *inputs, size_t num_inputs,
                           uint32_t repeat, kvshift_result **results,
                           size_t *num_results, double *milliseconds,
                           char **error) {
  return runCommon(exe, inputs, num_inputs, repeat, results, num_results,
                   milliseconds, error, /*inPlace=*/false);
}

int kvshift_executable_run_in_place(kvshift_executable *exe,
                                    const kvshift_array *inputs,
                                    size_t num_inputs, uint32_t repeat,
                                    kvshift_result **results,
                                    size_t *num_results, double *milliseconds,
                                    char **error) {
  return runCommon(exe, inputs, num_inputs, repeat, results, num_results,
                   milliseconds, error, /*inPlace=*/true);
}

int kvshift_executable_tied_arguments(kvshift_executable *exe,
                                      int64_t *tied, size_t num_results,
                                      char **error) {
  if (error)
    *error = nullptr;
  if (!exe || (!tied && num_results))
    return fail(error, "null executable or output pointer");
  auto tiedOrErr = exe->exe->tiedArguments();
  if (!tiedOrErr)
    return fail(error, tiedOrErr.takeError());
  if (tiedOrErr->size() != num_results)
    return fail(error, "the entry has " + std::to_string(tiedOrErr->size()) +
                           " results, not " + std::to_string(num_results));
  std::copy(tiedOrErr->begin(), tiedOrErr->end(), tied);
  return 0;
}

void kvshift_results_free(kvshift_result *results, size_t num_results) {
  if (!results)
    return;
  for (size_t i = 0; i < num_results; ++i) {
    std::free(results[i].shape);
    std::free(results[i].data);
  }
  std::free(results);
}

int kvshift_run_pass_pipeline(const char *source, size_t length,
                              const char *pipeline, char **output,
                              char **error) {
  if (error)
    *error = nullptr;
  if (!output)
    return fail(error, "no place to return the output");
  *output = nullptr;
  if (!source || !pipeline)
    return fail(error, "the source text and the pipeline are required");
  auto outOrErr = runPassPipeline(llvm::StringRef(source, length), "<source>",
                                  pipeline);
  if (!outOrErr)
    return fail(error, outOrErr.takeError());
  *output = static_cast<char *>(std::malloc(outOrErr->size() + 1));
  if (!*output)
    return fail(error, "out of memory");
  std::memcpy(*output, outOrErr->c_str(), outOrErr->size() + 1);
  return 0;
}

void kvshift_string_free(char *s) { std::free(s); }

} // extern "C"
