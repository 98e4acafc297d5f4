// Library kernels of the indexing ops (gather, scatter_add, one_hot).
#include "jit/kernels/KernelSupport.h"

namespace chainjit::compiler::jit::kernels {

std::vector<LibraryKernel> indexKernels() { return {}; }

SymbolList indexSymbols() { return {}; }

} // namespace chainjit::compiler::jit::kernels
