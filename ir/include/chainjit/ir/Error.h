// Errors and diagnostics shared by every layer of chainjit.
//
// Library code never aborts on bad input: it throws chainjit::Error, which
// carries where the problem is (file:line:col for parsed text, the node's name
// otherwise) and what was expected; what() is "where: message" with no "error:",
// so a program adds its own prefix (Diagnostic::str() is the compiler style).
#pragma once

#include <stdexcept>
#include <string>
#include <vector>

namespace chainjit {

// Where a problem is. A default-constructed location is "unknown"; `node` is
// the name of the IR value involved, if any.
struct SourceLoc {
  std::string file;
  int line = 0;
  int col = 0;
  std::string node;

  bool hasPosition() const { return line > 0; }
  // "file:line:col" (or "line:col", or "node %name", or "") for messages.
  std::string str() const;
};

struct Diagnostic {
  SourceLoc loc;
  std::string message;
  // "loc: error: message", the way compilers print.
  std::string str() const;
};

// One or more diagnostics; what() lists them one per line, "where: message".
class Error : public std::runtime_error {
public:
  explicit Error(std::string message, SourceLoc loc = {});
  explicit Error(std::vector<Diagnostic> diagnostics);

  const std::vector<Diagnostic> &diagnostics() const { return diagnostics_; }

private:
  std::vector<Diagnostic> diagnostics_;
};

} // namespace chainjit
