//===- kvshift-opt.cpp - mlir-opt with the kvshift dialect ----------------===//
//
// All upstream dialects and passes, plus the kvshift dialect, its passes and
// its named pipelines (kvshift-to-llvm-cpu).
//
//===----------------------------------------------------------------------===//

#include "kvshift/InitAll.h"

#include "mlir/IR/DialectRegistry.h"
#include "mlir/Tools/mlir-opt/MlirOptMain.h"

int main(int argc, char **argv) {
  mlir::kvshift::registerAllPasses();
  mlir::DialectRegistry registry;
  mlir::kvshift::registerAllDialects(registry);
  return mlir::asMainReturnCode(mlir::MlirOptMain(
      argc, argv, "kvshift optimizer driver\n", registry));
}
