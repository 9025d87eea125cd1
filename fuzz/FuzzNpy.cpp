//===- FuzzNpy.cpp - libFuzzer target: the .npy reader --------------------===//
//
// Feeds arbitrary bytes to the .npy parser of kvshift-run and, when they
// parse, checks the invariants the tool relies on before it binds an array to
// an argument: the data size equals the element count times the element
// size, and the element count does not overflow.
//
//===----------------------------------------------------------------------===//

#include "../tools/kvshift-run/Npy.h"

#include "llvm/Support/Error.h"

#include <cstdint>
#include <cstdlib>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  llvm::StringRef bytes(reinterpret_cast<const char *>(data), size);
  llvm::Expected<npyio::Array> array = npyio::parse(bytes);
  if (!array) {
    llvm::consumeError(array.takeError());
    return 0;
  }
  uint64_t count = 1;
  for (int64_t d : array->shape) {
    if (d < 0)
      std::abort();
    count *= static_cast<uint64_t>(d);
  }
  if (array->data.size() != count * npyio::dtypeSize(array->dtype))
    std::abort();
  return 0;
}
