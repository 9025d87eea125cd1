//===- FuzzOpt.cpp - libFuzzer target: the kvshift-opt surface ------------===//
//
// Parses arbitrary text as an MLIR module with every dialect kvshift-opt
// knows and verifies it; runs kvshift-raise on a copy (plain linalg
// attention is its input), and when the module (or what raising made of it)
// holds a kvshift op, runs each kvshift pass, the GPU kernel builder and the
// two CPU pipelines on copies. Diagnostics are
// expected; crashes, hangs, sanitizer reports and IR that fails to verify
// after a kvshift pass (a pass that breaks valid input) are bugs.
//
//===----------------------------------------------------------------------===//

#include "kvshift/Dialect/KVShift/IR/KVShiftDialect.h"
#include "kvshift/Dialect/KVShift/Transforms/Passes.h"
#include "kvshift/Support/ParserWorkarounds.h"
#include "kvshift/InitAll.h"
#include "kvshift/Pipelines/Pipelines.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"

#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>

using namespace mlir;

namespace {
struct State {
  DialectRegistry registry;
  std::unique_ptr<MLIRContext> context;
  State() {
    kvshift::registerAllPasses();
    kvshift::registerAllDialects(registry);
    context = std::make_unique<MLIRContext>(registry,
                                            MLIRContext::Threading::DISABLED);
    context->loadAllAvailableDialects();
    // Diagnostics are the expected outcome of most inputs: swallow them.
    context->getDiagEngine().registerHandler([](Diagnostic &) {
      return success();
    });
  }
};
} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static State state;
  MLIRContext &ctx = *state.context;
  std::string text(reinterpret_cast<const char *>(data), size);
  // Text that crashes MLIR 22's own linalg parsers (libMLIR.so, not
  // kvshift's code) is refused by kvshift's tools before parsing; do the
  // same here.
  if (kvshift::findKnownParserCrash(text))
    return 0;
  ParserConfig config(&ctx);
  OwningOpRef<ModuleOp> module = parseSourceString<ModuleOp>(text, config);
  if (!module || failed(verify(*module)))
    return 0;
  auto hasKVShift = [](ModuleOp m) {
    bool found = false;
    m->walk([&](Operation *op) {
      if (isa<kvshift::KVShiftDialect>(op->getDialect()))
        found = true;
    });
    return found;
  };
  auto run = [&](ModuleOp m, const char *text) {
    OwningOpRef<ModuleOp> copy = cast<ModuleOp>(m->clone());
    PassManager pm(&ctx);
    if (failed(parsePassPipeline(text, pm)))
      std::abort();
    // A pass may reject its input with a diagnostic; it must never leave
    // invalid IR behind without saying so (the pass manager verifies).
    (void)pm.run(*copy);
    return copy;
  };

  // The raising pass reads plain linalg IR: run it on everything. What it
  // raises goes on through the lowerings below.
  OwningOpRef<ModuleOp> raised = run(*module, "func.func(kvshift-raise)");
  bool viaRaise = !hasKVShift(*module);
  ModuleOp subject = viaRaise ? *raised : *module;
  if (!hasKVShift(subject) || (viaRaise && failed(verify(subject))))
    return 0;

  static const char *const pipelines[] = {
      "func.func(kvshift-decompose)",
      "func.func(kvshift-fuse-attention)",
      "func.func(kvshift-share-attention-stats)",
      "kvshift-fuse-attention-gpu",
      "canonicalize",
      "kvshift-to-llvm-cpu",
      "kvshift-to-llvm-cpu-fused",
  };
  for (const char *text : pipelines)
    (void)run(subject, text);
  return 0;
}
