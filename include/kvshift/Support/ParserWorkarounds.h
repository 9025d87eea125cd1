//===- ParserWorkarounds.h - inputs that crash MLIR 22's parsers -*- C++ -*-===//
//
// MLIR 22.1's linalg parsers (linalg.transpose `permutation = [...]`,
// linalg.broadcast / linalg.reduce `dimensions = [...]`) store a null
// attribute and crash (null dereference in NamedAttrList::set) when what
// follows `=` is not a well-formed integer list, e.g. `permutation = [1, 0x`
// or `permutation = %x`. (Both found by kvshift-fuzz-opt.) That is
// upstream code inside libMLIR.so; until it is fixed there, kvshift's tools
// refuse such text with a clear error before handing it to the parser.
//
//===----------------------------------------------------------------------===//
#ifndef KVSHIFT_SUPPORT_PARSERWORKAROUNDS_H
#define KVSHIFT_SUPPORT_PARSERWORKAROUNDS_H

#include "llvm/ADT/StringRef.h"

#include <cctype>
#include <optional>
#include <string>

namespace mlir {
namespace kvshift {

/// The byte offset and a one-line description of the first integer list in
/// `text` that would crash MLIR 22's linalg parsers, if any.
inline std::optional<std::pair<size_t, std::string>>
findKnownParserCrash(llvm::StringRef text) {
  for (llvm::StringRef key : {"permutation", "dimensions"}) {
    size_t pos = 0;
    while ((pos = text.find(key, pos)) != llvm::StringRef::npos) {
      size_t i = pos + key.size();
      bool wordStart =
          pos == 0 || !(std::isalnum((unsigned char)text[pos - 1]) ||
                        text[pos - 1] == '_' || text[pos - 1] == '.');
      // The custom form puts the keyword right after `outs(...)`; inside an
      // attribute dictionary (the generic form) the value goes through the
      // ordinary attribute parser, which reports errors properly.
      size_t before = pos;
      while (before > 0 && std::isspace((unsigned char)text[before - 1]))
        --before;
      bool customForm = before > 0 && text[before - 1] == ')';
      pos = i;
      if (!wordStart || !customForm)
        continue;
      while (i < text.size() && std::isspace((unsigned char)text[i]))
        ++i;
      if (i >= text.size() || text[i] != '=')
        continue;
      ++i;
      while (i < text.size() && std::isspace((unsigned char)text[i]))
        ++i;
      size_t start = i;
      if (i >= text.size() || text[i] != '[')
        return std::make_pair(
            start, "expected '[' after '" + key.str() +
                       " =' (MLIR 22's linalg parser would crash here)");
      ++i;
      // '[' (int (',' int)*)? ']', int = '-'? digits (at most 18: no i64
      // overflow), spaces anywhere between tokens.
      auto skipSpace = [&] {
        while (i < text.size() && std::isspace((unsigned char)text[i]))
          ++i;
      };
      auto parseInt = [&] {
        if (i < text.size() && text[i] == '-')
          ++i;
        size_t digits = 0;
        while (i < text.size() && std::isdigit((unsigned char)text[i])) {
          ++i;
          ++digits;
        }
        return digits > 0 && digits <= 18;
      };
      bool ok = false;
      skipSpace();
      if (i < text.size() && text[i] == ']') {
        ok = true;
      } else {
        while (parseInt()) {
          skipSpace();
          if (i < text.size() && text[i] == ']') {
            ok = true;
            break;
          }
          if (i >= text.size() || text[i] != ',')
            break;
          ++i;
          skipSpace();
        }
      }
      if (!ok)
        return std::make_pair(
            start, "malformed integer list after '" + key.str() +
                       " =' (expected '[' integers separated by ',' ']'; "
                       "MLIR 22's linalg parser would crash on it)");
    }
  }
  return std::nullopt;
}

/// "line:column" of a byte offset.
inline std::string lineColumnOf(llvm::StringRef text, size_t offset) {
  size_t line = 1, col = 1;
  for (size_t i = 0; i < offset && i < text.size(); ++i) {
    if (text[i] == '\n') {
      ++line;
      col = 1;
    } else {
      ++col;
    }
  }
  return std::to_string(line) + ":" + std::to_string(col);
}

} // namespace kvshift
} // namespace mlir

#endif // KVSHIFT_SUPPORT_PARSERWORKAROUNDS_H
