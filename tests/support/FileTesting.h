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

// The message of the chainjit::Error that f throws, or "(no error)".
inline std::string errorOf(const std::function<void()> &f) {
  try {
    f();
  } catch (const Error &e) {
    return e.what();
  }
  return "(no error)";
}

inline std::string readBytes(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

} // namespace chainjit::testing
