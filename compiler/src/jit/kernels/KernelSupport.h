// Internal to the library kernels: what the family files share. Each family
// file (Movement, Reduce, Loss, Conv, Pool, Bernoulli, LinAlg) defines its
// extern "C" kernels, the `lower` functions that build their calls, and two
// lists that LibraryKernelTable.cpp collects: its libraryKernels() entries
// and its symbols.
#pragma once

#include "jit/LibraryKernels.h"

#include "chainjit/ir/Error.h"

#include <bit>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace chainjit::compiler::jit::kernels {

using SymbolList = std::vector<std::pair<std::string, void *>>;

std::vector<LibraryKernel> movementKernels();
std::vector<LibraryKernel> reduceKernels();
std::vector<LibraryKernel> lossKernels();
std::vector<LibraryKernel> convKernels();
std::vector<LibraryKernel> poolKernels();
std::vector<LibraryKernel> bernoulliKernels();
std::vector<LibraryKernel> indexKernels();
std::vector<LibraryKernel> sparseKernels();
std::vector<LibraryKernel> normalizationKernels();

SymbolList movementSymbols();
SymbolList reduceSymbols();
SymbolList lossSymbols();
SymbolList convSymbols();
SymbolList poolSymbols();
SymbolList bernoulliSymbols();
SymbolList linalgSymbols();
SymbolList indexSymbols();
SymbolList sparseSymbols();
SymbolList normalizationSymbols();

// "cj_<base>_f32" for the node's dtype: kernels that compute are typed.
std::string typedSymbol(std::string_view base, ir::DType dtype);

// Throws chainjit::Error "<op>: message" located at node `id` (its source
// position, or its name), for shapes a kernel cannot take.
[[noreturn]] void failLowering(const ir::Graph &g, ir::NodeId id,
                               const std::string &message);

// A shape split around one axis: element (o, j, i) is at (o*len + j)*inner + i.
struct AxisSplit {
  int64_t outer, len, inner;
};
AxisSplit splitAtAxis(const ir::Shape &shape, int64_t axis); // axis may be < 0
// An axis in [-rank, rank) made non-negative (the verifier checked the range).
inline int64_t normalizeAxis(int64_t axis, int64_t rank) {
  return axis < 0 ? axis + rank : axis;
}

// The larger of a running maximum m (never NaN) and v, skipping a NaN v as
// std::fmax does, but as a compare that vectorizes. The log-sum-exp kernels
// start m at -inf; a NaN they skip still makes its row NaN through the sum
// of exponentials, as in the interpreter.
template <typename T> T maxSkippingNan(T m, T v) { return v > m ? v : m; }

// Doubles travel through the int64 params by their bits.
inline int64_t paramBits(double v) { return std::bit_cast<int64_t>(v); }
inline double paramDouble(int64_t bits) { return std::bit_cast<double>(bits); }

} // namespace chainjit::compiler::jit::kernels

// Defines the C-ABI kernel `name` as a call of the C++ implementation in
// this namespace (a template instance: the variadic argument absorbs its
// commas).
#define CJ_DEFINE_KERNEL(name, ...)                                            \
  extern "C" int32_t name(void *const *operands, void *result,                 \
                          const int64_t *params, void *scratch) {              \
    return ::chainjit::compiler::jit::kernels::__VA_ARGS__(operands, result,   \
                                                           params, scratch);   \
  }

// base_f32 and base_f64 from the implementation template impl<T>.
#define CJ_DEFINE_FLOAT_KERNELS(base, impl)                                    \
  CJ_DEFINE_KERNEL(base##_f32, impl<float>)                                    \
  CJ_DEFINE_KERNEL(base##_f64, impl<double>)

// An entry of a family's symbol list: the kernel's name and address.
#define CJ_SYMBOL(name)                                                        \
  std::pair<std::string, void *> { #name, reinterpret_cast<void *>(&name) }
#define CJ_FLOAT_SYMBOLS(base) CJ_SYMBOL(base##_f32), CJ_SYMBOL(base##_f64)
