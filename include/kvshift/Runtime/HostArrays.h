//===- HostArrays.h - dtypes and shapes of host arrays ----------*- C++ -*-===//
//
// The element types host arrays travel in (those of .npy files and of
// kvshift.compile's numpy arrays; bf16 travels as float32), shared by the
// CPU runtime and kvshift-run's .npy reader and writer. Header-only, so the
// .npy fuzz target can use it without the runtime library.
//
//===----------------------------------------------------------------------===//
#ifndef KVSHIFT_RUNTIME_HOSTARRAYS_H
#define KVSHIFT_RUNTIME_HOSTARRAYS_H

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/StringRef.h"

#include <cstddef>
#include <cstdint>
#include <string>

namespace mlir {
namespace kvshift {
namespace runtime {

/// The dtype of a host array.
enum class DType { F16, F32, F64, I32, I64 };

/// NumPy's name of a dtype ("float32", ...).
inline llvm::StringRef dtypeName(DType dtype) {
  switch (dtype) {
  case DType::F16:
    return "float16";
  case DType::F32:
    return "float32";
  case DType::F64:
    return "float64";
  case DType::I32:
    return "int32";
  case DType::I64:
    return "int64";
  }
  return "?";
}

/// Size in bytes of one element.
inline size_t dtypeSize(DType dtype) {
  switch (dtype) {
  case DType::F16:
    return 2;
  case DType::F32:
  case DType::I32:
    return 4;
  case DType::F64:
  case DType::I64:
    return 8;
  }
  return 0;
}

/// "(2, 3)" style rendering of a shape, as NumPy prints it.
inline std::string shapeString(llvm::ArrayRef<int64_t> shape) {
  std::string s = "(";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i)
      s += ", ";
    s += std::to_string(shape[i]);
  }
  if (shape.size() == 1)
    s += ",";
  return s + ")";
}

} // namespace runtime
} // namespace kvshift
} // namespace mlir

#endif // KVSHIFT_RUNTIME_HOSTARRAYS_H
