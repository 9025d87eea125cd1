//===- InitAll.cpp - register everything kvshift provides -----------------===//

#include "kvshift/InitAll.h"

#include "kvshift/Dialect/KVShift/IR/KVShiftDialect.h"
#include "kvshift/Dialect/KVShift/Transforms/Passes.h"
#include "kvshift/Pipelines/Pipelines.h"

#include "mlir/IR/DialectRegistry.h"
#include "mlir/InitAllDialects.h"
#include "mlir/InitAllExtensions.h"
#include "mlir/InitAllPasses.h"
#include "mlir/Target/LLVMIR/Dialect/All.h"

void mlir::kvshift::registerAllDialects(DialectRegistry &registry) {
  mlir::registerAllDialects(registry);
  mlir::registerAllExtensions(registry);
  mlir::registerAllToLLVMIRTranslations(registry);
  registry.insert<KVShiftDialect>();
}

void mlir::kvshift::registerAllPasses() {
  mlir::registerAllPasses();
  registerKVShiftPasses();
  registerKVShiftPipelines();
}
