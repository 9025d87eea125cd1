//===- kvshift-run.cpp - run one function of an MLIR file on .npy data ----===//
//
//   kvshift-run FILE.mlir --entry=NAME [--input=A.npy ...] [--output=R.npy ...]
//               [--pipeline=NAME] [--repeat=N] [--target=cpu|cuda]
//
// A thin driver over the CPU runtime (kvshift/Runtime/Runtime.h), which
// lowers the module with a named pipeline (unless the entry is already an
// llvm.func), JIT-compiles it with MLIR's ExecutionEngine, binds the .npy
// inputs to the entry's arguments in order, runs it and writes its results to
// the .npy outputs in order. Every user error is one line on stderr,
// "kvshift-run: error: ...", and exit status 1; outputs are written only when
// everything succeeded.
//
//===----------------------------------------------------------------------===//

#include "Npy.h"

#include "kvshift/InitAll.h"
#include "kvshift/Pipelines/Pipelines.h"
#include "kvshift/Runtime/Runtime.h"

#include "llvm/Support/CommandLine.h"
#include "llvm/Support/ErrorHandling.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/raw_ostream.h"

#include <algorithm>
#include <cstdlib>
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
             "the module (default: kvshift-to-llvm-cpu-fused, or "
             "kvshift-to-nvvm with --target=cuda; the CPU reference is "
             "kvshift-to-llvm-cpu)"),
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
static cl::opt<std::string> targetName(
    "target",
    cl::desc("Where to run: cpu, or cuda (NVIDIA GPU through "
             "libkvshift_cuda_runtime; $KVSHIFT_CUDA_RUNTIME overrides its "
             "path)"),
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


namespace rt = ::mlir::kvshift::runtime;

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
  rt::setFatalErrorPrefix("kvshift-run");

  if (targetName != "cpu" && targetName != "cuda")
    fail("--target='" + targetName + "': expected cpu or cuda");
  if (repeatCount == 0)
    fail("--repeat must be at least 1");

  // Parse and read the entry's signature.
  if (llvm::sys::fs::is_directory(inputFile))
    fail("'" + inputFile + "' is a directory, not an MLIR file");
  auto fileOrErr = llvm::MemoryBuffer::getFileOrSTDIN(inputFile);
  if (!fileOrErr)
    fail("cannot open '" + inputFile + "': " + fileOrErr.getError().message());
  rt::Options options;
  options.entry = entryName;
  // Without --pipeline the runtime picks the target's default
  // (kvshift-to-llvm-cpu-fused, or kvshift-to-nvvm for cuda).
  options.pipeline =
      pipelineName.getNumOccurrences() ? pipelineName.getValue() : std::string();
  options.target = targetName;
  options.memoryLimit = memoryLimit;
  auto exeOrErr =
      rt::Executable::parse((*fileOrErr)->getBuffer(), inputFile, options);
  if (!exeOrErr)
    fail(llvm::toString(exeOrErr.takeError()));
  rt::Executable &exe = **exeOrErr;
  ArrayRef<rt::ValueInfo> argInfos = exe.arguments(),
                          resultInfos = exe.results();

  if (inputFiles.size() != argInfos.size())
    fail("@" + entryName + " takes " + llvm::Twine(argInfos.size()) +
         " argument(s), got " + llvm::Twine(inputFiles.size()) +
         " --input file(s)");
  if (!outputFiles.empty() && outputFiles.size() != resultInfos.size())
    fail("@" + entryName + " returns " + llvm::Twine(resultInfos.size()) +
         " result(s), got " + llvm::Twine(outputFiles.size()) +
         " --output file(s) (give one per result, or none)");
  for (size_t i = 0; i < outputFiles.size(); ++i)
    for (size_t j = 0; j < i; ++j)
      if (outputFiles[i] == outputFiles[j])
        fail("--output '" + outputFiles[i] + "' is given twice");

  // Read and check every input before compiling anything.
  std::vector<npy::Array> arrays;
  std::vector<rt::HostArrayRef> inputs;
  arrays.reserve(inputFiles.size());
  for (unsigned i = 0; i < argInfos.size(); ++i) {
    std::string what = "--input #" + std::to_string(i + 1) + " ('" +
                       inputFiles[i] + "') for argument #" +
                       std::to_string(i) + " of @" + entryName + " (" +
                       argInfos[i].type + ")";
    auto arrayOrErr = npy::read(inputFiles[i]);
    if (!arrayOrErr)
      fail(what + ": " + llvm::toString(arrayOrErr.takeError()));
    arrays.push_back(std::move(*arrayOrErr));
    const npy::Array &a = arrays.back();
    rt::HostArrayRef ref{a.dtype, a.shape, a.data.data()};
    if (llvm::Error e = exe.checkInput(i, ref))
      fail(what + ": " + llvm::toString(std::move(e)));
    inputs.push_back(ref);
  }
  if (llvm::Error e = exe.checkShapesFit(inputs))
    fail(llvm::toString(std::move(e)));

  // Lower, JIT and run.
  if (llvm::Error e = exe.compile())
    fail(llvm::toString(std::move(e)));
  rt::RunTimes times;
  auto resultsOrErr = exe.run(inputs, repeatCount, &times);
  if (!resultsOrErr)
    fail(llvm::toString(resultsOrErr.takeError()));
  std::vector<rt::HostArray> &results = *resultsOrErr;
  if (repeatCount.getNumOccurrences()) {
    std::vector<double> sorted = times.milliseconds;
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
  std::vector<std::string> temps;
  auto removeTemps = [&] {
    for (const std::string &t : temps)
      llvm::sys::fs::remove(t);
  };
  for (size_t i = 0; i < outputFiles.size(); ++i) {
    std::string temp = outputFiles[i] + ".kvshift-run.tmp";
    temps.push_back(temp);
    if (llvm::Error e = npy::write(temp, results[i].dtype,
                                   results[i].shape, results[i].data.data())) {
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
    for (size_t i = 0; i < results.size(); ++i)
      llvm::outs() << "result #" << i << ": " << resultInfos[i].type
                   << " shape " << npy::shapeString(results[i].shape) << "\n";
  }
  return 0;
}
