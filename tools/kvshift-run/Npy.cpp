//===- Npy.cpp - reading and writing NumPy .npy files ---------------------===//

#include "Npy.h"

#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/raw_ostream.h"

#include <cctype>
#include <cstring>
#include <limits>
#include <optional>

using namespace npyio;
using llvm::Error;
using llvm::Expected;
using llvm::StringRef;



static StringRef descrOf(DType dtype) {
  switch (dtype) {
  case DType::F16:
    return "<f2";
  case DType::F32:
    return "<f4";
  case DType::F64:
    return "<f8";
  case DType::I32:
    return "<i4";
  case DType::I64:
    return "<i8";
  }
  return "";
}

int64_t Array::numElements() const {
  int64_t n = 1;
  for (int64_t d : shape)
    n *= d;
  return n;
}


namespace {

Error fail(const llvm::Twine &msg) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(), msg);
}

/// A parser for the Python dict literal of a .npy header, e.g.
/// {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }
class HeaderParser {
public:
  explicit HeaderParser(StringRef text) : s(text) {}

  std::optional<std::string> descr;
  std::optional<bool> fortran;
  std::optional<std::vector<int64_t>> shape;

  Error parse() {
    skipSpace();
    if (!consume('{'))
      return fail("header is not a Python dict");
    while (true) {
      skipSpace();
      if (consume('}'))
        break;
      std::string key;
      if (Error e = parseString(key))
        return e;
      skipSpace();
      if (!consume(':'))
        return fail("header: expected ':' after '" + key + "'");
      skipSpace();
      if (key == "descr") {
        std::string d;
        if (Error e = parseString(d))
          return fail("header: 'descr' is not a string (structured dtypes "
                      "are not supported)");
        descr = d;
      } else if (key == "fortran_order") {
        if (s.consume_front("True"))
          fortran = true;
        else if (s.consume_front("False"))
          fortran = false;
        else
          return fail("header: 'fortran_order' is neither True nor False");
      } else if (key == "shape") {
        std::vector<int64_t> dims;
        if (Error e = parseShape(dims))
          return e;
        shape = std::move(dims);
      } else {
        return fail("header: unexpected key '" + key + "'");
      }
      skipSpace();
      if (consume(','))
        continue;
      skipSpace();
      if (consume('}'))
        break;
      return fail("header: expected ',' or '}'");
    }
    if (!descr || !fortran || !shape)
      return fail("header lacks one of 'descr', 'fortran_order', 'shape'");
    return Error::success();
  }

private:
  StringRef s;

  void skipSpace() { s = s.ltrim(" \t\n\r"); }
  bool consume(char c) { return s.consume_front(StringRef(&c, 1)); }

  Error parseString(std::string &out) {
    if (s.empty() || (s.front() != '\'' && s.front() != '"'))
      return fail("header: expected a quoted string");
    char quote = s.front();
    s = s.drop_front();
    size_t end = s.find(quote);
    if (end == StringRef::npos)
      return fail("header: unterminated string");
    out = s.take_front(end).str();
    s = s.drop_front(end + 1);
    return Error::success();
  }

  Error parseShape(std::vector<int64_t> &dims) {
    if (!consume('('))
      return fail("header: 'shape' is not a tuple");
    while (true) {
      skipSpace();
      if (consume(')'))
        return Error::success();
      size_t len = 0;
      while (len < s.size() && std::isdigit((unsigned char)s[len]))
        ++len;
      if (len == 0)
        return fail("header: 'shape' holds something other than "
                    "non-negative integers");
      unsigned long long v;
      if (len > 18 || s.take_front(len).getAsInteger(10, v))
        return fail("header: a dimension of 'shape' is absurdly large");
      dims.push_back(static_cast<int64_t>(v));
      s = s.drop_front(len);
      skipSpace();
      // Python 2 longs ("3L") in old files.
      consume('L');
      skipSpace();
      if (consume(','))
        continue;
      if (consume(')'))
        return Error::success();
      return fail("header: malformed 'shape' tuple");
    }
  }
};

std::optional<DType> parseDescr(StringRef descr) {
  // '<' little-endian; '|' and '=' also accepted for the native order of
  // this (little-endian) host.
  if (descr.size() != 3 || !(descr[0] == '<' || descr[0] == '=' ||
                             (descr[0] == '|')))
    return std::nullopt;
  StringRef t = descr.drop_front();
  if (t == "f2")
    return DType::F16;
  if (t == "f4")
    return DType::F32;
  if (t == "f8")
    return DType::F64;
  if (t == "i4")
    return DType::I32;
  if (t == "i8")
    return DType::I64;
  return std::nullopt;
}

} // namespace

Expected<Array> npyio::read(StringRef path) {
  if (llvm::sys::fs::is_directory(path))
    return fail("is a directory, not an .npy file");
  auto bufOrErr = llvm::MemoryBuffer::getFile(path, /*IsText=*/false,
                                              /*RequiresNullTerminator=*/false);
  if (!bufOrErr)
    return fail("cannot open: " + bufOrErr.getError().message());
  return parse((*bufOrErr)->getBuffer());
}

Expected<Array> npyio::parse(StringRef bytes) {

  static const char magic[] = "\x93NUMPY";
  if (bytes.size() < 10 || !bytes.starts_with(StringRef(magic, 6)))
    return fail("not an .npy file (no \\x93NUMPY magic)");
  uint8_t major = bytes[6];
  size_t headerLen, headerStart;
  if (major == 1) {
    headerLen = (uint8_t)bytes[8] | ((size_t)(uint8_t)bytes[9] << 8);
    headerStart = 10;
  } else if (major == 2 || major == 3) {
    if (bytes.size() < 12)
      return fail("truncated .npy header");
    headerLen = 0;
    for (int i = 0; i < 4; ++i)
      headerLen |= (size_t)(uint8_t)bytes[8 + i] << (8 * i);
    headerStart = 12;
  } else {
    return fail("unsupported .npy format version " + llvm::Twine((unsigned)major));
  }
  if (headerStart + headerLen > bytes.size())
    return fail("truncated .npy header");
  HeaderParser parser(bytes.substr(headerStart, headerLen));
  if (Error e = parser.parse())
    return std::move(e);

  std::optional<DType> dtype = parseDescr(*parser.descr);
  if (!dtype) {
    std::string what = *parser.descr;
    if (!what.empty() && what[0] == '>')
      return fail("dtype '" + what +
                  "' is big-endian; save a little-endian array");
    return fail("unsupported dtype '" + what +
                "' (supported: float16, float32, float64, int32, int64)");
  }

  Array array;
  array.dtype = *dtype;
  array.shape = *parser.shape;
  size_t elt = dtypeSize(*dtype);
  // Element count and byte size, checked for overflow, against the file size
  // before anything is allocated.
  uint64_t count = 1;
  for (int64_t d : array.shape) {
    if (d != 0 && count > std::numeric_limits<uint64_t>::max() / (uint64_t)d)
      return fail("shape " + shapeString(array.shape) + " is absurdly large");
    count *= (uint64_t)d;
  }
  if (count > std::numeric_limits<uint64_t>::max() / elt)
    return fail("shape " + shapeString(array.shape) + " is absurdly large");
  uint64_t nbytes = count * elt;
  uint64_t available = bytes.size() - headerStart - headerLen;
  if (nbytes != available)
    return fail("data size does not match the header: shape " +
                shapeString(array.shape) + " of " + dtypeName(*dtype) +
                " needs " + llvm::Twine(nbytes) + " bytes, the file holds " +
                llvm::Twine(available));

  const char *src = bytes.data() + headerStart + headerLen;
  array.data.resize(nbytes);
  if (!*parser.fortran || array.shape.size() < 2) {
    if (nbytes)
      std::memcpy(array.data.data(), src, nbytes);
    return std::move(array);
  }
  // Fortran order: element (i0, ..., in) is at sum(i_k * prod_{m<k} d_m).
  size_t rank = array.shape.size();
  std::vector<int64_t> fstrides(rank), index(rank, 0);
  int64_t stride = 1;
  for (size_t k = 0; k < rank; ++k) {
    fstrides[k] = stride;
    stride *= array.shape[k];
  }
  for (uint64_t linear = 0; linear < count; ++linear) {
    int64_t srcIndex = 0;
    for (size_t k = 0; k < rank; ++k)
      srcIndex += index[k] * fstrides[k];
    std::memcpy(array.data.data() + linear * elt, src + srcIndex * elt, elt);
    for (size_t k = rank; k-- > 0;) {
      if (++index[k] < array.shape[k])
        break;
      index[k] = 0;
    }
  }
  return std::move(array);
}

Error npyio::write(StringRef path, DType dtype,
                          llvm::ArrayRef<int64_t> shape, const void *data) {
  std::string header = "{'descr': '" + descrOf(dtype).str() +
                       "', 'fortran_order': False, 'shape': " +
                       shapeString(shape) + ", }";
  // Pad with spaces so that the data starts at a multiple of 64 bytes, and
  // end with a newline, as NumPy does.
  bool v2 = header.size() + 64 > 65535;
  size_t total = (v2 ? 12 : 10) + header.size() + 1;
  header.append((64 - total % 64) % 64, ' ');
  header += '\n';
  std::error_code ec;
  llvm::raw_fd_ostream os(path, ec, llvm::sys::fs::OF_None);
  if (ec)
    return fail("cannot write: " + ec.message());
  os << StringRef("\x93NUMPY", 6);
  if (!v2) {
    os << (char)1 << (char)0;
    os << (char)(header.size() & 0xff) << (char)((header.size() >> 8) & 0xff);
  } else {
    os << (char)2 << (char)0;
    for (int i = 0; i < 4; ++i)
      os << (char)((header.size() >> (8 * i)) & 0xff);
  }
  os << header;
  uint64_t n = dtypeSize(dtype);
  for (int64_t d : shape)
    n *= (uint64_t)d;
  os.write(static_cast<const char *>(data), n);
  os.close();
  if (os.has_error())
    return fail("cannot write: " + os.error().message());
  return Error::success();
}
