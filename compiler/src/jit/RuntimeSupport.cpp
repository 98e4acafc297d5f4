#include "RuntimeSupport.h"

#include <cmath>
#include <cstdint>

namespace {
template <typename T> int32_t hasNonFinite(const T *data, int64_t n) {
  for (int64_t i = 0; i < n; ++i)
    if (!std::isfinite(data[i]))
      return 1;
  return 0;
}
} // namespace

extern "C" int32_t cj_has_nonfinite_f32(const float *data, int64_t n) {
  return hasNonFinite(data, n);
}
extern "C" int32_t cj_has_nonfinite_f64(const double *data, int64_t n) {
  return hasNonFinite(data, n);
}

namespace chainjit::compiler::jit {

std::vector<std::pair<std::string, void *>> runtimeSupportSymbols() {
  return {{"cj_has_nonfinite_f32", reinterpret_cast<void *>(&cj_has_nonfinite_f32)},
          {"cj_has_nonfinite_f64", reinterpret_cast<void *>(&cj_has_nonfinite_f64)}};
}

} // namespace chainjit::compiler::jit
