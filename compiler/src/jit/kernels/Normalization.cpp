// Library kernels of layer_norm and variance.
#include "jit/kernels/KernelSupport.h"

namespace chainjit::compiler::jit::kernels {

std::vector<LibraryKernel> normalizationKernels() { return {}; }

SymbolList normalizationSymbols() { return {}; }

} // namespace chainjit::compiler::jit::kernels
