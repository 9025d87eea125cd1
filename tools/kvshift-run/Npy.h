//===- Npy.h - reading and writing NumPy .npy files -------------*- C++ -*-===//
//
// A strict reader and a writer of the NumPy .npy format (versions 1.0, 2.0
// and 3.0), for little-endian float16/float32/float64/int32/int64 arrays. The
// reader checks every header field and the file size before it allocates, so
// a malformed or truncated file is an error, never a crash or a huge
// allocation.
//
//===----------------------------------------------------------------------===//
#ifndef KVSHIFT_TOOLS_KVSHIFT_RUN_NPY_H
#define KVSHIFT_TOOLS_KVSHIFT_RUN_NPY_H

#include "kvshift/Runtime/HostArrays.h"

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"

#include <cstdint>
#include <string>
#include <vector>

namespace npyio {

/// The runtime's host dtypes (kvshift/Runtime/HostArrays.h).
using DType = mlir::kvshift::runtime::DType;
using mlir::kvshift::runtime::dtypeName;
using mlir::kvshift::runtime::dtypeSize;
using mlir::kvshift::runtime::shapeString;

/// An array read from a .npy file, always in C (row-major) order: a
/// Fortran-order file is transposed on load.
struct Array {
  DType dtype;
  std::vector<int64_t> shape;
  std::vector<char> data;
  int64_t numElements() const;
};

/// Reads `path`. Errors say what is wrong with the file.
llvm::Expected<Array> read(llvm::StringRef path);

/// Parses the bytes of an .npy file.
llvm::Expected<Array> parse(llvm::StringRef bytes);

/// Writes a C-order little-endian array of `dtype` and `shape`.
llvm::Error write(llvm::StringRef path, DType dtype,
                  llvm::ArrayRef<int64_t> shape, const void *data);


} // namespace npyio

#endif // KVSHIFT_TOOLS_KVSHIFT_RUN_NPY_H
