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

// what(): "where: message" per diagnostic, without the word "error:". The
// program that prints it says how severe it is ("chainjit: error: ",
// "myapp: "); putting "error:" here too would double it.
static std::string joinDiagnostics(const std::vector<Diagnostic> &diags) {
  std::string s;
  for (const auto &d : diags) {
    if (!s.empty())
      s += '\n';
    std::string where = d.loc.str();
    s += where.empty() ? d.message : where + ": " + d.message;
  }
  return s;
}

Error::Error(std::string message, SourceLoc loc)
    : Error(std::vector<Diagnostic>{{std::move(loc), std::move(message)}}) {}

Error::Error(std::vector<Diagnostic> diagnostics)
    : std::runtime_error(joinDiagnostics(diagnostics)),
      diagnostics_(std::move(diagnostics)) {}

} // namespace chainjit
