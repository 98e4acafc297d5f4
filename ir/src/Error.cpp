#include "chainjit/ir/Error.h"

namespace chainjit {

std::string SourceLoc::str() const {
  std::string s;
  if (hasPosition()) {
    s = file.empty() ? "<input>" : file;
    s += ":" + std::to_string(line) + ":" + std::to_string(col);
  } else if (!file.empty()) {
    s = file;
  }
  if (!node.empty()) {
    if (!s.empty())
      s += ": ";
    s += "in %" + node;
  }
  return s;
}

std::string Diagnostic::str() const {
  std::string where = loc.str();
  return where.empty() ? "error: " + message : where + ": error: " + message;
}

static std::string joinDiagnostics(const std::vector<Diagnostic> &diags) {
  std::string s;
  for (const auto &d : diags) {
    if (!s.empty())
      s += '\n';
    s += d.str();
  }
  return s;
}

Error::Error(std::string message, SourceLoc loc)
    : Error(std::vector<Diagnostic>{{std::move(loc), std::move(message)}}) {}

Error::Error(std::vector<Diagnostic> diagnostics)
    : std::runtime_error(joinDiagnostics(diagnostics)),
      diagnostics_(std::move(diagnostics)) {}

} // namespace chainjit
