//===- kvshift-opt.cpp - mlir-opt with the kvshift dialect ----------------===//
//
// All upstream dialects and passes, plus the kvshift dialect, its passes and
// its named pipelines (kvshift-to-llvm-cpu, kvshift-to-llvm-cpu-fused,
// kvshift-to-nvvm).
//
//===----------------------------------------------------------------------===//

#include "kvshift/InitAll.h"
#include "kvshift/Support/ParserWorkarounds.h"

#include "mlir/IR/DialectRegistry.h"
#include "mlir/Tools/mlir-opt/MlirOptMain.h"

#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/raw_ostream.h"

#include <cstring>

/// Refuses input files that would crash MLIR 22's own linalg parsers (see
/// ParserWorkarounds.h) with a diagnostic instead. Input read from stdin is
/// not checked.
static bool inputsAreSafe(int argc, char **argv) {
  for (int i = 1; i < argc; ++i) {
    llvm::StringRef arg = argv[i];
    if (arg == "-o") {
      ++i;
      continue;
    }
    if (arg.starts_with("-") || !llvm::sys::fs::is_regular_file(arg))
      continue;
    auto file = llvm::MemoryBuffer::getFile(arg);
    if (!file)
      continue;
    llvm::StringRef text = (*file)->getBuffer();
    if (auto crash = mlir::kvshift::findKnownParserCrash(text)) {
      llvm::errs() << arg << ":"
                   << mlir::kvshift::lineColumnOf(text, crash->first)
                   << ": error: " << crash->second << "\n";
      return false;
    }
  }
  return true;
}

int main(int argc, char **argv) {
  if (!inputsAreSafe(argc, argv))
    return 1;
  mlir::kvshift::registerAllPasses();
  mlir::DialectRegistry registry;
  mlir::kvshift::registerAllDialects(registry);
  return mlir::asMainReturnCode(mlir::MlirOptMain(
      argc, argv, "kvshift optimizer driver\n", registry));
}
