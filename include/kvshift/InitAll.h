//===- InitAll.h - register everything kvshift provides ---------*- C++ -*-===//
#ifndef KVSHIFT_INITALL_H
#define KVSHIFT_INITALL_H

namespace mlir {
class DialectRegistry;
namespace kvshift {

/// Every dialect, interface and extension the kvshift tools need: all of
/// upstream MLIR plus the kvshift dialect.
void registerAllDialects(DialectRegistry &registry);

/// All upstream passes, the kvshift passes and the kvshift pipelines.
void registerAllPasses();

} // namespace kvshift
} // namespace mlir

#endif // KVSHIFT_INITALL_H
