//===- Runtime.h - compile an MLIR function and run it on host arrays -*- C++ -*-===//
//
// The CPU execution runtime shared by `kvshift-run` and the Python package
// (through the C API of kvshift/Runtime/CAPI.h):
//
//   auto exe = Executable::parse(text, "model.mlir", {"forward"});
//   exe->checkInput(0, array);               // optional: per-argument check
//   exe->compile();                          // lower + JIT, once
//   auto results = exe->run(arrays);         // as often as wanted
//
// The entry is a func.func on tensors or memrefs (lowered with a named
// pipeline, by default kvshift-to-llvm-cpu-fused) or an llvm.func carrying
// the kvshift.signature attribute of a module lowered ahead of time. Arrays
// travel in C order; bf16 travels as float32 (rounded to nearest even on the
// way in), as in .npy files. Every failure is an llvm::Error with a one-line
// message, never an abort: a buffer the compiled code asks for that is larger
// than the memory limit ends the run with an error as well (the run's other
// buffers are freed), except inside a parallel loop, where there is no way
// back: the message is printed and the process exits with status 1. Runs are
// serialised process-wide.
//
//===----------------------------------------------------------------------===//
#ifndef KVSHIFT_RUNTIME_RUNTIME_H
#define KVSHIFT_RUNTIME_RUNTIME_H

#include "kvshift/Runtime/HostArrays.h"

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/SmallVector.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace mlir {
namespace kvshift {
namespace runtime {

/// The element type of an argument or result of the entry.
enum class ElementType { F16, BF16, F32, F64, I32, I64 };

/// The host dtype that carries values of an element type.
DType carrierOf(ElementType elt);

/// One argument or result of the entry.
struct ValueInfo {
  std::string type;          // MLIR spelling, e.g. "tensor<2x?x4xf32>"
  ElementType element;
  bool isBuffer;             // ranked tensor or memref; else a scalar
  std::vector<int64_t> shape; // buffers only; -1 for a dynamic dimension
};

/// A C-order array owned by the caller.
struct HostArrayRef {
  DType dtype;
  llvm::ArrayRef<int64_t> shape;
  const void *data;
};

/// A C-order array owned by itself (results).
struct HostArray {
  DType dtype;
  std::vector<int64_t> shape;
  std::vector<char> data;
};

struct Options {
  /// The function to run.
  std::string entry;
  /// A registered pipeline name or a textual pass pipeline; empty means the
  /// fused CPU pipeline.
  std::string pipeline;
  /// Largest buffer, in bytes, the compiled code may allocate; 0 means the
  /// machine's physical memory.
  uint64_t memoryLimit = 0;
  /// "cpu", or "cuda": the module is lowered with kvshift-to-nvvm (default
  /// pipeline) and its host code calls libkvshift_cuda_runtime, which copies
  /// the arguments to the device and the results back. parse() fails with
  /// "no CUDA device ..." when no usable device or driver is present.
  std::string target = "cpu";
  /// The libkvshift_cuda_runtime shared library for target "cuda"; empty
  /// means $KVSHIFT_CUDA_RUNTIME, else the one this build made.
  std::string cudaRuntime;
};

/// Timings of Executable::run.
struct RunTimes {
  std::vector<double> milliseconds; // one per repetition
};

class Executable {
public:
  /// Parses `source` (MLIR text; `bufferName` names it in diagnostics) and
  /// reads the entry's signature. Errors: the text does not parse or verify,
  /// there is no such function, or an argument/result type cannot be bound.
  static llvm::Expected<std::unique_ptr<Executable>>
  parse(llvm::StringRef source, llvm::StringRef bufferName,
        const Options &options);

  ~Executable();

  const std::string &entry() const;
  llvm::ArrayRef<ValueInfo> arguments() const;
  llvm::ArrayRef<ValueInfo> results() const;
  /// The registered or textual pipeline in use.
  const std::string &pipeline() const;

  /// Checks one input against argument #i: dtype, rank, static dimensions.
  /// The message says what was expected and what was found, without naming
  /// the argument (the caller knows how to name it).
  llvm::Error checkInput(unsigned i, const HostArrayRef &array) const;

  /// For entries with dynamic dimensions: checks that concrete input shapes
  /// fit the program (the ops' verifiers run on a copy specialised to them),
  /// so that a mismatch is an error rather than an out-of-bounds read.
  llvm::Error checkShapesFit(llvm::ArrayRef<HostArrayRef> inputs) const;

  /// Lowers the module with the pipeline and JIT-compiles it. Idempotent.
  llvm::Error compile();

  /// Runs the compiled entry `repeat` times on `inputs` (each run sees the
  /// same input values) and returns the results of the last run. Checks the
  /// inputs (count, checkInput, checkShapesFit) first.
  llvm::Expected<std::vector<HostArray>>
  run(llvm::ArrayRef<HostArrayRef> inputs, unsigned repeat = 1,
      RunTimes *times = nullptr);

  /// Like run(), without copies: every argument's array is passed to the
  /// compiled code as it is (dtypes must be the element types: no bf16),
  /// results tied to an argument (kvshift-tie-results: a KV cache passed in
  /// and returned updated) are written into that argument's array and not
  /// returned, and the other results are returned in order. Arguments that
  /// are not tied are never written. Needs an entry lowered by a kvshift
  /// pipeline (which records the ties).
  llvm::Expected<std::vector<HostArray>>
  runInPlace(llvm::ArrayRef<HostArrayRef> inputs, unsigned repeat = 1,
             RunTimes *times = nullptr);

  /// Per result, the argument it is written into in place, or -1 (compiles
  /// first).
  llvm::Expected<llvm::SmallVector<int64_t>> tiedArguments();

private:
  llvm::Expected<std::vector<HostArray>>
  runImpl(llvm::ArrayRef<HostArrayRef> inputs, unsigned repeat,
          RunTimes *times, bool inPlace);
  Executable();
  struct Impl;
  std::unique_ptr<Impl> impl;
};

/// Parses `source`, runs `pipeline` (a registered pipeline name or a textual
/// pass pipeline, e.g. "kvshift-raise,canonicalize") on it and returns the
/// printed result: what `kvshift-opt --pass-pipeline=...` would print.
llvm::Expected<std::string> runPassPipeline(llvm::StringRef source,
                                            llvm::StringRef bufferName,
                                            llvm::StringRef pipeline);

/// The name printed before "error:" when an allocation fails on a thread
/// that cannot report it through run() (an OpenMP worker), just before the
/// process exits with status 1. Default: "kvshift runtime".
void setFatalErrorPrefix(llvm::StringRef prefix);

} // namespace runtime
} // namespace kvshift
} // namespace mlir

#endif // KVSHIFT_RUNTIME_RUNTIME_H
