#include "Checks.h"

#include "chainjit/ir/Error.h"

namespace chainjit::nn::detail {

void fail(const char *layer, const std::string &prefix, const std::string &what) {
  throw Error(std::string(layer) + " '" + prefix + "': " + what);
}

void checkPositive(const char *layer, const std::string &prefix, const char *what, int64_t v) {
  if (v <= 0)
    fail(layer, prefix, std::string(what) + " must be positive, got " + std::to_string(v));
}

void checkLastAxis(const char *layer, const std::string &prefix, ir::Value x, int64_t size,
                   const char *what) {
  ir::Shape s = x.shape();
  if (s.empty() || s.back() != size)
    fail(layer, prefix, std::string(what) + " " + x.type().str() + " should have a last axis of " +
                            std::to_string(size));
}

void checkRank(const char *layer, const std::string &prefix, ir::Value x, size_t rank,
               const char *what, const char *layout) {
  if (x.shape().size() != rank)
    fail(layer, prefix, std::string(what) + " " + x.type().str() + " should be " + layout);
}

void checkDType(const char *layer, const std::string &prefix, ir::Value x, ir::DType dtype,
                const char *what) {
  if (x.dtype() != dtype)
    fail(layer, prefix, std::string(what) + " " + x.type().str() + " should be " +
                            ir::TensorType{dtype, x.shape()}.str() + " (the layer's dtype)");
}

} // namespace chainjit::nn::detail
