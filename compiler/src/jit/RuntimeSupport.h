// Small C-ABI helpers that generated code calls besides the library kernels:
// the NaN/Inf scan of --check-numerics.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

extern "C" {
// 1 when any of the n elements is NaN or +-Inf, else 0.
int32_t cj_has_nonfinite_f32(const float *data, int64_t n);
int32_t cj_has_nonfinite_f64(const double *data, int64_t n);
}

namespace chainjit::compiler::jit {

// Every helper above with its address, for the JIT's symbol table.
std::vector<std::pair<std::string, void *>> runtimeSupportSymbols();

} // namespace chainjit::compiler::jit
