// Scratch files and error capture for the tests of file formats (tensors,
// datasets, checkpoints).
#pragma once

#include "chainjit/ir/Error.h"

#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <string>

#include <unistd.h>

namespace chainjit::testing {

// A scratch file with the given contents, removed at the end of the test.
// The process id keeps parallel test processes apart.
struct TempFile {
  std::filesystem::path path;
  explicit TempFile(const std::string &name, const std::string &contents = {}) {
    path = std::filesystem::temp_directory_path() /
           ("chainjit_" + std::to_string(::getpid()) + "_" + name);
    std::ofstream(path, std::ios::binary) << contents;
  }
  ~TempFile() { std::filesystem::remove(path); }
  std::string str() const { return path.string(); }
};

// An error as the command-line tool prints it: "where: error: message", one
// line per diagnostic (what() is the same without the word "error:").
inline std::string cliMessage(const Error &e) {
  std::string s;
  for (const Diagnostic &d : e.diagnostics())
    s += (s.empty() ? "" : "\n") + d.str();
  return s;
}

// The chainjit::Error that f throws, as cliMessage prints it, or "(no error)".
inline std::string errorOf(const std::function<void()> &f) {
  try {
    f();
  } catch (const Error &e) {
    return cliMessage(e);
  }
  return "(no error)";
}

inline std::string readBytes(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

} // namespace chainjit::testing
