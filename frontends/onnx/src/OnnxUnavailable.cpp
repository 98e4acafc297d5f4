// importOnnx in a build without libonnx (CHAINJIT_ONNX=OFF, or AUTO where
// CMake found no ONNX): the API exists and says why it cannot work.
// CMake compiles this file instead of proto/*.cpp.
#include "chainjit/frontends/Onnx.h"

namespace chainjit::frontends {

namespace {
[[noreturn]] void unavailable(const std::string &file) {
  throw Error("this chainjit was built without ONNX support: install libonnx-dev and "
              "libprotobuf-dev (tools/bootstrap.sh does) and configure with "
              "-DCHAINJIT_ONNX=ON",
              SourceLoc{file});
}
} // namespace

bool onnxImportAvailable() { return false; }

OnnxImport importOnnx(const std::string &path, const OnnxImportOptions &) { unavailable(path); }

OnnxImport importOnnxBytes(std::string_view, const std::string &filename,
                           const OnnxImportOptions &) {
  unavailable(filename);
}

} // namespace chainjit::frontends
